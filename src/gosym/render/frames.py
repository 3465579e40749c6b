"""``gosym frames`` output: frame sizes per function, and per PC.

Two paths give the same bytes (tests/test_render.py holds them equal on the
test binaries): a per-row one, used for CSV, text with --pcs and names that
defeat the text layout, and a block one (see :mod:`gosym.render.blocks`) for
text and JSON, which splices names as the table holds them.
"""

from __future__ import annotations

import json

from .._lazy import np

from ..framesize import FrameAt, FrameTable
from ..pclntab import FLAG_SPWRITE, flag_names, unique_inverse
from . import JsonArray, Output, json_bytes_str, table_line, write_csv, write_table
from .blocks import (BLOCK_ROWS, KEEP_JSON, int_width, interleave, json_inner, pick,
                     text_last_column)

FRAMES_HELP = """Stack frame sizes from the pcsp tables, largest first.

\b
sp_delta      at a PC: bytes SP has moved below its value at function entry
              (the pcsp table's value there)
max_sp_delta  the largest sp_delta over the function (never below 0)
frame_size    bytes the frame occupies between the function's deepest SP and
              its caller's SP: max_sp_delta plus the return-address slot on
              amd64 (+8); on arm64 the saved LR is inside max_sp_delta. This is
              the figure a stack-memory profile adds up.

\b
Marks: S = SPWRITE (pcsp cannot describe the frame), N = nosplit (no
stack-bound check in the prologue: never grows the stack).
"""


def write_frames(out: Output, b, ft: FrameTable, names: list[bytes] | None, fmt: str,
                 pcs: bool, fast: bool = True) -> None:
    """The rows of ``ft`` (in its order) in format "text", "json" or "csv";
    ``names``: the rows' names when already at hand; ``pcs``: with the
    sp_delta of every pcsp range."""
    t = b.table
    if fast and fmt == "json":
        _json_fast(out, t, ft, names, pcs)
        return
    if names is None:
        names = t.names(ft.indices)
    if fast and fmt == "text" and not pcs and _text_fast(out, ft, names):
        return
    entries = ft.entries.tolist()
    ends = ft.ends.tolist()
    maxd = ft.max_sp_delta.tolist()
    fsz = ft.frame_size.tolist()
    args = ft.args.tolist()
    flags = ft.flags.tolist()
    ns = ft.nosplit.tolist() if ft.nosplit is not None else [None] * len(ft)
    sel_names = names
    n = len(ft)
    ranges = ft.sp_delta_ranges

    if fmt == "json":
        flag_json = {}
        with JsonArray(out) as arr:
            for k in range(n):
                fl = flags[k]
                fj = flag_json.get(fl)
                if fj is None:
                    fj = flag_json[fl] = ("[" + ", ".join(f'"{n}"' for n in flag_names(fl)) +
                                          "]").encode()
                obj = (b'{"name": ' + json_bytes_str(sel_names[k]) +
                       b', "entry": %d, "end": %d, "frame_size": %d, "max_sp_delta": %d, '
                       b'"args": %d, "flags": ' % (entries[k], ends[k], fsz[k], maxd[k], args[k])
                       + fj + b', "nosplit": ' +
                       (b"null" if ns[k] is None else b"true" if ns[k] else b"false"))
                if pcs:
                    obj += b', "sp_deltas": [' + b", ".join(
                        b"[%d, %d, %d]" % r for r in ranges(k)) + b"]"
                arr.add(obj + b"}")
    elif fmt == "csv":
        if pcs:
            headers = ["name", "entry", "start_pc", "end_pc", "sp_delta"]
            rows = ((sel_names[k].decode("utf-8", "replace"), entries[k], s, e, v)
                    for k in range(n) for s, e, v in ranges(k))
        else:
            headers = ["name", "entry", "end", "frame_size", "max_sp_delta", "args", "flags",
                       "nosplit"]
            rows = ((sel_names[k].decode("utf-8", "replace"), entries[k], ends[k], fsz[k],
                     maxd[k], args[k], "|".join(flag_names(flags[k])),
                     "" if ns[k] is None else int(ns[k])) for k in range(n))
        write_csv(out, headers, rows)
    else:
        def mark(k: int) -> str:
            m = ("S" if flags[k] & FLAG_SPWRITE else "") + ("N" if ns[k] else "")
            return m or "-"

        headers = ["entry", "frame_size", "max_sp_delta", "args", "mark", "name"]
        if not pcs:
            write_table(out, headers, ([f"{entries[k]:#x}", fsz[k], maxd[k], args[k], mark(k),
                                        sel_names[k].decode("utf-8", "replace")]
                                       for k in range(n)),
                        [False, True, True, True, False, False])
        else:
            for k in range(n):
                out.write(f"{entries[k]:#x}  frame_size={fsz[k]}  max_sp_delta={maxd[k]}  "
                          f"args={args[k]}  {mark(k)}  "
                          f"{sel_names[k].decode('utf-8', 'replace')}\n".encode())
                for s, e, v in ranges(k):
                    out.write(f"    {s:#x}-{e:#x}  sp_delta={v}\n".encode())


