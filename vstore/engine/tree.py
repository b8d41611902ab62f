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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgpack
import msgspec

from vstore.engine.chunker import Chunker, TreeParams
from vstore.engine.codec import ID_SIZE, ObjectKind, encode, hexid
from vstore.engine.objects import LRU, ObjectStore, WriteBatch
from vstore.errors import CorruptObjectError, InvalidArgumentError, ObjectTooLargeError

__all__ = ["EMPTY_ROOT", "Node", "ProllyTree", "Spill"]

Spill = msgspec.msgpack.Ext
_SPILL_CODE = 1
_ENTRY_OVERHEAD = 4
MAX_KEY_SIZE = 4096
MAX_VALUE_SIZE = 32 * 1024 * 1024


def _ext_hook(code: int, data: bytes) -> Spill:
    return Spill(code, data)


class Node:
    """A decoded tree node (immutable by convention; shared through caches)."""

    __slots__ = ("_evals", "_hashes", "_sizes", "counts", "id", "keys", "level", "vals")

    def __init__(
        self,
        oid: bytes,
        level: int,
        keys: list[bytes],
        vals: list[Any],
        counts: list[int] | None = None,
    ) -> None:
        self.id = oid
        self.level = level
        self.keys = keys
        self.vals = vals
        self.counts = counts
        self._evals: list[Any] | None = None
        self._sizes: list[int] | None = None
        self._hashes: list[int] | None = None

    @property
    def count(self) -> int:
        """Number of records below this node."""
        return len(self.keys) if self.counts is None else sum(self.counts)

    def entry(self, i: int) -> Any:
        """The chunker value of entry ``i``: the raw value, or ``(child_id, count)``."""
        if self.counts is None:
            return self.vals[i]
        return (self.vals[i], self.counts[i])

    def columns(self, ch: Chunker) -> tuple[list[bytes], list[Any], list[int], list[int]]:
        """Keys, chunker values, sizes and boundary hashes (computed once, then cached)."""
        if self._hashes is None:
            if self.counts is None:
                self._evals = self.vals
            else:
                self._evals = list(zip(self.vals, self.counts, strict=True))
            lvl = self.level
            pairs = zip(self.keys, self.vals, strict=True)
            self._sizes = [_entry_size(lvl, k, v) for k, v in pairs]
            self._hashes = ch.hashes(self.keys)
        assert self._evals is not None and self._sizes is not None
        return self.keys, self._evals, self._sizes, self._hashes


def _node_body(level: int, keys: list[bytes], vals: list[Any]) -> bytes:
    if level == 0:
        return encode([0, keys, vals])
    return encode([level, keys, [v[0] for v in vals], [v[1] for v in vals]])


EMPTY_BODY = _node_body(0, [], [])


def _empty_root() -> bytes:
    from vstore.engine.codec import hash_bytes

    return hash_bytes(EMPTY_BODY)


EMPTY_ROOT = _empty_root()


def _entry_size(level: int, key: bytes, value: Any) -> int:
    if level:
        return len(key) + ID_SIZE + _ENTRY_OVERHEAD
    if isinstance(value, bytes):
        return len(key) + len(value) + _ENTRY_OVERHEAD
    return len(key) + ID_SIZE + _ENTRY_OVERHEAD


