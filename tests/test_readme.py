"""The README's quick start runs as written, and its test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_start_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python quick start"
    exec(compile(blocks[0], "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "SparseMatrix(shape=(3, 3), nnz=4" in printed


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    command = re.search(r"TEST_COMMAND='(.*)'", ci)
    assert command is not None
    assert command.group(1) in (REPO / "README.md").read_text()
