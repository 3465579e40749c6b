#!/usr/bin/env python3
"""Per-call costs of gosym as a library, against Go's debug/gosym in process, and gosym's start-up.

For each binary (default: every size of bins.py that is there), in one
process per gosym installation (the interpreter of its `gosym` script, so
`--gosym` measures another checkout the same way), each call on a freshly
opened binary after a warm-up on other PCs:

| measure                        | gosym                                      | Go (gobench, debug/gosym)          |
| ------------------------------ | ------------------------------------------ | ---------------------------------- |
| open                           | gosym.open(path) + close                   | NewLineTable + NewTable from the   |
| open + first lookup            | the same + one func_for_pc                 | table's bytes (read_ns apart)      |
| find_frames(pc)                | per call over --calls PCs, first pass over | PCToLine(pc) per call over the     |
| sp_delta(pc), frame_bytes(pc)  | them and best repeated pass ("again")      | same PCs (a function lookup and    |
|                                |                                            | pc-value decodes, as these do)     |
| frames(pcs)                    | list(b.frames(pcs)) over --pcs PCs (inline | one physical frame per return      |
|                                | expansion), per PC, first call and again   | address: PCToLine(pc-1) + a Frame  |

The PCs are random return addresses inside functions, picked by gobench from
debug/gosym's table (bins.random_pcs); the one-at-a-time calls use the first
--calls of them, the warm-up 200 others (another seed). frame_bytes(pc) is called
frame_size(pc) in older versions: whichever the installation has is used.
Targets printed beside: find_frames <= 20 µs, sp_delta/frame_bytes <= 5 µs,
open no slower than Go's load, frames() per PC no slower than PCToLine.

Start-up, per installation: wall time of `gosym --help` and of a usage error
(`gosym funcs`, exit 2) next to `python -c pass` with the same interpreter
(best of --startup-repeat), and `python -X importtime` of `gosym --help`:
the top-level imports by cumulative time (minimum over 3 runs).

    python benchmarks/bench_library.py [--sizes small,compiler,hugo,big] [--binary PATH]
        [--pcs 100000] [--calls 2000] [--repeat 3] [--gosym [LABEL=]CMD] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP_PCS = 200
# Imports that a command should pay for only when it uses them.
HEAVY_MODULES = ("numpy", "capstone", "macholib", "elftools", "click")


# --- the worker: runs in the interpreter of the installation measured --------------
def _best(repeat: int, fn) -> float:
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return best


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(binary: str, pcs_path: str, warm_path: str, calls: int, repeat: int) -> dict:
    """Per-call timings of this interpreter's gosym (public API only)."""
    import gosym
    pcs = [int(line, 16) for line in Path(pcs_path).read_text().split()]
    warm = [int(line, 16) for line in Path(warm_path).read_text().split()]
    few = pcs[:calls]
    res: dict = {"gosym_file": gosym.__file__, "pcs": len(pcs), "calls": len(few)}

    gosym.open(binary).close()  # the modules it loads on first use
    rss0 = _rss_bytes()
    b = gosym.open(binary)
    res["open_rss_delta_bytes"] = _rss_bytes() - rss0
    b.close()
    res["open_s"] = _best(repeat, lambda: gosym.open(binary).close())

    def open_and_lookup():
        with gosym.open(binary) as b:
            b.func_for_pc(few[0])
    res["open_first_lookup_s"] = _best(repeat, open_and_lookup)

    # Each call gets a fresh GoBinary, so that its first pass is not served by
    # caches another call filled on the same PCs.
    for label in ("find_frames", "sp_delta", "frame_bytes"):
        with gosym.open(binary) as b:
            if label == "frame_bytes":
                # frame_bytes(pc) is the name from now on; older versions call it frame_size(pc).
                name = "frame_bytes" if hasattr(b, "frame_bytes") else "frame_size"
                res["frame_bytes_method"] = name
                fn = getattr(b, name)
            else:
                fn = getattr(b, label)
            for pc in warm:
                fn(pc)

            def one_pass(fn=fn):
                for pc in few:
                    fn(pc)
            res[f"{label}_first_us"] = _best(1, one_pass) / len(few) * 1e6
            res[f"{label}_again_us"] = _best(repeat, one_pass) / len(few) * 1e6

    with gosym.open(binary) as b:
        list(b.frames(warm))
        nframes = 0

        def all_frames():
            nonlocal nframes
            nframes = len(list(b.frames(pcs)))
        res["frames_first_us"] = _best(1, all_frames) / len(pcs) * 1e6
        res["frames_again_us"] = _best(repeat, all_frames) / len(pcs) * 1e6
        res["frames_count"] = nframes
    try:
        import resource
        res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except ImportError:
        pass
    return res


# --- the driver --------------------------------------------------------------------
def run_worker(python: str, binary: Path, pcs: Path, warm: Path, calls: int,
               repeat: int) -> dict:
    p = subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(binary),
                        str(pcs), str(warm), str(calls), str(repeat)], capture_output=True,
                       text=True,
                       env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else
                f"exit {p.returncode}"}
    return json.loads(p.stdout)


