"""Backend over any fsspec URL (``file://``, ``memory://``, ``s3://``, ``gs://``, ``az://``).

Layout under the root::

    objects/<2 hex>/<62 hex>    immutable object bytes, named by id
    keys/<name>                 named values; refs are created once, never rewritten

Creating a key must be atomic. Cloud filesystems make ``pipe_file(mode="create")``
a conditional PUT (S3 ``If-None-Match``, GCS ``ifGenerationMatch=0``, Azure
``overwrite=False``). fsspec's generic fallback is an ``exists`` check then a
write, which is not atomic, so local directories use a temp file plus
``os.link`` (which fails if the name exists) and ``memory://`` a process lock.
At open, a probe checks that a second create of the same key fails.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vstore.engine.backends.base import Backend, check_key
from vstore.errors import BackendError, UnsafeBackendError

__all__ = ["FsspecBackend"]

_memory_lock = threading.Lock()
_IO_THREADS = 8


def _mtime(info: dict[str, Any]) -> float:
    """Return a file's modification time from the fields fsspec filesystems use."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "created", "timeCreated"):
        v = info.get(field)
        if v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, _dt.datetime):
            return v.timestamp()
        if isinstance(v, str):
            try:
                return _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: str, data: bytes) -> str:
    """Write ``data`` to a new synced temp file in ``directory`` and return its path."""
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


