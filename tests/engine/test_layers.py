"""Layered trees (a base plus runs) against a plain dict model (Hypothesis).

Tiny chunking targets, ``apply_max=2``, ``fanout=2``, runs of two-entry leaves
and small fold ratios make every write a run, merge generations often and fold
whenever the runs outgrow the base, so a few dozen records exercise every path
of the stack.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vstore.engine import CONFLICT, EMPTY_ROOT, ObjectStore, ProllyTree, TreeParams, open_backend
from vstore.engine import layers as layers_module
from vstore.engine.codec import ObjectKind, encode
from vstore.engine.layers import (
    KeyFilter,
    Layers,
    Stack,
    _merged_fingerprints,
    fingerprint,
    fingerprints,
)
from vstore.engine.repository import open_repository
from vstore.errors import CorruptObjectError, MergeConflictError

SMALL = TreeParams(leaf_target=4, internal_target=4, max_bytes=2048)

keys = st.binary(min_size=1, max_size=5)
vals = st.binary(min_size=0, max_size=30) | st.binary(min_size=300, max_size=400)
batch = st.dictionaries(keys, st.none() | vals, max_size=30)


def _layers(
    apply_max: int = 2, fanout: int = 2, fold_ratio: int = 1, kept_bytes: int = 1 << 20
) -> Layers:
    store = ObjectStore(open_backend(f"memory://layers-{uuid.uuid4().hex}"))
    return Layers(
        ProllyTree(store, SMALL, spill_bytes=256),
        apply_max=apply_max, fanout=fanout, fold_ratio=fold_ratio, run_leaf=2,
        kept_bytes=kept_bytes,
    )


def _apply(model: dict[bytes, bytes], edits: dict[bytes, bytes | None]) -> None:
    for k, v in edits.items():
        if v is None:
            model.pop(k, None)
        else:
            model[k] = v


@given(st.lists(batch, max_size=10), st.integers(0, 3), st.integers(2, 4), st.integers(1, 4),
       st.sampled_from([0, 1 << 20]))
def test_any_sequence_of_writes_reads_like_the_dict_model(
    batches: list[dict[bytes, bytes | None]], apply_max: int, fanout: int, fold_ratio: int,
    kept_bytes: int,
) -> None:
    # kept_bytes 0: merges and folds read every run back from the store, as they do for
    # runs another process wrote; else from the entries this object kept.
    lay = _layers(apply_max, fanout, fold_ratio, kept_bytes)
    model: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for edits in batches:
        before = dict(model)
        changes: list[tuple[bytes, bytes | None, bytes | None]] = []
        old_root = root
        root = lay.write(root, edits, changes=changes)
        _apply(model, edits)
        assert list(lay.items(root)) == sorted(model.items())
        assert lay.count(root) == len(model)
        for k in list(edits)[:6]:
            assert lay.get(root, k) == model.get(k)
        probe = [*edits, b"\xff\xfe-absent"]
        assert lay.get_many(root, probe) == {k: model[k] for k in probe if k in model}
        expected = [
            (k, before.get(k), model.get(k))
            for k in sorted(set(before) | set(model))
            if before.get(k) != model.get(k)
        ]
        assert changes == expected
        # A diff between any two states equals the model's, both ways.
        assert list(lay.diff(old_root, root)) == expected
        assert list(lay.diff(root, old_root)) == [(k, n, o) for k, o, n in expected]
        if not expected:
            assert root == old_root  # a write that changes nothing writes nothing
    plain = lay.compact(root)
    assert lay.stack(plain).id is None and list(lay.items(plain)) == sorted(model.items())


@given(batch, batch, st.integers(0, 255))
def test_prefix_and_ranges_skip_tombstones(
    first: dict[bytes, bytes | None], second: dict[bytes, bytes | None], lead: int
) -> None:
    lay = _layers()
    model: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for edits in (first, second):
        root = lay.write(root, edits)
        _apply(model, edits)
    p = bytes([lead])
    assert list(lay.prefix(root, p)) == sorted((k, v) for k, v in model.items() if k[:1] == p)
    lo, hi = bytes([lead]), bytes([min(lead + 40, 255)])
    got = list(lay.items(root, lo, hi))
    assert got == sorted((k, v) for k, v in model.items() if lo <= k < hi)


@given(st.lists(batch, min_size=2, max_size=6), st.integers(0, 5), st.integers(0, 5))
def test_diff_between_any_two_states_of_a_history(
    batches: list[dict[bytes, bytes | None]], i: int, j: int
) -> None:
    lay = _layers()
    roots, models = [EMPTY_ROOT], [dict[bytes, bytes]()]
    for edits in batches:
        roots.append(lay.write(roots[-1], edits))
        m = dict(models[-1])
        _apply(m, edits)
        models.append(m)
    i, j = i % len(roots), j % len(roots)
    a, b = models[i], models[j]
    expected = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    assert list(lay.diff(roots[i], roots[j])) == expected


@given(st.lists(batch, max_size=4), st.lists(batch, min_size=1, max_size=5),
       st.lists(batch, min_size=1, max_size=5), st.integers(0, 5), st.integers(0, 5),
       st.integers(2, 4))
def test_diff_between_states_of_two_branches(
    common: list[dict[bytes, bytes | None]],
    left: list[dict[bytes, bytes | None]],
    right: list[dict[bytes, bytes | None]],
    i: int, j: int, fanout: int,
) -> None:
    # Two branches from one state merge their runs at different points: a diff reads
    # the runs a merged run came from where the other side holds some of them.
    lay = _layers(apply_max=0, fanout=fanout, fold_ratio=50)
    root, model = EMPTY_ROOT, dict[bytes, bytes]()
    for edits in common:
        root = lay.write(root, edits)
        _apply(model, edits)
    branches = []
    for writes in (left, right):
        states = [(root, dict(model))]
        for edits in writes:
            m = dict(states[-1][1])
            _apply(m, edits)
            states.append((lay.write(states[-1][0], edits), m))
        branches.append(states)
    (ra, a), (rb, b) = branches[0][i % len(branches[0])], branches[1][j % len(branches[1])]
    expected = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    assert list(lay.diff(ra, rb)) == expected
    assert list(lay.diff(rb, ra)) == [(k, n, o) for k, o, n in expected]


@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), batch), max_size=14),
       st.integers(2, 4), st.integers(1, 4))
def test_writers_sharing_a_store_report_what_each_write_changed(
    writes: list[tuple[int, bool, dict[bytes, bytes | None]]], fanout: int, fold_ratio: int,
) -> None:
    # Three Layers over one store stand for three processes, writing in turn to a stack
    # and to a fork of it (made at the fork's first write). Each answers a write's
    # lookups from the fingerprints of the runs it wrote itself only where it wrote
    # every run of the stack: the old values a write reports must be the model's.
    store = ObjectStore(open_backend(f"memory://layers-{uuid.uuid4().hex}"))
    writers = [
        Layers(ProllyTree(store, SMALL, spill_bytes=256), apply_max=0, fanout=fanout,
               fold_ratio=fold_ratio, run_leaf=2)
        for _ in range(3)
    ]
    roots: list[bytes | None] = [EMPTY_ROOT, None]
    models: list[dict[bytes, bytes]] = [{}, {}]
    for who, forked, edits in writes:
        b = int(forked)
        if roots[b] is None:
            roots[b], models[b] = roots[0], dict(models[0])
        root, model = roots[b], models[b]
        assert root is not None
        before = dict(model)
        changes: list[tuple[bytes, bytes | None, bytes | None]] = []
        roots[b] = writers[who].write(root, edits, changes=changes)
        _apply(model, edits)
        assert changes == [
            (k, before.get(k), model.get(k))
            for k in sorted(set(before) | set(model))
            if before.get(k) != model.get(k)
        ]
        probe = [*edits, *list(before)[:5], b"\xff\xfe-absent"]
        for lay in writers:
            assert lay.get_many(roots[b], probe) == {k: model[k] for k in probe if k in model}


@pytest.mark.parametrize("reader", ["writer", "another"])
def test_keys_sharing_a_fingerprint_are_each_read_from_their_own_run(reader: str) -> None:
    # A key found in a newer run takes its fingerprint out of what older filters are
    # asked, unless another asked key has the same fingerprint: that one must still be
    # looked for below. Fingerprints are made to collide (the last byte's parity).
    def weak(key: bytes) -> int:
        return key[-1] % 2

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(layers_module, "fingerprint", weak)
        mp.setattr(layers_module, "fingerprints", lambda ks: [weak(k) for k in ks])
        store = ObjectStore(open_backend(f"memory://layers-{uuid.uuid4().hex}"))

        def make() -> Layers:
            return Layers(ProllyTree(store, SMALL, spill_bytes=256), apply_max=0, fanout=64,
                          fold_ratio=64, run_leaf=2)

        lay = make()
        root = lay.write(EMPTY_ROOT, {b"base-%d" % i: b"b" for i in range(40)})
        root = lay.write(root, {b"old-a": b"1", b"old-b": b"2", b"gone-b": b"x"})
        root = lay.write(root, {b"new-a": b"3", b"gone-b": None, b"base-1": b"new"})
        assert len(lay.stack(root).runs) == 2
        model = {b"base-%d" % i: b"b" for i in range(40)}
        model.update({b"old-a": b"1", b"old-b": b"2", b"new-a": b"3", b"base-1": b"new"})
        looker = lay if reader == "writer" else make()
        asked = [b"new-a", b"old-a", b"old-b", b"gone-b", b"base-1", b"base-2", b"base-3",
                 b"absent"]
        assert looker.get_many(root, asked) == {k: model[k] for k in asked if k in model}
        assert looker.get_many(root, list(model)) == model


def test_the_fingerprints_of_written_runs_stay_within_the_filter_cache() -> None:
    # 100 fingerprints weigh ~7 KB: with a 20 KB filter cache the table of the runs this
    # object wrote is dropped at the third run, and lookups go back to each run's filter.
    store = ObjectStore(open_backend(f"memory://layers-{uuid.uuid4().hex}"))
    lay = Layers(ProllyTree(store, SMALL, spill_bytes=256), cache_bytes=20_000, apply_max=0,
                 fanout=64, fold_ratio=64, run_leaf=2)
    root = lay.write(EMPTY_ROOT, {b"base%03d" % i: b"b" for i in range(10)})
    model = {b"base%03d" % i: b"b" for i in range(10)}
    sizes = []
    for n in range(5):
        edits = {b"k%d-%03d" % (n, i): b"v%d" % n for i in range(100)}
        edits[b"base%03d" % n] = b"new"
        changes: list[tuple[bytes, bytes | None, bytes | None]] = []
        root = lay.write(root, edits, changes=changes)
        assert changes == [(k, model.get(k), v) for k, v in sorted(edits.items())]
        model.update(edits)
        sizes.append(None if lay._written is None else len(lay._written[1]))
    assert sizes[:2] == [101, 202] and sizes[2:] == [None, None, None]
    assert lay.get_many(root, list(model)) == model


def _counting_reads(repo: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the objects ``repo`` reads from its backend from now on."""
    backend, seen = repo.objects.backend, [0]
    one, many = backend.get_object, backend.get_objects

    def get_object(oid: bytes) -> Any:
        seen[0] += 1
        return one(oid)

    def get_objects(ids: Any) -> Any:
        ids = list(ids)
        seen[0] += len(ids)
        return many(ids)

    monkeypatch.setattr(backend, "get_object", get_object)
    monkeypatch.setattr(backend, "get_objects", get_objects)
    return seen


