"""Renderers of a stack-memory result: text, JSON, pprof, folded stacks, HTML.

All flame-graph outputs (pprof, folded, HTML) show the same tree, built as
the proposed stack-memory profile of runtime/pprof designs it: one sample per
stack *prefix* (the root down to one physical frame) carrying that frame's
bytes × the stack's goroutines, so that a flame graph's self value of a frame
is its size and its total includes its callees. Exactly one prefix of each stack (the one ending at its innermost
real frame) carries the goroutine count. Free stack is a
``runtime._FreeStack`` leaf under every stack (``free="leaf"``), one
root-level node (``"root"``), or left out (``"none"``); with metrics, the
stack memory no goroutine accounts for is a root-level
``[unaccounted stack memory]`` node.

Stacks that share a prefix share its sample: the prefixes are the nodes of a
trie (:class:`PrefixTrie`), built in one pass over the stacks; a sample's
stack, or a folded line, is the path from its node to the root, made when it
is written.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import IO, Iterator

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


_FREE_FRAME = MemFrame(FREE_STACK, None, None, False, 0, VIRTUAL)
_UNACCOUNTED_FRAME = MemFrame(UNACCOUNTED, None, None, False, 0, VIRTUAL)


class PrefixTrie:
    """Every stack prefix once: node k is a physical frame (``group[k]``: its
    logical frames, innermost first) under ``parent[k]`` (-1: a root, one per
    label set), with the bytes and goroutines of the samples ending there."""

    def __init__(self, result: StackMemResult, free: str = "leaf") -> None:
        self.parent: list[int] = []
        self.group: list[tuple[MemFrame, ...]] = []
        self.labels: list[tuple[tuple[str, str], ...]] = []
        self.bytes: list[int] = []
        self.goroutines: list[int] = []
        self._child: dict = {}
        free_root = 0
        for s in result.stacks:
            groups = physical_groups(s)
            n = s.goroutines
            node = -1
            path = []
            for g in reversed(groups):
                node = self._node(node, g, s.labels)
                path.append(node)
            path.reverse()  # innermost first, as groups
            counted = next((k for k, g in enumerate(groups) if g[-1].kind != VIRTUAL), 0)
            for k, g in enumerate(groups):
                self.bytes[path[k]] += g[-1].bytes * n
            if path:
                self.goroutines[path[counted]] += n
            if free == "leaf" and s.free_bytes:
                self.bytes[self._node(path[0] if path else -1, (_FREE_FRAME,), s.labels)] += \
                    s.free_bytes * n
            free_root += s.free_bytes * n
        for name, used, allocated in result.other_stacks:
            group = (MemFrame(name, None, None, False, used, VIRTUAL),)
            node = self._node(-1, group, ())
            self.bytes[node] += used
            if allocated > used:
                if free == "leaf":
                    self.bytes[self._node(node, (_FREE_FRAME,), ())] += allocated - used
                free_root += allocated - used
        if free == "root" and free_root:
            self.bytes[self._node(-1, (_FREE_FRAME,), ())] += free_root
        if result.unaccounted_bytes:
            self.bytes[self._node(-1, (_UNACCOUNTED_FRAME,), ())] += result.unaccounted_bytes

    def _node(self, parent: int, group: tuple[MemFrame, ...], labels) -> int:
        key = (parent, group) if parent >= 0 else (-1, group, labels)
        k = self._child.get(key)
        if k is None:
            k = self._child[key] = len(self.parent)
            self.parent.append(parent)
            self.group.append(group)
            self.labels.append(labels)
            self.bytes.append(0)
            self.goroutines.append(0)
        return k

    def __len__(self) -> int:
        return len(self.parent)

    def path(self, k: int) -> list[int]:
        """Node k and its ancestors: the sample's stack, leaf first."""
        out = []
        parent = self.parent
        while k >= 0:
            out.append(k)
            k = parent[k]
        return out

    def samples(self) -> Iterator[int]:
        """The nodes that carry bytes or goroutines: one sample each."""
        return (k for k in range(len(self.parent)) if self.bytes[k] or self.goroutines[k])


@dataclass(frozen=True)
class PrefixSample:
    """Groups innermost first (the sample's leaf is groups[0]); values."""

    groups: tuple[tuple[MemFrame, ...], ...]
    goroutines: int
    bytes: int
    labels: tuple[tuple[str, str], ...] = ()


def prefix_samples(result: StackMemResult, free: str = "leaf") -> list[PrefixSample]:
    """Every prefix sample with its whole stack (for small results and tests;
    the writers below walk the trie instead)."""
    t = PrefixTrie(result, free)
    return [PrefixSample(tuple(t.group[j] for j in t.path(k)), t.goroutines[k], t.bytes[k],
                         t.labels[k]) for k in t.samples()]


# --- JSON ----------------------------------------------------------------------------------

