"""Layered trees: a prolly tree plus sorted runs of recent writes.

Writing a batch of random keys into a tree of N entries rewrites about
min(batch, N / leaf size) leaves, so streaming a large dataset in fixed-size
batches costs O(N^2 / batch). A *stack* keeps those writes apart instead, the
way an LSM tree does:

- the **base** is an ordinary prolly tree;
- each write becomes a **run**: a small tree of just the written entries,
  deletes kept as tombstones, built in O(batch) with fixed-size nodes
  (:meth:`ProllyTree.build_blocks`: runs are never compared node by node);
- runs of one generation are merged ``FANOUT`` at a time into one run of the
  next generation, so a record is rewritten O(log(N / batch)) times;
- when the runs hold ``FOLD_RATIO`` times as many entries as the base,
  everything is **folded** into a new canonical base (one streaming build), so
  the base grows (1 + FOLD_RATIO)-fold per fold and total build work stays O(N).

Each run and each folded base has a **key filter**: the sorted 64-bit
fingerprints of its keys. A read asks only the runs whose filter may hold the
key, and a write learns that a new key is new without reading the base's
leaves.

Reads (``get``, ``get_many``, ``items``, ``count``, ``diff``) take any root:
a plain tree root or a stack id. A stack is stored as one STACK object::

    [1, base_root, base_filter_id or b"", count,
     [[run_root, run_entries, run_filter_id, generation, sources], ...],  # oldest run first
     [old_base_root, sources]]                                            # after a fold

``sources`` (optional) list runs as ``[root, entries, sources]``, two levels deep:
the runs a merged run was built from, or the runs a fold merged into the base
(the folding write's own entries stored as one more run). They are weak
references: walks and gc do not follow them, and a diff that finds one gone
compares the merged run or the two bases instead. Readers ignore fields after
the ones they know.

A stack is not history-independent (the same content can have several stack
ids); :meth:`Layers.diff` compares contents, so equal contents still diff as
empty, and its cost follows the layers the two sides do not share.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import sys
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vstore.engine.codec import ObjectKind, decode, encode, hexid
from vstore.engine.diff import Collision, MergeResult, diff, merge, merge_edits
from vstore.engine.node import EMPTY_ROOT, Spill
from vstore.engine.objects import LRU, WriteBatch
from vstore.engine.tree import ProllyTree, _all_bytes, prefix_end, sorted_edits
from vstore.errors import CorruptObjectError, MissingObjectError
from vstore.gcpause import paused_gc

__all__ = [
    "FANOUT", "TOMBSTONE", "KeyFilter", "Layers", "Run", "Source", "Stack", "fingerprint",
    "paused_gc",
]

TOMBSTONE_CODE = 2
#: The stored value of a deleted key inside a run.
TOMBSTONE = Spill(TOMBSTONE_CODE, b"")
#: Runs of one generation merged together into one run of the next.
FANOUT = 16
#: The runs are folded into the base once they hold this many times its entries.
FOLD_RATIO = 4
#: Entries per leaf of a run (runs are cut at fixed counts, see ``build_blocks``).
RUN_LEAF_ENTRIES = 16
#: A plain tree takes writes of up to this many entries in place (no stack).
APPLY_MAX = 256
#: A base gets a key filter once the runs above it hold 1/FILTER_RATIO of its size.
FILTER_RATIO = 16
_first = operator.itemgetter(0)
_second = operator.itemgetter(1)
_LOOKUP_CHUNK = 2048
_MERGE_CHUNK = 256
#: A diff reads at most this many entries of merged-away runs ahead (see ``_unshared``).
_READ_AHEAD = 1 << 17
#: Fingerprints ``Layers`` keeps of its runs beyond twice their entries, at most.
_WRITTEN_SLACK = 1 << 16
_FORMAT = 1



def fingerprint(key: bytes) -> int:
    """The 64-bit fingerprint of a key that key filters hold."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def fingerprints(keys: Iterable[bytes]) -> list[int]:
    """:func:`fingerprint` of each key (one loop, no call per key: the digests are read as
    integers all at once)."""
    b2 = hashlib.blake2b
    fps = array("Q", b"".join([b2(k, digest_size=8).digest() for k in keys]))
    if sys.byteorder == "big":
        fps.byteswap()  # fingerprints are little-endian, as fingerprint() reads them
    return fps.tolist()


class KeyFilter:
    """A sorted array of key fingerprints: "maybe present" or "surely absent"."""

    __slots__ = ("_asked", "_members", "fps")

    def __init__(self, fps: array[int]) -> None:
        self.fps = fps
        # A dict, not a set: a dict of ints is not tracked by the cyclic collector, so a
        # cache of large filters does not make every full collection walk their keys.
        self._members: dict[int, None] | None = None
        #: Fingerprints bisected for so far (see :meth:`common`).
        self._asked = 0

    @classmethod
    def from_fingerprints(cls, fps: Iterable[int]) -> KeyFilter:
        return cls(array("Q", sorted(fps)))

    @classmethod
    def from_body(cls, oid: bytes, body: bytes) -> KeyFilter:
        if len(body) % 8:
            raise CorruptObjectError(hexid(oid), "a key filter is a whole number of 8-byte words")
        fps = array("Q")
        fps.frombytes(body)
        if sys.byteorder == "big":
            fps.byteswap()
        return cls(fps)

    def body(self) -> bytes:
        fps = array("Q", self.fps)
        if sys.byteorder == "big":
            fps.byteswap()
        return fps.tobytes()

    def __contains__(self, fp: int) -> bool:
        members = self._members
        return fp in members if members is not None else bool(self.common({fp}))

    def __len__(self) -> int:
        return len(self.fps)

    def common(self, fps: set[int]) -> set[int]:
        """The fingerprints of ``fps`` that may be present.

        A few probes bisect the sorted array; a batch builds (once) a hash table of the
        filter's fingerprints and intersects with it in C. So do many small batches (a
        reader calling ``get_many`` again and again, like a data loader): bisecting costs
        about four times what adding one fingerprint to the table does, so the table is
        built once the bisections made would have paid for it, at most twice the cost of
        the better choice in hindsight.
        """
        members = self._members
        if members is None:
            arr = self.fps
            self._asked += len(fps)
            if len(fps) * 32 < len(arr) and self._asked * 4 < len(arr):
                n = len(arr)
                found = set()
                for fp in fps:
                    i = bisect_left(arr, fp)
                    if i < n and arr[i] == fp:
                        found.add(fp)
                return found
            members = self._members = dict.fromkeys(arr)
        return members.keys() & fps


