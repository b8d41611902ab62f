"""Frame commands: add, ls, show, stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import click

from vstore.cli.context import Env, get_env
from vstore.cli.errors import CliError, CliUsageError
from vstore.cli.options import (
    ADDRESS_HELP,
    address_argument,
    common,
    json_option,
    parse_meta,
    resolve_address,
    version_option,
)
from vstore.cli.output import human_bytes, plural
from vstore.cli.progress import Bar
from vstore.cli.views import (
    frame_labels,
    frame_summary,
    get_record,
    iter_records,
    version_json,
    version_json_of,
)

if TYPE_CHECKING:
    from vstore.cli.address import Resolved
    from vstore.datasets.version import DatasetVersion

__all__ = ["COMMANDS", "where_predicate"]

_ADD_CHUNK = 500
#: Short names ``--where`` accepts besides the dot paths of the frame record.
ALIASES = {
    "label": ["rois", "label"],
    "uri": ["sources", "uri"],
    "width": ["sources", "width"],
    "height": ["sources", "height"],
    "content_type": ["sources", "content_type"],
    "tags": ["meta", "_tags"],
}
WHERE_HELP = """\b
--where takes the q language over each frame's record:
  FIELD OP VALUE   OP: = != < <= > >= in (..) like "%x%"; join with and, or, not, ( )
  fields: id, meta.KEY, rois.label, sources.uri, sources.width, timestamp, ...
  shortcuts: label, uri, width, height, content_type, tags, annotations (a count)
  e.g. label = "car" and width >= 640
       meta.camera in ("left", "right") and not uri like "%/tmp/%"
