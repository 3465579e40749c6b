"""Goroutine dumps as text (the runtime's own format) and as JSON.

Text follows what the binary's own runtime prints with GOTRACEBACK=system
(runtime/traceback.go of its Go version): ``goroutine N gp=… m=… [status]:``
headers (``gp=``/``m=`` from Go 1.22, labels after the brackets from Go 1.27
unless GODEBUG=tracebacklabels=0),
``function(...)`` and ``\\tfile:line +0xOFF fp=… sp=… pc=…`` per frame (no
``+0x`` and no fp/sp on inlined frames), ``created by F in goroutine N``, so
tools that parse Go tracebacks (panicparse) read it. Differences, all where
those parsers ignore them: arguments print as ``(...)``, names print in the
``pkg.F[...]`` form on every version, nothing is elided, the header's brackets
end with the goroutine's stack use (``, stack USED/ALLOCATED bytes``), and a
summary of threads and stack memory follows the last goroutine. Per-frame
bytes are fp - sp.
"""

from __future__ import annotations

import json
from typing import IO, Iterator

from ..goroutines import Goroutine, GoroutineDump


def _hex(v: int) -> str:
    return f"{v:#x}"


def _needs_quoting(s: str) -> bool:
    """tracebackStringNeedsQuoting (Go 1.27 traceback.go)."""
    return not s or any(not (c.isascii() and (c.isalnum() or c in "./_")) for c in s)


def _quoted(s: str) -> str:
    """runtime.printquoted (print.go)."""
    out = ['"']
    for ch in s:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "\\\"":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 127:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _print_name(name: str) -> str:
    """printFuncName: the runtime prints runtime.gopanic as panic."""
    return "panic" if name == "runtime.gopanic" else name


def goroutine_header(g: Goroutine, version: tuple[int, int] | None,
                     labels: bool = False) -> str:
    v = version or (1, 27)
    parts = [f"goroutine {g.id}"]
    if v >= (1, 22):
        if g.m_addr:
            parts.append(f" gp={_hex(g.g_addr)} m={g.m_id if g.m_id is not None else '?'} "
                         f"mp={_hex(g.m_addr)}")
        else:
            parts.append(f" gp={_hex(g.g_addr)} m=nil")
    parts.append(f" [{g.header_status}")
    if g.status == "leaked":
        parts.append(" (leaked)")
    if g.scan:
        parts.append(" (scan)")
    if g.wait_minutes is not None and g.wait_minutes >= 1:
        parts.append(f", {g.wait_minutes} minutes")
    if g.locked_to_thread:
        parts.append(", locked to thread")
    used = "?" if g.used_bytes is None else str(g.used_bytes)
    parts.append(f", stack {used}/{g.allocated_bytes} bytes]")
    if labels and g.labels:
        kv = [f"{_quoted(k) if _needs_quoting(k) else k}: "
              f"{_quoted(val) if _needs_quoting(val) else val}"
              for k, val in sorted(g.labels.items())]
        parts.append(" {" + ", ".join(kv) + "}")
    parts.append(":")
    return "".join(parts)


class _FrameText:
    """The text of a physical frame's logical frames, made once per PC: only
    fp=, sp= and pc= differ between goroutines parked at the same place."""

    def __init__(self) -> None:
        self._prefix: dict[tuple[int, bool], str] = {}

    def __call__(self, pf: tuple, chain: list) -> str:
        pc, sp, fp, entry, trap = pf
        key = (pc, trap)
        pre = self._prefix.get(key)
        if pre is None:
            lines = []
            rows = chain or [("?", None, None, False)]
            for function, file, line, inlined in rows:
                lines.append(f"{_print_name(function)}(...)")
                lines.append(f"\t{file or '?'}:{line or 0}")
            if pc > entry:
                lines[-1] += f" +{_hex(pc - entry)}"
            lines[-1] += " fp="
            pre = self._prefix[key] = "\n".join(lines)
        return f"{pre}{fp:#x} sp={sp:#x} pc={pc:#x}"


def goroutine_lines(g: Goroutine, version: tuple[int, int] | None,
                    labels: bool = False, frame_text: _FrameText | None = None
                    ) -> Iterator[str]:
    frame_text = frame_text or _FrameText()
    yield goroutine_header(g, version, labels)
    if not g.physical and g.note:
        yield "\tgoroutine running on other thread; stack unavailable" \
            if "stack unavailable" in g.note else f"\t{g.note}"
    for pf, chain in zip(g.physical, g.chains):
        yield frame_text(pf, chain)
    c = g.created_by
    if c is not None:
        line = f"created by {c.function}"
        if c.goroutine and (version is None or version >= (1, 21)):
            line += f" in goroutine {c.goroutine}"
        yield line
        loc = f"\t{c.file or '?'}:{c.line or 0}"
        if c.entry is not None and c.pc > c.entry:
            loc += f" +{_hex(c.pc - c.entry)}"
        yield loc