def test_a_write_that_merges_runs_diffs_through_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "s")

    def layers(repo: Any) -> Layers:  # runs of 16-entry leaves, merged 4 at a time
        lay = repo.layers
        lay.apply_max, lay.fanout, lay.fold_ratio, lay.run_leaf = 0, 4, 100, 16
        return lay

    with open_repository(url) as repo:
        lay = layers(repo)
        model = {b"base-%05d" % i: b"v" * 30 for i in range(2000)}
        root = lay.write(EMPTY_ROOT, model)  # the first write becomes the base
        for n in range(3):
            more = {b"run%d-%05d" % (n, i): b"w" * 30 for i in range(600)}
            root = lay.write(root, more)
            model.update(more)
        parent = root
        edits = {b"base-00007": b"changed", b"run1-00003": None, b"new": b"x"}
        child = lay.write(parent, edits)
        merged = lay.stack(child).runs
        # The child's run was the fourth of its generation: all four were merged.
        assert [(r.generation, r.entries, len(r.sources)) for r in merged] == [(1, 1802, 4)]
        repo.refs.append("heads/child", child, expect=0)
        repo.refs.append("heads/parent", parent, expect=0)
    want = [(b"base-00007", b"v" * 30, b"changed"), (b"new", None, b"x"),
            (b"run1-00003", b"w" * 30, None)]

    with open_repository(url) as repo:  # nothing cached: every node is read again
        lay = layers(repo)
        reads = _counting_reads(repo, monkeypatch)
        assert list(lay.diff(parent, child)) == want
        assert list(lay.diff(child, parent)) == [(k, n, o) for k, o, n in want]
        # Both stacks, the child's own run and the leaves of three keys, each way:
        # nothing of the 1,802 entries (113 leaves) of the merged run.
        assert reads[0] < 40, reads[0]

    with open_repository(url) as repo:
        # The child's own run is no stack's run now: gc deletes it (the parent's three
        # stay, the parent's stack holds them).
        assert repo.gc(grace=0).deleted > 0
        lay = layers(repo)
        reads = _counting_reads(repo, monkeypatch)
        assert list(lay.diff(parent, child)) == want  # the merged run is read instead
        assert reads[0] > 113


