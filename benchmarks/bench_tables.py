#!/usr/bin/env python3
"""Speed and memory of `gosym info`, `gosym funcs` and `gosym frames` against `go tool nm`.

For one binary (default: the big one from build_big.py) every command runs
``--repeat`` times, round-robin with the nm baselines so load drifts hit all
alike, after one untimed warm-up each (page cache filled). Reported: wall time
and peak RSS (best of the runs by default, ``--median`` for the median), and
the ratio to ``go tool nm -size`` run on the same file in the same run.

    python benchmarks/bench_tables.py [--binary PATH] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (cache_dir, fmt_mb, fmt_s, go_tool, gosym_cmd, interleaved,  # noqa: E402
                    machine_line)

GOSYM_COMMANDS = [
    ("gosym info", ["info"]),
    ("gosym funcs --json", ["funcs", "--json"]),
    ("gosym funcs", ["funcs"]),
    ("gosym frames --json", ["frames", "--json"]),
    ("gosym frames --json --pcs", ["frames", "--json", "--pcs"]),
]
NM_BASE = "go tool nm -size"


def nm_path(go: str) -> list[str]:
    """The nm tool itself, so the go command's own start-up is not measured."""
    tooldir = subprocess.run([go, "env", "GOTOOLDIR"], capture_output=True, text=True,
                             check=True).stdout.strip()
    nm = Path(tooldir) / "nm"
    return [str(nm)] if nm.exists() else [go, "tool", "nm"]


def default_binary() -> Path:
    return cache_dir() / "big" / "awsbig"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", type=Path, default=None,
                    help="Go binary to measure (default: $GOSYM_CACHE/big/awsbig)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command (default 3)")
    ap.add_argument("--median", action="store_true", help="report medians instead of best runs")
    ap.add_argument("--only", action="append", default=[], metavar="LABEL",
                    help="only gosym commands whose label contains LABEL (repeatable)")
    ap.add_argument("--gosym", metavar="CMD", default=None,
                    help="command that runs gosym (default: the installed `gosym`), e.g. to "
                         "compare another checkout: --gosym /other/venv/bin/gosym")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    binary = args.binary or default_binary()
    if not binary.exists():
        print(f"bench_tables: {binary} missing; build it with `make big` "
              "(python benchmarks/build_big.py)", file=sys.stderr)
        return 1
    how = "median" if args.median else "best"
    nm = nm_path(go_tool())
    gosym = shlex.split(args.gosym) if args.gosym else gosym_cmd()
    commands = [(NM_BASE, nm + ["-size", str(binary)]),
                (NM_BASE + " -sort address", nm + ["-size", "-sort", "address", str(binary)])]
    for label, argv in GOSYM_COMMANDS:
        if args.only and not any(o in label for o in args.only):
            continue
        commands.append((label, gosym + argv + [str(binary)]))
    ms = interleaved(commands, repeat=args.repeat)
    base = ms[0]
    rows = []
    for m in ms:
        rows.append({
            "command": m.label,
            "wall_s": round(m.wall(how), 4),
            "peak_rss_bytes": m.maxrss(how),
            "time_ratio": round(m.wall(how) / base.wall(how), 3),
            "rss_ratio": round(m.maxrss(how) / base.maxrss(how), 3),
            "ok": m.ok,
            "runs_s": [round(r.wall, 4) for r in m.runs],
        })
    nfunc = None
    try:
        import gosym
        with gosym.open(str(binary)) as b:
            nfunc = len(b)
    except Exception:
        pass
    meta = {"binary": str(binary), "size_bytes": binary.stat().st_size, "functions": nfunc,
            "repeat": args.repeat, "summary": how, "machine": machine_line()}
    if args.json:
        print(json.dumps({"meta": meta, "results": rows}, indent=2))
        return 0 if all(r["ok"] for r in rows) else 1
    print(f"binary: {binary} ({fmt_mb(meta['size_bytes'])}"
          + (f", {nfunc} functions" if nfunc else "") + ")")
    print(f"machine: {meta['machine']}; {how} of {args.repeat} runs; ratios are to "
          f"`{NM_BASE}`")
    header = f"{'command':<30} {'wall':>9} {'peak RSS':>9} {'time/nm':>8} {'RSS/nm':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['command']:<30} {fmt_s(r['wall_s']):>9} {fmt_mb(r['peak_rss_bytes']):>9} "
              f"{r['time_ratio']:>7.2f}x {r['rss_ratio']:>6.2f}x"
              + ("" if r["ok"] else "  FAILED"))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
