"""Backend over any fsspec URL (``file://``, ``memory://``, ``s3://``, ``gs://``, ``az://``).

Layout under the root::

    objects/<2 hex>/<62 hex>    loose objects, named by id (local directories, memory)
    packs/<name>.pack|.idx      packed objects (remote stores; see packs.py)
    keys/<name>                 named values; refs are created once, never rewritten

Creating a key must be atomic. Cloud filesystems make ``pipe_file(mode="create")``
a conditional PUT (s3fs sends ``If-None-Match: *``, gcsfs ``ifGenerationMatch=0``,
adlfs ``overwrite=False``), and each turns the refusal into ``FileExistsError``.
fsspec's generic fallback is an ``exists`` check then a write, which is not atomic,
so local directories use a temp file plus ``os.link`` (which fails if the name
exists) and ``memory://`` a process lock. At open, a probe checks that a second
create of the same key fails, and refuses the store otherwise.

Remote stores (anything but ``file://`` and ``memory://``) send every request
through :class:`~vstore.engine.backends.transfer.Transfer` (concurrent, retried
with backoff on throttling and transient errors), write objects in packs, and
keep fetched objects in an on-disk :class:`~vstore.engine.cache.ObjectCache`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vstore.engine.backends.base import Backend, check_key
from vstore.engine.backends.packs import READ_AHEAD, PackStore
from vstore.engine.backends.transfer import Call, RetryPolicy, Transfer, mtime_of, secrets_of
from vstore.engine.cache import ObjectCache
from vstore.errors import BackendError, UnsafeBackendError

__all__ = ["FsspecBackend", "mtime_of"]

_memory_lock = threading.Lock()
_IO_THREADS = 8
_EXTRAS = {
    "s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs",
    "az": "azure", "abfs": "azure", "abfss": "azure", "adl": "azure",
}
_USERINFO = re.compile(r"^([a-zA-Z][\w+.-]*://)[^/@]*@")


def public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, fit for messages and reprs."""
    return _USERINFO.sub(r"\1***@", url)


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


def _open_filesystem(url: str, options: Mapping[str, Any], where: str) -> tuple[Any, str]:
    """``fsspec.url_to_fs`` with errors that say which extra to install, and no secrets."""
    import fsspec

    scheme = url.split("://", 1)[0].lower()
    try:
        return fsspec.url_to_fs(url, **options)  # type: ignore[no-any-return]
    except ImportError:
        extra = _EXTRAS.get(scheme)
        hint = f"pip install 'vstore[{extra}]'" if extra else "install its fsspec implementation"
        raise BackendError(
            f"{where}: no filesystem for {scheme}:// is installed: {hint}"
        ) from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise BackendError(f"{where}: unknown URL scheme {scheme}://") from None
        redacted = Transfer(None, where, secrets_of(options)).redact(str(exc))
        raise BackendError(f"{where}: cannot open the filesystem: {redacted}") from None


