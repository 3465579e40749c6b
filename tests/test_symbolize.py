"""gosym symbolize against the runtime's own answers.

Every callers test binary recorded, while running, the PCs runtime.Callers
returned for each sample and runtime.CallersFrames' frames for them
(.run.json). gosym must give the same frames — function, file, line, entry —
one for one: for the raw PC lists, for the same lists without the virtual PCs
of inlined callers (what perf/eBPF/core dumps give), and, translated by function
offsets, on the darwin builds of the same program.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import gosym
from binaries import load_json, parse_nm
from conftest import CALLERS, need, opened
from gosym import symbolize as S
from gosym.cli import main

RUNS = [b for b in CALLERS if b.run_json_path is not None]
DARWIN = [b for b in CALLERS if b.goos == "darwin" and b.nm_path is not None]


def slide_of(tb, b: gosym.GoBinary, run: dict) -> int:
    """PIE: the runtime's main.main (printed by the program) minus the file's."""
    return run["main_main"] - b.lookup("main.main").entry


def expected(sample: dict) -> list[tuple]:
    return [(f["function"], f["file"], f["line"], f["entry"]) for f in sample["frames"]]


def got(frames) -> list[tuple]:
    return [(f.function, f.file, f.line, f.entry) for f in frames]


@pytest.mark.parametrize("tb", need(RUNS, "callers binaries with .run.json"),
                         ids=lambda t: t.id if t else "none")
def test_callers_frames(tb):
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = slide_of(tb, b, run)
    if not tb.pie:
        assert slide == 0
    # Both lookup paths: the cached Python stepper (few tables) and the
    # vectorised decoder (many tables; forced with small_batch=0).
    for small in (S.SMALL_BATCH, 0):
        r = S.Resolver(b, small_batch=small)
        for sample in run["samples"]:
            res = S.symbolize(b, sample["pcs"], S.SymbolizeConfig(slide=slide), r)
            assert got(res.iter_frames()) == expected(sample), (sample["name"], small)
            assert not res.unknown
    # All samples as one list: the same frames, sample after sample (the last
    # PC of each sample is runtime.goexit, physical, so nothing spills over).
    allpcs = [p for s in run["samples"] for p in s["pcs"]]
    allexp = [f for s in run["samples"] for f in expected(s)]
    assert got(b.frames(allpcs, slide=slide)) == allexp


def physical_only(b, pcs: list[int], slide: int) -> list[int]:
    """Drop virtual PCs: p where the previous PC's inline chain has a parent at p-1."""
    out = []
    for k, p in enumerate(pcs):
        if k > 0:
            prev = pcs[k - 1] - slide
            chain = b.find_frames(prev - 1 if b.func_for_pc(prev).entry < prev else prev)
            if any(f.pc + 1 == p - slide for f in chain[1:]):
                continue
        out.append(p)
    return out


@pytest.mark.parametrize("tb", need(RUNS, "callers binaries with .run.json"),
                         ids=lambda t: t.id if t else "none")
def test_physical_pc_lists(tb):
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = slide_of(tb, b, run)
    dropped = 0
    for sample in run["samples"]:
        phys = physical_only(b, sample["pcs"], slide)
        dropped += len(sample["pcs"]) - len(phys)
        assert got(b.frames(phys, slide=slide)) == expected(sample), sample["name"]
    # runtime.Callers is inlined into main.capture in every sample, at least.
    assert dropped >= len(run["samples"])


def test_inlined_sample_has_inlined_frames():
    tbs = [t for t in RUNS if t.variant == "default"]
    if not tbs:
        pytest.skip("no callers binaries built")
    for tb in tbs:
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        sample = next(s for s in run["samples"] if s["name"] == "inlined")
        frames = list(b.frames(sample["pcs"]))
        names = [f.function for f in frames if f.inlined]
        assert {"main.inlLeaf", "main.inlMid", "main.inlTop"} <= set(names)
        # inlined frames carry the physical function's entry (runtime.Frame.Entry)
        host = next(f for f in frames if f.function == "main.inlHost")
        assert all(f.entry == host.entry for f in frames if f.function.startswith("main.inl"))


