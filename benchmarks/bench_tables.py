#!/usr/bin/env python3
"""The table commands (`info`, `funcs`, `frames`) against Go's tools, on binaries of every size.

For each binary (default: every size of bins.py that is there: a ~2 MB
program, the ~21 MB Go compiler, hugo at ~89 MB, the ~319 MB big one) each
command runs ``--repeat`` times round-robin with the Go tool that does the same
job on the same file, after one untimed warm-up each (page cache filled):

| gosym                    | Go reference                                               |
| ------------------------ | ---------------------------------------------------------- |
| info                     | go version -m (build info)                                 |
| funcs --json, funcs,     | go tool nm -size; on a stripped file (no symbols for nm)   |
| frames --json,           | gosymref, the function table as debug/gosym decodes it     |
| frames --json --pcs      |                                                            |

Reported: wall time and peak RSS (best of the runs, ``--median`` for the
median) and both as ratios to the reference. ``--gosym [LABEL=]CMD``
(repeatable) measures other installations in the same rounds, e.g. a
checkout before a change. Results also go to $GOSYM_CACHE/bench/results/
(readme_table.py reads them).

    python benchmarks/bench_tables.py [--sizes small,compiler,hugo,big] [--binary PATH]
        [--repeat N] [--median] [--only LABEL] [--gosym [LABEL=]CMD] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bins  # noqa: E402
from common import (Case, binary_meta, installations, print_cases, run_cases,  # noqa: E402
                    run_meta, save_results)

GOSYM_COMMANDS = [
    ("info", ["info"]),
    ("funcs --json", ["funcs", "--json"]),
    ("funcs", ["funcs"]),
    ("frames --json", ["frames", "--json"]),
    ("frames --json --pcs", ["frames", "--json", "--pcs"]),
]


def cases_for(b: bins.BenchBinary, only: list[str]) -> list[Case]:
    path = str(b.path)
    if b.has_symbols:
        table_ref = ("go tool nm -size", [str(bins.go_tool("nm")), "-size", path])
    else:
        table_ref = ("gosymref (debug/gosym)", [str(bins.gosymref_tool()), path])
    out = []
    for label, args in GOSYM_COMMANDS:
        if only and not any(o in label for o in only):
            continue
        if label == "info":
            ref = ("go version -m", [str(bins.go_cmd()), "version", "-m", path])
        else:
            ref = table_ref
        out.append(Case(label, ref[0], ref[1], args + [path]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None,
                    help=f"comma list of {', '.join(bins.SIZES)} (default: all that are there)")
    ap.add_argument("--binary", type=Path, action="append", default=[],
                    help="measure this file instead of the sizes (repeatable)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command (default 3)")
    ap.add_argument("--median", action="store_true", help="report medians instead of best runs")
    ap.add_argument("--only", action="append", default=[], metavar="LABEL",
                    help="only commands whose label contains LABEL (repeatable)")
    ap.add_argument("--gosym", action="append", default=[], metavar="[LABEL=]CMD",
                    help="also measure this gosym command (repeatable), e.g. "
                         "--gosym before=/other/.venv/bin/gosym")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    how = "median" if args.median else "best"
    installs = installations(args.gosym)
    binaries = bins.select(args.sizes, args.binary)
    if not binaries:
        print("bench_tables: no binaries to measure", file=sys.stderr)
        return 1
    doc = {"kind": "tables", "meta": run_meta(installs, args.repeat, how), "binaries": []}
    if not args.json:
        print(f"machine: {doc['meta']['machine']}; load average {doc['meta']['load_average_start']}"
              f"; {how} of {args.repeat} runs")
    for b in binaries:
        rows = run_cases(cases_for(b, args.only), installs, args.repeat, how)
        doc["binaries"].append({**binary_meta(b), "cases": rows})
        if not args.json:
            print_cases(b.describe(), rows)
            sys.stdout.flush()
    path = save_results("tables", doc)
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
