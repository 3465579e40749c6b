#!/usr/bin/env python3
"""gosym symbolize --pprof and gosym depth vs Go's pprof on the same profile.

Makes (once, cached in $GOSYM_CACHE/bench/profiles/) an address-only CPU
profile of --samples samples (default 20,000) of depth 64 over --locations
distinct PCs inside the binary's functions (default 30,000), the kind an
eBPF or perf converter writes for a stripped production binary, then runs,
each as its own process, interleaved, best of --repeat:

    gosym symbolize BINARY --pprof PROFILE -o OUT
    pprof -raw BINARY PROFILE             (symbolizes with the binary's own tables)
    gosym depth OUT
    pprof -top OUT

and prints wall time, CPU and peak RSS of each pair with gosym's ratio. pprof
is the tool binary of a cached toolchain (`go tool -n pprof`), so the go
command's start-up is not counted.

Default binary: $GOSYM_CACHE/big/awsbig (`make big`: ~320 MB, ~410k
functions) when present, else the largest deepprof test binary (say which in
any numbers you report). --binary PATH picks another.

Measured 2026-11-30 16:25 UTC, 2 shared cores under a load average of ~9 from
other builds (so wall times are long and vary; CPU is the steadier figure),
awsbig (319 MB, Go 1.24), 20,000 x 64 over 30,000 locations, best of 3:

  symbolize --pprof  4.32 s / 6.78 s (0.64x)  CPU 1.47 s / 2.66 s (0.55x)  RSS 241 MB / 945 MB
                     vs pprof -raw BINARY PROFILE
  depth              5.32 s / 12.8 s (0.42x)  CPU 1.97 s / 4.59 s (0.43x)  RSS 121 MB / 255 MB
                     vs pprof -top
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

from common import cache_dir, fmt_mb, fmt_s, gosym_cmd, interleaved, machine_line

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PPROF_GO = "1.24.11"


def default_binary() -> Path:
    big = cache_dir() / "big" / "awsbig"
    if big.exists():
        return big
    cands = sorted((cache_dir() / "testbins").glob("*/linux-amd64-default/deepprof"),
                   key=lambda p: p.stat().st_size)
    if not cands:
        raise SystemExit("no binary: run `make big` or build the deepprof test binaries")
    return cands[-1]


def pprof_tool() -> str:
    go = cache_dir() / "go" / PPROF_GO / "go" / "bin" / "go"
    env = dict(os.environ, GOTOOLCHAIN="local", GOPROXY="off",
               GOCACHE=str(cache_dir() / "gocache" / PPROF_GO))
    p = subprocess.run([str(go), "tool", "-n", "pprof"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"cannot find pprof: {p.stderr.strip()}")
    return p.stdout.strip()


def make_profile(binary: Path, out: Path, samples: int, locations: int, depth: int) -> None:
    """Random stacks over random PCs inside the binary's functions; no functions or lines."""
    import gosym
    from gosym.pprof import ProfileBuilder, serialize
    b = gosym.open(str(binary))
    ents = b.table.entries.tolist()
    rnd = random.Random(5)
    pool: list[int] = []
    while len(pool) < locations:
        i = rnd.randrange(len(ents) - 1)
        if ents[i + 1] - ents[i] > 1:
            pool.append(ents[i] + rnd.randrange(1, ents[i + 1] - ents[i]))
    pb = ProfileBuilder(sample_types=[("samples", "count"), ("cpu", "nanoseconds")],
                        default_sample_type="cpu", period_type=("cpu", "nanoseconds"),
                        period=10_000_000)
    text = next(s for s in b.container.sections if s.name in (".text", "__text"))
    m = pb.mapping(text.addr, text.addr + text.size, text.offset, str(binary), "",
                   False, False, False, False)
    locs = [pb.location(a, m) for a in pool]
    for _ in range(samples):
        pb.sample([rnd.choice(locs) for _ in range(depth)], [1, 10_000_000])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(serialize(pb.build()))
    tmp.replace(out)


def report(a, b) -> str:
    ra, rb = a.runs, b.runs
    wall = (a.wall(), b.wall())
    cpu = (min(r.user + r.sys for r in ra), min(r.user + r.sys for r in rb))
    rss = (a.maxrss(), b.maxrss())
    return (f"  {a.label:<24} {fmt_s(wall[0])} / {fmt_s(wall[1])} ({wall[0] / wall[1]:.2f}x)   "
            f"CPU {fmt_s(cpu[0])} / {fmt_s(cpu[1])} ({cpu[0] / cpu[1]:.2f}x)   "
            f"RSS {fmt_mb(rss[0])} / {fmt_mb(rss[1])} ({rss[0] / rss[1]:.2f}x)   vs {b.label}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", type=Path)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--locations", type=int, default=30_000)
    ap.add_argument("--depth", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    binary = (args.binary or default_binary()).resolve()
    work = cache_dir() / "bench" / "profiles"
    prof = work / f"{binary.name}-{args.samples}x{args.depth}-{args.locations}.pb.gz"
    if not prof.exists() or prof.stat().st_mtime < binary.stat().st_mtime:
        print(f"bench_profiles: writing {prof}", file=sys.stderr)
        make_profile(binary, prof, args.samples, args.locations, args.depth)
    sym = work / (prof.name.removesuffix(".pb.gz") + ".sym.pb.gz")
    gosym = gosym_cmd()
    pprof = pprof_tool()
    subprocess.run([*gosym, "symbolize", str(binary), "--pprof", str(prof), "-o", str(sym)],
                   check=True)
    print(machine_line())
    print(f"{binary} ({binary.stat().st_size / 1e6:.0f} MB), {args.samples} samples x "
          f"{args.depth} frames over {args.locations} locations; best of {args.repeat}; "
          "gosym / pprof:")
    sym_cmds = interleaved([
        ("symbolize --pprof", [*gosym, "symbolize", str(binary), "--pprof", str(prof),
                               "-o", os.devnull]),
        ("pprof -raw BINARY", [pprof, "-raw", str(binary), str(prof)]),
    ], repeat=args.repeat)
    depth_cmds = interleaved([
        ("depth", [*gosym, "depth", str(sym)]),
        ("pprof -top", [pprof, "-top", str(sym)]),
    ], repeat=args.repeat)
    ok = all(m.ok for m in sym_cmds + depth_cmds)
    print(report(*sym_cmds))
    print(report(*depth_cmds))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
