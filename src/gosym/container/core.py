"""An ELF core file read as the memory of the process it was dumped from.

The kernel writes into a core only the memory a dump filter selects
(/proc/PID/coredump_filter, default 0x33): anonymous memory and file-backed
pages the process wrote (the executable's .data, .noptrdata and relocated
read-only data), plus the first page of each file mapping. The executable's
code, its .rodata and its function table stay in the executable file. A core
dumped with every mapping (filter 0x3f, or gdb's gcore with the filter off)
holds them too.

:class:`ProcessImage` is the process's memory at run-time addresses: the
core's dumped pages where it has them, and the executable's file, moved by
the load slide, everywhere else. The slide is the entry point the kernel
reports in the core's auxiliary vector (NT_AUXV, AT_ENTRY) minus the
executable's e_entry: 0 for a position-dependent executable.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import Iterator

from ..errors import FormatError, UnsupportedError
from .base import Container, Section

_PT_LOAD, _PT_NOTE = 1, 4
_NT_AUXV = 6
_AT_ENTRY = 9


@dataclass(frozen=True)
class _Segment:
    p_type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


def _program_headers(data) -> list[_Segment]:
    """The program headers of a 64-bit little-endian ELF file (already validated)."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 56 > len(data):
            raise FormatError("program header table extends past the end of the file")
        p_type, _flags, offset, vaddr, _paddr, filesz, memsz = \
            struct.unpack_from("<IIQQQQQ", data, at)
        out.append(_Segment(p_type, offset, vaddr, filesz, memsz))
    return out


def _notes(data, seg: _Segment) -> Iterator[tuple[int, bytes]]:
    """(type, descriptor) of each note in a PT_NOTE segment (4-byte aligned fields)."""
    pos, end = seg.offset, min(seg.offset + seg.filesz, len(data))
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        desc = pos + 12 + ((namesz + 3) & ~3)
        if desc + descsz > end:
            return
        yield ntype, bytes(data[desc:desc + descsz])
        pos = desc + ((descsz + 3) & ~3)


def entry_point(core_data) -> int | None:
    """AT_ENTRY of the core's auxiliary vector: where the executable's entry was loaded."""
    for seg in _program_headers(core_data):
        if seg.p_type != _PT_NOTE:
            continue
        for ntype, desc in _notes(core_data, seg):
            if ntype != _NT_AUXV:
                continue
            for k in range(0, len(desc) - 15, 16):
                key, value = struct.unpack_from("<QQ", desc, k)
                if key == _AT_ENTRY:
                    return value
    return None


def load_slide(core: Container, exe: Container) -> int:
    """Where the executable was loaded relative to its link addresses."""
    if exe.format != "elf" or getattr(exe, "elf_type", None) not in ("ET_EXEC", "ET_DYN"):
        raise FormatError(f"{exe.path} is not an ELF executable, so it can't be the program "
                          "of an ELF core")
    if exe.arch != core.arch:
        raise FormatError(f"the core is of an {core.arch} process, {exe.path} is {exe.arch}")
    entry = entry_point(core.data)
    if entry is None:
        raise FormatError("the core has no auxiliary vector (NT_AUXV) to tell where the "
                          "executable was loaded")
    e_entry, = struct.unpack_from("<Q", exe.data, 0x18)
    slide = entry - e_entry
    # A position-dependent executable runs where it was linked; a PIE is moved by
    # whole pages. Anything else means the core is of another program.
    if (exe.elf_type == "ET_EXEC" and slide != 0) or slide % 4096:
        raise FormatError(f"the core is not of {exe.path}: its entry point was loaded at "
                          f"{entry:#x}, which does not fit the file's entry {e_entry:#x}")
    return slide