@dataclass(frozen=True, slots=True)
class Source:
    """A run that a merge consumed: what :meth:`Layers.diff` may read in place of the
    merged run. Not kept alive by the stack (gc may have deleted it)."""

    root: bytes
    entries: int
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a stack: a tree of written entries (tombstones for deletes).

    ``sources`` are the runs a merge built it from, oldest first (two levels deep):
    two stacks that hold a merged run and the runs it came from are compared through
    what they do not share, not through the whole merged run.
    """

    root: bytes
    entries: int
    filter: bytes
    generation: int
    sources: tuple[Source, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Stack:
    """A tree as a base plus runs, newest last. ``id`` is None for a plain tree."""

    base: bytes
    count: int
    runs: tuple[Run, ...] = ()
    base_filter: bytes | None = None
    id: bytes | None = None
    #: ``(old base, runs)`` that the last fold merged into ``base`` (the newest write's
    #: entries as a run of their own), weak references like :attr:`Run.sources`.
    folded: tuple[bytes, tuple[Source, ...]] | None = field(default=None, compare=False)

    @property
    def pending(self) -> int:
        """Entries held in runs (not yet folded into the base)."""
        return sum(r.entries for r in self.runs)


def _is_tombstone(value: Any) -> bool:
    return type(value) is not bytes and value.code == TOMBSTONE_CODE


_NEED = object()  # a diff side whose value lives in the shared layers


class Layers:
    """Reads and writes of layered trees (plain roots or stacks) over a :class:`ProllyTree`.

    Args:
        tree: the tree operations and their object store.
        cache_bytes: memory for decoded key filters.
        apply_max: writes of up to this many entries edit a plain tree in place.
        fanout: runs of one generation merged together.
        fold_ratio: the runs are folded into the base once they hold this many times
            the base's entries.
        run_leaf: entries per leaf of a run.
        kept_bytes: memory for the entries of the generation-0 runs this object built,
            which the merge or fold that follows reads instead of the stored leaves.
    """

    def __init__(
        self,
        tree: ProllyTree,
        cache_bytes: int = 128 * 1024 * 1024,
        *,
        apply_max: int = APPLY_MAX,
        fanout: int = FANOUT,
        fold_ratio: int = FOLD_RATIO,
        run_leaf: int = RUN_LEAF_ENTRIES,
        kept_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        self.tree = tree
        self.store = tree.store
        self.apply_max = apply_max
        self.fanout = fanout
        self.fold_ratio = fold_ratio
        self.run_leaf = run_leaf
        self._stacks = LRU(4096)
        self._filters = LRU(cache_bytes)
        # Run root -> (keys, values) of a run built here: a run of generation 0 is read
        # back whole by a merge within ``fanout`` writes, or by a fold. The entries are
        # the ones its leaves were built from, so reading them back from the store would
        # only check and decode what was just encoded. Never used by reads.
        self._kept = LRU(kept_bytes)
        # The fingerprints of every run this object stacked on one base since it folded
        # it: ``(base, fingerprints, run filters covered)``. A write's lookup asks it once
        # instead of asking each run's filter (see ``_maybe_in_runs``). Dropped when it
        # would outweigh the filter cache.
        self._written: tuple[bytes, dict[int, None], dict[bytes, None]] | None = None
        self._written_lock = threading.Lock()

    # -- stacks and filters --------------------------------------------------------

    def stack(self, root: bytes) -> Stack:
        """The layers of ``root`` (a plain tree is a stack without runs and ``id=None``)."""
        st: Stack | None = self._stacks.get(root)
        if st is not None:
            return st
        if root == EMPTY_ROOT:
            return Stack(EMPTY_ROOT, 0)
        node = self.tree._cache.get(root)
        if node is None:
            kind, body = self.store.get_kind(root)
            if kind == ObjectKind.STACK:
                st = _parse_stack(root, body)
            elif kind == ObjectKind.NODE:
                node = self.tree.adopt(root, body)
            else:
                raise CorruptObjectError(hexid(root), f"is a {kind.name} where a tree belongs")
        if st is None:
            assert node is not None
            st = Stack(root, node.count)
        self._stacks.put(root, st)
        return st

    def _filter(self, oid: bytes) -> KeyFilter:
        f: KeyFilter | None = self._filters.get(oid)
        if f is None:
            f = KeyFilter.from_body(oid, self.store.get(oid, ObjectKind.BLOB))
            self._filters.put(oid, f, _filter_weight(f))
        return f

    def _put_filter(self, fps: Iterable[int], batch: WriteBatch) -> bytes:
        f = KeyFilter.from_fingerprints(fps)
        oid = batch.add(ObjectKind.BLOB, f.body())
        self._filters.put(oid, f, _filter_weight(f))
        return oid

    def _put_stack(self, st: Stack, batch: WriteBatch) -> bytes:
        fields = [
            _FORMAT, st.base, st.base_filter or b"", st.count,
            [[r.root, r.entries, r.filter, r.generation, _pack_sources(r.sources)]
             if r.sources else [r.root, r.entries, r.filter, r.generation]
             for r in st.runs],
        ]
        if st.folded is not None:
            fields.append([st.folded[0], _pack_sources(st.folded[1])])
        body = encode(fields)
        oid = batch.add(ObjectKind.STACK, body)
        self._stacks.put(oid, replace(st, id=oid))
        return oid

    def children(self, oid: bytes, body: bytes) -> list[tuple[bytes, ObjectKind]]:
        """The objects a stored stack refers to, with their kinds (for walks)."""
        st = _parse_stack(oid, body)
        out = [(st.base, ObjectKind.NODE)]
        if st.base_filter is not None:
            out.append((st.base_filter, ObjectKind.BLOB))
        for r in st.runs:
            out += [(r.root, ObjectKind.NODE), (r.filter, ObjectKind.BLOB)]
        return out

    # -- reads ---------------------------------------------------------------------

    def count(self, root: bytes) -> int:
        """Number of records."""
        return self.stack(root).count

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """The value at ``key``, or None."""
        st = self.stack(root)
        if st.runs:
            fp = fingerprint(key)
            for run in reversed(st.runs):
                if fp in self._filter(run.filter):
                    v = self.tree.get(run.root, key, resolve=False)
                    if v is not None:
                        return None if _is_tombstone(v) else self.tree._resolve(v)
        value: bytes | None = self.tree.get(st.base, key)
        return value

    def get_many(self, root: bytes, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """The values of the keys that exist."""
        return self._lookup(self.stack(root), keys, resolve=True)

    def _lookup(
        self,
        st: Stack,
        keys: Iterable[bytes],
        *,
        resolve: bool,
        key_fps: Sequence[int] | None = None,
    ) -> dict[bytes, Any]:
        """Stored values of the ``keys`` present; ``key_fps`` are the fingerprints of
        ``keys`` (then a sequence), in order, if known."""
        if not st.runs and st.base_filter is None:
            return self.tree.get_many(st.base, set(keys), resolve=resolve)
        if key_fps is None:
            keys = list(set(keys))
            key_fps = fingerprints(keys)
        assert isinstance(keys, Sequence)
        asked = set(key_fps)
        in_runs = self._maybe_in_runs(st, asked)
        # Distinct fingerprints (distinct keys, no collision): a key found in a run takes
        # its fingerprint out of what the older filters are asked, so a key is probed
        # only down to where it is found; otherwise every filter is asked every key.
        distinct = len(asked) == len(keys)
        # Key -> fingerprint, and the keys not found yet: made once a filter may hold one
        # of the keys (a bulk add of new keys never needs them). Until then, every key.
        fps: dict[bytes, int] | None = None
        wanted: set[bytes] = set()

        def candidates(hits: set[int]) -> list[bytes]:
            nonlocal fps
            if fps is None:
                fps = dict(zip(keys, key_fps, strict=True))
                wanted.update(fps)
            return [k for k in wanted if fps[k] in hits]

        out: dict[bytes, Any] = {}
        for run in reversed(st.runs):
            if not in_runs or (fps is not None and not wanted):
                break
            hits = self._filter(run.filter).common(in_runs)
            if not hits:
                continue
            maybe = candidates(hits)
            if not maybe:
                continue
            got = self.tree.get_many(run.root, maybe, resolve=False)
            wanted.difference_update(got)
            if distinct and got:
                assert fps is not None
                gone = [fps[k] for k in got]
                asked.difference_update(gone)
                if in_runs is not asked:
                    in_runs.difference_update(gone)
            for k, v in got.items():
                if not _is_tombstone(v):
                    out[k] = v
        if st.base_filter is None:
            base = set(keys) if fps is None else wanted
        elif fps is not None and not wanted:
            base = set()
        else:
            hits = self._filter(st.base_filter).common(asked)
            base = set(candidates(hits)) if hits else set()
        if base:
            out.update(self.tree.get_many(st.base, base, resolve=False))
        if resolve:
            res = self.tree._resolve
            return {k: v if type(v) is bytes else res(v) for k, v in out.items()}
        return out

    def _maybe_in_runs(self, st: Stack, asked: set[int]) -> set[int]:
        """The fingerprints of ``asked`` that may belong to a key of ``st``'s runs.

        When this object wrote every run of ``st``, one probe per key of the fingerprints
        it kept of them (a superset: runs merged away stay in it) answers for all the runs
        at once; a bulk add of new keys then skips every run's filter. Otherwise ``asked``.
        """
        if not st.runs:
            return asked
        with self._written_lock:
            written = self._written
            if (
                written is None
                or written[0] != st.base
                or not all(r.filter in written[2] for r in st.runs)
            ):
                return asked
            return written[1].keys() & asked

    def _note_runs(self, st: Stack, runs: Sequence[Run], fps: Iterable[int]) -> None:
        """Remember that ``runs`` are stacked on ``st``'s base; ``fps`` are the fingerprints
        of the one new run (the others merge runs already noted)."""
        with self._written_lock:
            written = self._written
            if written is None or written[0] != st.base:
                if st.runs:
                    return  # runs this object did not write: their filters answer
                written = self._written = (st.base, {}, {})
            members, covered = written[1], written[2]
            if not all(r.filter in covered for r in st.runs):
                return
            members.update(dict.fromkeys(fps))
            covered.update(dict.fromkeys(r.filter for r in runs))
            if (
                len(members) > 2 * sum(r.entries for r in runs) + _WRITTEN_SLACK
                or _filter_weight_of(len(members)) > self._filters.capacity
            ):
                # Mostly runs of other stacks over this base (forks), or more than the
                # filter cache may hold: stop until a fold (each run's filter answers).
                self._written = None

    def items(
        self,
        root: bytes,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        resolve: bool = True,
    ) -> Iterator[tuple[bytes, Any]]:
        """Yield ``(key, value)`` for ``start <= key < end`` in key order."""
        st = self.stack(root)
        if not st.runs:
            return self.tree.items(st.base, start, end, resolve=resolve)
        newest_first = [*(r.root for r in reversed(st.runs)), st.base]
        rounds = _column_rounds([self._columns(r, start, end) for r in newest_first])
        # An iterable per merge round, flattened in C: no generator step per entry.
        return itertools.chain.from_iterable(
            _round_entries(keys, vals, live=True,
                           resolve=self.tree._resolve if resolve else None)
            for keys, vals in rounds
        )

    def prefix(self, root: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield the entries whose key starts with ``prefix``."""
        return self.items(root, prefix, prefix_end(prefix))

    def _chunks(
        self,
        root: bytes,
        tag: int,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        leaves: Iterable[Any] | None = None,
    ) -> Iterator[list[tuple[bytes, int, Any]]]:
        """One tree's ``(key, tag, stored value)`` entries in key order, a few leaves a list
        (from ``leaves`` if its leaves were read already)."""
        if start is not None or end is not None:
            yield from _in_chunks(_tagged(self.tree.items(root, start, end, resolve=False), tag))
            return
        t = itertools.repeat(tag)
        buf: list[tuple[bytes, int, Any]] = []
        for leaf in self.tree.leaves(root) if leaves is None else leaves:
            buf.extend(zip(leaf.keys, t, leaf.vals, strict=False))
            if len(buf) >= _MERGE_CHUNK:
                yield buf
                buf = []
        if buf:
            yield buf

    def _columns(
        self, root: bytes, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[list[bytes], list[Any]]]:
        """One tree's keys and stored values in key order, a few leaves at a time, as two
        lists (no tuple per entry: scans allocate nothing per entry the collector tracks)."""
        if start is not None or end is not None:
            it = self.tree.items(root, start, end, resolve=False)
            while chunk := list(itertools.islice(it, _MERGE_CHUNK)):
                yield [k for k, _ in chunk], [v for _, v in chunk]
            return
        keys: list[bytes] = []
        vals: list[Any] = []
        for leaf in self.tree.leaves(root):
            keys += leaf.keys
            vals += leaf.vals
            if len(keys) >= _MERGE_CHUNK:
                yield keys, vals
                keys, vals = [], []
        if keys:
            yield keys, vals

    # -- diff and merge -------------------------------------------------------------

    def diff(
        self, a: bytes, b: bytes, *, resolve: bool = True
    ) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
        """Yield ``(key, old, new)`` for every key whose value differs from ``a`` to ``b``.

        Keys come in increasing order. The cost follows the layers the two roots
        do not share: two stacks over one base that share their older runs are
        compared through their newer runs alone.
        """
        if a == b:
            return
        sa, sb = self.stack(a), self.stack(b)
        if sa.base == sb.base and sa.runs == sb.runs:
            return
        layers = None
        if sa.base == sb.base:
            layers = self._unshared(sa.runs, sb.runs)
            if layers is None:  # a source is gone: the stacks' own runs
                layers = _unshared_runs(sa.runs, sb.runs)
        elif sb.folded is not None and sb.folded[0] == sa.base:  # b folded a's layers
            layers = self._unshared(sa.runs, (*sb.folded[1], *sb.runs))
        elif sa.folded is not None and sa.folded[0] == sb.base:
            layers = self._unshared((*sa.folded[1], *sa.runs), sb.runs)
        if layers is None and not sa.runs and not sb.runs:
            yield from diff(self.tree, sa.base, sb.base, resolve=resolve)
            return
        sources: list[Iterator[list[tuple[bytes, int, Any]]]] = []
        if layers is not None:
            a_layers, b_layers = layers
        else:
            a_layers, b_layers = _unshared_runs(sa.runs, sb.runs, shared=False)
            sources.append(_in_chunks(
                (k, -1, (o, n))
                for k, o, n in diff(self.tree, sa.base, sb.base, resolve=False)
            ))
        # Oldest layer first on each side: among equal keys the newest comes last.
        for i, (root, leaves) in enumerate(a_layers):
            sources.append(self._chunks(root, i, leaves=leaves))
        for i, (root, leaves) in enumerate(b_layers):
            sources.append(self._chunks(root, 1_000_000 + i, leaves=leaves))
        res = self.tree._resolve

        def out(v: Any) -> Any:
            if v is None or _is_tombstone(v):
                return None
            return v if not resolve or type(v) is bytes else res(v)

        for chunk in _chunks(itertools.groupby(_merge_chunks(sources), key=lambda e: e[0])):
            rows: list[tuple[bytes, Any, Any]] = []
            need_a: list[bytes] = []
            need_b: list[bytes] = []
            for key, group in chunk:
                va: Any = _NEED
                vb: Any = _NEED
                for _, tag, v in group:
                    if tag == -1:
                        va, vb = v
                    elif tag < 1_000_000:
                        va = v
                    else:
                        vb = v
                if va is _NEED and vb is _NEED:
                    continue
                if va is _NEED:
                    need_a.append(key)
                elif vb is _NEED:
                    need_b.append(key)
                rows.append((key, va, vb))
            # A key only one side's unshared layers hold has, on the other side, the
            # value of the layers below them: the value of that whole stack.
            found_a = self._lookup(sa, need_a, resolve=False) if need_a else {}
            found_b = self._lookup(sb, need_b, resolve=False) if need_b else {}
            for key, va, vb in rows:
                if va is _NEED:
                    va = found_a.get(key)
                elif vb is _NEED:
                    vb = found_b.get(key)
                va, vb = out(va), out(vb)
                if va != vb:
                    yield key, va, vb

    def _unshared(
        self, a_runs: Sequence[Run | Source], b_runs: Sequence[Run | Source]
    ) -> _Layered | None:
        """The layers over one base that two sides do not share, oldest first, as
        ``(root, leaves read already or None)``; None if a source is needed but gone.

        A merged run that one side holds and the other holds the runs of (or both hold
        merges of the same older runs) is replaced by its sources, so only the sources
        that differ are read. Sources are not kept alive by a stack: the ones to read are
        read ahead (up to ``_READ_AHEAD`` entries), and if one is gone the caller compares
        the stacks' own layers instead.
        """
        a: list[Run | Source] = list(a_runs)
        b: list[Run | Source] = list(b_runs)
        i = 0
        while i < len(a) and i < len(b):
            x, y = a[i], b[i]
            if x.root == y.root:
                i += 1
            elif y.sources and x.sources and y.sources[0].root == x.sources[0].root:
                a[i : i + 1], b[i : i + 1] = x.sources, y.sources
            elif y.sources and y.sources[0].root == x.root:
                b[i : i + 1] = y.sources
            elif x.sources and x.sources[0].root == y.root:
                a[i : i + 1] = x.sources
            else:
                break
        a, b = a[i:], b[i:]
        expanded = [x for x in (*a, *b) if type(x) is Source]
        read: dict[bytes, list[Any]] = {}
        if expanded and sum(x.entries for x in expanded) <= _READ_AHEAD:
            try:
                for x in expanded:
                    if x.root not in read:
                        read[x.root] = list(self.tree.leaves(x.root))
            except MissingObjectError:
                read = {}
        if len(read) < len({x.root for x in expanded}):
            return None
        return ([(x.root, read.get(x.root)) for x in a], [(x.root, read.get(x.root)) for x in b])

    def merge(
        self,
        base: bytes,
        ours: bytes,
        theirs: bytes,
        on_collision: Collision | None = None,
        batch: WriteBatch | None = None,
    ) -> MergeResult:
        """Three-way merge (see :func:`vstore.engine.diff.merge`) of layered trees."""
        if all(self.stack(r).id is None for r in (base, ours, theirs)):
            return merge(self.tree, base, ours, theirs, on_collision, batch)
        if theirs == base or ours == theirs:
            return MergeResult(ours)
        if ours == base:
            return MergeResult(theirs, applied=sum(1 for _ in self.diff(base, theirs)))
        edits, conflicts = merge_edits(
            self.diff(base, ours, resolve=False),
            self.diff(base, theirs, resolve=False),
            self.tree._resolve,
            on_collision,
        )
        root = self.write(ours, edits, batch) if edits else ours
        return MergeResult(root, conflicts, len(edits))

    # -- writes ----------------------------------------------------------------------

    def write(
        self,
        root: bytes,
        edits: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
        batch: WriteBatch | None = None,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None = None,
    ) -> bytes:
        """Apply upserts and deletes; return the new root (the same one if nothing changed).

        A small write into a plain tree edits it in place; anything else becomes a
        run on a stack, with the merges and folds the stack's shape calls for.

        Args:
            root: a plain tree root or a stack id.
            edits: ``key -> value`` (upsert) or ``key -> None`` (delete).
            batch: where new objects go (default: a private batch flushed before returning).
            changes: if given, receives ``(key, old, new)`` for every edit that changed
                something, in key order.

        Raises:
            InvalidArgumentError: a key is given twice or is not bytes.
        """
        with paused_gc():
            return self._write(root, edits, batch, changes)

    def _write(
        self,
        root: bytes,
        edits: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
        batch: WriteBatch | None,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None,
    ) -> bytes:
        seq = sorted_edits(edits)
        st = self.stack(root)
        keys = list(map(_first, seq))
        in_place = st.id is None and len(seq) <= self.apply_max
        key_fps = None if in_place else fingerprints(keys)
        old = self._lookup(st, keys, resolve=True, key_fps=key_fps)
        if old:
            real = [(k, v) for k, v in seq if old.get(k) != v]
        elif None in map(_second, seq):
            real = [kv for kv in seq if kv[1] is not None]
        else:  # every key is new and set (the usual bulk add): every edit is real
            real = seq
        if not real:
            return root
        if changes is not None:
            olds = map(old.get, map(_first, real)) if old else itertools.repeat(None)
            changes.extend(zip(map(_first, real), olds, map(_second, real), strict=False))
        own = batch is None
        b = batch if batch is not None else self.store.batch()
        if st.id is None and len(real) <= self.apply_max:
            new = self.tree.apply(st.base, real, b)
        else:
            if key_fps is None:
                keys = list(map(_first, real))
                run_fps = key_fps = fingerprints(keys)
            elif real is seq:
                run_fps = key_fps
            else:
                fps = dict(zip(keys, key_fps, strict=True))
                run_fps = [fps[k] for k, _ in real]
            # With no old values, ``real`` holds only upserts of new keys.
            delta = sum((v is not None) - (k in old) for k, v in real) if old else len(real)
            new = self._add_run(st, st.count + delta, self._stored(real, b), run_fps, b)
        if own:
            b.flush()
        return new

    def _stored(
        self, real: list[tuple[bytes, bytes | None]], batch: WriteBatch
    ) -> list[tuple[bytes, Any]]:
        """Entries in stored form: tombstones for deletes, long values spilled."""
        vals = list(map(_second, real))
        if set(map(type, vals)) == {bytes} and max(map(len, vals)) <= self.tree.spill_bytes:
            return real  # the usual case: no delete, nothing to spill
        store_value = self.tree.store_value
        return [(k, TOMBSTONE if v is None else store_value(v, batch)) for k, v in real]

    def _write_run(
        self,
        entries: Iterable[tuple[bytes, Any]],
        generation: int,
        batch: WriteBatch,
        fps: Iterable[int],
        sources: tuple[Source, ...] = (),
    ) -> Run:
        """Build one run of entries whose keys have the fingerprints ``fps``."""
        root = self.tree.build_blocks(entries, batch, self.run_leaf)
        f = KeyFilter.from_fingerprints(fps)
        oid = batch.add(ObjectKind.BLOB, f.body())
        self._filters.put(oid, f, _filter_weight(f))
        return Run(root, len(f), oid, generation, sources)

    def _keep(self, run: Run, entries: Sequence[tuple[bytes, Any]]) -> None:
        """Keep the entries of a run just built, for the merge or fold that reads it."""
        keys, vals = tuple(map(_first, entries)), tuple(map(_second, entries))
        self._kept.put(run.root, (keys, vals), _entries_weight(keys, vals))

    def _run_columns(self, root: bytes) -> Iterator[tuple[Sequence[bytes], Sequence[Any]]]:
        """:meth:`_columns` of a whole run, from its kept entries if this object built it."""
        kept = self._kept.get(root)
        if kept is None:
            return self._columns(root)
        return _column_chunks(kept[0], kept[1])

    def _add_run(
        self,
        st: Stack,
        count: int,
        entries: list[tuple[bytes, Any]],
        fps: list[int],
        batch: WriteBatch,
    ) -> bytes:
        """Stack ``entries`` (sorted, stored form) on ``st``: fold, or add a run and merge
        full generations, then store the stack."""
        runs = list(st.runs)
        base_count = self.tree.count(st.base)
        if sum(r.entries for r in runs) + len(entries) >= self.fold_ratio * base_count:
            # The runs have outgrown the base: fold everything, new entries straight in.
            return self._fold(st, runs, entries, fps, count, batch)
        runs.append(self._write_run(entries, 0, batch, fps))
        self._keep(runs[-1], entries)
        n = self.fanout
        while len(runs) >= n and len({r.generation for r in runs[-n:]}) == 1:
            group = runs[-n:]
            del runs[-n:]
            merged = _newest([self._run_columns(r.root) for r in reversed(group)])
            merged_fps = _merged_fingerprints(self._filter(r.filter).fps for r in group)
            runs.append(self._write_run(merged, group[0].generation + 1, batch, merged_fps,
                                        _sources_of(group)))
            for r in group:
                self._kept.pop(r.root)
        self._note_runs(st, runs, fps)
        base_filter = st.base_filter
        if base_filter is None and sum(r.entries for r in runs) * FILTER_RATIO >= base_count:
            base_filter = self._put_filter(self._scan_fingerprints(st.base), batch)
        return self._put_stack(
            Stack(st.base, count, tuple(runs), base_filter, folded=st.folded), batch
        )

    def _fold(
        self,
        st: Stack,
        runs: Sequence[Run],
        newest: list[tuple[bytes, Any]],
        newest_fps: list[int],
        count: int,
        batch: WriteBatch,
    ) -> bytes:
        """Merge the base, the runs and the newest entries into a new base with its filter."""
        sources = [_column_chunks(list(map(_first, newest)), list(map(_second, newest))),
                   *(self._run_columns(r.root) for r in reversed(runs))]  # newest first
        kept = 0

        scanned: list[int] | None = [] if st.base_filter is None else None

        def live() -> Iterator[tuple[bytes, Any]]:
            nonlocal kept
            for kv in _overlay(self.tree.items(st.base, resolve=False), _newest(sources)):
                kept += 1
                if scanned is not None:
                    scanned.append(fingerprint(kv[0]))
                yield kv

        new_base = self.tree.build_stored(live(), batch)
        for r in runs:
            self._kept.pop(r.root)
        if kept != count:
            raise CorruptObjectError(
                hexid(st.id or st.base),
                f"a stack counted {count} records but its layers hold {kept}",
            )
        fps: Iterable[int]
        if st.base_filter is None:
            fps = scanned or []  # a plain base has no filter to start from
        else:
            # Every live key is in the base or in a layer. Fingerprints of keys deleted
            # since only cost a needless lookup, until they outnumber an eighth.
            parts: list[Sequence[int]] = [self._filter(st.base_filter).fps]
            parts += [self._filter(r.filter).fps for r in runs]
            parts.append(sorted(newest_fps))
            fps = merged = _merged_fingerprints(parts)
            if len(merged) * 8 > count * 9:
                fps = self._scan_fingerprints(new_base)
        folded = None
        if st.base != EMPTY_ROOT and len(newest) * 4 <= count:
            # What was folded, for diffs against the stack before: the runs, and the
            # newest entries as a run of their own (a small build next to the fold's).
            newest_run = self.tree.build_blocks(newest, batch, self.run_leaf)
            folded = (st.base, (*_sources_of(runs), Source(newest_run, len(newest))))
        return self._put_stack(
            Stack(new_base, count, (), self._put_filter(fps, batch), folded=folded), batch
        )

    def _scan_fingerprints(self, root: bytes) -> Iterator[int]:
        return map(fingerprint, (k for leaf in self.tree.leaves(root) for k in leaf.keys))

    def compact(self, root: bytes, batch: WriteBatch | None = None) -> bytes:
        """Fold every run of ``root`` into its base and return a plain tree root."""
        st = self.stack(root)
        if st.id is None:
            return root
        if not st.runs:
            return st.base
        own = batch is None
        b = batch if batch is not None else self.store.batch()
        new = self.tree.build_stored(self.items(root, resolve=False), b)
        if own:
            b.flush()
        return new


