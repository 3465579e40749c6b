"""``gosym check`` output."""

from __future__ import annotations

from ..check import CheckReport
from . import Output, write_json

CHECK_HELP = """Check every function's pcsp table against its machine code.

\b
Each function is disassembled (capstone) and its control flow followed from
the entry: every instruction that writes SP must change sp_delta by exactly
its amount at the next instruction boundary, sp_delta must change nowhere
else, and pcsp range boundaries must fall on instruction boundaries.
Functions without the prologue's stack-bound check are listed as nosplit.
Functions that can't be checked are counted by reason (spwrite,
stack_switch, undecodable, no_pcsp, no_code, empty).

\b
An SP adjustment the assembler splits in two (arm64 epilogues of frames of
64 KiB and more) is reported as split_adjust: the table changes only after
the second instruction. --strict counts these as mismatches.

\b
A check that compared too little is not a pass: when no function was
checked, or more than half of the selected ones were skipped, the verdict is
INCOMPLETE (JSON "verdict": "incomplete").

\b
Exit status: 0 when more than half of the selected functions were checked
and none mismatches (OK); 1 for MISMATCH or INCOMPLETE.
"""


def write_check(out: Output, report: CheckReport, strict: bool, fmt: str) -> None:
    """``fmt``: "text" or "json"."""
    if fmt == "json":
        write_json(out, report_json(report, strict))
    else:
        _write_text(out, report, strict)


def report_json(report: CheckReport, strict: bool) -> dict:
    return {
        "verdict": report.verdict,
        "functions": report.functions,
        "checked": report.checked,
        "consistent": report.consistent,
        "mismatched": [
            {"name": r.name, "entry": r.entry,
             "findings": [{"pc": f.pc, "kind": f.kind, "code": f.code, "table": f.table}
                          for f in r.findings]}
            for r in report.mismatched],
        "split_adjust": [{"function": s.function, "pc": s.pc, "bytes": s.bytes}
                         for s in report.split_adjust],
        "skipped": dict(report.skipped),
        "nosplit": list(report.nosplit),
        "strict": strict,
    }


def skipped_text(report: CheckReport) -> str:
    """The skip counts by reason: "no_code 3, spwrite 7" ("none" without any)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"


def _write_text(out: Output, report: CheckReport, strict: bool) -> None:
    w = out.write
    if report.nosplit:
        w(f"nosplit (no stack-bound check in the prologue): {len(report.nosplit)}\n".encode())
        for name in report.nosplit:
            w(f"  {name}\n".encode())
    for r in report.mismatched:
        w(f"MISMATCH {r.name} (entry {r.entry:#x})\n".encode())
        for f in r.findings:
            w(f"  {f.describe()}\n".encode())
    for s in report.split_adjust:
        w(f"SPLIT_ADJUST {s.function} {s.pc:#x}: SP adjustment split in two instructions; "
          f"the table overstates the frame by {s.bytes} bytes for one instruction"
          f"{' (counted as a mismatch: --strict)' if strict else ''}\n".encode())
    skipped = skipped_text(report)
    w((f"functions {report.functions}  checked {report.checked}  consistent {report.consistent}"
       f"  mismatched {len(report.mismatched)}  split_adjust {len(report.split_adjust)}"
       f"  nosplit {len(report.nosplit)}\nskipped: {skipped}\n").encode())
    if report.verdict == "incomplete":
        w(f"INCOMPLETE: {report.checked} of {report.functions} functions checked, "
          f"{report.functions - report.checked} skipped\n".encode())
    else:
        w(b"OK\n" if report.ok else b"MISMATCH\n")
