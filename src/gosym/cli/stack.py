"""gosym stack: per-frame stack bytes of the stack a PC list describes."""

from __future__ import annotations

import click

from ..callframes import SymbolizeConfig
from ..render import Output
from ..render.stack import STACK_HELP, write_stack
from ..stack import stack_report
from . import (EXIT_FORMAT, arch_option, binary_argument, handle_errors, main, open_binary, resolve_pc_input,
               warn)


@main.command(name="stack", help=STACK_HELP)
@binary_argument
@click.argument("pcs", nargs=-1, metavar="[PC ...]")
@arch_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object: frames and summary.")
@click.option("--pc-is-exact", is_flag=True,
              help="PCs are instruction addresses, not return addresses (no -1).")
@click.option("--slide", metavar="N", help="Added to every address of the binary (PIE).")
@click.option("--anchor", metavar="SYM=ADDR", help="Runtime address of one function.")
@handle_errors
def stack_cmd(binary_path: str, pcs: tuple[str, ...], arch: str | None, as_json: bool,
              pc_is_exact: bool, slide: str | None, anchor: str | None) -> None:
    b = open_binary(binary_path, arch)
    res = resolve_pc_input(b, pcs, slide, anchor)
    rep = stack_report(b, res.pcs, SymbolizeConfig(slide=res.slide, pc_is_exact=pc_is_exact))
    if rep.unknown_pcs:
        warn(f"{rep.unknown_pcs} PC(s) not inside any function: their frame sizes are unknown "
             "and count as 0")
    out = Output()
    write_stack(out, rep, "json" if as_json else "text")
    out.flush()
    if rep.unknown_pcs:
        raise SystemExit(EXIT_FORMAT)
