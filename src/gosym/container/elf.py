"""ELF adapter (pyelftools for the headers, numpy for big tables)."""

from __future__ import annotations

from functools import cache

from typing import Iterator

from .._lazy import np

from ..errors import FormatError, UnsupportedError
from .base import Container, Section

_MACHINES = {"EM_X86_64": "amd64", "EM_AARCH64": "arm64"}
_OTHER_MACHINES = {"EM_386": "386", "EM_ARM": "arm", "EM_PPC64": "ppc64", "EM_S390": "s390x",
                   "EM_MIPS": "mips", "EM_RISCV": "riscv64", "EM_LOONGARCH": "loong64",
                   "EM_PPC": "ppc"}
# R_X86_64_RELATIVE and R_AARCH64_RELATIVE: *offset = load base + addend.
_RELATIVE = {"amd64": 8, "arm64": 1027}


@cache
def _sym_dtype():
    return np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                       ("value", "<u8"), ("size", "<u8")])

@cache
def _rela_dtype():
    return np.dtype([("offset", "<u8"), ("info", "<u8"), ("addend", "<i8")])


def _pyelftools_header(stream) -> tuple[str, str, list[Section]]:
    """(arch, e_type, sections) read by pyelftools, which reports what is wrong."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(stream)
        machine = elf["e_machine"]
        if elf.elfclass != 64:
            name = _OTHER_MACHINES.get(machine, machine)
            raise UnsupportedError(f"32-bit ELF ({name}) is not supported; gosym decodes 64-bit "
                                   "amd64 and arm64 binaries")
        if not elf.little_endian:
            name = _OTHER_MACHINES.get(machine, machine)
            raise UnsupportedError(f"big-endian ELF ({name}) is not supported")
        if machine not in _MACHINES:
            name = _OTHER_MACHINES.get(machine, machine)
            raise UnsupportedError(f"ELF architecture {name} is not supported; gosym decodes "
                                   "amd64 and arm64")
        sections = []
        for sec in elf.iter_sections():
            h = sec.header
            nobits = h["sh_type"] == "SHT_NOBITS"
            sections.append(Section(name=sec.name, segment="", addr=h["sh_addr"],
                                    size=h["sh_size"], offset=h["sh_offset"],
                                    file_size=0 if nobits else h["sh_size"]))
        if not any(s.file_size for s in sections):
            # Section headers removed (sstrip, objcopy --strip-sections): the
            # loadable segments are all there is; the table is found by scanning.
            for i, seg in enumerate(elf.iter_segments()):
                h = seg.header
                # A core lists every mapping of the process, the ones it did not
                # dump too (p_filesz 0): those are kept as address space without bytes.
                if h["p_type"] == "PT_LOAD" and (h["p_filesz"] or elf["e_type"] == "ET_CORE"):
                    sections.append(Section(name=f"PT_LOAD[{i}]", segment="",
                                            addr=h["p_vaddr"], size=h["p_memsz"],
                                            offset=h["p_offset"],
                                            file_size=min(h["p_filesz"], h["p_memsz"])))
    except UnsupportedError:
        raise
    except (ELFError, ValueError, KeyError, IndexError, AssertionError, OSError) as e:
        raise FormatError(f"malformed ELF file: {e}") from None
    except Exception as e:  # pyelftools raises construct errors of many kinds
        raise FormatError(f"malformed ELF file: {type(e).__name__}: {e}") from None
    return _MACHINES[machine], elf["e_type"], sections


class _MappedStream:
    """The mapped file as the stream pyelftools reads: like a file, and unlike an
    mmap, seeking past the end is allowed (a cut-off file's headers point there;
    reads return short, which the decoder reports)."""

    def __init__(self, buf) -> None:
        self.buf = buf
        self.pos = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos if whence == 1 else len(self.buf) + pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = len(self.buf) if n is None or n < 0 else self.pos + n
        data = self.buf[self.pos:end] if self.pos < len(self.buf) else b""
        self.pos += len(data)
        return data


class ElfContainer(Container):
    format = "elf"

    def __init__(self, path: str, buf) -> None:
        arch, elf_type, sections = _pyelftools_header(_MappedStream(buf))
        self.arch = arch
        self.elf_type = elf_type
        super().__init__(path, buf, sections)
        self._symbols: tuple[np.ndarray, memoryview] | None = None
        self._relocs: tuple[np.ndarray, np.ndarray] | None = None

    # --- symbols ------------------------------------------------------------
    def _symtab(self) -> tuple[np.ndarray, memoryview] | None:
        if self._symbols is None:
            symtab = self.section(".symtab")
            strtab = self.section(".strtab")
            if symtab is None or strtab is None or not symtab.file_size:
                self._symbols = (np.zeros(0, _sym_dtype()), memoryview(b""))
            else:
                raw = self.section_data(symtab)
                n = len(raw) // _sym_dtype().itemsize
                self._symbols = (np.frombuffer(raw, _sym_dtype(), count=n),
                                 self.section_data(strtab))
        return self._symbols

    @property
    def has_symbols(self) -> bool:
        symtab = self.section(".symtab")
        return (symtab is not None and self.section(".strtab") is not None and
                symtab.file_size >= 24)  # at least one Elf64_Sym

    def _lookup(self, name: str):
        syms, strtab = self._symtab()
        if not len(syms):
            return None
        needle = b"\0" + name.encode() + b"\0"
        raw = bytes(strtab)
        start = 0
        while True:
            i = raw.find(needle, start)
            if i < 0:
                return None
            hits = np.nonzero(syms["name"] == i + 1)[0]
            if len(hits):
                return syms[hits[0]]
            start = i + 1

    def symbol(self, name: str) -> int | None:
        s = self._lookup(name)
        return None if s is None else int(s["value"])

    # --- dynamic relocations (PIE) -------------------------------------------------
    def _rela(self) -> tuple[np.ndarray, np.ndarray]:
        if self._relocs is None:
            offsets, addends = [], []
            kind = _RELATIVE[self.arch]
            for s in self.sections:
                if not s.name.startswith(".rela") or not s.file_size:
                    continue
                raw = self.section_data(s)
                rows = np.frombuffer(raw, _rela_dtype(), count=len(raw) // _rela_dtype().itemsize)
                rel = rows[(rows["info"] & 0xFFFFFFFF) == kind]
                offsets.append(rel["offset"])
                addends.append(rel["addend"].astype(np.uint64))
            if offsets:
                off = np.concatenate(offsets)
                add = np.concatenate(addends)
                order = np.argsort(off, kind="stable")
                self._relocs = (off[order], add[order])
            else:
                self._relocs = (np.zeros(0, np.uint64), np.zeros(0, np.uint64))
        return self._relocs

    def relocated_word(self, addr: int) -> int | None:
        if self.elf_type != "ET_DYN":
            return None
        off, add = self._rela()
        i = int(np.searchsorted(off, addr))
        if i < len(off) and int(off[i]) == addr:
            return int(add[i])
        return None

    def relocations_in(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """(slot, value) of the relative relocations whose slot is in [lo, hi)."""
        if self.elf_type != "ET_DYN":
            return []
        off, add = self._rela()
        i, j = np.searchsorted(off, [lo, hi])
        return list(zip(off[i:j].tolist(), add[i:j].tolist()))

    def relocation_refs(self, value: int) -> Iterator[int]:
        if self.elf_type != "ET_DYN":
            return
        off, add = self._rela()
        for i in np.nonzero(add == np.uint64(value))[0]:
            yield int(off[i])
