"""Typed object store over a backend: framing, verification on read, batched writes."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vstore.engine.backends.base import Backend
from vstore.engine.codec import ObjectKind, hexid, pack_object, pack_objects, unpack_object
from vstore.errors import CorruptObjectError, MissingObjectError

__all__ = ["LRU", "ObjectStore", "WriteBatch", "WriteStats"]

# A batch writes to the backend once it holds this many bytes, so building a
# large tree never keeps more than this in memory.
_BATCH_BYTES = 16 * 1024 * 1024


class LRU:
    """A thread-safe least-recently-used map bounded by the total weight of its values."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.weight = 0
        self._d: OrderedDict[bytes, Any] = OrderedDict()
        # Weights apart from the values: a dict of ints is not tracked by the cyclic
        # collector, where a (value, weight) tuple per entry would be.
        self._w: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Any:
        # One C call, atomic on its own: a miss (most lookups of a random read) takes
        # no lock; a hit is marked as recent under the lock, unless evicted meanwhile.
        hit = self._d.get(key)
        if hit is not None:
            with self._lock:
                if key in self._d:
                    self._d.move_to_end(key)
        return hit

    def put(self, key: bytes, value: Any, weight: int = 1) -> None:
        if weight > self.capacity:
            return
        with self._lock:
            if key in self._d:
                self.weight -= self._w[key]
            self._d[key] = value
            self._d.move_to_end(key)
            self._w[key] = weight
            self.weight += weight
            while self.weight > self.capacity:
                old, _ = self._d.popitem(last=False)
                self.weight -= self._w.pop(old)

    def pop(self, key: bytes) -> None:
        """Forget ``key`` (nothing happens if it is not held)."""
        with self._lock:
            if key in self._d:
                del self._d[key]
                self.weight -= self._w.pop(key)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._w.clear()
            self.weight = 0


@dataclass
class WriteStats:
    """What a batch sent to the backend."""

    objects: int = 0
    bytes: int = 0

    def add(self, other: WriteStats) -> None:
        self.objects += other.objects
        self.bytes += other.bytes


class ObjectStore:
    """Objects by id over a backend; every read verifies the id.

    Args:
        backend: where the bytes live.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        # Batches holding queued objects: an object queued but not yet flushed must
        # still be readable, e.g. when a second apply in one flush walks a node the
        # first one made. Weak, so an abandoned batch does not stay here.
        self._open: dict[int, weakref.ref[WriteBatch]] = {}

    def _unflushed(self, object_id: bytes) -> bytes | None:
        if not self._open:
            return None
        for ref in list(self._open.values()):
            b = ref()
            stored = None if b is None else b.peek(object_id)
            if stored is not None:
                return stored
        return None

    def get(self, object_id: bytes, kind: ObjectKind | None = None) -> bytes:
        """Return an object's canonical body.

        Raises:
            MissingObjectError: no such object.
            CorruptObjectError: the bytes are damaged, or of another kind than ``kind``.
        """
        stored = self._read(object_id)
        return self._check(object_id, stored, kind)

    def get_many(
        self, ids: Sequence[bytes], kind: ObjectKind | None = None
    ) -> dict[bytes, bytes]:
        """Return the bodies of ``ids``.

        Raises:
            MissingObjectError: one of them is absent.
            CorruptObjectError: one of them is damaged.
        """
        # Objects still queued in an open batch are read from it, not asked of the store
        # (on a remote store that would be a request each, answered "absent").
        queued = (
            {oid: q for oid in ids if (q := self._unflushed(oid)) is not None}
            if self._open
            else {}
        )
        found = self.backend.get_objects([o for o in ids if o not in queued]) if len(
            queued) < len(ids) else {}
        out = {}
        for oid in ids:
            stored = queued.get(oid)
            if stored is None:
                stored = found.get(oid)
            if stored is None:
                raise MissingObjectError(hexid(oid))
            out[oid] = self._check(oid, stored, kind)
        return out

    @staticmethod
    def _check(oid: bytes, stored: bytes, kind: ObjectKind | None) -> bytes:
        got, body = unpack_object(oid, stored)
        if kind is not None and got != kind:
            raise CorruptObjectError(hexid(oid), f"is a {got.name}, expected a {kind.name}")
        return body

    def get_kind(self, object_id: bytes) -> tuple[ObjectKind, bytes]:
        """Return ``(kind, body)`` of an object whose kind is not known in advance."""
        return unpack_object(object_id, self._read(object_id))

    def _read(self, object_id: bytes) -> bytes:
        stored = self._unflushed(object_id)
        if stored is None:
            stored = self.backend.get_object(object_id)
        if stored is None:
            raise MissingObjectError(hexid(object_id))
        return stored

    def put(self, kind: ObjectKind, body: bytes) -> bytes:
        """Store one object now and return its id."""
        oid, stored = pack_object(kind, body)
        self.backend.put_objects({oid: stored})
        return oid

    def has(self, ids: Iterable[bytes]) -> set[bytes]:
        """Return the subset of ``ids`` that are stored."""
        return self.backend.has_objects(ids)

    def batch(self) -> WriteBatch:
        """Return a new write batch over this store."""
        return WriteBatch(self)


class WriteBatch:
    """Collects new objects and writes them together.

    Objects become durable at :meth:`flush` (or earlier, when the batch grows
    past its memory bound). Callers write objects before the ref that points to
    them, so a crash in between leaves only unreferenced objects.
    """

    def __init__(self, store: ObjectStore, max_bytes: int = _BATCH_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._pending: dict[bytes, bytes] = {}
        self._size = 0
        self.stats = WriteStats()

    def _register(self) -> None:
        opened, key = self.store._open, id(self)
        # The callback holds the store's map and the key, never the batch itself.
        opened[key] = weakref.ref(self, lambda _ref: opened.pop(key, None))

    def peek(self, object_id: bytes) -> bytes | None:
        """Return the stored bytes of a queued, unflushed object."""
        return self._pending.get(object_id)

    def add(self, kind: ObjectKind, body: bytes) -> bytes:
        """Queue one object; return its id."""
        oid, stored = pack_object(kind, body)
        self._queue(oid, stored)
        return oid

    def add_many(self, kind: ObjectKind, bodies: list[bytes]) -> list[bytes]:
        """Queue objects of one kind (packed on two threads when large); return their ids."""
        packed = pack_objects(kind, bodies)
        for oid, stored in packed:
            self._queue(oid, stored)
        return [oid for oid, _ in packed]

    def _queue(self, oid: bytes, stored: bytes) -> None:
        if oid not in self._pending:
            if not self._pending:
                self._register()
            self._pending[oid] = stored
            self._size += len(stored)
            if self._size >= self.max_bytes:
                self.flush()

    def flush(self) -> WriteStats:
        """Write what is queued; return what this call wrote."""
        if not self._pending:
            return WriteStats()
        done = WriteStats(len(self._pending), self._size)
        self.store.backend.put_objects(self._pending)
        self._pending = {}
        self._size = 0
        self.store._open.pop(id(self), None)
        self.stats.add(done)
        return done

    def __len__(self) -> int:
        return len(self._pending)
