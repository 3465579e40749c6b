"""Exception hierarchy.

Every error gosym raises on purpose derives from :class:`GosymError`.  The CLI
turns one into a single ``gosym: error: FILE: message`` line and an exit status:

* :class:`FileAccessError` (exit 2): the file can't be opened or read at all.
* :class:`UsageError` (exit 2): bad option values or input; an executable
  given for a file that is not a core.
* :class:`FormatError` (exit 1): the file was read but gosym can't decode it —
  not an executable, not a Go binary, truncated or corrupted tables.
* :class:`UnsupportedError` (exit 1): a valid binary of a kind gosym does not
  decode (32-bit, big-endian, other architectures).
"""

from __future__ import annotations


class GosymError(Exception):
    """Base class for all errors gosym reports to its users."""

    exit_code = 1

    def __init__(self, message: str, offset: int | None = None) -> None:
        if offset is not None:
            message = f"{message} at byte {offset:#x}"
        super().__init__(message)
        self.offset = offset


class FileAccessError(GosymError):
    """The file does not exist, is a directory, or can't be read."""

    exit_code = 2

    @classmethod
    def from_os_error(cls, e: OSError) -> "FileAccessError":
        """The one-line reason for an OSError of opening or reading a file."""
        if isinstance(e, IsADirectoryError):
            return cls("is a directory")
        if isinstance(e, FileNotFoundError):
            return cls("no such file")
        if isinstance(e, PermissionError):
            return cls("permission denied")
        return cls(e.strerror or str(e))


class UsageError(GosymError):
    """The command was used wrongly: a bad option value, an address that is no
    address, input with nothing to do, an executable given for a file that is
    not a core."""

    exit_code = 2


class FormatError(GosymError):
    """The file's contents are not what a Go binary must contain."""


class NotGoBinaryError(FormatError):
    """A valid executable without a Go function table."""


class UnsupportedError(FormatError):
    """A binary gosym recognises but does not decode (yet)."""
