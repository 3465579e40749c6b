"""What the profile commands share: loading a profile file, telling which
profiler wrote it, mapping its addresses into a binary, symbolizing them the
way runtime/pprof does, and naming packages and modules.

Addresses. A profile's Location.address is a runtime address inside one of
its Mappings; runtime/pprof writes the PC that ``runtime.CallersFrames``
reports (``Frame.PC``: the return address minus one for callers, the
interrupted PC for a CPU sample's leaf; runtime/pprof/proto.go ``allFrames``),
so each address is looked up as an exact instruction address. The file
address is ``address - memory_start + file_offset`` plus the (virtual address
- file offset) of the binary's segment holding that offset.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from .errors import FileAccessError, FormatError
from .pcvalue import MISSING

if TYPE_CHECKING:
    from .binary import GoBinary
    from .pprof import Profile

_GOROUTINE_TEXT = re.compile(rb"^(goroutine|threadcreate) profile: total \d+")


def read_profile(path: str) -> "Profile":
    """A profile file: pprof protobuf (gzipped or not) or the debug=1 text of a
    count profile (goroutine, threadcreate)."""
    from . import pprof
    from .pprof import text
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise FileAccessError("is a directory") from None
    except OSError as e:
        raise FileAccessError(e.strerror or str(e)) from None
    if _GOROUTINE_TEXT.match(data.lstrip()):
        return text.parse_count_profile(data.decode("utf-8", "replace"))
    return pprof.parse(data)


# --- which profiler wrote it ------------------------------------------------------------

# Profile kinds, from the sample types runtime/pprof writes (pprof.go, protomem.go).
KIND_CPU = "cpu"
KIND_HEAP = "heap"  # heap and allocs: the same samples, another default type
KIND_CONTENTION = "contention"  # block and mutex
KIND_GOROUTINE = "goroutine"
KIND_THREADCREATE = "threadcreate"
KIND_UNKNOWN = "unknown"


def profile_kind(sample_types: Sequence[tuple[str, str]],
                 period_type: tuple[str, str] = ("", "")) -> str:
    types = {t for t, _ in sample_types}
    if ("cpu", "nanoseconds") in sample_types or period_type == ("cpu", "nanoseconds"):
        return KIND_CPU
    if types & {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"}:
        return KIND_HEAP
    if types == {"contentions", "delay"}:
        return KIND_CONTENTION
    if types == {"goroutine"}:
        return KIND_GOROUTINE
    if types == {"threadcreate"}:
        return KIND_THREADCREATE
    return KIND_UNKNOWN


# --- addresses into the binary ------------------------------------------------------------

def binary_mappings(profile: "Profile", b: "GoBinary") -> dict[int, int]:
    """{mapping id: slide (runtime address - file address)} of the mappings that
    are this binary: those whose file has the binary's base name or build id,
    else the first mapping (runtime/pprof writes the executable first); {0: 0}
    when the profile has no mappings at all."""
    if not profile.mapping:
        return {0: 0}
    strings = profile.string_table
    base = os.path.basename(b.path)
    ours = [m for m in profile.mapping
            if os.path.basename(strings[m.filename]) == base]
    if not ours:
        ours = [profile.mapping[0]]
    return {m.id: m.memory_start - _file_vaddr(b, m.file_offset) for m in ours}


def _file_vaddr(b: "GoBinary", offset: int) -> int:
    """Virtual address at which file offset ``offset`` is loaded (sections
    of one segment share vaddr - offset)."""
    secs = [s for s in b.container.sections if s.file_size and s.addr]
    for s in secs:
        if s.offset <= offset < s.offset + s.file_size:
            return s.addr + (offset - s.offset)
    after = [s for s in secs if s.offset >= offset]
    if after:
        s = min(after, key=lambda s: s.offset)
        return s.addr - (s.offset - offset)
    return offset


# --- symbolization as runtime/pprof does it -------------------------------------------------

@dataclass(frozen=True, slots=True)
class PprofFrame:
    """One logical frame of a Location, as runtime/pprof writes its Line and Function."""

    symbol: str  # full symbol name: Function.name and .system_name
    function: str  # printed name (funcNameForPrint)
    file: str
    line: int
    start_line: int
    inlined: bool
    func_id: int


def lookup_exact(b: "GoBinary", file_pcs: Sequence[int]) -> list[list[PprofFrame]]:
    """The logical frames at each exact file address, innermost first, the
    physical function last ([] outside every function), with full symbol names
    and start lines. No wrapper elision: every frame is a Line."""
    batch = b.lookup_pcs(list(file_pcs), exact=True)
    ptr = batch.frame_ptr.tolist()
    valid = batch.found.tolist()
    symbols = batch.frame_symbol.tolist()
    names = batch.frame_function.tolist()
    files = batch.frame_file.tolist()
    lines = batch.frame_line.tolist()
    starts = batch.frame_start_line.tolist()
    inlined = batch.frame_inlined.tolist()
    func_ids = batch.frame_func_id.tolist()
    # runtime/pprof writes start lines from Go 1.21 (runtime.Frame.startLine).
    with_start = b.go_version_tuple is None or b.go_version_tuple >= (1, 21)
    out: list[list[PprofFrame]] = []
    for i in range(len(valid)):
        if not valid[i]:
            out.append([])
            continue
        out.append([PprofFrame(symbols[k], names[k], files[k] or "",
                               lines[k] if lines[k] != MISSING else 0,
                               (starts[k] if starts[k] != MISSING else 0) if with_start else 0,
                               inlined[k], func_ids[k]) for k in range(ptr[i], ptr[i + 1])])
    return out


def pprof_lines(b: "GoBinary", file_pcs: Sequence[int]) -> list[list[PprofFrame]]:
    """The Lines runtime/pprof writes for Locations at these exact file
    addresses: each address's logical frames as ``runtime.CallersFrames`` of
    that one PC gives them (runtime/pprof/proto.go ``allFrames``), that is
    with the wrapper frames after the first elided unless they follow
    gopanic, sigpanic or panicwrap (runtime/symtab.go ``Frames.Next``,
    runtime/traceback.go ``elideWrapperCalling``)."""
    ids = b.func_ids
    wrapper, keep_after = ids.wrapper, ids.keep_wrappers_after
    out = lookup_exact(b, file_pcs)
    if wrapper is None:
        return out
    for i, frames in enumerate(out):
        if len(frames) > 1 and any(f.func_id == wrapper for f in frames[1:]):
            kept = [frames[0]]
            for prev, f in zip(frames, frames[1:]):
                if f.func_id != wrapper or prev.func_id in keep_after:
                    kept.append(f)
            out[i] = kept
    return out


# --- packages and modules -------------------------------------------------------------------

def package_of(symbol: str) -> str:
    """The package path of a Go symbol name: up to the first '.' after the last
    '/' (type arguments in brackets ignored), as runtime.(*Func).Name's users
    split it; "" when there is none."""
    name = symbol.split("[", 1)[0]
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    return name[:dot] if dot > 0 else ""


_HOSTS_WITH_TWO_PARTS = ("github.com/", "gitlab.com/", "bitbucket.org/", "golang.org/x/",
                         "go.googlesource.com/")


class ModuleNamer:
    """Module paths of packages: from the binary's build info when there is one,
    else guessed from the package path (standard library: no dot in its first
    element; github.com/OWNER/REPO and the like; otherwise the host and one
    element)."""

    def __init__(self, main_module: str | None = None, modules: Iterable[str] = ()) -> None:
        self.main_module = main_module
        self.modules = sorted({m for m in modules if m}, key=len, reverse=True)
        self._cache: dict[str, str] = {}

    @classmethod
    def for_binary(cls, b: "GoBinary | None") -> "ModuleNamer":
        if b is None:
            return cls()
        try:
            bi = b.buildinfo
        except FormatError:
            return cls()
        if bi is None or bi.main_module is None:
            return cls()
        main = bi.main_module[0]
        return cls(main, [main] + [d[0] for d in bi.deps])

    def module_of(self, package: str) -> str:
        m = self._cache.get(package)
        if m is None:
            m = self._cache[package] = self._module_of(package)
        return m

    def _module_of(self, package: str) -> str:
        if not package:
            return "?"
        if package == "main":
            return self.main_module or "main"
        for m in self.modules:
            if package == m or package.startswith(m + "/"):
                return m
        first = package.split("/", 1)[0]
        if "." not in first:
            return "std"
        parts = package.split("/")
        if any(package.startswith(h) for h in _HOSTS_WITH_TWO_PARTS):
            return "/".join(parts[:3])
        return "/".join(parts[:2])

    def is_application(self, package: str) -> bool:
        """Is the package part of the main module (package main without build info)?"""
        if self.main_module is None:
            return package == "main"
        return self.module_of(package) == self.main_module
