"""The state of one CLI invocation: flags, configuration, the open store, output helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vstore.cli.errors import CliError
from vstore.cli.output import color_wanted, dumps
from vstore.cli.progress import Bar, Progress

if TYPE_CHECKING:
    from vstore.cli.config import Config
    from vstore.datasets.store import Store

__all__ = ["Env", "get_env"]


class Env:
    """Flags and lazily opened resources of one invocation (``ctx.obj``).

    Args:
        cwd: the directory the command runs in (``-C``).
        store_flag: ``--store``.
        color_mode: ``--color``.
    """

    def __init__(self, cwd: Path, store_flag: str | None = None, color_mode: str = "auto") -> None:
        self.cwd = cwd
        self.store_flag = store_flag
        self._color_flag = color_mode
        self.json = False
        self.quiet = False
        self.verbose = 0
        self.no_progress = False
        self._config: Config | None = None
        self._stores: dict[str, Store] = {}

    # -- configuration ------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The resolved configuration (read once)."""
        if self._config is None:
            from vstore.cli.config import Config

            self._config = Config(self.cwd, store_flag=self.store_flag)
        return self._config

    def reset_config(self) -> None:
        """Forget the configuration read so far (after a command wrote it)."""
        self._config = None

    @property
    def color_mode(self) -> str:
        """``auto``, ``always`` or ``never``: the flag, else ``core.color``."""
        if self._color_flag != "auto":
            return self._color_flag
        if self._config is None and not os.environ.get("VSTORE_COLOR"):
            return "auto"  # don't read config files just to print
        return self.config.get("core.color") or "auto"

    @property
    def color(self) -> bool:
        """Colour on stdout."""
        return color_wanted(self.color_mode, sys.stdout)

    def progress(self) -> Progress:
        """Bars on stderr: off with ``--quiet``/``--no-progress``, else per ``core.progress``."""
        if self.quiet or self.no_progress:
            return Progress(False)
        mode = self.config.get("core.progress") or "auto"
        if mode == "auto":
            return Progress(sys.stderr.isatty())
        return Progress(mode == "always")

    @contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "it",
              bytes_: bool = False) -> Iterator[Bar]:
        """One progress bar for a named phase (see :meth:`Progress.phase`)."""
        with self.progress().phase(name, total, unit, bytes_) as bar:
            yield bar

    # -- stores -----------------------------------------------------------------------

    def store_url(self) -> str:
        """The store URL, or a CliError saying how to set one."""
        url = self.config.get("core.url")
        if not url:
            raise CliError(
                f"no vstore repository in {self.cwd} or its parents, and core.url is not set",
                "run `vstore init` here, pass --store URL, or set VSTORE_URL",
            )
        return url

    def store(self) -> Store:
        """The store of this invocation (opened once, closed when the command ends)."""
        url = self.store_url()
        return self.open_store(url, self.config.storage_options("storage"))

    def open_store(self, url: str, options: dict[str, Any] | None = None) -> Store:
        """Open ``url`` once per invocation; it is closed when the command ends."""
        store = self._stores.get(url)
        if store is None:
            import vstore

            single = (self.config.get("core.single_writer") or "false") == "true"
            store = vstore.open(url, options or None, single_writer=single)
            self._stores[url] = store
        return store

    def close(self) -> None:
        """Close every store opened."""
        stores, self._stores = list(self._stores.values()), {}
        for s in stores:
            s.close()

    def default_dataset(self) -> str | None:
        """``core.dataset``, if set."""
        return self.config.get("core.dataset")

    # -- output -------------------------------------------------------------------------

    def echo(self, text: str = "") -> None:
        """A line of results on stdout."""
        click.echo(text, color=self.color)

    def style(self, text: str, **kw: Any) -> str:
        """``text`` styled when stdout gets colour."""
        return click.style(text, **kw) if self.color else text

    def info(self, text: str) -> None:
        """A note on stderr (silent with ``--quiet``)."""
        if not self.quiet:
            click.echo(text, err=True, color=color_wanted(self.color_mode, sys.stderr))

    def hint(self, text: str) -> None:
        """A ``Hint:`` on stderr (silent with ``--quiet`` or ``--json``)."""
        if not self.quiet and not self.json:
            color = color_wanted(self.color_mode, sys.stderr)
            lead = click.style("Hint:", fg="yellow") if color else "Hint:"
            click.echo(f"{lead} {text}", err=True, color=color)

    def emit(self, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """Print a result: ``data`` as JSON with ``--json``, else through ``human()``."""
        if self.json:
            click.echo(dumps(data))
        elif human is not None:
            human()


def get_env() -> Env:
    """The Env of the running command."""
    ctx = click.get_current_context()
    env = ctx.find_object(Env)
    if env is None:  # a command invoked on its own (tests, docs)
        env = Env(Path.cwd())
        ctx.obj = env
    return env
