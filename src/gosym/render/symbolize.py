"""``gosym symbolize`` output: frames as Go tracebacks print them, JSON, addr2line.

A result of the batch resolver carries its frames as columns
(:class:`gosym.pcbatch.FrameColumns`); text is then made from the columns a
block of frames at a time, without a Python object per frame. Results of the
scalar unwinder (and of the frame-by-frame walk) carry Frame objects. Both
paths give the same bytes (tests/test_render.py holds them equal).
"""

from __future__ import annotations

import json
import re
from typing import Iterator

from ..callframes import CallFrames, Frame
from . import Output

_JSON_SPECIAL = re.compile(r'[\x00-\x1f"\\]')
_JSON_UNKNOWN_FRAME = ('{"function": "?", "file": null, "line": null, "entry": null, '
                       '"inlined": false}')
_CHUNK = 1 << 14  # frames formatted per piece


def write_symbolized(out: Output, result: CallFrames, fmt: str, back: int = 1,
                     fast: bool = True) -> None:
    """``fmt``: "go" (traceback text; ``back``: 1 when the PCs were return
    addresses, 0 when exact), "json" or "addr2line"."""
    cols = result.columns if fast else None
    if fmt == "json":
        count = 0
        out.write(b"[")
        for elems in (_json_columns(cols) if cols is not None else _json_frames(result)):
            if elems:
                sep = "\n" if count == 0 else ",\n"
                out.write((sep + ",\n".join(elems)).encode("utf-8", "replace"))
                count += len(elems)
        out.write(b"\n]\n" if count else b"]\n")
        return
    if fmt == "addr2line":
        pieces = _addr2line_columns(cols) if cols is not None else _addr2line_frames(result)
    else:
        pieces = _go_columns(cols, back) if cols is not None else _go_frames(result, back)
    for text in pieces:
        out.write(text.encode("utf-8", "replace"))


# --- from Frame objects -------------------------------------------------------------------

def go_frame_text(f: Frame, back: int) -> str:
    """One frame as Go tracebacks print it: "name()\\n\\tfile:line +0xoff pc=0x..."
    for physical frames (the PC printed is the return address: the frame's pc +
    back past the entry), "name(...)\\n\\tfile:line (inlined)" for inlined ones,
    "?\\n\\t?:0 pc=0x..." outside every function."""
    if f.entry is None:
        return f"?\n\t?:0 pc={f.pc:#x}\n"
    if f.inlined:
        return f"{f.function}(...)\n\t{f.file or '?'}:{f.line or 0} (inlined)\n"
    ret = f.pc + back if f.pc > f.entry else f.pc
    return f"{f.function}()\n\t{f.file or '?'}:{f.line or 0} +{ret - f.entry:#x} pc={ret:#x}\n"


def _go_frames(result: CallFrames, back: int) -> Iterator[str]:
    yield "".join(go_frame_text(f, back) for fs in result.frames for f in fs)


def _addr2line_frames(result: CallFrames) -> Iterator[str]:
    yield "".join(f"{f.function}\n{f.file or '?'}:{f.line or 0}\n"
                  for fs in result.frames for f in fs)


def json_str(s: str) -> str:
    """A JSON string literal (non-ASCII kept as is, like json.dumps(ensure_ascii=False))."""
    if _JSON_SPECIAL.search(s) is None:
        return '"' + s + '"'
    return json.dumps(s, ensure_ascii=False)


def _json_frame(f: Frame) -> str:
    return (f'{{"function": {json_str(f.function)}, '
            f'"file": {"null" if f.file is None else json_str(f.file)}, '
            f'"line": {"null" if f.line is None else f.line}, '
            f'"entry": {"null" if f.entry is None else f.entry}, '
            f'"inlined": {"true" if f.inlined else "false"}}}')


def _json_frames(result: CallFrames) -> Iterator[list[str]]:
    """JSON objects ``{"pc": N, "frames": [{"function", "file", "line",
    "entry", "inlined"}, ...]}``, one per input PC in input order."""
    yield [f'{{"pc": {pc}, "frames": [{", ".join(_json_frame(f) for f in fs)}]}}'
           for pc, fs in zip(result.pcs, result.frames)]