#: The layers two sides of a diff do not share, oldest first: ``(root, leaves or None)``.
_Layer = tuple[bytes, "list[Any] | None"]
_Layered = tuple[list[_Layer], list[_Layer]]


def _unshared_runs(
    a_runs: Sequence[Run], b_runs: Sequence[Run], *, shared: bool = True
) -> _Layered:
    """The runs of two stacks after the ones they share at the bottom (none unless
    ``shared``: stacks over different bases share no run)."""
    p = 0
    if shared:
        while p < min(len(a_runs), len(b_runs)) and a_runs[p] == b_runs[p]:
            p += 1
    return [(r.root, None) for r in a_runs[p:]], [(r.root, None) for r in b_runs[p:]]


def _merged_fingerprints(parts: Iterable[Sequence[int]]) -> list[int]:
    """The distinct fingerprints of sorted sequences, in order: one C sort merges them
    (it finds the sorted runs), about twice as fast as a set and a sort; a fingerprint
    that differs from the one before it is kept (compared in C, no hash table)."""
    merged = sorted(itertools.chain.from_iterable(parts))
    if len(merged) < 2:
        return merged
    return [merged[0], *itertools.compress(merged[1:], map(operator.ne, merged, merged[1:]))]


def _filter_weight(f: KeyFilter) -> int:
    return _filter_weight_of(len(f))


