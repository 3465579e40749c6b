"""Unwinding a goroutine's stack from a copy of its memory, as the runtime does.

The rules are runtime/traceback.go's ``unwinder`` (Go 1.21+; Go 1.19's
``gentraceback`` applies the same ones), for a traceback that prints:

* the frame's function is the one whose code holds ``pc``; ``fp = sp +
  funcspdelta(f, pc)`` (the pcsp table at ``pc`` itself), plus the
  return-address slot on amd64, where CALL pushes it;
* a function flagged TOPFRAME (``runtime.goexit``, ``mstart``) ends the stack;
  one flagged SPWRITE (it writes SP in ways pcsp can't describe) ends it too,
  except that the syscall entry state makes ``isSyscall`` clear the flag;
* the caller's PC (``lr``): amd64 reads it at ``fp - 8``; arm64 at ``sp``,
  except for the innermost frame of a function that has not opened a frame
  yet (``sp == fp``), where the link register holds it;
* the caller's frame starts at ``sp = fp``. After an injected call
  (``sigpanic``, ``asyncPreempt``, ``debugCallV2``) the next PC is exact, not a
  return address (``unwindTrap``), and on arm64 the signal handler's saved LR
  and the 16 bytes it pushed are stepped over;
* file, line and inlined frames are looked up at ``pc - 1`` for return
  addresses (``symPC``), at ``pc`` for exact ones.

Addresses here are the target's (runtime) addresses; the binary's tables are
read at ``pc - bias``. The unwinder stops with a note where the runtime would
complain (unknown PC, a caller outside every function, a frame that leaves the
stack, no progress).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .runtime_state import StartState

# internal/abi/symtab.go FuncFlag (also Go 1.19's funcFlag_* in runtime/symtab.go).
FUNC_FLAG_TOPFRAME = 1 << 0
FUNC_FLAG_SPWRITE = 1 << 1

# sys.MinFrameSize and sys.StackAlign (internal/runtime/sys, arch_*.go).
MIN_FRAME_SIZE = {"amd64": 0, "arm64": 8}
STACK_ALIGN = {"amd64": 8, "arm64": 16}

MAX_FRAMES = 1 << 22


@dataclass(frozen=True)
class FuncInfo:
    """What the unwinder needs of a function (runtime addresses)."""

    entry: int
    end: int
    flag: int
    func_id: int
    has_pcsp: bool


class PhysicalFrame(NamedTuple):
    """Fields by position too: code that handles many frames uses plain
    tuples of the same layout (unwind_many)."""

    pc: int  # where the frame executes: a return address unless trap
    sp: int
    fp: int  # the caller's SP
    entry: int
    trap: bool  # pc is exact: look it up as is

    @property
    def sym_pc(self) -> int:
        """The PC whose file, line and inlining describe the frame (unwinder.symPC)."""
        return self.pc if self.trap or self.pc <= self.entry else self.pc - 1

    @property
    def bytes(self) -> int:
        return self.fp - self.sp


@dataclass(frozen=True)
class Unwound:
    # (pc, sp, fp, entry, trap) per physical frame, innermost first: PhysicalFrame
    # from unwind(), plain tuples of the same fields from unwind_many().
    frames: tuple[tuple, ...]
    complete: bool  # reached a TOPFRAME function (goexit, mstart)
    note: str | None


# --- engine adapters: the only places that call into the binary ----------------------------

def _func_info(binary, pc: int) -> FuncInfo | None:
    f = binary.func_for_pc(pc)
    if f is None:
        return None
    return FuncInfo(f.entry, f.end, f.flag, f.func_id, f.pcsp != 0)


def _frame_bytes(binary, pc: int) -> int | None:
    """pcsp at pc plus the return-address slot."""
    return binary.frame_bytes(pc)


def _sp_delta(binary, pc: int) -> int | None:
    return binary.sp_delta(pc)


class Unwinder:
    """Unwinds goroutines of one binary loaded at bias; caches per-PC facts."""

    def __init__(self, binary, bias: int) -> None:
        self.b = binary
        self.bias = bias
        self.arch = binary.arch
        self.uses_lr = self.arch == "arm64"
        ids = {name: value for value, name in binary.func_id_names.items()}
        self.injected_ids = {ids[n] for n in ("sigpanic", "asyncPreempt", "debugCallV2")
                             if n in ids}
        self.cgocallback_id = ids.get("cgocallback")
        self._funcs: dict[int, FuncInfo | None] = {}
        self._fbytes: dict[int, int | None] = {}
        self._delta: dict[int, int | None] = {}

    # cached lookups, runtime addresses in and out
    def func_at(self, pc: int) -> FuncInfo | None:
        try:
            return self._funcs[pc]
        except KeyError:
            pass
        fi = _func_info(self.b, pc - self.bias)
        if fi is not None and self.bias:
            fi = FuncInfo(fi.entry + self.bias, fi.end + self.bias, fi.flag, fi.func_id,
                          fi.has_pcsp)
        self._funcs[pc] = fi
        return fi

    def frame_bytes(self, pc: int) -> int | None:
        try:
            return self._fbytes[pc]
        except KeyError:
            v = self._fbytes[pc] = _frame_bytes(self.b, pc - self.bias)
            return v

    def sp_delta(self, pc: int) -> int | None:
        try:
            return self._delta[pc]
        except KeyError:
            v = self._delta[pc] = _sp_delta(self.b, pc - self.bias)
            return v

    def unwind(self, start: StartState, stack: bytes | memoryview, stack_hi: int) -> Unwound:
        """Physical frames, innermost first, from start over a copy of the stack
        memory [start.sp, stack_hi)."""
        word = _word_reader(memoryview(stack), start.sp)
        pc, sp, lr = start.pc, start.sp, start.lr if self.uses_lr else 0
        # initAt: a zero PC is a call through a nil function value: start in the caller.
        if pc == 0:
            pc = word(sp) or 0
            if self.uses_lr:
                lr = 0
            else:
                sp += 8
        frames: list[PhysicalFrame] = []
        complete, note = self._walk(pc, sp, lr, start.trap, True, start.source == "syscall",
                                    word, stack_hi, frames)
        return Unwound(tuple(frames), complete, note)

    def _walk(self, pc: int, sp: int, lr: int, trap: bool, innermost: bool, is_syscall: bool,
              word, stack_hi: int, frames: list) -> tuple[bool, str | None]:
        """Unwind from the given state, appending to frames; (complete, note)."""
        while len(frames) < MAX_FRAMES:
            f = self.func_at(pc)
            if f is None:
                return False, f"unknown pc {pc:#x}"
            if not f.has_pcsp:
                frames.append(PhysicalFrame(pc, sp, sp, f.entry, trap))
                return False, f"no frame information at {pc:#x}"
            flag = f.flag
            if f.func_id == self.cgocallback_id or (innermost and is_syscall):
                flag &= ~FUNC_FLAG_SPWRITE
            fb = self.frame_bytes(pc)
            if fb is None:
                return False, f"no pcsp value at {pc:#x}"
            fp = sp + fb
            if fp > stack_hi:
                return False, f"frame at {pc:#x} ends above the stack's top {stack_hi:#x}"
            if flag & FUNC_FLAG_TOPFRAME:
                frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
                return True, None
            if flag & FUNC_FLAG_SPWRITE:
                # The runtime stops here too (it prints no error when printing).
                frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
                return False, f"stopped at {pc:#x}: its function writes SP (SPWRITE)"
            if self.uses_lr:
                if (innermost and sp < fp) or lr == 0:
                    lr = word(sp)
            else:
                lr = word(fp - 8)
            frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
            if lr is None:
                return False, f"the return address of the frame at {pc:#x} is outside the stack"
            if lr == 0:
                # unwinder.next: "Do not unwind past the bottom of the stack."
                return True, None
            if self.func_at(lr) is None:
                return False, f"unexpected return pc {lr:#x} (called from the frame at {pc:#x})"
            if pc == lr and sp == fp:
                return False, f"traceback stuck at pc={pc:#x}"
            injected = f.func_id in self.injected_ids
            trap = injected
            pc, sp, lr = lr, fp, 0
            innermost = False
            is_syscall = False
            if self.uses_lr and injected:
                # sighandler saved LR on the stack before faking the call.
                x = word(sp)
                sp += _align_up(MIN_FRAME_SIZE[self.arch], STACK_ALIGN[self.arch])
                if x is not None:
                    if self.func_at(pc) is None:
                        pc = x
                    elif self.sp_delta(pc) == 0:
                        lr = x
        return False, f"more than {MAX_FRAMES} frames"

    # --- many goroutines at once ------------------------------------------------------------
    def unwind_many(self, starts: list[StartState | None], buffer, offsets: np.ndarray,
                    stack_his: np.ndarray, scalar_below: int = 16) -> list[Unwound | None]:
        """unwind() for many goroutines whose stack copies lie in one buffer
        (goroutine i's [starts[i].sp, stack_his[i]) at offsets[i], -1: none).

        The same rules, applied level by level to all goroutines with numpy:
        the per-PC facts are looked up once per distinct PC of a level, and the
        return addresses are gathered from the buffer viewed as 64-bit words.
        Goroutines that need the rare paths (a zero start PC, an arm64
        injected call, a misaligned copy) and the few left when most stacks
        have ended (fewer than scalar_below) continue in the scalar walk."""
        n = len(starts)
        out: list[Unwound | None] = [None] * n
        words = np.frombuffer(buffer, dtype="<u8", count=len(buffer) // 8) if len(buffer) else \
            np.zeros(0, np.uint64)
        frames: dict[int, list] = {}  # frames of the scalar walks, after the level ones
        level_out: list = []
        done: dict[int, tuple[bool, str | None]] = {}
        rows, pcs, sps, lrs, traps, sysc = [], [], [], [], [], []
        for i, st in enumerate(starts):
            off = int(offsets[i])
            if st is None or off < 0:
                continue
            if st.pc == 0 or off % 8 or st.sp % 8:
                stack = memoryview(buffer)[off:off + int(stack_his[i]) - st.sp]
                out[i] = self.unwind(st, stack, int(stack_his[i]))
                continue
            rows.append(i)
            pcs.append(st.pc)
            sps.append(st.sp)
            lrs.append(st.lr if self.uses_lr else 0)
            traps.append(st.trap)
            sysc.append(st.source == "syscall")
        if rows:
            idx = np.array(rows, np.int64)
            base_sp = np.array(sps, np.uint64)
            self._levels(idx, np.array(pcs, np.uint64), np.array(sps, np.uint64),
                         np.array(lrs, np.uint64), np.array(traps, bool), np.array(sysc, bool),
                         base_sp, offsets[idx].astype(np.int64),
                         stack_his[idx].astype(np.uint64), words, buffer, frames, done,
                         level_out, scalar_below)
        # Every level's frames at once: sorted by goroutine (stably, so in level
        # order), made into (pc, sp, fp, entry, trap) tuples in one zip.
        if level_out:
            cols = [np.concatenate([lv[k] for lv in level_out]) for k in range(6)]
            order = np.argsort(cols[0], kind="stable")
            gidx = cols[0][order]
            rows_ = list(zip(*(c[order].tolist() for c in cols[1:])))
            bounds = np.searchsorted(gidx, np.arange(n + 1)).tolist()
        else:
            rows_, bounds = [], [0] * (n + 1)
        for i in rows:
            complete, note = done.get(i, (False, "unwinding did not finish"))
            fs = rows_[bounds[i]:bounds[i + 1]]
            if i in frames:
                fs.extend(frames[i])
            out[i] = Unwound(tuple(fs), complete, note)
        return out

    def _facts(self, upcs: np.ndarray):
        """Per distinct PC: found, entry, flag, func_id, has_pcsp, frame_bytes
        (-1: unknown), and whether a return to it is valid."""
        n = len(upcs)
        found = np.zeros(n, bool)
        entry = np.zeros(n, np.uint64)
        flag = np.zeros(n, np.int64)
        fid = np.zeros(n, np.int64)
        has_pcsp = np.zeros(n, bool)
        fb = np.full(n, -1, np.int64)
        for k, pc in enumerate(upcs.tolist()):
            f = self.func_at(pc)
            if f is None:
                continue
            found[k] = True
            entry[k], flag[k], fid[k], has_pcsp[k] = f.entry, f.flag, f.func_id, f.has_pcsp
            if f.has_pcsp:
                v = self.frame_bytes(pc)
                if v is not None:
                    fb[k] = v
        return found, entry, flag, fid, has_pcsp, fb

    def _levels(self, idx, pc, sp, lr, trap, sysc, base_sp, base_off, hi, words, buffer,
                frames, done, level_out, scalar_below) -> None:
        """level_out collects per level (idx, pc, sp, fp, entry, trap) of the
        frames recorded; frames[i] those of goroutines finished by _walk."""
        innermost = True
        injected_ids = np.array(sorted(self.injected_ids) or [-1], np.int64)
        while len(idx):
            if len(idx) < scalar_below or len(level_out) >= MAX_FRAMES:
                for j in range(len(idx)):
                    i = int(idx[j])
                    off, b = int(base_off[j]), int(base_sp[j])
                    stack = memoryview(buffer)[off:off + int(hi[j]) - b]
                    done[i] = self._walk(int(pc[j]), int(sp[j]), int(lr[j]), bool(trap[j]),
                                         innermost, bool(sysc[j]), _word_reader(stack, b),
                                         int(hi[j]), frames.setdefault(i, []))
                return
            upcs, inv = np.unique(pc, return_inverse=True)
            inv = inv.reshape(-1)
            found, entry, flag, fid, has_pcsp, fb = (a[inv] for a in self._facts(upcs))
            alive = np.ones(len(idx), bool)
            record = np.zeros(len(idx), bool)
            fp = sp.copy()

            def finish(mask, complete, note_of):
                for j in np.flatnonzero(mask & alive).tolist():
                    done[int(idx[j])] = (complete, note_of(j))
                alive[mask] = False

            finish(~found, False, lambda j: f"unknown pc {int(pc[j]):#x}")
            nopcsp = alive & ~has_pcsp
            record |= nopcsp
            finish(nopcsp, False, lambda j: f"no frame information at {int(pc[j]):#x}")
            finish(alive & (fb < 0), False, lambda j: f"no pcsp value at {int(pc[j]):#x}")
            fp = np.where(alive, sp + fb.clip(0).astype(np.uint64), sp)
            finish(alive & (fp > hi), False, lambda j: f"frame at {int(pc[j]):#x} ends above "
                                                        f"the stack's top {int(hi[j]):#x}")
            flags = flag.copy()
            clear = (fid == (self.cgocallback_id if self.cgocallback_id is not None else -2))
            if innermost:
                clear |= sysc
            flags[clear] &= ~FUNC_FLAG_SPWRITE
            top = alive & (flags & FUNC_FLAG_TOPFRAME != 0)
            record |= top
            finish(top, True, lambda j: None)
            spw = alive & (flags & FUNC_FLAG_SPWRITE != 0)
            record |= spw
            finish(spw, False, lambda j: f"stopped at {int(pc[j]):#x}: its function writes SP "
                                         "(SPWRITE)")
            # The caller's PC.
            if self.uses_lr:
                need = (sp < fp) if innermost else np.ones(len(idx), bool)
                need |= lr == 0
                at = np.where(need, sp, 0)
            else:
                need = np.ones(len(idx), bool)
                at = fp - np.uint64(8)
            rel = at.astype(np.int64) - base_sp.astype(np.int64)
            size = (hi - base_sp).astype(np.int64)
            readable = need & (rel >= 0) & (rel + 8 <= size)
            widx = np.where(readable, (base_off + rel) // 8, 0)
            got = words[widx] if len(words) else np.zeros(len(idx), np.uint64)
            new_lr = np.where(need, np.where(readable, got, 0), lr)
            record |= alive
            finish(alive & need & ~readable, False, lambda j: "the return address of the frame "
                   f"at {int(pc[j]):#x} is outside the stack")
            finish(alive & (new_lr == 0), True, lambda j: None)
            if alive.any():
                ulr, linv = np.unique(new_lr[alive], return_inverse=True)
                ok_lr = np.array([self.func_at(v) is not None for v in ulr.tolist()], bool)
                bad = np.zeros(len(idx), bool)
                bad[np.flatnonzero(alive)] = ~ok_lr[linv.reshape(-1)]
                finish(bad, False, lambda j: f"unexpected return pc {int(new_lr[j]):#x} "
                                             f"(called from the frame at {int(pc[j]):#x})")
                finish(alive & (pc == new_lr) & (sp == fp), False,
                       lambda j: f"traceback stuck at pc={int(pc[j]):#x}")
            r = np.flatnonzero(record)
            level_out.append((idx[r], pc[r], sp[r], fp[r], entry[r], trap[r]))
            injected = np.isin(fid, injected_ids)
            if self.uses_lr and (alive & injected).any():
                # Rare: the signal handler's saved LR; continue those alone.
                special = alive & injected
                for j in np.flatnonzero(special).tolist():
                    i = int(idx[j])
                    off, b = int(base_off[j]), int(base_sp[j])
                    word = _word_reader(memoryview(buffer)[off:off + int(hi[j]) - b], b)
                    npc, nsp, nlr = int(new_lr[j]), int(fp[j]), 0
                    x = word(nsp)
                    nsp += _align_up(MIN_FRAME_SIZE[self.arch], STACK_ALIGN[self.arch])
                    if x is not None:
                        if self.func_at(npc) is None:
                            npc = x
                        elif self.sp_delta(npc) == 0:
                            nlr = x
                    done[i] = self._walk(npc, nsp, nlr, True, False, False, word, int(hi[j]),
                                         frames.setdefault(i, []))
                alive &= ~special
            keep = np.flatnonzero(alive)
            idx, pc, sp, lr = idx[keep], new_lr[keep], fp[keep], np.zeros(len(keep), np.uint64)
            trap, sysc = injected[keep], np.zeros(len(keep), bool)
            base_sp, base_off, hi = base_sp[keep], base_off[keep], hi[keep]
            innermost = False


def _word_reader(mem: memoryview, base: int):
    size = len(mem)

    def word(addr: int) -> int | None:
        off = addr - base
        if 0 <= off and off + 8 <= size:
            return struct.unpack_from("<Q", mem, off)[0]
        return None

    return word


def _align_up(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)
