"""The end-to-end engine demo that ``make demo`` runs.

Builds a 100k-record tree on the embedded LMDB store, commits it, edits 1% of
the records, commits again, diffs the two versions and prints what changed and
what each step wrote.

Run it with ``python -m vstore.demo [STORE_PATH]``.
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


def main(argv: list[str]) -> int:
    """Run the demo; return the exit code."""
    path = argv[1] if len(argv) > 1 else "demo.vstore"
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
