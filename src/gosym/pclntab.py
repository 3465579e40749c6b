"""Decoder for Go's function table, ``.gopclntab``, from bytes alone.

The layout is chosen once, from the magic, in :func:`parse_header`; every
version-dependent offset lives behind a named accessor of :class:`Layout`.
Sources: runtime/symtab.go, runtime/runtime2.go (``_func``),
internal/abi/symtab.go, cmd/link/internal/ld/pcln.go, debug/gosym/pclntab.go.

The table never imports a container: it gets its bytes, the text start and a
callback for reading memory at a virtual address (for funcdata before Go 1.18).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from . import pcvalue
from .errors import FormatError

MAGIC_GO12 = 0xFFFFFFFB  # Go 1.2 - 1.15
MAGIC_GO116 = 0xFFFFFFFA  # Go 1.16 - 1.17
MAGIC_GO118 = 0xFFFFFFF0  # Go 1.18 - 1.19
MAGIC_GO120 = 0xFFFFFFF1  # Go 1.20 and later
MAGICS = (MAGIC_GO12, MAGIC_GO116, MAGIC_GO118, MAGIC_GO120)

# internal/abi/symtab.go
PCDATA_UNSAFE_POINT = 0
PCDATA_STACK_MAP_INDEX = 1
PCDATA_INL_TREE_INDEX = 2
PCDATA_ARG_LIVE_INDEX = 3
FUNCDATA_INL_TREE = 3

FLAG_TOPFRAME = 1
FLAG_SPWRITE = 2
FLAG_ASM = 4
FLAG_NAMES = ((FLAG_TOPFRAME, "TOPFRAME"), (FLAG_SPWRITE, "SPWRITE"), (FLAG_ASM, "ASM"))


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True); by counting (no sort) when the
    integers span a small range, as func IDs, flags and file offsets do."""
    v = np.asarray(values)
    if len(v) and v.dtype.kind in "iu":
        lo, hi = int(v.min()), int(v.max())
        # Counting costs O(range) memory: keep it within a small multiple of the
        # input, whatever a damaged table's offsets span.
        if hi - lo < max(1 << 20, 16 * len(v)):
            shifted = v.astype(np.intp) - lo
            seen = np.bincount(shifted, minlength=hi - lo + 1) > 0
            return (np.flatnonzero(seen) + lo).astype(v.dtype), \
                (np.cumsum(seen) - 1)[shifted]
    uniq, inverse = np.unique(v, return_inverse=True)
    return uniq, inverse.reshape(-1)


def flag_names(flag: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES if flag & bit]


@dataclass(frozen=True)
class Layout:
    """Offsets that depend on the table version (64-bit pointers)."""

    magic: int
    era: str  # "1.2", "1.16", "1.18" or "1.20": first Go release of the layout
    func_size: int  # bytes of the fixed part of _func
    entry_is_offset: bool  # _func.entryoff u32 relative to textStart (1.18+) vs uintptr
    nameoff_at: int
    args_at: int
    deferreturn_at: int
    pcsp_at: int
    pcfile_at: int
    pcln_at: int
    npcdata_at: int
    cuoff_at: int | None
    startline_at: int | None
    funcid_at: int
    flag_at: int | None
    nfuncdata_at: int
    funcdata_is_offset: bool  # u32 offsets from moduledata.gofunc (1.18+) vs pointers
    inline_entry_size: int


_LAYOUTS = {
    # Go 1.12-1.15 _func: entry uintptr; nameoff, args, deferreturn, pcsp, pcfile,
    # pcln, npcdata int32; funcID u8; _ [2]byte; nfuncdata u8.
    MAGIC_GO12: Layout(MAGIC_GO12, "1.2", 40, False, 8, 12, 16, 20, 24, 28, 32, None, None,
                       36, None, 39, False, 20),
    # Go 1.16-1.17: cuOffset added after npcdata; 1.17 turns a pad byte into flag.
    MAGIC_GO116: Layout(MAGIC_GO116, "1.16", 44, False, 8, 12, 16, 20, 24, 28, 32, 36, None,
                        40, 41, 43, False, 20),
    # Go 1.18-1.19: entry becomes entryoff u32; funcdata become u32 offsets.
    MAGIC_GO118: Layout(MAGIC_GO118, "1.18", 40, True, 4, 8, 12, 16, 20, 24, 28, 32, None,
                        36, 37, 39, True, 20),
    # Go 1.20+: startLine int32 after cuOffset; inline tree entries shrink to 16 bytes.
    MAGIC_GO120: Layout(MAGIC_GO120, "1.20", 44, True, 4, 8, 12, 16, 20, 24, 28, 32, 36,
                        40, 41, 43, True, 16),
}

