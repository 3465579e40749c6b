"""Regenerate src/gosym/pprof/profile_pb2.py from profile.proto.

Needs grpcio-tools (it bundles protoc): pip install grpcio-tools. Raise the
`protobuf` lower bound in pyproject.toml to the runtime version the generated
file checks for (its ValidateProtobufRuntimeVersion call) when protoc changes.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PKG = HERE.parent / "src" / "gosym" / "pprof"


def main() -> int:
    try:
        from grpc_tools import protoc
    except ImportError:
        print("gen_profile_pb2: needs grpcio-tools (pip install grpcio-tools)", file=sys.stderr)
        return 2
    rc = protoc.main(["protoc", f"--proto_path={PKG}", f"--python_out={PKG}", "profile.proto"])
    if rc == 0:
        print(f"gen_profile_pb2: wrote {PKG / 'profile_pb2.py'}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
