"""``gosym funcs`` output: every function with its decoded _func fields.

Two paths give the same bytes (tests/test_render.py holds them equal on the
test binaries): a per-row one, used for CSV and for names that defeat the
text layout, and a block one (see :mod:`gosym.render.blocks`) for text and
JSON, which splices names as the table holds them.
"""

from __future__ import annotations

from .._lazy import np

from ..pclntab import flag_names, unique_inverse
from . import JsonArray, Output, json_bytes_str, table_line, write_csv, write_table
from .blocks import (BLOCK_ROWS, KEEP_JSON, KEEP_TEXT, int_width, interleave, json_inner, pick,
                     text_last_column, trailing_special)

FUNCS_FIELDS = """\b
args        size of the arguments in bytes
func_id     the runtime's funcID (func_id_name names it when it can be derived)
flags       TOPFRAME, SPWRITE, ASM (Go 1.17+)
start_line  line of the func keyword (Go 1.20+), file the file at the entry"""


def write_funcs(out: Output, b, idx: np.ndarray, fmt: str, fast: bool = True) -> None:
    """Functions ``idx`` of binary ``b`` in format "text", "json" or "csv"."""
    if fast and fmt != "csv" and _funcs_fast(out, b, idx, fmt == "json"):
        return
    as_json, as_csv = fmt == "json", fmt == "csv"
    t = b.table
    entries = t.entries
    starts = entries[idx].tolist()
    ends = entries[idx + 1].tolist()
    names = t.names(idx)
    args = t.column("args", idx).tolist()
    fids = t.column("func_id", idx).tolist()
    flags = t.column("flag", idx).tolist()
    sl = t.column("start_line", idx)
    start_lines = sl.tolist() if sl is not None else [None] * len(idx)
    files = t.entry_file_names(idx)
    fid_names = b.func_id_names
    if as_json:
        flag_json = {f: ("[" + ", ".join(f'"{n}"' for n in flag_names(f)) + "]").encode()
                     for f in set(flags)}
        fid_json = {f: (f'"{fid_names[f]}"' if f in fid_names else "null").encode()
                    for f in set(fids)}
        with JsonArray(out) as arr:
            for i in range(len(idx)):
                f = files[i]
                arr.add(b'{"name": ' + json_bytes_str(names[i]) +
                        b', "entry": %d, "end": %d, "size": %d, "args": %d, "func_id": %d'
                        % (starts[i], ends[i], ends[i] - starts[i], args[i], fids[i]) +
                        b', "func_id_name": ' + fid_json[fids[i]] +
                        b', "flags": ' + flag_json[flags[i]] +
                        b', "start_line": ' + (b"null" if start_lines[i] is None
                                               else b"%d" % start_lines[i]) +
                        b', "file": ' + (b"null" if f is None else json_bytes_str(f)) + b"}")
    else:
        headers = ["entry", "end", "size", "args", "func_id", "flags", "start_line", "file", "name"]
        rows = ([f"{starts[i]:#x}", f"{ends[i]:#x}", ends[i] - starts[i], args[i],
                 fid_names.get(fids[i], fids[i]) if not as_csv else fids[i],
                 "|".join(flag_names(flags[i])) or ("" if as_csv else "-"),
                 "" if start_lines[i] is None else start_lines[i],
                 (files[i] or b"").decode("utf-8", "replace") or ("" if as_csv else "-"),
                 names[i].decode("utf-8", "replace")] for i in range(len(idx)))
        if as_csv:
            write_csv(out, headers, rows)
        else:
            write_table(out, headers, rows, [False, False, True, True, False, False, True,
                                             False, False])


def _codes(values: np.ndarray) -> tuple[list[int], np.ndarray]:
    uniq, codes = unique_inverse(values)
    return uniq.tolist(), codes


