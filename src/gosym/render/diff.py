"""``gosym diff`` output: the changed functions as text, JSON or CSV, and a
goroutine profile re-costed with NEW's frames.

The text and JSON rows are formatted a block at a time (see
:mod:`gosym.render.blocks`): one ``bytes %`` per block over per-kind row
formats; CSV goes row by row through the result's FunctionDiff objects.
"""

from __future__ import annotations

import json

from .._lazy import np

from ..diff import DiffResult
from ..pclntab import flag_names
from . import Output, table_line, write_csv
from .blocks import BLOCK_ROWS, int_width, interleave, json_inner, pick, text_last_column

DIFF_HELP = """Compare two builds of a program function by function.

\b
Functions are matched by the name the runtime prints (generic shapes as
F[...]); several functions of one name are matched by the order of their
entries and marked ~. Per function and build: frame_size and max_sp_delta
(see `gosym frames --help`), code size (entry to next entry), args, flags,
and the functions inlined into it (its inline tree).

\b
Listed: the functions that changed (anything above, or present in one build
only), sorted by frame-size delta (largest change first), code-size delta or
name. The summary counts every function --match selects.

\b
Marks: O only in OLD (often: now inlined everywhere), N only in NEW,
+ functions newly inlined into it, - functions no longer inlined into it,
R calls itself, of the frames that grew (the growth repeats at every level
of the recursion),
~ matched by entry order among functions of the same name.
Under a frame that grew: the newly inlined callees with their own frame
size in OLD, and the call to itself.

\b
--profile GOROUTINE_PROFILE (of a process running OLD, any form `gosym
stackmem` reads): every stack accounted with OLD's frames and re-costed
with NEW's. NEW's inline trees decide which frames share a physical frame;
each costs the pcsp value at its call in NEW (+8 on amd64). Frames are
matched by name and, where the file is the same in both builds, by the
call site's line; else by name only, at the function's largest frame
(match "max"); functions NEW lacks keep OLD's bytes ("missing").

\b
OLD and NEW may differ in Go version, build mode, stripping and table layout,
but must be built for the same architecture.
"""


def write_diff(out: Output, res: DiffResult, fmt: str) -> None:
    """The result in format "text", "json" or "csv"."""
    if fmt == "json":
        render_json(out, res)
    elif fmt == "csv":
        render_csv(out, res)
    else:
        render_text(out, res)
        if res.profile is not None:
            render_profile_text(out, res.profile)


# --- JSON ---------------------------------------------------------------------------------

class _Ragged:
    """Rows of several kinds, each kind with its own row format: one ``bytes %``
    over all the rows of a block (the formatting loop runs in C; see blocks.py).

    ``fields[kind]`` names the arguments of that kind's format in order;
    ``values[name]`` has one value per row (only the rows of kinds using it
    are read)."""

    def __init__(self, formats: list[bytes], fields: list[list[str]]) -> None:
        self.formats = formats
        self.fields = fields

    def format(self, kinds: np.ndarray, values: dict[str, np.ndarray]) -> bytes:
        nargs = np.array([len(f) for f in self.fields], np.int64)[kinds]
        start = np.zeros(len(kinds) + 1, np.int64)
        np.cumsum(nargs, out=start[1:])
        args = np.empty(int(start[-1]), object)
        for k, names in enumerate(self.fields):
            rows = np.flatnonzero(kinds == k)
            if not len(rows):
                continue
            for j, name in enumerate(names):
                args[start[rows] + j] = values[name][rows]
        fmt = b"".join(pick(self.formats, kinds))
        return fmt % tuple(args.tolist())


def _objects(values) -> np.ndarray:
    """An object array of Python ints or bytes (what %d and %s take)."""
    if isinstance(values, np.ndarray):
        return values.astype(object)
    out = np.empty(len(values), object)
    out[:] = values
    return out


def _name_pieces(res: DiffResult, side: str) -> list[bytes]:
    """JSON of the names inlined somewhere in one build, each followed by ", "
    and then each followed by a NUL (codes c and c + len(names))."""
    names = (res.old if side == "old" else res.new).inlined.names
    quoted = [b'"' + x + b'"' for x in json_inner(names)]
    return [x + b", " for x in quoted] + [x + b"\0" for x in quoted]