def _filter_weight_of(fingerprints: int) -> int:
    # The sorted array, and the set built on the first batch lookup (~64 bytes a key).
    return 72 * fingerprints + 100


def _overlay(
    older: Iterator[tuple[bytes, Any]], newer: Iterator[tuple[bytes, Any]]
) -> Iterator[tuple[bytes, Any]]:
    """Merge two key-ordered streams: ``newer`` wins on equal keys; tombstones are dropped
    (``older`` holds none). A two-way merge costs a comparison per entry, where a heap
    merge costs a heap operation and a tuple."""
    nxt = next(newer, None)
    for k, v in older:
        while nxt is not None and nxt[0] < k:
            nv = nxt[1]
            if type(nv) is bytes or nv.code != TOMBSTONE_CODE:
                yield nxt
            nxt = next(newer, None)
        if nxt is not None and nxt[0] == k:
            nv = nxt[1]
            if type(nv) is bytes or nv.code != TOMBSTONE_CODE:
                yield nxt
            nxt = next(newer, None)
        else:
            yield k, v
    while nxt is not None:
        nv = nxt[1]
        if type(nv) is bytes or nv.code != TOMBSTONE_CODE:
            yield nxt
        nxt = next(newer, None)


def _merge_chunks(
    sources: Sequence[Iterator[list[tuple[bytes, int, Any]]]],
) -> Iterator[tuple[bytes, int, Any]]:
    """Merge sorted streams of ``(key, tag, value)`` given as lists of entries, in the
    order of ``heapq.merge`` over the entries: by key, then tag.

    ``sources`` come in increasing tag order (a source holds one tag and each key once),
    so :func:`_column_rounds`' stable sort by key alone puts equal keys in tag order.
    """
    columns = [((list(map(_first, c)), c) for c in src if c) for src in sources]
    return itertools.chain.from_iterable(entries for _keys, entries in _column_rounds(columns))


