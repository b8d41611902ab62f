"""Every ``python`` code block of the README and of docs/*.md runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks(ROOT / "README.md")
    assert blocks, "the README shows a Python example"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "b'frame-0007' modified" in out
    assert "b'frame-0008' deleted" in out
    assert "{'added': 0, 'modified': 0, 'deleted': 1}" in out
    assert (tmp_path / "data.vstore").is_dir() and (tmp_path / "engine.vstore").is_dir()


@pytest.mark.parametrize("doc", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_doc_examples_run(doc: str, tmp_path: Path) -> None:
    blocks = _python_blocks(ROOT / "docs" / doc)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/{doc} block {i + 1}", "exec"), {})
    finally:
        os.chdir(cwd)
