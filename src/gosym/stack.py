"""Stack accounting: how many bytes each frame of a PC list occupies.

The PCs describe one stack, innermost first, as runtime.Callers gives it (or
as physical return addresses). Frames come from GoBinary.callers_frames
(runtime.CallersFrames semantics, :mod:`gosym.callframes`). Per physical frame:

* ``sp_delta`` is the pcsp value at the PC the runtime's unwinder looks up:
  for a return address the call instruction (pc-1), like ``funcspdelta`` at
  ``frame.continpc``/``u.symPC()`` in runtime/traceback.go; for an exact PC
  (``pc_is_exact``) the PC itself.
* ``frame_bytes`` = sp_delta + the return-address slot on amd64 (8; on arm64
  the saved LR is inside sp_delta): GoBinary.frame_bytes.
* Inlined frames share their physical frame: they add 0 bytes; the bytes go on
  the physical function's own (outermost) logical frame.
* Wrapper frames the runtime elides still occupy stack: they are listed with
  ``elided=True``, their bytes count in the totals, but they do not count as
  logical frames or for the profilers' depth limits (tracebackPCs skips them).

Profilers cut stacks by logical frame count: the CPU profiler at 64
(runtime/cpuprof.go ``maxCPUProfStack``), the memory, block and mutex
profiles at 128 from Go 1.23 (``debug.profstackdepth`` default) and at 32
before (runtime/mprof.go ``maxStack``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .callframes import SymbolizeConfig

CPU_PROFILE_DEPTH = 64


def other_profile_depth(go_version: tuple[int, int] | None) -> int:
    """Default depth of memory/block/mutex profiles for a Go version."""
    if go_version is not None and go_version < (1, 23):
        return 32
    return 128


@dataclass(frozen=True)
class StackFrame:
    index: int  # input PC that produced the frame
    depth: int | None  # logical depth, innermost 0; None for elided wrappers
    pc: int
    function: str
    file: str | None
    line: int | None
    entry: int | None
    inlined: bool
    elided: bool
    sp_delta: int | None  # of the physical frame (on its physical row only)
    frame_bytes: int  # bytes this row adds: 0 for inlined and unknown frames
    cumulative: int
    package: str
    module: str


@dataclass(frozen=True)
class ProfileCut:
    profile: str
    limit: int
    kept: int
    lost: tuple[StackFrame, ...]


@dataclass(frozen=True)
class Group:
    name: str
    frames: int  # logical frames
    bytes: int


@dataclass(frozen=True)
class StackReport:
    frames: tuple[StackFrame, ...]
    logical_frames: int
    physical_frames: int
    total_bytes: int
    unknown_pcs: int
    cuts: tuple[ProfileCut, ...]
    by_package: tuple[Group, ...]
    by_module: tuple[Group, ...]


def package_of(name: str) -> str:
    """The package path of a Go symbol name (``a/b/c.(*T).M`` -> ``a/b/c``)."""
    if name == "?":
        return "?"
    slash = name.rfind("/", 0, name.find("[") if "[" in name else len(name))
    dot = name.find(".", slash + 1)
    return name[:dot] if dot > 0 else name


class ModuleMap:
    """Package path -> module path, from the binary's build info."""

    def __init__(self, binary) -> None:
        bi = binary.buildinfo
        mods = [d[0] for d in bi.deps]
        self.main_module = bi.main_module[0] if bi.main_module else None
        if self.main_module:
            mods.append(self.main_module)
        self.mods = sorted(set(mods), key=len, reverse=True)

    def module_of(self, package: str) -> str:
        if package == "?":
            return "?"
        if package == "main":
            return self.main_module or "main"
        for m in self.mods:
            if package == m or package.startswith(m + "/"):
                return m
        first = package.split("/", 1)[0]
        if "." not in first:
            return "std"
        return "/".join(package.split("/")[:3])


def stack_report(binary, pcs: Sequence[int], config: SymbolizeConfig = SymbolizeConfig()
                 ) -> StackReport:
    res = binary.callers_frames(pcs, config)
    slide = config.slide
    modules = ModuleMap(binary)
    rows: list[StackFrame] = []
    depth = 0
    cumulative = 0
    physical = 0
    for i, fs in enumerate(res.frames):
        if res.consumed[i]:
            continue
        merged = [(f, False) for f in fs]
        for pos, f in reversed(res.elided.get(i, ())):
            merged.insert(pos, (f, True))
        if not merged:
            continue
        first = merged[0][0]
        sp_delta = size = None
        if first.entry is not None:
            physical += 1
            sp_delta = binary.sp_delta(first.pc - slide)
            size = binary.frame_bytes(first.pc - slide)
        for f, elided in merged:
            phys_row = f.entry is not None and not f.inlined
            add = (size or 0) if phys_row else 0
            cumulative += add
            pkg = package_of(f.function)
            rows.append(StackFrame(i, None if elided else depth, f.pc, f.function, f.file,
                                   f.line, f.entry, f.inlined, elided,
                                   sp_delta if phys_row else None, add, cumulative, pkg,
                                   modules.module_of(pkg)))
            if not elided:
                depth += 1
    shown = [r for r in rows if not r.elided]
    cuts = []
    for profile, limit in (("cpu", CPU_PROFILE_DEPTH),
                           ("memory/block/mutex", other_profile_depth(binary.go_version_tuple))):
        cuts.append(ProfileCut(profile, limit, min(limit, len(shown)), tuple(shown[limit:])))
    return StackReport(tuple(rows), len(shown), physical, cumulative, len(res.unknown),
                       tuple(cuts), _groups(rows, lambda r: r.package),
                       _groups(rows, lambda r: r.module))


def _groups(rows: Sequence[StackFrame], key) -> tuple[Group, ...]:
    acc: dict[str, list[int]] = {}
    for r in rows:
        a = acc.setdefault(key(r), [0, 0])
        a[0] += 0 if r.elided else 1
        a[1] += r.frame_bytes
    out = [Group(k, v[0], v[1]) for k, v in acc.items()]
    out.sort(key=lambda g: (-g.bytes, -g.frames, g.name))
    return tuple(out)


def run_length(names: Sequence[str]) -> list[tuple[str, int]]:
    """Consecutive equal names collapsed: [("main.recurse", 140), ...]."""
    out: list[tuple[str, int]] = []
    for n in names:
        if out and out[-1][0] == n:
            out[-1] = (n, out[-1][1] + 1)
        else:
            out.append((n, 1))
    return out
