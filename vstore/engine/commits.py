"""Commit objects: a tree root, parents, a time, a message and metadata."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vstore.engine.codec import ID_SIZE, ObjectKind, decode, encode, hexid
from vstore.engine.objects import ObjectStore, WriteBatch
from vstore.errors import CorruptObjectError

__all__ = ["Commit", "ancestors", "read_commit", "write_commit"]


@dataclass(frozen=True, slots=True)
class Commit:
    """An immutable version: what the tree was, where it came from, and why.

    Attributes:
        tree: root id of the record tree.
        parents: ids of the parent commits (none for a first commit, two for a merge).
        time: unix time of the commit.
        message: free text.
        meta: small caller metadata (canonical msgpack values).
        links: ids of further objects this commit keeps alive (extra trees, blobs).
        id: the commit's own id (set when read or written).
    """

    tree: bytes
    parents: tuple[bytes, ...] = ()
    time: float = 0.0
    message: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    links: tuple[bytes, ...] = ()
    id: bytes = b""

    def body(self) -> bytes:
        return encode(
            {
                "tree": self.tree,
                "parents": list(self.parents),
                "time": self.time,
                "message": self.message,
                "meta": self.meta,
                "links": list(self.links),
            }
        )


def write_commit(
    sink: ObjectStore | WriteBatch,
    tree: bytes,
    parents: Sequence[bytes] = (),
    message: str = "",
    meta: dict[str, Any] | None = None,
    links: Sequence[bytes] = (),
    when: float | None = None,
) -> Commit:
    """Create a commit object and return it (with its id)."""
    c = Commit(
        tree, tuple(parents), time.time() if when is None else when, message, dict(meta or {}),
        tuple(links),
    )
    body = c.body()
    oid = sink.add(ObjectKind.COMMIT, body) if isinstance(sink, WriteBatch) else sink.put(
        ObjectKind.COMMIT, body
    )
    return Commit(c.tree, c.parents, c.time, c.message, c.meta, c.links, oid)


def parse_commit(oid: bytes, body: bytes) -> Commit:
    """Decode a commit body read under ``oid``."""
    try:
        d = decode(body)
        ids = [d["tree"], *d["parents"], *d["links"]]
        if not all(isinstance(i, bytes) and len(i) == ID_SIZE for i in ids):
            raise ValueError("malformed object id")
        return Commit(
            d["tree"], tuple(d["parents"]), float(d["time"]), str(d["message"]), dict(d["meta"]),
            tuple(d["links"]), oid,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptObjectError(hexid(oid), f"not a valid commit: {exc}") from exc


def read_commit(store: ObjectStore, oid: bytes) -> Commit:
    """Read and verify commit ``oid``."""
    return parse_commit(oid, store.get(oid, ObjectKind.COMMIT))


def ancestors(store: ObjectStore, oid: bytes) -> Iterator[Commit]:
    """Yield commit ``oid`` and its ancestors, newest first, each once."""
    seen = {oid}
    first = read_commit(store, oid)
    heap: list[tuple[float, bytes, Commit]] = [(-first.time, oid, first)]
    while heap:
        _, _, c = heapq.heappop(heap)
        yield c
        for p in c.parents:
            if p not in seen:
                seen.add(p)
                pc = read_commit(store, p)
                heapq.heappush(heap, (-pc.time, p, pc))
