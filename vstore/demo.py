"""The end-to-end demos; ``make demo`` runs both.

* The dataset demo creates a dataset on the embedded LMDB store, ingests a few
  thousand annotated frames through a BulkContext, commits, snapshots, changes
  1% of the frames in the new draft, diffs it against the snapshot and prints
  the result.
* The engine demo builds a 100k-record tree, commits it, edits 1% of the
  records, commits again, diffs the two versions and prints what changed and
  what each step wrote.

Run them with ``python -m vstore.demo [--engine | --datasets] [STORE_PATH]``.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any

from vstore.engine import open_repository
from vstore.engine.codec import encode

LABELS = ["car", "person", "bicycle", "truck", "dog"]


def _record(i: int, rnd: random.Random) -> dict[str, Any]:
    boxes = []
    for _ in range(rnd.randint(1, 4)):
        x, y = rnd.randint(0, 600), rnd.randint(0, 400)
        w, h = rnd.randint(10, 100), rnd.randint(10, 100)
        boxes.append(
            {"label": [rnd.choice(LABELS)], "poly": [x, y, x + w, y, x + w, y + h, x, y + h]}
        )
    return {
        "id": f"frame-{i:07d}",
        "sources": [{"id": "", "uri": f"s3://demo-bucket/images/{i:07d}.jpg"}],
        "rois": boxes,
        "meta": {"camera": f"cam-{i % 8}", "split": "train"},
    }


def _records(n: int) -> Iterator[tuple[bytes, bytes]]:
    rnd = random.Random(7)
    for i in range(n):
        yield f"frame-{i:07d}".encode(), encode(_record(i, rnd))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def datasets_demo(path: str, n: int = 5000) -> int:
    """Ingest, commit, snapshot, edit 1% and diff a dataset; return the exit code."""
    import vstore

    shutil.rmtree(path, ignore_errors=True)
    rnd = random.Random(3)
    with vstore.open(path) as store:
        t0 = time.perf_counter()
        v = vstore.DatasetVersion.create_new_dataset("street-scenes", store=store)
        with v.get_bulk_context(flush_threshold=1000) as bulk:
            for i in range(n):
                bulk.add_frame(_frame(i, rnd))
        took = time.perf_counter() - t0
        print(f"ingest   {len(v):,} frames into {v.dataset_name}/{v.version_name} "
              f"in {took:.2f}s ({len(v) / took:,.0f} frames/s)")
        labels = ", ".join(f"{r['name']} {r['count']:,}" for r in v.get_stats()["labels"])
        print(f"stats    {labels}")
        t0 = time.perf_counter()
        draft = vstore.DatasetVersion.create_snapshot(dataset_name="street-scenes", store=store)
        snap = vstore.DatasetVersion.get_version(
            dataset_name="street-scenes", version_id=draft.get_parent(), store=store
        )
        print(f"snapshot {snap.version_name!r} published in "
              f"{(time.perf_counter() - t0) * 1000:.1f} ms; new draft {draft.version_name!r}")

        changed = rnd.sample(range(n), n // 100)
        half = len(changed) // 2
        draft.add_frames([_frame(i, rnd, relabel="bus") for i in changed[:half]])
        draft.delete_frames([_frame(i, rnd) for i in changed[half:]])
        draft.add_frames([_frame(n + j, rnd) for j in range(20)])
        t0 = time.perf_counter()
        d = draft.diff(snap)
        c = d.counts
        print(f"diff     +{c['added']} added, ~{c['modified']} modified, -{c['deleted']} deleted "
              f"in {(time.perf_counter() - t0) * 1000:.1f} ms")
        for label, row in d.labels.items():
            print(f"         {label:<8} +{row['added']} -{row['removed']}")
        history = " <- ".join(f"{e['version_name']} ({e['status']})" for e in draft.log())
        print(f"history  {history}")
        report = store.verify()
        verdict = "clean" if report.ok else "PROBLEMS"
        print(f"verify   {report.objects_checked:,} objects: {verdict}")
        return 0 if report.ok else 1


def _frame(i: int, rnd: random.Random, relabel: str | None = None) -> Any:
    import vstore

    f = vstore.SingleFrame(
        source=f"s3://demo-bucket/scenes/{i:06d}.jpg", width=1280, height=720,
        metadata={"camera": f"cam-{i % 6}", "city": rnd.choice(["paris", "oslo", "rome"])},
    )
    for _ in range(rnd.randint(1 if relabel else 0, 3)):
        x, y = rnd.randint(0, 1100), rnd.randint(0, 600)
        f.add_annotation(box2d_xywh=[x, y, rnd.randint(20, 150), rnd.randint(20, 100)],
                         labels=[relabel or rnd.choice(LABELS)])
    return f


def main(argv: list[str]) -> int:
    """Run the demos named on the command line (both by default); return the exit code."""
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    base = args[0] if args else "demo.vstore"
    code = 0
    if "--engine" not in flags:
        print("== datasets: ingest, commit, snapshot, change 1%, diff")
        code |= datasets_demo(base if "--datasets" in flags else base + "-datasets")
    if "--datasets" not in flags:
        print("== engine: build 100k records, commit, change 1%, commit, diff")
        code |= engine_demo(base if "--engine" in flags else base + "-engine")
    return code


def engine_demo(path: str) -> int:
    """Build, edit 1%, diff and verify a 100k-record tree; return the exit code."""
    n = 100_000
    shutil.rmtree(path, ignore_errors=True)
    with open_repository(path) as repo:
        t0 = time.perf_counter()
        batch = repo.batch()
        root1 = repo.tree.build(_records(n), batch)
        c1 = repo.commit(root1, message="import 100k frames", batch=batch)
        batch.flush()
        assert repo.refs.append("drafts/demo", c1.id, expect=0).ok
        built = time.perf_counter() - t0
        print(f"built   {n:,} records in {built:.2f}s: {batch.stats.objects:,} objects, "
              f"{_mb(batch.stats.bytes)} written; commit {c1.id.hex()[:12]}")

        rnd = random.Random(11)
        changed = rnd.sample(range(n), n // 100)
        edits: dict[bytes, bytes | None] = {}
        for i in changed[: len(changed) // 2]:
            rec = _record(i, rnd)
            rec["meta"]["reviewed"] = True
            edits[f"frame-{i:07d}".encode()] = encode(rec)
        for i in changed[len(changed) // 2 :]:
            edits[f"frame-{i:07d}".encode()] = None
        for j in range(200):
            edits[f"frame-new-{j:04d}".encode()] = encode(_record(n + j, rnd))

        t0 = time.perf_counter()
        batch = repo.batch()
        root2 = repo.tree.apply(root1, edits, batch)
        c2 = repo.commit(root2, parents=[c1.id], message="review 1%", batch=batch)
        batch.flush()
        assert repo.refs.append("drafts/demo", c2.id, expect=1).ok
        applied = time.perf_counter() - t0
        print(f"edited  {len(edits):,} records in {applied:.2f}s: {batch.stats.objects:,} "
              f"objects, {_mb(batch.stats.bytes)} written; commit {c2.id.hex()[:12]}")

        t0 = time.perf_counter()
        added = modified = deleted = 0
        for _key, old, new in repo.diff(root1, root2):
            if old is None:
                added += 1
            elif new is None:
                deleted += 1
            else:
                modified += 1
        took = time.perf_counter() - t0
        print(f"diff    {added:,} added, {modified:,} modified, {deleted:,} deleted "
              f"in {took * 1000:.1f} ms")
        print(f"history {' <- '.join(c.message for c in repo.log(c2.id))}")
        report = repo.verify()
        print(f"verify  {report.objects_checked:,} objects checked: "
              f"{'clean' if report.ok else 'PROBLEMS'}")
        print(f"store   {path} ({repo.tree.count(root2):,} records at head)")
        return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