def _inlined_lists(res: DiffResult, side: str, rows: np.ndarray,
                   pieces: list[bytes]) -> list[bytes]:
    """Per row, the JSON names inlined into its function in one build, joined by
    ", " (what goes between the brackets), built without a loop per row: every
    name is followed by ", " or, after a row's last, by a NUL, and the NULs
    split the joined whole."""
    facts = res.old if side == "old" else res.new
    pos = (res.old_row if side == "old" else res.new_row)[rows]
    inl = facts.inlined
    p = np.maximum(pos, 0)
    cnt = np.where(pos >= 0, inl.ptr[p + 1] - inl.ptr[p], 0)
    total = int(cnt.sum())
    n = len(rows)
    if not total:
        return [b""] * n
    names = inl.names
    ends = np.cumsum(cnt)
    within = np.arange(total, dtype=np.int64) - np.repeat(ends - cnt, cnt)
    codes = inl.codes[np.repeat(inl.ptr[p], cnt) + within]
    last = (within == np.repeat(cnt, cnt) - 1).astype(np.int64)
    # A row without names contributes a lone NUL at its place.
    empty = (cnt == 0).astype(np.int64)
    before = np.cumsum(empty) - empty  # rows without names before each row
    slots = np.empty(total + int(empty.sum()), object)
    row_of = np.repeat(np.arange(n, dtype=np.int64), cnt)
    slots[np.arange(total, dtype=np.int64) + before[row_of]] = \
        _objects(pick(pieces, codes + last * len(names)))
    none = np.flatnonzero(empty)
    slots[(ends - cnt)[none] + before[none]] = b"\0"
    return b"".join(slots.tolist()).split(b"\0")[:-1]


# One build's object for a row, NUL-terminated so that a block of them
# formatted at once splits into rows.
_SIDE = (b'{"entry": %d, "size": %d, "frame_size": %d, "max_sp_delta": %d, "args": %d, '
         b'"inlined": [%s]}\0')
_JSON_ROW = b',\n{"name": "%s", "old": %s, "new": %s}'


def _kinds(res: DiffResult, rows: np.ndarray) -> np.ndarray:
    """0: in both builds, 1: only in OLD, 2: only in NEW."""
    return np.where(res.new_row[rows] < 0, 1, np.where(res.old_row[rows] < 0, 2, 0))


def _side_json(res: DiffResult, side: str, rows: np.ndarray, pieces: list[bytes]) -> list:
    """One build's JSON object (or null) of each row, formatted a block at a time."""
    facts = res.old if side == "old" else res.new
    pos = (res.old_row if side == "old" else res.new_row)[rows]
    p = np.maximum(pos, 0)
    cols = [getattr(facts, f)[p].tolist()
            for f in ("entry", "size", "frame_size", "max_sp_delta", "args")]
    cols.append(_inlined_lists(res, side, rows, pieces))
    objs = ((_SIDE * len(rows)) % interleave(cols)).split(b"\0")
    objs[-1] = b"null"  # the piece after the last NUL: what absent rows get
    return pick(objs, np.where(pos >= 0, np.arange(len(rows)), len(rows)))


def render_json(out: Output, res: DiffResult) -> None:
    out.write(b'{"functions": [')
    names = json_inner(res.name_of)
    n = len(res)
    pieces = {side: _name_pieces(res, side) for side in ("old", "new")}
    for a in range(0, n, BLOCK_ROWS):
        rows = np.arange(a, min(n, a + BLOCK_ROWS), dtype=np.int64)
        cols = [names[a:a + len(rows)]] + [_side_json(res, side, rows, pieces[side])
                                           for side in ("old", "new")]
        block = (_JSON_ROW * len(rows)) % interleave(cols)
        out.write_buffer(memoryview(block)[1:] if a == 0 else block)
    s = res.summary
    out.write((b"\n" if n else b"") + b'], "summary": ')
    out.write(b'{"only_old": %d, "only_new": %d, "grown": %d, "shrunk": %d, '
              b'"frame_size_total_old": %d, "frame_size_total_new": %d}'
              % (s.only_old, s.only_new, s.grown, s.shrunk, s.frame_size_total_old,
                 s.frame_size_total_new))
    if res.profile is not None:
        out.write(b', "profile": ' + _profile_json(res.profile))
    out.write(b"}\n")


