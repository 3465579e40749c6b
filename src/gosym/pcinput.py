"""PC lists from what people paste: numbers, goroutine dumps, debug=1 profiles.

Accepted, line by line (formats may be mixed):

* Numbers separated by whitespace, commas or brackets (``[4198400 4198500]`` as
  ``fmt.Println(pcs)`` prints it, ``0x4a3b2c, 0x4a3b50``). Hex with or without
  ``0x``. The base is decided once for the whole input: if any number has
  ``0x`` or a hex letter, bare digit strings are hex too; otherwise they are
  decimal (so a Go ``[]uintptr`` printed with ``%v`` works, and so does a hex
  column without prefixes as long as one of its numbers has a letter). Numbers
  are return addresses (runtime.Callers' convention).
* Go goroutine dumps and panic traces: a function line (``main.foo(0x1, ...)``)
  followed by a location line (``\\t/path/file.go:12 +0x3a``, possibly with
  ``fp= sp= pc=`` under GOTRACEBACK=system). A frame with an offset is a
  physical frame: its PC is ``pc=`` when present, else the named function's
  entry + offset. Frames without offset are inlined frames (the runtime prints
  no offset for them): they are skipped, the PC of the next physical frame
  expands into them. The frame right after ``runtime.sigpanic`` holds the
  faulting instruction itself, so it is stored +1 as runtime.Callers does.
  ``panic(...)`` is how tracebacks print runtime.gopanic.
* ``#\\t0x4a3b2c\\tmain.foo+0x2c\\t/path/file.go:12`` lines of debug=1 profiles:
  the PC printed is runtime.Frame.PC (already an exact address), so it is
  stored +1 like a return address; the ``N @ 0x...`` header lines repeat the
  same stack unexpanded and are skipped.

Everything else is skipped, with the line number and the reason, so a caller
can say which input lines were not used (never silently). Empty lines are
ignored.

Slides (PIE, shared libraries): :func:`resolve` takes an explicit slide, or an
anchor (the runtime address of one function), or infers it from lines that
carry both a PC and ``function+offset`` (dump lines with ``pc=``, profile
``#`` lines): runtime entry = PC - offset, slide = that - the file's entry of
the same function; the most common candidate wins.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import repeat
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from .errors import GosymError

_SPLIT = re.compile(r"[\s,\[\]]+")
_HEX_TOKEN = re.compile(r"^(?:0[xX])?[0-9a-fA-F]+$")
_PROFILE = re.compile(
    r"^#\s+(0x[0-9a-fA-F]+)(?:\s+(\S+)\+(0x[0-9a-fA-F]+)\s+(.*):(\d+))?\s*$")
_PROFILE_HEADER = re.compile(r"^\d+:\s*\d+\s*\[\d+:\s*\d+\]\s*@|^\d+\s+\d+\s+@\s|^\d+\s+@\s")
_LOCATION = re.compile(r"^\s+(\S.*?):(\d+)(?:\s+\+0x([0-9a-fA-F]+))?((?:\s+\w+=\S+)*)\s*$")
_GOROUTINE = re.compile(r"^goroutine \d+")
_PC_FIELD = re.compile(r"\bpc=(0x[0-9a-fA-F]+)")
_SIGNAL = re.compile(r"^\[signal .*\bpc=(0x[0-9a-fA-F]+)")


@dataclass(frozen=True)
class Skipped:
    line_no: int  # 1-based
    text: str
    reason: str


class Item(NamedTuple):
    """One input PC, before slides and names are resolved (a NamedTuple: 100k of
    them are made per 100k-PC input, ~5x cheaper than a frozen dataclass)."""

    line_no: int
    kind: str  # "number", "dump" or "profile"
    pc: int | None  # runtime address (return-address convention); None: from name+offset
    function: str | None = None  # printed function name (dump, profile)
    offset: int | None = None  # +0x offset from the function's entry
    plus_one: bool = False  # add 1 after resolving a name+offset (faulting instruction)
    printed_pc: int | None = None  # the PC as printed beside function+offset


@dataclass
class ParsedInput:
    entries: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    lines: int = 0
    fault_pcs: set[int] = field(default_factory=set)  # pc= of "[signal ...]" lines
    # Fast path (input of numbers only): the PCs and their line numbers, without
    # an Item per PC.
    numbers: list[int] | None = None
    number_lines: list[int] | None = None

    @property
    def items(self) -> list[Item]:
        if self.numbers is not None:
            return [Item(no, "number", pc) for no, pc in zip(self.number_lines, self.numbers)]
        return self.entries


def parse_lines(lines: Iterable[str]) -> ParsedInput:
    """Parse pasted input into PC items (see the module docstring)."""
    out = ParsedInput()
    raw_lines = list(lines)
    fast = _numbers_only(raw_lines)
    if fast is not None:
        return fast
    pending_func: tuple[int, str] | None = None  # (line_no, name) of a dump function line
    prev_phys_name: str | None = None
    number_lines: list[tuple[int, list[str]]] = []
    out.lines = len(raw_lines)
    for no, raw in enumerate(raw_lines, 1):
        line = raw.rstrip("\r\n")
        text = line.strip()
        if not text:
            continue
        # A function line of a dump must be followed right away by its location.
        pend, pending_func = pending_func, None
        loc = _LOCATION.match(line) if line[:1] in (" ", "\t") else None
        if pend is not None and loc is None:
            out.skipped.append(Skipped(pend[0], pend[1], "function line without a location line"))
        m = _PROFILE.match(text)
        if m:
            pc = int(m.group(1), 16)
            name = m.group(2)
            off = int(m.group(3), 16) if m.group(3) else None
            out.entries.append(Item(no, "profile", pc + 1, name, off, printed_pc=pc))
            continue
        if text.startswith("#"):
            out.skipped.append(Skipped(no, line, "comment or profile statistics line"))
            continue
        if _PROFILE_HEADER.match(text):
            out.skipped.append(Skipped(no, line, "profile record header: its PCs are listed "
                                                 "again, expanded, on the # lines that follow"))
            continue
        sm = _SIGNAL.match(text)
        if sm:
            out.fault_pcs.add(int(sm.group(1), 16))
            out.skipped.append(Skipped(no, line, "signal description: its pc= marks the "
                                                 "faulting frame, looked up without -1"))
            continue
        if _GOROUTINE.match(text):
            prev_phys_name = None
            out.skipped.append(Skipped(no, line, "goroutine header"))
            continue
        if loc and pend is not None:
            fno, name = pend
            if name.startswith("created by "):
                out.skipped.append(Skipped(no, line, "goroutine creation site "
                                                     f"({name}), not a frame of this stack"))
                continue
            if loc.group(3) is None:
                out.skipped.append(Skipped(
                    fno, name, "frame without +0x offset (an inlined frame): it is expanded "
                               "from the PC of the next physical frame"))
                continue
            off = int(loc.group(3), 16)
            pcm = _PC_FIELD.search(loc.group(4) or "")
            after_sigpanic = prev_phys_name == "runtime.sigpanic"
            prev_phys_name = name
            pc = printed = None
            if pcm:
                pc = printed = int(pcm.group(1), 16)
                if after_sigpanic or pc in out.fault_pcs:
                    pc += 1
            out.entries.append(Item(no, "dump", pc, name, off, after_sigpanic, printed))
            continue
        if loc:
            out.skipped.append(Skipped(no, line, "location line without a function line "
                                                 "before it"))
            continue
        tokens = [t for t in _SPLIT.split(text) if t]
        if tokens and all(_HEX_TOKEN.match(t) for t in tokens):
            number_lines.append((no, tokens))
            out.entries.append(Item(no, "number", None))  # placeholder, filled below
            continue
        fm = _func_line(text)
        if fm is not None:
            pending_func = (no, fm)
            continue
        bad = next((t for t in tokens if not _HEX_TOKEN.match(t)), text)
        out.skipped.append(Skipped(no, line, f"not a PC list, dump or profile line "
                                             f"({bad!r} is not a number)"))
    if pending_func is not None:
        out.skipped.append(Skipped(pending_func[0], pending_func[1],
                                   "function line without a location line"))
    # Numbers: one base for the whole input.
    hex_input = any(t[:2].lower() == "0x" or any(c in "abcdefABCDEF" for c in t)
                    for _, toks in number_lines for t in toks)
    by_line = {no: toks for no, toks in number_lines}
    items: list[Item] = []
    for it in out.entries:
        if it.kind != "number":
            items.append(it)
            continue
        for t in by_line[it.line_no]:
            v = int(t, 16) if hex_input or t[:2].lower() == "0x" else int(t, 10)
            items.append(Item(it.line_no, "number", v))
    out.entries = items
    return out


_NUMBERS_ONLY = re.compile(r"[\s,\[\]0-9a-fA-FxX]*")
_HEX_HINT = re.compile(r"0[xX]|[a-fA-F]")
_TWO_ON_A_LINE = re.compile(r"[0-9a-fA-FxX][ \t\r,\[\]]+[0-9a-fA-FxX]")


def _numbers_only(raw_lines: list[str]) -> ParsedInput | None:
    """Fast path for the common case, an input of numbers only; None otherwise."""
    text = "\n".join(raw_lines)
    if not _NUMBERS_ONLY.fullmatch(text):
        return None
    base = 16 if _HEX_HINT.search(text) else 10
    out = ParsedInput(lines=len(raw_lines))
    try:
        if _TWO_ON_A_LINE.search(text) is None:
            # at most one number per line (the common shape): no per-line split
            lines_of = [no for no, line in enumerate(raw_lines, 1) if line.strip(" \t\r,[]")]
            tokens = [t for t in _SPLIT.split(text) if t]
        else:
            lines_of, tokens = [], []
            for no, line in enumerate(raw_lines, 1):
                for t in _SPLIT.split(line):
                    if t:
                        tokens.append(t)
                        lines_of.append(no)
        if len(lines_of) != len(tokens):
            return None
        out.numbers = list(map(int, tokens, repeat(base)))
    except ValueError:
        return None  # e.g. "0x0x1": the general parser names the bad token
    out.number_lines = lines_of
    return out


def _func_line(text: str) -> str | None:
    """The function name of a traceback function line, or None."""
    if text.startswith("created by "):
        return text.split(" in goroutine ")[0]
    if not text.endswith(")"):
        return None
    i = text.rfind("(")
    if i <= 0 or " " in text[:i]:
        return None
    name = text[:i]
    if name == "panic":
        return "runtime.gopanic"
    return name


_ONE_PER_LINE = re.compile(r"[0-9a-fA-FxX\n]*")


def parse_text(text: str) -> ParsedInput:
    # The most common input, one number per line and nothing else, without
    # splitting into lines first (numbers end up the same as _numbers_only's).
    if text and text[0] != "\n" and "\n\n" not in text and _ONE_PER_LINE.fullmatch(text):
        tokens = text.split()
        try:
            numbers = list(map(int, tokens, repeat(16 if _HEX_HINT.search(text) else 10)))
        except ValueError:
            numbers = None  # e.g. "0x0x1": the general parser names the bad token
        if numbers is not None:
            return ParsedInput(lines=len(tokens), numbers=numbers,
                               number_lines=list(range(1, len(tokens) + 1)))
    return parse_lines(text.splitlines())


def parse_args(args: Iterable[str]) -> ParsedInput:
    """PCs given as command-line arguments (each may hold several numbers)."""
    return parse_lines(list(args))


# --- resolving names and slides with the binary ----------------------------------------------

@dataclass(frozen=True)
class Resolved:
    pcs: list[int]  # runtime addresses
    slide: int
    slide_source: str  # "none", "--slide", "--anchor SYM", "inferred from N lines"
    skipped: list[Skipped]  # items that could not become a PC, plus the parser's
    line_nos: list[int]  # input line of each PC


class NameIndex:
    """Printed function name -> file entries (generic instantiations share a name)."""

    def __init__(self, binary) -> None:
        self.b = binary

    def entries(self, name: str) -> list[int]:
        return [self.b.table.entry_of(i) for i in self.b.indices_named(name)]


def resolve(binary, parsed: ParsedInput, slide: int | None = None,
            anchor: tuple[str, int] | None = None) -> Resolved:
    """Turn parsed items into runtime PCs, choosing the slide."""
    names = NameIndex(binary)
    source = "none"
    if slide is not None:
        source = "--slide"
    elif anchor is not None:
        sym, addr = anchor
        ents = names.entries(sym)
        if not ents:
            raise GosymError(f"--anchor: no function named {sym!r} in the binary")
        if len(ents) > 1:
            raise GosymError(f"--anchor: {sym!r} names {len(ents)} functions; pick another")
        slide = addr - ents[0]
        source = f"--anchor {sym}"
    elif parsed.numbers is not None:
        slide = 0  # plain numbers carry no names to infer a slide from
    else:
        cands: Counter[int] = Counter()
        for it in parsed.items:
            if it.printed_pc is None or it.function is None or it.offset is None:
                continue
            ents = names.entries(it.function)
            if len(ents) != 1:
                continue
            cand = it.printed_pc - it.offset - ents[0]
            f = binary.func_for_pc(ents[0] + it.offset)
            if f is not None and f.entry == ents[0]:
                cands[cand] += 1
        if cands:
            slide, count = cands.most_common(1)[0]
            source = f"inferred from {count} line{'s' if count != 1 else ''} with pc and " \
                     f"function+offset"
        else:
            slide = 0
    pcs: list[int] = []
    line_nos: list[int] = []
    skipped = list(parsed.skipped)
    if parsed.numbers is not None:
        return Resolved(list(parsed.numbers), slide, source, skipped, list(parsed.number_lines))
    for it in parsed.items:
        if it.pc is not None:
            pcs.append(it.pc)
            line_nos.append(it.line_no)
            continue
        ents = names.entries(it.function or "")
        if not ents:
            skipped.append(Skipped(it.line_no, f"{it.function} +{it.offset:#x}",
                                   "no function of that name in the binary"))
            continue
        if len(ents) > 1:
            skipped.append(Skipped(it.line_no, f"{it.function} +{it.offset:#x}",
                                   f"ambiguous: {len(ents)} functions print as this name "
                                   "(generic instantiations); pc= would identify it"))
            continue
        pc = ents[0] + it.offset + slide
        pcs.append(pc + (1 if it.plus_one or pc in parsed.fault_pcs else 0))
        line_nos.append(it.line_no)
    skipped.sort(key=lambda s: s.line_no)
    return Resolved(pcs, slide, source, skipped, line_nos)
