"""gosym stack: frame bytes against the compiler's own frame sizes, totals,
depths, profiler cuts and per-package grouping, on the recorded runtime.Callers
samples (.run.json)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from binaries import load_json, parse_asm_locals
from conftest import CALLERS, need, opened
from gosym.cli import main
from gosym.stack import package_of, stack_report
from gosym.symbolize import SymbolizeConfig

RUNS = [b for b in CALLERS if b.run_json_path is not None]
WITH_ASM = [b for b in RUNS if b.asm_path is not None]


def _slide(b, run):
    return run["main_main"] - b.lookup("main.main").entry


# What a frame holds beyond the -S listing's locals=: the return address CALL
# pushes (amd64 8, 386 4), else the link-register save area the assembler adds
# below the locals, cmd/internal/sys/arch.go MinFrameSize (arm and mips 4;
# arm64, loong64, mips64 and s390x 8; ppc64 32: LR, CR and TOC save slots).
# riscv64's assembler counts its 8-byte LR slot into locals= already
# (cmd/internal/obj/riscv/obj.go preprocess sets Func().Locals after adding
# FixedFrameSize; objfile.go prints Locals as locals=).
LOCALS_EXCLUDE = {"amd64": 8, "386": 4, "arm64": 8, "arm": 4, "mips": 4, "mipsle": 4,
                  "mips64": 8, "mips64le": 8, "loong64": 8, "s390x": 8, "ppc64": 32,
                  "ppc64le": 32, "riscv64": 0}


@pytest.mark.parametrize("tb", need(WITH_ASM, "callers binaries with -S listings"),
                         ids=lambda t: t.id if t else "none")
def test_frame_bytes_match_compiler_locals(tb):
    """At a call inside a main.* function the frame is fully set up: its bytes
    are the -S listing's locals= plus the slot the listing leaves out (see
    LOCALS_EXCLUDE)."""
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    locals_ = parse_asm_locals(tb.asm_path)
    checked = 0
    for sample in run["samples"]:
        rep = stack_report(b, sample["pcs"])
        for f in rep.frames:
            if f.inlined or f.elided or not f.function.startswith("main."):
                continue
            if f.function in locals_:
                assert f.frame_bytes == locals_[f.function] + LOCALS_EXCLUDE[tb.goarch], \
                    (sample["name"], f.function)
                checked += 1
    assert checked >= 20


@pytest.mark.parametrize("tb", need(RUNS, "callers binaries with .run.json"),
                         ids=lambda t: t.id if t else "none")
def test_totals_depths_and_cuts(tb):
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = _slide(b, run)
    deep = 32 if tb.version_tuple[:2] < (1, 23) else 128
    for sample in run["samples"]:
        rep = stack_report(b, sample["pcs"], SymbolizeConfig(slide=slide))
        shown = [f for f in rep.frames if not f.elided]
        # the logical frames are runtime.CallersFrames' frames, one for one
        assert [(f.function, f.file, f.line, f.entry) for f in shown] == [
            (g["function"], g["file"], g["line"], g["entry"]) for g in sample["frames"]]
        assert rep.logical_frames == len(sample["frames"])
        assert [f.depth for f in shown] == list(range(len(shown)))
        assert rep.total_bytes == sum(f.frame_bytes for f in rep.frames)
        run_sum = 0
        for f in rep.frames:
            run_sum += f.frame_bytes
            assert f.cumulative == run_sum
            if f.inlined:
                assert f.frame_bytes == 0
        # one physical frame per distinct non-virtual PC: frames with bytes
        assert rep.physical_frames == sum(1 for f in rep.frames if not f.inlined)
        cpu, other = rep.cuts
        assert (cpu.limit, other.limit) == (64, deep)
        for cut in (cpu, other):
            exp_lost = [g["function"] for g in sample["frames"][cut.limit:]]
            assert [f.function for f in cut.lost] == exp_lost
            assert cut.kept == min(cut.limit, len(sample["frames"]))
        if sample["name"] == "recursion":
            assert len(sample["frames"]) > 200
            assert len(cpu.lost) == len(sample["frames"]) - 64
            assert len(other.lost) == len(sample["frames"]) - deep
        # per package: Go's own function names decide the package
        counts: dict[str, int] = {}
        for g in sample["frames"]:
            counts[package_of(g["function"])] = counts.get(package_of(g["function"]), 0) + 1
        assert {g.name: g.frames for g in rep.by_package} == counts
        assert sum(g.bytes for g in rep.by_package) == rep.total_bytes
        assert sum(g.bytes for g in rep.by_module) == rep.total_bytes
        mods = {g.name: g.frames for g in rep.by_module}
        assert mods.get("std", 0) == sum(v for k, v in counts.items()
                                         if k not in ("main",) and "." not in k.split("/")[0])


def test_package_of():
    # names as the runtime prints them (functions of the recorded samples)
    names = {g["function"] for tb in RUNS[:1] for s in load_json(tb.run_json_path)["samples"]
             for g in s["frames"]}
    if not names:
        pytest.skip("no callers binaries built")
    for n in names:
        p = package_of(n)
        assert n.startswith(p + ".")
        assert "." not in p.rsplit("/", 1)[-1]


def test_cli_stack_json_and_text():
    tbs = [t for t in RUNS if t.variant == "default"]
    if not tbs:
        pytest.skip("no callers binaries built")
    tb = tbs[-1]
    run = load_json(tb.run_json_path)
    sample = next(s for s in run["samples"] if s["name"] == "recursion")
    stdin = "[" + " ".join(str(p) for p in sample["pcs"]) + "]\n"
    r = CliRunner().invoke(main, ["stack", "--json", str(tb.path)], input=stdin)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    frames = [f for f in doc["frames"] if not f["elided"]]
    assert [f["function"] for f in frames] == [g["function"] for g in sample["frames"]]
    s = doc["summary"]
    assert s["total_bytes"] == sum(f["frame_bytes"] for f in doc["frames"])
    assert s["logical_frames"] == len(sample["frames"])
    cpu = s["profile_cuts"][0]
    assert cpu["limit"] == 64 and cpu["lost"] == len(sample["frames"]) - 64
    r = CliRunner().invoke(main, ["stack", str(tb.path)], input=stdin)
    assert r.exit_code == 0, r.stderr
    assert f"total {s['total_bytes']} bytes" in r.stdout
    assert "cpu profile (64 frames): loses" in r.stdout
