"""``gosym depth`` output: per profile, the depth histogram, root classes, what was cut."""

from __future__ import annotations

from ..depth import DepthReport
from . import Output, write_json


def write_depth(out: Output, reports: list[DepthReport], fmt: str, top: int) -> None:
    """``fmt``: "text" or "json" ({"profiles": [...]})."""
    if fmt == "json":
        write_json(out, {"profiles": [to_json(r, top) for r in reports]})
    else:
        out.write("\n".join(render_text(r, top) for r in reports).encode("utf-8", "replace"))


def to_json(r, top: int) -> dict:
    return {
        "path": r.path,
        "kind": r.kind,
        "go_version": r.go_version,
        "sample_types": r.sample_types,
        "depth_limit": r.rule.limit,
        "depth_limit_source": r.rule.source,
        "cut_depth": r.rule.floor,
        "samples": r.samples,
        "weights": r.total_weights,
        "deepest": r.deepest,
        "truncated_samples": r.truncated_samples,
        "truncated_weights": r.truncated_weights,
        "histogram": [[d, n] for d, n in r.histogram],
        "classes": {c: {"samples": t.samples, "weights": t.weights}
                    for c, t in r.classes.items()},
        "truncated_by_package": [{"package": p, "frames": n}
                                 for p, n in r.truncated_by_package[:top]],
        "truncated_by_module": [{"module": m, "frames": n}
                                for m, n in r.truncated_by_module[:top]],
        "longest_runs": [{"package": p, "frames": n, "of": d}
                         for p, n, d in r.longest_runs[:top]],
        "main_module": r.main_module,
        "innermost_application": [{"function": f, "samples": n, "weights": w}
                                  for f, n, w in r.innermost_application[:top]],
        "truncated_without_application": r.truncated_without_application,
        "dependency_root_weights": r.dependency_root_weights,
        "unsymbolized_frames": r.unsymbolized_frames,
        "advice": r.advice,
    }


BAR = 40


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def histogram_rows(hist: list[tuple[int, int]], limit: int, deepest: int) -> list[tuple[str, int]]:
    """(label, samples) rows: one per depth when shallow, else bins of equal
    width with the limit on a bin boundary."""
    if not hist:
        return []
    if deepest <= 40:
        counts = dict(hist)
        return [(str(d), counts.get(d, 0)) for d in range(min(counts), deepest + 1)]
    width = max(1, -(-deepest // 20))
    for nice in (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 1000):
        if nice >= width:
            width = nice
            break
    bins: dict[int, int] = {}
    for d, n in hist:
        k = (d - 1) // width if d < limit else None
        key = -1 if k is None else k
        bins[key] = bins.get(key, 0) + n
    rows = []
    top_bin = (limit - 2) // width if limit > 1 else 0
    for k in range(0, min(top_bin, (deepest - 1) // width) + 1):
        lo, hi = k * width + 1, min((k + 1) * width, limit - 1)
        if lo > hi:
            continue
        rows.append((f"{lo}-{hi}" if lo != hi else str(lo), bins.get(k, 0)))
    if bins.get(-1):
        rows.append((f"{limit}+", bins[-1]))
    return rows


def render_text(r, top: int) -> str:
    out = []
    w = out.append
    version = f", {r.go_version}" if r.go_version else ""
    w(f"{r.path}: {r.kind} profile ({' '.join(r.sample_types)}){version}")
    w(f"  limit: {r.rule.limit} frames ({r.rule.source}); cut stacks show {r.rule.floor}+")
    w(f"  samples: {r.samples}, deepest: {r.deepest} frames")
    if r.unsymbolized_frames:
        w(f"  {r.unsymbolized_frames} frames have no function (give --binary to look them up)")
    rows = histogram_rows(r.histogram, r.rule.floor, r.deepest)
    if rows:
        w("  depth (logical frames)  samples")
        peak = max(n for _, n in rows) or 1
        for label, n in rows:
            bar = "#" * (0 if not n else max(1, round(BAR * n / peak)))
            w(f"  {label:>12}  {n:>8}  {bar}")
    w("  roots:")
    types = [t.split("/")[0] for t in r.sample_types]
    for c, t in r.classes.items():
        shares = ", ".join(f"{_pct(v, tot)} of {name}"
                           for v, tot, name in zip(t.weights, r.total_weights, types))
        w(f"    {c:<13} {t.samples:>8} samples ({_pct(t.samples, r.samples)}); {shares}")
    if r.truncated_samples:
        w(f"  truncated samples: frames per package (top {top})")
        for p, n in r.truncated_by_package[:top]:
            w(f"    {n:>8}  {p}")
        w("  frames per module")
        for m, n in r.truncated_by_module[:top]:
            w(f"    {n:>8}  {m}")
        w("  longest runs of one package")
        for p, n, d in r.longest_runs[:top]:
            w(f"    {p}: {n} of {d} frames")
        app = "package main" if r.main_module is None else r.main_module
        if r.innermost_application:
            w(f"  innermost application frame ({app})")
            for f, n, _ in r.innermost_application[:top]:
                w(f"    {n:>8}  {f}")
        if r.truncated_without_application:
            w(f"  {r.truncated_without_application} truncated samples keep no frame of {app}")
        shares = ", ".join(f"{_pct(v, tot)} of {name}"
                           for v, tot, name in zip(r.dependency_root_weights, r.total_weights,
                                                   types))
        w(f"  weight of truncated samples whose root is in a dependency: {shares}")
    w(f"  advice: {r.advice}")
    return "\n".join(out) + "\n"
