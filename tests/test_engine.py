"""The engine's two paths of each rule give the same answers.

* pc-value tables: the reference decoder (pcvalue.decode_table, written as the
  runtime's step) and the batch decoder (pcvalue.decode_batch), on every table
  of every test binary and of the damaged binaries of the regression corpus;
* call frames: the scalar unwinder (callframes.callers_frames, written as
  runtime.Frames.Next) and the batch resolver (pcbatch.resolve_callers), on
  every runtime.Callers sample of every test binary, in every configuration,
  and on random PCs of the real binaries;
* the batch API (GoBinary.lookup_pcs) and the scalar calls (find_frames,
  sp_delta, frame_bytes, func_for_pc).

The answers themselves are checked against Go in test_symbolize.py,
test_frames.py and test_tables.py; here the point is that whichever path a
call takes, it is the same answer.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import gosym
from binaries import load_json
from conftest import ALL_TESTBINS, CALLERS, REALBINS, binary_id, need, opened
from gosym import pcvalue
from gosym.callframes import SymbolizeConfig, callers_frames
from gosym.errors import FormatError, GosymError
from gosym.pcbatch import Resolver, resolve_callers
from gosym.pcvalue import MISSING

RUNS = [t for t in CALLERS if t.run_json_path is not None]
REAL = [r for r in REALBINS if r.gosymref_json_path is not None]  # Go binaries debug/gosym reads


def every_table(b: gosym.GoBinary) -> tuple[np.ndarray, np.ndarray]:
    """(offset, span) of every pc-value table of every function: pcsp, pcfile,
    pcln and each pcdata table; span = the size of the function using it."""
    t = b.table
    n = len(t)
    idx = np.arange(n)
    spans = (t.entries[1:] - t.entries[:-1]).astype(np.int64)
    offs = [t.column(c, idx).astype(np.int64) for c in ("pcsp", "pcfile", "pcln")]
    sp = [spans] * 3
    npcdata = t.column("npcdata", idx).astype(np.int64)
    for k in range(int(npcdata.max(initial=0))):
        has = np.flatnonzero(npcdata > k)
        offs.append(t.u32_at(t.record_offsets[has] + t.layout.func_size + 4 * k)
                    .astype(np.int64))
        sp.append(spans[has])
    offs_all, spans_all = np.concatenate(offs), np.concatenate(sp)
    keep = offs_all != 0
    return offs_all[keep], spans_all[keep]


def compare_decoders(b: gosym.GoBinary) -> int:
    """Decode every table with both decoders; returns how many were compared."""
    t = b.table
    offs, spans = every_table(b)
    # A table shared by functions of several sizes: bound it by the largest.
    order = np.lexsort((-spans, offs))
    offs, spans = offs[order], spans[order]
    first = np.concatenate(([True], offs[1:] != offs[:-1]))
    offs, spans = offs[first], spans[first]
    batch = t.decode_tables(offs, spans)
    data = t.data
    for k, (off, span) in enumerate(zip(offs.tolist(), spans.tolist())):
        ref = pcvalue.decode_table(data, t.pctab_base + off, t.quantum, len(data), span)
        assert batch.rows(k) == ref, (b.path, off)
    return len(offs)


@pytest.mark.parametrize("tb", need(ALL_TESTBINS, "test binaries"), ids=binary_id)
def test_pcvalue_batch_equals_reference(tb):
    b = opened(str(tb.path))
    assert compare_decoders(b) > 1000


# A few amd64/arm64 ones, and every one of the other platforms (other word
# sizes, byte orders and containers).
DECODER_REAL = REAL[:6] + [r for r in REAL[6:] if r.goarch not in ("amd64", "arm64") or
                           r.goos not in ("linux", "darwin")]


@pytest.mark.parametrize("rb", need(DECODER_REAL, "real binaries", "make realbins"),
                         ids=binary_id)
def test_pcvalue_batch_equals_reference_real(rb):
    assert compare_decoders(opened(str(rb.path))) > 1000


def _damaged(case: dict) -> bytes | None:
    """The damaged binary of a regression case (None if its test binary isn't built)."""
    from regressions import mutations

    tb = next((t for t in ALL_TESTBINS if t.id == case["testbin"]), None)
    if tb is None:
        return None
    data = tb.path.read_bytes()
    regs = mutations.regions(str(tb.path))
    for m in case.get("mutations") or [case["mutation"]]:
        if regs[m["region"]][0] >= len(data):
            break
        data = mutations.apply(data, regs, m)
    return data


def _cases() -> list[dict]:
    from regressions import mutations
    return mutations.load_cases()


@pytest.mark.parametrize("case", need(_cases(), "regression cases"),
                         ids=lambda c: c["testbin"] if c else "none")
def test_pcvalue_decoders_agree_on_damaged_binaries(case, tmp_path):
    """On the regression corpus (damaged binaries that once broke gosym): either
    both decoders give the same rows, or both say the table is malformed."""
    data = _damaged(case)
    if data is None:
        pytest.skip(f"{case['testbin']} not built; run `make testbins`")
    path = tmp_path / "damaged"
    path.write_bytes(data)
    try:
        b = gosym.open(str(path))
    except GosymError:
        return  # nothing to decode
    try:
        t = b.table
        try:
            offs, spans = every_table(b)
        except GosymError:
            return
        for off, span in zip(offs.tolist()[:5000], spans.tolist()[:5000]):
            try:
                ref = t.rows(off, span)
            except FormatError:
                ref = None
            try:
                got = t.decode_tables(np.array([off]), np.array([span])).rows(0)
            except FormatError:
                got = None
            assert got == ref, (case["testbin"], off)
    finally:
        b.close()


CONFIGS = [SymbolizeConfig(), SymbolizeConfig(pc_is_exact=True),
           SymbolizeConfig(inline=False), SymbolizeConfig(elide_wrappers=False)]


def same(a, b) -> None:
    assert a.frames == b.frames
    assert a.consumed == b.consumed
    assert a.unknown == b.unknown
    assert a.elided == b.elided


@pytest.mark.parametrize("tb", need(RUNS, "callers binaries with .run.json"), ids=binary_id)
def test_callers_frames_scalar_equals_batch(tb):
    """Every runtime.Callers sample, every configuration, alone and as one list;
    with a PC outside every function in front; with physical PCs only."""
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = run["main_main"] - b.lookup("main.main").entry
    r = Resolver(b)
    lists = [s["pcs"] for s in run["samples"]]
    lists.append([p for s in run["samples"] for p in s["pcs"]])
    lists.append([1] + run["samples"][0]["pcs"])
    for pcs in lists:
        for cfg in CONFIGS:
            cfg = SymbolizeConfig(slide=slide, pc_is_exact=cfg.pc_is_exact, inline=cfg.inline,
                                  elide_wrappers=cfg.elide_wrappers)
            same(callers_frames(b, pcs, cfg), resolve_callers(b, pcs, cfg, r))


@pytest.mark.parametrize("rb", need(REAL, "real binaries", "make realbins"), ids=binary_id)
def test_callers_frames_scalar_equals_batch_real(rb):
    """Random PCs of a real binary, as one list (the batch path decodes the
    tables with numpy, the scalar path one at a time)."""
    b = opened(str(rb.path))
    ents = b.table.entries.tolist()
    rnd = random.Random(5)
    pcs = []
    while len(pcs) < 1500:
        i = rnd.randrange(len(ents) - 1)
        if ents[i + 1] - ents[i] > 1:
            pcs.append(ents[i] + rnd.randrange(1, ents[i + 1] - ents[i]))
    for cfg in CONFIGS:
        same(callers_frames(b, pcs, cfg), resolve_callers(b, pcs, cfg, Resolver(b,
                                                                              small_batch=0)))


@pytest.mark.parametrize("tb", need([t for t in ALL_TESTBINS if t.variant in ("default", "pie")],
                                    "test binaries"), ids=binary_id)
def test_lookup_pcs_equals_scalar_calls(tb):
    """The batch API against the per-PC calls, on entries, return addresses and
    exact PCs of every function (and PCs outside every function)."""
    b = opened(str(tb.path))
    t = b.table
    ents = t.entries
    n = len(t)
    rnd = random.Random(3)
    picks = sorted(rnd.sample(range(n), min(n, 400)))
    pcs = [int(ents[0]) - 1, int(ents[-1])]
    for i in picks:
        e, z = int(ents[i]), int(ents[i + 1])
        pcs += [e, e + 1, (e + z) // 2, z - 1]
    for exact in (False, True):
        batch = b.lookup_pcs(pcs, exact=exact)
        for k, pc in enumerate(pcs):
            f = b.func_for_pc(pc)
            assert bool(batch.found[k]) == (f is not None)
            if f is None:
                assert batch.func_index[k] == -1
                continue
            assert int(batch.func_index[k]) == f.index and int(batch.entry[k]) == f.entry
            lookup = pc if exact or pc == f.entry else pc - 1
            assert int(batch.lookup_pc[k]) == lookup
            sp = b.sp_delta(lookup)
            assert (None if batch.sp_delta[k] == MISSING else int(batch.sp_delta[k])) == sp
            fb = b.frame_bytes(lookup)
            assert (None if batch.frame_bytes[k] == MISSING else int(batch.frame_bytes[k])) == fb
            scalar = [fr._replace(index=k) for fr in b.find_frames(lookup)]
            assert batch.frames_of(k) == scalar
