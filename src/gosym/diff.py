"""What a rebuild did to frame sizes, inlining and stack depth: ``gosym diff``.

Two builds of one program (another Go version, other ``-gcflags``, PGO, a
dependency bump) are compared function by function, from their tables alone:

* Functions are matched by the name the runtime prints (``funcNameForPrint``
  in runtime/symtab.go: generic shapes print as ``F[...]``). Several functions
  of one printed name (generic shapes, some closures) are matched by the order
  of their entries within the name, and the result says so.
* Per function and build: ``frame_size`` and ``max_sp_delta`` (from pcsp, as
  :mod:`gosym.framesize` defines them), code size, ``args``, flags, and the
  functions inlined into it: every entry of its inline tree
  (FUNCDATA_InlTree, runtime/symtabinl.go), nested inlining included.
* Why a frame changed, where the tables tell: the callees that are newly in
  its inline tree (with their own frame size in OLD), and whether the function
  calls itself (a direct call to its own entry in its machine code, found with
  capstone; the inline tree at the call says through which inlined body), in
  which case the growth repeats at every level of its recursion.

The result is columnar (numpy arrays, one row per listed function), which keeps
two 400k-function binaries within seconds (benchmarks/bench_diff.py);
:attr:`DiffResult.functions` gives the same rows as objects.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

from ._lazy import np

from .binary import GoBinary
from .errors import FormatError, GosymError
from .framesize import frame_table
from .pclntab import flag_names

SORT_KEYS = ("frame", "code", "name")


class DiffError(GosymError):
    """The two binaries can't be compared (e.g. different architectures)."""

    exit_code = 2


@dataclass(frozen=True)
class DiffConfig:
    """Which functions a diff lists, and in what order.

    ``match`` selects functions by their printed name (re.search) in both
    builds; the summary counts the selected functions. ``min_delta`` and
    ``top`` only shorten the list: ``min_delta`` keeps the changes whose
    sort-key delta (frame size; code size with ``sort="code"``) is at least
    that many bytes either way.
    """

    match: str | None = None
    sort: str = "frame"  # "frame" (frame-size delta), "code" (code-size delta), "name"
    min_delta: int = 0
    top: int | None = None
    # Read NEW's tables in a forked child process while this one reads OLD's
    # (POSIX; big binaries only, when a core is idle). The command line does;
    # a library caller with threads of its own should not fork.
    parallel: bool = False


# --- one build's facts ----------------------------------------------------------------

@dataclass(frozen=True)
class BuildFacts:
    """Per-function facts of one build, for the selected functions in entry order."""

    path: str
    go_version: str | None
    arch: str
    nfunc: int  # functions in the whole table
    indices: np.ndarray  # function indices into the table
    names: list[bytes]  # printed names (funcNameForPrint)
    entry: np.ndarray
    size: np.ndarray
    frame_size: np.ndarray
    max_sp_delta: np.ndarray
    args: np.ndarray
    flags: np.ndarray
    inlined: "InlinedNames"


@dataclass(frozen=True)
class InlinedNames:
    """Names inlined into each function, CSR: function k's are
    names[codes[ptr[k]:ptr[k + 1]]], distinct and sorted (codes follow the
    sorted order of ``names``)."""

    ptr: np.ndarray
    codes: np.ndarray
    names: list[bytes]

    def of(self, k: int) -> list[bytes]:
        return [self.names[c] for c in self.codes[self.ptr[k]:self.ptr[k + 1]].tolist()]


def printed_name(raw: bytes) -> bytes:
    """runtime.funcNameForPrint: ``pkg.F[go.shape.int]`` prints as ``pkg.F[...]``
    (pclntab.func_name_for_print, on the raw bytes the name table holds)."""
    i = raw.find(b"[")
    if i < 0:
        return raw
    j = raw.rfind(b"]")
    if j <= i:
        return raw
    return raw[:i] + b"[...]" + raw[j + 1:]


def _printed_names(raw: list[bytes]) -> list[bytes]:
    """printed_name of every name (only names with a '[' change)."""
    return [n if b"[" not in n else printed_name(n) for n in raw]


def build_facts(b: GoBinary, match: str | None = None) -> BuildFacts:
    """The facts of every function of b whose printed name matches ``match``."""
    t = b.table
    names = _printed_names(t.names())
    if match is not None:
        try:
            rx = re.compile(match.encode())
        except re.error as e:
            raise DiffError(f"invalid --match regular expression: {e}") from None
        indices = np.array([i for i, n in enumerate(names) if rx.search(n)], dtype=np.int64)
        names = [names[i] for i in indices.tolist()]
    else:
        indices = np.arange(len(t), dtype=np.int64)
    ft = frame_table(b, indices)
    return BuildFacts(
        path=b.path, go_version=b.go_version, arch=b.arch, nfunc=len(t), indices=indices,
        names=names, entry=ft.entries.astype(np.int64),
        size=(ft.ends - ft.entries).astype(np.int64),
        frame_size=ft.frame_size.astype(np.int64), max_sp_delta=ft.max_sp_delta.astype(np.int64),
        args=ft.args.astype(np.int64), flags=ft.flags.astype(np.int64),
        inlined=inlined_names(b, indices))


