"""ELF adapter (pyelftools for the headers, numpy for big tables)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from typing import Iterator

from .._lazy import np

from ..errors import FormatError, UnsupportedError
from .base import Container, Section

# e_machine -> Go's GOARCH, by (ELF class, little-endian); debug/elf and
# cmd/link/internal/ld/elf.go name the same machines.
_GOARCH = {
    ("EM_X86_64", 64, True): "amd64", ("EM_AARCH64", 64, True): "arm64",
    ("EM_386", 32, True): "386", ("EM_ARM", 32, True): "arm",
    ("EM_PPC64", 64, False): "ppc64", ("EM_PPC64", 64, True): "ppc64le",
    ("EM_S390", 64, False): "s390x", ("EM_RISCV", 64, True): "riscv64",
    ("EM_LOONGARCH", 64, True): "loong64",
    ("EM_MIPS", 32, False): "mips", ("EM_MIPS", 32, True): "mipsle",
    ("EM_MIPS", 64, False): "mips64", ("EM_MIPS", 64, True): "mips64le",
}
_MACHINE_NAMES = {"EM_PPC": "ppc (32-bit PowerPC)", "EM_SPARCV9": "sparc64", "EM_ALPHA": "alpha"}
# R_<arch>_RELATIVE: *offset = load base + addend, for the 64-bit architectures
# whose PIE files carry RELA relocations. The 32-bit ones (386, arm, mips) use
# REL: the addend is the word in place, which read_word reads anyway.
_RELATIVE = {"amd64": 8, "arm64": 1027, "ppc64": 22, "ppc64le": 22, "s390x": 12,
             "riscv64": 3, "loong64": 3}
# EI_OSABI values that name the OS (most Go ELF files say SYSV: the OS then comes
# from the binary itself, see GoBinary.goos).
_OSABI = {"ELFOSABI_FREEBSD": "freebsd", "ELFOSABI_NETBSD": "netbsd",
          "ELFOSABI_OPENBSD": "openbsd", "ELFOSABI_SOLARIS": "solaris"}


@cache
def _sym_dtype(bits: int, order: str):
    if bits == 32:
        return np.dtype([("name", order + "u4"), ("value", order + "u4"), ("size", order + "u4"),
                         ("info", "u1"), ("other", "u1"), ("shndx", order + "u2")])
    return np.dtype([("name", order + "u4"), ("info", "u1"), ("other", "u1"),
                     ("shndx", order + "u2"), ("value", order + "u8"), ("size", order + "u8")])


@cache
def _rela_dtype(order: str):
    return np.dtype([("offset", order + "u8"), ("info", order + "u8"), ("addend", order + "i8")])


@dataclass(frozen=True)
class _ElfHeader:
    arch: str
    bits: int  # ELF class: 32 or 64
    byte_order: str  # "<" or ">"
    elf_type: str  # e_type: ET_EXEC, ET_DYN, ...
    osabi: str  # EI_OSABI


def _pyelftools_header(stream) -> tuple[_ElfHeader, list[Section]]:
    """(header facts, sections) read by pyelftools, which reports what is wrong."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(stream)
        machine = elf["e_machine"]
        arch = _GOARCH.get((machine, elf.elfclass, elf.little_endian))
        if arch is None:
            name = _MACHINE_NAMES.get(machine, str(machine).removeprefix("EM_").lower())
            order = "little" if elf.little_endian else "big"
            raise UnsupportedError(f"ELF architecture {name} ({elf.elfclass}-bit, {order}-endian) "
                                   "is not one Go builds for")
        head = _ElfHeader(arch, elf.elfclass, "<" if elf.little_endian else ">", elf["e_type"],
                          str(elf["e_ident"]["EI_OSABI"]))
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
    return head, sections


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
        head, sections = _pyelftools_header(_MappedStream(buf))
        self.arch = head.arch
        self.bits = head.bits
        self.ptr_size = head.bits // 8
        self.byte_order = head.byte_order
        self.elf_type = head.elf_type
        self.goos = _OSABI.get(head.osabi)
        super().__init__(path, buf, sections)
        self._symbols: tuple[np.ndarray, memoryview] | None = None
        self._relocs: tuple[np.ndarray, np.ndarray] | None = None

    # --- symbols ------------------------------------------------------------
    def _symtab(self) -> tuple[np.ndarray, memoryview] | None:
        if self._symbols is None:
            symtab = self.section(".symtab")
            strtab = self.section(".strtab")
            dtype = _sym_dtype(self.bits, self.byte_order)
            if symtab is None or strtab is None or not symtab.file_size:
                self._symbols = (np.zeros(0, dtype), memoryview(b""))
            else:
                raw = self.section_data(symtab)
                n = len(raw) // dtype.itemsize
                self._symbols = (np.frombuffer(raw, dtype, count=n), self.section_data(strtab))
        return self._symbols

    @property
    def has_symbols(self) -> bool:
        symtab = self.section(".symtab")
        return (symtab is not None and self.section(".strtab") is not None and
                symtab.file_size >= (16 if self.bits == 32 else 24))  # one Elf32/64_Sym

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
            kind = _RELATIVE.get(self.arch)
            dtype = _rela_dtype(self.byte_order)
            for s in self.sections:
                if kind is None or not s.name.startswith(".rela") or not s.file_size:
                    continue
                raw = self.section_data(s)
                rows = np.frombuffer(raw, dtype, count=len(raw) // dtype.itemsize)
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
