"""The debug=1 text of count profiles (goroutine, threadcreate) as a Profile.

runtime/pprof/pprof.go ``printCountProfile`` writes

    goroutine profile: total N
    COUNT @ 0xPC 0xPC ...          return PCs, one per logical frame, leaf first
    # labels: {"k":"v", ...}       (goroutine profiles with labels)
    #\t0xPC\tfunc+0xOFF\tfile:line one per frame shown, PC = return PC - 1

and ``printStackRecord`` hides the leading runtime frames and runtime.goexit
from the ``#`` lines (all of them are in the ``@`` list). Here every ``@`` PC
becomes a Location at PC - 1 (the address runtime/pprof's proto writer uses)
with one Line when a ``#`` line names it, none for the hidden runtime frames;
a PC without a ``#`` line after the first one shown is runtime.goexit, which
the proto writer drops too.
"""

from __future__ import annotations

import json
import re

from ..errors import FormatError
from . import Profile, ProfileBuilder

_HEADER = re.compile(r"^(goroutine|threadcreate) profile: total (\d+)$")
_STACK = re.compile(r"^(\d+) @((?: 0x[0-9a-f]+)*)$")
_FRAME = re.compile(r"^#\t(0x[0-9a-f]+)(?:\t(.+)\+0x[0-9a-f]+\t(.*):(\d+))?$")


def parse_count_profile(text: str) -> Profile:
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    m = _HEADER.match(lines[0].strip()) if lines else None
    if not m:
        raise FormatError("not a goroutine or threadcreate profile (debug=1 text)")
    kind = m.group(1)
    b = ProfileBuilder(sample_types=[(kind, "count")], default_sample_type="",
                       period_type=(kind, "count"), period=1)
    stacks: list[tuple[int, list[int], dict[str, str], dict[int, tuple[str, str, int]]]] = []
    for no, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        sm = _STACK.match(line)
        if sm:
            pcs = [int(x, 16) for x in sm.group(2).split()]
            stacks.append((int(sm.group(1)), pcs, {}, {}))
            continue
        if not stacks:
            raise FormatError(f"line {no}: expected 'COUNT @ PC...', got {line[:60]!r}")
        if line.startswith("# labels: "):
            try:
                labels = json.loads(line[len("# labels: "):])
            except ValueError:
                raise FormatError(f"line {no}: unreadable labels") from None
            stacks[-1][2].update({str(k): str(v) for k, v in labels.items()})
            continue
        fm = _FRAME.match(line)
        if not fm:
            raise FormatError(f"line {no}: not a frame line: {line[:60]!r}")
        if fm.group(2) is not None:
            stacks[-1][3][int(fm.group(1), 16)] = (fm.group(2), fm.group(3), int(fm.group(4)))
    for count, pcs, labels, shown in stacks:
        locs = []
        seen_shown = False
        for i, pc in enumerate(pcs):
            addr = pc - 1 if pc else 0
            frame = shown.get(addr)
            if frame is None:
                if seen_shown and i == len(pcs) - 1:
                    continue  # runtime.goexit
                locs.append(b.location(addr))
                continue
            seen_shown = True
            name, file, line = frame
            fid = b.function(name, name, file)
            locs.append(b.location(addr, 0, [(fid, line)]))
        b.sample(locs, [count], labels=labels)
    return b.build()
