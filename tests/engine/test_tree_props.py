"""The prolly tree against a plain dict model (Hypothesis).

Small chunking targets make trees several levels deep with few records, so
splits, merges of nodes and root growth and collapse are all exercised.
"""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKEND_KINDS, make_repo_url
from vstore.engine import CONFLICT, EMPTY_ROOT, ObjectStore, ProllyTree, TreeParams, open_backend
from vstore.engine.codec import encode
from vstore.engine.diff import diff, merge
from vstore.engine.node import Spill
from vstore.engine.tree import _decode_typed
from vstore.errors import CorruptObjectError, InvalidArgumentError, MergeConflictError

SMALL = TreeParams(leaf_target=4, internal_target=4, max_bytes=2048)

keys = st.binary(min_size=1, max_size=6)
vals = st.binary(min_size=0, max_size=40) | st.binary(min_size=300, max_size=600)
batch = st.dictionaries(keys, st.none() | vals, max_size=40)


def _tree(spill: int = 256) -> ProllyTree:
    store = ObjectStore(open_backend(f"memory://tree-{uuid.uuid4().hex}"))
    return ProllyTree(store, SMALL, spill_bytes=spill)


def _apply_model(model: dict[bytes, bytes], edits: dict[bytes, bytes | None]) -> None:
    for k, v in edits.items():
        if v is None:
            model.pop(k, None)
        else:
            model[k] = v


@given(st.lists(batch, max_size=8))
def test_any_sequence_of_batches_matches_the_dict_model(batches: list[dict]) -> None:
    tree = _tree()
    model: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    tree.build([])
    for edits in batches:
        root = tree.apply(root, edits)
        _apply_model(model, edits)
        assert dict(tree.items(root)) == model
        assert tree.count(root) == len(model)
        for k in list(edits)[:5]:
            assert tree.get(root, k) == model.get(k)


