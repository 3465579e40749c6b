"""What every target (a live process, an ELF core file) provides.

A target answers three questions about a stopped (or dead) program: what bytes
are at an address, which threads it has and what their registers hold, and
where its executable is loaded. Reading is all it does: it knows nothing of Go.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..errors import GosymError

# Auxiliary vector keys (include/uapi/linux/auxvec.h).
AT_ENTRY = 9


class TargetError(GosymError):
    """The target can't be read at all (gone, not permitted, malformed)."""


class TargetAccessError(TargetError):
    """No such process, or no permission to read it: like a file that can't be opened."""

    exit_code = 2


class TargetMemoryError(TargetError):
    """An address the target does not have (unmapped, or not in the core file)."""


@dataclass(frozen=True)
class Registers:
    """The registers an unwinder needs, from ptrace or a core's NT_PRSTATUS."""

    pc: int
    sp: int
    fp: int  # frame pointer: RBP on amd64, X29 on arm64
    lr: int | None  # link register (X30) on arm64; None on amd64
    g: int | None = None  # the Go g register (R28) on arm64; None on amd64


@dataclass(frozen=True)
class Thread:
    tid: int
    registers: Registers | None  # None: could not be read


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    offset: int  # file offset of start
    path: str | None  # None for anonymous memory


@dataclass
class Batch:
    """The result of Target.read_many: request i's bytes are
    data[offsets[i]:offsets[i] + sizes[i]] when ok[i]."""

    data: bytearray | memoryview
    offsets: np.ndarray  # int64
    sizes: np.ndarray  # int64
    ok: np.ndarray  # bool

    def get(self, i: int) -> memoryview | None:
        if not self.ok[i]:
            return None
        o = int(self.offsets[i])
        return memoryview(self.data)[o:o + int(self.sizes[i])]


def parse_auxv(raw: bytes) -> dict[int, int]:
    """(key, value) pairs of 8 bytes each until AT_NULL."""
    out: dict[int, int] = {}
    words = np.frombuffer(raw[:len(raw) // 16 * 16], dtype="<u8").reshape(-1, 2)
    for key, value in words.tolist():
        if key == 0:
            break
        out[key] = value
    return out


def registers_from_prstatus(arch: str, regs: Sequence[int]) -> Registers:
    """Registers from the words of a user_regs_struct (amd64) or user_pt_regs
    (arm64): arch/x86/include/asm/user_64.h, arch/arm64/include/uapi/asm/ptrace.h."""
    if arch == "amd64":
        # r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs
        # eflags rsp ss fs_base gs_base ds es fs gs
        return Registers(pc=regs[16], sp=regs[19], fp=regs[4], lr=None)
    # x0..x30, sp, pc, pstate
    return Registers(pc=regs[32], sp=regs[31], fp=regs[29], lr=regs[30], g=regs[28])


# Number of 8-byte register words in NT_PRSTATUS / PTRACE_GETREGSET per arch.
PRSTATUS_WORDS = {"amd64": 27, "arm64": 34}


class Target:
    """A program's memory and threads. Subclasses: ProcessTarget, CoreTarget."""

    kind: str  # "process" or "core"
    arch: str  # "amd64" or "arm64"
    description: str  # for messages: "process 1234", "core file core.1234"

    # --- memory -------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        """Exactly size bytes at addr; TargetMemoryError if any is unavailable."""
        raise NotImplementedError

    def read_many(self, addrs: np.ndarray, sizes: np.ndarray) -> Batch:
        """Many reads at once; a request that fails is marked, not raised."""
        addrs = np.asarray(addrs, dtype=np.uint64)
        sizes = np.asarray(sizes, dtype=np.int64)
        offsets = np.zeros(len(sizes), np.int64)
        if len(sizes):
            offsets[1:] = np.cumsum(sizes)[:-1]
        data = bytearray(int(sizes.sum()) if len(sizes) else 0)
        ok = np.zeros(len(sizes), bool)
        view = memoryview(data)
        for i, (a, n, o) in enumerate(zip(addrs.tolist(), sizes.tolist(), offsets.tolist())):
            try:
                view[o:o + n] = self.read(a, n)
                ok[i] = True
            except TargetMemoryError:
                pass
        return Batch(data, offsets, sizes, ok)

    def threads(self) -> list[Thread]:
        raise NotImplementedError

    def auxv(self) -> dict[int, int]:
        return {}

    def mappings(self) -> list[Mapping]:
        return []

    def environ(self) -> dict[str, str]:
        """The process environment, where it can be read ({} for cores)."""
        return {}

    def load_bias(self, elf_entry: int) -> int | None:
        """Runtime address minus file address of the executable (PIE slide):
        AT_ENTRY from the auxiliary vector minus the ELF header's e_entry."""
        entry = self.auxv().get(AT_ENTRY)
        if entry is None:
            return None
        return entry - elf_entry

    # --- consistency -----------------------------------------------------------------
    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Hold the target still while the body reads it (a core is always still)."""
        yield

    @property
    def consistent(self) -> bool:
        """Whether reads see one instant (stopped process or core)."""
        return True

    stop_seconds: float | None = None  # how long a process was held stopped

    def close(self) -> None:
        pass

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
