"""gosym goroutines against the runtime itself.

testbins/goroutines parks goroutines in known states, records each one's own
runtime.Callers frames (roles.json), runtime.Stack(buf, true) (stacks.txt)
and the stack metrics (metrics.json), then holds still. For every build of it
(Go 1.19, 1.22, 1.24, 1.27; default, PIE, stripped):

* amd64, natively: gosym reads the live process (JSON and text) and a gcore
  core of it; then SIGQUIT under GOTRACEBACK=crash makes the runtime print
  every goroutine with fp=/sp=/pc= and the kernel write a core, which gosym
  reads too;
* arm64, under qemu-user: SIGQUIT under GOTRACEBACK=crash, and gosym reads
  the core qemu writes.

Every goroutine the runtime printed must be in gosym's dump with the same
status, creator and frames (function, file, line, and fp/sp/pc of each
physical frame); frames the runtime elides are checked against the
goroutine's own runtime.Callers record, and the stack totals against
/memory/classes/heap/stacks:bytes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ALL_TESTBINS, need, opened
from goroutine_dump import DumpGoroutine, parse_dump
from gosym.cli import main

BINS = [b for b in ALL_TESTBINS if b.program == "goroutines" and b.goos == "linux"]
AMD64 = [b for b in BINS if b.goarch == "amd64"]
ARM64 = [b for b in BINS if b.goarch == "arm64"]
QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]
READY_TIMEOUT = 60
# The goroutine that spins: it runs on a thread, so it is wherever it was.
SPINNER = "main.spin"


def _ids(t):
    return t.id if t else "none"


def _host_is_amd64() -> bool:
    return os.uname().machine == "x86_64"


def _gosym(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["goroutines", *args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


@dataclass
class Run:
    """One run of the test program and everything read from it."""

    outdir: Path
    pid: int
    ready: dict
    roles: list
    metrics: dict
    stacks_txt: str
    runtime_dump: dict[int, DumpGoroutine] = field(default_factory=dict)
    live: dict | None = None  # gosym --json of the live process
    live_text: str | None = None
    live_stderr: str = ""
    gcore: dict | None = None  # gosym --json of a gcore core
    crash_core: dict | None = None  # of the kernel's / qemu's core after SIGQUIT
    crash_core_skip: str | None = None
    state_after: str | None = None  # /proc/PID/stat state after gosym ran


def _no_host_core() -> None:
    """In the child: allow core dumps, but keep the host kernel's dump of
    qemu itself small (qemu writes the guest's core on its own)."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    try:
        with open("/proc/self/coredump_filter", "w") as f:
            f.write("0")
    except OSError:
        pass


def _allow_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _start(tb, outdir: Path, extra: tuple[str, ...] = (), env_extra: dict | None = None):
    argv = [str(tb.path), str(outdir), *extra]
    if tb.goarch == "arm64" and os.uname().machine != "aarch64":
        argv = QEMU + argv
    env = {"PATH": os.environ.get("PATH", ""), "GOTRACEBACK": "crash",
           # Go 1.27 prints labels in headers, but not for modules that say go 1.19.
           "GODEBUG": "tracebacklabels=1", **(env_extra or {})}
    stderr = open(outdir / "stderr.txt", "wb")
    proc = subprocess.Popen(argv, cwd=outdir, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                            preexec_fn=_no_host_core if tb.goarch == "arm64" else _allow_core)
    stderr.close()
    deadline = time.monotonic() + READY_TIMEOUT
    while not (outdir / "ready").exists():
        if proc.poll() is not None:
            raise AssertionError(f"{tb.path} exited: {(outdir / 'stderr.txt').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{tb.path} did not get ready")
        time.sleep(0.05)
    return proc


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2]


def _json(stdout: str) -> dict:
    return json.loads(stdout)


def _crash(proc, outdir: Path) -> None:
    """SIGQUIT under GOTRACEBACK=crash: the runtime prints every goroutine, then
    aborts with a core dump."""
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _find_core(outdir: Path, arm64: bool) -> Path | None:
    if arm64:
        cores = sorted(outdir.glob("qemu_*.core"))
    else:
        cores = [p for p in outdir.iterdir() if p.name == "core" or p.name.startswith("core.")]
    return cores[0] if cores else None