class _BlockNames:
    """The names of a block of rows, for the block formatter.

    When all functions are listed, a block's names are copied from the table
    as they lie there, a run of back-to-back NUL-terminated names at a time (a
    name shared with an earlier function, or inlined functions' names between
    two, end a run), and spliced into the row format with one ``bytes.replace``:
    no Python object per name. Blocks with a name that needs escaping (JSON) or
    decoding or stripping (text) get a list of names instead.
    """

    def __init__(self, t, idx: np.ndarray, json: bool) -> None:
        self.t = t
        self.idx = idx
        self.json = json
        self.lists: dict[int, list[bytes] | None] = {}
        n = len(idx)
        full = n == len(t) and n > 0 and int(idx[0]) == 0 and int(idx[-1]) == n - 1
        self.spans = t.name_spans() if full else None
        if self.spans is None:
            raw = t.names(idx)
            names = json_inner(raw) if json else text_last_column(raw)
            for a in range(0, n, BLOCK_ROWS):
                self.lists[a] = None if names is None else names[a:a + BLOCK_ROWS]
            return
        starts, ends = self.spans
        self.follows = ends[:-1] + 1 == starts[1:]  # function i + 1's name right after i's
        if not json:
            for a in range(0, n, BLOCK_ROWS):  # a list that fails must fail before output
                e = min(n, a + BLOCK_ROWS)
                if self._region(a, e) is None:
                    self.lists[a] = self._list(a, e)

    @property
    def usable(self) -> bool:
        return all(v is not None for v in self.lists.values())

    def _raw(self, a: int, e: int) -> bytes:
        """Names a..e-1 as the table holds them, each followed by its NUL."""
        starts, ends = self.spans
        u8 = self.t.u8
        cuts = (np.flatnonzero(~self.follows[a:e - 1]) + a + 1).tolist()
        return b"".join(u8[int(starts[s]):int(ends[z - 1]) + 1].tobytes()
                        for s, z in zip([a] + cuts, cuts + [e]))

    def _region(self, a: int, e: int) -> bytes | None:
        """_raw(a, e), %-escaped, if no name in it needs Python treatment."""
        starts, ends = self.spans
        if not self.json:
            lengths = ends[a:e] - starts[a:e]
            if not lengths.all() or trailing_special()[self.t.u8[ends[a:e] - 1]].any():
                return None
        region = self._raw(a, e)
        if region.translate(None, KEEP_JSON if self.json else KEEP_TEXT):
            return None
        return region.replace(b"%", b"%%") if b"%" in region else region

    def _list(self, a: int, e: int) -> list[bytes] | None:
        names = self._raw(a, e).split(b"\0")[:-1]
        return json_inner(names) if self.json else text_last_column(names)

    def block(self, a: int, e: int) -> tuple[bytes | None, list[bytes] | None]:
        """(region, None) or (None, names) for rows a..e."""
        if a in self.lists:
            return None, self.lists[a]
        region = self._region(a, e)
        if region is not None:
            return region, None
        return None, self._list(a, e)


def _spliced(region: bytes, head: bytes, tail: bytes) -> bytes:
    """head + name + tail for every NUL-terminated name of region, as one format."""
    return head + region[:-1].replace(b"\0", tail + head) + tail


