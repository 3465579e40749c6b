#!/usr/bin/env python3
"""Build the test-binary matrix and record Go's own answers (stdlib only).

For every toolchain (see toolchains.py) x target x variant x program this
writes, under $GOSYM_CACHE/testbins/<gover>/<goos>-<goarch>-<variant>/:

  <prog>            the binary
  <prog>.nm         `go tool nm -size -sort address <prog>` (not for stripped)
  <prog>.run.json   what the program printed (callers only; linux/amd64
                    natively, the other linux architectures under
                    qemu-<arch>-static)
  <prog>.S.txt      `-gcflags=-S` listing of package main (default variant,
                    or the program's listing_variants)
  <prog>.m.txt      `-gcflags=-m` listing (inlining decisions), for programs
                    that ask for it, in the same variants as <prog>.S.txt
  <prog>.pgo        (linux/amd64 default cell) the CPU profile a PGO build
                    uses, recorded by running that build with its pgo_args
  <prog>.meta.json  version, target, variant, flags, source hash

A cell whose meta.json carries the same input hash and whose outputs all
exist is skipped, so a re-run takes seconds.

Usage: build.py [-j N] [--versions 1.21.13,1.27.3] [--targets linux/amd64,...]
                [--variants default,pie] [--programs callers,hello] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import toolchains

HERE = Path(__file__).resolve().parent
# Bump when the way outputs are produced changes, to invalidate old cells.
RECIPE_VERSION = "1"



@dataclass(frozen=True)
class Program:
    """A Go program of testbins/<name>/ and the part of the matrix it is built in.

    ``run`` says what is recorded from running it (linux cells the host can run):
    "json": its stdout, as <prog>.run.json; "dir": the program is run as
    ``<prog> OUTDIR`` and writes whatever files it records into OUTDIR, kept as
    <prog>.out/; None: it is not run.
    """

    name: str
    versions: tuple[str, ...] | None = None  # Go minor versions ("1.19", "1.27"); None: all
    targets: tuple[str, ...] | None = None  # None: every target
    variants: tuple[str, ...] | None = None  # None: every variant
    run: str | None = None
    listing: bool = True  # record the -S listing (in the listing_variants)
    listing_variants: tuple[str, ...] = ("default",)
    inlining: bool = False  # also record the -m listing where -S is recorded
    # Arguments (followed by an output path) that make the program write a CPU
    # profile of its own workload: the PGO input of its "pgo" variant.
    pgo_args: tuple[str, ...] | None = None

    def includes(self, version: str, target: str, variant: str) -> bool:
        minor = ".".join(version.split(".")[:2])
        if self.variants is None and variant in OPT_IN_VARIANTS:
            return False
        return ((self.versions is None or minor in self.versions) and
                (self.targets is None or target in self.targets) and
                (self.variants is None or variant in self.variants))

    def lists(self, variant: str) -> bool:
        """Whether the -S (and -m) listings are recorded in this variant."""
        return self.listing and variant in self.listing_variants


PROGRAM_LIST = [
    Program("callers", run="json"),
    Program("hello"),
    # Pairs for `gosym diff`: without and with PGO (a profile it records of
    # itself), with -gcflags=-l, and with two Go versions (PGO needs 1.21+).
    Program("diffpair", versions=("1.19", "1.24"), targets=("linux/amd64", "linux/arm64"),
            variants=("default", "noinline", "pgo"), run="dir",
            listing_variants=("default", "noinline", "pgo"), inlining=True,
            pgo_args=("-cpuprofile",)),
    Program("stackmem", versions=("1.19", "1.22", "1.24", "1.27"),
            targets=("linux/amd64", "linux/arm64"), variants=("default", "pie", "stripped"),
            run="dir", listing=False),
    # Deep middleware-style stacks under every profiler (see deepprof/main.go).
    Program("deepprof", versions=("1.19", "1.22", "1.24", "1.27"),
            targets=("linux/amd64", "linux/arm64"), variants=("default", "pie", "stripped"),
            run="dir", listing=False),
    # Run by tests/test_goroutines.py itself (live process, gcore, core dumps).
    Program("goroutines", versions=("1.19", "1.22", "1.24", "1.27"),
            targets=("linux/amd64", "linux/arm64"), variants=("default", "pie", "stripped"),
            listing=False),
]
PROGRAM_SPECS = {p.name: p for p in PROGRAM_LIST}
PROGRAMS = [p.name for p in PROGRAM_LIST]


@dataclass(frozen=True)
class CrossTarget:
    """A platform beyond linux and darwin on amd64/arm64, built with fewer
    toolchains (each new target compiles the standard library once per Go
    version) and in the variants listed. All of them, from an empty GOCACHE:
    about 500 CPU-seconds (testbins/README.md)."""

    versions: tuple[str, ...]  # Go minor versions
    variants: tuple[str, ...] = ("default", "stripped")


NEWEST, OLDEST = ("1.27",), ("1.19", "1.27")
# Every GOOS/GOARCH pair gosym decodes, with the newest Go; the first 32-bit,
# big-endian and PE ones with the oldest too (Go 1.19: the 1.18 table layout).
# linux/arm is GOARM=7 (the default) plus a GOARM=5 (software floating point) build;
# Windows executables are PIE by default since Go 1.15.
CROSS_TARGETS = {
    "linux/386": CrossTarget(OLDEST),
    "linux/arm": CrossTarget(OLDEST, ("default", "stripped", "goarm5")),
    "linux/riscv64": CrossTarget(NEWEST),
    "linux/ppc64": CrossTarget(OLDEST),
    "linux/ppc64le": CrossTarget(NEWEST, ("default", "stripped", "pie")),
    "linux/s390x": CrossTarget(NEWEST),
    "linux/loong64": CrossTarget(NEWEST),
    "linux/mips": CrossTarget(NEWEST),
    "linux/mipsle": CrossTarget(NEWEST),
    "linux/mips64": CrossTarget(NEWEST),
    "linux/mips64le": CrossTarget(NEWEST),
    "windows/amd64": CrossTarget(OLDEST),
    "windows/386": CrossTarget(OLDEST),
    "windows/arm64": CrossTarget(NEWEST),
    "freebsd/amd64": CrossTarget(NEWEST),
    "netbsd/amd64": CrossTarget(NEWEST),
    "openbsd/amd64": CrossTarget(NEWEST),
    "dragonfly/amd64": CrossTarget(NEWEST),
    "solaris/amd64": CrossTarget(NEWEST),
    "illumos/amd64": CrossTarget(NEWEST),
    "aix/ppc64": CrossTarget(NEWEST, ("default",)),  # XCOFF: refused clearly
    "plan9/amd64": CrossTarget(NEWEST, ("default",)),  # Plan 9 a.out: refused clearly
}
TARGETS = ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"] + list(CROSS_TARGETS)

PGO_FLAG = "-pgo=<recorded profile>"

# variant -> (go build flags, needs cgo, linux only, linux/amd64 only)
VARIANTS: dict[str, tuple[list[str], bool, bool, bool]] = {
    "default": ([], False, False, False),
    "stripped": (["-ldflags=-s -w"], False, False, False),
    "pie": (["-buildmode=pie"], False, True, False),
    "pie-stripped": (["-buildmode=pie", "-ldflags=-s -w"], False, True, False),
    "extpie": (["-buildmode=pie", "-ldflags=-linkmode=external"], True, True, True),
    "extpie-stripped": (["-buildmode=pie", "-ldflags=-linkmode=external -s -w"], True, True, True),
    # Opt-in variants (only programs that name them): inlining off in package
    # main, and PGO with the profile the program records of itself (PGO_FLAG
    # is replaced by -pgo=<that profile>; recorded on linux/amd64).
    "noinline": (["-gcflags=-l"], False, False, False),
    "pgo": ([PGO_FLAG], False, True, True),
}
OPT_IN_VARIANTS = {"noinline", "pgo"}
# Oldest Go release that has a variant's flags (-pgo: Go 1.21).
VARIANT_MIN_GO = {"pgo": (1, 21)}
VARIANTS["goarm5"] = ([], False, True, False)
# Variants built only where CROSS_TARGETS lists them, and their environment.
CROSS_ONLY_VARIANTS = {"goarm5"}
VARIANT_ENV = {"goarm5": {"GOARM": "5"}}
# Variants whose failure is reported but not fatal (they depend on the host
# C toolchain and on the Go version supporting external linking here).
OPTIONAL_VARIANTS = {"extpie", "extpie-stripped"}

# How linux binaries of other architectures run here (Debian's qemu-user-static).
# The static ones need nothing else; arm64 PIE needs the arm64 loader and libc.
# 386 runs natively on x86_64 hosts (qemu-i386 7.2 crashes Go's threads: the
# second M finds no P through its TLS).
QEMU = {"arm64": ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"],
        "386": ["qemu-i386-static"], "arm": ["qemu-arm-static"],
        "riscv64": ["qemu-riscv64-static"], "ppc64": ["qemu-ppc64-static"],
        "ppc64le": ["qemu-ppc64le-static"], "s390x": ["qemu-s390x-static"],
        "loong64": ["qemu-loongarch64-static"], "mips": ["qemu-mips-static"],
        "mipsle": ["qemu-mipsel-static"], "mips64": ["qemu-mips64-static"],
        "mips64le": ["qemu-mips64el-static"]}
NATIVE_ARCHES = {"x86_64": ("amd64", "386"), "aarch64": ("arm64",)}.get(os.uname().machine, ())
RUN_TIMEOUT = 120


def applicable(target: str, variant: str, version: str | None = None) -> bool:
    cross = CROSS_TARGETS.get(target)
    if cross is not None:
        minor = None if version is None else ".".join(version.split(".")[:2])
        return variant in cross.variants and (minor is None or minor in cross.versions)
    if variant in CROSS_ONLY_VARIANTS:
        return False
    _, _, linux_only, amd64_only = VARIANTS[variant]
    if version is not None and variant in VARIANT_MIN_GO and \
            tuple(int(x) for x in version.split(".")[:2]) < VARIANT_MIN_GO[variant]:
        return False
    if linux_only and not target.startswith("linux/"):
        return False
    if amd64_only and target != "linux/amd64":
        return False
    return True


def plan(versions: list[str] | None = None, targets: list[str] | None = None,
         variants: list[str] | None = None, programs: list[str] | None = None) -> list[Cell]:
    """The cells the matrix builds (default: all of it, on the installed toolchains)."""
    versions = toolchains.versions() if versions is None else versions
    cells = []
    for t in TARGETS if targets is None else targets:
        for var in list(VARIANTS) if variants is None else variants:
            for v in versions:
                progs = [p for p in (PROGRAMS if programs is None else programs)
                         if PROGRAM_SPECS[p].includes(v, t, var)]
                if progs and applicable(t, var, v):
                    cells.append(Cell(v, t, var, progs))
    return cells


def planned() -> set[tuple[str, str, str, str, str]]:
    """(version, goos, goarch, variant, program) of every build in the matrix:
    what the tests read, so that a cache holding other builds (an older
    matrix's) does not change what they test."""
    return {(c.version, c.goos, c.goarch, c.variant, p) for c in plan() for p in c.programs}


def source_hash(prog: str) -> str:
    h = hashlib.sha256()
    d = HERE / prog
    for p in sorted(d.rglob("*")):
        if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
            h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def out_root() -> Path:
    return toolchains.cache_dir() / "testbins"


@dataclass
class Cell:
    version: str
    target: str
    variant: str
    programs: list[str]

    @property
    def goos(self) -> str:
        return self.target.split("/")[0]

    @property
    def goarch(self) -> str:
        return self.target.split("/")[1]

    @property
    def dir(self) -> Path:
        return out_root() / self.version / f"{self.goos}-{self.goarch}-{self.variant}"

    @property
    def optional(self) -> bool:
        return self.variant in OPTIONAL_VARIANTS

    def runnable(self) -> bool:
        if self.goos != "linux":
            return False
        if self.goarch in ("amd64", "arm64"):
            return True
        # Under qemu: the statically linked builds (a PIE needs its loader).
        return self.goarch in QEMU and "pie" not in self.variant


@dataclass
class Result:
    cell: Cell
    status: str  # "built", "cached", "failed", "unsupported"
    message: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def atomic_write(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data)
    tmp.replace(path)


def expected_outputs(cell: Cell, prog: str) -> list[str]:
    outs = [prog, prog + ".meta.json"]
    flags = VARIANTS[cell.variant][0]
    if not any("-s -w" in f or f.endswith("-s") for f in flags):
        outs.append(prog + ".nm")
    spec = PROGRAM_SPECS[prog]
    if spec.run == "json" and cell.runnable():
        outs.append(prog + ".run.json")
    if spec.run == "dir" and cell.runnable():
        outs.append(prog + ".out")
    if spec.lists(cell.variant):
        outs.append(prog + ".S.txt")
        if spec.inlining:
            outs.append(prog + ".m.txt")
    return outs


def cell_key(cell: Cell, prog: str, flags: list[str] | None = None) -> str:
    """Hash of what a cell's outputs depend on (flags: as resolved, e.g. the
    PGO profile's path; its content is hashed too)."""
    _, cgo, _, _ = VARIANTS[cell.variant]
    if flags is None:
        flags = VARIANTS[cell.variant][0]
    h = hashlib.sha256()
    parts = [RECIPE_VERSION, cell.version, cell.target, cell.variant, flags, cgo,
             source_hash(prog)]
    if cell.variant in VARIANT_ENV:
        parts.append(VARIANT_ENV[cell.variant])
    for f in flags:
        if f.startswith("-pgo=") and os.path.isfile(f[5:]):
            parts.append(hashlib.sha256(Path(f[5:]).read_bytes()).hexdigest())
    h.update(json.dumps(parts).encode())
    return h.hexdigest()


def with_gcflags(flags: list[str], extra: str) -> list[str]:
    """flags plus compiler flags `extra` for package main: merged into an
    existing -gcflags (a second -gcflags would replace the first)."""
    out = []
    merged = False
    for f in flags:
        if f.startswith("-gcflags=") and not merged:
            f = f + " " + extra
            merged = True
        out.append(f)
    return out if merged else ["-gcflags=" + extra] + out


# One lock per (cell directory, program): a pgo cell builds the default cell
# it takes its profile from, which another worker may be building.
_CELL_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_CELL_LOCKS_GUARD = threading.Lock()


def cell_lock(cell: "Cell", prog: str) -> threading.Lock:
    with _CELL_LOCKS_GUARD:
        return _CELL_LOCKS.setdefault((str(cell.dir), prog), threading.Lock())


def pgo_profile(cell: "Cell", prog: str, notes: list[str]) -> Path:
    """The CPU profile for prog's PGO build: recorded by running its linux/amd64
    default build of the same Go version with the program's pgo_args."""
    spec = PROGRAM_SPECS[prog]
    if spec.pgo_args is None:
        raise BuildError(f"{prog} has no pgo_args: it cannot record a profile")
    if os.uname().machine != "x86_64":
        raise BuildError("recording the PGO profile needs a linux/amd64 host")
    base = Cell(cell.version, "linux/amd64", "default", [prog])
    build_one(base, prog, notes)
    profile = base.dir / (prog + ".pgo")
    with cell_lock(base, prog):
        if not profile.is_file():
            tmp = base.dir / (prog + ".pgo.tmp")
            argv = [str(base.dir / prog), *spec.pgo_args, str(tmp)]
            p = subprocess.run(argv, capture_output=True, timeout=RUN_TIMEOUT, env=run_env())
            if p.returncode != 0 or not tmp.is_file():
                raise BuildError(f"recording a CPU profile failed: {' '.join(argv)}\n"
                                 f"{p.stderr[-2000:].decode('utf-8', 'replace')}")
            tmp.replace(profile)
    return profile


def is_cached(cell: Cell, prog: str, key: str) -> bool:
    meta = cell.dir / (prog + ".meta.json")
    try:
        if json.loads(meta.read_text()).get("input_sha256") != key:
            return False
    except (OSError, ValueError):
        return False
    return all((cell.dir / o).exists() for o in expected_outputs(cell, prog))


def build_one(cell: Cell, prog: str, notes: list[str]) -> bool:
    """Build one program in one cell. Returns True if work was done."""
    flags, cgo, _, _ = VARIANTS[cell.variant]
    if PGO_FLAG in flags:
        profile = pgo_profile(cell, prog, notes)
        flags = [f"-pgo={profile}" if f == PGO_FLAG else f for f in flags]
    with cell_lock(cell, prog):
        return _build_one(cell, prog, flags, cgo, notes)


def _build_one(cell: Cell, prog: str, flags: list[str], cgo: bool, notes: list[str]) -> bool:
    key = cell_key(cell, prog, flags)
    if is_cached(cell, prog, key):
        return False
    go = str(toolchains.go_bin(cell.version))
    env = toolchains.build_env(cell.version, cgo=cgo, GOOS=cell.goos, GOARCH=cell.goarch,
                               **VARIANT_ENV.get(cell.variant, {}))
    src = HERE / prog
    cell.dir.mkdir(parents=True, exist_ok=True)
    binpath = cell.dir / prog
    for o in expected_outputs(cell, prog) + [prog + ".run.json", prog + ".nm", prog + ".S.txt",
                                             prog + ".m.txt", prog + ".pgo"]:
        (cell.dir / o).unlink(missing_ok=True) if not (cell.dir / o).is_dir() else \
            shutil.rmtree(cell.dir / o)

    # -trimpath is deliberately not used: tests want the real file paths the
    # runtime reports. Build into a temp name, then rename (atomic).
    tmpbin = cell.dir / (prog + ".tmp")
    cmd = [go, "build", "-o", str(tmpbin)] + flags + ["."]
    p = run(cmd, env, src)
    if p.returncode != 0:
        raise BuildError(f"go build failed: {' '.join(cmd[1:])}\n{p.stderr.strip()}")
    if p.stderr.strip():
        notes.append(f"{prog}: build stderr: {p.stderr.strip().splitlines()[-1]}")
    tmpbin.replace(binpath)

    # Symbol table from the same toolchain (absent for stripped binaries).
    if (prog + ".nm") in expected_outputs(cell, prog):
        p = run([go, "tool", "nm", "-size", "-sort", "address", str(binpath)], env, src)
        if p.returncode != 0 or not p.stdout.strip():
            raise BuildError(f"go tool nm failed on {binpath}:\n{p.stderr.strip()}")
        atomic_write(cell.dir / (prog + ".nm"), p.stdout)

    # Assembly listing of package main (-gcflags=-S applies only to the
    # packages named on the command line). The go command replays a cached
    # compile's output, but check that the TEXT lines are really there and
    # otherwise retry with a private, empty GOCACHE (slow: recompiles std).
    if (prog + ".S.txt") in expected_outputs(cell, prog):
        with tempfile.TemporaryDirectory(prefix="gosym-S-") as td:
            scmd = [go, "build", "-o", os.path.join(td, "out")] + with_gcflags(flags, "-S") + ["."]
            p = run(scmd, env, src)
            if p.returncode != 0 or " STEXT" not in p.stderr:
                notes.append(f"{prog}: -S output not replayed, rebuilding with empty GOCACHE")
                p = run(scmd, dict(env, GOCACHE=os.path.join(td, "gocache")), src)
            if p.returncode != 0 or " STEXT" not in p.stderr:
                raise BuildError(f"-gcflags=-S listing failed for {prog}:\n{p.stderr[-2000:]}")
            atomic_write(cell.dir / (prog + ".S.txt"), p.stderr)
            if (prog + ".m.txt") in expected_outputs(cell, prog):
                # The compiler's inlining decisions ("inlining call to F" at
                # each inlined call site, escape analysis besides).
                mcmd = [go, "build", "-o", os.path.join(td, "out")] + \
                    with_gcflags(flags, "-m") + ["."]
                p = run(mcmd, env, src)
                if p.returncode != 0 or not p.stderr.strip():
                    raise BuildError(f"-gcflags=-m listing failed for {prog}:\n"
                                     f"{p.stderr[-2000:]}")
                atomic_write(cell.dir / (prog + ".m.txt"), p.stderr)

    # Run it and keep what it printed (or wrote).
    spec = PROGRAM_SPECS[prog]
    if spec.run is not None and cell.runnable():
        argv = [str(binpath)]
        if cell.goarch not in NATIVE_ARCHES:
            if cell.goarch not in QEMU:
                raise BuildError(f"cannot run {cell.goarch} binaries on this host")
            argv = QEMU[cell.goarch] + argv
        if spec.run == "dir":
            run_dir(cell, prog, argv)
        else:
            run_json(cell, prog, argv, binpath)

    meta = {
        "program": prog,
        "go_version": "go" + cell.version,
        "goos": cell.goos,
        "goarch": cell.goarch,
        "variant": cell.variant,
        "build_flags": flags,
        "cgo_enabled": cgo,
        "build_command": ["go", "build", "-o", prog] + flags + ["."],
        "env": {k: env[k] for k in ("GOOS", "GOARCH", "CGO_ENABLED", "GOTOOLCHAIN",
                                      "GOPROXY", "GOFLAGS", "GOARM") if k in env},
        "source_sha256": source_hash(prog),
        "input_sha256": key,
        "outputs": sorted(expected_outputs(cell, prog)),
    }
    # meta.json last: its presence with the right key marks the cell complete.
    atomic_write(cell.dir / (prog + ".meta.json"), json.dumps(meta, indent=1) + "\n")
    return True


class BuildError(Exception):
    pass


def run_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "GOTRACEBACK": "all"}


