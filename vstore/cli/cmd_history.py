"""History commands: commit, publish, snapshot, fork, merge, log."""

from __future__ import annotations

from typing import Any

import click

from vstore.cli.context import get_env
from vstore.cli.errors import CliUsageError
from vstore.cli.options import ADDRESS_HELP, address_argument, common, json_option, resolve_address
from vstore.cli.output import iso, plural, short, table
from vstore.cli.views import version_json, version_json_of

__all__ = ["COMMANDS"]


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("-m", "--message", help="A message recorded with the commit.")
@common
@json_option
def commit(version: str | None, message: str | None) -> None:
    """Commit a draft: record the stats of what changed since the last commit.

    Frames are saved as soon as they are added; a commit marks the state and refreshes
    the version's stats at a cost that follows the changes, not the version's size.
    """
    env = get_env()
    v = resolve_address(version).version()
    with env.phase("commit"):
        res = v.commit_version(message=message)
    data = {"version": version_json_of(v), "total": res["total"],
            "saved_and_updated": res["saved_and_updated"], "deleted": res["deleted"]}
    env.emit(data, lambda: env.echo(
        f"committed {v.dataset_name}@{v.version_name} [{short(v.commit_id)}]: "
        f"{plural(res['total'], 'frame')} ({res['saved_and_updated']:,} added or changed, "
        f"{res['deleted']:,} deleted)"))


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@common
@json_option
def publish(version: str | None) -> None:
    """Publish a version: commit it and freeze it for good."""
    env = get_env()
    v = resolve_address(version).version()
    with env.phase("publish"):
        v.publish_version()
    data = {"version": version_json_of(v)}
    env.emit(data, lambda: env.echo(
        f"published {v.dataset_name}@{v.version_name} [{short(v.commit_id)}]"))
    env.hint(f"start a draft from it with `vstore version create NAME --from "
             f"{v.dataset_name}@{v.version_id}`")


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("--name", "publish_name", default=None,
              help="The published version's new name (default: 'snapshot <time>').")
@click.option("--comment", default=None, help="The published version's comment.")
@click.option("--child", "child_name", default=None,
              help="The new draft's name (default: the draft's current name).")
@common
@json_option
def snapshot(version: str | None, publish_name: str | None, comment: str | None,
             child_name: str | None) -> None:
    """Publish a draft and continue in a new draft child of it.

    The draft keeps its id and becomes the published snapshot; the child takes the
    draft's name, so `DATASET@current` keeps naming the version you work on.
    """
    import vstore

    env = get_env()
    v = resolve_address(version).version()
    with env.phase("snapshot"):
        child = vstore.DatasetVersion.create_snapshot(
            version_id=v.version_id, dataset_id=v.dataset_id, publish_name=publish_name,
            publish_comment=comment, child_name=child_name, store=env.store(),
        )
    published = vstore.DatasetVersion.get_version(
        dataset_id=v.dataset_id, version_id=v.version_id, store=env.store())
    data = {"published": version_json_of(published), "draft": version_json_of(child)}

    def human() -> None:
        env.echo(f"published {published.dataset_name}@{published.version_name} "
                 f"[{short(published.commit_id)}]")
        env.echo(f"new draft {child.dataset_name}@{child.version_name} ({child.version_id})")

    env.emit(data, human)


@click.command(epilog=ADDRESS_HELP)
@address_argument(required=True)
@click.argument("name")
@click.option("--description", default=None, help="The new version's comment.")
@common
@json_option
def fork(version: str, name: str, description: str | None) -> None:
    """Fork a version into a new draft NAME with all its frames."""
    env = get_env()
    parent = resolve_address(version).version()
    with env.phase("fork"):
        child, _job = parent.fork(name, description=description, with_tags=True,
                                  with_labels=True, with_annotations=True)
    data = {"version": version_json_of(child), "parent": version_json_of(parent)}
    env.emit(data, lambda: env.echo(
        f"forked {parent.dataset_name}@{parent.version_name} into "
        f"{child.dataset_name}@{child.version_name} ({child.version_id})"))


