"""Find the test binaries built by `make testbins` / `make realbins`.

Importable without pytest. Everything lives under cache_dir() (the
GOSYM_CACHE environment variable, default ~/.cache/gosym):

  testbins/<gover>/<goos>-<goarch>-<variant>/<prog>[.nm|.run.json|.S.txt|.meta.json]
  realbins/<name>/<bin>[.gosymref.json|.nm|.addr2line.json|.meta.json]
  realbins/crash-<ver>-linux-<arch>-<variant>/{crash,core,dump.txt,core.meta.json}
  fatbins/<gover>/<prog>[.meta.json]   universal Mach-O of the darwin default builds

See testbins/README.md for how they are made.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TestBin", "RealBin", "FatBin", "CoreFile", "cache_dir", "testbins", "realbins", "fatbins",
    "cores", "parse_dump", "compare_with_dump",
    "parse_nm", "parse_asm_locals", "load_json",
]


def cache_dir() -> Path:
    env = os.environ.get("GOSYM_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "gosym"


@dataclass(frozen=True)
class TestBin:
    __test__ = False  # not a pytest test class

    path: Path
    program: str  # "callers" or "hello"
    go_version: str  # e.g. "1.21.13" (no "go" prefix)
    goos: str
    goarch: str
    variant: str  # default, pie, stripped, pie-stripped, extpie, extpie-stripped
    nm_path: Path | None  # `go tool nm -size -sort address` output
    run_json_path: Path | None  # what the program printed (callers, linux only)
    asm_path: Path | None  # -gcflags=-S listing (default variant only)
    out_dir: Path | None = None  # files the program wrote when run (<prog>.out/)

    @property
    def stripped(self) -> bool:
        return self.variant.endswith("stripped")

    @property
    def pie(self) -> bool:
        return "pie" in self.variant

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.go_version.split("."))

    @property
    def id(self) -> str:
        """Short name usable as a pytest id."""
        return f"go{self.go_version}-{self.goos}-{self.goarch}-{self.variant}-{self.program}"


@dataclass(frozen=True)
class RealBin:
    path: Path
    package: str
    version: str
    goos: str
    goarch: str
    gosymref_json_path: Path | None  # None if debug/gosym could not read it
    go_version: str | None = None  # as `go version BIN` reports it, e.g. "go1.15.5"
    go_version_source: str | None = None  # "go version", or "strings" (most frequent go1.x)
    nm_path: Path | None = None  # `go tool nm -size -sort address`
    addr2line_path: Path | None = None  # `go tool addr2line` on a sample: {"pcs", "answers"}
    source: str = ""  # npm, pypi or build

    @property
    def id(self) -> str:
        return self.path.parent.name


def _opt(p: Path) -> Path | None:
    return p if p.is_file() else None


def _opt_dir(p: Path) -> Path | None:
    return p if p.is_dir() else None


_PLANNED: set | None = None


def _planned() -> set:
    """The builds testbins/build.py's matrix makes (see build.planned)."""
    global _PLANNED
    if _PLANNED is None:
        here = str(Path(__file__).resolve().parent.parent / "testbins")
        sys.path.insert(0, here)
        try:
            import build
        finally:
            sys.path.remove(here)
        _PLANNED = build.planned()
    return _PLANNED


