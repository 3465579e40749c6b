"""Open an executable file as a :class:`Container` (ELF, Mach-O or PE)."""

from __future__ import annotations

import mmap
import os

from ..errors import FileAccessError, FormatError, UnsupportedError
from .base import Container, Section

__all__ = ["Container", "Section", "open_container"]

_MACHO_MAGICS = {
    b"\xcf\xfa\xed\xfe": "64-bit",  # MH_MAGIC_64, little-endian
    b"\xce\xfa\xed\xfe": "32-bit",  # MH_MAGIC
    b"\xfe\xed\xfa\xcf": "big-endian 64-bit",
    b"\xfe\xed\xfa\xce": "big-endian 32-bit",
    b"\xca\xfe\xba\xbe": "fat",
    b"\xca\xfe\xba\xbf": "fat",  # FAT_MAGIC_64
}


def open_container(path: str, arch: str | None = None) -> Container:
    """Map a file and pick the adapter from its magic bytes."""
    try:
        if os.path.isdir(path):
            raise FileAccessError("is a directory")
        f = open(path, "rb")
    except OSError as e:
        raise FileAccessError.from_os_error(e) from None
    try:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise FormatError("empty file")
        try:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise FileAccessError(f"cannot map file: {e}") from None
    finally:
        f.close()  # the mapping keeps its own reference to the file
    try:
        return _adapter(path, buf, arch)
    except BaseException:
        buf.close()
        raise


def _adapter(path: str, buf: mmap.mmap, arch: str | None) -> Container:
    magic = bytes(buf[:4])
    if magic == b"\x7fELF":
        from .elf import ElfContainer

        if len(buf) < 64:
            raise FormatError("truncated ELF header")
        return ElfContainer(path, buf)
    if magic in _MACHO_MAGICS:
        from .macho import MachOContainer

        if magic == b"\xca\xfe\xba\xbe" and len(buf) >= 8 and \
                int.from_bytes(buf[4:8], "big") >= 45:
            # Same magic as a Java class file; there the next word is a version >= 45.
            raise FormatError("not an ELF or Mach-O executable (looks like a Java class file)")
        return MachOContainer(path, buf, arch)
    if magic[:2] == b"MZ":
        from .pe import PeContainer

        return PeContainer(path, buf)
    if magic[:2] == b"#!":
        raise FormatError("not an executable: a script (starts with #!)")
    if magic[:2] in (b"\x01\xf7", b"\x01\xdf"):  # XCOFF64, XCOFF32 (debug/xcoff)
        raise UnsupportedError("XCOFF (AIX) executables are not supported yet")
    if _is_plan9(buf):
        raise UnsupportedError("Plan 9 a.out executables are not supported yet")
    raise FormatError("not an ELF, Mach-O or PE executable")


def _is_plan9(buf) -> bool:
    """Plan 9 a.out: a big-endian magic _MAGIC(f, b) = f | ((((4*b)+0)*b)+7)
    (debug/plan9obj: 386 0x1eb, amd64 0x8a97 | HDR_MAGIC, arm 0x647)."""
    if len(buf) < 32:
        return False
    magic = int.from_bytes(buf[:4], "big")
    return magic in (0x01EB, 0x8A97 | 0x8000, 0x0647)
