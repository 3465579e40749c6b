#!/usr/bin/env python3
"""gosym symbolize vs `go tool addr2line` on the same random PC lists.

For a binary and N random return addresses inside functions (N = 1k, 10k,
100k by default), runs

    gosym symbolize --format addr2line BINARY < pcs.txt
    <GOROOT>/pkg/tool/<os_arch>/addr2line BINARY < pcs.txt

(the tool binary itself, so the go command's start-up is not counted; it reads
hex PCs on stdin), each as its own process, interleaved, best of --repeat, and
prints wall time and peak RSS of both and gosym's ratios. gosym does more work
per PC than addr2line (inline expansion, pc-1 return-address lookups, wrapper
elision), so the comparison is conservative.

Default binary: $GOSYM_CACHE/big/awsbig when it exists (~300 MB, ~400k
functions), else the largest linux/amd64 test binary. --binary PATH picks another.

gosym is run as the entry point installed for the interpreter (not through a
version manager's shim, which adds ~60 ms of bash per start).

Measured 2026-11-21 22:30 UTC, 2 shared cores (load average ~2.5 from other
work, so single runs vary by ~30%), best of 5 on awsbig and of 3 elsewhere
(22:17 UTC); wall and CPU minima are taken separately, and CPU = user+sys of
the process, including the threads OpenBLAS starts when numpy is imported
(which is why a CPU figure can exceed the wall one); ratios are gosym /
addr2line:

319 MB awsbig (Go 1.24, 410k functions), the default when present:
      N   wall gosym / a2l           CPU gosym / a2l           peak RSS gosym / a2l
   1000   0.14 s / 0.31 s (0.45x)    0.24 s / 0.36 s (0.66x)   133 MB / 389 MB (0.34x)
  10000   0.17 s / 0.43 s (0.40x)    0.27 s / 0.57 s (0.48x)   147 MB / 362 MB (0.41x)
 100000   0.43 s / 0.47 s (0.90x)    0.53 s / 0.56 s (0.95x)   229 MB / 373 MB (0.61x)
Five such runs between 22:16 and 22:30 gave 0.45x-0.59x at 1k PCs (start-up
bound, so it follows the load) and 0.80x-0.96x at 100k.
(Before the columnar rewrite of symbolize, same machine and load, single runs
through the shim at 22:00 UTC: 0.32-0.36 s vs 0.35-0.36 s at 1k, 1.05-1.08 s
vs 0.64-0.74 s at 100k; the shim accounts for ~0.06 s of each.)

52 MB go-task 3.54 (Go 1.27, 61k functions):
   1000   0.15 s / 0.04 s (4.0x)     0.25 s / 0.05 s (4.8x)    60 MB / 46 MB (1.3x)
  10000   0.21 s / 0.05 s (4.6x)     0.31 s / 0.06 s (5.1x)    112 MB / 47 MB (2.4x)
 100000   0.55 s / 0.18 s (3.1x)     0.65 s / 0.19 s (3.4x)    209 MB / 48 MB (4.4x)

4 MB callers test binary (Go 1.27 PIE, 2.7k functions):
   1000   0.17 s / 0.006 s (27x)     0.26 s / 0.006 s (42x)    50 MB / 25 MB (2.0x)
  10000   0.20 s / 0.013 s (15x)     0.29 s / 0.013 s (23x)    83 MB / 28 MB (3.0x)
 100000   0.31 s / 0.074 s (4.2x)    0.41 s / 0.073 s (5.6x)   120 MB / 34 MB (3.6x)

In-process symbolize() on awsbig (no start-up): 13-15 µs/PC at 1k, 4.3 µs/PC
at 10k, 2.4 µs/PC at 100k with the default (vectorised for many tables); the
cached Python stepper alone needs 20-24 / 9.7 / 7.7 µs/PC, and the
straightforward decoder ~110 µs/PC. What remains of a small run is process
start-up: importing numpy, pyelftools and click costs ~0.13 s of CPU before
the first PC, which is why small binaries and short lists stay far from
addr2line, whose own start-up grows with the binary (it loads the whole symbol
table: 0.3 s and 400 MB on awsbig).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cache_dir, fmt_mb, fmt_s, gosym_cmd, machine_line  # noqa: E402

GO_VERSION = "1.24.11"


def addr2line_tool() -> str:
    goroot = cache_dir() / "go" / GO_VERSION / "go"
    for d in sorted((goroot / "pkg" / "tool").glob("*")):
        tool = d / "addr2line"
        if tool.exists():
            return str(tool)
    raise SystemExit(f"no addr2line in {goroot}/pkg/tool: install the Go {GO_VERSION} toolchain")


def gosym_script() -> list[str]:
    """The gosym entry point installed for this interpreter, run directly.

    PATH may lead to a version manager's shim first (pyenv's is a bash script
    that runs `pyenv exec`, ~60 ms per start); like addr2line, which is run as
    the tool binary rather than through `go tool`, gosym is measured without
    the launcher in front of it.
    """
    script = Path(sysconfig.get_path("scripts")) / "gosym"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return gosym_cmd()


def default_binary() -> Path:
    big = cache_dir() / "big" / "awsbig"
    if big.is_file():
        return big
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from binaries import testbins  # only finished builds (they have a .meta.json)
    cands = sorted((t.path for t in testbins() if t.goos == "linux" and t.goarch == "amd64"),
                   key=lambda p: p.stat().st_size)
    if not cands:
        raise SystemExit("no test binaries: run `make testbins` or pass --binary")
    return cands[-1]


def random_pcs(path: Path, n: int, seed: int) -> list[int]:
    """n random return addresses: a random function, a random byte after its entry."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import gosym
    with gosym.open(str(path)) as b:
        ents = b.table.entries.tolist()
    rnd = random.Random(seed)
    out = []
    nf = len(ents) - 1
    while len(out) < n:
        i = rnd.randrange(nf)
        size = ents[i + 1] - ents[i]
        if size < 2:
            continue
        out.append(ents[i] + rnd.randrange(1, size))
    return out


