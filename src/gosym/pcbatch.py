"""Many PCs at once: functions, frame bytes and inline chains with numpy.

The batch twin of :mod:`gosym.callframes`: the same frames, computed once per
distinct function, table, name and file instead of once per PC. Two entry
points:

* :func:`lookup_pcs` -> :class:`PCBatch`: for each PC its physical function,
  frame bytes and logical frames (no CallersFrames list rules);
* :func:`resolve_callers` -> :class:`gosym.callframes.CallFrames`:
  ``runtime.CallersFrames`` over a list (virtual-PC consumption, wrapper
  elision), the fast path of ``GoBinary.frames`` and ``gosym symbolize``.

How (a straightforward per-PC decoder costs ~110 µs per PC; this ~2.4 µs at
100k PCs on a 410k-function binary):

1. one ``searchsorted`` over the entries, with the PCs sorted first (several
   times faster than unsorted needles), finds every function; the same order
   gives the distinct functions;
2. the ``_func`` fields needed come from one row gather of the distinct
   functions' records (``Table.columns``);
3. pc-value lookups are batched per inline level: the distinct tables are
   decoded once each (``Table.value_lookup``: the batch decoder for many, the
   cached reference decoder for few), then every query is answered by one
   ``searchsorted`` over (table, end pc) keys;
4. inline tree entries are gathered with numpy; names are decoded once per
   distinct nameoff (``Table.strings_at``), files once per distinct offset;
5. the chains stay numpy columns (codes into the distinct names and files);
   wrapper elision is decided on them with numpy (the callee of a frame is
   the frame before it). The frame-by-frame walk runs only when some next
   input PC is the virtual PC of a parent frame (lists from runtime.Callers),
   where consumption makes the order matter;
6. frames are built on first use; text output is made from the columns.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ._lazy import np
from .callframes import (MAX_INLINE_DEPTH, UNKNOWN_FUNCTION, CallFrames, Frame,
                         SymbolizeConfig)
from .errors import FormatError
from .pcvalue import MISSING

if TYPE_CHECKING:
    from .binary import GoBinary

SMALL_BATCH = 48  # distinct tables below which the reference decoder is faster


def objects(items: list) -> np.ndarray:
    """A numpy object array of items (fancy indexing picks Python objects)."""
    a = np.empty(len(items), dtype=object)
    a[:] = items
    return a


@dataclass
class Chains:
    """Logical frames of each resolved PC, as parallel numpy columns with one
    element per frame (innermost first); input i's chain is frames
    ptr[i]:ptr[i + 1]. Names and files are codes into the lists of distinct
    strings, so per-frame Python objects are made only when asked for."""

    valid: np.ndarray  # bool per input PC
    func_index: np.ndarray  # int64 per input PC (-1 where not valid)
    entry: np.ndarray  # int64 file-space entry of the physical function per input PC
    lookup: np.ndarray  # int64 file-space lookup pc per input PC
    ptr: np.ndarray  # int64, n + 1
    pc: np.ndarray  # int64 file-space lookup pc per frame
    name_code: np.ndarray  # index into names (and symbols)
    names: list[str]  # printed (funcNameForPrint)
    symbols: list[str]  # full symbol names
    func_id: np.ndarray  # int64
    file_code: np.ndarray  # index into files
    files: list[str | None]
    line: np.ndarray  # int64, MISSING where unknown
    start_line: np.ndarray  # int64, MISSING where unknown
    inlined: np.ndarray  # bool

    def column_names(self, sel=None) -> list[str]:
        codes = self.name_code if sel is None else self.name_code[sel]
        return objects(self.names)[codes].tolist()

    def column_symbols(self, sel=None) -> list[str]:
        codes = self.name_code if sel is None else self.name_code[sel]
        return objects(self.symbols)[codes].tolist()

    def column_files(self, sel=None) -> list[str | None]:
        codes = self.file_code if sel is None else self.file_code[sel]
        return objects(self.files)[codes].tolist()

    @staticmethod
    def _ints(col: np.ndarray) -> list[int | None]:
        out = col.tolist()
        if bool((col == MISSING).any()):
            out = [None if v == MISSING else v for v in out]
        return out

    def column_lines(self, sel=None) -> list[int | None]:
        return self._ints(self.line if sel is None else self.line[sel])

    def column_start_lines(self, sel=None) -> list[int | None]:
        return self._ints(self.start_line if sel is None else self.start_line[sel])

    def make_frames(self, sel: np.ndarray, row: np.ndarray, slide: int) -> list[Frame]:
        """Frame objects of the frames ``sel`` (``row``: their input PCs)."""
        return list(map(Frame._make, zip(
            (self.pc[sel] + slide).tolist(), self.column_names(sel), self.column_files(sel),
            self.column_lines(sel), (self.entry[row] + slide).tolist(),
            self.inlined[sel].tolist(), self.func_id[sel].tolist(), row.tolist(),
            self.column_symbols(sel), self.column_start_lines(sel))))


class Resolver:
    """Vectorised PC -> inline chain resolution over one GoBinary."""

    def __init__(self, binary: GoBinary, small_batch: int = SMALL_BATCH) -> None:
        self.b = binary
        self.t = binary.table
        self.small_batch = small_batch
        self._printed: dict[str, str] = {}

    def _lookup(self, offs, spans, queries=None):
        return self.t.value_lookup(offs, spans, queries, self.small_batch)

    def _names_of(self, nameoffs: np.ndarray) -> tuple[list[str], list[str]]:
        """(printed names, symbols) of distinct nameoffs (funcNameForPrint only
        for names with a bracket)."""
        symbols = self.t.strings_at(nameoffs + self.t.funcname_base)
        shorten = self.b.name_for_print
        return [shorten(nm) if "[" in nm else nm for nm in symbols], symbols

    def resolve(self, pcs: np.ndarray, exact: bool | np.ndarray = False) -> Chains:
        """pcs: file-space addresses; exact: no -1 (per PC or for all)."""
        t = self.t
        pcs = np.asarray(pcs, dtype=np.uint64)
        n = len(pcs)
        entries = t.entries
        # searchsorted is several times faster on sorted needles (each search
        # starts where the previous one ended); the order also gives the
        # distinct functions without another sort.
        order = np.argsort(pcs)
        fidx = np.empty(n, np.int64)
        fidx[order] = np.searchsorted(entries, pcs[order], side="right").astype(np.int64) - 1
        valid = (fidx >= 0) & (fidx < len(t)) & (pcs < entries[-1]) if n else np.zeros(0, bool)
        fidx = np.where(valid, fidx, 0)
        entry = entries[fidx].astype(np.int64)
        pc64 = pcs.astype(np.int64)
        dec = (pc64 > entry) & ~np.asarray(exact, bool)
        lookup = pc64 - dec.astype(np.int64)
        rows = np.flatnonzero(valid)
        in_order = order[valid[order]]  # valid rows by pc, so by function
        fs = fidx[in_order]
        new_func = np.ones(len(fs), bool)
        new_func[1:] = fs[1:] != fs[:-1]
        ufunc = fs[new_func]
        finv_of = np.zeros(n, np.int64)
        finv_of[in_order] = np.cumsum(new_func) - 1
        finv = finv_of[rows]
        facts = self._func_facts(ufunc)
        # Level by level: the current rows' (function, pc offset).
        rec_row, rec_pcoff, rec_func_id, rec_nameoff, rec_inl, rec_start = [], [], [], [], [], []
        rec_fu = []
        cur = np.arange(len(rows))
        cur_fu = finv
        pcoff = lookup[rows] - entry[rows]
        depth = 0
        prev_idx = np.full(len(cur), -2, np.int64)
        # Every level queries the same InlTreeIndex tables: decode them once.
        with_tree = np.flatnonzero(facts["tree"] != 0)
        inl_set = self._lookup(facts["inl"][with_tree], facts["span"][with_tree],
                               len(rows)) if len(with_tree) else None
        while len(cur):
            has_tree = facts["tree"][cur_fu] != 0
            idx = np.full(len(cur), -1, np.int64)
            if bool(has_tree.any()) and depth <= MAX_INLINE_DEPTH:
                h = np.flatnonzero(has_tree)
                v = inl_set.lookup(facts["inl"][cur_fu[h]], pcoff[h])
                idx[h] = np.where(v == MISSING, -1, v)
            # Some tables have entries whose parentPc leads back to the same
            # entry (seen in package init functions of Go 1.27 binaries, at the
            # function's entry); the runtime never unwinds through them. Stop
            # there and report the physical function, as at a depth limit.
            idx[idx == prev_idx] = -1
            inl = idx >= 0
            phys = ~inl
            rec_row.append(cur[phys])
            rec_fu.append(cur_fu[phys])
            rec_pcoff.append(pcoff[phys])
            rec_func_id.append(facts["func_id"][cur_fu[phys]])
            rec_nameoff.append(facts["nameoff"][cur_fu[phys]])
            rec_start.append(facts["start_line"][cur_fu[phys]])
            rec_inl.append(np.zeros(int(phys.sum()), bool))
            if not bool(inl.any()):
                break
            cur, cur_fu, pcoff, idx = cur[inl], cur_fu[inl], pcoff[inl], idx[inl]
            prev_idx = idx
            fid, noff, parent, start = self._inline_entries(facts["tree"][cur_fu], idx)
            rec_row.append(cur)
            rec_fu.append(cur_fu)
            rec_pcoff.append(pcoff)
            rec_func_id.append(fid)
            rec_nameoff.append(noff)
            rec_start.append(start)
            rec_inl.append(np.ones(len(cur), bool))
            pcoff = parent
            depth += 1

        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        r_row, r_fu, r_pcoff = cat(rec_row, np.int64), cat(rec_fu, np.int64), \
            cat(rec_pcoff, np.int64)
        r_fid, r_noff, r_inl = cat(rec_func_id, np.int64), cat(rec_nameoff, np.int64), \
            cat(rec_inl, bool)
        r_start = cat(rec_start, np.int64)
        # Level records were appended innermost level first: sorting by (row,
        # position) keeps each chain innermost first.
        order = np.argsort(r_row * max(len(r_row), 1) + np.arange(len(r_row), dtype=np.int64))
        r_row, r_fu, r_pcoff, r_fid, r_noff, r_inl, r_start = (
            r_row[order], r_fu[order], r_pcoff[order], r_fid[order], r_noff[order],
            r_inl[order], r_start[order])
        file_code, files, lines = self._file_lines(facts, r_fu, r_pcoff)
        uo, oinv = np.unique(r_noff, return_inverse=True)
        names, symbols = self._names_of(uo)
        # CSR: the chain of input row i is frames ptr[i]:ptr[i + 1].
        counts = np.zeros(n, np.int64)
        if len(r_row):
            np.add.at(counts, rows[r_row], 1)
        ptr = np.zeros(n + 1, np.int64)
        ptr[1:] = np.cumsum(counts)
        return Chains(valid, np.where(valid, fidx, -1), entry, lookup, ptr,
                      facts["entry"][r_fu] + r_pcoff, oinv.reshape(-1), names, symbols, r_fid,
                      file_code, files, lines, r_start, r_inl)

    def _func_facts(self, ufunc: np.ndarray) -> dict[str, np.ndarray]:
        """The _func fields of the distinct functions, and where their inline
        tree index tables and inline trees are."""
        t = self.t
        L = t.layout
        entries = t.entries
        rec = t.record_offsets[ufunc]
        pcdata_k, funcdata_k = self.b.inline_tree_indices
        want = ("npcdata", "nfuncdata", "pcfile", "pcln", "cu_offset", "func_id", "nameoff",
                "start_line")
        cols = t.columns(want, ufunc, 4 * (pcdata_k + 1))

        def column(name: str):
            return t.column(name, ufunc) if cols is None else cols[name]

        npcdata = column("npcdata").astype(np.int64)
        nfuncdata = column("nfuncdata").astype(np.int64)
        inl = np.zeros(len(ufunc), np.int64)
        has = npcdata > pcdata_k
        if bool(has.any()):
            if cols is None:
                inl[has] = t.u32_at(rec[has] + L.func_size + 4 * pcdata_k)
            else:
                at = 4 * pcdata_k
                inl[has] = np.ascontiguousarray(
                    cols["tail"][has][:, at:at + 4]).view(t.u32_dtype).reshape(-1)
        tree = np.zeros(len(ufunc), np.int64)
        hasfd = (nfuncdata > funcdata_k) & (inl != 0)
        if bool(hasfd.any()):
            if L.funcdata_is_offset:
                off = t.u32_at(rec[hasfd] + L.func_size + 4 * npcdata[hasfd]
                               + 4 * funcdata_k).astype(np.int64)
                present = off != 0xFFFFFFFF
                if bool(present.any()):
                    tree[np.flatnonzero(hasfd)[present]] = self.b.gofunc + off[present]
            else:
                for k in np.flatnonzero(hasfd).tolist():
                    addr = self.b.inline_tree_address(t.func(int(ufunc[k])))
                    tree[k] = addr or 0
        cu = column("cu_offset")
        start = column("start_line")
        return {
            "entry": entries[ufunc].astype(np.int64),
            "span": (entries[ufunc + 1] - entries[ufunc]).astype(np.int64),
            "pcfile": column("pcfile").astype(np.int64),
            "pcln": column("pcln").astype(np.int64),
            "cu": None if cu is None else cu.astype(np.int64),
            "func_id": column("func_id").astype(np.int64),
            "nameoff": column("nameoff").astype(np.int64),
            "start_line": np.full(len(ufunc), MISSING, np.int64) if start is None
            else start.astype(np.int64),
            "inl": inl,
            "tree": tree,
            "index": ufunc,
        }

    def _inline_entries(self, bases: np.ndarray, idx: np.ndarray):
        """(funcID, nameoff, parentPc, startLine) of inline tree entries bases[i][idx[i]]
        (runtime/symtabinl.go inlinedCall; layout from Table.layout.inline_fields)."""
        L = self.t.layout
        size = L.inline_entry_size
        c = self.b.container
        base_off, avail = c.file_offsets(bases)
        bad = base_off < 0
        if bool(bad.any()):
            a = int(bases[np.flatnonzero(bad)[0]])
            raise FormatError(f"inline tree at {a:#x} is not mapped from the file")
        if bool(np.any(idx * size + size > avail)):
            raise FormatError("inline tree index points past its section")
        foff = base_off + idx * size
        raw = np.frombuffer(c.buf, np.uint8)
        # Byte k of an int32 is shifted by 8 * shift[k] (the table's byte order).
        shift = (0, 8, 16, 24) if self.t.byte_order == "<" else (24, 16, 8, 0)

        def i32(at: np.ndarray) -> np.ndarray:
            v = (raw[at].astype(np.int64) << shift[0] | (raw[at + 1].astype(np.int64) << shift[1]) |
                 (raw[at + 2].astype(np.int64) << shift[2]) | (raw[at + 3].astype(np.int64) << shift[3]))
            return np.where(v >= 1 << 31, v - (1 << 32), v)

        f = L.inline_fields
        fid = raw[foff + f["func_id"].at].astype(np.int64)
        noff = i32(foff + f["nameoff"].at)
        parent = i32(foff + f["parent_pc"].at)
        start = i32(foff + f["start_line"].at) if "start_line" in f else \
            np.full(len(foff), MISSING, np.int64)
        del raw
        return fid, noff, parent, start

    def _file_lines(self, facts, r_fu: np.ndarray, r_pcoff: np.ndarray):
        """(file code per frame, distinct files, line per frame (MISSING: unknown))."""
        t = self.t
        span = facts["span"][r_fu]
        pcfile, pcln = facts["pcfile"][r_fu], facts["pcln"][r_fu]
        both = self._lookup(np.concatenate([pcfile, pcln]), np.concatenate([span, span]))
        filenos = both.lookup(pcfile, r_pcoff)
        lines = both.lookup(pcln, r_pcoff)
        cu = None if facts["cu"] is None else facts["cu"][r_fu]
        offs = t.file_offsets(cu, filenos)
        uoff, finv = np.unique(offs, return_inverse=True)
        files = [None if off < 0 else t.string_at(off) for off in uoff.tolist()]
        return finv.reshape(-1), files, lines


# --- CallersFrames over a list, from the columns ------------------------------------------

@dataclass
class FrameColumns:
    """The frames a CallFrames result shows, as indices into the chains' columns:
    frame sel[k] of the chains, produced by input PC row[k], in output order."""

    pcs: list[int]
    ch: Chains
    sel: np.ndarray
    row: np.ndarray
    slide: int

    def bounds(self) -> list[int]:
        """Input PC i's frames are sel[bounds[i]:bounds[i + 1]]."""
        n = len(self.pcs)
        bounds = np.zeros(n + 1, np.int64)
        bounds[1:] = np.cumsum(np.bincount(self.row, minlength=n))
        return bounds.tolist()

    def unknown(self) -> list[int]:
        return np.flatnonzero(~self.ch.valid).tolist()

    def frames(self) -> list[list[Frame]]:
        # Hundreds of thousands of small objects, none cyclic: the cyclic
        # garbage collector's passes over them would cost more than the work.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            pcs = self.pcs
            made = self.ch.make_frames(self.sel, self.row, self.slide)
            b = self.bounds()
            frames = [made[b[i]:b[i + 1]] for i in range(len(pcs))]
            for i in self.unknown():
                frames[i] = [Frame(pcs[i], UNKNOWN_FUNCTION, None, None, None, False, None, i)]
            return frames
        finally:
            if was_enabled:
                gc.enable()

    def pieces(self, chunk: int):
        """(lo, hi, None) frame ranges of at most chunk frames, in output order,
        and (0, 0, pc) where an input PC outside every function goes."""
        k = len(self.sel)
        b = self.bounds()
        unknown = self.unknown()
        ins = [b[i] for i in unknown]  # "?" frames go before these frames
        cuts = sorted(set(range(0, k, chunk)) | set(ins) | {k})
        prev = j = 0
        for c in cuts:
            if c > prev:
                yield prev, c, None
                prev = c
            while j < len(ins) and ins[j] == c:
                yield 0, 0, self.pcs[unknown[j]]
                j += 1


