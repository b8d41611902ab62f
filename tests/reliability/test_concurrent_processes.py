"""Many processes on one store: writers, readers and gc at once.

On LMDB, a local directory (``file://``) and S3 (the moto server):

1. 8 writer processes x 50 bulk-context flushes into one draft: the draft ends up
   with exactly the union of their frames, each once, with its own content.
2. 8 readers read and verify published versions while 4 writers keep growing
   their drafts and publishing them (``create_snapshot``): every read of a
   published version (the newest the registry lists, as soon as it is listed, and
   older ones from the writers' log) returns exactly the frames it was published
   with, at the commit first seen for it, and ``verify()`` stays clean.
3. ``gc(grace=...)`` runs back to back while 4 writers flush: afterwards
   ``verify()`` is clean, every acknowledged frame is there, and gc did delete the
   objects of lost compare-and-swaps. The grace (1 s locally) must outlast a
   writer's slowest flush, from its first object written to its ref appended.

S3 runs smaller counts (the second argument of :meth:`Target.count`): one moto
server in the test process serves every request, a version write costs ~20
requests of ~40 ms each here, and 8 writers x 2 flushes already take ~20 s. The
full 8 x 50 on S3 runs in ``make nightly`` (marked ``nightly``): it is where one
writer used to starve before writers took turns (decision 0009,
docs/reliability.md). S3 workers start from a fork server,
so that none inherits the moto server's threads; local workers are forked from
the test process. S3 stores write packs, and gc is only safe there with a grace
above the pack-reuse window (``REUSE_AGE``, an hour; see packs.py): the S3 gc
test scales both down together (1 s and 4 s), so gc deletes within the test.

The LMDB specifics (map growth, forked readers, readers of killed processes) are
in test_kills.py.

Figures are printed (``-s``); ``VSTORE_RELIABILITY_SCALE=10`` runs the nightly size.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import pytest

import vstore
from tests.reliability import procs
from tests.reliability.conftest import Place
from tests.reliability.scale import scaled
from vstore import DatasetVersion
from vstore.engine.turns import TURN_AFTER


@dataclass
class Target:
    """One store under test and how workers reach it."""

    kind: str
    url: str
    options: dict[str, Any] | None
    tmp: Path
    ctx: BaseContext

    def cache(self, who: str) -> str | None:
        """A private object cache per process, as on separate machines (S3 only)."""
        return str(self.tmp / "caches" / who) if self.kind == "s3" else None

    def open(self) -> vstore.Store:
        return procs.open_store(self.url, self.options, self.cache("parent"))

    def count(self, local: int, s3: int) -> int:
        """How many: ``local`` on LMDB and directories, ``s3`` on S3; both scaled."""
        return scaled(s3 if self.kind == "s3" else local)


@pytest.fixture
def target(place: Place) -> Target:
    """A fresh store of each kind (the shared ``place`` fixture: LMDB, directory, S3)."""
    if place.local:
        ctx: BaseContext = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["s3fs", "tests.reliability.procs"])  # type: ignore[attr-defined]
    return Target(place.kind, place.new_url(), place.options(), place.root, ctx)


def new_versions(t: Target, names: list[str]) -> list[str]:
    """Create the dataset (its ``Current`` draft is the first id) and more root drafts."""
    with t.open() as store:
        ids = [DatasetVersion.create_new_dataset(procs.DATASET, store=store).version_id]
        for name in names:
            ids.append(DatasetVersion.create_version(
                name, dataset_name=procs.DATASET, store=store).version_id)
        return ids


# -- 1. writers x flushes into one draft ------------------------------------------------------


def test_writers_flushing_one_draft_lose_no_update(target: Target) -> None:
    writers_into_one_draft(target, 8, target.count(50, 2))


@pytest.mark.nightly
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("place", ["s3"], indirect=True)
def test_eight_writers_x_fifty_flushes_on_s3_all_finish(target: Target) -> None:
    """The full size on S3, where a round takes seconds: before writers took turns, one
    of them lost 64 rounds in a row here and its flush failed (docs/reliability.md).
    Not scaled: 8 x 50 takes about 25 minutes on moto already."""
    writers_into_one_draft(target, 8, 50)


def writers_into_one_draft(t: Target, writers: int, flushes: int) -> None:
    """``writers`` processes x ``flushes`` bulk-context flushes of 5 new frames into one
    draft: every flush succeeds, and the draft holds exactly the union, each frame once."""
    per = 5
    [vid] = new_versions(t, [])
    barrier = t.ctx.Barrier(writers + 1)  # type: ignore[attr-defined]
    out = t.tmp / "jobs-writers"
    out.mkdir()
    t0 = time.monotonic()
    started = procs.start_jobs(t.ctx, out, [
        (procs.flush_writer, (t.url, t.options, t.cache(f"w{p}"), vid, f"w{p}", flushes, per,
                              None, barrier, 0 if p % 2 else None))
        for p in range(writers)
    ])
    procs.release(started, barrier)
    results = procs.finish_jobs(started, 3600)
    elapsed = time.monotonic() - t0
    assert [r["flushes"] for r in results] == [flushes] * writers

    with t.open() as store:
        present, wrong = procs.check_content(procs.draft_items(store, vid))
        v = procs.get_version(store, vid)
        ids = Counter(rec["id"] for rec in v.get_iterator(projection=["id"]))
        stats, size = v.get_stats(), len(v)
        info = store.registry.dataset_by_name(procs.DATASET)
        assert info is not None
        entries = list(store.repo.refs.entries(f"versions/{info.id}/{vid}"))
        report = store.verify()
    lost = sum(len(set(range(flushes * per)) - present.get(f"w{p}", set()))
               for p in range(writers))
    turns = sum(1 for e in entries if e.turn is not None)
    print(f"\n[concurrency] {t.kind}: {writers} writers x {flushes} flushes in {elapsed:.1f}s; "
          f"lost updates {lost}; duplicates {sum(n - 1 for n in ids.values())}; "
          f"draft log entries {len(entries)} ({turns} turns); version writes "
          f"{sum(r['writes'] for r in results)}; rounds lost (retried) "
          f"{sum(r['conflicts'] for r in results)}, of which "
          f"{sum(r['early'] for r in results)} before uploading; at most "
          f"{max(r['max_losses_in_a_row'] for r in results)} lost and "
          f"{max(r['max_attempts'] for r in results)} attempts for one write; turns taken "
          f"{sum(r['turns'] for r in results)}, waited for others' turns "
          f"{sum(r['waited'] for r in results):.1f}s; slowest write "
          f"{max(r['slowest_write'] for r in results):.1f}s; per writer "
          f"{sorted(round(r['seconds'], 1) for r in results)}s")
    assert lost == 0
    # Fairness: a write that lost TURN_AFTER rounds takes the next turn, so none needs many
    # more attempts (more only if a turn's lease ran out, which needs a badly stalled holder).
    assert max(r["max_attempts"] for r in results) <= 2 * TURN_AFTER, "a writer starved"
    assert set(present) == {f"w{p}" for p in range(writers)}, "frames nobody wrote"
    assert all(present[f"w{p}"] == set(range(flushes * per)) for p in range(writers))
    assert not wrong, f"frames with other content: {wrong[:5]}"
    assert max(ids.values()) == 1 and len(ids) == writers * flushes * per == size
    assert sum(r["count"] for r in stats["frames"]) == writers * flushes * per
    # A linear log: every write is one entry on top of the previous one (a turn too).
    assert [e.seq for e in entries] == list(range(len(entries), 0, -1))
    assert report.ok, report


# -- 2. readers verify published versions while writers publish ---------------------------------


def test_readers_of_published_versions_never_see_a_partial_version(target: Target) -> None:
    t = target
    readers, writers = 8, 4
    rounds, per = t.count(10, 2), 40
    vids = new_versions(t, [f"w{w}" for w in range(1, writers)])
    log = str(t.tmp / "published")
    barrier = t.ctx.Barrier(readers + writers + 1)  # type: ignore[attr-defined]
    stop = t.ctx.Event()  # type: ignore[attr-defined]
    # S3: one verify per reader (at the end), and reads spaced out so that the writers'
    # requests are not starved by the readers' on the one moto server.
    verify_every, pause = (10, 0.0) if t.kind != "s3" else (10**9, 0.2)
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (procs.snapshot_writer, (t.url, t.options, t.cache(f"w{w}"), vids[w], f"w{w}",
                                 rounds, per, log, barrier))
        for w in range(writers)
    ]
    jobs += [
        (procs.verifying_reader, (t.url, t.options, t.cache(f"r{k}"), log, per, k,
                                  verify_every, pause, stop, barrier))
        for k in range(readers)
    ]
    out = t.tmp / "jobs-readers"
    out.mkdir()
    t0 = time.monotonic()
    started = procs.start_jobs(t.ctx, out, jobs)
    procs.release(started, barrier)
    try:
        procs.finish_jobs(started[:writers], 600)
    finally:
        stop.set()
    results = procs.finish_jobs(started[writers:], 600)
    elapsed = time.monotonic() - t0

    reads = sum(r["reads"] for r in results)
    partial = [p for r in results for p in r["partial"]]
    verify_errors = sum(r["verify_errors"] for r in results)
    published = [line.split() for line in procs.read_lines(log)]
    with t.open() as store:
        for vid, prefix, n in published:
            v = procs.get_version(store, vid)
            assert v.status == "published"
            got = {f.id: procs.record_of(f) for f in v.get_iterator()}
            assert got == {procs.frame_id(prefix, i): procs.expected(prefix, i)
                           for i in range(int(n))}
        report = store.verify()
    print(f"\n[concurrency] {t.kind}: {readers} readers x {reads} reads "
          f"({sum(r['frames'] for r in results)} frames, {sum(r['verifies'] for r in results)} "
          f"verifies) while {writers} writers published {len(published)} versions in "
          f"{elapsed:.1f}s; partial reads {len(partial)}; verify errors {verify_errors}")
    assert len(published) == writers * rounds
    assert not partial, partial[:5]
    assert verify_errors == 0
    assert reads >= readers * 2
    assert report.ok, report


# -- 3. gc while writers flush -------------------------------------------------------------------


def test_gc_running_while_writers_flush_deletes_nothing_reachable(target: Target) -> None:
    t = target
    writers, flushes, per = 4, t.count(40, 3), 5
    # Writers pause between flushes so that the run outlasts the grace period a few
    # times: the objects of lost compare-and-swaps age past it and gc deletes them.
    grace, reuse_age, pause = (4.0, 1.0, 1.0) if t.kind == "s3" else (1.0, None, 0.05)
    [vid] = new_versions(t, [])
    ack = str(t.tmp / "acks")
    barrier = t.ctx.Barrier(writers + 2)  # type: ignore[attr-defined]
    stop = t.ctx.Event()  # type: ignore[attr-defined]
    out = t.tmp / "jobs-gc"
    out.mkdir()
    t0 = time.monotonic()
    started = procs.start_jobs(t.ctx, out, [
        (procs.gc_looper, (t.url, t.options, t.cache("gc"), grace, stop, barrier, reuse_age)),
        *[(procs.flush_writer, (t.url, t.options, t.cache(f"w{p}"), vid, f"g{p}", flushes, per,
                                ack, barrier, 0 if p % 2 else None, reuse_age, pause))
          for p in range(writers)],
    ])
    procs.release(started, barrier)
    try:
        procs.finish_jobs(started[1:], 600)
        # The last lost writes age past the grace period while gc still loops; it then
        # makes one more pass, so whatever the writers left unreachable is deleted.
        time.sleep(grace)
    finally:
        stop.set()
    [gc] = procs.finish_jobs(started[:1], 600)
    elapsed = time.monotonic() - t0

    with t.open() as store:
        report = store.verify()
        present, wrong = procs.check_content(procs.draft_items(store, vid))
    acked = procs.acked_ranges(ack)
    lost = sum(1 for prefix, lo, hi in acked for i in range(lo, hi)
               if i not in present.get(prefix, set()))
    print(f"\n[concurrency] {t.kind}: gc(grace={grace}) x {gc['loops']} loops while {writers} "
          f"writers x {flushes} flushes ran ({elapsed:.1f}s): {gc['deleted']} unreachable "
          f"objects deleted (at most {gc['max_unreachable']} found at once); reachable objects "
          f"deleted {len(report.missing)}; acknowledged frames lost {lost}")
    assert len(acked) == writers * flushes
    assert report.ok, report
    assert lost == 0 and not wrong
    assert gc["max_unreachable"] > 0, "the writers left nothing unreachable: nothing was tested"
    assert gc["deleted"] > 0, f"gc deleted none of {gc['max_unreachable']} unreachable objects"
