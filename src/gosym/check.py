"""Check the pcsp tables against the machine code (capstone).

For every function the code is disassembled and its control flow followed from
the entry with SP delta 0. Every instruction that writes SP changes the delta by
its amount (SUB/ADD on SP, PUSH/POP, arm64 pre/post-indexed loads and stores,
MOV into SP of a value computed from SP); nothing else changes it. The delta the
code implies at each instruction start must equal the pcsp table's value there,
and every pcsp range boundary must fall on an instruction boundary.

Control flow, not a linear sweep: a branch carries the delta to its target, a
RET or tail-call JMP ends a path. The fall-through after a CALL is followed last
(the callee may never return: the block after it can be the morestack block,
whose delta 0 comes from the prologue's branch). Code no path reaches (jump
table targets, blocks after a RET) starts with the function's frame delta, as
the Go assemblers lay it out (cmd/internal/obj/x86/obj6.go: "If there are
instructions following this RET, they come from a branch with the same stack
frame").

Functions that can't be checked are counted by reason, never dropped:
``spwrite`` (SPWRITE flag, or the arm64 ``mov sp, sp`` marker),
``stack_switch`` (SP loaded with a value not derived from SP: assembly that
switches stacks, before Go 1.17 had the flag), ``undecodable`` (bytes capstone
can't decode on a path), ``no_pcsp`` (no table), ``no_code`` (bytes not in the
file) and ``empty``.

An SP adjustment split into two instructions (arm64 epilogues of frames of
64 KiB and more: ``add sp, sp, #lo; add sp, sp, #hi, lsl #12``) is checked as one:
the table changes only after the second. Each such place is reported as a
``split_adjust`` finding, not a mismatch (``strict`` counts it as one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from typing import Callable

from ._lazy import np

from .binary import GoBinary
from .errors import GosymError, UnsupportedError
from .pclntab import FLAG_ASM, FLAG_SPWRITE

# Instruction kinds.
_NORMAL, _ADJ, _JMP, _JCC, _RET, _CALL, _TRAP, _SPSET, _SPREG, _SPUNK, _SPMARK, _BAD = range(12)
_TERMINATORS = (_JMP, _RET, _TRAP, _BAD)

SKIP_REASONS = ("spwrite", "stack_switch", "undecodable", "no_pcsp", "no_code", "empty")


@dataclass(frozen=True)
class CheckConfig:
    pattern: str | None = None  # regular expression on function names (re.search)
    strict: bool = False  # count split adjustments as mismatches


@dataclass(frozen=True)
class Finding:
    """One place where the code and the pcsp table disagree."""

    pc: int
    kind: str  # "delta", "boundary", "flow", "uncovered", "table", "split_adjust" (strict)
    code: int | None  # SP delta the code implies (None: not applicable)
    table: int | None  # pcsp value there (None: past the table's end)

    def describe(self) -> str:
        if self.kind == "table":
            return f"{self.pc:#x}: the pcsp table can't be decoded"
        if self.kind == "boundary":
            return f"{self.pc:#x}: pcsp range boundary inside an instruction"
        if self.kind == "flow":
            return f"{self.pc:#x}: paths reach it with SP deltas {self.code} and {self.table}"
        if self.kind == "uncovered":
            return f"{self.pc:#x}: reachable code past the end of the pcsp table (code {self.code})"
        if self.kind == "split_adjust":
            return f"{self.pc:#x}: split SP adjustment (code {self.code}, table {self.table})"
        return f"{self.pc:#x}: code sp_delta {self.code}, table {self.table}"


@dataclass(frozen=True)
class SplitAdjust:
    function: str
    pc: int  # the second instruction of the pair, where the table still has the old delta
    bytes: int  # how much the table overstates the frame for that one instruction


@dataclass(frozen=True)
class FuncCheck:
    index: int
    name: str
    entry: int
    skipped: str | None  # reason, None if checked
    findings: tuple[Finding, ...] = ()
    splits: tuple[SplitAdjust, ...] = ()
    stack_check: bool | None = None  # prologue has the stack-bound check (None: not decoded)

    @property
    def consistent(self) -> bool:
        return self.skipped is None and not self.findings


@dataclass(frozen=True)
class CheckReport:
    functions: int
    checked: int
    consistent: int
    mismatched: tuple[FuncCheck, ...]
    split_adjust: tuple[SplitAdjust, ...]
    skipped: dict[str, int]
    nosplit: tuple[str, ...]
    undecided_stack_check: int = 0
    results: tuple[FuncCheck, ...] = field(default=(), repr=False)

    @property
    def incomplete(self) -> bool:
        """No function was checked, or more than half of those selected were skipped:
        too little was compared to call the tables right."""
        return self.checked == 0 or 2 * self.checked < self.functions

    @property
    def verdict(self) -> str:
        """"mismatch" (some function disagrees), "incomplete" (see above) or "ok"."""
        if self.mismatched:
            return "mismatch"
        return "incomplete" if self.incomplete else "ok"

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


# --- operand parsing ------------------------------------------------------------------

_IMM = re.compile(r"#?(-?(?:0x[0-9a-f]+|\d+))")


def _imm(text: str) -> int | None:
    m = _IMM.fullmatch(text.strip())
    if m is None:
        return None
    v = int(m.group(1), 0)
    if v >= 1 << 63:  # capstone prints some negative immediates as 64-bit unsigned
        v -= 1 << 64
    return v



def _decode_words(cs, code, entry: int) -> list:
    """(address, size, mnemonic, operands) of 4-byte instructions, word by
    word: a word capstone can't decode (literal-pool data, Go's UNDEF) is
    kept as (address, 4, None, "") and doesn't stop the rest."""
    decoded: list = []
    n = len(code) & ~3
    pos = 0
    while pos < n:
        chunk = list(cs.disasm_lite(code[pos:n], entry + pos))
        decoded += chunk
        pos += 4 * len(chunk)
        if pos < n:
            decoded.append((entry + pos, 4, None, ""))
            pos += 4
    return decoded

