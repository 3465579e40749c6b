"""Targets: the memory and threads of a live process or of an ELF core file.

``open_target(spec)`` takes a PID (digits) or a core file's path. Both kinds
answer ``read(addr, size)``, ``read_many(addrs, sizes)``, ``threads()`` (thread
id and registers), ``auxv()`` and ``stopped()``, a context manager that holds a
process still while it is read (a core is always still).
"""

from __future__ import annotations

from .base import (Batch, Mapping, Registers, Target, TargetAccessError, TargetError,
                   TargetMemoryError, Thread)

__all__ = ["Batch", "Mapping", "Registers", "Target", "TargetAccessError", "TargetError",
           "TargetMemoryError", "Thread", "open_process", "open_core", "is_pid"]


def is_pid(spec: str) -> bool:
    return spec.isdigit()


def open_process(pid: int, arch: str, stop: bool = True) -> Target:
    from .process import ProcessTarget
    return ProcessTarget(pid, arch, stop)


def open_core(path: str) -> Target:
    from .core import CoreTarget
    return CoreTarget(path)