def test_a_write_that_folds_diffs_through_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "s")

    def layers(repo: Any) -> Layers:  # runs fold once they hold as many entries as the base
        lay = repo.layers
        lay.apply_max, lay.fanout, lay.fold_ratio, lay.run_leaf = 0, 100, 1, 16
        return lay

    with open_repository(url) as repo:
        lay = layers(repo)
        root = lay.write(EMPTY_ROOT, {b"base-%05d" % i: b"v" * 30 for i in range(2000)})
        for n in range(3):
            root = lay.write(root, {b"run%d-%05d" % (n, i): b"w" * 30 for i in range(666)})
        parent = root
        edits = {b"base-00007": b"changed", b"run1-00003": None, b"new": b"x"}
        child = lay.write(parent, edits)  # 1,998 + 3 entries in runs >= 2,000: a fold
        st = lay.stack(child)
        assert not st.runs and st.base != lay.stack(parent).base and st.count == 3998
        assert st.folded is not None and len(st.folded[1]) == 4
        grandchild = lay.write(child, {b"later": b"y"})  # a run over the folded base
        for name, r in (("parent", parent), ("child", child), ("grandchild", grandchild)):
            repo.refs.append(f"heads/{name}", r, expect=0)
    want = [(b"base-00007", b"v" * 30, b"changed"), (b"new", None, b"x"),
            (b"run1-00003", b"w" * 30, None)]

    with open_repository(url) as repo:  # nothing cached
        lay = layers(repo)
        reads = _counting_reads(repo, monkeypatch)
        assert list(lay.diff(parent, child)) == want
        assert list(lay.diff(child, parent)) == [(k, n, o) for k, o, n in want]
        assert list(lay.diff(parent, grandchild)) == sorted([*want, (b"later", None, b"y")])
        # Stacks, the newest write's run and the leaves of a few keys, not the ~250
        # leaves of the new base.
        assert reads[0] < 60, reads[0]

    with open_repository(url) as repo:
        assert repo.gc(grace=0).deleted > 0  # the newest write's run: only a weak reference
        lay = layers(repo)
        reads = _counting_reads(repo, monkeypatch)
        assert list(lay.diff(parent, child)) == want  # the two bases are compared instead
        assert reads[0] > 100


