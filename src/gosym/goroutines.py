"""Every goroutine of a live process or a core dump, from the binary's own tables.

``goroutine_dump(binary, target)`` takes a snapshot of the runtime's state
(runtime_state), unwinds each goroutine from it (unwind) and symbolizes the
frames with the binary's function table, inline trees and line tables. What
it reports follows the runtime's own dump (runtime/traceback.go
``goroutineheader``, ``traceback2``, ``printcreatedby``) with nothing left out:
system goroutines, runtime frames and every frame of deep stacks.

Per goroutine: id, status and wait reason as the runtime prints them
(``gStatusStrings``, ``waitReason.String``), wait time in minutes where
``gp.waitsince`` was recorded and the target's clock is known (a live process;
``(nanotime() - waitsince) / 60e9``), creator (``gp.gopc``, ``gp.parentGoid``),
start function (``gp.startpc``), pprof labels, stack bounds, and frames
innermost first. A physical frame owns ``fp - sp`` bytes; the inlined frames
expanded from it own none. ``used`` is ``stack.hi - SP`` at the innermost
frame, ``allocated`` is ``stack.hi - stack.lo``.

Totals account for the heap's stack memory the way the runtime does
(``/memory/classes/heap/stacks:bytes`` is ``memstats.heapStats.inStacks``):
live goroutines' stacks + stacks kept by dead goroutines for reuse + the Ms'
g0 and gsignal stacks allocated from the heap (all but m0's g0 without cgo;
only gsignal with cgo, where pthread provides g0) + free stacks held by the
allocator (stackpool spans, per-P stack caches, stackLarge). What is left
over is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .runtime_layout import RuntimeLayout, runtime_layout
from .runtime_state import RawGoroutine, RawM, Snapshot, take_snapshot
from .target import Target
from .unwind import Unwinder, Unwound

# Start functions whose goroutines the runtime never calls system goroutines
# (traceback.go isSystemGoroutine), and those that are system goroutines only
# while they are not running user code (finalizers, cleanups).
_USER_STARTS = {"runtime.main", "runtime.corostart", "runtime.handleAsyncEvent"}
_SOMETIMES_USER = {"runtime.runfinq", "runtime.runFinalizers", "runtime.runCleanups"}


class Frame(NamedTuple):
    """One logical frame of a goroutine's stack."""

    function: str
    file: str | None
    line: int | None
    inlined: bool
    pc: int  # the physical frame's PC (a return address unless it was interrupted)
    sp: int
    fp: int
    entry: int | None  # physical function's entry (runtime address)
    bytes: int  # fp - sp on the physical (outermost) logical frame, 0 on inlined ones


@dataclass(frozen=True)
class CreatedBy:
    function: str  # the physical function holding the go statement
    goroutine: int | None  # gp.parentGoid (Go 1.21+)
    file: str | None
    line: int | None
    pc: int
    entry: int | None


@dataclass(frozen=True, slots=True)
class Goroutine:
    id: int
    status: str  # gStatusStrings[status]
    wait_reason: str | None  # waitReasonStrings[waitreason] when waiting
    scan: bool
    system: bool
    wait_minutes: int | None
    locked_to_thread: bool
    g_addr: int
    m_addr: int
    m_id: int | None
    start_function: str | None
    created_by: CreatedBy | None
    labels: dict[str, str]
    stack_lo: int
    stack_hi: int
    sp: int | None  # SP of the innermost frame
    physical: tuple[tuple, ...]  # (pc, sp, fp, entry, trap) per physical frame, innermost first
    chains: tuple[list, ...]  # per physical frame: [(function, file, line, inlined)]
    complete: bool
    note: str | None

    @property
    def frames(self) -> tuple[Frame, ...]:
        """Logical frames, innermost first (inlined ones expanded)."""
        out = []
        for pf, chain in zip(self.physical, self.chains):
            out.extend(_logical(pf, chain))
        return tuple(out)

    @property
    def header_status(self) -> str:
        """What the runtime prints between the brackets, first."""
        return self.wait_reason if self.wait_reason else self.status

    @property
    def used_bytes(self) -> int | None:
        return None if self.sp is None else self.stack_hi - self.sp

    @property
    def allocated_bytes(self) -> int:
        return self.stack_hi - self.stack_lo


