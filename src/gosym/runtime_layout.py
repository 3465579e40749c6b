"""Where the fields of the Go runtime's structures are, per Go release.

The goroutine reader needs offsets into ``runtime.g`` (and ``m``, ``p``,
``gobuf``, ``stack``, the stack allocator's and memstats' structures), the
goroutine status constants and the status and wait-reason strings. All of it
changes between releases (``gobuf.ret`` is gone in 1.27, ``atomicstatus`` and
``goid`` moved in 1.24 when ``syscallbp`` was added, wait reasons are
renumbered in most releases), so nothing here is typed by hand:

* from the binary's own DWARF when it has any (``layout_from_dwarf``);
* else from ``data/runtime_layouts.json``, which ``scripts/runtime_layouts.py``
  generates with the same ``layout_from_dwarf`` from a tiny program built by
  each toolchain gosym is tested with, keyed by Go minor version and arch.

A field is recorded as [offset, size] from the start of its structure (nested
paths like ``sched.pc`` are summed), or [offset, size, count, stride] when the
path steps into (``[]``) or ends at an array.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from .errors import FormatError, UnsupportedError

# The fields the goroutine reader uses (a missing one is left out: e.g.
# g.parentGoid exists from Go 1.21, runtime.hmap until 1.23).
STRUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "runtime.g": ("stack.lo", "stack.hi", "sched.sp", "sched.pc", "sched.lr", "sched.bp",
                  "syscallsp", "syscallpc", "m", "atomicstatus", "goid", "waitsince",
                  "waitreason", "gopc", "startpc", "parentGoid", "labels", "lockedm",
                  "runningCleanups"),
    "runtime.m": ("g0", "gsignal", "curg", "procid", "alllink", "id", "vdsoSP", "vdsoPC", "p",
                  "lockedg", "freelink"),
    "runtime.schedt": ("freem", "lock"),
    "runtime.p": ("id", "status", "mcache"),
    "runtime.mcache": ("stackcache",),
    "runtime.stackfreelist": ("list", "size"),
    "runtime.mspan": ("next", "startAddr", "npages", "allocCount", "elemsize"),
    "runtime.mstats": ("heapStats.stats", "heapStats.gen", "enablegc"),
    "runtime.heapStatsDelta": ("inStacks",),
    # pprof labels are a map[string]string until Go 1.23 (runtime/map.go).
    "runtime.hmap": ("count", "B", "buckets", "oldbuckets"),
}
VARIABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "runtime.stackpool": ("[].item.span.first",),
    "runtime.stackLarge": ("free",),
    "runtime.gStatusStrings": ("[]",),
    "runtime.waitReasonStrings": ("[]",),
}
# Constants recorded: the goroutine states (runtime/runtime2.go).
CONSTANT_PREFIXES = ("runtime._G",)

TABLE_RESOURCE = "runtime_layouts.json"


@dataclass(frozen=True)
class Field:
    offset: int
    size: int
    count: int | None = None  # for arrays: elements
    stride: int | None = None  # for arrays: bytes per element


@dataclass
class RuntimeLayout:
    """One Go release's runtime layout for one architecture."""

    go_version: str  # of the DWARF or table it came from
    arch: str
    source: str  # "DWARF" or "table"
    structs: dict[str, dict] = field(default_factory=dict)  # name -> {"size", "fields"}
    variables: dict[str, dict] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)
    status_strings: list[str] = field(default_factory=list)
    wait_reasons: list[str] = field(default_factory=list)

    def size(self, struct: str) -> int:
        try:
            return self.structs[struct]["size"]
        except KeyError:
            raise FormatError(f"no layout of {struct} for {self.go_version}") from None

    def field(self, struct: str, path: str) -> Field | None:
        s = self.structs.get(struct) or self.variables.get(struct)
        if s is None:
            return None
        v = s["fields"].get(path)
        return None if v is None else Field(*v)

    def offset(self, struct: str, path: str) -> int:
        f = self.field(struct, path)
        if f is None:
            raise FormatError(f"no field {path} of {struct} in the runtime layout of "
                              f"{self.go_version}")
        return f.offset

    def constant(self, name: str) -> int | None:
        return self.constants.get(name)

    def to_json(self) -> dict:
        return {"go_version": self.go_version, "arch": self.arch, "structs": self.structs,
                "variables": self.variables, "constants": self.constants,
                "status_strings": self.status_strings, "wait_reasons": self.wait_reasons}