@click.command(epilog=ADDRESS_HELP)
@address_argument("source", required=True)
@click.option("--into", default=None, metavar="ADDRESS",
              help="The draft to merge into (default: SOURCE's dataset's current version).")
@click.option("--strategy", type=click.Choice(["fail", "ours", "theirs", "report"]),
              default="fail", show_default=True,
              help="For frames changed on both sides: fail (write nothing), keep ours, "
              "take theirs, or keep ours and report them.")
@common
@json_option
def merge(source: str, into: str | None, strategy: str) -> None:
    """Merge SOURCE's changes into a draft (three-way).

    The changes SOURCE made since the two versions' common ancestor are applied to the
    draft; frames changed on both sides are handled by --strategy.
    """
    env = get_env()
    src = resolve_address(source)
    dst = resolve_address(into or f"{src.dataset.name}@current")
    if src.version_id == dst.version_id:
        raise CliUsageError(f"{src.label} would be merged into itself",
                            "name the target with --into DATASET@VERSION")
    theirs, ours = src.version(), dst.version()
    with env.phase("merge"):
        report = ours.merge(theirs, strategy=strategy)
    data = {"into": version_json_of(ours), "from": version_json(src),
            "applied": report.applied, "conflicts": list(report.conflicts),
            "base_commit": report.base_commit}

    def human() -> None:
        env.echo(f"merged {src.label} into {ours.dataset_name}@{ours.version_name}: "
                 f"{plural(report.applied, 'frame')} applied, "
                 f"{plural(len(report.conflicts), 'conflict')} "
                 f"(base {short(report.base_commit)})")
        for fid in report.conflicts[:20]:
            env.echo(f"  conflict  {fid}")

    env.emit(data, human)
    if report.conflicts:
        env.hint("conflicting frames kept our side; edit them, or merge again with "
                 "--strategy theirs")


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("--limit", "-n", type=click.IntRange(min=1), metavar="N", default=None,
              help="At most this many entries.")
@click.option("--states", is_flag=True,
              help="List every saved state of this one version (its ref log) instead of "
              "its ancestry.")
@common
@json_option
def log(version: str | None, limit: int | None, states: bool) -> None:
    """Show the history of a version, newest first.

    By default: the version and the versions it descends from, one commit each. With
    --states: every write of the version itself; any commit id shown can be used as an
    address (`vstore diff 3fa9c2e1 @current`).
    """
    env = get_env()
    r = resolve_address(version)
    entries = _states(r, limit) if states else _ancestry(r, limit)
    data = {"version": version_json(r), "entries": entries}

    def human() -> None:
        rows = [[env.style(short(e["commit_id"]), fg="yellow"), (e["time"] or "-")[:19],
                 f"{r.dataset.name}@{e['version_name']}", e["status"], e["message"]]
                for e in entries]
        for line in table(rows):
            env.echo(line)

    env.emit(data, human)


def _entry(c: Any) -> dict[str, Any]:
    return {
        "commit_id": c.id.hex(),
        "version_id": c.meta.get("version"),
        "version_name": c.meta.get("name"),
        "status": c.meta.get("status"),
        "time": iso(c.time),
        "message": c.message,
    }


def _ancestry(r: Any, limit: int | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in r.store.repo.log(r.commit.id):
        if limit is not None and len(out) >= limit:
            break
        out.append(_entry(c))
    return out


def _states(r: Any, limit: int | None) -> list[dict[str, Any]]:
    repo = r.store.repo
    out: list[dict[str, Any]] = []
    for e in repo.refs.entries(f"versions/{r.dataset.id}/{r.version_id}"):
        if limit is not None and len(out) >= limit:
            break
        if e.value is not None:
            out.append(_entry(repo.read_commit(e.value)))
    return out


COMMANDS = [commit, publish, snapshot, fork, merge, log]