def _column_rounds(
    sources: Sequence[Iterator[tuple[Sequence[bytes], Sequence[Any]]]],
) -> Iterator[tuple[Sequence[bytes], Sequence[Any]]]:
    """Merge sorted column chunks of several trees (newest first) a round at a time.

    Each round takes from every source what sorts up to the smallest last key among
    their chunks, so all the entries of one key land in the same round, and sorts it
    by key in C; the sort is stable, so among equal keys the newest tree's comes first.
    """
    live: list[list[Any]] = []  # [keys, vals, position, source] per source not exhausted
    for src in sources:
        first = next(src, None)
        if first:
            live.append([first[0], first[1], 0, src])
    while len(live) > 1:
        probe = min(b[0][-1] for b in live)
        keys: list[bytes] = []
        vals: list[Any] = []
        for b in live:
            ks, pos = b[0], b[2]
            cut = bisect_right(ks, probe, pos)
            if cut > pos:
                keys += ks[pos:cut]
                vals += b[1][pos:cut]
            if cut < len(ks):
                b[2] = cut
            else:
                nxt = next(b[3], None)
                b[0], b[1], b[2] = (nxt[0], nxt[1], 0) if nxt else (None, None, 0)
        live = [b for b in live if b[0] is not None]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        yield list(map(keys.__getitem__, order)), list(map(vals.__getitem__, order))
    if live:
        ks, vs, pos, src = live[0]
        yield (ks[pos:], vs[pos:]) if pos else (ks, vs)
        yield from src