class ProcessImage(Container):
    """The memory of a dumped process: the core's pages over the executable's file."""

    format = "elf"
    elf_type = "ET_CORE"

    def __init__(self, core: Container, exe: Container) -> None:
        for c in (core, exe):
            if c.format != "elf" or c.ptr_size != 8 or c.byte_order != "<":
                raise UnsupportedError(f"{c.path}: cores are read for 64-bit little-endian ELF "
                                       f"programs, not {c.format} {c.arch}")
        self.core = core
        self.exe = exe
        self.arch = core.arch
        self.slide = load_slide(core, exe)
        moved = [Section(s.name, s.segment, s.addr + self.slide, s.size, s.offset, s.file_size)
                 for s in exe.sections if s.addr]
        super().__init__(core.path, exe.buf, moved)
        # The core's dumped pages, by address: (start, end, offset in the core file).
        dumped = sorted((s.addr, s.addr + s.file_size, s.offset)
                        for s in core.sections if s.file_size)
        self._dumped = dumped
        self._dumped_starts = [d[0] for d in dumped]
        self._check_same_program()

    def _check_same_program(self) -> None:
        """The executable's first page (ELF header, program headers), where the core
        has it, must be the file's: else the core is of another build."""
        for seg in _program_headers(self.exe.data):
            if seg.p_type == _PT_LOAD and seg.offset == 0 and seg.filesz:
                n = min(seg.filesz, 4096)
                mem = self._dumped_bytes(seg.vaddr + self.slide, n)
                if mem is not None and bytes(mem) != bytes(self.exe.data[:n]):
                    raise FormatError(f"the core is not of {self.exe.path}: the executable's "
                                      "first page in the core's memory differs from the file")
                return

    # --- the core's pages -------------------------------------------------------
    def _dumped_bytes(self, addr: int, size: int) -> memoryview | None:
        """Bytes at addr if one dumped range of the core holds all of them."""
        i = bisect.bisect_right(self._dumped_starts, addr) - 1
        if i >= 0:
            start, end, offset = self._dumped[i]
            if addr + size <= end:
                return self.core.data[offset + addr - start:offset + addr - start + size]
        return None

    def _dumped_overlapping(self, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        i = max(0, bisect.bisect_right(self._dumped_starts, lo) - 1)
        while i < len(self._dumped) and self._dumped[i][0] < hi:
            start, end, offset = self._dumped[i]
            if end > lo:
                yield start, end, offset
            i += 1

    # --- memory -----------------------------------------------------------------
    def read(self, addr: int, size: int) -> memoryview:
        mem = self._dumped_bytes(addr, size)
        if mem is not None:
            return mem
        return super().read(addr, size)  # the executable's bytes, with the core's over them

    def view(self, offset: int, addr: int, size: int) -> memoryview:
        """The executable's bytes loaded at addr: relocated, then overlaid with
        whatever the core holds of that range (what the process had there)."""
        base = super().view(offset, addr, size)
        pieces = list(self._dumped_overlapping(addr, addr + size))
        if not pieces:
            return base
        out = bytearray(base)
        for start, end, core_off in pieces:
            lo, hi = max(start, addr), min(end, addr + size)
            out[lo - addr:hi - addr] = self.core.data[core_off + lo - start:core_off + hi - start]
        return memoryview(bytes(out))

    def relocated_word(self, addr: int) -> int | None:
        mem = self._dumped_bytes(addr, 8)
        if mem is not None:
            return int.from_bytes(mem, "little")
        fixed = self.exe.relocated_word(addr - self.slide)
        return None if fixed is None else fixed + self.slide

    def fixups_in(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The executable's relative relocations in [lo, hi), moved by the slide."""
        slots = getattr(self.exe, "relocations_in", None)
        if slots is None or not self.slide:
            return []
        return [(slot + self.slide, value + self.slide)
                for slot, value in slots(lo - self.slide, hi - self.slide)]

    def find_pointer_refs(self, value: int, sections: list[Section]) -> Iterator[int]:
        """Words equal to value in the core's pages of the given sections, then in
        the executable's (relocated) data where the core has none."""
        needle = struct.pack("<Q", value)
        seen = set()
        for s in sections:
            for start, end, core_off in self._dumped_overlapping(s.addr, s.addr + s.size):
                lo, hi = max(start, s.addr), min(end, s.addr + s.size)
                pos = self.core.buf.find(needle, core_off + lo - start, core_off + hi - start)
                while pos >= 0:
                    addr = start + pos - core_off
                    if addr % 8 == 0 and addr not in seen:
                        seen.add(addr)
                        yield addr
                    pos = self.core.buf.find(needle, pos + 1, core_off + hi - start)
        for addr in self.exe.find_pointer_refs(value - self.slide, self.exe.sections):
            if addr + self.slide not in seen and self._dumped_bytes(addr + self.slide, 8) is None:
                yield addr + self.slide

    # --- symbols ------------------------------------------------------------------
    def symbol(self, name: str) -> int | None:
        addr = self.exe.symbol(name)
        return None if addr is None else addr + self.slide

    @property
    def has_symbols(self) -> bool:
        return self.exe.has_symbols

    def close(self) -> None:
        self.exe.close()
        self.core.close()
