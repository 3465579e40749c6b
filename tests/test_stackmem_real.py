"""gosym stackmem on goroutine dumps of real programs nobody here wrote.

Long-running real binaries (esbuild's --serve, go-task's --watch; linux/arm64
under qemu) are stopped with SIGQUIT, which makes the Go runtime print every
goroutine: once with GOTRACEBACK=system (fp= sp= on every frame, runtime
frames and system goroutines included) and once with the default setting
(runtime frames at the leaves and wrappers hidden). In the first, every
frame's bytes must be the runtime's fp − sp; in the second, no frame may be
unknown, and a stack with the same frames as one of the first must have the
same bytes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import REALBINS, need, opened
from gosym import goroutine_profile as gp
from gosym import stackmem as sm

QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]


def _versions(rb) -> tuple[int, ...]:
    return tuple(int(x) for x in rb.version.split("."))


def _programs():
    out = []
    for rb in REALBINS:
        if rb.goos != "linux" or rb.goarch not in ("amd64", "arm64"):
            continue
        if rb.package.startswith("esbuild") or rb.package.startswith("@esbuild"):
            # --serve needs an output path and exists from 0.11; under qemu
            # esbuild exits on a signal before the runtime prints anything
            if rb.goarch == "amd64" and _versions(rb) >= (0, 11):
                out.append((rb, ["in.js", "--serve=127.0.0.1:0", "--outdir=out"]))
        elif rb.package == "go-task-bin":
            out.append((rb, ["--watch", "--interval", "500ms"]))
    return out


PROGRAMS = _programs()

_TASKFILE = """version: '3'
tasks:
  default:
    sources: ['*.txt']
    cmds:
      - echo hi
"""


def _dump(rb, args: list[str], traceback: str | None, workdir) -> bytes:
    (workdir / "in.js").write_text("console.log(1)\n")
    (workdir / "Taskfile.yml").write_text(_TASKFILE)
    (workdir / "a.txt").write_text("a\n")
    argv = ([*QEMU] if rb.goarch == "arm64" else []) + [str(rb.path), *args]
    env = {k: v for k, v in os.environ.items() if k != "GOTRACEBACK"}
    if traceback:
        env["GOTRACEBACK"] = traceback
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, cwd=workdir, env=env)
    except FileNotFoundError as e:
        pytest.skip(f"cannot run {argv[0]}: {e}; run `make deps`")
    try:
        time.sleep(4 if rb.goarch == "arm64" else 1.5)
        p.send_signal(signal.SIGQUIT)
        # stdin stays open until the runtime has printed everything: esbuild
        # stops serving when it closes
        err = p.stderr.read()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stderr.close()
    return err


@pytest.mark.parametrize("rb,args", need(PROGRAMS, "long-running real binaries") if PROGRAMS
                         else [pytest.param(None, None, marks=pytest.mark.skip(
                             reason="no real binaries downloaded; run `make realbins`"))],
                         ids=lambda x: x.id if hasattr(x, "id") else "")
def test_sigquit_dumps_of_real_programs(rb, args, tmp_path):
    b = opened(str(rb.path))
    truth: dict[tuple, int] = {}
    frames = 0
    hidden_stacks = []
    for traceback in ("system", None):
        dump = gp.parse(_dump(rb, args, traceback, tmp_path))
        assert dump.goroutines > 2
        res = sm.analyze(dump, b)
        assert res.warnings == ()
        for rec in dump.records:
            one = sm.analyze(gp.GoroutineProfile(dump.form, [rec], system=rec.system), b)
            (stack,) = one.stacks
            assert stack.unknown_frames == 0, rec.header
            if not rec.system:
                hidden_stacks.append(stack)
                continue
            # every frame printed with the runtime's fp and sp
            want = [f.fp - f.sp for f in rec.frames if f.fp is not None]
            got = [f.bytes for f in stack.frames if not f.inlined and f.kind == sm.REAL]
            if stack.frames[-1].kind == sm.RESERVE:
                want = want[:-1]  # runtime.goexit: newproc1's reserve instead
            assert got == want, rec.header
            frames += len(want)
            truth[tuple(f.function for f in stack.frames)] = stack.used_bytes
    assert frames > 20
    # Go releases before 1.21 print a SIGQUIT dump without GOTRACEBACK=system
    # as debug=2 does: runtime frames and wrappers hidden. A stack whose
    # frames, once the hidden ones are inferred, are those of a stack of the
    # GOTRACEBACK=system run has its bytes. (A wrapper reached through an
    # interface call, as net/http's onceCloseListener.Accept, leaves no trace
    # in the caller's code: such stacks differ and are not compared.)
    if hidden_stacks:
        matched = 0
        for s in hidden_stacks:
            key = tuple(f.function for f in s.frames)
            if key in truth:
                assert s.used_bytes == truth[key], key
                matched += 1
        assert matched >= 1
        assert any(f.kind == sm.INFERRED for s in hidden_stacks for f in s.frames)
