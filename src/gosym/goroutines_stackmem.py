"""A goroutine snapshot as a stack-memory profile (gosym.stackmem's result).

A goroutine profile says where goroutines are, not how much stack they own;
``gosym stackmem`` has to estimate allocated stacks and can't see system
goroutines or the threads' stacks. A snapshot (gosym.goroutines) measured
all of it, so the same result model and renderers (text, JSON, pprof,
folded stacks, HTML flame graph) get exact numbers:

* each goroutine, system ones included, is a stack of its frames: a
  physical frame owns fp - sp bytes, the inlined frames expanded from it
  none, and the root ``runtime.goexit`` owns everything from its SP to
  ``stack.hi`` (newproc1's reserve, runtime/proc.go), so the frames add up
  to used = stack.hi - SP; allocated is stack.hi - stack.lo, and free is
  the difference (a ``runtime._FreeStack`` leaf in the flame graph);
* where unwinding stopped early, the rest of the used stack is one
  ``[frames not unwound]`` frame; a stack that could not be read at all
  (a goroutine in a signal handler) is ``[stack unavailable]``, all free;
* the other stacks the heap holds (runtime/stack.go, proc.go) are the
  result's ``other_stacks``, a root-level node each in the flame graph: the
  threads' g0 and gsignal stacks that came from the heap, the g0 stacks of
  exited threads, the runtime's spare crash stack (all used), stacks dead
  goroutines keep for reuse and the free stacks of the allocator (all free);
* with ``/memory/classes/heap/stacks:bytes`` read from the runtime, what none
  of these accounts for is ``unaccounted_bytes`` (0 when every part was found).

Goroutines with the same frames, allocated size and labels are one stack.
"""

from __future__ import annotations

from .goroutines import Goroutine, GoroutineDump
from .stack import ModuleMap, package_of
from .stackmem import (DEFAULT_STARTING_STACK, GOEXIT, REAL, RESERVE, VIRTUAL, MemFrame, Stack,
                       StackMemResult, root_reserve)

FORM_SNAPSHOT = "snapshot"
NOT_UNWOUND = "[frames not unwound]"
UNAVAILABLE = "[stack unavailable]"
THREAD_STACKS = "[threads' g0 and gsignal stacks]"
DEAD_STACKS = "[stacks kept by dead goroutines]"
FREE_STACKS = "[free stacks held by the allocator]"
EXITED_STACKS = "[g0 stacks of exited threads]"
CRASH_STACK = "[the runtime's spare crash stack]"


def _frames(g: Goroutine, bias: int) -> tuple[MemFrame, ...]:
    out: list[MemFrame] = []
    last = len(g.physical) - 1
    for k, (pf, chain) in enumerate(zip(g.physical, g.chains)):
        pc, sp, fp, entry, trap = pf
        sym = (pc if trap or pc <= entry else pc - 1) - bias
        rows = chain or [("?", None, None, False)]
        for i, (function, file, line, inlined) in enumerate(rows):
            if i < len(rows) - 1:
                out.append(MemFrame(function, file, line, True, 0, REAL, sym))
                continue
            nbytes, kind = fp - sp, REAL
            if k == last and function == GOEXIT and g.complete:
                nbytes, kind = g.stack_hi - sp, RESERVE
            out.append(MemFrame(function, file, line, False, nbytes, kind, sym))
    if g.physical and not (g.complete and out[-1].function == GOEXIT):
        rest = g.stack_hi - g.physical[-1][2]
        if rest > 0:
            out.append(MemFrame(NOT_UNWOUND, None, None, False, rest, VIRTUAL))
    if not out:
        out.append(MemFrame(UNAVAILABLE, None, None, False, 0, VIRTUAL))
    return tuple(out)


def stackmem_result(dump: GoroutineDump, binary) -> StackMemResult:
    acc: dict = {}
    unknown = 0
    for g in dump.goroutines:
        frames = _frames(g, dump.bias)
        if frames[-1].kind == VIRTUAL:
            unknown += 1
        key = (frames, g.allocated_bytes, tuple(sorted(g.labels.items())))
        acc[key] = acc.get(key, 0) + 1
    stacks = [Stack(n, sum(f.bytes for f in frames), allocated, False, None, 0, frames, labels)
              for (frames, allocated, labels), n in acc.items()]
    stacks.sort(key=lambda s: (-s.used_bytes * s.goroutines, -s.goroutines,
                               [f.function for f in s.frames]))
    goroutines = sum(s.goroutines for s in stacks)
    used = sum(s.used_bytes * s.goroutines for s in stacks)
    allocated = sum(s.allocated_bytes * s.goroutines for s in stacks)
    t = dump.totals
    others = tuple((name, u, a) for name, u, a in (
        (THREAD_STACKS, t.thread_heap_stack_bytes, t.thread_heap_stack_bytes),
        (EXITED_STACKS, t.exited_thread_stack_bytes or 0, t.exited_thread_stack_bytes or 0),
        (CRASH_STACK, t.runtime_stack_bytes or 0, t.runtime_stack_bytes or 0),
        (DEAD_STACKS, 0, t.dead_goroutine_stack_bytes),
        (FREE_STACKS, 0, t.free_stack_bytes or 0)) if a)
    unaccounted = None
    if t.heap_stacks_bytes is not None:
        unaccounted = t.heap_stacks_bytes - allocated - sum(a for _, _, a in others)
    modmap = ModuleMap(binary)
    packages = {}
    modules = {}
    for s in stacks:
        for f in s.frames:
            if f.kind != VIRTUAL and f.function not in packages:
                pkg = packages[f.function] = package_of(f.function)
                if pkg not in modules:
                    modules[pkg] = modmap.module_of(pkg)
    warnings = []
    if not dump.consistent:
        warnings.append("the process was read without stopping it: the snapshot may be torn")
    return StackMemResult(
        form=FORM_SNAPSHOT, go_version=dump.go_version, arch=dump.arch, depth_limit=0,
        starting_stack_size=DEFAULT_STARTING_STACK, free_floor=0,
        reserve=root_reserve(dump.arch), slide=dump.bias,
        slide_source=f"the load address of the executable in {dump.target}",
        stacks=tuple(stacks), goroutines=goroutines, used_bytes=used,
        allocated_bytes=allocated, free_bytes=allocated - used,
        unaccounted_bytes=unaccounted, metric_stack_bytes=t.heap_stacks_bytes,
        truncated_goroutines=0, truncated_used_bytes=0, unknown_goroutines=unknown,
        warnings=tuple(warnings), packages=packages, modules=modules, other_stacks=others,
        measured=True)