class _JsonNames:
    """The JSON-escaped names of functions in output order, a block at a time, as
    one region of NUL-terminated names ready to splice into a row format.

    A name is copied out of the table with the 160 bytes at its start (one
    gather of fixed-width rows; 99.98% of the names of a big binary fit) and the
    rows are cut to length with one boolean compress: no Python object per
    name. The longer names, those near the end of the table data and the few
    that need escaping are patched in afterwards.
    """

    WIDTH = 160  # at most 255: row lengths are compared as uint8

    def __init__(self, t, functions: np.ndarray, spans: tuple[np.ndarray, np.ndarray]) -> None:
        starts, ends = spans
        self.u8 = t.u8
        self.starts = starts[functions]
        self.lengths = ends[functions] - self.starts + 1  # with the NUL
        w = self.WIDTH
        n = len(self.u8)
        fits = self.starts + w <= n
        self.head = np.where(fits, np.minimum(self.lengths, w), 0).astype(np.uint8)  # from rows
        self.at = np.where(fits, self.starts, 0)
        self.rows = np.ndarray((max(n - w + 1, 0),), dtype=f"V{w}", buffer=self.u8,
                               strides=(1,)) if n >= w else None
        self.cols = np.arange(w, dtype=np.uint8)

    def region(self, a: int, e: int) -> bytes:
        """Names a..e-1 (JSON-escaped, ``%`` doubled), each followed by a NUL."""
        head = self.head[a:e]
        if self.rows is not None:
            rows = self.rows[self.at[a:e]].view(np.uint8).reshape(e - a, self.WIDTH)
            got = rows[self.cols[None, :] < head[:, None]].tobytes()
        else:
            got = b""
        patch = {}
        for k in np.flatnonzero(head < self.lengths[a:e]).tolist():
            s = int(self.starts[a + k])
            patch[k] = self.u8[s:s + int(self.lengths[a + k])].tobytes()
        marked = got.translate(None, KEEP_JSON)
        if marked:
            ends = np.cumsum(head, dtype=np.int64) - 1
            hits = set()
            for c in set(marked):
                pos = got.find(c)
                while pos >= 0:
                    hits.add(pos)
                    pos = got.find(c, pos + 1)
            for k in set(np.searchsorted(ends, sorted(hits)).tolist()):
                if k not in patch:
                    s = int(self.starts[a + k])
                    patch[k] = self.u8[s:s + int(self.lengths[a + k])].tobytes()
        for k, raw in list(patch.items()):
            if raw[:-1].translate(None, KEEP_JSON):
                patch[k] = json_bytes_str(raw[:-1])[1:-1] + b"\0"
        if patch:
            ends = np.cumsum(head, dtype=np.int64).tolist()
            view = memoryview(got)
            parts = []
            prev = 0
            for k in sorted(patch):
                cut = ends[k] - int(head[k])
                parts.append(view[prev:cut])
                parts.append(patch[k])
                prev = ends[k]
            parts.append(view[prev:])
            got = b"".join(parts)
        return got.replace(b"%", b"%%") if b"%" in got else got


def _json_fast(out: Output, t, ft: FrameTable, names: list[bytes] | None, pcs: bool) -> None:
    """The JSON output a block of functions per ``bytes %`` (same bytes as the loop)."""
    n = len(ft)
    flag_values = ft.flags
    uflags, flag_codes = unique_inverse(flag_values)
    flag_json = [("[" + ", ".join(f'"{x}"' for x in flag_names(f)) + "]").encode()
                 for f in uflags.tolist()]
    flag_codes = flag_codes.reshape(-1)
    entries = ft.entries.astype(np.int64)
    ends = ft.ends.astype(np.int64)
    fsz = ft.frame_size
    maxd = ft.max_sp_delta
    args = ft.args
    spans = t.name_spans() if names is None else None
    if spans is None:
        if names is None:
            names = t.names(ft.indices)
        sel_names = json_inner(names)
    else:
        region_names = _JsonNames(t, ft.indices, spans)
    # flags and nosplit: one piece per distinct pair.
    ns_codes = np.zeros(n, np.int64) if ft.nosplit is None else 1 + np.asarray(ft.nosplit, np.int64)
    ns_json = [b"null", b"false", b"true"]
    tail_json = [f + b', "nosplit": ' + x for f in flag_json for x in ns_json]
    tail_codes = flag_codes * 3 + ns_codes
    start = b',\n{"name": "'
    head = (b'", "entry": %d, "end": %d, "frame_size": %d, "max_sp_delta": %d, '
            b'"args": %d, "flags": %s')
    r = ft.ranges
    if pcs:
        first = r.first
        count = r.count
        # A function's list is its pcsp table's, shifted by its entry: the values
        # go into a format per distinct table, the addresses are formatted.
        keys = np.where(count > 0, first, -1)
        templates: dict[int, bytes] = {-1: b""}
    with JsonArray(out) as rows:
        for a in range(0, n, BLOCK_ROWS):
            e = min(n, a + BLOCK_ROWS)
            cols = [entries[a:e].tolist(), ends[a:e].tolist(),
                    fsz[a:e].tolist(), maxd[a:e].tolist(), args[a:e].tolist(),
                    pick(tail_json, tail_codes[a:e])]
            if spans is None:
                cols.insert(0, sel_names[a:e])
                region = None
            else:
                region = region_names.region(a, e)

            def row_format(tail: bytes) -> bytes:
                if region is None:
                    return (start + b"%s" + head + tail) * (e - a)
                return _spliced(region, start, head + tail)

            if not pcs:
                rows.add_block(row_format(b"}") % interleave(cols), e - a)
                continue
            # The sp_deltas lists of the block, one % over all their addresses,
            # split at NULs into one piece per function.
            c = count[a:e]
            k = keys[a:e]
            uk, at_k = np.unique(k, return_index=True)
            new = [(x, cnt) for x, cnt in zip(uk.tolist(), c[at_k].tolist())
                   if x not in templates]
            if new:
                # The new templates with one % over their values ("%%d" stays "%d").
                fmt = b"\0".join(b", ".join([b"[%%d, %%d, %d]"] * cnt) for _, cnt in new)
                sel = np.concatenate([np.arange(x, x + cnt) for x, cnt in new])
                done = (fmt % tuple(r.value[sel].tolist())).split(b"\0")
                templates.update(zip((x for x, _ in new), done))
            total = int(c.sum())
            rel = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
            at = np.repeat(first[a:e], c) + rel
            base = np.repeat(entries[a:e], c)
            nums = np.empty((total, 2), np.int64)
            nums[:, 0] = base + r.start[at]
            nums[:, 1] = base + r.end[at]
            fmt = b"\0".join(map(templates.__getitem__, k.tolist()))
            cols.append((fmt % tuple(nums.reshape(-1).tolist())).split(b"\0"))
            rows.add_block(row_format(b', "sp_deltas": [%s]}') % interleave(cols), e - a)


