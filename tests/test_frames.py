"""`gosym frames` and the frame-size library calls against Go's own answers.

* DWARF ``.debug_frame`` (compressed in Go's ELF output; pyelftools decompresses
  it) decoded independently: CFA = sp_delta + 8 on amd64, + 4 on 386, = sp_delta
  on the link-register architectures.
* ``-gcflags=-S`` ``locals=``: max_sp_delta = locals on amd64, 386 and riscv64,
  locals + MinFrameSize on the other link-register architectures.
* ``go tool nm``: the function that holds a PC.
* Mach-O builds agree with the ELF builds of the same program and Go version.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import json

import pytest
from click.testing import CliRunner

from binaries import parse_asm_locals, parse_nm
from conftest import ALL_TESTBINS, DWARF_SP, MIN_FRAME_SIZE, RETURN_SLOT, binary_id, need, opened

from gosym.cli import main
from gosym.pclntab import func_name_for_print

LINUX_UNSTRIPPED = [b for b in ALL_TESTBINS if b.goos == "linux" and not b.stripped]
WITH_ASM = [b for b in ALL_TESTBINS if b.asm_path is not None and b.variant == "default"]
DARWIN_DEFAULT = [b for b in ALL_TESTBINS if b.goos == "darwin" and b.variant == "default"]
SLOT = {arch: RETURN_SLOT.get(arch, 0) for arch in MIN_FRAME_SIZE}  # counted in the CFA
SP_REG = DWARF_SP


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, (res.output, res.stderr)
    return res.stdout


@functools.lru_cache(maxsize=None)
def frames_json(path: str, *extra: str) -> list[dict]:
    return json.loads(run("frames", "--json", *extra, path))


@functools.lru_cache(maxsize=None)
def dwarf_frames(path: str) -> dict[int, tuple[int, list[tuple[int, int, int]]]]:
    """FDE initial location -> (address range, [(pc, cfa register, cfa offset)])."""
    from elftools.dwarf.callframe import FDE
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        sec = elf.get_section_by_name(".debug_frame") or elf.get_section_by_name(".zdebug_frame")
        assert sec is not None, "Go's ELF output carries .debug_frame"
        dwarf = elf.get_dwarf_info()
        out = {}
        for ent in dwarf.CFI_entries():
            if not isinstance(ent, FDE):
                continue
            rows = [(r["pc"], r["cfa"].reg, r["cfa"].offset) for r in ent.get_decoded().table]
            out[ent["initial_location"]] = (ent["address_range"], rows)
    return out


def value_at(ranges: list[list[int]], pc: int) -> int | None:
    starts = [r[0] for r in ranges]
    k = bisect.bisect_right(starts, pc) - 1
    if k < 0 or pc >= ranges[k][1]:
        return None
    return ranges[k][2]


def cfa_at(rows: list[tuple[int, int, int]], pc: int) -> int | None:
    pcs = [r[0] for r in rows]
    k = bisect.bisect_right(pcs, pc) - 1
    return None if k < 0 else rows[k][2]


# --- sp_deltas against DWARF -----------------------------------------------------------------

@pytest.mark.parametrize("tb", need(LINUX_UNSTRIPPED, "unstripped linux test binaries"),
                         ids=binary_id)
def test_sp_deltas_match_debug_frame(tb):
    path = str(tb.path)
    funcs = {f["entry"]: f for f in frames_json(path, "--pcs", "--sort", "addr")}
    fdes = dwarf_frames(path)
    slot, sp = SLOT[tb.goarch], SP_REG[tb.goarch]
    assert len(fdes) > 1000
    rows_checked = ranges_checked = 0
    for entry, (size, rows) in fdes.items():
        f = funcs.get(entry)
        assert f is not None, f"FDE at {entry:#x} is not a function entry"
        assert size <= f["end"] - f["entry"]
        ranges = f["sp_deltas"]
        for pc, reg, off in rows:
            assert reg == sp
            assert value_at(ranges, pc) == off - slot, (f["name"], hex(pc), off)
            rows_checked += 1
        for start, _end, v in ranges:
            if start < entry + size:
                assert cfa_at(rows, start) == v + slot, (f["name"], hex(start), v)
                ranges_checked += 1
    # Every function with a pcsp table has its FDE.
    with_table = [f for f in funcs.values() if f["sp_deltas"]]
    assert len(fdes) == len(with_table)
    assert rows_checked > len(fdes) and ranges_checked > len(fdes)


@pytest.mark.parametrize("tb", need(LINUX_UNSTRIPPED, "unstripped linux test binaries"),
                         ids=binary_id)
def test_library_sp_delta_and_frame_size(tb):
    """binary.sp_delta(pc), frame_size(pc), pcsp_ranges(func) at every DWARF row."""
    b = opened(str(tb.path))
    fdes = dwarf_frames(str(tb.path))
    slot = SLOT[tb.goarch]
    # every FDE's first rows and a sample of the rest keeps this fast
    for entry, (_size, rows) in list(fdes.items())[::7]:
        func = b.func_for_pc(entry)
        assert func is not None and func.entry == entry
        ranges = [(r.start, r.end, r.sp_delta) for r in b.pcsp_ranges(func)]
        assert ranges and ranges[0][0] == entry
        assert all(a[1] == c[0] for a, c in zip(ranges, ranges[1:]))
        for pc, _reg, off in rows:
            assert b.sp_delta(pc) == off - slot
            assert b.frame_size(pc) == off  # bytes below the caller's SP: the CFA offset
    assert b.sp_delta(0) is None and b.frame_size(0) is None


# --- max_sp_delta against the compiler's locals= ---------------------------------------------

@pytest.mark.parametrize("tb", need(WITH_ASM, "test binaries with -S listings"), ids=binary_id)
def test_max_sp_delta_matches_compiler_locals(tb):
    locals_ = {n: v for n, v in parse_asm_locals(tb.asm_path).items() if n.startswith("main.")}
    got = {f["name"]: f["max_sp_delta"] for f in frames_json(str(tb.path))}
    compared = 0
    for name, loc in locals_.items():
        if name not in got:
            continue  # inlined away, or instantiated under another name
        if tb.goarch in RETURN_SLOT or tb.goarch == "riscv64":
            # amd64, 386: the return address is above the frame; riscv64 counts
            # the saved LR's slot in Locals already (cmd/internal/obj/riscv/obj.go:
            # "stacksize += ctxt.Arch.FixedFrameSize" before "Locals = stacksize").
            assert got[name] == loc, name
        else:
            if loc == 0:
                continue  # leaf without a frame: no saved LR either
            # The other assemblers set Locals to the compiler's frame and add the
            # fixed frame bottom that holds LR (autosize += FixedFrameSize;
            # arm64 and arm: the LR/frame-pointer word).
            assert got[name] == loc + MIN_FRAME_SIZE[tb.goarch], name
        compared += 1
    assert compared >= 2


@pytest.mark.parametrize("tb", need(DARWIN_DEFAULT, "darwin test binaries"), ids=binary_id)
def test_macho_matches_elf_for_package_main(tb):
    elf = next((b for b in ALL_TESTBINS if b.goos == "linux" and b.variant == "default"
                and b.goarch == tb.goarch and b.go_version == tb.go_version
                and b.program == tb.program), None)
    if elf is None:
        pytest.skip("no linux build of the same program")
    mach = {f["name"]: f["max_sp_delta"] for f in frames_json(str(tb.path))
            if f["name"].startswith("main.")}
    lin = {f["name"]: f["max_sp_delta"] for f in frames_json(str(elf.path))
           if f["name"].startswith("main.")}
    assert mach == lin and len(mach) >= 2


# --- the JSON contract -----------------------------------------------------------------------

PROLOGUE_ARCHES = {"amd64", "arm64", "386", "arm", "riscv64"}  # gosym.prologue._WINDOW
KEYS = {"name", "entry", "end", "frame_size", "max_sp_delta", "args", "flags", "nosplit",
        "sp_deltas"}


@pytest.mark.parametrize("tb", need([b for b in LINUX_UNSTRIPPED if b.variant == "default"],
                                    "test binaries"), ids=binary_id)
def test_json_pcs_contract(tb):
    funcs = frames_json(str(tb.path), "--pcs", "--sort", "addr")
    b = opened(str(tb.path))
    assert len(funcs) == len(b.table)
    slot = SLOT[tb.goarch]
    for f in funcs:
        assert set(f) == KEYS
        for k in ("entry", "end", "frame_size", "max_sp_delta", "args"):
            assert type(f[k]) is int
        # null where gosym has no stack-check patterns for the architecture
        assert f["nosplit"] in ((True, False) if tb.goarch in PROLOGUE_ARCHES else (None,))
        assert f["max_sp_delta"] >= 0 and f["frame_size"] == f["max_sp_delta"] + slot
        r = f["sp_deltas"]
        if r:
            assert r[0][0] == f["entry"] and r[-1][1] <= f["end"]
            assert all(type(x) is int for row in r for x in row)
            assert all(s < e for s, e, _ in r)
            assert all(a[1] == c[0] for a, c in zip(r, r[1:]))
            assert f["max_sp_delta"] == max(0, max(v for _, _, v in r))
    by_name = {f["name"]: f for f in funcs}
    ap = by_name.get("runtime.asyncPreempt")
    if tb.goarch == "arm64" and ap is not None:
        assert -16 in [v for _, _, v in ap["sp_deltas"]]  # negative values are kept
    # nosplit agrees with the stack-bound check in the code: morestack itself has none
    if tb.goarch in PROLOGUE_ARCHES:
        assert by_name["runtime.morestack"]["nosplit"] is True
        assert by_name["main.main"]["nosplit"] is False


# --- --pc, --csv, --sort, --top ----------------------------------------------------------------

@pytest.mark.parametrize("tb", need([b for b in LINUX_UNSTRIPPED if b.variant == "default"
                                     and b.program == "callers" and b.nm_path],
                                    "callers test binaries"), ids=binary_id)
def test_pc_option_against_nm_and_dwarf(tb):
    path = str(tb.path)
    # go tool nm marks assembly functions' ABI0 symbols with ".abi0"
    syms = sorted((a, s, n.removesuffix(".abi0")) for a, s, t, n in parse_nm(tb.nm_path)
                  if t in "Tt" and s > 0)
    fdes = dwarf_frames(path)
    slot = SLOT[tb.goarch]
    pcs = []
    for entry, (_size, rows) in list(fdes.items())[::50]:
        pcs += [pc for pc, _, _ in rows[1:3]]
    args = [a for pc in pcs for a in ("--pc", hex(pc))]
    doc = json.loads(run("frames", "--json", *args, path))
    assert [d["pc"] for d in doc] == pcs
    starts = [a for a, _, _ in syms]
    for d in doc:
        k = bisect.bisect_right(starts, d["pc"]) - 1
        addr, size, name = syms[k]
        assert addr <= d["pc"] < addr + size
        assert d["entry"] == addr
        # generic instantiations print as pkg.F[...] (runtime.funcNameForPrint)
        assert func_name_for_print(d["function"]) == func_name_for_print(name)
        rows = fdes[addr][1]
        assert d["sp_delta"] == cfa_at(rows, d["pc"]) - slot
        assert d["frame_size"] == cfa_at(rows, d["pc"])
    # text form: one row per PC, "name+offset"
    text = run("frames", "--pc", hex(pcs[0]), path).splitlines()
    assert text[0].split() == ["pc", "sp_delta", "frame_size", "function"]
    assert text[1].split()[0] == hex(pcs[0]) and text[1].split()[-1].startswith(doc[0]["function"])
    # a PC outside every function: a message and exit status 1
    res = CliRunner().invoke(main, ["frames", "--pc", "0x1", path])
    assert res.exit_code == 1 and "not inside any function" in res.stderr


def _first_default():
    for b in LINUX_UNSTRIPPED:
        if b.variant == "default" and b.program == "hello":
            return b
    pytest.skip("no test binaries built")


def test_csv_matches_json():
    tb = _first_default()
    path = str(tb.path)
    rows = list(csv.DictReader(io.StringIO(run("frames", "--csv", "--sort", "addr", path))))
    funcs = frames_json(path, "--sort", "addr")
    assert len(rows) == len(funcs)
    for r, f in zip(rows, funcs):
        assert r["name"] == f["name"] and int(r["entry"]) == f["entry"]
        assert int(r["frame_size"]) == f["frame_size"]
        assert int(r["max_sp_delta"]) == f["max_sp_delta"]
        assert r["nosplit"] == str(int(f["nosplit"]))
    pcs_rows = list(csv.DictReader(io.StringIO(run("frames", "--csv", "--pcs", "--match",
                                                   "^main\\.main$", path))))
    want = [r for f in frames_json(path, "--pcs") if f["name"] == "main.main"
            for r in f["sp_deltas"]]
    assert [[int(r["start_pc"]), int(r["end_pc"]), int(r["sp_delta"])] for r in pcs_rows] == want


def test_sort_and_top():
    tb = _first_default()
    path = str(tb.path)
    by_size = frames_json(path)
    sizes = [(-f["frame_size"], f["entry"]) for f in by_size]
    assert sizes == sorted(sizes)
    by_name = frames_json(path, "--sort", "name")
    names = [f["name"].encode() for f in by_name]
    assert names == sorted(names)
    by_addr = frames_json(path, "--sort", "addr")
    assert [f["entry"] for f in by_addr] == sorted(f["entry"] for f in by_addr)
    top = frames_json(path, "--top", "5")
    assert top == by_size[:5]
    # the largest frame in the table is the biggest reflectcall helper or main.bigFrame
    text = run("frames", "--top", "3", path).splitlines()
    assert len(text) == 4 and text[0].split()[:3] == ["entry", "frame_size", "max_sp_delta"]
    res = CliRunner().invoke(main, ["frames", "--json", "--csv", path])
    assert res.exit_code == 2