def resolve_callers(b: GoBinary, pcs: Sequence[int], config: SymbolizeConfig = SymbolizeConfig(),
                    resolver: Resolver | None = None) -> CallFrames:
    """runtime.CallersFrames over ``pcs`` (runtime addresses), see gosym.callframes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _resolve_callers(b, pcs, config, resolver or Resolver(b))
    finally:
        if was_enabled:
            gc.enable()


def _resolve_callers(b: GoBinary, pcs: Sequence[int], config: SymbolizeConfig,
                     r: Resolver) -> CallFrames:
    pcs = [int(p) for p in pcs]
    slide = config.slide
    n = len(pcs)
    pcs_u = np.array(pcs, dtype=np.uint64) if n else np.zeros(0, np.uint64)
    file_pcs = pcs_u - np.uint64(slide % (1 << 64))
    ch = r.resolve(file_pcs, config.pc_is_exact)
    ids = b.func_ids
    wrapper = ids.wrapper if config.elide_wrappers else None
    back = 0 if config.pc_is_exact else 1
    counts = np.diff(ch.ptr)
    row_of = np.repeat(np.arange(n, dtype=np.int64), counts)
    if not config.inline:
        # Each PC on its own: its physical function at the line of the outermost
        # call site (go tool addr2line's one answer per address, without
        # mixing the outer name with an inlined callee's line).
        last = ch.ptr[1:][ch.valid] - 1
        return _assemble(pcs, ch, last, slide, {})
    # Virtual PCs (the next input PC is a parent frame's PC) are rare outside
    # runtime.Callers lists: only when there is one does the order-dependent
    # walk below run; otherwise everything is decided with numpy.
    nxt = row_of + 1
    parent = np.ones(len(row_of), bool)
    parent[ch.ptr[:-1][counts > 0]] = False  # the first frame of each chain
    parent &= nxt < n
    if bool(parent.any()):
        k = np.flatnonzero(parent)
        want = (ch.pc[k] + (slide + back)).astype(np.uint64)
        if bool((pcs_u[nxt[k]] == want).any()):
            return _walk(pcs, ch, slide, back, wrapper, ids.keep_wrappers_after)
    # The callee of each frame is the frame before it in the output order,
    # none after an unknown PC and for the very first frame.
    fid = ch.func_id
    prev = np.empty(len(fid), np.int64)
    prev[:1] = MISSING
    prev[1:] = fid[:-1]
    first = ch.ptr[:-1][counts > 0]
    after_unknown = np.zeros(n, bool)
    after_unknown[1:] = ~ch.valid[:-1]
    prev[first[after_unknown[ch.valid]]] = MISSING
    elide = np.zeros(len(fid), bool)
    if wrapper is not None:
        elide = (fid == wrapper) & (prev != MISSING)
        if ids.keep_wrappers_after and bool(elide.any()):
            elide &= ~np.isin(prev, np.array(sorted(ids.keep_wrappers_after), np.int64))
    elided: dict[int, list[tuple[int, Frame]]] = {}
    if bool(elide.any()):
        ks = np.flatnonzero(elide)
        kept_before = np.cumsum(~elide) - (~elide)  # kept frames before each frame
        pos = kept_before[ks] - kept_before[ch.ptr[row_of[ks]]]
        made = ch.make_frames(ks, row_of[ks], slide)
        for i, p, f in zip(row_of[ks].tolist(), pos.tolist(), made):
            elided.setdefault(i, []).append((p, f))
    return _assemble(pcs, ch, np.flatnonzero(~elide), slide, elided)


def _assemble(pcs: list[int], ch: Chains, sel: np.ndarray, slide: int, elided) -> CallFrames:
    """The result showing the frames sel (sorted frame indices) of the chains."""
    n = len(pcs)
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(ch.ptr))[sel]
    unknown = np.flatnonzero(~ch.valid).tolist()
    return CallFrames(pcs, [False] * n, unknown, elided,
                      columns=FrameColumns(pcs, ch, sel, row, slide))


def _walk(pcs: list[int], ch: Chains, slide: int, back: int, wrapper,
          keep_wrappers_after) -> CallFrames:
    """The order-dependent rules frame by frame (virtual-PC consumption)."""
    n = len(pcs)
    frames: list[list[Frame]] = [[] for _ in range(n)]
    elided: dict[int, list[tuple[int, Frame]]] = {}
    consumed = [False] * n
    unknown = []
    valid, ptr = ch.valid.tolist(), ch.ptr.tolist()
    made = ch.make_frames(np.arange(len(ch.pc)), np.repeat(np.arange(n), np.diff(ch.ptr)), slide)
    callee = None  # funcID of the frame just produced; None before the first
    i = 0
    while i < n:
        out = frames[i]
        if not valid[i]:
            unknown.append(i)
            out.append(Frame(pcs[i], UNKNOWN_FUNCTION, None, None, None, False, None, i))
            callee = None
            i += 1
            continue
        p0, p1 = ptr[i], ptr[i + 1]
        j = i + 1
        for k in range(p0, p1):
            f = made[k]
            if k > p0 and j < n and pcs[j] == f.pc + back:
                consumed[j] = True  # the virtual PC runtime.Callers emits for this parent
                j += 1
            if f.func_id == wrapper and callee is not None and callee not in keep_wrappers_after:
                elided.setdefault(i, []).append((len(out), f))
            else:
                out.append(f)
            callee = f.func_id
        i = j
    return CallFrames(pcs, consumed, unknown, elided, frames)


# --- the batch API ------------------------------------------------------------------------

@dataclass(frozen=True)
class PCBatch:
    """Many PCs resolved at once (file addresses), one row per input PC.

    ``frame_*`` columns hold the logical frames of every PC in CSR form: PC i's
    frames are rows frame_ptr[i]:frame_ptr[i + 1], innermost first, the
    physical function last. No CallersFrames list rules (wrapper elision,
    virtual-PC consumption): see ``GoBinary.frames`` for those.
    """

    pc: np.ndarray  # uint64, the input
    found: np.ndarray  # bool: inside some function
    func_index: np.ndarray  # int64, -1 where not found
    entry: np.ndarray  # uint64, 0 where not found
    lookup_pc: np.ndarray  # uint64: where the tables are read (pc-1 for return addresses)
    sp_delta: np.ndarray  # int64, MISSING where unknown
    frame_bytes: np.ndarray  # int64: sp_delta + return-address slot, MISSING where unknown
    frame_ptr: np.ndarray  # int64, n + 1
    frame_pc: np.ndarray  # uint64
    frame_function: np.ndarray  # object: printed names
    frame_symbol: np.ndarray  # object: full symbol names
    frame_file: np.ndarray  # object: str or None
    frame_line: np.ndarray  # int64, MISSING where unknown
    frame_start_line: np.ndarray  # int64, MISSING where unknown
    frame_inlined: np.ndarray  # bool
    frame_func_id: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.pc)

    def frames_of(self, i: int) -> list[Frame]:
        """PC i's logical frames as Frame objects (index = i)."""
        a, z = int(self.frame_ptr[i]), int(self.frame_ptr[i + 1])
        e = int(self.entry[i])

        def opt(v: int) -> int | None:
            return None if v == MISSING else v

        return [Frame(int(self.frame_pc[k]), self.frame_function[k], self.frame_file[k],
                      opt(int(self.frame_line[k])), e, bool(self.frame_inlined[k]),
                      int(self.frame_func_id[k]), i, self.frame_symbol[k],
                      opt(int(self.frame_start_line[k]))) for k in range(a, z)]


