"""gosym goroutines: every goroutine of a running process or of a core dump."""

from __future__ import annotations

import io
import os
import sys

import click

from ..errors import FileAccessError, GosymError, NotGoBinaryError
from . import EXIT_FORMAT, EXIT_USAGE, fail, handle_errors, main, warn

GOROUTINES_HELP = """Every goroutine of a running Go process or of a core dump.

\b
TARGET is a PID (Linux; the executable is /proc/PID/exe unless --binary
names it) or an ELF core file (gcore, or the kernel's or qemu-user's dump
with GOTRACEBACK=crash; --binary required). A process is stopped with ptrace
while its memory is copied (the time is printed on stderr) and always
resumed, also on errors and Ctrl-C; --no-stop reads it while it runs.

\b
The runtime's state is found from the binary alone: runtime.allgs and
runtime.allm by symbol, or in stripped binaries through the machine code of
the runtime functions that use them; the layout of runtime.g, m, ... from
the binary's DWARF, else from gosym's table for Go 1.19, 1.21-1.27. Each
goroutine is unwound with the binary's pcsp tables from its saved state,
its system call state, or its thread's registers, inlined frames expanded.

\b
Output: the runtime's GOTRACEBACK=system dump format (runtime.Stack,
debug=2; panicparse reads it) with nothing elided: system goroutines,
runtime frames, every frame, fp= sp= pc= per frame (its bytes are fp - sp),
each goroutine's used/allocated stack in its header, then the threads and
the stack memory totals. --json: {"go_version", "goroutines", "threads",
"totals"}; totals account for /memory/classes/heap/stacks:bytes (live and
dead goroutines' stacks, threads' g0/gsignal stacks, free stacks).

\b
--stackmem: the stack-memory profile of `gosym stackmem` instead, made from
the snapshot: allocated, free and system goroutines' stacks measured, not
estimated, and the threads', dead goroutines' and free stacks as root-level
nodes. Text report (--json: its JSON), -o pprof, --folded, --html
(-o/--folded/--html imply --stackmem); --free and --top as for stackmem.
"""


@main.command(name="goroutines", help=GOROUTINES_HELP)
@click.argument("target_spec", metavar="PID|CORE")
@click.option("--binary", "exe_path", metavar="PATH",
              help="The executable (required for a core; default for a PID: /proc/PID/exe).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the text dump.")
@click.option("--no-stop", is_flag=True,
              help="Read a live process without stopping it (the snapshot may be torn).")
@click.option("--stackmem", "as_stackmem", is_flag=True,
              help="Print the stack-memory profile of the snapshot (gosym stackmem's report).")
@click.option("-o", "--output", "pprof_path", metavar="FILE",
              help="Write the stack-memory profile as gzipped pprof.")
@click.option("--folded", "folded_path", metavar="FILE",
              help="Write the stack-memory profile as folded stacks.")
@click.option("--html", "html_path", metavar="FILE",
              help="Write the stack-memory profile as a flame graph page.")
@click.option("--free", type=click.Choice(["leaf", "root", "none"]), default="leaf",
              show_default=True, help="Where the stack-memory outputs put free stack.")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True,
              help="Rows in the stack-memory report's tables.")