def test_last_pc_expanded_completely():
    """The runtime stops after the last PC's innermost frame; gosym expands it all."""
    tbs = [t for t in RUNS if t.variant == "default"]
    if not tbs:
        pytest.skip("no callers binaries built")
    for tb in tbs:
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        sample = next(s for s in run["samples"] if s["name"] == "inlined")
        pcs = sample["pcs"]
        exp = expected(sample)
        # Cut after the innermost inlined PC of main.inlHost: its chain must
        # still expand to inlLeaf, inlMid, inlTop, inlHost.
        k = next(i for i, f in enumerate(sample["frames"]) if f["function"] == "main.inlLeaf")
        host = next(i for i, f in enumerate(sample["frames"]) if f["function"] == "main.inlHost")
        assert got(b.frames(pcs[:k + 1])) == exp[:host + 1]
        # and the physical PC alone gives the same logical frames
        assert got(b.frames([pcs[k]])) == exp[k:host + 1]


def test_consumed_virtual_pcs_have_empty_frame_lists():
    tbs = [t for t in RUNS if t.variant == "default"]
    if not tbs:
        pytest.skip("no callers binaries built")
    tb = tbs[-1]
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    sample = next(s for s in run["samples"] if s["name"] == "inlined")
    res = S.symbolize(b, sample["pcs"])
    assert len(res.frames) == len(sample["pcs"])
    assert sum(res.consumed) == sum(1 for fs in res.frames if not fs)
    assert sum(len(fs) for fs in res.frames) == len(sample["frames"])


def test_unknown_pc_is_a_question_mark_frame():
    if not RUNS:
        pytest.skip("no callers binaries built")
    tb = RUNS[0]
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    pcs = run["samples"][0]["pcs"]
    res = S.symbolize(b, [1] + pcs, S.SymbolizeConfig(slide=slide_of(tb, b, run)))
    assert res.unknown == [0]
    assert res.frames[0][0][1] == "?" and res.frames[0][0][4] is None
    assert got(res.iter_frames())[1:] == expected(run["samples"][0])


def test_no_inline_gives_physical_function_at_its_call_site():
    """--no-inline: per PC the physical function, at the line where the runtime
    reports that function's frame (the outermost frame of the chain)."""
    tbs = [t for t in RUNS if t.variant == "default"]
    if not tbs:
        pytest.skip("no callers binaries built")
    for tb in tbs:
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        for sample in run["samples"]:
            res = S.symbolize(b, sample["pcs"], S.SymbolizeConfig(inline=False))
            for pc, fs in zip(sample["pcs"], res.frames):
                assert len(fs) == 1
                # the runtime's frame for the physical function of this PC:
                # the first frame at or after this PC whose entry matches and
                # is not inlined, i.e. whose function is the one nm places there.
                frame = fs[0]
                phys = [f for f in sample["frames"] if f["entry"] == frame[4]
                        and f["function"] == frame[1]]
                assert phys, (sample["name"], frame)
                assert (frame[2], frame[3]) in {(f["file"], f["line"]) for f in phys}


def _code_sizes(asm_path) -> dict[str, int]:
    """Code size of each function compiled in package main (-S listing's size=)."""
    import re
    out = {}
    with open(asm_path) as f:
        for line in f:
            m = re.match(r'^(\S+) STEXT\b.*?\bsize=(\d+)', line)
            if m:
                out[m.group(1).replace('"".', "main.")] = int(m.group(2))
    return out


def _nm_funcs(path):
    out = {}
    for addr, size, typ, name in parse_nm(path):
        if typ in "Tt" and size:
            out.setdefault(name, (addr, size))
    return out


def _containing(nm_sorted, pc):
    import bisect
    i = bisect.bisect_right([a for a, _, _ in nm_sorted], pc) - 1
    if i >= 0:
        a, s, n = nm_sorted[i]
        if a <= pc < a + s:
            return a, s, n
    return None


@pytest.mark.parametrize("tb", need(DARWIN, "darwin callers binaries"),
                         ids=lambda t: t.id if t else "none")