@dataclass(frozen=True)
class ThreadInfo:
    """One M (an OS thread the runtime created)."""

    id: int
    tid: int
    goroutine: int | None  # m.curg's id
    g0_stack_bytes: int | None
    gsignal_stack_bytes: int | None
    g0_from_heap: bool  # False: the OS allocated it (m0's main-thread stack, cgo's pthreads)


@dataclass(frozen=True)
class Totals:
    goroutines: int
    used_bytes: int  # goroutines' stack.hi - SP (those whose SP is known)
    allocated_bytes: int  # goroutines' stack.hi - stack.lo
    dead_goroutines: int
    dead_goroutine_stack_bytes: int  # stacks that dead goroutines keep for reuse
    thread_stack_bytes: int  # g0 + gsignal of every M
    thread_heap_stack_bytes: int  # the part allocated from the heap
    exited_thread_stack_bytes: int | None  # g0 stacks of exited Ms, freed on the next M start
    runtime_stack_bytes: int | None  # the runtime's own spare stack (runtime.gcrash, Go 1.22+)
    free_stack_bytes: int | None  # stackpool + per-P caches + stackLarge
    heap_stacks_bytes: int | None  # /memory/classes/heap/stacks:bytes

    @property
    def unaccounted_bytes(self) -> int | None:
        if self.heap_stacks_bytes is None or self.free_stack_bytes is None:
            return None
        return self.heap_stacks_bytes - (self.allocated_bytes + self.dead_goroutine_stack_bytes +
                                         self.thread_heap_stack_bytes + self.free_stack_bytes +
                                         (self.exited_thread_stack_bytes or 0) +
                                         (self.runtime_stack_bytes or 0))


@dataclass(frozen=True)
class GoroutineDump:
    go_version: str | None
    go_version_tuple: tuple[int, int] | None
    arch: str
    target: str
    kind: str
    consistent: bool
    stop_seconds: float | None
    goroutines: tuple[Goroutine, ...]
    threads: tuple[ThreadInfo, ...]
    totals: Totals
    notes: tuple[str, ...] = ()
    found: dict[str, str] = field(default_factory=dict)
    labels_in_header: bool = False  # the runtime prints labels in headers (Go 1.27+)
    bias: int = 0  # runtime address - file address of the executable


# --- engine adapter ---------------------------------------------------------------------

class _Symbols:
    """Logical frames per exact PC (file addresses), cached: few distinct PCs
    occur in a dump even of 100,000 goroutines."""

    def __init__(self, binary, bias: int) -> None:
        self.b = binary
        self.bias = bias
        self._frames: dict[int, list] = {}
        self._entries: dict[int, int | None] = {}
        self._created: dict[tuple[int, int | None], "CreatedBy | None"] = {}

    def frames(self, pc: int) -> list:
        """[(function, file, line, inlined)] innermost first at runtime PC pc."""
        try:
            return self._frames[pc]
        except KeyError:
            fs = [(f.function, f.file, f.line, f.inlined)
                  for f in self.b.find_frames(pc - self.bias)]
            self._frames[pc] = fs
            return fs

    def name(self, pc: int) -> str | None:
        """Printed name of the physical function holding pc."""
        fs = self.frames(pc)
        return fs[-1][0] if fs else None

    def entry(self, pc: int) -> int | None:
        """Runtime address of the entry of the function holding pc."""
        try:
            return self._entries[pc]
        except KeyError:
            f = self.b.func_for_pc(pc - self.bias)
            e = self._entries[pc] = None if f is None else f.entry + self.bias
            return e


# --- building the dump ---------------------------------------------------------------------

def goroutine_dump(binary, target: Target, layout: RuntimeLayout | None = None) -> GoroutineDump:
    if layout is None:
        layout = runtime_layout(binary)
    snap = take_snapshot(binary, target, layout)
    return dump_from_snapshot(binary, snap, traceback_labels(binary, target.environ()))


def godebug(binary, environ: dict[str, str], name: str) -> str | None:
    """A GODEBUG setting as the runtime sees it: the GODEBUG environment
    variable over the binary's DefaultGODEBUG (runtime/runtime1.go parsegodebug)."""
    value = None
    settings = dict(binary.buildinfo.settings)
    for source in (settings.get("DefaultGODEBUG", ""), environ.get("GODEBUG", "")):
        for item in source.split(","):
            k, sep, v = item.partition("=")
            if sep and k.strip() == name:
                value = v.strip()
    return value


