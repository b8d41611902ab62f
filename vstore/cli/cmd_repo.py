"""Commands about the repository and the store: init, config, verify, gc, doctor, completion."""

from __future__ import annotations

import os

import click

from vstore.cli.context import get_env
from vstore.cli.errors import CliError, CliUsageError
from vstore.cli.options import common, json_option
from vstore.cli.output import plural

__all__ = ["COMMANDS"]


@click.command()
@click.argument("url", required=False)
@click.option("--dataset", metavar="NAME", help="Also create this dataset and make it the default.")
@common
@json_option
def init(url: str | None, dataset: str | None) -> None:
    """Create a vstore repository in the current directory.

    The repository is the .vstore directory: its config file, and by default the store
    itself (an embedded LMDB store). Give URL to keep the store elsewhere: a local path,
    or file://, s3://, gs://, az://, memory:// (install the matching extra for clouds).
    Every command run in this directory or below uses that store.
    """
    from vstore.cli.config import REPO_DIR, ConfigFile

    env = get_env()
    repo_dir = env.cwd / REPO_DIR
    cfg = ConfigFile(repo_dir / "config")
    existed = cfg.path.is_file() or (repo_dir / "data.mdb").is_file()
    if url is not None:
        have = cfg.get("core.url")
        if have is not None and have != url:
            raise CliError(
                f"{repo_dir} already points at {have}",
                f"change it with `vstore config set core.url {url}`",
            )
        repo_dir.mkdir(parents=True, exist_ok=True)
        cfg.set("core.url", url)
    else:
        repo_dir.mkdir(parents=True, exist_ok=True)
        cfg.touch()
    env.reset_config()
    store = env.store()
    if dataset is not None:
        import vstore

        vstore.DatasetVersion.create_new_dataset(dataset, store=store)
        cfg.set("core.dataset", dataset)
    data = {
        "repository": str(repo_dir),
        "config_file": str(cfg.path),
        "url": store.url,
        "created": not existed,
        "dataset": dataset,
    }

    def human() -> None:
        verb = "Reinitialized existing" if existed else "Initialized empty"
        env.echo(f"{verb} vstore repository in {repo_dir}")
        if url is not None:
            env.echo(f"store: {store.url}")
        if dataset is not None:
            env.echo(f"dataset: {dataset} (the default dataset)")

    env.emit(data, human)
    if dataset is None:
        env.hint("create a dataset with `vstore dataset create NAME`, then `vstore add PATH...`")


# -- config --------------------------------------------------------------------------------


def _keys_help() -> str:
    from vstore.cli.config import KEYS

    lines = ["\b", "Keys (and the environment variables that override them):"]
    for k in KEYS.values():
        lines.append(f"  {k.name:<19}{k.env or '':<22}{k.help}")
    lines += [
        f"  {'storage.OPTION':<41}a storage option of the store (passed to fsspec)",
        f"  {'remote.NAME.url':<41}the URL of a named remote (see `vstore remote`)",
        f"  {'remote.NAME.OPTION':<41}a storage option of that remote",
    ]
    return "\n".join(lines)


@click.group(epilog=_keys_help())
def config() -> None:
    """Read and write settings (repository and user level).

    Values are looked up on the command line (--store), then in the environment
    (VSTORE_URL, ...), then in the repository's .vstore/config, then in the user's
    ~/.config/vstore/config ($XDG_CONFIG_HOME is honoured), then in the defaults.
    """


def _level(user: bool, repository: bool) -> str:
    if user and repository:
        raise CliUsageError("--user and --repository exclude each other", "give one of them")
    if user:
        return "user"
    if repository:
        return "repository"
    return "repository" if get_env().config.repo is not None else "user"


def _check_key(key: str, value: str | None = None) -> None:
    from vstore.cli.config import ConfigKeyError, check_key, check_value

    try:
        check_key(key)
        if value is not None:
            check_value(key, value)
    except ConfigKeyError as exc:
        raise CliUsageError(str(exc), "see the keys in `vstore config --help`") from None


@config.command("get")
@click.argument("key")
@click.option("--show-origin", is_flag=True, help="Also print where the value comes from.")
@common
@json_option
def config_get(key: str, show_origin: bool) -> None:
    """Print the value of KEY (exit 1 if it is not set)."""
    env = get_env()
    _check_key(key)
    s = env.config.lookup(key)
    if s is None:
        raise CliError(f"{key} is not set", f"set it with `vstore config set {key} VALUE`")
    data = {"key": key, "value": s.value, "origin": s.origin, "level": s.level}
    env.emit(data, lambda: env.echo(f"{s.origin}\t{s.value}" if show_origin else s.value))


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--user", is_flag=True, help="Write the user file.")
@click.option("--repository", is_flag=True, help="Write the repository file (the default "
              "inside a repository).")
@common
def config_set(key: str, value: str, user: bool, repository: bool) -> None:
    """Set KEY to VALUE."""
    env = get_env()
    _check_key(key, value)
    level = _level(user, repository)
    try:
        f = env.config.file(level)
    except ValueError as exc:
        raise CliError(str(exc), "pass --user, or run `vstore init` first") from None
    f.set(key, value)
    env.info(f"{key} = {value} ({level}: {f.path})")


@config.command("unset")
@click.argument("key")
@click.option("--user", is_flag=True, help="Change the user file.")
@click.option("--repository", is_flag=True, help="Change the repository file.")
@common
def config_unset(key: str, user: bool, repository: bool) -> None:
    """Remove KEY from a file."""
    env = get_env()
    level = _level(user, repository)
    try:
        f = env.config.file(level)
    except ValueError as exc:
        raise CliError(str(exc), "pass --user") from None
    if not f.unset(key):
        raise CliError(f"{key} is not set in the {level} file ({f.path})",
                       "see where it is set with `vstore config list --show-origin`")


