"""The prolly tree: an ordered map of ``bytes -> bytes`` as a Merkle tree of objects.

Leaves hold sorted ``(key, value)`` entries; internal nodes hold, for each
child, its first key, its id and the number of records below it. Node
boundaries come from :mod:`vstore.engine.chunker`, so the tree (and its root
id) is a pure function of its content.

Node bodies (canonical msgpack)::

    leaf:      [0, [key, ...], [value, ...]]
    internal:  [level, [first_key, ...], [child_id, ...], [count, ...]]

A value longer than ``spill_bytes`` is stored as its own BLOB object and the
leaf holds ``Ext(1, blob_id)`` in its place; reads resolve it transparently.
"""

from __future__ import annotations

import functools
import itertools
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

import msgpack
import msgspec

from vstore.engine.apply import Applier
from vstore.engine.chunker import Chunker, TreeParams
from vstore.engine.codec import ID_SIZE, ObjectKind, hexid
from vstore.engine.node import (
    EMPTY_ROOT,
    MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
    SPILL_CODE,
    Node,
    Spill,
    entry_size,
    ext_hook,
    node_body,
)
from vstore.engine.objects import LRU, ObjectStore, WriteBatch
from vstore.errors import CorruptObjectError, InvalidArgumentError, ObjectTooLargeError

__all__ = ["EMPTY_ROOT", "Node", "NodeCache", "ProllyTree", "Spill", "prefix_end", "sorted_edits"]

#: Leaves of a fixed-size build packed together (~2.7 MB of bodies for 16-record leaves).
_LEAF_GROUP = 256