@settings(max_examples=60)
@given(batch, batch, batch)
def test_three_way_merge_of_stacks(
    base_edits: dict[bytes, bytes | None],
    ours_edits: dict[bytes, bytes | None],
    theirs_edits: dict[bytes, bytes | None],
) -> None:
    lay = _layers()
    base = lay.write(EMPTY_ROOT, base_edits)
    ours = lay.write(base, ours_edits)
    theirs = lay.write(base, theirs_edits)
    m_base: dict[bytes, bytes] = {}
    _apply(m_base, base_edits)
    m_ours, m_theirs = dict(m_base), dict(m_base)
    _apply(m_ours, ours_edits)
    _apply(m_theirs, theirs_edits)
    both = {
        k for k in set(m_ours) | set(m_theirs) | set(m_base)
        if m_ours.get(k) != m_base.get(k) and m_theirs.get(k) != m_base.get(k)
        and m_ours.get(k) != m_theirs.get(k)
    }
    result = lay.merge(base, ours, theirs, lambda k, b, o, t: CONFLICT)
    expected = dict(m_ours)
    for k in set(m_theirs) | set(m_base):
        if k in both or m_theirs.get(k) == m_base.get(k):
            continue
        if k in m_theirs:
            expected[k] = m_theirs[k]
        else:
            expected.pop(k, None)
    assert dict(lay.items(result.root)) == expected
    assert sorted(result.conflicts) == sorted(both)
    if both:
        with pytest.raises(MergeConflictError):
            lay.merge(base, ours, theirs)


