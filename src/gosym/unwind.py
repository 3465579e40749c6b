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

from .runtime_state import StartState

# internal/abi/symtab.go FuncFlag (also Go 1.19's funcFlag_* in runtime/symtab.go).
FUNC_FLAG_TOPFRAME = 1 << 0
FUNC_FLAG_SPWRITE = 1 << 1

# sys.MinFrameSize and sys.StackAlign (internal/runtime/sys, arch_*.go).
MIN_FRAME_SIZE = {"amd64": 0, "arm64": 8}
STACK_ALIGN = {"amd64": 8, "arm64": 16}
RETURN_ADDRESS_SLOT = {"amd64": 8, "arm64": 0}

MAX_FRAMES = 1 << 22


@dataclass(frozen=True)
class FuncInfo:
    """What the unwinder needs of a function (runtime addresses)."""

    entry: int
    end: int
    flag: int
    func_id: int
    has_pcsp: bool


@dataclass(frozen=True)
class PhysicalFrame:
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
    frames: tuple[PhysicalFrame, ...]
    complete: bool  # reached a TOPFRAME function (goexit, mstart)
    note: str | None


# --- engine adapters: the only places that call into the binary ----------------------------

def _func_info(binary, pc: int) -> FuncInfo | None:
    f = binary.func_for_pc(pc)
    if f is None:
        return None
    return FuncInfo(f.entry, f.end, f.flag, f.func_id, f.pcsp != 0)


def _frame_bytes(binary, pc: int) -> int | None:
    """pcsp at pc plus the return-address slot (engine: frame_bytes)."""
    fb = getattr(binary, "frame_bytes", None) or binary.frame_size
    return fb(pc)


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
        base = start.sp
        mem = memoryview(stack)
        size = len(mem)

        def word(addr: int) -> int | None:
            off = addr - base
            if 0 <= off and off + 8 <= size:
                return struct.unpack_from("<Q", mem, off)[0]
            return None

        frames: list[PhysicalFrame] = []
        pc, sp, lr, trap = start.pc, start.sp, start.lr if self.uses_lr else 0, start.trap
        is_syscall = start.source == "syscall"
        # initAt: a zero PC is a call through a nil function value: start in the caller.
        if pc == 0:
            pc = word(sp) or 0
            if self.uses_lr:
                lr = 0
            else:
                sp += 8
        innermost = True
        while len(frames) < MAX_FRAMES:
            f = self.func_at(pc)
            if f is None:
                return Unwound(tuple(frames), False, f"unknown pc {pc:#x}")
            if not f.has_pcsp:
                frames.append(PhysicalFrame(pc, sp, sp, f.entry, trap))
                return Unwound(tuple(frames), False, f"no frame information at {pc:#x}")
            flag = f.flag
            if f.func_id == self.cgocallback_id or (innermost and is_syscall):
                flag &= ~FUNC_FLAG_SPWRITE
            fb = self.frame_bytes(pc)
            if fb is None:
                return Unwound(tuple(frames), False, f"no pcsp value at {pc:#x}")
            fp = sp + fb
            if fp > stack_hi:
                return Unwound(tuple(frames), False,
                               f"frame at {pc:#x} ends above the stack's top {stack_hi:#x}")
            if flag & FUNC_FLAG_TOPFRAME:
                frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
                return Unwound(tuple(frames), True, None)
            if flag & FUNC_FLAG_SPWRITE:
                # The runtime stops here too (it prints no error when printing).
                frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
                return Unwound(tuple(frames), False,
                               f"stopped at {pc:#x}: its function writes SP (SPWRITE)")
            if self.uses_lr:
                if (innermost and sp < fp) or lr == 0:
                    lr = word(sp)
            else:
                lr = word(fp - 8)
            frames.append(PhysicalFrame(pc, sp, fp, f.entry, trap))
            if lr is None:
                return Unwound(tuple(frames), False,
                               f"the return address of the frame at {pc:#x} is outside the stack")
            if lr == 0:
                # unwinder.next: "Do not unwind past the bottom of the stack."
                return Unwound(tuple(frames), True, None)
            if self.func_at(lr) is None:
                return Unwound(tuple(frames), False,
                               f"unexpected return pc {lr:#x} (called from the frame at {pc:#x})")
            if pc == lr and sp == fp:
                return Unwound(tuple(frames), False, f"traceback stuck at pc={pc:#x}")
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
        return Unwound(tuple(frames), False, f"more than {MAX_FRAMES} frames")


def _align_up(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)
