"""Named remote stores, and ``push`` / ``pull`` of versions between stores."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from vstore.cli.context import Env, get_env
from vstore.cli.errors import CliError, CliUsageError
from vstore.cli.options import ADDRESS_HELP, common, json_option
from vstore.cli.output import human_bytes, plural, table

if TYPE_CHECKING:
    from vstore.cli.replicate import CopyReport
    from vstore.datasets.registry import VersionState
    from vstore.datasets.store import Store

__all__ = ["COMMANDS"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@click.group()
def remote() -> None:
    """Manage named remote stores (kept in the config as remote.NAME.url)."""


@remote.command("list")
@common
@json_option
def remote_list() -> None:
    """List the remotes."""
    env = get_env()
    remotes = env.config.remotes()
    data = {"remotes": [{"name": n, "url": s.value, "origin": s.origin}
                        for n, s in sorted(remotes.items())]}

    def human() -> None:
        for line in table([[n, s.value] for n, s in sorted(remotes.items())]):
            env.echo(line)

    env.emit(data, human)
    if not remotes:
        env.hint("add one with `vstore remote add NAME URL`")


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--user", is_flag=True, help="Keep it in the user file (all repositories).")
@common
def remote_add(name: str, url: str, user: bool) -> None:
    """Add remote NAME at URL (a path or an fsspec URL)."""
    env = get_env()
    if not _NAME.match(name):
        raise CliUsageError(f"{name!r} is not a remote name",
                            "use letters, digits, '.', '_' and '-'")
    if name in env.config.remotes():
        raise CliError(f"remote {name!r} exists",
                       f"remove it first with `vstore remote remove {name}`")
    level = "user" if user or env.config.repo is None else "repository"
    env.config.file(level).set(f"remote.{name}.url", url)
    env.info(f"added remote {name} -> {url} ({level})")


@remote.command("remove")
@click.argument("name")
@common
def remote_remove(name: str) -> None:
    """Remove remote NAME (and its storage options)."""
    env = get_env()
    s = env.config.remotes().get(name)
    if s is None:
        raise CliError(f"no remote named {name!r}", "list them with `vstore remote list`")
    level = s.level if s.level in ("repository", "user") else None
    if level is None:
        raise CliError(f"remote {name!r} comes from {s.origin}", "unset it there")
    env.config.file(level).remove_section_of(f"remote.{name}")
    env.info(f"removed remote {name}")


def _remote_store(env: Env, name: str) -> Store:
    remotes = env.config.remotes()
    if name in remotes:
        url = remotes[name].value
        return env.open_store(url, env.config.storage_options(f"remote.{name}"))
    if "://" in name:
        return env.open_store(name)
    if "/" in name or name.startswith("."):
        return env.open_store(str(env.cwd / name))  # a path, relative to -C
    raise CliError(f"no remote named {name!r}",
                   "add it with `vstore remote add NAME URL`, or give a URL or path")


def _states(env: Env, store: Store, addresses: tuple[str, ...],
            everything: bool) -> list[VersionState]:
    from vstore.cli.address import resolve

    if everything:
        if addresses:
            raise CliUsageError("--all and ADDRESS exclude each other", "give one of them")
        return [s for d in store.datasets() for s in store.registry.versions(d.id)]
    if not addresses:
        raise CliUsageError("name the versions to copy", "give ADDRESS..., or --all")
    out = []
    for text in addresses:
        r = resolve(store, text, env.default_dataset())
        if not r.is_head or r.head is None:
            raise CliError(f"{text!r} names an older state of {r.dataset.name}@{r.version_name}",
                           "copy versions by name or id; older states travel with them")
        out.append(r.head)
    return out


def _copy(env: Env, src: Store, dst: Store, addresses: tuple[str, ...], everything: bool,
          force: bool, dry_run: bool, full: bool, verb: str) -> None:
    from vstore.cli.replicate import copy_versions, plan_versions, with_ancestors

    states = with_ancestors(src, _states(env, src, addresses, everything))
    with env.phase("plan", total=len(states), unit="version"):
        plans = plan_versions(src, dst, states, force)
    with env.phase("objects", unit="obj") as bar:
        def tick(checked: int, copied: int) -> None:
            bar.set_done(checked)
            bar.note(f"{copied:,} copied")

        report = copy_versions(src, dst, plans, full=full, dry_run=dry_run, tick=tick)
    _print(env, report, src, dst, verb, dry_run)


def _print(env: Env, report: CopyReport, src: Store, dst: Store, verb: str,
           dry_run: bool) -> None:
    data: dict[str, Any] = {
        "source": src.url, "destination": dst.url, "dry_run": dry_run,
        "objects_checked": report.objects_checked, "objects_copied": report.objects_copied,
        "bytes_copied": report.bytes_copied, "blobs_copied": report.blobs_copied,
        "versions": [p.json() for p in report.versions],
    }

    def human() -> None:
        would = "would copy" if dry_run else "copied"
        env.echo(f"{verb} {src.url} -> {dst.url}: {would} {report.objects_copied:,} of "
                 f"{plural(report.objects_checked, 'object')} checked "
                 f"({human_bytes(report.bytes_copied)})")
        rows = [[p.result, f"{p.dataset.name}@{p.state.name}", p.state.commit.id.hex()[:12],
                 p.reason] for p in report.versions]
        for line in table(rows):
            env.echo("  " + line)

    env.emit(data, human)
    rejected = [p for p in report.versions if p.result == "rejected"]
    if rejected:
        first = rejected[0]
        raise CliError(
            f"{len(rejected)} version(s) rejected: {first.dataset.name}@{first.state.name}: "
            f"{first.reason}",
            "pull (or push) the other side first, or pass --force to overwrite drafts",
        )


def _copy_options(f: Any) -> Any:
    f = click.option("--full", is_flag=True,
                     help="Check every reachable object, not only those under new ones.")(f)
    f = click.option("--dry-run", "-n", is_flag=True, help="Only report what would move.")(f)
    f = click.option("--force", is_flag=True,
                     help="Overwrite drafts whose history diverged (never published ones).")(f)
    f = click.option("--all", "everything", is_flag=True, help="Every version of every "
                     "dataset.")(f)
    return f


@click.command(epilog=ADDRESS_HELP)
@click.argument("remote_name", metavar="REMOTE")
@click.argument("addresses", nargs=-1, metavar="[ADDRESS]...")
@_copy_options
@common
@json_option
def push(remote_name: str, addresses: tuple[str, ...], everything: bool, force: bool,
         dry_run: bool, full: bool) -> None:
    """Copy versions to REMOTE, sending only the objects it lacks.

    The versions they descend from go too. REMOTE is a remote's name, a path or a URL.
    A draft REMOTE changed meanwhile is rejected unless --force; a published version
    never changes.
    """
    env = get_env()
    _copy(env, env.store(), _remote_store(env, remote_name), addresses, everything, force,
          dry_run, full, "push")


@click.command(epilog=ADDRESS_HELP)
@click.argument("remote_name", metavar="REMOTE")
@click.argument("addresses", nargs=-1, metavar="[ADDRESS]...")
@_copy_options
@common
@json_option
def pull(remote_name: str, addresses: tuple[str, ...], everything: bool, force: bool,
         dry_run: bool, full: bool) -> None:
    """Copy versions from REMOTE, fetching only the objects this store lacks.

    The versions they descend from come too. ADDRESS is resolved in REMOTE.
    """
    env = get_env()
    _copy(env, _remote_store(env, remote_name), env.store(), addresses, everything, force,
          dry_run, full, "pull")


COMMANDS = [remote, push, pull]
