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


def need(items: list, what: str) -> list:
    """Parametrize over items, or one skipped case when the cache has none."""
    if items:
        return items
    return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} built; run `make testbins`"))]


ALL_TESTBINS = testbins()
CALLERS = [b for b in ALL_TESTBINS if b.program == "callers"]
REALBINS = realbins()
