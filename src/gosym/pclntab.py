"""Decoder for Go's function table, ``.gopclntab``, from bytes alone.

The layout is decided once, from the header, by :func:`parse_header` and
:func:`layout_for`; every difference between table versions is a named field
or flag of :class:`Layout`, and no code outside this module looks at the
magic. Sources: runtime/symtab.go, runtime/runtime2.go (``_func``),
runtime/symtabinl.go (``inlinedCall``), internal/abi/symtab.go,
cmd/link/internal/ld/pcln.go, debug/gosym/pclntab.go.

The table never imports a container: it gets its bytes and the text start.
Word size and byte order come from the header (pointer size byte; the magic's
byte order is the table's, as debug/gosym/pclntab.go reads it): 32-bit
programs have 4-byte uintptrs in the header, functab and ``_func`` before Go
1.18, big-endian ones (ppc64, s390x, mips, mips64) store every field
big-endian. Both are decided once per table: struct formats, array codes and
numpy dtypes are chosen in the constructor, never per field read.
Its public face has two halves: one function at a time (:meth:`Table.func`,
:meth:`Table.find_index`, :meth:`Table.rows`: pure Python, cached, what a
profiler's per-PC calls need) and columns of many functions at once
(:meth:`Table.column`, :meth:`Table.columns`, :meth:`Table.names`,
:meth:`Table.strings_at`, :meth:`Table.decode_tables`: numpy, bounds-checked).
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from itertools import compress, count, islice, repeat
from operator import lt
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterator, Sequence

from . import pcvalue
from ._lazy import np
from .errors import FormatError

_MAGIC_GO12 = 0xFFFFFFFB  # Go 1.2 - 1.15
_MAGIC_GO116 = 0xFFFFFFFA  # Go 1.16 - 1.17
_MAGIC_GO118 = 0xFFFFFFF0  # Go 1.18 - 1.19
_MAGIC_GO120 = 0xFFFFFFF1  # Go 1.20 and later
MAGICS = (_MAGIC_GO12, _MAGIC_GO116, _MAGIC_GO118, _MAGIC_GO120)  # for scanning files

# The four table layouts, by the first Go release that wrote each.
GO12, GO116, GO118, GO120 = "1.2", "1.16", "1.18", "1.20"
_VERSION_OF_MAGIC = {_MAGIC_GO12: GO12, _MAGIC_GO116: GO116, _MAGIC_GO118: GO118,
                     _MAGIC_GO120: GO120}

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

NO_FILE = 0xFFFFFFFF  # cutab entry of a file number the compilation unit lacks
NO_FUNCDATA = 0xFFFFFFFF  # funcdata offset of a nil funcdata (Go 1.18+)


def flag_names(flag: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES if flag & bit]


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


# --- layouts ---------------------------------------------------------------------

@dataclass(frozen=True)
class RecordField:
    """One field of the ``_func`` record: byte offset and kind ("u32", "i32", "u8")."""

    at: int
    kind: str


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Everything that differs between table versions, by name."""

    version: str  # GO12, GO116, GO118 or GO120: the first Go release of the layout
    ptr_size: int
    func_size: int  # bytes of the fixed part of _func
    fields: dict[str, RecordField]  # _func fields present in this layout
    entry_is_offset: bool  # entries are u32 offsets from the text start (1.18+), else uintptrs
    header_has_text_start: bool  # the header holds textStart (1.18+; 0 from Go 1.26)
    files_via_cutab: bool  # file numbers index the cutab per compilation unit (1.16+)
    funcdata_is_offset: bool  # funcdata are u32 offsets from moduledata.gofunc (1.18+)
    funcdata_pointer_align: int  # before 1.18: funcdata pointers follow pcdata, aligned so
    inline_entry_size: int
    inline_fields: dict[str, RecordField]  # func_id, nameoff, parent_pc, [start_line, parent]

    def field(self, name: str) -> RecordField | None:
        return self.fields.get(name)


def _fields(**kw: tuple[int, str]) -> dict[str, RecordField]:
    return {k: RecordField(at, kind) for k, (at, kind) in kw.items()}


# Go 1.12-1.19 inline tree entry (runtime/symtab.go of those releases):
# parent int16, funcID u8, _ byte, file int32, line int32, func_ (nameoff) int32, parentPc int32.
_INLINE_GO112 = _fields(parent=(0, "i16"), func_id=(2, "u8"), nameoff=(12, "i32"),
                        parent_pc=(16, "i32"))
# Go 1.20+ (runtime/symtabinl.go inlinedCall): funcID u8, _ [3]byte, nameOff int32,
# parentPc int32, startLine int32.
_INLINE_GO120 = _fields(func_id=(0, "u8"), nameoff=(4, "i32"), parent_pc=(8, "i32"),
                        start_line=(12, "i32"))


