"""The committed generated code is exactly what `make protos` makes from protos/genmedia/v1."""

from __future__ import annotations

from pathlib import Path

from genmedia.protogen import generate
from tests.conftest import ROOT


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "genmedia" / "v1").iterdir()}
    committed_dir = ROOT / "genmedia" / "v1"
    committed = {p.relative_to(ROOT): p.read_bytes() for p in committed_dir.iterdir() if p.is_file()}
    assert set(fresh) == set(committed), "files differ: run `make protos` and commit"
    stale = [str(path) for path, data in fresh.items() if committed[path] != data]
    assert not stale, f"stale generated code, run `make protos`: {stale}"
