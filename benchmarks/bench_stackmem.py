#!/usr/bin/env python3
"""gosym stackmem vs `go tool pprof -top` on the same goroutine profile.

Writes a debug=0 goroutine profile (gzipped profile.proto, as runtime/pprof
writes it: goroutine/count samples, one Location per physical frame with its
address and its inlined frames as Lines, the binary's Mapping) of --goroutines
goroutines (100,000) in --stacks distinct stacks (5,000) of 20 to 150 frames,
for a binary, then runs, each as its own process, interleaved, best of
--repeat:

    gosym stackmem BINARY goroutine.pb.gz          (the text report)
    <pprof tool> -top goroutine.pb.gz              (Go's pprof, its own binary)

and prints wall time, CPU and peak RSS of both and gosym's ratios. pprof only
reads and sums the profile; gosym also looks every frame up in the binary's
tables, finds the hidden frames and writes the report.

The stacks are made of the binary's own call sites, so that gosym's checks of
every caller's call instruction see what they see in real profiles: each
frame's return address follows a CALL in its function; a frame's caller is a
call site that calls its function directly when the sampled call sites hold
one, else an indirect call site (an interface or closure call), as in real
code. Goroutine counts per stack follow a Zipf law (a few stacks hold most
goroutines, as in servers). Default binary: $GOSYM_CACHE/big/awsbig when it
exists (~300 MB, ~400k functions), else the largest linux/amd64 test binary;
--binary PATH picks another.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (cache_dir, fmt_mb, fmt_s, go_tool, gosym_cmd, interleaved,  # noqa: E402
                    machine_line)


def default_binary() -> Path:
    big = cache_dir() / "big" / "awsbig"
    if big.exists():
        return big
    cands = sorted((cache_dir() / "testbins").glob("*/linux-amd64-default/*"),
                   key=lambda p: p.stat().st_size if p.is_file() and os.access(p, os.X_OK) else 0)
    cands = [p for p in cands if p.is_file() and os.access(p, os.X_OK) and "." not in p.name]
    if not cands:
        raise SystemExit("no binary: build the big one (make big) or the test binaries")
    return cands[-1]


def call_sites(b, rng: random.Random, functions: int):
    """Return addresses of CALL instructions in ``functions`` random functions,
    decoded as gosym decodes a return address's call (gosym.callsites):
    {callee entry: [return address]} for direct calls, and a list of the
    return addresses of indirect calls."""
    from gosym.callsites import INDIRECT, CallSites

    cs = CallSites(b)
    entries = b.table.entries
    direct: dict[int, list[int]] = {}
    ends = []
    for fi in rng.sample(range(len(b)), min(functions, len(b))):
        for ret, target in cs.direct_calls_in(fi):
            direct.setdefault(target, []).append(ret)
        ends.append(np.arange(int(entries[fi]) + 2, int(entries[fi + 1]) + 1, dtype=np.int64))
    rets = np.concatenate(ends)
    kinds, _ = cs.calls_at(rets)
    return direct, rets[kinds == INDIRECT].tolist()


def make_profile(binary: Path, goroutines: int, stacks: int, seed: int = 1) -> bytes:
    import gosym
    from gosym.pprof import ProfileBuilder, serialize

    rng = random.Random(seed)
    b = gosym.open(str(binary))
    direct, indirect = call_sites(b, rng, 20000)
    if not indirect:
        raise SystemExit("no indirect call sites found in the sampled functions")
    entries = b.table.entries.tolist()
    all_sites = [r for rs in direct.values() for r in rs] + indirect

    def func_entry(pc: int) -> int:
        return entries[bisect.bisect_right(entries, pc) - 1]

    stack_pcs = []
    for _ in range(stacks):
        depth = rng.randint(20, 150)
        pc = rng.choice(all_sites)  # the leaf: suspended in a call
        pcs = [pc]
        while len(pcs) < depth:
            callers = direct.get(func_entry(pcs[-1]))
            pcs.append(rng.choice(callers) if callers and rng.random() < 0.9
                       else rng.choice(indirect))
        stack_pcs.append(pcs)
    # Zipf counts adding up to `goroutines`
    weights = np.array([1.0 / (k + 1) for k in range(stacks)])
    counts = np.maximum(1, np.floor(weights / weights.sum() * goroutines)).astype(int)
    counts[0] += goroutines - int(counts.sum())
    text = b.container.section(".text") or b.container.section("__text")
    pb = ProfileBuilder(sample_types=[("goroutine", "count")], default_sample_type="",
                        period_type=("goroutine", "count"), period=1)
    mid = pb.mapping(text.addr - (text.offset % 4096), text.addr + text.size,
                     text.offset - (text.offset % 4096), str(binary))
    uniq = sorted({pc for pcs in stack_pcs for pc in pcs})
    # each call PC's logical frames, innermost first (one batch)
    batch = b.lookup_pcs(np.array(uniq, np.uint64) - np.uint64(1), exact=True)
    loc_of: dict[int, int] = {}
    for k, pc in enumerate(uniq):
        lines = [(pb.function(f.function, f.function, f.file or "", 0), f.line or 0)
                 for f in batch.frames_of(k)]
        loc_of[pc] = pb.location(pc - 1, mid, lines)
    for pcs, n in zip(stack_pcs, counts.tolist()):
        pb.sample([loc_of[pc] for pc in pcs], [n])
    b.close()
    return serialize(pb.build())


def pprof_tool() -> list[str]:
    """The pprof binary itself (built by the go command on first use)."""
    go = go_tool("1.27.3")
    env = dict(os.environ, GOTOOLCHAIN="local", GOPROXY="off",
               GOCACHE=str(cache_dir() / "gocache" / "1.27.3"))
    p = subprocess.run([go, "tool", "-n", "pprof"], capture_output=True, text=True, env=env)
    if p.returncode == 0 and p.stdout.strip():
        return [p.stdout.strip()]
    return [go, "tool", "pprof"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--goroutines", type=int, default=100_000)
    ap.add_argument("--stacks", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-profile", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    binary = args.binary or default_binary()
    if args.write_profile:
        args.write_profile.write_bytes(make_profile(binary, args.goroutines, args.stacks))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-stackmem-") as td:
        prof = Path(td) / "goroutine.pb.gz"
        # in a process of its own: a child's peak RSS counts the memory of the
        # process it was forked from, which must stay small
        subprocess.run([sys.executable, __file__, "--binary", str(binary), "--goroutines",
                        str(args.goroutines), "--stacks", str(args.stacks),
                        "--write-profile", str(prof)], check=True)
        print(f"binary: {binary} ({binary.stat().st_size / 1e6:.0f} MB)")
        print(f"profile: {args.goroutines:,} goroutines in {args.stacks:,} stacks of 20-150 "
              f"frames, {prof.stat().st_size / 1e6:.1f} MB")
        print(machine_line())
        pprof = pprof_tool()
        # Python's bytecode cache as an installed package has it (pip compiles
        # it), kept out of the source tree: the warm-up run writes it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(td) / "pycache")
        ms = interleaved([("gosym stackmem", gosym_cmd() + ["stackmem", str(binary), str(prof)]),
                          ("pprof -top", pprof + ["-top", str(prof)])],
                         repeat=args.repeat, env=env)
        for m in ms:
            if not m.ok:
                raise SystemExit(f"{m.label} failed: {[r.status for r in m.runs]}")
        g, p = ms
        cpu = [min(r.user + r.sys for r in m.runs) for m in ms]
        print(f"{'':16s} {'wall':>9s} {'CPU':>9s} {'peak RSS':>9s}")
        for m, c in zip(ms, cpu):
            print(f"{m.label:16s} {fmt_s(m.wall()):>9s} {fmt_s(c):>9s} {fmt_mb(m.maxrss()):>9s}")
        print(f"ratio gosym / pprof: wall {g.wall() / p.wall():.2f}x, CPU {cpu[0] / cpu[1]:.2f}x, "
              f"peak RSS {g.maxrss() / p.maxrss():.2f}x (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
