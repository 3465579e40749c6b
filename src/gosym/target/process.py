"""A live Linux process: memory through process_vm_readv (or /proc/PID/mem),
threads stopped and their registers read with ptrace (ctypes, no debugger).

Stopping (``Target.stopped``): every thread is attached with PTRACE_SEIZE and
stopped with PTRACE_INTERRUPT, which, unlike PTRACE_ATTACH, sends no SIGSTOP
the program could observe; threads created meanwhile are picked up by listing
/proc/PID/task again until the list is stable. A thread that was stopped for
a signal (signal-delivery-stop) gets that signal back when it is released.
Release is PTRACE_DETACH of every thread, in a ``finally`` with SIGINT, SIGTERM,
SIGHUP and SIGQUIT blocked, so neither an error nor Ctrl-C can leave the
process stopped; if gosym itself is killed, the kernel detaches its tracees.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import struct
import time
from typing import Iterator

import numpy as np

from .base import (PRSTATUS_WORDS, Batch, Mapping, Target, TargetAccessError, TargetError,
                   TargetMemoryError, Thread, parse_auxv, registers_from_prstatus)

# <linux/ptrace.h>
PTRACE_DETACH = 17
PTRACE_GETREGSET = 0x4204
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128
NT_PRSTATUS = 1
_WALL = 0x40000000
IOV_MAX = 1024
# How long a thread may take to reach its ptrace stop before it is given up
# (a thread in uninterruptible sleep stops only when the kernel lets it).
STOP_TIMEOUT = 3.0

_BLOCKED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}

_libc = None


def _lib():
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        lib.ptrace.restype = ctypes.c_long
        lib.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                         ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        lib.process_vm_readv.restype = ctypes.c_ssize_t
        _libc = lib
    return _libc


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    r = _lib().ptrace(request, tid, addr, data)
    if r == -1:
        return -ctypes.get_errno()
    return r


def _ptrace_scope() -> str | None:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return f.read().strip()
    except OSError:
        return None


def permission_message(pid: int, what: str) -> str:
    scope = _ptrace_scope()
    hint = "the same user as the process, or CAP_SYS_PTRACE"
    if scope == "1":
        hint += ("; kernel.yama.ptrace_scope is 1, so only a parent may trace without "
                 "CAP_SYS_PTRACE (run as root, or sysctl kernel.yama.ptrace_scope=0)")
    elif scope == "2":
        hint = "CAP_SYS_PTRACE (kernel.yama.ptrace_scope is 2: admin-only attach)"
    elif scope == "3":
        hint = "a kernel that allows ptrace (kernel.yama.ptrace_scope is 3: no attach at all)"
    return f"permission denied to {what} process {pid}: needs {hint}"


class ProcessTarget(Target):
    kind = "process"

    def __init__(self, pid: int, arch: str, stop: bool = True) -> None:
        self.pid = pid
        self.arch = arch
        self.stop = stop
        self.description = f"process {pid}"
        if not os.path.exists(f"/proc/{pid}"):
            raise TargetAccessError(f"no such process: {pid}")
        if self._state() == "Z":
            raise TargetError(f"process {pid} has exited (zombie)")
        try:
            self._mem = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        except PermissionError:
            raise TargetAccessError(permission_message(pid, "read the memory of")) from None
        except FileNotFoundError:
            raise TargetAccessError(f"no such process: {pid}") from None
        self._threads: list[Thread] = []
        self._stopped = False
        self._use_vm_readv = True

    def _state(self) -> str | None:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        return stat[stat.rfind(b")") + 2:][:1].decode()

    def _gone(self) -> TargetError:
        return TargetError(f"process {self.pid} exited while it was being read")

    # --- memory -------------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if self._use_vm_readv:
            buf = ctypes.create_string_buffer(size)
            local = _Iovec(ctypes.addressof(buf), size)
            remote = _Iovec(addr, size)
            n = _lib().process_vm_readv(self.pid, ctypes.byref(local), 1,
                                        ctypes.byref(remote), 1, 0)
            if n == size:
                return buf.raw
            err = ctypes.get_errno() if n < 0 else 0
            if err == errno.ESRCH:
                raise self._gone()
            if err in (errno.ENOSYS, errno.EPERM):
                self._use_vm_readv = False  # e.g. seccomp: use /proc/PID/mem
        try:
            data = os.pread(self._mem, size, addr)
        except OSError as e:
            if e.errno == errno.ESRCH or not os.path.exists(f"/proc/{self.pid}"):
                raise self._gone() from None
            raise TargetMemoryError(f"cannot read {size} bytes at {addr:#x} of process "
                                    f"{self.pid}: {e.strerror}") from None
        if len(data) != size:
            if not data and not os.path.exists(f"/proc/{self.pid}"):
                raise self._gone()
            raise TargetMemoryError(f"cannot read {size} bytes at {addr:#x} of process "
                                    f"{self.pid}")
        return data

    def read_many(self, addrs, sizes) -> Batch:
        addrs = np.asarray(addrs, dtype=np.uint64)
        sizes = np.asarray(sizes, dtype=np.int64)
        return self._read_ranges(addrs, sizes)

    def _read_ranges(self, addrs: np.ndarray, sizes: np.ndarray) -> Batch:
        """process_vm_readv with up to IOV_MAX remote ranges per call into one
        buffer; a range that fails is retried alone and marked."""
        n = len(sizes)
        offsets = np.zeros(n, np.int64)
        if n:
            offsets[1:] = np.cumsum(sizes)[:-1]
        total = int(sizes.sum()) if n else 0
        data = bytearray(total)
        ok = np.zeros(n, bool)
        if not n:
            return Batch(data, offsets, sizes, ok)
        if not self._use_vm_readv:
            return Target.read_many(self, addrs, sizes)
        cbuf = (ctypes.c_char * max(total, 1)).from_buffer(data)
        base = ctypes.addressof(cbuf)
        remote = np.empty((n, 2), np.uint64)
        remote[:, 0] = addrs
        remote[:, 1] = sizes.astype(np.uint64)
        i = 0
        view = memoryview(data)
        while i < n:
            j = min(n, i + IOV_MAX)
            want = int(offsets[j - 1] + sizes[j - 1] - offsets[i])
            local = _Iovec(base + int(offsets[i]), want)
            chunk = np.ascontiguousarray(remote[i:j])
            got = _lib().process_vm_readv(self.pid, ctypes.byref(local), 1,
                                          chunk.ctypes.data, j - i, 0)
            if got < 0:
                err = ctypes.get_errno()
                if err == errno.ESRCH:
                    del cbuf
                    raise self._gone()
                if err in (errno.ENOSYS, errno.EPERM):
                    del cbuf
                    self._use_vm_readv = False
                    return Target.read_many(self, addrs, sizes)
                got = 0
            if got == want:
                ok[i:j] = True
                i = j
                continue
            # Requests i.. that were transferred completely, then the one that
            # stopped the transfer: read alone (it may fail only partly).
            ends = offsets[i:j] + sizes[i:j] - offsets[i]
            done = int(np.searchsorted(ends, got, side="right"))
            ok[i:i + done] = True
            k = i + done
            try:
                o = int(offsets[k])
                view[o:o + int(sizes[k])] = self.read(int(addrs[k]), int(sizes[k]))
                ok[k] = True
            except TargetMemoryError:
                pass
            i = k + 1
        del cbuf
        return Batch(data, offsets, sizes, ok)

    # --- threads ----------------------------------------------------------------------
    def _tids(self) -> list[int]:
        try:
            return sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
        except FileNotFoundError:
            raise self._gone() from None

    def threads(self) -> list[Thread]:
        if self._stopped or self._threads:
            return list(self._threads)
        # Not stopped (--no-stop): the thread ids, without registers.
        return [Thread(t, None) for t in self._tids()]

    def _registers(self, tid: int):
        words = PRSTATUS_WORDS[self.arch]
        buf = ctypes.create_string_buffer(words * 8 + 64)
        iov = _Iovec(ctypes.addressof(buf), words * 8 + 64)
        r = _ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.addressof(iov))
        if r < 0 or iov.len < words * 8:
            return None
        return registers_from_prstatus(self.arch, struct.unpack_from(f"<{words}Q", buf.raw))

    def auxv(self) -> dict[int, int]:
        try:
            with open(f"/proc/{self.pid}/auxv", "rb") as f:
                return parse_auxv(f.read())
        except PermissionError:
            raise TargetAccessError(permission_message(self.pid, "read")) from None
        except OSError:
            raise self._gone() from None

    def mappings(self) -> list[Mapping]:
        out = []
        try:
            with open(f"/proc/{self.pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    path = parts[5].strip() if len(parts) > 5 else None
                    out.append(Mapping(lo, hi, int(parts[2], 16), path or None))
        except OSError:
            raise self._gone() from None
        return out

    def environ(self) -> dict[str, str]:
        try:
            with open(f"/proc/{self.pid}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            return {}
        out = {}
        for item in raw.split(b"\0"):
            k, sep, v = item.partition(b"=")
            if sep:
                out[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
        return out

    @property
    def consistent(self) -> bool:
        return self.stop

    # --- stopping ---------------------------------------------------------------------
    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        if not self.stop or self._stopped:  # not asked to, or already held (nested)
            yield
            return
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_SIGNALS)
        seized: dict[int, int] = {}  # tid -> signal to deliver on release
        t0 = time.monotonic()
        try:
            self._stop_all(seized)
            self._stopped = True
            yield
        finally:
            try:
                self._release(seized)
            finally:
                self._stopped = False
                self.stop_seconds = time.monotonic() - t0
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    def _stop_all(self, seized: dict[int, int]) -> None:
        pending: set[int] = set()
        first = True
        while True:
            new = [t for t in self._tids() if t not in seized]
            if not new and not pending:
                break
            for tid in new:
                r = _ptrace(PTRACE_SEIZE, tid)
                if r == -errno.ESRCH:
                    continue  # the thread has exited
                if r == -errno.EPERM:
                    if first:
                        raise TargetAccessError(permission_message(self.pid, "stop"))
                    continue
                if r < 0:
                    raise TargetError(f"cannot attach to thread {tid} of process {self.pid}: "
                                      f"{os.strerror(-r)}")
                first = False
                seized[tid] = 0
                _ptrace(PTRACE_INTERRUPT, tid)
                pending.add(tid)
            self._wait_stops(seized, pending)
        if not seized:
            raise self._gone()
        threads = []
        for tid in sorted(seized):
            threads.append(Thread(tid, self._registers(tid)))
        self._threads = threads

    def _wait_stops(self, seized: dict[int, int], pending: set[int]) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while pending:
            for tid in list(pending):
                try:
                    got, status = os.waitpid(tid, os.WNOHANG | _WALL)
                except ChildProcessError:
                    pending.discard(tid)
                    seized.pop(tid, None)
                    continue
                if got == 0:
                    continue
                if os.WIFSTOPPED(status):
                    if (status >> 16) != PTRACE_EVENT_STOP:
                        # Stopped on its way to handling a signal: give it back on release.
                        seized[tid] = os.WSTOPSIG(status)
                    pending.discard(tid)
                elif os.WIFEXITED(status) or os.WIFSIGNALED(status):
                    pending.discard(tid)
                    seized.pop(tid, None)
            if pending:
                if time.monotonic() > deadline:
                    # Never reached a stop (uninterruptible sleep): read it as it is.
                    pending.clear()
                    break
                time.sleep(0.0005)

    def _release(self, seized: dict[int, int]) -> None:
        for tid, sig in seized.items():
            if _ptrace(PTRACE_DETACH, tid, 0, sig) == -errno.ESRCH:
                # Gone (killed while held): as its tracer, collect its exit, or
                # the process can't be reaped by its parent until gosym exits.
                try:
                    os.waitpid(tid, os.WNOHANG | _WALL)
                except ChildProcessError:
                    pass

    def close(self) -> None:
        if self._mem >= 0:
            os.close(self._mem)
            self._mem = -1