# --- from DWARF -------------------------------------------------------------------

def _attr(die, name):
    a = die.attributes.get(name)
    return None if a is None else a.value


def _strip(die):
    """The type a typedef (or const/volatile) names."""
    seen = 0
    while die is not None and die.tag in ("DW_TAG_typedef", "DW_TAG_const_type",
                                          "DW_TAG_volatile_type") and seen < 32:
        if "DW_AT_type" not in die.attributes:
            return None
        die = die.get_DIE_from_attribute("DW_AT_type")
        seen += 1
    return die


def _type_of(die):
    if die is None or "DW_AT_type" not in die.attributes:
        return None
    return _strip(die.get_DIE_from_attribute("DW_AT_type"))


def _byte_size(t) -> int | None:
    if t is None:
        return None
    size = _attr(t, "DW_AT_byte_size")
    if size is not None:
        return int(size)
    if t.tag == "DW_TAG_pointer_type":
        return 8
    if t.tag == "DW_TAG_array_type":
        count, stride = _array_shape(t)
        return None if count is None or stride is None else count * stride
    return None


def _array_shape(t) -> tuple[int | None, int | None]:
    count = None
    for c in t.iter_children():
        if c.tag == "DW_TAG_subrange_type":
            if "DW_AT_count" in c.attributes:
                count = int(_attr(c, "DW_AT_count"))
            elif "DW_AT_upper_bound" in c.attributes:
                count = int(_attr(c, "DW_AT_upper_bound")) + 1
    return count, _byte_size(_type_of(t))


def _member(struct_die, name: str):
    for c in struct_die.iter_children():
        if c.tag == "DW_TAG_member" and _attr(c, "DW_AT_name") == name.encode():
            return c
    return None


def _resolve(t, path: str) -> list | None:
    """[offset, size] (or [offset, size, count, stride]) of a dotted path in type t."""
    offset = 0
    array: tuple[int | None, int | None] | None = None
    for step in path.split("."):
        if t is None:
            return None
        if step == "[]":
            if t.tag != "DW_TAG_array_type":
                return None
            array = _array_shape(t)
            t = _type_of(t)
            continue
        if t.tag != "DW_TAG_structure_type":
            return None
        m = _member(t, step)
        if m is None:
            return None
        loc = _attr(m, "DW_AT_data_member_location")
        if not isinstance(loc, int):
            return None
        offset += loc
        t = _type_of(m)
    size = _byte_size(t)
    if size is None:
        return None
    if array is None and t is not None and t.tag == "DW_TAG_array_type":
        array = _array_shape(t)
    if array is not None and array[0] is not None and array[1] is not None:
        return [offset, size, array[0], array[1]]
    return [offset, size]


