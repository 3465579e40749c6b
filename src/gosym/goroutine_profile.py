"""Goroutine profiles in every form a user can get, read into one model.

The form is detected from the content:

* **debug=0** (``pprof.Lookup("goroutine").WriteTo(w, 0)``, ``/debug/pprof/goroutine``):
  a profile.proto message, gzipped or not, read through :mod:`gosym.pprof`.
  runtime/pprof/pprof.go ``printCountProfile`` writes one sample per distinct
  stack (and label set) with the goroutine count as its value;
  runtime/pprof/proto.go ``appendLocsForStack`` makes one Location per
  physical frame, its address the return PC − 1, its Lines the inlined
  frames innermost first, and drops ``runtime.goexit``.
* **debug=1** (``WriteTo(w, 1)``, ``?debug=1``): ``goroutine profile: total N``,
  then per distinct stack ``COUNT @ 0xPC 0xPC ...`` (the return PCs
  ``tracebackPCs`` recorded, one per logical frame, goexit's included when
  the stack is whole), an optional ``# labels: {"k":"v", ...}`` line
  (``labelMap.String``, Go-quoted) and ``#\\t0xPC\\tfunc+0xOFF\\tfile:line``
  per frame (``printStackRecord``: PC = return PC − 1; leading runtime frames
  and goexit are not printed; a PC without a function prints as ``#\\t0xPC``).
* **debug=2** (``WriteTo(w, 2)``, ``runtime.Stack(buf, true)``, panics, fatal
  errors, SIGQUIT): blocks printed by runtime/traceback.go
  ``goroutineheader`` and ``traceback1``/``traceback2`` (Go 1.21+) or
  ``gentraceback`` (before):

  - ``goroutine N [state, M minutes, locked to thread]:``; with
    ``GOTRACEBACK=system`` (or a fatal runtime error) ``gp=… m=… mp=…``
    after N; Go 1.27 prints the goroutine's labels after ``]`` as
    ``{key: value, "k 2": "v"}`` (``tracebackStringNeedsQuoting``).
  - per logical frame ``func(args)`` then ``\\tfile:line``; physical frames
    add `` +0xOFF`` (frame PC − entry, only when the PC is past the entry) and,
    with ``GOTRACEBACK=system``, `` fp=0x… sp=0x… pc=0x…``; inlined frames
    print ``(...)`` as their arguments and no offset; ``runtime.gopanic``
    prints as ``panic``.
  - ``...N frames elided...`` (Go 1.21+: the innermost 50 and outermost 50
    logical frames are printed, N is what lies between) or
    ``...additional frames elided...`` (before: 100 physical frames walked).
  - ``created by F in goroutine N`` (``in goroutine`` since Go 1.21) and its
    location line; ``[originating from goroutine N]:`` ancestor blocks;
    ``\\tgoroutine running on other thread; stack unavailable``.

  Everything outside goroutine blocks (the panic message, ``[signal …]``
  lines, register dumps) is skipped.

Every form becomes a :class:`GoroutineProfile` of :class:`GoroutineRecord`
objects with their frames innermost first. Nothing here needs the binary:
addresses are the profile's own (runtime addresses).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import NamedTuple

from .errors import FormatError

FORM_PROTO = "debug=0"
FORM_DEBUG1 = "debug=1"
FORM_DEBUG2 = "debug=2"


class ProfileFrame(NamedTuple):
    """One logical frame as the profile shows it; what it does not show is None.
    (A NamedTuple: a profile of 100k goroutines has hundreds of thousands.)

    ``pc`` is the PC the profile prints for the frame: debug=1's ``@`` list
    entry (a return PC; an inlined frame's is its inline mark + 1), or the
    ``pc=`` field of a ``GOTRACEBACK=system`` dump (the frame's PC: a return
    address, or the faulting instruction after ``runtime.sigpanic``).
    ``address`` is where the profile looked the frame up: debug=0's
    Location address or debug=1's ``#`` line PC (both return PC − 1).
    ``offset`` is the printed ``+0xOFF``: from the physical function's
    entry to the frame's PC (debug=2) or to ``address`` (debug=1).
    """

    function: str | None
    file: str | None = None
    line: int | None = None
    offset: int | None = None
    pc: int | None = None
    address: int | None = None
    fp: int | None = None
    sp: int | None = None
    inlined: bool = False
    args: str | None = None  # debug=2: the arguments as printed
    location_id: int | None = None  # debug=0: the Location the frame is a Line of
    mapping_id: int | None = None  # debug=0: that Location's Mapping


@dataclass(frozen=True)
class CreatedBy:
    """The ``created by`` line of a debug=2 block: the go statement's function and location."""

    function: str
    goroutine: int | None  # "in goroutine N" (Go 1.21+)
    file: str | None
    line: int | None
    offset: int | None  # +0xOFF of the go statement's return PC


@dataclass
class GoroutineRecord:
    """Goroutines with one stack: ``count`` of them (1 per debug=2 block).

    ``frames`` are innermost first. When the runtime elided frames in the
    middle (``...N frames elided...``), ``elided_frames`` is N and
    ``elided_at`` the index in ``frames`` where they would be (the frames
    before it are the innermost ones). ``additional_frames_elided`` is the
    Go ≤ 1.20 marker, printed at the outer end.
    """

    count: int
    frames: Sequence[ProfileFrame]
    labels: dict[str, str] = field(default_factory=dict)
    num_labels: dict[str, int] = field(default_factory=dict)
    goroutine: int | None = None
    state: str | None = None  # "chan receive", "running", ... (debug=2)
    wait_minutes: int | None = None
    locked_to_thread: bool = False
    header: str | None = None  # the "goroutine N [...]:" line as printed
    created_by: CreatedBy | None = None
    elided_frames: int | None = None
    elided_at: int | None = None
    additional_frames_elided: bool = False
    stack_unavailable: bool = False  # "goroutine running on other thread; stack unavailable"
    system: bool = False  # its frames carry fp=/sp=: every frame is printed (debug=2)
    location_ids: tuple[int, ...] = ()  # debug=0: the sample's Locations, leaf first
    line_no: int | None = None  # first input line of the record (text forms)
    end_line: int | None = None  # debug=2: the line after the record's last one


@dataclass(frozen=True)
class Mapping:
    """A debug=0 Mapping: runtime addresses [start, limit) map file offset ``offset``."""

    id: int
    start: int
    limit: int
    offset: int
    filename: str
    build_id: str


@dataclass
class GoroutineProfile:
    form: str  # FORM_PROTO, FORM_DEBUG1 or FORM_DEBUG2
    records: list[GoroutineRecord]
    total: int | None = None  # debug=1 "total N"; debug=0: the sum of the counts
    system: bool = False  # some record's frames carry fp=/sp= (GOTRACEBACK=system, a crash)
    mappings: list[Mapping] = field(default_factory=list)
    profile_name: str = "goroutine"
    # debug=0: each Location's frames (its Lines, innermost first), by id
    locations: dict[int, tuple[ProfileFrame, ...]] = field(default_factory=dict)

    @property
    def goroutines(self) -> int:
        return sum(r.count for r in self.records)


# --- detection -----------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"
_DEBUG1_HEADER = re.compile(r"^(\w+) profile: total (\d+)\s*$")
_GOROUTINE_HEADER = re.compile(r"^goroutine (\d+)(?: gp=\S+(?: m=\S+(?: mp=\S+)?)?)? \[([^\]]*)\](.*):\s*$")


def parse(data: bytes) -> GoroutineProfile:
    """Read a goroutine profile in any form, detected from its content."""
    if not data or not data.strip():
        raise FormatError("empty goroutine profile")
    if data[:2] == _GZIP_MAGIC or not _looks_like_text(data):
        return parse_proto(data)
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    for line in lines[:50]:
        m = _DEBUG1_HEADER.match(line)
        if m:
            return parse_debug1(lines)
        if line.startswith("--- ") or line.startswith("heap profile:"):
            raise FormatError(f"not a goroutine profile: a debug=1 profile starting {line[:40]!r}")
    if any(_GOROUTINE_HEADER.match(line) for line in lines):
        return parse_debug2(lines)
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    raise FormatError("not a goroutine profile: no 'goroutine profile: total N' line "
                      f"(debug=1) nor 'goroutine N [state]:' block (debug=2); it starts {first[:60]!r}")


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the 4096-byte window is still text
        return e.start >= len(head) - 3
    return True


# --- debug=0 ------------------------------------------------------------------------------

def parse_proto(data: bytes) -> GoroutineProfile:
    from . import pprof  # protobuf loads only for the commands that read profiles

    profile = pprof.parse(data)
    view = pprof.ProfileView(profile)
    types = view.sample_types
    strings = view.strings
    count_index = None
    for i, (typ, unit) in enumerate(types):
        if typ in ("goroutine", "goroutineleak") and unit == "count":
            count_index = i
    if count_index is None:
        desc = ", ".join(f"{t}/{u}" for t, u in types)
        raise FormatError(f"not a goroutine profile: its sample types are {desc} "
                          "(a goroutine profile has goroutine/count)")
    mappings = [Mapping(m.id, m.memory_start, m.memory_limit, m.file_offset,
                        strings[m.filename], strings[m.build_id]) for m in profile.mapping]
    functions = {f.id: (strings[f.name], strings[f.filename]) for f in profile.function}
    loc_frames: dict[int, tuple[ProfileFrame, ...]] = {}
    for loc in profile.location:
        lines = loc.line
        last = len(lines) - 1
        mid = loc.mapping_id or None
        frames = []
        for k, ln in enumerate(lines):
            name, file = functions.get(ln.function_id, (None, None))
            frames.append(ProfileFrame(name or None, file or None, ln.line or None, None, None,
                                       loc.address, None, None, k < last, None, loc.id, mid))
        if not frames:  # an unsymbolized location
            frames.append(ProfileFrame(None, address=loc.address, location_id=loc.id,
                                       mapping_id=mid))
        loc_frames[loc.id] = tuple(frames)
    records = []
    for s in profile.sample:
        ids = tuple(s.location_id)
        labels: dict[str, str] = {}
        num_labels: dict[str, int] = {}
        for lb in s.label:
            if lb.str:
                labels[strings[lb.key]] = strings[lb.str]
            else:
                num_labels[strings[lb.key]] = lb.num
        records.append(GoroutineRecord(int(s.value[count_index]), _LocationFrames(ids, loc_frames),
                                       labels, num_labels, location_ids=ids))
    name = types[count_index][0]
    return GoroutineProfile(FORM_PROTO, records, total=sum(r.count for r in records),
                            mappings=mappings, profile_name=name, locations=loc_frames)


class _LocationFrames(Sequence):
    """A debug=0 sample's frames, its Locations' Lines one after the other,
    made into a list only when asked for: a profile of 100k goroutines has
    hundreds of thousands, which the stack accounting reads by Location."""

    __slots__ = ("ids", "locations", "_list")

    def __init__(self, ids: tuple[int, ...], locations: dict) -> None:
        self.ids = ids
        self.locations = locations
        self._list: list[ProfileFrame] | None = None

    def _frames(self) -> list[ProfileFrame]:
        if self._list is None:
            self._list = list(itertools.chain.from_iterable(
                map(self.locations.__getitem__, self.ids)))
        return self._list

    def __iter__(self):
        return iter(self._frames())

    def __len__(self) -> int:
        return len(self._frames())

    def __getitem__(self, i):
        return self._frames()[i]

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return repr(self._frames())


# --- debug=1 ------------------------------------------------------------------------------

_RECORD_HEADER = re.compile(r"^(\d+) @((?: 0x[0-9a-fA-F]+)*)\s*$")
_HASH_FRAME = re.compile(r"^#\s+0x([0-9a-fA-F]+)(?:\s+(\S.*?)\+0x([0-9a-fA-F]+)\s+(.*):(\d+))?\s*$")
_LABELS_LINE = re.compile(r"^# labels: (\{.*\})\s*$")


def parse_debug1(lines: list[str]) -> GoroutineProfile:
    """A debug=1 profile (runtime/pprof/pprof.go printCountProfile, printStackRecord)."""
    total = None
    name = "goroutine"
    records: list[GoroutineRecord] = []
    cur: GoroutineRecord | None = None
    pcs: list[int] = []
    shown: list[tuple[int, str | None, int | None, str | None, int | None]] = []

    def finish(line_no: int) -> None:
        nonlocal cur
        if cur is None:
            return
        cur.frames = _debug1_frames(pcs, shown, cur.line_no or line_no)
        records.append(cur)
        cur = None

    for no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        m = _DEBUG1_HEADER.match(line)
        if m and total is None and cur is None and not records:
            name, total = m.group(1), int(m.group(2))
            if name not in ("goroutine", "goroutineleak"):
                raise FormatError(f"not a goroutine profile: line {no} is {line.strip()!r}")
            continue
        m = _RECORD_HEADER.match(line)
        if m:
            finish(no)
            pcs = [int(t, 16) for t in m.group(2).split()]
            shown = []
            cur = GoroutineRecord(int(m.group(1)), [], line_no=no)
            continue
        if cur is None:
            raise FormatError(f"line {no}: expected 'COUNT @ 0xPC ...', got {line[:60]!r}")
        m = _LABELS_LINE.match(line)
        if m:
            cur.labels = _parse_label_map(m.group(1), no)
            continue
        m = _HASH_FRAME.match(line)
        if m:
            pc = int(m.group(1), 16)
            if m.group(2) is None:
                shown.append((pc, None, None, None, None))
            else:
                shown.append((pc, m.group(2), int(m.group(3), 16), m.group(4).strip(),
                               int(m.group(5))))
            continue
        raise FormatError(f"line {no}: not a line of a debug=1 goroutine profile: {line[:60]!r}")
    finish(len(lines))
    if total is None:
        raise FormatError("not a debug=1 goroutine profile: no 'goroutine profile: total N' line")
    return GoroutineProfile(FORM_DEBUG1, records, total=total, profile_name=name)


def _debug1_frames(pcs: list[int], shown, line_no: int) -> list[ProfileFrame]:
    """One frame per ``@`` PC; the ``#`` lines (PC − 1 of a subsequence of
    them, in order) give function, offset, file and line."""
    frames = [ProfileFrame(function=None, pc=pc) for pc in pcs]
    j = 0
    for pc, name, off, file, line in shown:
        while j < len(pcs) and pcs[j] - 1 != pc:
            j += 1
        if j == len(pcs):
            raise FormatError(f"record at line {line_no}: the '#' line for {pc:#x} matches no "
                              "PC of its '@' list")
        frames[j] = ProfileFrame(function=name, file=file, line=line, offset=off, pc=pcs[j],
                                 address=pc)
        j += 1
    return frames


# --- debug=2 ------------------------------------------------------------------------------

_LOCATION = re.compile(r"^\t(.*?):(\d+)(?: \+0x([0-9a-fA-F]+))?"
                       r"(?: fp=0x([0-9a-fA-F]+) sp=0x([0-9a-fA-F]+) pc=0x([0-9a-fA-F]+))?\s*$")
_ELIDED = re.compile(r"^\.\.\.(\d+) frames elided\.\.\.\s*$")
_ADDITIONAL_ELIDED = "...additional frames elided..."
_CREATED_BY = re.compile(r"^created by (.+?)(?: in goroutine (\d+))?\s*$")
_ANCESTOR = re.compile(r"^\[originating from goroutine (\d+)\]:\s*$")
_NON_GO = re.compile(r"^non-Go function at pc=0x([0-9a-fA-F]+)\s*$")
_UNAVAILABLE = "\tgoroutine running on other thread; stack unavailable"


def looks_like_dump(lines: list[str]) -> bool:
    """Some line is a ``goroutine N [state]:`` header."""
    return any(_GOROUTINE_HEADER.match(line) for line in lines)


def parse_debug2(lines: list[str]) -> GoroutineProfile:
    """Goroutine blocks as runtime/traceback.go prints them (debug=2, runtime.Stack,
    panics, fatal errors, SIGQUIT)."""
    records: list[GoroutineRecord] = []
    system = False
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip("\r\n")
        m = _GOROUTINE_HEADER.match(line)
        if not m:
            i += 1  # panic message, [signal ...], register dumps, ...
            continue
        rec, i, has_fp = _parse_block(lines, i, m)
        rec.system = has_fp
        system |= has_fp
        records.append(rec)
    if not records:
        raise FormatError("no 'goroutine N [state]:' block in the input")
    return GoroutineProfile(FORM_DEBUG2, records, total=len(records), system=system)


def _parse_block(lines: list[str], i: int, header) -> tuple[GoroutineRecord, int, bool]:
    no = i + 1
    rec = GoroutineRecord(1, [], goroutine=int(header.group(1)), header=lines[i].rstrip("\r\n"),
                          line_no=no)
    _parse_state(rec, header.group(2))
    rest = header.group(3).strip()
    if rest:
        if not (rest.startswith("{") and rest.endswith("}")):
            raise FormatError(f"line {no}: unexpected text after the goroutine state: {rest!r}")
        rec.labels = _parse_header_labels(rest, no)
    has_fp = False
    i += 1
    n = len(lines)
    pending: tuple[int, str, str | None] | None = None  # (line_no, function, args)
    in_ancestor = False
    while i < n:
        line = lines[i].rstrip("\r\n")
        no = i + 1
        if not line.strip():
            break
        if pending is not None:
            loc = _LOCATION.match(line)
            if loc is None:
                raise FormatError(f"line {no}: expected '\\tfile:line' after the frame "
                                  f"{pending[1]!r} of line {pending[0]}, got {line[:60]!r}")
            fno, func, args = pending
            pending = None
            file, lineno = loc.group(1), int(loc.group(2))
            off = int(loc.group(3), 16) if loc.group(3) else None
            if func.startswith("created by "):
                cm = _CREATED_BY.match(func)
                if not in_ancestor:
                    rec.created_by = CreatedBy(cm.group(1), int(cm.group(2)) if cm.group(2) else None,
                                               file, lineno, off)
            elif not in_ancestor:
                fp = sp = pc = None
                if loc.group(4):
                    fp, sp, pc = (int(loc.group(k), 16) for k in (4, 5, 6))
                    has_fp = True
                # An inlined frame prints "(...)" and no offset (traceback2);
                # a physical frame at its entry prints no offset either.
                inlined = off is None and args == "..." and fp is None
                rec.frames.append(ProfileFrame(function=func, file=file, line=lineno, offset=off,
                                               pc=pc, fp=fp, sp=sp, inlined=inlined, args=args))
            i += 1
            continue
        if _ANCESTOR.match(line):
            in_ancestor = True  # GODEBUG=tracebackancestors: not this goroutine's stack
            i += 1
            continue
        m = _ELIDED.match(line)
        if m:
            if not in_ancestor:
                if rec.elided_frames is not None:
                    raise FormatError(f"line {no}: a second '...N frames elided...' marker")
                rec.elided_frames = int(m.group(1))
                rec.elided_at = len(rec.frames)
            i += 1
            continue
        if line.strip() == _ADDITIONAL_ELIDED:
            if not in_ancestor:
                rec.additional_frames_elided = True
            i += 1
            continue
        if line == _UNAVAILABLE or line.strip() == _UNAVAILABLE.strip():
            rec.stack_unavailable = True
            i += 1
            continue
        nm = _NON_GO.match(line)
        if nm:
            if not in_ancestor:
                rec.frames.append(ProfileFrame(function=None, pc=int(nm.group(1), 16)))
            i += 1
            continue
        if line.startswith("created by "):
            pending = (no, line.strip(), None)
            i += 1
            continue
        func, args = _split_call(line)
        if func is None:
            raise FormatError(f"line {no}: not a line of a goroutine stack: {line[:60]!r}")
        pending = (no, func, args)
        i += 1
    if pending is not None:
        raise FormatError(f"line {pending[0]}: the frame {pending[1]!r} has no location line "
                          "(the dump is cut short)")
    rec.end_line = i + 1
    return rec, i, has_fp


def _split_call(line: str) -> tuple[str | None, str | None]:
    """``main.(*T).M[...](0x1, {0x2, 0x3})`` -> ("main.(*T).M[...]", "0x1, {0x2, 0x3}").

    Arguments never contain parentheses (printArgs prints hex words, ``?``,
    ``{`` ``}``, ``...``, ``_``), so the last ``(`` opens them."""
    if not line.endswith(")") or line[:1] in (" ", "\t"):
        return None, None
    k = line.rfind("(")
    if k <= 0:
        return None, None
    name = line[:k]
    if " " in name:
        return None, None
    if name == "panic":  # printFuncName prints runtime.gopanic as "panic"
        name = "runtime.gopanic"
    return name, line[k + 1:-1]


def _parse_state(rec: GoroutineRecord, state: str) -> None:
    """``chan receive, 5 minutes, locked to thread`` (goroutineheader)."""
    parts = state.split(", ")
    kept = []
    for p in parts:
        m = re.fullmatch(r"(\d+) minutes", p)
        if m and kept:
            rec.wait_minutes = int(m.group(1))
        elif p == "locked to thread" and kept:
            rec.locked_to_thread = True
        else:
            kept.append(p)
    rec.state = ", ".join(kept)


# --- labels ---------------------------------------------------------------------------------

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", "'": "'", '"': '"'}


def go_unquote(s: str, pos: int = 0) -> tuple[str, int]:
    """A Go double-quoted string literal starting at s[pos] (strconv.Quote's
    and the runtime's printquoted escapes); returns (value, index after it)."""
    if pos >= len(s) or s[pos] != '"':
        raise ValueError("expected '\"'")
    out: list[str] = []
    raw = bytearray()  # \x escapes are bytes; consecutive ones may form UTF-8

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", "replace"))
            raw.clear()

    i = pos + 1
    while i < len(s):
        c = s[i]
        if c == '"':
            flush()
            return "".join(out), i + 1
        if c != "\\":
            flush()
            out.append(c)
            i += 1
            continue
        e = s[i + 1:i + 2]
        if e in _GO_ESCAPES:
            flush()
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e == "x":
            raw.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e in ("u", "U"):
            width = 4 if e == "u" else 8
            flush()
            out.append(chr(int(s[i + 2:i + 2 + width], 16)))
            i += 2 + width
        elif e and e in "01234567":
            raw.append(int(s[i + 1:i + 4], 8))
            i += 4
        else:
            raise ValueError(f"bad escape \\{e}")
    raise ValueError("unterminated string")


def _parse_label_map(text: str, no: int) -> dict[str, str]:
    """debug=1's ``{"k":"v", "k2":"v2"}`` (labelMap.String: %q:%q joined by ", ")."""
    out: dict[str, str] = {}
    try:
        i = 1
        while i < len(text) - 1:
            while text[i] in " ,":
                i += 1
            key, i = go_unquote(text, i)
            if text[i] != ":":
                raise ValueError("expected ':'")
            value, i = go_unquote(text, i + 1)
            out[key] = value
            while i < len(text) - 1 and text[i] in " ,":
                i += 1
    except (ValueError, IndexError) as e:
        raise FormatError(f"line {no}: malformed labels {text[:60]!r} ({e})") from None
    return out


def _parse_header_labels(text: str, no: int) -> dict[str, str]:
    """Go 1.27's ``{worker: w1, "phase x": "park now"}`` (goroutineheader): keys and
    values printed bare when they hold only [A-Za-z0-9./_], else quoted."""
    out: dict[str, str] = {}

    def token(i: int) -> tuple[str, int]:
        if text[i] == '"':
            return go_unquote(text, i)
        m = re.compile(r"[A-Za-z0-9./_]*").match(text, i)
        return m.group(0), m.end()

    try:
        i = 1
        while i < len(text) - 1:
            key, i = token(i)
            if text[i:i + 2] != ": ":
                raise ValueError("expected ': '")
            value, i = token(i + 2)
            out[key] = value
            if text[i:i + 2] == ", ":
                i += 2
            elif i != len(text) - 1:
                raise ValueError(f"unexpected {text[i:i + 10]!r}")
    except (ValueError, IndexError) as e:
        raise FormatError(f"line {no}: malformed goroutine labels {text[:60]!r} ({e})") from None
    return out
