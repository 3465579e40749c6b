"""Rendering: every output format of every command lives in this package.

This module holds what the formats share: one buffered binary writer, aligned
text tables, streamed JSON arrays, CSV, and block formatting (a block of rows
formatted with one ``bytes %``). Data goes to stdout as bytes; JSON arrays are
streamed so memory stays flat on 400k-function binaries. The modules beside it
render one command's results each.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from typing import Any, Iterable, Sequence


_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')


def json_bytes_str(raw: bytes) -> bytes:
    """A JSON string literal for raw UTF-8 bytes; only unusual names pay for json.dumps."""
    if _NEEDS_ESCAPE.search(raw) is None:
        return b'"' + raw + b'"'
    return json.dumps(raw.decode("utf-8", "replace"), ensure_ascii=False).encode()


def json_value(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode()


class Output:
    """Buffered binary stdout."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size > 1 << 20:
            self.flush()

    def write_buffer(self, data) -> None:
        """Write a large bytes-like object (e.g. a numpy uint8 array) without copying it."""
        if self.parts:
            self.stream.write(b"".join(self.parts))
            self.parts.clear()
            self.size = 0
        self.stream.write(data)

    def flush(self) -> None:
        if self.parts:
            self.stream.write(b"".join(self.parts))
            self.parts.clear()
            self.size = 0
        self.stream.flush()


class JsonArray:
    """Streams a JSON array: ``[`` + elements separated by ``,\n`` + ``]``,
    elements given one at a time (:meth:`add`, pre-encoded) or as blocks of
    rows each starting with ``,\n`` (:meth:`add_block`; the very first comma
    is dropped)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.count = 0

    def __enter__(self) -> "JsonArray":
        self.out.write(b"[")
        return self

    def add(self, element: bytes) -> None:
        self.out.write(b"\n" + element if self.count == 0 else b",\n" + element)
        self.count += 1

    def add_block(self, block, rows: int) -> None:
        if not rows:
            return
        self.out.write_buffer(memoryview(block)[1:] if self.count == 0 else block)
        self.count += rows

    def __exit__(self, *exc) -> None:
        self.out.write(b"\n]\n" if self.count else b"]\n")


def write_json(out: Output, value: Any, indent: int = 1) -> None:
    """One JSON document (an object or array built in memory) and a newline."""
    out.write(json.dumps(value, indent=indent).encode() + b"\n")


def write_table(out: Output, headers: Sequence[str], rows: Iterable[Sequence[Any]],
                align_right: Sequence[bool] | None = None) -> None:
    """An aligned plain-text table; the last column is left unpadded."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r[:-1]):
            if len(c) > widths[i]:
                widths[i] = len(c)
    right = align_right or [False] * len(headers)

    def line(cells: Sequence[str]) -> bytes:
        parts = []
        for i, c in enumerate(cells):
            if i == len(cells) - 1:
                parts.append(c)
            elif right[i]:
                parts.append(c.rjust(widths[i]))
            else:
                parts.append(c.ljust(widths[i]))
        return ("  ".join(parts).rstrip() + "\n").encode("utf-8", "replace")

    out.write(line(headers))
    for r in rows:
        out.write(line(r))


def write_csv(out: Output, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for i, r in enumerate(rows):
        writer.writerow(r)
        if i % 4096 == 4095:
            out.write(buf.getvalue().encode())
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue().encode())


def table_line(headers: Sequence[str], widths: Sequence[int],
               align_right: Sequence[bool]) -> bytes:
    """The header line of write_table for known column widths."""
    parts = []
    for i, c in enumerate(headers):
        if i == len(headers) - 1:
            parts.append(c)
        elif align_right[i]:
            parts.append(c.rjust(widths[i]))
        else:
            parts.append(c.ljust(widths[i]))
    return ("  ".join(parts).rstrip() + "\n").encode("utf-8", "replace")