@handle_errors
def goroutines_cmd(target_spec: str, exe_path: str | None, as_json: bool,
                   no_stop: bool, as_stackmem: bool, pprof_path: str | None,
                   folded_path: str | None, html_path: str | None, free: str,
                   top: int) -> None:
    from .. import target as targets
    from ..goroutines import goroutine_dump
    from ..render.goroutines import write_json, write_text

    if targets.is_pid(target_spec):
        pid = int(target_spec)
        if not os.path.exists(f"/proc/{pid}"):
            fail(None, f"no such process: {pid}", EXIT_USAGE)
        binary = _open_program(pid, exe_path)
        tgt = targets.open_process(pid, binary.arch, stop=not no_stop)
    else:
        if no_stop:
            fail(None, "--no-stop applies to a running process, not to a core file", EXIT_USAGE)
        if not exe_path:
            fail(None, f"{target_spec}: a core file needs --binary, the executable that "
                       "dumped it", EXIT_USAGE)
        tgt = _open_core(target_spec)
        binary = _open_binary(exe_path)
        _attach(tgt, binary)
    try:
        dump = goroutine_dump(binary, tgt)
    except targets.TargetAccessError as e:
        fail(None, str(e), EXIT_USAGE)
    except GosymError as e:
        fail(None, str(e), e.exit_code)
    finally:
        tgt.close()
    if tgt.kind == "process":
        if no_stop:
            warn(f"read process {target_spec} without stopping it: the snapshot may be torn")
        else:
            warn(f"process {target_spec} was stopped for {1000 * (dump.stop_seconds or 0):.1f} ms "
                 f"({len(dump.goroutines)} goroutines, {len(dump.threads)} threads)")
    for g in dump.goroutines:
        if g.note:
            warn(f"goroutine {g.id}: {g.note}")
    for note in dump.notes:
        warn(note)
    if as_stackmem or pprof_path or folded_path or html_path:
        _stackmem_outputs(dump, binary, as_json, pprof_path, folded_path, html_path, free, top,
                          target_spec)
        return
    text = io.StringIO()
    if as_json:
        write_json(dump, text)
    else:
        write_text(dump, text)
    sys.stdout.write(text.getvalue())
    sys.stdout.flush()


def _stackmem_outputs(dump, binary, as_json: bool, pprof_path: str | None,
                      folded_path: str | None, html_path: str | None, free: str, top: int,
                      target_spec: str) -> None:
    """The snapshot as gosym stackmem's result, in its outputs."""
    from ..goroutines_stackmem import stackmem_result
    from .stackmem import write_outputs

    if sum(p == "-" for p in (pprof_path, folded_path, html_path)) > 1:
        fail(None, "only one of -o, --folded and --html can be '-'", EXIT_USAGE)
    result = stackmem_result(dump, binary)
    write_outputs(result, binary, as_json, pprof_path, folded_path, html_path, free, top,
                  f"goroutine stack memory: {os.path.basename(binary.path)} ({target_spec})")


def _open_binary(path: str):
    import gosym
    try:
        return gosym.open(path)
    except FileAccessError as e:
        fail(path, str(e), EXIT_USAGE)
    except GosymError as e:
        fail(path, str(e), e.exit_code)


def _open_program(pid: int, binary_path: str | None):
    """The executable of process pid: --binary, else /proc/PID/exe."""
    import gosym
    from ..target.process import permission_message
    path = binary_path or f"/proc/{pid}/exe"
    try:
        return gosym.open(path)
    except FileAccessError as e:
        if binary_path:
            fail(path, str(e), EXIT_USAGE)
        if "permission" in str(e):
            fail(None, permission_message(pid, "read the executable of"), EXIT_USAGE)
        fail(None, f"cannot open the executable of process {pid}: {e}", EXIT_USAGE)
    except NotGoBinaryError as e:
        fail(None, f"process {pid} is not a Go program ({e})", EXIT_FORMAT)
    except GosymError as e:
        what = path if binary_path else f"the executable of process {pid}"
        fail(None, f"{what}: {e}", e.exit_code)


def _open_core(path: str):
    from .. import target as targets
    try:
        return targets.open_core(path)
    except targets.TargetAccessError as e:
        fail(None, str(e), EXIT_USAGE)
    except GosymError as e:
        fail(None, str(e), e.exit_code)


def _attach(core, binary) -> None:
    """Check the core's architecture and let it read what it left out
    (the executable's read-only segments) from the executable."""
    from ..runtime_state import elf_segments, load_bias
    if binary.format != "elf":
        fail(binary.path, "a core file's executable must be an ELF file", EXIT_FORMAT)
    if core.arch != binary.arch:
        fail(None, f"{core.description} is a core of an {core.arch} program, {binary.path} is "
                   f"{binary.arch}: a core of another program", EXIT_FORMAT)
    core.attach_executable(binary.path, load_bias(binary, core), elf_segments(binary))
