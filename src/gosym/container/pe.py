"""PE/COFF adapter (Windows): pefile for the headers; the COFF symbols read as bytes.

Addresses are the image's preferred addresses (ImageBase + RVA), as Go's
tools print them (cmd/internal/objfile/pe.go, debug/gosym callers). The
loader's base relocations (``.reloc``) add the difference between the actual
and the preferred base to pointers stored in the image; read from the file,
those pointers already hold preferred addresses, so nothing is applied.

Go's linker (cmd/link/internal/ld/pe.go) writes a COFF symbol table unless
linked with ``-s``: symbol values are offsets into their section, names longer
than 8 bytes live in the string table that follows the symbols, and so do the
names of sections whose name is longer than 8 bytes (``/4`` means string table
offset 4: the DWARF sections ``.debug_frame``, ...).
"""

from __future__ import annotations

from ..errors import FormatError, UnsupportedError
from .base import Container, Section

# IMAGE_FILE_MACHINE_* -> Go's GOARCH (debug/pe).
_MACHINES = {0x8664: "amd64", 0x14C: "386", 0xAA64: "arm64", 0x1C4: "arm"}
_SYMBOL_SIZE = 18  # IMAGE_SYMBOL
_PE32_PLUS = 0x20B  # OPTIONAL_HEADER.Magic of 64-bit images
_SCN_UNINITIALIZED_DATA = 0x80  # IMAGE_SCN_CNT_UNINITIALIZED_DATA (.bss)


class PeContainer(Container):
    format = "pe"
    goos = "windows"

    def __init__(self, path: str, buf) -> None:
        import pefile

        try:
            pe = pefile.PE(data=buf, fast_load=True)
        except pefile.PEFormatError as e:
            raise FormatError(f"malformed PE file: {e}") from None
        except Exception as e:  # pefile raises struct and index errors on damaged headers
            raise FormatError(f"malformed PE file: {type(e).__name__}: {e}") from None
        try:
            machine = pe.FILE_HEADER.Machine
            arch = _MACHINES.get(machine)
            if arch is None:
                name = pefile.MACHINE_TYPE.get(machine, f"{machine:#x}")
                raise UnsupportedError(f"PE machine {name} is not one Go builds for")
            if not hasattr(pe, "OPTIONAL_HEADER") or pe.OPTIONAL_HEADER is None:
                raise FormatError("PE file has no optional header")
            self.arch = arch
            self.ptr_size = 8 if pe.OPTIONAL_HEADER.Magic == _PE32_PLUS else 4
            self.image_base = pe.OPTIONAL_HEADER.ImageBase
            symoff = pe.FILE_HEADER.PointerToSymbolTable
            nsyms = pe.FILE_HEADER.NumberOfSymbols
            strtab_at = symoff + _SYMBOL_SIZE * nsyms
            self._coff = (symoff, nsyms, strtab_at) if symoff and nsyms else None
            sections = []
            for sec in pe.sections:
                name = self._section_name(bytes(sec.Name).rstrip(b"\0"), buf, strtab_at)
                vsize = sec.Misc_VirtualSize or sec.SizeOfRawData
                raw = 0 if sec.Characteristics & _SCN_UNINITIALIZED_DATA else sec.SizeOfRawData
                sections.append(Section(name=name, segment="",
                                        addr=self.image_base + sec.VirtualAddress, size=vsize,
                                        offset=sec.PointerToRawData, file_size=min(raw, vsize)))
        except (UnsupportedError, FormatError):
            raise
        except Exception as e:
            raise FormatError(f"malformed PE file: {type(e).__name__}: {e}") from None
        self._numbered = sections  # COFF section numbers are 1-based indices into these
        super().__init__(path, buf, sections)
        self._symbols = None

    def _section_name(self, raw: bytes, buf, strtab_at: int) -> str:
        """A section's name; "/N" names are at offset N of the COFF string table."""
        if raw.startswith(b"/") and raw[1:].isdigit() and self._coff is not None:
            at = strtab_at + int(raw[1:])
            end = buf.find(b"\0", at, at + 256)
            if at < len(buf) and end > at:
                return bytes(buf[at:end]).decode("latin-1")
        return raw.decode("latin-1")

    # --- symbols ------------------------------------------------------------------
    def _symtab(self) -> tuple[bytes, bytes]:
        """(the IMAGE_SYMBOL records, the string table after them)."""
        if self._symbols is None:
            if self._coff is None:
                self._symbols = (b"", b"")
            else:
                symoff, nsyms, strtab_at = self._coff
                if strtab_at + 4 > len(self.data):
                    raise FormatError("COFF symbol table extends past the end of the file",
                                      symoff)
                size = int.from_bytes(self.data[strtab_at:strtab_at + 4], "little")
                self._symbols = (bytes(self.data[symoff:strtab_at]),
                                 bytes(self.data[strtab_at:min(strtab_at + size, len(self.data))]))
        return self._symbols

    @property
    def has_symbols(self) -> bool:
        return self._coff is not None  # a COFF symbol table with at least one symbol

    def symbol(self, name: str) -> int | None:
        """Address of a COFF symbol: ImageBase + its section's RVA + its value
        (cmd/internal/objfile/pe.go). Searched for as bytes, without numpy: a
        symbol's first 8 bytes are its name, or (longer names) 4 zero bytes and
        the u32 offset of the name in the string table, whose first 4 bytes
        hold its size."""
        syms, strtab = self._symtab()
        if not syms:
            return None
        raw = name.encode()
        if len(raw) <= 8:
            keys = [raw.ljust(8, b"\0")]
        else:
            keys = []
            at = strtab.find(raw + b"\0", 4)
            while at >= 0:
                if at == 4 or strtab[at - 1] == 0:
                    keys.append(bytes(4) + at.to_bytes(4, "little"))
                at = strtab.find(raw + b"\0", at + 1)
        for key in keys:
            pos = syms.find(key)
            while pos >= 0:
                if pos % _SYMBOL_SIZE == 0:
                    value = int.from_bytes(syms[pos + 8:pos + 12], "little")
                    k = int.from_bytes(syms[pos + 12:pos + 14], "little", signed=True)
                    if 1 <= k <= len(self._numbered):
                        return self._numbered[k - 1].addr + value
                pos = syms.find(key, pos + 1)
        return None
