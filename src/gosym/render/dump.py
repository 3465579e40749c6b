"""A goroutine dump re-printed (``gosym symbolize`` of a dump): the runtime's
format (runtime/traceback.go traceback2, printcreatedby1, goroutineheader), and
gosym's additions after ``  # `` at the end of each frame's location line."""

from __future__ import annotations

from ..dump import DumpFrame, Reprinted
from . import Output


def _frame(f: DumpFrame) -> str:
    if f.non_go:
        return f"non-Go function at pc={f.pc:#x}\n"
    loc = f"\t{f.file or '?'}:{f.line if f.line is not None else 0}"
    if f.offset is not None:
        loc += f" +{f.offset:#x}"
    if f.fp is not None or f.pc is not None:
        loc += f" fp={f.fp:#x} sp={f.sp:#x} pc={f.pc:#x}" if f.fp is not None else \
            f" pc={f.pc:#x}"
    notes = []
    if f.inlined:
        notes.append("inlined")
    elif f.frame_bytes is not None:
        notes.append(f"{f.frame_bytes} bytes")
    if f.differs:
        notes.append(f"differs: {f.differs}")
    if notes:
        loc += "  # " + "; ".join(notes)
    return f"{f.function}({'' if f.args is None else f.args})\n{loc}\n"


def write_dump(out: Output, r: Reprinted) -> None:
    lines = r.lines
    by_start = {g.record.line_no: g for g in r.goroutines}
    i = 1  # 1-based line numbers
    text = []
    while i <= len(lines):
        g = by_start.get(i)
        if g is None:
            text.append(lines[i - 1] + "\n")
            i += 1
            continue
        rec = g.record
        text.append(rec.header + "\n")
        if rec.stack_unavailable:
            text.append("\tgoroutine running on other thread; stack unavailable\n")
        for k, f in enumerate(g.frames):
            if k == g.elided_at:
                text.append(f"...{rec.elided_frames} frames elided...\n")
            text.append(_frame(f))
        if g.elided_at is not None and g.elided_at >= len(g.frames):
            text.append(f"...{rec.elided_frames} frames elided...\n")
        if rec.additional_frames_elided:
            text.append("...additional frames elided...\n")
        c = g.created_by
        if c is not None:
            loc = f"\t{c.file or '?'}:{c.line if c.line is not None else 0}"
            if c.offset is not None:
                loc += f" +{c.offset:#x}"
            if c.differs:
                loc += f"  # differs: {c.differs}"
            goid = rec.created_by.goroutine
            text.append(f"created by {c.function}" +
                        (f" in goroutine {goid}" if goid is not None else "") + f"\n{loc}\n")
        i = rec.end_line
    out.write("".join(text).encode("utf-8", "replace"))
