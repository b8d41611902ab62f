"""Files in and out: download, sync, import, export."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import click

from vstore.cli.context import Env, get_env
from vstore.cli.errors import CliError, CliUsageError
from vstore.cli.options import (
    ADDRESS_HELP,
    address_argument,
    common,
    json_option,
    resolve_address,
    version_option,
)
from vstore.cli.output import plural
from vstore.cli.views import iter_records, version_json, version_json_of

if TYPE_CHECKING:
    from vstore.cli.address import Resolved
    from vstore.datasets.store import Store

__all__ = ["COMMANDS", "read_uri"]

_FORMATS = ("coco", "yolo", "voc")
_FILE_TYPES = {"coco": "COCO", "yolo": "YOLO", "voc": "PASCAL_VOC"}
_TYPES = ("object_detection", "segmentation", "classification", "keypoint", "mask")


def read_uri(store: Store, uri: str) -> bytes:
    """The bytes of a source: a local file, a datalake blob, or any fsspec URL."""
    if uri.startswith("file://"):
        with open(unquote(uri[len("file://"):]), "rb") as f:
            return f.read()
    if uri.startswith("datalake://"):
        from vstore.picsellia.transfer import read_source

        return read_source(store, uri)
    import fsspec

    with fsspec.open(uri, "rb") as f:
        data: bytes = f.read()
        return data


def _targets(r: Resolved, keep: Callable[[dict[str, Any]], bool] | None,
             use_id: bool) -> dict[str, tuple[str, int | None]]:
    """File name -> (source URI, expected size) for every source of the selected frames."""
    out: dict[str, tuple[str, int | None]] = {}
    for record in iter_records(r.store, r.tree):
        if keep is not None and not keep(record):
            continue
        for src in record.get("sources") or ():
            uri = src.get("uri")
            if not uri:
                continue
            base = os.path.basename(unquote(urlsplit(uri).path)) or record["id"]
            if use_id:
                sid = src.get("id")
                suffix = "" if sid in (None, "", "default") else f".{sid}"
                base = f"{record['id']}{suffix}{os.path.splitext(base)[1]}"
            if base in ("", ".", "..") or any(c in base for c in ("/", "\\", "\x00")):
                raise CliError(f"source {uri} has no usable file name", "pass --use-id")
            size = (src.get("meta") or {}).get("size")
            if base in out and out[base][0] != uri:
                raise CliError(f"two sources would both be written as {base!r}",
                               "pass --use-id to name files by frame id")
            out[base] = (uri, size if isinstance(size, int) else None)
    return out


def _fetch_all(env: Env, store: Store, root: Path, todo: dict[str, tuple[str, int | None]],
               jobs: int) -> list[dict[str, str]]:
    from concurrent.futures import ThreadPoolExecutor

    root.mkdir(parents=True, exist_ok=True)

    from vstore.formats.paths import atomic_write

    def one(item: tuple[str, tuple[str, int | None]]) -> dict[str, str] | None:
        name, (uri, _size) = item
        try:
            # An exclusive temp file renamed over the target: a link planted in the
            # folder is replaced, never written through.
            atomic_write(root / name, read_uri(store, uri), durable=False)
        except Exception as exc:  # any failure of one file is reported; the others go on
            return {"name": name, "uri": uri, "error": f"{type(exc).__name__}: {exc}"}
        return None

    failed: list[dict[str, str]] = []
    with env.phase("download", total=len(todo), unit="file") as bar, \
            ThreadPoolExecutor(max(1, jobs)) as pool:
        for res in pool.map(one, todo.items()):
            bar.update()
            if res is not None:
                failed.append(res)
    return failed


def _default_target(env: Env, r: Resolved) -> Path:
    def safe(name: str) -> str:
        return name.replace(os.sep, "_").replace("/", "_") or "_"

    return env.cwd / safe(r.dataset.name) / safe(r.version_name)


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Target folder (default ./DATASET/VERSION).")
@click.option("--where", "-w", "query", metavar="QUERY", default=None,
              help="Only frames matching this q query (see `vstore ls --help`).")
@click.option("--use-id", is_flag=True, help="Name files by frame id instead of file name.")
@click.option("--force", is_flag=True, help="Replace files that exist.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N", default=8, show_default=True,
              help="Files fetched at once.")
@common
@json_option
def download(version: str | None, output: Path | None, query: str | None, use_id: bool,
             force: bool, jobs: int) -> None:
    """Download the source files of a version's frames into a folder."""
    from vstore.cli.cmd_frames import where_predicate

    env = get_env()
    keep = where_predicate(query)
    r = resolve_address(version)
    root = output if output is not None else _default_target(env, r)
    root = root if root.is_absolute() else env.cwd / root
    targets = _targets(r, keep, use_id)
    todo = {n: t for n, t in targets.items() if force or not (root / n).exists()}
    failed = _fetch_all(env, r.store, root, todo, jobs)
    done, skipped = len(todo) - len(failed), len(targets) - len(todo)
    data = {"version": version_json(r), "target": str(root), "files": len(targets),
            "downloaded": done, "skipped": skipped, "failed": failed}
    env.emit(data, lambda: env.echo(
        f"downloaded {plural(done, 'file')} to {root} ({skipped:,} already there"
        + (f", {len(failed)} failed)" if failed else ")")))
    if failed:
        raise CliError(f"{plural(len(failed), 'file')} failed, first: {failed[0]['name']}: "
                       f"{failed[0]['error']}", "check the sources' URLs and credentials")


