"""An ELF core file (gdb's ``gcore``, the kernel's dump, qemu-user's dump).

The file is memory-mapped and read through its PT_LOAD table, never whole:
cores of Go processes are huge and sparse (the runtime reserves address space
that gcore writes out as zeros). Notes (elf(5), include/uapi/linux/elf.h):
NT_PRSTATUS per thread (pid at byte 32, registers at 112: struct elf_prstatus),
NT_AUXV, and NT_FILE, which maps file-backed memory to files: memory a core
leaves out (the kernel skips read-only file mappings such as the executable's
text) is read from the executable when it is one of those files.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct

from .base import (PRSTATUS_WORDS, Mapping, Target, TargetAccessError, TargetError,
                   TargetMemoryError, Thread, parse_auxv, registers_from_prstatus)

PT_LOAD = 1
PT_NOTE = 4
NT_PRSTATUS = 1
NT_AUXV = 6
NT_FILE = 0x46494C45
_MACHINES = {62: "amd64", 183: "arm64"}
_PRSTATUS_PID = 32
_PRSTATUS_REGS = 112


class CoreFormatError(TargetError):
    pass


class CoreTarget(Target):
    kind = "core"

    def __init__(self, path: str, executable: str | None = None) -> None:
        self.path = path
        self.description = f"core file {path}"
        try:
            self._file = open(path, "rb")
        except FileNotFoundError:
            raise TargetAccessError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise TargetAccessError(f"{path}: is a directory") from None
        except PermissionError:
            raise TargetAccessError(f"{path}: permission denied") from None
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size < 64:
                raise CoreFormatError(f"{path}: not an ELF core file (too short)")
            self._buf = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._parse_header(size)
            self._parse_notes()
        except BaseException:
            self.close()
            raise
        self._executable = executable
        self._exe_file = None
        self._exe_maps: list[tuple[int, int, int]] = []  # (start, end, file offset)

    # --- parsing ---------------------------------------------------------------------
    def _parse_header(self, size: int) -> None:
        b = self._buf
        if b[:4] != b"\x7fELF":
            raise CoreFormatError(f"{self.path}: not an ELF file")
        if b[4] != 2 or b[5] != 1:
            raise CoreFormatError(f"{self.path}: not a 64-bit little-endian ELF file")
        e_type, e_machine = struct.unpack_from("<HH", b, 16)
        if e_type != 4:
            kind = {2: "an executable", 3: "a shared object or PIE executable",
                    1: "a relocatable object"}.get(e_type, f"ELF type {e_type}")
            raise CoreFormatError(f"{self.path}: not a core file ({kind})")
        if e_machine not in _MACHINES:
            raise CoreFormatError(f"{self.path}: core of an unsupported architecture "
                                  f"(e_machine {e_machine})")
        self.arch = _MACHINES[e_machine]
        phoff, = struct.unpack_from("<Q", b, 32)
        phentsize, phnum = struct.unpack_from("<HH", b, 54)
        if phnum == 0xFFFF or phoff + phnum * phentsize > size or phentsize < 56:
            raise CoreFormatError(f"{self.path}: truncated or malformed program header table")
        loads = []
        self._notes: list[tuple[int, int]] = []
        for i in range(phnum):
            p_type, _flags, off, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
                "<IIQQQQQQ", b, phoff + i * phentsize)
            if p_type == PT_LOAD:
                if filesz and off + filesz > size:
                    raise CoreFormatError(
                        f"{self.path}: truncated core: the segment at {vaddr:#x} needs file "
                        f"bytes up to {off + filesz:#x}, the file has {size:#x}")
                loads.append((vaddr, memsz, off, filesz))
            elif p_type == PT_NOTE:
                if off + filesz > size:
                    raise CoreFormatError(f"{self.path}: truncated core: the notes end past "
                                          "the end of the file")
                self._notes.append((off, filesz))
        loads.sort()
        self._loads = loads
        self._starts = [v for v, *_ in loads]

    def _iter_notes(self):
        b = self._buf
        for off, size in self._notes:
            pos, end = off, off + size
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", b, pos)
                name_at = pos + 12
                desc_at = name_at + ((namesz + 3) & ~3)
                nxt = desc_at + ((descsz + 3) & ~3)
                if nxt > end:
                    raise CoreFormatError(f"{self.path}: malformed note at byte {pos:#x}")
                yield ntype, b[desc_at:desc_at + descsz]
                pos = nxt

    def _parse_notes(self) -> None:
        threads = []
        self._auxv: dict[int, int] = {}
        self._files: list[Mapping] = []
        words = PRSTATUS_WORDS[self.arch]
        for ntype, desc in self._iter_notes():
            if ntype == NT_PRSTATUS and len(desc) >= _PRSTATUS_REGS + words * 8:
                tid, = struct.unpack_from("<i", desc, _PRSTATUS_PID)
                regs = struct.unpack_from(f"<{words}Q", desc, _PRSTATUS_REGS)
                threads.append(Thread(tid, registers_from_prstatus(self.arch, regs)))
            elif ntype == NT_AUXV:
                self._auxv = parse_auxv(desc)
            elif ntype == NT_FILE:
                self._files = _parse_nt_file(desc)
        if not threads:
            raise CoreFormatError(f"{self.path}: the core has no thread (NT_PRSTATUS) notes")
        self._threads = threads

    # --- the executable's file-backed memory -------------------------------------------------
    def attach_executable(self, path: str, bias: int, segments: list[tuple[int, int, int]]) -> None:
        """Read memory the core left out from the executable: segments are its
        (file vaddr, file size, file offset) PT_LOADs, placed at vaddr + bias."""
        self._exe_maps = sorted((v + bias, v + bias + n, off) for v, n, off in segments)
        self._exe_path = path

    def _read_exe(self, addr: int, size: int) -> bytes | None:
        for start, end, off in self._exe_maps:
            if start <= addr and addr + size <= end:
                if self._exe_file is None:
                    self._exe_file = open(self._exe_path, "rb")
                self._exe_file.seek(off + addr - start)
                data = self._exe_file.read(size)
                return data if len(data) == size else None
        return None

    # --- Target -------------------------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        first = self._read_piece(addr, size)
        if len(first) == size:
            return first
        # The range continues in the next segment (adjacent mappings, e.g. a
        # PIE's .data and .bss): read it piece by piece.
        parts = [first]
        done = len(first)
        while done < size:
            piece = self._read_piece(addr + done, size - done)
            parts.append(piece)
            done += len(piece)
        return b"".join(parts)

    def _read_piece(self, addr: int, size: int) -> bytes:
        """Bytes from addr up to size or the end of the segment holding addr."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            vaddr, memsz, off, filesz = self._loads[i]
            if addr < vaddr + memsz:
                n = min(size, vaddr + memsz - addr)
                if addr + n <= vaddr + filesz:
                    start = off + addr - vaddr
                    return self._buf[start:start + n]
                data = self._read_exe(addr, n)
                if data is not None:
                    return data
                raise TargetMemoryError(f"{n} bytes at {addr:#x} are not in the core file")
        data = self._read_exe(addr, size)
        if data is not None:
            return data
        raise TargetMemoryError(f"address {addr:#x} is not mapped in the core")

    def threads(self) -> list[Thread]:
        return list(self._threads)

    def auxv(self) -> dict[int, int]:
        return dict(self._auxv)

    def mappings(self) -> list[Mapping]:
        return list(self._files)

    def close(self) -> None:
        for name in ("_buf", "_file", "_exe_file"):
            f = getattr(self, name, None)
            if f is not None:
                try:
                    f.close()
                except (BufferError, OSError):
                    pass
                setattr(self, name, None)


def _parse_nt_file(desc) -> list[Mapping]:
    """NT_FILE: count, page size, count x (start, end, file page), then the
    NUL-terminated file names in the same order (fs/binfmt_elf.c fill_files_note)."""
    if len(desc) < 16:
        return []
    count, page = struct.unpack_from("<QQ", desc, 0)
    if 16 + count * 24 > len(desc):
        return []
    names = bytes(desc[16 + count * 24:]).split(b"\0")
    out = []
    for i in range(count):
        start, end, pgoff = struct.unpack_from("<QQQ", desc, 16 + i * 24)
        name = names[i].decode("utf-8", "replace") if i < len(names) else None
        out.append(Mapping(start, end, pgoff * page, name))
    return out
