"""Does a function's prologue have the stack-bound check? Byte patterns, vectorised.

The Go compilers and assemblers begin every function that may grow its stack
by comparing SP (or SP minus the frame size) with the goroutine's stack guard
and branching to a block that calls ``runtime.morestack*``
(cmd/internal/obj/x86/obj6.go and arm64/obj7.go, ``stacksplit``). Functions
without it are nosplit. The compare is recognised in the first bytes of each
function; ``gosym check`` decides the same question from the disassembly (the
call to ``runtime.morestack*``) and the tests hold the two to agreement.

amd64, Go 1.17+ (g in R14)::

    49 3b 66 10          cmp  rsp, [r14+0x10]
    4d 3b 66 10          cmp  r12, [r14+0x10]   after lea r12,[rsp-N] (or mov r12,rsp;
                                                sub r12,N; jb for huge frames)

amd64, Go <= 1.16 (g loaded into RCX from TLS: fs:[-8], or through a GOT slot in
PIE / externally linked binaries, or gs:[0x30] on darwin)::

    48 3b 61 10          cmp  rsp, [rcx+0x10]
    48 3b 41 10          cmp  rax, [rcx+0x10]   after lea rax,[rsp-N]
    48 8b 71 10 48 81 fe mov  rsi, [rcx+0x10]; cmp rsi, $StackPreempt (huge frames)

arm64 (g in R28)::

    ldr  xT, [x28, #0x10]     then cmp sp/x, xT (the compare's shape varies)

``+0x18`` (stackguard1, used by functions that run on the system stack) is
accepted wherever ``+0x10`` is.
"""

from __future__ import annotations

import numpy as np

# How far into a function the compare can be: ABI wrappers first load g from
# TLS (up to 11 bytes), huge frames compute SP-N with an underflow check.
_WINDOW = {"amd64": 40, "arm64": 32}

_AMD64_U32 = [
    bytes.fromhex("493b6610"), bytes.fromhex("493b6618"),  # cmp rsp, [r14+0x10/0x18]
    bytes.fromhex("4d3b6610"), bytes.fromhex("4d3b6618"),  # cmp r12, [r14+0x10/0x18]
    bytes.fromhex("483b6110"), bytes.fromhex("483b6118"),  # cmp rsp, [rcx+0x10/0x18]
    bytes.fromhex("483b4110"), bytes.fromhex("483b4118"),  # cmp rax, [rcx+0x10/0x18]
]
# mov rsi, [rcx+0x10]; cmp rsi, imm32 (Go <= 1.16, frames past StackBig)
_AMD64_LONG = [bytes.fromhex("488b711048 81fe".replace(" ", ""))]

# ldr xT, [x28, #0x10] / [x28, #0x18]: 0xf9400b80 | T, 0xf9400f80 | T
_ARM64_LDR_MASK = 0xFFFFFFE0
_ARM64_LDR = (0xF9400B80, 0xF9400F80)


def _code_windows(b, indices: np.ndarray, width: int):
    """(n, width) uint8 first bytes of each function, and the valid length per row."""
    t = b.table
    entries = t.entries
    starts = entries[indices].astype(np.int64)
    sizes = (entries[indices + 1].astype(np.int64) - starts)
    c = b.container
    secs = sorted((s for s in c.sections if s.file_size and s.addr), key=lambda s: s.addr)
    offsets = np.full(len(indices), -1, np.int64)
    avail = np.zeros(len(indices), np.int64)
    if secs:
        sec_addr = np.array([s.addr for s in secs], np.int64)
        k = np.searchsorted(sec_addr, starts, side="right") - 1
        ok = k >= 0
        kk = np.where(ok, k, 0)
        s_addr = sec_addr[kk]
        s_fsize = np.array([min(s.file_size, s.size) for s in secs], np.int64)[kk]
        s_off = np.array([s.offset for s in secs], np.int64)[kk]
        inside = ok & (starts >= s_addr) & (starts < s_addr + s_fsize)
        offsets = np.where(inside, s_off + (starts - s_addr), -1)
        avail = np.where(inside, s_addr + s_fsize - starts, 0)
    data = np.frombuffer(c.data, dtype=np.uint8)
    length = np.clip(np.minimum(sizes, avail), 0, width)
    length = np.where(offsets + length <= len(data), length, 0)
    cols = np.arange(width, dtype=np.int64)
    pos = np.clip(offsets[:, None] + cols[None, :], 0, max(len(data) - 1, 0))
    win = data[pos] if len(data) else np.zeros((len(indices), width), np.uint8)
    win = np.where(cols[None, :] < length[:, None], win, 0).astype(np.uint8)
    return win, length


def _u32_at(win: np.ndarray) -> np.ndarray:
    """Little-endian u32 at every byte position: (n, width-3)."""
    w = win.astype(np.uint32)
    return w[:, :-3] | (w[:, 1:-2] << 8) | (w[:, 2:-1] << 16) | (w[:, 3:] << 24)


def _u32(pattern: bytes) -> int:
    return int.from_bytes(pattern, "little")


def has_stack_check(b, indices: np.ndarray | None = None) -> np.ndarray | None:
    """True where the function's prologue has the stack-bound check.

    None when undecidable (an architecture without patterns here).
    """
    arch = b.arch
    if arch not in _WINDOW:
        return None
    if indices is None:
        indices = np.arange(len(b.table))
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return np.zeros(0, bool)
    width = _WINDOW[arch]
    out = np.zeros(len(indices), bool)
    chunk = 1 << 16  # bound memory on 400k-function binaries
    for lo in range(0, len(indices), chunk):
        sel = indices[lo:lo + chunk]
        win, length = _code_windows(b, sel, width)
        u32 = _u32_at(win)
        # a 4-byte match at p is valid only if the function has p+4 bytes
        valid = (np.arange(u32.shape[1])[None, :] + 4) <= length[:, None]
        if arch == "amd64":
            hit = np.zeros(u32.shape, bool)
            for p in _AMD64_U32:
                hit |= u32 == _u32(p)
            for p in _AMD64_LONG:
                head = u32 == _u32(p[:4])
                for k in range(4, len(p)):
                    head[:, :u32.shape[1] - k] &= win[:, k:k + u32.shape[1] - k] == p[k]
                    head[:, u32.shape[1] - k:] = False
                hit |= head
            out[lo:lo + len(sel)] = (hit & valid).any(axis=1)
        else:
            words = u32[:, ::4]  # instructions are 4-byte aligned from the entry
            wvalid = valid[:, ::4]
            masked = words & np.uint32(_ARM64_LDR_MASK)
            hit = (masked == _ARM64_LDR[0]) | (masked == _ARM64_LDR[1])
            out[lo:lo + len(sel)] = (hit & wvalid).any(axis=1)
    return out
