"""The Python-client examples of the README and docs/client.md, each run as its own script against the
stack `make run` starts: an example that no longer works fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack

BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    found = []
    for doc in ("README.md", "docs/client.md"):
        blocks = [b for b in BLOCK.findall((ROOT / doc).read_text()) if "from genmedia import" in b]
        found += [(f"{doc}#{n}", block) for n, block in enumerate(blocks, 1)]
    return found


def test_the_docs_have_client_examples() -> None:
    names = [name for name, _ in examples()]
    assert any(n.startswith("README.md") for n in names) and sum(n.startswith("docs/") for n in names) >= 5


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_example_runs(stack: RunningStack, tmp_path: Path, name: str, code: str) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], env=stack.env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"{name}:\n{code}\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr, result.stderr
