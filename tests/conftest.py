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


ALL_TESTBINS = testbins()
CALLERS = [b for b in ALL_TESTBINS if b.program == "callers"]
REALBINS = realbins()


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
    return set()