def _profile_json(p) -> bytes:
    stacks = [{"goroutines": s.goroutines, "old_bytes": s.old_bytes, "new_bytes": s.new_bytes,
               "truncated": s.truncated,
               "frames": [{"function": f.function, "file": f.file, "line": f.line,
                           "inlined": f.inlined, "old_bytes": f.old_bytes,
                           "new_bytes": f.new_bytes, "match": f.match} for f in s.frames]}
              for s in p.stacks]
    return json.dumps({"old_bytes": p.old_bytes, "new_bytes": p.new_bytes, "stacks": stacks},
                      ensure_ascii=False).encode()


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADERS = ["name", "ordinal", "old_entry", "new_entry", "old_size", "new_size",
               "size_delta", "old_frame_size", "new_frame_size", "frame_size_delta",
               "old_max_sp_delta", "new_max_sp_delta", "old_args", "new_args", "old_flags",
               "new_flags", "old_inlined", "new_inlined", "newly_inlined", "old_recursive",
               "new_recursive", "same_name_old", "same_name_new"]


def render_csv(out: Output, res: DiffResult) -> None:
    def rows():
        for f in res.functions:
            o, n = f.old, f.new

            def v(side, attr):
                return "" if side is None else getattr(side, attr)

            yield [f.name, f.ordinal, v(o, "entry"), v(n, "entry"), v(o, "size"),
                   v(n, "size"), f.size_delta, v(o, "frame_size"), v(n, "frame_size"),
                   f.frame_delta, v(o, "max_sp_delta"), v(n, "max_sp_delta"), v(o, "args"),
                   v(n, "args"), "" if o is None else "|".join(o.flag_names),
                   "" if n is None else "|".join(n.flag_names),
                   "" if o is None else "|".join(o.inlined),
                   "" if n is None else "|".join(n.inlined),
                   "|".join(nm for nm, _ in f.newly_inlined),
                   "" if f.recursive_old is None else int(f.recursive_old),
                   "" if f.recursive_new is None else int(f.recursive_new),
                   f.same_name[0], f.same_name[1]]

    write_csv(out, CSV_HEADERS, rows())


# --- text ------------------------------------------------------------------------------------

TEXT_HEADERS = ["old_frame", "new_frame", "frame_delta", "old_max_sp", "new_max_sp",
                "old_code", "new_code", "code_delta", "args", "flags", "mark", "name"]
_RIGHT = [True] * 8 + [False] * 4


def _ordinal(k: int) -> str:
    k += 1
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _pair(a, b, present_a: bool, present_b: bool, fmt=str) -> str:
    if not present_a:
        return fmt(b)
    if not present_b or a == b:
        return fmt(a)
    return f"{fmt(a)}->{fmt(b)}"


def render_text(out: Output, res: DiffResult) -> None:
    o, n, s = res.old, res.new, res.summary
    for label, f in (("OLD", o), ("NEW", n)):
        out.write(f"{label}: {f.path} ({f.go_version or 'Go version unknown'}, {f.arch}, "
                  f"{f.nfunc} functions)\n".encode("utf-8", "replace"))
    sel = "" if res.config.match is None else f" matching {res.config.match!r}"
    out.write(f"functions{sel}: {s.matched} in both ({s.changed} changed; frame grew in "
              f"{s.grown}, shrank in {s.shrunk}), {s.only_old} only in OLD, {s.only_new} only "
              f"in NEW\n".encode("utf-8", "replace"))
    total = s.frame_size_total_new - s.frame_size_total_old
    out.write(f"frame_size total: {s.frame_size_total_old} -> {s.frame_size_total_new} "
              f"({total:+d})\n".encode())
    if s.matched_by_order:
        out.write(f"{s.matched_by_order} functions share their name with others: matched by "
                  f"entry order (~)\n".encode())
    key = {"frame": "frame-size delta", "code": "code-size delta", "name": "name"}[res.config.sort]
    out.write(f"listed: {len(res)} changes by {key}\n\n".encode())
    if not len(res):
        return
    if _text_fast(out, res):
        return
    cells = _text_cells(res)
    widths = [max(len(h), max(len(c) for c in col)) for h, col in zip(TEXT_HEADERS, cells)]
    widths[-1] = 0
    indent = 6

    def line(row: list[str]) -> bytes:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row[:-1], widths, _RIGHT)]
        return ("  ".join(parts + [row[-1]]).rstrip() + "\n").encode("utf-8", "replace")

    out.write(line(TEXT_HEADERS))
    notes = _notes(res)
    pad = " " * indent
    for r in range(len(res)):
        out.write(line([col[r] for col in cells]))
        for note in notes.get(r, ()):
            out.write(f"{pad}{note}\n".encode("utf-8", "replace"))


