#!/usr/bin/env python3
"""Print a Markdown table of the binaries gosym was tried on.

For every binary in $GOSYM_CACHE/realbins (``make realbins``; with
``--testbins`` also the built test binaries): name, Go version, format and
architecture, how the function table and moduledata were found, the number of
functions, and whether gosym's function list (name, entry, end) equals the one
Go's debug/gosym decodes from the same file (``.gosymref.json``; test binaries:
every function entry is a text symbol of ``go tool nm``, of the unstripped twin
for stripped builds; core files: every frame the runtime printed as the process
died comes out of gosym reading the core).

Usage: python scripts/binaries_table.py [--testbins] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "src"))

import binaries  # noqa: E402
import gosym  # noqa: E402
from gosym.errors import GosymError  # noqa: E402


def _short_source(text: str | None) -> str:
    if not text:
        return "not found"
    return (text.replace("pointer to the table in ", "pointer in ")
            .replace(" found by scanning ", " scan of "))


def _compare_gosymref(g, ref_path: Path | None) -> str:
    if ref_path is None:
        return "n/a (debug/gosym failed)"
    ref = json.loads(ref_path.read_text())["funcs"]
    t = g.table
    names = [n.decode("utf-8", "replace") for n in t.names()]
    e = t.entries.tolist()
    ours = list(zip(names, e[:-1], e[1:]))
    theirs = [(r["name"], r["entry"], r["end"]) for r in ref]
    if ours == theirs:
        return "yes"
    diff = sum(a != b for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))
    return f"no ({diff} differ)"


def _compare_nm(g, nm_path: Path | None) -> str:
    if nm_path is None:
        return "n/a (no nm)"
    addrs = {a for a, _s, typ, _n in binaries.parse_nm(nm_path) if typ in "Tt"}
    names = [n.decode("utf-8", "replace") for n in g.table.names()]
    missing = sum(1 for n, e in zip(names, g.table.entries[:-1].tolist())
                  if e not in addrs and not n.startswith("go:"))
    return "yes (nm)" if missing == 0 else f"no ({missing} entries not in nm)"


def _compare_dump(g, dump_path: Path) -> str:
    compared, wrong = binaries.compare_with_dump(g, binaries.parse_dump(dump_path.read_text()))
    if not wrong:
        return f"yes ({compared} frames of the runtime's dump)"
    return f"no ({len(wrong)} of {compared} dumped frames differ)"


def row(name: str, path: Path, compare, executable: Path | None = None) -> list[str]:
    try:
        g = gosym.open(str(path), executable=str(executable) if executable else None)
    except GosymError as e:
        return [name, "?", "?", f"error: {e}", "", "", ""]
    try:
        md = g.moduledata
        return [
            name,
            (g.go_version or "unknown").removeprefix("go"),
            f"{g.format} {g.arch}",
            _short_source(g.location.source),
            _short_source(md.source if md else None),
            str(len(g)),
            compare(g),
        ]
    finally:
        g.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testbins", action="store_true", help="also list the built test binaries")
    ap.add_argument("--cache", help="cache directory (default: $GOSYM_CACHE or ~/.cache/gosym)")
    args = ap.parse_args()
    if args.cache:
        os.environ["GOSYM_CACHE"] = args.cache
    rows = []
    for b in binaries.realbins():
        rows.append(row(f"{b.package} {b.version} ({b.goos}/{b.goarch})", b.path,
                        lambda g, b=b: _compare_gosymref(g, b.gosymref_json_path)))
    for c in binaries.cores():
        how = f"{c.written_by}, filter {c.coredump_filter}" if c.coredump_filter else c.written_by
        exe = None if c.holds_table else c.executable
        rows.append(row(f"core of crash ({'PIE' if c.pie else 'non-PIE'}, {how}"
                        f"{'' if exe is None else ', with --binary'}) (linux/{c.goarch})",
                        c.path, lambda g, c=c: _compare_dump(g, c.dump_path), exe))
    if args.testbins:
        bins = binaries.testbins()
        nm_of = {(b.program, b.go_version, b.goos, b.goarch, b.variant): b.nm_path for b in bins}
        for b in bins:
            # -s -w keeps the code where it was: use the unstripped twin's nm.
            twin = b.variant.removesuffix("-stripped").removesuffix("stripped") or "default"
            nm = b.nm_path or nm_of.get((b.program, b.go_version, b.goos, b.goarch, twin))
            rows.append(row(f"testbin {b.program} go{b.go_version} {b.goos}/{b.goarch} "
                            f"{b.variant}", b.path, lambda g, nm=nm: _compare_nm(g, nm)))
    if not rows:
        print("no binaries in the cache; run `make realbins`", file=sys.stderr)
        return 1
    head = ["binary", "Go", "format", "function table found by", "moduledata found by",
            "functions", "equals Go's answer"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
