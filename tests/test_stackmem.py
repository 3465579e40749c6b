"""gosym stackmem against the runtime's own numbers.

testbins/stackmem parks goroutines with known stacks and writes their
goroutine profile in every form, plus a GOTRACEBACK=system dump of the same
goroutines (fp=/sp= on every frame) and the addresses of locals at known
depths (see testbins/README.md). Built with Go 1.19, 1.22, 1.24 and 1.27,
linux/amd64 and linux/arm64 (run under qemu), default, pie and stripped.
"""

from __future__ import annotations

import functools
import gzip
import json
import re

import pytest
from click.testing import CliRunner

from binaries import load_json
from conftest import ALL_TESTBINS, need, opened
from gosym import goroutine_profile as gp
from gosym import stackmem as sm
from gosym.render import stackmem as out
from gosym.cli import main
from gosym.errors import FormatError
from gotools import parse_pprof_raw, run_go_tool

CELLS = [b for b in ALL_TESTBINS if b.program == "stackmem" and b.out_dir is not None]
FORMS = ["goroutine.pb.gz", "goroutine.debug1.txt", "goroutine.debug2.txt", "stack_all.txt",
         "panic.txt", "sigquit.txt"]
# The leaf-most function of package main of each kind of parked goroutine
# (testbins/stackmem/main.go).
KINDS = ["main.bigFrame", "main.chainLeaf", "main.chain60Leaf", "main.recurse",
         "main.spawnerRoot", "main.childLeaf", "main.labeledLeaf", "main.workerLeaf",
         "main.inlLeaf", "main.sysLeaf"]
COUNTS = {"main.childLeaf": 3, "main.workerLeaf": 16}


def cell_id(tb) -> str:
    return tb.id if tb else "none"


cells = pytest.mark.parametrize("tb", need(CELLS, "stackmem test binaries"), ids=cell_id)


@functools.lru_cache(maxsize=None)
def profile(path: str) -> gp.GoroutineProfile:
    with open(path, "rb") as f:
        return gp.parse(f.read())


@functools.lru_cache(maxsize=None)
def analyzed(binary: str, path: str) -> sm.StackMemResult:
    return sm.analyze(profile(path), opened(binary))


def result(tb, form: str) -> sm.StackMemResult:
    return analyzed(str(tb.path), str(tb.out_dir / form))


def kind_of(stack: sm.Stack) -> str | None:
    names = {f.function for f in stack.frames}
    return next((k for k in KINDS if k in names), None)


def by_kind(res: sm.StackMemResult) -> dict[str, sm.Stack]:
    out_ = {}
    for s in res.stacks:
        k = kind_of(s)
        if k is not None:
            assert k not in out_, f"two stacks of kind {k}"
            out_[k] = s
    return out_


def depth_limit(tb) -> int:
    return 32 if tb.version_tuple[:2] < (1, 23) else 128


# --- the profile reader ----------------------------------------------------------------------

@cells
def test_every_form_reads_the_same_goroutines(tb):
    """debug=0, debug=1 and debug=2 list the same goroutines (the program's
    and its main goroutine); the dumps of the re-executed program list them
    too, and the SIGQUIT dump adds the system goroutines."""
    counts = {f: profile(str(tb.out_dir / f)).goroutines for f in FORMS}
    info = load_json(tb.out_dir / "info.json")
    expected = sum(info["kinds"].values()) + 1  # + the main goroutine
    for f in FORMS[:5]:
        assert counts[f] == expected, (f, counts)
    assert counts["sigquit.txt"] > expected
    forms = {f: profile(str(tb.out_dir / f)).form for f in FORMS}
    assert forms["goroutine.pb.gz"] == gp.FORM_PROTO
    assert forms["goroutine.debug1.txt"] == gp.FORM_DEBUG1
    assert all(forms[f] == gp.FORM_DEBUG2 for f in FORMS[2:])
    assert profile(str(tb.out_dir / "sigquit.txt")).system
    assert not profile(str(tb.out_dir / "goroutine.debug2.txt")).system