def _funcs_fast(out: Output, b, idx: np.ndarray, as_json: bool) -> bool:
    """The JSON and text outputs, a block of rows per ``bytes %`` (see render/blocks.py).

    Byte-identical to the per-row code of funcs(), which stays for CSV and for
    names that defeat the text layout (then False is returned, nothing written).
    """
    t = b.table
    n = len(idx)
    names = _BlockNames(t, idx, as_json)
    if not names.usable:
        return False
    entries = t.entries
    starts = entries[idx].astype(np.int64)
    ends = entries[idx + 1].astype(np.int64)
    sizes = ends - starts
    args = t.column("args", idx).astype(np.int64)
    fid_values = t.column("func_id", idx)
    fids, fid_codes = _codes(fid_values)
    flags, flag_codes = _codes(t.column("flag", idx))
    sl = t.column("start_line", idx)
    file_codes, files = t.entry_file_codes(idx)
    fid_names = b.func_id_names
    if as_json:
        fid_json = [(f'"{fid_names[f]}"' if f in fid_names else "null").encode() for f in fids]
        flag_json = [("[" + ", ".join(f'"{x}"' for x in flag_names(f)) + "]").encode()
                     for f in flags]
        file_json = [b"null" if f is None else json_bytes_str(f) for f in files]
        # func_id, func_id_name and flags: one piece per distinct (func_id, flag).
        combos, combo_codes = _codes(fid_codes.astype(np.int64) * len(flags) + flag_codes)
        combo_json = [b'%d, "func_id_name": %s, "flags": %s' %
                      (fids[c // len(flags)], fid_json[c // len(flags)],
                       flag_json[c % len(flags)]) for c in combos]
        head = b',\n{"name": "'
        tail = (b'", "entry": %d, "end": %d, "size": %d, "args": %d, "func_id": %s, '
                b'"start_line": ' + (b"null" if sl is None else b"%d") + b', "file": %s}')
        with JsonArray(out) as rows:
            for a in range(0, n, BLOCK_ROWS):
                e = min(n, a + BLOCK_ROWS)
                region, name_list = names.block(a, e)
                cols = [starts[a:e].tolist(), ends[a:e].tolist(),
                        sizes[a:e].tolist(), args[a:e].tolist(),
                        pick(combo_json, combo_codes[a:e])]
                if sl is not None:
                    cols.append(sl[a:e].tolist())
                cols.append(pick(file_json, file_codes[a:e]))
                if region is not None:
                    fmt = _spliced(region, head, tail)
                else:
                    fmt = (head + b"%s" + tail) * (e - a)
                    cols.insert(0, name_list)
                rows.add_block(fmt % interleave(cols), e - a)
        return True
    headers = ["entry", "end", "size", "args", "func_id", "flags", "start_line", "file", "name"]
    right = [False, False, True, True, False, False, True, False, False]
    fid_text = [str(fid_names.get(f, f)) for f in fids]
    flag_text = ["|".join(flag_names(f)) or "-" for f in flags]
    file_text = [(f or b"").decode("utf-8", "replace") or "-" for f in files]
    used = np.zeros(len(files), bool)
    used[file_codes] = True
    widths = [int_width(starts, True), int_width(ends, True), int_width(sizes),
              int_width(args),
              max((len(fid_text[c]) for c in np.unique(fid_codes).tolist()), default=0),
              max((len(flag_text[c]) for c in np.unique(flag_codes).tolist()), default=0),
              0 if sl is None else int_width(sl),
              max((len(file_text[c]) for c in np.flatnonzero(used).tolist()), default=0)]
    widths = [max(w, len(h)) for w, h in zip(widths, headers)]
    out.write(table_line(headers, widths + [0], right))
    fid_cells = [c.ljust(widths[4]).encode() for c in fid_text]
    flag_cells = [c.ljust(widths[5]).encode() for c in flag_text]
    file_cells = [c.ljust(widths[7]).encode("utf-8", "replace") for c in file_text]
    w = widths
    head = (b"%%-#%dx  %%-#%dx  %%%dd  %%%dd  %%s  %%s  " % (w[0], w[1], w[2], w[3]) +
            (b" " * w[6] if sl is None else b"%%%dd" % w[6]) + b"  %s  ")
    for a in range(0, n, BLOCK_ROWS):
        e = min(n, a + BLOCK_ROWS)
        region, name_list = names.block(a, e)
        cols = [starts[a:e].tolist(), ends[a:e].tolist(), sizes[a:e].tolist(),
                args[a:e].tolist(), pick(fid_cells, fid_codes[a:e]),
                pick(flag_cells, flag_codes[a:e])]
        if sl is not None:
            cols.append(sl[a:e].tolist())
        cols.append(pick(file_cells, file_codes[a:e]))
        if region is not None:
            fmt = _spliced(region, head, b"\n")
        else:
            fmt = (head + b"%s\n") * (e - a)
            cols.append(name_list)
        out.write_buffer(fmt % interleave(cols))
    return True
