"""ELF core files of a Go process (testbins/crash), with Go's own account of it.

Each variant builds testbins/crash, runs it with GOTRACEBACK=crash (the
runtime prints every goroutine, then aborts so that a core is written) and
keeps, under $GOSYM_CACHE/realbins/crash-<go version>-linux-<arch>-<variant>/:

  crash            the executable
  core             the core file
  dump.txt         what the runtime printed (stderr): the reference answer
  core.meta.json   {"kind": "core", "variant", "coredump_filter", "go_version", ...}

Variants: the kernel's default dump filter (0x33: the memory the process
wrote, not its code or function table) for a position-dependent and a PIE
executable; a PIE with every mapping dumped (filter 0x3f); and linux/arm64
under qemu-user, which writes the core itself (all memory but the code).
The kernel writes a core only where /proc/sys/kernel/core_pattern is a file
name (not a pipe to a crash collector, nor a path elsewhere) and RLIMIT_CORE
allows it; elsewhere those variants are skipped, and so are their tests.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import toolchains

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CoreVariant:
    name: str
    go_version: str
    goarch: str
    pie: bool
    dump_filter: int | None  # /proc/self/coredump_filter; None: qemu-user writes the core

    @property
    def dirname(self) -> str:
        return f"crash-{self.go_version}-linux-{self.goarch}-{self.name}"


VARIANTS = [
    CoreVariant("exe", toolchains.NEWEST, "amd64", pie=False, dump_filter=0x33),
    CoreVariant("pie", toolchains.NEWEST, "amd64", pie=True, dump_filter=0x33),
    CoreVariant("pie-full", toolchains.NEWEST, "amd64", pie=True, dump_filter=0x3F),
    CoreVariant("exe", "1.21.13", "amd64", pie=False, dump_filter=0x33),
    CoreVariant("qemu", toolchains.NEWEST, "arm64", pie=False, dump_filter=None),
]


def kernel_writes_cores() -> bool:
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return False
    # A pipe hands cores to a collector, a path puts them elsewhere: only a plain
    # file name (core, core.%p) lands in the process's working directory.
    return bool(pattern) and not pattern.startswith("|") and "/" not in pattern


class NoCore(Exception):
    """The machine writes no core files where this script can find them."""


def _crash(v: CoreVariant, exe: Path, work: Path) -> tuple[Path, str]:
    """Run the program until it aborts; (core file, runtime's stderr)."""
    def limits() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        if v.dump_filter is not None:
            Path("/proc/self/coredump_filter").write_text(f"{v.dump_filter:#x}\n")

    cmd = [str(exe)] if v.goarch == "amd64" else ["qemu-aarch64-static", str(exe)]
    env = dict(os.environ, GOTRACEBACK="crash")
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                       preexec_fn=limits, timeout=120)
    if p.returncode >= 0 and p.returncode != 134:
        raise RuntimeError(f"{exe.name} exited {p.returncode} instead of aborting")
    # qemu-user writes the guest's core as qemu_<prog>_<date>_<pid>.core, then
    # aborts itself, so the kernel may add a "core" of the (amd64) emulator.
    prefix = "qemu_" if v.dump_filter is None else "core"
    found = [f for f in work.iterdir() if f.name.startswith(prefix) and f.is_file()]
    if not found:
        raise NoCore("no core file was written (hard RLIMIT_CORE 0?)")
    return found[0], p.stderr



def make(v: CoreVariant, root: Path, force: bool) -> str:
    d = root / v.dirname
    meta_path = d / "core.meta.json"
    if meta_path.is_file() and not force:
        return f"cached  {v.dirname}"
    if v.dump_filter is not None and not kernel_writes_cores():
        return f"skipped {v.dirname}: core_pattern pipes cores to a collector"
    if v.goarch == "arm64" and shutil.which("qemu-aarch64-static") is None:
        return f"skipped {v.dirname}: no qemu-aarch64-static"
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gosym-core-") as td:
        work = Path(td)
        exe = work / "crash"
        flags = ["-buildmode=pie"] if v.pie else []
        subprocess.run([str(toolchains.go_bin(v.go_version)), "build", *flags, "-o", str(exe), "."],
                       cwd=HERE / "crash", check=True,
                       env=toolchains.build_env(v.go_version, GOOS="linux", GOARCH=v.goarch))
        try:
            core, dump = _crash(v, exe, work)
        except NoCore as e:
            return f"skipped {v.dirname}: {e}"
        shutil.move(str(exe), d / "crash")
        shutil.move(str(core), d / "core")
    (d / "dump.txt").write_text(dump)
    meta = {
        "kind": "core", "package": "crash", "version": v.go_version, "variant": v.name,
        "goos": "linux", "goarch": v.goarch, "pie": v.pie,
        "coredump_filter": None if v.dump_filter is None else f"{v.dump_filter:#x}",
        "written_by": "kernel" if v.dump_filter is not None else "qemu-user",
        "executable": "crash", "core": "core", "dump": "dump.txt",
        "go_version": "go" + v.go_version,
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return f"made    {v.dirname} ({(d / 'core').stat().st_size >> 20} MiB core)"