# --- inline trees, batched ----------------------------------------------------------------
#
# GoBinary gives one function's inline tree at a time; a diff needs the trees of
# every function, so this reads them all with a few numpy gathers over the
# table's columns (the same fields GoBinary.inline_tree_address and
# pclntab.parse_inline_tree_entry read one at a time).

def inlined_names(b: GoBinary, indices: np.ndarray) -> InlinedNames:
    """The printed names of the functions inlined into each of ``indices``.

    A function's inline tree (FUNCDATA_InlTree) has one entry per inlined call
    that left code behind, its ancestors included (cmd/internal/obj/pcln.go
    adds a call's parents before it), so the entries are 0..N-1 where N-1 is
    the largest value of its PCDATA_InlTreeIndex table.
    """
    t = b.table
    L = t.layout
    n = len(indices)
    empty = InlinedNames(np.zeros(n + 1, np.int64), np.zeros(0, np.int64), [])
    if not n:
        return empty
    pcdata_k, funcdata_k = b.inline_tree_indices
    npcdata = t.column("npcdata", indices).astype(np.int64)
    nfuncdata = t.column("nfuncdata", indices).astype(np.int64)
    sel = np.flatnonzero((npcdata > pcdata_k) & (nfuncdata > funcdata_k))
    if not len(sel):
        return empty
    idx = indices[sel]
    records = t.record_offsets[idx]
    inl = t.u32_at(records + L.func_size + 4 * pcdata_k).astype(np.int64)
    keep = inl != 0
    sel, idx, inl, records = sel[keep], idx[keep], inl[keep], records[keep]
    trees = _tree_addresses(b, idx, records, npcdata[sel], funcdata_k)
    keep = trees != 0
    sel, idx, inl, trees = sel[keep], idx[keep], inl[keep], trees[keep]
    if not len(sel):
        return empty
    sizes = _tree_sizes(b, idx, inl)
    keep = sizes > 0
    sel, trees, sizes = sel[keep], trees[keep], sizes[keep]
    nameoffs = _entry_nameoffs(b, trees, sizes)
    owner = np.repeat(sel, sizes)
    # Names once per distinct nameoff; codes in sorted name order.
    uoff, inv = _unique_inverse(nameoffs)
    unames = [printed_name(x) for x in _names_at(t, uoff)]
    names = sorted(set(unames))
    code_of = dict(zip(names, range(len(names))))
    ucode = np.fromiter(map(code_of.__getitem__, unames), np.int64, len(unames))
    codes = ucode[inv]
    # Distinct (function, name) pairs, sorted by function then name.
    pair = _sorted_unique(owner * len(names) + codes)
    own = pair // len(names)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(own, minlength=n), out=ptr[1:])
    return InlinedNames(ptr, pair % len(names), names)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def _unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(a, return_inverse=True) by one argsort (numpy's hashing
    unique is several times slower on 400k offsets)."""
    order = np.argsort(a)
    s = a[order]
    first = np.concatenate(([True], s[1:] != s[:-1])) if len(s) else np.zeros(0, bool)
    inv = np.empty(len(a), np.int64)
    inv[order] = np.cumsum(first) - 1
    return s[first], inv


def _names_at(t, nameoffs: np.ndarray) -> list[bytes]:
    """Names at many nameoffs (function-name table offsets), as raw bytes."""
    return [x.encode("utf-8", "replace")
            for x in t.strings_at(nameoffs.astype(np.int64) + t.funcname_base)]


def _tree_addresses(b: GoBinary, idx: np.ndarray, records: np.ndarray, npcdata: np.ndarray,
                    funcdata_k: int) -> np.ndarray:
    """Address of each function's inline tree (0: none)."""
    t = b.table
    L = t.layout
    out = np.zeros(len(idx), np.int64)
    if not L.funcdata_is_offset:
        # Before Go 1.18 the slot is a pointer, maybe a dynamic relocation
        # (PIE): GoBinary reads it. Binaries of that era are small.
        for k, i in enumerate(idx.tolist()):
            out[k] = b.inline_tree_address(t.func(i)) or 0
        return out
    # Go 1.18+: u32 offsets from moduledata.gofunc after the pcdata offsets
    # (runtime/symtab.go funcdata); records of one npcdata share the position.
    has = npcdata >= 0
    offs = np.full(len(idx), 0xFFFFFFFF, np.int64)
    for v in _sorted_unique(npcdata[has]).tolist():
        m = np.flatnonzero(npcdata == v)
        offs[m] = t.u32_at(records[m] + L.func_size + 4 * v + 4 * funcdata_k)
    present = offs != 0xFFFFFFFF
    if bool(present.any()):
        out[present] = b.gofunc + offs[present]
    return out