def test_large_writes_become_runs_that_merge_and_fold() -> None:
    lay = _layers(apply_max=8, fanout=4)
    root = lay.write(EMPTY_ROOT, {b"k%04d" % i: b"v" for i in range(100)})
    st = lay.stack(root)
    assert st.id is not None and not st.runs and st.count == 100  # folded into a new base
    assert st.base_filter is not None
    for n in range(3):
        root = lay.write(root, {b"n%d-%03d" % (n, i): b"w" for i in range(10)})
    st = lay.stack(root)
    assert [r.generation for r in st.runs] == [0, 0, 0] and st.count == 130
    root = lay.write(root, {b"n3-%03d" % i: b"w" for i in range(10)})
    st = lay.stack(root)
    assert [(r.generation, r.entries) for r in st.runs] == [(1, 40)]  # one merged generation
    root = lay.write(root, {b"big-%03d" % i: b"x" for i in range(100)})
    st = lay.stack(root)
    assert not st.runs and st.count == 240  # runs outgrew the base: folded
    assert lay.compact(root) == st.base
    assert dict(lay.tree.items(st.base)) == dict(lay.items(root))


@pytest.mark.parametrize("kept_bytes", [0, 1 << 20])
@pytest.mark.parametrize("fanout", [3, 16])
def test_merges_and_folds_keep_the_newest_write_of_each_key(kept_bytes: int, fanout: int) -> None:
    """Runs that hold the same keys merge (fanout 3) or fold (fanout 16) into what the last
    write of each key says: a newer value wins over an older one, a delete over both."""
    lay = _layers(apply_max=2, fanout=fanout, fold_ratio=4, kept_bytes=kept_bytes)
    model = {b"k%03d" % i: b"base" for i in range(20)}
    root = lay.write(EMPTY_ROOT, model)
    for n in range(8):  # each write touches the same keys again
        edits: dict[bytes, bytes | None] = {b"k%03d" % i: b"w%d" % n for i in range(n, 20, 2)}
        edits[b"k%03d" % (n + 1)] = None
        edits.update({b"n%d-%d" % (n, i): b"x" for i in range(8)})
        root = lay.write(root, edits)
        _apply(model, edits)
        assert dict(lay.items(root)) == model, n
    assert lay.stack(root).count == len(model)


def test_runs_wait_for_the_fold_ratio_before_folding() -> None:
    lay = _layers(apply_max=8, fanout=16, fold_ratio=4)
    root = lay.write(EMPTY_ROOT, {b"k%04d" % i: b"v" for i in range(20)})
    assert not lay.stack(root).runs  # a first write folds into the base
    for n in range(7):
        root = lay.write(root, {b"n%d-%03d" % (n, i): b"w" for i in range(10)})
        assert [r.entries for r in lay.stack(root).runs] == [10] * (n + 1)  # 70 < 4 x 20
    root = lay.write(root, {b"n7-%03d" % i: b"w" for i in range(10)})
    st = lay.stack(root)
    assert not st.runs and st.count == 100  # 80 >= 4 x 20: folded
    assert dict(lay.items(root)) == dict(lay.tree.items(st.base))


