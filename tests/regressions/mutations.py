"""Deterministic damage to test binaries, described by small JSON objects.

A mutation names a *region* of the pristine binary (a structure the decoder
reads: the file header, the section table, the function table's header,
functab, the ``_func`` records, pctab, the name table, the file table, the
compilation unit table, inline trees, moduledata, build info) and an
operation on it:

    {"region": "functab", "op": "flip", "pos": 123, "bit": 5}
    {"region": "pctab", "op": "truncate", "pos": 0}
    {"region": "pcheader", "op": "set", "pos": 8, "width": 8, "value": 4294967295}

``pos`` is taken modulo the region's length, so a case stays meaningful when a
rebuilt binary moves things a little. Regions are located once per pristine
binary from its own headers (gosym's locate code and the ELF/Mach-O headers);
that only aims the damage, it is never an expected answer.

Regression cases in ``cases.json`` are ``{"testbin": TestBin.id, "mutation":
{...}, "note": "..."}``; the damaged file is rebuilt from the test binary on
every run instead of being stored.
"""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path

import gosym
from gosym.pclntab import GO12

try:  # imported lazily by `gosym check`; do it here, outside hypothesis's tracer,
    import capstone  # noqa: F401  whose module-level locals() comprehensions break under it
except ImportError:  # pragma: no cover
    pass

HERE = Path(__file__).parent
CASES_JSON = HERE / "cases.json"

OPS = ("truncate", "flip", "set", "zero", "fill")
HOSTILE_VALUES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                  0xFFFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 1 << 40)


