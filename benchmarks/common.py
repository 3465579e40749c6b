"""Shared helpers for the benchmarks: wall time and peak RSS of a subprocess.

Each measured command runs as a child process; ``os.wait4`` returns that one
child's wall and CPU time. Its ``ru_maxrss`` starts at this process's own RSS
(Linux carries the parent's over the fork), so the peak RSS comes from a run
started through GNU time where that is installed (see run_once). Output goes
to /dev/null by default, or to a file when the caller wants to compare it.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
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


def gosym_script() -> list[str]:
    """The gosym entry point installed for this interpreter, run directly.

    PATH may lead to a version manager's shim first (pyenv's is a bash script
    that runs `pyenv exec`, ~60 ms per start); like the Go tools, which are run
    as the tool binaries rather than through `go tool`, gosym is measured
    without a launcher in front of it.
    """
    script = Path(sysconfig.get_path("scripts")) / "gosym"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return gosym_cmd()


@dataclass(frozen=True)
class Install:
    """One gosym installation to measure: a label and the command that runs it."""

    label: str
    argv: list[str]

    @property
    def python(self) -> str:
        """The interpreter the installation runs in (from the script's #! line),
        for measuring it as a library."""
        script = Path(self.argv[0])
        if len(self.argv) > 1 or not script.is_file():
            return self.argv[0]
        with open(script, "rb") as f:
            first = f.readline()
        if first.startswith(b"#!"):
            return first[2:].decode().split()[0]
        return sys.executable


def installations(extra: Sequence[str] = ()) -> list[Install]:
    """This interpreter's gosym, then each ``--gosym [LABEL=]CMD``.

    Without a label, a script in ``<dir>/.venv/bin/`` is called ``<dir>``
    (``/work/baseline/.venv/bin/gosym`` -> ``baseline``)."""
    out = [Install("gosym", gosym_script())]
    for spec in extra:
        label, sep, cmd = spec.partition("=")
        if not sep or "/" in label or " " in label:
            label, cmd = "", spec
        argv = shlex.split(cmd)
        if not label:
            p = Path(argv[0]).resolve() if Path(argv[0]).exists() else Path(argv[0])
            parts = p.parts
            label = parts[-4] if len(parts) >= 4 and parts[-3] == ".venv" else p.name
        if any(i.label == label for i in out):
            label = f"{label}#{len(out)}"
        out.append(Install(label, argv))
    return out


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    maxrss: int  # bytes (peak resident set size of the child)
    user: float
    sys: float
    status: int  # exit status, negative for a signal
    out_size: int  # bytes written to stdout


GNU_TIME = "/usr/bin/time"


@functools.lru_cache(maxsize=None)
def gnu_time() -> str | None:
    """GNU time, if installed (Debian package `time`)."""
    try:
        p = subprocess.run([GNU_TIME, "--version"], capture_output=True, text=True)
    except OSError:
        return None
    return GNU_TIME if "GNU" in p.stdout + p.stderr else None


def run_once(argv: Sequence[str], stdout_path: str | os.PathLike | None = None,
             env: dict | None = None, stdin_path: str | os.PathLike | None = None,
             quiet: bool = False, exact_rss: bool = False) -> Run:
    """Run argv once; stdin from a file (or /dev/null), stdout to a file (or
    /dev/null), stderr inherited (or /dev/null if quiet).

    Linux starts a child's peak RSS at its parent's RSS at the fork (exec
    keeps the higher of the two), so a command started from this Python
    process never measures below ~15 MB, and below hundreds of MB after the
    process has read a big file. With exact_rss, GNU time (a ~1 MB process)
    starts the command where it is installed and reports the command's own
    peak (%M); that costs its fork and exec in wall time, so timed runs go
    without it and take their peak RSS from such a run (see Measurement)."""
    target = os.devnull if stdout_path is None else str(stdout_path)
    source = os.devnull if stdin_path is None else str(stdin_path)
    timer = gnu_time() if exact_rss else None
    rss_file = None
    if timer is not None:
        fd, rss_file = tempfile.mkstemp(prefix="gosym-bench-rss-")
        os.close(fd)
        argv = [timer, "-f", "%M", "-o", rss_file, "--"] + list(argv)
    try:
        with open(target, "wb") as out, open(source, "rb") as inp:
            t0 = time.perf_counter()
            proc = subprocess.Popen(list(argv), stdout=out, stdin=inp, env=env,
                                    stderr=subprocess.DEVNULL if quiet else None)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss is in kilobytes on Linux, bytes on macOS.
        rss = ru.ru_maxrss if sys.platform == "darwin" else ru.ru_maxrss * 1024
        if rss_file is not None:
            lines = Path(rss_file).read_text().split()
            if lines and lines[-1].isdigit():
                rss = int(lines[-1]) * 1024
    finally:
        if rss_file is not None:
            os.unlink(rss_file)
    size = os.path.getsize(target) if stdout_path is not None else 0
    return Run(wall, rss, ru.ru_utime, ru.ru_stime, proc.returncode, size)


@dataclass
class Measurement:
    """Repeated runs of one command; summary by best (min) or median."""

    label: str
    argv: list[str]
    runs: list[Run] = field(default_factory=list)
    stdin_path: str | None = None
    # Peak RSS of runs started through GNU time (run_once's exact_rss), when
    # there were any; the timed runs' own figures include the parent's RSS.
    exact_rss: list[int] = field(default_factory=list)

    def add(self, run: Run) -> None:
        self.runs.append(run)

    def add_rss_run(self, env: dict | None = None, quiet: bool = False) -> None:
        """One untimed run for the peak RSS (it also fills the page cache)."""
        r = run_once(self.argv, None, env, self.stdin_path, quiet=quiet,
                     exact_rss=gnu_time() is not None)
        if gnu_time() is not None:
            self.exact_rss.append(r.maxrss)

    def wall(self, how: str = "best") -> float:
        ws = [r.wall for r in self.runs]
        return min(ws) if how == "best" else statistics.median(ws)

    def cpu(self, how: str = "best") -> float:
        """user + sys seconds (all threads of the process)."""
        cs = [r.user + r.sys for r in self.runs]
        return min(cs) if how == "best" else statistics.median(cs)

    def maxrss(self, how: str = "best") -> int:
        rs = self.exact_rss or [r.maxrss for r in self.runs]
        return min(rs) if how == "best" else int(statistics.median(rs))

    @property
    def ok(self) -> bool:
        return all(r.status == 0 for r in self.runs)


def measure(label: str, argv: Sequence[str], repeat: int = 3,
            stdout_path: str | os.PathLike | None = None, warmup: bool = True,
            env: dict | None = None, quiet: bool = False) -> Measurement:
    """Run argv ``repeat`` times (after one untimed warm-up run that fills the
    page cache and measures the peak RSS)."""
    m = Measurement(label, list(argv))
    if warmup:
        m.add_rss_run(env, quiet)
    for _ in range(repeat):
        m.add(run_once(argv, stdout_path, env, quiet=quiet))
    if not warmup:
        m.add_rss_run(env, quiet)
    return m


def interleaved(commands: Sequence[tuple], repeat: int = 3,
                warmup: bool = True, env: dict | None = None) -> list[Measurement]:
    """Measure several commands round-robin so machine load drifts hit all alike.

    commands: (label, argv) or (label, argv, stdin_path) tuples."""
    ms = [Measurement(c[0], list(c[1]), stdin_path=c[2] if len(c) > 2 else None)
          for c in commands]
    for m in ms if warmup else ():
        m.add_rss_run(env)
    for _ in range(repeat):
        for m in ms:
            m.add(run_once(m.argv, None, env, m.stdin_path))
    for m in ms if not warmup else ():
        m.add_rss_run(env)
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


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- gosym commands paired with the Go tool that does the same job ----------------
@dataclass(frozen=True)
class Case:
    """One gosym command on one input, and the Go tool it is compared with."""

    label: str  # "symbolize 1k PCs"
    ref_label: str  # "go tool addr2line"
    ref_argv: list[str]
    gosym_args: list[str]  # after the gosym command (binary included)
    stdin_path: str | None = None


def run_cases(cases: Sequence[Case], installs: Sequence[Install], repeat: int,
              how: str = "best") -> list[dict]:
    """Run every case's Go reference and every installation's gosym round-robin
    (one untimed warm-up each), and summarise each with its ratios to the
    reference: time/Go and RSS/Go."""
    commands = []
    for c in cases:
        commands.append((c.ref_label, c.ref_argv, c.stdin_path))
        for inst in installs:
            commands.append((inst.label, inst.argv + c.gosym_args, c.stdin_path))
    ms = iter(interleaved(commands, repeat=repeat))
    rows = []
    for c in cases:
        ref = next(ms)
        row = {"command": c.label, "reference": summary(ref, how), "gosym": {}}
        for inst in installs:
            m = next(ms)
            sm = summary(m, how)
            sm["time_ratio"] = round(m.wall(how) / ref.wall(how), 3)
            sm["cpu_ratio"] = round(m.cpu(how) / max(ref.cpu(how), 1e-3), 3)
            sm["rss_ratio"] = round(m.maxrss(how) / ref.maxrss(how), 3)
            row["gosym"][inst.label] = sm
        rows.append(row)
    return rows


def summary(m: Measurement, how: str) -> dict:
    return {"label": m.label, "argv": m.argv, "wall_s": round(m.wall(how), 4),
            "cpu_s": round(m.cpu(how), 4), "peak_rss_bytes": m.maxrss(how), "ok": m.ok,
            "runs_s": [round(r.wall, 4) for r in m.runs]}


def print_cases(title: str, rows: Sequence[dict], out=sys.stdout) -> None:
    """One block per binary: each command's Go reference, then every gosym run
    with its wall-time, CPU-time (user+sys) and peak-RSS ratios to it."""
    print(f"\n== {title}", file=out)
    header = f"{'command':<22} {'run by':<22} {'wall':>8} {'CPU':>8} {'peak RSS':>8} " \
             f"{'time/Go':>7} {'CPU/Go':>7} {'RSS/Go':>7}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        ref = r["reference"]
        print(f"{r['command']:<22} {ref['label'][:22]:<22} {fmt_s(ref['wall_s']):>8} "
              f"{fmt_s(ref['cpu_s']):>8} {fmt_mb(ref['peak_rss_bytes']):>8}"
              + ("" if ref["ok"] else "  FAILED"), file=out)
        for label, g in r["gosym"].items():
            print(f"{'':<22} {label[:22]:<22} {fmt_s(g['wall_s']):>8} {fmt_s(g['cpu_s']):>8} "
                  f"{fmt_mb(g['peak_rss_bytes']):>8} {g['time_ratio']:>6.2f}x "
                  f"{g['cpu_ratio']:>6.2f}x {g['rss_ratio']:>6.2f}x"
                  + ("" if g["ok"] else "  FAILED"), file=out)


def results_dir() -> Path:
    return cache_dir() / "bench" / "results"


def save_results(kind: str, doc: dict) -> Path:
    """Write one run's results as $GOSYM_CACHE/bench/results/<kind>-<UTC time>.json."""
    d = results_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def latest_results(kind: str) -> Path | None:
    found = sorted(results_dir().glob(f"{kind}-*.json"))
    return found[-1] if found else None


def run_meta(installs: Sequence[Install], repeat: int, how: str) -> dict:
    if gnu_time() is None:
        print("bench: GNU time (/usr/bin/time, Debian package `time`) is missing: peak RSS "
              "figures include this process's own (~15 MB or more)", file=sys.stderr)
    return {"machine": machine_line(), "load_average_start": load_average(),
            "repeat": repeat, "summary": how, "peak_rss_by": "GNU time" if gnu_time() else
            "wait4 (includes the parent's RSS)",
            "installations": {i.label: i.argv for i in installs}}


def binary_meta(b) -> dict:
    """What the results keep of a bins.BenchBinary."""
    return {"size": b.size, "title": b.title, "description": b.describe(), "path": str(b.path),
            "bytes": b.nbytes, "functions": b.functions, "has_symbols": b.has_symbols,
            "go_version": b.meta.get("go_version")}