class FsspecBackend(Backend):
    """Backend over an fsspec filesystem rooted at ``url``.

    Args:
        url: the store's root URL.
        storage_options: passed untouched to ``fsspec.url_to_fs``.
        single_writer: accept a filesystem whose create-if-absent is not atomic;
            only safe when one process writes at a time.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        single_writer: bool = False,
    ) -> None:
        import fsspec

        self.url = url
        self.fs, root = fsspec.url_to_fs(url, **(storage_options or {}))
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._local = "file" in protocols or "local" in protocols
        self._memory = "memory" in protocols
        self.root = root.rstrip("/")
        self.durable = self._local or not self._memory
        if self._local:
            self.root = os.path.abspath(self.root)
            os.makedirs(os.path.join(self.root, "objects"), exist_ok=True)
            os.makedirs(os.path.join(self.root, "keys"), exist_ok=True)
        self.atomic_create = self._probe_create()
        if not self.atomic_create and not single_writer:
            raise UnsafeBackendError(
                f"{url}: a second create of the same key did not fail, so concurrent writers "
                "could overwrite each other's refs; use a backend with conditional writes, "
                "or open with single_writer=True if only one process ever writes"
            )

    # -- paths -------------------------------------------------------------------

    def _opath(self, oid: bytes) -> str:
        h = oid.hex()
        return f"{self.root}/objects/{h[:2]}/{h[2:]}"

    def _kpath(self, key: str) -> str:
        return f"{self.root}/keys/{check_key(key)}"

    def _probe_create(self) -> bool:
        key = f".probe/{uuid.uuid4().hex}"
        try:
            first = self.create_key(key, b"1")
            second = self.create_key(key, b"2")
            kept = self.read_key(key) == b"1"
        except OSError as exc:
            raise BackendError(f"{self.url}: probe write failed: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                self.delete_key(key)
        return first and not second and kept

    # -- objects -----------------------------------------------------------------

    def get_objects(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        if not ids:
            return {}
        if self._local:
            return dict(self._map_local(self._get_local, ids))
        paths = {self._opath(i): i for i in ids}
        try:
            got = self.fs.cat(list(paths), on_error="omit")
        except OSError as exc:
            raise BackendError(f"{self.url}: reading objects failed: {exc}") from exc
        return {paths[p]: bytes(v) for p, v in got.items() if p in paths}

    def _get_local(self, oid: bytes) -> tuple[bytes, bytes] | None:
        try:
            with open(self._opath(oid), "rb") as f:
                return oid, f.read()
        except FileNotFoundError:
            return None

    def _map_local(self, fn: Any, items: Sequence[Any]) -> Iterator[Any]:
        if len(items) < 4:
            results = [fn(i) for i in items]
        else:
            with ThreadPoolExecutor(_IO_THREADS) as pool:
                results = list(pool.map(fn, items))
        return (r for r in results if r is not None)

    def put_objects(self, items: Mapping[bytes, bytes]) -> None:
        if not items:
            return
        if self._local:
            dirs = list(self._map_local(lambda kv: self._put_local(*kv), list(items.items())))
            for d in set(dirs):
                _fsync_dir(d)
            return
        present = self.has_objects(items)
        missing = [i for i in items if i not in present]
        try:
            self.fs.pipe({self._opath(i): items[i] for i in missing})
        except OSError as exc:
            raise BackendError(f"{self.url}: writing objects failed: {exc}") from exc

    def _put_local(self, oid: bytes, data: bytes) -> str | None:
        path = self._opath(oid)
        d = os.path.dirname(path)
        if os.path.exists(path):
            # Freshen: a gc running now must treat a reused object as new.
            os.utime(path)
            return None
        os.makedirs(d, exist_ok=True)
        tmp = _write_temp(d, data)
        try:
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
        return d

    def has_objects(self, ids: Iterable[bytes]) -> set[bytes]:
        ids = list(ids)
        if self._local:
            return {i for i in ids if os.path.exists(self._opath(i))}
        return {i for i in ids if self.fs.exists(self._opath(i))}

    def iter_objects(self) -> Iterator[tuple[bytes, float]]:
        base = f"{self.root}/objects"
        if self._local:
            for d in sorted(os.listdir(base)):
                for name in sorted(os.listdir(os.path.join(base, d))):
                    if name.startswith(".tmp-"):
                        continue
                    st = os.stat(os.path.join(base, d, name))
                    yield bytes.fromhex(d + name), st.st_mtime
            return
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        for path, info in sorted(found.items()):
            parts = path.rstrip("/").split("/")
            try:
                oid = bytes.fromhex(parts[-2] + parts[-1])
            except ValueError:
                continue
            yield oid, _mtime(info)

    def delete_objects(self, ids: Iterable[bytes], older_than: float | None = None) -> int:
        n = 0
        for oid in ids:
            path = self._opath(oid)
            try:
                if older_than is not None:
                    info = {"mtime": os.stat(path).st_mtime} if self._local else self.fs.info(path)
                    if _mtime(info) >= older_than:
                        continue
                self.fs.rm_file(path)
                n += 1
            except FileNotFoundError:
                pass
        return n

    # -- keys --------------------------------------------------------------------

    def read_key(self, key: str) -> bytes | None:
        path = self._kpath(key)
        try:
            if self._local:
                with open(path, "rb") as f:
                    return f.read()
            return bytes(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def create_key(self, key: str, value: bytes) -> bool:
        path = self._kpath(key)
        if self._local:
            d = os.path.dirname(path)
            os.makedirs(d, exist_ok=True)
            tmp = _write_temp(d, value)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            _fsync_dir(d)
            return True
        try:
            if self._memory:
                with _memory_lock:
                    self.fs.pipe_file(path, value, mode="create")
            else:
                self.fs.pipe_file(path, value, mode="create")
        except FileExistsError:
            return False
        return True

    def write_key(self, key: str, value: bytes) -> None:
        path = self._kpath(key)
        if self._local:
            d = os.path.dirname(path)
            os.makedirs(d, exist_ok=True)
            os.replace(_write_temp(d, value), path)
            return
        self.fs.pipe_file(path, value)

    def list_keys(self, prefix: str) -> list[str]:
        base = f"{self.root}/keys/"
        full = base + check_key(prefix)
        out: list[str] = []
        if self._local:
            if os.path.isfile(full):
                return [prefix]
            for dirpath, _dirs, files in os.walk(full):
                for name in files:
                    if not name.startswith(".tmp-"):
                        out.append(os.path.relpath(os.path.join(dirpath, name), base[:-1]))
            return sorted(o.replace(os.sep, "/") for o in out)
        try:
            if self.fs.isfile(full):
                return [prefix]
            found = self.fs.find(full)
        except FileNotFoundError:
            return []
        strip = self.fs._strip_protocol(base)
        return sorted(p[len(strip) :].lstrip("/") for p in found)

    def delete_key(self, key: str) -> bool:
        try:
            self.fs.rm_file(self._kpath(key))
            return True
        except FileNotFoundError:
            return False

