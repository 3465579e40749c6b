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
import re
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

import gosym
from binaries import cores
from conftest import need
from gosym.cli import main

CORES = cores()
_ids = dict(ids=lambda c: getattr(c, "id", "none"))
# Cores the kernel wrote with its default filter hold no code and no table.
NEED_EXE = [c for c in CORES if c.written_by == "kernel" and c.coredump_filter == "0x33"]
HOLD_TABLE = [c for c in CORES if c not in NEED_EXE]


@dataclass
class DumpFrame:
    function: str  # as printed, e.g. main.descend, panic
    file: str
    line: int
    pc: int | None  # None for inlined frames (printed without pc=)
    offset: int  # the +0x offset (0 when not printed)


@dataclass
class Goroutine:
    header: str
    groups: list[list[DumpFrame]]  # per physical frame: inlined frames first, physical last


_FUNC = re.compile(r"^(\S.*)\([^()]*\)$")  # the arguments are the last (...)
_LOC = re.compile(r"^\t(.+):(\d+)(?: \+0x([0-9a-f]+))?(?: fp=\S+ sp=\S+ pc=0x([0-9a-f]+))?$")


def parse_dump(text: str) -> list[Goroutine]:
    """The goroutines of a GOTRACEBACK=crash dump (runtime/traceback.go's format)."""
    out: list[Goroutine] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("goroutine ") and ln.endswith(":"):
            out.append(Goroutine(ln, []))
            pending: list[DumpFrame] = []
            i += 1
            while i + 1 < len(lines) and lines[i] and not lines[i].startswith("created by "):
                fm, lm = _FUNC.match(lines[i]), _LOC.match(lines[i + 1])
                if not fm or not lm:
                    break
                pc = int(lm.group(4), 16) if lm.group(4) else None
                pending.append(DumpFrame(fm.group(1), lm.group(1), int(lm.group(2)), pc,
                                         int(lm.group(3) or "0", 16)))
                if pc is not None:
                    out[-1].groups.append(pending)
                    pending = []
                i += 2
            continue
        i += 1
    return [g for g in out if g.groups]


def _open(c, with_exe: bool):
    return gosym.open(str(c.path), executable=str(c.executable) if with_exe else None)


def _compare_with_dump(g, dump: list[Goroutine]) -> tuple[int, list]:
    """(physical frames compared, differences) between the dump and gosym's frames."""
    compared, wrong = 0, []
    for gr in dump:
        after_sigpanic = False
        for k, group in enumerate(gr.groups):
            phys = group[-1]
            f = g.func_for_pc(phys.pc)
            # The runtime looks a frame up at pc-1 (a return address) except where the
            # PC is the faulting instruction: after sigpanic, and, for a goroutine
            # stopped by a signal, its innermost frame (runtime/traceback.go, symPC).
            exact_ok = after_sigpanic or k == 0 or phys.offset == 0
            tries = [phys.pc] if after_sigpanic or phys.offset == 0 else \
                ([phys.pc - 1, phys.pc] if exact_ok else [phys.pc - 1])
            want = [(d.function, d.file, d.line) for d in group]
            got = None
            for pc in tries:
                frames = [fr for fr in g.find_frames(pc)]
                names = [("panic" if fr.function == "runtime.gopanic" else fr.function,
                          fr.file, fr.line) for fr in frames]
                if names == want:
                    got = names
                    break
            if f is None or f.entry != phys.pc - phys.offset or got is None:
                wrong.append((gr.header, want, phys.pc,
                              None if f is None else (f.name, hex(f.entry)),
                              [(fr.function, fr.file, fr.line) for fr in g.find_frames(tries[0])]))
            compared += 1
            after_sigpanic = phys.function == "runtime.sigpanic"
    return compared, wrong


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
        compared, wrong = _compare_with_dump(g, dump)
    assert compared >= 10
    assert wrong == []


@pytest.mark.parametrize("c", need(HOLD_TABLE, "core files holding the table"), **_ids)
def test_every_dumped_frame_from_the_core_alone(c):
    """A core that holds the table (every mapping dumped; qemu-user's) is enough alone."""
    dump = parse_dump(c.dump_path.read_text())
    with _open(c, with_exe=False) as g:
        assert g.is_core and g.executable_path is None
        assert g.moduledata is not None
        compared, wrong = _compare_with_dump(g, dump)
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
