"""Block formatting: a block of rows formatted with one ``bytes %``.

400k rows formatted one at a time cost seconds. The renderers format a block
of rows with one ``bytes %`` over a repeated row format (the loop runs in C)
and pick the per-row pieces from numpy columns; only the rare names that need
escaping or decoding go through Python one by one.
"""

from __future__ import annotations

from typing import Any, Sequence

from .._lazy import np
from . import json_bytes_str

BLOCK_ROWS = 1 << 15  # rows per formatted block: bounds the temporary lists

# Byte classes, as the bytes they hold:
# what json_bytes_str escapes or decodes (_NEEDS_ESCAPE's class, without NUL),
_JSON_SPECIAL = bytes(range(0x01, 0x20)) + b'"\\' + bytes(range(0x7F, 0x100))
_NON_ASCII = bytes(range(0x80, 0x100))
# and the last bytes after which str.rstrip() may strip something: ASCII
# whitespace and controls, and any non-ASCII (U+0085, U+00A0, U+3000 ...).
_TRAILING_SPECIAL = bytes(range(0x21)) + _NON_ASCII


def _unmarked(marked: bytes) -> bytes:
    return bytes(i for i in range(256) if i not in marked)


# bytes.translate(None, delete=...) tables: what is left are the marked bytes.
KEEP_JSON = _unmarked(_JSON_SPECIAL)
KEEP_TEXT = _unmarked(_NON_ASCII)


def lut(marked: bytes) -> np.ndarray:
    """A 256-entry boolean table of the marked bytes (for indexing with byte arrays)."""
    table = np.zeros(256, bool)
    table[np.frombuffer(marked, np.uint8)] = True
    return table


def trailing_special() -> np.ndarray:
    """lut() of the bytes after which str.rstrip() may strip something."""
    return lut(_TRAILING_SPECIAL)


def _rows_matching(items: list[bytes], marked_bytes: bytes) -> list[int]:
    """Indices of the items holding one of the marked bytes (never NUL)."""
    blob = b"\0".join(items)
    keep = KEEP_JSON if marked_bytes is _JSON_SPECIAL else KEEP_TEXT \
        if marked_bytes is _NON_ASCII else _unmarked(marked_bytes)
    marked = blob.translate(None, keep)
    if not marked:
        return []  # one C pass: the common case, no such byte anywhere
    if len(marked) <= 64:
        hits = []  # a few: find them with memchr
        for c in set(marked):
            pos = blob.find(c)
            while pos >= 0:
                hits.append(pos)
                pos = blob.find(c, pos + 1)
        hits = np.asarray(hits, np.int64)
    else:
        hits = np.flatnonzero(lut(marked_bytes)[np.frombuffer(blob, np.uint8)])
    lengths = np.fromiter(map(len, items), np.int64, len(items))
    ends = np.cumsum(lengths + 1) - 1
    # (not np.unique: without return_inverse it imports numpy.ma, ~25 ms)
    return sorted(set(np.searchsorted(ends, hits).tolist()))


def json_inner(items: list[bytes]) -> list[bytes]:
    """json_bytes_str(x) without its quotes, for many raw byte strings at once."""
    out = items
    for a in range(0, len(items), BLOCK_ROWS):  # blocks keep the joined copies small
        rows = _rows_matching(items[a:a + BLOCK_ROWS], _JSON_SPECIAL)
        if rows and out is items:
            out = list(items)
        for i in rows:
            out[a + i] = json_bytes_str(items[a + i])[1:-1]
    return out


def text_last_column(items: list[bytes]) -> list[bytes] | None:
    """Items as the last column of a write_table line (decoded with replacement,
    the line right-stripped). None if one strips to nothing: the stripping would
    then reach the padding of the columns before it (use write_table)."""
    out = items
    for a in range(0, len(items), BLOCK_ROWS):
        block = items[a:a + BLOCK_ROWS]
        lengths = np.fromiter(map(len, block), np.int64, len(block))
        if not lengths.all():
            return None
        last = np.frombuffer(b"".join(block), np.uint8)[np.cumsum(lengths) - 1]
        rows = set(_rows_matching(block, _NON_ASCII))
        rows.update(np.flatnonzero(trailing_special()[last]).tolist())
        if rows and out is items:
            out = list(items)
        for i in sorted(rows):
            text = block[i].decode("utf-8", "replace").rstrip()
            if not text:
                return None
            out[a + i] = text.encode("utf-8", "replace")
    return out


def pick(pieces: Sequence[Any], codes: np.ndarray) -> list:
    """[pieces[c] for c in codes], without a Python loop."""
    return list(map(pieces.__getitem__, codes.tolist()))


def int_width(values: np.ndarray, hex: bool = False) -> int:
    """Characters of the widest of str(v) (or f"{v:#x}") over values."""
    if not len(values):
        return 0
    lo, hi = int(values.min()), int(values.max())
    if hex:
        return max(len(f"{lo:#x}"), len(f"{hi:#x}"))
    return max(len(str(lo)), len(str(hi)))


def interleave(columns: Sequence[list]) -> tuple:
    """Row-major flattening of equally long columns: the arguments of fmt * n.

    Strided slice assignment into one list (a C loop per column) is 3-4x faster
    than chaining the zipped rows, which makes a tuple per row."""
    m = len(columns)
    if not m:
        return ()
    flat = [None] * (m * len(columns[0]))
    for i, c in enumerate(columns):
        flat[i::m] = c
    return tuple(flat)


