"""gosym info: what kind of Go binary this is and where its tables are."""

from __future__ import annotations

import click

from ..render import Output
from ..render.info import info_dict, write_info
from . import arch_option, binary_argument, handle_errors, main, open_binary


@main.command()
@binary_argument
@arch_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def info(binary_path: str, arch: str | None, as_json: bool) -> None:
    """Container, architecture, Go version, table layout and build info."""
    b = open_binary(binary_path, arch)
    out = Output()
    write_info(out, info_dict(b), "json" if as_json else "text")
    out.flush()