@given(st.lists(batch, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_root_depends_only_on_content(batches: list[dict], rnd) -> None:  # type: ignore[no-untyped-def]
    """Insertion order and batching never change the root (history independence)."""
    tree = _tree()
    root = tree.build([])
    model: dict[bytes, bytes] = {}
    for edits in batches:
        root = tree.apply(root, edits)
        _apply_model(model, edits)
    built = tree.build(sorted(model.items()))
    assert built == root
    # The same content, one record at a time in a random order, through a second store.
    other = _tree()
    items = list(model.items())
    rnd.shuffle(items)
    r2 = other.build([])
    for k, v in items:
        r2 = other.apply(r2, {k: v})
    assert r2 == root


@given(batch, batch)
def test_diff_equals_the_dict_diff(first: dict, second: dict) -> None:
    tree = _tree()
    a_model: dict[bytes, bytes] = {}
    _apply_model(a_model, first)
    b_model = dict(a_model)
    _apply_model(b_model, second)
    a = tree.build(sorted(a_model.items()))
    b = tree.apply(a, second)
    expected = [
        (k, a_model.get(k), b_model.get(k))
        for k in sorted(set(a_model) | set(b_model))
        if a_model.get(k) != b_model.get(k)
    ]
    assert list(diff(tree, a, b)) == expected
    assert list(diff(tree, b, a)) == [(k, n, o) for k, o, n in expected]
    reported: list[tuple[bytes, bytes | None, bytes | None]] = []
    assert tree.apply(a, second, changes=reported) == b
    assert reported == expected  # apply reports exactly what diff finds


def _model_merge(base, ours, theirs):  # type: ignore[no-untyped-def]
    out, collisions = dict(ours), []
    for k in sorted(set(base) | set(theirs)):
        b, t, o = base.get(k), theirs.get(k), ours.get(k)
        if t == b:
            continue
        if o == b:
            if t is None:
                out.pop(k, None)
            else:
                out[k] = t
        elif o != t:
            collisions.append(k)
    return out, collisions


@given(batch, batch, batch)
def test_merge_equals_the_model_three_way_merge(start: dict, mine: dict, yours: dict) -> None:
    tree = _tree()
    base_m: dict[bytes, bytes] = {}
    _apply_model(base_m, start)
    ours_m, theirs_m = dict(base_m), dict(base_m)
    _apply_model(ours_m, mine)
    _apply_model(theirs_m, yours)
    base = tree.build(sorted(base_m.items()))
    ours, theirs = tree.apply(base, mine), tree.apply(base, yours)
    expected, collisions = _model_merge(base_m, ours_m, theirs_m)
    seen: list[tuple] = []

    def take_theirs(k, b, o, t):  # type: ignore[no-untyped-def]
        seen.append((k, b, o, t))
        return t

    result = merge(tree, base, ours, theirs, take_theirs)
    assert [s[0] for s in seen] == collisions
    for k, b, o, t in seen:
        assert (b, o, t) == (base_m.get(k), ours_m.get(k), theirs_m.get(k))
        if t is None:
            expected.pop(k, None)
        else:
            expected[k] = t
    assert dict(tree.items(result.root)) == expected
    if collisions:
        with pytest.raises(MergeConflictError) as err:
            merge(tree, base, ours, theirs)
        assert err.value.keys == collisions
        kept = merge(tree, base, ours, theirs, lambda *a: CONFLICT)
        assert kept.conflicts == collisions


@pytest.fixture
def store_urls(tmp_path: Path) -> Iterator[list[str]]:
    yield [make_repo_url(kind, tmp_path) for kind in BACKEND_KINDS]


def test_same_content_gives_the_same_root_on_every_backend(store_urls: list[str]) -> None:
    items = [(b"k%05d" % i, b"v" * (i % 50)) for i in range(3000)]
    roots = set()
    for url in store_urls:
        backend = open_backend(url)
        tree = ProllyTree(ObjectStore(backend))
        root = tree.build(items)
        assert tree.count(root) == 3000
        roots.add(root)
        backend.close()
    assert len(roots) == 1


def test_value_edits_never_move_a_boundary() -> None:
    tree = _tree(spill=10_000)
    items = [(b"k%04d" % i, b"x" * 20) for i in range(500)]
    root = tree.build(items)
    leaves_before = [n.keys[0] for n in _leaves(tree, root)]
    edited = tree.apply(root, {k: b"y" * 30 for k, _ in items[::7]})
    assert [n.keys[0] for n in _leaves(tree, edited)] == leaves_before


def _leaves(tree: ProllyTree, root: bytes) -> list:  # type: ignore[type-arg]
    stack, out = [tree.load(root)], []
    while stack:
        n = stack.pop()
        if n.level == 0:
            out.append(n)
        else:
            stack.extend(tree.load(c) for c in reversed(n.vals))
    return out


def test_large_values_spill_and_read_back() -> None:
    tree = _tree(spill=100)
    big = bytes(range(256)) * 40
    root = tree.build([(b"a", b"small"), (b"b", big)])
    assert tree.get(root, b"b") == big
    assert dict(tree.items(root)) == {b"a": b"small", b"b": big}
    root2 = tree.apply(root, {b"b": big + b"!"})
    assert list(diff(tree, root, root2)) == [(b"b", big, big + b"!")]


def test_identical_trees_diff_without_reading_anything() -> None:
    tree = _tree()
    root = tree.build([(b"k%03d" % i, b"v") for i in range(100)])
    elsewhere = _tree()  # a store that holds none of these nodes: any read would fail
    assert list(diff(elsewhere, root, root)) == []


def test_scans_and_prefixes() -> None:
    tree = _tree()
    items = [(b"%s/%03d" % (p, i), b"v%d" % i) for p in (b"a", b"b", b"c") for i in range(40)]
    root = tree.build(items)
    assert list(tree.prefix(root, b"b/")) == [kv for kv in items if kv[0].startswith(b"b/")]
    assert list(tree.items(root, b"a/030", b"b/005")) == [
        kv for kv in items if b"a/030" <= kv[0] < b"b/005"
    ]
    assert list(tree.prefix(root, b"\xff")) == []


def test_bad_batches_are_refused_and_write_nothing() -> None:
    tree = _tree()
    with pytest.raises(InvalidArgumentError, match="increasing"):
        tree.build([(b"b", b"1"), (b"a", b"2")])
    with pytest.raises(InvalidArgumentError, match="twice"):
        tree.apply(EMPTY_ROOT, [(b"a", b"1"), (b"a", b"2")])
    with pytest.raises(InvalidArgumentError):
        tree.apply(EMPTY_ROOT, {"text key": b"1"})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError):
        tree.apply(EMPTY_ROOT, {b"k": "text value"})  # type: ignore[dict-item]
    assert list(tree.store.backend.iter_objects()) == []


def test_an_edit_that_changes_nothing_writes_nothing() -> None:
    tree = _tree()
    root = tree.build([(b"k%03d" % i, b"v%d" % i) for i in range(200)])
    b = tree.store.batch()
    again = tree.apply(root, {b"k005": b"v5", b"k010": b"v10", b"missing": None}, b)
    b.flush()
    assert again == root
    assert b.stats.objects == 0


_keys = st.lists(st.binary(max_size=40), max_size=12)
_leaf_value = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda d: Spill(1, d), st.binary(min_size=32, max_size=32)),  # a spilled value
    st.just(Spill(2, b"")),  # a run's tombstone
    st.builds(Spill, st.integers(0, 5), st.binary(max_size=40)),  # anything else
)
def _sized(n: int, extra: st.SearchStrategy) -> st.SearchStrategy:
    # Columns mostly of one length (well-formed), sometimes not.
    right = st.lists(extra, min_size=n, max_size=n)
    return st.one_of(right, right, right, st.lists(extra, max_size=3))