def _tree_sizes(b: GoBinary, idx: np.ndarray, inl: np.ndarray) -> np.ndarray:
    """Entries of each function's inline tree: max PCDATA_InlTreeIndex + 1."""
    uniq, inv = _unique_inverse(inl)
    rows = _Tables(b.table, uniq)
    tmax = rows.maxima()
    if bool((tmax > 1 << 20).any()):
        raise FormatError("inline tree index out of range")
    return np.maximum(tmax[inv] + 1, 0)


class _Tables:
    """Many pc-value tables decoded at once (Table.decode_tables: CSR rows;
    table j's rows end at ends[ptr[j]:ptr[j + 1]], offsets from the function
    entry, with values)."""

    def __init__(self, t, offsets: np.ndarray) -> None:
        self.offsets = offsets  # sorted, distinct, non-zero
        rows = t.decode_tables(offsets)
        self.ptr, self.ends, self.values = rows.ptr, rows.ends, rows.values

    def maxima(self) -> np.ndarray:
        """Largest value of each table (-1 for a table without rows)."""
        out = np.full(len(self.offsets), -1, np.int64)
        has = np.diff(self.ptr) > 0
        if bool(has.any()):
            out[has] = np.maximum.reduceat(self.values, self.ptr[:-1][has])
        return out

    def rows(self, off: int) -> tuple[np.ndarray, np.ndarray]:
        j = int(np.searchsorted(self.offsets, off))
        a, z = int(self.ptr[j]), int(self.ptr[j + 1])
        return self.ends[a:z], self.values[a:z]


def _entry_nameoffs(b: GoBinary, trees: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """nameOff of every entry of the given trees (runtime/symtabinl.go inlinedCall)."""
    t = b.table
    esize = t.layout.inline_entry_size
    field = t.layout.inline_fields["nameoff"].at  # runtime/symtabinl.go inlinedCall.nameOff
    within = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes,
                                                                      sizes)
    at = np.repeat(trees, sizes) + within * esize + field
    lo, hi = int(trees.min()), int((trees + sizes * esize).max())
    try:
        raw = np.frombuffer(b.container.read(lo, hi - lo), np.uint8)
    except FormatError:
        raw = None
    if raw is not None:
        rel = at - lo
        # The four bytes of each, least significant first, in the table's byte order.
        order = (3, 2, 1, 0) if t.endian == "big" else (0, 1, 2, 3)
        return (raw[rel + order[0]].astype(np.int64) | raw[rel + order[1]].astype(np.int64) << 8 |
                raw[rel + order[2]].astype(np.int64) << 16 |
                raw[rel + order[3]].astype(np.int64) << 24)
    # Trees in several sections: one read per entry (rare).
    return np.array([int.from_bytes(b.container.read(a, 4), t.endian) for a in at.tolist()],
                    np.int64)


# --- calls to itself (capstone) ---------------------------------------------------------------

@dataclass(frozen=True)
class SelfCall:
    """A direct call of a function to its own entry."""

    pc: int  # the call instruction
    via: bytes | None  # printed name of the inlined function whose body holds the call


def self_calls(b: GoBinary, indices: np.ndarray) -> dict[int, SelfCall]:
    """Functions (positions in ``indices``) that call their own entry directly.

    A numpy pass finds the call encodings (amd64 and 386 ``E8 rel32``, arm64
    ``BL imm26``; other architectures are not searched) aimed at the
    function's own entry; capstone decodes each from the
    nearest instruction boundary the line table gives (pc-value rows start at
    instructions) and keeps the real calls. The function's inline tree at the
    call says whether it comes from an inlined body.
    """
    if not len(indices):
        return {}
    t = b.table
    entries = t.entries[indices].astype(np.int64)
    ends = t.entries[indices + 1].astype(np.int64)
    cand = _call_candidates(b, entries, ends)
    if not cand:
        return {}
    ks = sorted(cand)
    idx = indices[ks]
    pcln = t.column("pcln", idx).astype(np.int64)
    lines = _Tables(t, _sorted_unique(pcln[pcln != 0]))
    out: dict[int, SelfCall] = {}
    for k, i, off in zip(ks, idx.tolist(), pcln.tolist()):
        entry = int(entries[k])
        starts = np.zeros(1, np.int64) if off == 0 else \
            np.concatenate(([0], lines.rows(off)[0]))
        pc = _confirm_call(b, entry, int(ends[k]), cand[k], entry + starts)
        if pc is not None:
            out[k] = SelfCall(pc, _inlined_at(b, i, pc))
    return out


def _inlined_at(b: GoBinary, index: int, pc: int) -> bytes | None:
    """Printed name of the innermost inlined function at pc, None outside inlined code.

    (The engine's find_frames(pc) answers this too, at a higher cost per call.)"""
    func = b.table.func(index)
    k = b.inline_index(func, pc)
    if k < 0:
        return None
    return printed_name(b.inline_entry(func, k).name.encode("utf-8", "replace"))


