"""Uploads of local frame sources, with content-hash reuse.

``DatasetVersion.add_frames(auto_upload_destination=..., local_dataset_root_path=...)``
or ``add_frames(src_to_dst_mapping=...)`` and a BulkContext opened with an upload
destination call :func:`upload_sources` before they register frames. Every
``file://`` URI of a record (sources, previews, masks) is copied to its destination
and the record is rewritten to point at the copy; other schemes are left alone.

Layout with a destination::

    <destination>/<dataset_id>/<version_name>.<version_id>/<path relative to local root>

Each file's blake3 hash goes into its source's ``meta.hash.source`` and into the
store's key ``uploads/<hash>`` (value: the uploaded URI), so the same content added
again, to any version or dataset of the store, reuses the copy that still exists
under the same destination instead of uploading it twice.

A frame is all or nothing: if any of its files fails (outside the root, missing,
or failing after every retry) the frame is reported failed and, unless the caller
keeps failed frames, not registered.

Destinations may be local (``file://``) or in the cloud (``s3://``, ``gs://``,
``az://``, any fsspec URL). A destination on the same filesystem as the store
(same scheme) is written with the store's own client, so the storage options the
store was opened with (endpoint, credentials) apply to it; any other destination
uses the default credential chain of its filesystem (environment, profiles).
Transfers run in parallel, each retried with exponential backoff and jitter.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import blake3

from vstore.errors import InvalidArgumentError, ReadOnlyError, UsageError
from vstore.model.identity import normalize_uri

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion
    from vstore.engine.backends.base import Backend

__all__ = [
    "INDEX_PREFIX", "check_upload_options", "delete_sources", "resolve_under", "upload_sources",
]

log = logging.getLogger("vstore.io")

INDEX_PREFIX = "uploads/"
_FILE = "file://"
_CHUNK = 1 << 20
_WORKERS = 4
_REMOTE_WORKERS = 16
# Backoff between retries: 10 ms doubling, capped; small so a dead target fails fast.
_BASE_DELAY = 0.01
_MAX_DELAY = 2.0

Item = tuple[Any, dict[str, Any]]


@dataclass(slots=True)
class _File:
    """One local file to place at one target URI, and what happened to it."""

    real: str
    target: str
    digest: str = ""
    error: str | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where local files go: under ``prefix`` (destination mode) or by ``mapping``."""

    root: str | None
    prefix: str = ""
    scope: str = ""
    mapping: Mapping[str, str] | None = None

    def locate(self, path: str) -> tuple[str, str] | None:
        """Return ``(resolved path, target URI)``, or None for a file left in place.

        Raises:
            InvalidArgumentError: the file lies outside the local root.
        """
        if self.mapping is not None:
            dst = self.mapping.get(path) or self.mapping.get(_FILE + path)
            if dst is None:
                return None
            real = resolve_under(path, self.root)[0] if self.root else os.path.realpath(path)
            return real, normalize_uri(dst, f"src_to_dst_mapping[{path!r}]")
        assert self.root is not None
        real, rel = resolve_under(path, self.root)
        return real, self.prefix + rel.replace(os.sep, "/")

    def reusable(self, previous: str, target: str) -> bool:
        """Whether an earlier upload may stand in for ``target`` (if it still exists)."""
        if self.mapping is not None:
            return previous == target
        return previous.startswith(self.scope)


@dataclass(slots=True)
class _Unit:
    """Files that one transfer serves: equal content bound for one place."""

    files: list[_File]
    previous: str | None = None
    uploaded: bool = False