def _round_entries(
    keys: Sequence[bytes], vals: Sequence[Any], *, live: bool, resolve: Any = None
) -> Iterable[tuple[bytes, Any]]:
    """The newest ``(key, stored value)`` per key of a sorted round (newest first among
    equal keys). With ``live``, tombstones are dropped and ``resolve``, if given, turns
    spilled values into bytes; without, values stay as stored (a merge of runs keeps
    tombstones)."""
    if not any(map(operator.eq, keys, itertools.islice(keys, 1, None))) and (
        not live or _all_bytes(vals)
    ):
        return zip(keys, vals, strict=True)  # no key twice, nothing to drop or resolve: in C
    out = []
    prev = None
    for k, v in zip(keys, vals, strict=True):
        if k != prev:
            prev = k
            if type(v) is bytes or not live:
                out.append((k, v))
            elif v.code != TOMBSTONE_CODE:
                out.append((k, v if resolve is None else resolve(v)))
    return out


def _newest(
    sources: Sequence[Iterator[tuple[Sequence[bytes], Sequence[Any]]]],
) -> Iterator[tuple[bytes, Any]]:
    """The newest stored value of each key of several trees' columns (newest tree first),
    tombstones kept."""
    return itertools.chain.from_iterable(
        _round_entries(keys, vals, live=False) for keys, vals in _column_rounds(sources)
    )


