"""Symbolizing PC lists: the library face of ``gosym symbolize`` and ``gosym stack``.

``symbolize(binary, pcs, config)`` is ``runtime.CallersFrames`` over a PC list
(see :mod:`gosym.callframes` for the rules): a :class:`CallFrames` result with
the frames of each input PC. Short lists are unwound one PC at a time by the
scalar unwinder, long ones by the batch resolver (:mod:`gosym.pcbatch`); both
give the same frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from .callframes import (UNKNOWN_FUNCTION, CallFrames, Frame, SymbolizeConfig,
                         callers_frames)
from .pcbatch import SMALL_BATCH, Resolver, resolve_callers

if TYPE_CHECKING:
    from .binary import GoBinary

__all__ = ["symbolize", "frames", "find_frames", "addr2line", "CallFrames", "Frame",
           "SymbolizeConfig", "Resolver", "SMALL_BATCH", "UNKNOWN_FUNCTION", "callers_frames"]


def symbolize(binary: GoBinary, pcs: Sequence[int],
              config: SymbolizeConfig = SymbolizeConfig(),
              resolver: Resolver | None = None) -> CallFrames:
    """runtime.CallersFrames over ``pcs`` (runtime addresses). With a
    ``resolver`` the batch path is used whatever the length."""
    if resolver is not None:
        return resolve_callers(binary, pcs, config, resolver)
    return binary.callers_frames(pcs, config)


def frames(binary: GoBinary, pcs: Iterable[int],
           config: SymbolizeConfig = SymbolizeConfig()) -> Iterator[Frame]:
    """runtime.CallersFrames' frames for a PC list (see :func:`symbolize`)."""
    return symbolize(binary, list(pcs), config).iter_frames()


def find_frames(binary: GoBinary, pc: int) -> list[Frame]:
    """Logical frames at one exact PC (file address), innermost first."""
    return binary.find_frames(pc)


def addr2line(binary: GoBinary, pcs: Sequence[int]) -> list[tuple[str, str, int]]:
    """What ``go tool addr2line`` answers for each exact PC (file addresses):
    (function, file, line) with the physical function's full name and the file
    and line of the innermost code at the PC, which is what debug/gosym's
    PCToLine reads (cmd/addr2line/main.go); ("", -1) for file and line past
    the end of the function's tables, ("?", "?", 0) outside every function.

    Where addr2line is wrong, this is not: functions without line tables (cgo,
    pcln offset 0: debug/gosym decodes the pc-value stream at offset 0 anyway
    and invents lines) and externally linked binaries without symbols (its text
    start ignores the C code before runtime.text).
    """
    from .pcvalue import MISSING
    if not pcs:
        return []
    batch = binary.lookup_pcs(pcs, exact=True)
    ptr = batch.frame_ptr.tolist()
    found = batch.found.tolist()
    symbols = batch.frame_symbol.tolist()
    files = batch.frame_file.tolist()
    lines = batch.frame_line.tolist()
    out = []
    for i in range(len(found)):
        if not found[i]:
            out.append((UNKNOWN_FUNCTION, "?", 0))
            continue
        inner, outer = ptr[i], ptr[i + 1] - 1
        line = lines[inner]
        out.append((symbols[outer], files[inner] or "", -1 if line == MISSING else line))
    return out
