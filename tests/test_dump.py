"""Goroutine dumps re-printed by `gosym symbolize`: dump in, dump out.

Every dump the runtime printed here (panics, SIGQUIT, runtime.Stack(buf, true)
and debug=2 profiles of the stackmem program on every Go version, amd64 and
arm64, default, PIE and stripped; the crash programs' fatal signals) is
printed again from the binary alone. With gosym's additions (after "  # ")
taken off, it is the runtime's own text, line for line: every function,
file:line, +0x offset and pc=. Each physical frame's bytes, gosym's
addition, equal the runtime's fp - sp where GOTRACEBACK=system printed them.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from binaries import cache_dir
from conftest import ALL_TESTBINS, binary_id, need
from gosym.cli import main

DUMPS = ("panic.txt", "sigquit.txt", "stack_all.txt", "goroutine.debug2.txt")
STACKMEM = [t for t in ALL_TESTBINS if t.program == "stackmem" and t.out_dir is not None]
_NOTE = re.compile(r"  # .*$", re.M)
_FP_SP = re.compile(r" fp=0x([0-9a-f]+) sp=0x([0-9a-f]+) pc=0x[0-9a-f]+  # (\d+) bytes")


def crash_dumps() -> list[tuple[str, str]]:
    out = []
    for d in sorted((cache_dir() / "realbins").glob("crash-*")):
        if (d / "dump.txt").is_file() and (d / "crash").is_file():
            out.append((str(d / "crash"), str(d / "dump.txt")))
    return out


def check_reprint(binary: str, dump: str) -> int:
    text = open(dump, encoding="utf-8", errors="replace").read()
    r = CliRunner().invoke(main, ["symbolize", binary], input=text)
    assert r.exit_code == 0, r.stderr
    assert _NOTE.sub("", r.stdout) == text
    frames = 0
    for fp, sp, nbytes in _FP_SP.findall(r.stdout):
        assert int(fp, 16) - int(sp, 16) == int(nbytes)
        frames += 1
    return frames


@pytest.mark.parametrize("tb", need(STACKMEM, "stackmem test binaries"), ids=binary_id)
def test_stackmem_dumps_reprinted(tb):
    seen = 0
    for name in DUMPS:
        path = tb.out_dir / name
        if path.is_file():
            check_reprint(str(tb.path), str(path))
            seen += 1
    assert seen >= 3


@pytest.mark.parametrize("case", need(crash_dumps(), "crash dumps", "make realbins"),
                         ids=lambda c: c[0].split("/")[-2] if c else "none")
def test_crash_dumps_reprinted(case):
    binary, dump = case
    assert check_reprint(binary, dump) > 10  # GOTRACEBACK=system: fp= and sp= everywhere


def test_dump_of_another_build_is_flagged():
    """A dump re-printed with a binary that did not print it: the frames that
    don't match say so, and the exit status is 1."""
    cases = crash_dumps()
    other = [t for t in STACKMEM if t.goarch == "amd64"]
    if not cases or not other:
        pytest.skip("no crash dump or stackmem binary built; run `make realbins testbins`")
    _, dump = next(c for c in cases if "amd64" in c[0])
    r = CliRunner().invoke(main, ["symbolize", str(other[-1].path)],
                           input=open(dump).read())
    assert r.exit_code == 1
    assert "# differs" in r.stdout or "not found in the binary" in r.stdout


PIE_STACKMEM = [t for t in STACKMEM if t.pie and t.nm_path is not None
                and (t.out_dir / "goroutine.debug1.txt").is_file()]


def _inferred_slide(binary: str, text: str) -> int | None:
    r = CliRunner().invoke(main, ["symbolize", "--json", binary], input=text)
    m = re.search(r"slide (0x[0-9a-f]+) \(inferred", r.stderr)
    return int(m.group(1), 16) if m else None


@pytest.mark.parametrize("tb", need(PIE_STACKMEM, "PIE stackmem test binaries"), ids=binary_id)
def test_pie_slide_from_debug1(tb):
    """The slide inferred from a debug=1 profile's '#' lines is the PIE's load
    slide (the program's own main.main minus the file's), also when every
    '#' line left names an inlined function, whose +0x offset counts from the
    physical function's entry (runtime/pprof printStackRecord)."""
    import json

    from binaries import parse_nm
    info = json.loads((tb.out_dir / "info.json").read_text())
    nm = {name: (addr, size) for addr, size, typ, name in parse_nm(tb.nm_path)
          if typ in "Tt"}
    truth = info["main_main"] - nm["main.main"][0]
    assert truth % 0x1000 == 0
    text = (tb.out_dir / "goroutine.debug1.txt").read_text()
    assert _inferred_slide(str(tb.path), text) == truth
    # Keep only the '#' lines whose function+offset does not land inside that
    # function's own symbol (go tool nm): the names of inlined functions.
    inlined = []
    for line in text.splitlines():
        m = re.match(r"^#\s+0x[0-9a-f]+\s+(\S+)\+(0x[0-9a-f]+)\s", line)
        if m and (m.group(1) not in nm or int(m.group(2), 16) >= nm[m.group(1)][1]):
            inlined.append(line)
    if not inlined:
        pytest.skip("no '#' line names an inlined function in this build")
    assert _inferred_slide(str(tb.path), "\n".join(inlined) + "\n") == truth
