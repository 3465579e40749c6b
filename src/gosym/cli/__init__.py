"""The ``gosym`` command: a thin layer over the library.

Exit status: 0 success; 1 the file could not be decoded (not a Go binary,
malformed, unsupported) or a check found mismatches; 2 usage errors and files
that cannot be opened (missing, directory, no permission).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Callable

import click

# gosym does no linear algebra: keep numpy's BLAS from starting a thread per
# core at import, which costs CPU on every short run. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .. import binary as binary_mod  # noqa: E402
from ..errors import FileAccessError, GosymError  # noqa: E402

EXIT_OK = 0
EXIT_FORMAT = 1
EXIT_USAGE = 2


def fail(path: str | None, message: str, code: int) -> None:
    prefix = f"{path}: " if path else ""
    click.echo(f"gosym: error: {prefix}{message}", err=True)
    raise SystemExit(code)


def warn(message: str) -> None:
    click.echo(f"gosym: {message}", err=True)


def open_binary(path: str, arch: str | None = None) -> binary_mod.GoBinary:
    try:
        return binary_mod.open(path, arch)
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


binary_argument = click.argument("binary_path", metavar="BINARY",
                                 type=click.Path(dir_okay=True, readable=False))
arch_option = click.option("--arch", type=click.Choice(["amd64", "arm64"]), default=None,
                           help="Slice of a fat (universal) Mach-O file; default: the first.")


# Each command lives in its own module, imported only when that command runs:
# start-up time matters when gosym symbolizes a handful of PCs.
COMMAND_MODULES = {
    "info": "info", "funcs": "funcs", "frames": "frames", "check": "check",
    "symbolize": "symbolize", "stack": "stack", "goroutines": "goroutines",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

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