def test_darwin_builds_by_function_offset(tb):
    """The linux run's PCs, moved to the darwin build of the same program by
    function + offset, give the same functions and lines.

    Only functions of package main whose code has the same size on both
    (size= of the compiler's -S listings) are used: a different size means
    different code, whose offsets do not correspond (go tool nm's sizes include
    alignment padding on Mach-O, so they cannot tell). Runtime functions are
    left out: their code and files differ per OS. Only frames of such functions are compared; a dropped
    function drops all its PCs (its virtual PCs too), so the remaining lists
    keep their inline structure. Entries are compared in darwin addresses.
    """
    linux = next((t for t in RUNS if t.go_version == tb.go_version and t.goarch == tb.goarch
                  and t.variant == "default"), None)
    if linux is None or linux.nm_path is None or linux.asm_path is None or tb.asm_path is None:
        pytest.skip("no linux run (with -S listing) of the same version and arch")
    lsize, dsize = _code_sizes(linux.asm_path), _code_sizes(tb.asm_path)
    run = load_json(linux.run_json_path)
    lnm = sorted((a, s, n) for n, (a, s) in _nm_funcs(linux.nm_path).items())
    dnm = _nm_funcs(tb.nm_path)
    b = opened(str(tb.path))
    compared = 0
    for sample in run["samples"]:
        if len(sample["pcs"]) != len(sample["frames"]):
            continue
        pcs, exp = [], []
        for pc, f in zip(sample["pcs"], sample["frames"]):
            hit = _containing(lnm, pc - 1)
            if hit is None:
                continue
            addr, size, name = hit
            d = dnm.get(name)
            if d is None or name not in lsize or lsize[name] != dsize.get(name):
                continue
            pcs.append(d[0] + (pc - addr))
            exp.append((f["function"], f["file"], f["line"], d[0]))
        if not pcs:
            continue
        assert got(b.frames(pcs)) == exp, sample["name"]
        compared += len(pcs)
    assert compared >= 10


# --- CLI ---------------------------------------------------------------------------

def _runner():
    return CliRunner()


def _cli_case():
    # amd64 PIE: loaded with a real slide (the arm64 runs under qemu-user are not)
    tbs = [t for t in RUNS if t.variant == "pie" and t.goarch == "amd64"] or RUNS
    if not tbs:
        pytest.skip("no callers binaries built")
    tb = tbs[-1]
    return tb, load_json(tb.run_json_path)


def test_cli_json_matches_runtime():
    tb, run = _cli_case()
    b = opened(str(tb.path))
    slide = slide_of(tb, b, run)
    for sample in run["samples"][:6]:
        stdin = " ".join(hex(p) for p in sample["pcs"]) + "\n"
        r = _runner().invoke(main, ["symbolize", "--json", "--slide", hex(slide),
                                    str(tb.path)], input=stdin)
        assert r.exit_code == 0, r.stderr
        assert r.stderr == ""
        doc = json.loads(r.stdout)
        assert [o["pc"] for o in doc] == sample["pcs"]
        flat = [(f["function"], f["file"], f["line"], f["entry"]) for o in doc for f in o["frames"]]
        assert flat == expected(sample)


def test_cli_anchor_equals_slide():
    tb, run = _cli_case()
    sample = run["samples"][1]
    args = [str(tb.path)] + [hex(p) for p in sample["pcs"]]
    r = _runner().invoke(main, ["symbolize", "--json", "--anchor",
                                f"main.main={run['main_main']:#x}"] + args)
    assert r.exit_code == 0, r.stderr
    flat = [(f["function"], f["file"], f["line"], f["entry"])
            for o in json.loads(r.stdout) for f in o["frames"]]
    assert flat == expected(sample)


