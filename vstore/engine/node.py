"""Tree nodes: the decoded form, the canonical body, and entry sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from vstore.engine.chunker import Chunker
from vstore.engine.codec import ID_SIZE, encode, hash_bytes

__all__ = [
    "EMPTY_ROOT",
    "MAX_KEY_SIZE",
    "MAX_VALUE_SIZE",
    "Node",
    "Spill",
    "entry_size",
    "node_body",
]

Spill = msgspec.msgpack.Ext
SPILL_CODE = 1
ENTRY_OVERHEAD = 4
MAX_KEY_SIZE = 4096
MAX_VALUE_SIZE = 32 * 1024 * 1024


def ext_hook(code: int, data: bytes) -> Spill:
    return Spill(code, data)


class Node(msgspec.Struct, gc=False, eq=False):
    """A decoded tree node (immutable; shared through caches).

    Not tracked by Python's cyclic garbage collector (``gc=False``): a node only
    holds tuples of bytes, ints and spill references, so it can be in no cycle,
    and a cache of tens of thousands of nodes then adds nothing to each
    collection. Its columns are tuples for the same reason (a tuple of bytes or
    ints stops being tracked at its first collection; a list never does).

    Args:
        id: the node's object id.
        level: 0 for a leaf.
        keys: the entries' keys, a tuple.
        vals: a leaf's values, or an internal node's child ids, a tuple.
        counts: an internal node's record counts per child, a tuple (None in a leaf).
    """

    id: bytes
    level: int
    keys: tuple[bytes, ...]
    vals: tuple[Any, ...]
    counts: tuple[int, ...] | None = None
    _evals: tuple[Any, ...] | None = None
    _sizes: tuple[int, ...] | None = None
    _hashes: tuple[int, ...] | None = None

    @property
    def count(self) -> int:
        """Number of records below this node."""
        return len(self.keys) if self.counts is None else sum(self.counts)

    def entry(self, i: int) -> Any:
        """The chunker value of entry ``i``: the raw value, or ``(child_id, count)``."""
        if self.counts is None:
            return self.vals[i]
        return (self.vals[i], self.counts[i])

    def columns(self, ch: Chunker) -> Columns:
        """Keys, chunker values, sizes and boundary hashes (computed once, then cached)."""
        if self._hashes is None:
            if self.counts is None:
                self._evals = self.vals
            else:
                self._evals = tuple(zip(self.vals, self.counts, strict=True))
            lvl = self.level
            pairs = zip(self.keys, self.vals, strict=True)
            self._sizes = tuple([entry_size(lvl, k, v) for k, v in pairs])
            self._hashes = tuple(ch.hashes(list(self.keys)))
        assert self._evals is not None and self._sizes is not None
        return self.keys, self._evals, self._sizes, self._hashes

    def set_columns(
        self, evals: Sequence[Any], sizes: Sequence[int], hashes: Sequence[int]
    ) -> None:
        """Record columns the chunker already computed for this node."""
        self._evals, self._sizes, self._hashes = tuple(evals), tuple(sizes), tuple(hashes)


Columns = tuple[Sequence[bytes], Sequence[Any], Sequence[int], Sequence[int]]


def node_body(level: int, keys: Sequence[bytes], vals: Sequence[Any]) -> bytes:
    if level == 0:
        return encode([0, keys, vals])
    return encode([level, keys, [v[0] for v in vals], [v[1] for v in vals]])


EMPTY_BODY = node_body(0, [], [])


EMPTY_ROOT = hash_bytes(EMPTY_BODY)


def entry_size(level: int, key: bytes, value: Any) -> int:
    if level:
        return len(key) + ID_SIZE + ENTRY_OVERHEAD
    if isinstance(value, bytes):
        return len(key) + len(value) + ENTRY_OVERHEAD
    return len(key) + ID_SIZE + ENTRY_OVERHEAD