def layout_for(version: str, ptr_size: int, go_version: tuple[int, int] | None = None) -> Layout:
    """The layout of a table version (``go_version`` refines Go 1.2-1.11)."""
    p = ptr_size
    if version == GO12:
        # Go 1.12-1.15 _func: entry uintptr; nameoff, args, deferreturn, pcsp,
        # pcfile, pcln, npcdata int32; funcID u8; _ [2]byte; nfuncdata u8.
        # Go 1.2-1.9 kept nfuncdata as an int32 (no funcID byte); 1.10-1.11
        # kept funcID as an int32 in the deferreturn slot: same record size, so
        # the same magic, picked by Go version.
        fields = _fields(nameoff=(p, "u32"), args=(p + 4, "i32"), deferreturn=(p + 8, "u32"),
                         pcsp=(p + 12, "u32"), pcfile=(p + 16, "u32"), pcln=(p + 20, "u32"),
                         npcdata=(p + 24, "u32"), func_id=(p + 28, "u8"),
                         nfuncdata=(p + 31, "u8"))
        if go_version is not None and go_version < (1, 12):
            fields = dict(fields, func_id=RecordField(p + 8, "u32"),
                          nfuncdata=RecordField(p + 28, "u32"))
        return Layout(version=GO12, ptr_size=p, func_size=p + 32, fields=fields,
                      entry_is_offset=False, header_has_text_start=False, files_via_cutab=False,
                      funcdata_is_offset=False, funcdata_pointer_align=p, inline_entry_size=20,
                      inline_fields=_INLINE_GO112)
    if version == GO116:
        # cuOffset added after npcdata; 1.17 turns a pad byte into flag.
        fields = _fields(nameoff=(p, "u32"), args=(p + 4, "i32"), deferreturn=(p + 8, "u32"),
                         pcsp=(p + 12, "u32"), pcfile=(p + 16, "u32"), pcln=(p + 20, "u32"),
                         npcdata=(p + 24, "u32"), cu_offset=(p + 28, "u32"),
                         func_id=(p + 32, "u8"), flag=(p + 33, "u8"), nfuncdata=(p + 35, "u8"))
        return Layout(version=GO116, ptr_size=p, func_size=p + 36, fields=fields,
                      entry_is_offset=False, header_has_text_start=False, files_via_cutab=True,
                      funcdata_is_offset=False, funcdata_pointer_align=p, inline_entry_size=20,
                      inline_fields=_INLINE_GO112)
    # Go 1.18+: entry becomes entryoff u32; funcdata become u32 offsets; 1.20 adds
    # startLine after cuOffset and shrinks inline tree entries to 16 bytes.
    go120 = version == GO120
    k = 4 if go120 else 0
    fields = _fields(nameoff=(4, "u32"), args=(8, "i32"), deferreturn=(12, "u32"),
                     pcsp=(16, "u32"), pcfile=(20, "u32"), pcln=(24, "u32"),
                     npcdata=(28, "u32"), cu_offset=(32, "u32"),
                     func_id=(36 + k, "u8"), flag=(37 + k, "u8"), nfuncdata=(39 + k, "u8"))
    if go120:
        fields["start_line"] = RecordField(36, "i32")
    return Layout(version=version, ptr_size=p, func_size=40 + k, fields=fields,
                  entry_is_offset=True, header_has_text_start=True, files_via_cutab=True,
                  funcdata_is_offset=True, funcdata_pointer_align=0,
                  inline_entry_size=16 if go120 else 20,
                  inline_fields=_INLINE_GO120 if go120 else _INLINE_GO112)


@dataclass(frozen=True)
class Header:
    magic: int
    version: str  # GO12, GO116, GO118, GO120
    quantum: int
    ptr_size: int
    nfunc: int
    nfiles: int
    text_start: int  # from the header; 0 before Go 1.18 and from Go 1.26 on
    funcname_offset: int  # table offsets of the sub-tables (0 in the Go 1.2 layout,
    cu_offset: int        # whose offsets are relative to the table start)
    filetab_offset: int
    pctab_offset: int
    functab_offset: int  # the (entry, record offset) pairs
    pcln_offset: int  # pclnOffset: _func record offsets in functab are relative to it (0: Go 1.2)
    byte_order: str = "<"  # struct notation: "<" little-endian, ">" big-endian

    @property
    def endian(self) -> str:
        """The byte order as int.from_bytes names it ("little" or "big")."""
        return "little" if self.byte_order == "<" else "big"

    @property
    def magic_hex(self) -> str:
        return f"{self.magic:#010x}"

    @property
    def era(self) -> str:
        return self.version


def probe_table(data, pos: int = 0) -> tuple[int, str] | None:
    """(magic, byte order) of the table at data[pos] if its first 8 header bytes
    look right. The magic's byte order is the table's (debug/gosym/pclntab.go:
    ``leMagic``/``beMagic``)."""
    if pos + 8 > len(data):
        return None
    head = bytes(data[pos:pos + 4])
    magic = int.from_bytes(head, "little")
    order = "<"
    if magic not in MAGICS:
        magic = int.from_bytes(head, "big")
        order = ">"
        if magic not in MAGICS:
            return None
    if data[pos + 4] != 0 or data[pos + 5] != 0:
        return None
    if data[pos + 6] not in (1, 2, 4) or data[pos + 7] not in (4, 8):
        return None
    return magic, order


def probe_magic(data, pos: int = 0) -> int | None:
    """The table magic at data[pos] if the first 8 header bytes look right."""
    got = probe_table(data, pos)
    return None if got is None else got[0]


