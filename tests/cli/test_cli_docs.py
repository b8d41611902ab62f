"""docs/cli.md is generated from the commands, and every --json output has a schema."""

from __future__ import annotations

from pathlib import Path

import click

from vstore.cli._docgen import MARKER, generate, generated_part
from vstore.cli.app import cli
from vstore.cli.schemas import COMMANDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands() -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: str) -> None:
        out[path] = cmd
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())

    walk(cli, "")
    return out


def test_reference_matches_the_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert MARKER in text, "docs/cli.md keeps its hand-written introduction above the marker"
    assert generated_part(DOC) == generate(), (
        "docs/cli.md is stale: run `python -m vstore.cli._docgen --write docs/cli.md`")


def test_every_command_is_documented() -> None:
    text = generate()
    for path, cmd in _commands().items():
        if path:
            assert f"### `vstore {path}`" in text
            assert (cmd.help or "").strip(), f"vstore {path} has no help text"


def test_every_json_option_has_a_schema() -> None:
    with_json = {path for path, cmd in _commands().items()
                 if any("--json" in p.opts for p in cmd.params)}
    assert with_json == set(COMMANDS)