"""


def where_predicate(query: str | None) -> Callable[[dict[str, Any]], bool] | None:
    """Compile ``--where`` (None without one).

    Raises:
        CliUsageError: the query does not parse (exit 2), naming the position.
    """
    if not query:
        return None
    from vstore.datasets.query import compile_q, resolve_path
    from vstore.errors import InvalidQueryError

    def resolve(doc: dict[str, Any], path: list[str]) -> list[Any]:
        if path == ["annotations"]:
            return [len(doc.get("rois") or ())]
        head = ALIASES.get(path[0]) if path else None
        return resolve_path(doc, head + path[1:] if head else path)

    try:
        return compile_q(query, resolve)
    except InvalidQueryError as exc:
        where = "" if exc.position is None else f": {query[:exc.position]}>>>{query[exc.position:]}"
        raise CliUsageError(f"--where does not parse: {exc}{where}",
                            "see the q language in `vstore ls --help`") from None


# -- add -----------------------------------------------------------------------------------


@click.command(epilog=ADDRESS_HELP)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@version_option()
@click.option("--meta", multiple=True, metavar="KEY=VALUE",
              help="Metadata of every frame added (repeatable; JSON values are typed).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="An asset tag (repeatable).")
@click.option("--upload-to", metavar="URL", default=None,
              help="Upload the files under this URL (default add.upload_to); the frames then "
              "point at the copies.")
@click.option("--all-files", is_flag=True, help="Take every file in folders, not only images.")
@click.option("--no-hash", is_flag=True, help="Do not hash files (faster; content changes at an "
              "unchanged path then go unnoticed).")
@common
@json_option
def add(paths: tuple[str, ...], version: str | None, meta: tuple[str, ...], tags: tuple[str, ...],
        upload_to: str | None, all_files: bool, no_hash: bool) -> None:
    """Add files, folders and globs to a draft version as frames.

    Each file becomes one frame whose id derives from its path, so adding a file again
    updates its frame. Width and height are read from image headers (PNG, JPEG, GIF, BMP,
    WebP). Changes are saved at once; `vstore commit` records their stats.
    """
    from vstore.cli.addfiles import expand_paths

    env = get_env()
    metadata = parse_meta(meta)
    upload_to = upload_to or env.config.get("add.upload_to")
    v = resolve_address(version).version()
    with env.phase("scan"):
        files, urls = expand_paths(paths, str(env.cwd), all_files)
    if not files and not urls:
        raise CliError("no files to add", "add image files, or pass --all-files for any file")
    frames = _frames(env, files, urls, metadata, hash_files=not no_hash)
    failed = _write(env, v, frames, files, upload_to)
    failed_ids = {x["id"] for x in failed}
    added_ids = [f.id for f in frames if f.id not in failed_ids]
    if tags and added_ids:
        with env.phase("tag"):
            v.find_all_assets(ids=added_ids).add_tags(list(tags))
    data = {"version": version_json_of(v), "added": len(added_ids), "failed": failed,
            "tags": list(tags)}

    def human() -> None:
        env.echo(f"added {plural(len(added_ids), 'frame')} to {v.dataset_name}@{v.version_name}"
                 + (f" ({len(failed)} failed)" if failed else ""))
        for f in failed[:20]:
            env.echo(f"  failed  {f['path']}: {f['error']}")

    env.emit(data, human)
    if failed:
        raise CliError(f"{len(failed)} of {len(frames)} files were not added",
                       "fix the errors listed and run the same command again")
    env.hint("record the stats of this state with `vstore commit`")


def _frames(env: Env, files: list[str], urls: list[str], metadata: dict[str, Any],
            hash_files: bool) -> list[Any]:
    import vstore
    from vstore.cli.addfiles import file_hash, probe

    frames = []
    with env.phase("hash" if hash_files else "read", total=len(files), unit="file") as bar:
        for path in files:
            p = probe(path)
            frames.append(vstore.SingleFrame(
                source=path, width=p.width, height=p.height, size=p.size,
                hash=file_hash(path) if hash_files else None, content_type=p.content_type,
                metadata=dict(metadata),
            ))
            bar.update()
    frames += [vstore.SingleFrame(source=u, metadata=dict(metadata)) for u in urls]
    return frames


def _write(env: Env, v: DatasetVersion, frames: list[Any], files: list[str],
           upload_to: str | None) -> list[dict[str, Any]]:
    import os

    root = None
    if upload_to and files:
        root = os.path.commonpath([os.path.dirname(f) for f in files])
    failed: list[dict[str, Any]] = []
    phase = "upload and add" if upload_to else "add"
    with env.phase(phase, total=len(frames), unit="frame") as bar:
        for i in range(0, len(frames), _ADD_CHUNK):
            chunk = frames[i:i + _ADD_CHUNK]
            bad = v.add_frames(chunk, refresh_version_stats=False,
                               auto_upload_destination=upload_to if files else None,
                               local_dataset_root_path=root)
            for f in bad:
                frame = f["frame"]
                failed.append({"id": frame.id, "path": _path_of(frame.source),
                               "error": f["error"], "error_type": f["error_type"]})
            bar.update(len(chunk))
    return failed


def _path_of(uri: str | None) -> str | None:
    if uri and uri.startswith("file://"):
        from urllib.parse import unquote

        return unquote(uri[len("file://"):])
    return uri


# -- ls ------------------------------------------------------------------------------------


@click.command(epilog=WHERE_HELP + "\n" + ADDRESS_HELP)
@address_argument()
@click.option("--where", "-w", "query", metavar="QUERY", default=None,
              help="Only frames matching this q query.")
@click.option("--limit", "-n", type=click.IntRange(min=0), metavar="N", default=None,
              help="At most this many frames.")
@common
@json_option
def ls(version: str | None, query: str | None, limit: int | None) -> None:
    """List a version's frames: id, size, labels and source."""
    env = get_env()
    keep = where_predicate(query)
    r = resolve_address(version)
    frames: list[dict[str, Any]] = []
    truncated = False
    # Lines stream to the terminal as they are found; only --json waits, so only it
    # gets a bar.
    total = r.store.repo.layers.count(r.tree) if env.json else None
    with env.phase("scan", total=total, unit="frame") if env.json else nullcontext(Bar()) as bar:
        for record in iter_records(r.store, r.tree):
            bar.update()
            if keep is not None and not keep(record):
                continue
            if limit is not None and len(frames) >= limit:
                truncated = True
                break
            row = frame_summary(record)
            if not env.json:
                env.echo(_ls_line(env, row))
            frames.append(row)
    if env.json:
        env.emit({"version": version_json(r), "frames": frames, "count": len(frames),
                  "truncated": truncated})
    else:
        more = " (more not shown: raise --limit)" if truncated else ""
        env.info(f"{plural(len(frames), 'frame')} in {r.label}{more}")


def _ls_line(env: Env, row: dict[str, Any]) -> str:
    size = f"{row['width']}x{row['height']}" if row["width"] and row["height"] else "-"
    labels = ",".join(row["labels"]) or "-"
    return f"{env.style(row['id'], fg='yellow')}  {size:>9}  {labels}  {row['uri'] or '-'}"


# -- show ----------------------------------------------------------------------------------


@click.command(epilog=ADDRESS_HELP)
@click.argument("frame")
@version_option()
@common
@json_option
def show(frame: str, version: str | None) -> None:
    """Show one frame: sources, annotations and metadata.

    FRAME is a frame id, or the path or URI of its source file.
    """
    env = get_env()
    r = resolve_address(version)
    record = get_record(r.store, r.tree, frame) or _by_source(env, r, frame)
    if record is None:
        raise CliError(f"{r.label} has no frame {frame!r}",
                       f"list its frames with `vstore ls {r.text}`")
    env.emit({"version": version_json(r), "frame": record}, lambda: _show_human(env, record))