@given(
    st.dictionaries(keys, vals, max_size=200), st.integers(1, 6), st.integers(2, 5),
)
def test_block_built_trees_read_like_the_dict_model(
    model: dict[bytes, bytes], leaf: int, fanin: int
) -> None:
    tree = _layers().tree
    b = tree.store.batch()
    items = sorted((k, tree.store_value(v, b)) for k, v in model.items())
    root = tree.build_blocks(items, b, leaf, fanin)
    b.flush()
    assert dict(tree.items(root)) == model
    assert tree.count(root) == len(model)
    some = list(model)[:20]
    assert tree.get_many(root, [*some, b"\xff-absent"]) == {k: model[k] for k in some}
    if model:
        lo = sorted(model)[len(model) // 2]
        assert dict(tree.items(root, lo)) == {k: v for k, v in model.items() if k >= lo}


@given(st.dictionaries(keys, vals, max_size=200), st.lists(keys, max_size=40))
def test_batch_reads_equal_reads_one_key_at_a_time(
    model: dict[bytes, bytes], probe: list[bytes]
) -> None:
    tree = _layers().tree
    b = tree.store.batch()
    root = tree.build(sorted(model.items()), b)
    b.flush()
    asked = [*probe, *list(model)[::3], b"", b"\x00", b"\xff\xff\xff\xff\xff\xff"]
    expected = {k: v for k in asked if (v := tree.get(root, k)) is not None}
    assert tree.get_many(root, asked) == expected == {k: model[k] for k in asked if k in model}


def test_block_built_leaves_stay_under_the_byte_cap() -> None:
    tree = _layers().tree
    b = tree.store.batch()
    items = [(b"k%03d" % i, b"x" * 250) for i in range(64)]  # 64 x 250 B, cap 2,048 B
    root = tree.build_blocks(items, b, 32)
    b.flush()
    leaves = list(tree.leaves(root))
    assert sum(len(leaf.keys) for leaf in leaves) == 64
    assert all(sum(len(v) for v in leaf.vals) < SMALL.max_bytes for leaf in leaves)


def test_block_built_leaves_split_only_where_a_group_needs_it() -> None:
    """Leaves are made a group at a time; one large value in a later group is split off
    on its own while the small entries around it keep their fixed-size leaves."""
    tree = _layers().tree
    b = tree.store.batch()
    items = [(b"k%05d" % i, b"x" * (2000 if i == 2000 else 8)) for i in range(2500)]
    root = tree.build_blocks(items, b, 4)  # groups of 4 x 256 entries: the third one splits
    b.flush()
    leaves = list(tree.leaves(root))
    assert [kv for leaf in leaves for kv in zip(leaf.keys, leaf.vals, strict=True)] == items
    assert all(sum(map(len, leaf.keys)) + sum(map(len, leaf.vals)) < SMALL.max_bytes
               for leaf in leaves)
    assert sum(len(leaf.keys) != 4 for leaf in leaves) == 2  # its leaf is cut in two


@given(st.lists(keys, max_size=60))
def test_fingerprints_of_many_keys_equal_one_at_a_time(ks: list[bytes]) -> None:
    assert fingerprints(ks) == [fingerprint(k) for k in ks]


@given(st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=30), max_size=6))
def test_merged_fingerprints_are_the_sorted_distinct_ones(parts: list[list[int]]) -> None:
    parts = [sorted(p) for p in parts]
    assert _merged_fingerprints(parts) == sorted({fp for p in parts for fp in p})


@given(
    st.sets(st.integers(0, 2**64 - 1), max_size=400),
    st.sets(st.integers(0, 2**64 - 1), max_size=40),
    st.integers(0, 400),
)
def test_key_filter_answers_small_probes_and_batches_alike(
    present: set[int], others: set[int], take: int
) -> None:
    f = KeyFilter.from_fingerprints(present)
    probe = set(sorted(present)[:take]) | others
    small = f.common(set(list(probe)[:3]))  # bisects the array
    assert small == set(list(probe)[:3]) & present
    assert f.common(probe) == probe & present  # a batch: the set path
    assert all((fp in f) == (fp in present) for fp in probe)