def json_document(result: StackMemResult) -> dict:
    return {
        "goroutines": result.goroutines,
        "used_bytes": result.used_bytes,
        "allocated_bytes": result.allocated_bytes,
        "free_bytes": result.free_bytes,
        "unaccounted_bytes": result.unaccounted_bytes,
        "other_stacks": [{"name": n, "used_bytes": u, "allocated_bytes": a}
                         for n, u, a in result.other_stacks],
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
         "measured: stack.hi - stack.lo of every goroutine" if r.measured else
         "estimate, a lower bound: the smallest power of two >= "
         f"{r.starting_stack_size} leaving {r.free_floor} bytes free"),
        ("free", f"{r.free_bytes:,}", "allocated - used"),
    ]
    for name, _used, allocated in r.other_stacks:
        rows.append(("other", f"{allocated:,}", name))
    if r.unaccounted_bytes is not None:
        minus = " - other" if r.other_stacks else ""
        rows.append(("unaccounted", f"{r.unaccounted_bytes:,}",
                     f"/memory/classes/heap/stacks:bytes ({r.metric_stack_bytes:,}) - "
                     f"allocated{minus}"))
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
    trie = PrefixTrie(result, free)
    node_loc: list[int] = []
    for group in trie.group:
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
        node_loc.append(lid)
    for k in trie.samples():
        pb.sample([node_loc[j] for j in trie.path(k)], [trie.goroutines[k], trie.bytes[k]],
                  dict(trie.labels[k]))
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


def write_folded(result: StackMemResult, out: IO[str], free: str = "leaf") -> None:
    """``root;...;leaf VALUE`` per prefix (Brendan Gregg's format), one line per
    trie node with bytes, written as the trie is walked depth first (the
    lines of a big profile are not all held at once)."""
    trie = PrefixTrie(result, free)
    children: dict[int, list[int]] = {}
    for k, p in enumerate(trie.parent):
        children.setdefault(p, []).append(k)
    names = [";".join(folded_name(f.function) for f in reversed(g)) for g in trie.group]

    def order(ks: list[int]) -> list[int]:
        return sorted(ks, key=names.__getitem__, reverse=True)

    stack = [(k, "") for k in order(children.get(-1, []))]
    while stack:
        k, prefix = stack.pop()
        line = prefix + names[k] if not prefix else prefix + ";" + names[k]
        if trie.bytes[k]:
            out.write(f"{line} {trie.bytes[k]}\n")
        stack.extend((c, line) for c in order(children.get(k, [])))


def folded_lines(result: StackMemResult, free: str = "leaf") -> list[str]:
    """The folded lines as a list (for small results and tests)."""
    import io

    buf = io.StringIO()
    write_folded(result, buf, free)
    return buf.getvalue().splitlines()


# --- HTML flame graph -------------------------------------------------------------------------

def flame_tree(result: StackMemResult, free: str = "leaf") -> dict:
    """The flame graph as nested nodes, one per logical frame path: name,
    self and total bytes, goroutines on it, file:line, children (root first)."""
    trie = PrefixTrie(result, free)
    root = {"n": "all", "s": 0, "v": 0, "g": 0, "c": {}}
    logical: list[dict] = []  # trie node -> its innermost logical frame's node
    for k, group in enumerate(trie.group):
        node = root if trie.parent[k] < 0 else logical[trie.parent[k]]
        for f in reversed(group):
            key = (f.function, f.file, f.line)
            child = node["c"].get(key)
            if child is None:
                child = node["c"][key] = {"n": f.function, "s": 0, "v": 0, "g": 0, "c": {},
                                          "f": f"{f.file}:{f.line}" if f.file else "",
                                          "i": f.inlined}
            node = child
        node["s"] += trie.bytes[k]
        logical.append(node)
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

    def total(n: dict) -> int:
        n["v"] = n["s"] + sum(total(c) for c in n["c"].values())
        return n["v"]

    total(root)
    # Frames of less than a millionth of the total are left out of the page
    # (their bytes stay in their callers' totals): less than a pixel even
    # zoomed 1000x, and most of the page's size in profiles of thousands of
    # unrelated stacks.
    least = root["v"] / 1e6

    def finish(n: dict) -> dict:
        out = {"n": n["n"], "v": n["v"], "s": n["s"], "g": n["g"]}
        if n.get("f"):
            out["f"] = n["f"]
        if n.get("i"):
            out["i"] = 1
        kids = [finish(c) for c in sorted(n["c"].values(), key=lambda c: c["n"])
                if c["v"] > 0 and c["v"] >= least]
        if kids:
            out["c"] = kids
        return out

    return finish(root)


def html_page(result: StackMemResult, free: str = "leaf", title: str = "goroutine stack memory"
              ) -> str:
    from .flamegraph_html import render

    tree = flame_tree(result, free)
    summary = (f"{result.goroutines:,} goroutines, used {result.used_bytes:,} B, allocated "
               f"({'measured' if result.measured else 'estimate'}) "
               f"{result.allocated_bytes:,} B, free {result.free_bytes:,} B"
               + (f", other stacks {sum(a for _, _, a in result.other_stacks):,} B"
                  if result.other_stacks else "")
               + (f", unaccounted {result.unaccounted_bytes:,} B"
                  if result.unaccounted_bytes is not None else "")
               + (f"; {result.truncated_goroutines:,} truncated goroutines (lower bounds)"
                  if result.truncated_goroutines else ""))
    return render(tree, title=html.escape(title), summary=html.escape(summary))


def dumps_json(doc) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False)
