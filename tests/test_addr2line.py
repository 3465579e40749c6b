"""`gosym symbolize --format addr2line` against `go tool addr2line` itself, byte for byte.

The same input goes to both: exact PCs inside functions (entries, middles,
last bytes, alignment padding), PCs outside every function, and the lines
addr2line treats specially (no 0x, garbage, empty, a file:line reverse
query). Where addr2line is known to be wrong the PCs are left out: functions
without line tables (pcln offset 0: debug/gosym decodes the stream at offset
0 and invents lines) and stripped externally linked binaries (its text start
ignores the C code before runtime.text).
"""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from conftest import ALL_TESTBINS, REALBINS, binary_id, need, opened
from gosym.cli import main
from gotools import run_go_tool

TARGETS = [t for t in ALL_TESTBINS if t.variant != "extpie-stripped" and t.program == "callers"]
REAL = [r for r in REALBINS if r.gosymref_json_path is not None]


def _input(b) -> str:
    t = b.table
    ents = t.entries.tolist()
    rnd = random.Random(17)
    pcln = t.column("pcln").tolist()
    lines = ["0x1", "zz", "", "main.go:12", "0x", f"{ents[-1]:#x}", f"{ents[0] - 1:x}"]
    for i in sorted(rnd.sample(range(len(ents) - 1), min(len(ents) - 1, 600))):
        if pcln[i] == 0:
            continue
        e, z = ents[i], ents[i + 1]
        for pc in {e, e + 1, (e + z) // 2, z - 1}:
            lines.append(f"{pc:#x}" if rnd.random() < 0.7 else f"{pc:x}")
    return "\n".join(lines) + "\n"


def _compare(path: str) -> None:
    b = opened(path)
    if b.container.format == "pe" and not b.container.has_symbols:
        # cmd/internal/objfile/pe.go finds the table only through the
        # runtime.pclntab symbol, which -s removes: addr2line cannot read it.
        pytest.skip("go tool addr2line cannot read a PE file without COFF symbols")
    text = _input(b)
    go = run_go_tool("addr2line", path, input=text.encode())
    if go is None:
        pytest.skip("no Go toolchain in the cache; run `make toolchains`")
    assert go.returncode == 0, go.stderr
    r = CliRunner().invoke(main, ["symbolize", "--format", "addr2line", path], input=text)
    assert r.exit_code == 1  # the input has addresses outside every function
    assert r.stdout_bytes == go.stdout
    assert r.stdout_bytes.count(b"\n") == 2 * text.count("\n") - 1  # one reverse-query line


@pytest.mark.parametrize("tb", need(TARGETS, "test binaries"), ids=binary_id)
def test_addr2line_drop_in(tb):
    _compare(str(tb.path))


@pytest.mark.parametrize("rb", need(REAL, "real binaries", "make realbins"), ids=binary_id)
def test_addr2line_drop_in_real(rb):
    if rb.goos == "linux" and "stripped" in rb.id:
        pytest.skip("addr2line's text start is wrong on stripped external links")
    _compare(str(rb.path))