def _column_chunks(
    keys: Sequence[bytes], vals: Sequence[Any], size: int = _MERGE_CHUNK
) -> Iterator[tuple[Sequence[bytes], Sequence[Any]]]:
    """Entries held in memory as :meth:`Layers._columns` gives a tree's."""
    for i in range(0, len(keys), size):
        yield keys[i : i + size], vals[i : i + size]


def _entries_weight(keys: Sequence[bytes], vals: Sequence[Any]) -> int:
    """Rough memory of kept entries: their bytes plus Python's per-entry overhead."""
    if set(map(type, vals)) == {bytes}:  # the usual case, summed in C
        nbytes = sum(map(len, vals))
    else:
        nbytes = sum(len(v) if type(v) is bytes else 64 for v in vals)
    return sum(map(len, keys)) + nbytes + 100 * len(keys)


def _in_chunks(
    it: Iterator[tuple[bytes, int, Any]], size: int = 256
) -> Iterator[list[tuple[bytes, int, Any]]]:
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _tagged(it: Iterator[tuple[bytes, Any]], tag: int) -> Iterator[tuple[bytes, int, Any]]:
    for k, v in it:
        yield k, tag, v


def _chunks(groups: Iterator[Any], size: int = _LOOKUP_CHUNK) -> Iterator[list[Any]]:
    while True:
        chunk = [(k, list(g)) for k, g in itertools.islice(groups, size)]
        if not chunk:
            return
        yield chunk