def run_go(binary: Path, pcs: Path, calls: int, repeat: int) -> dict:
    p = subprocess.run([str(bins.gobench_tool()), "lib", "-repeat", str(repeat), "-pcs", str(pcs),
                        "-calls", str(calls), str(binary)], capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip()}
    return json.loads(p.stdout)


def parse_importtime(stderr: str) -> dict[str, float]:
    """Cumulative µs of each package's outermost imports, from `python -X importtime`.

    importtime prints a module when its import finishes, after the modules it
    imported, indented two spaces per level. A package's cost is the sum of
    its imports that no module of the same package is importing (numpy
    imported by gosym.binary counts for numpy, and inside gosym's total)."""
    nodes = []  # (level, package, cumulative µs, parent index)
    stack: list[int] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        raw = parts[2].rstrip()[1:]  # one space after the bar, then two per level
        level = (len(raw) - len(raw.lstrip(" "))) // 2
        idx = len(nodes)
        nodes.append([level, raw.strip().split(".")[0], float(parts[1]), None])
        while stack and nodes[stack[-1]][0] > level:
            nodes[stack.pop()][3] = idx
        stack.append(idx)
    out: dict[str, float] = {}
    for level, pkg, cum, parent in nodes:
        if parent is None or nodes[parent][1] != pkg:
            out[pkg] = out.get(pkg, 0.0) + cum
    return out


def startup(inst, repeat: int) -> dict:
    python = inst.python
    res: dict = {}
    for label, argv, code in (("python -c pass", [python, "-c", "pass"], 0),
                              ("gosym --help", inst.argv + ["--help"], 0),
                              ("gosym funcs (usage error)", inst.argv + ["funcs"], 2)):
        m = measure(label, argv, repeat=repeat, quiet=True)
        res[label] = {"wall_s": round(m.wall(), 4), "cpu_s": round(m.cpu(), 4),
                      "peak_rss_bytes": m.maxrss(), "ok": all(r.status == code for r in m.runs)}
    best: dict[str, float] = {}
    script = inst.argv[0] if len(inst.argv) == 1 else None
    if script is not None:
        for _ in range(3):
            p = subprocess.run([python, "-X", "importtime", script, "--help"],
                               capture_output=True, text=True)
            pkgs = parse_importtime(p.stderr)
            for name, us in pkgs.items():
                best[name] = min(us, best.get(name, us))
    top = sorted(best.items(), key=lambda kv: -kv[1])
    res["importtime_top_us"] = [[n, round(us)] for n, us in top[:10]]
    res["heavy_modules_loaded"] = sorted(set(best) & set(HEAVY_MODULES))
    return res


# Rows of the per-binary table: (label, gosym result key, seconds per unit,
# Go reference label, Go result key, Go unit in seconds, target).
def rows_for(go: dict) -> list[tuple]:
    go_load = go["table_ns"] * 1e-9 if "table_ns" in go else None
    pctoline_calls = go.get("pctoline_calls_ns", 0) * 1e-9 or None
    # The target for frames(): Go's PCToLine per PC over the same (many) PCs.
    pctoline = go.get("pctoline_ns", 0) * 1e-9 or None
    pctoline_target = f"<= PCToLine {fmt_t(pctoline)}"
    return [
        ("gosym.open", "open_s", 1.0, "NewLineTable + NewTable", go_load,
         "<= Go's load", go_load),
        ("open + first func_for_pc", "open_first_lookup_s", 1.0,
         "NewLineTable + NewTable", go_load, None, None),
        ("find_frames(pc), first", "find_frames_first_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 20 µs", 20e-6),
        ("find_frames(pc), again", "find_frames_again_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 20 µs", 20e-6),
        ("sp_delta(pc), first", "sp_delta_first_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 5 µs", 5e-6),
        ("sp_delta(pc), again", "sp_delta_again_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 5 µs", 5e-6),
        ("frame_bytes(pc), first", "frame_bytes_first_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 5 µs", 5e-6),
        ("frame_bytes(pc), again", "frame_bytes_again_us", 1e-6, "PCToLine(pc)", pctoline_calls,
         "<= 5 µs", 5e-6),
        ("frames(pcs) per PC, first", "frames_first_us", 1e-6, "PCToLine(pc-1) + Frame",
         go.get("frame_ns", 0) * 1e-9 or None, pctoline_target, pctoline),
        ("frames(pcs) per PC, again", "frames_again_us", 1e-6, "PCToLine(pc-1) + Frame",
         go.get("frame_ns", 0) * 1e-9 or None, pctoline_target, pctoline),
    ]


def fmt_t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"


def fmt_ratio(r: float) -> str:
    return (f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 1 else f"{r:.2f}x" if r >= 0.1
            else f"{r:.3f}x")


