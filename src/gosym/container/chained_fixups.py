"""dyld chained fixups (LC_DYLD_CHAINED_FIXUPS): the pointers a Mach-O file stores encoded.

Apple's linker (ld64 for macOS 12+ targets, and ld-prime) no longer lists
rebases and binds as opcodes. Each pointer slot in the file holds its target
packed with the distance to the next slot of the same page, and the load
command's payload says where each page's chain starts. The layout used here is
Apple's ``mach-o/fixup-chains.h`` (dyld, ``include/mach-o/fixup-chains.h``):

* ``dyld_chained_fixups_header``: 7 x uint32; ``starts_offset`` locates
  ``dyld_chained_starts_in_image``.
* ``dyld_chained_starts_in_image``: ``seg_count``, then one uint32 per segment
  (in load-command order), the offset of that segment's
  ``dyld_chained_starts_in_segment`` from the start of this struct, 0 when the
  segment has no fixups.
* ``dyld_chained_starts_in_segment``: ``size`` u32, ``page_size`` u16,
  ``pointer_format`` u16, ``segment_offset`` u64 (from the image's mach header),
  ``max_valid_pointer`` u32, ``page_count`` u16, then ``page_start[page_count]``
  u16: offset of the page's first fixup, 0xFFFF for none; with bit 0x8000 set it
  indexes further ``page_start`` entries, a list of starts ended by one with
  0x8000 set (DYLD_CHAINED_PTR_START_MULTI / _LAST).

Pointer formats decoded (all 64-bit, bitfields from bit 0 up):

* DYLD_CHAINED_PTR_64 (2) and _64_OFFSET (6): rebase = target:36 high8:8
  reserved:7 next:12 bind:1; bind = ordinal:24 addend:8 reserved:19 next:12
  bind:1. Stride 4. The target is a vmaddr (2) or an offset from the image
  base (6); high8 goes to the top byte.
* DYLD_CHAINED_PTR_ARM64E (1), _ARM64E_USERLAND (9), _ARM64E_USERLAND24 (12):
  the top bits are auth:1 (63) and bind:1 (62), next:11 at bit 51, stride 8.
  A plain rebase is target:43 high8:8 (target a vmaddr for 1, an image offset
  for 9 and 12); an authenticated rebase is target:32 (always an image offset)
  plus signing data; binds name an import.

A bind refers to a symbol of another library: its value is known only at run
time, so it reads as 0 here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .._lazy import np

from ..errors import FormatError, UnsupportedError

PTR_ARM64E = 1
PTR_64 = 2
PTR_64_OFFSET = 6
PTR_ARM64E_USERLAND = 9
PTR_ARM64E_USERLAND24 = 12
_ARM64E_FORMATS = (PTR_ARM64E, PTR_ARM64E_USERLAND, PTR_ARM64E_USERLAND24)
_FORMAT_NAMES = {1: "ARM64E", 2: "64", 3: "32", 4: "32_CACHE", 5: "32_FIRMWARE", 6: "64_OFFSET",
                 7: "ARM64E_KERNEL", 8: "64_KERNEL_CACHE", 9: "ARM64E_USERLAND",
                 10: "ARM64E_FIRMWARE", 11: "X86_64_KERNEL_CACHE", 12: "ARM64E_USERLAND24",
                 13: "ARM64E_SHARED_CACHE", 14: "ARM64E_SEGMENTED"}
_START_NONE = 0xFFFF
_START_MULTI = 0x8000  # also DYLD_CHAINED_PTR_START_LAST in the list it points to


@dataclass(frozen=True)
class Segment:
    """An LC_SEGMENT_64 command, as far as fixups need it."""

    vmaddr: int
    vmsize: int
    fileoff: int  # absolute in the file (fat slice offset included)
    filesize: int


@dataclass(frozen=True)
class _SegmentStarts:
    segment: Segment
    page_size: int
    pointer_format: int
    first_page_addr: int  # image base + segment_offset
    page_starts: tuple[tuple[int, ...], ...]  # per page: offsets of its chains' first slots


def _decode(raw: int, fmt: int, image_base: int) -> tuple[int, bool, int]:
    """(value, is_bind, bytes to the next slot; 0 ends the chain) of one slot."""
    if fmt in (PTR_64, PTR_64_OFFSET):
        step = ((raw >> 51) & 0xFFF) * 4
        if raw >> 63:
            return 0, True, step
        target = raw & 0xF_FFFF_FFFF
        if fmt == PTR_64_OFFSET:
            target += image_base
        return target | (((raw >> 36) & 0xFF) << 56), False, step
    step = ((raw >> 51) & 0x7FF) * 8
    auth, bind = raw >> 63, (raw >> 62) & 1
    if bind:
        return 0, True, step
    if auth:  # dyld_chained_ptr_arm64e_auth_rebase: target is a runtime offset
        return image_base + (raw & 0xFFFF_FFFF), False, step
    target = raw & ((1 << 43) - 1)
    if fmt != PTR_ARM64E:
        target += image_base
    return target | (((raw >> 43) & 0xFF) << 56), False, step


class ChainedFixups:
    """The fixups of one image, decoded page by page on demand."""

    def __init__(self, data, payload_offset: int, payload_size: int,
                 segments: list[Segment], image_base: int) -> None:
        self.data = data
        self.image_base = image_base
        end = payload_offset + payload_size
        if payload_size < 28 or end > len(data):
            raise FormatError("LC_DYLD_CHAINED_FIXUPS payload lies outside the file")
        payload = bytes(data[payload_offset:end])
        version, starts_offset = struct.unpack_from("<II", payload, 0)
        if version != 0:
            raise UnsupportedError(f"chained fixups version {version} is not supported")
        self.starts: list[_SegmentStarts] = []
        try:
            seg_count, = struct.unpack_from("<I", payload, starts_offset)
            offsets = struct.unpack_from(f"<{seg_count}I", payload, starts_offset + 4)
            for i, seg_info in enumerate(offsets):
                if seg_info == 0:
                    continue
                if i >= len(segments):
                    raise FormatError(f"chained fixups name segment {i}, but the file has "
                                      f"{len(segments)}")
                self.starts.append(self._segment_starts(payload, starts_offset + seg_info,
                                                        segments[i]))
        except struct.error:
            raise FormatError("malformed LC_DYLD_CHAINED_FIXUPS payload: it ends early") from None
        self._pages: dict[tuple[int, int], list[tuple[int, int, bool]]] = {}
        self._all: tuple[np.ndarray, np.ndarray] | None = None

    def _segment_starts(self, payload: bytes, at: int, segment: Segment) -> _SegmentStarts:
        size, page_size, fmt, seg_offset, _max_valid, page_count = \
            struct.unpack_from("<IHHQIH", payload, at)
        if fmt not in (PTR_64, PTR_64_OFFSET) + _ARM64E_FORMATS:
            raise UnsupportedError(f"chained fixup pointer format {fmt} "
                                   f"(DYLD_CHAINED_PTR_{_FORMAT_NAMES.get(fmt, '?')}) is not "
                                   "supported")
        if page_size == 0:
            raise FormatError("chained fixups: page size 0")
        # page_start, possibly followed by the lists that MULTI entries point into.
        n_entries = max(page_count, (size - 22) // 2)
        entries = struct.unpack_from(f"<{n_entries}H", payload, at + 22)
        pages = []
        for p in range(page_count):
            start = entries[p]
            if start == _START_NONE:
                pages.append(())
            elif start & _START_MULTI:
                starts, k = [], start & ~_START_MULTI
                while k < len(entries):
                    starts.append(entries[k] & ~_START_MULTI)
                    if entries[k] & _START_MULTI:
                        break
                    k += 1
                pages.append(tuple(starts))
            else:
                pages.append((start,))
        return _SegmentStarts(segment, page_size, fmt, self.image_base + seg_offset, tuple(pages))

    # --- decoding ----------------------------------------------------------------
    def _page(self, k: int, p: int) -> list[tuple[int, int, bool]]:
        """(slot address, value, is_bind) of every fixup on page p of segment starts k."""
        key = (k, p)
        hit = self._pages.get(key)
        if hit is not None:
            return hit
        s = self.starts[k]
        seg = s.segment
        page_addr = s.first_page_addr + p * s.page_size
        out = []
        for first in s.page_starts[p]:
            addr = page_addr + first
            while True:
                off = seg.fileoff + (addr - seg.vmaddr)
                if not (seg.vmaddr <= addr and addr + 8 <= seg.vmaddr + seg.filesize) or \
                        off + 8 > len(self.data):
                    raise FormatError(f"chained fixup at {addr:#x} lies outside its segment")
                raw = int.from_bytes(self.data[off:off + 8], "little")
                value, is_bind, step = _decode(raw, s.pointer_format, self.image_base)
                out.append((addr, value, is_bind))
                if step == 0:
                    break
                addr += step
        self._pages[key] = out
        return out

    def _pages_overlapping(self, lo: int, hi: int):
        for k, s in enumerate(self.starts):
            first = s.first_page_addr
            last = first + len(s.page_starts) * s.page_size
            if hi <= first or lo >= last:
                continue
            p0 = max(0, (lo - first) // s.page_size)
            p1 = min(len(s.page_starts), (hi - 1 - first) // s.page_size + 1)
            for p in range(p0, p1):
                yield k, p

    def in_range(self, lo: int, hi: int) -> list[tuple[int, int, bool]]:
        """Fixups whose 8-byte slot overlaps [lo, hi), in address order."""
        out = []
        for k, p in self._pages_overlapping(lo - 7, hi):
            out.extend(f for f in self._page(k, p) if lo < f[0] + 8 and f[0] < hi)
        out.sort()
        return out

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """(slot addresses, values) of every rebase, sorted by address; binds read as 0."""
        if self._all is None:
            rows = [f for k, s in enumerate(self.starts)
                    for p in range(len(s.page_starts)) for f in self._page(k, p)]
            rows.sort()
            self._all = (np.array([r[0] for r in rows], dtype=np.uint64),
                         np.array([r[1] for r in rows], dtype=np.uint64))
        return self._all

    def word_at(self, addr: int) -> int | None:
        """The value the fixup at addr stores (0 for a bind), None if no fixup is there."""
        for slot, value, _bind in self.in_range(addr, addr + 1):
            if slot == addr:
                return value
        return None
