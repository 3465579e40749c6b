"""The pc-value table stepper shared by pcsp, pcfile, pcln and every pcdata table.

Encoding (runtime/symtab.go, ``step``): a table is a sequence of pairs
(value delta as a zig-zag uvarint, pc delta as a uvarint scaled by the PC
quantum). The value starts at -1 and the pc at the function entry. A value
applies while ``targetpc < pc``. A zero value delta on any pair after the first
ends the table.
"""

from __future__ import annotations

from typing import Iterator

from .errors import FormatError

# Every varint in a pc-value table fits in 32 bits, so 5 bytes at most.
_MAX_VARINT_BYTES = 5


def read_uvarint(data, pos: int, limit: int,
                 max_bytes: int = _MAX_VARINT_BYTES) -> tuple[int, int]:
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


def decode_table(data, off: int, quantum: int, limit: int | None = None,
                 max_pc_span: int | None = None) -> tuple[tuple[int, int], ...]:
    """Decode a whole table as ((end_pc_offset, value), ...) relative to the entry.

    Row i covers [end of row i-1, end of row i) (the first row starts at 0).
    ``max_pc_span`` bounds the table to the function's size, so corrupt data
    can't make it run away.
    """
    if limit is None:
        limit = len(data)
    if not 0 < off < limit:
        raise FormatError("pc-value table offset out of range", off)
    rows = []
    value = -1
    pc = 0
    pos = off
    first = True
    while True:
        uvdelta, pos = read_uvarint(data, pos, limit)
        if uvdelta == 0 and not first:
            break
        first = False
        # zig-zag: the low bit is the sign (runtime/symtab.go step)
        vdelta = -((uvdelta >> 1) + 1) if uvdelta & 1 else uvdelta >> 1
        pcdelta, pos = read_uvarint(data, pos, limit)
        pc += pcdelta * quantum
        value += vdelta
        if not -(1 << 31) <= value < (1 << 31):
            raise FormatError("pc-value table value out of range", pos)
        rows.append((pc, value))
        if max_pc_span is not None and pc > max_pc_span:
            raise FormatError("pc-value table extends past its function", off)
    return tuple(rows)


def value_at(rows: tuple[tuple[int, int], ...], pc_offset: int) -> int | None:
    """The value for a pc offset (from the entry), or None past the table's end."""
    # Tables are short on average; bisect over the end offsets.
    lo, hi = 0, len(rows)
    while lo < hi:
        mid = (lo + hi) // 2
        if rows[mid][0] <= pc_offset:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(rows):
        return rows[lo][1]
    return None


def ranges(rows: tuple[tuple[int, int], ...], entry: int) -> Iterator[tuple[int, int, int]]:
    """(start_pc, end_pc, value) for each row, in absolute addresses."""
    start = entry
    for end, value in rows:
        if entry + end > start:  # rows with a zero pc delta cover nothing
            yield start, entry + end, value
        start = entry + end
