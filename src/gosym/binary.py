"""A Go binary: container + function table + moduledata, decoded on demand.

:class:`GoBinary` is the library's entry point (``gosym.open(path)``). It
answers one PC at a time (``func_for_pc``, ``sp_delta``, ``frame_bytes``,
``find_frames``: cached per function, what a profiler or unwinder calls in a
loop) and many at once (``lookup_pcs``, ``frames``: numpy batches).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from . import pcvalue
from ._lazy import np
from .buildinfo import BuildInfo, read_buildinfo
from .container import Container, open_container
from .errors import FormatError, GosymError, NotGoBinaryError, UsageError
from .locate import ModuleData, TableLocation, find_moduledata, find_table
from .pclntab import (FUNCDATA_INL_TREE, GO12, PCDATA_INL_TREE_INDEX, Func, InlinedCall, Table,
                      func_name_for_print, sequence_of_funcs)

if TYPE_CHECKING:
    from .callframes import Frame, SymbolizeConfig
    from .pcbatch import PCBatch

# Return-address slot pushed by CALL, counted in a frame's size. runtime/traceback.go:
# ``usesLR = sys.MinFrameSize > 0``; where !usesLR "the call instruction pushes the
# return PC" above the frame (frame.fp = sp + funcspdelta + PtrSize): amd64 and 386
# (internal/goarch/goarch_{amd64,386}.go: _MinFrameSize = 0). Every other
# architecture calls with a link register (BL/JAL/BRASL) and the callee's prologue
# saves it at 0(SP) inside its own frame (cmd/internal/obj/{arm,arm64,ppc64,s390x,
# riscv,loong64,mips}: "save LR" in preprocess), which pcsp already counts; their
# MinFrameSize (arm, mips, mipsle 4; arm64, riscv64, s390x, loong64, mips64x 8;
# ppc64x 32) is part of that frame.
RETURN_ADDRESS_SLOT = {"amd64": 8, "386": 4, "arm64": 0, "arm": 0, "ppc64": 0, "ppc64le": 0,
                       "s390x": 0, "riscv64": 0, "loong64": 0, "mips": 0, "mipsle": 0,
                       "mips64": 0, "mips64le": 0}

# A source file of each GOOS's runtime (runtime/os_<goos>.go), for binaries whose
# build info does not name GOOS (before Go 1.18). Ports that compile two of these
# files come first: illumos also has os_solaris.go, android os_linux.go.
_RUNTIME_OS_FILES = ("android", "illumos", "linux", "darwin", "windows", "freebsd", "netbsd",
                     "openbsd", "dragonfly", "solaris", "aix", "plan9")

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
# Wrappers are elided from tracebacks unless the frame just produced is one of
# these (runtime/traceback.go elideWrapperCalling).
KEEP_WRAPPERS_AFTER = ("gopanic", "sigpanic", "panicwrap")

_CACHE_FUNCS = 1 << 16  # functions whose per-PC facts stay cached (bounds memory)


@dataclass(frozen=True)
class PcspRange:
    start: int
    end: int
    sp_delta: int


@dataclass(frozen=True)
class FuncIDs:
    """What the binary's funcID values mean (derived from the binary itself)."""

    names: dict[int, str]  # value -> "normal", "wrapper", "goexit", ...
    wrapper: int | None
    keep_wrappers_after: frozenset[int]  # funcIDs after which a wrapper frame is kept