class ProllyTree:
    """Operations on prolly trees stored in an :class:`ObjectStore`.

    Trees are immutable: every write returns a new root id. Writes go to a
    :class:`WriteBatch` (given, or a private one flushed before returning).

    Args:
        store: the object store.
        params: chunking parameters (must be the same for every writer of a store).
        spill_bytes: values longer than this are stored as their own object.
        cache_nodes: how many decoded nodes to keep in memory.
    """

    def __init__(
        self,
        store: ObjectStore,
        params: TreeParams | None = None,
        *,
        spill_bytes: int = 32 * 1024,
        cache_nodes: int = 65536,
    ) -> None:
        self.store = store
        self.params = params or TreeParams()
        self.spill_bytes = spill_bytes
        self._cache = LRU(cache_nodes)

    # -- nodes -------------------------------------------------------------------

    def load(self, oid: bytes) -> Node:
        """Return the decoded node ``oid`` (verified, cached)."""
        node: Node | None = self._cache.get(oid)
        if node is None:
            if oid == EMPTY_ROOT:
                # The empty tree needs no stored object: every store "has" it.
                return Node(EMPTY_ROOT, 0, [], [])
            node = self._decode(oid, self.store.get(oid, ObjectKind.NODE))
            self._cache.put(oid, node)
        return node

    def load_many(self, oids: list[bytes]) -> list[Node]:
        """Return several nodes in order, fetching the uncached ones in one request."""
        out: list[Node | None] = [
            self._cache.get(o) if o != EMPTY_ROOT else self.load(o) for o in oids
        ]
        missing = [o for o, n in zip(oids, out, strict=True) if n is None]
        if missing:
            bodies = self.store.get_many(missing, ObjectKind.NODE)
            for i, o in enumerate(oids):
                if out[i] is None:
                    node = self._decode(o, bodies[o])
                    self._cache.put(o, node)
                    out[i] = node
        return out  # type: ignore[return-value]

    @staticmethod
    def _decode(oid: bytes, body: bytes) -> Node:
        try:
            raw = msgpack.unpackb(body, raw=False, ext_hook=_ext_hook, strict_map_key=True)
            level = raw[0]
            if level == 0 and len(raw) == 3:
                keys, vals = raw[1], raw[2]
                if len(keys) != len(vals):
                    raise ValueError("keys and values differ in length")
                return Node(oid, 0, keys, vals)
            if isinstance(level, int) and level > 0 and len(raw) == 4:
                keys, ids, counts = raw[1], raw[2], raw[3]
                if not (len(keys) == len(ids) == len(counts)) or not keys:
                    raise ValueError("malformed internal node")
                return Node(oid, level, keys, ids, counts)
            raise ValueError("unknown node layout")
        except (ValueError, TypeError, IndexError, msgpack.UnpackException) as exc:
            raise CorruptObjectError(hexid(oid), f"not a valid tree node: {exc}") from exc

    def _make(
        self,
        level: int,
        keys: list[bytes],
        vals: list[Any],
        batch: WriteBatch,
        sizes: list[int] | None = None,
        hashes: list[int] | None = None,
    ) -> Node:
        body = _node_body(level, keys, vals)
        oid = batch.add(ObjectKind.NODE, body)
        if level == 0:
            node = Node(oid, 0, keys, vals)
        else:
            node = Node(oid, level, keys, [v[0] for v in vals], [v[1] for v in vals])
        if sizes is not None and hashes is not None:
            # The chunker already knows them: the next apply need not hash these keys.
            node._evals, node._sizes, node._hashes = vals, sizes, hashes
        self._cache.put(oid, node)
        return node

    def _resolve(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, Spill) and value.code == _SPILL_CODE:
            return self.store.get(bytes(value.data), ObjectKind.BLOB)
        raise CorruptObjectError("?", f"unknown leaf value {value!r}")

    def _store_value(self, value: bytes, batch: WriteBatch) -> Any:
        if len(value) > self.spill_bytes:
            if len(value) > MAX_VALUE_SIZE:
                raise ObjectTooLargeError(
                    f"value of {len(value)} bytes is over the {MAX_VALUE_SIZE}-byte limit"
                )
            return Spill(_SPILL_CODE, batch.add(ObjectKind.BLOB, value))
        return value

    # -- reads -------------------------------------------------------------------

    def count(self, root: bytes) -> int:
        """Number of records in the tree."""
        return self.load(root).count

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """Return the value at ``key``, or ``None``."""
        node = self.load(root)
        while node.level:
            i = bisect_right(node.keys, key) - 1
            if i < 0:
                return None
            node = self.load(node.vals[i])
        i = bisect_left(node.keys, key)
        if i < len(node.keys) and node.keys[i] == key:
            return self._resolve(node.vals[i])
        return None

    def get_many(self, root: bytes, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """Return the values of the keys that exist."""
        out = {}
        for k in sorted(set(keys)):
            v = self.get(root, k)
            if v is not None:
                out[k] = v
        return out

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
        yield from self._walk(self.load(root), start, end, resolve)

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
        return self.items(root, prefix, _prefix_end(prefix))

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
        seq = _sorted_edits(edits)
        prepared = []
        for k, v in seq:
            prepared.append((k, None if v is None else self._store_value(v, b)))
        log: list[tuple[bytes, Any, Any]] | None = [] if changes is not None else None
        new_root = _Applier(self, b, log).run(root, prepared)
        if changes is not None and log is not None:
            res = self._resolve
            changes.extend(
                (k, None if o is None else res(o), None if n is None else res(n)) for k, o, n in log
            )
        if own:
            b.flush()
        return new_root


def _check_entry(key: Any, value: Any) -> None:
    if type(key) is not bytes:
        raise InvalidArgumentError(f"tree keys are bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_SIZE:
        raise ObjectTooLargeError(f"key of {len(key)} bytes is over the {MAX_KEY_SIZE}-byte limit")
    if value is not None and type(value) is not bytes:
        raise InvalidArgumentError(f"tree values are bytes, not {type(value).__name__}")


def _sorted_edits(
    edits: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
) -> list[tuple[bytes, bytes | None]]:
    pairs = list(edits.items()) if isinstance(edits, Mapping) else list(edits)
    for k, v in pairs:
        _check_entry(k, v)
    pairs.sort(key=lambda kv: kv[0])
    for a, b in itertools.pairwise(pairs):
        if a[0] == b[0]:
            raise InvalidArgumentError(f"key {a[0]!r} is edited twice in one batch")
    return pairs


def _prefix_end(prefix: bytes) -> bytes | None:
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


class _Builder:
    """Streams sorted entries into nodes, level by level."""

    _BUFFER = 512

    def __init__(
        self,
        tree: ProllyTree,
        batch: WriteBatch,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None = None,
    ) -> None:
        self.tree = tree
        self.batch = batch
        self.changes = changes
        self.levels: list[Chunker] = []
        self.emitted: list[int] = []
        self._keys: list[bytes] = []
        self._vals: list[Any] = []
        self._level(0)

    def _level(self, level: int) -> Chunker:
        while len(self.levels) <= level:
            lvl = len(self.levels)
            self.levels.append(Chunker(lvl, self.tree.params, functools.partial(self._emit, lvl)))
            self.emitted.append(0)
        return self.levels[level]

    def _emit(
        self, level: int, keys: list[bytes], vals: list[Any], sizes: list[int], hashes: list[int]
    ) -> None:
        node = self.tree._make(level, keys, vals, self.batch, sizes, hashes)
        self.emitted[level] += 1
        parent = self._level(level + 1)
        k = keys[0]
        parent.feed([k], [(node.id, node.count)], [_entry_size(1, k, None)], [parent.hash(k)])

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
            sizes = [_entry_size(0, k, v) for k, v in zip(keys, vals, strict=True)]
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


class _Applier:
    """Applies sorted edits level by level, rewriting only the touched nodes."""

    def __init__(
        self,
        tree: ProllyTree,
        batch: WriteBatch,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None = None,
    ) -> None:
        self.tree = tree
        self.batch = batch
        self.changes = changes

    def run(self, root: bytes, edits: list[tuple[bytes, Any]]) -> bytes:
        top = self.tree.load(root)
        level = 0
        while edits:
            new_nodes, parent_edits, changed = self._level(top, level, edits)
            if not changed:
                return root
            if level == top.level:
                return self._grow(level, new_nodes)
            edits = parent_edits
            level += 1
        return root

    def _log(self, level: int) -> list[tuple[bytes, Any, Any]] | None:
        return self.changes if level == 0 and self.changes is not None else None

    def _collector(self, level: int, out: list[Node]) -> Callable[..., None]:
        def emit(keys: list[bytes], vals: list[Any], sizes: list[int], hashes: list[int]) -> None:
            out.append(self.tree._make(level, keys, vals, self.batch, sizes, hashes))

        return emit

    def _grow(self, level: int, nodes: list[Node]) -> bytes:
        """Make the new top of the tree from the nodes of the old root's level."""
        tree = self.tree
        while True:
            if not nodes:
                return self.tree._make(0, [], [], self.batch).id
            if len(nodes) == 1:
                node = nodes[0]
                # A level with one node is the top; drop single-entry internal roots.
                while node.level and len(node.keys) == 1:
                    node = tree.load(node.vals[0])
                return node.id
            out: list[Node] = []
            ch = Chunker(level + 1, tree.params, self._collector(level + 1, out))
            keys = [n.keys[0] for n in nodes]
            ch.feed(
                keys, [(n.id, n.count) for n in nodes], [_entry_size(1, k, None) for k in keys],
                ch.hashes(keys),
            )
            ch.cut()
            nodes = out
            level += 1

    def _level(
        self, top: Node, level: int, edits: list[tuple[bytes, Any]]
    ) -> tuple[list[Node], list[tuple[bytes, Any]], bool]:
        """Re-chunk the nodes of ``level`` that ``edits`` touch.

        Returns:
            The new nodes (all of them when ``level`` is the top level), the edits
            this makes to the level above, and whether anything changed.
        """
        tree = self.tree
        made: list[Node] = []
        ch = Chunker(level, tree.params, self._collector(level, made))
        parent_edits: list[tuple[bytes, Any]] = []
        changed = False
        i, n = 0, len(edits)
        while i < n:
            path = _seek(tree, top, level, edits[i][0])
            node = path[-1]
            nxt = _next_key(path)
            j = _edits_before(edits, i, nxt)
            merged = _merge(node, edits[i:j], ch, level, self._log(level))
            if merged is None:  # nothing in this node actually changes
                i = j
                continue
            changed = True
            old_firsts = []
            made.clear()
            while True:
                if node.keys:
                    old_firsts.append(node.keys[0])
                i = j
                ch.feed(*merged)
                if nxt is None:
                    ch.cut()
                    break
                if not ch.pending:
                    break  # the new boundaries meet an old one: the rest is unchanged
                _advance(tree, path, level)
                node = path[-1]
                nxt = _next_key(path)
                j = _edits_before(edits, i, nxt)
                merged = _merge(node, edits[i:j], ch, level, self._log(level)) or node.columns(ch)
            region = dict.fromkeys(old_firsts)
            for m in made:
                region[m.keys[0]] = (m.id, m.count)
            parent_edits.extend(sorted(region.items(), key=lambda kv: kv[0]))
            if level == top.level:
                return list(made), [], True
        if level == top.level:
            return [top], [], changed
        return [], parent_edits, changed


Columns = tuple[list[bytes], list[Any], list[int], list[int]]


def _merge(
    node: Node,
    edits: list[tuple[bytes, Any]],
    ch: Chunker,
    level: int,
    log: list[tuple[bytes, Any, Any]] | None = None,
) -> Columns | None:
    """Merge a node's entries with edits into columns; None if no edit changes anything.

    Effective changes are appended to ``log`` as ``(key, old, new)`` when it is given.
    """
    keys, evals, sizes, hashes = node.columns(ch)
    ok: list[bytes] = []
    ov: list[Any] = []
    os_: list[int] = []
    oh: list[int] = []
    changed = False
    pos = 0
    for k, v in edits:
        x = bisect_left(keys, k, pos)
        if x > pos:
            ok += keys[pos:x]
            ov += evals[pos:x]
            os_ += sizes[pos:x]
            oh += hashes[pos:x]
        pos = x
        present = x < len(keys) and keys[x] == k
        if present:
            pos = x + 1
            if v is None:
                changed = True
                if log is not None:
                    log.append((k, evals[x], None))
                continue
            if v == evals[x]:
                ok.append(k)
                ov.append(v)
                os_.append(sizes[x])
                oh.append(hashes[x])
                continue
        elif v is None:
            continue
        changed = True
        if log is not None:
            log.append((k, evals[x] if present else None, v))
        ok.append(k)
        ov.append(v)
        os_.append(_entry_size(level, k, v))
        oh.append(hashes[x] if present else ch.hash(k))
    if not changed:
        return None
    if pos < len(keys):
        ok += keys[pos:]
        ov += evals[pos:]
        os_ += sizes[pos:]
        oh += hashes[pos:]
    return ok, ov, os_, oh


def _edits_before(edits: list[tuple[bytes, Any]], i: int, bound: bytes | None) -> int:
    if bound is None:
        return len(edits)
    j = i
    while j < len(edits) and edits[j][0] < bound:
        j += 1
    return j


def _seek(tree: ProllyTree, top: Node, level: int, key: bytes) -> list[Any]:
    """Path from the root to the node of ``level`` whose range holds ``key``.

    The path alternates: ``[root, idx, child, idx, ..., node]``.
    """
    path: list[Any] = []
    node = top
    while node.level > level:
        i = max(bisect_right(node.keys, key) - 1, 0)
        path += [node, i]
        node = tree.load(node.vals[i])
    path.append(node)
    return path


def _next_key(path: list[Any]) -> bytes | None:
    """First key of the node after ``path[-1]`` on the same level, or None at the end."""
    for d in range(len(path) - 3, -1, -2):
        parent, i = path[d], path[d + 1]
        if i + 1 < len(parent.keys):
            k: bytes = parent.keys[i + 1]
            return k
    return None


def _advance(tree: ProllyTree, path: list[Any], level: int) -> None:
    """Move ``path`` to the next node on the same level (the caller knows there is one)."""
    for d in range(len(path) - 3, -1, -2):
        parent, i = path[d], path[d + 1]
        if i + 1 < len(parent.keys):
            del path[d + 1 :]
            path.append(i + 1)
            node = tree.load(parent.vals[i + 1])
            while node.level > level:
                path += [node, 0]
                node = tree.load(node.vals[0])
            path.append(node)
            return
    raise AssertionError("no next node")