_RUNS: dict[str, Run] = {}


def run_of(tb) -> Run:
    """Run the program once per binary; every test of that binary reads the result."""
    if tb.id in _RUNS:
        return _RUNS[tb.id]
    outdir = Path(tempfile.mkdtemp(prefix="gosym-goroutines-"))
    arm64 = tb.goarch == "arm64"
    proc = _start(tb, outdir)
    try:
        ready = json.loads((outdir / "ready").read_text())
        run = Run(outdir, proc.pid, ready, json.loads((outdir / "roles.json").read_text()),
                  json.loads((outdir / "metrics.json").read_text()),
                  (outdir / "stacks.txt").read_text())
        if not arm64:
            code, out, err = _gosym(str(proc.pid), "--json")
            assert code == 0, err
            run.live, run.live_stderr = _json(out), err
            code, out, err = _gosym(str(proc.pid))
            assert code == 0, err
            run.live_text = out
            run.state_after = _state(proc.pid)
            if shutil.which("gcore"):
                core = outdir / "gcore"
                subprocess.run(["gcore", "-o", str(core), str(proc.pid)], capture_output=True,
                               timeout=300)
                path = outdir / f"gcore.{proc.pid}"
                if path.exists():
                    code, out, err = _gosym(str(path), "--binary", str(tb.path), "--json")
                    path.unlink()
                    assert code == 0, err
                    run.gcore = _json(out)
        _crash(proc, outdir)
        run.runtime_dump = parse_dump((outdir / "stderr.txt").read_text(errors="replace"))
        core = _find_core(outdir, arm64)
        if core is None:
            pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
            run.crash_core_skip = f"no core file after the crash (core_pattern {pattern!r})"
        else:
            code, out, err = _gosym(str(core), "--binary", str(tb.path), "--json")
            assert code == 0, err
            run.crash_core = _json(out)
        for p in outdir.iterdir():
            if p.name.startswith(("core", "qemu_", "gcore")):
                p.unlink()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _RUNS[tb.id] = run
    return run


# --- comparing with the runtime's own dump --------------------------------------------------

def _frames(g: dict) -> list[tuple]:
    return [(f["function"], f["file"], f["line"]) for f in g["frames"]]


def _runtime_frames(r: DumpGoroutine) -> list[tuple]:
    return [("runtime.gopanic" if f.function == "panic" else f.function, f.file, f.line)
            for f in r.frames]


def _physical(g: dict) -> list[tuple]:
    return [(f["pc"], f["sp"], f["sp"] + f["bytes"]) for f in g["frames"] if not f["inlined"]]


def _is_spinner(ours: dict) -> bool:
    return ours["start_function"] == SPINNER


def compare_with_runtime(doc: dict, runtime: dict[int, DumpGoroutine], version) -> int:
    """Every goroutine the runtime printed, against gosym's; returns how many
    were compared frame by frame."""
    ours = {g["id"]: g for g in doc["goroutines"]}
    printed = {gid: r for gid, r in runtime.items() if gid != 0}  # 0: an M's g0 (crash)
    assert set(printed) == set(ours), (sorted(set(printed) - set(ours)),
                                       sorted(set(ours) - set(printed)))
    compared = 0
    for gid, r in printed.items():
        g = ours[gid]
        if r.created_by is not None:
            c = g["created_by"]
            assert c is not None, gid
            assert (c["function"], c["goroutine"]) == r.created_by, gid
        else:
            assert g["created_by"] is None or gid == 1, gid
        if _is_spinner(g) or r.unavailable or r.status == "running":
            # On a thread: the runtime printed it later than gosym read it.
            if g["frames"]:
                assert [f[0] for f in _frames(g)][-2:] == [SPINNER, "runtime.goexit"], gid
            continue
        assert (g["wait_reason"] or g["status"]) == r.status, gid
        rf, of = _runtime_frames(r), _frames(g)
        if r.elided_after is None:
            assert of == rf, gid
            assert _physical(g) == [(f.pc, f.sp, f.fp) for f in r.frames if not f.inlined], gid
        else:
            k = r.elided_after
            tail = len(rf) - k
            assert of[:k] == rf[:k], gid
            if tail:
                assert of[-tail:] == rf[k:], gid
            if r.elided_count is not None:  # Go 1.21+: "...N frames elided..."
                assert len(of) == len(rf) + r.elided_count, gid
            else:  # before: at most 100 frames printed, then "...additional frames elided..."
                assert len(of) > len(rf), gid
            phys = [(f.pc, f.sp, f.fp) for f in r.frames[:k] if not f.inlined]
            assert _physical(g)[:len(phys)] == phys, gid
        compared += 1
    return compared