def testbins(program: str | None = None) -> list[TestBin]:
    """The built test binaries of the current matrix (optionally of one
    program), sorted. Builds in the cache that the matrix no longer makes are
    not returned."""
    out: list[TestBin] = []
    base = cache_dir() / "testbins"
    planned = _planned()
    for meta_path in sorted(base.glob("*/*/*.meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        prog = meta["program"]
        if program is not None and prog != program:
            continue
        if (meta["go_version"].removeprefix("go"), meta["goos"], meta["goarch"], meta["variant"],
                prog) not in planned:
            continue
        binpath = meta_path.with_name(prog)
        if not binpath.is_file():
            continue
        out.append(TestBin(
            path=binpath,
            program=prog,
            go_version=meta["go_version"].removeprefix("go"),
            goos=meta["goos"],
            goarch=meta["goarch"],
            variant=meta["variant"],
            nm_path=_opt(binpath.with_name(prog + ".nm")),
            run_json_path=_opt(binpath.with_name(prog + ".run.json")),
            asm_path=_opt(binpath.with_name(prog + ".S.txt")),
            out_dir=_opt_dir(binpath.with_name(prog + ".out")),
        ))
    out.sort(key=lambda b: (b.version_tuple, b.goos, b.goarch, b.variant, b.program))
    return out


def realbins() -> list[RealBin]:
    """All downloaded third-party binaries, sorted by directory name."""
    out: list[RealBin] = []
    for meta_path in sorted((cache_dir() / "realbins").glob("*/*.meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        binpath = meta_path.with_name(meta_path.name.removesuffix(".meta.json"))
        if not binpath.is_file() or meta.get("kind") == "core":
            continue
        out.append(RealBin(
            path=binpath,
            package=meta["package"],
            version=meta["version"],
            goos=meta["goos"],
            goarch=meta["goarch"],
            gosymref_json_path=_opt(binpath.with_name(binpath.name + ".gosymref.json")),
            go_version=meta.get("go_version"),
            go_version_source=meta.get("go_version_source"),
            nm_path=_opt(binpath.with_name(binpath.name + ".nm")),
            addr2line_path=_opt(binpath.with_name(binpath.name + ".addr2line.json")),
            source=meta.get("source", ""),
        ))
    return out


@dataclass(frozen=True)
class CoreFile:
    """An ELF core of testbins/crash, its executable and the runtime's crash dump."""

    path: Path
    executable: Path
    dump_path: Path
    go_version: str  # e.g. "1.27.3"
    goarch: str
    variant: str  # exe, pie, pie-full, qemu (see testbins/cores.py)
    pie: bool
    written_by: str  # "kernel" or "qemu-user"
    coredump_filter: str | None  # e.g. "0x33"

    @property
    def holds_table(self) -> bool:
        """Whether the core holds the function table: the kernel's default dump filter
        (0x33) leaves the program's read-only mappings out."""
        return not (self.written_by == "kernel" and self.coredump_filter == "0x33")

    @property
    def id(self) -> str:
        return self.path.parent.name


def cores() -> list[CoreFile]:
    """Core files made by `make realbins` (testbins/cores.py), sorted by directory name."""
    out: list[CoreFile] = []
    for meta_path in sorted((cache_dir() / "realbins").glob("*/core.meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        d = meta_path.parent
        paths = [d / meta["core"], d / meta["executable"], d / meta["dump"]]
        if not all(p.is_file() for p in paths):
            continue
        out.append(CoreFile(*paths, go_version=meta["version"], goarch=meta["goarch"],
                            variant=meta["variant"], pie=meta["pie"],
                            written_by=meta["written_by"],
                            coredump_filter=meta["coredump_filter"]))
    return out


@dataclass(frozen=True)
class FatBin:
    """A universal Mach-O joining darwin/amd64 and darwin/arm64 default builds."""

    path: Path
    program: str
    go_version: str  # e.g. "1.27.3"
    # (goarch, offset, size, thin binary path) per slice, in file order; the
    # thin binary has the .nm (and .S.txt) to compare with.
    slices: tuple[tuple[str, int, int, Path], ...]

    @property
    def id(self) -> str:
        return f"go{self.go_version}-darwin-fat-{self.program}"


def fatbins(program: str | None = None) -> list[FatBin]:
    out: list[FatBin] = []
    for meta_path in sorted((cache_dir() / "fatbins").glob("*/*.meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        prog = meta["program"]
        binpath = meta_path.with_name(prog)
        if (program is not None and prog != program) or not binpath.is_file():
            continue
        slices = tuple((s["goarch"], s["offset"], s["size"], cache_dir() / "testbins" / s["thin"])
                       for s in meta["slices"])
        out.append(FatBin(binpath, prog, meta["go_version"].removeprefix("go"), slices))
    out.sort(key=lambda b: (tuple(int(x) for x in b.go_version.split(".")), b.program))
    return out


def load_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def parse_nm(path: Path) -> list[tuple[int, int, str, str]]:
    """Parse `go tool nm -size -sort address` output.

    Returns (addr, size, type, name) tuples in file order. Lines look like
    ``  4a1b20        123 T main.main``; undefined symbols (``U``) have no
    address and are returned with addr 0. Names may contain spaces
    (e.g. generic shapes ``go.shape.struct { ... }``), so everything after
    the type letter is the name.
    """
    out: list[tuple[int, int, str, str]] = []
    with open(path) as f:
        for line in f:
            m = _NM_RE.match(line.rstrip("\n"))
            if m:
                addr, size, typ, name = m.groups()
                out.append((int(addr, 16) if addr else 0, int(size), typ, name))
    return out


_NM_RE = re.compile(r"^\s*(?:([0-9a-fA-F]+)\s+)?(\d+)\s+(\S)\s+(.*)$")
_TEXT_RE = re.compile(r"^(\S.*?) STEXT\b(.*)$")
_LOCALS_RE = re.compile(r"\blocals=(0x[0-9a-fA-F]+|\d+)")
_ARGS_RE = re.compile(r"\bargs=(0x[0-9a-fA-F]+|\d+)")


def parse_asm_locals(path: Path, package: str = "main") -> dict[str, int]:
    """Map function name (as the pclntab names it, e.g. ``main.foo``) to the
    frame size ``locals=`` from a ``-gcflags=-S`` listing.

    Older compilers print the package being compiled as ``""`` (``"".foo``);
    that prefix is replaced by `package`.
    """
    return _parse_asm_field(path, _LOCALS_RE, package)


def parse_asm_args(path: Path, package: str = "main") -> dict[str, int]:
    """Like parse_asm_locals, for ``args=`` (argument area size)."""
    return _parse_asm_field(path, _ARGS_RE, package)


def _parse_asm_field(path: Path, field: re.Pattern, package: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            m = _TEXT_RE.match(line)
            if not m:
                continue
            name, rest = m.group(1), m.group(2)
            fm = field.search(rest)
            if not fm:
                continue
            name = name.replace('"".', package + ".")
            out[name] = int(fm.group(1), 0)
    return out


# --- goroutine dumps (GOTRACEBACK=crash) -------------------------------------------------

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


def compare_with_dump(g, dump: list[Goroutine]) -> tuple[int, list]:
    """(physical frames compared, differences) between a dump and the frames of
    ``g`` (a gosym.GoBinary at the dumped process's addresses)."""
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
