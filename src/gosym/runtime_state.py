"""A snapshot of the Go runtime's state in a target (live process or core).

``take_snapshot`` finds the runtime's globals (runtime_symbols), holds the
target still (``Target.stopped``) and copies, as fast as it can, everything
the goroutine dump needs: every g of ``runtime.allgs``, every M of
``runtime.allm`` with its g0 and gsignal stack bounds, the thread registers,
each goroutine's stack from where it stopped up to ``stack.hi``, its pprof
labels, and the stack allocator's counters. The target is released before any
of it is interpreted: unwinding and symbolizing work on the copy.

Where each goroutine's stack is read from (runtime/traceback.go
``traceback1`` and ``unwinder.initAt``):

* ``gp.syscallsp != 0`` (in a system call): ``syscallpc``/``syscallsp``;
* running on a thread: that thread's registers (ptrace, or the core's
  NT_PRSTATUS), matched through ``gp.m.procid``; ``m.vdsoPC``/``m.vdsoSP`` when
  the thread is inside the vDSO; ``gp.sched`` when the thread is on its g0
  stack (``systemstack`` saved the goroutine's state there);
* otherwise the state saved when it was descheduled: ``gp.sched``.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .errors import FormatError, GosymError
from .runtime_layout import RuntimeLayout, read_string_array
from .runtime_symbols import candidates, data_refs, symbol_address
from .target import Batch, Registers, Target, TargetError, TargetMemoryError, Thread

PAGE_SIZE = 8192  # runtime pageSize (1 << PageShift, malloc.go), the same on every arch
STACK_CACHE_SIZE = 32 * 1024  # _StackCacheSize (malloc.go): one stackpool span
FIXED_STACK = 2048  # fixedStack on Linux (stack.go: stackMin + stackSystem, rounded up)
CRASH_STACK = 16384  # schedinit: gcrash.stack = stackalloc(16384) (Go 1.22+)
MAX_GOROUTINES = 50_000_000
MAX_MS = 100_000
# runtime/map.go (Go <= 1.23): buckets of map[string]string hold 8 entries:
# tophash [8]uint8, keys [8]string, elems [8]string, overflow *bmap.
_BUCKET_COUNT = 8
_BUCKET_SIZE = 8 + 8 * 16 + 8 * 16 + 8
_MIN_TOP_HASH = 5  # tophash values below this mark empty or evacuated slots
# The runtime functions whose machine code locates the globals in stripped binaries.
CODE_USERS = ("runtime.allgadd", "runtime.forEachG", "runtime.checkdead", "runtime.mcommoninit",
              "runtime.procresize", "runtime.stackpoolalloc", "runtime.stackcacherefill",
              "runtime.stackfree", "runtime.stackalloc", "runtime.allocm", "runtime.mexit",
              "runtime.schedinit", "runtime.(*mheap).allocSpan")


class SnapshotError(GosymError):
    """The runtime's state can't be found or read in the target."""


class StartState(NamedTuple):
    """Where a goroutine's unwinding starts."""

    pc: int
    sp: int
    lr: int  # arm64: the link register (0 if unknown); amd64: 0
    trap: bool  # the PC is where execution stopped, not a return address
    source: str  # "sched", "syscall", "thread registers", "vdso"


@dataclass(slots=True)
class RawGoroutine:
    addr: int
    goid: int
    status: int  # atomicstatus, with the _Gscan bit
    wait_reason: int
    wait_since: int
    stack_lo: int
    stack_hi: int
    m: int
    gopc: int
    startpc: int
    parent_goid: int | None
    labels_addr: int
    lockedm: int
    running_cleanups: bool
    start: StartState | None = None
    stack: bytes | memoryview | None = None  # copy of [start.sp, stack_hi)
    labels: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    stack_offset: int = -1  # where stack lies in Snapshot.stack_data


@dataclass
class RawM:
    addr: int
    id: int
    procid: int
    curg: int
    lockedg: int
    g0_stack: tuple[int, int] | None
    gsignal_stack: tuple[int, int] | None
    vdso_sp: int
    vdso_pc: int