def test_cli_text_format():
    """(--format addr2line is held to go tool addr2line itself in test_addr2line.py.)"""
    tb, run = _cli_case()
    b = opened(str(tb.path))
    slide = slide_of(tb, b, run)
    sample = run["samples"][1]
    args = ["--slide", str(slide), str(tb.path)] + [str(p) for p in sample["pcs"]]
    r = _runner().invoke(main, ["symbolize"] + args)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    names = [ln.rsplit("(", 1)[0] for ln in lines[0::2]]
    assert names == [f["function"] for f in sample["frames"]]
    assert [ln.split()[0] for ln in lines[1::2]] == [f"{f['file']}:{f['line']}"
                                                     for f in sample["frames"]]


def test_cli_unknown_and_skipped_go_to_stderr():
    tb, run = _cli_case()
    r = _runner().invoke(main, ["symbolize", str(tb.path)], input="0x1\nnot a pc\n")
    assert r.exit_code == 1  # an address outside every function
    assert r.stdout == "?\n\t?:0 pc=0x1\n"
    assert "not inside any function" in r.stderr
    assert "input line 2 skipped" in r.stderr


def test_cli_errors_are_one_line():
    tb, run = _cli_case()
    r = _runner().invoke(main, ["symbolize", str(tb.path)], input="garbage only\n")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[-1].startswith("gosym: error:")
    r = _runner().invoke(main, ["symbolize", "--slide", "zz", str(tb.path), "0x1"])
    assert r.exit_code == 2 and "gosym: error:" in r.stderr and "Traceback" not in r.stderr
    r = _runner().invoke(main, ["symbolize", "/nonexistent/binary", "0x1"])
    assert r.exit_code == 2 and r.stderr.startswith("gosym: error:")


@pytest.mark.parametrize("tb", need([t for t in RUNS if t.variant == "default"],
                                    "callers binaries"), ids=lambda t: t.id if t else "none")