def _sources_of(runs: Iterable[Run]) -> tuple[Source, ...]:
    """Runs as the sources of what a merge or fold builds from them (two levels deep)."""
    return tuple(Source(r.root, r.entries, tuple(Source(x.root, x.entries) for x in r.sources))
                 for r in runs)


def _pack_sources(sources: tuple[Source, ...]) -> list[Any]:
    return [[x.root, x.entries, _pack_sources(x.sources)] for x in sources]


def _parse_sources(raw: Any, depth: int) -> tuple[Source, ...]:
    if type(raw) is not list or (raw and depth == 0):
        raise ValueError("bad run sources")
    out = []
    for root, entries, sub in raw:
        if type(root) is not bytes or len(root) != 32 or type(entries) is not int:
            raise ValueError("bad run source")
        out.append(Source(root, entries, _parse_sources(sub, depth - 1)))
    return tuple(out)


def _parse_stack(oid: bytes, body: bytes) -> Stack:
    try:
        raw = decode(body)
        fmt, base, base_filter, count, runs, *more = raw  # later fields: optional
        if fmt != _FORMAT:
            raise ValueError(f"unknown stack format {fmt!r}")
        parsed = tuple(
            Run(bytes(r[0]), int(r[1]), bytes(r[2]), int(r[3]),
                _parse_sources(r[4], 2) if len(r) > 4 else ())
            for r in runs
        )
        for x in (base, *(r.root for r in parsed), *(r.filter for r in parsed)):
            if type(x) is not bytes or len(x) != 32:
                raise ValueError("an object id is 32 bytes")
        if base_filter and len(base_filter) != 32:
            raise ValueError("an object id is 32 bytes")
        if type(count) is not int or count < 0:
            raise ValueError("bad record count")
        folded = None
        if more:
            old_base, folded_runs = more[0]
            if type(old_base) is not bytes or len(old_base) != 32:
                raise ValueError("an object id is 32 bytes")
            folded = (old_base, _parse_sources(folded_runs, 2))
        return Stack(base, count, parsed, base_filter or None, oid, folded)
    except (ValueError, TypeError, IndexError) as exc:
        raise CorruptObjectError(hexid(oid), f"not a valid stack: {exc}") from exc