@dataclass
class StackStats:
    """The stack allocator's state (runtime/stack.go, mstats.go); None where unknown."""

    heap_stacks_bytes: int | None = None  # /memory/classes/heap/stacks:bytes
    exited_m_stack_bytes: int | None = None  # g0 stacks of exited Ms not yet freed (sched.freem)
    crash_stack_bytes: int | None = None  # runtime.gcrash's stack (Go 1.22+, proc.go schedinit)
    pool_free_bytes: int | None = None  # unused stacks in stackpool spans
    cache_free_bytes: int | None = None  # stacks cached per P (mcache.stackcache)
    large_free_bytes: int | None = None  # free spans in stackLarge

    @property
    def free_bytes(self) -> int | None:
        parts = (self.pool_free_bytes, self.cache_free_bytes, self.large_free_bytes)
        return None if any(p is None for p in parts) else sum(parts)


@dataclass
class Snapshot:
    target: str  # description
    kind: str  # "process" or "core"
    arch: str
    go_version: str | None
    bias: int  # runtime address - file address of the executable
    consistent: bool  # False: read without stopping (--no-stop)
    stop_seconds: float | None
    now_ns: int | None  # the target's nanotime() at the snapshot, when known
    layout: RuntimeLayout
    goroutines: list[RawGoroutine]
    ms: list[RawM]
    threads: list[Thread]
    stats: StackStats
    iscgo: bool
    found: dict[str, str]  # variable -> how its address was found
    notes: list[str]
    stack_data: bytes | bytearray = b""  # every goroutine's stack copy


# --- reading helpers -----------------------------------------------------------------

