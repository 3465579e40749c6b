"""Files that are not Go binaries, architectures gosym does not decode, fat Mach-O
files, and test binaries damaged in targeted ways (hostile counts and offsets).

The contract for every command: a correct answer, or exactly one
``gosym: error: ...`` line on stderr with exit status 2 (usage, file access) or
1 (format); never a traceback, never a hang.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gosym
from binaries import parse_nm
from conftest import ALL_TESTBINS, need
from gosym.cli import main
from gosym.pclntab import GO12, Table

sys.path.insert(0, str(Path(__file__).parent / "regressions"))
import mutations  # noqa: E402

COMMANDS = ["info", "funcs", "frames"] + [c for c in ("check", "symbolize", "stack")
                                          if c in mutations.cli_commands()]


def _invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False, env={"GOSYM_DEBUG": "1"})


def _one_error_line(r) -> str:
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("gosym: error: "), lines[0]
    return lines[0]


def _command_args(cmd: str, path: str) -> list[str]:
    if cmd == "symbolize":
        return [cmd, path, "0x401000"]
    return [cmd, path]


# --- not a Go binary ----------------------------------------------------------------

def _c_program(tmp_path: Path) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "prog.c"
    src.write_text("int main(void) { return 0; }\n")
    out = tmp_path / "prog"
    subprocess.run([cc, "-o", str(out), str(src)], check=True)
    return out


NOT_GO = {
    # name: (file contents or a builder, exit status, words the message must contain)
    "c-program": (_c_program, 1, "not a Go binary"),
    "script": (b"#!/bin/sh\necho hello\n", 1, "script"),
    "empty": (b"", 1, "empty file"),
    "random": (bytes((i * 7919 + 13) % 251 for i in range(8192)), 1, "not an ELF, Mach-O or PE"),
    "java-class": (b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + bytes(64), 1, "Java class"),
    "pe-stub": (b"MZ\x90\x00" + bytes(60) + b"PE\0\0" + bytes(64), 1, "PE"),
    "text": (b"hello, world\n" * 20, 1, "not an ELF, Mach-O or PE"),
    "xcoff": (b"\x01\xf7" + bytes(200), 1, "XCOFF"),
    "plan9-a.out": (b"\x00\x00\x8a\x97" + bytes(200), 1, "Plan 9"),
    "tiny-elf": (b"\x7fELF\x02\x01\x01", 1, "ELF"),
}


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("kind", sorted(NOT_GO))
def test_not_a_go_binary(tmp_path, kind, cmd):
    content, status, words = NOT_GO[kind]
    if callable(content):
        path = content(tmp_path)
    else:
        path = tmp_path / kind
        path.write_bytes(content)
    r = _invoke(_command_args(cmd, str(path)))
    assert r.exit_code == status, r.stderr
    line = _one_error_line(r)
    assert words in line
    assert str(path) in line


@pytest.mark.parametrize("cmd", COMMANDS)
def test_directory_and_missing_file(tmp_path, cmd):
    r = _invoke(_command_args(cmd, str(tmp_path)))
    assert r.exit_code == 2
    assert "is a directory" in _one_error_line(r)
    r = _invoke(_command_args(cmd, str(tmp_path / "missing")))
    assert r.exit_code == 2
    assert "no such file" in _one_error_line(r)


def test_no_read_permission(tmp_path, monkeypatch):
    path = tmp_path / "secret"
    path.write_bytes(b"\x7fELF" + bytes(60))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: make open() fail the way it would for a user
        import gosym.container as container_mod

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(container_mod, "open", denied, raising=False)
    for cmd in COMMANDS:
        r = _invoke(_command_args(cmd, str(path)))
        assert r.exit_code == 2
        assert "permission denied" in _one_error_line(r)


def test_usage_errors_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["info"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["info", "--arch", "mips", str(tmp_path)])
    assert r.exit_code == 2


def test_not_go_real_subprocess(tmp_path):
    """Through a real process: one line on stderr, nothing on stdout, status 1."""
    path = _c_program(tmp_path)
    p = subprocess.run([sys.executable, "-m", "gosym.cli", "info", str(path)]
                       if _has_main_module() else ["gosym", "info", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("gosym: error: ")


def _has_main_module() -> bool:
    import importlib.util

    return importlib.util.find_spec("gosym.cli.__main__") is not None


# --- architectures gosym does not decode -------------------------------------------------

def _elf_header(bits: int, big: bool, machine: int) -> bytes:
    """A minimal ELF executable header with no sections."""
    e = ">" if big else "<"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big else 1, 1]) + bytes(9)
    if bits == 64:
        rest = struct.pack(e + "HHIQQQIHHHHHH", 2, machine, 1, 0x401000, 0, 0, 0, 64, 56, 0,
                           64, 0, 0)
    else:
        rest = struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, 0x401000, 0, 0, 0, 52, 32, 0,
                           40, 0, 0)
    return ident + rest + bytes(256)


ELF_ARCHES = {
    # Go's GOARCH name: (bits, big-endian, e_machine) (debug/elf, cmd/link/internal/ld/elf.go)
    "386": (32, False, 3),
    "arm": (32, False, 40),
    "ppc64": (64, True, 21),
    "ppc64le": (64, False, 21),
    "riscv64": (64, False, 243),
    "s390x": (64, True, 22),
    "loong64": (64, False, 258),
    "mips": (32, True, 8),
    "mipsle": (32, False, 8),
    "mips64": (64, True, 8),
    "mips64le": (64, False, 8),
}


@pytest.mark.parametrize("arch", sorted(ELF_ARCHES))
def test_elf_architectures_named(tmp_path, arch):
    """The header alone gives Go's architecture name, word size and byte order;
    without a table the file is not a Go binary (not an unsupported one)."""
    from gosym.container import open_container

    bits, big, machine = ELF_ARCHES[arch]
    path = tmp_path / f"prog-{arch}"
    path.write_bytes(_elf_header(bits, big, machine))
    c = open_container(str(path))
    try:
        assert (c.arch, c.ptr_size, c.byte_order) == (arch, bits // 8, ">" if big else "<")
    finally:
        c.close()
    r = _invoke(["info", str(path)])
    assert r.exit_code == 1
    assert "not a Go binary" in _one_error_line(r)


@pytest.mark.parametrize("machine,name", [(20, "ppc"), (43, "sparcv9")])
def test_elf_architectures_go_does_not_build_for(tmp_path, machine, name):
    path = tmp_path / f"prog-{name}"
    path.write_bytes(_elf_header(32 if machine == 20 else 64, True, machine))
    r = _invoke(["info", str(path)])
    assert r.exit_code == 1
    line = _one_error_line(r)
    assert name in line and "not one Go builds for" in line
    with pytest.raises(gosym.errors.UnsupportedError):
        gosym.open(str(path))


def _macho_header(cputype: int, magic: bytes, big: bool) -> bytes:
    e = ">" if big else "<"
    is64 = magic in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf")
    head = magic + struct.pack(e + "iiIIII", cputype, 3, 2, 0, 0, 0)
    return head + (bytes(4) if is64 else b"") + bytes(256)


OTHER_MACHO = {
    "386": (7, b"\xce\xfa\xed\xfe", False),
    "ppc": (18, b"\xfe\xed\xfa\xce", True),
    "ppc64": (0x01000012, b"\xfe\xed\xfa\xcf", True),
    "arm": (12, b"\xce\xfa\xed\xfe", False),
}


@pytest.mark.parametrize("arch", sorted(OTHER_MACHO))
def test_other_macho_architectures_named(tmp_path, arch):
    cputype, magic, big = OTHER_MACHO[arch]
    path = tmp_path / f"prog-{arch}"
    path.write_bytes(_macho_header(cputype, magic, big))
    r = _invoke(["info", str(path)])
    assert r.exit_code == 1
    line = _one_error_line(r)
    assert arch in line and "not supported" in line


def test_table_word_size_and_byte_order_from_its_header():
    """The magic's byte order is the table's; byte 7 its word size. Here nfunc is 0:
    a clear error, read in the right byte order."""
    from gosym.pclntab import parse_header, probe_table

    le = b"\xf1\xff\xff\xff\x00\x00\x01\x04" + bytes(256)
    be = b"\xff\xff\xff\xf1\x00\x00\x04\x08" + bytes(256)
    assert probe_table(le) == (0xFFFFFFF1, "<")
    assert probe_table(be) == (0xFFFFFFF1, ">")
    for data in (le, be):
        with pytest.raises(gosym.errors.FormatError, match="outside the table|no functions"):
            parse_header(data)


# --- fat Mach-O ---------------------------------------------------------------------------

CPU = {"amd64": (0x01000007, 3), "arm64": (0x0100000C, 0)}


def write_fat(path: Path, slices: list[tuple[str, bytes]], align: int = 14) -> None:
    """FAT_MAGIC header (big-endian), fat_arch entries, slices aligned to 2**align."""
    header = struct.pack(">II", 0xCAFEBABE, len(slices))
    offset = 1 << align
    entries, body = b"", b""
    layout = []
    for arch, data in slices:
        cputype, subtype = CPU[arch]
        entries += struct.pack(">iiIII", cputype, subtype, offset, len(data), align)
        layout.append((offset, data))
        offset = (offset + len(data) + (1 << align) - 1) & ~((1 << align) - 1)
    out = bytearray(header + entries)
    for off, data in layout:
        out += bytes(off - len(out))
        out += data
    path.write_bytes(bytes(out))


def _darwin_pairs():
    by_key = {}
    for b in ALL_TESTBINS:
        if b.goos == "darwin" and b.variant == "default" and b.program == "hello" and b.nm_path:
            by_key.setdefault(b.go_version, {})[b.goarch] = b
    return [v for _, v in sorted(by_key.items()) if len(v) == 2]


def _assert_functions_match_nm(g, thin) -> None:
    """Every function entry of the slice is a text symbol address in go tool nm of the
    thin file, and every main.* symbol of nm is a function of the slice."""
    nm = [(addr, name) for addr, _size, typ, name in parse_nm(thin.nm_path) if typ in "Tt"]
    addrs = {addr for addr, _ in nm}
    names = [n.decode() for n in g.table.names()]
    entries = g.table.entries[:-1].tolist()
    missing = [(n, hex(e)) for n, e in zip(names, entries)
               if e not in addrs and not n.startswith("go:")]
    assert missing == []
    ours = set(zip(names, entries))
    mains = [(n, a) for a, n in nm if n.startswith("main.")]
    assert mains and all(m in ours for m in mains)


@pytest.mark.parametrize("pair", need(_darwin_pairs()[-2:], "darwin amd64+arm64 test binaries"),
                         ids=lambda p: f"go{p['amd64'].go_version}" if p else "none")
def test_fat_macho(tmp_path, pair):
    fat = tmp_path / "hello-universal"
    write_fat(fat, [("amd64", pair["amd64"].path.read_bytes()),
                    ("arm64", pair["arm64"].path.read_bytes())])
    import json

    r = _invoke(["info", "--json", str(fat)])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["arch"] == "amd64" and d["fat_slices"] == ["amd64", "arm64"]
    r = _invoke(["info", "--json", "--arch", "arm64", str(fat)])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["arch"] == "arm64"
    for arch in ("amd64", "arm64"):
        with gosym.open(str(fat), None if arch == "amd64" else arch) as g:
            assert g.arch == arch
            _assert_functions_match_nm(g, pair[arch])
    # Every command takes --arch; symbolize finds main.main where go tool nm has it.
    mains = {a: next(addr for addr, _s, _t, n in parse_nm(pair[a].nm_path) if n == "main.main")
             for a in ("amd64", "arm64")}
    for arch in ("amd64", "arm64"):
        for args in (["funcs", "--json"], ["frames", "--top", "5"],
                     ["check", "--match", "^main\\."], ["stack"]):
            if args[0] not in mutations.cli_commands():
                continue
            extra = [hex(mains[arch] + 1)] if args[0] == "stack" else []
            r = _invoke(args + ["--arch", arch, str(fat)] + extra)
            assert r.exit_code == 0, (args, r.stderr)
        if "symbolize" in mutations.cli_commands():
            r = _invoke(["symbolize", "--json", "--pc-is-exact", "--arch", arch, str(fat),
                         hex(mains[arch] + 1)])
            assert r.exit_code == 0, r.stderr
            assert json.loads(r.stdout)[0]["frames"][-1]["function"] == "main.main"
    # A slice that is not there: the message lists what is.
    write_fat(fat, [("arm64", pair["arm64"].path.read_bytes())])
    r = _invoke(["funcs", "--arch", "amd64", str(fat)])
    assert r.exit_code == 1
    line = _one_error_line(r)
    assert "amd64" in line and "arm64" in line
    with gosym.open(str(fat)) as g:
        assert g.arch == "arm64"


def test_fat_macho_damaged(tmp_path):
    """A fat header pointing past the end of the file: one error line."""
    path = tmp_path / "fat"
    path.write_bytes(struct.pack(">II", 0xCAFEBABE, 2) +
                     struct.pack(">iiIII", 0x01000007, 3, 1 << 14, 1 << 30, 14) +
                     struct.pack(">iiIII", 0x0100000C, 0, 1 << 31, 1 << 20, 14) + bytes(64))
    for cmd in COMMANDS:
        r = _invoke(_command_args(cmd, str(path)))
        assert r.exit_code == 1
        _one_error_line(r)


# --- targeted damage: hostile counts and offsets -------------------------------------

def _pick_testbins():
    """One small binary per table layout and container, stripped where possible."""
    want = {}
    for b in ALL_TESTBINS:
        if b.program != "hello":
            continue
        key = (b.version_tuple[:2], b.goos)
        score = (b.stripped, "pie" in b.variant)
        if key not in want or score > want[key][0]:
            want[key] = (score, b)
    chosen = [b for _, b in want.values()]
    # Keep the matrix small: oldest, a middle one and the newest Go per OS.
    out = []
    for goos in ("linux", "darwin"):
        bins = sorted((b for b in chosen if b.goos == goos), key=lambda b: b.version_tuple)
        if bins:
            out += {id(b): b for b in (bins[0], bins[len(bins) // 2], bins[-1])}.values()
    return out


TARGETS = _pick_testbins()


def _layout_targets(path: str) -> dict[str, dict]:
    """Mutations aimed at one field each (positions from the pristine file's layout)."""
    g = gosym.open(path)
    t, h, L = g.table, g.table.header, g.table.layout
    base = g.location.offset
    n = h.nfunc
    k = n // 2
    rec = int(t.record_offsets[k])
    ent = 8 if L.entry_is_offset else 16
    half = ent // 2
    fo = h.functab_offset
    out = {
        "nfunc-huge": ("pcheader", 8, 8, 1 << 40),
        "nfunc-plus-one": ("pcheader", 8, 8, n + 1),
        "funcoff-out-of-range": ("functab", k * ent + half, half, 0xFFFFFFF0),
        "funcoff-negative": ("functab", k * ent + half, half, (1 << (8 * half)) - 8),
        "entry-unsorted": ("functab", k * ent, half, 0),
        "last-entry-zero": ("functab", n * ent, half, 0),
        "nameoff-out-of-range": ("file", base + rec + L.fields["nameoff"].at, 4, 0x7FFFFFF0),
        "pcsp-beyond-pctab": ("file", base + rec + L.fields["pcsp"].at, 4, 0xFFFFFFF0),
        "pcfile-beyond-pctab": ("file", base + rec + L.fields["pcfile"].at, 4, 0x7FFFFFFF),
        "pcln-beyond-pctab": ("file", base + rec + L.fields["pcln"].at, 4, 0xFFFFFFFF),
        "npcdata-huge": ("file", base + rec + L.fields["npcdata"].at, 4, 0xFFFFFFFF),
        "nfuncdata-max": ("file", base + rec + L.fields["nfuncdata"].at, 1, 0xFF),
    }
    if "cu_offset" in L.fields:
        out["cutab-index-out-of-range"] = ("file", base + rec + L.fields["cu_offset"].at, 4, 0x7FFFFFF0)
    if h.version != GO12:
        for i, name in enumerate(("nfiles", "textstart", "funcnametab", "cutab", "filetab",
                                  "pctab", "pcln")):
            out[f"header-{name}-huge"] = ("pcheader", 16 + 8 * i, 8, 1 << 62)
            out[f"header-{name}-end"] = ("pcheader", 16 + 8 * i, 8, g.location.size - 1)
    # pcdata/funcdata slots after the fixed record: the inline tree index and pointer.
    for i in range(n):
        f = t.func(i)
        if f.npcdata > 2 and f.nfuncdata > 3 and L.funcdata_is_offset:
            at = base + f.record_offset + L.func_size
            out["pcdata-inltree-beyond-pctab"] = ("file", at + 4 * 2, 4, 0xFFFFFFF0)
            out["funcdata-inltree-anywhere"] = ("file", at + 4 * f.npcdata + 4 * 3, 4,
                                                0xFFFFFF00)
            break
    md = g.moduledata
    if md is not None:
        from gosym.locate import moduledata_fields

        v = g.go_version_tuple
        fields = moduledata_fields(h.version, v[1] if v else None)
        ts = fields["textsectmap"]
        out["moduledata-textsectmap-len-huge"] = ("moduledata", 8 * (ts + 1), 8, 1 << 40)
        out["moduledata-textsectmap-anywhere"] = ("moduledata", 8 * ts, 8, 0x10)
        out["moduledata-textsectmap-two"] = ("moduledata", 8 * (ts + 1), 8, 2)
        out["moduledata-text-anywhere"] = ("moduledata", 8 * fields["text"], 8, 1 << 63)
        if "gofunc" in fields:
            out["moduledata-gofunc-anywhere"] = ("moduledata", 8 * fields["gofunc"], 8, 8)
        out["moduledata-ftab-len-huge"] = ("moduledata", 8 * 13, 8, 1 << 50)
    g.close()
    return {name: {"region": reg, "op": "set", "pos": pos, "width": w, "value": val}
            for name, (reg, pos, w, val) in out.items()}


# Damage that leaves no way to a right answer: these must end in an error.
MUST_FAIL = {"nfunc-huge", "funcoff-out-of-range", "funcoff-negative", "entry-unsorted",
             "header-funcnametab-huge", "header-pcln-huge", "header-nfiles-huge"}


@pytest.mark.parametrize("b", need(TARGETS, "test binaries"), ids=lambda b: getattr(b, "id", ""))
def test_hostile_fields(tmp_path, b):
    path = str(b.path)
    regs = mutations.regions(path)
    pcs = mutations.probe_pcs(path)
    data = b.path.read_bytes()
    damaged = tmp_path / "damaged"
    failures = []
    for name, m in sorted(_layout_targets(path).items()):
        if m["region"] not in regs:
            continue
        damaged.write_bytes(mutations.apply(data, regs, m))
        problems = mutations.run_all(str(damaged), pcs)
        if problems:
            failures.append((name, m, problems[:2]))
        if name in MUST_FAIL:
            r = _invoke(["funcs", str(damaged)])
            if r.exit_code != 1:
                failures.append((name, m, [f"exit {r.exit_code}, expected an error"]))
    assert not failures, failures


@pytest.mark.parametrize("b", need(TARGETS, "test binaries"), ids=lambda b: getattr(b, "id", ""))
def test_truncated_at_every_structure(tmp_path, b):
    """Cut the file at the start, middle and end of every structure gosym reads."""
    path = str(b.path)
    regs = mutations.regions(path)
    pcs = mutations.probe_pcs(path)
    data = b.path.read_bytes()
    damaged = tmp_path / "damaged"
    failures = []
    for region, (off, length) in sorted(regs.items()):
        for pos in sorted({0, 1, length // 2, max(length - 1, 0)}):
            m = {"region": region, "op": "truncate", "pos": pos}
            damaged.write_bytes(mutations.apply(data, regs, m))
            problems = mutations.run_all(str(damaged), pcs)
            if problems:
                failures.append((m, problems[:2]))
    assert not failures, failures


# --- several text sections (moduledata.textsectmap) ------------------------------------

def _textsect_testbin():
    for b in reversed(ALL_TESTBINS):
        if b.goos == "linux" and b.variant == "default" and b.program == "hello" and \
                b.version_tuple >= (1, 18) and b.goarch in ("amd64", "arm64"):
            return b
    return None


def test_textsectmap_mapping():
    """Entry offsets map through textsectmap as runtime.moduledata.textOff does.

    No test binary has several text sections (only externally linked
    darwin/arm64, arm and ppc64 binaries over the linker's size limit do), so
    split the text of a real table in two with a gap between the halves.
    """
    b = _textsect_testbin()
    if b is None:
        pytest.skip("no Go 1.18+ linux test binary built")
    g = gosym.open(str(b.path))
    t = g.table
    h = t.header
    raw = bytes(t.data[h.functab_offset:h.functab_offset + 8 * h.nfunc + 4])
    offs = [struct.unpack_from(t.byte_order + "I", raw, 8 * i)[0] for i in range(h.nfunc + 1)]
    text = g.text_start
    split = offs[len(offs) // 2]
    end = offs[-1]
    gap = 0x100000
    sects = [(0, split, text), (split, end, text + split + gap)]

    def text_off(off: int) -> int:  # runtime/symtab.go moduledata.textOff
        for i, (vaddr, send, base) in enumerate(sects):
            if vaddr <= off < send or (i == len(sects) - 1 and off == send):
                return base + off - vaddr
        return text + off

    t2 = Table(t.data, text_start=text)
    t2.set_text_start(text, sects)
    assert t2.entries.tolist() == [text_off(o) for o in offs]
    # Lookups land in the right function on both sides of the gap.
    k = len(offs) // 2
    assert t2.find_index(text_off(offs[k]) + 1) == k
    assert t2.find_index(text_off(offs[k - 1])) == k - 1
    g.close()


def _textsect_binaries():
    out = {}
    for b in ALL_TESTBINS:
        if b.goos == "linux" and b.variant == "default" and b.program == "hello" and \
                b.version_tuple >= (1, 18) and b.goarch in ("amd64", "arm64"):
            out["1.26+" if b.version_tuple >= (1, 26) else "1.18-1.25"] = b
    return [out[k] for k in sorted(out)]


@pytest.mark.parametrize("b", need(_textsect_binaries(), "Go 1.18+ linux test binaries"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_textsectmap_from_moduledata(tmp_path, b):
    """A binary whose moduledata lists two text sections with a gap between them:
    gosym.open maps entries through them (runtime moduledata.textOff)."""
    from gosym.locate import moduledata_fields

    g = gosym.open(str(b.path))
    c, md, h = g.container, g.moduledata, g.table.header
    v = g.go_version_tuple
    ts = moduledata_fields(h.version, v[1] if v else None)["textsectmap"]
    ptr = c.read_word(md.address + 8 * ts)
    raw = bytes(g.table.data[h.functab_offset:h.functab_offset + 8 * h.nfunc + 4])
    offs = [struct.unpack_from("<I", raw, 8 * i)[0] for i in range(h.nfunc + 1)]
    text = md.text
    g.close()
    split, end, gap = offs[len(offs) // 2], offs[-1], 0x40000
    sects = [(0, split, text), (split, end, text + split + gap)]
    data = bytearray(b.path.read_bytes())
    at = c.addr_to_offset(ptr)
    data[at:at + 48] = b"".join(struct.pack("<QQQ", *s) for s in sects)
    at = c.addr_to_offset(md.address + 8 * (ts + 1))
    data[at:at + 8] = struct.pack("<Q", 2)
    path = tmp_path / "two-text-sections"
    path.write_bytes(bytes(data))

    def text_off(off: int) -> int:  # runtime/symtab.go moduledata.textOff
        for i, (vaddr, send, base) in enumerate(sects):
            if vaddr <= off < send or (i == len(sects) - 1 and off == send):
                return base + off - vaddr
        return text + off

    with gosym.open(str(path)) as g2:
        assert g2.moduledata.textsect_map == tuple(sects)
        assert g2.table.entries.tolist() == [text_off(o) for o in offs]
        k = len(offs) // 2
        assert g2.func_for_pc(text_off(offs[k]) + 1).index == k


def _no_shdr_targets():
    want = {}
    for b in ALL_TESTBINS:
        if b.goos == "linux" and b.program == "hello" and b.nm_path and \
                b.variant in ("default", "pie", "extpie"):
            want[(b.version_tuple[:2] >= (1, 26), b.goarch, b.variant)] = b
    return [want[k] for k in sorted(want)]


@pytest.mark.parametrize("b", need(_no_shdr_targets(), "linux test binaries"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_elf_without_section_headers(tmp_path, b):
    """sstrip'd file (no section header table, so no symbols either): the table is
    found by scanning the PT_LOAD segments; functions still match go tool nm."""
    data = bytearray(b.path.read_bytes())
    # Zero e_shoff and e_shentsize, e_shnum, e_shstrndx (zeros in either byte order).
    if data[4] == 1:  # ELFCLASS32
        struct.pack_into("<I", data, 0x20, 0)
        struct.pack_into("<HHH", data, 0x2E, 0, 0, 0)
    else:
        struct.pack_into("<Q", data, 0x28, 0)
        struct.pack_into("<HHH", data, 0x3A, 0, 0, 0)
    path = tmp_path / "sstripped"
    path.write_bytes(bytes(data))
    with gosym.open(str(path)) as g:
        assert not g.container.has_symbols
        assert "scanning PT_LOAD" in g.location.source
        _assert_functions_match_nm(g, b)
    r = _invoke(["funcs", str(path)])
    assert r.exit_code == 0, r.stderr


def test_cut_off_download_says_truncated(tmp_path):
    """A binary cut before its table (a partial download) is reported as truncated."""
    sample = Path(__file__).parent.parent / "testbins" / "sample" / "hello"
    data = sample.read_bytes()
    for size in (100_000, 1_000_000):
        cut = tmp_path / f"hello-{size}"
        cut.write_bytes(data[:size])
        r = CliRunner().invoke(main, ["frames", str(cut)], catch_exceptions=False)
        assert r.exit_code == 1
        assert r.stdout == ""
        assert r.stderr.startswith(f"gosym: error: {cut}: truncated file:")
        assert len(r.stderr.splitlines()) == 1


# --- executable formats gosym refuses, built by Go itself ------------------------------

def _refused_testbins():
    from conftest import REFUSED_TESTBINS
    return REFUSED_TESTBINS


@pytest.mark.parametrize("b", need(_refused_testbins(), "aix/plan9 test binaries"),
                         ids=lambda b: getattr(b, "id", "none"))
def test_refused_formats_say_which(b):
    """aix (XCOFF) and plan9 (a.out) builds of the test programs: one line naming
    the format, exit status 1, for every command."""
    words = "XCOFF" if b.goos == "aix" else "Plan 9"
    for cmd in ("info", "funcs", "frames"):
        r = _invoke([cmd, str(b.path)])
        assert r.exit_code == 1
        line = _one_error_line(r)
        assert words in line and "not supported yet" in line
    with pytest.raises(gosym.errors.UnsupportedError):
        gosym.open(str(b.path))
