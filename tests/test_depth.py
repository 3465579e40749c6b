"""gosym depth and symbolize --pprof against what Go itself wrote and knows.

The deepprof test program (testbins/deepprof) writes the runtime's profiles
of deep stacks and records, for each leaf, its full runtime.Callers stack:
truncation must appear exactly where the runtime cut, depths must be the
ones `go tool pprof -raw` reads, and symbolizing Go's profiles stripped to
addresses must give back the Lines Go wrote, one for one.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from click.testing import CliRunner

from binaries import cache_dir
from binaries import testbins as _testbins
from conftest import need, opened
from gotools import parse_pprof_raw, run_go_tool

from gosym import depth
from gosym.cli import main as cli_main
from gosym.pprof import Profile, ProfileView, parse, serialize
from gosym.pprofsym import symbolize_profile

DEEPPROF = [t for t in _testbins("deepprof") if t.out_dir is not None]
DEFAULT = [t for t in DEEPPROF if t.variant == "default"]
PROTO = ("cpu", "heap", "allocs", "block", "mutex", "goroutine", "threadcreate")
ids = lambda t: t.id if t else "none"  # noqa: E731


def _load(tb, name: str) -> Profile:
    return parse((tb.out_dir / f"{name}.pb.gz").read_bytes())


def _strip(p: Profile) -> Profile:
    """Go's profile reduced to addresses: no functions, no lines, Mappings kept
    but no longer marked symbolized."""
    s = Profile()
    s.CopyFrom(p)
    s.ClearField("function")
    for loc in s.location:
        loc.ClearField("line")
    for m in s.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    return s


def _lines(view: ProfileView, loc) -> list[tuple]:
    s = view.strings
    return [(s[f.name], s[f.system_name], s[f.filename], f.start_line, line)
            for f, line in view.lines(loc)]


# --- symbolize --pprof ------------------------------------------------------------------

@pytest.mark.parametrize("tb", need(DEEPPROF, "deepprof test binaries"), ids=ids)
def test_symbolize_pprof_gives_back_go_lines(tb):
    """Every Location of every profile Go wrote, stripped to its address and
    symbolized from the binary, has exactly the Lines (function name, system
    name, file, start line, line) Go wrote, in Go's order."""
    b = opened(str(tb.path))
    checked = 0
    for name in PROTO:
        orig = _load(tb, name)
        result = symbolize_profile(_strip(orig), b)
        assert result.symbolized
        want, got = ProfileView(orig), ProfileView(result.profile)
        assert len(orig.location) == len(result.profile.location)
        for a, c in zip(orig.location, result.profile.location):
            assert a.address == c.address
            assert _lines(want, a) == _lines(got, c), f"{name} {a.address:#x}"
            checked += bool(a.line)
        # Everything but the functions and lines is as it was.
        assert [tuple(s.value) for s in orig.sample] == [tuple(s.value)
                                                         for s in result.profile.sample]
        assert [list(s.location_id) for s in orig.sample] == [list(s.location_id)
                                                              for s in result.profile.sample]
    assert checked > 100


@pytest.mark.parametrize("tb", need([t for t in DEFAULT if t.goarch == "amd64"],
                                    "deepprof test binaries"), ids=ids)
def test_symbolize_pprof_command_output_opens_in_go_pprof(tb, tmp_path):
    """The command writes a profile that `go tool pprof -raw` reads with the
    functions and lines of Go's own profile."""
    stripped = tmp_path / "stripped.pb.gz"
    stripped.write_bytes(serialize(_strip(_load(tb, "heap"))))
    out = tmp_path / "sym.pb.gz"
    r = CliRunner().invoke(cli_main, ["symbolize", str(tb.path), "--pprof", str(stripped),
                                      "-o", str(out)])
    assert r.exit_code == 0, r.output
    mine = run_go_tool("pprof", "-raw", "-symbolize=none", str(out))
    if mine is None:
        pytest.skip("no Go toolchain in the cache; run `make toolchains`")
    assert mine.returncode == 0, mine.stderr.decode()
    theirs = run_go_tool("pprof", "-raw", "-symbolize=none", str(tb.out_dir / "heap.pb.gz"))
    a, c = parse_pprof_raw(theirs.stdout.decode()), parse_pprof_raw(mine.stdout.decode())
    assert sorted((s[0], a.stack(s)) for s in a.samples) == \
        sorted((s[0], c.stack(s)) for s in c.samples)


