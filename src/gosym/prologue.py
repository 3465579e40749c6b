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
    48 8b 71 10 48 81 fe mov  rsi, [rcx+0x10]; cmp rsi, $StackPreempt (huge frames;
                                                windows puts alignment NOPs between)

arm64 (g in R28)::

    ldr  xT, [x28, #0x10]     then cmp sp/x, xT (the compare's shape varies)

386 (obj6.go as amd64, with 4-byte words: g loaded into CX from TLS, stackguard0
at offset 8)::

    3b 61 08             cmp  esp, [ecx+8]
    3b 41 08             cmp  eax, [ecx+8]      after lea eax,[esp-N]
    8b 71 08             mov  esi, [ecx+8]      then cmp esi, $StackPreempt (huge frames)

arm (cmd/internal/obj/arm/obj5.go stacksplit; g in R10)::

    ldr  rT, [r10, #8]        e59aT008, then cmp sp/rX, rT

riscv64 (cmd/internal/obj/riscv/obj.go stacksplit; g in X27)::

    ld   xT, 16(x27)          then bltu xT, sp (or a register holding SP-N)

``+0x18`` (stackguard1, used by functions that run on the system stack; +0xc
on the 32-bit ones) is accepted wherever ``+0x10`` is.
"""

from __future__ import annotations

from ._lazy import np

# How far into a function the compare can be: ABI wrappers first load g from
# TLS (up to 11 bytes), huge frames compute SP-N with an underflow check.
_WINDOW = {"amd64": 40, "arm64": 32, "386": 40, "arm": 32, "riscv64": 32}

_AMD64_U32 = [
    bytes.fromhex("493b6610"), bytes.fromhex("493b6618"),  # cmp rsp, [r14+0x10/0x18]
    bytes.fromhex("4d3b6610"), bytes.fromhex("4d3b6618"),  # cmp r12, [r14+0x10/0x18]
    bytes.fromhex("483b6110"), bytes.fromhex("483b6118"),  # cmp rsp, [rcx+0x10/0x18]
    bytes.fromhex("483b4110"), bytes.fromhex("483b4118"),  # cmp rax, [rcx+0x10/0x18]

]
# Go <= 1.16, frames past StackBig: mov rsi, [rcx+0x10/0x18], then (after
# alignment NOPs on windows) cmp rsi, $StackPreempt (-1314, runtime/stack.go).
_AMD64_LONG_HEADS = [bytes.fromhex("488b7110"), bytes.fromhex("488b7118")]
_AMD64_LONG_CMP = bytes.fromhex("4881fedefaffff")
_AMD64_LONG_GAP = 16  # how far after the load the compare may start

# The other architectures: (mask, value) of the u32 at a position, and the
# step between positions (the instruction alignment).
_MASKED = {
    # ldr xT, [x28, #0x10] / [x28, #0x18]: 0xf9400b80 | T, 0xf9400f80 | T
    "arm64": ([(0xFFFFFFE0, 0xF9400B80), (0xFFFFFFE0, 0xF9400F80)], 4),
    # cmp esp, [ecx+8/0xc]; cmp eax, [ecx+8/0xc] (3 bytes: the fourth is masked off)
    "386": ([(0x00FFFFFF, 0x08613B), (0x00FFFFFF, 0x0C613B), (0x00FFFFFF, 0x08413B),
             (0x00FFFFFF, 0x0C413B),
             # mov esi, [ecx+8/0xc] (frames past StackBig, as amd64's mov rsi)
             (0x00FFFFFF, 0x08718B), (0x00FFFFFF, 0x0C718B)], 1),
    # ldr rT, [r10, #8] / [r10, #0xc]: 0xe59a0008 | T << 12
    "arm": ([(0xFFFF0FFF, 0xE59A0008), (0xFFFF0FFF, 0xE59A000C)], 4),
    # ld xT, 16(x27) / 24(x27): imm << 20 | 27 << 15 | 3 << 12 | T << 7 | 0x03
    "riscv64": ([(0xFFFFF07F, 0x010DB003), (0xFFFFF07F, 0x018DB003)], 2),
}


def _code_offsets(b, indices: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """File offset of each function's first byte, and how many of its first
    ``width`` bytes the file holds (0 where none: outside every section)."""
    t = b.table
    entries = t.entries
    starts = entries[indices].astype(np.int64)
    sizes = entries[indices + 1].astype(np.int64) - starts
    c = b.container
    secs = sorted((s for s in c.sections if s.file_size and s.addr), key=lambda s: s.addr)
    offsets = np.zeros(len(indices), np.int64)
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
        offsets = np.where(inside, s_off + (starts - s_addr), 0)
        avail = np.where(inside, s_addr + s_fsize - starts, 0)
    length = np.clip(np.minimum(sizes, avail), 0, width)
    length = np.where(offsets + length <= len(c.data), length, 0)
    return offsets, length


def _u32_view(data) -> np.ndarray:
    """The little-endian u32 starting at every byte of data (an unaligned view)."""
    u8 = np.frombuffer(data, dtype=np.uint8)
    if len(u8) < 4:
        return np.zeros(0, np.uint32)
    return np.ndarray((len(u8) - 3,), dtype="<u4", buffer=u8, strides=(1,))


def _u64_view(u8: np.ndarray) -> np.ndarray:
    """The little-endian u64 starting at every byte of u8 (an unaligned view)."""
    return np.ndarray((max(len(u8) - 7, 0),), dtype="<u8", buffer=u8, strides=(1,))


def _u32(pattern: bytes) -> int:
    return int.from_bytes(pattern, "little")


def has_stack_check(b, indices: np.ndarray | None = None) -> np.ndarray | None:
    """True where the function's prologue has the stack-bound check.

    None when undecidable (an architecture without patterns here).

    Nearly all functions of current toolchains have the compare at their first
    byte (amd64) or the load as their first instruction (arm64): one gather
    decides those; the rest are searched through the window five positions per
    8-byte gather, over the functions still undecided that are long enough.
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
    offsets, length = _code_offsets(b, indices, width)
    u32 = _u32_view(b.container.data)
    u8 = np.frombuffer(b.container.data, dtype=np.uint8)
    out = np.zeros(len(indices), bool)
    if arch == "amd64":
        pats = np.array([_u32(p) for p in _AMD64_U32], np.uint32)
        long_heads = [_u32(h) for h in _AMD64_LONG_HEADS]
        last_u32 = last_long = width - 4  # last position a 4-byte pattern is looked for at
        step = 1
    else:
        masked, step = _MASKED[arch]  # step: instruction alignment from the entry
        last_u32 = last_long = width - 4
    # Position 0 alone (it decides most functions), then groups of positions
    # read with one 8-byte gather each: a u64 at q holds the u32s at q..q+4.
    positions = list(range(0, last_u32 + 1, step))
    groups = [positions[:1]]
    for p in positions[1:]:
        if p - groups[-1][0] <= 4 and len(groups) > 1:
            groups[-1].append(p)
        else:
            groups.append([p])
    n_data = len(u8)
    rest = np.flatnonzero(length >= 4)
    for group in groups:
        q = group[0]
        rest = rest[length[rest] >= q + 4]
        if not len(rest):
            break
        pos = offsets[rest] + q
        if len(group) == 1:
            words = u32[pos].astype(np.uint64)
        else:
            far = pos + 8 > n_data  # at the end of the file: assemble from bytes
            words = np.zeros(len(pos), np.uint64) if far.any() else None
            if words is None:
                words = _u64_view(u8)[pos]
            else:
                near = ~far
                words[near] = _u64_view(u8)[pos[near]]
                for k in range(8):
                    words[far] |= u8[np.minimum(pos[far] + k, n_data - 1)].astype(
                        np.uint64) << np.uint64(8 * k)
        lens = length[rest]
        found = np.zeros(len(rest), bool)
        for p in group:
            w = (words >> np.uint64(8 * (p - q))).astype(np.uint32)  # low 4 bytes
            if arch == "amd64":
                hit = w == pats[0]
                for v in pats[1:]:
                    hit |= w == v
                if p <= last_long:
                    head = (w == long_heads[0]) | (w == long_heads[1])
                    cand = np.flatnonzero(~hit & head)
                    if len(cand):
                        hit[cand[_long_compare_follows(u8, offsets[rest[cand]] + p + 4,
                                                       lens[cand] - p - 4)]] = True
            else:
                hit = np.zeros(len(w), bool)
                for mask, value in masked:
                    hit |= (w & np.uint32(mask)) == np.uint32(value)
            # A match counts only inside the function (386: the 3 bytes compared).
            found |= hit & (lens >= p + (3 if arch == "386" else 4))
        out[rest[found]] = True
        rest = rest[~found]
    return out


def _long_compare_follows(u8: np.ndarray, starts: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Where ``cmp rsi, $StackPreempt`` begins within _AMD64_LONG_GAP bytes of
    starts (and inside the function: room bytes are left)."""
    pat = _AMD64_LONG_CMP
    found = np.zeros(len(starts), bool)
    last = len(u8) - len(pat)
    for gap in range(_AMD64_LONG_GAP):
        ok = (room >= gap + len(pat)) & (starts + gap <= last)
        for k, byte in enumerate(pat):
            ok &= u8[np.minimum(starts + gap + k, len(u8) - 1)] == byte
        found |= ok
    return found
