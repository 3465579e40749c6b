#!/usr/bin/env python3
"""gosym goroutines on a process with 100,000 goroutines vs runtime.Stack(buf, true).

benchmarks/manygoroutines parks N goroutines (default 100,000; at call depths
1-8, in chan receive, select, mutex and sleep) and times runtime.Stack(buf,
true) on itself, best of 3: the runtime's own dump of every goroutine, for
which it stops the world for the whole call. Then, against that same process,
this runs `gosym goroutines PID` (text) and `gosym goroutines --json PID`,
each as its own process, --repeat times, and prints per run: how long gosym
held the process stopped (as gosym prints it), its wall time, CPU time and
peak RSS, and the output size, next to runtime.Stack's time and size.

    python benchmarks/bench_goroutines.py [-n 100000] [--repeat 3] [--go 1.27.3]

The program is built with the cached toolchain (GOSYM_CACHE/go/<ver>) into
GOSYM_CACHE/bench/manygoroutines-<ver>.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, cache_dir, go_tool, gosym_cmd

SOURCE = REPO / "benchmarks" / "manygoroutines"


def build(version: str) -> Path:
    out = cache_dir() / "bench" / f"manygoroutines-{version}"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod",
               CGO_ENABLED="0", GOCACHE=str(cache_dir() / "gocache" / version))
    subprocess.run([go_tool(version), "build", "-o", str(out), "."], cwd=SOURCE, env=env,
                   check=True)
    return out


def run_gosym(argv: list[str]) -> dict:
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode()
        size = out.tell()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
    m = re.search(r"stopped for ([0-9.]+) ms", err)
    return {"stop_s": float(m.group(1)) / 1000 if m else None, "wall_s": wall,
            "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
            "out_mb": size / 1e6}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="goroutines to park")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--go", default="1.27.3", help="toolchain version in GOSYM_CACHE/go")
    args = ap.parse_args(argv)
    prog = build(args.go)
    with tempfile.TemporaryDirectory(prefix="gosym-bench-") as td:
        proc = subprocess.Popen([str(prog), td, str(args.n)], stdout=subprocess.DEVNULL)
        try:
            ready = Path(td) / "ready"
            deadline = time.monotonic() + 300
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("manygoroutines did not get ready")
                time.sleep(0.2)
            info = json.loads(ready.read_text())
            print(f"{info['go_version']}, {info['goroutines']} goroutines, pid {proc.pid}")
            print(f"runtime.Stack(buf, true) in the process: {info['stack_seconds']:.3f} s "
                  f"(world stopped throughout), {info['stack_bytes'] / 1e6:.1f} MB of text")
            print(f"{'command':<28}{'stopped':>10}{'wall':>9}{'CPU':>9}{'peak RSS':>11}"
                  f"{'output':>10}{'stopped / runtime.Stack':>26}")
            for label, extra in (("gosym goroutines", []), ("gosym goroutines --json",
                                                            ["--json"])):
                for _ in range(args.repeat):
                    r = run_gosym(gosym_cmd() + ["goroutines", *extra, str(proc.pid)])
                    ratio = f"{r['stop_s'] / info['stack_seconds']:.2f}x" if r["stop_s"] else "?"
                    print(f"{label:<28}{r['stop_s']:>9.3f}s{r['wall_s']:>8.2f}s"
                          f"{r['cpu_s']:>8.2f}s{r['rss_mb']:>9.0f}MB{r['out_mb']:>8.1f}MB"
                          f"{ratio:>26}")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
