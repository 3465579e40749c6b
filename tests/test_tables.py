"""The function table against Go's own tools: go tool nm, stripped twins, Mach-O vs ELF."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from binaries import parse_nm
from conftest import ALL_TESTBINS, CALLERS, need, opened
from gosym.cli import main
from gosym.pclntab import func_name_for_print

WITH_NM = [b for b in ALL_TESTBINS if b.nm_path is not None]
STRIPPED = [b for b in ALL_TESTBINS if b.stripped]


def _twin(b):
    """The unstripped build of the same program, Go version, platform and link mode."""
    variant = b.variant.removesuffix("-stripped").removesuffix("stripped") or "default"
    for other in ALL_TESTBINS:
        if (other.program, other.go_version, other.goos, other.goarch, other.variant) == \
                (b.program, b.go_version, b.goos, b.goarch, variant):
            return other
    return None


def _functions(b) -> list[tuple]:
    g = opened(str(b.path))
    t = g.table
    return list(zip([n.decode() for n in t.names()], t.entries[:-1].tolist(),
                    t.entries[1:].tolist(), t.column("args").tolist(),
                    t.column("func_id").tolist(), t.column("flag").tolist(),
                    t.column("pcsp").tolist()))


@pytest.mark.parametrize("b", need(WITH_NM, "test binaries with nm output"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_functions_match_go_tool_nm(b):
    """Every pclntab function is a text symbol of go tool nm with the same name and address."""
    nm = parse_nm(b.nm_path)
    text = {}
    for addr, _size, typ, name in nm:
        if typ in "Tt":
            # The symbol table names assembly (ABI0) functions with a ".abi0" suffix;
            # the function table (and the runtime) names them without it.
            # Go 1.18-1.19 linkers store names with the outermost [...] elided
            # (cmd/link/internal/ld/pcln.go generateFuncnametab); 1.21+ store them whole.
            text.setdefault(_table_name(b, name.removesuffix(".abi0")), set()).add(addr)
    funcs = _functions(b)
    assert len(funcs) > 1000
    # The linker writes the middle dot of names like "untracedG·4" as "." in the
    # symbol table (but not in the function table).
    missing = [(name, hex(entry)) for name, entry, *_ in funcs
               if entry not in text.get(name, ()) and
               entry not in text.get(name.replace("\u00b7", "."), ())]
    assert missing == []
    # And nm has no Go text symbol that the table lacks, inside the table's range.
    g = opened(str(b.path))
    lo, hi = int(g.table.entries[0]), int(g.table.entries[-1])
    ours = {(name.replace("\u00b7", "."), entry) for name, entry, *_ in funcs}
    extra = [(n, hex(a)) for n, addrs in text.items() for a in addrs
             if lo <= a < hi and (n.replace("\u00b7", "."), a) not in ours and _is_go_function_symbol(n)]
    assert extra == []


def _table_name(b, nm_name: str) -> str:
    if b.goos == "darwin" and nm_name.startswith("_") and "." not in nm_name:
        # Mach-O C-level names carry a leading underscore (cmd/link/internal/ld/macho.go).
        nm_name = nm_name[1:]
    return func_name_for_print(nm_name) if (1, 18) <= b.version_tuple < (1, 21) else nm_name


def _is_go_function_symbol(name: str) -> bool:
    # Linker-made markers and C (cgo) symbols are text symbols without a _func record.
    return not (name in ("runtime.text", "runtime.etext") or name.startswith("go:") or
                name.startswith("go.") and ".text" in name or name.startswith("_") or
                "." not in name)


@pytest.mark.parametrize("b", need(STRIPPED, "stripped test binaries"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_stripped_equals_unstripped_twin(b):
    twin = _twin(b)
    if twin is None:
        pytest.skip("no unstripped twin built")
    assert _functions(b) == _functions(twin)
    assert opened(str(b.path)).text_start == opened(str(twin.path)).text_start


def _macho_elf_pairs():
    pairs = []
    for b in CALLERS:
        if b.goos == "darwin" and b.variant == "default":
            for other in CALLERS:
                if (other.goos, other.variant, other.go_version, other.goarch) == \
                        ("linux", "default", b.go_version, b.goarch):
                    pairs.append((b, other))
    return pairs


@pytest.mark.parametrize("pair", need(_macho_elf_pairs(), "darwin+linux builds"),
                         ids=lambda p: p[0].id if p else "none")
def test_macho_and_elf_agree_on_package_main(pair):
    macho, elf = pair

    def main_funcs(b):
        # Code size may differ: main reads runtime.GOOS, which the compiler folds.
        return {(name, args, fid, flag)
                for name, entry, end, args, fid, flag, _ in _functions(b)
                if name.startswith("main.")}

    m, e = main_funcs(macho), main_funcs(elf)
    assert len(e) > 20
    assert m == e


def _first(pred):
    for b in CALLERS:
        if pred(b):
            return b
    return None


@pytest.mark.parametrize("b", need(CALLERS, "callers test binaries"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_info_json_contract(b):
    r = CliRunner().invoke(main, ["info", "--json", str(b.path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["format"] == {"darwin": "macho", "windows": "pe"}.get(b.goos, "elf")
    assert d["arch"] == b.goarch
    assert d["go_version"] == "go" + b.go_version
    p = d["pclntab"]
    expected_magic = "0xfffffff0" if b.version_tuple < (1, 20) else "0xfffffff1"
    assert p["magic"] == expected_magic
    assert isinstance(p["address"], int) and isinstance(p["size"], int) and p["size"] > 0
    assert isinstance(p["version"], str) and p["source"]
    g = opened(str(b.path))
    assert d["functions"] == len(g) and d["files"] > 50
    # Go's own build info: the main package path the test program declares.
    assert d["build"]["path"] == "example.com/callers"


def test_funcs_json_contract_against_nm():
    b = _first(lambda b: b.nm_path is not None and b.goos == "linux" and b.goarch == "amd64")
    if b is None:
        pytest.skip("no linux/amd64 build")
    r = CliRunner().invoke(main, ["funcs", "--json", "--match", r"^main\.", str(b.path)],
                           catch_exceptions=False)
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    nm: dict[str, dict[int, int]] = {}
    for addr, size, typ, name in parse_nm(b.nm_path):
        if typ in "Tt":
            nm.setdefault(_table_name(b, name), {})[addr] = size
    assert rows and all(row["name"].startswith("main.") for row in rows)
    for row in rows:
        assert isinstance(row["entry"], int) and isinstance(row["end"], int)
        assert isinstance(row["func_id"], int) and isinstance(row["args"], int)
        assert isinstance(row["flags"], list)
        # Several instantiations may share one elided name (Go < 1.21): key by entry.
        assert row["entry"] in nm[row["name"]]
        size = nm[row["name"]][row["entry"]]
        # The table's end is the next function's entry: nm's symbol size plus the
        # alignment padding (at most 32 bytes on amd64).
        assert 0 <= row["end"] - row["entry"] - size < 32
    assert [r["entry"] for r in rows] == sorted(r["entry"] for r in rows)


def test_funcs_csv_and_text_have_every_function():
    b = _first(lambda b: b.goos == "linux" and b.variant == "default")
    if b is None:
        pytest.skip("no linux build")
    g = opened(str(b.path))
    runner = CliRunner()
    text = runner.invoke(main, ["funcs", str(b.path)], catch_exceptions=False)
    csv_out = runner.invoke(main, ["funcs", "--csv", str(b.path)], catch_exceptions=False)
    assert text.exit_code == csv_out.exit_code == 0
    assert len(text.stdout.splitlines()) == len(g) + 1
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert len(rows) == len(g)
    assert [r["name"] for r in rows] == [n.decode() for n in g.table.names()]


def test_flags_and_func_ids_match_the_runtime_functions():
    """TOPFRAME on goexit/mstart (Go 1.17+) and funcIDs named from the runtime's own functions."""
    b = _first(lambda b: b.goos == "linux" and b.variant == "default" and b.goarch == "amd64")
    if b is None:
        pytest.skip("no linux build")
    g = opened(str(b.path))
    by_name = {f.name: f for f in g}
    assert "TOPFRAME" in by_name["runtime.goexit"].flags
    assert "ASM" in by_name["runtime.goexit"].flags
    assert g.func_id_names[by_name["runtime.goexit"].func_id] == "goexit"
    assert g.func_id_names[by_name["runtime.sigpanic"].func_id] == "sigpanic"
    assert "SPWRITE" in by_name["runtime.gogo"].flags or "SPWRITE" in by_name["runtime.mcall"].flags


def test_library_lookup_by_pc():
    b = _first(lambda b: b.nm_path is not None)
    if b is None:
        pytest.skip("no build with nm output")
    g = opened(str(b.path))
    nm = [(a, s, n) for a, s, t, n in parse_nm(b.nm_path)
          if t in "Tt" and s > 0 and n.startswith(("main.", "runtime.", "fmt.", "sync."))
          and n not in ("runtime.text", "runtime.etext")]
    hits = 0
    for addr, size, name in nm[::10]:
        f = g.func_for_pc(addr + size // 2)
        if f is not None and f.entry == addr:
            assert f.name.replace("\u00b7", ".") == _table_name(b, name.removesuffix(".abi0"))
            hits += 1
    assert hits > 50
    assert g.func_for_pc(0) is None
    assert g.func_for_pc(int(g.table.entries[-1])) is None