PROFILE_TOP = 5  # stacks the text shows


def render_profile_text(out: Output, p) -> None:
    from ..recost import MAX, MISSING

    change = p.new_bytes - p.old_bytes
    ratio = f", x{p.new_bytes / p.old_bytes:.2f}" if p.old_bytes else ""
    out.write(f"\ngoroutine profile ({p.form}, {p.goroutines} goroutines, {len(p.stacks)} "
              f"stacks): {p.old_bytes} stack bytes in use under OLD -> {p.new_bytes} under NEW "
              f"({change:+d}{ratio})\n".encode())
    for how, label in ((MAX, "frames matched by name only (the function's largest frame in "
                              "NEW)"),
                       (MISSING, "frames of functions NEW does not have (OLD's bytes kept)")):
        names = sorted({f.function for s in p.stacks for f in s.frames if f.match == how})
        if names:
            out.write(f"{label}: {', '.join(names)}\n".encode("utf-8", "replace"))
    for w in p.warnings:
        out.write(f"note: {w}\n".encode("utf-8", "replace"))
    grown = [s for s in p.stacks if s.growth > 0][:PROFILE_TOP]
    if not grown:
        out.write(b"no stack grew\n")
        return
    out.write(f"stacks that grew most (of {len(p.stacks)}):\n".encode())
    for s in grown:
        n = s.goroutines
        out.write(f"\n  {n} goroutine{'s' if n != 1 else ''}: {s.old_bytes} -> {s.new_bytes} "
                  f"bytes each ({s.new_bytes - s.old_bytes:+d})"
                  f"{', truncated' if s.truncated else ''}\n".encode())
        out.write(b"       old      new  match    function\n")
        frames = list(s.frames)
        k = 0
        while k < len(frames):
            f = frames[k]
            j = k
            while j + 1 < len(frames) and frames[j + 1] == f:
                j += 1
            times = f" (x{j - k + 1})" if j > k else ""
            where = "" if f.line is None else f" :{f.line}"
            out.write(f"  {f.old_bytes:8d} {f.new_bytes:8d}  {f.match:<8} {f.function}{where}"
                      f"{times}\n".encode("utf-8", "replace"))
            k = j + 1


_MARK_BITS = ("N", "O", "+", "-", "R", "~")


def _mark_codes(res: DiffResult) -> np.ndarray:
    """Per row, a bit per mark of _MARK_BITS."""
    po, pn = res.old_row >= 0, res.new_row >= 0
    rec = np.zeros(len(res), bool)
    calls = res.recursive_new
    if calls:
        rec = res.examined_for_recursion & np.isin(res.new_row,
                                                   np.fromiter(calls, np.int64, len(calls)))
    bits = [~po, ~pn, res.inlined_added > 0, res.inlined_removed > 0, rec,
            (res.same_name_old > 1) | (res.same_name_new > 1)]
    return sum(b.astype(np.int64) << k for k, b in enumerate(bits))


def _strings(columns: list[np.ndarray], render) -> tuple[list[bytes], np.ndarray]:
    """Distinct rows of integer columns, rendered once: (pieces, code per row).
    render takes one row's values."""
    n = len(columns[0])
    if not n:
        return [], np.zeros(0, np.int64)
    order = np.lexsort(columns[::-1])
    srt = [c[order] for c in columns]
    new = np.zeros(n, bool)
    new[0] = True
    for c in srt:
        new[1:] |= c[1:] != c[:-1]
    codes = np.empty(n, np.int64)
    codes[order] = np.cumsum(new) - 1
    firsts = np.flatnonzero(new)
    rows = zip(*(c[firsts].tolist() for c in srt))
    return [render(*v).encode("utf-8", "replace") for v in rows], codes


