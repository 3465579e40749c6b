"""gosym: read Go binaries' function, line and frame tables the way the runtime does."""

from .binary import GoBinary, PcspRange, open
from .errors import (FileAccessError, FormatError, GosymError, NotGoBinaryError,
                     UnsupportedError)
from .pclntab import Func, InlinedCall

__version__ = "0.1.0"

__all__ = ["GoBinary", "PcspRange", "open", "Func", "InlinedCall", "GosymError",
           "FormatError", "FileAccessError", "NotGoBinaryError", "UnsupportedError"]
