"""Regenerates the Python code for protos/genmedia/v1 (`make protos`); also used by the staleness test."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted((PROTO_DIR / "genmedia" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Writes *_pb2.py, *_pb2_grpc.py and *.pyi for every genmedia proto under out_dir/genmedia/v1."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(p.relative_to(PROTO_DIR)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    init = out_dir / "genmedia" / "v1" / "__init__.py"
    init.write_text('"""Generated from protos/genmedia/v1 by `make protos`; never edit by hand."""\n')


def main() -> None:
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)


if __name__ == "__main__":
    main()
