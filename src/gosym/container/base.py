"""What every container adapter (ELF, Mach-O, PE) provides to the table decoder.

A container maps the file read-only and answers: which sections exist, where a
virtual address lives in the file, what a pointer-sized word at an address holds
(after load-time relocations), and — lazily, because symbol tables of big
binaries are large — the address of a named symbol.

Words are the program's pointers: ``ptr_size`` bytes (4 on 386, arm, mips,
mipsle; 8 elsewhere) in ``byte_order`` (big-endian on ppc64, s390x, mips,
mips64), both read from the file header by the adapter.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import Iterator

from .._lazy import np
from ..errors import FormatError


_ADDR_LIMIT = 1 << 63


@dataclass(frozen=True)
class Section:
    name: str
    segment: str  # Mach-O segment name, "" for ELF
    addr: int  # virtual address
    size: int  # size in memory
    offset: int  # offset in the file
    file_size: int  # bytes present in the file (0 for .bss / zerofill)

    def contains_addr(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.size

    @property
    def full_name(self) -> str:
        if not self.name:
            return f"an unnamed section at {self.addr:#x}"
        return f"{self.segment},{self.name}" if self.segment else self.name


class Container:
    """A memory-mapped executable: sections, address translation, pointers."""

    format: str  # "elf", "macho" or "pe"
    arch: str  # Go's GOARCH name: "amd64", "arm64", "386", "arm", "ppc64le", ...
    ptr_size: int = 8
    byte_order: str = "<"  # struct notation: "<" little-endian, ">" big-endian
    goos: str | None = None  # what the file format alone says (PE: "windows"), else None

    def __init__(self, path: str, buf, sections: list[Section]) -> None:
        self.path = path
        self.buf = buf  # mmap (or bytes): supports .find without copying
        self.data = memoryview(buf)
        # A section beyond the 63-bit user address space (or whose offset or size
        # is as large) comes from a damaged header: no process maps it, and
        # callers keep addresses in int64 arrays.
        sections = [s for s in sections if s.addr + s.size <= _ADDR_LIMIT and
                    s.offset + s.file_size <= _ADDR_LIMIT]
        self.sections = sections
        self._by_name = {}
        for s in sections:
            self._by_name.setdefault(s.name, s)
        mapped = sorted((s for s in sections if s.file_size and s.addr), key=lambda s: s.addr)
        self._mapped = mapped
        self._mapped_starts = [s.addr for s in mapped]

    # --- sections ---------------------------------------------------------
    def section(self, name: str) -> Section | None:
        return self._by_name.get(name)

    def section_data(self, section: Section) -> memoryview:
        end = section.offset + min(section.file_size, section.size)
        if section.offset > len(self.data) or end > len(self.data):
            raise FormatError(f"section {section.full_name} extends past the end of the file",
                              section.offset)
        return self.data[section.offset:end]

    def section_at(self, addr: int) -> Section | None:
        i = bisect.bisect_right(self._mapped_starts, addr) - 1
        if i >= 0 and self._mapped[i].contains_addr(addr):
            return self._mapped[i]
        return None

    def is_mapped(self, addr: int) -> bool:
        """addr lies in the image's address space, whether or not the file holds its
        bytes (.bss; the code a core file did not dump)."""
        return self.section_at(addr) is not None or \
            any(s.contains_addr(addr) for s in self.sections if not s.file_size and s.addr)

    def addr_to_offset(self, addr: int) -> int | None:
        s = self.section_at(addr)
        if s is None or addr - s.addr >= s.file_size:
            return None
        return s.offset + (addr - s.addr)

    def file_offsets(self, addrs) -> tuple[np.ndarray, np.ndarray]:
        """addr_to_offset for many addresses (int64 in, int64 out): the file offset
        of each and how many bytes of its section the file holds from there;
        (-1, 0) where an address is in no file-backed section."""
        addrs = np.asarray(addrs, np.int64)
        offsets = np.full(len(addrs), -1, np.int64)
        avail = np.zeros(len(addrs), np.int64)
        if not self._mapped or not len(addrs):
            return offsets, avail
        sec_addr = np.array(self._mapped_starts, np.int64)
        sec_end = np.array([s.addr + min(s.size, s.file_size) for s in self._mapped], np.int64)
        sec_off = np.array([s.offset for s in self._mapped], np.int64)
        k = np.searchsorted(sec_addr, addrs, side="right") - 1
        kk = np.maximum(k, 0)
        inside = (k >= 0) & (addrs < sec_end[kk])
        offsets[inside] = (sec_off[kk] + (addrs - sec_addr[kk]))[inside]
        avail[inside] = (sec_end[kk] - addrs)[inside]
        return offsets, avail

    def read(self, addr: int, size: int) -> memoryview:
        """Bytes at a virtual address; raises FormatError if not in the file."""
        off = self.addr_to_offset(addr)
        s = self.section_at(addr)
        if off is None or s is None or addr + size > s.addr + s.file_size or \
                off + size > len(self.data):
            raise FormatError(f"address {addr:#x} (+{size}) is not mapped from the file")
        return self.view(off, addr, size)

    def view(self, offset: int, addr: int, size: int) -> memoryview:
        """size bytes of the file at offset, loaded at addr: pointers the loader
        rewrites (Mach-O chained fixups) hold the value the process sees."""
        raw = self.data[offset:offset + size]
        fixes = self.fixups_in(addr, addr + size)
        if not fixes:
            return raw
        patched = bytearray(raw)
        for slot, value in fixes:
            word = struct.pack(self.byte_order + "Q", value)
            lo, hi = max(slot, addr), min(slot + 8, addr + size)
            patched[lo - addr:hi - addr] = word[lo - slot:hi - slot]
        return memoryview(bytes(patched))

    @property
    def endian(self) -> str:
        """The byte order as int.from_bytes names it ("little" or "big")."""
        return "little" if self.byte_order == "<" else "big"

    @property
    def word_format(self) -> str:
        """struct format of one pointer-sized word."""
        return self.byte_order + ("Q" if self.ptr_size == 8 else "I")

    def read_word(self, addr: int) -> int:
        """A pointer-sized word at addr, with load-time relocations applied."""
        fixed = self.relocated_word(addr)
        if fixed is not None:
            return fixed
        return struct.unpack(self.word_format, self.read(addr, self.ptr_size))[0]

    def read_plain_word(self, addr: int) -> int:
        """A pointer-sized integer at addr (a length or offset: no relocation applied)."""
        return int.from_bytes(self.read(addr, self.ptr_size), self.endian)

    def read_words(self, addr: int, count: int) -> list[int]:
        p = self.ptr_size
        return [self.read_word(addr + p * i) for i in range(count)]

    # --- hooks for adapters ---------------------------------------------------
    def relocated_word(self, addr: int) -> int | None:
        """The value a dynamic relocation or fixup stores at addr, if any."""
        return None

    def fixups_in(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """(slot address, value) of the encoded pointers overlapping [lo, hi) that the
        loader rewrites in place (Mach-O chained fixups); [] where the file holds
        plain values."""
        return []

    def symbol(self, name: str) -> int | None:
        """Address of a named symbol, or None; may be slow on first use."""
        return None

    @property
    def has_symbols(self) -> bool:
        return False

    def find_pointer_refs(self, value: int, sections: list[Section]) -> Iterator[int]:
        """Addresses in the given sections whose word (maybe relocated) equals value."""
        if not 0 <= value < 1 << (8 * self.ptr_size):
            return
        needle = struct.pack(self.word_format, value)
        align = self.ptr_size
        for s in sections:
            if not s.file_size:
                continue
            start = s.offset
            end = min(s.offset + min(s.file_size, s.size), len(self.data))
            while True:
                i = self.buf.find(needle, start, end)
                if i < 0:
                    break
                addr = s.addr + (i - s.offset)
                if addr % align == 0:
                    yield addr
                start = i + 1
        yield from self.relocation_refs(value)

    def relocation_refs(self, value: int) -> Iterator[int]:
        return iter(())

    def close(self) -> None:
        """Release the mapping. Arrays or views still held by the caller keep it
        alive (the mapping then closes when they are gone)."""
        try:
            self.data.release()
            self.buf.close()
        except BufferError:
            pass  # exported to a live numpy array or memoryview: closed with it
        except AttributeError:
            pass  # bytes
