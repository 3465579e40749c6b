"""A parser for the Go runtime's goroutine dumps (runtime/traceback.go output).

Reads what runtime.Stack(buf, true), SIGQUIT and fatal panics print, with or
without GOTRACEBACK=system's `fp= sp= pc=`, Go 1.19 to 1.27: headers
`goroutine N [gp=… m=… mp=…] [status, …]:` (labels after the brackets in Go
1.27), frames `func(args)` + `\\tfile:line [+0xOFF] [fp=… sp=… pc=…]`,
`...N frames elided...` (Go 1.21+) or `...additional frames elided...`
(before), `created by F [in goroutine N]` + `\\tfile:line [+0xOFF]` and
`goroutine running on other thread; stack unavailable`. Lines outside
goroutine blocks (the signal banner, register dumps) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADER = re.compile(r"^goroutine (\d+)(?: gp=(0x[0-9a-f]+) m=(\S+)(?: mp=(0x[0-9a-f]+))?)? "
                    r"\[([^\]]*)\](?: (\{.*\}))?:$")
FILE = re.compile(r"^\t(.*):(\d+)(?: \+(0x[0-9a-f]+))?"
                  r"(?: fp=(0x[0-9a-f]+) sp=(0x[0-9a-f]+) pc=(0x[0-9a-f]+))?$")
FUNC = re.compile(r"^(.+)\((.*)\)$")
CREATED = re.compile(r"^created by (.+?)(?: in goroutine (\d+))?$")
ELIDED = re.compile(r"^\.\.\.(?:(\d+) frames elided|additional frames elided)\.\.\.$")


@dataclass
class DumpFrame:
    function: str
    file: str
    line: int
    offset: int | None  # +0x…
    fp: int | None
    sp: int | None
    pc: int | None

    @property
    def inlined(self) -> bool:
        """Only physical frames carry +0x or fp= (inlined ones print neither)."""
        return self.offset is None and self.fp is None


@dataclass
class DumpGoroutine:
    id: int
    bracket: list[str]  # the items between [ and ], split at ", "
    labels: str | None
    gp: int | None
    m: str | None
    frames: list[DumpFrame] = field(default_factory=list)
    elided_after: int | None = None  # index in frames where "...elided..." appeared
    elided_count: int | None = None  # N of "...N frames elided..." (None before 1.21)
    created_by: tuple[str, int | None] | None = None
    created_at: tuple[str, int, int | None] | None = None  # file, line, offset
    unavailable: bool = False

    @property
    def status(self) -> str:
        return self.bracket[0]


def parse_dump(text: str) -> dict[int, DumpGoroutine]:
    out: dict[int, DumpGoroutine] = {}
    cur: DumpGoroutine | None = None
    pending_func: str | None = None
    in_created = False
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            cur = DumpGoroutine(int(m.group(1)), m.group(5).split(", "), m.group(6),
                                int(m.group(2), 16) if m.group(2) else None, m.group(3))
            out[cur.id] = cur
            pending_func, in_created = None, False
            continue
        if cur is None:
            continue
        if not line.strip():
            cur = None
            continue
        if line.strip() == "goroutine running on other thread; stack unavailable":
            cur.unavailable = True
            continue
        m = ELIDED.match(line)
        if m:
            cur.elided_after = len(cur.frames)
            cur.elided_count = int(m.group(1)) if m.group(1) else None
            continue
        m = CREATED.match(line)
        if m:
            cur.created_by = (m.group(1), int(m.group(2)) if m.group(2) else None)
            in_created = True
            continue
        m = FILE.match(line)
        if m:
            off = int(m.group(3), 16) if m.group(3) else None
            if in_created:
                cur.created_at = (m.group(1), int(m.group(2)), off)
                in_created = False
            elif pending_func is not None:
                cur.frames.append(DumpFrame(
                    pending_func, m.group(1), int(m.group(2)), off,
                    int(m.group(4), 16) if m.group(4) else None,
                    int(m.group(5), 16) if m.group(5) else None,
                    int(m.group(6), 16) if m.group(6) else None))
                pending_func = None
            continue
        m = FUNC.match(line)
        if m:
            pending_func = m.group(1)
            continue
        cur = None  # something else: the block ended
    return out
