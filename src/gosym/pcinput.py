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

from .errors import GosymError, UsageError

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
    printed_line: int | None = None  # the line printed beside them


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
            line = int(m.group(5)) if m.group(5) else None
            out.entries.append(Item(no, "profile", pc + 1, name, off, printed_pc=pc,
                                    printed_line=line))
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
            out.entries.append(Item(no, "dump", pc, name, off, after_sigpanic, printed,
                                    int(loc.group(2))))
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


PAGE = 0x1000  # load addresses are page-aligned (16 KiB pages are multiples of this)


def resolve_slide(binary, slide: int | None, anchor: tuple[str, int] | None) -> int:
    """The slide a --slide or --anchor SYM=ADDR gives (0 for neither)."""
    if slide is not None:
        return slide
    if anchor is None:
        return 0
    sym, addr = anchor
    ents = NameIndex(binary).entries(sym)
    if not ents:
        raise UsageError(f"--anchor: no function named {sym!r} in the binary")
    if len(ents) > 1:
        raise UsageError(f"--anchor: {sym!r} names {len(ents)} functions; pick another")
    return addr - ents[0]


def infer_slide(binary, items: list[Item]) -> tuple[int, int] | None:
    """(slide, lines that agree) from lines carrying both a PC and
    function+offset, or None.

    A candidate is the printed PC minus the offset minus the file entry of the
    function; it is kept only if it is a multiple of the page size and the
    binary, looked up at the printed PC minus the slide, shows the printed
    function at the printed line there. That rejects the ``#`` lines of
    debug=1 profiles that name an inlined function: their offset is from the
    physical function's entry (runtime/pprof printStackRecord prints
    frame.PC - frame.Entry), not the inlined function's. If only such lines
    exist, the physical functions whose entry sits at the same page offset are
    tried.
    """
    names = NameIndex(binary)
    cands: Counter[int] = Counter()
    fallback: list[Item] = []
    for it in items:
        if it.printed_pc is None or it.function is None or it.offset is None:
            continue
        ents = names.entries(it.function)
        found = False
        for e in ents if len(ents) == 1 else ():
            cand = it.printed_pc - it.offset - e
            if cand % PAGE == 0 and _confirms(binary, it, cand):
                cands[cand] += 1
                found = True
        if not found and it.kind == "profile":
            fallback.append(it)
    if not cands:
        for it in fallback[:8]:
            for cand in _physical_candidates(binary, it):
                cands[cand] += 1
    if not cands:
        return None
    return cands.most_common(1)[0]


def _confirms(binary, it: Item, slide: int) -> bool:
    """The binary shows the printed function (and line) at the printed PC."""
    pc = it.printed_pc - slide
    if not 0 <= pc < 1 << 64:
        return False
    # A debug=1 PC is where the frame was looked up (return PC - 1); a dump's
    # pc= is the return address, or the faulting instruction itself.
    tries = [pc] if it.kind == "profile" else [pc - 1, pc]
    for at in tries:
        for f in binary.find_frames(at):
            if f.function == it.function and (it.printed_line is None or
                                              f.line == it.printed_line):
                return True
    return False


def _physical_candidates(binary, it: Item, limit: int = 256) -> list[int]:
    """Slides that put a physical function's entry at printed PC - offset (same
    page offset, long enough) and confirm the line."""
    runtime_entry = it.printed_pc - it.offset
    t = binary.table
    out = []
    tried = 0
    for i in range(len(t)):
        e = t.entry_of(i)
        if (e - runtime_entry) % PAGE or t.entry_of(i + 1) - e <= it.offset:
            continue
        tried += 1
        if tried > limit:
            break
        if _confirms(binary, it, runtime_entry - e):
            out.append(runtime_entry - e)
    return out


def resolve(binary, parsed: ParsedInput, slide: int | None = None,
            anchor: tuple[str, int] | None = None) -> Resolved:
    """Turn parsed items into runtime PCs, choosing the slide."""
    names = NameIndex(binary)
    source = "none"
    if slide is not None:
        source = "--slide"
    elif anchor is not None:
        slide = resolve_slide(binary, None, anchor)
        source = f"--anchor {anchor[0]}"
    elif parsed.numbers is not None:
        slide = 0  # plain numbers carry no names to infer a slide from
    else:
        got = infer_slide(binary, parsed.items)
        if got is not None:
            slide, count = got
            source = f"inferred from {count} line{'s' if count != 1 else ''} with pc and " \
                     f"function+offset"
        else:
            slide = 0
    pcs: list[int] = []
    line_nos: list[int] = []
    skipped = list(parsed.skipped)
    if parsed.numbers is not None:
        _check_range(parsed.numbers, parsed.number_lines)
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
    _check_range(pcs, line_nos)
    return Resolved(pcs, slide, source, skipped, line_nos)


def _check_range(pcs: list[int], line_nos: list[int]) -> None:
    """Every PC is a 64-bit address (a usage error otherwise, not a decoding one)."""
    if pcs and (max(pcs) >= 1 << 64 or min(pcs) < 0):
        k = next(i for i, p in enumerate(pcs) if not 0 <= p < 1 << 64)
        raise UsageError(f"input line {line_nos[k]}: {pcs[k]:#x} is not a 64-bit address")


REVERSE_TRANSLATION = None  # an addr2line input line with ':' (file:line to PC)


def parse_addr2line(text: str) -> list[int | None]:
    """Addresses as ``go tool addr2line`` reads them (cmd/addr2line/main.go): one
    per line, hex with or without ``0x``, anything that doesn't parse read as 0;
    a line with ``:`` asks for a reverse translation (None), which it doesn't do."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # bufio.Scanner: no empty token after the last newline
    out: list[int | None] = []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]  # bufio.ScanLines drops a trailing CR
        if ":" in line:
            out.append(REVERSE_TRANSLATION)
            continue
        digits = line[2:] if line.startswith("0x") else line
        try:
            if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError
            pc = int(digits, 16)
            out.append(min(pc, (1 << 64) - 1))  # strconv.ParseUint: the maximum on overflow
        except ValueError:
            out.append(0)
    return out