def summary_lines(d: GoroutineDump) -> Iterator[str]:
    yield "threads (runtime Ms):"
    for t in d.threads:
        g = "-" if t.goroutine is None else str(t.goroutine)
        g0 = "?" if t.g0_stack_bytes is None else str(t.g0_stack_bytes)
        gs = "?" if t.gsignal_stack_bytes is None else str(t.gsignal_stack_bytes)
        src = "heap" if t.g0_from_heap else "OS"
        yield f"\tm={t.id} tid={t.tid} goroutine={g} g0 stack {g0} bytes ({src}), " \
              f"gsignal stack {gs} bytes"
    t = d.totals
    yield "stack memory (bytes):"
    yield f"\tgoroutines: {t.goroutines}, stacks used {t.used_bytes} of {t.allocated_bytes} allocated"
    yield f"\tdead goroutines keeping a stack: {t.dead_goroutines}, {t.dead_goroutine_stack_bytes}"
    yield f"\tthreads' g0 and gsignal stacks: {t.thread_stack_bytes} " \
          f"({t.thread_heap_stack_bytes} from the heap)"
    if t.exited_thread_stack_bytes:
        yield f"\texited threads' g0 stacks not yet freed: {t.exited_thread_stack_bytes}"
    if t.runtime_stack_bytes:
        yield f"\truntime's spare crash stack: {t.runtime_stack_bytes}"
    yield f"\tfree stacks held by the allocator: {_opt(t.free_stack_bytes)}"
    if t.heap_stacks_bytes is not None:
        yield f"\t/memory/classes/heap/stacks:bytes {t.heap_stacks_bytes}, unaccounted " \
              f"{_opt(t.unaccounted_bytes)}"
    else:
        yield "\t/memory/classes/heap/stacks:bytes unknown (runtime.memstats not found)"


def _opt(v: int | None) -> str:
    return "unknown" if v is None else str(v)


def write_text(d: GoroutineDump, out: IO[str]) -> None:
    frame_text = _FrameText()
    chunk: list[str] = []
    for i, g in enumerate(d.goroutines):
        if i:
            chunk.append("")
        chunk.extend(goroutine_lines(g, d.go_version_tuple, d.labels_in_header, frame_text))
        if len(chunk) > 1 << 14:
            out.write("\n".join(chunk) + "\n")
            chunk = []
    if chunk:
        out.write("\n".join(chunk) + "\n")
    out.write("\n")
    out.write("\n".join(summary_lines(d)))
    out.write("\n")


# --- JSON ----------------------------------------------------------------------------

def _fields_json(g: Goroutine) -> dict:
    c = g.created_by
    return {
        "id": g.id,
        "status": g.status,
        "wait_reason": g.wait_reason,
        "system": g.system,
        "start_function": g.start_function,
        "created_by": None if c is None else {"function": c.function, "goroutine": c.goroutine},
        "labels": g.labels,
        "stack": {"lo": g.stack_lo, "hi": g.stack_hi, "used_bytes": g.used_bytes,
                  "allocated_bytes": g.allocated_bytes},
        "wait_minutes": g.wait_minutes,
        "locked_to_thread": g.locked_to_thread,
        "note": g.note,
    }


def goroutine_json(g: Goroutine) -> dict:
    d = _fields_json(g)
    d["frames"] = [{"function": f.function, "file": f.file, "line": f.line,
                    "inlined": f.inlined, "pc": f.pc, "sp": f.sp, "bytes": f.bytes}
                   for f in g.frames]
    return d


class _FrameJson:
    """goroutine_json's frames as text, the constant part made once per PC."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[int, bool], list[str]] = {}

    def __call__(self, pf: tuple, chain: list) -> str:
        pc, sp, fp, _, trap = pf
        key = (pc, trap)
        pres = self._prefixes.get(key)
        if pres is None:
            rows = chain or [("?", None, None, False)]
            pres = self._prefixes[key] = [
                f'{{"function": {json.dumps(fn)}, "file": {json.dumps(file)}, '
                f'"line": {json.dumps(line)}, "inlined": {json.dumps(inl)}, "pc": {pc}, "sp": '
                for fn, file, line, inl in rows]
        if len(pres) == 1:
            return f'{pres[0]}{sp}, "bytes": {fp - sp}}}'
        last = len(pres) - 1
        return ", ".join(f'{p}{sp}, "bytes": {fp - sp if i == last else 0}}}'
                         for i, p in enumerate(pres))


def _goroutine_json_text(g: Goroutine, frame_json: _FrameJson) -> str:
    head = json.dumps(_fields_json(g))
    frames = ", ".join(frame_json(pf, chain) for pf, chain in zip(g.physical, g.chains))
    return f'{head[:-1]}, "frames": [{frames}]}}'


def totals_json(d: GoroutineDump) -> dict:
    t = d.totals
    return {
        "goroutines": t.goroutines,
        "used_bytes": t.used_bytes,
        "allocated_bytes": t.allocated_bytes,
        "thread_stack_bytes": t.thread_stack_bytes,
        "heap_stacks_bytes": t.heap_stacks_bytes,
        "thread_heap_stack_bytes": t.thread_heap_stack_bytes,
        "dead_goroutine_stack_bytes": t.dead_goroutine_stack_bytes,
        "exited_thread_stack_bytes": t.exited_thread_stack_bytes,
        "runtime_stack_bytes": t.runtime_stack_bytes,
        "free_stack_bytes": t.free_stack_bytes,
        "unaccounted_bytes": t.unaccounted_bytes,
    }


def write_json(d: GoroutineDump, out: IO[str]) -> None:
    """One JSON object; each goroutine on a line of its own."""
    out.write('{"go_version": ' + json.dumps(d.go_version) + ',\n"goroutines": [\n')
    frame_json = _FrameJson()
    for i, g in enumerate(d.goroutines):
        out.write((",\n" if i else "") + _goroutine_json_text(g, frame_json))
    out.write('\n],\n"threads": [\n')
    out.write(",\n".join(json.dumps({
        "id": t.id, "tid": t.tid, "goroutine": t.goroutine,
        "g0_stack_bytes": t.g0_stack_bytes, "gsignal_stack_bytes": t.gsignal_stack_bytes,
    }) for t in d.threads))
    out.write('\n],\n"totals": ' + json.dumps(totals_json(d)) + "}\n")
