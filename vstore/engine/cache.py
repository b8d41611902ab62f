"""A bounded on-disk cache of immutable objects, shared by the processes of one user.

Objects never change once written, so a copy fetched from a remote store is good
forever. Entries live under ``<cache dir>/<namespace>/<2 hex>/<62 hex>``, one
namespace per store, so an object cached from one store is never taken as
present in another.

* **Several processes at once.** An entry is written to a unique temp file and
  renamed into place, so a reader sees a whole entry or none. Each entry starts
  with a checksum of its bytes; a torn or damaged entry is deleted and reported
  as a miss, so the caller fetches the object again.
* **Bounded.** Past its size bound, the least recently used entries (by mtime,
  refreshed on each hit) are deleted down to 90% of the bound; one process at a
  time trims, under a lock file.

The default directory is ``$VSTORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/vstore``,
else ``~/.cache/vstore``; the default bound is ``$VSTORE_CACHE_SIZE`` bytes
(``0`` turns the cache off), else 2 GiB.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterable, Mapping

import blake3

__all__ = ["DEFAULT_CACHE_SIZE", "ObjectCache", "default_cache_dir", "default_cache_size"]

DEFAULT_CACHE_SIZE = 2 * 1024**3
_MAGIC = b"VSC1"
_SUM = 16
_HEADER = len(_MAGIC) + _SUM


def default_cache_dir() -> str:
    """The cache directory from the environment (see the module docstring)."""
    explicit = os.environ.get("VSTORE_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "vstore")


def default_cache_size() -> int:
    """The cache bound in bytes from ``$VSTORE_CACHE_SIZE`` (2 GiB when unset or invalid)."""
    raw = os.environ.get("VSTORE_CACHE_SIZE", "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_CACHE_SIZE
    except ValueError:
        return DEFAULT_CACHE_SIZE


def _checksum(data: bytes) -> bytes:
    return blake3.blake3(data).digest(length=_SUM)


class ObjectCache:
    """Immutable objects by id, on local disk, for one store.

    Args:
        namespace: the store this cache serves (any string; hashed into a folder name).
        directory: the cache root (default: :func:`default_cache_dir`).
        max_bytes: the size bound of the whole cache root (default:
            :func:`default_cache_size`).
    """

    def __init__(
        self, namespace: str, directory: str | None = None, max_bytes: int | None = None
    ) -> None:
        self.root = directory or default_cache_dir()
        self.max_bytes = default_cache_size() if max_bytes is None else max_bytes
        ns = blake3.blake3(namespace.encode("utf-8")).hexdigest(length=12)
        self.dir = os.path.join(self.root, "objects", ns)
        self._added = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, oid: bytes) -> str:
        h = oid.hex()
        return os.path.join(self.dir, h[:2], h[2:])

    # -- reads -----------------------------------------------------------------------

    def get(self, oid: bytes) -> bytes | None:
        """Return an object's bytes, or None if it is absent or its entry is damaged."""
        path = self._path(oid)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            self.misses += 1
            return None
        data = raw[_HEADER:]
        if raw[: len(_MAGIC)] != _MAGIC or raw[len(_MAGIC) : _HEADER] != _checksum(data):
            with contextlib.suppress(OSError):
                os.unlink(path)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        self.hits += 1
        return data

    def get_many(self, ids: Iterable[bytes]) -> dict[bytes, bytes]:
        """Return the cached objects among ``ids``."""
        out = {}
        for oid in ids:
            data = self.get(oid)
            if data is not None:
                out[oid] = data
        return out

    # -- writes ----------------------------------------------------------------------

    def put_many(self, items: Mapping[bytes, bytes]) -> None:
        """Cache objects (best effort: a full or read-only disk only costs the cache)."""
        if self.max_bytes <= 0:
            return
        added = 0
        for oid, data in items.items():
            if len(data) + _HEADER > self.max_bytes // 4:
                continue  # one object must not flush the whole cache
            try:
                added += self._put(oid, data)
            except OSError:
                return
        with self._lock:
            self._added += added
            due = self._added > self.max_bytes // 10
            if due:
                self._added = 0
        if due:
            self.trim()

    def _put(self, oid: bytes, data: bytes) -> int:
        path = self._path(oid)
        if os.path.exists(path):
            return 0
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            f.write(_MAGIC + _checksum(data) + data)
        try:
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
        return len(data) + _HEADER

    def discard(self, ids: Iterable[bytes]) -> None:
        """Forget objects (they were deleted from the store)."""
        for oid in ids:
            with contextlib.suppress(OSError):
                os.unlink(self._path(oid))

    # -- bound -------------------------------------------------------------------------

    def size(self) -> int:
        """Bytes held by the whole cache root (all stores)."""
        return sum(size for _, size, _ in self._entries())

    def _entries(self) -> list[tuple[str, int, float]]:
        out = []
        for dirpath, _dirs, files in os.walk(os.path.join(self.root, "objects")):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.append((path, st.st_size, st.st_mtime))
        return out

    def trim(self) -> int:
        """Delete least recently used entries until the cache is under 90% of its bound.

        Returns:
            The number of bytes freed (0 if another process is trimming).
        """
        import fcntl

        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, "trim.lock"), "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0
            entries = self._entries()
            total = sum(size for _, size, _ in entries)
            target = self.max_bytes * 9 // 10
            freed = 0
            for path, size, _ in sorted(entries, key=lambda e: e[2]):
                if total - freed <= target:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    freed += size
            return freed