def _wrappers(tb) -> set[str]:
    """Functions runtime.CallersFrames leaves out and a GOTRACEBACK=system
    traceback shows: those with the wrapper funcID (go-statement wrappers,
    compiler-generated methods)."""
    b = opened(str(tb.path))
    wrapper = b.func_id_value("wrapper")
    return {f.name for f in b.functions if f.func_id == wrapper}


def compare_with_roles(doc: dict, run: Run, tb) -> None:
    """Each role's own runtime.Callers frames (everything above the function
    that parked) are the outer frames of gosym's stack, all of them."""
    ours = {g["id"]: g for g in doc["goroutines"]}
    wrappers = _wrappers(tb)
    for role in run.roles:
        g = ours[role["goid"]]
        want = [(f["function"], f["file"], f["line"]) for f in role["frames"]]
        got = [f for f in _frames(g) if f[0] not in wrappers]
        if role["name"] == "running" and not got:
            # Its thread was in the crash signal handler when the core was written.
            assert "signal handler" in g["note"]
            continue
        top = want[0][0]
        assert top in [f[0] for f in got], (role["name"], top)
        if role["name"] == "running":
            k = max(i for i, f in enumerate(got) if f[0] == top)
        else:
            k = [f[0] for f in got].index(top)
        assert got[k + 1:] == want[1:], role["name"]
        creator = role["creator"] or run.ready["main_goid"]
        if run.ready["go_version"] >= "go1.21":
            assert g["created_by"]["goroutine"] == creator, role["name"]


# --- tests ------------------------------------------------------------------------------------

@pytest.mark.skipif(not _host_is_amd64(), reason="amd64 programs run natively on x86_64 only")
@pytest.mark.parametrize("tb", need(AMD64, "goroutines binaries (make testbins)"), ids=_ids)
def test_live_process_matches_runtime(tb):
    run = run_of(tb)
    assert run.state_after not in ("t", "T"), "gosym left the process stopped"
    assert "stopped for" in run.live_stderr
    assert compare_with_runtime(run.live, run.runtime_dump, tb.version_tuple) >= 30
    compare_with_roles(run.live, run, tb)


@pytest.mark.skipif(not _host_is_amd64(), reason="amd64 programs run natively on x86_64 only")
@pytest.mark.parametrize("tb", need(AMD64, "goroutines binaries (make testbins)"), ids=_ids)
def test_gcore_matches_live(tb):
    run = run_of(tb)
    if run.gcore is None:
        pytest.skip("gcore (gdb) is not installed")
    assert compare_with_runtime(run.gcore, run.runtime_dump, tb.version_tuple) >= 30
    compare_with_roles(run.gcore, run, tb)
    live = {g["id"]: g for g in run.live["goroutines"]}
    for g in run.gcore["goroutines"]:
        if not _is_spinner(g):
            assert g | {"wait_minutes": None} == live[g["id"]] | {"wait_minutes": None}
    assert run.gcore["totals"] == run.live["totals"] | {
        "used_bytes": run.gcore["totals"]["used_bytes"]}


