"""Input formats of gosym symbolize/stack, each checked end to end against the
runtime's own frames (.run.json): the recorded runtime.Callers PCs are written
out the way Go prints them (fmt.Println of a []uintptr, goroutine dumps, debug=1
profile records), parsed back, symbolized, and compared with
runtime.CallersFrames' answer. Malformed lines must be reported, never dropped
silently."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from binaries import load_json
from conftest import CALLERS, opened
from gosym import pcinput
from gosym import symbolize as S
from gosym.cli import main

RUNS = [b for b in CALLERS if b.run_json_path is not None]


def _pick(variant: str, goarch: str | None = None):
    tbs = [t for t in RUNS if t.variant == variant and goarch in (None, t.goarch)]
    if not tbs:
        pytest.skip(f"no {variant} callers binaries built")
    # oldest and newest Go: the 1.19 and 1.20+ table layouts
    return [tbs[0], tbs[-1]] if len(tbs) > 1 else tbs


def _expected(sample):
    return [(f["function"], f["file"], f["line"], f["entry"]) for f in sample["frames"]]


def _frames(b, pcs, slide=0):
    return [(f.function, f.file, f.line, f.entry) for f in b.frames(pcs, slide=slide)]


def _slide(b, run):
    return run["main_main"] - b.lookup("main.main").entry


# --- plain numbers -----------------------------------------------------------------------

@pytest.mark.parametrize("form", ["println", "hex_commas", "bare_hex", "lines", "brackets_hex"])
def test_number_lists(form):
    for tb in _pick("default"):
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        for sample in run["samples"]:
            pcs = sample["pcs"]
            if form == "println":  # fmt.Println([]uintptr{...})
                text = "[" + " ".join(str(p) for p in pcs) + "]"
            elif form == "hex_commas":
                text = ", ".join(hex(p) for p in pcs)
            elif form == "bare_hex":
                text = " ".join(f"{p:x}" for p in pcs)
                if not any(c in "abcdef" for c in text):
                    continue  # undecidable without a hex letter: read as decimal
            elif form == "lines":
                text = "\n".join(hex(p) for p in pcs) + "\n"
            else:
                text = "[" + ",".join(f"{p:#x}" for p in pcs) + "]\n"
            parsed = pcinput.parse_text(text)
            assert parsed.skipped == []
            res = pcinput.resolve(b, parsed)
            assert res.pcs == pcs
            assert _frames(b, res.pcs) == _expected(sample)


def test_decimal_unless_hex_somewhere():
    p = pcinput.parse_text("[4198400 4198500]")
    assert [i.pc for i in p.items] == [4198400, 4198500]
    p = pcinput.parse_text("401000 4010a4")
    assert [i.pc for i in p.items] == [0x401000, 0x4010A4]
    p = pcinput.parse_text("401000\n0x10")
    assert [i.pc for i in p.items] == [0x401000, 0x10]


# --- goroutine dumps ---------------------------------------------------------------------

def _dump(b, sample, slide, with_pc: bool) -> str:
    """The sample as a Go traceback prints it (runtime/traceback.go traceback2):
    "name(...)" + "\\tfile:line" for inlined frames; "name(args)" +
    "\\tfile:line +0x<pc-entry>" for physical ones, where pc is the physical
    frame's return address (the PC of the innermost frame of its inline group:
    the other PCs of the group are virtual), or the faulting instruction itself
    for the frame that called runtime.sigpanic (Callers stores that one +1)."""
    res = S.symbolize(b, sample["pcs"], S.SymbolizeConfig(slide=slide))
    flat = [f for fs in res.frames for f in fs]
    assert len(flat) == len(sample["pcs"])
    lines = ["goroutine 1 [running]:"]
    prev = None
    group_pc = None
    for pc, f, g in zip(sample["pcs"], flat, sample["frames"]):
        name = "panic" if g["function"] == "runtime.gopanic" else g["function"]
        group_pc = pc if group_pc is None else group_pc
        if f[5]:  # inlined
            lines += [f"{name}(...)", f"\t{g['file']}:{g['line']}"]
        else:
            ret = group_pc - 1 if prev == "runtime.sigpanic" else group_pc
            group_pc = None
            loc = f"\t{g['file']}:{g['line']} +{ret - g['entry']:#x}"
            if with_pc:
                loc += f" fp=0xc000012345 sp=0xc000012300 pc={ret:#x}"
            lines += [f"{name}(0x1, {{0x2, 0x3}})", loc]
        prev = g["function"]
    lines.append("created by main.main in goroutine 1")
    lines.append("\t/x/main.go:1 +0x25")
    return "\n".join(lines) + "\n"


def test_goroutine_dump_with_pcs_infers_the_slide():
    # amd64: the arm64 runs under qemu-user load PIE at its link address (slide 0)
    for tb in _pick("pie", "amd64"):
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        slide = _slide(b, run)
        assert slide != 0
        for sample in run["samples"]:
            parsed = pcinput.parse_text(_dump(b, sample, slide, True))
            res = pcinput.resolve(b, parsed)
            assert res.slide == slide and res.slide_source.startswith("inferred")
            assert _frames(b, res.pcs, res.slide) == _expected(sample), sample["name"]
            reasons = {s.reason.split(" (")[0].split(":")[0] for s in res.skipped}
            assert "goroutine header" in reasons
            assert any("creation site" in s.reason for s in res.skipped)


def test_goroutine_dump_by_name_and_offset():
    for tb in _pick("default"):
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        for sample in run["samples"]:
            res = pcinput.resolve(b, pcinput.parse_text(_dump(b, sample, 0, False)))
            if any("ambiguous" in s.reason for s in res.skipped):
                # generic instantiations print alike; without pc= they are skipped, said so
                assert "generic" in sample["name"]
                continue
            assert _frames(b, res.pcs) == _expected(sample), sample["name"]
            inl = sum(1 for s in res.skipped if "inlined frame" in s.reason)
            assert inl == len(sample["pcs"]) - len(res.pcs)


# --- debug=1 profiles ---------------------------------------------------------------------

def _profile(sample) -> str:
    """runtime/pprof printStackRecord: "N @ pcs" then one "#" line per frame with
    frame.PC (the return address minus one), name+offset from Entry, file:line."""
    lines = ["1 @ " + " ".join(hex(p) for p in sample["pcs"])]
    for pc, f in zip(sample["pcs"], sample["frames"]):
        fpc = pc - 1 if pc > f["entry"] else pc
        lines.append(f"#\t{fpc:#x}\t{f['function']}+{fpc - f['entry']:#x}\t{f['file']}:{f['line']}")
    return "\n".join(lines) + "\n\n"


@pytest.mark.parametrize("variant", ["default", "pie"])
def test_profile_records(variant):
    for tb in _pick(variant):
        b = opened(str(tb.path))
        run = load_json(tb.run_json_path)
        slide = _slide(b, run)
        text = "heap profile: 1: 16 [1: 16] @ heap/1048576\n" + "".join(
            _profile(s) for s in run["samples"]) + "# runtime.MemStats\n# Alloc = 123\n"
        res = pcinput.resolve(b, pcinput.parse_text(text))
        assert res.slide == slide
        exp = [f for s in run["samples"] for f in _expected(s)]
        assert _frames(b, res.pcs, res.slide) == exp
        reasons = [s.reason for s in res.skipped]
        assert sum("profile record header" in r for r in reasons) == len(run["samples"])
        assert sum("comment or profile statistics" in r for r in reasons) == 2


# --- malformed input ----------------------------------------------------------------------

def test_malformed_lines_are_reported():
    text = ("0x401000\n"          # 1 ok
            "hello world\n"       # 2 junk
            "0xzz 0x10\n"         # 3 bad token: whole line skipped
            "\n"                  # 4 empty: ignored
            "main.foo(0x1)\n"     # 5 function line without location
            "[1 2 x]\n"           # 6 bad token
            "\t/a/b.go:12 +0x3a\n"  # 7 location without function
            "0x402000,0x403000\n")  # 8 ok
    p = pcinput.parse_text(text)
    assert [i.pc for i in p.items] == [0x401000, 0x402000, 0x403000]
    assert [s.line_no for s in p.skipped] == [2, 3, 5, 6, 7]
    assert all(s.reason for s in p.skipped)
    assert "'0xzz'" in p.skipped[1].reason


def test_dump_names_and_locations():
    p = pcinput.parse_text("goroutine 7 [chan receive, 2 minutes]:\n"
                           "main.(*Rect).Area(0xc000010000)\n"
                           "\t/w/main.go:131 +0x1d\n"
                           "main.GenericFunc[...](...)\n"
                           "\t/w/main.go:180\n"
                           "panic({0x4a8f20?, 0x4ed4c0?})\n"
                           "\t/go/src/runtime/panic.go:770 +0x132 fp=0xc0 sp=0xb0 pc=0x4371d2\n"
                           "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 "
                           "pc=0x48f1a2]\n"
                           "main.nilDeref(0x0)\n"
                           "\t/w/main.go:201 +0x22 fp=0xc1 sp=0xb1 pc=0x48f1a2\n")
    items = p.items
    assert [(i.function, i.offset) for i in items] == [
        ("main.(*Rect).Area", 0x1D), ("runtime.gopanic", 0x132), ("main.nilDeref", 0x22)]
    assert items[0].pc is None
    assert items[1].pc == 0x4371D2
    assert items[2].pc == 0x48F1A2 + 1  # the faulting instruction: stored +1
    assert [s.line_no for s in p.skipped] == [1, 4, 8]


# --- CLI ------------------------------------------------------------------------------------

def test_cli_dump_on_stdin():
    tb = _pick("pie", "amd64")[-1]
    b = opened(str(tb.path))
    run = load_json(tb.run_json_path)
    slide = _slide(b, run)
    sample = next(s for s in run["samples"] if s["name"] == "inlined")
    r = CliRunner().invoke(main, ["symbolize", "--json", str(tb.path)],
                           input=_dump(b, sample, slide, True))
    assert r.exit_code == 0, r.stderr
    flat = [(f["function"], f["file"], f["line"], f["entry"])
            for o in json.loads(r.stdout) for f in o["frames"]]
    assert flat == _expected(sample)
    assert "slide" in r.stderr and "input line 1 skipped: goroutine header" in r.stderr
    assert "inlined frame" in r.stderr
