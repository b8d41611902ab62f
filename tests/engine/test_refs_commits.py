"""Ref logs, write-once refs, commits, verify and gc on every backend."""

from __future__ import annotations

import time

import pytest

from vstore.engine import Repository
from vstore.engine.backends.base import Backend
from vstore.engine.refs import RefStore
from vstore.errors import CorruptObjectError, InvalidArgumentError


def test_append_is_a_compare_and_swap_on_the_head(repo: Repository) -> None:
    refs = repo.refs
    assert refs.head("drafts/a") is None
    first = refs.append("drafts/a", b"\1" * 32, expect=0)
    assert first.ok and first.entry.seq == 1
    stale = refs.append("drafts/a", b"\2" * 32, expect=0)
    assert not stale.ok
    assert stale.entry.value == b"\1" * 32  # it says who won
    second = refs.append("drafts/a", b"\3" * 32, expect=1, meta={"n": 2})
    assert second.ok
    head = refs.head("drafts/a")
    assert head is not None and (head.seq, head.value, head.meta) == (2, b"\3" * 32, {"n": 2})
    assert [e.seq for e in refs.entries("drafts/a")] == [2, 1]


def test_reading_the_head_does_not_scan_the_log(repo: Repository) -> None:
    refs = repo.refs
    for i in range(200):
        assert refs.append("logs-long", b"%032d" % i, expect=i).ok
    counter = _CountingReads(repo.backend)
    head = RefStore(counter).head("logs-long")
    assert head is not None and head.seq == 200
    assert counter.reads <= 12  # the hint is at most 15 entries behind
    # A stale hint costs a few probes, not a walk of the log.
    repo.backend.write_key("hints/logs-long", b"3")
    counter.reads = 0
    head = RefStore(counter).head("logs-long")
    assert head is not None and head.seq == 200
    assert counter.reads <= 20


class _CountingReads(Backend):
    """A pass-through backend that counts key reads."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.reads = 0

    def read_key(self, key: str) -> bytes | None:
        self.reads += 1
        return self.inner.read_key(key)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    get_objects = put_objects = has_objects = iter_objects = delete_objects = None  # type: ignore[assignment]
    create_key = write_key = list_keys = delete_key = None  # type: ignore[assignment]


def test_a_lost_reply_is_not_a_conflict(repo: Repository) -> None:
    """A create that succeeded but whose reply was lost is retried and seen as ours."""
    backend = repo.backend
    real_create = backend.create_key
    calls = []

    def create_then_lose_reply(key: str, value: bytes) -> bool:
        calls.append(key)
        created = real_create(key, value)
        if len(calls) == 1:
            raise ConnectionResetError("reply lost")
        return created

    backend.create_key = create_then_lose_reply  # type: ignore[method-assign]
    try:
        result = repo.refs.append("drafts/lost", b"\7" * 32, expect=0)
    finally:
        del backend.create_key
    assert result.ok
    assert len(calls) == 2
    assert [e.seq for e in repo.refs.entries("drafts/lost")] == [1]


def test_write_once_refs(repo: Repository) -> None:
    c = repo.commit(repo.tree.build([(b"k", b"v")]), message="v1")
    assert repo.refs.create_frozen("published/ds/v1", c.id).ok
    again = repo.refs.create_frozen("published/ds/v1", b"\0" * 32)
    assert not again.ok and again.entry.value == c.id
    frozen = repo.refs.frozen("published/ds/v1")
    assert frozen is not None and frozen.value == c.id
    assert repo.refs.frozen_names("published") == ["published/ds/v1"]


@pytest.mark.parametrize("bad", ["", "../x", "a b", "/abs"])
def test_bad_ref_names_are_refused(repo: Repository, bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="ref name"):
        repo.refs.append(bad, b"\0" * 32, expect=0)


def test_commits_and_ancestry(repo: Repository) -> None:
    t1 = repo.tree.build([(b"a", b"1")])
    c1 = repo.commit(t1, message="first", meta={"who": "me"})
    t2 = repo.tree.apply(t1, {b"b": b"2"})
    c2 = repo.commit(t2, parents=[c1.id], message="second")
    side = repo.commit(repo.tree.apply(t1, {b"c": b"3"}), parents=[c1.id], message="side")
    m = repo.commit(t2, parents=[c2.id, side.id], message="merge")
    read = repo.read_commit(c1.id)
    assert (read.tree, read.message, read.meta, read.parents) == (t1, "first", {"who": "me"}, ())
    assert next(iter(repo.log(m.id))).message == "merge"
    assert sorted(c.message for c in repo.log(m.id)) == ["first", "merge", "second", "side"]


def test_reading_a_tree_node_as_a_commit_is_refused(repo: Repository) -> None:
    root = repo.tree.build([(b"k", b"v")])
    with pytest.raises(CorruptObjectError, match="expected a COMMIT"):
        repo.read_commit(root)


def test_verify_of_a_healthy_store(repo: Repository) -> None:
    b = repo.batch()
    root = repo.tree.build([(b"k%04d" % i, b"v" * 100) for i in range(2000)], b)
    c = repo.commit(root, message="m", batch=b)
    b.flush()
    assert repo.refs.append("drafts/x", c.id, expect=0).ok
    report = repo.verify()
    assert report.ok
    assert report.objects_checked >= 3
    assert report.dangling == 0


def test_gc_deletes_only_unreachable_old_objects(repo: Repository) -> None:
    keep = repo.commit(repo.tree.build([(b"keep%03d" % i, b"k") for i in range(300)]))
    assert repo.refs.append("drafts/keep", keep.id, expect=0).ok
    orphan_root = repo.tree.build([(b"orphan%03d" % i, b"o" * 50) for i in range(300)])
    dry = repo.gc(grace=0, dry_run=True)
    assert dry.deleted == 0 and dry.unreachable > 0
    assert orphan_root.hex() in dry.candidates
    young = repo.gc(grace=3600)
    assert young.deleted == 0 and young.too_young == dry.unreachable
    time.sleep(0.05)
    done = repo.gc(grace=0)
    assert done.deleted == dry.unreachable
    assert repo.verify().ok
    assert repo.verify().dangling == 0
    assert dict(repo.tree.items(keep.tree)) == {b"keep%03d" % i: b"k" for i in range(300)}


def test_gc_keeps_what_old_log_entries_point_to_within_retention(repo: Repository) -> None:
    c1 = repo.commit(repo.tree.build([(b"a", b"1")]))
    c2 = repo.commit(repo.tree.build([(b"a", b"2")]))
    assert repo.refs.append("drafts/r", c1.id, expect=0).ok
    assert repo.refs.append("drafts/r", c2.id, expect=1).ok
    repo.gc(grace=0)
    assert repo.tree.get(repo.read_commit(c1.id).tree, b"a") == b"1"
    # Past retention, only the head keeps its objects.
    repo.gc(grace=0, log_retention=-1)
    assert repo.tree.get(repo.read_commit(c2.id).tree, b"a") == b"2"
    assert repo.verify(log_retention=-1).ok