def print_binary(title: str, go: dict, results: dict[str, dict]) -> None:
    """One row per measure: Go's time, then each installation's time, its ratio
    to Go and whether it meets the target (✓/✗)."""
    print(f"\n== {title}")
    if "error" in go:
        print(f"gobench failed: {go['error']}")
    labels = list(results)
    head = f"{'measure':<27} {'Go debug/gosym':<33}" + "".join(
        f" {lab[:12]:>12} {'/Go':>6}  " for lab in labels) + " target"
    print(head)
    print("-" * len(head))
    for label, key, unit, go_label, go_s, target, target_s in rows_for(go):
        line = f"{label:<27} {(fmt_t(go_s) + ' ' + go_label) if go_s else '-':<33}"
        for lab in labels:
            v = results[lab].get(key)
            s = None if v is None else v * unit
            mark = " " if s is None or not target_s else "✓" if s <= target_s else "✗"
            line += f" {fmt_t(s):>12} " + (f"{fmt_ratio(s / go_s):>6}" if s and go_s
                                          else f"{'-':>6}") + f" {mark}"
        print((line + f" {target or ''}").rstrip())
    if "read_ns" in go:
        print(f"Go: reading the ELF file's .gopclntab and text start took "
              f"{fmt_t(go['read_ns'] * 1e-9)} before that load; "
              f"{go.get('heap_after_load_bytes', 0) / 1e6:.0f} MB heap after it")
    for lab in labels:
        r = results[lab]
        if "error" in r:
            print(f"{lab}: failed: {r['error']}")
        else:
            print(f"{lab}: frames() gave {r['frames_count']:,} frames for {r['pcs']:,} PCs; "
                  f"open adds {r['open_rss_delta_bytes'] / 1e6:.1f} MB RSS; "
                  f"{r['frame_bytes_method']}()")


def print_startup(results: dict[str, dict]) -> None:
    print("\n== start-up (wall, and CPU: user+sys)")
    labels = list(results)
    head = f"{'measure':<27}" + "".join(f" {lab[:20]:>20}" for lab in labels) + "  target"
    print(head)
    print("-" * len(head))
    for m in ("python -c pass", "gosym --help", "gosym funcs (usage error)"):
        line = f"{m:<27}"
        for lab in labels:
            r = results[lab][m]
            cell = f"{fmt_t(r['wall_s'])} ({fmt_t(r['cpu_s'])})"
            line += f" {cell:>20}" + ("" if r["ok"] else " FAILED")
        print(line + ("  <= 70 ms" if m == "gosym --help" else ""))
    for lab in labels:
        r = results[lab]
        top = ", ".join(f"{n} {us / 1e3:.0f} ms" for n, us in r["importtime_top_us"][:8])
        print(f"{lab}: -X importtime of --help, cumulative per package: {top}")
        print(f"{lab}: heavy modules loaded for --help: "
              f"{', '.join(r['heavy_modules_loaded']) or 'none'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None,
                    help=f"comma list of {', '.join(bins.SIZES)} (default: all that are there)")
    ap.add_argument("--binary", type=Path, action="append", default=[],
                    help="measure this file instead of the sizes (repeatable)")
    ap.add_argument("--pcs", type=int, default=100_000, help="PCs given to frames() (100k)")
    ap.add_argument("--calls", type=int, default=2000,
                    help="PCs for the one-at-a-time calls (2000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes; the best is reported")
    ap.add_argument("--startup-repeat", type=int, default=10)
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    ap.add_argument("--gosym", action="append", default=[], metavar="[LABEL=]CMD",
                    help="also measure this gosym installation (repeatable); its script's "
                         "interpreter runs the library measurements")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    installs = installations(args.gosym)
    binaries = bins.select(args.sizes, args.binary)
    doc = {"kind": "library", "meta": run_meta(installs, args.repeat, "best"),
           "pcs": args.pcs, "calls": args.calls, "binaries": [], "startup": {}}
    if not args.json:
        print(f"machine: {doc['meta']['machine']}; load average {doc['meta']['load_average_start']}"
              f"; best of {args.repeat} passes")
    for b in binaries:
        pcs = bins.random_pcs(b.path, args.pcs)
        warm = bins.random_pcs(b.path, WARMUP_PCS, seed=2)
        go = run_go(b.path, pcs, args.calls, args.repeat)
        results = {i.label: run_worker(i.python, b.path, pcs, warm, args.calls, args.repeat)
                   for i in installs}
        doc["binaries"].append({**binary_meta(b), "go": go, "gosym": results})
        if not args.json:
            print_binary(b.describe(), go, results)
            sys.stdout.flush()
    if not args.no_startup:
        doc["startup"] = {i.label: startup(i, args.startup_repeat) for i in installs}
        if not args.json:
            print_startup(doc["startup"])
    path = save_results("library", doc)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        _, _, binary_arg, pcs_arg, warm_arg, calls_arg, repeat_arg = sys.argv
        print(json.dumps(worker(binary_arg, pcs_arg, warm_arg, int(calls_arg),
                                int(repeat_arg))))
        sys.exit(0)
    sys.path.insert(0, str(HERE))
    import bins  # noqa: E402
    from common import binary_meta, installations, measure, run_meta, save_results  # noqa: E402
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
