"""The root ``vstore`` command: global options, error handling, and the command list."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from vstore.cli.context import Env
from vstore.cli.errors import EXIT_ERROR, EXIT_USAGE, CliError, report, report_exception

__all__ = ["SECTIONS", "VGroup", "cli"]

#: Sections of ``vstore --help``, in order, with their commands.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Start": ("init", "config", "doctor", "completion"),
    "Datasets and versions": ("dataset", "version"),
    "Frames": ("add", "ls", "show", "stats", "import", "export", "download", "sync"),
    "History": ("commit", "publish", "snapshot", "fork", "merge", "log", "diff"),
    "Remotes": ("remote", "push", "pull"),
    "Maintenance": ("verify", "gc"),
}


class VGroup(click.Group):
    """A group that reports errors as ``error:`` + ``Hint:`` lines and lists its commands
    in sections."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except CliError as exc:
            env = ctx.find_object(Env)
            ctx.exit(report_exception(exc, bool(env and env.verbose)))
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (`vstore ls | head`): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            report("interrupted", None)
            ctx.exit(130)
        except Exception as exc:
            env = ctx.find_object(Env)
            code = report_exception(exc, bool(env and env.verbose))
            ctx.exit(code)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; usage errors print ``error:`` + ``Hint:`` and exit 2."""
        code = 0
        try:
            # Always "vstore": the name in usage lines and in the completion variable,
            # whatever script or runner started it.
            rv = super().main(args, "vstore", complete_var or "_VSTORE_COMPLETE",
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except click.UsageError as exc:
            cmd = exc.ctx.command_path if exc.ctx is not None else "vstore"
            report(exc.format_message(), f"see `{cmd} --help`")
            code = EXIT_USAGE
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.Abort:
            report("aborted", None)
            code = EXIT_ERROR
        if standalone_mode:
            sys.exit(code)
        return code

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed: set[str] = set()
        for title, names in SECTIONS.items():
            rows = self._rows(ctx, names, formatter)
            listed.update(names)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [n for n in self.list_commands(ctx) if n not in listed]
        rows = self._rows(ctx, rest, formatter)
        if rows:
            with formatter.section("Other commands"):
                formatter.write_dl(rows)

    def _rows(self, ctx: click.Context, names: Sequence[str],
              formatter: click.HelpFormatter) -> list[tuple[str, str]]:
        rows = []
        for name in names:
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6)))
        return rows


def _version_text() -> str:
    from vstore import __version__

    return __version__


@click.group(cls=VGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", type=click.Path(file_okay=False), default=None,
              help="Run as if vstore was started in this directory.")
@click.option("-S", "--store", "store", metavar="URL", default=None,
              help="The store to use (overrides VSTORE_URL and core.url).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour output; NO_COLOR in the environment turns it off.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("-v", "--verbose", count=True, help="Show tracebacks of errors.")
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
@click.version_option(package_name="vstore", prog_name="vstore", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, directory: str | None, store: str | None, color: str, quiet: bool,
        verbose: int, no_progress: bool) -> None:
    """vstore: a git-like versioned store for ML datasets.

    A store holds datasets; a dataset holds versions (drafts you write, published versions
    that never change); a version holds frames (a source file, its annotations and metadata).
    Every version state is a commit: address one as DATASET@VERSION (see `vstore ls --help`).
    """
    cwd = Path(directory).resolve() if directory else Path.cwd()
    if directory and not cwd.is_dir():
        raise click.BadParameter(f"{directory!r} is not a directory", param_hint="-C")
    env = Env(cwd, store, color)
    env.quiet, env.verbose, env.no_progress = quiet, verbose, no_progress
    ctx.obj = env
    ctx.call_on_close(env.close)


def _register() -> None:
    from vstore.cli.cmd_datasets import COMMANDS as datasets
    from vstore.cli.cmd_diff import COMMANDS as diff
    from vstore.cli.cmd_frames import COMMANDS as frames
    from vstore.cli.cmd_history import COMMANDS as history
    from vstore.cli.cmd_remote import COMMANDS as remote
    from vstore.cli.cmd_repo import COMMANDS as repo
    from vstore.cli.cmd_transfer import COMMANDS as transfer

    for group in (repo, datasets, frames, history, diff, transfer, remote):
        for command in group:
            cli.add_command(command)


_register()
