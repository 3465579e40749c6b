"""A Go binary: container + function table + moduledata, decoded on demand."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

from . import pcvalue
from .buildinfo import BuildInfo, read_buildinfo
from .container import Container, open_container
from .errors import FormatError, GosymError, NotGoBinaryError, UsageError
from .locate import ModuleData, TableLocation, find_moduledata, find_table
from .pclntab import (FUNCDATA_INL_TREE, MAGIC_GO118, MAGIC_GO120, PCDATA_INL_TREE_INDEX, Func,
                      InlinedCall, Table, parse_inline_tree_entry, sequence_of_funcs)

# Return-address slot pushed by CALL, counted in a frame's size (runtime/traceback.go).
RETURN_ADDRESS_SLOT = {"amd64": 8, "arm64": 0}

# runtime functions whose funcID is special; used to name funcID values without
# hard-coding one release's numbering (internal/abi/symtab.go changes between releases).
_SPECIAL_FUNCS = {
    "runtime.abort": "abort", "runtime.asmcgocall": "asmcgocall",
    "runtime.asyncPreempt": "asyncPreempt", "runtime.cgocallback": "cgocallback",
    "runtime.corostart": "corostart", "runtime.debugCallV2": "debugCallV2",
    "runtime.debugCallV1": "debugCallV1", "runtime.gcBgMarkWorker": "gcBgMarkWorker",
    "runtime.goexit": "goexit", "runtime.gogo": "gogo", "runtime.gopanic": "gopanic",
    "runtime.handleAsyncEvent": "handleAsyncEvent", "runtime.mcall": "mcall",
    "runtime.morestack": "morestack", "runtime.mstart": "mstart",
    "runtime.panicwrap": "panicwrap", "runtime.rt0_go": "rt0_go", "runtime.runfinq": "runfinq",
    "runtime.runFinalizers": "runFinalizers", "runtime.runCleanups": "runCleanups",
    "runtime.main": "runtime_main", "runtime.sigpanic": "sigpanic",
    "runtime.systemstack": "systemstack", "runtime.systemstack_switch": "systemstack_switch",
    "runtime.jmpdefer": "jmpdefer", "runtime.externalthreadhandler": "externalthreadhandler",
}
_SPECIAL_PREFIX = os.path.commonprefix(list(_SPECIAL_FUNCS)).encode()


@dataclass(frozen=True)
class PcspRange:
    start: int
    end: int
    sp_delta: int


class GoBinary:
    """Entry point of the library: ``gosym.open(path)``."""

    def __init__(self, path: str, arch: str | None = None,
                 executable: str | None = None) -> None:
        self.path = path
        self.container: Container = _open_memory(path, arch, executable)
        self.location: TableLocation = _find_table(self.container, executable)
        c = self.container
        data = c.view(self.location.offset, self.location.address, self.location.size)
        self.table = Table(data, go_version=self.go_version_tuple, read_memory=self._read_memory)
        self._text_start_source = "table header"
        h = self.table.header
        if h.magic in (MAGIC_GO118, MAGIC_GO120) and h.text_start == 0:
            # Go 1.26+ no longer stores textStart in the header: use moduledata.text.
            md = self.moduledata
            if md is None:
                raise FormatError("cannot find moduledata, which holds the text start of "
                                  "Go 1.26+ tables")
            self.table.set_text_start(md.text, md.textsect_map)
            self._text_start_source = "moduledata.text"
        elif h.magic in (MAGIC_GO118, MAGIC_GO120):
            # Several text sections (linker size limit; externally linked
            # darwin/arm64, arm, ppc64) leave no trace in the section names of the
            # final file, only in moduledata.textsectmap: look there every time.
            md = self.moduledata
            if md is not None and len(md.textsect_map) > 1:
                self.table.set_text_start(h.text_start, md.textsect_map)

    # --- facts about the file -------------------------------------------------
    @property
    def header(self):
        """The decoded table header (pclntab.Header)."""
        return self.table.header

    @property
    def format(self) -> str:
        return self.container.format

    @property
    def arch(self) -> str:
        return self.container.arch

    @property
    def is_core(self) -> bool:
        """An ELF core file, read as the memory of the dumped process."""
        return _is_core(self.container)

    @property
    def executable_path(self) -> str | None:
        """The executable given with a core (None when the core was read alone)."""
        exe = getattr(self.container, "exe", None)
        return None if exe is None else exe.path

    @property
    def load_slide(self) -> int:
        """Run-time minus link-time addresses of the executable of a core; 0 otherwise."""
        return getattr(self.container, "slide", 0)

    @cached_property
    def buildinfo(self) -> BuildInfo:
        return read_buildinfo(self.container)

    @property
    def go_version(self) -> str | None:
        return self.buildinfo.go_version

    @property
    def go_version_tuple(self) -> tuple[int, int] | None:
        return self.buildinfo.version_tuple

    @property
    def text_start(self) -> int:
        return int(self.table.entries[0]) if self.table.header.magic not in (
            MAGIC_GO118, MAGIC_GO120) else self.table.text_start

    @property
    def text_start_source(self) -> str:
        if self.table.header.magic not in (MAGIC_GO118, MAGIC_GO120):
            return "first function entry (absolute entries)"
        return self._text_start_source

    @cached_property
    def moduledata(self) -> ModuleData | None:
        v = self.go_version_tuple
        return find_moduledata(self.container, self.table, self.location,
                               v[1] if v else None)

    def _read_memory(self, addr: int, size: int):
        return self.container.read(addr, size)

    # --- functions ------------------------------------------------------------
    @property
    def functions(self) -> Sequence[Func]:
        return sequence_of_funcs(self.table)

    def __iter__(self) -> Iterator[Func]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def func_for_pc(self, pc: int) -> Func | None:
        """The function whose code holds pc, by binary search over the entries."""
        return self.table.find_func(pc)

    def lookup(self, name: str) -> Func | None:
        """The first function with exactly this name."""
        for i, raw in enumerate(self.table.names()):
            if raw == name.encode():
                return self.table.func(i)
        return None

    @cached_property
    def func_id_names(self) -> dict[int, str]:
        """funcID value -> name, derived from the binary's own runtime functions."""
        names: dict[int, str] = {0: "normal"}
        ids = self.table.column("func_id")
        # Wrappers (method wrappers, eq/hash functions) are by far the most common
        # non-zero funcID; every other special ID belongs to one runtime function.
        # Decide the wrapper value first: ABI wrappers carry the name of the
        # function they wrap (runtime.asmcgocall's ABI0->ABIInternal wrapper has
        # the wrapper ID), so a name alone must not claim that value.
        nz_ids = ids[ids != 0]
        if len(nz_ids):
            # Counter.most_common(1): the highest count, ties to the value seen first.
            values, first, counts = np.unique(nz_ids, return_index=True, return_counts=True)
            best = np.flatnonzero(counts == counts.max())
            k = int(best[np.argmin(first[best])])
            if int(counts[k]) > 1:
                names[int(values[k])] = "wrapper"
        nonzero = ids.nonzero()[0]
        # Only names that start like every special one can be special: test the
        # prefix for all at once, decode the few that have it.
        candidates = nonzero[self.table.names_start_with(_SPECIAL_PREFIX, nonzero)]
        for i in candidates.tolist():
            special = _SPECIAL_FUNCS.get(self.table.name_of(i))
            if special is not None:
                names.setdefault(int(ids[i]), special)
        return names

    def func_id_value(self, name: str) -> int | None:
        for value, n in self.func_id_names.items():
            if n == name:
                return value
        return None

    # --- stack frames -----------------------------------------------------------
    def pcsp_ranges(self, func: Func) -> Iterator[PcspRange]:
        """The pcsp table of func as address ranges, in order."""
        for start, end, value in pcvalue.ranges(self.table.pcsp_rows(func), func.entry):
            yield PcspRange(start, end, value)

    def max_sp_delta(self, func: Func) -> int:
        return max((v for _, v in self.table.pcsp_rows(func)), default=0)

    def func_frame_size(self, func: Func) -> int:
        """Bytes the function's deepest frame occupies, return address slot included."""
        return max(self.max_sp_delta(func), 0) + RETURN_ADDRESS_SLOT[self.arch]

    def sp_delta(self, pc: int) -> int | None:
        """Bytes SP has moved below its entry value at pc (pcsp), None outside."""
        func = self.func_for_pc(pc)
        if func is None:
            return None
        return self.table.pcvalue(func, func.pcsp, pc)

    def frame_size(self, pc: int) -> int | None:
        """Bytes of the physical frame at pc: sp_delta plus the return address slot."""
        delta = self.sp_delta(pc)
        if delta is None:
            return None
        return delta + RETURN_ADDRESS_SLOT[self.arch]

    # --- inline trees -------------------------------------------------------------
    @cached_property
    def inline_tree_indices(self) -> tuple[int, int]:
        """(PCDATA_InlTreeIndex, FUNCDATA_InlTree) of this binary's Go version.

        Go 1.16 dropped FUNCDATA_RegPointerMaps, so FUNCDATA_InlTree is 4 for Go
        1.12-1.15 (checked on a go1.15.5 binary) and 3 from 1.16; Go 1.9-1.11
        numbered them PCDATA 1 / FUNCDATA 2 (runtime/symtab.go of those releases).
        """
        v = self.go_version_tuple
        if self.table.layout.era != "1.2" or (v is not None and v >= (1, 16)):
            return PCDATA_INL_TREE_INDEX, FUNCDATA_INL_TREE
        if v is not None and v < (1, 12):
            return 1, 2
        return 2, 4

    def inline_tree_address(self, func: Func) -> int | None:
        """Address of func's inline tree (FUNCDATA_InlTree), None if it has none."""
        t = self.table
        if t.layout.funcdata_is_offset:
            off = t.funcdata_offset(func, FUNCDATA_INL_TREE)
            if off is None:
                return None
            md = self.moduledata
            if md is None or md.gofunc is None:
                raise FormatError("cannot find moduledata.gofunc, needed for inline trees")
            return md.gofunc + off
        fd_index = self.inline_tree_indices[1]
        at = t.funcdata_pointer_offset(func, fd_index)
        if at is None:
            return None
        # Before Go 1.18 the pointers may be dynamic relocations (PIE), whose
        # value can live only in the relocation's addend.
        fixed = self.container.relocated_word(self.location.address + at)
        return fixed if fixed is not None else t.funcdata_pointer(func, fd_index)

    def inline_entry(self, func: Func, index: int) -> InlinedCall:
        base = self.inline_tree_address(func)
        if base is None:
            raise FormatError(f"{func.name} has inline tree indices but no inline tree")
        size = self.table.layout.inline_entry_size
        raw = self.container.read(base + index * size, size)
        return parse_inline_tree_entry(self.table, raw)

    def inline_index(self, func: Func, pc: int) -> int:
        """PCDATA_InlTreeIndex at pc: -1 when pc is in the physical function itself."""
        off = self.table.pcdata_offset(func, self.inline_tree_indices[0])
        if off == 0:
            return -1
        value = self.table.pcvalue(func, off, pc)
        return -1 if value is None else value

    # --- symbolization (gosym.symbolize) ------------------------------------------
    @cached_property
    def _resolver(self):
        from .symbolize import Resolver
        return Resolver(self)

    def frames(self, pcs, slide: int = 0, pc_is_exact: bool = False, inline: bool = True):
        """runtime.CallersFrames over a PC list: yields symbolize.Frame objects."""
        from . import symbolize
        cfg = symbolize.SymbolizeConfig(slide=slide, pc_is_exact=pc_is_exact, inline=inline)
        return symbolize.frames(self, pcs, cfg, self._resolver)

    def find_frames(self, pc: int):
        """Logical frames at one exact PC, innermost first, ending with the physical function."""
        from . import symbolize
        return symbolize.find_frames(self, pc, self._resolver)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "GoBinary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_core(container: Container) -> bool:
    return getattr(container, "elf_type", None) == "ET_CORE"


