"""Finding the function table and moduledata inside a container.

The table is found, in order: by section name; by the ``runtime.pclntab``
symbol; by scanning every file-backed section for a valid magic and keeping the
first candidate whose header and function table validate (stripped externally
linked PIE merges the table into ``.data.rel.ro`` with no section of its own).

moduledata (runtime/symtab.go) is found by searching data sections for a word
equal to the table's address — its first field, ``pcHeader`` — applying
dynamic relocations where the pointer is stored that way. Its fields are
pointer-sized words (4 bytes on 32-bit programs) in the program's byte order.
"""

from __future__ import annotations

from dataclasses import dataclass


from .container import Container, Section
from .errors import FormatError, NotGoBinaryError
from .pclntab import GO12, GO116, GO118, MAGICS, Table, parse_header, probe_table

# Real binaries hold one table (and a stray magic or two); a file with more
# candidates than this is hostile, and validating each costs O(its nfunc).
_MAX_CANDIDATES = 64
_TABLE_SECTIONS = (".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab")
_ENDIAN = {"<": "little", ">": "big"}


@dataclass(frozen=True)
class TableLocation:
    offset: int  # file offset of the header
    address: int  # virtual address of the header
    size: int  # bytes up to the end of the section holding it
    source: str  # how it was found


def _section_location(container: Container, section: Section, source: str) -> TableLocation:
    if not section.file_size:
        raise FormatError(f"{section.full_name} has no contents in the file")
    if section.offset + section.file_size > len(container.data):
        raise FormatError(f"{section.full_name} is truncated: the file ends "
                          f"{section.offset + section.file_size - len(container.data)} bytes early")
    return TableLocation(section.offset, section.addr, section.file_size, source)


def find_table(container: Container) -> TableLocation:
    for name in _TABLE_SECTIONS:
        s = container.section(name)
        if s is not None:
            return _section_location(container, s, f"section {s.full_name}")
    if container.has_symbols:
        addr = container.symbol("runtime.pclntab")
        if addr is not None:
            off = container.addr_to_offset(addr)
            s = container.section_at(addr)
            if off is not None and s is not None:
                end = container.symbol("runtime.epclntab")
                size = (end - addr) if end and end > addr else s.addr + s.file_size - addr
                return TableLocation(off, addr, size, f"symbol runtime.pclntab in {s.full_name}")
    rejected: list[str] = []
    found = scan_for_table(container, rejected)
    if found is not None:
        return found
    cut = [s for s in container.sections
           if s.file_size and s.offset + s.file_size > len(container.data)]
    if cut:
        # Sections (or the section names) past the end: a cut-off copy, not a non-Go file.
        end = max(s.offset + s.file_size for s in cut)
        raise FormatError(f"truncated file: its sections run to byte {end:#x}, but the file has "
                          f"{len(container.data):#x} bytes")
    if rejected:
        # A table magic was there but nothing around it decoded: say so, not "not Go".
        raise FormatError(f"damaged Go function table: {rejected[0]}")
    raise NotGoBinaryError("not a Go binary: no Go function table (.gopclntab) found")


def scan_for_table(container: Container,
                   rejected: list[str] | None = None) -> TableLocation | None:
    """Try every magic occurrence in file-backed sections; validate each.

    Why each candidate whose first header bytes looked right was rejected is
    appended to ``rejected`` (with its address), for the error message.
    """
    validated = 0
    for s in container.sections:
        if not s.file_size or s.size < 64:
            continue
        end = min(s.offset + s.file_size, len(container.data))
        # The magic in the program's byte order (the table's is the program's).
        for magic in MAGICS:
            needle = magic.to_bytes(4, _ENDIAN[container.byte_order]) + b"\0\0"
            pos = container.buf.find(needle, s.offset, end)
            tries = 0
            while pos >= 0 and tries < 10000:
                tries += 1
                # Tables are pointer-aligned.
                if (pos - s.offset) % container.ptr_size == 0 and \
                        probe_table(container.data, pos) is not None:
                    validated += 1
                    if validated > _MAX_CANDIDATES:  # each costs O(nfunc): bound the work
                        return None
                    view = container.data[pos:end]
                    addr = s.addr + (pos - s.offset)
                    why = table_problem(view)
                    if why is None:
                        return TableLocation(pos, addr, end - pos,
                                             f"magic {magic:#x} found by scanning {s.full_name}")
                    if rejected is not None:
                        rejected.append(f"table with magic {magic:#x} at {addr:#x} "
                                        f"in {s.full_name}: {why}")
                pos = container.buf.find(needle, pos + 1, end)
    return None


def validate_table(view) -> bool:
    """Header in bounds, functab sorted, record offsets in range, a name decodes."""
    return table_problem(view) is None


