"""Modules loaded on first use.

numpy costs tens of milliseconds to import, more than the whole of a short
command (``gosym --help``, ``gosym info``, one PC symbolized). Modules that use
numpy only for batches write ``from ._lazy import np``: the import happens
when the first batch needs it (importlib.util.LazyLoader).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, executed on first attribute access."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


np = lazy_import("numpy")