def test_symbolize_pprof_keeps_a_symbolized_profile_unless_forced(tmp_path):
    tb = next(iter(DEFAULT), None)
    if tb is None:
        pytest.skip("no deepprof test binaries built; run `make testbins`")
    src = tb.out_dir / "block.pb.gz"
    out = tmp_path / "o.pb.gz"
    r = CliRunner().invoke(cli_main, ["symbolize", str(tb.path), "--pprof", str(src),
                                      "-o", str(out)])
    assert r.exit_code == 0
    assert "already has functions" in r.stderr
    assert parse(out.read_bytes()) == parse(src.read_bytes())
    r = CliRunner().invoke(cli_main, ["symbolize", str(tb.path), "--pprof", str(src),
                                      "-o", str(out), "--force"])
    assert r.exit_code == 0 and "already" not in r.stderr
    # the same Lines, found again
    want, got = ProfileView(parse(src.read_bytes())), ProfileView(parse(out.read_bytes()))
    for a, c in zip(want.profile.location, got.profile.location):
        assert _lines(want, a) == _lines(got, c)


def test_symbolize_pprof_errors(tmp_path):
    tb = next(iter(DEFAULT), None)
    if tb is None:
        pytest.skip("no deepprof test binaries built; run `make testbins`")
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x1f\x8b\x08\x00 truncated")
    runner = CliRunner()
    r = runner.invoke(cli_main, ["symbolize", str(tb.path), "--pprof", str(bad)])
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("gosym: error: ")
    r = runner.invoke(cli_main, ["symbolize", str(tb.path), "--pprof", str(tmp_path / "no")])
    assert r.exit_code == 2
    r = runner.invoke(cli_main, ["symbolize", str(tb.path), "0x1000", "--pprof", str(bad)])
    assert r.exit_code == 2


# --- depth: truncation where the runtime cut -----------------------------------------------

def _frames(view: ProfileView, sample) -> list[str]:
    return [view.strings[f.name] for loc in view.stack(sample) for f, _ in view.lines(loc)]


def _site_truth(frames: list[str], sites: dict[str, dict]) -> bool | None:
    """Was this sample cut, by the program's own full stack of the site whose
    leaf it holds? None for samples of no site. Frames the profile has and
    runtime.Callers elides (wrappers kept by frame-pointer unwinding) are
    skipped; runtime.goexit, which runtime/pprof drops, does not count."""
    leaf = next((i for i, f in enumerate(frames) if f in sites), None)
    if leaf is None:
        return None
    full = [f["function"] for f in sites[frames[leaf]]["frames"]]
    if full[-1] == "runtime.goexit":
        full.pop()
    k = 0
    for f in frames[leaf:]:
        if k < len(full) and f == full[k]:
            k += 1
    return k < len(full)


@pytest.mark.parametrize("tb", need(DEFAULT, "deepprof test binaries"), ids=ids)
def test_depth_truncation_is_where_the_runtime_cut(tb):
    """For every sample of every profile that holds one of the program's
    leaves: depth calls it truncated exactly when the program's own
    runtime.Callers stack is longer than what the profile kept."""
    sites = {s["leaf"]: s for s in json.loads((tb.out_dir / "sites.json").read_text())["sites"]}
    b = opened(str(tb.path))
    seen = Counter()
    for name in ("cpu", "heap", "allocs", "block", "mutex", "goroutine"):
        p = _load(tb, name)
        report = depth.analyze(name, p, b)
        view = ProfileView(p)
        for s in p.sample:
            frames = _frames(view, s)
            truth = _site_truth(frames, sites)
            if truth is None:
                continue
            cls = depth.classify(frames, report.rule)
            assert (cls == "truncated") == truth, (name, len(frames), frames[-1], cls)
            seen[(name, truth)] += 1
    for name in ("heap", "block", "mutex", "goroutine"):
        assert seen[(name, True)] and seen[(name, False)], seen


@pytest.mark.parametrize("tb", need(DEFAULT, "deepprof test binaries"), ids=ids)
def test_goroutines_started_on_the_system_stack(tb):
    """The g of a goroutine is allocated on the system stack (newproc1 ->
    malg): the heap profile has only that part of the stack, and depth says so."""
    b = opened(str(tb.path))
    p = _load(tb, "allocs")
    view = ProfileView(p)
    rule = depth.analyze("allocs", p, b).rule
    malg = [f for f in (_frames(view, s) for s in p.sample) if "runtime.malg" in f]
    assert malg
    assert all(depth.classify(f, rule) == "system_stack" for f in malg)
    assert not any(f.startswith("main.") for fr in malg for f in fr)


@pytest.mark.parametrize("tb", need(DEFAULT, "deepprof test binaries"), ids=ids)
def test_depth_counts_match_go_pprof_raw(tb):
    """The histogram of depths and the sample count are those computed from
    `go tool pprof -raw` of the same profile (frames = Lines of the locations)."""
    for name in ("heap", "goroutine", "cpu"):
        path = tb.out_dir / f"{name}.pb.gz"
        raw = run_go_tool("pprof", "-raw", "-symbolize=none", str(path))
        if raw is None:
            pytest.skip("no Go toolchain in the cache; run `make toolchains`")
        got = parse_pprof_raw(raw.stdout.decode())
        want = Counter(sum(max(1, len(got.locations[i][2])) for i in s[1]) for s in got.samples)
        report = depth.analyze(str(path), parse(path.read_bytes()), opened(str(tb.path)))
        assert dict(report.histogram) == dict(want)
        assert report.samples == len(got.samples)
        assert report.total_weights == [sum(s[0][k] for s in got.samples)
                                        for k in range(len(got.sample_types))]


