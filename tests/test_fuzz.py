"""Fuzzing: damaged copies of real test binaries through every command and entry point.

Each example picks a small test binary and one to three mutations (truncation,
bit flips, hostile values, zeroed or filled runs) aimed at the structures
gosym reads (see regressions/mutations.py). The contract: every command gives
an answer or exactly one ``gosym: error: ...`` line with a non-zero status; no
traceback, no hang (alarm per case), memory bounded by a small multiple of the
file size.

The default run is short and deterministic (``derandomize=True``); set
GOSYM_FUZZ_EXAMPLES=N for a long run and GOSYM_FUZZ_SEED=N for another sequence. Crashes found are kept in
regressions/cases.json as (test binary, mutation) and replayed by
test_regression_cases.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from conftest import ALL_TESTBINS

sys.path.insert(0, str(Path(__file__).parent / "regressions"))
import mutations  # noqa: E402

EXAMPLES = int(os.environ.get("GOSYM_FUZZ_EXAMPLES", "500"))
# Deterministic by default; GOSYM_FUZZ_SEED=N explores a different sequence.
SEED = os.environ.get("GOSYM_FUZZ_SEED")
CASE_TIMEOUT = float(os.environ.get("GOSYM_FUZZ_TIMEOUT", "30"))
# Peak Python-heap bytes while decoding, as a multiple of the file size (the file
# itself is memory-mapped, not copied), plus a fixed allowance for interpreter
# and numpy overheads.
MEMORY_FACTOR = 4
MEMORY_SLACK = 32 << 20


def _fuzz_targets():
    """Small binaries covering each table layout, container and link mode."""
    picks = {}
    for b in ALL_TESTBINS:
        if b.program != "hello":
            continue
        minor = b.version_tuple[1]
        era = "1.18" if minor < 20 else ("1.20" if minor < 26 else "1.26")
        key = (era, b.goos, b.goarch, b.variant in ("extpie-stripped", "pie-stripped"))
        if b.variant in ("stripped", "extpie-stripped", "pie-stripped") and key not in picks:
            picks[key] = b
    out = [picks[k] for k in sorted(picks)]
    # And two with symbol tables (the table found through section names and symbols).
    with_syms = [b for b in ALL_TESTBINS if b.program == "hello" and b.variant in ("default", "pie")]
    out += [b for b in with_syms if b.goos == "linux" and b.variant == "pie"][-1:]
    out += [b for b in with_syms if b.goos == "darwin"][:1]
    return out


TARGETS = _fuzz_targets()
_PRISTINE: dict[str, tuple[bytes, dict, list[str]]] = {}


def _pristine(b) -> tuple[bytes, dict, list[str]]:
    key = str(b.path)
    if key not in _PRISTINE:
        _PRISTINE[key] = (b.path.read_bytes(), mutations.regions(key), mutations.probe_pcs(key))
    return _PRISTINE[key]


@st.composite
def mutation_lists(draw, regs: dict):
    names = sorted(regs)
    out = []
    for _ in range(draw(st.integers(1, 3))):
        m = {"region": draw(st.sampled_from(names)),
             "op": draw(st.sampled_from(mutations.OPS)),
             "pos": draw(st.integers(0, 1 << 24))}
        if m["op"] == "flip":
            m["bit"] = draw(st.integers(0, 7))
        elif m["op"] == "set":
            m["width"] = draw(st.sampled_from([1, 2, 4, 8]))
            m["value"] = draw(st.sampled_from(mutations.HOSTILE_VALUES) |
                              st.integers(0, (1 << 64) - 1))
        elif m["op"] in ("zero", "fill"):
            m["len"] = draw(st.sampled_from([1, 4, 8, 64, 4096]))
            m["value"] = draw(st.integers(0, 255))
        out.append(m)
        if m["op"] == "truncate":
            break  # later mutations would aim past the end
    return out


def _damage(data: bytes, regs: dict, muts: list[dict]) -> bytes:
    for m in muts:
        start, _ = regs[m["region"]]
        if start >= len(data):
            break
        data = mutations.apply(data, regs, m)
    return data


@pytest.mark.skipif(not TARGETS, reason="no test binaries built; run `make testbins`")
@settings(max_examples=EXAMPLES, derandomize=SEED is None, deadline=None, database=None,
          suppress_health_check=list(HealthCheck), print_blob=True)
@hypothesis_seed(int(SEED or 0))
@given(st.data())
def test_fuzz_damaged_binaries(tmp_path_factory, data):
    b = data.draw(st.sampled_from(TARGETS), label="testbin")
    raw, regs, pcs = _pristine(b)
    muts = data.draw(mutation_lists(regs), label="mutations")
    path = tmp_path_factory.getbasetemp() / "fuzz-case"
    damaged = _damage(raw, regs, muts)
    path.write_bytes(damaged)
    case = {"testbin": b.id, "mutations": muts}

    tracemalloc.start()
    try:
        with mutations.time_limit(CASE_TIMEOUT):
            mutations.exercise_library(str(path))
        _, peak = tracemalloc.get_traced_memory()
    except mutations.CaseTimeout:
        pytest.fail(f"library: no answer within {CASE_TIMEOUT}s: {json.dumps(case)}")
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_FACTOR * len(raw) + MEMORY_SLACK, (peak, json.dumps(case))

    problems = mutations.run_all(str(path), pcs, timeout=CASE_TIMEOUT)
    assert not problems, f"{json.dumps(case)}\n" + "\n".join(problems)


# --- crash inputs found earlier -------------------------------------------------------

BY_ID = {b.id: b for b in ALL_TESTBINS}
CASES = mutations.load_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['testbin']}" for i, c in enumerate(CASES)])
def test_regression_cases(tmp_path, case):
    b = BY_ID.get(case["testbin"])
    if b is None:
        pytest.skip(f"{case['testbin']} not built")
    raw, regs, pcs = _pristine(b)
    muts = case.get("mutations") or [case["mutation"]]
    path = tmp_path / "case"
    path.write_bytes(_damage(raw, regs, muts))
    tracemalloc.start()
    try:
        mutations.exercise_library(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_FACTOR * len(raw) + MEMORY_SLACK, (peak, case.get("note"))
    problems = mutations.run_all(str(path), pcs)
    assert not problems, case.get("note", "") + "\n" + "\n".join(problems)


def test_regression_files_are_small():
    """Regression inputs are recorded as mutations or tiny synthetic files."""
    for p in Path(mutations.HERE).iterdir():
        assert p.stat().st_size < 64 << 10, p


# --- real processes ------------------------------------------------------------------

_CHILD = r"""
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
sys.stdout.write(repr((p.returncode, p.stderr,
                       resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)))
