"""gosym funcs: every function in the table, in address order."""

from __future__ import annotations

import re

import click
import numpy as np

from ..pclntab import flag_names
from ..render import JsonArrayWriter, Output, json_bytes_str, write_csv, write_table
from . import arch_option, binary_argument, fail, handle_errors, main, open_binary, EXIT_USAGE


def match_indices(table, pattern: str | None) -> np.ndarray:
    """Indices of functions whose name matches a regular expression (re.search)."""
    n = len(table)
    if pattern is None:
        return np.arange(n)
    try:
        rx = re.compile(pattern.encode())
    except re.error as e:
        fail(None, f"invalid --match regular expression: {e}", EXIT_USAGE)
    return np.array([i for i, raw in enumerate(table.names()) if rx.search(raw)], dtype=np.int64)


@main.command()
@binary_argument
@arch_option
@click.option("--match", "pattern", metavar="REGEX", help="Only functions whose name matches.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@handle_errors
def funcs(binary_path: str, arch: str | None, pattern: str | None, as_json: bool,
          as_csv: bool) -> None:
    """Every function: entry, end, name and the decoded _func fields.

    \b
    args        size of the arguments in bytes
    func_id     the runtime's funcID (func_id_name names it when it can be derived)
    flags       TOPFRAME, SPWRITE, ASM (Go 1.17+)
    start_line  line of the func keyword (Go 1.20+), file the file at the entry
    """
    if as_json and as_csv:
        fail(None, "--json and --csv are mutually exclusive", EXIT_USAGE)
    b = open_binary(binary_path, arch)
    t = b.table
    idx = match_indices(t, pattern)
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
    out = Output()
    if as_json:
        flag_json = {f: ("[" + ", ".join(f'"{n}"' for n in flag_names(f)) + "]").encode()
                     for f in set(flags)}
        fid_json = {f: (f'"{fid_names[f]}"' if f in fid_names else "null").encode()
                    for f in set(fids)}
        with JsonArrayWriter(out) as arr:
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
    out.flush()