def run_json(cell: Cell, prog: str, argv: list[str], binpath: Path) -> None:
    """Run the program and keep its stdout, a JSON record, as <prog>.run.json."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                           env=run_env())
    except FileNotFoundError as e:
        raise BuildError(f"cannot run {argv[0]}: {e}; run `make deps`")
    if p.returncode != 0:
        raise BuildError(f"running {binpath} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    try:
        data = json.loads(p.stdout)
    except ValueError as e:
        raise BuildError(f"{binpath} printed invalid JSON: {e}")
    if data.get("goos") != cell.goos or data.get("goarch") != cell.goarch \
            or data.get("go_version") != "go" + cell.version:
        raise BuildError(f"{binpath} reports {data.get('go_version')} "
                         f"{data.get('goos')}/{data.get('goarch')}")
    atomic_write(cell.dir / (prog + ".run.json"), p.stdout)


def run_dir(cell: Cell, prog: str, argv: list[str]) -> None:
    """Run ``prog OUTDIR``; what it writes there is kept as <prog>.out/ (renamed
    into place only when the program succeeded, so a cell is never half done).
    Its stdout and stderr are kept there too, as stdout.txt and stderr.txt."""
    final = cell.dir / (prog + ".out")
    tmp = cell.dir / (prog + ".out.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # The program may re-execute itself: GOSYM_TESTBIN_EXEC is the command
    # prefix that runs it (qemu-user for another architecture), as JSON.
    env = dict(run_env(), GOSYM_TESTBIN_EXEC=json.dumps(argv[:-1]))
    try:
        p = subprocess.run(argv + [str(tmp)], capture_output=True, timeout=RUN_TIMEOUT,
                           env=env)
    except FileNotFoundError as e:
        raise BuildError(f"cannot run {argv[0]}: {e}; run `make deps`")
    (tmp / "stdout.txt").write_bytes(p.stdout)
    (tmp / "stderr.txt").write_bytes(p.stderr)
    if p.returncode != 0:
        raise BuildError(f"running {' '.join(argv)} OUTDIR failed ({p.returncode}):\n"
                         f"{p.stderr[-2000:].decode('utf-8', 'replace')}")
    shutil.rmtree(final, ignore_errors=True)
    tmp.replace(final)


def build_cell(cell: Cell) -> Result:
    t0 = time.monotonic()
    notes: list[str] = []
    did = False
    try:
        if not toolchains.go_bin(cell.version).is_file():
            raise BuildError(f"toolchain {cell.version} missing; run `make toolchains`")
        for prog in cell.programs:
            did |= build_one(cell, prog, notes)
    except subprocess.TimeoutExpired as e:
        return Result(cell, "failed", f"timeout: {e}", time.monotonic() - t0, notes)
    except BuildError as e:
        return Result(cell, "failed", str(e), time.monotonic() - t0, notes)
    return Result(cell, "built" if did else "cached", "", time.monotonic() - t0, notes)


FAT_MAGIC = 0xCAFEBABE
FAT_ARCHES = [("amd64", 12), ("arm64", 14)]  # (goarch, log2 alignment) as lipo does


def fat_dir(version: str) -> Path:
    return toolchains.cache_dir() / "fatbins" / version


def make_fat(version: str, prog: str) -> bool:
    """Join the darwin default builds of prog into a universal (fat) Mach-O
    at $GOSYM_CACHE/fatbins/<ver>/<prog>. Go cannot produce these itself;
    the layout is what lipo writes. Returns True if it was (re)written."""
    slices = []
    for goarch, align in FAT_ARCHES:
        thin = out_root() / version / f"darwin-{goarch}-default" / prog
        if not thin.is_file():
            return False
        slices.append((goarch, align, thin, thin.read_bytes()))
    h = hashlib.sha256()
    for _, _, _, data in slices:
        h.update(hashlib.sha256(data).digest())
    key = h.hexdigest()
    d = fat_dir(version)
    meta_path = d / (prog + ".meta.json")
    try:
        if json.loads(meta_path.read_text()).get("input_sha256") == key and (d / prog).is_file():
            return False
    except (OSError, ValueError):
        pass
    d.mkdir(parents=True, exist_ok=True)
    header = bytearray(struct.pack(">II", FAT_MAGIC, len(slices)))
    body = bytearray()
    offset = 8 + 20 * len(slices)
    entries = []
    for goarch, align, thin, data in slices:
        offset = (offset + (1 << align) - 1) & ~((1 << align) - 1)
        cputype, cpusubtype = struct.unpack_from("<II", data, 4)
        header += struct.pack(">IIIII", cputype, cpusubtype, offset, len(data), align)
        entries.append({"goarch": goarch, "offset": offset, "size": len(data),
                        "thin": str(thin.relative_to(out_root()))})
        offset += len(data)
    out = bytearray(offset)
    out[:len(header)] = header
    for e, (_, _, _, data) in zip(entries, slices):
        out[e["offset"]:e["offset"] + e["size"]] = data
    tmp = d / (prog + ".tmp")
    tmp.write_bytes(out)
    tmp.chmod(0o755)
    tmp.replace(d / prog)
    meta = {"program": prog, "go_version": "go" + version, "goos": "darwin",
            "goarch": "fat", "slices": entries, "input_sha256": key}
    atomic_write(meta_path, json.dumps(meta, indent=1) + "\n")
    return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2, help="parallel cells")
    ap.add_argument("--versions", help="comma list (default: all installed toolchains)")
    ap.add_argument("--targets", help="comma list of goos/goarch")
    ap.add_argument("--variants", help="comma list")
    ap.add_argument("--programs", help="comma list")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv[1:])

    versions = args.versions.split(",") if args.versions else toolchains.versions()
    targets = args.targets.split(",") if args.targets else TARGETS
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    programs = args.programs.split(",") if args.programs else PROGRAMS
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v}")

    if args.force:
        for v in versions:
            shutil.rmtree(out_root() / v, ignore_errors=True)

    # Order so that the two workers build different Go versions at the same
    # time: cells of one version and target that share std objects (default
    # and stripped; pie and pie-stripped) then run one after the other and
    # the second finds std in the build cache instead of compiling it again.
    for prog in programs:
        if prog not in PROGRAM_SPECS:
            ap.error(f"unknown program {prog}")
    cells = plan(versions, targets, variants, programs)
    t0 = time.monotonic()
    results: list[Result] = []
    with ThreadPoolExecutor(max(1, args.j)) as ex:
        futs = [ex.submit(build_cell, c) for c in cells]
        for f in as_completed(futs):
            r = f.result()
            results.append(r)
            c = r.cell
            label = f"{c.version} {c.target} {c.variant}"
            if r.status == "failed":
                kind = "optional, not fatal" if c.optional else "FATAL"
                print(f"build: FAILED ({kind}) {label}: {r.message}", file=sys.stderr, flush=True)
            elif r.status == "built" or args.verbose:
                print(f"build: {r.status:6s} {label} ({r.seconds:.1f}s)", flush=True)
            for n in r.notes:
                if args.verbose:
                    print(f"build:   note: {n}", flush=True)

    # Universal Mach-O files from the two darwin default builds.
    nfat = 0
    if "darwin/amd64" in targets and "darwin/arm64" in targets and "default" in variants:
        for v in versions:
            for prog in programs:
                nfat += make_fat(v, prog)

    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    fatal = [r for r in results if r.status == "failed" and not r.cell.optional]
    optional = [r for r in results if r.status == "failed" and r.cell.optional]
    opt_txt = ""
    if optional:
        opt_txt = " (optional: " + ", ".join(f"{r.cell.version}/{r.cell.variant}" for r in optional) + ")"
    print(f"testbins: {len(cells)} cells, {sum(len(c.programs) for c in cells)} builds in {time.monotonic() - t0:.1f}s: "
          f"{counts.get('built', 0)} built, {counts.get('cached', 0)} cached, "
          f"{len(fatal)} failed, {len(optional)} optional failed{opt_txt}, {nfat} fat written "
          f"-> {out_root()}")
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
