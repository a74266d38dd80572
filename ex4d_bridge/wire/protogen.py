"""Regenerate the Python code of the wire contract from ``proto/ex4d/v1/*.proto``.

    python -m ex4d_bridge.wire.protogen          # rewrite ex4d_bridge/wire/_proto/ex4d/v1/
    python -m ex4d_bridge.wire.protogen --check  # exit 1 if the package copy is stale

The generated modules import each other as ``ex4d.v1.*`` (protoc's bare imports), so they live
under ``ex4d_bridge/wire/_proto/`` laid out by package path and ``ex4d_bridge.wire._proto``
puts that folder on ``sys.path``. Needs grpcio-tools (a development dependency). The .proto
sources live in the repository, not in the installed package: run this from a checkout.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import Ex4dError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
PACKAGE_ROOT = Path(__file__).resolve().parent / "_proto"
PROTO_PACKAGE_DIR = Path("ex4d") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    files = sorted((proto_root / PROTO_PACKAGE_DIR).glob("*.proto"))
    if not files:
        raise Ex4dError(f"no .proto files under {proto_root / PROTO_PACKAGE_DIR}")
    return files


def generate(out_root: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc (from grpcio-tools) on every contract file; returns the files written,
    relative to ``out_root``."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise Ex4dError("grpcio-tools is not installed: pip install grpcio-tools") from None
    import importlib.resources

    out_root.mkdir(parents=True, exist_ok=True)
    # protoc's own well-known types (none used today, but imports of them must resolve).
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    rel = [str(p.relative_to(proto_root)) for p in proto_files(proto_root)]
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *rel,
    ]
    code = protoc.main(args)
    if code != 0:
        raise Ex4dError(f"protoc failed with status {code}")
    return sorted(
        p.relative_to(out_root)
        for p in (out_root / PROTO_PACKAGE_DIR).iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    )


def stale_files(package_root: Path = PACKAGE_ROOT, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Generated files that differ from, or are missing in, or are extra in the package copy."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = set(generate(Path(tmp), proto_root))
        present = {
            p.relative_to(package_root)
            for p in (package_root / PROTO_PACKAGE_DIR).glob("*")
            if p.name.endswith(GENERATED_SUFFIXES)
        }
        out = [str(p) for p in sorted(fresh ^ present)]
        out += [
            str(p)
            for p in sorted(fresh & present)
            if not filecmp.cmp(Path(tmp) / p, package_root / p, shallow=False)
        ]
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale files")
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    target = PACKAGE_ROOT / PROTO_PACKAGE_DIR
    for p in target.glob("*"):
        if p.name.endswith(GENERATED_SUFFIXES):
            p.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for rel in generate(Path(tmp)):
            shutil.copyfile(Path(tmp) / rel, PACKAGE_ROOT / rel)
            print(f"wrote {PACKAGE_ROOT / rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