_child_id = st.binary(min_size=32, max_size=32) | st.binary(min_size=31, max_size=33)
_count = st.integers(0, 2**64 - 1) | st.integers(-1, 2)
_node_body = st.one_of(
    st.integers(0, 10).flatmap(
        lambda n: st.builds(
            lambda lvl, k, v: encode([lvl, k, v]),
            st.sampled_from([0, 0, 0, 1, False]),
            _sized(n, st.binary(max_size=40)),
            _sized(n, _leaf_value),
        )
    ),
    st.integers(0, 10).flatmap(
        lambda n: st.builds(
            lambda lvl, k, ids, counts: encode([lvl, k, ids, counts]),
            st.integers(-1, 3),
            _sized(n, st.binary(max_size=40)),
            _sized(n, _child_id),
            _sized(n, _count),
        )
    ),
    st.builds(lambda x: encode(x), st.lists(st.integers(0, 2), max_size=5)),
)


@settings(max_examples=300)
@given(_node_body)
def test_the_fast_node_decoder_agrees_with_the_checked_one(body: bytes) -> None:
    """Nodes decoded in C are the nodes the checked decoder makes, and every body it
    refuses, the checked decoder refuses too (so errors keep their messages)."""
    oid = b"\x01" * 32
    try:
        want = ProllyTree._decode_checked(oid, body)
    except CorruptObjectError:
        want = None
    fast = _decode_typed(oid, body)
    if fast is None:
        if want is None:
            with pytest.raises(CorruptObjectError):
                ProllyTree._decode(oid, body)
            return
        fast = ProllyTree._decode(oid, body)  # the fallback the reads take
        event("decoded by the checked path")
    else:
        event(f"decoded in C: level {fast.level}")
    assert want is not None, "the fast decoder accepted a node the checked one refuses"
    assert (fast.level, fast.keys, fast.vals, fast.counts) == (
        want.level, want.keys, want.vals, want.counts)


class _CountedTree:
    """A 20,000-entry tree (~9 MB of leaves) on LMDB behind a 4 MB node cache, with the
    ids of the objects it fetches from the backend counted."""

    def __init__(self, path: Path, seed: int) -> None:
        self.backend = open_backend(f"lmdb://{path}/s")
        self.tree = ProllyTree(ObjectStore(self.backend), cache_bytes=4 * 1024 * 1024)
        self.rng = random.Random(seed)
        self.items = sorted((b"k%08d" % i, self.rng.randbytes(300)) for i in range(20_000))
        self.root = self.tree.build(self.items)
        self.tree._cache.clear()
        self.fetched: list[bytes] = []
        real = self.backend.get_objects

        def counting(ids):  # type: ignore[no-untyped-def]
            self.fetched.extend(ids)
            return real(ids)

        self.backend.get_objects = counting  # type: ignore[method-assign]

    def sample(self, n: int) -> tuple[list[bytes], dict[bytes, bytes]]:
        """``n`` random keys and what a lookup of them must answer."""
        keys = [k for k, _ in self.rng.sample(self.items, n)]
        wanted = set(keys)
        return keys, {k: v for k, v in self.items if k in wanted}


def test_random_reads_after_a_large_scan_load_only_leaves(tmp_path: Path) -> None:
    """A scan of a tree larger than the node cache leaves the internal nodes cached, so
    a batch of random reads after it fetches one leaf per key, not a path per key."""
    t = _CountedTree(tmp_path, 4)
    assert sum(1 for _ in t.tree.items(t.root)) == 20_000
    keys, want = t.sample(50)
    t.fetched.clear()
    assert t.tree.get_many(t.root, keys) == want
    fetched = list(t.fetched)
    assert fetched and all(node.level == 0 for node in t.tree.load_many(fetched))
    assert len(fetched) <= len(keys)


def test_a_scan_larger_than_the_cache_keeps_what_random_reads_cached(tmp_path: Path) -> None:
    """A scan streams through leaves beyond a quarter of the cache without keeping them,
    so the leaves that random reads had cached are still there after it."""
    t = _CountedTree(tmp_path, 5)
    keys, want = t.sample(40)
    t.tree.get_many(t.root, keys)
    assert [k for k, _ in t.tree.items(t.root)] == [k for k, _ in t.items]
    scanned = len(t.fetched)
    assert t.tree.get_many(t.root, keys) == want
    assert scanned > 0 and len(t.fetched) == scanned  # nothing fetched again


def test_cached_nodes_add_nothing_to_the_garbage_collectors_work(tmp_path: Path) -> None:
    """Nodes hold no cycles, so the collector never tracks them: a cache of thousands of
    decoded nodes leaves each collection of the host program as cheap as before."""
    backend = open_backend(f"lmdb://{tmp_path}/s")
    tree = ProllyTree(ObjectStore(backend), cache_bytes=64 * 1024 * 1024)
    rng = random.Random(7)
    items = sorted((b"k%08d" % i, rng.randbytes(300)) for i in range(20_000))
    root = tree.build(items)
    tree._cache.clear()
    gc.collect()
    before = len(gc.get_objects())
    assert dict(tree.items(root)) == dict(items)
    assert tree.get_many(root, [k for k, _ in items[::7]]) == dict(items[::7])
    cached = len(tree._cache.leaves._d) + len(tree._cache.inner._d)
    gc.collect()  # tuples of bytes stop being tracked at their first collection
    assert cached > 1_000
    assert len(gc.get_objects()) - before < 100
    backend.close()
