"""A snapshot is one commit point: whoever comes next finishes it, once.

``create_snapshot`` commits and publishes a draft in one log entry that also names the
child to open; the child and the version's write-once ref follow. test_faults.py kills
it at every storage operation and lets a listing of the versions find the store (a
listing finishes an interrupted snapshot). Here, on LMDB, a directory and S3 (moto):

1. The same kill points, recovered by the writer alone: ``create_snapshot`` run again
   by version id, before anything lists the versions. It either makes the snapshot
   (the crash came before the commit point) or finishes it and raises
   ``ReadOnlyError`` naming the child; either way the store is then exactly the dry
   run's, log lengths included: one child, one entry in its log, the ref written.
2. A snapshot killed right after its commit point, finished by 8 processes at once,
   half listing the versions and half retrying the snapshot: all of them see the same
   one child, and the store is exactly the dry run's.

Kill points follow test_faults.py (every storage operation locally, every ref create on
S3; every one at ``VSTORE_RELIABILITY_SCALE=10``).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.context import BaseContext
from pathlib import Path

import pytest

from tests.reliability import procs
from tests.reliability.conftest import Place
from tests.reliability.test_faults import (
    DS,
    FULL_S3,
    Snapshot,
    bench_for,
    differences,
    kill_points,
    observe,
    report,
)
from vstore.testing.faults import Fault, SimulatedCrash


def test_a_crashed_snapshot_is_finished_by_its_retry_alone(place: Place) -> None:
    bench = bench_for(place, "snapshot")
    op = bench.op
    assert isinstance(op, Snapshot)
    counts: Counter[str] = Counter()
    for k, after in kill_points(bench, every=place.local or FULL_S3):
        store, faulty = bench.fresh()
        faulty.arm(Fault(at=k, after=after))
        with pytest.raises(SimulatedCrash):
            op.run(store, None)
        store = bench.reopen(store)
        pending = op.pending(store)
        op.retry(store)  # nothing has listed the versions: the retry alone finishes it
        seen = observe(store, seqs=True)
        assert seen == bench.new_seqs, f"after crash {k}: {differences(seen, bench.new_seqs)}"
        report_ok = store.repo.verify()
        assert report_ok.ok, report_ok
        store.close()
        counts["kill points"] += 1
        counts["finished by the retry" if pending else "retry made or refused it"] += 1
    report("snapshot-retry", place, op, counts)


def test_an_interrupted_snapshot_finished_by_many_processes_has_one_child(place: Place) -> None:
    bench = bench_for(place, "snapshot")
    op = bench.op
    assert isinstance(op, Snapshot)
    # Kill it right after its commit point, the publish entry (its first ref create).
    ops = 0
    for method, n in bench.trace:
        ops += n
        if method == "create_key":
            break
    store, faulty = bench.fresh()
    faulty.arm(Fault(at=ops, after=True))
    with pytest.raises(SimulatedCrash):
        op.run(store, None)
    store = bench.reopen(store)
    assert op.pending(store), "the crash did not stop the snapshot after its commit point"
    url = store.url
    store.close()

    if place.local:
        ctx: BaseContext = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["s3fs", "tests.reliability.procs"])  # type: ignore[attr-defined]
    workers = 8
    barrier = ctx.Barrier(workers + 1)  # type: ignore[attr-defined]
    out = place.root / "jobs-finishers"
    out.mkdir()
    cache = place.root / "caches"
    started = procs.start_jobs(ctx, out, [
        (procs.finish_snapshot, (url, place.options(), str(cache / f"f{p}"), DS, op.vid,
                                 "list" if p % 2 else "retry", barrier))
        for p in range(workers)
    ])
    procs.release(started, barrier)
    results = procs.finish_jobs(started, 300)

    seen_children = {c for r in results for c in r["children"]}
    assert all(len(r["children"]) == 1 for r in results), results
    assert len(seen_children) == 1, f"the finishers saw different children: {results}"
    store = place.open(url)
    seen = observe(store, seqs=True)
    assert seen == bench.new_seqs, differences(seen, bench.new_seqs)
    assert store.repo.verify().ok
    print(f"\n[snapshots] {place.kind}: {workers} processes finished one interrupted snapshot "
          f"({Counter(r['how'] for r in results)}): 1 child, its log 1 entry")


def test_a_listing_taken_before_another_process_finished_a_snapshot_still_shows_its_child(
    tmp_path: Path,
) -> None:
    """A listing reads the version ids, then each version; if another process finishes an
    interrupted snapshot in between, the child it opened was not among the ids read, and
    the listing must still return it (it read the snapshot as finished)."""
    import vstore
    from vstore import DatasetVersion, SingleFrame

    with vstore.open(str(tmp_path / "s")) as store:
        v = DatasetVersion.create_new_dataset("ds", store=store)
        v.add_frames([SingleFrame(source="s3://b/a.jpg")])
        child = DatasetVersion.create_snapshot(dataset_name="ds", store=store)
        reg = store.registry
        info = reg.dataset_by_name("ds")
        assert info is not None
        parent = reg.version(info.id, child.get_parent())
        assert parent is not None
        ids = set(reg.version_ids(info.id)) - {child.id}  # listed before the child existed
        found = reg._roll_forward(parent, ids, {parent.version_id: parent})
        assert found is not None and found.version_id == child.id
