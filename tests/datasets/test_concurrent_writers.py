"""Concurrent writers of one draft version: nothing lost, nothing doubled.

* 4 processes bulk-write 5,000 distinct frames each into one draft at the same
  time (LMDB and ``file://``; plus 4 x 1,000 flushed every 10 frames, for heavy
  contention): every frame is there once, with its own content, the stats count
  each writer's frames, and ``verify()`` is clean.
* 2 threads share one store, each with its own ``DatasetVersion`` from
  ``get_current``, and add disjoint frames in small batches: nothing lost.
* Merges into one frame from two processes while a third adds other frames:
  every merged key and every added frame is present.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import Counter
from pathlib import Path

import pytest

import vstore
from vstore import DatasetVersion

_spec = importlib.util.spec_from_file_location(
    "_vstore_datasets_test_workers", Path(__file__).with_name("workers.py")
)
assert _spec is not None and _spec.loader is not None
workers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workers)

DS = workers.DATASET


def store_url(tmp_path: Path, kind: str) -> str:
    """A fresh store: a plain path is LMDB, ``file://`` is the fsspec directory backend."""
    return str(tmp_path / "lmdb") if kind == "lmdb" else f"file://{tmp_path / 'fs'}"


def new_draft(url: str) -> str:
    """Create the dataset and return the id of its ``Current`` draft."""
    with vstore.open(url) as store:
        return DatasetVersion.create_new_dataset(DS, store=store).version_id


# -- 1. four processes, one draft, bulk contexts --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "per", "threshold", "background"),
    [("lmdb", 5000, 500, "auto"), ("file", 5000, 500, "auto"), ("lmdb", 1000, 10, "auto"),
     ("lmdb", 5000, 500, "on")],
    # The third case flushes every 10 frames: 4 x 200 contended version writes. In the
    # last, each writer's flushes are made by a writer process of its own (decision 0017).
    ids=["lmdb-4x5000", "file-4x5000", "lmdb-4x1000-hot", "lmdb-4x5000-background"],
)
def test_four_processes_bulk_write_one_draft(
    tmp_path: Path, backend: str, per: int, threshold: int, background: str
) -> None:
    nproc = 4
    url = store_url(tmp_path, backend)
    vid = new_draft(url)
    prefixes = [f"p{k}" for k in range(nproc)]

    results = workers.run_together(
        [["bulk-add", url, vid, p, str(per), str(threshold), background] for p in prefixes]
    )
    assert sorted(r["prefix"] for r in results) == prefixes
    assert all(r["added"] == per for r in results)

    with vstore.open(url) as store:
        v = DatasetVersion.get_version(dataset_name=DS, version_id=vid, store=store)
        assert len(v) == nproc * per
        ids = [rec["id"] for rec in v.get_iterator(projection=["id"])]
        counts = Counter(ids)
        assert len(ids) == nproc * per and max(counts.values()) == 1, "a frame listed twice"
        for p in prefixes:
            mine = {i for i in ids if i.startswith(p + "-")}
            assert mine == {workers.frame_id(p, i) for i in range(per)}, f"{p} lost frames"
        # Content survived too (a sample of each writer's frames, read by id).
        sample = [workers.frame_id(p, i) for p in prefixes for i in range(0, per, per // 10)]
        for frame in v.get_frames_by_ids(sample):
            p, i = frame.id.split("-")
            assert frame.metadata == {"p": p, "i": int(i)}
            assert [a.labels for a in frame.annotations] == [[p]]
        # Every flush committed: the stats saw every writer's frames exactly once.
        assert v.status == "committed"
        stats = v.get_stats()
        assert {r["name"]: r["count"] for r in stats["labels"]} == {p: per for p in prefixes}
        assert {r["name"]: r["count"] for r in stats["frames"]} == {
            "annotated": nproc * per,
            "unannotated": 0,
        }
        assert stats["content_types"] == [{"name": "image/jpeg", "count": nproc * per}]
        report = store.verify()
        assert report.ok, report


# -- 2. two threads, one store, one handle each ------------------------------------------------


def test_two_threads_with_own_handles_lose_nothing(tmp_path: Path) -> None:
    per, batch = 300, 10
    with vstore.open(str(tmp_path / "lmdb")) as store:
        DatasetVersion.create_new_dataset(DS, store=store)
        start = threading.Barrier(2)
        errors: list[BaseException] = []
        handles: list[DatasetVersion] = []

        def writer(prefix: str) -> None:
            try:
                v = DatasetVersion.get_current(dataset_name=DS, store=store)
                handles.append(v)
                start.wait(timeout=30)
                for lo in range(0, per, batch):
                    frames = [workers.make_frame(prefix, i) for i in range(lo, lo + batch)]
                    assert v.add_frames(frames) == []
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(p,)) for p in ("ta", "tb")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert handles[0] is not handles[1] and handles[0] == handles[1]  # same version

        v = DatasetVersion.get_current(dataset_name=DS, store=store)
        ids = sorted(rec["id"] for rec in v.get_iterator(projection=["id"]))
        assert ids == sorted(workers.frame_id(p, i) for p in ("ta", "tb") for i in range(per))
        labels = {r["name"]: r["count"] for r in v.get_stats()["labels"]}
        assert labels == {"ta": per, "tb": per}
        # Both stale handles see the final content.
        assert len(handles[0]) == len(handles[1]) == 2 * per
        assert store.verify().ok


# -- 3. merges into one frame while others are added -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "merges", "adds"), [("lmdb", 150, 3000), ("file", 40, 300)])
def test_merges_and_adds_at_once_both_land(
    tmp_path: Path, backend: str, merges: int, adds: int
) -> None:
    url = store_url(tmp_path, backend)
    vid = new_draft(url)
    hot = "hot"
    with vstore.open(url) as store:
        v = DatasetVersion.get_version(dataset_name=DS, version_id=vid, store=store)
        v.add_frames([workers.hot_frame(hot, {"base": 0})])

    results = workers.run_together(
        [
            ["merge-hot", url, vid, hot, "ma", str(merges)],
            ["merge-hot", url, vid, hot, "mb", str(merges)],
            ["bulk-add", url, vid, "add", str(adds), str(max(adds // 10, 1))],
        ]
    )
    assert [r.get("merged", r.get("added")) for r in results] == [merges, merges, adds]

    with vstore.open(url) as store:
        v = DatasetVersion.get_version(dataset_name=DS, version_id=vid, store=store)
        [frame] = v.get_frames_by_ids([hot])
        expected = {"base": 0}
        expected.update({f"{p}{i}": i for p in ("ma", "mb") for i in range(merges)})
        assert frame.metadata == expected, "a merge was lost"
        ids = {rec["id"] for rec in v.get_iterator(projection=["id"])}
        assert ids == {hot} | {workers.frame_id("add", i) for i in range(adds)}
        assert len(v) == adds + 1
        report = store.verify()
        assert report.ok, report