def _open_memory(path: str, arch: str | None, executable: str | None) -> Container:
    """The file's container; for a core with its executable, the process's memory."""
    container = open_container(path, arch)
    if executable is None:
        return container
    if not _is_core(container):
        container.close()
        raise UsageError("an executable is given only with a core file, and this is not one")
    from .container.core import ProcessImage

    try:
        exe = open_container(executable)
    except GosymError as e:
        container.close()
        raise type(e)(f"{executable}: {e}") from None
    try:
        return ProcessImage(container, exe)
    except BaseException:
        exe.close()
        container.close()
        raise


def _find_table(container: Container, executable: str | None) -> TableLocation:
    try:
        return find_table(container)
    except NotGoBinaryError:
        if _is_core(container) and executable is None:
            raise NotGoBinaryError(
                "core file without the program's function table: the kernel dumps only the "
                "memory a process wrote, not its code; give the executable with --binary "
                "EXECUTABLE") from None
        raise


def open(path: str, arch: str | None = None,  # noqa: A001 - mirrors builtins.open
         executable: str | None = None) -> GoBinary:
    """Open a Go binary (ELF or Mach-O; ``arch`` picks a fat Mach-O slice).

    An ELF core file is read as the memory of the dumped process, at run-time
    addresses; ``executable`` names the program's file, which supplies what the
    core does not hold (the kernel dumps no code by default).
    """
    try:
        return GoBinary(path, arch, executable)
    except GosymError:
        raise
    except (ValueError, IndexError, KeyError, OverflowError, MemoryError) as e:
        raise FormatError(f"cannot decode: {type(e).__name__}: {e}") from None
