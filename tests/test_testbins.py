"""Checks of the test-binary cache itself (built by `make testbins realbins`)
and of the parsing helpers in tests/binaries.py. These make sure the
reference data the other tests rely on is complete and sane."""

from __future__ import annotations

import pytest

import binaries as B

TESTBINS = B.testbins()
CALLERS_RUNS = [b for b in TESTBINS if b.run_json_path and b.program == "callers"]
ASM = [b for b in TESTBINS if b.asm_path]

SAMPLES = [
    "chain", "inlined", "iface", "wrapper_embedded", "wrapper_value", "closure",
    "generic_func_int", "generic_func_string", "generic_method_int",
    "generic_method_string", "defer", "sigpanic", "panic", "recursion",
    "goroutine", "bigframe", "frame4k",
]


def test_parse_nm(tmp_path):
    p = tmp_path / "x.nm"
    p.write_text(
        "                  0 U nanosleep@GLIBC_2.2.5\n"
        "  401000         96 T internal/abi.Kind.String\n"
        "  48b4a0         50 t sync.(*HashTrieMap[go.shape.interface {},go.shape.int]).Swap\n"
        "       0          0 _ go.go\n"
    )
    assert B.parse_nm(p) == [
        (0, 0, "U", "nanosleep@GLIBC_2.2.5"),
        (0x401000, 96, "T", "internal/abi.Kind.String"),
        (0x48B4A0, 50, "t", "sync.(*HashTrieMap[go.shape.interface {},go.shape.int]).Swap"),
        (0, 0, "_", "go.go"),
    ]


def test_parse_asm_locals(tmp_path):
    p = tmp_path / "x.S.txt"
    p.write_text(
        "# example.com/callers\n"
        '"".foo STEXT size=58 args=0x8 locals=0x10 funcid=0x0 align=0x0\n'
        "\t0x0000 00000 (main.go:1)\tTEXT\t\"\".foo(SB), ABIInternal, $16-8\n"
        "main.bigFrame STEXT size=240 align=0x0 args=0x8 locals=0x11188 funcid=0x0\n"
        "main.GenericFunc[go.shape.int] STEXT dupok size=95 align=0x0 args=0x20 locals=0x18 funcid=0x0\n"
        "go.shape.struct { a int }.m STEXT dupok nosplit size=18 args=0x18 locals=0x0 funcid=0x17\n"
    )
    assert B.parse_asm_locals(p) == {
        "main.foo": 0x10,
        "main.bigFrame": 0x11188,
        "main.GenericFunc[go.shape.int]": 0x18,
        "go.shape.struct { a int }.m": 0,
    }


@pytest.mark.skipif(not TESTBINS, reason="no test binaries: run `make testbins`")
def test_matrix_complete():
    versions = {b.go_version for b in TESTBINS}
    for v in versions:
        cells = {(b.goos, b.goarch, b.variant) for b in TESTBINS if b.go_version == v}
        # 4 targets x {default, stripped} + 2 linux targets x {pie, pie-stripped} = 12;
        # extpie/extpie-stripped (linux/amd64) are optional.
        assert len(cells) >= 12, (v, sorted(cells))


@pytest.mark.skipif(not TESTBINS, reason="no test binaries: run `make testbins`")
@pytest.mark.parametrize("b", [b for b in TESTBINS], ids=lambda b: b.id)
def test_nm_present_unless_stripped(b):
    if b.stripped:
        assert b.nm_path is None
        return
    assert b.nm_path is not None
    syms = B.parse_nm(b.nm_path)
    assert any(n == "main.main" and t in "Tt" for _, _, t, n in syms)


@pytest.mark.skipif(not CALLERS_RUNS, reason="no run.json: run `make testbins`")
@pytest.mark.parametrize("b", CALLERS_RUNS, ids=lambda b: b.id)
def test_run_json(b):
    d = B.load_json(b.run_json_path)
    assert d["go_version"] == "go" + b.go_version
    assert (d["goos"], d["goarch"]) == (b.goos, b.goarch)
    assert [s["name"] for s in d["samples"]] == SAMPLES
    for s in d["samples"]:
        assert len(s["pcs"]) == len(s["frames"]) > 0
        assert s["frames"][0]["function"] == "runtime.Callers"
        mains = [f for f in s["frames"] if f["function"].startswith("main.")]
        assert mains
        for f in mains:
            assert f["file"].endswith("/callers/main.go") and f["line"] > 0 and f["entry"] > 0
    by = {s["name"]: s for s in d["samples"]}
    assert len(by["recursion"]["pcs"]) > 200
    funcs = lambda n: [f["function"] for f in by[n]["frames"]]  # noqa: E731
    assert "runtime.sigpanic" in funcs("sigpanic")
    assert funcs("inlined")[2:6] == ["main.inlLeaf", "main.inlMid", "main.inlTop", "main.inlHost"]
    assert funcs("goroutine")[-1] == "runtime.goexit"
    assert "main.main" not in funcs("goroutine")
    if b.nm_path:
        main_main = next(a for a, _, _, n in B.parse_nm(b.nm_path) if n == "main.main")
        slide = d["main_main"] - main_main
        if b.pie and b.goarch == "amd64":
            assert slide != 0  # qemu maps arm64 PIEs at their link address
        elif not b.pie:
            assert slide == 0


@pytest.mark.skipif(not ASM, reason="no -S listings: run `make testbins`")
@pytest.mark.parametrize("b", ASM, ids=lambda b: b.id)
def test_asm_locals(b):
    loc = B.parse_asm_locals(b.asm_path)
    assert "main.main" in loc
    if b.program == "callers":
        assert loc["main.bigFrame"] >= 70000
        assert 4096 <= loc["main.frame4k"] < 8192


@pytest.mark.skipif(not B.realbins(), reason="no real binaries: run `make realbins`")
@pytest.mark.parametrize("r", B.realbins(), ids=lambda r: r.id)
def test_realbin_reference(r):
    assert r.gosymref_json_path is not None
    d = B.load_json(r.gosymref_json_path)
    names = [f["name"] for f in d["funcs"]]
    # A plugin's package main keeps its import path and has no main.main.
    assert len(names) > 1000 and ("main.main" in names or r.package == "shlib (plugin)")
    assert all(f["entry"] < f["end"] for f in d["funcs"][:-1])


@pytest.mark.skipif(not B.fatbins(), reason="no fat binaries: run `make testbins`")
@pytest.mark.parametrize("f", B.fatbins(), ids=lambda f: f.id)
def test_fatbin_slices(f):
    data = f.path.read_bytes()
    assert data[:4] == b"\xca\xfe\xba\xbe"
    assert [s[0] for s in f.slices] == ["amd64", "arm64"]
    for goarch, off, size, thin in f.slices:
        assert data[off:off + size] == thin.read_bytes()