# --- from the columns ---------------------------------------------------------------------

def _objects(items: list):
    from ..pcbatch import objects
    return objects(items)


def _json_columns(cols) -> Iterator[list[str]]:
    import numpy as np

    from ..pcvalue import MISSING
    ch, sel, pcs, slide = cols.ch, cols.sel, cols.pcs, cols.slide
    n = len(pcs)
    names = ch.names
    if _JSON_SPECIAL.search("".join(names)) is None:
        heads = ['{"function": "' + nm + '", "file": ' for nm in names]
    else:
        heads = ['{"function": ' + json_str(nm) + ', "file": ' for nm in names]
    files = _objects(["null, \"line\": " if f is None else json_str(f) + ', "line": '
                      for f in ch.files])
    heads_o = _objects(heads)
    b = cols.bounds()
    valid = ch.valid.tolist()
    for r0 in range(0, n, _CHUNK):
        r1 = min(n, r0 + _CHUNK)
        lo, hi = b[r0], b[r1]
        s = sel[lo:hi]
        line = ch.line[s]
        lines = line.tolist()
        if bool((line == MISSING).any()):
            lines = ["null" if v == MISSING else v for v in lines]
        fs = [f'{h}{f}{v}, "entry": {e}, "inlined": {i}}}' for h, f, v, e, i in zip(
            heads_o[ch.name_code[s]].tolist(), files[ch.file_code[s]].tolist(), lines,
            (ch.entry[cols.row[lo:hi]] + slide).tolist(),
            np.where(ch.inlined[s], "true", "false").tolist())]
        out = []
        for i in range(r0, r1):
            a, z = b[i] - lo, b[i + 1] - lo
            if not valid[i]:
                body = _JSON_UNKNOWN_FRAME
            elif z - a == 1:
                body = fs[a]
            else:
                body = ", ".join(fs[a:z])
            out.append(f'{{"pc": {pcs[i]}, "frames": [{body}]}}')
        yield out


def _go_columns(cols, back: int) -> Iterator[str]:
    import numpy as np

    from ..pcvalue import MISSING
    ch, sel, slide = cols.ch, cols.sel, cols.slide
    names = _objects(ch.names)
    files = _objects([f"{f or '?'}:" for f in ch.files])
    for lo, hi, unknown in cols.pieces(_CHUNK):
        if unknown is not None:
            yield f"?\n\t?:0 pc={unknown:#x}\n"
            continue
        s = sel[lo:hi]
        line = ch.line[s]
        pc = ch.pc[s] + slide
        entry = ch.entry[cols.row[lo:hi]] + slide
        ret = np.where(pc > entry, pc + back, pc)
        yield "".join([
            f"{n}(...)\n\t{f}{v} (inlined)\n" if i else
            f"{n}()\n\t{f}{v} +{o:#x} pc={r:#x}\n"
            for n, f, v, i, o, r in zip(
                names[ch.name_code[s]].tolist(), files[ch.file_code[s]].tolist(),
                np.where(line == MISSING, 0, line).tolist(), ch.inlined[s].tolist(),
                (ret - entry).tolist(), ret.tolist())])


def _addr2line_columns(cols) -> Iterator[str]:
    import numpy as np

    from ..pcvalue import MISSING
    ch, sel = cols.ch, cols.sel
    names = _objects(ch.names)
    files = _objects([f"{f or '?'}:" for f in ch.files])
    for lo, hi, unknown in cols.pieces(_CHUNK):
        if unknown is not None:
            yield "?\n?:0\n"
            continue
        s = sel[lo:hi]
        line = ch.line[s]
        yield "".join([f"{n}\n{f}{v}\n" for n, f, v in zip(
            names[ch.name_code[s]].tolist(), files[ch.file_code[s]].tolist(),
            np.where(line == MISSING, 0, line).tolist())])
