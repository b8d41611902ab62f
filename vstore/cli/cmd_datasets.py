"""``vstore dataset ...`` and ``vstore version ...``."""

from __future__ import annotations

from typing import Any

import click

from vstore.cli.context import get_env
from vstore.cli.errors import CliError
from vstore.cli.options import (
    ADDRESS_HELP,
    address_argument,
    common,
    json_option,
    parse_meta,
    resolve_address,
)
from vstore.cli.output import ago, short, table
from vstore.cli.views import dataset_json, version_json, version_json_of

__all__ = ["COMMANDS"]


def _dataset_name(name: str | None) -> str:
    if name is not None:
        return name
    env = get_env()
    default = env.default_dataset()
    if default is not None:
        return default
    infos = env.store().datasets()
    if len(infos) == 1:
        return infos[0].name
    raise CliError("no dataset named and no default dataset",
                   "name one, or set a default: `vstore config set core.dataset NAME`")


def _info(name: str) -> Any:
    info = get_env().store().registry.dataset_by_name(name)
    if info is None:
        raise CliError(f"no dataset named {name!r}", "list them with `vstore dataset list`")
    return info


@click.group()
def dataset() -> None:
    """Create, list, show and remove datasets."""


@dataset.command("create")
@click.argument("name")
@click.option("--description", "-d", default=None, help="What the dataset holds.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A dataset tag (repeatable).")
@click.option("--default", "make_default", is_flag=True,
              help="Make it the default dataset of this repository (core.dataset).")
@common
@json_option
def dataset_create(name: str, description: str | None, tags: tuple[str, ...],
                   make_default: bool) -> None:
    """Create dataset NAME with an empty draft version named Current."""
    import vstore

    env = get_env()
    store = env.store()
    v = vstore.DatasetVersion.create_new_dataset(
        name, description=description, tags=list(tags), raise_if_exists=True, store=store
    )
    if make_default:
        env.config.file("repository" if env.config.repo else "user").set("core.dataset", name)
    data = {"dataset": dataset_json(_info(name)), "version": version_json_of(v)}
    env.emit(data, lambda: env.echo(f"created dataset {name} with draft version "
                                    f"{v.version_name!r} ({v.version_id})"))
    if not make_default and env.default_dataset() is None and len(store.datasets()) > 1:
        env.hint(f"make it the default with `vstore config set core.dataset {name}`")


@dataset.command("list")
@common
@json_option
def dataset_list() -> None:
    """List the datasets, oldest first (* marks the default)."""
    env = get_env()
    store = env.store()
    infos = store.datasets()
    counts = {d.id: len(store.registry.versions(d.id)) for d in infos}
    data = {"datasets": [dataset_json(d, counts[d.id]) for d in infos]}
    default = env.default_dataset()

    def human() -> None:
        rows = [[("* " if d.name == default else "  ") + d.name, str(counts[d.id]),
                 ago(d.created), d.comment] for d in infos]
        for line in table(rows, ["  NAME", "VERSIONS", "CREATED", "DESCRIPTION"]):
            env.echo(line)

    env.emit(data, human)
    if not infos:
        env.hint("create one with `vstore dataset create NAME`")


def _version_rows(env: Any, versions: list[dict[str, Any]], current: str | None) -> None:
    rows = [[("* " if v["version_id"] == current else "  ") + v["version"], v["status"],
             f"{v['frames']:,}", short(v["commit_id"]), v["version_id"], v["updated"] or "-"]
            for v in versions]
    for line in table(rows, ["  VERSION", "STATUS", "FRAMES", "COMMIT", "ID", "UPDATED"]):
        env.echo(line)


@dataset.command("show")
@click.argument("name", required=False)
@common
@json_option
def dataset_show(name: str | None) -> None:
    """Show a dataset and its versions (* marks the current version)."""
    import vstore

    env = get_env()
    store = env.store()
    info = _info(_dataset_name(name))
    versions = vstore.DatasetVersion.get_versions(dataset_id=info.id, store=store)
    rows = [version_json_of(v) for v in versions]
    current = vstore.DatasetVersion.get_current(dataset_id=info.id, store=store).version_id
    data = {"dataset": dataset_json(info, len(rows)), "current": current, "versions": rows}

    def human() -> None:
        env.echo(env.style(info.name, bold=True) + f"  ({info.id})")
        if info.comment:
            env.echo(f"  {info.comment}")
        if info.tags:
            env.echo(f"  tags: {', '.join(info.tags)}")
        env.echo("")
        _version_rows(env, rows, current)

    env.emit(data, human)


@dataset.command("rm")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete versions with frames and published ones.")
@common
def dataset_rm(name: str, force: bool) -> None:
    """Remove dataset NAME (its versions too with --force)."""
    import vstore
    from vstore.errors import ReadOnlyError, UsageError

    env = get_env()
    try:
        vstore.DatasetVersion.delete_dataset(dataset_name=name, delete_all_versions=force,
                                             force=force, store=env.store())
    except (UsageError, ReadOnlyError) as exc:
        raise CliError(str(exc).split(":")[0], "pass --force to delete it anyway") from None
    env.info(f"removed dataset {name}")


# -- versions ------------------------------------------------------------------------------


@click.group()
def version() -> None:
    """Create, list, show, rename and remove versions."""