def traceback_labels(binary, environ: dict[str, str]) -> bool:
    """Go 1.27 prints pprof labels in goroutine headers unless
    GODEBUG=tracebacklabels=0 (the default for modules older than go 1.27)."""
    v = binary.go_version_tuple
    if v is None or v < (1, 27):
        return False
    return godebug(binary, environ, "tracebacklabels") != "0"


def dump_from_snapshot(binary, snap: Snapshot, labels_in_header: bool = False) -> GoroutineDump:
    layout = snap.layout
    scan_bit = layout.constant("_Gscan") or 0
    dead = {layout.constant("_Gdead"), layout.constant("_Gdeadextra")} - {None}
    unwinder = Unwinder(binary, snap.bias)
    syms = _Symbols(binary, snap.bias)
    m_ids = {m.addr: m.id for m in snap.ms}
    goroutines = []
    dead_count = dead_bytes = 0
    live = []
    for raw in snap.goroutines:
        if (raw.status & ~scan_bit) in dead:
            if raw.stack_hi > raw.stack_lo:
                dead_count += 1
                dead_bytes += raw.stack_hi - raw.stack_lo
            continue
        live.append(raw)
    unwound = unwinder.unwind_many(
        [g.start if g.stack is not None else None for g in live], snap.stack_data,
        np.array([g.stack_offset if g.stack is not None else -1 for g in live], np.int64),
        np.array([g.stack_hi for g in live], np.uint64))
    for raw, u in zip(live, unwound):
        goroutines.append(_goroutine(raw, snap, layout, scan_bit, u, syms, m_ids))
    threads = tuple(_thread(m, snap, {g.g_addr: g.id for g in goroutines}) for m in snap.ms)
    totals = _totals(goroutines, threads, snap, dead_count, dead_bytes)
    notes = list(snap.notes)
    if not snap.consistent:
        notes.append("the process was read without stopping it: the snapshot may be torn")
    return GoroutineDump(snap.go_version, binary.go_version_tuple, snap.arch, snap.target,
                         snap.kind, snap.consistent, snap.stop_seconds, tuple(goroutines),
                         threads, totals, tuple(notes), dict(snap.found), labels_in_header,
                         snap.bias)


def _status(raw: RawGoroutine, layout: RuntimeLayout, scan_bit: int) -> tuple[str, str | None]:
    code = raw.status & ~scan_bit
    strings = layout.status_strings
    status = strings[code] if 0 <= code < len(strings) and strings[code] else "???"
    reason = None
    if code in (layout.constant("_Gwaiting"), layout.constant("_Gleaked")) and raw.wait_reason:
        reasons = layout.wait_reasons
        reason = reasons[raw.wait_reason] if raw.wait_reason < len(reasons) else \
            "unknown wait reason"
    return status, reason


