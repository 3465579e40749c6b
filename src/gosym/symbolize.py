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

__all__ = ["symbolize", "frames", "find_frames", "CallFrames", "Frame", "SymbolizeConfig",
           "Resolver", "SMALL_BATCH", "UNKNOWN_FUNCTION", "callers_frames"]


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