def test_physical_wrapper_frames_are_elided(tb):
    """runtime.Callers left the autogenerated (*Point).Sum wrapper out of the
    wrapper_value sample; a physical stack (perf, eBPF) has it. Inserted where
    it sits on the stack (between main.Point.Sum and main.callSummer), it must
    be elided again so the frames stay CallersFrames' frames."""
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    sample = next(s for s in run["samples"] if s["name"] == "wrapper_value")
    wrapper = b.lookup("main.(*Point).Sum")
    if wrapper is None or wrapper.func_id != b.func_id_value("wrapper"):
        pytest.skip("no physical (*Point).Sum wrapper in this build")
    k = next(i for i, f in enumerate(sample["frames"]) if f["function"] == "main.Point.Sum")
    pcs = list(sample["pcs"])
    pcs.insert(k + 1, wrapper.entry + (wrapper.end - wrapper.entry) // 2)
    assert got(b.frames(pcs)) == expected(sample)
    res = S.symbolize(b, pcs, S.SymbolizeConfig(elide_wrappers=False))
    assert "main.(*Point).Sum" in [f[1] for fs in res.frames for f in fs]


# --- real third-party binaries against `go tool addr2line` -------------------------------

def _addr2line():
    from binaries import cache_dir
    tools = sorted((cache_dir() / "go").glob("*/go/pkg/tool/*/addr2line"))
    return str(tools[-1]) if tools else None


REALBINS = [r for r in __import__("conftest").REALBINS]


@pytest.mark.parametrize("rb", need(REALBINS, "real binaries"), ids=lambda r: r.id if r else "none")
def test_realbins_exact_pcs_against_addr2line(rb):
    """find_frames at random exact PCs: the innermost frame's file:line and the
    physical function's name are what `go tool addr2line` prints (it reports
    the outer function with the inlined callee's line). PCs in alignment
    padding, where addr2line prints no file (":-1", or a negative line decoded
    past the table's end), must have no line here."""
    import random
    import subprocess

    from gosym.pclntab import func_name_for_print
    tool = _addr2line()
    if tool is None:
        pytest.skip("no Go toolchain with addr2line in the cache")
    b = opened(str(rb.path))
    if b.container.format == "pe" and not b.container.has_symbols:
        # cmd/internal/objfile/pe.go finds the table only through the
        # runtime.pclntab symbol, which -s removes: addr2line cannot read it.
        pytest.skip("go tool addr2line cannot read a PE file without COFF symbols")
    ents = b.table.entries.tolist()
    rnd = random.Random(7)
    pcs = []
    while len(pcs) < 300:
        i = rnd.randrange(len(ents) - 1)
        if ents[i + 1] - ents[i] > 1:
            pcs.append(ents[i] + rnd.randrange(0, ents[i + 1] - ents[i]))
    out = subprocess.run([tool, str(rb.path)], input="".join(f"{p:#x}\n" for p in pcs),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    inlined = 0
    for k, pc in enumerate(pcs):
        name, loc = lines[2 * k], lines[2 * k + 1]
        frames = b.find_frames(pc)
        assert frames, hex(pc)
        # The runtime prints names with brackets as F[...] from Go 1.18 (funcNameForPrint).
        old = rb.go_version and tuple(map(int, rb.go_version[2:].split(".")[:2])) < (1, 18)
        assert frames[-1].function == (name if old else func_name_for_print(name)), hex(pc)
        inner = frames[0]
        if loc.startswith(":"):  # no file: ":-1", or a negative line read past the table
            assert inner.line is None, hex(pc)
        else:
            assert f"{inner.file}:{inner.line}" == loc, hex(pc)
        inlined += len(frames) > 1
    if b.go_version_tuple and b.go_version_tuple >= (1, 12):
        assert inlined > 0


@pytest.mark.parametrize("rb", need(REALBINS, "real binaries"), ids=lambda r: r.id if r else "none")
def test_realbins_many_random_pcs(rb):
    """20k random PCs inside functions: every PC resolves, and the vectorised
    and cached-stepper lookups agree. (Regression: Go 1.27 init functions have
    inline tree entries whose parentPc leads back to themselves.)"""
    import random
    b = opened(str(rb.path))
    ents = b.table.entries.tolist()
    rnd = random.Random(11)
    pcs = []
    while len(pcs) < 20000:
        i = rnd.randrange(len(ents) - 1)
        if ents[i + 1] - ents[i] > 1:
            pcs.append(ents[i] + rnd.randrange(1, ents[i + 1] - ents[i]))
    vec = S.symbolize(b, pcs, S.SymbolizeConfig(), S.Resolver(b, small_batch=0))
    assert vec.unknown == []
    step = S.symbolize(b, pcs[:2000], S.SymbolizeConfig(), S.Resolver(b, small_batch=1 << 40))
    assert step.frames == vec.frames[:2000]


@pytest.mark.parametrize("tb", need([t for t in RUNS if t.variant in ("default", "pie")],
                                    "callers binaries"), ids=lambda t: t.id if t else "none")
def test_exact_pcs(tb):
    """runtime.Frame.PC values (what pprof's debug=1 output prints: the return
    address minus one) with pc_is_exact give the same frames; the virtual PCs
    of inlined callers are recognised in that form too."""
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = slide_of(tb, b, run)
    for sample in run["samples"]:
        exact = [pc - 1 if pc > f["entry"] else pc
                 for pc, f in zip(sample["pcs"], sample["frames"])]
        res = S.symbolize(b, exact, S.SymbolizeConfig(slide=slide, pc_is_exact=True))
        assert got(res.iter_frames()) == expected(sample), sample["name"]
        assert [f.pc for f in res.iter_frames()] == exact


def test_cli_no_inline_one_frame_per_pc():
    tb, run = _cli_case()
    b = opened(str(tb.path))
    slide = slide_of(tb, b, run)
    sample = next(s for s in run["samples"] if s["name"] == "inlined")
    r = _runner().invoke(main, ["symbolize", "--json", "--no-inline", "--slide", str(slide),
                                str(tb.path)] + [hex(p) for p in sample["pcs"]])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [len(o["frames"]) for o in doc] == [1] * len(sample["pcs"])
    # each is the physical function of the runtime's frame chain it belongs to,
    # at the line the runtime reports for that physical frame
    phys = {(f["function"], f["entry"]): (f["file"], f["line"]) for f in sample["frames"]}
    for o in doc:
        f = o["frames"][0]
        assert not f["inlined"]
        assert phys[(f["function"], f["entry"])] == (f["file"], f["line"])
