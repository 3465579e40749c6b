"""Each output has a block path (numpy columns, one ``bytes %`` per block) and a
per-row path; they must write the same bytes. Held equal here on every test
binary, for every format the block path serves."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from binaries import load_json
from conftest import ALL_TESTBINS, CALLERS, binary_id, need, opened
from gosym.callframes import SymbolizeConfig, callers_frames
from gosym.framesize import frame_report
from gosym.pcbatch import Resolver, resolve_callers
from gosym.render import Output
from gosym.render.frames import write_frames
from gosym.render.funcs import write_funcs
from gosym.render.symbolize import write_symbolized


def rendered(write, *args, **kw) -> bytes:
    buf = io.BytesIO()
    out = Output(buf)
    write(out, *args, **kw)
    out.flush()
    return buf.getvalue()


@pytest.mark.parametrize("tb", need(ALL_TESTBINS, "test binaries"), ids=binary_id)
def test_funcs_block_equals_rows(tb):
    b = opened(str(tb.path))
    everything = np.arange(len(b))
    some = b.select(r"^(main|runtime\.m)")
    for idx in (everything, some):
        for fmt in ("text", "json"):
            fast = rendered(write_funcs, b, idx, fmt)
            assert fast == rendered(write_funcs, b, idx, fmt, fast=False), (fmt, len(idx))
            assert fast  # something was written


@pytest.mark.parametrize("tb", need(ALL_TESTBINS, "test binaries"), ids=binary_id)
def test_frames_block_equals_rows(tb):
    b = opened(str(tb.path))
    for sort_key, top in (("size", None), ("name", 50), ("addr", None)):
        ft, names = frame_report(b, np.arange(len(b)), sort_key, top)
        for fmt, pcs in (("text", False), ("json", False), ("json", True)):
            fast = rendered(write_frames, b, ft, names, fmt, pcs)
            slow = rendered(write_frames, b, ft, names, fmt, pcs, fast=False)
            assert fast == slow, (sort_key, fmt, pcs)


RUNS = [t for t in CALLERS if t.run_json_path is not None]


@pytest.mark.parametrize("tb", need(RUNS, "callers binaries with .run.json"), ids=binary_id)
def test_symbolize_columns_equal_frames(tb):
    """Text made from the resolver's columns equals text made from Frame objects
    (the scalar unwinder's result), for each format, on the program's own
    runtime.Callers lists and on random PCs with one outside every function."""
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = run["main_main"] - b.lookup("main.main").entry
    ents = b.table.entries.tolist()
    rnd = random.Random(7)
    rand = [ents[0] - 1] + [ents[i] + slide + rnd.randrange(0, max(1, ents[i + 1] - ents[i]))
                            for i in rnd.sample(range(len(ents) - 1), 300)]
    lists = [s["pcs"] for s in run["samples"]] + [rand]
    r = Resolver(b)
    for pcs in lists:
        for exact in (False, True):
            cfg = SymbolizeConfig(slide=slide, pc_is_exact=exact)
            batch = resolve_callers(b, pcs, cfg, r)
            scalar = callers_frames(b, pcs, cfg)
            for fmt in ("go", "json"):
                a = rendered(write_symbolized, batch, fmt)
                z = rendered(write_symbolized, scalar, fmt)
                assert a == z, (fmt, exact)