def _target(text: str) -> int | None:
    t = text.strip().lstrip("#")
    if t.startswith("0x") or t.isdigit():
        try:
            return int(t, 0)
        except ValueError:
            return None
    return None


class _Arch:
    """Instruction classification for one architecture."""

    name = ""
    fixed_width = 0  # bytes of every instruction (arm, arm64), 0: variable length
    data_in_code = False  # literal pools and UNDEF words inside functions are traps

    def __init__(self, morestack: set[int]) -> None:
        self.morestack = morestack


class _Amd64(_Arch):
    """amd64 and, with 4-byte words, 386 (cmd/internal/obj/x86/obj6.go: one
    prologue and epilogue for both; PUSH/POP move SP by a word)."""

    name = "amd64"
    sp = "rsp"
    word = 8
    # First letters of mnemonics that never branch, trap or push/pop: with no
    # rsp operand such an instruction can't touch SP (leave/enter start with l/e).
    plain_first = frozenset("abdfgkmnostvwyz")
    _NOWRITE = frozenset(("cmp", "test", "bt", "push", "ucomisd"))

    def __init__(self, morestack: set[int]) -> None:
        super().__init__(morestack)
        import capstone

        mode = capstone.CS_MODE_64 if self.word == 8 else capstone.CS_MODE_32
        self.cs = capstone.Cs(capstone.CS_ARCH_X86, mode)
        self._sp_dest = self.sp + ","

    def decode(self, code, entry: int):
        """Lists (addrs, sizes, mnemonics, operands); a None mnemonic marks bytes
        capstone can't decode (the rest of the function then is not decoded)."""
        decoded = list(self.cs.disasm_lite(code, entry))
        if decoded:
            addrs, sizes, mns, ops = (list(x) for x in zip(*decoded))
        else:
            addrs, sizes, mns, ops = [], [], [], []
        n = len(code)
        pos = addrs[-1] - entry + sizes[-1] if addrs else 0
        if pos < n:
            addrs.append(entry + pos)
            sizes.append(n - pos)
            mns.append(None)
            ops.append("")
        return addrs, sizes, mns, ops, set()

    def classify(self, m: str | None, o: str):
        """(kind, argument) of one instruction."""
        if m is None:
            return _BAD, None
        c = m[0]
        if c == "j":
            if m == "jmp":
                return _JMP, _target(o)
            return _JCC, _target(o)
        if c == "p":
            w = self.word
            if m == "push":
                return _ADJ, w
            if m == "pop":
                if o == self.sp:
                    return _SPUNK, None
                return _ADJ, -w
            if m in ("pushfq", "pushf", "pushfd"):
                return _ADJ, w
            if m in ("popfq", "popf", "popfd"):
                return _ADJ, -w
            # 386 only: all eight 32-bit registers. The assembler moves its SP
            # model for PUSHL/POPL, not for PUSHAL/POPAL (cmd/internal/obj/x86/
            # obj6.go preprocess): pcsp misses these 32 bytes, a table defect.
            if m in ("pushal", "pushad"):
                return _ADJ, 8 * w
            if m in ("popal", "popad"):
                return _ADJ, -8 * w
        if m == "call":
            return _CALL, _target(o)
        if m == "ret":
            return _RET, None
        if m in ("int3", "ud2", "hlt", "ud1", "int1"):
            return _TRAP, None
        if m in ("leave", "enter"):
            return _SPUNK, None
        if o.startswith(self._sp_dest) and m not in self._NOWRITE:
            src = o[len(self._sp_dest) + 1:]
            if m in ("sub", "add"):
                v = _imm(src)
                if v is None:
                    return _SPREG, (m, src)
                return _ADJ, v if m == "sub" else -v
            if m == "lea":
                d = self._rsp_disp(src)
                if d is not None:
                    return _ADJ, -d
                return _SPUNK, None
            if m == "mov":
                if src == self.sp:
                    return _NORMAL, None
                return _SPSET, src
            return _SPUNK, None
        if m == "xchg" and self.sp in o.split(", "):
            return _SPUNK, None
        return _NORMAL, None

    def _rsp_disp(self, mem: str) -> int | None:
        """Displacement of ``[rsp +/- k]`` (only that form), else None."""
        mem = mem.replace("qword ptr ", "").replace("dword ptr ", "")
        head = "[" + self.sp
        if not (mem.startswith(head) and mem.endswith("]")):
            return None
        inner = mem[len(head):-1].replace(" ", "")
        if inner == "":
            return 0
        if inner[0] not in "+-":
            return None
        v = _imm(inner[1:])
        if v is None:
            return None
        return v if inner[0] == "+" else -v

    def reg_value(self, r: _Flow, j: int, reg: str, depth: int = 0):
        """What instruction j (which writes reg) puts into it:
        ("sp", absolute delta) or ("const", value), None if unknown."""
        m, o = r.mns[j], r.ops[j]
        src = o.split(", ", 1)[1] if ", " in o else ""
        dj = r.delta[j]
        if m == "mov":
            if src == self.sp:
                return None if dj is None else ("sp", dj)
            v = _imm(src)
            if v is not None:
                return ("const", v)
            return r.resolve(j, src, depth + 1)
        if m == "lea":
            d = self._rsp_disp(src)
            if d is not None and dj is not None:
                return ("sp", dj - d)
        if m in ("add", "sub"):
            v = _imm(src)
            base = r.resolve(j, reg, depth + 1)
            if v is None or base is None:
                return None
            if base[0] == "sp":
                return ("sp", base[1] + v if m == "sub" else base[1] - v)
            return ("const", base[1] - v if m == "sub" else base[1] + v)
        return None

    def writes(self, m: str | None, o: str, reg: str) -> bool:
        if m is None or m in self._NOWRITE or m.startswith("j") or m == "call":
            return m == "call"  # calls clobber everything
        first = o.split(", ", 1)[0]
        return first == reg or (first.startswith(reg) and len(first) <= len(reg) + 1) or \
            (len(reg) == 3 and reg[0] == "r" and first == "e" + reg[1:])


