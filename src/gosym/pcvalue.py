"""pc-value tables: the one decoder of pcsp, pcfile, pcln and every pcdata table.

Encoding (runtime/symtab.go ``pcvalue`` and ``step``): a table is a sequence
of pairs (value delta as a zig-zag uvarint, pc delta as a uvarint scaled by
the PC quantum). The value starts at -1 and the pc at the function entry. A
value applies while ``targetpc < pc``. A zero value delta on any pair after
the first ends the table.

Two decoders, held equal by the tests on every table of every test binary:

* :func:`step` / :func:`decode_table` — the reference, one table at a time,
  written as the runtime writes it;
* :func:`decode_batch` — many tables at once with numpy, for the commands
  that touch thousands of tables (frame sizes of every function,
  symbolizing 100k PCs). :func:`first_values` reads only the first row.

Both report malformed input the same way: :func:`decode_batch` finds that a
table is bad, then decodes that table with the reference decoder, whose
exception (with the byte offset) is the one raised.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Iterator, Sequence

from ._lazy import np
from .errors import FormatError

# Every varint in a pc-value table fits in 32 bits, so 5 bytes at most.
MAX_VARINT_BYTES = 5
VALUE_MIN, VALUE_LIMIT = -(1 << 31), 1 << 31


def read_uvarint(data, pos: int, limit: int,
                 max_bytes: int = MAX_VARINT_BYTES) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint at data[pos]; returns (value, next pos)."""
    result = 0
    shift = 0
    for _ in range(max_bytes):
        if pos >= limit:
            raise FormatError("pc-value table runs past the end of the table data", pos)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise FormatError(f"varint longer than {max_bytes} bytes", pos)


def zigzag(u):
    """The signed value of a zig-zag encoded uvarint: the low bit is the sign
    (runtime/symtab.go ``step``). Works on ints and on numpy int64 arrays."""
    return (u >> 1) ^ -(u & 1)


def step(data, pos: int, limit: int, value: int, pc: int, first: bool,
         quantum: int) -> tuple[int, int, int] | None:
    """One pair of a table (runtime/symtab.go ``step``): (next pos, value, pc)
    after it, or None where the table ends."""
    uvdelta, pos = read_uvarint(data, pos, limit)
    if uvdelta == 0 and not first:
        return None
    pcdelta, pos = read_uvarint(data, pos, limit)
    return pos, value + zigzag(uvdelta), pc + pcdelta * quantum


@dataclass(frozen=True)
class Rows:
    """A decoded table: row i covers pc offsets [ends[i-1], ends[i]) from the
    function's entry (the first row starts at 0) and has values[i]."""

    ends: tuple[int, ...]
    values: tuple[int, ...]

    def value_at(self, pc_offset: int) -> int | None:
        """The value at a pc offset from the entry, or None past the table's end."""
        i = bisect_right(self.ends, pc_offset)
        return self.values[i] if i < len(self.ends) else None

    def __len__(self) -> int:
        return len(self.ends)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """(end offset, value) per row."""
        return zip(self.ends, self.values)


def decode_table(data, pos: int, quantum: int, limit: int | None = None,
                 max_pc_span: int | None = None) -> Rows:
    """Decode the table that starts at data[pos] (the reference decoder).

    ``max_pc_span`` bounds the table to its function's size, so corrupt data
    can't make it run away.
    """
    if limit is None:
        limit = len(data)
    if not 0 < pos < limit:
        raise FormatError("pc-value table offset out of range", pos)
    start = pos
    ends: list[int] = []
    values: list[int] = []
    value, pc, first = -1, 0, True
    while True:
        got = step(data, pos, limit, value, pc, first, quantum)
        if got is None:
            break
        pos, value, pc = got
        first = False
        if not VALUE_MIN <= value < VALUE_LIMIT:
            raise FormatError("pc-value table value out of range", pos)
        ends.append(pc)
        values.append(value)
        if max_pc_span is not None and pc > max_pc_span:
            raise FormatError("pc-value table extends past its function", start)
    return Rows(tuple(ends), tuple(values))


def ranges(rows: Rows, entry: int) -> Iterator[tuple[int, int, int]]:
    """(start_pc, end_pc, value) for each row, in absolute addresses."""
    start = entry
    for end, value in rows:
        if entry + end > start:  # rows with a zero pc delta cover nothing
            yield start, entry + end, value
        start = entry + end


# --- many tables at once ------------------------------------------------------------