"""


def _gosym_cmd() -> list[str]:
    return [sys.executable, "-c", "import sys; from gosym.cli import main; "
            "sys.argv[0] = 'gosym'; main()"]


def _run_measured(args: list[str]) -> tuple[int, str, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD] + _gosym_cmd() + args,
                         capture_output=True, text=True, timeout=180, check=True)
    return eval(out.stdout)  # noqa: S307 - our own repr


@pytest.mark.skipif(not TARGETS, reason="no test binaries built; run `make testbins`")
def test_damaged_in_real_processes(tmp_path):
    """A few damaged files through the installed entry point: stderr, status, peak RSS."""
    b = TARGETS[-1]
    raw, regs, _ = _pristine(b)
    _, _, base_rss = _run_measured(["info", str(b.path)])
    cases = [[{"region": "pcheader", "op": "set", "pos": 8, "width": 8, "value": 1 << 40}],
             [{"region": "functab", "op": "truncate", "pos": 100}],
             [{"region": "file_header", "op": "fill", "pos": 0, "len": 4, "value": 0}]]
    for muts in cases:
        path = tmp_path / "damaged"
        path.write_bytes(_damage(raw, regs, muts))
        for cmd in ("info", "funcs", "frames"):
            code, stderr, rss_kb = _run_measured([cmd, str(path)])
            assert "Traceback" not in stderr
            assert code == 1, (muts, cmd, stderr)
            assert stderr.count("\n") == 1 and stderr.startswith("gosym: error: "), stderr
            # ru_maxrss is in KiB; the damaged file must not cost much more than the
            # pristine one (the interpreter itself dominates both).
            assert rss_kb * 1024 <= base_rss * 1024 + MEMORY_FACTOR * len(raw) + MEMORY_SLACK
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
