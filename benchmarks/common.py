"""Shared helpers for the benchmarks: wall time and peak RSS of a subprocess.

Each measured command runs as a child process; ``os.wait4`` returns that one
child's resource usage, so ``ru_maxrss`` is the peak RSS of the command itself
(not of the benchmark script). Output goes to /dev/null by default, or to a
file when the caller wants to compare it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("GOSYM_CACHE") or Path.home() / ".cache" / "gosym")


def go_tool(version: str = "1.24.11") -> str:
    """The go command of a cached toolchain (falls back to go on PATH)."""
    go = cache_dir() / "go" / version / "go" / "bin" / "go"
    if go.exists():
        return str(go)
    found = shutil.which("go")
    if found is None:
        raise SystemExit(f"no go toolchain: {go} missing and none on PATH")
    return found


def gosym_cmd() -> list[str]:
    """How to run gosym: the installed script, else ``python -m gosym.cli``."""
    found = shutil.which("gosym")
    if found:
        return [found]
    return [sys.executable, "-c", "from gosym.cli import main; main()"]


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    maxrss: int  # bytes (peak resident set size of the child)
    user: float
    sys: float
    status: int  # exit status, negative for a signal
    out_size: int  # bytes written to stdout


def run_once(argv: Sequence[str], stdout_path: str | os.PathLike | None = None,
             env: dict | None = None) -> Run:
    """Run argv once; stdout to a file (or /dev/null), stderr inherited."""
    target = os.devnull if stdout_path is None else str(stdout_path)
    with open(target, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stdin=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    size = os.path.getsize(target) if stdout_path is not None else 0
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    rss = ru.ru_maxrss if sys.platform == "darwin" else ru.ru_maxrss * 1024
    return Run(wall, rss, ru.ru_utime, ru.ru_stime, proc.returncode, size)


@dataclass
class Measurement:
    """Repeated runs of one command; summary by best (min) or median."""

    label: str
    argv: list[str]
    runs: list[Run] = field(default_factory=list)

    def add(self, run: Run) -> None:
        self.runs.append(run)

    def wall(self, how: str = "best") -> float:
        ws = [r.wall for r in self.runs]
        return min(ws) if how == "best" else statistics.median(ws)

    def maxrss(self, how: str = "best") -> int:
        rs = [r.maxrss for r in self.runs]
        return min(rs) if how == "best" else int(statistics.median(rs))

    @property
    def ok(self) -> bool:
        return all(r.status == 0 for r in self.runs)


def measure(label: str, argv: Sequence[str], repeat: int = 3,
            stdout_path: str | os.PathLike | None = None, warmup: bool = True,
            env: dict | None = None) -> Measurement:
    """Run argv ``repeat`` times (after one untimed warm-up run that fills the page cache)."""
    m = Measurement(label, list(argv))
    if warmup:
        run_once(argv, None, env)
    for _ in range(repeat):
        m.add(run_once(argv, stdout_path, env))
    return m


def interleaved(commands: Sequence[tuple[str, Sequence[str]]], repeat: int = 3,
                warmup: bool = True, env: dict | None = None) -> list[Measurement]:
    """Measure several commands round-robin so machine load drifts hit all alike."""
    ms = [Measurement(label, list(argv)) for label, argv in commands]
    if warmup:
        for m in ms:
            run_once(m.argv, None, env)
    for _ in range(repeat):
        for m in ms:
            m.add(run_once(m.argv, None, env))
    return ms


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.0f} MB" if nbytes >= 10e6 else f"{nbytes / 1e6:.1f} MB"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def machine_line() -> str:
    """Date, core count and CPU model, for the README's measured tables."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"{date}, {os.cpu_count()} cores{', ' + model if model else ''}, " \
           f"Python {sys.version.split()[0]}"
