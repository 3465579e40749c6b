"""gosym depth: how deep a profile's stacks are and which the profiler cut."""

from __future__ import annotations

import click

from ..errors import FileAccessError, GosymError
from ..render import Output
from ..render.depth import write_depth
from . import EXIT_USAGE, arch_option, fail, handle_errors, main, open_binary

DEPTH_HELP = """Stack depths of pprof profiles, and the stacks Go's profiler cut.

\b
PROFILE: any pprof profile (CPU, heap/allocs, block, mutex, goroutine,
threadcreate; gzipped or plain) or the debug=1 text of a goroutine or
threadcreate profile. For each: the depth of every sample (logical frames)
as a histogram; each sample's root classified as complete (reaches the
goroutine's start), truncated (cut at the profiler's limit for this profile
type and Go version: 64 for CPU, 32 up to Go 1.22 and
GODEBUG=profstackdepth (128) from 1.23 for the others), system_stack (the
user part was never followed) or unknown; for the truncated samples, frames
per package and module, the longest runs of one package, the innermost
application frame, and what the user can do.

\b
--binary is needed for locations that carry only addresses, gives the Go
version (otherwise inferred from the depths) and the module paths (build
info; otherwise guessed from package paths).
"""


@main.command(name="depth", help=DEPTH_HELP)
@click.argument("profile_paths", nargs=-1, required=True, metavar="PROFILE...",
                type=click.Path(dir_okay=True, readable=False))
@click.option("--binary", "binary_path", metavar="BINARY",
              type=click.Path(dir_okay=True, readable=False),
              help="The Go binary the profiles are of.")
@arch_option
@click.option("--depth-limit", type=click.IntRange(1, 1 << 20), metavar="N",
              help="The profiler's limit, instead of the one for the profile type and Go version.")
@click.option("--json", "as_json", is_flag=True,
              help='{"profiles": [...]}, one object per profile.')
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, metavar="N",
              help="Rows of each per-package / per-module list.")
@handle_errors
def depth_cmd(profile_paths: tuple[str, ...], binary_path: str | None, arch: str | None,
              depth_limit: int | None, as_json: bool, top: int) -> None:
    from .. import depth, profiles
    b = open_binary(binary_path, arch) if binary_path else None
    reports = []
    for path in profile_paths:
        try:
            profile = profiles.read_profile(path)
            reports.append(depth.analyze(path, profile, b, depth_limit))
        except FileAccessError as e:
            fail(path, str(e), EXIT_USAGE)
        except GosymError as e:
            fail(path, str(e), e.exit_code)
    out = Output()
    write_depth(out, reports, "json" if as_json else "text", top)
    out.flush()