def _goroutine(raw: RawGoroutine, snap: Snapshot, layout: RuntimeLayout, scan_bit: int,
               unwound: Unwound | None, syms: _Symbols, m_ids: dict[int, int]) -> Goroutine:
    status, reason = _status(raw, layout, scan_bit)
    code = raw.status & ~scan_bit
    physical: tuple[PhysicalFrame, ...] = ()
    note = raw.note
    complete = False
    sp = None
    if raw.start is not None and unwound is not None:
        sp = raw.start.sp
        complete = unwound.complete
        if unwound.note and not note:
            note = unwound.note
        physical = unwound.frames
    elif raw.start is not None and note is None:
        note = "its stack was not read"
    frames_at = syms.frames
    chains = tuple([frames_at(pc if trap or pc <= entry else pc - 1)
                    for pc, _, _, entry, trap in physical])
    wait_minutes = None
    if code in (layout.constant("_Gwaiting"), layout.constant("_Gsyscall")) and \
            raw.wait_since != 0 and snap.now_ns is not None:
        wait_minutes = max(0, (snap.now_ns - raw.wait_since) // 60_000_000_000)
    start = syms.name(raw.startpc) if raw.startpc else None
    created = None
    if raw.gopc and raw.goid != 1:
        created = _created_by(raw, syms)
    return Goroutine(
        id=raw.goid, status=status, wait_reason=reason, scan=bool(raw.status & scan_bit),
        system=_is_system(start, chains, raw), wait_minutes=wait_minutes,
        locked_to_thread=raw.lockedm != 0, g_addr=raw.addr, m_addr=raw.m,
        m_id=m_ids.get(raw.m) if raw.m else None, start_function=start, created_by=created,
        labels=dict(raw.labels), stack_lo=raw.stack_lo, stack_hi=raw.stack_hi, sp=sp,
        physical=physical, chains=chains, complete=complete, note=note)


def sym_pc(pf: tuple) -> int:
    """The PC a physical frame's file, line and inlining are looked up at
    (unwinder.symPC: the CALL instruction for a return address)."""
    pc, _, _, entry, trap = pf
    return pc if trap or pc <= entry else pc - 1


def _logical(pf: tuple, chain: list) -> list[Frame]:
    pc, sp, fp, entry, _ = pf
    if not chain:
        return [Frame("?", None, None, False, pc, sp, fp, entry, fp - sp)]
    last = len(chain) - 1
    return [Frame(function, file, line, inlined, pc, sp, fp, entry,
                  fp - sp if i == last else 0)
            for i, (function, file, line, inlined) in enumerate(chain)]


def _created_by(raw: RawGoroutine, syms: _Symbols) -> CreatedBy | None:
    """printcreatedby1: the physical function's name; file and line at the
    CALL (gopc - 1), which is where the go statement is (innermost inlined)."""
    key = (raw.gopc, raw.parent_goid)
    if key in syms._created:
        return syms._created[key]
    fs = syms.frames(raw.gopc - 1) if raw.gopc else []
    c = None
    if fs:
        c = CreatedBy(fs[-1][0], raw.parent_goid or None, fs[0][1], fs[0][2], raw.gopc,
                      syms.entry(raw.gopc))
    syms._created[key] = c
    return c


def _is_system(start: str | None, chains: tuple[list, ...], raw: RawGoroutine) -> bool:
    """runtime.isSystemGoroutine(gp, false)."""
    if start is None:
        return False
    if start in _USER_STARTS:
        return False
    if start in _SOMETIMES_USER:
        if start == "runtime.runCleanups":
            return not raw.running_cleanups
        # The finalizer goroutine is a user goroutine while it runs a finalizer
        # (fingStatus&fingRunningFinalizer): then user code is on its stack.
        return all(f[0].startswith("runtime.") for chain in chains for f in chain)
    return start.startswith("runtime.")


def _thread(m: RawM, snap: Snapshot, goid_of: dict[int, int]) -> ThreadInfo:
    g0 = m.g0_stack[1] - m.g0_stack[0] if m.g0_stack else None
    gs = m.gsignal_stack[1] - m.gsignal_stack[0] if m.gsignal_stack else None
    # proc.go allocm: g0 stacks come from the heap (malg(16384)) unless cgo
    # (pthread) provides them; m0's g0 is the main thread's OS stack (rt0_go).
    return ThreadInfo(m.id, m.procid, goid_of.get(m.curg) if m.curg else None, g0, gs,
                      g0_from_heap=not snap.iscgo and m.id != 0)


def _totals(goroutines: list[Goroutine], threads: tuple[ThreadInfo, ...], snap: Snapshot,
            dead_count: int, dead_bytes: int) -> Totals:
    used = sum(g.used_bytes for g in goroutines if g.used_bytes is not None)
    allocated = sum(g.allocated_bytes for g in goroutines)
    thread_bytes = sum((t.g0_stack_bytes or 0) + (t.gsignal_stack_bytes or 0) for t in threads)
    thread_heap = sum(((t.g0_stack_bytes or 0) if t.g0_from_heap else 0) +
                      (t.gsignal_stack_bytes or 0) for t in threads)
    exited = snap.stats.exited_m_stack_bytes
    if exited is not None and snap.iscgo:
        exited = 0  # pthread owns the g0 stacks of cgo programs' Ms
    return Totals(len(goroutines), used, allocated, dead_count, dead_bytes, thread_bytes,
                  thread_heap, exited, snap.stats.crash_stack_bytes, snap.stats.free_bytes,
                  snap.stats.heap_stacks_bytes)
