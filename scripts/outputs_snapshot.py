#!/usr/bin/env python3
"""Run every command over the test and real binaries and keep what each printed.

For a refactoring that must not change any output: run this once with the code
before and once with the code after (each with its own installation's Python),
then compare the two directories::

    /path/to/old/venv/bin/python scripts/outputs_snapshot.py /tmp/before
    .venv/bin/python scripts/outputs_snapshot.py /tmp/after
    diff -r /tmp/before /tmp/after && echo identical

Each command runs in process (click's CliRunner); stdout, stderr and the exit
status of every run go to one file per binary and command. The PC inputs are
derived from the binaries the same way in both runs (function entries, middles
and ends; the test programs' own runtime.Callers lists), so the two runs get the
same inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from binaries import fatbins, realbins, testbins  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import gosym  # noqa: E402
from gosym.cli import main  # noqa: E402


def pc_inputs(path: str, arch: str | None) -> list[int]:
    """Entries, entry+1, middles and last bytes of up to 3000 functions (fixed seed)."""
    b = gosym.open(path, arch)
    try:
        n = len(b)
        rng = random.Random(int(hashlib.sha256(Path(path).name.encode()).hexdigest()[:8], 16))
        picks = sorted(rng.sample(range(n), min(n, 3000)))
        pcs = []
        for i in picks:
            f = b.functions[i]
            pcs += [f.entry, f.entry + 1, (f.entry + f.end) // 2, f.end - 1]
        return pcs
    finally:
        b.close()


def commands(path: str, arch: str | None, run_json: Path | None, quick: bool) -> dict[str, tuple]:
    """name -> (args, stdin) for one binary."""
    a = ["--arch", arch] if arch else []
    cmds: dict[str, tuple] = {
        "info": (["info", path] + a, None),
        "info-json": (["info", "--json", path] + a, None),
        "funcs": (["funcs", path] + a, None),
        "funcs-json": (["funcs", "--json", path] + a, None),
        "funcs-csv": (["funcs", "--csv", path] + a, None),
        "funcs-match": (["funcs", "--match", r"^main\.", path] + a, None),
        "frames": (["frames", path] + a, None),
        "frames-json": (["frames", "--json", path] + a, None),
        "frames-csv": (["frames", "--csv", path] + a, None),
        "frames-pcs": (["frames", "--pcs", path] + a, None),
        "frames-json-pcs": (["frames", "--json", "--pcs", path] + a, None),
        "frames-csv-pcs": (["frames", "--csv", "--pcs", path] + a, None),
        "frames-name-top": (["frames", "--sort", "name", "--top", "40", path] + a, None),
        "frames-addr-match": (["frames", "--sort", "addr", "--match", "runtime\\.m", path] + a,
                              None),
        "frames-json-top": (["frames", "--json", "--top", "25", "--match", "main", path] + a,
                            None),
    }
    pcs = pc_inputs(path, arch)
    text = "\n".join(f"{p:#x}" for p in pcs) + "\n"
    few = "\n".join(f"{p:#x}" for p in pcs[:40]) + "\n"
    cmds["frames-at"] = (["frames", path] + a + [x for p in pcs[:12] for x in ("--pc", hex(p))],
                         None)
    cmds["frames-at-json"] = (["frames", "--json", path] + a +
                              [x for p in pcs[:12] for x in ("--pc", hex(p))], None)
    for fmt in ("text", "json", "addr2line"):
        cmds[f"symbolize-{fmt}"] = (["symbolize", "--format", fmt, path] + a, text)
        cmds[f"symbolize-few-{fmt}"] = (["symbolize", "--format", fmt, path] + a, few)
    cmds["symbolize-exact"] = (["symbolize", "--pc-is-exact", path] + a, text)
    cmds["symbolize-noinline"] = (["symbolize", "--no-inline", "--json", path] + a, text)
    cmds["stack-few"] = (["stack", path] + a, few)
    cmds["stack-few-json"] = (["stack", "--json", path] + a, few)
    if run_json is not None:
        run = json.loads(run_json.read_text())
        for s in run["samples"]:
            stack = "\n".join(str(p) for p in s["pcs"]) + "\n"
            name = s["name"]
            cmds[f"callers-{name}"] = (["symbolize", "--json", path] + a, stack)
            cmds[f"callers-{name}-text"] = (["symbolize", path] + a, stack)
            cmds[f"stack-{name}"] = (["stack", "--json", path] + a, stack)
            cmds[f"stack-{name}-text"] = (["stack", path] + a, stack)
    if not quick:
        cmds["check"] = (["check", "--json", path] + a, None)
    return cmds


def main_(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", action="store_true", help="also run check (slow)")
    ap.add_argument("--only", help="substring of the binaries' ids to keep")
    args = ap.parse_args(argv[1:])
    targets = [(b.id, str(b.path), None, b.run_json_path) for b in testbins()
               if b.program in ("callers", "hello")]
    targets += [(r.id, str(r.path), None, None) for r in realbins()]
    targets += [(f"{f.id}-{arch}", str(f.path), arch, None) for f in fatbins("callers")
                for arch in ("amd64", "arm64")]
    if args.only:
        targets = [t for t in targets if args.only in t[0]]
    runner = CliRunner()
    t0 = time.monotonic()
    for k, (ident, path, arch, run_json) in enumerate(targets, 1):
        d = args.out / ident
        d.mkdir(parents=True, exist_ok=True)
        try:
            cmds = commands(path, arch, run_json, quick=not args.check)
        except gosym.GosymError as e:
            (d / "open-error").write_text(str(e) + "\n")
            continue
        for name, (cmd, stdin) in cmds.items():
            r = runner.invoke(main, cmd, input=stdin, catch_exceptions=True)
            exc = ""
            if r.exception is not None and not isinstance(r.exception, SystemExit):
                exc = f"EXCEPTION {type(r.exception).__name__}: {r.exception}\n"
            (d / name).write_bytes(b"exit %d\n%s--- stdout\n" % (r.exit_code, exc.encode()) +
                                   r.stdout_bytes + b"--- stderr\n" + r.stderr_bytes)
        print(f"[{k}/{len(targets)}] {ident} ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv))