def _text_fast(out: Output, res: DiffResult) -> bool:
    """The table a block of rows per ``bytes %`` (the same lines as the per-row
    code, which stays for names the text layout can't splice in)."""
    names = text_last_column(res.name_of)
    if names is None:
        return False
    n = len(res)
    rows = np.arange(n, dtype=np.int64)
    kinds = _kinds(res, rows)
    po, pn = res.old_row >= 0, res.new_row >= 0
    nums = {f"{side}_{f}": res.column(side, f) for side in ("old", "new")
            for f in ("frame_size", "max_sp_delta", "size")}

    def delta(d: np.ndarray):
        return _strings([d], lambda v: f"{v:+d}" if v else "0")

    fd_pieces, fd_codes = delta(res.frame_delta)
    cd_pieces, cd_codes = delta(res.size_delta)
    fl = lambda v: "|".join(flag_names(v)) or "-"  # noqa: E731
    args_pieces, args_codes = _strings(
        [res.column("old", "args"), res.column("new", "args"), po, pn],
        lambda a, z, p, q: _pair(a, z, p, q))
    flag_pieces, flag_codes = _strings(
        [res.column("old", "flags"), res.column("new", "flags"), po, pn],
        lambda a, z, p, q: _pair(a, z, p, q, fl))
    mark_codes = _mark_codes(res)
    mark_pieces = ["".join(m for k, m in enumerate(_MARK_BITS) if c >> k & 1) or "."
                   for c in range(1 << len(_MARK_BITS))]

    def width(values: np.ndarray, present: np.ndarray, header: str) -> int:
        w = int_width(values[present]) if present.any() else 0
        return max(w, len(header), 1 if not present.all() else 0)

    heads = dict(zip(["old_frame_size", "new_frame_size", "frame_delta", "old_max_sp_delta",
                      "new_max_sp_delta", "old_size", "new_size", "code_delta", "args",
                      "flags", "mark"], TEXT_HEADERS))
    w = {}
    for key, vals in nums.items():
        w[key] = width(vals, po if key.startswith("old") else pn, heads[key])
    for key, pieces, codes in (("frame_delta", fd_pieces, fd_codes),
                               ("code_delta", cd_pieces, cd_codes),
                               ("args", args_pieces, args_codes),
                               ("flags", flag_pieces, flag_codes)):
        used = np.flatnonzero(np.bincount(codes, minlength=len(pieces)))
        w[key] = max([len(heads[key])] + [len(pieces[c]) for c in used.tolist()])
    used_marks = np.flatnonzero(np.bincount(mark_codes, minlength=len(mark_pieces))).tolist()
    w["mark"] = max([len(heads["mark"])] + [len(mark_pieces[c]) for c in used_marks])
    order = ["old_frame_size", "new_frame_size", "frame_delta", "old_max_sp_delta",
             "new_max_sp_delta", "old_size", "new_size", "code_delta", "args", "flags", "mark"]
    out.write(table_line(TEXT_HEADERS, [w[k] for k in order] + [0], _RIGHT))

    def row_format(kind: int) -> tuple[bytes, list[str]]:
        parts, fields = [], []
        for key in order:
            absent = (key.startswith("old_") and kind == 2) or (key.startswith("new_") and kind == 1)
            if key in nums:
                parts.append(b"-".rjust(w[key]) if absent else b"%%%dd" % w[key])
            elif key in ("frame_delta", "code_delta"):
                parts.append(b"%%%ds" % w[key])
            else:
                parts.append(b"%%-%ds" % w[key])
            if not (absent and key in nums):
                fields.append(key)
        return b"  ".join(parts) + b"  %s\n%s", fields + ["name", "notes"]

    formats, fields = zip(*(row_format(k) for k in range(3)))
    table = _Ragged(list(formats), list(fields))
    notes = _notes(res)
    pad = b" " * 6
    note_text = {r: b"".join(pad + x.encode("utf-8", "replace") + b"\n" for x in lines)
                 for r, lines in notes.items()}
    mark_bytes = [m.ljust(w["mark"]).encode() for m in mark_pieces]
    for a in range(0, n, BLOCK_ROWS):
        z = min(n, a + BLOCK_ROWS)
        sl = slice(a, z)
        values = {k: _objects(v[sl]) for k, v in nums.items()}
        values["frame_delta"] = _objects(pick(fd_pieces, fd_codes[sl]))
        values["code_delta"] = _objects(pick(cd_pieces, cd_codes[sl]))
        values["args"] = _objects(pick(args_pieces, args_codes[sl]))
        values["flags"] = _objects(pick(flag_pieces, flag_codes[sl]))
        values["mark"] = _objects(pick(mark_bytes, mark_codes[sl]))
        values["name"] = _objects(names[a:z])
        blk_notes = np.empty(z - a, object)
        blk_notes[:] = b""
        for r in (r for r in note_text if a <= r < z):
            blk_notes[r - a] = note_text[r]
        values["notes"] = blk_notes
        out.write_buffer(table.format(kinds[sl], values))
    return True


