"""Shared test fixtures: built test binaries and a cache of opened ones."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import gosym  # noqa: E402
from binaries import realbins, testbins  # noqa: E402


@functools.lru_cache(maxsize=None)
def opened(path: str, arch: str | None = None) -> gosym.GoBinary:
    """Open each binary once per test session."""
    return gosym.open(path, arch)


def need(items: list, what: str, target: str = "make testbins") -> list:
    """Parametrize over items, or one skipped case when the cache has none."""
    if items:
        return items
    return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} built; run `{target}`"))]


def binary_id(b) -> str:
    """pytest id of a test or real binary parameter (the skipped placeholder is None)."""
    return getattr(b, "id", None) or "none"


# Executable formats gosym refuses with a clear message (XCOFF, Plan 9 a.out):
# their test binaries are checked for that (test_malformed.py), not decoded.
REFUSED_GOOS = ("aix", "plan9")
REFUSED_TESTBINS = [b for b in testbins() if b.goos in REFUSED_GOOS]
ALL_TESTBINS = [b for b in testbins() if b.goos not in REFUSED_GOOS]
CALLERS = [b for b in ALL_TESTBINS if b.program == "callers"]
REALBINS = realbins()

# Go's per-architecture frame facts (internal/goarch/goarch_<arch>.go _MinFrameSize;
# runtime/traceback.go usesLR = MinFrameSize > 0): the return-address slot CALL
# pushes where there is no link register, and the fixed frame bottom that holds the
# saved LR where there is one.
RETURN_SLOT = {"amd64": 8, "386": 4}
MIN_FRAME_SIZE = {"amd64": 0, "386": 0, "arm": 4, "arm64": 8, "ppc64": 32, "ppc64le": 32,
                  "s390x": 8, "riscv64": 8, "loong64": 8, "mips": 4, "mipsle": 4,
                  "mips64": 8, "mips64le": 8}
# DWARF register number of the stack pointer (each architecture's DWARF/ABI
# register numbering, as cmd/internal/obj/<arch> writes it: LinkArch.DWARFRegisters).
DWARF_SP = {"amd64": 7, "386": 4, "arm": 13, "arm64": 31, "ppc64": 1, "ppc64le": 1,
            "s390x": 15, "riscv64": 2, "loong64": 3, "mips": 29, "mipsle": 29,
            "mips64": 29, "mips64le": 29}


def known_pcsp_defects(goos: str, goarch: str, go_version: str | None) -> set[str]:
    """Functions whose pcsp table Go itself got wrong, by platform and release.

    Go <= 1.16 darwin/amd64 runtime.mstart_stub (runtime/sys_darwin_amd64.s) is
    ``TEXT runtime·mstart_stub(SB),NOSPLIT,$0`` followed by ``SUBQ $40, SP``:
    the assembler tracks no explicit SUBQ on SP, and before Go 1.17 there was no
    SPWRITE flag to say so, so its table claims sp_delta 0 inside a 40-byte
    frame. Go 1.17 rewrote it with PUSH_REGS_HOST_TO_ABI0 (ADJSP), which the
    table describes. `gosym check` is right to report it.
    """
    if goos == "darwin" and goarch == "amd64" and go_version:
        parts = go_version.removeprefix("go").split(".")
        if len(parts) >= 2 and parts[0] == "1" and int(parts[1]) <= 16:
            return {"runtime.mstart_stub"}
    if goos == "windows" and go_version:
        parts = go_version.removeprefix("go").split(".")
        if len(parts) >= 2 and int(parts[1]) <= 16:
            # Go <= 1.16 Windows assembly (runtime/sys_windows_{386,amd64}.s) moves SP
            # in ways the assembler does not track, before SPWRITE existed: stdcall
            # callees pop their argument (tstart_stdcall's ADDL $4, SP; the
            # ctrlhandler/profileloop wrappers), callbackasm1 pops the return address
            # of its trampoline, asmstdcall moves SP for the callee's arguments.
            return ({"runtime.ctrlhandler", "runtime.profileloop", "runtime.tstart_stdcall"}
                    if goarch == "386" else
                    {"runtime.asmstdcall", "runtime.callbackasm1"} if goarch == "amd64"
                    else set())
    if goos == "windows" and goarch == "amd64" and go_version:
        # Not a table defect: runtime/asm_amd64.s asmcgocall_landingpad ends the
        # Windows part with ADJSP $-32; RET and keeps the other systems' tail call
        # after it, dead code here. The assembler gives code after a RET the
        # function's own frame (8: the saved BP), while `gosym check` seeds it with
        # the largest delta seen (40, with the ADJSP). Reported, not hidden.
        parts = go_version.removeprefix("go").split(".")
        if len(parts) >= 2 and int(parts[1]) >= 22:
            return {"runtime.asmcgocall_landingpad"}
    if goos == "linux" and goarch == "386":
        # runtime/sys_linux_386.s runtime.clone saves the registers around the
        # child's setldt and emptyfunc calls with PUSHAL/POPAL, which the
        # assembler (cmd/internal/obj/x86/obj6.go) does not count in its SP
        # model as it does PUSHL/POPL: the table is 32 bytes short there.
        return {"runtime.clone"}
    if goarch == "arm":
        # The arm assembler (cmd/internal/obj/arm/obj5.go) tracks SP changes of
        # ADD/SUB and MOVW.W/MOVW.P on R13, not of MOVM.DB.W: assembly that saves
        # registers with it has a pcsp table 4 bytes per register short.
        # runtime/asm_arm.s gcWriteBarrier ("MOVM.DB.W [R0,R1], (R13)"),
        # runtime/rt0_linux_arm.s _rt0_arm_linux1, runtime/sys_linux_arm.s
        # runtime.sigtramp ("MOVM.DB.W [R4-R11], (R13)").
        parts = (go_version or "go1.99").removeprefix("go").split(".")
        old = len(parts) >= 2 and int(parts[1]) < 21  # before the Go 1.21 write barrier
        defects = {"runtime.gcWriteBarrier" if old else "gcWriteBarrier", "runtime.sigtramp"}
        if goos == "linux":
            defects.add("_rt0_arm_linux1")
        return defects
    return set()