class FsspecBackend(Backend):
    """Backend over an fsspec filesystem rooted at ``url``.

    Args:
        url: the store's root URL.
        storage_options: passed untouched to ``fsspec.url_to_fs`` (credentials,
            endpoints); never stored, printed or put in an error message.
        single_writer: accept a filesystem whose create-if-absent is not atomic;
            only safe when one process writes at a time.
        packs: write objects in packs (default: on for remote stores; local
            directories always keep one file per object).
        cache: cache fetched objects on local disk (default: on for remote stores;
            never for local directories).
        cache_dir: the cache's location; ``cache_size``: its bound in bytes (see
            :mod:`vstore.engine.cache` for the defaults).
        retry: the retry policy of remote requests.
        concurrency: most requests in flight at once.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        single_writer: bool = False,
        packs: bool | None = None,
        cache: bool | None = None,
        cache_dir: str | None = None,
        cache_size: int | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 32,
    ) -> None:
        self.url = public_url(url)
        options = dict(storage_options or {})
        self.fs, root = _open_filesystem(url, options, self.url)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._local = "file" in protocols or "local" in protocols
        self._memory = "memory" in protocols
        self.remote = not (self._local or self._memory)
        self.root = root.rstrip("/")
        self.durable = not self._memory
        self.t = Transfer(self.fs, self.url, secrets_of(options), retry, concurrency)
        self.cache: ObjectCache | None = None
        if not self._local and (cache if cache is not None else self.remote):
            self.cache = ObjectCache(f"{protocols[0]}://{self.root}", cache_dir, cache_size)
        self.packs: PackStore | None = None
        if not self._local and (packs if packs is not None else self.remote):
            self.packs = PackStore(self.t, self.root, self.cache)
        if self._local:
            self.root = os.path.abspath(self.root)
            os.makedirs(os.path.join(self.root, "objects"), exist_ok=True)
            os.makedirs(os.path.join(self.root, "keys"), exist_ok=True)
        self.atomic_create = self._probe_create()
        if not self.atomic_create and not single_writer:
            raise UnsafeBackendError(
                f"{self.url}: a second create of the same key did not fail, so this "
                "backend or endpoint does not enforce create-if-absent and concurrent writers "
                "could overwrite each other's refs; use a store with conditional writes, or "
                "open with single_writer=True if only one process ever writes"
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
            raise BackendError(f"{self.url}: probe write failed: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                self._rm(self._kpath(key))
        return first and not second and kept

    def _rm(self, path: str) -> None:
        if self._local:
            os.unlink(path)
        else:
            self.t.one("deleting", Call("rm_file", (path,)))

    # -- objects -----------------------------------------------------------------

    def get_objects(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        return self._get_objects(ids, self.cache)

    def get_objects_uncached(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        return self._get_objects(ids, None)

    def _get_objects(self, ids: Sequence[bytes], cache: Any) -> dict[bytes, bytes]:
        if not ids:
            return {}
        if self._local:
            return dict(self._map_local(self._get_local, ids))
        out = cache.get_many(ids) if cache is not None else {}
        rest = rest_all = [i for i in dict.fromkeys(ids) if i not in out]
        fetched: dict[bytes, bytes] = {}
        if rest and self.packs is not None:
            ahead = READ_AHEAD if cache is not None else 0
            fetched = self.packs.read(rest, ahead)
            rest = [i for i in rest if i not in fetched]
        if rest:
            got = self.t.many("reading objects", [self.t.get(self._opath(i)) for i in rest])
            fetched.update((i, bytes(v)) for i, v in zip(rest, got, strict=True)
                           if not isinstance(v, BaseException))
        if cache is not None:
            cache.put_many(fetched)
        out.update((i, fetched[i]) for i in rest_all if i in fetched)
        return out

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
        if self.packs is not None:
            self.packs.write(items)
        else:
            # Writing an existing object again rewrites the same bytes and freshens its
            # time, which a concurrent gc needs; it also costs no existence check.
            self.t.many("writing objects",
                        [Call("pipe_file", (self._opath(i), d)) for i, d in items.items()])
        if self.cache is not None:
            self.cache.put_many(items)

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
        ids = list(dict.fromkeys(ids))
        if self._local:
            return {i for i in ids if os.path.exists(self._opath(i))}
        found = self.packs.contains(ids) if self.packs is not None else set()
        rest = [i for i in ids if i not in found]
        got = self.t.many("checking objects",
                          [Call("info", (self._opath(i),)) for i in rest])
        return found | {i for i, v in zip(rest, got, strict=True)
                        if not isinstance(v, BaseException)}

    def iter_objects(self) -> Iterator[tuple[bytes, float]]:
        base = f"{self.root}/objects"
        if self._local:
            # A concurrent gc may delete a file (or empty a folder) between the listing
            # and the stat: what is gone is simply not listed.
            for d in sorted(os.listdir(base)):
                try:
                    names = sorted(os.listdir(os.path.join(base, d)))
                except FileNotFoundError:
                    continue
                for name in names:
                    if name.startswith(".tmp-"):
                        continue
                    try:
                        st = os.stat(os.path.join(base, d, name))
                    except FileNotFoundError:
                        continue
                    yield bytes.fromhex(d + name), st.st_mtime
            return
        times = dict(self.packs.objects()) if self.packs is not None else {}
        for oid, t in self._loose_objects(base):
            times[oid] = max(t, times.get(oid, t))
        yield from sorted(times.items())

    def sweep_temporary(self, older_than: float) -> int:
        if not self._local:
            return 0  # remote writes are single requests: they leave no temporary files
        n = 0
        for top in ("objects", "keys"):
            for d, _dirs, names in os.walk(f"{self.root}/{top}"):
                for name in names:
                    if not name.startswith(".tmp-"):
                        continue
                    path = os.path.join(d, name)
                    try:
                        if os.stat(path).st_mtime < older_than:
                            os.unlink(path)
                            n += 1
                    except FileNotFoundError:
                        continue
        return n

    def _loose_objects(self, base: str) -> Iterator[tuple[bytes, float]]:
        found = self.t.find("listing objects", base, detail=True)
        for path, info in found.items():
            parts = path.rstrip("/").split("/")
            try:
                oid = bytes.fromhex(parts[-2] + parts[-1])
            except ValueError:
                continue
            if len(oid) == 32:
                yield oid, mtime_of(info)

    def delete_objects(self, ids: Iterable[bytes], older_than: float | None = None) -> int:
        ids = list(dict.fromkeys(ids))
        if self.cache is not None:
            self.cache.discard(ids)
        if self._local:
            return sum(self._delete_local(oid, older_than) for oid in ids)
        n = self.packs.delete(ids, older_than) if self.packs is not None else 0
        loose = dict(self._loose_objects(f"{self.root}/objects"))
        doomed = [i for i in ids if i in loose
                  and (older_than is None or loose[i] < older_than)]
        self.t.many("deleting objects", [Call("rm_file", (self._opath(i),)) for i in doomed])
        return n + len(doomed)

    def _delete_local(self, oid: bytes, older_than: float | None) -> int:
        path = self._opath(oid)
        try:
            if older_than is not None and os.stat(path).st_mtime >= older_than:
                return 0
            os.unlink(path)
            return 1
        except FileNotFoundError:
            return 0

    # -- keys --------------------------------------------------------------------

    def read_key(self, key: str) -> bytes | None:
        path = self._kpath(key)
        if self._local:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
        got = self.t.one(f"reading key {key}", self.t.get(path))
        return None if isinstance(got, FileNotFoundError) else bytes(got)

    def create_key(self, key: str, value: bytes) -> bool:
        path = self._kpath(key)
        if self._local:
            return self._create_local(path, value)
        call = Call("pipe_file", (path, value), {"mode": "create"})
        if self._memory:
            with _memory_lock:
                got = self.t.one(f"creating key {key}", call)
        else:
            # A retry after a lost reply finds the key created: the caller's nonce in
            # the value tells whether that create was its own (see refs.py).
            got = self.t.one(f"creating key {key}", call)
        if isinstance(got, FileNotFoundError):
            raise BackendError(
                f"{self.url}: creating key {key} failed: the bucket or container does not "
                "exist; create it first"
            )
        return not isinstance(got, FileExistsError)

    def _create_local(self, path: str, value: bytes) -> bool:
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

    def write_key(self, key: str, value: bytes) -> None:
        path = self._kpath(key)
        if self._local:
            d = os.path.dirname(path)
            os.makedirs(d, exist_ok=True)
            os.replace(_write_temp(d, value), path)
            return
        got = self.t.one(f"writing key {key}", Call("pipe_file", (path, value)))
        if isinstance(got, BaseException):
            raise self.t.error(f"writing key {key}", got)

    def list_keys(self, prefix: str) -> list[str]:
        base = f"{self.root}/keys/"
        full = base + check_key(prefix)
        if self._local:
            if os.path.isfile(full):
                return [prefix]
            out: list[str] = []
            for dirpath, _dirs, files in os.walk(full):
                for name in files:
                    if not name.startswith(".tmp-"):
                        out.append(os.path.relpath(os.path.join(dirpath, name), base[:-1]))
            return sorted(o.replace(os.sep, "/") for o in out)
        found = self.t.find(f"listing keys {prefix}", full)
        strip = self.fs._strip_protocol(base)
        keys = (p[len(strip) :].lstrip("/") for p in found if p.startswith(strip))
        return sorted(k for k in keys if k == prefix or k.startswith(prefix + "/"))

    def delete_key(self, key: str) -> bool:
        path = self._kpath(key)
        if self._local:
            try:
                os.unlink(path)
                return True
            except FileNotFoundError:
                return False
        # Object stores answer a DELETE of an absent key with success: look first.
        if isinstance(self.t.one(f"deleting key {key}", Call("info", (path,))), OSError):
            return False
        self.fs.invalidate_cache(path)
        self.t.one(f"deleting key {key}", Call("rm_file", (path,)))
        return True
