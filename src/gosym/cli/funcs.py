"""gosym funcs: every function in the table, in address order."""

from __future__ import annotations

import click

from ..render import Output
from ..render.funcs import FUNCS_FIELDS, write_funcs
from . import (arch_option, binary_argument, exclusive_formats, handle_errors, main, match_option,
               open_binary, select_functions)


@main.command(help="Every function: entry, end, name and the decoded _func fields.\n\n"
                   + FUNCS_FIELDS)
@binary_argument
@arch_option
@match_option
@click.option("--json", "as_json", is_flag=True, help="A JSON array of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@handle_errors
def funcs(binary_path: str, arch: str | None, pattern: str | None, as_json: bool,
          as_csv: bool) -> None:
    fmt = exclusive_formats(as_json, as_csv)
    b = open_binary(binary_path, arch)
    out = Output()
    write_funcs(out, b, select_functions(b, pattern), fmt)
    out.flush()
