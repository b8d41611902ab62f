"""How the CLI reports a failure: one line saying what went wrong, one ``Hint:`` line.

Exit codes: 0 success, 1 error, 2 usage error (a bad option, argument or query).
"""

from __future__ import annotations

import sys
import traceback

import click

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "CliError", "CliUsageError", "hint_for", "report"]

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A failure the CLI explains itself.

    Args:
        message: what went wrong (one line).
        hint: what to do about it.
    """

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def show(self, file: object = None) -> None:
        report(self.message, self.hint)


class CliUsageError(CliError):
    """A usage error found after parsing (a malformed address, clashing options)."""

    exit_code = EXIT_USAGE


def _color() -> bool:
    from vstore.cli.output import stream_color

    return stream_color(sys.stderr)


def report(message: str, hint: str | None) -> None:
    """Print ``error: message`` and ``Hint: hint`` on stderr."""
    color = _color()
    head = click.style("error:", fg="red", bold=True) if color else "error:"
    click.echo(f"{head} {message}", err=True, color=color)
    if hint:
        lead = click.style("Hint:", fg="yellow") if color else "Hint:"
        click.echo(f"{lead} {hint}", err=True, color=color)


_HINTS = {
    "not_found": "list what exists with `vstore dataset list` or `vstore version list DATASET`",
    "missing_object": "the store is incomplete: run `vstore verify` to see what is missing",
    "local_file_not_found": "check the path",
    "already_exists": "choose another name, or use the existing one",
    "usage": "see `vstore COMMAND --help`",
    "invalid_argument": "see `vstore COMMAND --help`",
    "wrong_type": "see `vstore COMMAND --help`",
    "read_only": "published versions never change: edit a draft child "
    "(`vstore snapshot`, or `vstore version create DATASET NAME --from VERSION`)",
    "conflict": "another writer changed it meanwhile: run the command again",
    "merge_conflict": "pick a side with `--strategy ours`, `--strategy theirs` or "
    "`--strategy report`",
    "corrupt_object": "run `vstore verify`; restore the store from a copy or `vstore pull` "
    "the version again",
    "too_large": "split the input into smaller pieces",
    "invalid_query": "see the q language in `vstore ls --help`",
    "no_data": "nothing matched: check the version and the filters",
    "format": "fix the file at the place shown",
    "backend": "check the store URL (`vstore config get core.url --show-origin`) and "
    "credentials (`vstore doctor`)",
    "unsafe_backend": "this filesystem cannot create files atomically: set "
    "`vstore config set core.single_writer true` if only one process ever writes",
}
_USAGE_KINDS = frozenset({"usage", "invalid_argument", "wrong_type", "invalid_query"})


def hint_for(exc: BaseException) -> tuple[str, str | None, int]:
    """The message, hint and exit code for an exception the CLI did not expect by name."""
    from vstore.errors import VStoreError

    if isinstance(exc, VStoreError):
        code = EXIT_USAGE if exc.kind in _USAGE_KINDS else EXIT_ERROR
        return str(exc), _HINTS.get(exc.kind, "run again with -v for the details"), code
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", "check the file's permissions", 1
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {exc.filename or exc}", "check the path", 1
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}", "check the path, the disk and the network", 1
    return (
        f"unexpected {type(exc).__name__}: {exc}",
        "run again with -v for the traceback, and report it as a bug",
        EXIT_ERROR,
    )


def report_exception(exc: BaseException, verbose: bool) -> int:
    """Print an exception the CLI's way; return the exit code."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, CliError):
        report(exc.message, exc.hint)
        return exc.exit_code
    message, hint, code = hint_for(exc)
    report(message, hint)
    return code