@cells
def test_labels_created_by_and_headers(tb):
    v = tb.version_tuple[:2]
    for f in ("goroutine.pb.gz", "goroutine.debug1.txt"):
        labeled = [r for r in profile(str(tb.out_dir / f)).records if r.labels]
        assert [r.labels for r in labeled] == [{"worker": "w1", "phase": "park now"}]
    # Go 1.27 prints labels in the header (tracebacklabels=1)
    d2 = profile(str(tb.out_dir / "goroutine.debug2.txt"))
    labeled = [r for r in d2.records if r.labels]
    if v >= (1, 27):
        assert [r.labels for r in labeled] == [{"worker": "w1", "phase": "park now"}]
        assert '{phase: "park now", worker: w1}' in labeled[0].header
    else:
        assert labeled == []
    by_id = {r.goroutine: r for r in d2.records}
    children = [r for r in d2.records if any(f.function == "main.childLeaf" for f in r.frames)]
    assert len(children) == 3
    for r in children:
        cb = r.created_by
        assert cb.function == "main.spawnerRoot" and cb.file.endswith("main.go") and cb.offset
        if v >= (1, 21):  # "in goroutine N": the spawner's own id
            spawner = by_id[cb.goroutine]
            assert spawner.frames[-1].function == "main.spawnerRoot"
        else:
            assert cb.goroutine is None
    states = {r.state for r in d2.records}
    assert {"chan receive", "chan send", "select", "sleep", "syscall", "running"} <= states
    assert "chan receive (nil chan)" in states


@cells
def test_elision_markers_where_the_runtime_prints_them(tb):
    """Go 1.21+ prints the innermost 50 and outermost 50 logical frames around
    '...N frames elided...'; before, at most 100 physical frames."""
    for f in ("goroutine.debug2.txt", "panic.txt", "sigquit.txt"):
        p = profile(str(tb.out_dir / f))
        marked = [r for r in p.records if r.elided_frames is not None]
        if tb.version_tuple[:2] >= (1, 21):
            assert len(marked) == 2, f  # chain200 and recurse
            for r in marked:
                assert r.elided_at == 50 and len(r.frames) == 100 and r.elided_frames > 0
                assert not r.additional_frames_elided
        else:
            assert marked == []


# --- frame bytes: the runtime's fp − sp -------------------------------------------------------

@cells
def test_frame_bytes_equal_fp_minus_sp(tb):
    """Every physical frame of the GOTRACEBACK=system dump, system goroutines
    included: gosym's bytes equal the runtime's fp − sp; runtime.goexit carries
    newproc1's reserve."""
    b = opened(str(tb.path))
    p = profile(str(tb.out_dir / "sigquit.txt"))
    checked = 0
    for rec in p.records:
        truth = [(f.function, f.fp - f.sp) for f in rec.frames if f.fp is not None]
        assert truth, rec.header
        one = gp.GoroutineProfile(p.form, [rec], system=True)
        res = sm.analyze(one, b)
        (stack,) = res.stacks
        assert stack.unknown_frames == 0, rec.header
        got = [(f.function, f.bytes) for f in stack.frames
               if not f.inlined and f.kind in (sm.REAL, sm.RESERVE)]
        truth = [(gp_name(n), v) for n, v in truth]
        if truth[-1][0] == "runtime.goexit":  # a goroutine: goexit carries the reserve
            assert got[-1] == ("runtime.goexit", sm.root_reserve(tb.goarch))
            assert truth[:-1] == got[:-1], rec.header
            assert stack.truncated == (rec.elided_frames is not None)
        elif stack.truncated:  # Go <= 1.20: cut after 100 physical frames
            assert tb.version_tuple[:2] < (1, 21)
            assert stack.frames[-1].function == sm.TRUNCATED
            assert len(got) == 100 and truth == got, rec.header
        else:  # an M's g0 stack: no goroutine reserve
            assert truth[-1][0] in ("runtime.mstart", "runtime.mcall"), rec.header
            assert truth == got, rec.header
        checked += len(truth)
    assert checked > 400


def gp_name(name: str) -> str:
    return "runtime.gopanic" if name == "panic" else name


