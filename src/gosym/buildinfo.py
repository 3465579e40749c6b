"""The Go version and module build information embedded by the linker.

``.go.buildinfo`` (ELF) / ``__go_buildinfo`` (Mach-O) starts with a 14-byte
magic, the pointer size and a flags byte (debug/buildinfo/buildinfo.go).
Since Go 1.18 (flag bit 2) the version and module info follow inline as
varint-prefixed strings at offset 32; before that, two pointers at offset 16
point at Go string headers (pointer-sized words, big-endian when flag bit 1
is set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .container import Container
from .errors import FormatError
from .pcvalue import read_uvarint

BUILDINFO_MAGIC = b"\xff Go buildinf:"
# Go strings are not NUL-terminated: the next string can follow with no separator
# ("go1.15.2net/http"), so only a digit or a dot ends a match wrongly.
_VERSION_RE = re.compile(rb"go1\.(\d{1,2})(?:\.(\d{1,2}))?(?:(?:rc|beta)\d+)?(?![0-9.])")
_MAX_STRING = 1 << 20


@dataclass(frozen=True)
class BuildInfo:
    go_version: str | None  # e.g. "go1.22.10"
    source: str  # where the version came from
    path: str | None = None  # main package path
    main_module: tuple[str, str, str] | None = None  # (path, version, sum)
    deps: list[tuple[str, str, str]] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def version_tuple(self) -> tuple[int, int] | None:
        return parse_version(self.go_version)


def parse_version(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = _VERSION_RE.match(text.encode())
    return (1, int(m.group(1))) if m else None


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    return read_uvarint(data, pos, len(data), max_bytes=10)  # 64-bit lengths


def _parse_modinfo(text: str) -> tuple[str | None, tuple | None, list, list]:
    # modinfo is wrapped in 16-byte sentinels; lines are tab-separated records.
    if len(text) >= 33 and text[-17] == "\n":
        text = text[16:-16]
    path = main = None
    deps, settings = [], []
    for line in text.splitlines():
        parts = line.split("\t")
        kind = parts[0]
        if kind == "path" and len(parts) > 1:
            path = parts[1]
        elif kind == "mod" and len(parts) > 1:
            main = tuple((parts[1:] + ["", "", ""])[:3])
        elif kind == "dep" and len(parts) > 1:
            deps.append(tuple((parts[1:] + ["", "", ""])[:3]))
        elif kind == "=>" and deps:
            deps[-1] = deps[-1] + ("=> " + " ".join(parts[1:]),)
        elif kind == "build" and len(parts) > 1:
            key, _, value = parts[1].partition("=")
            settings.append((key, value))
    return path, main, deps, settings


def read_buildinfo(container: Container) -> BuildInfo:
    """Best effort: buildinfo section, then a scan for its magic, then a go1.x string."""
    section = container.section(".go.buildinfo") or container.section("__go_buildinfo")
    candidates = []
    if section is not None and section.file_size >= 32:
        candidates.append((section.offset, section.name))
    else:
        # No section of its own (PE files, or a stripped section header): the
        # linker puts the 16-byte aligned blob near the start of the writable
        # data, where debug/buildinfo looks (its DataStart: PE's first
        # writable data section); only then the whole file.
        data = container.section(".data")
        regions = [(data.offset, data.offset + data.file_size)] if data is not None else []
        regions.append((0, len(container.buf)))
        for lo, hi in regions:
            pos = container.buf.find(BUILDINFO_MAGIC, lo, hi)
            while pos >= 0 and len(candidates) < 4:
                if pos % 16 == 0:
                    candidates.append((pos, "buildinfo magic found by scanning"))
                pos = container.buf.find(BUILDINFO_MAGIC, pos + 1, hi)
            if candidates:
                break
    for offset, source in candidates:
        info = _decode_buildinfo(container, offset, source)
        if info is not None:
            return info
    version = _most_common_version(container.buf)
    if version:
        return BuildInfo(version, "go1.x string found in the file")
    return BuildInfo(None, "not found")


def _most_common_version(buf, limit: int = 2000) -> str | None:
    """The most frequent full go1.N.M string (runtime.buildVersion and its copies).

    Libraries mention other versions in messages ("requires go1.18"), so the
    first match is not reliable; a release string with a patch number wins.
    """
    counts: dict[bytes, int] = {}
    for i, m in enumerate(_VERSION_RE.finditer(buf)):
        if i >= limit:
            break
        counts[m.group(0)] = counts.get(m.group(0), 0) + 1
    if not counts:
        return None
    full = {v: n for v, n in counts.items() if v.count(b".") == 2}
    pool = full or counts
    return max(pool, key=lambda v: (pool[v], v)).decode()


def _decode_buildinfo(container: Container, offset: int, source: str) -> BuildInfo | None:
    data = container.data
    head = bytes(data[offset:offset + 32])
    if len(head) < 32 or not head.startswith(BUILDINFO_MAGIC):
        return None
    ptr_size, flags = head[14], head[15]
    try:
        if flags & 2:  # inline strings (Go 1.18+)
            blob = bytes(data[offset + 32:offset + 32 + 2 * _MAX_STRING])
            n, pos = _uvarint(blob, 0)
            version = blob[pos:pos + n].decode("utf-8", "replace")
            pos += n
            n, pos = _uvarint(blob, pos)
            modinfo = blob[pos:pos + n].decode("utf-8", "replace")
        else:
            if ptr_size not in (4, 8):
                return None
            addr = _address_of_offset(container, offset)
            if addr is None:
                return None
            # Two pointers in the program's byte order (flags bit 0: big-endian),
            # relocated or, in Mach-O files with chained fixups, encoded.
            vptr = container.read_word(addr + 16)
            mptr = container.read_word(addr + 16 + ptr_size)
            version = _read_gostring(container, vptr)
            modinfo = _read_gostring(container, mptr)
    except Exception:
        return None
    if not version.startswith("go") and not version.startswith("devel"):
        return None
    path, main, deps, settings = _parse_modinfo(modinfo)
    return BuildInfo(version, source, path, main, deps, settings)


def _read_gostring(container: Container, addr: int) -> str:
    """The Go string whose header is at addr; "" when it is not in the file.

    As debug/buildinfo's readString: a binary built outside a module (Go
    1.13-1.17) points modinfo at an empty string variable in .bss, which the
    file does not hold.
    """
    try:
        word = container.ptr_size  # a string header: data pointer, length
        ptr = container.read_word(addr)
        n = int.from_bytes(container.read(addr + word, word), container.endian)
        if n > _MAX_STRING:
            return ""
        return bytes(container.read(ptr, n)).decode("utf-8", "replace")
    except FormatError:
        return ""


def _address_of_offset(container: Container, offset: int) -> int | None:
    """The virtual address at which the file byte at offset is loaded."""
    for s in container.sections:
        if s.file_size and s.addr and s.offset <= offset < s.offset + s.file_size:
            return s.addr + (offset - s.offset)
    return None
