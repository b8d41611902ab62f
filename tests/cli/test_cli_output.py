"""Exit codes, the error + Hint format, tracebacks, colour, quiet and progress output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Run, run_json
from click.testing import CliRunner

from vstore.cli.app import cli


@pytest.mark.parametrize(("args", "code"), [
    (["--help"], 0),
    (["ls", "--help"], 0),
    (["--version"], 0),
    (["nosuchcommand"], 2),
    (["ls", "--nosuchoption"], 2),
    (["ls", "--limit", "-1"], 2),
    (["diff", "a", "b", "c"], 2),
    (["ls", "--where", "("], 2),
    (["ls", "cars@"], 2),
    (["ls", "trucks"], 1),
    (["show", "nope"], 1),
    (["ls"], 0),
])
def test_exit_codes(run: Run, repo: Path, args: list[str], code: int) -> None:
    result = run(*args, ok=False)
    assert result.exit_code == code, result.stderr
    if code:
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error: ") and lines[1].startswith("Hint: ")
        assert len(lines) == 2 and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_verbose_shows_the_traceback(run: Run, repo: Path) -> None:
    for args in (["-v", "ls", "trucks"], ["ls", "trucks", "-v"]):
        r = run(*args, ok=False)
        assert r.exit_code == 1 and r.stderr.startswith("Traceback (most recent call last)")
        assert r.stderr.rstrip().splitlines()[-1].startswith("Hint: ")


def test_library_errors_get_a_hint(run: Run, repo: Path) -> None:
    run("publish")
    r = run("add", "imgs", ok=False)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0].startswith("error: version 'Current'")
    assert r.stderr.splitlines()[1].startswith("Hint: published versions never change")


def test_results_on_stdout_notes_on_stderr(run: Run, repo: Path) -> None:
    r = run("ls")
    assert "5 frames in cars@Current" in r.stderr and "frames in" not in r.stdout
    assert run("ls", "-q").stderr == ""
    added = run("add", "imgs")
    assert added.stdout.startswith("added 5 frames") and "Hint: " in added.stderr
    assert "Hint" not in run("add", "imgs", "--json").stderr
    json.loads(run("add", "imgs", "--json").stdout)


def _has_ansi(text: str) -> bool:
    return "\x1b[" in text


def test_colour_only_when_asked_and_never_with_no_color(run: Run, repo: Path) -> None:
    assert not _has_ansi(run("ls").stdout)  # not a terminal
    assert _has_ansi(run("--color", "always", "ls").stdout)
    assert not _has_ansi(run("--color", "always", "ls", env={"NO_COLOR": "1"}).stdout)
    assert _has_ansi(run("ls", env={"VSTORE_COLOR": "always"}).stdout)
    assert not _has_ansi(run("ls", env={"VSTORE_COLOR": "always", "NO_COLOR": "1"}).stdout)
    err = run("--color", "always", "ls", "trucks", ok=False).stderr
    assert _has_ansi(err)
    err = run("--color", "always", "ls", "trucks", ok=False, env={"NO_COLOR": "1"}).stderr
    assert not _has_ansi(err) and err.startswith("error: ")


def test_progress_bars_go_to_stderr_and_obey_flags(run: Run, repo: Path) -> None:
    always = {"VSTORE_PROGRESS": "always"}
    r = run("add", "imgs", env=always)
    assert "hash:" in r.stderr and "add:" in r.stderr and "scan" in r.stderr
    assert "hash" not in r.stdout
    assert "hash:" not in run("add", "imgs", "--no-progress", env=always).stderr
    assert "hash:" not in run("--quiet", "add", "imgs", env=always).stderr
    assert run("add", "imgs", "-q", env=always).stderr == ""
    assert "verify" in run("verify", env=always).stderr


def test_json_output_is_one_document(run: Run, repo: Path) -> None:
    data = run_json(run, "ls", "ls")
    assert data["count"] == 5
    runner = CliRunner()
    r = runner.invoke(cli, ["stats", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["frames"] == 5
