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

Measured (2 cores, shared; Go 1.24.11 addr2line; best of 3):
see the numbers recorded in the commit that last changed this file and the
table printed by the run (they vary with machine load).
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
    cands = sorted((cache_dir() / "testbins").glob("*/linux-amd64-*/*"),
                   key=lambda p: p.stat().st_size if p.is_file() and not p.suffix else 0)
    cands = [p for p in cands if p.is_file() and not p.suffix]
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


def run_stdin(argv: list[str], stdin_path: str) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit status) of argv reading stdin_path."""
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
    return wall, ru.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    binary = args.binary or default_binary()
    tool = addr2line_tool()
    print(f"# {machine_line()}")
    print(f"# binary {binary} ({binary.stat().st_size / 1e6:.0f} MB); addr2line {tool}")
    print(f"{'N':>7}  {'gosym':>9} {'addr2line':>9} {'ratio':>6}   "
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
            gw, aw = min(r[0] for r in g_runs), min(r[0] for r in a_runs)
            gr, ar = min(r[1] for r in g_runs), min(r[1] for r in a_runs)
            print(f"{n:>7}  {fmt_s(gw):>9} {fmt_s(aw):>9} {gw / aw:>5.2f}x   "
                  f"{fmt_mb(gr):>9} {fmt_mb(ar):>9} {gr / ar:>5.2f}x", flush=True)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    main()
