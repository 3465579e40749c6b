"""Stack frame sizes for every function, from the pcsp tables.

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

from dataclasses import dataclass

import numpy as np

from . import pcvalue
from .binary import RETURN_ADDRESS_SLOT, GoBinary


@dataclass(frozen=True)
class PcspRanges:
    """The sp_delta ranges of every selected function, decoded in one batch.

    Function i's ranges are rows first[i]:first[i] + count[i] of (start, end,
    value), offsets from its entry: what sp_delta_ranges gives, minus the entry.
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
    # Batch-decoded ranges; None when some table needs the one-by-one decoder
    # (malformed, or running past a function sharing it: sp_delta_ranges raises).
    ranges: PcspRanges | None = None


def frame_table(b: GoBinary, indices: np.ndarray) -> FrameTable:
    t = b.table
    pcsp = t.column("pcsp", indices)
    entries = t.entries
    starts = entries[indices]
    ends = entries[indices + 1]
    sizes = (ends - starts).astype(np.int64)
    uniq, inverse = np.unique(pcsp, return_inverse=True)
    inverse = inverse.reshape(-1)
    # The span bound of a shared table: the largest function using it.
    spans = np.zeros(len(uniq), np.int64)
    np.maximum.at(spans, inverse, sizes)
    table_max = np.zeros(len(uniq), np.int64)
    ranges = None
    nz = uniq != 0
    batch = t.decode_many(uniq[nz], spans[nz])
    if batch is None:
        for k, (off, span) in enumerate(zip(uniq.tolist(), spans.tolist())):
            if off == 0:
                continue
            rows = t._decode(off, span)
            if rows:
                table_max[k] = max(0, max(v for _, v in rows))
    else:
        row_start, row_pc, row_val = batch
        ks = np.flatnonzero(nz)
        counts = np.diff(row_start)
        has = counts > 0
        if has.any():
            table_max[ks[has]] = np.maximum(
                np.maximum.reduceat(row_val, row_start[:-1][has]), 0)
        ranges = _ranges(ks, row_start, row_pc, row_val, len(uniq), inverse, sizes)
    maxima = table_max[inverse]
    slot = RETURN_ADDRESS_SLOT[b.arch]
    return FrameTable(indices, starts, ends, maxima, maxima + slot,
                      t.column("args", indices), t.column("flag", indices), pcsp, ranges)


def _ranges(ks: np.ndarray, row_start: np.ndarray, row_pc: np.ndarray, row_val: np.ndarray,
            nuniq: int, inverse: np.ndarray, sizes: np.ndarray) -> PcspRanges | None:
    """Per-function ranges from decoded rows: rows covering no PC are dropped (as
    sp_delta_ranges drops them); None if a table runs past a function using it."""
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
    last_pc = np.zeros(nuniq, np.int64)
    has = np.diff(row_start) > 0
    last_pc[ks[has]] = row_pc[row_start[1:][has] - 1]
    if bool((last_pc[inverse] > sizes).any()):
        return None
    return PcspRanges(kfirst[inverse], kcount[inverse], prev[keep], row_pc[keep], row_val[keep])


def sp_delta_ranges(b: GoBinary, index: int, entry: int, pcsp_off: int,
                    span: int) -> list[tuple[int, int, int]]:
    """[start_pc, end_pc, sp_delta] rows from entry to where the table ends."""
    if pcsp_off == 0:
        return []
    return list(pcvalue.ranges(b.table._decode(pcsp_off, span), entry))