@click.command(epilog=ADDRESS_HELP)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@version_option()
@click.option("--delete", is_flag=True, help="Delete local files the version does not have.")
@click.option("--dry-run", "-n", is_flag=True, help="Only report what would change.")
@click.option("--use-id", is_flag=True, help="Name files by frame id instead of file name.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N", default=8, show_default=True,
              help="Files fetched at once.")
@common
@json_option
def sync(directory: Path, version: str | None, delete: bool, dry_run: bool, use_id: bool,
         jobs: int) -> None:
    """Make DIRECTORY hold exactly the version's source files.

    Missing files, and files whose size differs from the recorded one, are downloaded;
    files the version lacks are listed (deleted with --delete).
    """
    env = get_env()
    r = resolve_address(version)
    root = directory if directory.is_absolute() else env.cwd / directory
    targets = _targets(r, None, use_id)
    local = {p.name: p.stat().st_size for p in _files(root)}
    todo = {n: t for n, t in targets.items()
            if n not in local or (t[1] is not None and local[n] != t[1])}
    extra = sorted(set(local) - set(targets))
    failed: list[dict[str, str]] = []
    if not dry_run:
        failed = _fetch_all(env, r.store, root, todo, jobs) if todo else []
        if delete:
            for name in extra:
                (root / name).unlink()
    data = {"version": version_json(r), "target": str(root), "dry_run": dry_run,
            "downloaded": 0 if dry_run else len(todo) - len(failed),
            "to_download": sorted(todo), "up_to_date": len(targets) - len(todo),
            "extra": extra, "deleted": extra if delete and not dry_run else [],
            "failed": failed}

    def human() -> None:
        verb = "would download" if dry_run else "downloaded"
        env.echo(f"{verb} {plural(len(todo), 'file')} into {root}; "
                 f"{data['up_to_date']:,} up to date")
        if extra:
            what = "deleted" if delete and not dry_run else "not in the version"
            env.echo(f"{plural(len(extra), 'local file')} {what}: {', '.join(extra[:10])}")

    env.emit(data, human)
    if failed:
        raise CliError(f"{plural(len(failed), 'file')} failed to download",
                       "check the sources' URLs and credentials, then sync again")


def _files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                yield p


# -- annotation formats --------------------------------------------------------------------


def _method(v: Any, name: str, what: str) -> Callable[..., Any]:
    fn = getattr(v, name, None)
    if fn is None:
        raise CliError(f"this vstore cannot {what}: DatasetVersion.{name} is not available",
                       "upgrade vstore (`pip install -U vstore`)")
    return fn  # type: ignore[no-any-return]