class _Arm64(_Arch):
    name = "arm64"
    sp = "sp"
    fixed_width = 4
    data_in_code = True
    # Not b*, cb*, tb*, ret, udf, hlt, brk: without an sp operand these can't
    # branch or write SP.
    plain_first = frozenset("adefgilmnopqsvxz")
    _NOWRITE = frozenset(("cmp", "cmn", "tst", "ccmp", "ccmn"))
    _COND = frozenset(("cbz", "cbnz", "tbz", "tbnz"))

    def __init__(self, morestack: set[int]) -> None:
        super().__init__(morestack)
        import capstone

        self.cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)

    def decode(self, code, entry: int):
        """Word by word: literal-pool data and Go's UNDEF don't decode and
        don't stop the rest."""
        decoded = _decode_words(self.cs, code, entry)
        data_words: set[int] = set()
        for _, _, m, o in decoded:
            if m is not None and m[0] == "l" and m.startswith("ldr") and "[" not in o:
                # LDR (literal): the target word(s) are data.
                t = _target(o.rsplit(", ", 1)[-1])
                if t is not None:
                    data_words.add(t)
                    if o[0] in "xd":
                        data_words.add(t + 4)
                    elif o[0] == "q":
                        data_words.update((t + 4, t + 8, t + 12))
        if not decoded:
            return [], [], [], [], data_words
        addrs, sizes, mns, ops = (list(x) for x in zip(*decoded))
        return addrs, sizes, mns, ops, data_words

    def classify(self, m: str | None, o: str):
        if m is None:
            return _BAD, None
        c = m[0]
        if c == "b":
            if m == "b":
                return _JMP, _target(o)
            if m.startswith("b."):
                return _JCC, _target(o)
            if m == "bl":
                return _CALL, _target(o)
            if m == "blr":
                return _CALL, None
            if m == "br":
                return _JMP, None
            if m == "brk":
                return _TRAP, None
        elif m in self._COND:
            return _JCC, _target(o.rsplit(", ", 1)[-1])
        elif m == "ret":
            return _RET, None
        elif m in ("udf", "hlt"):
            return _TRAP, None
        if "[sp" in o and (c == "l" or c == "s"):
            # pre-indexed "[sp, #-16]!" or post-indexed "[sp], #16" write-back
            if o.endswith("]!"):
                k = o.rfind("[sp, ")
                v = _imm(o[k + 5:-2]) if k >= 0 else None
                if v is not None:
                    return _ADJ, -v
                return _SPUNK, None
            k = o.find("[sp], ")
            if k >= 0:
                v = _imm(o[k + 6:])
                if v is not None:
                    return _ADJ, -v
                return _SPUNK, None
            return _NORMAL, None
        if o.startswith("sp,") and m not in self._NOWRITE:
            parts = o.split(", ")
            if m == "mov":
                if parts[1] == "sp":
                    return _SPMARK, None
                return _SPSET, parts[1]
            if m in ("add", "sub") and len(parts) >= 3 and parts[1] == "sp":
                v = _imm(parts[2])
                if v is not None:
                    if len(parts) == 4:
                        if parts[3] != "lsl #12":
                            return _SPUNK, None
                        v <<= 12
                    elif len(parts) > 4:
                        return _SPUNK, None
                    return _ADJ, v if m == "sub" else -v
                if len(parts) == 3:
                    return _SPREG, (m, parts[2])
            return _SPUNK, None
        return _NORMAL, None

    def reg_value(self, r: _Flow, j: int, reg: str, depth: int = 0):
        m, o = r.mns[j], r.ops[j]
        parts = o.split(", ")
        dj = r.delta[j]
        if m in ("mov", "movz", "movn") and len(parts) >= 2:
            if parts[1] == "sp":
                return None if dj is None else ("sp", dj)
            v = _imm(parts[1])
            if v is not None and len(parts) == 2:
                return ("const", v if m != "movn" else ~v)
            if v is None and len(parts) == 2:
                return r.resolve(j, parts[1], depth + 1)
            return None
        if m == "movk" and len(parts) >= 2:
            v = _imm(parts[1])
            shift = 0
            if len(parts) == 3 and parts[2].startswith("lsl #"):
                shift = int(parts[2][5:], 0)
            prev = r.resolve(j, reg, depth + 1)
            if v is None or prev is None or prev[0] != "const":
                return None
            return ("const", (prev[1] & ~(0xFFFF << shift)) | (v << shift))
        if m in ("add", "sub", "adds", "subs") and len(parts) >= 3:
            if parts[1] == "sp":
                if dj is None:
                    return None
                base = ("sp", dj)
            else:
                base = r.resolve(j, parts[1], depth + 1)
                if base is None:
                    return None
            v = _imm(parts[2])
            if v is None:
                c = r.resolve(j, parts[2], depth + 1)
                if c is None or c[0] != "const" or len(parts) != 3:
                    return None
                v = c[1]
            elif len(parts) == 4 and parts[3] == "lsl #12":
                v <<= 12
            elif len(parts) != 3:
                return None
            sub = m.startswith("sub")
            if base[0] == "sp":  # SP-relative values are kept as deltas (SP below entry)
                return ("sp", base[1] + v if sub else base[1] - v)
            return ("const", base[1] - v if sub else base[1] + v)
        return None

    def writes(self, m: str | None, o: str, reg: str) -> bool:
        if m is None:
            return False
        if m == "bl" or m == "blr":
            return True
        if m in self._NOWRITE or m.startswith("st") or m[0] == "b" or m in self._COND:
            return False
        first = o.split(", ", 1)[0]
        if first[1:] == reg[1:] and first[:1] in ("x", "w") and reg[:1] in ("x", "w"):
            return True
        if m.startswith("ldp") and o.split(", ", 2)[1:2] and o.split(", ", 2)[1][1:] == reg[1:]:
            return True
        return False