class GoBinary:
    """Entry point of the library: ``gosym.open(path)``."""

    def __init__(self, path: str, arch: str | None = None,
                 executable: str | None = None) -> None:
        self.path = path
        self.container: Container = _open_memory(path, arch, executable)
        try:
            self._init_table(executable)
        except BaseException:
            self.container.close()
            raise
        self._funcs: OrderedDict[int, Func] = OrderedDict()  # per-PC lookups' cache
        self._pcsp: dict[int, tuple[int, pcvalue.Rows]] = {}

    def _init_table(self, executable: str | None) -> None:
        self.location: TableLocation = _find_table(self.container, executable)
        c = self.container
        loc = self.location
        # The bytes as loaded: pointers the loader rewrites (Mach-O chained fixups,
        # a core's memory) hold their run-time values. A patched copy is searched
        # by itself; the plain file's mapping is searched in place.
        data = c.view(loc.offset, loc.address, loc.size)
        if data.obj is c.buf:
            self.table = Table(data, go_version=self.go_version_tuple, searchable=c.buf,
                               searchable_offset=loc.offset)
        else:
            self.table = Table(data, go_version=self.go_version_tuple, searchable=data.obj)
        self._text_start_source = "table header"
        layout = self.table.layout
        h = self.table.header
        if layout.header_has_text_start and h.text_start == 0:
            # Go 1.26+ no longer stores textStart in the header: use moduledata.text.
            md = self.moduledata
            if md is None:
                raise FormatError("cannot find moduledata, which holds the text start of "
                                  "Go 1.26+ tables")
            self.table.set_text_start(md.text, md.textsect_map)
            self._text_start_source = "moduledata.text"
        elif layout.header_has_text_start:
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
    def ptr_size(self) -> int:
        return self.table.ptr_size

    @cached_property
    def return_address_slot(self) -> int:
        """Bytes of the return address CALL pushes (amd64: 8, 386: 4; 0 where the
        link register is saved inside the frame)."""
        return RETURN_ADDRESS_SLOT[self.arch]

    @property
    def byte_order(self) -> str:
        """"little" or "big" (the table's, which is the program's)."""
        return self.table.endian

    @cached_property
    def goos(self) -> str | None:
        """The operating system the binary was built for: the build info's GOOS
        setting (Go 1.18+), else which runtime/os_<goos>.go its table names, else
        what the file format says (PE: windows; Mach-O: darwin)."""
        for key, value in self.buildinfo.settings:
            if key == "GOOS" and value:
                return value
        for goos in _RUNTIME_OS_FILES:
            if self.table.has_string(f"runtime/os_{goos}.go".encode()):
                return goos
        if self.container.format == "macho":
            return "darwin"
        return self.container.goos

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
        if not self.table.layout.entry_is_offset:
            return self.table.entry_of(0)
        return self.table.text_start

    @property
    def text_start_source(self) -> str:
        if not self.table.layout.entry_is_offset:
            return "first function entry (absolute entries)"
        return self._text_start_source

    @cached_property
    def moduledata(self) -> ModuleData | None:
        v = self.go_version_tuple
        return find_moduledata(self.container, self.table, self.location,
                               v[1] if v else None)

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
        i = self.table.find_index(pc)
        return None if i is None else self.cached_func(i)

    def lookup(self, name: str) -> Func | None:
        """The first function with exactly this (full symbol) name."""
        want = name.encode()
        for i, raw in enumerate(self.table.names()):
            if raw == want:
                return self.table.func(i)
        return None

    @cached_property
    def shortens_generic_names(self) -> bool:
        """Whether this binary's runtime prints ``pkg.F[...]`` for names with
        brackets (runtime/symtab.go funcNameForPrint, Go 1.18+, the release that
        brought generics); older runtimes print every name as it is, e.g. the
        array type in ``type..eq.[3]error``."""
        v = self.go_version_tuple
        if v is not None:
            return v >= (1, 18)
        return self.table.layout.entry_is_offset  # the Go 1.18+ table layouts

    def name_for_print(self, symbol: str) -> str:
        """A function name as this binary's runtime prints it in tracebacks."""
        return func_name_for_print(symbol) if self.shortens_generic_names else symbol

    @cached_property
    def _print_names(self) -> dict[str, list[int]]:
        m: dict[str, list[int]] = {}
        for i, raw in enumerate(self.table.names()):
            m.setdefault(self.name_for_print(raw.decode("utf-8", "replace")), []).append(i)
        return m

    def indices_named(self, name: str) -> list[int]:
        """Indices of every function whose printed name (``pkg.F[...]`` for generic
        instantiations, as tracebacks print it) is ``name``, in address order."""
        return list(self._print_names.get(name, ()))

    def functions_named(self, name: str) -> list[Func]:
        """Every function whose printed name is ``name`` (see :meth:`indices_named`)."""
        return [self.table.func(i) for i in self._print_names.get(name, ())]

    def select(self, pattern: str | None) -> np.ndarray:
        """Indices of the functions whose full name matches a regular expression
        (re.search); all functions for None. Raises re.error for a bad pattern."""
        import re

        if pattern is None:
            return np.arange(len(self.table))
        rx = re.compile(pattern.encode())
        return np.array([i for i, raw in enumerate(self.table.names()) if rx.search(raw)],
                        dtype=np.int64)

    @cached_property
    def func_ids(self) -> FuncIDs:
        """funcID values named from the binary's own runtime functions."""
        names: dict[int, str] = {0: "normal"}
        ids = self.table.func_ids()
        # Wrappers (method wrappers, eq/hash functions) are by far the most common
        # non-zero funcID; every other special ID belongs to one runtime function.
        # Decide the wrapper value first: ABI wrappers carry the name of the
        # function they wrap (runtime.asmcgocall's ABI0->ABIInternal wrapper has
        # the wrapper ID), so a name alone must not claim that value. Ties go to
        # the smallest value.
        counts = Counter(ids)
        counts.pop(0, None)
        wrapper = None
        if counts:
            value, n = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
            if n > 1:
                wrapper = value
                names[wrapper] = "wrapper"
        # The few functions with another non-zero funcID: is it a special one?
        for i, v in enumerate(ids):
            if v and v != wrapper and v not in names:
                special = _SPECIAL_FUNCS.get(self.table.name_of(i))
                if special is not None:
                    names[v] = special
        keep = frozenset(v for v, n in names.items() if n in KEEP_WRAPPERS_AFTER)
        return FuncIDs(names, wrapper, keep)

    @property
    def func_id_names(self) -> dict[int, str]:
        """funcID value -> name, derived from the binary's own runtime functions."""
        return self.func_ids.names

    def func_id_value(self, name: str) -> int | None:
        for value, n in self.func_id_names.items():
            if n == name:
                return value
        return None

    # --- per-PC facts, cached per function ---------------------------------------
    def cached_func(self, index: int) -> Func:
        """Function ``index``, from a bounded cache (least recently used dropped)."""
        cache = self._funcs
        f = cache.get(index)
        if f is not None:
            cache.move_to_end(index)
            return f
        f = cache[index] = self.table.func(index)
        if len(cache) > _CACHE_FUNCS:
            dropped, _ = cache.popitem(last=False)
            self._pcsp.pop(dropped, None)
        return f

    def _pcsp_rows(self, index: int) -> tuple[int, pcvalue.Rows]:
        got = self._pcsp.get(index)
        if got is None:
            f = self.cached_func(index)
            got = self._pcsp[index] = (f.entry, self.table.pcsp_rows(f))
        return got

    # --- stack frame sizes --------------------------------------------------------
    def pcsp_ranges(self, func: Func) -> Iterator[PcspRange]:
        """The pcsp table of func as address ranges, in order."""
        for start, end, value in pcvalue.ranges(self.table.pcsp_rows(func), func.entry):
            yield PcspRange(start, end, value)

    def max_sp_delta(self, func: Func) -> int:
        return max(self.table.pcsp_rows(func).values, default=0)

    def func_frame_size(self, func: Func) -> int:
        """Bytes the function's deepest frame occupies, return address slot included."""
        return max(self.max_sp_delta(func), 0) + self.return_address_slot

    def sp_delta(self, pc: int) -> int | None:
        """Bytes SP has moved below its entry value at pc (pcsp), None outside."""
        i = self.table.find_index(pc)
        if i is None:
            return None
        entry, rows = self._pcsp_rows(i)
        return rows.value_at(pc - entry)

    def frame_bytes(self, pc: int) -> int | None:
        """Bytes of the physical frame at pc: sp_delta plus the return address slot
        (runtime/traceback.go: ``frame.fp = frame.sp + funcspdelta(...)``, plus
        PtrSize where CALL pushes the return address). None outside or where the
        table has no value."""
        delta = self.sp_delta(pc)
        if delta is None:
            return None
        return delta + self.return_address_slot

    def frame_size(self, pc: int) -> int | None:
        """Old name of :meth:`frame_bytes` (the frame's size at one PC; for a
        function's largest frame see :meth:`func_frame_size`)."""
        return self.frame_bytes(pc)

    # --- inline trees -------------------------------------------------------------
    @cached_property
    def inline_tree_indices(self) -> tuple[int, int]:
        """(PCDATA_InlTreeIndex, FUNCDATA_InlTree) of this binary's Go version.

        Go 1.16 dropped FUNCDATA_RegPointerMaps, so FUNCDATA_InlTree is 4 for Go
        1.12-1.15 (checked on a go1.15.5 binary) and 3 from 1.16; Go 1.9-1.11
        numbered them PCDATA 1 / FUNCDATA 2 (runtime/symtab.go of those releases).
        """
        v = self.go_version_tuple
        if self.table.layout.version != GO12 or (v is not None and v >= (1, 16)):
            return PCDATA_INL_TREE_INDEX, FUNCDATA_INL_TREE
        if v is not None and v < (1, 12):
            return 1, 2
        return 2, 4

    @cached_property
    def gofunc(self) -> int:
        """moduledata.gofunc (Go 1.18+): funcdata offsets are relative to it."""
        md = self.moduledata
        if md is None or md.gofunc is None:
            raise FormatError("cannot find moduledata.gofunc, needed for inline trees")
        return md.gofunc

    def inline_tree_address(self, func: Func) -> int | None:
        """Address of func's inline tree (FUNCDATA_InlTree), None if it has none."""
        t = self.table
        if t.layout.funcdata_is_offset:
            off = t.funcdata_offset(func, FUNCDATA_INL_TREE)
            if off is None:
                return None
            return self.gofunc + off
        fd_index = self.inline_tree_indices[1]
        at = t.funcdata_pointer_offset(func, fd_index)
        if at is None:
            return None
        # Before Go 1.18 the pointers may be dynamic relocations (PIE), whose
        # value can live only in the relocation's addend.
        fixed = self.container.relocated_word(self.location.address + at)
        return fixed if fixed is not None else t.funcdata_pointer(func, fd_index)

    def inline_entry_at(self, tree: int, index: int) -> InlinedCall:
        """Entry ``index`` of the inline tree at address ``tree``."""
        size = self.table.layout.inline_entry_size
        return self.table.inlined_call(self.container.read(tree + index * size, size))

    def inline_entry(self, func: Func, index: int) -> InlinedCall:
        base = self.inline_tree_address(func)
        if base is None:
            raise FormatError(f"{func.name} has inline tree indices but no inline tree")
        return self.inline_entry_at(base, index)

    def inline_index(self, func: Func, pc: int) -> int:
        """PCDATA_InlTreeIndex at pc: -1 when pc is in the physical function itself."""
        off = self.table.pcdata_offset(func, self.inline_tree_indices[0])
        if off == 0:
            return -1
        value = self.table.pcvalue(func, off, pc)
        return -1 if value is None else value

    def inline_tree(self, func: Func) -> list[InlinedCall]:
        """Every entry of func's inline tree, in index order (entries are
        numbered by the InlTreeIndex table's values: as many as its largest + 1)."""
        off = self.table.pcdata_offset(func, self.inline_tree_indices[0])
        if off == 0:
            return []
        rows = self.table.rows(off, func.end - func.entry)
        count = max(rows.values, default=-1) + 1
        if count <= 0:
            return []
        base = self.inline_tree_address(func)
        if base is None:
            raise FormatError(f"{func.name} has inline tree indices but no inline tree")
        return [self.inline_entry_at(base, i) for i in range(count)]

    # --- call frames --------------------------------------------------------------
    def find_frames(self, pc: int) -> list[Frame]:
        """Logical frames at one exact PC (file address), innermost first, ending
        with the physical function; empty outside every function."""
        from .callframes import find_frames
        return find_frames(self, pc)

    def frames(self, pcs: Iterable[int], slide: int = 0, pc_is_exact: bool = False,
               inline: bool = True) -> Iterator[Frame]:
        """runtime.CallersFrames over a PC list (return addresses, as
        runtime.Callers gives them; runtime addresses, ``slide`` = runtime -
        file address): yields :class:`gosym.callframes.Frame` objects."""
        from .callframes import SymbolizeConfig
        return iter(self.callers_frames(
            list(pcs), SymbolizeConfig(slide=slide, pc_is_exact=pc_is_exact,
                                       inline=inline)).iter_frames())

    def callers_frames(self, pcs: Sequence[int], config: SymbolizeConfig | None = None):
        """runtime.CallersFrames over a PC list, as a :class:`gosym.callframes.CallFrames`
        result: the frames of each input PC, which PCs were consumed as virtual
        parent PCs, which were outside every function, which wrappers were elided.
        Few PCs go through the scalar unwinder, many through the batch resolver."""
        from .callframes import SymbolizeConfig, callers_frames
        from .pcbatch import resolve_callers
        cfg = config or SymbolizeConfig()
        if len(pcs) <= _SCALAR_PCS:
            return callers_frames(self, pcs, cfg)
        return resolve_callers(self, pcs, cfg, self._resolver)

    def lookup_pcs(self, pcs, exact=False) -> PCBatch:
        """Many PCs (file addresses) at once: physical function, frame bytes and
        logical frames of each (see :class:`gosym.pcbatch.PCBatch`)."""
        from .pcbatch import lookup_pcs
        return lookup_pcs(self, pcs, exact, self._resolver)

    @cached_property
    def _resolver(self):
        from .pcbatch import Resolver
        return Resolver(self)

    # --- resources ------------------------------------------------------------------
    def close(self) -> None:
        """Release the file mapping (the object is unusable afterwards)."""
        self._funcs.clear()
        self._pcsp.clear()
        self.__dict__.pop("_resolver", None)
        self.table = None  # type: ignore[assignment]
        self.container.close()

    def __enter__(self) -> "GoBinary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_SCALAR_PCS = 32  # PC lists up to this long are unwound one PC at a time


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