def check_upload_options(
    destination: str | None, local_root: str | None, mapping: Mapping[str, str] | None
) -> None:
    """Check that upload options are consistent, before any work is done.

    Args:
        destination: ``auto_upload_destination``.
        local_root: ``local_dataset_root_path``.
        mapping: ``src_to_dst_mapping``.

    Raises:
        UsageError: both a destination and a mapping, or a destination without a root.
        InvalidArgumentError: an option of the wrong type.
    """
    if destination is not None and mapping is not None:
        raise UsageError(
            "give auto_upload_destination or src_to_dst_mapping, not both"
        )
    if destination is not None and local_root is None:
        raise UsageError(
            "auto_upload_destination needs local_dataset_root_path: the common root of the "
            "local files, whose relative paths are kept under the destination"
        )
    for value, name in ((destination, "auto_upload_destination"),
                        (local_root, "local_dataset_root_path")):
        if value is not None and (not isinstance(value, str | os.PathLike) or not str(value)):
            raise InvalidArgumentError(f"{name} must be a non-empty path or URL, got {value!r}")
    if mapping is not None and (
        not isinstance(mapping, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    ):
        raise InvalidArgumentError("src_to_dst_mapping must be a dict {local path: URI}")


def resolve_under(path: str, root: str) -> tuple[str, str]:
    """Resolve a local path and check that it stays under ``root``.

    ``..`` segments and symlinks are resolved (``os.path.realpath``) before the
    check, so neither can lead outside the root.

    Args:
        path: a local path (absolute, or relative to the working directory).
        root: the directory the path must stay under.

    Returns:
        ``(resolved path, path relative to root)``; the relative path is the one
        given when it is lexically under the root, else that of the resolved path.

    Raises:
        InvalidArgumentError: the resolved path is not under the resolved root.
    """
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if real == real_root or os.path.commonpath([real, real_root]) != real_root:
        raise InvalidArgumentError(
            f"local file {path} resolves to {real}, which is outside the local root "
            f"{real_root}; move it under the root or pass a root that contains it"
        )
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == os.curdir or rel.split(os.sep, 1)[0] == os.pardir:
        rel = os.path.relpath(real, real_root)
    return real, rel


def upload_sources(
    version: DatasetVersion,
    items: list[Item],
    *,
    destination: str | None,
    local_root: str | None,
    mapping: dict[str, str] | None,
    retries: int,
    force: bool,
    keep_failed: bool,
) -> tuple[list[Item], list[dict[str, Any]]]:
    """Upload the local files of frame records and point the records at the copies.

    Args:
        version: the version the frames go to (its ids name the destination folder,
            its store holds the content-hash index).
        items: ``(frame or None, record)`` pairs; the records are not modified.
        destination: upload under this URL (``<dest>/<dataset_id>/<name>.<version_id>/``).
        local_root: the common root of the local files (required with ``destination``).
        mapping: explicit ``{local path: destination URI}``; unmapped files stay local.
        retries: retries per file transfer, with exponential backoff.
        force: upload even when the same content was uploaded before.
        keep_failed: register failed frames with their original URIs (and report them).

    Returns:
        The items to register (records rewritten) and the failures, as
        ``{"frame": frame or record id, "error": str, "error_type": "upload"}``.

    Raises:
        UsageError: clashing or missing options (see :func:`check_upload_options`).
        InvalidArgumentError: ``retries`` is not an int >= 0.
        ReadOnlyError: the version is published (nothing is uploaded).
        BackendError: the store's content-hash index cannot be read or written.
    """
    check_upload_options(destination, local_root, mapping)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgumentError(f"upload_retries must be an int >= 0, got {retries!r}")
    if destination is None and mapping is None:
        return list(items), []
    if not version.draft:  # before any copy: the write that follows would be refused
        raise ReadOnlyError(f"version {version.version_name!r} is published and cannot change; "
                            "nothing was uploaded")
    plan = _plan(version, destination, local_root, mapping)
    files: dict[tuple[str, str], _File] = {}
    found: list[tuple[dict[str, _File], list[str]]] = []
    for _frame, record in items:
        found.append(_collect(record, plan, files))
    if files:
        _transfer_all(version.store.repo.backend, list(files.values()), plan, retries, force)
    return _assemble(items, found, keep_failed)


def _plan(
    version: DatasetVersion,
    destination: str | None,
    local_root: str | None,
    mapping: Mapping[str, str] | None,
) -> _Plan:
    root = None if local_root is None else os.fspath(local_root)
    if mapping is not None:
        return _Plan(root, mapping=mapping)
    assert destination is not None and root is not None
    scope = normalize_uri(os.fspath(destination), "auto_upload_destination").rstrip("/") + "/"
    # A '/' in a version name would add a folder level; keep the layout fixed.
    name = version.version_name.replace("/", "_").replace("\\", "_")
    prefix = f"{scope}{version.dataset_id}/{name}.{version.version_id}/"
    return _Plan(root, prefix=prefix, scope=scope)


def _uri_holders(record: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Yield each dict of a record that holds a ``uri``, and whether it is a source."""
    for src in record.get("sources") or ():
        yield src, True
        if isinstance(src.get("preview"), dict):
            yield src["preview"], False
        for mask in src.get("masks") or ():
            yield mask, False


def _collect(
    record: dict[str, Any], plan: _Plan, files: dict[tuple[str, str], _File]
) -> tuple[dict[str, _File], list[str]]:
    """Find a record's local files: ``({uri: file}, errors)``; shared files are reused."""
    refs: dict[str, _File] = {}
    errors: list[str] = []
    for holder, _is_source in _uri_holders(record):
        uri = holder.get("uri")
        if not isinstance(uri, str) or not uri.startswith(_FILE) or uri in refs:
            continue
        try:
            located = plan.locate(uri[len(_FILE):])
        except InvalidArgumentError as exc:
            errors.append(str(exc))
            continue
        if located is not None:
            refs[uri] = files.setdefault(located, _File(*located))
    return refs, errors


def _transfer_all(
    backend: Backend, files: list[_File], plan: _Plan, retries: int, force: bool
) -> None:
    """Hash every file, then upload (or reuse) each distinct one; record the index."""
    remote = any(not f.target.startswith(_FILE) for f in files)
    with ThreadPoolExecutor(min(_REMOTE_WORKERS if remote else _WORKERS, len(files))) as pool:
        list(pool.map(_hash, files))
        _refuse_collisions(files)
        units = _units(files, plan, force)
        for unit in units:
            unit.previous = _index_read(backend, unit.files[0].digest)
        list(pool.map(lambda u: _transfer(backend, u, plan, retries, force), units))
    for unit in units:
        if unit.uploaded:
            rep = unit.files[0]
            key, value = INDEX_PREFIX + rep.digest, rep.target.encode("utf-8")
            if unit.previous is None:
                backend.create_key(key, value)  # a concurrent uploader's entry is as good
            else:
                backend.write_key(key, value)  # the old copy is gone, elsewhere, or forced


def _hash(f: _File) -> None:
    if not os.path.isfile(f.real):
        f.error = f"local file {f.real} does not exist (or is not a file)"
        return
    h = blake3.blake3()
    try:
        with open(f.real, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        f.error = f"cannot read local file {f.real}: {exc}"
        return
    f.digest = h.hexdigest()


def _refuse_collisions(files: list[_File]) -> None:
    """Fail files whose target another file with different content also claims."""
    by_target: dict[str, list[_File]] = {}
    for f in files:
        if f.error is None:
            by_target.setdefault(f.target, []).append(f)
    for target, group in by_target.items():
        if len({f.digest for f in group}) > 1:
            for f in group:
                f.error = f"several local files with different content map to {target}"


def _units(files: list[_File], plan: _Plan, force: bool) -> list[_Unit]:
    # With a destination, equal content is uploaded once per batch; a mapping or
    # force sends each file to its own target.
    units: dict[tuple[str, str], _Unit] = {}
    for f in files:
        if f.error is None:
            one_copy = plan.mapping is None and not force
            key = (f.digest, "" if one_copy else f.target)
            units.setdefault(key, _Unit([])).files.append(f)
    return list(units.values())


def _index_read(backend: Backend, digest: str) -> str | None:
    raw = backend.read_key(INDEX_PREFIX + digest)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _transfer(backend: Backend, unit: _Unit, plan: _Plan, retries: int, force: bool) -> None:
    """Reuse the earlier copy of a unit's content if it still exists, else upload it."""
    rep = unit.files[0]
    uri, error = None, None
    prev = unit.previous
    if (not force and prev is not None and plan.reusable(prev, rep.target)
            and _exists(backend, prev)):
        uri = prev
        log.debug("reusing %s for %s (blake3 %s)", prev, rep.real, rep.digest)
    else:
        error = _with_retries(lambda: _put(backend, rep.real, rep.target), retries, rep.real)
        if error is None:
            uri, unit.uploaded = rep.target, True
            log.debug("uploaded %s to %s", rep.real, rep.target)
    for f in unit.files:
        f.uri, f.error = uri, error


def _with_retries(fn: Any, retries: int, what: str, action: str = "upload") -> str | None:
    """Call ``fn`` up to ``retries + 1`` times; return None, or the last error."""
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            # Full jitter: parallel transfers throttled together do not retry together.
            time.sleep(random.uniform(0, min(_BASE_DELAY * 2 ** (attempt - 1), _MAX_DELAY)))
        try:
            fn()
            return None
        # Remote filesystems raise their own exception types; any of them is retried.
        except Exception as exc:
            last = exc
    return f"{action} of {what} failed after {retries + 1} attempt(s): {last}"


def _filesystem(backend: Backend | None, uri: str) -> tuple[Any, str]:
    """The filesystem and path for ``uri``: the store's own client when the scheme matches."""
    import fsspec

    store_fs = getattr(backend, "fs", None)
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if store_fs is not None and scheme != "file":
        protocols = store_fs.protocol if isinstance(store_fs.protocol, tuple) else (
            store_fs.protocol,)
        if scheme in protocols:
            return store_fs, store_fs._strip_protocol(uri)
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def _exists(backend: Backend | None, uri: str) -> bool:
    try:
        fs, path = _filesystem(backend, uri)
        fs.invalidate_cache(path)
        return bool(fs.exists(path))
    except Exception:  # an unreachable old copy is just not reusable
        return False


def _put(backend: Backend | None, local: str, target: str) -> None:
    from fsspec.implementations.local import LocalFileSystem

    fs, path = _filesystem(backend, target)
    if isinstance(fs, LocalFileSystem):
        _put_local(local, path)
    else:
        # Object stores publish an object only once it is complete.
        fs.put_file(local, path)


def _put_local(local: str, path: str) -> None:
    """Copy to a temp name, fsync, rename: a crash never leaves a half file at ``path``."""
    parent = os.path.dirname(path) or os.curdir
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.part")
    try:
        with open(local, "rb") as src, open(tmp, "xb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_sources(
    backend: Backend | None, uris: list[str], retries: int = 5
) -> list[dict[str, Any]]:
    """Delete source files (local or in the cloud), in parallel, each with retries.

    A file already gone counts as deleted. Copies are shared by content: a file
    that another frame or version reuses (see the module docstring) is gone for
    it too, so callers pass only URIs that nothing else names.

    Args:
        backend: the store's backend (its client serves URIs of its own scheme).
        uris: the files to delete.
        retries: retries per file, with exponential backoff.

    Returns:
        The failures, as ``{"uri", "error", "error_type": "delete"}``; never raises
        for a file that cannot be deleted.
    """
    todo = list(dict.fromkeys(u for u in uris if isinstance(u, str) and u))
    if not todo:
        return []

    def remove(uri: str) -> str | None:
        def once() -> None:
            fs, path = _filesystem(backend, uri)
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(path)
            fs.invalidate_cache(path)

        return _with_retries(once, retries, uri, "deletion")

    remote = any(not u.startswith(_FILE) for u in todo)
    with ThreadPoolExecutor(min(_REMOTE_WORKERS if remote else _WORKERS, len(todo))) as pool:
        errors = list(pool.map(remove, todo))
    return [
        {"uri": u, "error": e, "error_type": "delete"}
        for u, e in zip(todo, errors, strict=True) if e is not None
    ]


def _assemble(
    items: list[Item], found: list[tuple[dict[str, _File], list[str]]], keep_failed: bool
) -> tuple[list[Item], list[dict[str, Any]]]:
    done: list[Item] = []
    failed: list[dict[str, Any]] = []
    for (frame, record), (refs, errors) in zip(items, found, strict=True):
        errors = errors + [f.error for f in refs.values() if f.error is not None]
        if errors:
            failed.append({
                "frame": frame if frame is not None else record.get("id"),
                "error": "; ".join(dict.fromkeys(errors)),
                "error_type": "upload",
            })
            if keep_failed:
                done.append((frame, record))
        else:
            done.append((frame, _rewrite(record, refs) if refs else record))
    return done, failed


def _rewrite(record: dict[str, Any], refs: dict[str, _File]) -> dict[str, Any]:
    """Return a copy of ``record`` pointing at the uploaded files, with source hashes."""
    out = copy.deepcopy(record)
    for holder, is_source in _uri_holders(out):
        f = refs.get(holder["uri"])
        if f is None or f.uri is None:
            continue
        holder["uri"] = f.uri
        if is_source:
            meta = holder.setdefault("meta", {})
            hashes = meta.get("hash") if isinstance(meta.get("hash"), dict) else {}
            meta["hash"] = {**hashes, "source": f.digest}
    # The default context id is the first source URI: let it follow the upload.
    context = out.get("context_id")
    if isinstance(context, str) and context in refs and refs[context].uri is not None:
        out["context_id"] = refs[context].uri
    return out