class _I386(_Amd64):
    name = "386"
    sp = "esp"
    word = 4


_ARM_COND = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
             "gt", "le", "al")


class _Arm(_Arch):
    """32-bit ARM (cmd/internal/obj/arm/obj5.go). The prologue saves LR with a
    pre-indexed store, ``MOVW.W R14, -autosize(SP)`` (``str lr, [sp, #-N]!``);
    the epilogue returns with a post-indexed load, ``MOVW.P autosize(SP), PC``
    (``ldr pc, [sp], #N``), or ``B (R14)`` in a leaf without a frame. Constants
    come from literal pools after the code (``ldr rX, [pc, #k]``: data words).
    Every instruction may carry a condition: a conditional branch, call or
    return is a fork, not an end."""

    name = "arm"
    sp = "sp"
    fixed_width = 4
    data_in_code = True
    # Mnemonics whose first letter is here can't branch or write SP without an
    # "sp" operand (not b*, ldr/ldm/pop, which may load PC, nor add/mov/orr/eor/
    # sub, which may write it).
    plain_first = frozenset("cfghijknqtuvwxyz")
    _NOWRITE = frozenset(("cmp", "cmn", "tst", "teq"))

    def __init__(self, morestack: set[int]) -> None:
        super().__init__(morestack)
        import capstone

        self.cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM)

    def decode(self, code, entry: int):
        decoded = _decode_words(self.cs, code, entry)
        data_words: set[int] = set()
        for a, _, m, o in decoded:
            if m is not None and m.startswith("ldr") and "[pc, #" in o:
                # LDR (literal): PC reads as the instruction's address + 8.
                v = _imm(o[o.index("[pc, #") + 5:].rstrip("]"))
                if v is not None:
                    t = a + 8 + v
                    data_words.add(t)
                    if m.startswith("ldrd"):
                        data_words.add(t + 4)
        if not decoded:
            return [], [], [], [], data_words
        addrs, sizes, mns, ops = (list(x) for x in zip(*decoded))
        for i, a in enumerate(addrs):
            # Go's arm NOP is the zero word, "AND.EQ R0, R0, R0" (cmd/internal/obj/arm
            # asm5.go); the linker pads functions with it too.
            if mns[i] == "andeq" and code[a - entry:a - entry + 4] == b"\0\0\0\0":
                mns[i], ops[i] = "nop", ""
        return addrs, sizes, mns, ops, data_words

    @staticmethod
    def _split_cond(m: str, base: str) -> str | None:
        """The condition suffix of ``base<cond>`` ("" for none), None if m is not that."""
        if not m.startswith(base):
            return None
        rest = m[len(base):]
        if rest.endswith(".w"):
            rest = rest[:-2]
        return rest if rest == "" or rest in _ARM_COND else None

    def _regs(self, o: str) -> list[str]:
        i, j = o.find("{"), o.find("}")
        return [r.strip() for r in o[i + 1:j].split(",")] if 0 <= i < j else []

    def classify(self, m: str | None, o: str):
        if m is None:
            return _BAD, None
        if m in ("udf",) or m.startswith("bkpt"):
            return _TRAP, None
        for base, kind in (("blx", _CALL), ("bl", _CALL), ("bx", _JMP), ("b", _JMP)):
            cond = self._split_cond(m, base)
            if cond is None:
                continue
            target = _target(o)
            if base == "bx":
                if o == "lr":
                    return (_RET, None) if cond in ("", "al") else (_JCC, None)
                return (_JMP, None) if cond in ("", "al") else (_JCC, None)
            if kind == _JMP and cond not in ("", "al"):
                return _JCC, target
            return kind, (target if base != "blx" or o.startswith("#") else None)
        regs = self._regs(o)
        if m.startswith("push") or m.startswith("stmdb") and o.startswith("sp!"):
            return _ADJ, 4 * len(regs)
        if m.startswith("pop") or m.startswith("ldm") and o.startswith("sp!"):
            if "pc" in regs:
                return _RET, 4 * len(regs)
            return _ADJ, -4 * len(regs)
        if m.startswith("ldm") or m.startswith("stm"):
            return (_SPUNK, None) if o.startswith("sp") else (_NORMAL, None)
        if (m.startswith("ldr") or m.startswith("str")) and "[sp" in o:
            dest_pc = m.startswith("ldr") and o.startswith("pc,")
            if o.endswith("]!"):  # pre-indexed: SP += offset before the access
                k = o.rfind("[sp, #")
                v = _imm(o[k + 5:-2]) if k >= 0 else None
                if v is None:
                    return _SPUNK, None
                return (_SPUNK, None) if dest_pc else (_ADJ, -v)
            k = o.find("[sp], #")
            if k >= 0:  # post-indexed: SP += offset after the access
                v = _imm(o[k + 6:])
                if v is None:
                    return _SPUNK, None
                return (_RET, -v) if dest_pc else (_ADJ, -v)
            if dest_pc:
                return _RET, None
            return _NORMAL, None
        if m.startswith("ldr") and o.startswith("pc,"):
            return _JMP, None  # a jump through a table or register
        parts = o.split(", ")
        if parts[0] == "pc" and m not in self._NOWRITE:
            # B (R14) in a leaf without a frame: "add pc, lr, #0" (or "mov pc, lr").
            if len(parts) >= 2 and parts[1] == "lr" and m in ("mov", "add"):
                return _RET, None
            return _JMP, None
        if parts[0] == "sp" and m not in self._NOWRITE and not m.startswith("str"):
            base = m[:3]
            if base == "mov" and len(parts) == 2 and m in ("mov", "movs"):
                return _SPSET, parts[1]
            if base in ("add", "sub") and m in ("add", "sub") and len(parts) == 3 and \
                    parts[1] == "sp":
                v = _imm(parts[2])
                if v is not None:
                    return _ADJ, v if base == "sub" else -v
                return _SPREG, (base, parts[2])
            return _SPUNK, None
        return _NORMAL, None

    def reg_value(self, r: _Flow, j: int, reg: str, depth: int = 0):
        m, o = r.mns[j], r.ops[j]
        parts = o.split(", ")
        dj = r.delta[j]
        if m in ("mov", "movw", "mvn") and len(parts) == 2:
            if parts[1] == "sp":
                return None if dj is None else ("sp", dj)
            v = _imm(parts[1])
            if v is not None:
                return ("const", v if m != "mvn" else ~v)
            return r.resolve(j, parts[1], depth + 1)
        if m in ("add", "sub") and len(parts) == 3:
            if parts[1] == "sp":
                if dj is None:
                    return None
                base = ("sp", dj)
            else:
                base = r.resolve(j, parts[1], depth + 1)
                if base is None:
                    return None
            v = _imm(parts[2])
            if v is None:
                c = r.resolve(j, parts[2], depth + 1)
                if c is None or c[0] != "const":
                    return None
                v = c[1]
            if base[0] == "sp":
                return ("sp", base[1] + v if m == "sub" else base[1] - v)
            return ("const", base[1] - v if m == "sub" else base[1] + v)
        if m.startswith("ldr") and len(parts) == 2 and parts[1].startswith("[pc, #"):
            return None  # a literal: its value would have to be read from the pool
        return None

    def writes(self, m: str | None, o: str, reg: str) -> bool:
        if m is None:
            return False
        if m.startswith("bl"):
            return True
        if m in self._NOWRITE or m.startswith("st") or m.startswith("b") or \
                m.startswith("push"):
            return False
        return o.split(", ", 1)[0] == reg