@config.command("list")
@click.option("--show-origin", is_flag=True, help="Also print where each value comes from.")
@common
@json_option
def config_list(show_origin: bool) -> None:
    """Print every setting (secrets masked), defaults included."""
    env = get_env()
    settings = env.config.settings()
    data = {"settings": [{"key": s.key, "value": s.shown, "origin": s.origin, "level": s.level}
                         for s in settings]}

    def human() -> None:
        for s in settings:
            env.echo(f"{s.origin}\t{s.key}={s.shown}" if show_origin else f"{s.key}={s.shown}")

    env.emit(data, human)


# -- maintenance ---------------------------------------------------------------------------


@click.command()
@common
@json_option
def verify() -> None:
    """Check the store: re-hash every object a version reaches.

    Exits 1 if an object is missing or corrupt. Dangling objects (reached by nothing)
    are only counted: `vstore gc` removes them.
    """
    env = get_env()
    store = env.store()
    with env.phase("verify"):
        report = store.verify()
    data = {
        "ok": report.ok,
        "objects_checked": report.objects_checked,
        "refs_checked": report.refs_checked,
        "missing": list(report.missing),
        "corrupt": [{"id": oid, "reason": why} for oid, why in report.corrupt],
        "dangling": report.dangling,
    }

    def human() -> None:
        verdict = env.style("ok", fg="green") if report.ok else env.style("PROBLEMS", fg="red")
        env.echo(f"checked {report.objects_checked:,} objects from {report.refs_checked:,} "
                 f"refs: {verdict}")
        for oid in report.missing[:20]:
            env.echo(f"missing  {oid}")
        for oid, why in report.corrupt[:20]:
            env.echo(f"corrupt  {oid}  {why}")
        if report.dangling:
            env.echo(f"{report.dangling:,} dangling objects (`vstore gc` removes them)")

    env.emit(data, human)
    if not report.ok:
        raise CliError(
            f"{len(report.missing)} missing and {len(report.corrupt)} corrupt objects",
            "restore the store from a copy, or `vstore pull` the damaged versions from a remote",
        )


@click.command()
@click.option("--dry-run", "-n", is_flag=True, help="Only report what would be deleted.")
@click.option("--grace", metavar="DURATION", default=None,
              help="Keep unreachable objects younger than this (30m, 12h, 1d; default gc.grace).")
@common
@json_option
def gc(dry_run: bool, grace: str | None) -> None:
    """Delete objects that no version reaches any more.

    Objects younger than the grace period are kept, so gc can run while others write.
    """
    from vstore.cli.config import ConfigKeyError, parse_duration

    env = get_env()
    text = grace or env.config.get("gc.grace") or "1d"
    try:
        seconds = parse_duration(text)
    except ConfigKeyError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None
    store = env.store()
    with env.phase("gc (dry run)" if dry_run else "gc"):
        report = store.gc(grace=seconds, dry_run=dry_run)
    data = {
        "dry_run": dry_run,
        "grace_seconds": seconds,
        "reachable": report.reachable,
        "unreachable": report.unreachable,
        "too_young": report.too_young,
        "deleted": report.deleted,
        "candidates": list(report.candidates),
    }

    def human() -> None:
        env.echo(f"{report.reachable:,} reachable, {report.unreachable:,} unreachable "
                 f"({report.too_young:,} younger than {text})")
        if dry_run:
            env.echo(f"would delete {plural(len(report.candidates), 'object')}")
        else:
            env.echo(f"deleted {plural(report.deleted, 'object')}")

    env.emit(data, human)


@click.command()
@click.option("--skip-credentials", is_flag=True,
              help="Do not ask the cloud SDKs for credentials (no network).")
@common
@json_option
def doctor(skip_credentials: bool) -> None:
    """Check the installation, configuration, store and credentials.

    Prints the versions of vstore and its dependencies, every setting with where its
    value comes from, whether the store opens, and which credential source each cloud
    SDK resolves (the source only: never a secret).
    """
    from vstore.cli.doctor import diagnose, render

    env = get_env()
    with env.phase("doctor"):
        data = diagnose(env, credentials=not skip_credentials)
    env.emit(data, lambda: render(env, data))


@click.command()
@click.argument("shell", required=False, type=click.Choice(["bash", "zsh", "fish"]))
@common
def completion(shell: str | None) -> None:
    """Print the shell completion script.

    SHELL is bash, zsh or fish (default: the one $SHELL names). Load it once per shell:

    \b
    bash:  eval "$(vstore completion bash)"     in ~/.bashrc
    zsh:   eval "$(vstore completion zsh)"      in ~/.zshrc
    fish:  vstore completion fish > ~/.config/fish/completions/vstore.fish
    """
    from click.shell_completion import get_completion_class

    from vstore.cli.app import cli

    name = shell or os.path.basename(os.environ.get("SHELL", ""))
    cls = get_completion_class(name) if name in ("bash", "zsh", "fish") else None
    if cls is None:
        raise CliUsageError(f"cannot tell the shell ({name or 'SHELL is unset'})",
                            "name it: `vstore completion bash|zsh|fish`")
    click.echo(cls(cli, {}, "vstore", "_VSTORE_COMPLETE").source())


COMMANDS = [init, config, verify, gc, doctor, completion]