def in_process(binary: Path, pcs: list[int]) -> tuple[float, float]:
    """Seconds of symbolize() in-process with the Python stepper (cached per
    table) for every lookup vs the vectorised decoder for every lookup."""
    import gosym
    from gosym import symbolize as S
    out = []
    for small in (1 << 62, 0):
        with gosym.open(str(binary)) as b:  # fresh caches
            r = S.Resolver(b, small_batch=small)
            t0 = time.process_time()
            S.symbolize(b, pcs, S.SymbolizeConfig(), r)
            out.append(time.process_time() - t0)
    return out[0], out[1]


def run_stdin(argv: list[str], stdin_path: str) -> tuple[float, int, int, float]:
    """(wall seconds, peak RSS bytes, exit status, CPU seconds) of argv reading stdin_path."""
    with open(stdin_path, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.dup2(fin.fileno(), 0)
                os.dup2(fout.fileno(), 1)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    return wall, ru.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), \
        ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-in-process", action="store_true",
                    help="Skip the in-process comparison of the two lookup strategies.")
    args = ap.parse_args()
    binary = args.binary or default_binary()
    tool = addr2line_tool()
    print(f"# {machine_line()}")
    print(f"# binary {binary} ({binary.stat().st_size / 1e6:.0f} MB); addr2line {tool}")
    print(f"{'N':>7}  {'gosym':>9} {'addr2line':>9} {'ratio':>6}   "
          f"{'gosym CPU':>9} {'a2l CPU':>9} {'ratio':>6}   "
          f"{'gosym RSS':>9} {'a2l RSS':>9} {'ratio':>6}")
    gs = gosym_script() + ["symbolize", "--format", "addr2line", str(binary)]
    a2l = [tool, str(binary)]
    for n in [int(x) for x in args.sizes.split(",")]:
        pcs = random_pcs(binary, n, args.seed)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("".join(f"{p:#x}\n" for p in pcs))
            path = f.name
        try:
            run_stdin(gs, path)  # warm the page cache
            run_stdin(a2l, path)
            g_runs, a_runs = [], []
            for _ in range(args.repeat):
                g_runs.append(run_stdin(gs, path))
                a_runs.append(run_stdin(a2l, path))
            if any(r[2] for r in g_runs + a_runs):
                print(f"warning: non-zero exit: gosym {[r[2] for r in g_runs]}, "
                      f"addr2line {[r[2] for r in a_runs]}", file=sys.stderr)
                g_runs = [r for r in g_runs if r[2] == 0] or g_runs
                a_runs = [r for r in a_runs if r[2] == 0] or a_runs
            gw, aw = min(r[0] for r in g_runs), min(r[0] for r in a_runs)
            gr, ar = min(r[1] for r in g_runs), min(r[1] for r in a_runs)
            gc, ac = min(r[3] for r in g_runs), min(r[3] for r in a_runs)
            print(f"{n:>7}  {fmt_s(gw):>9} {fmt_s(aw):>9} {gw / aw:>5.2f}x   "
                  f"{fmt_s(gc):>9} {fmt_s(ac):>9} {gc / max(ac, 1e-3):>5.2f}x   "
                  f"{fmt_mb(gr):>9} {fmt_mb(ar):>9} {gr / ar:>5.2f}x", flush=True)
            if not args.no_in_process:
                py, vec = in_process(binary, pcs)
                print(f"{'':>7}  in-process symbolize(): Python stepper {fmt_s(py)} "
                      f"({py / n * 1e6:.1f} µs/PC), vectorised {fmt_s(vec)} "
                      f"({vec / n * 1e6:.1f} µs/PC)", flush=True)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    main()
