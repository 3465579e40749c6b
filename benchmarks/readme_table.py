#!/usr/bin/env python3
"""Print the README's speed tables (every binary size) from the benchmarks' saved results.

Reads the newest results of bench_tables.py, bench_symbolize.py and
bench_library.py in $GOSYM_CACHE/bench/results/ (or the files given) and
prints Markdown: gosym's wall time and its ratio to the Go tool per command
and binary, the same for peak RSS, the library's per-call costs next to
debug/gosym's, and start-up.

    python benchmarks/readme_table.py [--install LABEL] [--update-readme README.md]
                                      [RESULTS.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_mb, latest_results  # noqa: E402

KINDS = ("tables", "symbolize", "library")
CLI_COMMANDS = ["info", "funcs --json", "frames --json", "frames --json --pcs"]


def load(paths: list[Path]) -> dict[str, dict]:
    docs = {}
    for p in paths:
        doc = json.loads(p.read_text())
        docs[doc["kind"]] = doc | {"_path": str(p)}
    for kind in KINDS:
        if kind not in docs:
            p = latest_results(kind)
            if p is not None:
                docs[kind] = json.loads(p.read_text()) | {"_path": str(p)}
    return docs


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} µs" if s < 1e-5 else f"{s * 1e6:.0f} µs"


def fmt_ratio(r: float) -> str:
    return (f"{r:.0f}×" if r >= 10 else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×" if r >= 0.1
            else f"{r:.3f}×")


def binary_label(b: dict) -> str:
    mb = b["bytes"] / 1e6
    size = f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"
    funcs = f", {b['functions'] / 1000:.0f}k functions" if b.get("functions") else ""
    stripped = ", stripped" if not b.get("has_symbols", True) else ""
    return f"{b['title']} ({size}{funcs}{stripped})"


def cli_tables(docs: dict, install: str) -> list[str]:
    """Rows: binaries; columns: commands. Cells: gosym's value and its ratio to Go's tool."""
    by_binary: dict[str, dict] = {}
    refs: dict[str, set[str]] = {}
    commands: list[str] = []
    for kind in ("tables", "symbolize"):
        for b in docs.get(kind, {}).get("binaries", []):
            row = by_binary.setdefault(b["path"], {"meta": b, "cases": {}})
            for c in b["cases"]:
                if kind == "tables" and c["command"] not in CLI_COMMANDS:
                    continue
                if c["command"] not in commands:
                    commands.append(c["command"])
                refs.setdefault(c["command"], set()).add(c["reference"]["label"])
                row["cases"][c["command"]] = c
    if not by_binary:
        return ["(no bench_tables.py / bench_symbolize.py results)"]
    order = sorted(by_binary.values(), key=lambda r: r["meta"]["bytes"])
    out = []
    for what, key, ratio_key, fmt in (
            ("wall time", "wall_s", "time_ratio", fmt_time),
            ("CPU time (user+sys; steadier than wall time on a busy machine)", "cpu_s",
             "cpu_ratio", fmt_time),
            ("peak RSS", "peak_rss_bytes", "rss_ratio", fmt_mb)):
        out.append(f"gosym's {what} and its ratio to the Go tool's on the same input in the "
                   "same run:")
        out.append("")
        out.append("| binary | " + " | ".join(f"`{c}`" for c in commands) + " |")
        out.append("|---|" + "---|" * len(commands))
        for r in order:
            cells = []
            for c in commands:
                case = r["cases"].get(c)
                g = case and case["gosym"].get(install)
                cells.append(f"{fmt(g[key])}, {fmt_ratio(g[ratio_key])}"
                             if g and g["ok"] and key in g else "–")
            out.append(f"| {binary_label(r['meta'])} | " + " | ".join(cells) + " |")
        out.append("")
    groups: dict[str, list[str]] = {}
    for c in commands:
        groups.setdefault(" or ".join(f"`{r}`" for r in sorted(refs[c])), []).append(f"`{c}`")
    out.append("Go tools: " + "; ".join(f"{', '.join(cs)} vs {ref}"
                                        for ref, cs in groups.items()) + ".")
    if any("gosymref" in r for rs in refs.values() for r in rs):
        out.append("gosymref (testbins/gosymref) prints the function table as Go's `debug/gosym` "
                   "decodes it: the reference where the binary has no symbol table for nm.")
    return out


def library_table(doc: dict, install: str) -> list[str]:
    rows = [("`gosym.open`", "open_s", 1.0, "load", None),
            ("`find_frames(pc)`", "find_frames_again_us", 1e-6, "pctoline_calls_ns", 1e-9),
            ("`sp_delta(pc)`", "sp_delta_again_us", 1e-6, "pctoline_calls_ns", 1e-9),
            ("`frame_bytes(pc)`", "frame_bytes_again_us", 1e-6, "pctoline_calls_ns", 1e-9),
            ("`frames(pcs)`, per PC", "frames_again_us", 1e-6, "frame_ns", 1e-9)]
    bs = sorted(doc.get("binaries", []), key=lambda b: b["bytes"])
    if not bs:
        return ["(no bench_library.py results)"]
    out = ["Library calls in one process, gosym / Go's `debug/gosym` (gobench) on the same PCs: "
           "`gosym.open` vs `NewLineTable` + `NewTable`; the one-PC calls, per call over "
           f"{doc.get('calls', 0):,} PCs each seen once before, vs `PCToLine(pc)`; `frames()` over "
           f"{doc.get('pcs', 0):,} PCs with inline expansion, per PC, vs `PCToLine(pc-1)` "
           "(first-time costs: `bench_library.py`'s output):", "",
           "| binary | " + " | ".join(r[0] for r in rows) + " |",
           "|---|" + "---|" * len(rows)]
    for b in bs:
        g, go = b["gosym"].get(install, {}), b["go"]
        cells = []
        for _, key, unit, go_key, go_unit in rows:
            if key not in g:
                cells.append("–")
                continue
            v = g[key] * unit
            if go_key == "load":
                ref = go["table_ns"] * 1e-9 if "table_ns" in go else None
            else:
                ref = go.get(go_key, 0) * go_unit or None
            cells.append(f"{fmt_time(v)} / {fmt_time(ref)}" if ref else fmt_time(v))
        out.append(f"| {binary_label(b)} | " + " | ".join(cells) + " |")
    return out


def startup_lines(doc: dict, install: str) -> list[str]:
    s = doc.get("startup", {}).get(install)
    if not s:
        return []
    top = ", ".join(f"{n} {us / 1e3:.0f} ms" for n, us in s["importtime_top_us"][:6])
    def wall_cpu(m: str) -> str:
        r = s[m]
        return f"{fmt_time(r['wall_s'])}" + (f" ({fmt_time(r['cpu_s'])} CPU)" if "cpu_s" in r
                                             else "")
    return [f"Start-up: `gosym --help` {wall_cpu('gosym --help')}, `python -c pass` "
            f"{wall_cpu('python -c pass')}; the imports of `--help` by package "
            f"(cumulative): {top}."]


def measured_line(docs: list[dict]) -> str:
    """When and where: the time span of the runs, the machine, the load."""
    times, rest, loads = [], "", []
    for d in docs:
        when, _, rest = d["meta"]["machine"].partition(" UTC, ")
        times.append(when)
        loads.append(float(d["meta"].get("load_average_start", "0").split()[0]))
    times.sort()
    span = times[0] if times[0] == times[-1] else f"{times[0]} to {times[-1][-5:]}"
    repeat = max(d["meta"]["repeat"] for d in docs)
    return (f"Measured {span} UTC ({rest}; load average {min(loads)} to {max(loads)} at the "
            f"start of each benchmark), best of {repeat}.")


SECTION_INTRO = """\
Every command on binaries of four sizes, each against the Go tool that does the same job on the same
input in the same run, and the library's calls against Go's own `debug/gosym` in one process
(`make bench`; how each number is taken: `benchmarks/README.md`). symbolize and stack expand inline
frames, which addr2line does not. Tables printed by `benchmarks/readme_table.py`.
"""


def update_readme(readme: Path, body: str) -> None:
    """Replace the text of the README's `## Speed` section up to its first
    subsection (`### `) or the next section, whichever comes first: the
    subsections (the other benchmarks) are kept."""
    text = readme.read_text()
    start = text.index("\n## Speed\n") + len("\n## Speed\n")
    ends = [e for e in (text.find("\n### ", start), text.find("\n## ", start)) if e >= 0]
    end = min(ends) + 1 if ends else len(text)
    readme.write_text(text[:start] + "\n" + SECTION_INTRO + "\n" + body + "\n\n" + text[end:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", type=Path,
                    help="results files (default: the newest of each kind)")
    ap.add_argument("--install", default="gosym",
                    help="which measured installation to report (default: gosym)")
    ap.add_argument("--update-readme", type=Path, metavar="README", default=None,
                    help="write the tables into this README's `## Speed` section")
    args = ap.parse_args()
    docs = load(args.results)
    if not docs:
        print("readme_table: no results; run the benchmarks first (make bench)", file=sys.stderr)
        return 1
    lines = [measured_line(list(docs.values())), ""]
    lines += cli_tables(docs, args.install)
    if "library" in docs:
        lines += [""] + library_table(docs["library"], args.install)
        st = startup_lines(docs["library"], args.install)
        if st:
            lines += [""] + st
    if args.update_readme:
        update_readme(args.update_readme, "\n".join(lines))
        print(f"readme_table: wrote the speed section of {args.update_readme}", file=sys.stderr)
    else:
        print("\n".join(lines))
    for d in docs.values():
        print(f"(from {d['_path']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
