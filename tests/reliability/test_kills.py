"""SIGKILL at random moments of a bulk ingest; LMDB across processes.

**Kills.** The test process imports vstore once and forks each writer, so a kill
costs a fork, not an interpreter start. A writer adds frames whose content is a
pure function of their index through ``get_bulk_context(flush_threshold=T)``, and
appends each flushed range to a side log with fsync once the flush returned (its
acknowledgement). The parent SIGKILLs it after a random delay, reopens the store
and requires:

* ``verify()`` clean (nothing reachable missing or corrupt);
* no acknowledged frame lost, each stored with exactly its generator's content;
* nothing half-written: the draft holds frames ``0 .. P - 1`` exactly, where ``P``
  is the acknowledged end or one flush past it (killed between a flush and its
  acknowledgement), every frame equal to its generator's, and the version's
  recorded stats agree with its trees;
* the next writer resumes from the acknowledged end, and a last, unkilled writer
  of each round completes.

Each round of :data:`ROUND` kills uses a fresh store (so reopen and verify stay
cheap) with a flush threshold from :data:`THRESHOLDS`; every other round sets
``layers.apply_max = 0`` in the writer, so every flush goes through the layered
tree's runs, run merges and folds.

**LMDB specifics.** The memory map fills and grows during an ingest (past its
256 MiB initial size: the backend has no map-size option), and a process that
opened the store before sees every new frame; forked children (as PyTorch
DataLoader workers) read through handles inherited from a parent that keeps
writing; the reader slot of a process killed inside a read transaction does not
stop writers, and the next open (``reader_check``) clears it.

Figures are printed (``-s``); ``VSTORE_RELIABILITY_SCALE=10`` runs the nightly size.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import random
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

import vstore
from tests.reliability import procs
from tests.reliability.scale import scaled
from vstore import DatasetVersion, SingleFrame
from vstore.engine import EMPTY_ROOT
from vstore.engine.codec import ObjectKind

KILLS = scaled(200)
ROUND = 10
THRESHOLDS = (150, 250, 400)
# Kill delays: a few flushes' worth on each backend (LMDB ingests ~20k frames/s here,
# a local directory ~8k/s), so kills land at every phase of a flush.
MAX_DELAY = {"lmdb": 0.08, "file": 0.12}
PREFIX = "k"


@dataclass
class Tally:
    """What the kills did, over every round of one backend."""

    kills: int = 0
    acked: int = 0
    lost: int = 0
    verify_errors: int = 0
    between_flush_and_ack: int = 0
    stacked: int = 0
    max_reopen: float = 0.0
    temp_files: int = 0


def store_url(tmp: Path, backend: str) -> str:
    return str(tmp / "lmdb") if backend == "lmdb" else f"file://{tmp / 'fs'}"


def new_draft(url: str) -> str:
    with vstore.open(url) as store:
        return DatasetVersion.create_new_dataset(procs.DATASET, store=store).version_id


def acked_end(ack: Path) -> tuple[set[int], int]:
    """The acknowledged frame indexes and the end of the acknowledged prefix."""
    acked: set[int] = set()
    for _prefix, lo, hi in procs.acked_ranges(ack):
        acked.update(range(lo, hi))
    end = max(acked) + 1 if acked else 0
    assert acked == set(range(end)), "the acknowledged frames are not a prefix"
    return acked, end


def check_store(url: str, vid: str, ack: Path, threshold: int, tally: Tally) -> int:
    """Reopen after a kill, check everything above; return the frames stored."""
    acked, end = acked_end(ack)
    t0 = time.monotonic()
    with vstore.open(url) as store:
        tally.max_reopen = max(tally.max_reopen, time.monotonic() - t0)
        report = store.verify()
        tally.verify_errors += len(report.missing) + len(report.corrupt)
        assert report.ok, f"verify after kill {tally.kills}: {report}"
        items = procs.draft_items(store, vid)
        stats = procs.stats_problems(store, vid)
        info = store.registry.dataset_by_name(procs.DATASET)
        assert info is not None
        state = store.registry.version(info.id, vid)
        assert state is not None
        if state.tree != EMPTY_ROOT:
            tally.stacked += store.repo.objects.get_kind(state.tree)[0] == ObjectKind.STACK
    present, wrong = procs.check_content(items)
    got = present.get(PREFIX, set())
    lost = acked - got
    tally.lost += len(lost)
    assert not lost, f"kill {tally.kills}: {len(lost)} acknowledged frames lost, e.g. {min(lost)}"
    assert not wrong, f"kill {tally.kills}: frames with other content: {wrong[:5]}"
    assert set(present) <= {PREFIX}
    n = len(got)
    assert got == set(range(n)), f"kill {tally.kills}: the stored frames are not a prefix"
    assert n in (end, end + threshold), (
        f"kill {tally.kills}: {n} frames stored; acknowledged {end}, flushes of {threshold}"
    )
    assert not stats, f"kill {tally.kills}: {stats}"
    tally.between_flush_and_ack += n == end + threshold
    return n


def run_child(tmp: Path, *args: object, kill_after: float | None) -> None:
    """Fork a writer; SIGKILL it after ``kill_after`` s (or let it finish); check how it ended."""
    err = tmp / "child-error.txt"
    err.unlink(missing_ok=True)
    pid = procs.fork_call(procs.ingest, *args, error_path=str(err))
    if kill_after is None:
        _, status = os.waitpid(pid, 0)
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    else:
        time.sleep(kill_after)
        status = procs.kill_and_reap(pid)
        ok = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if not ok:
        why = err.read_text() if err.exists() else f"wait status {status}"
        raise AssertionError(f"the writer ended by itself:\n{why}")


def kill_round(tmp: Path, backend: str, kills: int, r: int, rng: random.Random,
               tally: Tally) -> None:
    url = store_url(tmp, backend)
    vid = new_draft(url)
    ack = tmp / "acks"
    threshold = THRESHOLDS[r % len(THRESHOLDS)]
    apply_max = 0 if r % 2 else None
    for _ in range(kills):
        _, start = acked_end(ack)
        delay = rng.uniform(0, MAX_DELAY[backend])
        run_child(tmp, url, vid, PREFIX, start, threshold, apply_max, str(ack),
                  kill_after=delay)
        tally.kills += 1
        check_store(url, vid, ack, threshold, tally)
    # The next writer resumes from the acknowledged end and completes.
    _, start = acked_end(ack)
    stop = start + 2 * threshold
    run_child(tmp, url, vid, PREFIX, start, threshold, apply_max, str(ack), stop,
              kill_after=None)
    stored = check_store(url, vid, ack, threshold, tally)
    assert stored == stop
    tally.acked += stored
    if backend == "file":
        tally.temp_files += sum(1 for p in (tmp / "fs").rglob(".tmp-*"))


@pytest.mark.parametrize("backend", ["lmdb", "file"])
def test_sigkill_during_bulk_ingest_loses_no_acknowledged_frame(
    tmp_path: Path, backend: str
) -> None:
    rng = random.Random(f"kills-{backend}")
    tally = Tally()
    t0 = time.monotonic()
    r = 0
    while tally.kills < KILLS:
        round_dir = tmp_path / f"round-{r}"
        round_dir.mkdir()
        kill_round(round_dir, backend, min(ROUND, KILLS - tally.kills), r, rng, tally)
        shutil.rmtree(round_dir)
        r += 1
    elapsed = time.monotonic() - t0
    print(
        f"\n[kills] {backend}: {tally.kills} kills in {r} rounds, {elapsed:.1f}s; "
        f"acknowledged frames {tally.acked}; lost {tally.lost}; verify errors "
        f"{tally.verify_errors}; killed between a flush and its ack {tally.between_flush_and_ack}; "
        f"kills with a stacked (layered) head {tally.stacked}; max reopen "
        f"{tally.max_reopen:.3f}s; temp files left behind {tally.temp_files}"
    )
    assert tally.kills >= KILLS
    assert tally.lost == 0 and tally.verify_errors == 0
    # The kills landed mid-ingest, not only at start-up: writers made real progress (half a
    # flush per kill on average at least; a machine at load 8 makes a bit over that), and
    # some kills fell after a flush was durable and before it was acknowledged.
    assert tally.acked >= tally.kills * min(THRESHOLDS) // 2
    assert tally.between_flush_and_ack > 0
    assert tally.stacked > 0


# -- LMDB: the reader slot of a killed process ----------------------------------------------


def _hold_read_txn(path: str, ready: str) -> None:
    """Open the store, read, and keep a read transaction open until killed."""
    store = vstore.open(path)
    v = DatasetVersion.get_current(dataset_name=procs.DATASET, store=store)
    assert len(v) > 0
    e = store.repo.backend._e()  # type: ignore[attr-defined]
    txn = e.env.begin()
    assert txn.get(b"config", db=e.keys) is not None
    Path(ready).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def _reader_pids(env: object) -> set[int]:
    table: str = env.readers()  # type: ignore[attr-defined]
    return {int(m) for m in re.findall(r"^\s*(\d+)\s", table, re.MULTILINE)}


def _open_store_and_close(path: str) -> None:
    vstore.open(path).close()


def test_lmdb_reader_slot_of_killed_process_is_cleared(tmp_path: Path) -> None:
    path = str(tmp_path / "lmdb")
    err = str(tmp_path / "err")
    # The parent keeps the store open throughout: its own open's reader_check must not
    # be what clears the dead slot.
    with vstore.open(path) as store:
        v = DatasetVersion.create_new_dataset(procs.DATASET, store=store)
        v.add_frames([procs.make_frame("r", i) for i in range(200)])
        ready = tmp_path / "ready"
        pid = procs.fork_call(_hold_read_txn, path, str(ready), error_path=err)
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert time.monotonic() < deadline, Path(err).read_text()
                time.sleep(0.01)
        finally:
            status = procs.kill_and_reap(pid)
        assert os.WIFSIGNALED(status)
        env = store.repo.backend._e().env  # type: ignore[attr-defined]
        assert pid in _reader_pids(env), "the killed reader left no slot"

        # A writer works while the dead slot pins an old snapshot.
        v.add_frames([procs.make_frame("r", i) for i in range(200, 400)])
        assert len(v) == 400
        # Another process opening the store clears the slot (reader_check on open) ...
        child = procs.fork_call(_open_store_and_close, path, error_path=err)
        _, cstatus = os.waitpid(child, 0)
        assert os.WIFEXITED(cstatus) and os.WEXITSTATUS(cstatus) == 0
        assert pid not in _reader_pids(env), "opening the store left the dead slot"
        assert env.reader_check() == 0  # ... so nothing is left to clear.
        got, wrong = procs.check_content(procs.draft_items(store, v.version_id))
        assert got == {"r": set(range(400))} and not wrong
        assert store.verify().ok


# -- LMDB: the map grows; another process sees it --------------------------------------------

_BIG = 192 * 1024  # random bytes per big frame; stored as base64 (~256 KiB, ~195 KiB zstd'd)


def big_frame(i: int) -> SingleFrame:
    """A frame carrying ~256 KiB of incompressible text (its own BLOB object)."""
    blob = base64.b64encode(blake3.blake3(b"big%d" % i).digest(length=_BIG)).decode()
    return SingleFrame(id=f"big-{i:06d}", source=f"s3://bucket/big/{i}.jpg",
                       metadata={"i": i, "blob": blob})


def _map_size(store: vstore.Store) -> int:
    size: int = store.repo.backend._e().env.info()["map_size"]  # type: ignore[attr-defined]
    return size


def _reader_before_growth(path: str, opened: Any, grown: Any) -> dict[str, Any]:
    """Open the store before it grows; after ``grown``, read and check every frame."""
    store = vstore.open(path)
    v = DatasetVersion.get_current(dataset_name=procs.DATASET, store=store)
    before = (_map_size(store), len(v))
    opened.set()
    assert grown.wait(300)
    n = 0
    for frame in v.get_iterator():
        i = frame.metadata["i"]
        assert procs.record_of(frame) == procs.record_of(big_frame(i)), f"frame {i} differs"
        n += 1
    v.add_frames([procs.make_frame("after", 0)])  # and it writes at the new size
    after = _map_size(store)
    store.close()
    return {"map_before": before[0], "frames_before": before[1], "map_after": after,
            "frames_read": n}


def test_lmdb_map_grows_during_ingest_and_another_process_sees_it(tmp_path: Path) -> None:
    path = str(tmp_path / "lmdb")
    ctx = multiprocessing.get_context("fork")
    with vstore.open(path) as store:
        v = DatasetVersion.create_new_dataset(procs.DATASET, store=store)
        v.add_frames([big_frame(0)])
        initial = _map_size(store)
    opened, grown = ctx.Event(), ctx.Event()
    out = tmp_path / "jobs"
    out.mkdir()
    started = procs.start_jobs(ctx, out, [(_reader_before_growth, (path, opened, grown))])
    try:
        assert opened.wait(60), "the reader did not open the store"
        t0 = time.monotonic()
        with vstore.open(path) as store:
            v = DatasetVersion.get_current(dataset_name=procs.DATASET, store=store)
            i = 1
            with v.get_bulk_context(flush_threshold=50) as bc:
                while _map_size(store) == initial or i % 50:
                    bc.add_frame(big_frame(i))
                    i += 1
            grown_to = _map_size(store)
            data_file = Path(path, "data.mdb").stat().st_size
            assert len(v) == i
        elapsed = time.monotonic() - t0
    finally:
        grown.set()
    [seen] = procs.finish_jobs(started, 300)
    with vstore.open(path) as store:
        assert len(DatasetVersion.get_current(dataset_name=procs.DATASET, store=store)) == i + 1
        report = store.verify()
    print(f"\n[lmdb] map {initial >> 20} MiB -> {grown_to >> 20} MiB during an ingest of {i} "
          f"frames ({data_file >> 20} MiB data file, {elapsed:.1f}s); a process opened before "
          f"saw {seen['frames_before']} frames at a {seen['map_before'] >> 20} MiB map, then "
          f"read {seen['frames_read']} at {seen['map_after'] >> 20} MiB")
    assert grown_to > initial and data_file > initial
    assert seen["map_before"] == initial and seen["map_after"] >= grown_to
    assert seen["frames_before"] == 1 and seen["frames_read"] == i
    assert report.ok, report


# -- LMDB: forked DataLoader-style workers ------------------------------------------------------


def _loader_worker(v: DatasetVersion, n: int, seed: int) -> dict[str, Any]:
    """Read a version through handles inherited from the parent, as a DataLoader worker."""
    rng = random.Random(seed)
    got = {f.id: procs.record_of(f) for f in v.get_iterator()}
    assert got == {procs.frame_id("d", i): procs.expected("d", i) for i in range(n)}
    ids = [procs.frame_id("d", rng.randrange(n)) for _ in range(200)]
    by_id = v.get_frames_by_ids(ids)
    assert [f.id for f in by_id] == list(dict.fromkeys(ids))
    assert all(procs.record_of(f) == got[f.id] for f in by_id)
    rows = list(v.get_iterator(projection=["id", "meta.i"]))
    assert sorted(r["meta"]["i"] for r in rows) == list(range(n))
    return {"frames": len(got), "by_id": len(by_id)}


def test_lmdb_forked_workers_read_through_inherited_handles(tmp_path: Path) -> None:
    n, workers = 2000, 4
    ctx = multiprocessing.get_context("fork")
    with vstore.open(str(tmp_path / "lmdb")) as store:
        v = DatasetVersion.create_new_dataset(procs.DATASET, store=store)
        v.add_frames([procs.make_frame("d", i) for i in range(n)])
        draft = DatasetVersion.create_snapshot(version_id=v.version_id,
                                               dataset_name=procs.DATASET, store=store)
        published = procs.get_version(store, v.version_id)
        assert len(published) == n  # the parent has used its environment before forking
        out = tmp_path / "jobs"
        out.mkdir()
        started = procs.start_jobs(ctx, out, [(_loader_worker, (published, n, k))
                                              for k in range(workers)])
        # The parent keeps writing while its children read.
        for lo in range(n, n + 500, 50):
            draft.add_frames([procs.make_frame("d", i) for i in range(lo, lo + 50)])
        results = procs.finish_jobs(started, 120)
        assert len(draft) == n + 500 and len(published) == n
        assert store.verify().ok
    print(f"\n[lmdb] {workers} forked workers read {sum(r['frames'] for r in results)} frames "
          "through inherited handles while the parent wrote")
    assert all(r["frames"] == n for r in results)