@pytest.mark.parametrize("tb", need(BINS, "goroutines binaries (make testbins)"), ids=_ids)
def test_crash_core_matches_runtime(tb):
    """The kernel's core (amd64) or qemu-user's (arm64) after SIGQUIT with
    GOTRACEBACK=crash, against what the runtime printed just before dumping it."""
    if tb.goarch == "amd64" and not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    if tb.goarch == "arm64" and os.uname().machine != "aarch64" and not shutil.which(QEMU[0]):
        pytest.skip("qemu-aarch64-static is not installed (make deps)")
    run = run_of(tb)
    if run.crash_core is None:
        pytest.skip(run.crash_core_skip)
    assert compare_with_runtime(run.crash_core, run.runtime_dump, tb.version_tuple) >= 30
    compare_with_roles(run.crash_core, run, tb)


@pytest.mark.skipif(not _host_is_amd64(), reason="amd64 programs run natively on x86_64 only")
@pytest.mark.parametrize("tb", need(AMD64, "goroutines binaries (make testbins)"), ids=_ids)
def test_text_dump_is_the_runtime_format(tb):
    """The text dump parses as a runtime dump into the same goroutines and
    frames as the JSON, with the runtime's header form for the version."""
    run = run_of(tb)
    text = parse_dump(run.live_text)
    live = {g["id"]: g for g in run.live["goroutines"]}
    assert set(text) == set(live)
    runtime_stack = parse_dump(run.stacks_txt)
    for gid, t in text.items():
        g = live[gid]
        assert t.status == (g["wait_reason"] or g["status"])
        if _is_spinner(g):
            continue  # two snapshots (text, JSON): it ran in between
        assert t.bracket[-1] == f"stack {g['stack']['used_bytes']}/{g['stack']['allocated_bytes']} bytes"
        assert [(f.function, f.file, f.line) for f in t.frames] == _frames(g)
        assert [(f.pc, f.sp, f.fp) for f in t.frames if not f.inlined] == _physical(g)
        assert (t.gp is not None) == (tb.version_tuple >= (1, 22))
        if g["created_by"]:
            assert t.created_by[0] == g["created_by"]["function"]
        if gid in runtime_stack:
            # runtime.Stack's own header for the same goroutine (labels: Go 1.27)
            assert t.labels == runtime_stack[gid].labels, gid
    labeled = [g for g in live.values() if g["labels"]]
    assert [g["labels"] for g in labeled] == [{"req": "42", "role": "labeled"}]


@pytest.mark.skipif(not _host_is_amd64(), reason="amd64 programs run natively on x86_64 only")
@pytest.mark.parametrize("tb", need(AMD64, "goroutines binaries (make testbins)"), ids=_ids)
def test_stack_memory_accounts_for_the_runtime_metric(tb):
    """/memory/classes/heap/stacks:bytes (recorded by the program) = live and
    dead goroutines' stacks + heap-allocated thread stacks + the runtime's own
    + free stacks, all read from the snapshot."""
    run = run_of(tb)
    t = run.live["totals"]
    goroutines = run.live["goroutines"]
    assert t["goroutines"] == len(goroutines)
    assert t["allocated_bytes"] == sum(g["stack"]["allocated_bytes"] for g in goroutines)
    assert t["used_bytes"] == sum(g["stack"]["used_bytes"] for g in goroutines
                                  if g["stack"]["used_bytes"] is not None)
    for g in goroutines:
        s = g["stack"]
        assert s["allocated_bytes"] == s["hi"] - s["lo"]
        assert s["allocated_bytes"] & (s["allocated_bytes"] - 1) == 0  # a power of two
        if g["frames"]:
            assert s["used_bytes"] == s["hi"] - g["frames"][0]["sp"]
            assert sum(f["bytes"] for f in g["frames"]) <= s["used_bytes"]
    assert sum(th["g0_stack_bytes"] + th["gsignal_stack_bytes"] for th in run.live["threads"]) \
        == t["thread_stack_bytes"]
    # Stripped binaries too: the allocator's globals are found through the
    # machine code of the runtime functions that use them.
    assert t["heap_stacks_bytes"] == run.metrics["/memory/classes/heap/stacks:bytes"]
    assert t["unaccounted_bytes"] == 0


