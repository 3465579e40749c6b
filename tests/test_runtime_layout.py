"""Runtime layouts: the generated table against the DWARF of every test binary
that has some, the minimal DWARF reader against pyelftools, and the strings
found in stripped binaries against the table."""

from __future__ import annotations

import pytest
from elftools.elf.elffile import ELFFile

from conftest import ALL_TESTBINS, REALBINS, need, opened
from gosym.errors import UnsupportedError
from gosym.runtime_layout import (STRUCT_FIELDS, VARIABLE_FIELDS, _attr, _byte_size, _resolve,
                                  _type_of, layout_from_dwarf, layout_from_table,
                                  runtime_layout, table_versions)
from gosym.runtime_state import runtime_strings

LINUX = [b for b in ALL_TESTBINS if b.goos == "linux" and b.goarch in ("amd64", "arm64")
         and b.program in ("callers", "goroutines")]
WITH_DWARF = [b for b in LINUX if b.variant in ("default", "pie")]
STRIPPED = [b for b in LINUX if b.variant in ("stripped", "pie-stripped")]


def _ids(t):
    return t.id if t else "none"


def _minor(tb) -> tuple[int, int]:
    return tb.version_tuple[:2]


@pytest.mark.parametrize("tb", need(WITH_DWARF, "linux test binaries (make testbins)"), ids=_ids)
def test_table_is_the_dwarf_of_each_binary(tb):
    """The table was generated from another program built by the same
    toolchain: the runtime's layout must be the same in every program."""
    with open(tb.path, "rb") as f:
        dwarf = layout_from_dwarf(ELFFile(f), "go" + tb.go_version, tb.goarch)
    table = layout_from_table(_minor(tb), tb.goarch)
    assert dwarf is not None and table is not None
    assert dwarf.structs == table.structs
    assert dwarf.variables == table.variables
    assert dwarf.constants == table.constants
    # Fields the goroutine reader can't do without, on every release.
    for path in ("stack.lo", "stack.hi", "sched.sp", "sched.pc", "goid", "atomicstatus",
                 "gopc", "startpc", "waitreason"):
        assert table.field("runtime.g", path) is not None, path


def _pyelftools_layout(path: str) -> dict:
    """What layout_from_dwarf computes, with pyelftools' own DIE parser."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        dwarf = elf.get_dwarf_info()
        structs, variables = {}, {}
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            if _attr(top, "DW_AT_name") != b"runtime":
                continue
            for die in top.iter_children():
                name = _attr(die, "DW_AT_name")
                if not isinstance(name, bytes):
                    continue
                name = name.decode()
                if die.tag == "DW_TAG_structure_type" and name in STRUCT_FIELDS:
                    structs.setdefault(name, {
                        "size": _byte_size(die),
                        "fields": {p: r for p in STRUCT_FIELDS[name]
                                   if (r := _resolve(die, p)) is not None}})
                elif die.tag == "DW_TAG_variable" and name in VARIABLE_FIELDS:
                    t = _type_of(die)
                    variables.setdefault(name, {
                        "size": _byte_size(t),
                        "fields": {p: r for p in VARIABLE_FIELDS[name]
                                   if (r := _resolve(t, p)) is not None}})
        return {"structs": structs, "variables": variables}


@pytest.mark.parametrize("tb", need([b for b in WITH_DWARF if b.variant == "default" and
                                     b.program == "goroutines"],
                                    "goroutines test binaries (make testbins)"), ids=_ids)
def test_minimal_dwarf_reader_agrees_with_pyelftools(tb):
    with open(tb.path, "rb") as f:
        ours = layout_from_dwarf(ELFFile(f), "go" + tb.go_version, tb.goarch)
    theirs = _pyelftools_layout(str(tb.path))
    assert ours.structs == theirs["structs"]
    assert ours.variables == theirs["variables"]


@pytest.mark.parametrize("tb", need(STRIPPED, "stripped linux test binaries (make testbins)"),
                         ids=_ids)
def test_stripped_binaries_strings_from_their_own_code(tb):
    """runtime.gStatusStrings and runtime.waitReasonStrings of a stripped
    binary, found through runtime.goroutineheader's machine code, are the
    strings its toolchain's table recorded."""
    b = opened(str(tb.path))
    layout = runtime_layout(b)
    assert layout.source == "table"
    want_status, want_reasons = list(layout.status_strings), list(layout.wait_reasons)
    layout.status_strings, layout.wait_reasons = [], []
    found = runtime_strings(b, layout)
    assert found == {"runtime.gStatusStrings": "machine code of runtime.goroutineheader",
                     "runtime.waitReasonStrings": "machine code of runtime.goroutineheader"}
    assert layout.status_strings == want_status
    assert layout.wait_reasons == want_reasons


def test_table_covers_every_toolchain():
    assert table_versions() == ["1.19", "1.21", "1.22", "1.23", "1.24", "1.25", "1.26", "1.27"]
    for v in table_versions():
        for arch in ("amd64", "arm64"):
            t = layout_from_table(tuple(int(x) for x in v.split(".")), arch)
            assert t.status_strings[:3] == ["idle", "runnable", "running"]
            assert t.wait_reasons[:2] == ["", "GC assist marking"]


OLD = [r for r in REALBINS if r.goos == "linux" and r.goarch in ("amd64", "arm64") and
       r.go_version and r.go_version.startswith(("go1.15", "go1.16", "go1.17"))]


@pytest.mark.parametrize("rb", need(OLD, "linux real binaries of Go <= 1.17 (make realbins)"),
                         ids=lambda r: r.id if r else "none")
def test_versions_outside_the_table_are_refused(rb):
    b = opened(str(rb.path))
    with pytest.raises(UnsupportedError) as e:
        runtime_layout(b)
    assert "covers Go 1.19, 1.21" in str(e.value)
