#!/usr/bin/env python3
"""Generate src/gosym/data/runtime_layouts.json from each toolchain's own DWARF.

For every Go toolchain in $GOSYM_CACHE/go (testbins/toolchains.py) and for
linux/amd64 and linux/arm64, a tiny program is built and its DWARF read with
gosym.runtime_layout.layout_from_dwarf, the same reader gosym uses on binaries
that keep their DWARF: offsets of the runtime.g, m, p, mspan, ... fields, the
goroutine status constants, and the status and wait-reason strings read from
the built binary's runtime.gStatusStrings and runtime.waitReasonStrings
arrays. Nothing is typed by hand; run it again when a toolchain is added.

Usage: scripts/runtime_layouts.py [--versions 1.22.10,1.27.3] [--check]
  --check   compare with the checked-in file instead of writing it (exit 1 if
            it differs for the versions built)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "testbins"))
sys.path.insert(0, str(ROOT / "src"))

import toolchains  # noqa: E402

from gosym.runtime_layout import layout_from_dwarf, read_string_array  # noqa: E402

OUTPUT = ROOT / "src" / "gosym" / "data" / "runtime_layouts.json"
ARCHES = ("amd64", "arm64")
PROGRAM = "package main\n\nfunc main() {}\n"
GO_MOD = "module layouts\n\ngo 1.19\n"


def build(version: str, arch: str, workdir: Path) -> Path:
    src = workdir / "src"
    src.mkdir(exist_ok=True)
    (src / "main.go").write_text(PROGRAM)
    (src / "go.mod").write_text(GO_MOD)
    out = workdir / f"prog-{version}-{arch}"
    env = toolchains.build_env(version, GOOS="linux", GOARCH=arch)
    p = subprocess.run([str(toolchains.go_bin(version)), "build", "-o", str(out), "."],
                       cwd=src, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"go{version} build for linux/{arch} failed:\n{p.stderr}")
    return out


def strings_of(binary, layout, variable: str) -> list[str]:
    """The strings of a [...]string array variable of the built binary."""
    from gosym.runtime_symbols import symbol_address
    addr = symbol_address(binary, variable)
    f = layout.field(variable, "[]")
    if addr is None or f is None:
        raise SystemExit(f"{binary.path}: no {variable}")
    c = binary.container
    return read_string_array(c.read_word, c.read, addr, f.count)


def layout_of(version: str, arch: str, workdir: Path) -> dict:
    import gosym
    from elftools.elf.elffile import ELFFile

    prog = build(version, arch, workdir)
    with open(prog, "rb") as fh:
        layout = layout_from_dwarf(ELFFile(fh), "go" + version, arch)
    if layout is None:
        raise SystemExit(f"{prog}: no runtime DWARF")
    with gosym.open(str(prog)) as b:
        layout.status_strings = strings_of(b, layout, "runtime.gStatusStrings")
        layout.wait_reasons = strings_of(b, layout, "runtime.waitReasonStrings")
    return layout.to_json()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", help="comma list (default: every installed toolchain)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    versions = args.versions.split(",") if args.versions else toolchains.versions()
    missing = [v for v in versions if not toolchains.go_bin(v).is_file()]
    if missing:
        raise SystemExit(f"toolchains missing: {', '.join(missing)}; run `make toolchains`")
    try:
        current = json.loads(OUTPUT.read_text())
    except (OSError, ValueError):
        current = {"layouts": {}}
    layouts = dict(current.get("layouts", {})) if args.versions else {}
    with tempfile.TemporaryDirectory(prefix="gosym-layouts-") as td:
        for v in versions:
            minor = ".".join(v.split(".")[:2])
            layouts[minor] = {arch: layout_of(v, arch, Path(td)) for arch in ARCHES}
            print(f"go{v}: amd64 + arm64", file=sys.stderr)
    ordered = dict(sorted(layouts.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))
    doc = {"generated_by": "scripts/runtime_layouts.py", "layouts": ordered}
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    if args.check:
        differ = [m for m in ordered if current.get("layouts", {}).get(m) != ordered[m]]
        if differ:
            print(f"{OUTPUT} differs for Go {', '.join(differ)}", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date", file=sys.stderr)
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