class NodeCache:
    """Decoded nodes, bounded by weight: internal nodes and leaves in separate LRUs.

    A lookup passes through a few internal nodes that every other lookup shares,
    while a scan streams through leaves it never reads again; kept apart, a scan
    of a tree larger than the cache cannot evict the internal nodes, so random
    reads after it load about one node per key (its leaf) instead of a whole path.
    Internal nodes get an eighth of the budget.
    """

    def __init__(self, capacity: int) -> None:
        self.inner = LRU(capacity // 8)
        self.leaves = LRU(capacity - capacity // 8)
        #: How much one scan may add to the leaves (see :meth:`ProllyTree.leaves`).
        self.scan_budget = self.leaves.capacity // 4

    def get(self, oid: bytes) -> Node | None:
        node: Node | None = self.leaves.get(oid)
        return node if node is not None else self.inner.get(oid)

    def put(self, oid: bytes, node: Node, weight: int) -> None:
        (self.inner if node.level else self.leaves).put(oid, node, weight)

    def clear(self) -> None:
        self.inner.clear()
        self.leaves.clear()


class ProllyTree:
    """Operations on prolly trees stored in an :class:`ObjectStore`.

    Trees are immutable: every write returns a new root id. Writes go to a
    :class:`WriteBatch` (given, or a private one flushed before returning).

    Args:
        store: the object store.
        params: chunking parameters (must be the same for every writer of a store).
        spill_bytes: values longer than this are stored as their own object.
        cache_bytes: about how much memory decoded nodes may keep.
    """

    def __init__(
        self,
        store: ObjectStore,
        params: TreeParams | None = None,
        *,
        spill_bytes: int = 32 * 1024,
        cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.params = params or TreeParams()
        self.spill_bytes = spill_bytes
        self._cache = NodeCache(cache_bytes)

    # -- nodes -------------------------------------------------------------------

    def load(self, oid: bytes) -> Node:
        """Return the decoded node ``oid`` (verified, cached)."""
        node: Node | None = self._cache.get(oid)
        if node is None:
            if oid == EMPTY_ROOT:
                # The empty tree needs no stored object: every store "has" it.
                return Node(EMPTY_ROOT, 0, (), ())
            body = self.store.get(oid, ObjectKind.NODE)
            node = self._decode(oid, body)
            self._cache.put(oid, node, _weight(body, node))
        return node

    def load_many(self, oids: Sequence[bytes]) -> list[Node]:
        """Return several nodes in order, fetching the uncached ones in one request."""
        return self._fetch(oids, True)[0]

    def _fetch(self, oids: Sequence[bytes], cache: bool) -> tuple[list[Node], int]:
        """:meth:`load_many`, caching what it fetches only if ``cache``; also returns the
        weight of what it fetched."""
        out: list[Node | None] = [
            self._cache.get(o) if o != EMPTY_ROOT else self.load(o) for o in oids
        ]
        missing = [o for o, n in zip(oids, out, strict=True) if n is None]
        fetched = 0
        if missing:
            bodies = self.store.get_many(missing, ObjectKind.NODE)
            for i, o in enumerate(oids):
                if out[i] is None:
                    node = self._decode(o, bodies[o])
                    weight = _weight(bodies[o], node)
                    fetched += weight
                    if cache:
                        self._cache.put(o, node, weight)
                    out[i] = node
        return out, fetched  # type: ignore[return-value]

    def adopt(self, oid: bytes, body: bytes) -> Node:
        """Decode and cache node ``oid`` from a body read elsewhere (already verified)."""
        node = self._decode(oid, body)
        self._cache.put(oid, node, _weight(body, node))
        return node

    def prefetch(self, oids: Sequence[bytes], chunk: int = 256) -> None:
        """Load the uncached nodes among ``oids`` into the cache, a chunk per request.

        One backend request (one LMDB transaction, or one batch of ranged reads)
        per chunk instead of one per node.
        """
        self._load_all(list(oids), chunk)

    def prefetch_paths(self, top: Node, keys: Sequence[bytes]) -> None:
        """Load, level by level and in batches, every node on the paths to sorted ``keys``."""
        parents = [top] * len(keys)
        while keys and parents[0].level > 0:
            children = [
                node.vals[max(bisect_right(node.keys, k) - 1, 0)]
                for node, k in zip(parents, keys, strict=True)
            ]
            self.prefetch(children)
            loaded: dict[bytes, Node] = {}
            for cid in children:
                if cid not in loaded:
                    loaded[cid] = self.load(cid)
            parents = [loaded[c] for c in children]

    @staticmethod
    def _decode(oid: bytes, body: bytes) -> Node:
        node = _decode_typed(oid, body)
        return node if node is not None else ProllyTree._decode_checked(oid, body)

    @staticmethod
    def _decode_checked(oid: bytes, body: bytes) -> Node:
        """Decode any node body, with a check and a message for each way it can be wrong."""
        try:
            raw = msgpack.unpackb(
                body, raw=False, use_list=False, ext_hook=ext_hook, strict_map_key=True
            )
            if type(raw) is not tuple or not raw:
                raise ValueError("a node is an array")
            level = raw[0]
            # The id proves who wrote the bytes, not that they are a node: a hostile
            # writer's well-hashed node must not reach a comparison or a backend as a non-id.
            if level == 0 and len(raw) == 3:
                keys, vals = raw[1], raw[2]
                if len(keys) != len(vals):
                    raise ValueError("keys and values differ in length")
                _check_keys(keys)
                if not _all_bytes(vals) and not all(type(v) is bytes or _is_ref(v) for v in vals):
                    raise ValueError("a leaf value is neither bytes nor a reference")
                return Node(oid, 0, keys, vals)
            if type(level) is int and level > 0 and len(raw) == 4:
                keys, ids, counts = raw[1], raw[2], raw[3]
                if not (len(keys) == len(ids) == len(counts)) or not keys:
                    raise ValueError("malformed internal node")
                _check_keys(keys)
                if not _all_bytes(ids) or set(map(len, ids)) != {ID_SIZE}:
                    raise ValueError("a child id is not 32 bytes")
                array("Q", counts)  # TypeError or OverflowError unless counts >= 0
                return Node(oid, level, keys, ids, counts)
            raise ValueError("unknown node layout")
        except (ValueError, TypeError, IndexError, OverflowError, msgpack.UnpackException) as exc:
            raise CorruptObjectError(hexid(oid), f"not a valid tree node: {exc}") from exc

    def _make(
        self,
        level: int,
        keys: list[bytes],
        vals: list[Any],
        batch: WriteBatch,
        sizes: list[int] | None = None,
        hashes: list[int] | None = None,
        *,
        cache: bool = True,
    ) -> Node:
        body = node_body(level, keys, vals)
        oid = batch.add(ObjectKind.NODE, body)
        if level == 0:
            node = Node(oid, 0, tuple(keys), tuple(vals))
        else:
            ids = tuple([v[0] for v in vals])
            node = Node(oid, level, tuple(keys), ids, tuple([v[1] for v in vals]))
        if sizes is not None and hashes is not None:
            # The chunker already knows them: the next apply need not hash these keys.
            node.set_columns(vals, sizes, hashes)
        if cache:
            self._cache.put(oid, node, _weight(body, node))
        return node

    def _resolve(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, Spill) and value.code == SPILL_CODE:
            return self.store.get(bytes(value.data), ObjectKind.BLOB)
        raise CorruptObjectError("?", f"unknown leaf value {value!r}")

    def _store_value(self, value: bytes, batch: WriteBatch) -> Any:
        if len(value) > self.spill_bytes:
            if len(value) > MAX_VALUE_SIZE:
                raise ObjectTooLargeError(
                    f"value of {len(value)} bytes is over the {MAX_VALUE_SIZE}-byte limit"
                )
            return Spill(SPILL_CODE, batch.add(ObjectKind.BLOB, value))
        return value

    # -- reads -------------------------------------------------------------------

    def count(self, root: bytes) -> int:
        """Number of records in the tree."""
        return self.load(root).count

    def get(self, root: bytes, key: bytes, *, resolve: bool = True) -> Any:
        """Return the value at ``key``, or ``None``.

        With ``resolve=False`` a spilled value comes back as stored (an ``Ext``).
        """
        node = self.load(root)
        while node.level:
            i = bisect_right(node.keys, key) - 1
            if i < 0:
                return None
            node = self.load(node.vals[i])
        i = bisect_left(node.keys, key)
        if i < len(node.keys) and node.keys[i] == key:
            v = node.vals[i]
            return self._resolve(v) if resolve else v
        return None

    def get_many(
        self, root: bytes, keys: Iterable[bytes], *, resolve: bool = True
    ) -> dict[bytes, Any]:
        """Return the values of the keys that exist.

        One descent for all the keys, a level at a time: the nodes a level needs are
        fetched together (a backend request per chunk of them), and no key walks down
        from the root again.
        """
        out: dict[bytes, Any] = {}
        pending = [(k, self.load(root)) for k in sorted(set(keys))]
        while pending:
            deeper: list[bytes] = []
            child_ids: list[bytes] = []
            for k, node in pending:
                if node.level:
                    i = bisect_right(node.keys, k) - 1
                    if i >= 0:
                        deeper.append(k)
                        child_ids.append(node.vals[i])
                    continue
                i = bisect_left(node.keys, k)
                if i < len(node.keys) and node.keys[i] == k:
                    v = node.vals[i]
                    out[k] = v if not resolve or type(v) is bytes else self._resolve(v)
            if not deeper:
                break
            children = self._load_all(child_ids)
            pending = [(k, children[c]) for k, c in zip(deeper, child_ids, strict=True)]
        return out

    def _load_all(self, oids: list[bytes], chunk: int = 256) -> dict[bytes, Node]:
        """The distinct nodes among ``oids``, fetched a chunk per request."""
        unique = list(dict.fromkeys(oids))
        nodes: dict[bytes, Node] = {}
        for i in range(0, len(unique), chunk):
            part = unique[i : i + chunk]
            nodes.update(zip(part, self.load_many(part), strict=True))
        return nodes

    def items(
        self,
        root: bytes,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        resolve: bool = True,
    ) -> Iterator[tuple[bytes, Any]]:
        """Yield ``(key, value)`` for ``start <= key < end`` in key order.

        Args:
            root: the tree.
            start: first key (inclusive); None for the beginning.
            end: last key (exclusive); None for the end.
            resolve: return spilled values as bytes (otherwise as stored).
        """
        if start is not None or end is not None:
            yield from self._walk(self.load(root), start, end, resolve)
            return
        res = self._resolve
        for leaf in self.leaves(root):
            vals = leaf.vals
            if resolve and not all(type(v) is bytes for v in vals):
                vals = tuple(v if type(v) is bytes else res(v) for v in vals)
            yield from zip(leaf.keys, vals, strict=True)

    def leaves(self, root: bytes) -> Iterator[Node]:
        """Yield the leaves of the tree in key order (children fetched a group at a time).

        A scan caches the leaves it fetches until they weigh a quarter of the leaf cache,
        then only reads through it: a scan larger than the cache would evict everything
        before reading it again, and would make the collector walk every node it kept.
        """
        return self._leaves(self.load(root), [self._cache.scan_budget])

    def _leaves(self, node: Node, budget: list[int]) -> Iterator[Node]:
        if node.level == 0:
            yield node
            return
        step = 64
        for g in range(0, len(node.vals), step):
            group, fetched = self._fetch(node.vals[g : g + step], budget[0] > 0 or node.level > 1)
            if node.level == 1:
                budget[0] -= fetched
            for child in group:
                if child.level:
                    yield from self._leaves(child, budget)
                else:
                    yield child

    def _walk(
        self, node: Node, start: bytes | None, end: bytes | None, resolve: bool
    ) -> Iterator[tuple[bytes, Any]]:
        keys = node.keys
        if node.level == 0:
            i = 0 if start is None else bisect_left(keys, start)
            j = len(keys) if end is None else bisect_left(keys, end)
            vals = node.vals
            for x in range(i, j):
                v = vals[x]
                yield keys[x], (v if not resolve or type(v) is bytes else self._resolve(v))
            return
        i = 0 if start is None else max(bisect_right(keys, start) - 1, 0)
        j = len(keys) if end is None else bisect_left(keys, end)
        # Fetch children in groups: one backend round trip per group, not per node.
        step = 64
        for g in range(i, j, step):
            for child in self.load_many(node.vals[g : min(g + step, j)]):
                yield from self._walk(child, start, end, resolve)

    def prefix(self, root: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield the entries whose key starts with ``prefix``."""
        return self.items(root, prefix, prefix_end(prefix))

    # -- writes ------------------------------------------------------------------

    def build(
        self, items: Iterable[tuple[bytes, bytes]], batch: WriteBatch | None = None
    ) -> bytes:
        """Build a tree from ``(key, value)`` pairs in strictly increasing key order.

        Memory stays bounded: nodes are written as they fill.

        Returns:
            The root id.

        Raises:
            InvalidArgumentError: keys out of order, duplicated, or not bytes.
        """
        own = batch is None
        b = batch if batch is not None else self.store.batch()
        builder = _Builder(self, b)
        prev: bytes | None = None
        for key, value in items:
            _check_entry(key, value)
            if prev is not None and key <= prev:
                raise InvalidArgumentError(
                    f"build needs strictly increasing keys: {key!r} after {prev!r}"
                )
            prev = key
            v = self._store_value(value, b)
            builder.add(key, v)
        root = builder.finish()
        if own:
            b.flush()
        return root

    def build_stored(
        self,
        items: Iterable[tuple[bytes, Any]],
        batch: WriteBatch,
        params: TreeParams | None = None,
    ) -> bytes:
        """Build a tree from entries already in stored form, keys strictly increasing.

        For entries read from other trees (values as stored: bytes or an ``Ext``);
        nothing is checked or spilled again. ``params`` overrides the chunking (for
        trees that are never diffed against others, such as the runs of a stack):
        reads work on any tree whatever its chunking.

        Returns:
            The root id.
        """
        builder = _Builder(self, batch, params)
        for key, value in items:
            builder.add(key, value)
        return builder.finish()

    def build_blocks(
        self,
        items: Iterable[tuple[bytes, Any]],
        batch: WriteBatch,
        leaf_entries: int = 32,
        fanin: int = 64,
    ) -> bytes:
        """Build a tree of fixed-size nodes from stored-form entries, keys strictly increasing.

        Nodes are cut every ``leaf_entries`` entries (every ``fanin`` children above),
        not where the chunker would cut: no boundary hash per key, no per-entry call.
        The result is an ordinary tree for every read, but not the canonical tree of
        its content, so it is only for trees that are never compared node by node
        with others (the runs of a stack). A leaf over ``params.max_bytes`` is split.

        Returns:
            The root id (:data:`EMPTY_ROOT` for no entries).
        """
        it = iter(items)
        cap = self.params.max_bytes
        firsts: list[bytes] = []
        children: list[tuple[bytes, int]] = []
        take = itertools.islice
        # Leaves are not cached (a run is read back from the entries its writer kept), so
        # only their bodies are made here, and packed a group at a time on two threads.
        while True:
            group = list(take(it, leaf_entries * _LEAF_GROUP))
            if not group:
                break
            bodies: list[bytes] = []
            counts: list[int] = []
            group_keys = list(map(_first, group))
            group_vals = list(map(_second, group))
            # When no leaf of these entries can reach the cap, none is measured.
            small = set(map(type, group_vals)) == {bytes} and leaf_entries * (
                max(map(len, group_keys)) + max(map(len, group_vals))) < cap
            for start in range(0, len(group), leaf_entries):
                keys = group_keys[start:start + leaf_entries]
                vals = group_vals[start:start + leaf_entries]
                for lo, hi in [(0, len(keys))] if small else _byte_slices(keys, vals, cap):
                    bodies.append(node_body(0, keys[lo:hi], vals[lo:hi]))
                    firsts.append(keys[lo])
                    counts.append(hi - lo)
            children += zip(batch.add_many(ObjectKind.NODE, bodies), counts, strict=True)
        if not children:
            return self._make(0, [], [], batch).id
        level = 0
        while len(children) > 1:
            level += 1
            up_firsts: list[bytes] = []
            up: list[tuple[bytes, int]] = []
            # No internal node of one child: fold a lone last child into its neighbour.
            bounds = list(range(0, len(children), fanin))
            if len(children) - bounds[-1] == 1 and len(bounds) > 1:
                bounds.pop()
            bounds.append(len(children))
            for lo, hi in itertools.pairwise(bounds):
                node = self._make(level, firsts[lo:hi], children[lo:hi], batch)
                up_firsts.append(firsts[lo])
                up.append((node.id, sum(c for _, c in children[lo:hi])))
            firsts, children = up_firsts, up
        return children[0][0]

    def store_value(self, value: bytes, batch: WriteBatch) -> Any:
        """The stored form of ``value``: itself, or a spilled reference (written to ``batch``)."""
        _check_entry(b"", value)
        return self._store_value(value, batch)

    def apply(
        self,
        root: bytes,
        edits: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
        batch: WriteBatch | None = None,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None = None,
    ) -> bytes:
        """Apply upserts (``key -> value``) and deletes (``key -> None``).

        Only the nodes on the paths of the edited keys are rewritten; an edit
        that changes nothing writes nothing.

        Args:
            root: the tree to edit.
            edits: ``key -> value`` (upsert) or ``key -> None`` (delete).
            batch: where new nodes go (default: a private batch flushed before returning).
            changes: if given, receives ``(key, old, new)`` for every edit that changed
                something, in key order (what :func:`diff` of the two roots would
                yield), at no extra reads.

        Returns:
            The new root id.

        Raises:
            InvalidArgumentError: a key is given twice or is not bytes.
        """
        own = batch is None
        b = batch if batch is not None else self.store.batch()
        seq = sorted_edits(edits)
        prepared = []
        for k, v in seq:
            prepared.append((k, None if v is None else self._store_value(v, b)))
        log: list[tuple[bytes, Any, Any]] | None = [] if changes is not None else None
        new_root = Applier(self, b, log).run(root, prepared)
        if changes is not None and log is not None:
            res = self._resolve
            changes.extend(
                (k, None if o is None else res(o), None if n is None else res(n)) for k, o, n in log
            )
        if own:
            b.flush()
        return new_root


def _byte_slices(keys: list[bytes], vals: list[Any], cap: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` slices of one block, split so that each stays under ``cap`` bytes."""
    if _all_bytes(vals):  # the usual case, summed in C
        total = sum(map(len, keys)) + sum(map(len, vals))
    else:
        total = sum(map(len, keys)) + sum(len(v) if type(v) is bytes else ID_SIZE for v in vals)
    if total < cap or len(keys) == 1:
        return [(0, len(keys))]
    out, lo, size = [], 0, 0
    for i, (k, v) in enumerate(zip(keys, vals, strict=True)):
        n = entry_size(0, k, v)
        if size and size + n >= cap:
            out.append((lo, i))
            lo, size = i, 0
        size += n
    out.append((lo, len(keys)))
    return out


def _check_entry(key: Any, value: Any) -> None:
    if type(key) is not bytes:
        raise InvalidArgumentError(f"tree keys are bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_SIZE:
        raise ObjectTooLargeError(f"key of {len(key)} bytes is over the {MAX_KEY_SIZE}-byte limit")
    if value is not None and type(value) is not bytes:
        raise InvalidArgumentError(f"tree values are bytes, not {type(value).__name__}")


def sorted_edits(
    edits: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
) -> list[tuple[bytes, bytes | None]]:
    keys: Collection[bytes]
    values: Iterable[bytes | None]
    if isinstance(edits, Mapping):
        unique = True  # a mapping cannot hold a key twice
        pairs = list(edits.items())
        keys, values = edits.keys(), edits.values()
    else:
        unique = False
        pairs = list(edits)
        keys = [kv[0] for kv in pairs]
        values = [kv[1] for kv in pairs]
    types = set(map(type, keys))
    types.update(map(type, values))
    types.discard(type(None))
    # Whole-column checks run in C; the per-entry check only finds and names a culprit.
    if types - {bytes} or (keys and max(map(len, keys)) > MAX_KEY_SIZE):
        for k, v in pairs:
            _check_entry(k, v)
    pairs.sort(key=_first)
    if not unique:
        for a, b in itertools.pairwise(pairs):
            if a[0] == b[0]:
                raise InvalidArgumentError(f"key {a[0]!r} is edited twice in one batch")
    return pairs


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


def prefix_end(prefix: bytes) -> bytes | None:
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


_Id = Annotated[bytes, msgspec.Meta(min_length=ID_SIZE, max_length=ID_SIZE)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
# The common layouts, checked by msgspec in C as they decode: a leaf of bytes values,
# a leaf holding references too, and an internal node.
_LEAF = msgspec.msgpack.Decoder(tuple[Literal[0], tuple[bytes, ...], tuple[bytes, ...]])
_LEAF_REFS = msgspec.msgpack.Decoder(
    tuple[Literal[0], tuple[bytes, ...], tuple[bytes | Spill, ...]]
)
_INTERNAL = msgspec.msgpack.Decoder(
    tuple[
        Annotated[int, msgspec.Meta(ge=1)],
        Annotated[tuple[bytes, ...], msgspec.Meta(min_length=1)],
        tuple[_Id, ...],
        tuple[_Count, ...],
    ]
)


def _decode_typed(oid: bytes, body: bytes) -> Node | None:
    """Decode a well-formed node in C; None for anything else (the checked path decides)."""
    try:
        if body[:1] == b"\x93":
            vals: tuple[Any, ...]
            try:
                _, keys, vals = _LEAF.decode(body)
            except msgspec.ValidationError:
                _, keys, vals = _LEAF_REFS.decode(body)
                if not all(type(v) is bytes or _is_ref(v) for v in vals):
                    return None
            if len(keys) != len(vals):
                return None
            return Node(oid, 0, keys, vals)
        if body[:1] == b"\x94":
            level, keys, ids, counts = _INTERNAL.decode(body)
            if not len(keys) == len(ids) == len(counts):
                return None
            return Node(oid, level, keys, ids, counts)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return None


def _all_bytes(items: Sequence[Any]) -> bool:
    try:
        b"".join(items)  # in C: far cheaper than a type check per item
    except TypeError:
        return False
    return True


def _check_keys(keys: Sequence[Any]) -> None:
    if not _all_bytes(keys):
        raise ValueError("a key is not bytes")


def _is_ref(value: Any) -> bool:
    """A stored non-bytes leaf value: a spilled value's 32-byte id, or an empty marker
    (the tombstone of a run)."""
    if type(value) is not Spill or type(value.data) is not bytes:
        return False
    return len(value.data) == ID_SIZE if value.code == SPILL_CODE else not value.data


def _weight(body: bytes, node: Node) -> int:
    """Rough memory of a decoded node: its bytes plus Python's per-entry overhead."""
    return len(body) + 160 * len(node.keys) + 200


class _Builder:
    """Streams sorted entries into nodes, level by level."""

    _BUFFER = 512

    def __init__(
        self, tree: ProllyTree, batch: WriteBatch, params: TreeParams | None = None
    ) -> None:
        self.tree = tree
        self.params = params or tree.params
        self.batch = batch
        self.levels: list[Chunker] = []
        self.emitted: list[int] = []
        self._keys: list[bytes] = []
        self._vals: list[Any] = []
        self._level(0)

    def _level(self, level: int) -> Chunker:
        while len(self.levels) <= level:
            lvl = len(self.levels)
            self.levels.append(Chunker(lvl, self.params, functools.partial(self._emit, lvl)))
            self.emitted.append(0)
        return self.levels[level]

    def _emit(
        self, level: int, keys: list[bytes], vals: list[Any], sizes: list[int], hashes: list[int]
    ) -> None:
        # A bulk build caches only internal nodes: leaves are written once and rarely
        # read right back, and caching them would hold the whole dataset in memory.
        node = self.tree._make(level, keys, vals, self.batch, sizes, hashes, cache=level > 0)
        self.emitted[level] += 1
        parent = self._level(level + 1)
        k = keys[0]
        parent.feed([k], [(node.id, node.count)], [entry_size(1, k, None)], [parent.hash(k)])

    def add(self, key: bytes, value: Any) -> None:
        self._keys.append(key)
        self._vals.append(value)
        if len(self._keys) >= self._BUFFER:
            self._drain()

    def _drain(self) -> None:
        keys, vals = self._keys, self._vals
        if keys:
            self._keys, self._vals = [], []
            ch = self.levels[0]
            sizes = [entry_size(0, k, v) for k, v in zip(keys, vals, strict=True)]
            ch.feed(keys, vals, sizes, ch.hashes(keys))

    def finish(self) -> bytes:
        self._drain()
        return _finish(self.tree, self.batch, self.levels, self.emitted)


def _finish(
    tree: ProllyTree, batch: WriteBatch, levels: list[Chunker], emitted: list[int]
) -> bytes:
    """Close every level bottom-up; the first level that made exactly one node is the root."""
    level = 0
    while True:
        ch = levels[level]
        top = level + 1 >= len(levels)
        if top and emitted[level] == 0:
            if level == 0:
                return tree._make(0, ch.keys, ch.vals, batch, ch.psizes, ch.phashes).id
            if len(ch.keys) == 1:
                child_id: bytes = ch.vals[0][0]
                return child_id
            return tree._make(level, ch.keys, ch.vals, batch, ch.psizes, ch.phashes).id
        ch.cut()
        level += 1


