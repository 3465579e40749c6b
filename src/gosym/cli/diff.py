"""gosym diff: what a rebuild did to frame sizes, inlining and stack depth."""

from __future__ import annotations

import click

from ..diff import DiffConfig, diff, diff_profile
from ..errors import GosymError
from ..render import Output
from ..render.diff import DIFF_HELP, write_diff
from . import EXIT_USAGE, arch_option, exclusive_formats, fail, handle_errors, main, open_binary


@main.command(name="diff", help=DIFF_HELP)
@click.argument("old_path", metavar="OLD", type=click.Path(dir_okay=True, readable=False))
@click.argument("new_path", metavar="NEW", type=click.Path(dir_okay=True, readable=False))
@arch_option
@click.option("--match", "pattern", metavar="REGEX",
              help="Only functions whose printed name matches (in both builds).")
@click.option("--sort", "sort_key", type=click.Choice(["frame", "code", "name"]),
              default="frame", show_default=True,
              help="Order: frame-size delta, code-size delta (largest change first) or name.")
@click.option("--min-delta", type=click.IntRange(min=0), default=0, metavar="N",
              help="Only changes of at least N bytes (frame size; code size with --sort code).")
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the first N.")
@click.option("--profile", "profile_path", metavar="GOROUTINE_PROFILE",
              help="A goroutine profile of a process running OLD (any form `gosym stackmem` "
                   "reads; - for stdin): its stacks re-costed with NEW's frames.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row (functions only).")
@handle_errors
def diff_cmd(old_path: str, new_path: str, arch: str | None, pattern: str | None,
             sort_key: str, min_delta: int, top: int | None, profile_path: str | None,
             as_json: bool, as_csv: bool) -> None:
    fmt = exclusive_formats(as_json, as_csv)
    old = open_binary(old_path, arch)
    new = open_binary(new_path, arch)
    res = diff(old, new, DiffConfig(match=pattern, sort=sort_key, min_delta=min_delta, top=top,
                                    parallel=True))
    if profile_path is not None:
        data = _read_profile(profile_path)
        try:
            res.profile = diff_profile(data, old, new)
        except GosymError as e:
            fail(None if profile_path == "-" else profile_path, str(e), e.exit_code)
    out = Output()
    write_diff(out, res, fmt)
    out.flush()


def _read_profile(path: str) -> bytes:
    if path == "-":
        return click.get_binary_stream("stdin").read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        fail(path, f"cannot read the profile: {e.strerror or e}", EXIT_USAGE)
    raise AssertionError("unreachable")
