"""Downloads of asset and data files, and the comparison of a version with a local folder.

Sources are read from the datalake (``datalake://`` URIs, checked against their hash) or
through fsspec (``file://`` now; ``s3://``, ``gs://``, ``az://`` once their fsspec package is
installed). Every target name is checked before anything is written: a name that would
leave the target folder, or two assets that would write the same file, are refused. Each
file is written to a temp name and renamed into place, so a failure never leaves half a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from vstore.errors import BackendError, InvalidArgumentError, VStoreError, WrongTypeError
from vstore.picsellia.blobs import read_blob
from vstore.picsellia.record import DATALAKE_SCHEME

if TYPE_CHECKING:
    from vstore.datasets.store import Store
    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.asset import MultiAsset

__all__ = ["check_file_name", "check_target", "download_sources", "download_version",
           "read_source", "synchronize"]

log = logging.getLogger("vstore.picsellia")
_DATALAKE = f"{DATALAKE_SCHEME}:///"


def check_file_name(name: object, what: str = "file name") -> str:
    """Check that a name is one plain path segment (it cannot leave its folder).

    Raises:
        InvalidArgumentError: empty, ``.`` or ``..``, or holding ``/``, ``\\`` or NUL.
    """
    if not isinstance(name, str) or name in ("", ".", "..") or any(
            c in name for c in ("/", "\\", "\x00")):
        raise InvalidArgumentError(
            f"{what} {name!r} is not a plain file name: it could leave the target folder")
    return name


def check_target(path: object, what: str = "target_path") -> str:
    """Check a folder to write into; return it as a str.

    Raises:
        WrongTypeError: not a path.
        InvalidArgumentError: it holds a NUL byte (no filesystem can name it).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise WrongTypeError(f"{what} must be a path, not {type(path).__name__}")
    root = os.fspath(path)
    if not isinstance(root, str) or "\x00" in root:
        raise InvalidArgumentError(f"{what} {root!r} is not a usable folder name")
    return root


def read_source(store: Store, uri: str) -> bytes:
    """The bytes of a source URI (a datalake blob, or any fsspec URL).

    Raises:
        NotFoundError: a missing datalake blob. BackendError: the URL cannot be read.
    """
    if uri.startswith(_DATALAKE):
        return read_blob(store, uri[len(_DATALAKE):].split("/", 1)[0])
    import fsspec

    try:
        with fsspec.open(uri, "rb") as f:
            data: bytes = f.read()
            return data
    # Remote filesystems raise their own exception types (credentials, HTTP): any of them
    # means the source cannot be read.
    except Exception as exc:
        raise BackendError(f"cannot read {uri}: {exc}") from exc


def download_sources(store: Store, items: Sequence[tuple[str, str]],
                     target_path: str | os.PathLike[str], force_replace: bool,
                     max_workers: int | None) -> list[str]:
    """Write ``(file name, source URI)`` pairs into a folder; return the paths written.

    Existing files are kept unless ``force_replace``.

    Raises:
        InvalidArgumentError: an unsafe or duplicated name (nothing is written), or a bad
            ``max_workers``.
        BackendError: a source could not be read (the other files are written).
    """
    from vstore.formats.paths import atomic_write

    if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(
            max_workers, int) or max_workers < 1):
        raise InvalidArgumentError(f"max_workers must be a positive int, got {max_workers!r}")
    seen: dict[str, str] = {}
    for name, uri in items:
        check_file_name(name)
        if name in seen and seen[name] != uri:
            raise InvalidArgumentError(
                f"two assets would both be written as {name!r}; download with use_id=True")
        seen[name] = uri
    root = check_target(target_path)
    os.makedirs(root, exist_ok=True)
    todo = [(n, u) for n, u in seen.items()
            if force_replace or not os.path.exists(os.path.join(root, n))]

    def fetch(item: tuple[str, str]) -> str | None:
        name, uri = item
        try:
            atomic_write(os.path.join(root, name), read_source(store, uri))
        except (VStoreError, OSError) as exc:
            return f"{name}: {exc}"
        return None

    workers = max_workers or (os.cpu_count() or 1) + 4
    with ThreadPoolExecutor(max(1, min(workers, len(todo) or 1))) as pool:
        errors = [e for e in pool.map(fetch, todo) if e is not None]
    if errors:
        raise BackendError(f"{len(errors)} file(s) failed to download: {'; '.join(errors[:3])}")
    return [os.path.join(root, n) for n, _ in todo]


def download_version(version: DatasetVersion, target_path: str | os.PathLike[str] | None,
                     force_replace: bool, max_workers: int | None, use_id: bool) -> None:
    """See ``DatasetVersion.download``."""
    from vstore.picsellia.listing import Selection
    from vstore.picsellia.version_assets import list_assets

    if target_path is None:
        target_path = os.path.join(".", check_file_name(version.dataset_name, "dataset name"),
                                   check_file_name(version.version_name, "version name"))
    assets = list_assets(version, Selection())
    assets.download(target_path, force_replace, max_workers, use_id)


def synchronize(version: DatasetVersion, target_dir: str | os.PathLike[str],
                do_download: bool) -> MultiAsset | None:
    """See ``DatasetVersion.synchronize``."""
    from vstore.picsellia.asset import MultiAsset
    from vstore.picsellia.listing import Selection
    from vstore.picsellia.version_assets import list_assets

    root = os.fspath(target_dir)
    if not os.path.isdir(root):
        raise InvalidArgumentError(f"target_dir {root!r} is not an existing directory")
    local = {n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n))}
    assets = list_assets(version, Selection())
    names = {a.filename for a in assets}
    extra = sorted(local - names)
    if extra:
        log.info("%d local file(s) are not in the version (upload them to the datalake and "
                 "add them with add_data): %s", len(extra), extra[:10])
    missing = [a for a in assets if a.filename not in local]
    if not missing:
        log.info("%s is up-to-date with version %r", root, version.version_name)
        return None
    out = MultiAsset(missing)
    if do_download:
        out.download(root)
    return out