def table_problem(view) -> str | None:
    """Why the bytes at view[0] are not a usable function table (None if they are)."""
    try:
        header = parse_header(view)
        table = Table(view, text_start=0)
        # Loads the functab (without numpy): checks sorted order and record
        # offsets; the end entry is past a functab cut short.
        table.entry_of(len(table))
        for i in sorted({0, header.nfunc // 2, header.nfunc - 1}):
            name = table.func(i).name
            if not name or not name.isprintable():
                return f"name of function {i} does not decode"
        return None
    except FormatError as e:
        return str(e)
    except (ValueError, IndexError) as e:
        return f"{type(e).__name__}: {e}"


# --- moduledata ------------------------------------------------------------------

@dataclass(frozen=True)
class ModuleData:
    address: int
    source: str
    text: int
    etext: int
    minpc: int
    maxpc: int
    gofunc: int | None
    textsect_map: tuple[tuple[int, int, int], ...]  # (vaddr, end, baseaddr)


def moduledata_fields(table_version: str, go_minor: int | None) -> dict[str, int]:
    """Word indices of the fields gosym needs, per runtime/symtab.go of each version
    (``table_version``: the function table's layout, pclntab.GO12 ... GO120)."""
    if table_version == GO12:
        # pclntable, ftab, filetab slices; findfunctab, minpc, maxpc, text, etext ...
        return {"minpc": 10, "maxpc": 11, "text": 12, "etext": 13, "textsectmap": 27}
    base = {"minpc": 20, "maxpc": 21, "text": 22, "etext": 23}
    if table_version == GO116:
        return base | {"textsectmap": 37}
    minor = go_minor if go_minor is not None else (19 if table_version == GO118 else 20)
    if minor <= 19:
        return base | {"gofunc": 38, "textsectmap": 39}
    if minor <= 25:  # covctrs, ecovctrs added in 1.20
        return base | {"gofunc": 40, "textsectmap": 41}
    if minor == 26:  # epclntab added after gofunc
        return base | {"gofunc": 40, "textsectmap": 42}
    return base | {"gofunc": 43, "textsectmap": 45}  # 1.27: typedesclen, itaboffset, itabsize


def _module_sections(container: Container) -> list[Section]:
    preferred = (".go.module", ".noptrdata", "__noptrdata", "__go_module", ".data", "__data",
                 ".data.rel.ro", "__data_const", "__const")
    ordered = [container.section(n) for n in preferred]
    out = [s for s in ordered if s is not None]
    for s in container.sections:
        if s not in out and s.file_size and "text" not in s.name and "pclntab" not in s.name:
            out.append(s)
    return out


def find_moduledata(container: Container, table: Table, location: TableLocation,
                    go_minor: int | None) -> ModuleData | None:
    fields = moduledata_fields(table.layout.version, go_minor)
    h = table.header
    word = container.ptr_size
    for addr in container.find_pointer_refs(location.address, _module_sections(container)):
        try:
            words = container.read_words(addr, fields["textsectmap"] + 3)
        except FormatError:
            continue
        if table.layout.version == GO12:
            ok = words[3] == location.address + 8 + h.ptr_size
        else:
            ok = (words[1] == location.address + h.funcname_offset and
                  words[16] == location.address + h.pcln_offset)
        if not ok:
            continue
        text = words[fields["text"]]
        if container.section_at(text) is None and \
                not (getattr(container, "elf_type", None) == "ET_CORE" and
                     container.is_mapped(text)):
            # moduledata.text is always inside a text section: a damaged copy. (A core
            # may not hold the code it maps: its text is then address space alone.)
            continue
        gofunc = words[fields["gofunc"]] if "gofunc" in fields else None
        if gofunc is not None and container.section_at(gofunc) is None:
            gofunc = None  # points nowhere in the file: as good as unknown
        sect_ptr = words[fields["textsectmap"]]
        sect_len = container.read_plain_word(addr + word * (fields["textsectmap"] + 1))
        textsects = _read_textsects(container, sect_ptr, sect_len)
        s = container.section_at(addr)
        how = "pointer to the table" + (f" in {s.full_name}" if s else "")
        return ModuleData(addr, how, text, words[fields["etext"]],
                          words[fields["minpc"]], words[fields["maxpc"]], gofunc,
                          tuple(textsects))
    return None


def _read_textsects(container: Container, ptr: int,
                    count: int) -> tuple[tuple[int, int, int], ...]:
    """moduledata.textsectmap: [(vaddr, end, baseaddr)], () when implausible.

    vaddr and end are offsets from the text start (integers); baseaddr is a
    pointer; each is a uintptr. The runtime maps functab offsets through these only when there are
    several sections (moduledata.textOff), so a damaged map must not be used:
    sections must start at offset 0, be in order and not overlap.
    """
    if not 0 < count <= 256:
        return ()
    try:
        out = []
        word = container.ptr_size
        for i in range(count):
            at = ptr + 3 * word * i
            vaddr, end = container.read_plain_word(at), container.read_plain_word(at + word)
            out.append((vaddr, end, container.read_word(at + 2 * word)))
    except FormatError:
        return ()
    prev_end = prev_base = 0
    for i, (vaddr, end, base) in enumerate(out):
        if (i == 0 and vaddr != 0) or end < vaddr or vaddr < prev_end or base < prev_base:
            return ()
        prev_end, prev_base = end, base
    return tuple(out)
