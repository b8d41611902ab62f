"""Fixtures of the CLI tests: an isolated home and working directory, images, a runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import write_png
from click.testing import CliRunner, Result

from vstore.cli.app import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment: HOME and XDG_CONFIG_HOME in tmp, no VSTORE_* or NO_COLOR, cwd
    in ``tmp_path/work``."""
    for key in list(os.environ):
        if key.startswith("VSTORE_") or key == "NO_COLOR":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


Run = Callable[..., Result]


@pytest.fixture
def run(home: Path) -> Run:
    """``run(*args, env=None, ok=True)``: invoke the CLI in-process; with ``ok`` (the
    default) the exit code must be 0."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, ok: bool = True,
               input: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), env=env, input=input)
        if ok and result.exit_code != 0:
            raise AssertionError(f"vstore {' '.join(args)} exited {result.exit_code}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    return invoke


@pytest.fixture
def images(home: Path) -> Path:
    """``imgs/`` with five PNGs (two in a subfolder) and one text file."""
    root = home / "imgs"
    for i in range(3):
        write_png(root / f"car{i}.png", 40 + i, 30)
    for i in range(2):
        write_png(root / "more" / f"bus{i}.png", 20, 10 + i)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def repo(run: Run, images: Path) -> Path:
    """A repository with dataset ``cars``: five images added and committed."""
    run("init", "--dataset", "cars")
    run("add", "imgs")
    run("commit")
    return images.parent