def layout_from_dwarf(elf, go_version: str, arch: str) -> RuntimeLayout | None:
    """The layout from an ELF file's DWARF (a pyelftools ELFFile), or None if
    it has no DWARF or no runtime.g in it. Only the runtime's compile units are
    read (the linker puts each package's types in its own), with the minimal
    reader of godwarf."""
    from .godwarf import open_go_dwarf
    try:
        dwarf = open_go_dwarf(elf)
    except (FormatError, ValueError, IndexError, struct.error, zlib.error) as e:
        raise FormatError(f"cannot read DWARF: {type(e).__name__}: {e}") from None
    if dwarf is None:
        return None
    structs, variables, constants = {}, {}, {}
    try:
        for top in dwarf.units_named(b"runtime"):
            for die in top.iter_children():
                name = _attr(die, "DW_AT_name")
                if not isinstance(name, bytes):
                    continue
                name = name.decode("utf-8", "replace")
                if die.tag == "DW_TAG_structure_type" and name in STRUCT_FIELDS:
                    structs.setdefault(name, die)
                elif die.tag == "DW_TAG_variable" and name in VARIABLE_FIELDS:
                    variables.setdefault(name, die)
                elif die.tag == "DW_TAG_constant" and name.startswith(CONSTANT_PREFIXES):
                    value = _attr(die, "DW_AT_const_value")
                    if isinstance(value, int):
                        constants[name.removeprefix("runtime.")] = value
    except (ValueError, IndexError, struct.error) as e:
        raise FormatError(f"cannot read DWARF: {type(e).__name__}: {e}") from None
    if "runtime.g" not in structs:
        return None
    layout = RuntimeLayout(go_version, arch, "DWARF", constants=constants)
    for name, die in structs.items():
        fields = {}
        for path in STRUCT_FIELDS[name]:
            r = _resolve(die, path)
            if r is not None:
                fields[path] = r
        layout.structs[name] = {"size": _byte_size(die), "fields": fields}
    for name, die in variables.items():
        t = _type_of(die)
        fields = {}
        for path in VARIABLE_FIELDS[name]:
            r = _resolve(t, path)
            if r is not None:
                fields[path] = r
        layout.variables[name] = {"size": _byte_size(t), "fields": fields}
    return layout


# --- from the generated table ----------------------------------------------------------

@lru_cache(maxsize=1)
def _table() -> dict:
    try:
        text = resources.files("gosym.data").joinpath(TABLE_RESOURCE).read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return {"layouts": {}}
    return json.loads(text)


def table_versions() -> list[str]:
    """Go minor versions the table covers ("1.19", "1.21", ...), oldest first."""
    return sorted(_table()["layouts"], key=lambda v: tuple(int(x) for x in v.split(".")))


def layout_from_table(go_version: tuple[int, int], arch: str) -> RuntimeLayout | None:
    key = f"{go_version[0]}.{go_version[1]}"
    entry = _table()["layouts"].get(key, {}).get(arch)
    if entry is None:
        return None
    return RuntimeLayout(entry["go_version"], arch, "table", entry["structs"],
                         entry["variables"], entry["constants"], entry["status_strings"],
                         entry["wait_reasons"])


def runtime_layout(binary) -> RuntimeLayout:
    """The binary's runtime layout: its own DWARF when present, else the table
    entry of its Go minor version; UnsupportedError outside the table."""
    version = binary.go_version or "unknown Go version"
    if binary.format == "elf":
        from elftools.elf.elffile import ELFFile
        with open(binary.path, "rb") as f:
            try:
                elf = ELFFile(f)
                layout = layout_from_dwarf(elf, version, binary.arch)
            except FormatError:
                layout = None
            except Exception:
                layout = None
        if layout is not None:
            fill_from_table(layout, binary.go_version_tuple)
            return layout
    vt = binary.go_version_tuple
    layout = layout_from_table(vt, binary.arch) if vt is not None else None
    if layout is None:
        known = ", ".join(table_versions()) or "none"
        what = version if vt is not None else "a Go version gosym can't determine"
        raise UnsupportedError(f"no runtime layout for {what} on {binary.arch}: the binary has "
                               f"no DWARF and gosym's table covers Go {known}")
    return layout


def fill_from_table(layout: RuntimeLayout, go_version: tuple[int, int] | None) -> None:
    """DWARF has no strings: take them from the table entry of the same release
    (the binary's own arrays, when they can be read, replace them later)."""
    if go_version is None:
        return
    t = layout_from_table(go_version, layout.arch)
    if t is not None:
        layout.status_strings = list(t.status_strings)
        layout.wait_reasons = list(t.wait_reasons)


def read_string_array(read_word, read_bytes, addr: int, count: int) -> list[str]:
    """count Go strings (pointer, length) starting at addr, read through the
    given word and byte readers (the binary's static data)."""
    out = []
    for i in range(count):
        ptr = read_word(addr + 16 * i)
        n = read_word(addr + 16 * i + 8)
        if n > 256:
            raise FormatError(f"string {i} of the array at {addr:#x} is {n} bytes long")
        out.append(bytes(read_bytes(ptr, n)).decode("utf-8", "replace") if n else "")
    return out