# Go 1.2-1.9 kept nfuncdata as an int32 at +36 (no funcID byte); 1.10-1.11 kept
# funcID as an int32 in the deferreturn slot.  Same record size, so the same
# magic: these variants are picked by Go version (see Table.__init__).
_LAYOUT_GO12_OLD = Layout(MAGIC_GO12, "1.2", 40, False, 8, 12, 16, 20, 24, 28, 32, None, None,
                          16, None, 36, False, 20)


@dataclass(frozen=True)
class Header:
    magic: int
    era: str
    quantum: int
    ptr_size: int
    nfunc: int
    nfiles: int
    text_start: int  # from the header; 0 before Go 1.18 and from Go 1.26 on
    funcname_offset: int
    cu_offset: int
    filetab_offset: int
    pctab_offset: int
    pcln_offset: int  # start of functab; _func offsets are relative to it
    functab_offset: int

    @property
    def magic_hex(self) -> str:
        return f"{self.magic:#010x}"


def probe_magic(data, pos: int = 0) -> int | None:
    """The table magic at data[pos] if the first 8 header bytes look right."""
    if pos + 8 > len(data):
        return None
    magic = int.from_bytes(data[pos:pos + 4], "little")
    if magic not in MAGICS:
        return None
    if data[pos + 4] != 0 or data[pos + 5] != 0:
        return None
    if data[pos + 6] not in (1, 2, 4) or data[pos + 7] not in (4, 8):
        return None
    return magic


def parse_header(data) -> Header:
    """Decode and bounds-check the header of the table that starts at data[0]."""
    magic = probe_magic(data)
    if magic is None:
        if len(data) < 8:
            raise FormatError("function table is truncated (shorter than its 8-byte header)")
        raise FormatError("no valid function table magic", 0)
    quantum, ptr_size = data[6], data[7]
    if ptr_size != 8:
        raise FormatError("function table of a 32-bit program: not supported", 7)
    size = len(data)

    def word(i: int) -> int:
        at = 8 + i * ptr_size
        if at + ptr_size > size:
            raise FormatError("function table header is truncated", at)
        return int.from_bytes(data[at:at + ptr_size], "little")

    layout = _LAYOUTS[magic]
    if magic == MAGIC_GO12:
        nfunc = word(0)
        functab = 8 + ptr_size
        functab_size = nfunc * 2 * ptr_size + ptr_size
        if nfunc > size or functab + functab_size + 4 > size:
            raise FormatError(f"function count {nfunc} does not fit in the table", 8)
        filetab = int.from_bytes(data[functab + functab_size:functab + functab_size + 4], "little")
        if filetab + 4 > size:
            raise FormatError("file table offset out of range", functab + functab_size)
        nfiles = int.from_bytes(data[filetab:filetab + 4], "little")
        header = Header(magic, layout.era, quantum, ptr_size, nfunc, max(nfiles - 1, 0), 0,
                        0, 0, filetab, 0, 0, functab)
    else:
        nfunc, nfiles = word(0), word(1)
        rest = [word(i) for i in range(2, 8 if magic != MAGIC_GO116 else 7)]
        if magic == MAGIC_GO116:
            text_start = 0
            funcname, cu, filetab, pctab, pcln = rest
        else:
            text_start, funcname, cu, filetab, pctab, pcln = rest
        for name, value in (("function name table", funcname), ("compilation unit table", cu),
                            ("file table", filetab), ("pc-value table", pctab),
                            ("function table", pcln)):
            if not 0 < value <= size:
                raise FormatError(f"{name} offset {value:#x} is outside the table", 8)
        entry_size = 8 if magic in (MAGIC_GO118, MAGIC_GO120) else 2 * ptr_size
        end_size = 4 if magic in (MAGIC_GO118, MAGIC_GO120) else ptr_size
        if nfunc > size or pcln + nfunc * entry_size + end_size > size:
            raise FormatError(f"function count {nfunc} does not fit in the table", 8)
        if nfiles > size:
            raise FormatError(f"file count {nfiles} does not fit in the table", 8 + ptr_size)
        header = Header(magic, layout.era, quantum, ptr_size, nfunc, nfiles, text_start,
                        funcname, cu, filetab, pctab, pcln, pcln)
    if header.nfunc == 0:
        raise FormatError("function table lists no functions", 8)
    return header


