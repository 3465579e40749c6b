"""The ``gosym`` command: a thin layer over the library.

Each command lives in its own module, which parses options, calls one library
function and picks a renderer (:mod:`gosym.render`). What the commands share
is here: the group, error handling and exit status, and the option parsers
(binary, --arch, --match, addresses, PC input).

Exit status: 0 success; 1 the file could not be decoded (not a Go binary,
malformed, unsupported) or a check found mismatches; 2 usage errors and files
that cannot be opened (missing, directory, no permission).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import TYPE_CHECKING, Callable

import click

# gosym does no linear algebra: keep numpy's BLAS from starting a thread per
# core at import, which costs CPU on every short run. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ..errors import FileAccessError, GosymError  # noqa: E402

if TYPE_CHECKING:
    from .. import pcinput
    from ..binary import GoBinary

EXIT_OK = 0
EXIT_FORMAT = 1
EXIT_USAGE = 2


def fail(path: str | None, message: str, code: int) -> None:
    prefix = f"{path}: " if path else ""
    click.echo(f"gosym: error: {prefix}{message}", err=True)
    raise SystemExit(code)


def warn(message: str) -> None:
    click.echo(f"gosym: {message}", err=True)


def open_binary(path: str, arch: str | None = None) -> GoBinary:
    from .. import binary
    ctx = click.get_current_context(silent=True)
    executable = ctx.meta.get(_EXECUTABLE_KEY) if ctx is not None else None
    try:
        return binary.open(path, arch, executable)
    except FileAccessError as e:
        fail(path, str(e), EXIT_USAGE)
    except GosymError as e:
        fail(path, str(e), e.exit_code)
    raise AssertionError("unreachable")


def handle_errors(func: Callable) -> Callable:
    """Turn library errors into one line on stderr and an exit status; no tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        path = kwargs.get("binary_path")
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            # Output piped into head & co: stop quietly, like other CLI tools.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(EXIT_OK)
        except FileAccessError as e:
            fail(path, str(e), EXIT_USAGE)
        except GosymError as e:
            fail(path, str(e), e.exit_code)
        except (SystemExit, KeyboardInterrupt, click.exceptions.ClickException,
                click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MemoryError:
            fail(path, "out of memory while decoding (corrupt size field?)", EXIT_FORMAT)
        except Exception as e:  # a bug or a malformed file we did not anticipate
            if os.environ.get("GOSYM_DEBUG"):
                raise
            fail(path, f"cannot decode ({type(e).__name__}: {e}); "
                 "set GOSYM_DEBUG=1 for a traceback", EXIT_FORMAT)

    return wrapper


# --- options the commands share ---------------------------------------------------------

_EXECUTABLE_KEY = "gosym.executable"


def _remember_executable(ctx: click.Context, _param, value: str | None) -> None:
    ctx.meta[_EXECUTABLE_KEY] = value


_binary_path = click.argument("binary_path", metavar="BINARY",
                              type=click.Path(dir_okay=True, readable=False))
_executable_option = click.option(
    "--binary", metavar="EXECUTABLE", type=click.Path(dir_okay=True, readable=False),
    expose_value=False, callback=_remember_executable,
    help="When BINARY is an ELF core file: the program's executable, which supplies the "
         "code and tables the core lacks. Addresses are the process's (run-time) ones.")


def binary_argument(func: Callable) -> Callable:
    """The BINARY argument (a Go binary, or an ELF core file) and --binary EXECUTABLE."""
    return _binary_path(_executable_option(func))
arch_option = click.option("--arch", type=click.Choice(["amd64", "arm64"]), default=None,
                           help="Slice of a fat (universal) Mach-O file; default: the first.")
match_option = click.option("--match", "pattern", metavar="REGEX",
                            help="Only functions whose name matches.")


def exclusive_formats(as_json: bool, as_csv: bool) -> str:
    """The output format of --json/--csv (mutually exclusive) or "text"."""
    if as_json and as_csv:
        fail(None, "--json and --csv are mutually exclusive", EXIT_USAGE)
    return "json" if as_json else "csv" if as_csv else "text"


def select_functions(b: GoBinary, pattern: str | None):
    """Indices of the functions --match selects (all without it)."""
    import re
    try:
        return b.select(pattern)
    except re.error as e:
        fail(None, f"invalid --match regular expression: {e}", EXIT_USAGE)


ADDRESS_RULE = "decimal, or hex with 0x"


def parse_int(text: str, what: str, signed: bool = False) -> int:
    """An integer option (an address, a slide): decimal, or hex with 0x; a
    leading - only when ``signed``; at most 64 bits."""
    t = text.strip().lower()
    neg = signed and t[:1] == "-"
    if neg or (signed and t[:1] == "+"):
        t = t[1:]
    try:
        if t.startswith("0x") and t[2:] and all(c in "0123456789abcdef" for c in t[2:]):
            v = int(t[2:], 16)
        elif t.isdigit() and t.isascii():
            v = int(t, 10)
        else:
            raise ValueError
    except ValueError:
        fail(None, f"{what}: not a number: {text!r} ({ADDRESS_RULE})", EXIT_USAGE)
        raise AssertionError
    if v >= 1 << 64:
        fail(None, f"{what}: {text!r} does not fit in 64 bits", EXIT_USAGE)
    return -v if neg else v


def read_stdin_text() -> str:
    stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    raw = stdin.read() if stdin is not None else sys.stdin.read().encode()
    return raw.decode("utf-8", "replace")


def read_pc_input(pcs: tuple[str, ...], text: str | None = None) -> pcinput.ParsedInput:
    """PCs from the arguments, else from ``text`` or stdin (numbers, dumps,
    profile lines)."""
    from .. import pcinput
    if pcs:
        return pcinput.parse_args(pcs)
    return pcinput.parse_text(read_stdin_text() if text is None else text)


def anchor_argument(anchor: str | None) -> tuple[str, int] | None:
    """--anchor SYM=ADDR as (SYM, ADDR)."""
    if anchor is None:
        return None
    sym, sep, addr = anchor.rpartition("=")
    if not sep or not sym:
        fail(None, f"--anchor wants SYM=ADDR, got {anchor!r}", EXIT_USAGE)
    return sym, parse_int(addr, "--anchor")


def resolve_pc_input(b: GoBinary, pcs: tuple[str, ...], slide: str | None,
                     anchor: str | None, text: str | None = None) -> pcinput.Resolved:
    """The PCs of symbolize and stack: parse, pick the slide, report skipped lines."""
    from .. import pcinput
    if slide is not None and anchor is not None:
        fail(None, "--slide and --anchor are mutually exclusive", EXIT_USAGE)
    anchor_pair = anchor_argument(anchor)
    parsed = read_pc_input(pcs, text)
    res = pcinput.resolve(b, parsed, None if slide is None else
                          parse_int(slide, "--slide", signed=True), anchor_pair)
    report_skipped(res.skipped)
    if res.slide_source.startswith("inferred") or (res.slide and res.slide_source != "--slide"):
        warn(f"slide {res.slide:#x} ({res.slide_source})")
    if not res.pcs:
        fail(None, "no PCs in the input", EXIT_USAGE)
    return res


def report_skipped(skipped: list, limit: int = 20) -> None:
    for s in skipped[:limit]:
        text = s.text.strip()
        if len(text) > 60:
            text = text[:57] + "..."
        warn(f"input line {s.line_no} skipped: {s.reason}: {text}")
    if len(skipped) > limit:
        warn(f"{len(skipped) - limit} more input lines skipped")


def progress_reporter(verb: str, unit: str):
    """A callback(done, total) showing progress on stderr, only for a terminal and
    only once a run takes a while; None otherwise."""
    if not sys.stderr.isatty():
        return None
    import time
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        if time.monotonic() - start < 2.0:
            return
        sys.stderr.write(f"\rgosym: {verb} {done}/{total} {unit} ({100 * done // total}%)")
        sys.stderr.flush()
        if done + 1024 >= total:
            sys.stderr.write("\r\033[K")

    return report


# --- the group ----------------------------------------------------------------------------

# Each command lives in its own module, imported only when that command runs:
# start-up time matters when gosym symbolizes a handful of PCs.
COMMAND_MODULES = {
    "info": "info", "funcs": "funcs", "frames": "frames", "check": "check",
    "symbolize": "symbolize", "stack": "stack", "depth": "depth", "stackmem": "stackmem",
    "diff": "diff",
}


# What `gosym --help` lists for each command, so that listing them imports none.
COMMAND_HELP = {
    "info": "Container, architecture, Go version, table layout and build info.",
    "funcs": "Every function: entry, end, name and the decoded _func fields.",
    "frames": "Stack frame sizes from the pcsp tables, largest first.",
    "check": "Check every function's pcsp table against its machine code.",
    "symbolize": "Symbolize PCs exactly as runtime.CallersFrames does.",
    "stack": "Stack bytes per frame for the stack the PCs describe.",
    "depth": "Stack depths of pprof profiles, and the stacks Go's profiler cut.",
    "stackmem": "Goroutine stack memory per stack and frame, from a goroutine profile.",
    "diff": "Compare two builds function by function: frames, code, inlining.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from COMMAND_HELP (as click shortens a command's help)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            text = COMMAND_HELP.get(name)
            if text is None:
                cmd = self.get_command(ctx, name)
                text = cmd.get_short_help_str(limit) if cmd is not None else ""
            else:
                text = click.Command(name, help=text).get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            # The module registers its command on `main` when imported.
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}")
        return self.commands.get(name)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gosym", prog_name="gosym")
def main() -> None:
    """Read Go binaries' function, line and stack-frame tables (.gopclntab).

    \b
    Exit status: 0 success; 1 the file can't be decoded (not a Go binary,
    malformed, unsupported) or `check` found a mismatch; 2 usage errors and
    files that can't be opened.
    """
