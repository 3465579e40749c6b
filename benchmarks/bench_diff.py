#!/usr/bin/env python3
"""Speed and memory of `gosym diff OLD NEW` against `go tool nm -size` on both files.

Default pair: the big binary of build_big.py ($GOSYM_CACHE/big/awsbig, ~400k
functions) and the same program rebuilt with inlining off everywhere
(-gcflags=all=-l: $GOSYM_CACHE/big/awsbig-noinline, made by ``--build``; tens
of minutes on one core, like the big binary itself), so that almost every
function changes. Without them the largest pair at hand is used and named:
the Go compiler (go/pkg/tool/linux_amd64/compile) of the two newest cached
toolchains.

The gosym commands and the two nm runs go round-robin after one untimed
warm-up each; the ratio is gosym's time (best of --repeat, or median) over
the sum of the two nm times: nm on both files together.

    python benchmarks/bench_diff.py [--old PATH --new PATH] [--repeat N] [--json]
    python benchmarks/bench_diff.py --build     # build awsbig-noinline first
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
import build_big  # noqa: E402
import bins  # noqa: E402
from common import (cache_dir, fmt_mb, fmt_s, gosym_cmd, interleaved,  # noqa: E402
                    machine_line)

COMMANDS = [
    ("gosym diff", ["diff"]),
    ("gosym diff --json", ["diff", "--json"]),
    ("gosym diff --top 50", ["diff", "--top", "50"]),
]


def big_pair() -> tuple[Path, Path]:
    d = cache_dir() / "big"
    return d / "awsbig", d / "awsbig-noinline"


def fallback_pair() -> tuple[Path, Path] | None:
    """The compiler of the two newest cached toolchains (unstripped, ~20k functions)."""
    found = []
    for v in sorted((cache_dir() / "go").glob("*"), key=lambda p: build_key(p.name)):
        c = v / "go" / "pkg" / "tool" / "linux_amd64" / "compile"
        if c.is_file():
            found.append(c)
    return (found[-2], found[-1]) if len(found) >= 2 else None


def build_key(version: str) -> tuple:
    try:
        return tuple(int(x) for x in version.split("."))
    except ValueError:
        return ()


def build_noinline(jobs: int) -> Path:
    """The big program rebuilt with -gcflags=all=-l (no inlining anywhere)."""
    _, target = big_pair()
    if target.exists():
        return target
    go = cache_dir() / "go" / build_big.GO_VERSION / "go" / "bin" / "go"
    if not go.exists():
        raise SystemExit(f"bench_diff: {go} missing: run `make toolchains` first")
    build_big.ensure_sdk()
    svcs = build_big.services()
    gopath = cache_dir() / "big" / "gopath"
    src = gopath / "src" / "awsbig"
    src.mkdir(parents=True, exist_ok=True)
    (src / "main.go").write_text(build_big.program(svcs))
    env = {**os.environ, "GO111MODULE": "off",
           "GOPATH": f"{gopath}:{build_big.GOPATH_DEB}", "GOPROXY": "off",
           "GOTOOLCHAIN": "local", "GOFLAGS": "", "CGO_ENABLED": "0",
           "GOCACHE": str(cache_dir() / "gocache" / "big"), "GOOS": "linux", "GOARCH": "amd64"}
    print(f"bench_diff: building {target} (-gcflags=all=-l, -p {jobs})", flush=True)
    cmd = ["nice", "-n", "10", str(go), "build", "-p", str(jobs), "-trimpath",
           "-gcflags=all=-l", "-o", str(target) + ".tmp", "."]
    subprocess.run(cmd, cwd=src, env=env, check=True)
    os.replace(str(target) + ".tmp", target)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, help="OLD binary (default: $GOSYM_CACHE/big/awsbig)")
    ap.add_argument("--new", type=Path,
                    help="NEW binary (default: $GOSYM_CACHE/big/awsbig-noinline)")
    ap.add_argument("--build", action="store_true",
                    help="build awsbig-noinline if it is missing (needs the big binary's SDK)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="go build -p for --build")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command (default 3)")
    ap.add_argument("--median", action="store_true", help="report medians instead of best runs")
    ap.add_argument("--gosym", metavar="CMD", default=None,
                    help="command that runs gosym (default: the installed `gosym`)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if args.build:
        build_noinline(args.jobs)
    note = ""
    if args.old or args.new:
        if not (args.old and args.new):
            ap.error("--old and --new go together")
        old, new = args.old, args.new
    else:
        old, new = big_pair()
        if not (old.exists() and new.exists()):
            pair = fallback_pair()
            if pair is None:
                print("bench_diff: no big pair (make big; bench_diff.py --build) and no cached "
                      "toolchains to fall back on", file=sys.stderr)
                return 1
            missing = [str(p) for p in (old, new) if not p.exists()]
            note = (f"{', '.join(missing)} not built (make big; python benchmarks/bench_diff.py "
                    f"--build): measured on the largest pair at hand instead")
            old, new = pair
    for p in (old, new):
        if not p.exists():
            print(f"bench_diff: {p} missing", file=sys.stderr)
            return 1
    how = "median" if args.median else "best"
    nm = [str(bins.go_tool("nm"))]  # the tool itself: not the go command's start-up
    gosym = shlex.split(args.gosym) if args.gosym else gosym_cmd()
    commands = [("go tool nm -size OLD", nm + ["-size", str(old)]),
                ("go tool nm -size NEW", nm + ["-size", str(new)])]
    commands += [(label, gosym + argv + [str(old), str(new)]) for label, argv in COMMANDS]
    ms = interleaved(commands, repeat=args.repeat)
    base_wall = ms[0].wall(how) + ms[1].wall(how)
    base_rss = max(ms[0].maxrss(how), ms[1].maxrss(how))
    rows = []
    for m in ms:
        rows.append({"command": m.label, "wall_s": round(m.wall(how), 4),
                     "peak_rss_bytes": m.maxrss(how),
                     "time_ratio": round(m.wall(how) / base_wall, 3),
                     "rss_ratio": round(m.maxrss(how) / base_rss, 3), "ok": m.ok,
                     "runs_s": [round(r.wall, 4) for r in m.runs]})
    nfunc = {}
    try:
        import gosym as g
        for label, p in (("old", old), ("new", new)):
            with g.open(str(p)) as b:
                nfunc[label] = len(b)
    except Exception:
        pass
    meta = {"old": str(old), "new": str(new), "functions": nfunc, "note": note,
            "repeat": args.repeat, "summary": how, "machine": machine_line(),
            "baseline": "go tool nm -size OLD + go tool nm -size NEW"}
    if args.json:
        print(json.dumps({"meta": meta, "results": rows}, indent=2))
        return 0 if all(r["ok"] for r in rows) else 1
    if note:
        print(f"note: {note}")
    for label, p in (("OLD", old), ("NEW", new)):
        n = nfunc.get(label.lower())
        print(f"{label}: {p} ({fmt_mb(p.stat().st_size)}" + (f", {n} functions" if n else "") + ")")
    print(f"machine: {meta['machine']}; {how} of {args.repeat} runs; ratios are to nm on both "
          f"files ({fmt_s(base_wall)}, the larger peak RSS {fmt_mb(base_rss)})")
    header = f"{'command':<24} {'wall':>9} {'peak RSS':>9} {'time/nm':>8} {'RSS/nm':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['command']:<24} {fmt_s(r['wall_s']):>9} {fmt_mb(r['peak_rss_bytes']):>9} "
              f"{r['time_ratio']:>7.2f}x {r['rss_ratio']:>6.2f}x" + ("" if r["ok"] else "  FAILED"))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