def _text_cells(res: DiffResult) -> list[list[str]]:
    po = (res.old_row >= 0).tolist()
    pn = (res.new_row >= 0).tolist()

    def col(side: str, field: str) -> list[str]:
        present = po if side == "old" else pn
        return [str(v) if p else "-" for v, p in zip(res.column(side, field).tolist(), present)]

    def delta(d: np.ndarray) -> list[str]:
        return [f"{v:+d}" if v else "0" for v in d.tolist()]

    args = [_pair(a, b, p, q) for a, b, p, q in zip(res.column("old", "args").tolist(),
                                                       res.column("new", "args").tolist(), po, pn)]
    fl = lambda v: "|".join(flag_names(v)) or "-"  # noqa: E731
    flags = [_pair(a, b, p, q, fl) for a, b, p, q in zip(res.column("old", "flags").tolist(),
                                                            res.column("new", "flags").tolist(),
                                                            po, pn)]
    marks = []
    for r in range(len(res)):
        m = ""
        if not po[r]:
            m += "N"
        elif not pn[r]:
            m += "O"
        m += ("+" if res.inlined_added[r] else "") + ("-" if res.inlined_removed[r] else "")
        if res.examined_for_recursion[r] and int(res.new_row[r]) in res.recursive_new:
            m += "R"
        if res.same_name_old[r] > 1 or res.same_name_new[r] > 1:
            m += "~"
        marks.append(m or ".")
    names = [x.decode("utf-8", "replace") for x in res.name_of]
    return [col("old", "frame_size"), col("new", "frame_size"), delta(res.frame_delta),
            col("old", "max_sp_delta"), col("new", "max_sp_delta"), col("old", "size"),
            col("new", "size"), delta(res.size_delta), args, flags, marks, names]


def _notes(res: DiffResult) -> dict[int, list[str]]:
    """Lines under a row: why a frame grew, and ambiguous name matches."""
    notes: dict[int, list[str]] = {}
    grew = np.flatnonzero((res.old_row >= 0) & (res.new_row >= 0) & (res.frame_delta > 0))
    for r in grew.tolist():
        lines = []
        added = res.inline_change(r)[0] if res.inlined_added[r] else []
        if added:
            parts = []
            for a in added:
                fs = res.old_frame_by_name.get(a)
                name = a.decode("utf-8", "replace")
                parts.append(f"{name} (frame_size {fs} in OLD)" if fs is not None else
                             f"{name} (no function of its own in OLD)")
            lines.append("+ newly inlined: " + ", ".join(parts))
        call = res.recursive_new.get(int(res.new_row[r]))
        if call is not None:
            via = "" if call.via is None else \
                f" (the call is in inlined {call.via.decode('utf-8', 'replace')})"
            lines.append(f"R calls itself{via}: +{int(res.frame_delta[r])} bytes at every level "
                         "of its recursion")
        if lines:
            notes[r] = lines
    for r in np.flatnonzero(res.same_name_old != res.same_name_new).tolist():
        if res.old_row[r] >= 0 and res.new_row[r] >= 0:
            name = res.old.names[int(res.old_row[r])].decode("utf-8", "replace")
            notes.setdefault(r, []).append(
                f"~ matched as the {_ordinal(int(res.ordinal[r]))} of {res.same_name_old[r]} "
                f"functions named {name} in OLD, of {res.same_name_new[r]} in NEW")
    return notes