def _columns(rows: np.ndarray, layout: RuntimeLayout, struct_name: str,
             names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Fields of many structures at once: rows is (n, size) uint8."""
    out = {}
    n = len(rows)
    for name in names:
        f = layout.field(struct_name, name)
        if f is None:
            continue
        if f.size not in (1, 2, 4, 8):
            continue
        raw = np.ascontiguousarray(rows[:, f.offset:f.offset + f.size])
        out[name] = raw.view(f"<u{f.size}").reshape(n).astype(np.uint64)
    return out


class _Memory:
    """Word and structure reads from the target, at runtime addresses."""

    def __init__(self, target: Target, layout: RuntimeLayout) -> None:
        self.t = target
        self.layout = layout

    def word(self, addr: int) -> int:
        return int.from_bytes(self.t.read(addr, 8), "little")

    def words(self, addr: int, n: int) -> list[int]:
        return list(struct.unpack(f"<{n}Q", self.t.read(addr, 8 * n)))

    def field(self, base: int, struct_name: str, path: str) -> int:
        f = self.layout.field(struct_name, path)
        if f is None:
            raise FormatError(f"no {struct_name}.{path} in the layout of {self.layout.go_version}")
        return int.from_bytes(self.t.read(base + f.offset, f.size), "little")

    def struct(self, base: int, struct_name: str) -> bytes:
        return self.t.read(base, self.layout.size(struct_name))

    def get(self, raw: bytes, struct_name: str, path: str, default: int = 0) -> int:
        f = self.layout.field(struct_name, path)
        if f is None:
            return default
        return int.from_bytes(raw[f.offset:f.offset + f.size], "little")


# --- where the executable is and whether it is the one given -----------------------------------

def elf_entry(binary) -> int:
    """e_entry of the binary's ELF header."""
    if binary.format != "elf":
        raise SnapshotError("goroutines reads Linux (ELF) programs only")
    return struct.unpack_from("<Q", binary.container.data, 24)[0]


def elf_segments(binary) -> list[tuple[int, int, int]]:
    """(vaddr, file size, file offset) of the binary's PT_LOAD segments."""
    data = binary.container.data
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    out = []
    for i in range(phnum):
        p_type, _flags, off, vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and filesz:
            out.append((vaddr, filesz, off))
    return out


def load_bias(binary, target: Target) -> int:
    """Runtime minus file addresses: from AT_ENTRY, else from the mapping of
    the executable's first page (a core's NT_FILE), else 0 (not PIE)."""
    bias = target.load_bias(elf_entry(binary))
    if bias is not None:
        return bias
    segs = elf_segments(binary)
    name = binary.path.rsplit("/", 1)[-1]
    for m in target.mappings():
        if m.offset == 0 and m.path and m.path.rsplit("/", 1)[-1] == name and segs:
            first = min(v for v, _, off in segs if off == 0) if any(
                off == 0 for _, _, off in segs) else None
            if first is not None:
                return m.start - (first & ~0xFFF)
    return 0


def check_executable(binary, target: Target, bias: int) -> None:
    """Does the target run this binary? Its moduledata (static, written by the
    linker, never moved) must hold the same pcHeader and text addresses."""
    md = binary.moduledata
    if md is None:
        return
    c = binary.container
    try:
        want = [c.read_word(md.address) + bias]
        got = [int.from_bytes(target.read(md.address + bias, 8), "little")]
    except (TargetMemoryError, FormatError):
        got, want = [None], [0]
    except TargetError:
        raise
    if got != want:
        what = "a core of another program" if target.kind == "core" else \
            "running another program"
        raise SnapshotError(f"{target.description} is {what}: its memory does not hold "
                            f"{binary.path}'s module data at {md.address + bias:#x}")


# --- finding the runtime's globals ------------------------------------------------------------

class _Locator:
    """Finds each global by symbol or machine code and validates it in memory."""

    def __init__(self, binary, mem: _Memory, bias: int) -> None:
        self.b = binary
        self.mem = mem
        self.bias = bias
        self.found: dict[str, str] = {}

    def _pick(self, name: str, users: tuple[str, ...], valid, back=(0,)) -> int | None:
        for addr, how in candidates(self.b, name, users, back):
            try:
                if valid(addr + self.bias):
                    self.found[name] = how
                    return addr + self.bias
            except (TargetMemoryError, FormatError, struct.error, ValueError, OverflowError):
                continue
        return None

    def allgs(self) -> int:
        mem = self.mem
        goid = mem.layout.field("runtime.g", "goid")

        def valid(a):
            ptr, n, cap = mem.words(a, 3)
            if not (0 < n <= cap <= MAX_GOROUTINES) or ptr == 0:
                return False
            g1 = mem.word(ptr)
            # allgadd's first caller is newproc(runtime.main): goroutine 1.
            return int.from_bytes(mem.t.read(g1 + goid.offset, 8), "little") == 1

        a = self._pick("runtime.allgs", ("runtime.allgadd", "runtime.forEachG",
                                          "runtime.checkdead"), valid, back=(0, 8, 16))
        if a is None:
            raise SnapshotError("cannot find runtime.allgs (the list of goroutines)")
        return a

    def allm(self) -> int | None:
        mem = self.mem

        def valid(a):
            m = mem.word(a)
            n = 0
            while m and n < MAX_MS:
                g0 = mem.field(m, "runtime.m", "g0")
                if g0 == 0 or mem.field(g0, "runtime.g", "m") != m:
                    return False
                m = mem.field(m, "runtime.m", "alllink")
                n += 1
            return 0 < n < MAX_MS

        return self._pick("runtime.allm", ("runtime.mcommoninit", "runtime.checkdead"), valid)

    def allp(self) -> int | None:
        mem = self.mem

        def valid(a):
            ptr, n, cap = mem.words(a, 3)
            if not (0 < n <= cap <= 1 << 20) or ptr == 0:
                return False
            ps = mem.words(ptr, n)
            return all(p and mem.field(p, "runtime.p", "id") == i for i, p in enumerate(ps))

        return self._pick("runtime.allp", ("runtime.procresize",), valid, back=(0, 8, 16))

    def symbol(self, name: str) -> int | None:
        a = symbol_address(self.b, name)
        if a is not None:
            self.found[name] = "symbol table"
            return a + self.bias
        return None

    # The stack allocator's globals (runtime/stack.go, mstats.go, proc.go). Their
    # validators check what the runtime guarantees about them; an empty free
    # list looks like any zero word, but then it also holds no bytes.
    def stackpool(self) -> int | None:
        mem = self.mem
        f = mem.layout.field("runtime.stackpool", "[].item.span.first")
        if f is None:
            return None

        def valid(a):
            for order in range(f.count or 0):
                s = mem.word(a + order * f.stride + f.offset)
                # stackpoolalloc: spans of _StackCacheSize, fixedStack<<order each.
                if s and (mem.field(s, "runtime.mspan", "elemsize") != FIXED_STACK << order or
                          mem.field(s, "runtime.mspan", "npages") * PAGE_SIZE != STACK_CACHE_SIZE):
                    return False
            return True

        return self._pick("runtime.stackpool", ("runtime.stackpoolalloc",
                                                 "runtime.stackcacherefill"), valid,
                          back=(0, f.offset))

    def stack_large(self, not_at: int | None) -> int | None:
        mem = self.mem
        f = mem.layout.field("runtime.stackLarge", "free")
        if f is None:
            return None

        def valid(a):
            if a == not_at:
                return False
            for i in range(f.count or 0):
                s = mem.word(a + f.offset + i * f.stride)
                # stackLarge.free[i] holds spans of 1<<i pages.
                if s and mem.field(s, "runtime.mspan", "npages") != 1 << i:
                    return False
            return True

        return self._pick("runtime.stackLarge", ("runtime.stackfree", "runtime.stackalloc"),
                          valid, back=(0, f.offset))

    def sched(self) -> int | None:
        mem = self.mem
        f = mem.layout.field("runtime.schedt", "freem")
        lock = mem.layout.field("runtime.schedt", "lock")
        if f is None or lock is None:
            return None
        users = ("runtime.allocm", "runtime.mexit")
        refs = set(data_refs(self.b, users[0])) | set(data_refs(self.b, users[1]))

        def valid(a):
            # Both take sched.lock around sched.freem: its address is referenced too.
            if a + lock.offset - self.bias not in refs and \
                    symbol_address(self.b, "runtime.sched") is None:
                return False
            m, n = mem.word(a + f.offset), 0
            while m and n < MAX_MS:
                if mem.field(m, "runtime.m", "g0") == 0:
                    return False
                m = mem.field(m, "runtime.m", "freelink")
                n += 1
            return n < MAX_MS

        return self._pick("runtime.sched", users, valid, back=(f.offset,))

    def gcrash(self) -> int | None:
        mem = self.mem

        def valid(a):
            lo, hi = mem.words(a, 2)
            return lo != 0 and hi - lo == CRASH_STACK

        if self.b.go_version_tuple is not None and self.b.go_version_tuple < (1, 22):
            return None
        return self._pick("runtime.gcrash", ("runtime.schedinit",), valid, back=(0, 8))

    def memstats(self, at_least: int) -> int | None:
        mem = self.mem
        layout = mem.layout
        fs = layout.field("runtime.mstats", "heapStats.stats")
        fg = layout.field("runtime.mstats", "heapStats.gen")
        fe = layout.field("runtime.mstats", "enablegc")
        d = layout.field("runtime.heapStatsDelta", "inStacks")
        if fs is None or fg is None or d is None or fe is None:
            return None

        def valid(a):
            # gen rotates 0 -> 1 -> 2; gcenable set enablegc before main ran;
            # stacks are allocated in whole pages and include every goroutine's.
            gen = int.from_bytes(mem.t.read(a + fg.offset, 4), "little")
            if gen >= (fs.count or 0) or mem.t.read(a + fe.offset, 1) != b"\x01":
                return False
            total = heap_stacks(mem, a)
            return 0 < total < 1 << 46 and total % PAGE_SIZE == 0 and total >= at_least

        return self._pick("runtime.memstats", ("runtime.(*mheap).allocSpan", "runtime.stackalloc"),
                          valid, back=(fg.offset, fs.offset, fs.offset + d.offset))


def heap_stacks(mem: _Memory, memstats: int) -> int:
    """consistentHeapStats.unsafeRead: inStacks summed over every shard
    (the value of /memory/classes/heap/stacks:bytes, metrics.go)."""
    f = mem.layout.field("runtime.mstats", "heapStats.stats")
    d = mem.layout.field("runtime.heapStatsDelta", "inStacks")
    total = 0
    for i in range(f.count or 0):
        total += _signed(int.from_bytes(
            mem.t.read(memstats + f.offset + i * f.stride + d.offset, 8), "little"))
    return total


def runtime_strings(binary, layout: RuntimeLayout) -> dict[str, str]:
    """Replace the layout's status and wait-reason strings by the binary's own
    (runtime.gStatusStrings, runtime.waitReasonStrings: static data the
    linker wrote), found by symbol or through runtime.goroutineheader's code.
    Returns how each was found."""
    found = {}
    c = binary.container
    checks = {
        "runtime.gStatusStrings": lambda s: len(s) > 2 and s[:3] == ["idle", "runnable",
                                                                      "running"],
        "runtime.waitReasonStrings": lambda s: len(s) > 2 and s[0] == "" and
        s[1] == "GC assist marking",
    }
    for var, attr in (("runtime.gStatusStrings", "status_strings"),
                      ("runtime.waitReasonStrings", "wait_reasons")):
        f = layout.field(var, "[]")
        count = f.count if f is not None else len(getattr(layout, attr))
        if not count:
            continue
        for addr, how in candidates(binary, var, ("runtime.goroutineheader",)):
            try:
                strs = read_string_array(c.read_word, c.read, addr, count)
            except (FormatError, ValueError, struct.error, OverflowError):
                continue
            if checks[var](strs):
                setattr(layout, attr, strs)
                found[var] = how
                break
    return found


def is_cgo(binary) -> bool:
    """Whether runtime/cgo is linked in (then Ms' g0 stacks come from the OS)."""
    return any(binary.lookup(n) is not None for n in
               ("_cgo_topofstack", "runtime/cgo.set_crosscall2", "x_cgo_init"))


# --- the snapshot ----------------------------------------------------------------------------

G_FIELDS = ("stack.lo", "stack.hi", "sched.sp", "sched.pc", "sched.lr", "syscallsp",
            "syscallpc", "m", "atomicstatus", "goid", "waitsince", "waitreason", "gopc",
            "startpc", "parentGoid", "labels", "lockedm", "runningCleanups")


def take_snapshot(binary, target: Target, layout: RuntimeLayout, now_ns: int | None = None
                  ) -> Snapshot:
    """Read the runtime state of target (which runs binary) into a Snapshot."""
    bias = load_bias(binary, target)
    mem = _Memory(target, layout)
    found = runtime_strings(binary, layout)
    iscgo = is_cgo(binary)
    loc = _Locator(binary, mem, bias)
    if symbol_address(binary, "runtime.allgs") is None:
        # Stripped: decode the runtime functions' machine code before stopping anything.
        for user in CODE_USERS:
            data_refs(binary, user)
    notes: list[str] = []
    # Inside the stopped window only memory is copied, into numpy columns and
    # one buffer of stacks; objects are made after the target is released.
    with target.stopped():
        if target.kind == "process" and now_ns is None:
            now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        check_executable(binary, target, bias)
        allgs = loc.allgs()
        allm = loc.allm()
        threads = target.threads()
        table = _read_g_table(mem, allgs)
        ms = _read_ms(mem, allm) if allm is not None else []
        if allm is None:
            notes.append("runtime.allm not found: no thread list")
        _start_columns(table, ms, threads, layout)
        _read_stack_columns(target, table)
        labels = _read_labels(mem, table.labels_addrs(), binary.go_version_tuple)
        stats = _read_stats(mem, loc, table.live_stack_bytes())
    found.update(loc.found)
    goroutines = table.goroutines(labels)
    return Snapshot(target.description, target.kind, target.arch, binary.go_version, bias,
                    target.consistent, target.stop_seconds, now_ns, layout, goroutines, ms,
                    threads, stats, iscgo, found, notes, table.stack_data)


_SOURCES = ("sched", "syscall", "thread registers", "vdso")


class _GTable:
    """Every g of allgs as numpy columns, while the target is held."""

    def __init__(self, addrs: np.ndarray, cols: dict[str, np.ndarray], has_parent: bool) -> None:
        n = len(addrs)
        self.n = n
        self.addr = addrs
        self.c = cols
        self.has_parent = has_parent
        self.start_pc = cols["sched.pc"].copy()
        self.start_sp = cols["sched.sp"].copy()
        self.start_lr = cols["sched.lr"].copy()
        self.trap = np.zeros(n, bool)
        self.source = np.zeros(n, np.int8)  # index into _SOURCES
        self.has_start = np.ones(n, bool)
        self.notes: dict[int, str] = {}
        self.stack_off = np.full(n, -1, np.int64)
        self.stack_data: bytes | bytearray = b""

    def live_stack_bytes(self) -> int:
        """Bytes of the stacks of the goroutines that have one (not dead)."""
        c = self.c
        size = (c["stack.hi"] - c["stack.lo"]).astype(np.int64)
        return int(size[self.has_start & (c["stack.hi"] > c["stack.lo"])].sum())

    def labels_addrs(self) -> list[int]:
        a = self.c["labels"]
        return np.unique(a[a != 0]).tolist()

    def goroutines(self, labels: dict[int, dict[str, str]]) -> list[RawGoroutine]:
        c = {k: v.tolist() for k, v in self.c.items()}
        pcs, sps, lrs = self.start_pc.tolist(), self.start_sp.tolist(), self.start_lr.tolist()
        trap, source, has = self.trap.tolist(), self.source.tolist(), self.has_start.tolist()
        offs = self.stack_off.tolist()
        hi = c["stack.hi"]
        data = memoryview(self.stack_data)
        out = []
        for i, addr in enumerate(self.addr.tolist()):
            start = StartState(pcs[i], sps[i], lrs[i], trap[i], _SOURCES[source[i]]) \
                if has[i] else None
            stack = None
            if offs[i] >= 0:
                stack = data[offs[i]:offs[i] + hi[i] - sps[i]]
            ws = c["waitsince"][i]
            out.append(RawGoroutine(
                addr, c["goid"][i], c["atomicstatus"][i], c["waitreason"][i],
                ws - (1 << 64) if ws >= 1 << 63 else ws, c["stack.lo"][i], hi[i], c["m"][i],
                c["gopc"][i], c["startpc"][i], c["parentGoid"][i] if self.has_parent else None,
                c["labels"][i], c["lockedm"][i], bool(c["runningCleanups"][i]), start, stack,
                labels.get(c["labels"][i], {}) if c["labels"][i] else {}, self.notes.get(i),
                offs[i]))
        return out


def _read_g_table(mem: _Memory, allgs: int) -> _GTable:
    layout = mem.layout
    ptr, n, _ = mem.words(allgs, 3)
    if n > MAX_GOROUTINES:
        raise SnapshotError(f"runtime.allgs holds {n} goroutines: implausible")
    gptrs = np.frombuffer(mem.t.read(ptr, 8 * n), dtype="<u8").astype(np.uint64) if n else \
        np.zeros(0, np.uint64)
    gptrs = gptrs[gptrs != 0]
    size = layout.size("runtime.g")
    batch = mem.t.read_many(gptrs, np.full(len(gptrs), size, np.int64))
    rows = np.frombuffer(batch.data, dtype=np.uint8).reshape(len(gptrs), size)[batch.ok]
    cols = _columns(rows, layout, "runtime.g", G_FIELDS)
    zero = np.zeros(len(rows), np.uint64)
    has_parent = "parentGoid" in cols
    for k in G_FIELDS:
        cols.setdefault(k, zero)
    return _GTable(gptrs[batch.ok], cols, has_parent)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _stack_of(mem: _Memory, g: int) -> tuple[int, int] | None:
    if g == 0:
        return None
    lo = mem.field(g, "runtime.g", "stack.lo")
    hi = mem.field(g, "runtime.g", "stack.hi")
    return (lo, hi) if hi > lo else None


def _read_ms(mem: _Memory, allm: int) -> list[RawM]:
    out = []
    m = mem.word(allm)
    seen = set()
    while m and m not in seen and len(out) < MAX_MS:
        seen.add(m)
        raw = mem.struct(m, "runtime.m")
        g0 = mem.get(raw, "runtime.m", "g0")
        gsignal = mem.get(raw, "runtime.m", "gsignal")
        out.append(RawM(m, _signed(mem.get(raw, "runtime.m", "id")),
                        mem.get(raw, "runtime.m", "procid"), mem.get(raw, "runtime.m", "curg"),
                        mem.get(raw, "runtime.m", "lockedg"), _stack_of(mem, g0),
                        _stack_of(mem, gsignal), mem.get(raw, "runtime.m", "vdsoSP"),
                        mem.get(raw, "runtime.m", "vdsoPC")))
        m = mem.get(raw, "runtime.m", "alllink")
    out.sort(key=lambda x: x.id)
    return out


def _start_columns(t: _GTable, ms: list[RawM], threads: list[Thread],
                   layout: RuntimeLayout) -> None:
    """Where each goroutine's unwinding starts (see the module docstring)."""
    c = t.c
    scan = layout.constant("_Gscan") or 0
    status = c["atomicstatus"] & np.uint64(~scan & 0xFFFFFFFF)
    no_stack = [v for v in (layout.constant("_Gdead"), layout.constant("_Gdeadextra"),
                            layout.constant("_Gidle")) if v is not None]
    t.has_start &= ~np.isin(status, np.array(no_stack, np.uint64))
    sys = (c["syscallsp"] != 0) & t.has_start
    t.start_pc[sys] = c["syscallpc"][sys]
    t.start_sp[sys] = c["syscallsp"][sys]
    t.start_lr[sys] = 0
    t.source[sys] = _SOURCES.index("syscall")
    running = layout.constant("_Grunning")
    if running is None:
        return
    by_m = {m.addr: m for m in ms}
    regs_of = {th.tid: th.registers for th in threads}
    for i in np.flatnonzero((status == running) & t.has_start & ~sys).tolist():
        lo, hi = int(c["stack.lo"][i]), int(c["stack.hi"][i])
        m = by_m.get(int(c["m"][i]))
        if m is None:
            t.notes[i] = "running, but its M is not in runtime.allm"
            continue
        if m.vdso_sp:
            t.start_pc[i], t.start_sp[i], t.start_lr[i] = m.vdso_pc, m.vdso_sp, 0
            t.source[i] = _SOURCES.index("vdso")
            continue
        regs: Registers | None = regs_of.get(m.procid)
        if regs is None:
            t.has_start[i] = False
            t.notes[i] = "goroutine running on other thread; stack unavailable" + (
                "" if m.procid in regs_of else " (the thread was not stopped)")
        elif lo <= regs.sp < hi:
            t.start_pc[i], t.start_sp[i], t.start_lr[i] = regs.pc, regs.sp, regs.lr or 0
            t.trap[i] = True
            t.source[i] = _SOURCES.index("thread registers")
        elif m.g0_stack and m.g0_stack[0] <= regs.sp < m.g0_stack[1]:
            # On the system stack: systemstack saved the goroutine's state in
            # gp.sched (runtime/asm_*.s gosave_systemstack_switch).
            t.notes[i] = "running on the system stack (g0): frames from where it switched"
        elif m.gsignal_stack and m.gsignal_stack[0] <= regs.sp < m.gsignal_stack[1]:
            t.has_start[i] = False
            t.notes[i] = "its thread is in a signal handler; stack unavailable"
        else:
            t.has_start[i] = False
            t.notes[i] = "its thread's stack pointer is outside the goroutine's stack"


MAX_STACK_COPY = 1 << 30  # runtime maxstacksize on 64-bit


def _read_stack_columns(target: Target, t: _GTable) -> None:
    """Copy each goroutine's stack from its starting SP to stack.hi, all in
    one buffer (process_vm_readv batches)."""
    lo, hi, sp = t.c["stack.lo"], t.c["stack.hi"], t.start_sp
    inside = t.has_start & (lo <= sp) & (sp < hi)
    size = np.where(inside, hi - sp, 0).astype(np.int64)
    inside &= size <= MAX_STACK_COPY
    for i in np.flatnonzero(t.has_start & ~inside).tolist():
        t.notes.setdefault(i, f"saved SP {int(sp[i]):#x} is outside the stack "
                              f"[{int(lo[i]):#x}, {int(hi[i]):#x})")
    want = np.flatnonzero(inside)
    if not len(want):
        return
    batch: Batch = target.read_many(sp[want], size[want])
    t.stack_data = batch.data
    t.stack_off[want] = np.where(batch.ok, batch.offsets, -1)
    for i in want[~batch.ok].tolist():
        t.notes.setdefault(i, "its stack memory can't be read")


def _read_labels(mem: _Memory, addrs: list[int], version) -> dict[int, dict[str, str]]:
    """pprof labels (runtime/pprof/label.go): from Go 1.24 gp.labels points to
    a struct holding a []label{key, value string}; before, to a
    map[string]string. Label sets are shared between goroutines: each is read once."""
    out = {}
    for a in addrs:
        try:
            out[a] = _label_slice(mem, a) if version is None or version >= (1, 24) \
                else _label_map(mem, mem.word(a))
        except (TargetMemoryError, FormatError, UnicodeDecodeError):
            out[a] = {}
    return out


def _gostring(mem: _Memory, ptr: int, n: int) -> str:
    if n > 1 << 20:
        raise FormatError("label string too long")
    return mem.t.read(ptr, n).decode("utf-8", "replace") if n else ""


def _label_slice(mem: _Memory, a: int) -> dict[str, str]:
    ptr, n, _ = mem.words(a, 3)
    if n > 4096:
        raise FormatError("too many labels")
    out = {}
    for i in range(n):
        kp, kn, vp, vn = mem.words(ptr + 32 * i, 4)
        out[_gostring(mem, kp, kn)] = _gostring(mem, vp, vn)
    return out


def _label_map(mem: _Memory, hmap: int) -> dict[str, str]:
    if not hmap:
        return {}
    raw = mem.struct(hmap, "runtime.hmap")
    count = mem.get(raw, "runtime.hmap", "count")
    b = mem.get(raw, "runtime.hmap", "B")
    if b > 16 or count > 1 << 16:
        raise FormatError("implausible label map")
    out: dict[str, str] = {}
    for base in (mem.get(raw, "runtime.hmap", "buckets"),
                 mem.get(raw, "runtime.hmap", "oldbuckets")):
        if not base:
            continue
        for i in range(1 << b):
            bucket = base + i * _BUCKET_SIZE
            hops = 0
            while bucket and hops < 64:
                data = mem.t.read(bucket, _BUCKET_SIZE)
                for k in range(_BUCKET_COUNT):
                    if data[k] < _MIN_TOP_HASH:
                        continue
                    kp, kn = struct.unpack_from("<QQ", data, 8 + 16 * k)
                    vp, vn = struct.unpack_from("<QQ", data, 8 + 16 * _BUCKET_COUNT + 16 * k)
                    out.setdefault(_gostring(mem, kp, kn), _gostring(mem, vp, vn))
                bucket = struct.unpack_from("<Q", data, _BUCKET_SIZE - 8)[0]
                hops += 1
    return out


def _span_list(mem: _Memory, first: int, limit: int = 1 << 20):
    s = first
    n = 0
    seen = set()
    while s and n < limit and s not in seen:
        seen.add(s)
        yield s
        s = mem.field(s, "runtime.mspan", "next")
        n += 1


def _read_stats(mem: _Memory, loc: _Locator, live_stack_bytes: int) -> StackStats:
    stats = StackStats()
    layout = mem.layout
    try:
        memstats = loc.memstats(live_stack_bytes)
        if memstats is not None:
            stats.heap_stacks_bytes = heap_stacks(mem, memstats)
    except (TargetMemoryError, FormatError):
        pass
    pool = None
    try:
        pool = loc.stackpool()
        f = layout.field("runtime.stackpool", "[].item.span.first")
        if pool is not None and f is not None:
            free = 0
            for order in range(f.count or 0):
                first = mem.word(pool + order * f.stride + f.offset)
                for s in _span_list(mem, first):
                    npages = mem.field(s, "runtime.mspan", "npages")
                    used = mem.field(s, "runtime.mspan", "allocCount") * \
                        mem.field(s, "runtime.mspan", "elemsize")
                    free += npages * PAGE_SIZE - used
            stats.pool_free_bytes = free
    except (TargetMemoryError, FormatError):
        pass
    try:
        large = loc.stack_large(pool)
        f = layout.field("runtime.stackLarge", "free")
        if large is not None and f is not None:
            free = 0
            for i in range(f.count or 0):
                for s in _span_list(mem, mem.word(large + f.offset + i * f.stride)):
                    free += mem.field(s, "runtime.mspan", "npages") * PAGE_SIZE
            stats.large_free_bytes = free
    except (TargetMemoryError, FormatError):
        pass
    try:
        allp = loc.allp()
        cache = layout.field("runtime.mcache", "stackcache")
        size = layout.field("runtime.stackfreelist", "size")
        if allp is not None and cache is not None and size is not None:
            ptr, n, _ = mem.words(allp, 3)
            free = 0
            for p in mem.words(ptr, n):
                mc = mem.field(p, "runtime.p", "mcache")
                if not mc:
                    continue
                for order in range(cache.count or 0):
                    free += mem.word(mc + cache.offset + order * cache.stride + size.offset)
            stats.cache_free_bytes = free
    except (TargetMemoryError, FormatError):
        pass
    try:
        sched = loc.sched()
        if sched is not None:
            # mexit frees gsignal and leaves the M on sched.freem; the next
            # allocm frees its g0 stack (proc.go).
            total = 0
            m = mem.field(sched, "runtime.schedt", "freem")
            seen = set()
            while m and m not in seen and len(seen) < MAX_MS:
                seen.add(m)
                g0 = _stack_of(mem, mem.field(m, "runtime.m", "g0"))
                if g0:
                    total += g0[1] - g0[0]
                m = mem.field(m, "runtime.m", "freelink")
            stats.exited_m_stack_bytes = total
    except (TargetMemoryError, FormatError):
        pass
    try:
        gcrash = loc.gcrash()
        if gcrash is not None:
            st = _stack_of(mem, gcrash)
            stats.crash_stack_bytes = st[1] - st[0] if st else 0
        elif binary_before_1_22(mem):
            stats.crash_stack_bytes = 0
    except (TargetMemoryError, FormatError):
        pass
    return stats


def binary_before_1_22(mem: _Memory) -> bool:
    v = mem.layout.go_version.removeprefix("go").split(".")
    try:
        return (int(v[0]), int(v[1])) < (1, 22)
    except (ValueError, IndexError):
        return False
