"""gosym frames: per-function and per-PC stack frame sizes."""

from __future__ import annotations

import click

from ..framesize import frame_report, frames_at
from ..render import Output
from ..render.frames import FRAMES_HELP, write_frames, write_frames_at
from . import (EXIT_FORMAT, arch_option, binary_argument, exclusive_formats, handle_errors, main,
               match_option, open_binary, parse_int, select_functions, warn)


@main.command(help=FRAMES_HELP)
@binary_argument
@arch_option
@match_option
@click.option("--sort", "sort_key", type=click.Choice(["size", "name", "addr"]), default="size",
              show_default=True, help="Order of the functions.")
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the first N.")
@click.option("--pcs", is_flag=True, help="Also the sp_delta of every pcsp range.")
@click.option("--pc", "pcs_at", multiple=True, metavar="ADDR",
              help="Function, sp_delta and frame_size at this PC (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@handle_errors
def frames(binary_path: str, arch: str | None, pattern: str | None, sort_key: str,
           top: int | None, pcs: bool, pcs_at: tuple[str, ...], as_json: bool,
           as_csv: bool) -> None:
    fmt = exclusive_formats(as_json, as_csv)
    b = open_binary(binary_path, arch)
    out = Output()
    if pcs_at:
        rows = frames_at(b, [parse_int(p, "--pc") for p in pcs_at])
        for r in rows:
            if r.function is None:
                warn(f"{r.pc:#x}: not inside any function")
        write_frames_at(out, rows, fmt)
        out.flush()
        if any(r.function is None for r in rows):
            raise SystemExit(EXIT_FORMAT)
        return
    ft, names = frame_report(b, select_functions(b, pattern), sort_key, top)
    write_frames(out, b, ft, names, fmt, pcs)
    out.flush()
