"""`gosym diff` against the compiler's and the runtime's own answers.

Pairs built here from testbins/diffpair (`make testbins`): without and with
PGO (a CPU profile the program records of itself), with -gcflags=-l, and
with two Go versions, for linux/amd64 and linux/arm64.

* frame sizes: ``-gcflags=-S`` ``locals=`` of each build (max_sp_delta =
  locals on amd64, locals + 8 on arm64);
* inlined callees: the build's ``-gcflags=-m`` "inlining call to" lines
  inside the function's source (and inside the callees' own, for nested
  inlining);
* calls to itself: ``go tool objdump`` of the function;
* walk's frame: the distance the program measured between a local of
  consecutive levels of its recursion (measure.json);
* functions present: ``go tool nm``; real pairs: Go's debug/gosym function
  list (.gosymref.json).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from binaries import load_json, parse_asm_locals, parse_nm
from binaries import testbins as built
from conftest import REALBINS, need, opened

from gosym.cli import main
from gosym.diff import DiffConfig, build_facts, diff, self_calls
from gosym.pclntab import func_name_for_print

SOURCE = Path(__file__).resolve().parent.parent / "testbins" / "diffpair" / "main.go"
DIFFPAIR = {(b.go_version, b.goarch, b.variant): b for b in built("diffpair")}
MAIN = r"^main\."


def _pairs() -> list[tuple]:
    """(OLD, NEW) builds: PGO, -gcflags=-l and a Go upgrade, where built."""
    out = []
    for arch in ("amd64", "arm64"):
        for old, new in ((("1.24.11", "default"), ("1.24.11", "pgo")),
                         (("1.24.11", "default"), ("1.24.11", "noinline")),
                         (("1.19.8", "default"), ("1.24.11", "default")),
                         (("1.19.8", "noinline"), ("1.24.11", "pgo"))):
            a = DIFFPAIR.get((old[0], arch, old[1]))
            z = DIFFPAIR.get((new[0], arch, new[1]))
            if a is not None and z is not None:
                out.append(pytest.param(a, z, id=f"{arch}-go{old[0]}-{old[1]}-go{new[0]}-{new[1]}"))
    return out


PAIRS = _pairs()
BUILDS = sorted(DIFFPAIR.values(), key=lambda b: b.id)
_need_pairs = need(PAIRS, "diffpair builds")
_need_builds = need(BUILDS, "diffpair builds")


def _fresh(tb) -> None:
    """Skip when the build is older than the source (its listings' lines differ)."""
    meta = load_json(tb.path.with_name(tb.path.name + ".meta.json"))
    h = hashlib.sha256()
    d = SOURCE.parent
    for p in sorted(d.rglob("*")):
        if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
            h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    if meta.get("source_sha256") != h.hexdigest():
        pytest.skip(f"{tb.id} was built from another version of {SOURCE.name}; "
                    "run `make testbins`")


def run_cli(*args: str, code: int = 0) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, (res.stdout, res.stderr)
    return res.stdout


@functools.lru_cache(maxsize=None)
def cli_json(old: str, new: str, *extra: str) -> dict:
    return json.loads(run_cli("diff", "--json", *extra, old, new))


@functools.lru_cache(maxsize=None)
def lib_diff(old: str, new: str, match: str | None = MAIN):
    return diff(opened(old), opened(new), DiffConfig(match=match))


@functools.lru_cache(maxsize=None)
def facts(path: str, match: str | None = MAIN):
    """One build's facts of every function (inlined names included)."""
    return build_facts(opened(path), match)


def _sides(res):
    return (("old", res.old), ("new", res.new))


# --- what the compiler says -----------------------------------------------------------------

def _asm_sizes(tb) -> Counter:
    """Printed name -> multiset of max_sp_delta the -S listing implies."""
    out: Counter = Counter()
    for name, loc in parse_asm_locals(tb.asm_path).items():
        if not name.startswith("main."):
            continue
        want = loc if tb.goarch == "amd64" or loc == 0 else loc + 8
        out[(func_name_for_print(name), want)] += 1
    return out


@pytest.mark.parametrize("tb", _need_builds, ids=lambda b: b.id)
def test_frame_sizes_equal_compiler_locals(tb):
    """Every function of package main the diff reports has the -S frame, and
    every one go tool nm lists is reported."""
    assert tb.asm_path is not None
    f = facts(str(tb.path))
    slot = 8 if tb.goarch == "amd64" else 0
    asm = _asm_sizes(tb)
    names = [n.decode() for n in f.names]
    got = Counter(zip(names, f.max_sp_delta.tolist()))
    assert not got - asm, "frames the compiler does not list"
    assert (f.frame_size == f.max_sp_delta + slot).all()
    in_nm = Counter(func_name_for_print(n) for _, _, typ, n in parse_nm(tb.nm_path)
                    if typ in "Tt" and n.startswith("main."))
    assert Counter(names) == in_nm


def _functions(source: str) -> dict[str, tuple[int, int]]:
    """Printed name -> (first line, last line) of each top-level func of a gofmt'd file."""
    lines = source.splitlines()
    out = {}
    decl = re.compile(r"^func (?:\((?:\w+ )?(\*?)(\w+)(?:\[[^\]]*\])?\) )?(\w+)(\[)?")
    for i, line in enumerate(lines):
        m = decl.match(line)
        if not m:
            continue
        end = next(j for j in range(i, len(lines)) if lines[j] == "}")
        ptr, recv, name, generic = m.groups()
        full = f"main.{name}" if recv is None else \
            f"main.({ptr}{recv}).{name}" if ptr else f"main.{recv}.{name}"
        out[full + ("[...]" if generic else "")] = (i + 1, end + 1)
    # The package initializer runs the package-level variable initializers.
    out["main.init"] = (1, len(lines))
    return out


def _short(name: str) -> str:
    """A printed name as -m prints callees: package name only, none for main."""
    name = name[name.rfind("/", 0, name.find(".") if "." in name else len(name)) + 1:]
    return name.removeprefix("main.")


def _inlining_calls(tb) -> dict[str, set[str]]:
    """Function -> callees -m reports inlined at a call inside its source, or
    inside the source of a main function inlined into it (nested inlining)."""
    funcs = _functions(SOURCE.read_text())
    calls: list[tuple[int, str]] = []
    rx = re.compile(r"^\./main\.go:(\d+):\d+: inlining call to (.+)$")
    for line in tb.path.with_name(tb.path.name + ".m.txt").read_text().splitlines():
        m = rx.match(line)
        if m:
            calls.append((int(m.group(1)), func_name_for_print(m.group(2))))

    def direct(name: str) -> set[str]:
        lo, hi = funcs[name]
        return {c for ln, c in calls if lo <= ln <= hi}

    out = {}
    for name in funcs:
        seen, todo = set(), [name]
        while todo:
            for c in direct(todo.pop()):
                if c not in seen:
                    seen.add(c)
                    if "main." + c in funcs:
                        todo.append("main." + c)
        out[name] = seen
    return out


def _source_function(name: str, funcs) -> str:
    """Closures and go-statement wrappers (main.F.func1, main.F.gowrap1) belong to F."""
    parts = name.split(".")
    for k in range(len(parts), 1, -1):
        cand = ".".join(parts[:k])
        if cand in funcs:
            return cand
    raise KeyError(name)


@pytest.mark.parametrize("tb", _need_builds, ids=lambda b: b.id)
def test_inlined_callees_are_the_compilers(tb):
    _fresh(tb)
    f = facts(str(tb.path))
    funcs = _functions(SOURCE.read_text())
    inlined = _inlining_calls(tb)
    checked = 0
    for k, name in enumerate(f.names):
        name = name.decode()
        listed = {_short(x.decode()) for x in f.inlined.of(k)}
        want = inlined[_source_function(name, funcs)]
        assert listed <= want, (name, listed - want)
        checked += bool(listed)
    if tb.variant == "noinline":
        assert checked == 0  # -l: nothing inlined into package main
    else:
        assert checked >= 2


def _objdump_self_calls(tb, names: list[str]) -> set[str]:
    """Functions whose `go tool objdump` listing has a CALL/BL to themselves."""
    go = Path(tb.path).parents[3] / "go" / tb.go_version / "go" / "bin" / "go"
    if not go.exists():
        pytest.skip(f"toolchain {tb.go_version} missing; run `make toolchains`")
    out = set()
    for name in names:
        pattern = "^" + re.escape(name) + "$"
        p = subprocess.run([str(go), "tool", "objdump", "-s", pattern, str(tb.path)],
                           capture_output=True, text=True, check=True)
        # amd64: CALL main.walk(SB); arm64: CALL main.walk(SB) as well (Go syntax).
        if re.search(r"\bCALL " + re.escape(name) + r"\(SB\)", p.stdout):
            out.add(name)
    return out


@pytest.mark.parametrize("tb", _need_builds, ids=lambda b: b.id)
def test_recursion_flags_match_objdump(tb):
    f = facts(str(tb.path), r"^main\.[a-z]")
    names = [n.decode() for n in f.names]
    calls = self_calls(opened(str(tb.path)), f.indices)
    ours = {names[k] for k in calls}
    assert ours == _objdump_self_calls(tb, names)
    assert "main.walk" in ours  # the source calls it recursively


def _other_call_platforms() -> list:
    """callers default builds of the other platforms whose calls diff finds
    (386 and amd64 E8 rel32, arm64 BL): Windows, linux/386, the BSDs ..."""
    from conftest import ALL_TESTBINS

    return [b for b in ALL_TESTBINS if b.program == "callers" and b.variant == "default" and
            b.goarch in ("386", "amd64", "arm64") and
            not (b.goos in ("linux", "darwin") and b.goarch in ("amd64", "arm64"))]


@pytest.mark.parametrize("tb", need(_other_call_platforms(), "callers builds"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_recursion_flags_match_objdump_other_platforms(tb):
    f = facts(str(tb.path), r"^main\.[a-z]")
    names = [n.decode() for n in f.names]
    calls = self_calls(opened(str(tb.path)), f.indices)
    ours = {names[k] for k in calls}
    assert ours == _objdump_self_calls(tb, names)
    assert "main.recurse" in ours  # the source calls it recursively


@pytest.mark.parametrize("tb", [b for b in _need_builds if b is None or b.out_dir is not None],
                         ids=lambda b: getattr(b, "id", "none"))
def test_walk_frame_is_the_measured_distance(tb):
    """main.walk's frame equals the distance between its levels the program
    measured (addresses of a local of each level, leaf first)."""
    m = load_json(tb.out_dir / "measure.json")
    f = facts(str(tb.path))
    k = [n.decode() for n in f.names].index("main.walk")
    distances = {d for g in m["walk_frame"] for d in g}
    assert distances == {int(f.frame_size[k])}


# --- pairs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("old,new", _need_pairs)
def test_pair_json_reports_each_builds_facts(old, new):
    """The --json rows carry each build's own facts, and the summary adds up."""
    doc = cli_json(str(old.path), str(new.path), "--match", MAIN)
    assert set(doc) == {"functions", "summary"}
    keys = {"entry", "size", "frame_size", "max_sp_delta", "args", "inlined"}
    asm = {"old": _asm_sizes(old), "new": _asm_sizes(new)}
    for f in doc["functions"]:
        assert set(f) == {"name", "old", "new"}
        assert f["old"] is not None or f["new"] is not None
        for side in ("old", "new"):
            s = f[side]
            if s is None:
                continue
            assert set(s) == keys
            assert asm[side][(f["name"], s["max_sp_delta"])] >= 1, (side, f)
            assert s["inlined"] == sorted(set(s["inlined"]))
    s = doc["summary"]
    assert set(s) == {"only_old", "only_new", "grown", "shrunk", "frame_size_total_old",
                      "frame_size_total_new"}
    rows = doc["functions"]
    assert s["only_old"] == sum(f["new"] is None for f in rows)
    assert s["only_new"] == sum(f["old"] is None for f in rows)
    both = [f for f in rows if f["old"] and f["new"]]
    assert s["grown"] == sum(f["new"]["frame_size"] > f["old"]["frame_size"] for f in both)
    assert s["shrunk"] == sum(f["new"]["frame_size"] < f["old"]["frame_size"] for f in both)
    # Unchanged functions are not listed: the listed deltas make the total change.
    change = sum((f["new"] or {}).get("frame_size", 0) - (f["old"] or {}).get("frame_size", 0)
                 for f in rows)
    assert s["frame_size_total_new"] - s["frame_size_total_old"] == change
    assert s["frame_size_total_old"] == _scalar_total(str(old.path), MAIN)
    assert s["frame_size_total_new"] == _scalar_total(str(new.path), MAIN)


@functools.lru_cache(maxsize=None)
def _scalar_total(path: str, match: str | None = None) -> int:
    """Sum of frame sizes, one function at a time (GoBinary.func_frame_size)."""
    b = opened(path)
    rx = re.compile(match) if match else None
    return sum(b.func_frame_size(f) for f in b.functions
               if rx is None or rx.search(func_name_for_print(f.name)))


@pytest.mark.parametrize("old,new", _need_pairs)
def test_pair_newly_inlined_agrees_with_both_listings(old, new):
    """A callee listed as newly inlined is inlined in NEW's -m listing of the
    function, and where OLD's listing does not inline it, it is listed."""
    _fresh(old)
    _fresh(new)
    res = lib_diff(str(old.path), str(new.path))
    funcs = _functions(SOURCE.read_text())
    m_old, m_new = _inlining_calls(old), _inlining_calls(new)
    for f in res.functions:
        if f.old is None or f.new is None:
            continue
        src = _source_function(f.name, funcs)
        added = {_short(n) for n, _ in f.newly_inlined}
        assert added <= m_new[src]
        # A callee only NEW's listing inlines and NEW's tree holds is newly listed.
        in_new_tree = {_short(n) for n in f.new.inlined}
        in_old_tree = {_short(n) for n in f.old.inlined}
        assert (in_new_tree - in_old_tree) == added


def test_pgo_inlines_the_big_callee_into_the_recursive_function():
    """golang/go#65532's shape, with every expectation taken from Go's own
    output: -m of the PGO build inlines process into walk and the default
    build's does not; -S gives both frames; nm says process is gone."""
    old = DIFFPAIR.get(("1.24.11", "amd64", "default"))
    new = DIFFPAIR.get(("1.24.11", "amd64", "pgo"))
    if old is None or new is None:
        pytest.skip("no diffpair pgo build; run `make testbins`")
    _fresh(old)
    _fresh(new)
    m_old, m_new = _inlining_calls(old), _inlining_calls(new)
    assert "process" in m_new["main.walk"] and "process" not in m_old["main.walk"]
    locals_old = parse_asm_locals(old.asm_path)
    locals_new = parse_asm_locals(new.asm_path)
    nm_new = {n for _, _, _, n in parse_nm(new.nm_path)}
    res = lib_diff(str(old.path), str(new.path))
    rows = {f.name: f for f in res.functions}
    walk = rows["main.walk"]
    assert walk.old.max_sp_delta == locals_old["main.walk"]
    assert walk.new.max_sp_delta == locals_new["main.walk"]
    assert walk.frame_delta == locals_new["main.walk"] - locals_old["main.walk"] > 0
    assert walk.newly_inlined == (("main.process", locals_old["main.process"] + 8),)
    assert walk.recursive_new and walk.recursive_old
    assert ("main.process" in nm_new) == (rows.get("main.process") is None or
                                          rows["main.process"].new is not None)
    text = run_cli("diff", str(old.path), str(new.path), "--match", MAIN)
    assert "+ newly inlined: main.process" in text
    assert f"R calls itself: +{walk.frame_delta} bytes at every level" in text


# --- options and output forms ------------------------------------------------------------------

def _pick_pair():
    if not PAIRS:
        pytest.skip("no diffpair builds; run `make testbins`")
    return PAIRS[0].values


def test_sort_top_min_delta():
    old, new = _pick_pair()
    a, b = str(old.path), str(new.path)
    every = cli_json(a, b)["functions"]

    def delta(f, key):
        return (f["new"] or {}).get(key, 0) - (f["old"] or {}).get(key, 0)

    d = [abs(delta(f, "frame_size")) for f in every]
    assert d == sorted(d, reverse=True)
    code = cli_json(a, b, "--sort", "code")["functions"]
    c = [abs(delta(f, "size")) for f in code]
    assert c == sorted(c, reverse=True)
    by_name = cli_json(a, b, "--sort", "name")["functions"]
    assert [f["name"] for f in by_name] == sorted(f["name"] for f in every)
    top = cli_json(a, b, "--top", "3")
    assert top["functions"] == every[:3]
    assert top["summary"] == cli_json(a, b)["summary"]
    big = cli_json(a, b, "--min-delta", "64")["functions"]
    assert big == [f for f in every if abs(delta(f, "frame_size")) >= 64]


def test_csv_and_text_list_the_json_rows():
    old, new = _pick_pair()
    a, b = str(old.path), str(new.path)
    rows = cli_json(a, b, "--match", MAIN)["functions"]
    import csv
    import io
    got = list(csv.DictReader(io.StringIO(run_cli("diff", "--csv", "--match", MAIN, a, b))))
    assert [r["name"] for r in got] == [f["name"] for f in rows]
    for r, f in zip(got, rows):
        for side in ("old", "new"):
            want = "" if f[side] is None else str(f[side]["frame_size"])
            assert r[f"{side}_frame_size"] == want
    text = run_cli("diff", "--match", MAIN, a, b)
    body = text.split("\n\n", 1)[1].splitlines()
    # Rows start with a number or "-" (absent); the lines under a row with + R ~.
    listed = [ln.split()[-1] for ln in body[1:] if ln.split()[0][0] not in "+R~"]
    assert listed == [f["name"] for f in rows]


def test_errors(tmp_path):
    bins = [b for b in BUILDS if b is not None]
    if not bins:
        pytest.skip("no diffpair builds; run `make testbins`")
    amd = next((b for b in bins if b.goarch == "amd64"), None)
    arm = next((b for b in bins if b.goarch == "arm64"), None)
    runner = CliRunner()
    if amd and arm:
        res = runner.invoke(main, ["diff", str(amd.path), str(arm.path)])
        assert res.exit_code == 2
        assert res.stderr.startswith("gosym: error: ") and res.stderr.count("\n") == 1
        assert "amd64" in res.stderr and "arm64" in res.stderr
    x = str(bins[0].path)
    res = runner.invoke(main, ["diff", x, str(tmp_path / "missing")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF" + b"\0" * 60)
    res = runner.invoke(main, ["diff", str(junk), x])
    assert res.exit_code == 1 and res.stderr.startswith("gosym: error: ")
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["diff", "--match", "(", x, x])
    assert res.exit_code == 2 and "regular expression" in res.stderr
    res = runner.invoke(main, ["diff", "--json", "--csv", x, x])
    assert res.exit_code == 2


def test_identical_builds_list_nothing():
    bins = [b for b in BUILDS if b is not None]
    if not bins:
        pytest.skip("no diffpair builds; run `make testbins`")
    doc = cli_json(str(bins[0].path), str(bins[0].path))
    assert doc["functions"] == []
    s = doc["summary"]
    assert s["only_old"] == s["only_new"] == s["grown"] == s["shrunk"] == 0
    assert s["frame_size_total_old"] == s["frame_size_total_new"]


# --- real pairs -----------------------------------------------------------------------------------

def _version_key(v: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def _real_pairs() -> list:
    """Consecutive releases of one program for one platform (Go executables
    debug/gosym reads; the set holds core files and libraries too)."""
    groups: dict[tuple, list] = {}
    for b in REALBINS:
        if b.gosymref_json_path is not None:
            groups.setdefault((b.path.name, b.goos, b.goarch), []).append(b)
    out = []
    for (name, goos, goarch), bins in sorted(groups.items()):
        bins.sort(key=lambda b: _version_key(b.version))
        for a, z in zip(bins, bins[1:]):
            out.append(pytest.param(a, z, id=f"{name}-{goos}-{goarch}-{a.version}-{z.version}"))
    return out


@pytest.mark.parametrize("old,new", need(_real_pairs(), "real binaries"))
def test_real_pair(old, new):
    """Runs without error; the totals are the per-function sums of each build
    and change by the sum of the listed deltas; the functions matched and
    unmatched follow from debug/gosym's function lists."""
    from gosym.errors import UnsupportedError

    for tb in (old, new):
        try:
            opened(str(tb.path))
        except UnsupportedError as e:  # a format or architecture gosym does not decode
            pytest.skip(f"{tb.id}: {e}")
    doc = cli_json(str(old.path), str(new.path))
    s = doc["summary"]
    assert s["frame_size_total_old"] == _scalar_total(str(old.path))
    assert s["frame_size_total_new"] == _scalar_total(str(new.path))
    rows = doc["functions"]
    change = sum((f["new"] or {}).get("frame_size", 0) - (f["old"] or {}).get("frame_size", 0)
                 for f in rows)
    assert s["frame_size_total_new"] - s["frame_size_total_old"] == change
    assert s["only_old"] == sum(f["new"] is None for f in rows)
    assert s["only_new"] == sum(f["old"] is None for f in rows)
    if old.gosymref_json_path and new.gosymref_json_path:
        names_old = Counter(func_name_for_print(f["name"])
                            for f in load_json(old.gosymref_json_path)["funcs"])
        names_new = Counter(func_name_for_print(f["name"])
                            for f in load_json(new.gosymref_json_path)["funcs"])
        assert s["only_old"] == sum((names_old - names_new).values())
        assert s["only_new"] == sum((names_new - names_old).values())
        # Code sizes are debug/gosym's end - entry.
        size_old = {}
        for f in load_json(old.gosymref_json_path)["funcs"]:
            size_old.setdefault(f["entry"], f["end"] - f["entry"])
        for f in rows[:500]:
            if f["old"] is not None:
                assert f["old"]["size"] == size_old[f["old"]["entry"]]


# --- --profile: the stacks of OLD's goroutines re-costed with NEW's frames ---------------------

PROFILE_FORMS = ["traceback.txt", "goroutine.debug2.txt", "goroutine.debug1.txt",
                 "goroutine.debug0.pb.gz"]


def _reserve(arch: str) -> int:
    """runtime/proc.go newproc1: totalSize = alignUp(4*PtrSize + MinFrameSize, StackAlign)
    is left free above a goroutine's root frame, below stack.hi (MinFrameSize 0 on
    amd64, 8 on arm64: internal/goarch; StackAlign PtrSize on amd64, 16 on arm64)."""
    min_frame, align = (0, 8) if arch == "amd64" else (8, 16)
    return (4 * 8 + min_frame + align - 1) // align * align


def _measured(tb) -> list[int]:
    """stack.hi - SP of the innermost frame of every parked worker goroutine, from the
    runtime's own fp=/sp= in the GOTRACEBACK=system crash of the same goroutines:
    hi is runtime.goexit's sp plus the reserve above it."""
    text = (tb.out_dir / "traceback.txt").read_text()
    out = []
    for block in text.split("\n\n"):
        if "\nmain.worker(" not in block:
            continue
        sps = [int(x, 16) for x in re.findall(r" sp=(0x[0-9a-f]+)", block)]
        goexit = re.search(r"\nruntime\.goexit\(.*\)\n.* sp=(0x[0-9a-f]+)", block)
        assert goexit and sps, block
        out.append(int(goexit.group(1), 16) + _reserve(tb.goarch) - sps[0])
    assert len(out) == 5, "diffpair parks five workers"
    return out


def _workers(stacks: list[dict], key: str) -> int:
    return sum(s[key] * s["goroutines"] for s in stacks
               if any(f["function"] == "main.worker" for f in s["frames"]))


PROFILE_PAIRS = [p for p in PAIRS if p.values[0].out_dir and p.values[1].out_dir]


@pytest.mark.parametrize("form", PROFILE_FORMS)
@pytest.mark.parametrize("old,new", need(PROFILE_PAIRS, "diffpair runs"))
def test_profile_estimate_equals_the_stacks_new_measures(old, new, form):
    """OLD's goroutine profile (each form), re-costed with NEW's frames, gives the
    stack bytes the runtime measured when NEW parked the same goroutines."""
    doc = cli_json(str(old.path), str(new.path), "--profile", str(old.out_dir / form))
    p = doc["profile"]
    assert set(p) == {"old_bytes", "new_bytes", "stacks"}
    stacks = p["stacks"]
    assert p["old_bytes"] == sum(s["old_bytes"] * s["goroutines"] for s in stacks)
    assert p["new_bytes"] == sum(s["new_bytes"] * s["goroutines"] for s in stacks)
    for s in stacks:
        assert s["old_bytes"] == sum(f["old_bytes"] for f in s["frames"])
        assert s["new_bytes"] == sum(f["new_bytes"] for f in s["frames"])
        for f in s["frames"]:
            assert f["match"] in ("line", "call", "max", "inlined", "missing", "carried")
            if f["match"] == "inlined":
                assert f["new_bytes"] == 0
    assert _workers(stacks, "old_bytes") == sum(_measured(old))
    assert _workers(stacks, "new_bytes") == sum(_measured(new))
    growth = [(s["new_bytes"] - s["old_bytes"]) * s["goroutines"] for s in stacks]
    assert growth == sorted(growth, reverse=True)


def test_profile_text_and_errors(tmp_path):
    if not PROFILE_PAIRS:
        pytest.skip("no diffpair runs; run `make testbins`")
    old, new = PROFILE_PAIRS[0].values
    a, b = str(old.path), str(new.path)
    text = run_cli("diff", "--match", MAIN, "--profile", str(old.out_dir / "goroutine.debug1.txt"),
                   a, b)
    assert "goroutine profile (debug=1, " in text
    junk = tmp_path / "junk.txt"
    junk.write_text("not a profile\n")
    res = CliRunner().invoke(main, ["diff", "--profile", str(junk), a, b])
    assert res.exit_code == 1 and res.stderr.startswith("gosym: error: ")
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["diff", "--profile", str(tmp_path / "missing"), a, b])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_parallel_facts_give_the_same_result(monkeypatch):
    """NEW's tables read by a forked child: the same output, and a NEW that
    can't be decoded is still one error line."""
    import gosym.diff as gdiff

    old, new = _pick_pair()
    a, b = str(old.path), str(new.path)
    want = run_cli("diff", "--json", a, b)
    monkeypatch.setattr(gdiff, "PARALLEL_MIN_FUNCS", 0)
    monkeypatch.setattr(gdiff, "_spare_core", lambda: True)
    assert run_cli("diff", "--json", a, b) == want
    # Errors in the child come back as the command's one error line.
    from gosym.errors import FormatError
    real = gdiff.build_facts

    def failing(binary, match=None, **kw):
        if binary.path == b:
            raise FormatError("damaged table")
        return real(binary, match, **kw)

    monkeypatch.setattr(gdiff, "build_facts", failing)
    res = CliRunner().invoke(main, ["diff", a, b])
    assert res.exit_code == 1, res.output
    assert res.stderr == f"gosym: error: {b}: damaged table\n"

    def crashing(binary, match=None, **kw):
        if binary.path == b:
            raise ValueError("unexpected")
        return real(binary, match, **kw)

    monkeypatch.setattr(gdiff, "build_facts", crashing)
    res = CliRunner().invoke(main, ["diff", a, b])
    assert res.exit_code == 1 and res.stderr.startswith("gosym: error: ")
    assert "unexpected" in res.stderr and res.stderr.count("\n") == 1


def _mode_pairs() -> list:
    """One program's builds that differ in build mode, stripping or OS (same
    Go version and architecture), from the test-binary matrix."""
    from conftest import ALL_TESTBINS

    cells = {(b.go_version, b.goos, b.goarch, b.variant): b for b in ALL_TESTBINS
             if b.program == "callers"}
    out = []
    for (ver, goos, arch, variant), b in sorted(cells.items()):
        if variant != "default" or ver not in ("1.19.8", "1.27.3"):
            continue
        if goos == "linux" and arch in ("amd64", "arm64"):
            others = (("linux", "stripped"), ("linux", "pie-stripped"), ("linux", "extpie"),
                      ("darwin", "default"))
        else:  # every other platform (word size, byte order, container): against stripped
            others = ((goos, "stripped"),)
        for other in others:
            z = cells.get((ver, other[0], arch, other[1]))
            if z is not None:
                out.append(pytest.param(b, z, id=f"go{ver}-{arch}-default-{other[0]}-{other[1]}"))
    return out


@pytest.mark.parametrize("old,new", need(_mode_pairs(), "callers builds"))
def test_builds_of_other_modes(old, new):
    """Default against stripped, PIE, externally linked and Mach-O builds of the
    same program: no error, totals are each build's own sums, and every
    function of package main is matched (go tool nm of the default build)."""
    doc = cli_json(str(old.path), str(new.path))
    s = doc["summary"]
    assert s["frame_size_total_old"] == _scalar_total(str(old.path))
    assert s["frame_size_total_new"] == _scalar_total(str(new.path))
    gone = {f["name"] for f in doc["functions"] if f["new"] is None}
    mains = {func_name_for_print(n) for _, _, typ, n in parse_nm(old.nm_path)
             if typ in "Tt" and n.startswith("main.")}
    assert not gone & mains
