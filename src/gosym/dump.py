"""A goroutine dump re-printed from the binary: dump in, dump out.

Given a dump (a panic, a fatal error, SIGQUIT, ``runtime.Stack(buf, true)``,
a debug=2 goroutine profile; parsed by :mod:`gosym.goroutine_profile`) and the
binary that printed it, every goroutine is printed again the way
runtime/traceback.go printed it (``traceback2``, ``printcreatedby1``), each
frame's function, ``file:line``, ``+0x`` offset and ``pc=`` computed from the
binary, with what gosym adds beside them: each physical frame's bytes on the
stack, and the inlined frames marked. Where the binary disagrees with the dump
(a dump of another build), the frame says so.

How each printed physical frame is re-derived:

* its PC: the ``pc=`` that ``GOTRACEBACK=system`` prints, else the printed
  function's entry plus the ``+0x`` offset (plus the slide of a PIE);
* the PC its lines are read at: the runtime reads them at ``pc-1`` for a
  return address and at ``pc`` for a frame stopped by a signal (the innermost
  frame of the goroutine a signal interrupted, the frame after
  ``runtime.sigpanic``: ``unwindTrap`` in traceback.go). The dump does not say
  which, so both are tried and the one that gives the printed frames is kept;
* its inline chain (the inlined frames printed before it), from the inline
  tree at that PC. Frames the runtime hides without ``GOTRACEBACK=system``
  (runtime functions, wrappers: ``showframe``) are hidden again: only the
  frames the dump printed are printed, in its order; wrapper frames in the
  dump are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .goroutine_profile import CreatedBy, GoroutineProfile, GoroutineRecord, ProfileFrame

if TYPE_CHECKING:
    from .binary import GoBinary

PANIC = "runtime.gopanic"  # printed as "panic" (traceback.go printFuncName)


@dataclass(frozen=True)
class DumpFrame:
    """One frame as re-printed: the runtime's fields, then gosym's."""

    function: str  # as the runtime prints it (runtime.gopanic: "panic")
    args: str | None  # the arguments the dump printed; "..." for inlined frames
    file: str | None
    line: int | None
    offset: int | None  # "+0x..." of a physical frame past its entry
    pc: int | None  # "pc=" (printed only when the dump printed fp=/sp=/pc=)
    fp: int | None
    sp: int | None
    inlined: bool
    frame_bytes: int | None  # the physical frame's bytes at that PC (gosym's)
    differs: str | None = None  # how the dump's frame differs from the binary's answer
    non_go: bool = False  # "non-Go function at pc=0x..."


@dataclass
class DumpGoroutine:
    record: GoroutineRecord
    frames: list[DumpFrame]
    created_by: DumpFrame | None
    # Where the dump's "...N frames elided..." goes: before frames[elided_at].
    elided_at: int | None = None


@dataclass
class Reprinted:
    lines: list[str]  # the input, for what lies between goroutines
    goroutines: list[DumpGoroutine] = field(default_factory=list)
    slide: int = 0


def reprint(b: GoBinary, profile: GoroutineProfile, lines: list[str], slide: int) -> Reprinted:
    """Every goroutine of a parsed debug=2 dump, re-derived from the binary."""
    out = Reprinted(lines, slide=slide)
    for rec in profile.records:
        out.goroutines.append(_goroutine(b, rec, slide))
    return out


def printed_name(b: GoBinary, symbol: str) -> str:
    return "panic" if symbol == PANIC else b.name_for_print(symbol)


def _groups(frames) -> list[list[ProfileFrame]]:
    """The dump's frames cut after each physical frame: each group is the
    inlined frames printed before a physical one, and that one."""
    groups, cur = [], []
    for f in frames:
        cur.append(f)
        if not f.inlined:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def _goroutine(b: GoBinary, rec: GoroutineRecord, slide: int) -> DumpGoroutine:
    out: list[DumpFrame] = []
    elided_at = None
    printed = 0
    prev_physical = None
    for group in _groups(rec.frames):
        if rec.elided_at is not None and elided_at is None and printed >= rec.elided_at:
            elided_at = len(out)
        frames = _group(b, group, slide, after_sigpanic=prev_physical == "runtime.sigpanic")
        out.extend(frames)
        printed += len(group)
        prev_physical = group[-1].function
    if rec.elided_at is not None and elided_at is None:
        elided_at = len(out)
    created = _created_by(b, rec.created_by, slide) if rec.created_by else None
    return DumpGoroutine(rec, out, created, elided_at)


def _verbatim(f: ProfileFrame, note: str | None = None) -> DumpFrame:
    return DumpFrame("panic" if f.function == PANIC else f.function or "?", f.args, f.file,
                     f.line, f.offset, f.pc, f.fp, f.sp, f.inlined, None, note,
                     non_go=f.function is None)


def _group(b: GoBinary, group: list[ProfileFrame], slide: int,
           after_sigpanic: bool) -> list[DumpFrame]:
    phys = group[-1]
    if phys.function is None:  # non-Go function at pc=...
        return [_verbatim(phys)]
    if phys.inlined:  # the dump ends inside an inline chain
        return [_verbatim(f, "no physical frame printed after it") for f in group]
    pc = _frame_pc(b, phys, slide)
    if pc is None:
        return [_verbatim(f, "not found in the binary") for f in group]
    fpc = pc - slide
    entry_fn = b.func_for_pc(fpc)
    if entry_fn is None:
        return [_verbatim(f, "its pc is outside every function of the binary") for f in group]
    want = [(f.function, f.line) for f in group]
    tries = [fpc, fpc - 1] if after_sigpanic else [fpc - 1, fpc]
    if fpc == entry_fn.entry:
        tries = [fpc]
    best = None
    for at in tries:
        chain = b.find_frames(at)
        shown = _align(b, chain, want)
        if shown is not None:
            best = (at, chain, shown)
            break
    if best is None:
        at = tries[0]
        chain = b.find_frames(at)
        got = [(f.symbol, f.line) for f in chain]
        note = "the binary has " + " / ".join(
            f"{printed_name(b, s)}:{ln}" for s, ln in got) + " at this pc"
        return [_verbatim(f, note) for f in group]
    at, chain, shown = best
    frame_bytes = b.frame_bytes(at)
    out = []
    for k, (f, pf) in enumerate(zip(shown, group)):
        physical = k == len(group) - 1
        differs = None
        if (f.file, f.line) != (pf.file, pf.line):
            differs = f"the dump says {pf.file}:{pf.line}"
        if physical:
            offset = pc - f.entry - slide if fpc > entry_fn.entry else None
            if offset != pf.offset and differs is None:
                differs = f"the dump says +{pf.offset:#x}" if pf.offset is not None else \
                    "the dump prints no offset"
            out.append(DumpFrame(printed_name(b, f.symbol), pf.args, f.file, f.line, offset,
                                 pc if pf.pc is not None else None, pf.fp, pf.sp, False,
                                 frame_bytes, differs))
        else:
            out.append(DumpFrame(printed_name(b, f.symbol), "...", f.file, f.line, None, None,
                                 None, None, True, None, differs))
    return out


def _align(b: GoBinary, chain, want: list[tuple[str, int | None]]):
    """The chain's frames the dump printed (same function and line, in order),
    or None if the dump printed one the chain lacks or the last one is not the
    physical function. Chain frames the dump does not show are ones the runtime
    hid (showframe)."""
    shown = []
    k = 0
    for f in chain:
        if k < len(want) and f.line == want[k][1] and _same_function(b, f.symbol, want[k][0]):
            shown.append(f)
            k += 1
    if k != len(want) or shown[-1].inlined:
        return None
    return shown


def _same_function(b: GoBinary, symbol: str, printed: str) -> bool:
    return symbol == printed or b.name_for_print(symbol) == printed


def _frame_pc(b: GoBinary, f: ProfileFrame, slide: int) -> int | None:
    """The frame's runtime PC: printed, or entry + offset."""
    if f.pc is not None:
        return f.pc
    idx = b.indices_named(f.function)
    if len(idx) != 1:
        return None
    return b.table.entry_of(idx[0]) + slide + (f.offset or 0)


def _created_by(b: GoBinary, c: CreatedBy, slide: int) -> DumpFrame:
    """runtime/traceback.go printcreatedby1: the go statement's function, the
    line at pc - PCQuantum, +0x when past the entry."""
    idx = b.indices_named(c.function)
    if len(idx) != 1:
        return DumpFrame(c.function, None, c.file, c.line, c.offset, None, None, None, False,
                         None, "not found in the binary" if not idx else None)
    entry = b.table.entry_of(idx[0])
    pc = entry + (c.offset or 0)
    at = pc - b.table.quantum if pc > entry else pc
    frames = b.find_frames(at)
    inner = frames[0] if frames else None
    file, line = (inner.file, inner.line) if inner else (None, None)
    differs = None if (file, line) == (c.file, c.line) else f"the dump says {c.file}:{c.line}"
    return DumpFrame(printed_name(b, b.table.name_of(idx[0])), None, file, line,
                     c.offset if pc > entry else None, None, None, None, False, None, differs)