class _Riscv64(_Arch):
    """riscv64 (cmd/internal/obj/riscv/obj.go): the prologue stores RA below SP
    (``MOV RA, -framesize(SP)``) and then ``ADDI $-framesize, SP``; the epilogue
    reloads RA, ``ADDI $framesize, SP`` and ``JALR X0, 0(RA)``. The stack-bound
    check calls runtime.morestack with ``JAL X5``. Go 1.25+ also emits the
    compressed (2-byte) forms (pcsp quantum 2). capstone prints branch targets
    as offsets from the instruction."""

    name = "riscv64"
    sp = "sp"
    # Not b* (branches), j*, ret, c.* (compressed jumps), ebreak/unimp (traps).
    plain_first = frozenset("adfhiklmnopsvwxz")
    _NOWRITE = frozenset()

    def __init__(self, morestack: set[int]) -> None:
        super().__init__(morestack)
        import capstone

        self.cs = capstone.Cs(capstone.CS_ARCH_RISCV,
                              capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)

    def decode(self, code, entry: int):
        decoded: list = []
        n = len(code) & ~1
        pos = 0
        cs = self.cs
        while pos < n:
            chunk = list(cs.disasm_lite(code[pos:n], entry + pos))
            decoded += chunk
            if chunk:
                last = chunk[-1]
                pos = last[0] - entry + last[1]
            if pos < n:
                decoded.append((entry + pos, 2, None, ""))
                pos += 2
        if not decoded:
            return [], [], [], [], set()
        addrs, sizes, mns, ops = (list(x) for x in zip(*decoded))
        # Relative branch offsets as absolute targets, as the other architectures print them.
        for i, (a, m, o) in enumerate(zip(addrs, mns, ops)):
            if m is not None and (m[0] == "b" or m in ("jal", "c.j", "c.jal", "j") or
                                  m in ("c.beqz", "c.bnez")):
                parts = o.split(", ")
                v = _imm(parts[-1])
                if v is not None:
                    ops[i] = ", ".join(parts[:-1] + [hex(a + v)])
        return addrs, sizes, mns, ops, set()

    def classify(self, m: str | None, o: str):
        if m is None:
            return _BAD, None
        parts = o.split(", ")
        if m in ("jal", "c.jal"):
            if len(parts) == 1 and m == "jal":  # "jal off": link in ra
                return _CALL, _target(parts[0])
            if parts[0] == "zero":
                return _JMP, _target(parts[-1])
            return _CALL, _target(parts[-1])
        if m in ("j", "c.j"):
            return _JMP, _target(parts[-1])
        if m in ("ret",) or (m in ("jr", "c.jr") and parts[0] == "ra"):
            return _RET, None
        if m in ("jalr", "c.jalr"):
            if parts[0] == "zero":
                return (_RET, None) if len(parts) > 1 and "ra" in parts[1] else (_JMP, None)
            return _CALL, None
        if m in ("jr", "c.jr"):
            return _JMP, None
        if m[0] == "b" or m in ("c.beqz", "c.bnez"):
            return _JCC, _target(parts[-1])
        if m in ("ebreak", "c.ebreak", "unimp", "c.unimp"):
            return _TRAP, None
        if parts[0] != "sp":
            return _NORMAL, None
        if m in ("addi", "c.addi", "c.addi16sp") and len(parts) >= 2:
            if m == "addi" and (len(parts) != 3 or parts[1] != "sp"):
                v = None if len(parts) != 3 else _imm(parts[2])
                return (_SPSET, parts[1]) if v == 0 else (_SPUNK, None)
            v = _imm(parts[-1])
            return (_ADJ, -v) if v is not None else (_SPUNK, None)
        if m in ("mv", "c.mv") and len(parts) == 2:
            return (_NORMAL, None) if parts[1] == "sp" else (_SPSET, parts[1])
        if m in ("add", "c.add") and parts[-2:-1] == ["sp"] or m == "c.add":
            reg = parts[-1]
            return _SPREG, ("add", reg)
        if m == "sub" and len(parts) == 3 and parts[1] == "sp":
            return _SPREG, ("sub", parts[2])
        return _SPUNK, None

    def reg_value(self, r: _Flow, j: int, reg: str, depth: int = 0):
        m, o = r.mns[j], r.ops[j]
        parts = o.split(", ")
        dj = r.delta[j]
        if m in ("mv", "c.mv") and len(parts) == 2:
            if parts[1] == "sp":
                return None if dj is None else ("sp", dj)
            return r.resolve(j, parts[1], depth + 1)
        if m in ("li", "c.li") and len(parts) == 2:
            v = _imm(parts[1])
            return None if v is None else ("const", v)
        if m in ("lui", "c.lui") and len(parts) == 2:
            v = _imm(parts[1])
            if v is None:
                return None
            v = (v << 12) & 0xFFFFFFFF
            return ("const", v - (1 << 32) if v >= 1 << 31 else v)
        if m in ("addi", "addiw", "c.addi", "c.addiw") and len(parts) >= 2:
            src = parts[1] if len(parts) == 3 else parts[0]
            v = _imm(parts[-1])
            if v is None:
                return None
            if src == "sp":
                return None if dj is None else ("sp", dj - v)
            if src == "zero":
                return ("const", v)
            base = r.resolve(j, src, depth + 1)
            if base is None:
                return None
            return (base[0], base[1] - v) if base[0] == "sp" else ("const", base[1] + v)
        return None

    def writes(self, m: str | None, o: str, reg: str) -> bool:
        if m is None:
            return False
        if m in ("jal", "jalr", "c.jal", "c.jalr", "call"):
            return True
        if m[0] in "bsj" and not m.startswith(("sl", "sr", "su", "sext")) or \
                m.startswith(("c.s", "c.j", "c.b")) and not m.startswith(("c.sl", "c.sr", "c.su")):
            return False
        return o.split(", ", 1)[0] == reg


