"""``gosym info`` output: what kind of Go binary this is and where its tables are."""

from __future__ import annotations

from . import Output, write_json


def info_dict(b) -> dict:
    h = b.table.header
    bi = b.buildinfo
    md = b.moduledata
    return {
        "path": b.path,
        "format": b.format,
        "arch": b.arch,
        "os": b.goos,
        "fat_slices": getattr(b.container, "slices", None),
        "core": None if not b.is_core else {
            "executable": b.executable_path, "load_slide": b.load_slide},
        "go_version": bi.go_version or "unknown",
        "go_version_source": bi.source,
        "pclntab": {
            "magic": h.magic_hex,
            "version": h.era,
            "address": b.location.address,
            "offset": b.location.offset,
            "size": b.location.size,
            "source": b.location.source,
            "quantum": h.quantum,
            "ptr_size": h.ptr_size,
        },
        "text_start": b.text_start,
        "text_start_source": b.text_start_source,
        "moduledata": None if md is None else {
            "address": md.address, "source": md.source, "text": md.text,
            "etext": md.etext, "gofunc": md.gofunc,
            "text_sections": len(md.textsect_map)},
        "has_symbols": b.container.has_symbols,
        **({"byte_order": "big"} if b.byte_order == "big" else {}),
        "functions": h.nfunc,
        "files": h.nfiles,
        "build": {
            "path": bi.path,
            "main": None if bi.main_module is None else
            {"path": bi.main_module[0], "version": bi.main_module[1], "sum": bi.main_module[2]},
            "deps": [{"path": d[0], "version": d[1], "sum": d[2]} for d in bi.deps],
            "settings": dict(bi.settings),
        },
    }


def write_info(out: Output, d: dict, fmt: str) -> None:
    """The document of :func:`info_dict` as "text" or "json"."""
    if fmt == "json":
        write_json(out, d, indent=2)
        return
    p = d["pclntab"]
    md = d["moduledata"]
    lines = [
        ("file", d["path"]),
        ("format", f"{d['format']} {d['arch']}" +
         (f" (fat: {', '.join(d['fat_slices'])})" if d["fat_slices"] and len(d["fat_slices"]) > 1
          else "") + (", big-endian" if d.get("byte_order") == "big" else "")),
        ("os", d["os"] or "unknown"),
    ]
    core = d["core"]
    if core is not None:
        lines.append(("core of", "read alone: the memory of the process, code included"
                      if core["executable"] is None else
                      f"{core['executable']} (load slide {core['load_slide']:#x}; "
                      "addresses are the process's)"))
    lines += [
        ("go version", f"{d['go_version']} (from {d['go_version_source']})"),
        ("pclntab", f"Go {p['version']}+ layout, magic {p['magic']}, {p['size']} bytes at "
                    f"{p['address']:#x} ({p['source']})"),
        ("text start", f"{d['text_start']:#x} (from {d['text_start_source']})"),
        ("moduledata", "not found" if md is None else
         f"{md['address']:#x} (found by {md['source']})"),
        ("symbols", "yes" if d["has_symbols"] else "no (stripped)"),
        ("functions", str(d["functions"])),
        ("files", str(d["files"])),
    ]
    build = d["build"]
    if build["path"]:
        lines.append(("main package", build["path"]))
    if build["main"]:
        lines.append(("main module", f"{build['main']['path']} {build['main']['version']}".strip()))
    for dep in build["deps"]:
        lines.append(("dependency", f"{dep['path']} {dep['version']}".strip()))
    for key, value in build["settings"].items():
        lines.append(("build setting", f"{key}={value}"))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        out.write(f"{k + ':':<{width + 1}} {v}\n".encode("utf-8", "replace"))
