"""Options every command shares, and version-address arguments with shell completion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from vstore.cli.context import get_env

__all__ = [
    "ADDRESS_HELP",
    "address_argument",
    "common",
    "json_option",
    "parse_meta",
    "resolve_address",
    "version_option",
]

F = TypeVar("F", bound=Callable[..., Any])

ADDRESS_HELP = (
    "A version address: DATASET, DATASET@VERSION, DATASET@current, @VERSION, a version id "
    "or a commit id prefix, each optionally followed by ~N (N versions back)."
)


def _set(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        env = get_env()
        if attr == "verbose":
            env.verbose = max(env.verbose, int(value or 0))
        elif value:
            setattr(env, attr, True)

    return callback


def common(f: F) -> F:
    """Add ``-q/--quiet``, ``-v/--verbose`` and ``--no-progress`` to a command."""
    f = click.option("--no-progress", is_flag=True, expose_value=False,
                     callback=_set("no_progress"), help="Do not show progress bars.")(f)
    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=_set("verbose"),
                     help="Show tracebacks of errors.")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set("quiet"),
                     help="Print only results and errors.")(f)
    return f


def json_option(f: F) -> F:
    """Add ``--json`` (the schema is in ``vstore.cli.schemas`` and docs/cli.md)."""
    return click.option("--json", "json_", is_flag=True, expose_value=False,
                        callback=_set("json"),
                        help="Print the result as JSON (schema in docs/cli.md).")(f)


def _complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from pathlib import Path

    from vstore.cli.context import Env

    # Completion runs without an invoked command: no current context, maybe no Env.
    env = ctx.find_object(Env) or Env(Path.cwd())
    try:
        from vstore.cli.address import complete

        names = complete(env.store(), incomplete)
    except Exception:  # completion must never print a traceback into the shell
        return []
    finally:
        env.close()
    return [CompletionItem(n) for n in names]


def address_argument(name: str = "version", required: bool = False) -> Callable[[F], F]:
    """A positional version address (default ``@current``)."""
    metavar = name.upper() if required else f"[{name.upper()}]"
    return click.argument(name, required=required, metavar=metavar, shell_complete=_complete)


def version_option() -> Callable[[F], F]:
    """``-V/--version ADDRESS`` (default ``@current``)."""
    return click.option("-V", "--version", "version", metavar="ADDRESS", default=None,
                        shell_complete=_complete,
                        help="The version (default: the default dataset's current version).")


def resolve_address(text: str | None) -> Any:
    """Resolve an address in the invocation's store (``@current`` if None)."""
    from vstore.cli.address import resolve

    env = get_env()
    return resolve(env.store(), text or "@current", env.default_dataset())


def parse_meta(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs as a dict; a value that parses as JSON (numbers, true, lists) is typed.

    Raises:
        click.BadParameter: a pair without ``=``.
    """
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
