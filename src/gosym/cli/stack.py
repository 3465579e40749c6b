"""gosym stack: per-frame stack bytes of the stack a PC list describes."""

from __future__ import annotations

import json

import click

from ..render import Output, write_table
from ..stack import run_length, stack_report
from ..symbolize import SymbolizeConfig
from . import arch_option, binary_argument, handle_errors, main, open_binary, warn
from .symbolize import resolve_input

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


@main.command(name="stack", help=STACK_HELP)
@binary_argument
@click.argument("pcs", nargs=-1, metavar="[PC ...]")
@arch_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object: frames and summary.")
@click.option("--pc-is-exact", is_flag=True,
              help="PCs are instruction addresses, not return addresses (no -1).")
@click.option("--slide", metavar="N", help="Added to every address of the binary (PIE).")
@click.option("--anchor", metavar="SYM=ADDR", help="Runtime address of one function.")
@handle_errors
def stack_cmd(binary_path: str, pcs: tuple[str, ...], arch: str | None, as_json: bool,
              pc_is_exact: bool, slide: str | None, anchor: str | None) -> None:
    b = open_binary(binary_path, arch)
    res = resolve_input(b, pcs, slide, anchor)
    rep = stack_report(b, res.pcs, SymbolizeConfig(slide=res.slide, pc_is_exact=pc_is_exact))
    if rep.unknown_pcs:
        warn(f"{rep.unknown_pcs} PC(s) not inside any function: their frame sizes are unknown "
             "and count as 0")
    out = Output()
    if as_json:
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
        out.write(json.dumps(doc, indent=1).encode() + b"\n")
        out.flush()
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
    out.flush()
