"""``gosym stack`` output: per-frame bytes, the profilers' cuts, per package and module."""

from __future__ import annotations

from ..stack import StackReport, run_length
from . import Output, write_json, write_table

STACK_HELP = """Stack bytes per frame for the stack the PCs describe.

\b
Input as for `gosym symbolize` (innermost first, as runtime.Callers gives
it, or physical return addresses). Per logical frame: function, file:line,
whether inlined, the physical frame's bytes at that PC (pcsp sp_delta at the
call instruction, pc-1, as the runtime's unwinder looks it up, plus the
return-address slot on amd64; inlined frames share their physical frame and
add 0), cumulative bytes and depth. Wrappers the runtime elides are listed
(marked E) because they occupy stack, but are not counted as logical frames.

\b
Summary: logical and physical frame counts, total bytes, where Go's
profilers cut the stack (CPU 64 frames; memory/block/mutex 128 from Go 1.23,
32 before) and which frames they lose, and frames and bytes per package and
per module (from the binary's build info; "std" for the standard library).
"""


def write_stack(out: Output, rep: StackReport, fmt: str) -> None:
    """``fmt``: "text" or "json"."""
    if fmt == "json":
        doc = {
            "frames": [{"depth": f.depth, "pc": f.pc, "function": f.function, "file": f.file,
                        "line": f.line, "entry": f.entry, "inlined": f.inlined,
                        "elided": f.elided, "sp_delta": f.sp_delta,
                        "frame_bytes": f.frame_bytes, "cumulative": f.cumulative,
                        "package": f.package, "module": f.module} for f in rep.frames],
            "summary": {
                "logical_frames": rep.logical_frames,
                "physical_frames": rep.physical_frames,
                "total_bytes": rep.total_bytes,
                "unknown_pcs": rep.unknown_pcs,
                "profile_cuts": [{"profile": c.profile, "limit": c.limit, "kept": c.kept,
                                  "lost": len(c.lost),
                                  "lost_frames": [{"depth": f.depth, "function": f.function}
                                                  for f in c.lost]} for c in rep.cuts],
                "by_package": [{"package": g.name, "frames": g.frames, "bytes": g.bytes}
                               for g in rep.by_package],
                "by_module": [{"module": g.name, "frames": g.frames, "bytes": g.bytes}
                              for g in rep.by_module],
            },
        }
        write_json(out, doc)
        return
    write_table(out, ["depth", "bytes", "cumul", "mark", "function", "location"],
                ([("-" if f.depth is None else f.depth), f.frame_bytes, f.cumulative,
                  ("I" if f.inlined else "") + ("E" if f.elided else "") or "-",
                  f.function, f"{f.file or '?'}:{f.line or 0}"] for f in rep.frames),
                [True, True, True, False, False, False])
    lines = [f"\nlogical frames {rep.logical_frames}, physical frames {rep.physical_frames}, "
             f"total {rep.total_bytes} bytes"]
    for c in rep.cuts:
        if not c.lost:
            lines.append(f"{c.profile} profile ({c.limit} frames): complete")
        else:
            lost = ", ".join(n if k == 1 else f"{n} x{k}"
                             for n, k in run_length([f.function for f in c.lost]))
            lines.append(f"{c.profile} profile ({c.limit} frames): loses {len(c.lost)} "
                         f"outermost frames (depth {c.limit}..{c.limit + len(c.lost) - 1}): "
                         f"{lost}")
    out.write(("\n".join(lines) + "\n\n").encode())
    write_table(out, ["frames", "bytes", "package"],
                ([g.frames, g.bytes, g.name] for g in rep.by_package), [True, True, False])
    out.write(b"\n")
    write_table(out, ["frames", "bytes", "module"],
                ([g.frames, g.bytes, g.name] for g in rep.by_module), [True, True, False])