@functools.lru_cache(maxsize=64)
def regions(path: str) -> dict[str, tuple[int, int]]:
    """Region name -> (file offset, length) for a pristine binary."""
    data = Path(path).read_bytes()
    out: dict[str, tuple[int, int]] = {"file": (0, len(data)), "file_header": (0, 64)}
    if data[:4] == b"\x7fELF":
        e = "<" if data[5] == 1 else ">"
        if data[4] == 2:  # ELFCLASS64
            shoff, = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
            phoff, = struct.unpack_from(e + "Q", data, 0x20)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 0x36)
        else:
            phoff, shoff = struct.unpack_from(e + "II", data, 0x1C)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", data, 0x2A)
        out["section_table"] = (shoff, shentsize * shnum)
        out["program_headers"] = (phoff, phentsize * phnum)
    elif data[:2] == b"MZ":  # PE: COFF header, optional header, section headers
        pe, = struct.unpack_from("<I", data, 0x3C)
        nsects, = struct.unpack_from("<H", data, pe + 6)
        opt, = struct.unpack_from("<H", data, pe + 20)
        out["section_table"] = (pe, 24 + opt + 40 * nsects)
    else:
        ncmds, sizeofcmds = struct.unpack_from("<II", data, 16)
        out["section_table"] = (32, sizeofcmds)  # the load commands
    b = gosym.open(path)
    try:
        loc = b.location
        t = b.table
        h = t.header
        base = loc.offset
        out["pcheader"] = (base, 72 if h.version != GO12 else 16)
        n = h.nfunc
        entry_size = 8 if t.layout.entry_is_offset else 2 * h.ptr_size
        out["functab"] = (base + h.functab_offset, n * entry_size + entry_size // 2)
        recs = t.record_offsets
        first = int(recs.min())
        last = int(recs.max()) + t.layout.func_size + 16
        out["funcs"] = (base + first, last - first)
        # The middle function's record with its pcdata/funcdata slots: pos = field offset.
        mid = int(recs[n // 2])
        out["func_middle"] = (base + mid, t.layout.func_size + 64)
        if h.version != GO12:
            out["funcnametab"] = (base + h.funcname_offset, h.cu_offset - h.funcname_offset)
            out["cutab"] = (base + h.cu_offset, h.filetab_offset - h.cu_offset)
            out["filetab"] = (base + h.filetab_offset, h.pctab_offset - h.filetab_offset)
            out["pctab"] = (base + h.pctab_offset, h.pcln_offset - h.pctab_offset)
        else:
            out["filetab"] = (base + h.filetab_offset, 4 * (h.nfiles + 1))
            pcsp = t.column("pcsp")
            lo = int(pcsp[pcsp > 0].min())
            out["pctab"] = (base + lo, first - lo)
            nameoffs = t.column("nameoff")
            out["funcnametab"] = (base + int(nameoffs.min()), int(nameoffs.max() - nameoffs.min()))
        # A few inline trees, as one region spanning them.
        trees = []
        for i in range(0, n, max(1, n // 400)):
            f = t.func(i)
            try:
                addr = b.inline_tree_address(f)
            except gosym.errors.GosymError:
                addr = None
            if addr is not None:
                off = b.container.addr_to_offset(addr)
                if off is not None:
                    trees.append(off)
            if len(trees) >= 8:
                break
        if trees:
            out["inline_trees"] = (min(trees), max(trees) - min(trees) + 64)
        md = b.moduledata
        if md is not None:
            off = b.container.addr_to_offset(md.address)
            if off is not None:
                out["moduledata"] = (off, h.ptr_size * 48)
        for name in (".go.buildinfo", "__go_buildinfo"):
            s = b.container.section(name)
            if s is not None and s.file_size:
                out["buildinfo"] = (s.offset, min(s.file_size, 256))
    finally:
        b.close()
    size = len(data)
    return {k: (off, max(1, min(length, size - off))) for k, (off, length) in out.items()
            if 0 <= off < size}


def apply(data: bytes, regs: dict[str, tuple[int, int]], m: dict) -> bytes:
    """The damaged copy of data described by mutation m."""
    start, length = regs[m["region"]]
    at = start + m.get("pos", 0) % length
    op = m["op"]
    if op == "truncate":
        return data[:at]
    buf = bytearray(data)
    if op == "flip":
        buf[at] ^= 1 << (m.get("bit", 0) % 8)
    elif op == "set":
        width = m.get("width", 4)
        value = m["value"] & ((1 << (8 * width)) - 1)
        buf[at:at + width] = value.to_bytes(width, "little")[:len(buf) - at]
    elif op == "zero":
        n = m.get("len", 16)
        buf[at:at + n] = bytes(len(buf[at:at + n]))
    elif op == "fill":
        n = m.get("len", 16)
        buf[at:at + n] = bytes([m.get("value", 0xFF) & 0xFF]) * len(buf[at:at + n])
    else:
        raise ValueError(f"unknown mutation op {op!r}")
    return bytes(buf)


def load_cases() -> list[dict]:
    if not CASES_JSON.is_file():
        return []
    return json.loads(CASES_JSON.read_text())


# --- running every entry point on a (damaged) file ---------------------------------

def cli_commands() -> set[str]:
    """Names of the commands the CLI has (their modules load lazily)."""
    import click

    from gosym.cli import main

    ctx = click.Context(main)
    return {n for n in main.list_commands(ctx) if main.get_command(ctx, n) is not None}

class CaseTimeout(BaseException):
    """Raised by the alarm: a BaseException so no ``except Exception`` swallows it."""


def _alarm(signum, frame):
    raise CaseTimeout()


def time_limit(seconds: float):
    """Context manager: raise CaseTimeout in the main thread after `seconds`."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def cm():
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    return cm()


def exercise_library(path: str) -> str:
    """Call the library's entry points; returns "ok" or "error: <GosymError>".

    Anything but a GosymError propagates (the caller reports it as a bug).
    """
    import numpy as np

    from gosym.errors import GosymError
    from gosym.framesize import frame_table

    try:
        b = gosym.open(path)
    except GosymError as e:
        return f"error: {e}"
    try:
        t = b.table
        _ = b.buildinfo, b.go_version, b.moduledata, b.text_start, b.text_start_source
        n = len(t)
        entries = t.entries
        t.names()
        t.entry_file_names()
        b.func_id_names
        frame_table(b, np.arange(n))
        picks = sorted({0, 1, n // 3, n // 2, n - 2, n - 1} & set(range(n)))
        for i in picks:
            f = t.func(i)
            for pc in (f.entry, f.entry + 1, (f.entry + f.end) // 2, f.end - 1):
                if b.func_for_pc(pc) is None:
                    continue
                g = b.func_for_pc(pc)
                t.line_at(g, pc)
                b.sp_delta(pc)
                b.frame_size(pc)
                list(b.pcsp_ranges(g))
                b.func_frame_size(g)
                idx = b.inline_index(g, pc)
                depth = 0
                while idx >= 0 and depth < 64:  # the tree is walked as the runtime does
                    call = b.inline_entry(g, idx)
                    depth += 1
                    if call.parent is not None:
                        idx = call.parent
                    else:
                        idx = b.inline_index(g, g.entry + call.parent_pc)
        b.func_for_pc(int(entries[0]) - 1)
        b.func_for_pc(int(entries[-1]))
        return "ok"
    except GosymError as e:
        return f"error: {e}"
    finally:
        b.close()


def probe_pcs(path: str) -> list[str]:
    """A few PCs inside functions of the pristine binary (hex strings)."""
    b = gosym.open(path)
    try:
        e = b.table.entries
        n = len(e) - 1
        return [hex(int(e[i]) + 1) for i in sorted({0, n // 2, n - 1})]
    finally:
        b.close()


def cli_invocations(path: str, commands, pcs: list[str]) -> list[list[str]]:
    """Argument lists for every command the CLI has."""
    runs = [["info", path], ["info", "--json", path], ["funcs", "--json", path],
            ["frames", "--pcs", "--json", path]]
    runs.append(["frames"] + [a for pc in pcs for a in ("--pc", pc)] + [path])
    if "check" in commands:
        # The machine-code check of main.* and the runtime's panic path (all
        # functions on a damaged table would cost seconds per case).
        runs.append(["check", "--match", r"^(main\.|runtime\.gopanic$)", path])
    if "symbolize" in commands:
        runs.append(["symbolize", path] + pcs)
        runs.append(["symbolize", "--json", "--pc-is-exact", path] + pcs)
    if "stack" in commands:
        runs.append(["stack", "--json", path] + pcs)
    return runs


def check_cli_result(args: list[str], exit_code: int, stdout: str, stderr: str) -> str | None:
    """None if the outcome is an answer or exactly one error line; else what is wrong."""
    if "Traceback (most recent call last)" in stderr:
        return f"{args[0]}: traceback:\n{stderr[-2000:]}"
    if exit_code == 0:
        return None
    lines = stderr.splitlines()
    if args[0] == "check" and exit_code == 1 and \
            (not lines or (len(lines) == 1 and lines[0].startswith("gosym: check incomplete: "))):
        return None  # mismatches found, or too little checked: reported on stdout
    if args[0] in ("frames", "symbolize", "stack") and exit_code == 1:
        # A PC the (damaged) table does not cover is answered per PC with a warning
        # (stack: one warning for all of them).
        lines = [ln for ln in lines if "not inside any function" not in ln]
        if not lines:
            return None
    if exit_code not in (1, 2):
        return f"{args[0]}: exit status {exit_code}"
    if len(lines) != 1 or not lines[0].startswith("gosym: error: "):
        return f"{args[0]}: exit {exit_code} without one error line: {stderr[-500:]!r}"
    if "cannot decode (" in lines[0]:
        return f"{args[0]}: unexpected exception turned into an error: {lines[0]}"
    return None


def run_all(path: str, pcs: list[str], timeout: float = 30.0) -> list[str]:
    """Every library entry point and CLI command on path; the contract violations found.

    Unexpected exceptions surface (GOSYM_DEBUG=1 makes the CLI re-raise them).
    """
    import os

    from click.testing import CliRunner

    from gosym.cli import main

    problems: list[str] = []
    old = os.environ.get("GOSYM_DEBUG")
    os.environ["GOSYM_DEBUG"] = "1"
    try:
        try:
            with time_limit(timeout):
                exercise_library(path)
        except CaseTimeout:
            problems.append(f"library: no answer within {timeout}s")
        except Exception as e:  # noqa: BLE001 - reported as the bug it is
            problems.append(f"library: {type(e).__name__}: {e}\n{_tb()}")
        runner = CliRunner()
        for args in cli_invocations(path, cli_commands(), pcs):
            try:
                with time_limit(timeout):
                    r = runner.invoke(main, args, catch_exceptions=False)
            except CaseTimeout:
                problems.append(f"{args[0]}: no answer within {timeout}s")
                continue
            except Exception as e:  # noqa: BLE001
                problems.append(f"{' '.join(args[:-1])}: {type(e).__name__}: {e}\n{_tb()}")
                continue
            err = check_cli_result(args, r.exit_code, r.stdout, r.stderr)
            if err:
                problems.append(err)
    finally:
        if old is None:
            os.environ.pop("GOSYM_DEBUG", None)
        else:
            os.environ["GOSYM_DEBUG"] = old
    return problems


def _tb() -> str:
    import traceback

    return "".join(traceback.format_exc(limit=-4))