@cells
def test_forms_agree_with_the_system_dump(tb):
    """Each kind of goroutine has the same used bytes in every form where its
    stack is whole, equal to the GOTRACEBACK=system dump's; no frame is
    unknown: the frames debug=2 and the profiles hide (runtime frames at the
    leaf, go statements' wrappers at the root) are inferred."""
    truth = by_kind(result(tb, "sigquit.txt"))
    assert set(truth) == set(KINDS)
    for form in FORMS:
        res = result(tb, form)
        assert res.warnings == ()
        got = by_kind(res)
        assert set(got) == set(KINDS), form
        for kind, s in got.items():
            assert s.unknown_frames == 0, (form, kind)
            assert s.goroutines == COUNTS.get(kind, 1), (form, kind)
            t = truth[kind]
            if not s.truncated and not t.truncated:
                assert s.used_bytes == t.used_bytes, (form, kind)
                got_frames = [(f.function, f.bytes) for f in s.frames if not f.inlined]
                want = [(f.function, f.bytes) for f in t.frames if not f.inlined]
                assert len(got_frames) == len(want), (form, kind)
                for (gn, gb), (wn, wb) in zip(got_frames, want):
                    # a go statement wrapper found among several of one size
                    assert wn in gn.split(" or ") and gb == wb, (form, kind, gn, wn)


@cells
def test_truncation_exactly_where_the_runtime_cut(tb):
    limit = depth_limit(tb)
    v = tb.version_tuple[:2]
    for form in ("goroutine.pb.gz", "goroutine.debug1.txt"):
        got = by_kind(result(tb, form))
        cut = {"main.chainLeaf", "main.recurse"} | ({"main.chain60Leaf"} if limit == 32 else set())
        assert {k for k, s in got.items() if s.truncated} == cut, form
        for k in cut:
            s = got[k]
            assert s.frames[-1].function == sm.TRUNCATED and s.elided_frames is None
    # debug=1: a record is cut when its '@' list is full and does not end in goexit
    b = opened(str(tb.path))
    for rec in profile(str(tb.out_dir / "goroutine.debug1.txt")).records:
        res = sm.analyze(gp.GoroutineProfile(gp.FORM_DEBUG1, [rec]), b)
        (s,) = res.stacks
        assert len(rec.frames) <= limit
        assert s.truncated == (len(rec.frames) == limit)
        shown = [f for f in s.frames if f.kind == sm.REAL]
        assert len(shown) >= len(rec.frames) - 1  # goexit's PC becomes the reserve
    # debug=2
    for form in ("goroutine.debug2.txt", "stack_all.txt", "panic.txt"):
        p = profile(str(tb.out_dir / form))
        got = by_kind(result(tb, form))
        for k in ("main.chainLeaf", "main.recurse"):
            s = got[k]
            assert s.truncated
            if v >= (1, 21):
                marks = [f for f in s.frames if f.kind == sm.VIRTUAL]
                rec = next(r for r in p.records if any(f.function == k for f in r.frames))
                assert [f.function for f in marks] == [f"[{rec.elided_frames} frames elided]"]
                assert s.elided_frames == rec.elided_frames
                assert s.frames[-1].function == "runtime.goexit"  # the root is kept
            else:  # Go <= 1.20: at most 100 physical frames, cut without a marker
                assert s.frames[-1].function == sm.TRUNCATED and s.elided_frames is None
        for k in set(KINDS) - {"main.chainLeaf", "main.recurse"}:
            assert not got[k].truncated, (form, k)


