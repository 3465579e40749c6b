"""Re-cost goroutine stacks taken from one build with another build's frames.

A goroutine profile of a process running OLD, accounted with OLD's tables
(:mod:`gosym.stackmem`), gives every stack as logical frames (function, line,
inlined or not) and OLD's bytes per physical frame. This module asks what
the same goroutines, at the same places in the source, would occupy in NEW:

* NEW decides which logical frames share a physical frame. Walking a stack
  from its root, the current NEW function P is examined at every PC range
  where its line and inline tables are constant (pc-value rows start at
  instructions): each range has a chain of logical frames, P first, the
  innermost inlined call last, each with its line (runtime/symtabinl.go: an
  inlined call's caller is at ``entry + parentPc``). The range whose whole
  chain equals the next frames of the stack, names and lines, and is the
  longest such, is where the stack stands in P; the frame after its chain
  is the next physical frame.
* P's bytes are the pcsp value at the call instruction in that range plus
  the return-address slot on amd64 (runtime/traceback.go: ``frame.fp =
  frame.sp + funcspdelta``, looked up at return PC − 1, which is inside the
  call). capstone finds the calls in the range; a direct call to the next
  frame's function is preferred. A range without any call (the goroutine
  stands in it, not in a call) uses the pcsp value over the range.
* Where no range of P has the stack's lines (another Go version's runtime,
  another release of a dependency), only the names are matched and P's
  bytes are its largest frame (``max_sp_delta`` + slot): such frames are
  marked ``max``. A function NEW does not have at all keeps OLD's bytes and
  is marked ``missing``.
* The root reserve (``runtime.goexit``, runtime/proc.go ``newproc1``) and
  virtual frames ([truncated], [N frames elided]) are carried over: the
  reserve depends on the architecture only, and OLD and NEW share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ._lazy import np

from .binary import GoBinary

# How a frame's NEW bytes were found.
LINE = "line"  # the call site matched by function name and line
CALL = "call"  # no line in the profile (a hidden frame): by name and the call to the next frame
MAX = "max"  # matched by name only: the function's largest frame
INLINED = "inlined"  # inlined in NEW: no bytes of its own
MISSING = "missing"  # NEW has no function of that name: OLD's bytes kept
CARRIED = "carried"  # reserve and virtual frames: as in OLD

# Frame kinds of the input (gosym.stackmem.MemFrame.kind)
RESERVE = "reserve"
VIRTUAL = "virtual"


@dataclass(frozen=True)
class InFrame:
    """One logical frame of a stack to re-cost, as OLD's accounting gives it."""

    function: str  # as printed (funcNameForPrint)
    file: str | None
    line: int | None
    inlined: bool
    bytes: int  # OLD's bytes (on a physical function's own frame; 0 when inlined)
    kind: str = "frame"


@dataclass(frozen=True)
class OutFrame:
    function: str
    file: str | None
    line: int | None
    inlined: bool  # in NEW
    old_bytes: int
    new_bytes: int
    match: str  # LINE, CALL, MAX, INLINED, MISSING or CARRIED


@dataclass(frozen=True)
class RecostStack:
    goroutines: int
    old_bytes: int  # per goroutine
    new_bytes: int
    truncated: bool
    frames: tuple[OutFrame, ...]  # innermost first

    @property
    def growth(self) -> int:
        """(new - old) bytes times goroutines."""
        return (self.new_bytes - self.old_bytes) * self.goroutines


@dataclass(frozen=True)
class _Segments:
    """One NEW function's PC ranges with constant line and inline index."""

    index: int
    entry: int
    max_frame: int  # frame_size: max(0, max sp_delta) + slot
    starts: np.ndarray  # offsets from entry
    ends: np.ndarray
    chains: list[tuple[tuple[str, int | None, str | None], ...]]  # (name, line, file), root first
    sp_starts: np.ndarray
    sp_ends: np.ndarray
    sp_values: np.ndarray

    def sp_at(self, off: int) -> int | None:
        k = int(np.searchsorted(self.sp_starts, off, side="right")) - 1
        if k < 0 or off >= self.sp_ends[k]:
            return None
        return int(self.sp_values[k])

    def sp_over(self, a: int, z: int) -> list[int]:
        sel = (self.sp_starts < z) & (self.sp_ends > a)
        return sorted(set(self.sp_values[sel].tolist()))