def _spliced(region: bytes, head: bytes, tail: bytes) -> bytes:
    """head + name + tail for every NUL-terminated name of region, as one format
    (one replace and one copy: slicing and ``+`` would copy the block thrice)."""
    spliced = region.replace(b"\0", tail + head)  # name tail head name tail head ...
    return b"".join((head, memoryview(spliced)[:len(spliced) - len(head)]))


def _text_fast(out: Output, ft: FrameTable, names: list[bytes]) -> bool:
    """The text table a block of rows per ``bytes %`` (same bytes as write_table);
    False (nothing written) when a name defeats the layout."""
    sel_names = text_last_column(names)
    if sel_names is None:
        return False
    n = len(ft)
    entries = ft.entries.astype(np.int64)
    fsz = ft.frame_size
    maxd = ft.max_sp_delta
    args = ft.args
    spwrite = (ft.flags & FLAG_SPWRITE) != 0
    ns = np.zeros(n, bool) if ft.nosplit is None else np.asarray(ft.nosplit, bool)
    mark_codes = spwrite.astype(np.int64) * 2 + ns
    marks = ["-", "N", "S", "SN"]
    headers = ["entry", "frame_size", "max_sp_delta", "args", "mark", "name"]
    right = [False, True, True, True, False, False]
    used = sorted(set(mark_codes.tolist()))
    widths = [int_width(entries, True), int_width(fsz), int_width(maxd), int_width(args),
              max((len(marks[c]) for c in used), default=0)]
    w = [max(x, len(h)) for x, h in zip(widths, headers)]
    out.write(table_line(headers, w + [0], right))
    cells = [m.ljust(w[4]).encode() for m in marks]
    row = b"%%-#%dx  %%%dd  %%%dd  %%%dd  %%s  %%s\n" % (w[0], w[1], w[2], w[3])
    for a in range(0, n, BLOCK_ROWS):
        e = min(n, a + BLOCK_ROWS)
        cols = [entries[a:e].tolist(), fsz[a:e].tolist(), maxd[a:e].tolist(),
                args[a:e].tolist(), pick(cells, mark_codes[a:e]), sel_names[a:e]]
        out.write_buffer(row * (e - a) % interleave(cols))
    return True


def write_frames_at(out: Output, rows: list[FrameAt], fmt: str) -> None:
    """``frames --pc``: function, sp_delta and frame_size at each PC."""
    if fmt == "json":
        out.write(json.dumps([{"pc": r.pc, "function": r.function, "entry": r.entry,
                               "sp_delta": r.sp_delta, "frame_size": r.frame_bytes}
                              for r in rows], indent=1).encode() + b"\n")
    elif fmt == "csv":
        write_csv(out, ["pc", "function", "entry", "sp_delta", "frame_size"],
                  [[r.pc, r.function or "", r.entry or "", "" if r.sp_delta is None
                    else r.sp_delta, "" if r.frame_bytes is None else r.frame_bytes]
                   for r in rows])
    else:
        write_table(out, ["pc", "sp_delta", "frame_size", "function"],
                    [[f"{r.pc:#x}", "-" if r.sp_delta is None else r.sp_delta,
                      "-" if r.frame_bytes is None else r.frame_bytes,
                      "?" if r.function is None else f"{r.function}+{r.pc - r.entry:#x}"]
                     for r in rows], [False, True, True, False])