@cells
def test_used_bytes_against_measured_addresses(tb):
    """Addresses of locals taken in the running program: the recursion's
    stride is main.recurse's frame; between a leaf's local and its root's
    (taken at the same moment) lie the frames gosym counts, give or take the
    two frames that hold them."""
    locals_ = load_json(tb.out_dir / "locals.json")
    addr = {(r["kind"], r["function"], r["depth"]): r["addr"] for r in locals_}
    got = by_kind(result(tb, "goroutine.pb.gz"))
    frames = [f for f in got["main.recurse"].frames if not f.inlined]
    rec = [f.bytes for f in frames if f.function == "main.recurse"]
    frame = rec[len(rec) // 2]
    depth = max(d for (k, fn, d) in addr if k == "recurse" and fn == "main.recurse")
    stride = addr[("recurse", "main.recurse", depth - 1)] - addr[("recurse", "main.recurse", depth)]
    assert stride == frame
    # the whole recursion: main.recurse x depth below main.recurseRoot
    # (every profile cuts this stack: the root's frame from the binary)
    b = opened(str(tb.path))
    root_bytes = b.func_frame_size(next(f for f in b.functions if f.name == "main.recurseRoot"))
    distance = addr[("recurse", "main.recurseRoot", 0)] - addr[("recurse", "main.recurse", depth)]
    assert (depth - 1) * frame < distance < depth * frame + root_bytes
    # an 8 KiB frame right below its caller
    big = [f for f in got["main.bigFrame"].frames if not f.inlined]
    leaf = next(f.bytes for f in big if f.function == "main.bigFrame")
    root = next(f.bytes for f in big if f.function == "main.bigRoot")
    distance = addr[("bigframe", "main.bigRoot", 0)] - addr[("bigframe", "main.bigFrame", 1)]
    assert 8192 <= distance < leaf + root


# --- totals and accounting rules ----------------------------------------------------------------

@cells
def test_totals_and_estimates(tb):
    metrics = load_json(tb.out_dir / "metrics.json")
    p = profile(str(tb.out_dir / "goroutine.pb.gz"))
    res = sm.analyze(p, opened(str(tb.path)), sm.StackMemConfig(metrics=metrics))
    start = int(metrics[sm.METRIC_STARTING_SIZE])
    assert res.starting_stack_size == start
    for s in res.stacks:
        # the smallest power of two >= the starting size leaving 800 bytes free
        a = s.allocated_bytes
        assert a >= start and a & (a - 1) == 0 and a - s.used_bytes >= 800
        assert a == start or a // 2 - s.used_bytes < 800
        assert sum(f.bytes for f in s.frames) == s.used_bytes
        assert all(f.bytes == 0 for f in s.frames if f.inlined or f.kind == sm.VIRTUAL)
    assert res.used_bytes == sum(s.used_bytes * s.goroutines for s in res.stacks)
    assert res.free_bytes == res.allocated_bytes - res.used_bytes
    heap_stacks = int(metrics[sm.METRIC_HEAP_STACKS])
    assert res.metric_stack_bytes == heap_stacks
    assert res.unaccounted_bytes == max(0, heap_stacks - res.allocated_bytes)
    assert res.truncated_goroutines == 2 + (depth_limit(tb) == 32)


# --- outputs read by Go's own tools -----------------------------------------------------------

PPROF_CELLS = [b for b in CELLS if b.variant == "default"]


@pytest.mark.parametrize("tb", need(PPROF_CELLS, "stackmem test binaries"), ids=cell_id)
@pytest.mark.parametrize("free", ["leaf", "root", "none"])
def test_pprof_output_read_by_go_tool_pprof(tb, free, tmp_path):
    metrics_path = tb.out_dir / "metrics.json"
    pb = tmp_path / "stack.pb.gz"
    folded = tmp_path / "stack.folded"
    r = CliRunner().invoke(main, ["stackmem", str(tb.path), str(tb.out_dir / "goroutine.pb.gz"),
                                  "--metrics", str(metrics_path), "--free", free, "-o", str(pb),
                                  "--folded", str(folded), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    expect_bytes = doc["used_bytes"] + (doc["free_bytes"] if free != "none" else 0) + \
        doc["unaccounted_bytes"]
    # the profile's bytes add up to /memory/classes/heap/stacks:bytes when the
    # estimates do not exceed it
    if free != "none" and doc["unaccounted_bytes"]:
        assert expect_bytes == load_json(metrics_path)[sm.METRIC_HEAP_STACKS]
    raw = run_go_tool("pprof", "-raw", str(pb))
    if raw is None:
        pytest.skip("no Go toolchain built; run `make toolchains`")
    assert raw.returncode == 0, raw.stderr.decode()
    prof = parse_pprof_raw(raw.stdout.decode())
    assert prof.sample_types == ["goroutine/count", "stack/bytes"]
    assert prof.default_type == "stack"
    assert sum(v[1] for v, _ in prof.samples) == expect_bytes
    assert sum(v[0] for v, _ in prof.samples) == doc["goroutines"]
    top = run_go_tool("pprof", "-top", "-unit=B", "-nodecount=100000", "-nodefraction=0",
                      str(pb))
    text = top.stdout.decode()
    m = re.search(r"of (\d+)B total", text)
    assert m and int(m.group(1)) == expect_bytes, text[:400]
    flat, cum = {}, {}
    for line in text.splitlines():
        fm = re.match(r"\s*(\d+)B?\s+\S+%\s+\S+%\s+(\d+)B?\s+\S+%\s+(.+)$", line)
        if fm:  # pprof marks a function it only saw inlined "(inline)"
            name = fm.group(3).removesuffix(" (inline)")
            flat[name] = flat.get(name, 0) + int(fm.group(1))
            cum[name] = int(fm.group(2))
    res = sm.analyze(profile(str(tb.out_dir / "goroutine.pb.gz")), opened(str(tb.path)),
                     sm.StackMemConfig(metrics=load_json(metrics_path)))
    # pprof gives a Location's value to its innermost Line: an inlined
    # function's when the frame's PC is in inlined code
    expect_flat: dict[str, int] = {}
    for st in res.stacks:
        for g in out.physical_groups(st):
            if g[-1].bytes:
                expect_flat[g[0].function] = expect_flat.get(g[0].function, 0) + \
                    g[-1].bytes * st.goroutines
    for name, v in expect_flat.items():
        assert flat.get(name) == v, name
    assert sum(t.self_bytes for t in res.top_frames()) == res.used_bytes
    if free == "none":  # pprof's cum: the bytes of the samples a function is on
        for t in res.top_frames():
            if not t.function.startswith("["):
                assert cum[t.function] == t.cumulative_bytes, t.function
    if free != "none":
        assert flat["runtime._FreeStack"] == res.free_bytes
    goroutines = run_go_tool("pprof", "-top", "-sample_index=goroutine", str(pb)).stdout.decode()
    assert re.search(rf"of {doc['goroutines']} total", goroutines)
    # folded stacks: the same flame graph
    lines = folded.read_text().splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == expect_bytes


@pytest.mark.parametrize("tb", need(PPROF_CELLS[:1], "stackmem test binaries"), ids=cell_id)
def test_prefix_samples_and_counts(tb):
    """One sample per stack prefix; the count on the innermost real frame only."""
    res = result(tb, "goroutine.pb.gz")
    samples = out.prefix_samples(res, "none")
    assert sum(s.goroutines for s in samples) == res.goroutines
    assert sum(s.bytes for s in samples) == res.used_bytes
    for st in res.stacks:
        groups = tuple(out.physical_groups(st))
        counted = [s for s in samples if s.groups == groups]
        assert counted and counted[0].goroutines >= st.goroutines
    lines = out.folded_lines(res, "none")
    assert sum(int(x.rsplit(" ", 1)[1]) for x in lines) == res.used_bytes
    assert out.folded_name("main.F[go.shape.struct { a int; b int }]") == \
        "main.F[go.shape.struct { a int: b int }]"


# --- the command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("tb", need(PPROF_CELLS[-1:], "stackmem test binaries"), ids=cell_id)
def test_cli_text_json_and_stdin(tb):
    data = (tb.out_dir / "goroutine.debug1.txt").read_bytes()
    r = CliRunner().invoke(main, ["stackmem", str(tb.path), "-", "--json"], input=data)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) >= {"goroutines", "used_bytes", "allocated_bytes", "free_bytes",
                        "unaccounted_bytes", "truncated_goroutines", "stacks"}
    assert doc["unaccounted_bytes"] is None
    for s in doc["stacks"]:
        assert set(s) >= {"goroutines", "used_bytes", "allocated_bytes", "truncated",
                          "elided_frames", "unknown_frames", "frames"}
        assert s["frames"][-1]["function"] in ("runtime.goexit", sm.TRUNCATED)
        for f in s["frames"]:
            assert set(f) == {"function", "file", "line", "inlined", "bytes"}
    r = CliRunner().invoke(main, ["stackmem", str(tb.path), str(tb.out_dir / "goroutine.pb.gz"),
                                  "--top", "5"])
    assert r.exit_code == 0
    assert "lower bound" in r.stdout and "top 5 functions by self bytes" in r.stdout
    assert "main.bigFrame" in r.stdout and "bytes per module" in r.stdout


BAD_INPUTS = {
    "garbage text": b"hello\nworld\n",
    "empty": b"",
    "truncated gzip": gzip.compress(b"x" * 1000)[:20],
    "binary garbage": bytes(range(256)) * 4,
    "a heap profile": b"heap profile: 1: 2 [3: 4] @ heap/1048576\n",
    "a cut-off dump": b"goroutine 1 [running]:\nmain.main()\n",
    "a bad debug=1 line": b"goroutine profile: total 1\n1 @ 0x1\nnonsense\n",
}


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_bad_profiles_one_error_line(what, tmp_path):
    tb = (PPROF_CELLS or [None])[0]
    if tb is None:
        pytest.skip("no stackmem test binaries built; run `make testbins`")
    p = tmp_path / "profile"
    p.write_bytes(BAD_INPUTS[what])
    r = CliRunner().invoke(main, ["stackmem", str(tb.path), str(p)])
    assert r.exit_code == 1, r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("gosym: error: ")
    assert "Traceback" not in r.output


def test_heap_profile_proto_refused(tmp_path):
    from gosym.pprof import ProfileBuilder, serialize

    pb = ProfileBuilder(sample_types=[("alloc_objects", "count"), ("alloc_space", "bytes")],
                        default_sample_type="alloc_space")
    pb.sample([pb.location(0x401000)], [1, 2])
    with pytest.raises(FormatError, match="alloc_objects/count"):
        gp.parse(serialize(pb.build()))


@pytest.mark.parametrize("tb", need(PPROF_CELLS[-1:], "stackmem test binaries"), ids=cell_id)
def test_profile_of_another_binary(tb):
    """Addresses that fall outside every function, or names that do not match."""
    other = next((b for b in CELLS if b.goarch == tb.goarch and b.version_tuple != tb.version_tuple
                  and b.variant == "default"), None)
    if other is None:
        pytest.skip("needs two Go versions of the stackmem test program")
    for form in ("goroutine.pb.gz", "goroutine.debug1.txt"):
        r = CliRunner().invoke(main, ["stackmem", str(tb.path), str(other.out_dir / form)])
        assert r.exit_code == 1, (form, r.output)
        assert "does not match the binary" in r.stderr and r.stderr.count("\n") == 1
    missing = CliRunner().invoke(main, ["stackmem", str(tb.path), "/nonexistent/profile"])
    assert missing.exit_code == 2 and missing.stderr.startswith("gosym: error: ")


def test_other_architectures_refused():
    """The accounting rules here are amd64's and arm64's: a binary of another
    architecture gets one clear line and exit status 1, not numbers."""
    tb = next((b for b in CELLS if b.variant == "default"), None)
    other = next((b for b in ALL_TESTBINS if b.program == "callers" and b.variant == "default"
                  and b.goarch not in ("amd64", "arm64")), None)
    if tb is None or other is None:
        pytest.skip("needs a stackmem test binary and a callers build of another "
                    "architecture; run `make testbins`")
    r = CliRunner().invoke(main, ["stackmem", str(other.path),
                                  str(tb.out_dir / "goroutine.debug2.txt")])
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert f"stackmem does not cover {other.goarch} yet" in r.stderr


def test_go_quoted_labels():
    assert gp.go_unquote(r'"a\"b\\c\x41\u00e9\n"')[0] == 'a"b\\cAé\n'
    assert gp._parse_label_map('{"k":"v", "x y":"1\\t2"}', 1) == {"k": "v", "x y": "1\t2"}
    assert gp._parse_header_labels('{phase: "park now", worker: w1}', 1) == \
        {"phase": "park now", "worker": "w1"}
    with pytest.raises(FormatError):
        gp._parse_header_labels("{phase park}", 1)


def test_debug2_grammar():
    text = "\n".join([
        "panic: boom [recovered]",
        "",
        "goroutine 7 gp=0xc000007c00 m=nil [chan receive, 3 minutes, locked to thread]:",
        "main.f(...)",
        "\t/src/main.go:10",
        "main.g(0x1, {0x2, 0x3})",
        "\t/src/main.go:20 +0x1a fp=0xc000050f90 sp=0xc000050f70 pc=0x4a1b2a",
        "...7 frames elided...",
        "main.h()",
        "\t/src/main.go:30",
        "created by main.main in goroutine 1",
        "\t/src/main.go:40 +0x25",
        "[originating from goroutine 1]:",
        "main.main(...)",
        "\t/src/main.go:39 +0x20",
        "",
        "goroutine 8 [running]:",
        "\tgoroutine running on other thread; stack unavailable",
        "created by main.main",
        "\t/src/main.go:41 +0x2f",
        "",
    ])
    p = gp.parse(text.encode())
    r7, r8 = p.records
    assert (r7.goroutine, r7.state, r7.wait_minutes, r7.locked_to_thread) == \
        (7, "chan receive", 3, True)
    assert [(f.function, f.inlined, f.offset) for f in r7.frames] == [
        ("main.f", True, None), ("main.g", False, 0x1a), ("main.h", False, None)]
    assert (r7.frames[1].fp, r7.frames[1].sp, r7.frames[1].pc) == (0xc000050f90, 0xc000050f70,
                                                                   0x4a1b2a)
    assert (r7.elided_frames, r7.elided_at) == (7, 2)
    assert r7.created_by == gp.CreatedBy("main.main", 1, "/src/main.go", 40, 0x25)
    assert r8.stack_unavailable and r8.created_by.goroutine is None
    assert p.system


# --- the HTML page in a real browser ----------------------------------------------------------

def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(*args: str, url: str) -> bytes:
    import subprocess

    p = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-extensions", *args, url],
                       capture_output=True, timeout=120)
    return p.stdout


@pytest.mark.parametrize("tb", need(PPROF_CELLS[-1:], "stackmem test binaries"), ids=cell_id)
def test_html_page_in_headless_chromium(tb, tmp_path):
    """The page draws, searches, zooms and shows tooltips in Debian's chromium
    (no network: the file is all there is)."""
    if _chromium() is None:
        pytest.skip("chromium not installed (optional: `make deps` installs it)")
    page = tmp_path / "stack.html"
    r = CliRunner().invoke(main, ["stackmem", str(tb.path), str(tb.out_dir / "goroutine.pb.gz"),
                                  "--html", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    res = result(tb, "goroutine.pb.gz")
    url = page.as_uri()
    dom = _browser("--dump-dom", url=url).decode()
    boxes = re.findall(r'<div class="fr[^"]*"[^>]*>([^<]*)</div>', dom)
    assert len(boxes) > 50 and "all" in boxes and "runtime.goexit" in boxes
    assert "click a frame to zoom" in dom
    dom = _browser("--dump-dom", url=url + "#q=main%5C.big").decode()
    big = by_kind(res)["main.bigFrame"]
    m = re.search(r'<span id="matched">matched: ([\d,]+) B', dom)
    frames = [f for f in big.frames if f.function in ("main.bigRoot", "main.bigFrame")]
    inner = sum(f.bytes for f in big.frames[:big.frames.index(frames[-1]) + 1])
    assert m and int(m.group(1).replace(",", "")) == inner + big.free_bytes
    assert dom.count('class="fr hit"') >= 2
    dom = _browser("--dump-dom", url=url + "#zoom=main.bigRoot&tip=main.bigFrame").decode()
    assert "zoomed to main.bigRoot" in dom
    tip = re.search(r'<div id="tip" style="display: block[^"]*">(.*?)</div>', dom)
    assert tip and "<b>main.bigFrame</b>" in tip.group(1)
    self_bytes = next(f.bytes for f in big.frames if f.function == "main.bigFrame")
    assert f"self: {self_bytes:,} B" in tip.group(1) and "goroutines: 1" in tip.group(1)
    assert "main.go:" in tip.group(1)
    shot = tmp_path / "stack.png"
    _browser("--window-size=1400,900", f"--screenshot={shot}", url=url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