def lookup_pcs(b: GoBinary, pcs, exact=False, resolver: Resolver | None = None) -> PCBatch:
    """Resolve many PCs (file addresses) at once; see :class:`PCBatch`.
    ``exact``: False for return addresses (looked up at pc-1 when pc > entry),
    True for instruction addresses, or a bool array per PC."""
    r = resolver or Resolver(b)
    pcs = np.asarray(pcs, dtype=np.uint64).reshape(-1)
    ch = r.resolve(pcs, exact)
    t = b.table
    found = ch.valid
    fidx = ch.func_index
    sp = np.full(len(pcs), MISSING, np.int64)
    rows = np.flatnonzero(found)
    if len(rows):
        uf = np.unique(fidx[rows])
        pcsp = t.column("pcsp", uf).astype(np.int64)
        spans = (t.entries[uf + 1] - t.entries[uf]).astype(np.int64)
        k = np.searchsorted(uf, fidx[rows])
        values = r.t.value_lookup(pcsp, spans, len(rows), r.small_batch)
        sp[rows] = values.lookup(pcsp[k], ch.lookup[rows] - ch.entry[rows])
    frame_bytes = np.where(sp == MISSING, MISSING, sp + b.return_address_slot)
    entry = np.where(found, ch.entry, 0).astype(np.uint64)
    return PCBatch(
        pc=pcs, found=found, func_index=fidx, entry=entry,
        lookup_pc=np.where(found, ch.lookup, pcs.astype(np.int64)).astype(np.uint64),
        sp_delta=sp, frame_bytes=frame_bytes, frame_ptr=ch.ptr,
        frame_pc=ch.pc.astype(np.uint64),
        frame_function=objects(ch.names)[ch.name_code], frame_symbol=objects(ch.symbols)[
            ch.name_code],
        frame_file=objects(ch.files)[ch.file_code], frame_line=ch.line,
        frame_start_line=ch.start_line, frame_inlined=ch.inlined, frame_func_id=ch.func_id)