@pytest.mark.parametrize("tb", need([t for t in DEEPPROF if t.variant in ("default", "pie")],
                                    "deepprof test binaries"), ids=ids)
def test_depth_of_address_only_profiles_uses_the_binary(tb):
    """A profile stripped to addresses, read with the binary, gives the same
    report as Go's symbolized profile."""
    b = opened(str(tb.path))
    for name in ("cpu", "heap", "mutex"):
        p = _load(tb, name)
        a = depth.analyze(name, p, b)
        c = depth.analyze(name, _strip(p), b)
        assert c.unsymbolized_frames == 0
        assert (a.histogram, a.classes, a.truncated_by_package, a.longest_runs) == \
            (c.histogram, c.classes, c.truncated_by_package, c.longest_runs)


@pytest.mark.parametrize("tb", need(DEFAULT, "deepprof test binaries"), ids=ids)
def test_goroutine_text_profile_same_as_proto(tb):
    """The debug=1 text and the proto goroutine profile written at the same
    moment give the same depths and classes (with the binary for the runtime
    frames the text hides)."""
    from gosym import profiles
    b = opened(str(tb.path))
    a = depth.analyze("pb", _load(tb, "goroutine"), b)
    c = depth.analyze("txt", profiles.read_profile(str(tb.out_dir / "goroutine.txt")), b)
    assert a.histogram == c.histogram
    assert {k: v.samples for k, v in a.classes.items()} == \
        {k: v.samples for k, v in c.classes.items()}


# --- the limits come from the runtime's source ----------------------------------------------

def _runtime_src(version: str, rel: str) -> str | None:
    p = cache_dir() / "go" / version / "go" / "src" / rel
    return p.read_text() if p.exists() else None


@pytest.mark.parametrize("version,minor", [("1.19.8", 19), ("1.22.10", 22), ("1.23.9", 23),
                                           ("1.24.11", 24), ("1.27.3", 27)])
def test_limits_are_the_runtime_constants(version, minor):
    cpu = _runtime_src(version, "runtime/cpuprof.go")
    if cpu is None:
        pytest.skip(f"no Go {version} toolchain; run `make toolchains`")
    m = re.search(r"maxCPUProfStack\s*=\s*(\d+)", cpu)
    assert int(m.group(1)) == depth.cut_rule("cpu", (1, minor), 0).limit
    if minor <= 22:
        m = re.search(r"maxStack\s*=\s*(\d+)", _runtime_src(version, "runtime/mprof.go"))
        assert int(m.group(1)) == depth.cut_rule("heap", (1, minor), 0).limit
    else:
        src = _runtime_src(version, "runtime/runtime1.go")
        m = re.search(r'"profstackdepth", value: &debug\.profstackdepth, def: (\d+)', src)
        assert int(m.group(1)) == depth.cut_rule("goroutine", (1, minor), 0).limit
        m = re.search(r"maxProfStackDepth\s*=\s*(\d+)", _runtime_src(version, "runtime/mprof.go"))
        assert int(m.group(1)) == depth.MAX_PROFSTACKDEPTH


# --- the command ------------------------------------------------------------------------------

def test_depth_command_json_and_errors(tmp_path):
    tb = next(iter(DEFAULT), None)
    if tb is None:
        pytest.skip("no deepprof test binaries built; run `make testbins`")
    runner = CliRunner()
    paths = [str(tb.out_dir / "heap.pb.gz"), str(tb.out_dir / "goroutine.txt")]
    r = runner.invoke(cli_main, ["depth", *paths, "--binary", str(tb.path), "--json",
                                 "--top", "3"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert len(doc["profiles"]) == 2
    for prof in doc["profiles"]:
        for key in ("sample_types", "depth_limit", "samples", "truncated_samples",
                    "histogram", "classes", "truncated_by_package"):
            assert key in prof
        assert set(prof["classes"]) == {"complete", "truncated", "system_stack", "unknown"}
        assert sum(c["samples"] for c in prof["classes"].values()) == prof["samples"]
        assert prof["truncated_samples"] == prof["classes"]["truncated"]["samples"]
        assert sum(n for _, n in prof["histogram"]) == prof["samples"]
        assert len(prof["truncated_by_package"]) <= 3
    r = runner.invoke(cli_main, ["depth", *paths])
    assert r.exit_code == 0 and "roots:" in r.stdout
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(b"garbage that is no profile")
    r = runner.invoke(cli_main, ["depth", str(bad)])
    assert r.exit_code == 1
    assert r.stderr.startswith(f"gosym: error: {bad}: ") and r.stderr.count("\n") == 1
    r = runner.invoke(cli_main, ["depth", str(tmp_path / "missing")])
    assert r.exit_code == 2