def parse_header(data) -> Header:
    """Decode and bounds-check the header of the table that starts at data[0]."""
    probed = probe_table(data)
    if probed is None:
        if len(data) < 8:
            raise FormatError("function table is truncated (shorter than its 8-byte header)")
        raise FormatError("no valid function table magic", 0)
    magic, order = probed
    endian = "little" if order == "<" else "big"
    quantum, ptr_size = data[6], data[7]
    size = len(data)
    version = _VERSION_OF_MAGIC[magic]

    def word(i: int) -> int:
        at = 8 + i * ptr_size
        if at + ptr_size > size:
            raise FormatError("function table header is truncated", at)
        return int.from_bytes(data[at:at + ptr_size], endian)

    if version == GO12:
        # nfunc, then functab of (entry, funcoff) uintptr pairs + an end entry,
        # then the u32 filetab offset; offsets are relative to the table start.
        nfunc = word(0)
        functab = 8 + ptr_size
        functab_size = nfunc * 2 * ptr_size + ptr_size
        if nfunc > size or functab + functab_size + 4 > size:
            raise FormatError(f"function count {nfunc} does not fit in the table", 8)
        filetab = int.from_bytes(data[functab + functab_size:functab + functab_size + 4], endian)
        if filetab + 4 > size:
            raise FormatError("file table offset out of range", functab + functab_size)
        nfiles = int.from_bytes(data[filetab:filetab + 4], endian)
        header = Header(magic, version, quantum, ptr_size, nfunc, max(nfiles - 1, 0), 0,
                        0, 0, filetab, 0, functab, 0, order)
    else:
        # nfunc, nfiles, [textStart (1.18+)], funcnameOffset, cuOffset,
        # filetabOffset, pctabOffset, pclnOffset (runtime/symtab.go pcHeader).
        nfunc, nfiles = word(0), word(1)
        rest = [word(i) for i in range(2, 7 if version == GO116 else 8)]
        if version == GO116:
            text_start = 0
            funcname, cu, filetab, pctab, pcln = rest
        else:
            text_start, funcname, cu, filetab, pctab, pcln = rest
        for name, value in (("function name table", funcname), ("compilation unit table", cu),
                            ("file table", filetab), ("pc-value table", pctab),
                            ("function table", pcln)):
            if not 0 < value <= size:
                raise FormatError(f"{name} offset {value:#x} is outside the table", 8)
        entry_size = 2 * ptr_size if version == GO116 else 8
        end_size = ptr_size if version == GO116 else 4
        if nfunc > size or pcln + nfunc * entry_size + end_size > size:
            raise FormatError(f"function count {nfunc} does not fit in the table", 8)
        if nfiles > size:
            raise FormatError(f"file count {nfiles} does not fit in the table", 8 + ptr_size)
        header = Header(magic, version, quantum, ptr_size, nfunc, nfiles, text_start,
                        funcname, cu, filetab, pctab, pcln, pcln, order)
    if header.nfunc == 0:
        raise FormatError("function table lists no functions", 8)
    return header


# --- records -------------------------------------------------------------------

@dataclass(frozen=True)
class InlinedCall:
    """One entry of a function's inline tree (runtime/symtabinl.go ``inlinedCall``)."""

    func_id: int
    name: str  # full symbol name of the inlined function
    parent_pc: int  # offset from the physical function's entry of the call's inline mark
    start_line: int | None  # Go 1.20+
    parent: int | None  # Go < 1.20: index of the parent entry, -1 for none


@dataclass(frozen=True)
class Func:
    """One function of the table, with its decoded ``_func`` fields."""

    index: int
    entry: int
    end: int  # next function's entry: padding after the code belongs to it
    name: str  # full symbol name
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


def func_name_for_print(name: str) -> str:
    """runtime.funcNameForPrint: generic instantiations print as ``F[...]``."""
    i = name.find("[")
    if i < 0:
        return name
    j = name.rfind("]")
    if j <= i:
        return name
    return name[:i] + "[...]" + name[j + 1:]