@dataclass
class _Match:
    depth: int  # logical frames the chain covers
    segments: list[int]
    by_line: bool


class Recoster:
    """Stacks of OLD, re-costed with NEW's frames (same architecture)."""

    def __init__(self, new: GoBinary) -> None:
        self.b = new
        self.t = new.table
        self.slot = new.return_address_slot
        self._segments: dict[int, _Segments] = {}
        self._calls: dict[tuple[int, int, int], list[tuple[int, str | None]]] = {}
        self._memo: dict[tuple, tuple] = {}
        self._cs = None

    # --- NEW's functions -------------------------------------------------------------------
    def functions(self, name: str) -> list[int]:
        """Indices of NEW's functions printed as ``name``."""
        return self.b.indices_named(name)

    def segments(self, i: int) -> _Segments:
        seg = self._segments.get(i)
        if seg is None:
            seg = self._segments[i] = self._build_segments(i)
        return seg

    def _build_segments(self, i: int) -> _Segments:
        b, t = self.b, self.t
        from .diff import printed_name

        f = t.func(i)
        size = f.end - f.entry
        lines = t.pcvalue_rows(f, f.pcln)
        files = t.pcvalue_rows(f, f.pcfile)
        inl_off = t.pcdata_offset(f, b.inline_tree_indices[0])
        inl = t.pcvalue_rows(f, inl_off)  # no rows when the function has no inline tree
        cuts = sorted({0, *(e for e in lines.ends if e < size), *(e for e in files.ends if e < size),
                       *(e for e in inl.ends if e < size)})
        ln_end = np.array(lines.ends, np.int64)
        ln_val = list(lines.values)
        fl_end = np.array(files.ends, np.int64)
        fl_val = list(files.values)
        in_end = np.array(inl.ends, np.int64)
        in_val = list(inl.values)
        file_names: dict[int, str | None] = {}

        def file_at(off: int) -> str | None:
            no = value(fl_end, fl_val, off)
            if no is None:
                return None
            if no not in file_names:
                file_names[no] = t.file_name(f.cu_offset, no)
            return file_names[no]

        def value(ends: np.ndarray, vals: list, off: int):
            k = int(np.searchsorted(ends, off, side="right"))
            return vals[k] if k < len(vals) else None

        name = printed_name(f.name.encode("utf-8", "replace")).decode("utf-8", "replace")
        tree: dict[int, tuple[str, int]] = {}

        def entry_of(k: int) -> tuple[str, int]:
            got = tree.get(k)
            if got is None:
                call = b.inline_entry(f, k)
                got = tree[k] = (printed_name(call.name.encode("utf-8", "replace"))
                                 .decode("utf-8", "replace"), call.parent_pc)
            return got

        starts, ends, chains = [], [], []
        for a, z in zip(cuts, cuts[1:] + [size]):
            line, file = value(ln_end, ln_val, a), file_at(a)
            k = value(in_end, in_val, a) if len(in_val) else -1
            chain = []
            guard = 0
            while k is not None and k >= 0 and guard < 256:
                callee, parent_pc = entry_of(k)
                chain.append((callee, line, file))
                line, file = value(ln_end, ln_val, parent_pc), file_at(parent_pc)
                k = value(in_end, in_val, parent_pc) if len(in_val) else -1
                guard += 1
            chain.append((name, line, file))
            starts.append(a)
            ends.append(z)
            chains.append(tuple(reversed(chain)))
        sp = [(r.start - f.entry, r.end - f.entry, r.sp_delta) for r in b.pcsp_ranges(f)]
        sp_arr = np.array(sp, np.int64).reshape(-1, 3)
        max_sp = max([v for _, _, v in sp], default=0)
        return _Segments(i, f.entry, max(max_sp, 0) + self.slot, np.array(starts, np.int64),
                         np.array(ends, np.int64), chains, sp_arr[:, 0], sp_arr[:, 1],
                         sp_arr[:, 2])

    def _calls_in(self, seg: _Segments, a: int, z: int) -> list[tuple[int, str | None]]:
        """(offset, printed name of a direct call's target or None) of the calls in [a, z)."""
        key = (seg.index, a, z)
        got = self._calls.get(key)
        if got is not None:
            return got
        import capstone

        from .diff import printed_name

        if self._cs is None:
            if self.b.arch == "amd64":
                self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            else:
                self._cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        code = bytes(self.b.container.read(seg.entry + a, z - a))
        out = []
        for addr, _size, mn, op in self._cs.disasm_lite(code, seg.entry + a):
            if mn not in ("call", "bl", "blr"):
                continue
            target = None
            try:
                dest = int(op.lstrip("#"), 0)
            except ValueError:
                dest = None
            if dest is not None:
                f = self.t.find_func(dest)
                if f is not None and f.entry == dest:
                    target = printed_name(f.name.encode("utf-8", "replace")).decode(
                        "utf-8", "replace")
            out.append((addr - seg.entry, target))
        self._calls[key] = out
        return out

    # --- one stack ---------------------------------------------------------------------------
    def recost(self, goroutines: int, frames: Sequence[InFrame]) -> RecostStack:
        """Re-cost one stack (frames innermost first)."""
        out: list[OutFrame | None] = [None] * len(frames)
        # Runs of real frames between virtual frames are re-costed separately,
        # root first; a run's outermost frame is where its physical chain starts.
        k = len(frames) - 1
        while k >= 0:
            f = frames[k]
            if f.kind in (RESERVE, VIRTUAL):
                out[k] = OutFrame(f.function, f.file, f.line, f.inlined, f.bytes, f.bytes, CARRIED)
                k -= 1
                continue
            j = k
            while j - 1 >= 0 and frames[j - 1].kind not in (RESERVE, VIRTUAL):
                j -= 1
            run = list(reversed(frames[j:k + 1]))  # root first
            for pos, of in enumerate(self._run(run)):
                out[k - pos] = of
            k = j - 1
        frames_out = tuple(o for o in out if o is not None)
        old = sum(f.bytes for f in frames)
        new = sum(o.new_bytes for o in frames_out)
        return RecostStack(goroutines, old, new, any(f.kind == VIRTUAL for f in frames),
                           frames_out)

    def _run(self, run: list[InFrame]) -> list[OutFrame]:
        """Root-first logical frames without gaps -> their NEW frames, root first."""
        out: list[OutFrame] = []
        s = 0
        while s < len(run):
            got = self._physical(run, s)
            out.extend(got)
            s += len(got)
        return out

    def _physical(self, run: list[InFrame], s: int) -> list[OutFrame]:
        """The NEW physical frame whose function is run[s]: its logical frames."""
        head = run[s]
        cands = self.functions(head.function)
        if not cands:
            return [OutFrame(head.function, head.file, head.line, False, head.bytes, head.bytes,
                             MISSING)]
        look = max(max(len(c) for c in self.segments(i).chains) for i in cands) + 1
        key = (tuple(cands), tuple((f.function, f.line, f.file) for f in run[s:s + look]),
               min(len(run) - s, look))
        memo = self._memo.get(key)
        if memo is None:
            memo = self._memo[key] = self._best(cands, run, s)
        depth, new_bytes, how = memo
        out = []
        for d in range(depth):
            f = run[s + d]
            first = d == 0
            out.append(OutFrame(f.function, f.file, f.line, not first, f.bytes,
                                new_bytes if first else 0, how if first else INLINED))
        return out

    def _best(self, cands: list[int], run: list[InFrame], s: int):
        """(logical frames covered, NEW bytes, how matched) for the best candidate."""
        best = None
        for i in cands:
            seg = self.segments(i)
            m = self._match(seg, run, s, by_line=True) or self._match(seg, run, s, by_line=False)
            if m is None:
                m = _Match(1, [], False)
            # The next frame is the callee; none below the innermost frame
            # (or below a gap: the call's target was elided).
            callee = run[s + m.depth].function if s + m.depth < len(run) else None
            if m.by_line and m.segments:
                nbytes = self._bytes(seg, m.segments, callee)
                how = LINE if all(f.line is not None for f in run[s:s + m.depth]) else CALL
            else:
                nbytes, how = seg.max_frame, MAX
            score = (m.by_line, m.depth, nbytes)
            if best is None or score > best[0]:
                best = (score, m.depth, nbytes, how)
        return best[1], best[2], best[3]

    @staticmethod
    def _match(seg: _Segments, run: list[InFrame], s: int, by_line: bool) -> _Match | None:
        """The longest chains of seg equal to run[s:s + len(chain)]."""
        best: _Match | None = None
        rest = len(run) - s
        for k, chain in enumerate(seg.chains):
            n = len(chain)
            if n > rest:
                continue
            ok = True
            for d, (name, line, file) in enumerate(chain):
                f = run[s + d]
                # Lines compare only within one file: another Go version's
                # runtime or another release of a module has other paths.
                if name != f.function or (by_line and (
                        (f.line is not None and line != f.line) or
                        (f.file is not None and file != f.file))):
                    ok = False
                    break
            if not ok:
                continue
            if best is None or n > best.depth:
                best = _Match(n, [k], by_line)
            elif n == best.depth:
                best.segments.append(k)
        return best

    def _bytes(self, seg: _Segments, segs: list[int], callee: str | None) -> int:
        """Frame bytes of seg's function standing in the given ranges: the pcsp
        value at its call (to callee, when known) plus the return-address slot."""
        found = []  # (value, calls callee) per range
        for k in segs:
            a, z = int(seg.starts[k]), int(seg.ends[k])
            values = seg.sp_over(a, z)
            if len(values) == 1 and (len(segs) == 1 or callee is None):
                found.append((values[0], False))  # whichever instruction is the call
                continue
            calls = [(seg.sp_at(off), target == callee and callee is not None)
                     for off, target in self._calls_in(seg, a, z)]
            calls = [(v, d) for v, d in calls if v is not None]
            if calls:
                found += calls
            elif values:
                found.append((max(values), False))
        if len(set(v for v, _ in found)) > 1 and any(d for _, d in found):
            found = [x for x in found if x[1]]  # the ranges that call the next frame
        if not found:
            return seg.max_frame
        return max(v for v, _ in found) + self.slot