_BATCH_BYTES = 1 << 18  # bytes decoded per vectorised round (bounds memory; small rounds
# keep the per-varint int64 arrays in cache: 1 << 18 is ~15% faster than 1 << 20)
_FIRST_WINDOW = 16  # bytes read for each table at first (median table: ~13 bytes)


@dataclass(frozen=True)
class BatchRows:
    """Many decoded tables in CSR form: table k's rows are ptr[k]:ptr[k + 1]
    of ``ends`` (pc offsets from the entry, increasing) and ``values``."""

    ptr: np.ndarray
    ends: np.ndarray
    values: np.ndarray

    def rows(self, k: int) -> Rows:
        a, b = int(self.ptr[k]), int(self.ptr[k + 1])
        return Rows(tuple(self.ends[a:b].tolist()), tuple(self.values[a:b].tolist()))


def decode_batch(u8: np.ndarray, starts: np.ndarray, quantum: int,
                 spans: np.ndarray | None = None) -> BatchRows:
    """Decode the tables starting at u8[starts] (distinct positions, any order).

    Each table is read from a fixed-width byte window (rows of a strided view
    of the data, so gathering them is a row copy, not a per-byte index); the
    tables whose end marker is not in their window are retried with a window
    8 times wider. ``spans`` (optional, per table) bound each table to its
    function's size as :func:`decode_table`'s ``max_pc_span`` does. A
    malformed table is decoded again by :func:`decode_table`, which raises.
    """
    starts = np.asarray(starts, dtype=np.int64)
    k = len(starts)
    limit = len(u8)
    bad = (starts <= 0) | (starts >= limit)
    if bool(bad.any()):
        raise FormatError("pc-value table offset out of range", int(starts[bad][0]))
    got_tab, got_ends, got_vals = [], [], []
    pending = np.arange(k)
    width = _FIRST_WINDOW
    while len(pending):
        per = max(1, _BATCH_BYTES // width)  # rounds bounded in bytes: flat memory
        failed = []
        for lo in range(0, len(pending), per):
            now = pending[lo:lo + per]
            ok, tab, ends, vals = _decode_round(_windows(u8, starts[now], width), width,
                                                len(now), quantum)
            got_tab.append(now[tab])
            got_ends.append(ends)
            got_vals.append(vals)
            failed.append(now[~ok])
        pending = np.concatenate(failed) if failed else pending[:0]
        if len(pending):
            exhausted = starts[pending] + width >= limit
            if bool(exhausted.any()):
                _raise_reference(u8, starts[pending[exhausted]], quantum, None)
            width *= 8
    tab = np.concatenate(got_tab) if got_tab else np.zeros(0, np.int64)
    ends = np.concatenate(got_ends) if got_ends else np.zeros(0, np.int64)
    vals = np.concatenate(got_vals) if got_vals else np.zeros(0, np.int64)
    # by table, rows in decoding order (unique keys: the unstable sort is
    # faster and gives the stable order)
    order = np.argsort(tab * max(len(tab), 1) + np.arange(len(tab), dtype=np.int64))
    tab, ends, vals = tab[order], ends[order], vals[order]
    ptr = np.zeros(k + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(tab, minlength=k))
    bad = (vals < VALUE_MIN) | (vals >= VALUE_LIMIT)
    if spans is not None and len(ends):
        bad |= ends > np.repeat(np.asarray(spans, np.int64), np.diff(ptr))
    if bool(bad.any()):
        tabs = np.unique(tab[bad])
        _raise_reference(u8, starts[tabs], quantum,
                         None if spans is None else np.asarray(spans)[tabs])
    return BatchRows(ptr, ends, vals)


def _raise_reference(u8, starts, quantum: int, spans) -> None:
    """Decode the failing tables with the reference decoder, which raises."""
    data = memoryview(u8)  # indexing gives Python ints, as the reference expects
    for i, s in enumerate(starts.tolist()):
        decode_table(data, s, quantum, len(u8),
                     None if spans is None else int(spans[i]))
    raise FormatError("pc-value table does not decode", int(starts[0]))


def _windows(u8: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """u8[s:s + width] for each start, as one flat array; past the end of the
    data the window is filled with 0xFF (continuation bytes: no varint ends
    there, so a table cut by the end of the data is never complete)."""
    n = len(u8)
    out = np.full((len(starts), width), 0xFF, np.uint8)
    inside = starts <= n - width
    if n >= width and bool(inside.any()):
        view = np.lib.stride_tricks.as_strided(u8, shape=(n - width + 1, width),
                                               strides=(1, 1), writeable=False)
        if bool(inside.all()):
            return view[starts].reshape(-1)
        out[inside] = view[starts[inside]]
    for r in np.flatnonzero(~inside).tolist():
        s = int(starts[r])
        out[r, :n - s] = u8[s:]
    return out.reshape(-1)


def _decode_round(b: np.ndarray, width: int, k: int, quantum: int):
    """One vectorised pass: (ok per table, row table ids, row ends, row values).

    Per byte only the varint boundaries are computed; values are assembled per
    varint (most are one byte; at most 5 in a valid table).
    """
    seg_off = np.arange(k + 1, dtype=np.int64) * width
    total = k * width
    is_start = np.empty(total, bool)
    is_start[0] = True
    np.less(b[:-1], 0x80, out=is_start[1:])
    is_start[seg_off[:-1]] = True
    vstart = np.flatnonzero(is_start)
    del is_start
    vend = np.empty(len(vstart), np.int64)  # exclusive
    vend[:-1] = vstart[1:]
    vend[-1:] = total
    vlen = vend - vstart
    complete = (b[vend - 1] < 0x80) & (vlen <= MAX_VARINT_BYTES)
    val = (b[vstart] & 0x7F).astype(np.int64)
    more = np.flatnonzero(vlen > 1)
    for i in range(1, MAX_VARINT_BYTES):
        if not len(more):
            break
        val[more] |= (b[vstart[more] + i] & 0x7F).astype(np.int64) << (7 * i)
        more = more[vlen[more] > i + 1]
    # table of each varint (windows have a power-of-two width; every window
    # starts a varint)
    nv = len(vstart)
    vseg = vstart >> (width.bit_length() - 1) if width & (width - 1) == 0 else vstart // width
    first_v = np.searchsorted(vstart, seg_off[:-1])
    j = np.arange(nv, dtype=np.int64) - first_v[vseg]
    par = j & 1
    # The table ends at a zero value delta on any pair after the first.
    cand = np.flatnonzero((j >= 2) & (par == 0) & (val == 0))
    tpos = np.full(k, -1, np.int64)
    if len(cand):
        cs = vseg[cand]  # sorted: the first candidate of each table
        first = np.ones(len(cs), bool)
        first[1:] = cs[1:] != cs[:-1]
        tpos[cs[first]] = cand[first]
    has_term = tpos >= 0
    bad = np.cumsum(~complete)
    bad_before = np.where(first_v > 0, bad[np.maximum(first_v - 1, 0)], 0)
    ok = has_term.copy()
    if bool(has_term.any()):
        ok[has_term] = bad[tpos[has_term]] - bad_before[has_term] == 0
    keep = ok[vseg] & (np.arange(nv) < tpos[vseg])
    even = keep & (par == 0)
    odd = keep & (par == 1)
    vd = val[even]
    pd = val[odd] * quantum
    rowseg = vseg[even]
    zig = zigzag(vd)
    nrow = np.bincount(rowseg, minlength=k)
    seg_first_row = np.zeros(k, np.int64)
    seg_first_row[1:] = np.cumsum(nrow)[:-1]
    first_row = seg_first_row[rowseg]
    cz = np.cumsum(zig)
    cp = np.cumsum(pd)
    values = cz - (cz[first_row] - zig[first_row]) - 1
    ends = cp - (cp[first_row] - pd[first_row])
    return ok, rowseg, ends, values


def uvarints(u8: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The uvarint at each position (at most 5 bytes; bytes past the data read
    as 0, which ends a varint)."""
    n = len(u8)
    b = u8[np.minimum(pos, n - 1)].astype(np.int64)
    b[pos >= n] = 0
    value = b & 0x7F
    sel = np.flatnonzero(b >= 0x80)  # only multi-byte varints read on
    for k in range(1, MAX_VARINT_BYTES):
        if not len(sel):
            break
        at = pos[sel] + k
        b = np.where(at < n, u8[np.minimum(at, n - 1)], 0).astype(np.int64)
        value[sel] |= (b & 0x7F) << (7 * k)
        sel = sel[b >= 0x80]
    return value


def first_values(u8: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Value of the first row of the tables at u8[starts] (-2 where a start is
    0, i.e. no table): -1 plus the first zig-zag delta."""
    starts = np.asarray(starts, np.int64)
    present = starts != 0
    value = zigzag(uvarints(u8, np.where(present, starts, 0))) - 1
    return np.where(present, value, -2)


class ValueLookup:
    """Answers many (table, pc offset) queries over one set of tables.

    Built by :func:`lookup_tables`: few tables are decoded one by one with the
    reference decoder (numpy's per-call overhead would dominate), many with
    :func:`decode_batch`; either way each distinct table once.
    """

    def lookup(self, offs: np.ndarray, pcoffs: np.ndarray) -> np.ndarray:
        """Values (int64) at pcoffs; MISSING where the table is absent (offset
        0) or ends earlier."""
        raise NotImplementedError


MISSING = -(1 << 63)  # "no value" in lookup results (np.iinfo(np.int64).min)


class _ScalarLookup(ValueLookup):
    def __init__(self, rows_of) -> None:
        self.rows_of = rows_of  # table offset -> Rows

    def lookup(self, offs: np.ndarray, pcoffs: np.ndarray) -> np.ndarray:
        out = np.full(len(offs), MISSING, np.int64)
        sel = np.flatnonzero(offs != 0)
        if not len(sel):
            return out
        rows_of = self.rows_of
        vals = []
        for o, p in zip(offs[sel].tolist(), pcoffs[sel].tolist()):
            v = rows_of(o).value_at(p)
            vals.append(MISSING if v is None else v)
        out[sel] = np.array(vals, np.int64)
        return out


class _BatchLookup(ValueLookup):
    def __init__(self, uniq: np.ndarray, rows: BatchRows) -> None:
        self.uniq = uniq
        self.ptr = rows.ptr
        # Rows of table k are ends[ptr[k]:ptr[k+1]], increasing: (k, end) keys
        # are sorted over all tables.
        rowtab = np.repeat(np.arange(len(uniq), dtype=np.int64), np.diff(rows.ptr))
        self.keys = (rowtab << 33) + rows.ends
        self.values = rows.values

    def lookup(self, offs: np.ndarray, pcoffs: np.ndarray) -> np.ndarray:
        out = np.full(len(offs), MISSING, np.int64)
        sel = np.flatnonzero(offs != 0)
        if not len(sel):
            return out
        o = offs[sel].astype(np.int64)
        p = pcoffs[sel].astype(np.int64)
        # searchsorted walks sorted needles much faster (each search starts
        # where the previous one ended): sort the queries by (table offset,
        # pc offset) once, which orders both searches; any order of equal
        # keys will do, so the (faster) unstable sort.
        if int(p.min()) >= 0 and int(p.max()) < 1 << 31 and int(o.max()) < 1 << 32:
            order = np.argsort((o << 31) | p)
            k = np.empty(len(o), np.int64)
            k[order] = np.searchsorted(self.uniq, o[order])
            q = (k << 33) + p
        else:
            k = np.searchsorted(self.uniq, o)
            q = (k << 33) + p
            order = np.argsort(q)
        i = np.empty(len(q), np.int64)
        i[order] = np.searchsorted(self.keys, q[order], side="right")
        ok = i < self.ptr[k + 1]
        res = np.full(len(sel), MISSING, np.int64)
        res[ok] = self.values[i[ok]]
        out[sel] = res
        return out


def lookup_tables(offs: np.ndarray, spans: np.ndarray, rows_of, decode_many,
                  queries: int | None = None, small_batch: int = 48) -> ValueLookup:
    """A :class:`ValueLookup` over the distinct non-zero tables among ``offs``
    (``spans``: the size of the function each belongs to).

    ``rows_of(off, span)`` decodes one table (cached, reference decoder);
    ``decode_many(sorted distinct offs)`` decodes many (:class:`BatchRows`).
    Below ``small_batch`` distinct tables (and 8x as many queries) the first is
    used: measured ~2x faster there, slower above.
    """
    present = offs != 0
    offs_p = offs[present].astype(np.int64)
    uniq = sorted_unique(offs_p)
    queries = len(offs_p) if queries is None else queries
    if len(uniq) <= small_batch and queries <= 8 * small_batch:
        span_of: dict[int, int] = {}
        for o, sp in zip(offs_p.tolist(), spans[present].tolist()):
            if sp > span_of.get(o, -1):
                span_of[o] = sp
        return _ScalarLookup(lambda o: rows_of(o, span_of[o]))
    return _BatchLookup(uniq, decode_many(uniq))


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique(a) for a 1-d array. (np.unique without return_inverse imports
    numpy.ma on first use, ~12 ms of a short run.)"""
    s = np.sort(a)
    if len(s) > 1:
        s = s[np.concatenate(([True], s[1:] != s[:-1]))]
    return s


def rows_from_pairs(pairs: Sequence[tuple[int, int]]) -> Rows:
    """Rows from (end offset, value) pairs."""
    return Rows(tuple(e for e, _ in pairs), tuple(v for _, v in pairs))