@pytest.mark.skipif(not _host_is_amd64(), reason="amd64 programs run natively on x86_64 only")
@pytest.mark.parametrize("tb", need(AMD64, "goroutines binaries (make testbins)"), ids=_ids)
def test_goroutine_facts(tb):
    run = run_of(tb)
    live = {g["id"]: g for g in run.live["goroutines"]}
    by_role = {r["name"]: live[r["goid"]] for r in run.roles}
    assert by_role["syscall"]["status"] == "syscall"
    assert by_role["running"]["status"] == "running"
    assert by_role["locked"]["locked_to_thread"]
    assert by_role["labels"]["labels"] == {"role": "labeled", "req": "42"}
    assert by_role["child"]["created_by"]["function"] == "main.parent"
    assert len(by_role["deep"]["frames"]) > 300
    main_g = live[run.ready["main_goid"]]
    assert main_g["start_function"] == "runtime.main" and not main_g["system"]
    assert any(g["system"] and g["start_function"].startswith("runtime.") for g in live.values())
    running_on = {th["goroutine"] for th in run.live["threads"]}
    assert by_role["running"]["id"] in running_on
    for g in live.values():
        inlined = [f for f in g["frames"] if f["inlined"]]
        assert all(f["bytes"] == 0 for f in inlined)


@pytest.mark.parametrize("tb", need(AMD64[:1], "goroutines binaries (make testbins)"), ids=_ids)
def test_no_stop_on_a_changing_goroutine_list(tb, tmp_path):
    """--no-stop reads while goroutines come and go: a dump or one clear error
    line, never a traceback, and the process keeps running."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    proc = _start(tb, tmp_path, ("churn",))
    try:
        for _ in range(5):
            code, out, err = _gosym(str(proc.pid), "--no-stop", "--json")
            assert "Traceback" not in err
            assert "may be torn" in err
            if code == 0:
                assert _json(out)["goroutines"]
            else:
                assert err.strip().splitlines()[-1].startswith("gosym: error: ")
            assert proc.poll() is None and _state(proc.pid) not in ("t", "T")
        code, out, err = _gosym(str(proc.pid), "--json")  # stopped: consistent
        assert code == 0, err
        assert len(_json(out)["goroutines"]) > 30
        assert _state(proc.pid) not in ("t", "T")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("tb", need(AMD64[:1], "goroutines binaries (make testbins)"), ids=_ids)
def test_process_exiting_mid_read(tb, tmp_path, monkeypatch):
    """The process dies while it is being read: one clear error, no hang."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    from gosym.target.process import ProcessTarget
    proc = _start(tb, tmp_path)
    original = ProcessTarget.read_many
    calls = []

    def dying(self, addrs, sizes):
        if not calls:
            calls.append(1)
            os.kill(proc.pid, signal.SIGKILL)
            while _state(proc.pid) not in (None, "Z", "X"):
                time.sleep(0.01)
        return original(self, addrs, sizes)

    monkeypatch.setattr(ProcessTarget, "read_many", dying)
    try:
        t0 = time.monotonic()
        code, out, err = _gosym(str(proc.pid), "--binary", str(tb.path))
        assert time.monotonic() - t0 < 30
        assert code == 1
        assert err.strip().splitlines()[-1] == \
            f"gosym: error: process {proc.pid} exited while it was being read"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("tb", need(AMD64[:1], "goroutines binaries (make testbins)"), ids=_ids)
