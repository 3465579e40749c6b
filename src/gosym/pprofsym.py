"""Fill in an address-only pprof profile from the binary, as runtime/pprof would.

runtime/pprof/proto.go writes, per Location (``emitLocation``):

* ``address``: the first frame's ``runtime.Frame.PC`` — the call instruction
  (return PC - 1) for callers, the interrupted PC for a CPU sample's leaf;
  so each address is looked up exactly, without another - 1;
* one Line per logical frame at that PC, innermost inlined function first,
  the physical function last (``allFrames``/``pcDeck``), wrappers kept
  (a single PC's CallersFrames elides nothing);
* Functions keyed by name, created in the order Locations are written, with
  name = system name = the full symbol name (``runtime_FrameSymbolName``:
  generic shapes spelled out, ``pkg.F[go.shape.int]``; Go 1.19/1.20 wrote
  ``Frame.Function``, which was that same raw name then), the file of the
  frame that created it (a function's own file, even where a line comes from
  an inlined callee: each frame carries its own file) and, from Go 1.21,
  its start line (``runtime_FrameStartLine``);
* runtime.goexit gets no Location at all (``allFrames``).

Addresses are runtime addresses: each Mapping that is the binary gives the
slide (PIE, shared libraries). Sample values, labels and everything else are
kept; the binary's Mappings are marked symbolized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import profiles

if TYPE_CHECKING:
    from .binary import GoBinary
    from .pprof import Profile


@dataclass(frozen=True)
class SymbolizeResult:
    profile: "Profile"
    symbolized: bool  # False: the profile already had functions and was kept as it was
    locations: int  # locations given lines
    outside: int  # locations of the binary's mappings outside every function
    other_mappings: int  # locations in mappings that are not this binary


def already_symbolized(profile: "Profile") -> bool:
    return any(loc.line for loc in profile.location) or len(profile.function) > 0


def symbolize_profile(profile: "Profile", b: "GoBinary", force: bool = False) -> SymbolizeResult:
    """A copy of ``profile`` with every Location of the binary's Mappings filled
    in; the profile itself when it already has functions and not ``force``."""
    from .pprof import Profile
    if already_symbolized(profile) and not force:
        return SymbolizeResult(profile, False, 0, 0, 0)
    out = Profile()
    out.CopyFrom(profile)
    out.ClearField("function")
    for loc in out.location:
        loc.ClearField("line")
    strings = list(out.string_table)
    index = {s: i for i, s in reversed(list(enumerate(strings)))}

    def string(s: str) -> int:
        i = index.get(s)
        if i is None:
            i = index[s] = len(strings)
            strings.append(s)
        return i

    slides = profiles.binary_mappings(out, b)
    # Locations without a mapping are PCs the runtime looked up in its own
    # tables too: use the binary's (first) slide.
    slides.setdefault(0, next(iter(slides.values())))
    mine = [loc for loc in out.location if loc.mapping_id in slides]
    looked = profiles.pprof_lines(b, [(loc.address - slides[loc.mapping_id]) % (1 << 64)
                                      for loc in mine])
    functions: dict[str, int] = {}
    done = outside = 0
    for loc, frames in zip(mine, looked):
        if not frames:
            # runtime.CallersFrames of a PC outside Go's tables gives a frame
            # without a function, file or line, and runtime/pprof writes it as a
            # Line of the function named "" (proto.go allFrames, emitLocation).
            outside += 1
            frames = [profiles.PprofFrame("", "", "", 0, 0, False, 0)]
        else:
            done += 1
        for f in frames:
            fid = functions.get(f.symbol)
            if fid is None:
                fid = functions[f.symbol] = len(functions) + 1
                name = string(f.symbol)
                out.function.add(id=fid, name=name, system_name=name, filename=string(f.file),
                                 start_line=f.start_line)
            loc.line.add(function_id=fid, line=f.line)
    del out.string_table[:]
    out.string_table.extend(strings)
    for m in out.mapping:
        if m.id in slides:
            m.has_functions = m.has_filenames = m.has_line_numbers = True
            m.has_inline_frames = True
    return SymbolizeResult(out, True, done, outside, len(out.location) - len(mine))