class Table:
    """A decoded ``.gopclntab``: header eagerly, everything else on demand.

    ``data`` must start at the table's magic and may run past its end.
    ``text_start`` is the address entry offsets are relative to (Go 1.18+);
    ``go_version`` (e.g. (1, 15)) refines the Go 1.2 layout when known.
    """

    def __init__(self, data, text_start: int | None = None,
                 go_version: tuple[int, int] | None = None,
                 searchable=None, searchable_offset: int = 0) -> None:
        self.data = memoryview(data).cast("B")
        # Where strings are looked for: an object with bytes' find() and slicing
        # (the file's mmap) holding the table at searchable_offset; else the table.
        self._search = searchable
        self._search_base = searchable_offset
        self.header = h = parse_header(self.data)
        self.layout = layout_for(h.version, h.ptr_size, go_version)
        self.quantum = h.quantum
        self.ptr_size = h.ptr_size
        # Byte order, decided once: every reader below uses these.
        self.byte_order = h.byte_order  # "<" or ">"
        self.endian = h.endian  # "little" or "big"
        self.u32_dtype = h.byte_order + "u4"  # numpy dtype of a table u32
        self.text_start = h.text_start if text_start is None else text_start
        self.textsect_map: list[tuple[int, int, int]] = []  # (vaddr, end, baseaddr)
        self.funcname_base = h.funcname_offset  # table offsets the nameoffs, pcsp, ... are
        self.pctab_base = h.pctab_offset        # relative to (0 in the Go 1.2 layout)
        self._functab: tuple[array, array] | None = None
        self._entries = None
        self._record_offsets = None
        self._u8 = None
        self._names_index: tuple[np.ndarray, list[bytes]] | None = None
        self._record = struct.Struct(h.byte_order + "".join(
            {"u32": "I", "i32": "i", "u8": "B"}[f.kind] for f in self._record_fields()))
        self._rows = lru_cache(maxsize=65536)(self._decode_rows)
        self._strings: dict[int, str] = {}

    # --- raw bytes ---------------------------------------------------------------
    @property
    def u8(self) -> np.ndarray:
        """The table bytes as a read-only numpy array (for batch readers)."""
        if self._u8 is None:
            self._u8 = np.frombuffer(self.data, dtype=np.uint8)
        return self._u8

    def u32_at(self, positions: np.ndarray) -> np.ndarray:
        """The u32 at each byte position of the table (bounds-checked), in the
        table's byte order."""
        u8 = self.u8
        o = np.asarray(positions, np.int64)
        if len(o):
            lo, hi = int(o.min()), int(o.max())
            if lo < 0 or hi + 4 > len(u8):  # positions come from the file: check them
                raise FormatError("table field outside the table", lo if lo < 0 else hi)
        if len(u8) < 4:
            return np.zeros(len(o), np.uint32)
        # One 4-byte row gather from an overlapping view (any alignment).
        rows = np.lib.stride_tricks.as_strided(u8, shape=(len(u8) - 3, 4), strides=(1, 1),
                                               writeable=False)
        return rows[o].view(self.u32_dtype).reshape(-1).astype(np.uint32, copy=False)

    # --- functab -------------------------------------------------------------------
    def _load_functab(self) -> tuple[array, array]:
        """(entry values, record offsets) as arrays, validated: entries sorted,
        records inside the table. Entry values are text offsets (Go 1.18+) or
        addresses; functab has nfunc + 1 entries, the last one the end."""
        if self._functab is None:
            h = self.header
            n = h.nfunc
            # u32 pairs from Go 1.18; before, uintptr pairs (4 bytes on 32-bit).
            width = 4 if self.layout.entry_is_offset else self.ptr_size
            pairs = array("I" if width == 4 else "Q")
            pairs.frombytes(self.data[h.functab_offset:h.functab_offset + (2 * n + 1) * width])
            if self.endian != sys.byteorder:
                pairs.byteswap()  # once, at load: lookups then bisect native integers
            entries, funcoffs = pairs[0::2], pairs[1::2]
            self._check_functab(entries, funcoffs, n)
            self._functab = (entries, funcoffs)
        return self._functab

    def _check_functab(self, entries: array, funcoffs: array, n: int) -> None:
        """Entries sorted, records inside the table; C-speed loops (itertools,
        operator) so that per-PC users don't pay for numpy's import."""
        h = self.header
        limit = len(self.data) - h.pcln_offset - self.layout.func_size
        # index of the first entry smaller than the one before it
        bad = next(compress(count(), map(lt, islice(entries, 1, None), entries)), None)
        if bad is not None:
            raise FormatError(f"function table is not sorted (entry {bad + 1} of {n})",
                              h.functab_offset)
        bad = next(compress(count(), map(lt, repeat(limit), islice(funcoffs, n))), None)
        if bad is not None:
            raise FormatError(f"record offset of function {bad} is outside the table",
                              h.functab_offset)

    def set_text_start(self, text_start: int, textsect_map=()) -> None:
        self.text_start = text_start
        self.textsect_map = list(textsect_map)
        self._entries = None

    def _text_off(self, offset: int) -> int:
        """An entry offset as an address (runtime moduledata.textOff)."""
        if len(self.textsect_map) > 1:
            for i, (vaddr, end, base) in enumerate(self.textsect_map):
                last = i == len(self.textsect_map) - 1
                if vaddr <= offset < end or (last and offset == end):
                    return offset - vaddr + base
        return offset + self.text_start

    @property
    def entries(self) -> np.ndarray:
        """Entry PCs of all functions plus the end of the last one (nfunc + 1), uint64."""
        if self._entries is None:
            raw, _ = self._load_functab()
            values = np.frombuffer(raw, np.uint32 if raw.itemsize == 4 else np.uint64)
            if not self.layout.entry_is_offset:
                self._entries = values.copy()
            else:
                offsets = values.astype(np.uint64)
                pcs = offsets + np.uint64(self.text_start)
                if len(self.textsect_map) > 1:
                    for i, (vaddr, end, base) in enumerate(self.textsect_map):
                        last = i == len(self.textsect_map) - 1
                        sel = (offsets >= vaddr) & ((offsets < end) | (last & (offsets == end)))
                        pcs[sel] = offsets[sel] - np.uint64(vaddr) + np.uint64(base)
                self._entries = pcs
        return self._entries

    @property
    def record_offsets(self) -> np.ndarray:
        """Table offset of every function's ``_func`` record (int64)."""
        if self._record_offsets is None:
            _, raw = self._load_functab()
            offs = np.frombuffer(raw, np.uint32 if raw.itemsize == 4 else np.uint64)
            self._record_offsets = offs[:self.header.nfunc].astype(np.int64) + \
                self.header.pcln_offset
        return self._record_offsets

    def __len__(self) -> int:
        return self.header.nfunc

    def entry_of(self, index: int) -> int:
        """Entry PC of function index (index nfunc: the end of the last function)."""
        raw, _ = self._load_functab()
        v = raw[index]
        return self._text_off(v) if self.layout.entry_is_offset else v

    def record_offset_of(self, index: int) -> int:
        _, raw = self._load_functab()
        return raw[index] + self.header.pcln_offset

    def find_index(self, pc: int) -> int | None:
        """Index of the function whose [entry, next entry) holds pc (binary search)."""
        raw, _ = self._load_functab()
        if self.layout.entry_is_offset:
            if len(self.textsect_map) > 1:
                return self._find_index_sections(pc)
            key = pc - self.text_start
        else:
            key = pc
        if key < raw[0] or key >= raw[-1]:
            return None
        i = bisect_right(raw, key) - 1
        return i if 0 <= i < len(self) else None

    def _find_index_sections(self, pc: int) -> int | None:
        entries = self.entries
        if pc < int(entries[0]) or pc >= int(entries[-1]):
            return None
        i = int(np.searchsorted(entries, np.uint64(pc), side="right")) - 1
        return i if 0 <= i < len(self) else None

    def find_indices(self, pcs: np.ndarray) -> np.ndarray:
        """find_index for many PCs (uint64): int64 indices, -1 outside every function."""
        entries = self.entries
        pcs = np.asarray(pcs, np.uint64)
        # searchsorted is several times faster on sorted needles.
        order = np.argsort(pcs)
        idx = np.empty(len(pcs), np.int64)
        idx[order] = np.searchsorted(entries, pcs[order], side="right").astype(np.int64) - 1
        ok = (idx >= 0) & (idx < len(self)) & (pcs < entries[-1])
        return np.where(ok, idx, -1)

    # --- _func fields -------------------------------------------------------------
    _FIELD_ORDER = ("nameoff", "args", "deferreturn", "pcsp", "pcfile", "pcln", "npcdata",
                    "cu_offset", "start_line", "func_id", "flag", "nfuncdata")

    def _record_fields(self) -> list[RecordField]:
        """The fields of this layout sorted by offset, with the pad bytes between
        them as u8 fields, so that one struct reads a whole record; fields that
        share an offset (Go 1.10-1.11: funcID in the deferreturn slot) share a slot."""
        L = self.layout
        present = sorted((L.fields[n].at, n) for n in self._FIELD_ORDER if n in L.fields)
        self._record_start = pos = L.ptr_size if not L.entry_is_offset else 4
        self._field_slots: dict[str, int] = {}
        slot_at: dict[int, int] = {}
        out: list[RecordField] = []
        for at, n in present:
            if at in slot_at:
                self._field_slots[n] = slot_at[at]
                continue
            while pos < at:
                out.append(RecordField(pos, "u8"))
                pos += 1
            f = L.fields[n]
            slot_at[at] = self._field_slots[n] = len(out)
            out.append(f)
            pos = at + (1 if f.kind == "u8" else 4)
        return out

    def record(self, index: int) -> dict[str, int]:
        """The _func fields of one function by name (those of this layout)."""
        rec = self.record_offset_of(index)
        at = rec + self._record_start
        if at + self._record.size > len(self.data):
            raise FormatError("function record outside the table", rec)
        values = self._record.unpack_from(self.data, at)
        L = self.layout
        out = {n: values[k] for n, k in self._field_slots.items()}
        if L.fields["func_id"].kind == "u32":  # Go 1.10-1.11: funcID in an int32 slot
            out["func_id"] &= 0xFF
        return out

    def func(self, index: int) -> Func:
        if not 0 <= index < len(self):
            raise IndexError(index)
        r = self.record(index)
        return Func(
            index=index,
            entry=self.entry_of(index),
            end=self.entry_of(index + 1),
            name=self.name_at(r["nameoff"]),
            args=r["args"],
            deferreturn=r["deferreturn"],
            func_id=r["func_id"],
            flag=r.get("flag", 0),
            pcsp=r["pcsp"],
            pcfile=r["pcfile"],
            pcln=r["pcln"],
            npcdata=r["npcdata"],
            nfuncdata=r["nfuncdata"],
            cu_offset=r.get("cu_offset"),
            start_line=r.get("start_line"),
            record_offset=self.record_offset_of(index),
        )

    def __iter__(self) -> Iterator[Func]:
        for i in range(len(self)):
            yield self.func(i)

    def func_ids(self) -> list[int]:
        """Every function's funcID, in table order (one byte read per function,
        without numpy: a few ms per 100k functions)."""
        _, funcoffs = self._load_functab()
        f = self.layout.fields["func_id"]
        at = self.header.pcln_offset + f.at
        if f.kind == "u32" and self.endian == "big":
            at += 3  # Go 1.10-1.11: funcID in an int32 slot, its low byte last
        data = self.data
        # A u8, or (Go 1.10-1.11) the low byte of a u32.
        return [data[o + at] for o in islice(funcoffs, len(self))]

    def find_func(self, pc: int) -> Func | None:
        i = self.find_index(pc)
        return None if i is None else self.func(i)

    def column(self, name: str, indices: np.ndarray | None = None) -> np.ndarray | None:
        """A _func field for many functions at once (None if the layout lacks it;
        ``flag`` is all zeros before Go 1.17)."""
        f = self.layout.field(name)
        if f is None:
            if name == "flag":
                n = len(self) if indices is None else len(indices)
                return np.zeros(n, np.uint8)
            if name in self._FIELD_ORDER:
                return None
            raise KeyError(name)
        offs = self.record_offsets if indices is None else self.record_offsets[indices]
        if f.kind == "u8":
            return self.u8[offs + f.at]
        col = self.u32_at(offs + f.at)
        if name == "func_id":  # Go 1.10-1.11: funcID in an int32 slot
            return col & 0xFF
        return col.view(np.int32) if f.kind == "i32" else col

    def columns(self, names: Sequence[str], indices: np.ndarray,
                extra: int = 0) -> dict[str, np.ndarray] | None:
        """Several _func fields of the functions ``indices`` from one row gather of
        their records (one random access per record, not per field), plus
        ``"tail"``: the ``extra`` bytes after the fixed part (the pcdata offsets).
        None when a record's bytes run past the table data: use :meth:`column`."""
        L = self.layout
        rec = self.record_offsets[indices]
        width = L.func_size + extra
        u8 = self.u8
        if not len(rec) or int(rec.min()) < 0 or int(rec.max()) + width > len(u8):
            return None
        rows = np.lib.stride_tricks.as_strided(u8, shape=(len(u8) - width + 1, width),
                                               strides=(1, 1), writeable=False)[rec]
        out: dict[str, np.ndarray] = {"tail": rows[:, L.func_size:]}
        for name in names:
            f = L.field(name)
            if f is None:
                out[name] = None
            elif f.kind == "u8":
                out[name] = rows[:, f.at]
            else:
                col = np.ascontiguousarray(rows[:, f.at:f.at + 4]).view(self.u32_dtype).reshape(-1)
                col = col.astype(np.uint32, copy=False)
                if name == "func_id":
                    col = col & 0xFF
                out[name] = col.view(np.int32) if f.kind == "i32" else col
        return out

    # --- strings -------------------------------------------------------------------
    def string_at(self, off: int) -> str:
        """The NUL-terminated string at a table offset."""
        s = self._strings.get(off)
        if s is None:
            data = self.data
            if not 0 <= off < len(data):
                raise FormatError("string offset outside the table", off)
            end = self._find_nul(off)
            s = self._strings[off] = bytes(data[off:end]).decode("utf-8", "replace")
        return s

    def _find_nul(self, off: int) -> int:
        # Most strings are short: look in a small window first.
        i = bytes(self.data[off:off + 256]).find(b"\0") if off >= 0 else -1
        if i >= 0:
            return off + i
        # Search in bounded chunks so a corrupt offset can't scan the whole file.
        chunk = 4096
        pos = off
        data = self.data
        while pos < len(data):
            i = bytes(data[pos:pos + chunk]).find(b"\0")
            if i >= 0:
                return pos + i
            pos += chunk
            if pos - off > 1 << 20:
                break
        raise FormatError("unterminated string in the table", off)

    def has_string(self, suffix: bytes) -> bool:
        """Does some NUL-terminated string of the table end with ``suffix``?"""
        needle = suffix + b"\0"
        if self._search is not None:
            base = self._search_base
            return self._search.find(needle, base, base + len(self.data)) >= 0
        return bytes(self.data).find(needle) >= 0

    def strings_at(self, offsets: np.ndarray) -> list[str]:
        """string_at for many table offsets: one find and one decode per string in
        a single comprehension."""
        offs = np.asarray(offsets, np.int64).tolist()
        if len(offs) < 256 or self._search is None:
            return [self.string_at(o) for o in offs]
        data = self.data
        if min(offs) < 0 or max(offs) >= len(data):
            raise FormatError("string offset outside the table",
                              next(o for o in offs if not 0 <= o < len(data)))
        buf, base = self._search, self._search_base
        find = buf.find
        at = [o + base for o in offs]
        ends = [find(b"\0", a, a + (1 << 20)) for a in at]
        if min(ends) < 0:
            raise FormatError("unterminated string in the table", offs[ends.index(-1)])
        return [buf[a:e].decode("utf-8", "replace") for a, e in zip(at, ends)]

    def name_at(self, nameoff: int) -> str:
        """A function name from its nameoff (relative to funcnametab, Go 1.16+)."""
        return self.string_at(self.funcname_base + nameoff)

    def name_of(self, index: int) -> str:
        """Name of one function (without indexing the whole name table)."""
        return self.name_at(self.record(index)["nameoff"])

    def names(self, indices: np.ndarray | None = None) -> list[bytes]:
        """Names of many functions at once, as raw bytes (fast path for output)."""
        nameoffs = self.column("nameoff", indices).astype(np.int64) + self.funcname_base
        if not len(nameoffs):
            return []
        if self._names_index is None:
            # Index the names of all functions, whichever are asked for first.
            every = nameoffs if indices is None else \
                self.column("nameoff").astype(np.int64) + self.funcname_base
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
            out.append(parts[i] if good else self.string_at(off).encode())
        return out

    def names_start_with(self, prefix: bytes, indices: np.ndarray) -> np.ndarray:
        """Mask: which of the functions' names start with prefix (compared in place)."""
        offs = self.column("nameoff", indices).astype(np.int64) + self.funcname_base
        u8 = self.u8
        k = len(prefix)
        ok = (offs >= 0) & (offs + k <= len(u8))
        if not k or not len(offs):
            return ok
        rows = np.lib.stride_tricks.as_strided(u8, shape=(max(len(u8) - k + 1, 0), k),
                                               strides=(1, 1), writeable=False)
        got = rows[np.where(ok, offs, 0)]
        return ok & (got == np.frombuffer(prefix, np.uint8)).all(axis=1)

    def name_spans(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(starts, ends) of all functions' names in ``data``: function i's name is
        data[starts[i]:ends[i]] and data[ends[i]] is its NUL. None if a name is out
        of range or unterminated (names() reports that)."""
        offs = self.column("nameoff").astype(np.int64) + self.funcname_base
        if not len(offs) or int(offs.min()) < 0:
            return None
        lo = int(offs.min())
        try:
            end = self._find_nul(int(offs.max())) + 1
        except FormatError:
            return None
        u8 = self.u8
        nuls = []
        for pos in range(lo, end, 1 << 22):  # a few MB at a time
            nuls.append(np.flatnonzero(u8[pos:min(end, pos + (1 << 22))] == 0) + pos)
        nuls = np.concatenate(nuls)
        return offs, nuls[np.searchsorted(nuls, offs)]

    # --- files ---------------------------------------------------------------------
    def file_name(self, cu_offset: int | None, fileno: int) -> str | None:
        """Name of file number ``fileno`` (a pcfile value) of a function whose
        compilation unit starts at ``cu_offset`` (Go 1.16+; ignored before)."""
        h = self.header
        data = self.data
        if not self.layout.files_via_cutab:
            if not 0 < fileno <= h.nfiles:
                return None
            at = h.filetab_offset + 4 * fileno
            return self.string_at(int.from_bytes(data[at:at + 4], self.endian))
        if fileno < 0 or cu_offset is None:
            return None
        at = h.cu_offset + 4 * (cu_offset + fileno)
        if at + 4 > len(data):
            raise FormatError("compilation unit table index out of range", at)
        off = int.from_bytes(data[at:at + 4], self.endian)
        if off == NO_FILE:
            return None
        return self.string_at(h.filetab_offset + off)

    def file_offsets(self, cu_offsets: np.ndarray | None, filenos: np.ndarray) -> np.ndarray:
        """Table offsets of the names of many (compilation unit, file number)
        pairs; -1 where there is no file (a negative number, NO_FILE, out of range)."""
        h = self.header
        filenos = np.asarray(filenos, np.int64)
        if not self.layout.files_via_cutab:
            ok = (filenos > 0) & (filenos <= h.nfiles)
            at = h.filetab_offset + 4 * np.where(ok, filenos, 0)
            offs = self.u32_at(at).astype(np.int64)
            return np.where(ok, offs, -1)
        cu = np.asarray(cu_offsets, np.int64)
        ok = filenos >= 0
        at = h.cu_offset + 4 * (cu + np.where(ok, filenos, 0))
        ok &= (at >= 0) & (at + 4 <= len(self.data))
        offs = self.u32_at(np.where(ok, at, 0)).astype(np.int64)
        ok &= offs != NO_FILE
        return np.where(ok, offs + h.filetab_offset, -1)

    def entry_file_codes(self, indices: np.ndarray | None = None
                         ) -> tuple[np.ndarray, list[bytes | None]]:
        """Files at the functions' entries (first pcfile row) as (codes, distinct
        names): function i's file is names[codes[i]]."""
        pcfile = self.column("pcfile", indices)
        filenos = self.first_values(pcfile)
        cu = self.column("cu_offset", indices)
        offs = self.file_offsets(cu, filenos)
        uniq, codes = unique_inverse(offs)
        names: list[bytes | None] = []
        for off in uniq.tolist():
            name = None
            if off >= 0:
                try:
                    name = self.string_at(off).encode()
                except FormatError:
                    name = None
            names.append(name)
        return codes.reshape(-1), names

    def entry_file_names(self, indices: np.ndarray | None = None) -> list[bytes | None]:
        """File of each function at its entry, as raw bytes."""
        codes, names = self.entry_file_codes(indices)
        return [names[c] for c in codes.tolist()]

    # --- pc-value tables -------------------------------------------------------------
    def pctab_positions(self, offsets: np.ndarray) -> np.ndarray:
        """Positions in the table data of pc-value tables (offsets from pctab); 0 stays
        0 (no table)."""
        offsets = np.asarray(offsets, np.int64)
        return np.where(offsets != 0, offsets + self.pctab_base, 0)

    def _decode_rows(self, off: int, span: int) -> pcvalue.Rows:
        return pcvalue.decode_table(self.data, self.pctab_base + off, self.quantum,
                                    len(self.data), span)

    def rows(self, off: int, span: int) -> pcvalue.Rows:
        """One pc-value table decoded (cached): ``off`` from pctab, ``span`` the
        size of the function it belongs to (rows past it are an error)."""
        return self._rows(off, span)

    def decode_tables(self, offsets: np.ndarray,
                      spans: np.ndarray | None = None) -> pcvalue.BatchRows:
        """Many pc-value tables (distinct non-zero offsets from pctab) at once."""
        return pcvalue.decode_batch(self.u8, self.pctab_positions(offsets), self.quantum, spans)

    def first_values(self, offsets: np.ndarray) -> np.ndarray:
        """Value of the first row of many tables (-2 where the offset is 0)."""
        return pcvalue.first_values(self.u8, self.pctab_positions(offsets))

    def value_lookup(self, offs: np.ndarray, spans: np.ndarray, queries: int | None = None,
                     small_batch: int = 48) -> pcvalue.ValueLookup:
        """Answers many (table, pc offset) queries on the tables among ``offs``
        (``spans``: the size of the function each belongs to)."""
        return pcvalue.lookup_tables(offs, spans, self.rows, self.decode_tables, queries,
                                     small_batch)

    def pcvalue_rows(self, func: Func, table_off: int) -> pcvalue.Rows:
        """Decoded rows of one of func's pc-value tables."""
        if table_off == 0:
            return pcvalue.Rows((), ())
        return self.rows(table_off, func.end - func.entry)

    def pcvalue(self, func: Func, table_off: int, pc: int) -> int | None:
        """Value of a pc-value table at pc, or None if the table has none there."""
        if table_off == 0:
            return None
        return self.pcvalue_rows(func, table_off).value_at(pc - func.entry)

    def pcsp_rows(self, func: Func) -> pcvalue.Rows:
        return self.pcvalue_rows(func, func.pcsp)

    def pcdata_offset(self, func: Func, index: int) -> int:
        """Offset (from pctab) of func's pcdata table ``index``; 0: none."""
        if index >= func.npcdata:
            return 0
        at = func.record_offset + self.layout.func_size + 4 * index
        if at + 4 > len(self.data):
            raise FormatError("pcdata offset outside the table", at)
        return int.from_bytes(self.data[at:at + 4], self.endian)

    def funcdata_offset(self, func: Func, index: int) -> int | None:
        """Go 1.18+: the u32 offset of a funcdata from moduledata.gofunc (None if absent)."""
        if index >= func.nfuncdata or not self.layout.funcdata_is_offset:
            return None
        at = func.record_offset + self.layout.func_size + 4 * func.npcdata + 4 * index
        if at + 4 > len(self.data):
            raise FormatError("funcdata offset outside the table", at)
        off = int.from_bytes(self.data[at:at + 4], self.endian)
        return None if off == NO_FUNCDATA else off

    def funcdata_pointer_offset(self, func: Func, index: int) -> int | None:
        """Before Go 1.18: offset in the table of a funcdata pointer slot (None if absent)."""
        if index >= func.nfuncdata or self.layout.funcdata_is_offset:
            return None
        p = self.layout.funcdata_pointer_align
        at = func.record_offset + self.layout.func_size + 4 * func.npcdata
        at = ((at + p - 1) & ~(p - 1)) + p * index  # records are aligned, as is the table
        if at + p > len(self.data):
            raise FormatError("funcdata pointer outside the table", at)
        return at

    def funcdata_pointer(self, func: Func, index: int) -> int | None:
        """Before Go 1.18: the absolute address of a funcdata (None if nil)."""
        at = self.funcdata_pointer_offset(func, index)
        if at is None:
            return None
        value = int.from_bytes(self.data[at:at + self.ptr_size], self.endian)
        return value or None

    def line_at(self, func: Func, pc: int) -> tuple[str | None, int | None]:
        """(file, line) of the physical function at pc, as runtime.funcline1."""
        fileno = self.pcvalue(func, func.pcfile, pc)
        line = self.pcvalue(func, func.pcln, pc)
        file = self.file_name(func.cu_offset, fileno) if fileno is not None else None
        return file, line

    # --- inline trees ----------------------------------------------------------------
    def inlined_call(self, raw) -> InlinedCall:
        """Decode one inline tree entry (runtime/symtabinl.go inlinedCall)."""
        f = self.layout.inline_fields
        o = self.byte_order
        func_id = raw[f["func_id"].at]
        nameoff = struct.unpack_from(o + "i", raw, f["nameoff"].at)[0]
        parent_pc = struct.unpack_from(o + "i", raw, f["parent_pc"].at)[0]
        start_line = struct.unpack_from(o + "i", raw, f["start_line"].at)[0] \
            if "start_line" in f else None
        parent = struct.unpack_from(o + "h", raw, f["parent"].at)[0] if "parent" in f else None
        return InlinedCall(func_id, self.name_at(nameoff), parent_pc, start_line, parent)


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