@dataclass
class _Flow:
    """Per-function decoding and flow state."""

    arch: _Arch
    entry: int
    addrs: list
    sizes: list
    mns: list
    ops: list
    delta: list
    kinds: list
    args: list
    asm: bool = False
    dead: set = field(default_factory=set)  # NOPs reached only as padding after calls
    conflicts: list = field(default_factory=list)  # (pc, delta, other delta)

    def resolve(self, i: int, reg: str, depth: int = 0):
        """The value reg holds just before instruction i, by a backward scan of
        the straight-line code before it; None if unknown."""
        if depth > 8:
            return None
        arch = self.arch
        for j in range(i - 1, max(-1, i - 24), -1):
            m = self.mns[j]
            if self.kinds[j] in (_JMP, _RET, _TRAP, _BAD):
                return None
            if arch.writes(m, self.ops[j], reg):
                if m in ("bl", "blr", "call"):
                    return None
                return arch.reg_value(self, j, reg, depth)
        return None


_ARCHES = {"amd64": _Amd64, "386": _I386, "arm64": _Arm64, "arm": _Arm, "riscv64": _Riscv64}
CHECKED_ARCHES = tuple(_ARCHES)


def _arch_for(b: GoBinary, morestack: set[int]) -> _Arch:
    cls = _ARCHES.get(b.arch)
    if cls is None:
        raise UnsupportedError(f"check does not cover {b.arch} yet (it checks "
                               f"{', '.join(CHECKED_ARCHES)})")
    return cls(morestack)