def _by_source(env: Env, r: Resolved, text: str) -> dict[str, Any] | None:
    import os

    uri = text if "://" in text else "file://" + os.path.abspath(os.path.join(env.cwd, text))
    with env.phase("search", unit="frame") as bar:
        for record in iter_records(r.store, r.tree):
            bar.update()
            if any(s.get("uri") == uri for s in record.get("sources") or ()):
                return record
    return None


def _show_human(env: Env, record: dict[str, Any]) -> None:
    env.echo(env.style(f"frame {record['id']}", bold=True))
    for src in record.get("sources") or ():
        size = f"  {src['width']}x{src['height']}" if src.get("width") else ""
        nbytes = (src.get("meta") or {}).get("size")
        extra = f"  {human_bytes(nbytes)}" if isinstance(nbytes, int) else ""
        ctype = f"  {src['content_type']}" if src.get("content_type") else ""
        env.echo(f"  source {src.get('id')}: {src.get('uri')}{size}{ctype}{extra}")
    meta = record.get("meta") or {}
    # Keys starting with "_" are the Picsellia surface's bookkeeping (tags, annotation
    # records, datalake ids): only the tags read naturally; --json shows everything.
    shown = {k: v for k, v in meta.items() if not k.startswith("_")}
    if shown:
        env.echo("  meta   " + "  ".join(f"{k}={v}" for k, v in shown.items()))
    if meta.get("_tags"):
        env.echo("  tags   " + ", ".join(str(t) for t in meta["_tags"]))
    rois = record.get("rois") or []
    env.echo(f"  annotations ({len(rois)})")
    for roi in rois:
        env.echo(f"    {', '.join(roi.get('label') or ['-']):<16} {_shape(roi)}")


def _shape(roi: dict[str, Any]) -> str:
    poly = roi.get("poly") or []
    conf = f"  confidence {roi['confidence']:g}" if roi.get("confidence") is not None else ""
    if (roi.get("meta") or {}).get("_type") == "b2d" and len(poly) == 8:
        x, y, w, h = poly[0], poly[1], poly[4] - poly[0], poly[5] - poly[1]
        return f"box x={x:g} y={y:g} w={w:g} h={h:g}{conf}"
    if poly:
        return f"polygon of {len(poly) // 2} points{conf}"
    return f"label only{conf}"


# -- stats ---------------------------------------------------------------------------------


def stats_of(env: Env, r: Resolved, scan: bool) -> dict[str, Any]:
    """Stats of a resolved version: as of its last commit, or counted from its frames."""
    if r.is_head and not scan:
        got = r.version().get_stats()
        frames = {row["name"]: row["count"] for row in got["frames"]}
        return {"source": "commit", "annotated": frames.get("annotated", 0),
                "unannotated": frames.get("unannotated", 0), "labels": got["labels"],
                "content_types": got["content_types"]}
    labels: Counter[str] = Counter()
    types: Counter[str] = Counter()
    annotated = unannotated = 0
    with env.phase("count", total=r.store.repo.layers.count(r.tree), unit="frame") as bar:
        for record in iter_records(r.store, r.tree):
            labels.update(frame_labels(record))
            types.update((s.get("content_type") or "unknown") for s in record.get("sources") or ())
            if record.get("rois"):
                annotated += 1
            else:
                unannotated += 1
            bar.update()

    def rows(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"name": k, "count": n} for k, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))]

    return {"source": "scan", "annotated": annotated, "unannotated": unannotated,
            "labels": rows(labels), "content_types": rows(types)}


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("--scan", is_flag=True, help="Count from the frames now instead of reading the "
              "stats recorded by the last commit.")
@common
@json_option
def stats(version: str | None, scan: bool) -> None:
    """Label, annotation and content-type counts of a version."""
    env = get_env()
    r = resolve_address(version)
    s = stats_of(env, r, scan)
    v = version_json(r)
    data = {"version": v, "frames": v["frames"], **s}

    counted = s["annotated"] + s["unannotated"]

    def human() -> None:
        when = "as of the last commit" if s["source"] == "commit" else "counted now"
        env.echo(env.style(f"{v['dataset']}@{v['version']}", bold=True)
                 + f"  {plural(v['frames'], 'frame')}")
        env.echo(f"  {when}: {plural(counted, 'frame')}, annotated {s['annotated']:,}, "
                 f"unannotated {s['unannotated']:,}")
        for title, key in (("labels", "labels"), ("content types", "content_types")):
            if s[key]:
                env.echo(f"  {title}")
                width = max(len(x["name"]) for x in s[key])
                for x in s[key]:
                    env.echo(f"    {x['name']:<{width}}  {x['count']:>8,}")

    env.emit(data, human)
    if counted != v["frames"]:
        env.hint("the draft changed since its last commit: `vstore commit` records it, "
                 "`--scan` counts it now")


COMMANDS = [add, ls, show, stats]
