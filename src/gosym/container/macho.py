"""Mach-O adapter (macholib for the load commands, including fat files)."""

from __future__ import annotations

from functools import cache

from .._lazy import np
from macholib import mach_o
from macholib.MachO import MachO

from ..errors import FormatError, UnsupportedError
from .base import Container, Section
from .chained_fixups import ChainedFixups, Segment

_CPU_ARCH = {0x01000007: "amd64", 0x0100000C: "arm64"}
_CPU_OTHER = {7: "386", 12: "arm", 18: "ppc", 0x01000012: "ppc64", 0x0200000C: "arm64_32"}
_LC_DYLD_CHAINED_FIXUPS = 0x80000034
_ZEROFILL = {mach_o.S_ZEROFILL, mach_o.S_GB_ZEROFILL, mach_o.S_THREAD_LOCAL_ZEROFILL}

@cache
def _nlist64():
    return np.dtype([("strx", "<u4"), ("type", "u1"), ("sect", "u1"), ("desc", "<u2"),
                     ("value", "<u8")])


def _arch_name(cputype: int) -> str:
    return _CPU_ARCH.get(cputype) or _CPU_OTHER.get(cputype) or \
        mach_o.CPU_TYPE_NAMES.get(cputype, f"cputype {cputype:#x}")


class MachOContainer(Container):
    format = "macho"

    def __init__(self, path: str, buf, arch: str | None = None) -> None:
        try:
            macho = MachO(path, allow_unknown_load_commands=True)
            headers = list(macho.headers)
        except Exception as e:  # macholib raises ValueError, struct.error, KeyError, ...
            raise FormatError(f"malformed Mach-O file: {type(e).__name__}: {e}") from None
        if not headers:
            raise FormatError("Mach-O file has no architecture slices")
        self.slices = [_arch_name(h.header.cputype) for h in headers]
        if arch is not None:
            chosen = [h for h in headers if _arch_name(h.header.cputype) == arch]
            if not chosen:
                raise UnsupportedError(f"no {arch} slice in this Mach-O file "
                                       f"(it has: {', '.join(self.slices)})")
            header = chosen[0]
        else:
            header = headers[0]
        name = _arch_name(header.header.cputype)
        if header.header.cputype not in _CPU_ARCH:
            raise UnsupportedError(f"Mach-O architecture {name} is not supported; gosym decodes "
                                   "amd64 and arm64")
        if header.MH_MAGIC not in (mach_o.MH_MAGIC_64, mach_o.MH_CIGAM_64) or header.endian != "<":
            raise UnsupportedError(f"{'big-endian ' if header.endian != '<' else ''}32-bit or "
                                   f"big-endian Mach-O ({name}) is not supported")
        self.arch = name
        self.fat = len(headers) > 1 or header.offset != 0
        base = header.offset  # file offsets inside a fat slice are relative to it
        sections: list[Section] = []
        self.text_vmaddr = 0
        self._symtab_cmd = None
        self.segments: list[Segment] = []  # in load-command order: chained fixups index them
        self._fixups_cmd: tuple[int, int] | None = None  # LC_DYLD_CHAINED_FIXUPS (offset, size)
        self._fixups: ChainedFixups | None = None
        try:
            for lc, cmd, data in header.commands:
                if lc.cmd == mach_o.LC_SEGMENT_64:
                    segname = cmd.segname.rstrip(b"\0").decode("latin-1")
                    if segname == "__TEXT":
                        self.text_vmaddr = cmd.vmaddr
                    self.segments.append(Segment(cmd.vmaddr, cmd.vmsize, base + cmd.fileoff,
                                                 cmd.filesize))
                    for sect in data:
                        zerofill = (sect.flags & 0xFF) in _ZEROFILL
                        sections.append(Section(
                            name=sect.sectname.rstrip(b"\0").decode("latin-1"),
                            segment=sect.segname.rstrip(b"\0").decode("latin-1"),
                            addr=sect.addr, size=sect.size, offset=base + sect.offset,
                            file_size=0 if zerofill else sect.size))
                elif lc.cmd == mach_o.LC_SYMTAB:
                    self._symtab_cmd = (base + cmd.symoff, cmd.nsyms, base + cmd.stroff, cmd.strsize)
                elif lc.cmd == _LC_DYLD_CHAINED_FIXUPS:
                    self._fixups_cmd = (base + cmd.dataoff, cmd.datasize)
        except Exception as e:
            raise FormatError(f"malformed Mach-O load commands: {type(e).__name__}: {e}") from None
        super().__init__(path, buf, sections)
        self._symbols: tuple[np.ndarray, bytes] | None = None

    # --- chained fixups ---------------------------------------------------------
    @property
    def chained_fixups(self) -> ChainedFixups | None:
        """The file's chained fixups (Apple's linker, macOS 12+ targets), None without.

        Files linked this way store every rebased pointer encoded; the Go linker's
        own output rebases with LC_DYLD_INFO opcodes and stores plain pointers.
        """
        if self._fixups is None and self._fixups_cmd is not None:
            offset, size = self._fixups_cmd
            self._fixups = ChainedFixups(self.data, offset, size, self.segments,
                                         self.text_vmaddr)
        return self._fixups

    def relocated_word(self, addr: int) -> int | None:
        fixups = self.chained_fixups
        return None if fixups is None else fixups.word_at(addr)

    def fixups_in(self, lo: int, hi: int) -> list[tuple[int, int]]:
        fixups = self.chained_fixups
        if fixups is None:
            return []
        return [(slot, value) for slot, value, _bind in fixups.in_range(lo, hi)]

    def relocation_refs(self, value: int):
        fixups = self.chained_fixups
        if fixups is None:
            return
        slots, values = fixups.all()
        for i in np.nonzero(values == np.uint64(value))[0]:
            yield int(slots[i])

    # --- symbols -------------------------------------------------------------
    def _symtab(self):
        if self._symbols is None:
            if self._symtab_cmd is None:
                self._symbols = (np.zeros(0, _nlist64()), b"")
            else:
                symoff, nsyms, stroff, strsize = self._symtab_cmd
                if symoff + nsyms * _nlist64().itemsize > len(self.data) or \
                        stroff + strsize > len(self.data):
                    raise FormatError("Mach-O symbol table extends past the end of the file", symoff)
                syms = np.frombuffer(self.data[symoff:symoff + nsyms * _nlist64().itemsize], _nlist64())
                self._symbols = (syms, bytes(self.data[stroff:stroff + strsize]))
        return self._symbols

    @property
    def has_symbols(self) -> bool:
        return self._symtab_cmd is not None and self._symtab_cmd[1] > 0

    def symbol(self, name: str) -> int | None:
        syms, strtab = self._symtab()
        needle = b"\0_" + name.encode() + b"\0"  # Mach-O C symbols carry a leading underscore
        start = 0
        while len(syms):
            i = strtab.find(needle, start)
            if i < 0:
                return None
            hits = np.nonzero(syms["strx"] == i + 1)[0]
            if len(hits):
                return int(syms[hits[0]]["value"])
            start = i + 1
        return None