def test_interrupt_while_stopped_resumes_the_process(tb, tmp_path):
    """Ctrl-C while the process is held: the signal waits until it is released."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Python runs signal handlers in the main thread only")
    from gosym.target import open_process
    proc = _start(tb, tmp_path)
    # Python's own Ctrl-C handler, whatever the test runner installed.
    old_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        t = open_process(proc.pid, "amd64")
        with pytest.raises(KeyboardInterrupt):
            with t.stopped():
                assert _state(proc.pid) == "t"
                # To this thread, which blocks it while the process is held (a
                # signal to the process could go to another thread of the
                # runner's that does not block it).
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                time.sleep(0.05)  # blocked: nothing happens here
                assert _state(proc.pid) == "t"
        assert _state(proc.pid) in ("S", "R")
        t.close()
    finally:
        signal.signal(signal.SIGINT, old_handler)
        proc.kill()
        proc.wait()


def test_errors_for_bad_targets(tmp_path):
    code, _, err = _gosym("999999999")
    assert code == 2 and err == "gosym: error: no such process: 999999999\n"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        code, _, err = _gosym(str(sleeper.pid))
        assert code == 1
        assert err.startswith(f"gosym: error: process {sleeper.pid} is not a Go program")
        assert len(err.strip().splitlines()) == 1
    finally:
        sleeper.kill()
        sleeper.wait()
    code, _, err = _gosym(str(tmp_path / "missing.core"), "--binary", sys.executable)
    assert code == 2 and "no such file" in err
    code, _, err = _gosym(str(tmp_path / "x.core"))
    assert code == 2 and "needs --binary" in err
    notcore = tmp_path / "notcore"
    shutil.copy(sys.executable, notcore)
    code, _, err = _gosym(str(notcore), "--binary", sys.executable)
    assert code == 1 and "not a core file" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("capsh"),
                    reason="needs root and capsh to run gosym without CAP_SYS_PTRACE")
@pytest.mark.parametrize("tb", need(AMD64[:1], "goroutines binaries (make testbins)"), ids=_ids)
def test_permission_denied_names_the_capability(tb):
    """A process of another user, read without CAP_SYS_PTRACE."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    d = Path(tempfile.mkdtemp(prefix="gosym-perm-"))
    try:
        os.chmod(d, 0o777)
        exe = d / "goroutines"
        shutil.copy(tb.path, exe)
        os.chmod(exe, 0o755)

        def as_nobody():
            os.setgid(65534)
            os.setuid(65534)

        out = d / "out"
        out.mkdir()
        os.chmod(out, 0o777)
        proc = subprocess.Popen([str(exe), str(out)], preexec_fn=as_nobody,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not (out / "ready").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            code = ("import sys; from gosym.cli import main; "
                    "sys.argv[1:1] = ['goroutines']; main()")
            for extra in ([], ["--binary", str(exe)]):
                cmd = shlex.join([sys.executable, "-c", code, str(proc.pid), *extra])
                p = subprocess.run(["capsh", "--drop=cap_sys_ptrace", "--", "-c", cmd],
                                   capture_output=True, text=True, timeout=120)
                assert p.returncode == 2, p.stderr
                assert p.stderr.startswith("gosym: error: permission denied"), p.stderr
                assert "CAP_SYS_PTRACE" in p.stderr
                assert len(p.stderr.strip().splitlines()) == 1
            assert _state(proc.pid) not in ("t", "T")
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("tb", need(BINS[:1] + [b for b in BINS if b.goarch == "arm64"][:1],
                                    "goroutines binaries (make testbins)"), ids=_ids)
def test_core_of_another_program_and_damaged_cores(tb, tmp_path):
    """A core with the wrong executable, a truncated core and cores with
    damaged bytes: one clear error line (or a dump), never a traceback."""
    if tb.goarch == "amd64" and not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    proc = _start(tb, tmp_path)
    _crash(proc, tmp_path)
    core = _find_core(tmp_path, tb.goarch == "arm64")
    if core is None:
        pytest.skip("no core file after the crash (core_pattern)")
    other = [b for b in BINS if b.goarch == tb.goarch and b.path != tb.path and
             b.version_tuple[:2] != tb.version_tuple[:2]][0]
    code, _, err = _gosym(str(core), "--binary", str(other.path))
    assert code == 1 and "another program" in err, err
    assert len(err.strip().splitlines()) == 1
    data = core.read_bytes()
    truncated = tmp_path / "truncated.core"
    truncated.write_bytes(data[:len(data) // 2])
    code, _, err = _gosym(str(truncated), "--binary", str(tb.path))
    assert code == 1 and "truncated core" in err and len(err.strip().splitlines()) == 1
    import random
    rng = random.Random(1)
    damaged = tmp_path / "damaged.core"
    for _ in range(8):
        b = bytearray(data)
        for _ in range(64):
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
        damaged.write_bytes(b)
        code, out, err = _gosym(str(damaged), "--binary", str(tb.path), "--json")
        assert "Traceback" not in err
        if code != 0:
            assert err.strip().splitlines()[-1].startswith("gosym: error: ")
    for p in tmp_path.iterdir():
        if p.name.startswith(("core", "qemu_")) or p.suffix == ".core":
            p.unlink()


# --- the parts, in process ------------------------------------------------------------------

DEFAULT_AMD64 = [b for b in AMD64 if b.variant == "default"]
DEFAULT_ARM64 = [b for b in ARM64 if b.variant == "default"]


def _batch_equals_scalar(b, snap) -> int:
    from gosym.unwind import Unwinder
    u = Unwinder(b, snap.bias)
    live = [g for g in snap.goroutines if g.start is not None and g.stack is not None]
    batch = u.unwind_many([g.start for g in live], snap.stack_data,
                          np.array([g.stack_offset for g in live], np.int64),
                          np.array([g.stack_hi for g in live], np.uint64), scalar_below=0)
    for g, got in zip(live, batch):
        want = u.unwind(g.start, g.stack, g.stack_hi)
        assert [tuple(f) for f in want.frames] == [tuple(f) for f in got.frames], g.goid
        assert (want.complete, want.note) == (got.complete, got.note), g.goid
    return len(live)


@pytest.mark.parametrize("tb", need(DEFAULT_AMD64, "goroutines binaries (make testbins)"),
                         ids=_ids)
def test_batch_unwinder_is_the_scalar_one_amd64(tb, tmp_path):
    """unwind_many (numpy, level by level) gives unwind()'s frames exactly."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    from gosym.runtime_layout import runtime_layout
    from gosym.runtime_state import take_snapshot
    from gosym.target import open_process
    proc = _start(tb, tmp_path)
    try:
        b = opened(str(tb.path))
        snap = take_snapshot(b, open_process(proc.pid, "amd64"), runtime_layout(b))
        assert _batch_equals_scalar(b, snap) > 30
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("tb", need(DEFAULT_ARM64, "goroutines binaries (make testbins)"),
                         ids=_ids)
def test_batch_unwinder_is_the_scalar_one_arm64(tb, tmp_path):
    """The same on an arm64 core (link-register rules)."""
    if os.uname().machine != "aarch64" and not shutil.which(QEMU[0]):
        pytest.skip("qemu-aarch64-static is not installed (make deps)")
    from gosym.runtime_layout import runtime_layout
    from gosym.runtime_state import elf_segments, load_bias, take_snapshot
    from gosym.target import open_core
    proc = _start(tb, tmp_path)
    _crash(proc, tmp_path)
    core = _find_core(tmp_path, True)
    if core is None:
        pytest.skip("qemu wrote no core")
    b = opened(str(tb.path))
    t = open_core(str(core))
    t.attach_executable(str(tb.path), load_bias(b, t), elf_segments(b))
    snap = take_snapshot(b, t, runtime_layout(b))
    assert _batch_equals_scalar(b, snap) > 30
    t.close()
    core.unlink()


@pytest.mark.parametrize("tb", need(DEFAULT_AMD64, "goroutines binaries (make testbins)"),
                         ids=_ids)
def test_machine_code_finds_what_the_symbols_name(tb, tmp_path, monkeypatch):
    """Without its symbol table and DWARF an unstripped binary gives the same
    dump: every global is found through the runtime's machine code and the
    layout comes from the generated table."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    import gosym.runtime_state as runtime_state
    import gosym.runtime_symbols as runtime_symbols
    from gosym.goroutines import goroutine_dump
    from gosym.render.goroutines import goroutine_json
    from gosym.runtime_layout import layout_from_table, runtime_layout
    from gosym.target import open_process
    proc = _start(tb, tmp_path)
    try:
        b = opened(str(tb.path))
        with_symbols = goroutine_dump(b, open_process(proc.pid, "amd64"), runtime_layout(b))
        assert set(with_symbols.found.values()) == {"symbol table"}
        monkeypatch.setattr(runtime_symbols, "symbol_address", lambda binary, name: None)
        monkeypatch.setattr(runtime_state, "symbol_address", lambda binary, name: None)
        table = layout_from_table(b.go_version_tuple, "amd64")
        without = goroutine_dump(b, open_process(proc.pid, "amd64"), table)
        assert all(how.startswith("machine code of runtime.") for how in without.found.values())
        assert set(without.found) >= {"runtime.allgs", "runtime.allm", "runtime.allp",
                                      "runtime.memstats", "runtime.stackpool",
                                      "runtime.gStatusStrings", "runtime.waitReasonStrings"}
        a = {g.id: goroutine_json(g) for g in with_symbols.goroutines
             if g.start_function != SPINNER}
        c = {g.id: goroutine_json(g) for g in without.goroutines if g.start_function != SPINNER}
        assert a == c
        assert dataclasses.replace(without.totals, used_bytes=0) == \
            dataclasses.replace(with_symbols.totals, used_bytes=0)
        assert without.totals.heap_stacks_bytes == with_symbols.totals.heap_stacks_bytes
        assert without.totals.unaccounted_bytes == 0
    finally:
        proc.kill()
        proc.wait()


# --- the snapshot as a stack-memory profile ------------------------------------------------

@pytest.mark.parametrize("tb", need([b for b in AMD64 if b.variant in ("default", "stripped")],
                                    "goroutines binaries (make testbins)"), ids=_ids)
def test_stackmem_outputs_of_a_snapshot(tb, tmp_path):
    """--stackmem: the stack-memory profile of the snapshot. Every byte of
    /memory/classes/heap/stacks:bytes is in it (goroutines' frames and free
    stack, the threads', dead goroutines' and free stacks), as go tool pprof
    and the folded stacks add it up; the goroutine count is the goroutines'."""
    if not _host_is_amd64():
        pytest.skip("amd64 programs run natively on x86_64 only")
    from gotools import run_go_tool
    proc = _start(tb, tmp_path)
    try:
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        pb, folded, page = tmp_path / "s.pb.gz", tmp_path / "s.folded", tmp_path / "s.html"
        code, out, err = _gosym(str(proc.pid), "--stackmem", "--json", "-o", str(pb),
                                "--folded", str(folded), "--html", str(page))
        assert code == 0, err
        doc = json.loads(out)
        code, out, err = _gosym(str(proc.pid), "--json")
        assert code == 0, err
        live = json.loads(out)
    finally:
        proc.kill()
        proc.wait()
    metric = metrics["/memory/classes/heap/stacks:bytes"]
    assert doc["unaccounted_bytes"] == 0
    assert doc["goroutines"] == len(live["goroutines"])
    assert doc["allocated_bytes"] == live["totals"]["allocated_bytes"]
    others = sum(o["allocated_bytes"] for o in doc["other_stacks"])
    assert doc["allocated_bytes"] + others == metric
    for s in doc["stacks"]:
        assert sum(f["bytes"] for f in s["frames"]) == s["used_bytes"]
        assert s["frames"][-1]["function"] == "runtime.goexit" or \
            s["frames"][-1]["function"].startswith("[")
    lines = folded.read_text().splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == metric
    assert "<html" in page.read_text()[:500].lower()
    top = run_go_tool("pprof", "-top", "-unit=B", str(pb))
    if top is None:
        pytest.skip("no Go toolchain built; run `make toolchains`")
    m = re.search(r"of (\d+)B total", top.stdout.decode())
    assert m and int(m.group(1)) == metric, top.stdout.decode()[:400]
    count = run_go_tool("pprof", "-top", "-sample_index=goroutine", str(pb)).stdout.decode()
    assert re.search(rf"of {doc['goroutines']} total", count), count[:400]
