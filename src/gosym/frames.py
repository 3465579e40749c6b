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

from .binary import RETURN_ADDRESS_SLOT, GoBinary


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


def frame_table(b: GoBinary, indices: np.ndarray) -> FrameTable:
    t = b.table
    pcsp = t.column("pcsp", indices)
    entries = t.entries
    starts = entries[indices]
    ends = entries[indices + 1]
    maxima = np.zeros(len(indices), np.int64)
    uniq, inverse = np.unique(pcsp, return_inverse=True)
    # The span bound of a shared table: the largest function using it.
    spans = np.zeros(len(uniq), np.int64)
    np.maximum.at(spans, inverse, (ends - starts).astype(np.int64))
    table_max = np.zeros(len(uniq), np.int64)
    for k, (off, span) in enumerate(zip(uniq.tolist(), spans.tolist())):
        if off == 0:
            continue
        rows = t._decode(off, span)
        if rows:
            table_max[k] = max(0, max(v for _, v in rows))
    maxima = table_max[inverse]
    slot = RETURN_ADDRESS_SLOT[b.arch]
    return FrameTable(indices, starts, ends, maxima, maxima + slot,
                      t.column("args", indices), t.column("flag", indices), pcsp)


def sp_delta_ranges(b: GoBinary, index: int, entry: int, pcsp_off: int,
                    span: int) -> list[tuple[int, int, int]]:
    """[start_pc, end_pc, sp_delta] rows from entry to where the table ends."""
    if pcsp_off == 0:
        return []
    out = []
    start = entry
    for end, value in b.table._decode(pcsp_off, span):
        if entry + end > start:
            out.append((start, entry + end, value))
        start = entry + end
    return out
