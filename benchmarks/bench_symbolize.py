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

Measured 2026-11-21 on the 4 MB Go 1.27 linux/amd64 PIE callers test binary
(2 shared cores under heavy load from parallel builds, load average ~15, so
wall times are inflated; CPU = user+sys of the process; best of 3):

      N   wall gosym / a2l        CPU gosym / a2l       peak RSS gosym / a2l
   1000   0.524 s / 0.010 s       0.219 s / 0.006 s     53 MB / 26 MB (2.0x)
  10000   1.057 s / 0.048 s       0.325 s / 0.013 s     85 MB / 34 MB (2.5x)
 100000   1.371 s / 0.178 s (7.7x) 0.534 s / 0.083 s (6.4x) 132 MB / 60 MB (2.2x)

In-process symbolize() (no start-up): 24 µs/PC at 1k, 9.8 µs/PC at 10k,
2.5 µs/PC at 100k with the vectorised decoder; the cached Python stepper
alone needs 31 / 12 / 4.5 µs/PC (and wins below ~100 PCs, where the default
uses it). The rest of gosym's time is process start-up: importing numpy,
pyelftools and click costs ~0.15-0.2 s of CPU before the first PC, which is
why small lists are far from addr2line's 10 ms.

The ~300 MB $GOSYM_CACHE/big/awsbig was not built yet when these were taken;
run this script again with it present (it is the default then).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
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
    gs = gosym_cmd() + ["symbolize", "--format", "addr2line", str(binary)]
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