@given(
    st.sets(st.integers(0, 2**64 - 1), min_size=200, max_size=400),
    st.lists(st.sets(st.integers(0, 2**64 - 1), max_size=3), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_key_filter_answers_alike_before_and_after_small_probes_build_its_table(
    present: set[int], others: list[set[int]], rnd: Any
) -> None:
    """A reader asking a filter a few keys at a time (a data loader) gets the same answers
    on the sorted array and, once it has asked enough, on the hash table it builds."""
    f = KeyFilter.from_fingerprints(present)
    held = sorted(present)
    asked = 0
    for extra in others:
        probe = extra | set(rnd.sample(held, 2))
        assert f.common(probe) == probe & present
        assert all((fp in f) == (fp in present) for fp in probe)
        asked += 2 * len(probe)  # the batch, then each fingerprint alone
    assert (f._members is not None) == (asked * 4 >= len(present))


def test_cached_filters_and_nodes_add_nothing_for_the_collector_to_walk() -> None:
    """The hash table a batch lookup builds over a large filter, and the node cache's
    bookkeeping, are not tracked by the cyclic collector: a process that holds many of them
    does not pay for them at every full collection."""
    import gc
    import random

    from vstore.engine.objects import LRU

    rng = random.Random(2)
    f = KeyFilter.from_fingerprints(rng.getrandbits(64) for _ in range(10_000))
    probe = {rng.getrandbits(64) for _ in range(1_000)} | set(list(f.fps)[:10])
    assert f.common(probe) == probe & set(f.fps)
    assert f._members is not None and not gc.is_tracked(f._members)
    cache = LRU(1 << 20)
    for i in range(100):
        cache.put(b"%d" % i, [i], 10)
    assert not gc.is_tracked(cache._w)


def test_small_writes_keep_a_plain_tree_history_independent() -> None:
    lay = _layers(apply_max=256)
    a = lay.write(EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    b = lay.write(lay.write(EMPTY_ROOT, {b"b": b"2"}), {b"a": b"1"})
    assert a == b and lay.stack(a).id is None


def test_verify_and_gc_walk_stacks(tmp_path: Path) -> None:
    repo = open_repository(str(tmp_path / "s"))
    lay = repo.layers
    lay.apply_max = 0
    root = EMPTY_ROOT
    for n in range(6):
        root = lay.write(root, {b"k%d-%03d" % (n, i): b"v" * 40 for i in range(50)})
    assert lay.stack(root).runs  # a stack with runs and filters
    repo.refs.append("heads/x", root, expect=0)
    report = repo.verify()
    # Superseded stacks and merged runs are unreachable; everything reachable is sound.
    assert report.ok and report.dangling > 0, report
    gc = repo.gc(grace=0)
    assert gc.deleted == report.dangling
    after = repo.verify()
    assert after.ok and after.dangling == 0
    kinds = {repo.objects.get_kind(o)[0] for o, _ in repo.backend.iter_objects()}
    assert ObjectKind.STACK in kinds and ObjectKind.BLOB in kinds
    assert dict(lay.items(root)) == {
        b"k%d-%03d" % (n, i): b"v" * 40 for n in range(6) for i in range(50)
    }
    repo.close()


def test_a_damaged_stack_is_a_corrupt_object_error() -> None:
    lay = _layers()
    b = lay.store.batch()
    oid = b.add(ObjectKind.STACK, b"\x93\x01\x02\x03")
    b.flush()
    with pytest.raises(CorruptObjectError):
        lay.stack(oid)
    blob = lay.store.put(ObjectKind.BLOB, b"not a tree")
    with pytest.raises(CorruptObjectError, match="where a tree belongs"):
        lay.count(blob)


def test_stacks_read_with_and_without_sources_and_refuse_bad_ones() -> None:
    lay = _layers()
    oid, run = b"\x01" * 32, [b"\x02" * 32, 5, b"\x03" * 32, 1]

    def stack(*fields: Any) -> Stack:
        return lay.stack(lay.store.put(ObjectKind.STACK, encode([1, oid, b"", 9, *fields])))

    plain = stack([run])  # as written before runs named their sources
    assert plain.runs[0].sources == () and plain.folded is None
    src = [[b"\x04" * 32, 3, [[b"\x05" * 32, 2, []]]]]
    full = stack([[*run, src]], [b"\x06" * 32, src], "a later field")
    assert full.runs[0].sources[0].sources[0].root == b"\x05" * 32
    assert full.folded is not None and full.folded[0] == b"\x06" * 32
    assert full.runs == plain.runs  # sources do not change what a run is
    for bad in (
        ([[*run, [[b"short", 3, []]]]],),                       # a source id of 5 bytes
        ([[*run, [[b"\x04" * 32, "3", []]]]],),                  # a count that is a str
        ([[*run, [[b"\x04" * 32, 3, [[b"\x05" * 32, 2, src]]]]]],),  # three levels deep
        ([[*run, {"not": "a list"}]],),
        ([run], [b"short", src]),                               # a bad folded base
        ([run], [b"\x06" * 32]),                                 # folded without sources
    ):
        with pytest.raises(CorruptObjectError, match="not a valid stack"):
            stack(*bad)


def test_stack_of_a_plain_root_needs_no_object() -> None:
    lay = _layers()
    assert lay.stack(EMPTY_ROOT) == Stack(EMPTY_ROOT, 0)