@dataclass(frozen=True)
class InlinedCall:
    """One entry of a function's inline tree (runtime/symtabinl.go)."""

    func_id: int
    name: str
    parent_pc: int  # offset from the physical function's entry
    start_line: int | None  # Go 1.20+
    parent: int | None  # Go < 1.20: index of the parent entry, -1 for none


@dataclass(frozen=True)
class Func:
    """One function of the table, with its decoded ``_func`` fields."""

    index: int
    entry: int
    end: int  # next function's entry: padding after the code belongs to it
    name: str
    args: int
    deferreturn: int
    func_id: int
    flag: int
    pcsp: int
    pcfile: int
    pcln: int
    npcdata: int
    nfuncdata: int
    cu_offset: int | None
    start_line: int | None
    record_offset: int  # offset of the _func record in the table data

    @property
    def flags(self) -> list[str]:
        return flag_names(self.flag)

    @property
    def size(self) -> int:
        return self.end - self.entry


class Table:
    """A decoded ``.gopclntab``: header eagerly, everything else on demand.

    ``data`` must start at the table's magic and may run past its end.
    ``text_start`` is the address functab entry offsets are relative to (Go
    1.18+); ``go_version`` (e.g. (1, 15)) refines the Go 1.2 layout when known.
    """

    def __init__(self, data, text_start: int | None = None,
                 go_version: tuple[int, int] | None = None,
                 read_memory=None) -> None:
        self.data = memoryview(data).cast("B")
        self.header = parse_header(self.data)
        h = self.header
        self.layout = _LAYOUTS[h.magic]
        if h.magic == MAGIC_GO12 and go_version is not None and go_version < (1, 12):
            self.layout = _LAYOUT_GO12_OLD
        self.quantum = h.quantum
        self.text_start = h.text_start if text_start is None else text_start
        self.read_memory = read_memory  # callable(addr, size) -> bytes, for funcdata < 1.18
        self.textsect_map: list[tuple[int, int, int]] = []  # (vaddr, end, baseaddr)
        self._u8 = np.frombuffer(self.data, dtype=np.uint8)
        self._entries: np.ndarray | None = None
        self._funcoffs: np.ndarray | None = None
        self._names_index: tuple[np.ndarray, list[bytes]] | None = None
        if h.magic == MAGIC_GO12:
            self._funcname_base = 0
            self._pctab_base = 0
            self._func_base = 0
        else:
            self._funcname_base = h.funcname_offset
            self._pctab_base = h.pctab_offset
            self._func_base = h.pcln_offset
        self.pctab_end = len(self.data)
        self._decode = lru_cache(maxsize=65536)(self._decode_uncached)

    # --- functab ------------------------------------------------------------
    def _load_functab(self) -> None:
        h = self.header
        n = h.nfunc
        if self.layout.entry_is_offset:
            raw = np.frombuffer(self.data, dtype="<u4", count=2 * n + 1, offset=h.functab_offset)
            entries = raw[0::2].astype(np.uint64)
            funcoffs = raw[1::2][:n].astype(np.int64)
            entries = self._text_off(entries)
        else:
            raw = np.frombuffer(self.data, dtype="<u8", count=2 * n + 1, offset=h.functab_offset)
            entries = raw[0::2].copy()
            funcoffs = raw[1::2][:n].astype(np.int64)
        if n > 1 and bool(np.any(entries[1:] < entries[:-1])):
            bad = int(np.argmax(entries[1:] < entries[:-1]))
            raise FormatError(f"function table is not sorted (entry {bad + 1} of {n})",
                              h.functab_offset)
        limit = len(self.data) - self._func_base - self.layout.func_size
        if bool(np.any((funcoffs < 0) | (funcoffs > limit))):
            bad = int(np.argmax((funcoffs < 0) | (funcoffs > limit)))
            raise FormatError(f"record offset of function {bad} is outside the table",
                              h.functab_offset)
        self._entries = entries
        self._funcoffs = funcoffs + self._func_base

    def _text_off(self, offsets: np.ndarray) -> np.ndarray:
        """Entry offsets to addresses (runtime moduledata.textOff)."""
        pcs = offsets + np.uint64(self.text_start)
        if len(self.textsect_map) > 1:
            for i, (vaddr, end, base) in enumerate(self.textsect_map):
                last = i == len(self.textsect_map) - 1
                sel = (offsets >= vaddr) & ((offsets < end) | (last & (offsets == end)))
                pcs[sel] = offsets[sel] - np.uint64(vaddr) + np.uint64(base)
        return pcs

    def set_text_start(self, text_start: int, textsect_map=()) -> None:
        self.text_start = text_start
        self.textsect_map = list(textsect_map)
        self._entries = None

    @property
    def entries(self) -> np.ndarray:
        """Entry PCs of all functions plus the end of the last one (nfunc + 1)."""
        if self._entries is None:
            self._load_functab()
        return self._entries

    @property
    def record_offsets(self) -> np.ndarray:
        if self._funcoffs is None:
            self._load_functab()
        return self._funcoffs

    def __len__(self) -> int:
        return self.header.nfunc

    # --- _func fields, vectorised ----------------------------------------------
    def _gather_u32(self, offsets: np.ndarray) -> np.ndarray:
        u8 = self._u8
        o = offsets
        if len(o):
            lo, hi = int(o.min()), int(o.max())
            if lo < 0 or hi + 4 > len(u8):  # offsets come from the file: check them
                raise FormatError("table field outside the table", lo if lo < 0 else hi)
        if len(u8) < 4:
            return np.zeros(len(o), np.uint32)
        # One 4-byte row gather from an overlapping view (any alignment).
        rows = np.lib.stride_tricks.as_strided(u8, shape=(len(u8) - 3, 4), strides=(1, 1),
                                               writeable=False)
        return rows[o].view("<u4").reshape(-1).astype(np.uint32, copy=False)

    def field_u32(self, field_at: int, indices: np.ndarray | None = None) -> np.ndarray:
        offs = self.record_offsets if indices is None else self.record_offsets[indices]
        return self._gather_u32(offs + field_at)

    def field_u8(self, field_at: int, indices: np.ndarray | None = None) -> np.ndarray:
        offs = self.record_offsets if indices is None else self.record_offsets[indices]
        return self._u8[offs + field_at]

    def column(self, name: str, indices: np.ndarray | None = None) -> np.ndarray | None:
        """A _func field for many functions at once (None if the layout lacks it)."""
        L = self.layout
        at = {"nameoff": L.nameoff_at, "args": L.args_at, "deferreturn": L.deferreturn_at,
              "pcsp": L.pcsp_at, "pcfile": L.pcfile_at, "pcln": L.pcln_at,
              "npcdata": L.npcdata_at, "cu_offset": L.cuoff_at,
              "start_line": L.startline_at}
        if name in at:
            if at[name] is None:
                return None
            col = self.field_u32(at[name], indices)
            if name in ("args", "start_line"):
                col = col.view(np.int32)
            return col
        if name == "func_id":
            if L is _LAYOUT_GO12_OLD:
                return self.field_u32(L.funcid_at, indices) & 0xFF
            return self.field_u8(L.funcid_at, indices)
        if name == "flag":
            if L.flag_at is None:
                n = len(self) if indices is None else len(indices)
                return np.zeros(n, np.uint8)
            return self.field_u8(L.flag_at, indices)
        if name == "nfuncdata":
            if L is _LAYOUT_GO12_OLD:
                return self.field_u32(L.nfuncdata_at, indices)
            return self.field_u8(L.nfuncdata_at, indices)
        raise KeyError(name)

    # --- strings -----------------------------------------------------------
    def _cstring(self, off: int) -> str:
        data = self.data
        if not 0 <= off < len(data):
            raise FormatError("string offset outside the table", off)
        end = self._find_nul(off)
        return bytes(data[off:end]).decode("utf-8", "replace")

    def _find_nul(self, off: int) -> int:
        # Most strings are short: look in a small window first.
        i = bytes(self.data[off:off + 256]).find(b"\0") if off >= 0 else -1
        if i >= 0:
            return off + i
        # Search in bounded chunks so a corrupt offset can't scan the whole file.
        u8 = self._u8
        chunk = 4096
        pos = off
        while pos < len(u8):
            seg = u8[pos:pos + chunk]
            hits = np.flatnonzero(seg == 0)
            if len(hits):
                return pos + int(hits[0])
            pos += chunk
            if pos - off > 1 << 20:
                break
        raise FormatError("unterminated string in the table", off)

    def name_at(self, nameoff: int) -> str:
        """A function name from its nameoff (relative to funcnametab, Go 1.16+)."""
        return self._cstring(self._funcname_base + nameoff)

    def names(self, indices: np.ndarray | None = None) -> list[bytes]:
        """Names of many functions at once, as raw bytes (fast path for output)."""
        nameoffs = self.column("nameoff", indices).astype(np.int64) + self._funcname_base
        if not len(nameoffs):
            return []
        if self._names_index is None:
            # Index the names of all functions, whichever are asked for first.
            every = nameoffs if indices is None else \
                self.column("nameoff").astype(np.int64) + self._funcname_base
            lo = int(every.min())
            hi = int(every.max())
            end = self._find_nul(hi) + 1
            # data[lo:end].split(NUL), a few MB at a time (no copy of the whole region).
            parts: list[bytes] = []
            pos = lo
            while pos < end:
                chunk = bytes(self.data[pos:min(end, pos + (1 << 22))])
                cut = chunk.rfind(b"\0") + 1
                if cut == 0:  # one name longer than the chunk: take it whole
                    cut = self._find_nul(pos) + 1 - pos
                    chunk = bytes(self.data[pos:pos + cut])
                parts += chunk[:cut].split(b"\0")[:-1]
                pos += cut
            parts.append(b"")
            # Each part starts after the NUL that ends the previous one.
            lengths = np.fromiter(map(len, parts), np.int64, len(parts)) + 1
            starts = np.empty(len(parts), np.int64)
            starts[0] = lo
            np.cumsum(lengths[:-1], out=starts[1:])
            starts[1:] += lo
            self._names_index = (starts, parts)
        starts, parts = self._names_index
        if len(nameoffs) == len(parts) - 1 and np.array_equal(nameoffs, starts[:-1]):
            return parts[:-1]  # every name once, in table order: the common layout
        idx = np.searchsorted(starts, nameoffs)
        ok = (idx < len(starts)) & (starts[np.minimum(idx, len(starts) - 1)] == nameoffs)
        if bool(np.all(ok)):
            return list(map(parts.__getitem__, idx.tolist()))
        out = []
        for i, good, off in zip(idx.tolist(), ok.tolist(), nameoffs.tolist()):
            out.append(parts[i] if good else self._cstring(off).encode())
        return out

    def name_of(self, index: int) -> str:
        """Name of one function (without indexing the whole name table)."""
        return self.name_at(int(self.column("nameoff", np.array([index]))[0]))

    def names_start_with(self, prefix: bytes, indices: np.ndarray) -> np.ndarray:
        """Mask: which of the functions' names start with prefix (compared in place)."""
        offs = self.column("nameoff", indices).astype(np.int64) + self._funcname_base
        k = len(prefix)
        ok = (offs >= 0) & (offs + k <= len(self._u8))
        if not k or not len(offs):
            return ok
        rows = np.lib.stride_tricks.as_strided(self._u8, shape=(max(len(self._u8) - k + 1, 0), k),
                                               strides=(1, 1), writeable=False)
        got = rows[np.where(ok, offs, 0)]
        return ok & (got == np.frombuffer(prefix, np.uint8)).all(axis=1)

    def name_ends(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(starts, ends) of all functions' names in ``data``: function i's name is
        data[starts[i]:ends[i]] and data[ends[i]] is its NUL. None if a name is out
        of range or unterminated (names() reports that)."""
        offs = self.column("nameoff").astype(np.int64) + self._funcname_base
        if not len(offs) or int(offs.min()) < 0:
            return None
        lo = int(offs.min())
        try:
            end = self._find_nul(int(offs.max())) + 1
        except FormatError:
            return None
        nuls = []
        for pos in range(lo, end, 1 << 22):  # a few MB at a time
            nuls.append(np.flatnonzero(self._u8[pos:min(end, pos + (1 << 22))] == 0) + pos)
        nuls = np.concatenate(nuls)
        return offs, nuls[np.searchsorted(nuls, offs)]

    def first_values(self, table_offsets: np.ndarray) -> np.ndarray:
        """Value of the first row of many pc-value tables at once (-1 sentinel when absent).

        The first row's value is -1 plus the zig-zag decoded first varint; a
        vectorised 5-byte varint decode avoids a Python loop per function.
        """
        u8 = self._u8
        n = len(u8)
        present = table_offsets != 0
        pos = np.where(present, table_offsets.astype(np.int64) + self._pctab_base, 0)
        b = u8[np.minimum(pos, n - 1)].astype(np.int64)
        value = b & 0x7F
        sel = np.flatnonzero(b >= 0x80)  # only multi-byte varints read on
        for k in range(1, 5):
            if not len(sel):
                break
            b = u8[np.minimum(pos[sel] + k, n - 1)].astype(np.int64)
            value[sel] |= (b & 0x7F) << (7 * k)
            sel = sel[b >= 0x80]
        zig = np.where(value & 1, -((value >> 1) + 1), value >> 1)
        return np.where(present, zig - 1, -2)

    def entry_file_names(self, indices: np.ndarray | None = None) -> list[bytes | None]:
        """File of each function at its entry (first pcfile row), as raw bytes."""
        codes, names = self.entry_file_codes(indices)
        return [names[c] for c in codes.tolist()]

    def entry_file_codes(self, indices: np.ndarray | None = None
                         ) -> tuple[np.ndarray, list[bytes | None]]:
        """Entry files as (codes, distinct names): function i's file is names[codes[i]]."""
        pcfile = self.column("pcfile", indices)
        filenos = self.first_values(pcfile)
        h = self.header
        if h.magic == MAGIC_GO12:
            ok = (filenos > 0) & (filenos <= h.nfiles)
            at = h.filetab_offset + 4 * np.where(ok, filenos, 0)
            offs = self._gather_u32(at.astype(np.int64)).astype(np.int64)
        else:
            cu = self.column("cu_offset", indices).astype(np.int64)
            at = h.cu_offset + 4 * (cu + filenos)
            ok = (filenos >= 0) & (at + 4 <= len(self.data))
            offs = self._gather_u32(np.where(ok, at, 0).astype(np.int64)).astype(np.int64)
            ok &= offs != 0xFFFFFFFF
            offs = offs + h.filetab_offset
        uniq, codes = unique_inverse(np.where(ok, offs, -1))
        names: list[bytes | None] = []
        for off in uniq.tolist():
            name = None
            if off >= 0:
                try:
                    name = self._cstring(off).encode()
                except FormatError:
                    name = None
            names.append(name)
        return codes.reshape(-1), names

    def file_name(self, func: Func, fileno: int) -> str | None:
        """Name of file number fileno of a function (the pcfile table's values)."""
        h = self.header
        data = self.data
        if h.magic == MAGIC_GO12:
            if not 0 < fileno <= h.nfiles:
                return None
            at = h.filetab_offset + 4 * fileno
            off = int.from_bytes(data[at:at + 4], "little")
            return self._cstring(off)
        if fileno < 0 or func.cu_offset is None:
            return None
        at = h.cu_offset + 4 * (func.cu_offset + fileno)
        if at + 4 > len(data):
            raise FormatError("compilation unit table index out of range", at)
        off = int.from_bytes(data[at:at + 4], "little")
        if off == 0xFFFFFFFF:
            return None
        return self._cstring(h.filetab_offset + off)

    # --- one function ----------------------------------------------------------
    def func(self, index: int) -> Func:
        if not 0 <= index < len(self):
            raise IndexError(index)
        entries = self.entries
        rec = int(self.record_offsets[index])
        L = self.layout
        d = self.data

        def u32(at: int) -> int:
            return int.from_bytes(d[rec + at:rec + at + 4], "little")

        def i32(at: int) -> int:
            v = u32(at)
            return v - (1 << 32) if v & 0x80000000 else v

        if L is _LAYOUT_GO12_OLD:
            func_id = u32(L.funcid_at) & 0xFF
            nfuncdata = u32(L.nfuncdata_at)
        else:
            func_id = d[rec + L.funcid_at]
            nfuncdata = d[rec + L.nfuncdata_at]
        return Func(
            index=index,
            entry=int(entries[index]),
            end=int(entries[index + 1]),
            name=self.name_at(u32(L.nameoff_at)),
            args=i32(L.args_at),
            deferreturn=u32(L.deferreturn_at),
            func_id=func_id,
            flag=d[rec + L.flag_at] if L.flag_at is not None else 0,
            pcsp=u32(L.pcsp_at),
            pcfile=u32(L.pcfile_at),
            pcln=u32(L.pcln_at),
            npcdata=u32(L.npcdata_at),
            nfuncdata=nfuncdata,
            cu_offset=u32(L.cuoff_at) if L.cuoff_at is not None else None,
            start_line=i32(L.startline_at) if L.startline_at is not None else None,
            record_offset=rec,
        )

    def __iter__(self) -> Iterator[Func]:
        for i in range(len(self)):
            yield self.func(i)

    def find_index(self, pc: int) -> int | None:
        """Index of the function whose [entry, next entry) holds pc (binary search)."""
        entries = self.entries
        if pc < int(entries[0]) or pc >= int(entries[-1]):
            return None
        i = int(np.searchsorted(entries, np.uint64(pc), side="right")) - 1
        return i if 0 <= i < len(self) else None

    def find_func(self, pc: int) -> Func | None:
        i = self.find_index(pc)
        return None if i is None else self.func(i)

    # --- pc-value tables -----------------------------------------------------------
    def _decode_uncached(self, off: int, span: int) -> tuple[tuple[int, int], ...]:
        return pcvalue.decode_table(self.data, self._pctab_base + off, self.quantum,
                                    self.pctab_end, span)

    def _uvarints(self, pos: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Decode one uvarint at each position (values, next positions); None when one
        runs past limit or is longer than 5 bytes."""
        u8 = self._u8
        if len(pos) and int(pos.max()) >= limit:
            return None
        b = u8[pos].astype(np.int64)
        value = b & 0x7F
        more = b >= 0x80
        nxt = pos + 1
        for k in range(1, 5):
            if not more.any():
                return value, nxt
            sel = np.flatnonzero(more)
            at = pos[sel] + k
            if int(at.max()) >= limit:
                return None
            bk = u8[at].astype(np.int64)
            value[sel] |= (bk & 0x7F) << (7 * k)
            nxt[sel] += 1
            more[sel] = bk >= 0x80
        if more.any():
            return None
        return value, nxt

    def decode_many(self, offsets: np.ndarray, spans: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Decode many pc-value tables at once, a row of every table per numpy step.

        ``offsets`` (non-zero) and ``spans`` as in :meth:`pcvalue_rows`. Returns
        (row_start, row_end_offsets, row_values): table k's rows are
        row_start[k]:row_start[k + 1], the same rows pcvalue.decode_table gives.
        None when a table is malformed: decoding it alone reports the error.
        """
        limit = self.pctab_end
        k = len(offsets)
        pos = offsets.astype(np.int64) + self._pctab_base
        if k and (int(pos.min()) <= 0 or int(pos.max()) >= limit):
            return None
        spans = spans.astype(np.int64)
        value = np.full(k, -1, np.int64)
        pc = np.zeros(k, np.int64)
        active = np.arange(k)
        tabs, pcs, values = [], [], []
        first = True
        while len(active):
            got = self._uvarints(pos[active], limit)
            if got is None:
                return None
            uv, p = got
            if not first:
                live = uv != 0
                if not live.all():
                    active, uv, p = active[live], uv[live], p[live]
                    if not len(active):
                        break
            first = False
            got = self._uvarints(p, limit)
            if got is None:
                return None
            pcd, p = got
            v = value[active] + np.where(uv & 1, -((uv >> 1) + 1), uv >> 1)
            c = pc[active] + pcd * self.quantum
            if bool(((v < -(1 << 31)) | (v >= (1 << 31)) | (c > spans[active])).any()):
                return None
            value[active] = v
            pc[active] = c
            pos[active] = p
            tabs.append(active)
            pcs.append(c)
            values.append(v)
        if not tabs:
            return np.zeros(k + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        tab = np.concatenate(tabs)
        order = np.argsort(tab, kind="stable")  # rows of a table stay in decode order
        counts = np.bincount(tab, minlength=k)
        row_start = np.zeros(k + 1, np.int64)
        np.cumsum(counts, out=row_start[1:])
        return row_start, np.concatenate(pcs)[order], np.concatenate(values)[order]

    def pcvalue_rows(self, func: Func, table_off: int) -> tuple[tuple[int, int], ...]:
        """Decoded rows (end offset, value) of one of func's pc-value tables."""
        if table_off == 0:
            return ()
        return self._decode(table_off, func.end - func.entry)

    def pcvalue(self, func: Func, table_off: int, pc: int) -> int | None:
        """Value of a pc-value table at pc, or None if the table has none there."""
        if table_off == 0:
            return None
        return pcvalue.value_at(self.pcvalue_rows(func, table_off), pc - func.entry)

    def pcdata_offset(self, func: Func, index: int) -> int:
        if index >= func.npcdata:
            return 0
        at = func.record_offset + self.layout.func_size + 4 * index
        if at + 4 > len(self.data):
            raise FormatError("pcdata offset outside the table", at)
        return int.from_bytes(self.data[at:at + 4], "little")

    def funcdata_offset(self, func: Func, index: int) -> int | None:
        """Go 1.18+: the u32 offset of a funcdata from moduledata.gofunc (None if absent)."""
        if index >= func.nfuncdata or not self.layout.funcdata_is_offset:
            return None
        at = func.record_offset + self.layout.func_size + 4 * func.npcdata + 4 * index
        if at + 4 > len(self.data):
            raise FormatError("funcdata offset outside the table", at)
        off = int.from_bytes(self.data[at:at + 4], "little")
        return None if off == 0xFFFFFFFF else off

    def funcdata_pointer(self, func: Func, index: int) -> int | None:
        """Before Go 1.18: the absolute address of a funcdata (None if nil).

        The pointers follow the pcdata array, aligned to the pointer size.
        """
        at = self.funcdata_pointer_offset(func, index)
        if at is None:
            return None
        value = int.from_bytes(self.data[at:at + 8], "little")
        return value or None

    def funcdata_pointer_offset(self, func: Func, index: int) -> int | None:
        """Before Go 1.18: offset in the table of a funcdata pointer slot (None if absent)."""
        if index >= func.nfuncdata or self.layout.funcdata_is_offset:
            return None
        at = func.record_offset + self.layout.func_size + 4 * func.npcdata
        at = ((at + 7) & ~7) + 8 * index  # records are 8-byte aligned, as is the table
        if at + 8 > len(self.data):
            raise FormatError("funcdata pointer outside the table", at)
        return at

    def pcsp_rows(self, func: Func) -> tuple[tuple[int, int], ...]:
        return self.pcvalue_rows(func, func.pcsp)

    def line_at(self, func: Func, pc: int) -> tuple[str | None, int | None]:
        """(file, line) of the physical function at pc, as runtime.funcline1."""
        fileno = self.pcvalue(func, func.pcfile, pc)
        line = self.pcvalue(func, func.pcln, pc)
        file = self.file_name(func, fileno) if fileno is not None else None
        return file, line


def parse_inline_tree_entry(table: Table, raw: bytes | memoryview) -> InlinedCall:
    """Decode one inline tree entry (runtime/symtabinl.go inlinedCall)."""
    if table.layout.inline_entry_size == 16:
        # Go 1.20+: funcID u8, _ [3]byte, nameOff int32, parentPc int32, startLine int32
        func_id = raw[0]
        nameoff, parent_pc, start_line = struct.unpack_from("<iii", raw, 4)
        return InlinedCall(func_id, table.name_at(nameoff), parent_pc, start_line, None)
    # Go 1.12-1.19: parent int16, funcID u8, _ byte, file int32, line int32,
    # func_ int32 (nameoff), parentPc int32
    parent, func_id = struct.unpack_from("<hB", raw, 0)
    _file, _line, nameoff, parent_pc = struct.unpack_from("<iiii", raw, 4)
    return InlinedCall(func_id, table.name_at(nameoff), parent_pc, None, parent)


def func_name_for_print(name: str) -> str:
    """runtime.funcNameForPrint: generic instantiations print as ``F[...]``."""
    i = name.find("[")
    if i < 0:
        return name
    j = name.rfind("]")
    if j <= i:
        return name
    return name[:i] + "[...]" + name[j + 1:]


def sequence_of_funcs(table: Table) -> Sequence[Func]:
    class _Funcs(Sequence):
        def __len__(self) -> int:
            return len(table)

        def __getitem__(self, i):  # type: ignore[override]
            if isinstance(i, slice):
                return [table.func(j) for j in range(*i.indices(len(table)))]
            if i < 0:
                i += len(table)
            return table.func(i)

    return _Funcs()
