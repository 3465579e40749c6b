"""Output helpers shared by the commands: aligned tables, streamed JSON, CSV.

Data goes to stdout as bytes through one buffered writer; JSON arrays are
streamed element by element so memory stays flat on 400k-function binaries.
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

    def flush(self) -> None:
        if self.parts:
            self.stream.write(b"".join(self.parts))
            self.parts.clear()
            self.size = 0
        self.stream.flush()


class JsonArrayWriter:
    """Writes ``[elem,\\n elem, ...]`` one pre-encoded element at a time."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.count = 0

    def __enter__(self) -> "JsonArrayWriter":
        self.out.write(b"[")
        return self

    def add(self, element: bytes) -> None:
        self.out.write(b"\n" + element if self.count == 0 else b",\n" + element)
        self.count += 1

    def __exit__(self, *exc) -> None:
        self.out.write(b"\n]\n" if self.count else b"]\n")


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
