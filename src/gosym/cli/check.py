"""gosym check: the pcsp tables against the machine code."""

from __future__ import annotations

import click

from ..check import CheckConfig, check_binary
from ..render import Output
from ..render.check import CHECK_HELP, skipped_text, write_check
from . import (EXIT_FORMAT, arch_option, binary_argument, handle_errors, main, match_option,
               open_binary, progress_reporter, select_functions, warn)


@main.command(help=CHECK_HELP)
@binary_argument
@arch_option
@match_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--strict", is_flag=True, help="Count split SP adjustments as mismatches.")
@handle_errors
def check(binary_path: str, arch: str | None, pattern: str | None, as_json: bool,
          strict: bool) -> None:
    b = open_binary(binary_path, arch)
    idx = select_functions(b, pattern)
    report = check_binary(b, idx, CheckConfig(pattern=pattern, strict=strict),
                          progress=progress_reporter("checking", "functions"))
    out = Output()
    write_check(out, report, strict, "json" if as_json else "text")
    out.flush()
    if report.verdict == "incomplete":
        warn(f"check incomplete: only {report.checked} of {report.functions} selected "
             f"functions could be checked ({skipped_text(report)})")
    if not report.ok:
        raise SystemExit(EXIT_FORMAT)
