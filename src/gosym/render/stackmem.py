"""Renderers of a stack-memory result: text, JSON, pprof, folded stacks, HTML.

All flame-graph outputs (pprof, folded, HTML) show the same tree, built by
:func:`prefix_samples` as golang/go#66566 designs it: one sample per stack
*prefix* (the root down to one physical frame) carrying that frame's bytes ×
the stack's goroutines, so that a flame graph's self value of a frame is its
size and its total includes its callees. Exactly one prefix of each stack
(the one ending at its innermost real frame) carries the goroutine count.
Free stack is a ``runtime._FreeStack`` leaf under every stack (``free="leaf"``),
one root-level node (``"root"``), or left out (``"none"``); with metrics, the
stack memory no goroutine accounts for is a root-level
``[unaccounted stack memory]`` node.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from ..stackmem import FREE_STACK, UNACCOUNTED, VIRTUAL, MemFrame, Stack, StackMemResult

FREE_MODES = ("leaf", "root", "none")


# --- the flame tree ----------------------------------------------------------------------

def physical_groups(stack: Stack) -> list[tuple[MemFrame, ...]]:
    """A stack's frames grouped by physical frame (inlined frames, then the
    physical one), innermost group first."""
    groups: list[tuple[MemFrame, ...]] = []
    cur: list[MemFrame] = []
    for f in stack.frames:
        cur.append(f)
        if not f.inlined:
            groups.append(tuple(cur))
            cur = []
    if cur:
        groups.append(tuple(cur))
    return groups


@dataclass(frozen=True)
class PrefixSample:
    """Groups innermost first (the sample's leaf is groups[0]); values."""

    groups: tuple[tuple[MemFrame, ...], ...]
    goroutines: int
    bytes: int
    labels: tuple[tuple[str, str], ...] = ()


_FREE_FRAME = MemFrame(FREE_STACK, None, None, False, 0, VIRTUAL)
_UNACCOUNTED_FRAME = MemFrame(UNACCOUNTED, None, None, False, 0, VIRTUAL)


def prefix_samples(result: StackMemResult, free: str = "leaf") -> list[PrefixSample]:
    """Every stack's prefix samples (merged where stack and labels are the same)."""
    merged: dict = {}

    def add(groups, n, nbytes, labels) -> None:
        key = (groups, labels)
        got = merged.get(key)
        merged[key] = (n, nbytes) if got is None else (got[0] + n, got[1] + nbytes)

    free_root = 0
    for s in result.stacks:
        groups = tuple(physical_groups(s))
        counted = next((k for k, g in enumerate(groups) if g[-1].kind != VIRTUAL), 0)
        for k, g in enumerate(groups):
            add(groups[k:], s.goroutines if k == counted else 0, g[-1].bytes * s.goroutines,
                s.labels)
        if free == "leaf" and s.free_bytes:
            add(((_FREE_FRAME,),) + groups, 0, s.free_bytes * s.goroutines, s.labels)
        free_root += s.free_bytes * s.goroutines
    if free == "root" and free_root:
        add(((_FREE_FRAME,),), 0, free_root, ())
    if result.unaccounted_bytes:
        add(((_UNACCOUNTED_FRAME,),), 0, result.unaccounted_bytes, ())
    return [PrefixSample(groups, n, b, labels) for (groups, labels), (n, b) in merged.items()]


# --- JSON ----------------------------------------------------------------------------------

def json_document(result: StackMemResult) -> dict:
    return {
        "goroutines": result.goroutines,
        "used_bytes": result.used_bytes,
        "allocated_bytes": result.allocated_bytes,
        "free_bytes": result.free_bytes,
        "unaccounted_bytes": result.unaccounted_bytes,
        "truncated_goroutines": result.truncated_goroutines,
        "stacks": [{
            "goroutines": s.goroutines,
            "used_bytes": s.used_bytes,
            "allocated_bytes": s.allocated_bytes,
            "truncated": s.truncated,
            "elided_frames": s.elided_frames,
            "unknown_frames": s.unknown_frames,
            "labels": dict(s.labels),
            "frames": [{"function": f.function, "file": f.file, "line": f.line,
                        "inlined": f.inlined, "bytes": f.bytes} for f in s.frames],
        } for s in result.stacks],
    }


# --- text ------------------------------------------------------------------------------------

def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def text_report(result: StackMemResult, top: int = 20) -> str:
    r = result
    out: list[str] = []
    w = out.append
    w(f"goroutine stack memory: {r.goroutines} goroutines, {len(r.stacks)} distinct stacks "
      f"({r.form} profile; binary {r.go_version or 'go?'} {r.arch})")
    w("")
    rows = [
        ("used", f"{r.used_bytes:,}", "stack.hi - SP of every goroutine"),
        ("allocated", f"{r.allocated_bytes:,}",
         "estimate, a lower bound: the smallest power of two >= "
         f"{r.starting_stack_size} leaving {r.free_floor} bytes free"),
        ("free", f"{r.free_bytes:,}", "allocated - used"),
    ]
    if r.unaccounted_bytes is not None:
        rows.append(("unaccounted", f"{r.unaccounted_bytes:,}",
                     f"/memory/classes/heap/stacks:bytes ({r.metric_stack_bytes:,}) - allocated"))
    else:
        rows.append(("unaccounted", "-", "give --metrics"))
    rows.append(("truncated", f"{r.truncated_goroutines:,}",
                 f"goroutines whose stacks the profile cut ({_pct(r.truncated_used_bytes, r.used_bytes)}"
                 " of the used bytes): lower bounds"))
    rows.append(("unknown", f"{r.unknown_goroutines:,}",
                 "goroutines with hidden frames of unknown size"))
    wn = max(len(x[1]) for x in rows)
    for name, value, note in rows:
        w(f"  {name:<12}{value:>{wn}} bytes  {note}" if name not in ("truncated", "unknown")
          else f"  {name:<12}{value:>{wn}}        {note}")
    w("")
    frames = r.top_frames()
    total = r.used_bytes

    def table(title: str, items, key) -> None:
        items = sorted(items, key=key)[:top]
        w(title)
        w(f"  {'self':>12} {'self%':>6} {'cum':>12} {'cum%':>6} {'goroutines':>10}  function")
        for t in items:
            loc = f" ({t.file}:{t.line})" if t.file and t.line else ""
            w(f"  {t.self_bytes:>12,} {_pct(t.self_bytes, total):>6} {t.cumulative_bytes:>12,} "
              f"{_pct(t.cumulative_bytes, total):>6} {t.goroutines:>10,}  {t.function}{loc}")
        w("")

    table(f"top {top} functions by self bytes (frame bytes x goroutines)", frames,
          lambda t: (-t.self_bytes, -t.cumulative_bytes, t.function))
    table(f"top {top} functions by cumulative bytes (their frames and their callees')", frames,
          lambda t: (-t.cumulative_bytes, -t.self_bytes, t.function))
    for title, groups in (("bytes per package", r.by_package()), ("bytes per module", r.by_module())):
        w(title)
        for g in groups[:top]:
            w(f"  {g.bytes:>12,} {_pct(g.bytes, total):>6}  {g.name}")
        w("")
    return "\n".join(out)


# --- pprof ------------------------------------------------------------------------------------

def pprof_profile(result: StackMemResult, binary, free: str = "leaf"):
    """A profile.proto message: sample types goroutine/count and stack/bytes
    (bytes last: the default, and what viewers that take the last type show)."""
    from ..pprof import ProfileBuilder

    pb = ProfileBuilder(sample_types=[("goroutine", "count"), ("stack", "bytes")],
                        default_sample_type="stack",
                        comments=[f"gosym stackmem: goroutine stack bytes from a {result.form} "
                                  "goroutine profile and the binary's frame tables"])
    mapping_id = _mapping(pb, result, binary)
    slide = result.slide
    loc_of: dict = {}

    def location(group: tuple[MemFrame, ...]) -> int:
        key = tuple((f.function, f.file, f.line, f.pc, f.kind) for f in group)
        lid = loc_of.get(key)
        if lid is None:
            phys = group[-1]
            lines = [(pb.function(f.function, f.function, f.file or "", 0), f.line or 0)
                     for f in group]
            if phys.kind == VIRTUAL or phys.pc is None:
                lid = pb.location(0, 0, lines)
            else:
                lid = pb.location(phys.pc + slide, mapping_id, lines)
            loc_of[key] = lid
        return lid

    for s in prefix_samples(result, free):
        pb.sample([location(g) for g in s.groups], [s.goroutines, s.bytes], dict(s.labels))
    return pb.build()


def _mapping(pb, result: StackMemResult, binary) -> int:
    c = binary.container
    text = c.section(".text") or c.section("__text")
    if text is not None:
        start, limit, offset = text.addr, text.addr + text.size, text.offset
    else:
        start, limit, offset = 0, 1 << 62, 0
    return pb.mapping(start + result.slide, limit + result.slide, offset, binary.path,
                      has_functions=True, has_filenames=True, has_line_numbers=True,
                      has_inline_frames=True)


# --- folded stacks ----------------------------------------------------------------------------

def folded_name(name: str) -> str:
    """A frame name safe for the folded format (';' separates frames, the
    last space separates the value)."""
    return name.replace(";", ":").replace("\n", " ")


def folded_lines(result: StackMemResult, free: str = "leaf") -> list[str]:
    """``root;...;leaf VALUE`` per prefix (Brendan Gregg's format), merged."""
    acc: dict[str, int] = {}
    for s in prefix_samples(result, free):
        if not s.bytes:
            continue
        names = [folded_name(f.function) for g in reversed(s.groups) for f in reversed(g)]
        key = ";".join(names)
        acc[key] = acc.get(key, 0) + s.bytes
    return [f"{k} {v}" for k, v in sorted(acc.items())]


# --- HTML flame graph -------------------------------------------------------------------------

def flame_tree(result: StackMemResult, free: str = "leaf") -> dict:
    """The flame graph as nested nodes: name, self and total bytes,
    goroutines, file:line, children (root first)."""
    root = {"n": "all", "s": 0, "v": 0, "g": 0, "c": {}}
    for s in prefix_samples(result, free):
        node = root
        node["v"] += s.bytes
        for g in reversed(s.groups):
            for f in reversed(g):
                key = (f.function, f.file, f.line)
                child = node["c"].get(key)
                if child is None:
                    child = node["c"][key] = {"n": f.function, "s": 0, "v": 0, "g": 0, "c": {},
                                              "f": f"{f.file}:{f.line}" if f.file else "",
                                              "i": f.inlined}
                child["v"] += s.bytes
                node = child
        node["s"] += s.bytes
    # goroutines per node: every stack's count on each node it passes through
    for st in result.stacks:
        root["g"] += st.goroutines
        node = root
        for g in reversed(physical_groups(st)):
            for f in reversed(g):
                node = node["c"].get((f.function, f.file, f.line))
                if node is None:
                    break
                node["g"] += st.goroutines
            if node is None:
                break

    def finish(n: dict) -> dict:
        kids = sorted(n["c"].values(), key=lambda c: c["n"])
        out = {"n": n["n"], "v": n["v"], "s": n["s"], "g": n["g"]}
        if n.get("f"):
            out["f"] = n["f"]
        if n.get("i"):
            out["i"] = 1
        if kids:
            out["c"] = [finish(k) for k in kids if k["v"] > 0]
        return out

    return finish(root)


def html_page(result: StackMemResult, free: str = "leaf", title: str = "goroutine stack memory"
              ) -> str:
    from .flamegraph_html import render

    tree = flame_tree(result, free)
    summary = (f"{result.goroutines:,} goroutines, used {result.used_bytes:,} B, allocated "
               f"(estimate) {result.allocated_bytes:,} B, free {result.free_bytes:,} B"
               + (f", unaccounted {result.unaccounted_bytes:,} B"
                  if result.unaccounted_bytes is not None else "")
               + (f"; {result.truncated_goroutines:,} truncated goroutines (lower bounds)"
                  if result.truncated_goroutines else ""))
    return render(tree, title=html.escape(title), summary=html.escape(summary))


def dumps_json(doc) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False)