def morestack_entries(b: GoBinary) -> set[int]:
    """Entries of runtime.morestack* (the prologue's stack-bound check calls one)."""
    t = b.table
    names = t.names()
    out = set()
    entries = t.entries
    for i, raw in enumerate(names):
        if raw.startswith(b"runtime.morestack"):
            out.add(int(entries[i]))
    return out


class Checker:
    """Checks functions of one binary; ``check(index)`` -> FuncCheck."""

    def __init__(self, b: GoBinary, config: CheckConfig = CheckConfig()) -> None:
        self.b = b
        self.config = config
        self.table = b.table
        self.arch = _arch_for(b, morestack_entries(b))

    def check(self, index: int, name: str | None = None) -> FuncCheck:
        t = self.table
        f = t.func(index)
        name = f.name if name is None else name
        if f.end <= f.entry:
            return FuncCheck(index, name, f.entry, "empty")
        try:
            code = self.b.container.read(f.entry, f.end - f.entry)
        except GosymError:
            return FuncCheck(index, name, f.entry, "no_code")
        addrs, sizes, mns, ops, data_words = self.arch.decode(code, f.entry)
        classify = self.arch.classify
        plain_first = self.arch.plain_first
        sp = self.arch.sp
        kinds = []
        args = []
        for pc, m, o in zip(addrs, mns, ops):
            if m is not None and m[0] in plain_first and sp not in o:
                kinds.append(_NORMAL)  # the common case: no branch, no SP operand
                args.append(None)
                continue
            k, a = classify(m, o)
            if k == _JMP and a == pc:
                k = _TRAP  # "b ." / "jmp ." pads and traps: no path continues
            kinds.append(k)
            args.append(a)
        for w in data_words:
            # LDR-literal targets inside the function are data, not code.
            off = w - f.entry
            if 0 <= off < len(addrs) * 4 and self.arch.data_in_code:
                i = off // 4
                if i < len(kinds) and addrs[i] == w:
                    kinds[i] = _BAD
        stack_check = any(k == _CALL and a in self.arch.morestack for k, a in zip(kinds, args))
        if f.flag & FLAG_SPWRITE or _SPMARK in kinds:
            return FuncCheck(index, name, f.entry, "spwrite", stack_check=stack_check)
        if f.pcsp == 0:
            return FuncCheck(index, name, f.entry, "no_pcsp", stack_check=stack_check)
        try:
            rows = t.pcsp_rows(f)
        except GosymError:
            # A table that can't be decoded disagrees with any code.
            return FuncCheck(index, name, f.entry, None, (Finding(f.entry, "table", None, None),),
                             (), stack_check)
        r = _Flow(self.arch, f.entry, addrs, sizes, mns, ops, [None] * len(addrs), kinds, args,
                  bool(f.flag & FLAG_ASM))
        reason = self._flow(r)
        if reason is not None:
            return FuncCheck(index, name, f.entry, reason, stack_check=stack_check)
        findings, splits = self._compare(r, rows, name)
        if self.config.strict:
            findings = findings + tuple(Finding(s.pc, "split_adjust", None, s.bytes) for s in splits)
        return FuncCheck(index, name, f.entry, None, findings, splits, stack_check)

    # --- control flow -------------------------------------------------------------
    def _flow(self, r: _Flow) -> str | None:
        addrs, kinds, args, delta, mns = r.addrs, r.kinds, r.args, r.delta, r.mns
        n = len(addrs)
        entry = r.entry
        index_of = {a: i for i, a in enumerate(addrs)}
        end = addrs[-1] + r.sizes[-1] if addrs else entry
        dead = r.dead
        current = [(0, 0, False)]
        pending: list[tuple[int, int]] = []  # fall-throughs after calls
        seeded = False
        seeds: set[int] = set()
        frame = 0
        while True:
            while current:
                i, d, weak = current.pop()
                while True:
                    cur = delta[i]
                    if cur is not None:
                        if cur != d and not weak:
                            r.conflicts.append((addrs[i], cur, d))
                        break
                    delta[i] = d
                    k = kinds[i]
                    if k == _NORMAL:
                        # A NOP ends a block that never continues (the compiler
                        # pads after calls that don't return, and dead ends):
                        # what follows it may be the morestack block.
                        if mns[i].startswith("nop"):
                            if weak:
                                dead.add(i)  # only reached as padding: the table may say anything
                            weak = True
                        else:
                            weak = False
                    elif k == _ADJ:
                        d += args[i]
                        weak = False
                    elif k == _JCC:
                        t = args[i]
                        j = index_of.get(t)
                        if j is not None:
                            current.append((j, d, False))
                        elif t is not None and entry <= t < end:
                            return "undecodable"  # a branch into what decoded as data
                        weak = False
                    elif k == _JMP:
                        t = args[i]
                        j = index_of.get(t)
                        if j is not None:
                            current.append((j, d, False))
                        elif t is not None and entry <= t < end:
                            return "undecodable"
                        break
                    elif k == _CALL:
                        if i + 1 < n:
                            pending.append((i + 1, d))
                        break
                    elif k == _RET or k == _TRAP:
                        break
                    elif k == _BAD:
                        if not self.arch.data_in_code:
                            return "undecodable"
                        delta[i] = None  # data word / UNDEF: a trap
                        break
                    elif k == _SPSET:
                        v = r.resolve(i, args[i])
                        if v is None or v[0] != "sp":
                            return "stack_switch"
                        d = v[1]
                    elif k == _SPREG:
                        op, reg = args[i]
                        v = r.resolve(i, reg)
                        if v is None or v[0] != "const":
                            return "stack_switch"
                        d = d + v[1] if op == "sub" else d - v[1]
                    else:  # _SPUNK
                        return "stack_switch"
                    i += 1
                    if i >= n:
                        break
            if pending:
                # Fall-throughs after calls: a callee that never returns may be
                # followed by a block reached otherwise with another delta.
                current = [(i, d, True) for i, d in pending if delta[i] is None]
                current.reverse()
                pending = []
                continue
            # Code no path reached (jump-table targets, blocks after a RET, dead
            # words): the assemblers compute pcsp in instruction order, so it
            # continues with the delta after the instruction before it; a RET
            # (and a compiled tail call) restores the frame for what follows.
            if not seeded:
                frame = max([x for x in delta if x is not None], default=0)
                seeded = True
            seed = None
            for i in range(n):
                if delta[i] is None and kinds[i] not in (_TRAP, _BAD) and \
                        not (mns[i] or "").startswith("nop") and i not in seeds:
                    seeds.add(i)
                    seed = i
                    break
            if seed is None:
                return None
            current = [(seed, self._linear_delta(r, seed, frame, index_of), True)]

    def _linear_delta(self, r: _Flow, i: int, frame: int, index_of: dict) -> int:
        j = i - 1
        while j >= 0 and r.delta[j] is None:
            j -= 1
        if j < 0:
            return frame
        d, k, a = r.delta[j], r.kinds[j], r.args[j]
        if k == _RET:
            return frame
        if k == _JMP and a is not None and a not in index_of and not r.asm:
            return frame  # compiled tail call: RETJMP restores the frame like RET
        if k == _ADJ:
            return d + a
        return d

    # --- comparison with the table --------------------------------------------------------
    def _compare(self, r: _Flow, rows, name: str):
        findings: list[Finding] = []
        splits: list[SplitAdjust] = []
        entry = r.entry
        ends = [e for e, _ in rows]
        vals = [v for _, v in rows]
        addrs, delta, kinds = r.addrs, r.delta, r.kinds
        # Boundaries on instruction starts (arm64: every word is one).
        code_len = (addrs[-1] - entry + r.sizes[-1]) if addrs else 0
        width = self.arch.fixed_width
        starts = None if width else {a - entry for a in addrs}
        for e in ends:
            if e < code_len and (e % width != 0 if width else e not in starts):
                findings.append(Finding(entry + e, "boundary", None, None))
        dead = r.dead
        p = 0
        nrows = len(ends)
        for i, a in enumerate(addrs):
            off = a - entry
            while p < nrows and ends[p] <= off:
                p += 1
            d = delta[i]
            if d is None or i in dead:
                continue
            if p >= nrows:
                if kinds[i] in (_TRAP, _BAD) or (r.mns[i] or "").startswith("nop"):
                    continue
                findings.append(Finding(a, "uncovered", d, None))
                continue
            tv = vals[p]
            if tv == d:
                continue
            # Split adjustment: the table changes only after the second of two SP adjustments.
            if i > 0 and kinds[i] in (_ADJ, _JMP) and kinds[i - 1] == _ADJ and \
                    delta[i - 1] is not None and tv == delta[i - 1] and self._split_pair(r, i - 1):
                splits.append(SplitAdjust(name, a, tv - d))
                continue
            findings.append(Finding(a, "delta", d, tv))
        for pc, a, b in r.conflicts:
            findings.append(Finding(pc, "flow", a, b))
        return tuple(findings), tuple(splits)

    def _split_pair(self, r: _Flow, i: int) -> bool:
        """Instructions i, i+1 are one SP adjustment split in two (arm64), or an
        arm tail call whose table keeps the frame until after the jump: Go <= 1.19
        cmd/internal/obj/arm/obj5.go turns RET into ``MOVW.P N(SP), R14; B sym``
        without giving the load its SP adjustment."""
        if self.arch.name == "arm":
            return r.kinds[i + 1] == _JMP and r.ops[i].startswith(("lr, [sp], #", "{lr}"))
        if self.arch.name != "arm64":
            return False
        a, b = r.ops[i], r.ops[i + 1]
        return (r.mns[i] == r.mns[i + 1] and a.startswith("sp, sp, #") and
                b.startswith("sp, sp, #") and (a.endswith("lsl #12") != b.endswith("lsl #12")))


def check_binary(b: GoBinary, indices: np.ndarray | None = None,
                 config: CheckConfig = CheckConfig(),
                 progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Check the selected functions; ``progress(done, total)`` is called every 1024."""
    t = b.table
    if indices is None:
        indices = np.arange(len(t))
    checker = Checker(b, config)
    names = t.names(indices)
    results = []
    skipped = {r: 0 for r in SKIP_REASONS}
    for k, i in enumerate(indices.tolist()):
        if progress is not None and k % 1024 == 0:
            progress(k, len(indices))
        res = checker.check(i, names[k].decode("utf-8", "replace"))
        results.append(res)
        if res.skipped:
            skipped[res.skipped] += 1
    checked = [r for r in results if r.skipped is None]
    mismatched = tuple(r for r in checked if r.findings)
    splits = tuple(s for r in checked for s in r.splits)
    nosplit = tuple(r.name for r in results if r.stack_check is False)
    undecided = sum(1 for r in results if r.stack_check is None)
    return CheckReport(len(indices), len(checked), len(checked) - len(mismatched), mismatched,
                       splits, {k: v for k, v in skipped.items() if v}, nosplit, undecided,
                       tuple(results))