def _set_type(env: Env, v: Any, kind: str | None) -> None:
    import vstore

    current = getattr(v, "type", None)
    if kind is None and current is not vstore.InferenceType.NOT_CONFIGURED:
        return
    if kind is None:
        kind = "object_detection"
        env.info("the version had no annotation type: it is now object_detection "
                 "(choose with --type)")
    _method(v, "set_type", "set the annotation type")(kind.upper())


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(x) for x in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _xml_files(paths: tuple[Path, ...]) -> list[str]:
    out = []
    for p in paths:
        if p.is_dir():
            out += sorted(str(x) for x in p.rglob("*.xml"))
        else:
            out.append(str(p))
    return out


@click.command("import", epilog=ADDRESS_HELP)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...",
                type=click.Path(exists=True, path_type=Path))
@click.option("--format", "-f", "fmt", type=click.Choice(_FORMATS), required=True,
              help="coco: one JSON file. yolo: data.yaml then label .txt files or folders. "
              "voc: XML files or folders.")
@version_option()
@click.option("--mode", type=click.Choice(["replace", "keep", "concatenate"]), default="replace",
              show_default=True, help="What happens to frames that already have annotations.")
@click.option("--type", "kind", type=click.Choice(_TYPES), default=None,
              help="Set the version's annotation type first (default: keep it; a version "
              "without one becomes object_detection).")
@common
@json_option
def import_(paths: tuple[Path, ...], fmt: str, version: str | None, mode: str,
            kind: str | None) -> None:
    """Import COCO, YOLO or Pascal VOC annotations onto a version's frames.

    Images are matched to frames by file name. The version's annotation type decides
    what is kept: object_detection keeps boxes, segmentation keeps polygons, and so on.
    """
    import vstore

    env = get_env()
    v = resolve_address(version).version()
    m = vstore.ImportAnnotationMode(mode.upper())
    if fmt == "coco" and len(paths) != 1:
        raise CliUsageError("COCO imports one JSON file", "give one PATH")
    if fmt == "yolo" and (len(paths) < 2 or paths[0].suffix not in (".yaml", ".yml")):
        raise CliUsageError("YOLO imports need data.yaml, then label files or folders",
                            "vstore import --format yolo data.yaml labels/")
    _set_type(env, v, kind)
    with env.phase(f"import {fmt}", total=len(paths) if fmt == "voc" else None,
                   unit="file") as bar:
        if fmt == "coco":
            fn = _method(v, "import_annotations_coco_file", "import COCO")
            result = fn(str(paths[0]), mode=m)
        elif fmt == "yolo":
            fn = _method(v, "import_annotations_yolo_files", "import YOLO")
            files = [str(x) for p in paths[1:] for x in (sorted(p.rglob("*.txt"))
                                                         if p.is_dir() else [p])]
            result = fn(str(paths[0]), files, mode=m)
        else:
            fn = _method(v, "import_annotation_voc_file", "import Pascal VOC")
            files = _xml_files(paths)
            bar.set_total(len(files))
            result = {}
            for f in files:
                result.update(fn(f, mode=m))
                bar.update()
    counts = result if isinstance(result, dict) else {}
    shapes = sum(n for n in counts.values() if isinstance(n, int))
    data = {"version": version_json_of(v), "format": fmt, "annotations": len(counts),
            "shapes": shapes, "result": _plain(result)}
    env.emit(data, lambda: env.echo(
        f"imported {plural(len(counts), 'annotation')} ({plural(shapes, 'shape')}) from {fmt} "
        f"into {v.dataset_name}@{v.version_name}"))


@click.command(epilog=ADDRESS_HELP)
@address_argument()
@click.option("--format", "-f", "fmt", type=click.Choice(_FORMATS), required=True,
              help="The annotation format.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Target folder (default: the current directory).")
@common
@json_option
def export(version: str | None, fmt: str, output: Path | None) -> None:
    """Export a version's annotations as COCO, YOLO or Pascal VOC."""
    import vstore

    env = get_env()
    v = resolve_address(version).version()
    root = output if output is not None else env.cwd
    root = root if root.is_absolute() else env.cwd / root
    fn = _method(v, "export_annotation_file", f"export {fmt}")
    with env.phase(f"export {fmt}"):
        path = fn(vstore.AnnotationFileType(_FILE_TYPES[fmt]), str(root))
    data = {"version": version_json_of(v), "format": fmt, "path": str(path)}
    env.emit(data, lambda: env.echo(f"exported {fmt} annotations to {path}"))


COMMANDS = [download, sync, import_, export]