@version.command("create", epilog=ADDRESS_HELP)
@click.argument("name")
@click.option("--dataset", "-d", "dataset_name", default=None, metavar="DATASET",
              help="The dataset (default: that of --from, else the default dataset).")
@click.option("--from", "parent", default=None, metavar="ADDRESS",
              help="Start from this published version's frames.")
@click.option("--description", default=None, help="What the version is for.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Version metadata (repeatable).")
@common
@json_option
def version_create(name: str, dataset_name: str | None, parent: str | None,
                   description: str | None, meta: tuple[str, ...]) -> None:
    """Create draft version NAME, empty or starting from a published version."""
    import vstore

    env = get_env()
    metadata = parse_meta(meta)
    parent_ids = None
    if parent is not None:
        p = resolve_address(parent)
        parent_ids = [p.version().version_id]
        dataset_name = dataset_name or p.dataset.name
    try:
        v = vstore.DatasetVersion.create_version(
            name, description=description, dataset_name=_dataset_name(dataset_name),
            parent_version_ids=parent_ids, raise_if_exists=True, metadata=metadata,
            store=env.store(),
        )
    except vstore.ReadOnlyError as exc:  # the parent is a draft
        raise CliError(str(exc), f"publish it first (`vstore publish {parent}`), or copy it "
                       f"as a draft with `vstore fork {parent} {name}`") from None
    data = {"version": version_json_of(v)}
    env.emit(data, lambda: env.echo(f"created version {v.dataset_name}@{name} ({v.version_id})"))


@version.command("list")
@click.argument("dataset_name", required=False, metavar="DATASET")
@click.option("--published", is_flag=True, help="Only published versions.")
@click.option("--drafts", is_flag=True, help="Only drafts.")
@common
@json_option
def version_list(dataset_name: str | None, published: bool, drafts: bool) -> None:
    """List a dataset's versions, most recently changed first (* marks the current one)."""
    import vstore

    env = get_env()
    store = env.store()
    name = _dataset_name(dataset_name)
    if published and drafts:
        raise click.UsageError("--published and --drafts exclude each other")
    versions = vstore.DatasetVersion.get_versions(
        dataset_name=name, only_published=published, only_draft=drafts, store=store
    )
    current = vstore.DatasetVersion.get_current(dataset_name=name, store=store).version_id
    rows = [version_json_of(v) for v in versions]
    env.emit({"dataset": name, "current": current, "versions": rows},
             lambda: _version_rows(env, rows, current))


@version.command("show", epilog=ADDRESS_HELP)
@address_argument()
@common
@json_option
def version_show(version: str | None) -> None:
    """Show a version: status, commit, parent, stats and metadata."""
    env = get_env()
    r = resolve_address(version)
    info = version_json(r)
    meta = r.commit.meta
    stats = _stats_lists(meta.get("committed_stats") or meta.get("stats") or {})
    data = {"version": info, "metadata": dict(meta.get("metadata") or {}), "stats": stats}

    def human() -> None:
        env.echo(env.style(f"{info['dataset']}@{info['version']}", bold=True)
                 + f"  {info['status']}" + ("" if r.is_head else "  (an older state)"))
        for key in ("version_id", "commit_id", "parent_id", "frames", "updated", "comment"):
            if info[key] not in (None, ""):
                env.echo(f"  {key:<11} {info[key]}")
        for k, v in data["metadata"].items():
            env.echo(f"  meta.{k} = {v}")
        labels = ", ".join(f"{x['name']} {x['count']}" for x in stats["labels"])
        env.echo(f"  labels      {labels or '-'}  (as of the last commit)")

    env.emit(data, human)


def _stats_lists(stats: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    def rows(d: dict[str, int]) -> list[dict[str, Any]]:
        return [{"name": k, "count": v} for k, v in sorted(d.items(), key=lambda kv: (-kv[1],
                                                                                     kv[0]))]

    return {"labels": rows(stats.get("labels") or {}),
            "frames": rows(stats.get("frames") or {}),
            "content_types": rows(stats.get("content_types") or {})}


@version.command("rename", epilog=ADDRESS_HELP)
@address_argument(required=True)
@click.argument("new_name")
@common
@json_option
def version_rename(version: str, new_name: str) -> None:
    """Rename a draft version (published versions keep their name)."""
    env = get_env()
    v = resolve_address(version).version()
    if not v.set_version_name(new_name):
        raise CliError(f"{v.dataset_name}@{v.version_name} is published: its name is frozen",
                       "rename drafts only")
    env.emit({"version": version_json_of(v)},
             lambda: env.echo(f"renamed to {v.dataset_name}@{new_name}"))


@version.command("rm", epilog=ADDRESS_HELP)
@address_argument(required=True)
@click.option("--force", is_flag=True, help="Also remove a published version.")
@common
def version_rm(version: str, force: bool) -> None:
    """Remove a version (a published one only with --force)."""
    import vstore

    env = get_env()
    r = resolve_address(version)
    v = r.version()
    try:
        vstore.DatasetVersion.remove_version(dataset_id=v.dataset_id, version_id=v.version_id,
                                             force=force, store=env.store())
    except vstore.ReadOnlyError:
        raise CliError(f"{r.label} is published", "pass --force to remove it anyway") from None
    env.info(f"removed {r.label}")


COMMANDS = [dataset, version]
