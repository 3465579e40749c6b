"""Call instructions in the machine code: what a return address says about the callee.

Stack accounting needs to know which frames a traceback did not show.
A frame's return address tells how its function called the next one: the
instruction that ends at the return address is the call. When that call is
direct, its target is known, and the target's own calls can be followed
down to the frames a goroutine parks in.

* :meth:`CallSites.calls_at` decodes the call instruction ending at many
  return addresses at once (numpy): direct ``CALL rel32`` on amd64
  (``E8`` + 4 bytes), ``BL imm26`` on arm64; indirect calls (``CALL r/m``,
  ``BLR``) are recognised as such; anything else is "no call" (the PC of a
  frame that an injected call interrupted: ``sigpanic``, ``asyncPreempt``).
  A direct call's target must be a function entry, which keeps the amd64
  byte test from mistaking the tail of a longer instruction for a call.
* :meth:`CallSites.calls_in` disassembles one function (capstone) and lists
  its direct calls and its tail calls (a jump to another function's entry,
  which leaves no frame of its own).

Addresses are file addresses (no PIE slide).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._lazy import np

NO_CALL = 0
DIRECT = 1
INDIRECT = 2


@dataclass(frozen=True)
class Call:
    """A call made by a function: ``ret`` is the return address (the PC the
    caller's frame is suspended at), ``target`` the callee's entry (None when
    indirect); ``tail`` marks a jump to another function (no frame)."""

    ret: int
    target: int | None
    tail: bool = False


class CallSites:
    def __init__(self, binary) -> None:
        self.b = binary
        self.arch = binary.arch
        self.entries = binary.table.entries.astype(np.int64)  # sorted, with the end entry last
        self._calls: dict[int, list[Call]] = {}
        self._cs = None

    def _read(self, addr: int, size: int) -> bytes | None:
        from .errors import FormatError

        try:
            return bytes(self.b.container.read(addr, size))
        except FormatError:  # outside every section: not code gosym can read
            return None

    def _windows(self, addrs: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``width`` bytes at each address (rows), and which addresses have
        them in the file: the sections' address ranges, searched at once."""
        c = self.b.container
        raw = np.zeros((len(addrs), width), np.uint8)
        if not len(addrs):
            return raw, np.zeros(0, bool)
        off, avail = c.file_offsets(addrs)
        buf = np.frombuffer(c.buf, np.uint8)
        ok = (off >= 0) & (avail >= width) & (off + width <= len(buf))
        sel = np.flatnonzero(ok)
        if len(sel):
            raw[sel] = buf[off[sel, None] + np.arange(width)]
        return raw, ok

    def is_entry(self, addrs: np.ndarray) -> np.ndarray:
        e = self.entries[:-1]
        k = np.searchsorted(e, addrs)
        k = np.minimum(k, len(e) - 1)
        return e[k] == addrs

    def calls_at(self, rets) -> tuple[np.ndarray, np.ndarray]:
        """(kind, target) of the instruction ending at each return address:
        kind NO_CALL, DIRECT (target = the callee's entry) or INDIRECT."""
        rets = np.asarray(rets, dtype=np.int64)
        kind = np.zeros(len(rets), np.int64)
        target = np.zeros(len(rets), np.int64)
        if not len(rets):
            return kind, target
        width = 8 if self.arch == "amd64" else 4
        raw, ok = self._windows(rets - width, width)
        if self.arch == "amd64":
            rel = raw[:, 4:8].copy().view("<i4").reshape(-1).astype(np.int64)
            direct = ok & (raw[:, 3] == 0xE8)
            target = np.where(direct, rets + rel, 0)
            direct &= self.is_entry(target)
            kind[direct] = DIRECT
            kind[ok & ~direct & _amd64_indirect(raw)] = INDIRECT
        else:
            insn = raw.copy().view("<u4").reshape(-1).astype(np.int64)
            bl = ok & ((insn >> 26) == 0b100101)
            imm = insn & ((1 << 26) - 1)
            imm = np.where(imm >= 1 << 25, imm - (1 << 26), imm)
            target = np.where(bl, rets - 4 + 4 * imm, 0)
            bl &= self.is_entry(target)
            kind[bl] = DIRECT
            blr = ok & ((insn & 0xFFFFFC1F) == 0xD63F0000)
            kind[blr] = INDIRECT
        target = np.where(kind == DIRECT, target, 0)
        return kind, target

    def direct_calls_in(self, index: int) -> list[tuple[int, int]]:
        """(return address, callee entry) of function ``index``'s direct calls,
        from its bytes alone (no disassembler): amd64 ``E8 rel32`` whose
        target is a function entry, arm64 ``BL``. Cheaper than :meth:`calls_in`
        where only the calls to known functions matter."""
        t = self.b.table
        entry, end = int(t.entries[index]), int(t.entries[index + 1])
        code = self._read(entry, end - entry)
        if not code:
            return []
        u8 = np.frombuffer(code, np.uint8)
        if self.arch == "amd64":
            pos = np.flatnonzero(u8[:max(len(u8) - 4, 0)] == 0xE8)
            if not len(pos):
                return []
            rel = (u8[pos + 1].astype(np.int64) | (u8[pos + 2].astype(np.int64) << 8) |
                   (u8[pos + 3].astype(np.int64) << 16) | (u8[pos + 4].astype(np.int64) << 24))
            rel = np.where(rel >= 1 << 31, rel - (1 << 32), rel)
            ret = entry + pos + 5
        else:
            words = u8[:len(u8) & ~3].view("<u4").astype(np.int64)
            pos = np.flatnonzero((words >> 26) == 0b100101) * 4
            imm = words[pos // 4] & ((1 << 26) - 1)
            rel = 4 * np.where(imm >= 1 << 25, imm - (1 << 26), imm) - 4
            ret = entry + pos + 4
        target = ret + rel
        ok = self.is_entry(target)
        return list(zip(ret[ok].tolist(), target[ok].tolist()))

    def calls_in(self, index: int) -> list[Call]:
        """Direct calls and tail calls of function ``index`` (capstone)."""
        got = self._calls.get(index)
        if got is not None:
            return got
        t = self.b.table
        entry, end = int(t.entries[index]), int(t.entries[index + 1])
        code = self._read(entry, end - entry) or b""
        out: list[Call] = []
        for addr, size, mnemonic, op in self._disasm(code, entry):
            if mnemonic in ("call", "bl"):
                tgt = _operand_address(op)
                out.append(Call(addr + size, tgt if tgt is not None and self._entry(tgt) else None))
            elif mnemonic in ("jmp", "b"):
                tgt = _operand_address(op)
                if tgt is not None and not entry <= tgt < end and self._entry(tgt):
                    out.append(Call(addr + size, tgt, tail=True))
        self._calls[index] = out
        return out

    def _entry(self, addr: int) -> bool:
        return bool(self.is_entry(np.array([addr], np.int64))[0])

    def _disasm(self, code: bytes, entry: int):
        import capstone

        if self._cs is None:
            if self.arch == "amd64":
                self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            else:
                self._cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        if self.arch == "amd64":
            return list(self._cs.disasm_lite(code, entry))
        # arm64: word by word, so a literal-pool word does not stop the rest
        out = []
        pos, n = 0, len(code) & ~3
        while pos < n:
            chunk = list(self._cs.disasm_lite(code[pos:n], entry + pos))
            out += chunk
            pos += 4 * len(chunk) + (4 if pos + 4 * len(chunk) < n else 0)
        return out


def _operand_address(op: str) -> int | None:
    t = op.strip().lstrip("#")
    if t.startswith("0x"):
        try:
            return int(t, 16)
        except ValueError:
            return None
    return None


def _amd64_indirect(raw: np.ndarray) -> np.ndarray:
    """Instructions ``CALL r/m64`` (FF /2) of 2 to 7 bytes ending at the window's end.

    Checked by length: the opcode byte FF at position 8 - len with a ModRM
    whose reg field is 2 and whose mode and addressing give exactly that
    length (a REX prefix before FF does not change where the call ends)."""
    out = np.zeros(len(raw), bool)
    for length in range(2, 8):
        op = 8 - length
        modrm = raw[:, op + 1] if op + 1 < 8 else None
        if modrm is None:
            continue
        is_call = (raw[:, op] == 0xFF) & (((modrm >> 3) & 7) == 2)
        mod = modrm >> 6
        rm = modrm & 7
        # bytes after ModRM: SIB (rm == 4 and mod != 3), disp8 (mod 1), disp32 (mod 2,
        # or mod 0 with rm 5 (RIP-relative) or SIB base 5)
        sib = (rm == 4) & (mod != 3)
        disp = np.where(mod == 1, 1, np.where(mod == 2, 4, 0))
        disp = np.where((mod == 0) & (rm == 5), 4, disp)
        if op + 2 < 8:
            base5 = sib & (mod == 0) & ((raw[:, op + 2] & 7) == 5)
            disp = np.where(base5, 4, disp)
        need = 2 + sib.astype(np.int64) + disp
        out |= is_call & (need == length)
    return out
