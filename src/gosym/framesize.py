"""Stack frame sizes of every function, from the pcsp tables.

Definitions (runtime/traceback.go):

* ``sp_delta`` at a PC is the pcsp table's value there: bytes SP has moved
  below its value at function entry.
* ``max_sp_delta`` is the largest ``sp_delta`` over the function (never below 0).
* ``frame_size`` is the bytes the frame occupies between the function's deepest
  SP and its caller's SP: ``max_sp_delta`` plus the return-address slot on
  architectures whose CALL pushes one (amd64: 8); on arm64 the saved LR is
  inside ``max_sp_delta``. A stack-memory profile adds these up.

Big binaries have few distinct pcsp tables (410k functions share ~8k), so each
distinct table is decoded once and shared.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import pcvalue
from ._lazy import np
from .pclntab import unique_inverse

if TYPE_CHECKING:
    from .binary import GoBinary


@dataclass(frozen=True)
class PcspRanges:
    """The sp_delta ranges of every selected function, decoded in one batch.

    Function i's ranges are rows first[i]:first[i] + count[i] of (start, end,
    value), offsets from its entry: what :func:`sp_delta_ranges` gives, minus
    the entry.
    """

    first: np.ndarray
    count: np.ndarray
    start: np.ndarray
    end: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class FrameTable:
    """Per-function frame facts for a selection of functions (parallel arrays)."""

    indices: np.ndarray  # function indices into the table
    entries: np.ndarray
    ends: np.ndarray
    max_sp_delta: np.ndarray
    frame_size: np.ndarray
    args: np.ndarray
    flags: np.ndarray
    pcsp: np.ndarray  # pcsp table offsets (0 = none)
    ranges: PcspRanges
    nosplit: np.ndarray | None = None  # no stack-bound check; None: not decided

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, order: np.ndarray) -> "FrameTable":
        """The rows ``order`` of this table, in that order."""
        r = self.ranges
        return FrameTable(self.indices[order], self.entries[order], self.ends[order],
                          self.max_sp_delta[order], self.frame_size[order], self.args[order],
                          self.flags[order], self.pcsp[order],
                          replace(r, first=r.first[order], count=r.count[order]),
                          None if self.nosplit is None else self.nosplit[order])

    def sp_delta_ranges(self, k: int) -> list[tuple[int, int, int]]:
        """[start_pc, end_pc, sp_delta] rows of row k, from its entry to where its
        table ends."""
        r = self.ranges
        e, f, c = int(self.entries[k]), int(r.first[k]), int(r.count[k])
        return [(e + s, e + x, v) for s, x, v in zip(r.start[f:f + c].tolist(),
                                                     r.end[f:f + c].tolist(),
                                                     r.value[f:f + c].tolist())]


def frame_table(b: GoBinary, indices: np.ndarray) -> FrameTable:
    """Frame sizes and pcsp ranges of the functions ``indices`` (in that order)."""
    t = b.table
    indices = np.asarray(indices, np.int64)
    pcsp = t.column("pcsp", indices)
    entries = t.entries
    starts = entries[indices]
    ends = entries[indices + 1]
    sizes = (ends - starts).astype(np.int64)
    uniq, inverse = unique_inverse(pcsp)
    # The span bound of a shared table: the largest function using it.
    spans = np.zeros(len(uniq), np.int64)
    np.maximum.at(spans, inverse, sizes)
    nz = uniq != 0
    ks = np.flatnonzero(nz)
    rows = t.decode_tables(uniq[nz], spans[nz])
    table_max = np.zeros(len(uniq), np.int64)
    counts = np.diff(rows.ptr)
    has = counts > 0
    if has.any():
        table_max[ks[has]] = np.maximum(np.maximum.reduceat(rows.values, rows.ptr[:-1][has]), 0)
    # A table shared by functions of several sizes must fit the smallest too.
    last_end = np.zeros(len(uniq), np.int64)
    last_end[ks[has]] = rows.ends[rows.ptr[1:][has] - 1]
    over = np.flatnonzero(last_end[inverse] > sizes)
    if len(over):
        k = int(over[0])
        t.rows(int(pcsp[k]), int(sizes[k]))  # the reference decoder says what is wrong
    maxima = table_max[inverse]
    return FrameTable(indices, starts, ends, maxima, maxima + b.return_address_slot,
                      t.column("args", indices), t.column("flag", indices), pcsp,
                      _ranges(ks, rows, len(uniq), inverse))


def _ranges(ks: np.ndarray, rows: pcvalue.BatchRows, nuniq: int,
            inverse: np.ndarray) -> PcspRanges:
    """Per-function ranges from decoded rows: rows covering no PC are dropped (as
    pcvalue.ranges drops them)."""
    row_start, row_pc, row_val = rows.ptr, rows.ends, rows.values
    tab_of_row = np.repeat(np.arange(len(ks)), np.diff(row_start))
    prev = np.zeros(len(row_pc), np.int64)
    prev[1:] = row_pc[:-1]
    prev[row_start[:-1][np.diff(row_start) > 0]] = 0  # each table starts at offset 0
    keep = row_pc > prev
    kept_tab = tab_of_row[keep]
    kcount = np.zeros(nuniq, np.int64)
    kcount[ks] = np.bincount(kept_tab, minlength=len(ks))
    kfirst = np.zeros(nuniq, np.int64)
    kfirst[ks] = np.searchsorted(kept_tab, np.arange(len(ks)))
    return PcspRanges(kfirst[inverse], kcount[inverse], prev[keep], row_pc[keep], row_val[keep])


def nosplit_mask(b: GoBinary, indices: np.ndarray) -> np.ndarray | None:
    """True where the prologue has no stack-bound check; None if undecidable."""
    from .prologue import has_stack_check
    checks = has_stack_check(b, indices)
    return None if checks is None else ~checks


class _Background(threading.Thread):
    """fn(*args) on a thread of its own; result() waits and returns or raises."""

    def __init__(self, fn, *args) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.args = args
        self.value = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as e:  # re-raised in the caller's thread
            self.error = e

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def frame_report(b: GoBinary, indices: np.ndarray, sort_key: str = "size",
                 top: int | None = None) -> tuple[FrameTable, list[bytes] | None]:
    """The frame table of ``indices`` in output order (``sort_key``: "size"
    (largest first, then address), "name" or "addr"), cut to ``top`` rows, with
    nosplit decided for the rows kept; and the functions' names in output order
    when sorting by name needed them (else None)."""
    t = b.table
    scan = None
    if top is None:
        # Every selected function is listed: scan the prologues in address order
        # on a second thread while the pcsp tables decode (numpy releases the
        # GIL in the gathers and compares). What both threads read is loaded first.
        _ = (t.entries, t.u8, b.arch, b.container.sections)
        scan = _Background(nosplit_mask, b, indices)
    ft = frame_table(b, indices)
    names = None
    if sort_key == "size":
        order = np.lexsort((ft.entries, -ft.frame_size))
    elif sort_key == "name":
        names = t.names(indices)
        order = np.array(sorted(range(len(indices)),
                                key=lambda i: (names[i], int(ft.entries[i]))), dtype=np.int64)
    else:
        order = np.argsort(ft.entries, kind="stable")
    if top is not None:
        order = order[:top]
    nosplit = scan.result() if scan is not None else None
    ft = replace(ft, nosplit=nosplit).take(order)
    if scan is None:
        ft = replace(ft, nosplit=nosplit_mask(b, ft.indices))
    return ft, None if names is None else [names[i] for i in order.tolist()]


@dataclass(frozen=True)
class FrameAt:
    """The frame at one PC: its function, sp_delta and frame bytes (None outside
    every function or where the table has no value)."""

    pc: int
    function: str | None
    entry: int | None
    sp_delta: int | None
    frame_bytes: int | None


def frames_at(b: GoBinary, pcs: list[int]) -> list[FrameAt]:
    """The frame at each PC (file addresses, exact)."""
    out = []
    for pc in pcs:
        f = b.func_for_pc(pc)
        if f is None:
            out.append(FrameAt(pc, None, None, None, None))
        else:
            out.append(FrameAt(pc, f.name, f.entry, b.sp_delta(pc), b.frame_bytes(pc)))
    return out


@dataclass(frozen=True)
class FrameAt:
    """The frame at one PC: its function, sp_delta and frame bytes (None outside
    every function or where the table has no value)."""

    pc: int
    function: str | None
    entry: int | None
    sp_delta: int | None
    frame_bytes: int | None


def frames_at(b: GoBinary, pcs: list[int]) -> list[FrameAt]:
    """The frame at each PC (file addresses, exact)."""
    out = []
    for pc in pcs:
        f = b.func_for_pc(pc)
        if f is None:
            out.append(FrameAt(pc, None, None, None, None))
        else:
            out.append(FrameAt(pc, f.name, f.entry, b.sp_delta(pc), b.frame_bytes(pc)))
    return out


def sp_delta_ranges(b: GoBinary, index: int, entry: int, pcsp_off: int,
                    span: int) -> list[tuple[int, int, int]]:
    """[start_pc, end_pc, sp_delta] rows from entry to where the table ends."""
    if pcsp_off == 0:
        return []
    return list(pcvalue.ranges(b.table.rows(pcsp_off, span), entry))