@dataclass(frozen=True)
class ProfileDiff:
    """A goroutine profile of OLD, accounted with OLD's frames and with NEW's."""

    goroutines: int
    old_bytes: int  # all goroutines: used bytes per goroutine times their count
    new_bytes: int
    stacks: tuple[RecostStack, ...]  # most grown (bytes x goroutines) first
    frames_by_max: int  # frames (x goroutines) NEW matched by name only
    frames_missing: int  # frames of functions NEW does not have
    form: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def recost_profile(stacks: Iterable[tuple[int, Sequence[InFrame]]], new: GoBinary,
                   form: str = "", warnings: Sequence[str] = ()) -> ProfileDiff:
    """Re-cost (goroutines, frames) stacks of OLD with NEW's frames."""
    r = Recoster(new)
    out = [r.recost(n, frames) for n, frames in stacks]
    out.sort(key=lambda s: (-s.growth, -s.new_bytes * s.goroutines,
                            [f.function for f in s.frames]))
    return ProfileDiff(
        goroutines=sum(s.goroutines for s in out),
        old_bytes=sum(s.old_bytes * s.goroutines for s in out),
        new_bytes=sum(s.new_bytes * s.goroutines for s in out),
        stacks=tuple(out),
        frames_by_max=sum(s.goroutines for s in out for f in s.frames if f.match == MAX),
        frames_missing=sum(s.goroutines for s in out for f in s.frames if f.match == MISSING),
        form=form, warnings=tuple(warnings))
