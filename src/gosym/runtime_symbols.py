"""Addresses of the Go runtime's global variables, with or without a symbol table.

With symbols (``runtime.allgs`` etc.) the ELF symbol table answers. Stripped
binaries keep no names for data, but they keep the function table: the
runtime functions that use a variable are found by name there, and their
machine code (decoded with capstone) holds the variable's address:

* amd64: a RIP-relative memory operand (``MOVQ runtime.allgs+8(SB), CX`` is
  ``mov rcx, [rip + disp]``: address = next instruction + disp);
* arm64: ``ADRP Xn, page`` followed by ``ADD Xd, Xn, #imm`` or a load/store
  ``[Xn, #imm]`` (address = page + imm).

A function references several globals, so the callers validate each
candidate against what the variable must hold (a slice whose first element is
goroutine 1, a linked list of Ms whose g0 points back, an array of the
expected strings); nothing is borrowed from another build, whose data layout
differs even between a binary and its stripped twin.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator


def function_code(binary, name: str) -> tuple[int, bytes] | None:
    """(entry, machine code) of the function with this exact name, or None."""
    f = binary.lookup(name)
    if f is None:
        return None
    try:
        return f.entry, bytes(binary.container.read(f.entry, f.end - f.entry))
    except Exception:
        return None


def data_refs(binary, name: str) -> list[int]:
    """Addresses of data the named function's code refers to, in code order,
    without repeats (file addresses; add the load bias for a PIE)."""
    return list(_data_refs(binary, name))


def _data_refs(binary, name: str) -> tuple[int, ...]:
    cache = binary.__dict__.setdefault("_gosym_data_refs", {})
    if name not in cache:
        code = function_code(binary, name)
        refs: list[int] = []
        if code is not None:
            entry, text = code
            refs = _amd64_refs(entry, text) if binary.arch == "amd64" else \
                _arm64_refs(entry, text)
        seen = set()
        cache[name] = tuple(r for r in refs if not (r in seen or seen.add(r)))
    return cache[name]


@lru_cache(maxsize=2)
def _disassembler(arch: str):
    import capstone
    if arch == "amd64":
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    else:
        cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    cs.detail = True
    cs.skipdata = True
    return cs


def _amd64_refs(entry: int, code: bytes) -> list[int]:
    from capstone import x86
    out = []
    for insn in _disassembler("amd64").disasm(code, entry):
        if insn.id == 0:  # skipped data
            continue
        for op in insn.operands:
            if op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP:
                out.append(insn.address + insn.size + op.mem.disp)
    return out


def _arm64_refs(entry: int, code: bytes) -> list[int]:
    from capstone import arm64
    out = []
    pages: dict[int, int] = {}  # register -> page address from ADRP
    for insn in _disassembler("arm64").disasm(code, entry):
        if insn.id == 0:
            continue
        ops = insn.operands
        if insn.id == arm64.ARM64_INS_ADRP and len(ops) == 2:
            pages[ops[0].reg] = ops[1].imm
            continue
        if insn.id == arm64.ARM64_INS_ADD and len(ops) == 3 and \
                ops[1].type == arm64.ARM64_OP_REG and ops[1].reg in pages and \
                ops[2].type == arm64.ARM64_OP_IMM:
            out.append(pages[ops[1].reg] + ops[2].imm)
        else:
            for op in ops:
                if op.type == arm64.ARM64_OP_MEM and op.mem.base in pages:
                    out.append(pages[op.mem.base] + op.mem.disp)
        # The destination register no longer holds a page (stores, compares
        # and branches write no register).
        if ops and ops[0].type == arm64.ARM64_OP_REG and \
                not insn.mnemonic.startswith(("st", "cmp", "cmn", "tst", "b", "cb", "tb")):
            pages.pop(ops[0].reg, None)
    return out


def symbol_address(binary, name: str) -> int | None:
    """A data symbol's address from the symbol table, None when stripped."""
    try:
        return binary.container.symbol(name)
    except Exception:
        return None


def candidates(binary, name: str, users: tuple[str, ...], back: tuple[int, ...] = (0,)
               ) -> Iterator[tuple[int, str]]:
    """Possible addresses of the variable name, best first, with how each was
    found: its symbol, then every address the user functions refer to (minus
    each of ``back``: code that touches a slice's len reads var+8)."""
    sym = symbol_address(binary, name)
    if sym is not None:
        yield sym, "symbol table"
    seen = {sym}
    for user in users:
        for ref in data_refs(binary, user):
            for d in back:
                a = ref - d
                if a % 8 == 0 and a not in seen:
                    seen.add(a)
                    yield a, f"machine code of {user}"
