#!/usr/bin/env python3
"""`gosym symbolize` and `gosym stack` against `go tool addr2line` on the same PCs, on binaries of every size.

For each binary (default: every size of bins.py that is there) and each count
N (default 1k and 100k), N random return addresses inside functions are
picked by gobench from debug/gosym's table (the same list for every gosym
installation, cached under $GOSYM_CACHE/bench/pcs/), and

    gosym symbolize --format addr2line BINARY < pcs
    gosym stack BINARY < pcs                  (the first --stack-depth PCs)
    <GOROOT>/pkg/tool/<os_arch>/addr2line BINARY < pcs

run as their own processes, round-robin, best of --repeat (after one
untimed warm-up each). Reported: wall time and peak RSS and their ratios to
addr2line on the same input. addr2line is the tool binary itself, so the go
command's start-up is not counted; gosym is its installed entry point. gosym
does more per PC than addr2line (pc-1 return-address lookups, inline
expansion, wrapper elision; stack adds frame sizes and per-package sums), so
the comparison is conservative.

addr2line takes the text start from the symbol table, else from the .text
section: on a stripped, externally linked binary (hugo: C code precedes
runtime.text) its answers are shifted to other functions. It still does one
lookup per PC, so its time is a fair reference, not its output.

    python benchmarks/bench_symbolize.py [--sizes small,compiler,hugo,big] [--binary PATH]
        [--counts 1000,100000] [--stack-depth 100] [--repeat N] [--median]
        [--gosym [LABEL=]CMD] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bins  # noqa: E402
from common import (Case, binary_meta, installations, print_cases, run_cases,  # noqa: E402
                    run_meta, save_results)


def count_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None,
                    help=f"comma list of {', '.join(bins.SIZES)} (default: all that are there)")
    ap.add_argument("--binary", type=Path, action="append", default=[],
                    help="measure this file instead of the sizes (repeatable)")
    ap.add_argument("--counts", default="1000,100000", help="PC list lengths for symbolize")
    ap.add_argument("--stack-depth", type=int, default=100,
                    help="PCs in the stack given to `gosym stack` (0: skip it)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--median", action="store_true", help="report medians instead of best runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gosym", action="append", default=[], metavar="[LABEL=]CMD",
                    help="also measure this gosym command (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    how = "median" if args.median else "best"
    installs = installations(args.gosym)
    counts = [int(x) for x in args.counts.split(",") if x.strip()]
    binaries = bins.select(args.sizes, args.binary)
    if not binaries:
        print("bench_symbolize: no binaries to measure", file=sys.stderr)
        return 1
    a2l = str(bins.go_tool("addr2line"))
    doc = {"kind": "symbolize", "meta": run_meta(installs, args.repeat, how), "binaries": []}
    if not args.json:
        print(f"machine: {doc['meta']['machine']}; load average {doc['meta']['load_average_start']}"
              f"; {how} of {args.repeat} runs")
    with tempfile.TemporaryDirectory(prefix="gosym-bench-") as td:
        for b in binaries:
            path = str(b.path)
            cases = []
            for n in counts:
                pcs = bins.random_pcs(b.path, n, args.seed)
                cases.append(Case(f"symbolize {count_label(n)} PCs", "go tool addr2line",
                                  [a2l, path], ["symbolize", "--format", "addr2line", path],
                                  str(pcs)))
            if args.stack_depth:
                pcs = bins.random_pcs(b.path, max(counts + [args.stack_depth]), args.seed)
                stack = Path(td) / f"{b.size}-stack.txt"
                stack.write_text("".join(pcs.read_text().splitlines(True)[:args.stack_depth]))
                cases.append(Case(f"stack {args.stack_depth} PCs", "go tool addr2line",
                                  [a2l, path], ["stack", path], str(stack)))
            rows = run_cases(cases, installs, args.repeat, how)
            doc["binaries"].append({**binary_meta(b), "cases": rows})
            if not args.json:
                print_cases(b.describe(), rows)
                sys.stdout.flush()
    path = save_results("symbolize", doc)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"\nresults: {path}")
    ok = all(r["reference"]["ok"] and all(g["ok"] for g in r["gosym"].values())
             for b in doc["binaries"] for r in b["cases"])
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