def _call_candidates(b: GoBinary, entries: np.ndarray, ends: np.ndarray) -> dict[int, list[int]]:
    """Position in entries -> PCs of call encodings aimed at that entry.

    The functions' code is joined into one buffer (only their pages are
    read) and scanned at once; a call to a function's own entry goes
    backwards by exactly its offset in the function."""
    out: dict[int, list[int]] = {}
    lo, hi = int(entries.min()), int(ends.max())
    try:
        whole = b.container.read(lo, hi - lo)
    except FormatError:  # the functions lie in several sections: one at a time
        for k in range(len(entries)):
            for pcs in _call_candidates(b, entries[k:k + 1], ends[k:k + 1]).values():
                out[k] = pcs
        return out
    sizes = ends - entries
    code = np.frombuffer(b"".join([whole[e - lo:z - lo] for e, z in
                                   zip(entries.tolist(), ends.tolist())]), np.uint8)
    first = np.cumsum(sizes) - sizes  # where each function starts in the buffer
    total = len(code)
    if b.arch not in ("amd64", "386", "arm64"):
        return out
    if b.arch in ("amd64", "386"):
        pos = np.flatnonzero(code[:max(total - 4, 0)] == 0xE8)
        # rel32 after each E8 byte: an unaligned int32 view at every position
        rel = np.ndarray((max(total - 3, 0),), "<i4", code, 0, (1,))[pos + 1].astype(np.int64) \
            if len(pos) else np.zeros(0, np.int64)
        length = 5
    else:
        # arm64: 4-byte instructions at 4-byte aligned offsets (entries and
        # sizes are multiples of 4); BL is 0b100101 << 26 | imm26, in words.
        if bool(((entries % 4) != 0).any() or ((sizes % 4) != 0).any()):
            return out
        words = code[:total // 4 * 4].view("<u4")
        pos = 4 * np.flatnonzero((words & 0xFC000000) == 0x94000000)
        imm = (words[pos // 4] & 0x03FFFFFF).astype(np.int64)
        rel = np.where(imm >= 1 << 25, imm - (1 << 26), imm) * 4
        length = 0
    k = np.searchsorted(first, pos, side="right") - 1
    off = pos - first[k]
    # target = pc + length + rel must be the entry: rel = -(offset + length)
    hit = (off + max(length, 4) <= sizes[k]) & (rel == -(off + length))
    for kk, at in zip(k[hit].tolist(), off[hit].tolist()):
        out.setdefault(kk, []).append(int(entries[kk]) + at)
    return out


def _confirm_call(b: GoBinary, entry: int, end: int, pcs: list[int],
                  boundaries: np.ndarray) -> int | None:
    """The first candidate that capstone decodes as a call to entry, if any.

    amd64 and 386 instructions are decoded from the nearest known instruction
    start before the candidate (Go's x86 code holds no data between them);
    arm64 instructions are the aligned word itself."""
    import capstone

    if b.arch in ("amd64", "386"):
        mode = capstone.CS_MODE_64 if b.arch == "amd64" else capstone.CS_MODE_32
        cs = capstone.Cs(capstone.CS_ARCH_X86, mode)
        for pc in sorted(pcs):
            start = int(boundaries[np.searchsorted(boundaries, pc, side="right") - 1])
            code = bytes(b.container.read(start, min(pc + 5, end) - start))
            for addr, _size, mn, op in cs.disasm_lite(code, start):
                if addr == pc and mn == "call" and _target(op) == entry:
                    return pc
                if addr >= pc:
                    break
        return None
    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    for pc in sorted(pcs):
        for addr, _size, mn, op in cs.disasm_lite(bytes(b.container.read(pc, 4)), pc):
            if mn == "bl" and _target(op) == entry:
                return addr
    return None


def _target(op: str) -> int | None:
    try:
        return int(op.lstrip("#"), 0)
    except ValueError:
        return None


# --- the diff -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Side:
    """One function in one build."""

    entry: int
    size: int
    frame_size: int
    max_sp_delta: int
    args: int
    flags: int
    inlined: tuple[str, ...]

    @property
    def flag_names(self) -> list[str]:
        return flag_names(self.flags)


@dataclass(frozen=True)
class FunctionDiff:
    """One function as the two builds have it (old or new is None when absent)."""

    name: str
    old: Side | None
    new: Side | None
    frame_delta: int  # new frame_size - old (a missing side counts 0)
    size_delta: int
    # Functions sharing this printed name, in OLD and NEW: matched by entry
    # order when either is more than 1 (ordinal is this one's position).
    same_name: tuple[int, int]
    ordinal: int
    newly_inlined: tuple[tuple[str, int | None], ...]  # (name, its frame_size in OLD)
    no_longer_inlined: tuple[str, ...]
    # Calls itself (None: not examined; only frames that grew are)
    recursive_old: bool | None
    recursive_new: bool | None
    recursion_via: str | None  # NEW (else OLD): the inlined body holding the self-call

    @property
    def matched_by_order(self) -> bool:
        return max(self.same_name) > 1


@dataclass(frozen=True)
class DiffSummary:
    only_old: int
    only_new: int
    grown: int  # matched functions whose frame_size grew
    shrunk: int
    matched: int
    changed: int  # matched functions with any difference
    frame_size_total_old: int
    frame_size_total_new: int
    matched_by_order: int  # matched functions whose name several functions share


@dataclass
class DiffResult:
    """Rows of listed functions, sorted; columns are numpy arrays.

    Row r is OLD function old_row[r] and NEW function new_row[r] (positions
    in old.indices / new.indices; -1 where absent).
    """

    old: BuildFacts
    new: BuildFacts
    config: DiffConfig
    summary: DiffSummary
    old_row: np.ndarray
    new_row: np.ndarray
    same_name_old: np.ndarray  # functions of this printed name in OLD
    same_name_new: np.ndarray
    ordinal: np.ndarray
    inlined_added: np.ndarray  # names newly inlined into the function (count)
    inlined_removed: np.ndarray  # names no longer inlined into it (count)
    old_binary: GoBinary
    new_binary: GoBinary
    profile: object | None = None

    def __len__(self) -> int:
        return len(self.old_row)

    @cached_property
    def recursive_old(self) -> dict[int, SelfCall]:
        """OLD functions of the listed rows that call themselves, by OLD position."""
        return self._self_calls(self.old, self.old_row, self.old_binary)

    @cached_property
    def recursive_new(self) -> dict[int, SelfCall]:
        return self._self_calls(self.new, self.new_row, self.new_binary)

    def _self_calls(self, facts: BuildFacts, rows: np.ndarray, b: GoBinary
                    ) -> dict[int, SelfCall]:
        # Only the frames that grew: a recursive function multiplies its growth.
        grew = rows[self.examined_for_recursion]
        pos = _sorted_unique(grew)
        return {int(pos[k]): v for k, v in self_calls(b, facts.indices[pos]).items()}

    @property
    def examined_for_recursion(self) -> np.ndarray:
        """Rows whose functions are checked for calls to themselves (frame grew)."""
        return (self.old_row >= 0) & (self.new_row >= 0) & (self.frame_delta > 0)

    @cached_property
    def old_frame_by_name(self) -> dict[bytes, int]:
        """OLD's frame_size per printed name (the largest of several)."""
        names = self.old.names
        sizes = self.old.frame_size.tolist()
        out = dict(zip(names, sizes))
        shared = _repeated(names)
        if shared:
            for k in _positions(names, shared):
                out[names[k]] = max(out[names[k]], sizes[k])
        return out

    @cached_property
    def name_of(self) -> list[bytes]:
        """The printed name of each row's function."""
        return [self.old.names[o] if o >= 0 else self.new.names[n]
                for o, n in zip(self.old_row.tolist(), self.new_row.tolist())]

    def column(self, side: str, field: str) -> np.ndarray:
        """A per-row column of one build (0 where the function is absent)."""
        key = (side, field)
        got = self._columns.get(key)
        if got is None:
            facts, rows = (self.old, self.old_row) if side == "old" else (self.new, self.new_row)
            values = getattr(facts, field)
            got = self._columns[key] = np.where(rows >= 0, values[np.maximum(rows, 0)], 0)
        return got

    @cached_property
    def _columns(self) -> dict:
        return {}

    @cached_property
    def frame_delta(self) -> np.ndarray:
        return self.column("new", "frame_size") - self.column("old", "frame_size")

    @cached_property
    def size_delta(self) -> np.ndarray:
        return self.column("new", "size") - self.column("old", "size")

    def inline_change(self, r: int) -> tuple[list[bytes], list[bytes]]:
        """(names newly inlined, names no longer inlined) of row r."""
        o, n = int(self.old_row[r]), int(self.new_row[r])
        before = set(self.old.inlined.of(o)) if o >= 0 else set()
        after = set(self.new.inlined.of(n)) if n >= 0 else set()
        if o < 0 or n < 0:
            return [], []
        return sorted(after - before), sorted(before - after)

    def row(self, r: int) -> FunctionDiff:
        o, n = int(self.old_row[r]), int(self.new_row[r])

        def side(f: BuildFacts, k: int) -> Side | None:
            if k < 0:
                return None
            return Side(int(f.entry[k]), int(f.size[k]), int(f.frame_size[k]),
                        int(f.max_sp_delta[k]), int(f.args[k]), int(f.flags[k]),
                        tuple(x.decode("utf-8", "replace") for x in f.inlined.of(k)))

        old, new = side(self.old, o), side(self.new, n)
        added, removed = self.inline_change(r)
        examined = bool(self.examined_for_recursion[r])
        rec_new = self.recursive_new.get(n) if examined else None
        rec_old = self.recursive_old.get(o) if examined else None
        via = (rec_new or rec_old).via if (rec_new or rec_old) else None
        name = (self.old.names[o] if o >= 0 else self.new.names[n]).decode("utf-8", "replace")
        return FunctionDiff(
            name=name, old=old, new=new,
            frame_delta=(new.frame_size if new else 0) - (old.frame_size if old else 0),
            size_delta=(new.size if new else 0) - (old.size if old else 0),
            same_name=(int(self.same_name_old[r]), int(self.same_name_new[r])),
            ordinal=int(self.ordinal[r]),
            newly_inlined=tuple((a.decode("utf-8", "replace"), self.old_frame_by_name.get(a))
                                for a in added),
            no_longer_inlined=tuple(x.decode("utf-8", "replace") for x in removed),
            recursive_old=None if not examined else rec_old is not None,
            recursive_new=None if not examined else rec_new is not None,
            recursion_via=None if via is None else via.decode("utf-8", "replace"))

    @property
    def functions(self) -> Sequence[FunctionDiff]:
        result = self

        class _Rows(Sequence):
            def __len__(self) -> int:
                return len(result)

            def __getitem__(self, i):  # type: ignore[override]
                if isinstance(i, slice):
                    return [result.row(r) for r in range(*i.indices(len(result)))]
                return result.row(i if i >= 0 else i + len(result))

        return _Rows()

    def __iter__(self) -> Iterator[FunctionDiff]:
        for r in range(len(self)):
            yield self.row(r)


def diff_profile(profile_data: bytes, old: GoBinary, new: GoBinary):
    """A goroutine profile of a process running OLD (any form gosym stackmem
    reads), accounted with OLD's frames (gosym.stackmem) and re-costed with
    NEW's (gosym.recost): a recost.ProfileDiff."""
    from . import goroutine_profile, stackmem
    from .recost import InFrame, recost_profile

    check_comparable(old, new)
    profile = goroutine_profile.parse(profile_data)
    acc = stackmem.analyze(profile, old, stackmem.StackMemConfig())
    stacks = [(s.goroutines, [InFrame(f.function, f.file, f.line, f.inlined, f.bytes, f.kind)
                              for f in s.frames]) for s in acc.stacks]
    return recost_profile(stacks, new, acc.form, acc.warnings)


def check_comparable(old: GoBinary, new: GoBinary) -> None:
    if old.arch != new.arch:
        raise DiffError(f"OLD is {old.arch} and NEW is {new.arch}: gosym diff compares two "
                        "builds for the same architecture")


def diff(old: GoBinary, new: GoBinary, config: DiffConfig = DiffConfig()) -> DiffResult:
    """Compare two builds of a program function by function."""
    check_comparable(old, new)
    if config.sort not in SORT_KEYS:
        raise DiffError(f"unknown sort key {config.sort!r} (one of {', '.join(SORT_KEYS)})")
    fo, fn, new_hash = _both_facts(old, new, config.match, config.parallel)
    pairs = _match(fo.names, fn.names, new_hash=new_hash)
    old_row, new_row, cnt_old, cnt_new, ordinal = pairs
    both = (old_row >= 0) & (new_row >= 0)

    def col(facts: BuildFacts, rows: np.ndarray, field: str) -> np.ndarray:
        values = getattr(facts, field)
        return np.where(rows >= 0, values[np.maximum(rows, 0)], 0)

    f_old, f_new = col(fo, old_row, "frame_size"), col(fn, new_row, "frame_size")
    s_old, s_new = col(fo, old_row, "size"), col(fn, new_row, "size")
    added, removed = _inline_changes(fo, fn, old_row, new_row)
    changed = ~both | (f_old != f_new) | (s_old != s_new) | (added > 0) | (removed > 0)
    for field in ("max_sp_delta", "args", "flags"):
        changed |= col(fo, old_row, field) != col(fn, new_row, field)
    summary = DiffSummary(
        only_old=int((new_row < 0).sum()), only_new=int((old_row < 0).sum()),
        grown=int((both & (f_new > f_old)).sum()), shrunk=int((both & (f_new < f_old)).sum()),
        matched=int(both.sum()), changed=int((both & changed).sum()),
        frame_size_total_old=int(fo.frame_size.sum()),
        frame_size_total_new=int(fn.frame_size.sum()),
        matched_by_order=int((both & ((cnt_old > 1) | (cnt_new > 1))).sum()))

    delta = (s_new - s_old) if config.sort == "code" else (f_new - f_old)
    listed = changed & (np.abs(delta) >= config.min_delta)
    rows = np.flatnonzero(listed)
    names = [fo.names[o] if o >= 0 else fn.names[n]
             for o, n in zip(old_row[rows].tolist(), new_row[rows].tolist())]
    rank = _name_rank(names)
    if config.sort == "name":
        order = np.lexsort((ordinal[rows], rank))
    else:
        d = delta[rows]
        order = np.lexsort((ordinal[rows], rank, -d, -np.abs(d)))
    rows = rows[order]
    if config.top is not None:
        rows = rows[:config.top]
    return DiffResult(fo, fn, config, summary, old_row[rows], new_row[rows], cnt_old[rows],
                      cnt_new[rows], ordinal[rows], added[rows], removed[rows], old, new)


PARALLEL_MIN_FUNCS = 100_000  # below this, forking costs more than it saves


def _both_facts(old: GoBinary, new: GoBinary, match: str | None,
                parallel: bool) -> tuple[BuildFacts, BuildFacts, np.ndarray | None]:
    """OLD's and NEW's facts (and the hashes of NEW's names, or None); with
    ``parallel``, NEW's are read by a forked child (which inherits the open
    binaries) while this process reads OLD's, and come back pickled through
    a pipe."""
    if not parallel or not hasattr(os, "fork") or len(old) + len(new) < PARALLEL_MIN_FUNCS \
            or not _spare_core():
        return _facts_of(old, match), _facts_of(new, match), None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: NEW's facts, or the error they raise
        os.close(r)
        try:
            try:
                fn = _facts_of(new, match)
                payload: tuple = ("ok", fn, name_hashes(fn.names))
            except GosymError as e:
                payload = ("error", type(e).__name__, str(e), e.exit_code)
            except BaseException as e:  # noqa: BLE001 - reported by the parent
                payload = ("crash", f"{type(e).__name__}: {e}")
            with os.fdopen(w, "wb") as f:
                pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os._exit(0)
    os.close(w)
    try:
        fo = _facts_of(old, match)
        with os.fdopen(r, "rb") as f:
            payload = pickle.load(f)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    os.waitpid(pid, 0)
    if payload[0] == "ok":
        return fo, payload[1], payload[2]
    if payload[0] == "error":
        err = GosymError(payload[2])
        err.exit_code = payload[3]
        raise err
    raise FormatError(f"{new.path}: cannot decode ({payload[1]})")


def _spare_core() -> bool:
    """Whether a core is idle enough for the child to run beside this process:
    on a machine already busier than its cores, forking only adds the cost of
    the pickles."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except (AttributeError, OSError):
        return False


def _facts_of(b: GoBinary, match: str | None) -> BuildFacts:
    """build_facts with errors naming the file they come from."""
    try:
        return build_facts(b, match)
    except DiffError:
        raise
    except GosymError as e:
        raise type(e)(f"{b.path}: {e}") from None


def name_hashes(names: list[bytes]) -> np.ndarray:
    """hash() of every name (equal names, equal hashes; a forked child's
    hashes are the parent's: the seed is inherited)."""
    return np.fromiter(map(hash, names), np.int64, len(names))


def _match(old_names: list[bytes], new_names: list[bytes],
           old_hash: np.ndarray | None = None, new_hash: np.ndarray | None = None):
    """Pair functions by printed name, the k-th of a name in OLD with the k-th
    in NEW (entry order). Returns per row: OLD position, NEW position (-1:
    absent), functions of that name in OLD and in NEW, and k.

    Names are paired by their hashes with numpy (sorts and a binary search)
    and the pairs checked equal; hashes that several functions share (the
    same name more than once, or a collision) are sorted out in Python."""
    n_old, n_new = len(old_names), len(new_names)
    ho = name_hashes(old_names) if old_hash is None else old_hash
    hn = name_hashes(new_names) if new_hash is None else new_hash
    # Both sides sorted by hash (stable: entry order within a hash).
    oo, on = np.argsort(ho, kind="stable"), np.argsort(hn, kind="stable")
    hos, hs = ho[oo], hn[on]
    repeated = _sorted_unique(np.concatenate([hos[1:][hos[1:] == hos[:-1]],
                                              hs[1:][hs[1:] == hs[:-1]]]))
    # Hashes of one function on each side: the pair is the binary search's
    # (sorted needles: the search walks forward).
    k = np.empty(n_old, np.int64)
    k[oo] = np.minimum(np.searchsorted(hs, hos), max(n_new - 1, 0))
    new_row = np.full(n_old, -1, np.int64)
    if n_new:
        hit = hs[k] == ho
        cand = np.flatnonzero(hit)
        js = on[k[cand]]
        equal = np.fromiter(map(bytes.__eq__, [old_names[i] for i in cand.tolist()],
                                [new_names[j] for j in js.tolist()]), bool, len(cand))
        new_row[cand[equal]] = js[equal]
    cnt_old = np.ones(n_old, np.int64)
    cnt_new = (new_row >= 0).astype(np.int64)
    ordinal = np.zeros(n_old, np.int64)
    where_old: dict[bytes, list[int]] = {}
    where_new: dict[bytes, list[int]] = {}
    shared: set[bytes] = set()
    if len(repeated):
        # Group the positions of those hashes by name, entry order kept.
        for names, order, srt, where in ((old_names, oo, hos, where_old),
                                         (new_names, on, hs, where_new)):
            lo = np.searchsorted(srt, repeated, side="left").tolist()
            hi = np.searchsorted(srt, repeated, side="right").tolist()
            for i in sorted(p for a, z in zip(lo, hi) for p in order[a:z].tolist()):
                where.setdefault(names[i], []).append(i)
        for nm in set(where_old) | set(where_new):
            a, z = where_old.setdefault(nm, []), where_new.setdefault(nm, [])
            if len(a) > 1 or len(z) > 1:
                shared.add(nm)
            for kk, i in enumerate(a):
                new_row[i] = z[kk] if kk < len(z) else -1
                cnt_old[i], cnt_new[i], ordinal[i] = len(a), len(z), kk
    taken = np.zeros(n_new, bool)
    taken[new_row[new_row >= 0]] = True
    rest = np.flatnonzero(~taken)
    # A NEW function left over has a name OLD lacks, or one of a shared name.
    r_cnt_new = np.ones(len(rest), np.int64)
    r_cnt_old = np.zeros(len(rest), np.int64)
    r_ordinal = np.zeros(len(rest), np.int64)
    if shared:
        for p, j in enumerate(rest.tolist()):
            nm = new_names[j]
            if nm in shared:
                z = where_new[nm]
                r_cnt_new[p], r_cnt_old[p], r_ordinal[p] = len(z), len(where_old[nm]), z.index(j)
    old_row = np.concatenate([np.arange(n_old, dtype=np.int64), np.full(len(rest), -1, np.int64)])
    new_row = np.concatenate([new_row, rest])
    return (old_row, new_row, np.concatenate([cnt_old, r_cnt_old]),
            np.concatenate([cnt_new, r_cnt_new]), np.concatenate([ordinal, r_ordinal]))


def _repeated(names: list[bytes], last: dict[bytes, int] | None = None) -> set[bytes]:
    """Names that occur more than once (``last``, a dict of the names, tells
    quickly that there are none)."""
    if last is not None and len(last) == len(names):
        return set()
    # Equal names have equal hashes (cached on the bytes objects): sort those.
    h = np.fromiter(map(hash, names), np.int64, len(names))
    s = np.sort(h)
    twice = s[1:][s[1:] == s[:-1]]
    if not len(twice):
        return set()
    seen: set[bytes] = set()
    out: set[bytes] = set()
    for i in np.flatnonzero(_member(h, twice)).tolist():
        nm = names[i]
        (out if nm in seen else seen).add(nm)
    return out


def _member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.isin(a, b) by one sort and a binary search (numpy's isin hashes,
    several times slower here)."""
    if not len(b):
        return np.zeros(len(a), bool)
    u = np.sort(b)
    k = np.minimum(np.searchsorted(u, a), len(u) - 1)
    return u[k] == a


def _positions(names: list[bytes], wanted: set[bytes]) -> list[int]:
    hit = np.fromiter(map(wanted.__contains__, names), bool, len(names))
    return np.flatnonzero(hit).tolist()


def _name_rank(names: list[bytes]) -> np.ndarray:
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), np.int64)
    rank[np.array(order, np.int64)] = np.arange(len(names), dtype=np.int64)
    return rank


def _inline_changes(fo: BuildFacts, fn: BuildFacts, old_row: np.ndarray,
                    new_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many names are newly inlined (in NEW's tree, not in OLD's)
    and how many are no longer inlined; 0 for rows present in one build."""
    a, b = fo.inlined, fn.inlined
    # Both builds' codes in one space: positions in the union of the names.
    union = sorted(set(a.names) | set(b.names))
    code_of = dict(zip(union, range(len(union))))
    ma = np.fromiter(map(code_of.__getitem__, a.names), np.int64, len(a.names))
    mb = np.fromiter(map(code_of.__getitem__, b.names), np.int64, len(b.names))
    rows = np.flatnonzero((old_row >= 0) & (new_row >= 0))

    def keys(inl: InlinedNames, remap: np.ndarray, fpos: np.ndarray):
        cnt = inl.ptr[fpos + 1] - inl.ptr[fpos]
        within = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        row = np.repeat(rows, cnt)
        codes = remap[inl.codes[np.repeat(inl.ptr[fpos], cnt) + within]] if len(row) else row
        return row, row * max(len(union), 1) + codes

    row_a, key_a = keys(a, ma, old_row[rows])
    row_b, key_b = keys(b, mb, new_row[rows])
    n = len(old_row)
    added = np.bincount(row_b[~_member(key_b, key_a)], minlength=n)
    removed = np.bincount(row_a[~_member(key_a, key_b)], minlength=n)
    return added, removed
