"""Run the Go toolchain's own tools (go tool pprof, ...) from the cached toolchains.

Importable without pytest. Go 1.24+ builds tools such as pprof on first use
(into the toolchain's GOCACHE); older toolchains ship them prebuilt.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from binaries import cache_dir

# Newest first: the tool that reads what every older runtime writes.
PREFERRED_VERSIONS = ("1.27.3", "1.26.6", "1.25.5", "1.24.11", "1.23.9", "1.22.10", "1.21.13",
                      "1.19.8")


def go_binary(version: str | None = None) -> Path | None:
    """The `go` command of a cached toolchain (the newest when version is None)."""
    for v in (version,) if version else PREFERRED_VERSIONS:
        p = cache_dir() / "go" / v / "go" / "bin" / "go"
        if p.exists():
            return p
    return None


def go_env(go: Path) -> dict[str, str]:
    version = go.parent.parent.parent.name
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod", CGO_ENABLED="0",
               GOCACHE=str(cache_dir() / "gocache" / version), GOROOT=str(go.parent.parent))
    env.pop("GOOS", None)
    env.pop("GOARCH", None)
    return env


def run_go_tool(tool: str, *args: str, version: str | None = None, timeout: float = 600,
                input: bytes | None = None) -> subprocess.CompletedProcess | None:
    """`go tool TOOL ARGS...` of a cached toolchain; None when there is none.
    stdout and stderr are bytes."""
    go = go_binary(version)
    if go is None:
        return None
    return subprocess.run([str(go), "tool", tool, *args], env=go_env(go), capture_output=True,
                          timeout=timeout, input=input)


# --- `go tool pprof -raw` output (profile.go: Profile.String) ----------------------

@dataclass
class RawProfile:
    """What `pprof -raw` printed. pprof may renumber locations when it reads a
    profile (it merges its sources), so compare stacks by content, not by id."""

    sample_types: list[str]  # "type/unit", "[dflt]" removed
    default_type: str | None
    samples: list[tuple[tuple[int, ...], tuple[int, ...]]]  # (values, location ids leaf first)
    locations: dict[int, tuple[int, int | None, list[tuple[str, str, int]]]]
    # id -> (address, mapping id, [(function name, file, line)] innermost first)

    def stack(self, sample: tuple) -> list[tuple[int, list[tuple[str, str, int]]]]:
        """(address, lines) of each location of a sample, leaf first."""
        return [(self.locations[i][0], self.locations[i][2]) for i in sample[1]]


_RAW_SAMPLE = re.compile(r"^((?:\s+-?\d+)+): ((?:\d+ )*)$")
_RAW_LOCATION = re.compile(r"^\s*(\d+): (0x[0-9a-f]+) (?:M=(\d+) )?(?:\[F\] )?(.*)$")
_RAW_LINE = re.compile(r"^(.*) (\S*):(-?\d+):(-?\d+) s=(-?\d+)(?:\((.*)\))?$")


def parse_pprof_raw(text: str) -> RawProfile:
    lines = text.splitlines()
    i = lines.index("Samples:")
    header = lines[i + 1].split()
    default = next((h.removesuffix("[dflt]").partition("/")[0] for h in header
                    if h.endswith("[dflt]")), None)
    types = [h.removesuffix("[dflt]") for h in header]
    samples = []
    j = i + 2
    while lines[j] != "Locations":
        m = _RAW_SAMPLE.match(lines[j])
        if m:
            samples.append((tuple(int(v) for v in m.group(1).split()),
                            tuple(int(v) for v in m.group(2).split())))
        j += 1
    locations: dict[int, tuple] = {}
    cur: list | None = None
    for line in lines[j + 1:]:
        if line == "Mappings":
            break
        m = _RAW_LOCATION.match(line)
        if m and not line.startswith(" " * 13):
            cur = []
            locations[int(m.group(1))] = (int(m.group(2), 16),
                                          int(m.group(3)) if m.group(3) else None, cur)
            rest = m.group(4)
        else:
            rest = line.strip()
        if rest:
            lm = _RAW_LINE.match(rest)
            assert lm, line
            cur.append((lm.group(1), lm.group(2), int(lm.group(3))))
    return RawProfile(types, default, samples, locations)
