"""ELF core files of a Go process, against what its runtime printed as it died.

testbins/crash runs with GOTRACEBACK=crash until a nil dereference kills it;
the kernel (or qemu-user, for linux/arm64) writes a core, and the runtime's
dump of every goroutine is kept beside it (testbins/cores.py, `make
realbins`). Every frame the runtime printed with pc= must come out of gosym,
reading the core as the process's memory, with the runtime's function, entry
(pc minus the +0x offset) and file:line, inlined frames included.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import gosym
from binaries import compare_with_dump, cores, parse_dump
from conftest import need
from gosym.cli import main

CORES = cores()
_ids = dict(ids=lambda c: getattr(c, "id", "none"))
NEED_EXE = [c for c in CORES if not c.holds_table]
HOLD_TABLE = [c for c in CORES if c.holds_table]


def _open(c, with_exe: bool):
    return gosym.open(str(c.path), executable=str(c.executable) if with_exe else None)


@pytest.mark.parametrize("c", need(NEED_EXE, "core files"), **_ids)
def test_core_without_its_code_asks_for_the_executable(c):
    """A default kernel core alone: every command says, in one line, to give --binary."""
    for cmd in (["info"], ["funcs"], ["frames"], ["check"], ["symbolize", "0x1000"],
                ["stack", "0x1000"]):
        r = CliRunner().invoke(main, [cmd[0], str(c.path)] + cmd[1:], catch_exceptions=False)
        assert r.exit_code == 1, (cmd, r.output)
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("gosym: error: ") and \
            "--binary" in lines[0], (cmd, r.stderr)


@pytest.mark.parametrize("c", need(CORES, "core files"), **_ids)
def test_every_dumped_frame_from_the_core_and_executable(c):
    """Core + executable: every frame of every goroutine the runtime printed."""
    dump = parse_dump(c.dump_path.read_text())
    assert dump and dump[0].groups
    with _open(c, with_exe=True) as g:
        assert g.is_core and g.executable_path == str(c.executable)
        assert (g.load_slide != 0) == c.pie
        compared, wrong = compare_with_dump(g, dump)
    assert compared >= 10
    assert wrong == []


@pytest.mark.parametrize("c", need(HOLD_TABLE, "core files holding the table"), **_ids)
def test_every_dumped_frame_from_the_core_alone(c):
    """A core that holds the table (every mapping dumped; qemu-user's) is enough alone."""
    dump = parse_dump(c.dump_path.read_text())
    with _open(c, with_exe=False) as g:
        assert g.is_core and g.executable_path is None
        assert g.moduledata is not None
        compared, wrong = compare_with_dump(g, dump)
    assert compared >= 10
    assert wrong == []


@pytest.mark.parametrize("c", need(CORES, "core files"), **_ids)
def test_funcs_of_core_are_the_executables_moved_by_the_slide(c):
    with _open(c, with_exe=True) as g, gosym.open(str(c.executable)) as exe:
        slide = g.load_slide
        assert [n for n in g.table.names()] == [n for n in exe.table.names()]
        assert (g.table.entries - exe.table.entries == slide).all()
    r = CliRunner().invoke(main, ["info", "--json", "--binary", str(c.executable), str(c.path)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["core"] == {"executable": str(c.executable), "load_slide": slide}
    assert d["go_version"] == "go" + c.go_version


@pytest.mark.parametrize("c", need(CORES, "core files"), **_ids)
def test_symbolize_cli_on_core(c):
    """`gosym symbolize --binary EXE CORE PCs` names the dump's physical functions."""
    dump = parse_dump(c.dump_path.read_text())
    group = dump[0].groups[-1]  # runtime.goexit of the crashing goroutine: a return address
    phys = group[-1]
    r = CliRunner().invoke(main, ["symbolize", "--json", "--binary", str(c.executable),
                                  str(c.path), hex(phys.pc)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    frames = json.loads(r.stdout)[0]["frames"]
    assert (frames[-1]["function"], frames[-1]["line"]) == (phys.function, phys.line)


@pytest.mark.parametrize("c", need(CORES, "core files"), **_ids)
def test_stack_and_frames_on_core(c):
    """`stack` over the crashing goroutine's PCs and `frames --pc` work on a core too:
    the physical functions are the dump's, in order."""
    dump = parse_dump(c.dump_path.read_text())
    groups = dump[0].groups
    start = next(k for k, grp in enumerate(groups) if grp[-1].function == "runtime.sigpanic") + 1
    pcs = [hex(grp[-1].pc) for grp in groups[start + 1:]]  # return addresses after the fault
    exe = ["--binary", str(c.executable)]
    r = CliRunner().invoke(main, ["stack", "--json", *exe, str(c.path), *pcs],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    physical = [f["function"] for f in doc["frames"] if not f.get("inlined")]
    assert physical == [grp[-1].function for grp in groups[start + 1:]]
    r = CliRunner().invoke(main, ["frames", *exe, "--pc", pcs[0], str(c.path)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert groups[start + 1][-1].function in r.stdout


def test_core_refuses_another_executable():
    pie = next((c for c in NEED_EXE if c.pie), None)
    exe = next((c for c in NEED_EXE if not c.pie), None)
    if pie is None or exe is None:
        pytest.skip("no PIE and non-PIE core files made; run `make realbins`")
    for core, other in ((pie, exe), (exe, pie)):
        r = CliRunner().invoke(main, ["info", "--binary", str(other.executable), str(core.path)],
                               catch_exceptions=False)
        assert r.exit_code == 1
        assert r.stderr.startswith(f"gosym: error: {core.path}: the core is not of ")
        assert len(r.stderr.splitlines()) == 1


def test_binary_option_needs_a_core():
    c = next(iter(CORES), None)
    if c is None:
        pytest.skip("no core files made; run `make realbins`")
    r = CliRunner().invoke(main, ["info", "--binary", str(c.executable), str(c.executable)],
                           catch_exceptions=False)
    assert r.exit_code == 2
    assert "only with a core file" in r.stderr and len(r.stderr.splitlines()) == 1
