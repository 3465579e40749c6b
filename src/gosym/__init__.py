"""gosym: read Go binaries' function, line and frame tables the way the runtime does."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (FileAccessError, FormatError, GosymError, NotGoBinaryError,
                     UnsupportedError)

if TYPE_CHECKING:
    from .binary import GoBinary, PcspRange, open
    from .pclntab import Func, InlinedCall

__version__ = "0.1.0"

__all__ = ["GoBinary", "PcspRange", "open", "Func", "InlinedCall", "GosymError",
           "FormatError", "FileAccessError", "NotGoBinaryError", "UnsupportedError"]

# The decoder (and numpy) load on first use, so that the command line can set
# up the process (e.g. numpy's thread pool) before they are imported.
_LAZY = {"GoBinary": "binary", "PcspRange": "binary", "open": "binary",
         "Func": "pclntab", "InlinedCall": "pclntab"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gosym' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
