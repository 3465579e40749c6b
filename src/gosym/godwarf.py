"""Just enough DWARF to read the Go runtime's types, fast.

pyelftools parses every DIE into objects; the runtime's compile units alone
hold some 40,000 (subprograms with their parameters and variables), which
takes seconds. The runtime layout needs a few dozen top-level DIEs (structure
types, variables, constants) and the types they reference, so this reader
walks the DIE stream with the abbreviation table, skipping attribute values
by form, and decodes only the DIEs asked for. It reads what Go's linker
writes (cmd/internal/dwarf/dwarf.go): DWARF 4 and 5 units of 32-bit format,
names as inline strings, references as DW_FORM_ref_addr.

The DIE objects answer the few questions runtime_layout asks of pyelftools
DIEs (``tag``, ``attributes[name].value``, ``iter_children()``,
``get_DIE_from_attribute``), so the same layout code reads both.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import FormatError

TAGS = {0x01: "DW_TAG_array_type", 0x0D: "DW_TAG_member", 0x0F: "DW_TAG_pointer_type",
        0x11: "DW_TAG_compile_unit", 0x13: "DW_TAG_structure_type", 0x16: "DW_TAG_typedef",
        0x21: "DW_TAG_subrange_type", 0x26: "DW_TAG_const_type", 0x27: "DW_TAG_constant",
        0x34: "DW_TAG_variable", 0x35: "DW_TAG_volatile_type"}
ATTRS = {0x03: "DW_AT_name", 0x0B: "DW_AT_byte_size", 0x1C: "DW_AT_const_value",
         0x2F: "DW_AT_upper_bound", 0x37: "DW_AT_count", 0x38: "DW_AT_data_member_location",
         0x49: "DW_AT_type"}

# Forms (DWARF 5, section 7.5.6) of fixed size, in bytes, for 32-bit DWARF.
_FIXED = {0x01: 8, 0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0C: 1, 0x19: 0, 0x10: 4, 0x11: 1,
          0x12: 2, 0x13: 4, 0x14: 8, 0x17: 4, 0x0E: 4, 0x1F: 4, 0x25: 1, 0x26: 2, 0x27: 3,
          0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3, 0x2C: 4, 0x1E: 16, 0x20: 8, 0x1C: 4, 0x1D: 4}
_ULEB = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23}  # udata, ref_udata, strx, addrx, loclistx, rnglistx
_FORM_STRING = 0x08
_FORM_SDATA = 0x0D
_FORM_BLOCK1, _FORM_BLOCK2, _FORM_BLOCK4, _FORM_BLOCK, _FORM_EXPRLOC = 0x0A, 0x03, 0x04, 0x09, 0x18
_FORM_IMPLICIT_CONST = 0x21
_FORM_REF4 = 0x13
_FORM_REF_ADDR = 0x10


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


@dataclass
class _Abbrev:
    tag: int
    children: bool
    specs: list[tuple[int, int, int]]  # (attribute, form, implicit const)


class _Value:
    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value


class DIE:
    """A decoded DIE: tag name and the attributes runtime_layout reads."""

    def __init__(self, reader: "GoDwarf", offset: int, cu_offset: int) -> None:
        self.reader = reader
        self.offset = offset
        self.cu_offset = cu_offset
        abbrev, attrs, self._next, has_children = reader._decode(offset, cu_offset)
        self.tag = TAGS.get(abbrev.tag, f"tag {abbrev.tag:#x}")
        self.attributes = {ATTRS.get(k, k): _Value(v) for k, v in attrs.items()}
        self.has_children = has_children

    def iter_children(self):
        if not self.has_children:
            return
        pos = self._next
        while True:
            code, _ = _uleb(self.reader.info, pos)
            if code == 0:
                return
            child = DIE(self.reader, pos, self.cu_offset)
            yield child
            pos = self.reader._skip_subtree(child)

    def get_DIE_from_attribute(self, name: str) -> "DIE":
        v = self.attributes[name].value
        return self.reader.die_at(v)


class GoDwarf:
    """The .debug_info / .debug_abbrev of a Go binary."""

    def __init__(self, info: bytes, abbrev: bytes) -> None:
        self.info = info
        self.abbrev = abbrev
        self._abbrevs: dict[int, dict[int, _Abbrev]] = {}
        self._units: list[tuple[int, int, int, int]] = []  # (offset, end, first DIE, abbrev off)
        self._unit_ref_base: dict[int, int] = {}
        pos = 0
        while pos + 11 <= len(info):
            length, version = struct.unpack_from("<IH", info, pos)
            if length >= 0xFFFFFFF0:
                raise FormatError("64-bit DWARF is not supported")
            end = pos + 4 + length
            if version >= 5:
                _unit_type, _asize, abbrev_off = struct.unpack_from("<BBI", info, pos + 6)
                first = pos + 12
            else:
                abbrev_off, _asize = struct.unpack_from("<IB", info, pos + 6)
                first = pos + 11
            self._units.append((pos, end, first, abbrev_off))
            pos = end

    # --- abbreviations and DIE decoding --------------------------------------------------
    def _abbrev_table(self, off: int) -> dict[int, _Abbrev]:
        table = self._abbrevs.get(off)
        if table is not None:
            return table
        table = {}
        data = self.abbrev
        pos = off
        while True:
            code, pos = _uleb(data, pos)
            if code == 0:
                break
            tag, pos = _uleb(data, pos)
            children = data[pos] != 0
            pos += 1
            specs = []
            while True:
                attr, pos = _uleb(data, pos)
                form, pos = _uleb(data, pos)
                const = 0
                if form == _FORM_IMPLICIT_CONST:
                    const, pos = _sleb(data, pos)
                if attr == 0 and form == 0:
                    break
                specs.append((attr, form, const))
            table[code] = _Abbrev(tag, children, specs)
        self._abbrevs[off] = table
        return table

    def _unit_of(self, offset: int) -> tuple[int, int, int, int]:
        lo, hi = 0, len(self._units)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._units[mid][0] <= offset:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            raise FormatError(f"DWARF offset {offset:#x} is outside every unit")
        return self._units[lo - 1]

    def _decode(self, offset: int, cu_offset: int):
        """(abbrev, {attr: value} for the attributes of interest, next offset, children)."""
        unit = self._unit_of(offset)
        table = self._abbrev_table(unit[3])
        data = self.info
        code, pos = _uleb(data, offset)
        ab = table.get(code)
        if ab is None:
            raise FormatError(f"unknown DWARF abbreviation {code} at {offset:#x}")
        attrs = {}
        for attr, form, const in ab.specs:
            start = pos
            pos = self._skip_form(form, pos)
            if attr in ATTRS:
                attrs[attr] = self._value(form, start, pos, const, unit[0])
        return ab, attrs, pos, ab.children

    def _value(self, form: int, start: int, end: int, const: int, unit_off: int):
        data = self.info
        if form == _FORM_STRING:
            return bytes(data[start:end - 1])
        if form == _FORM_SDATA:
            return _sleb(data, start)[0]
        if form in _ULEB:
            return _uleb(data, start)[0]
        if form == _FORM_IMPLICIT_CONST:
            return const
        if form == _FORM_REF4:
            return unit_off + struct.unpack_from("<I", data, start)[0]
        if form in (_FORM_BLOCK1, _FORM_EXPRLOC, _FORM_BLOCK):
            return None
        size = end - start
        if size in (1, 2, 4, 8):
            return int.from_bytes(data[start:end], "little")
        return None

    def _skip_form(self, form: int, pos: int) -> int:
        size = _FIXED.get(form)
        if size is not None:
            return pos + size
        data = self.info
        if form == _FORM_STRING:
            end = data.find(b"\0", pos)
            if end < 0:
                raise FormatError("unterminated DWARF string")
            return end + 1
        if form in _ULEB or form == _FORM_SDATA:
            while data[pos] & 0x80:
                pos += 1
            return pos + 1
        if form == _FORM_BLOCK1:
            return pos + 1 + data[pos]
        if form == _FORM_BLOCK2:
            return pos + 2 + struct.unpack_from("<H", data, pos)[0]
        if form == _FORM_BLOCK4:
            return pos + 4 + struct.unpack_from("<I", data, pos)[0]
        if form in (_FORM_BLOCK, _FORM_EXPRLOC):
            n, pos = _uleb(data, pos)
            return pos + n
        if form == _FORM_IMPLICIT_CONST:
            return pos
        raise FormatError(f"unsupported DWARF form {form:#x}")

    def _skip_entry(self, offset: int, table: dict[int, _Abbrev]) -> tuple[int, bool, bool]:
        """(next offset, has children, is the null entry) of the entry at offset."""
        code, pos = _uleb(self.info, offset)
        if code == 0:
            return pos, False, True
        ab = table.get(code)
        if ab is None:
            raise FormatError(f"unknown DWARF abbreviation {code} at {offset:#x}")
        for _attr, form, _c in ab.specs:
            pos = self._skip_form(form, pos)
        return pos, ab.children, False

    def _skip_subtree(self, die: DIE) -> int:
        """Offset just after die and all of its descendants."""
        if not die.has_children:
            return die._next
        table = self._abbrev_table(self._unit_of(die.offset)[3])
        pos = die._next
        depth = 1
        while depth:
            pos, children, null = self._skip_entry(pos, table)
            if null:
                depth -= 1
            elif children:
                depth += 1
        return pos

    # --- public ------------------------------------------------------------------------
    def die_at(self, offset: int) -> DIE:
        unit = self._unit_of(offset)
        return DIE(self, offset, unit[0])

    def units_named(self, name: bytes):
        """The top DIE of every compile unit with this DW_AT_name."""
        for unit in self._units:
            top = DIE(self, unit[2], unit[0])
            v = top.attributes.get("DW_AT_name")
            if v is not None and v.value == name:
                yield top

def _section(elf, name: str) -> bytes | None:
    sec = elf.get_section_by_name(name)
    if sec is not None and sec["sh_type"] != "SHT_NOBITS":
        return bytes(sec.data())  # pyelftools inflates SHF_COMPRESSED sections
    zsec = elf.get_section_by_name(".z" + name[1:])
    if zsec is not None:
        raw = bytes(zsec.data())
        if raw[:4] == b"ZLIB":  # Go <= 1.11: "ZLIB", big-endian size, zlib stream
            return zlib.decompress(raw[12:])
    return None


def open_go_dwarf(elf) -> GoDwarf | None:
    """The DWARF of a pyelftools ELFFile, or None when it has none."""
    info = _section(elf, ".debug_info")
    abbrev = _section(elf, ".debug_abbrev")
    if not info or not abbrev:
        return None
    return GoDwarf(info, abbrev)
