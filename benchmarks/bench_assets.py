"""Picsellia-surface benchmark: list_assets with q, find_asset, splits and fork on LMDB.

Usage::

    python benchmarks/bench_assets.py [--records N] [--json out.json] [--dir BASE]

The version holds N assets (default 100,000) with one annotation of 3 rectangles each,
asset tags on a third of them and a metadata dict, written as the Picsellia surface writes
them (the same records ``add_data`` and ``create_rectangle`` produce), in one bulk
``add_frames``. Targets at 100,000 assets:

* ``list_assets(q=...)`` over labels and metadata: <= 1 s (first call, index included)
* ``find_asset(filename=...)`` after the first call: <= 5 ms
* ``train_test_val_split``: <= 2 s
* a full fork (every asset, tag, label and annotation): <= 10 ms
* ``export_annotation_file(COCO)``, the whole export (version -> COCO JSON file on disk):
  <= 5 s; its first half (version -> AnnotationSet) is reported on its own. The file is
  checked: one image per asset and 3 annotations each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import vstore
from vstore.model import record_to_frame
from vstore.picsellia.annrecord import new_entry
from vstore.picsellia.enums import AnnotationStatus
from vstore.picsellia.record import datalake_uri
from vstore.picsellia.shapes import ShapeState, roi_from_shape

LABELS = ["car", "bus", "person", "truck", "bike", "sign"]


def records(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``n`` deterministic asset records with one annotation of 3 rectangles each."""
    rng = random.Random(seed)
    for i in range(n):
        blob = f"{i:064x}"
        uri = datalake_uri(blob, f"img_{i:07d}.jpg")
        entry = new_entry("bench", AnnotationStatus.PENDING)
        shapes = [
            ShapeState("rectangle", uuid.UUID(int=rng.getrandbits(128)).hex, entry["id"],
                       LABELS[(i + j) % len(LABELS)],
                       (float(rng.randrange(1800)), float(rng.randrange(1000)), 40.0, 30.0))
            for j in range(3)
        ]
        meta: dict[str, Any] = {
            "camera": f"cam-{i % 6}", "weather": ("clear", "rain", "fog")[i % 3],
            "speed": i % 50, "_data": f"{i:032x}", "_created": 1.7e9 + i,
            "_annotations": [entry],
        }
        if i % 3 == 0:
            meta["_tags"] = ["reviewed"]
        yield {
            "id": f"{i:032x}",
            "sources": [{"id": "default", "uri": uri, "timestamp": 0, "width": 1920,
                         "height": 1080, "content_type": "image/jpeg"}],
            "rois": [roi_from_shape(s, "default", False) for s in shapes],
            "meta": meta, "context_id": uri, "timestamp": 0,
        }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build(store: vstore.Store, n: int) -> vstore.DatasetVersion:
    v = store.create_dataset("bench").create_version("v1", type="object_detection")
    for label in LABELS:
        v.create_label(label)
    frames = [record_to_frame(r) for r in records(n)]
    v.add_frames(frames, batch_size=len(frames))
    return v


def run(n: int, base: str) -> dict[str, float]:
    from vstore.picsellia.index import _by_root
    from vstore.picsellia.interchange import to_annotation_set

    out: dict[str, float] = {}
    store = vstore.open(os.path.join(base, "assets.vstore"))
    try:
        log(f"building {n:,} assets with 3 rectangles each")
        out["build_s"], v = timed(lambda: build(store, n))
        q = 'annotations.rectangles.label.name = "bus" and camera = "cam-1" and speed < 25'
        _by_root.clear()
        out["list_q_cold_s"], found = timed(lambda: v.list_assets(q=q))
        out["list_q_warm_s"], _ = timed(lambda: v.list_assets(q=q))
        out["list_q_matches"] = len(found)
        rng = random.Random(1)
        out["find_first_s"], _ = timed(lambda: v.find_asset(filename="img_0000000.jpg"))
        times = []
        for _ in range(200):
            name = f"img_{rng.randrange(n):07d}.jpg"
            t, _ = timed(lambda name=name: v.find_asset(filename=name))  # type: ignore[misc]
            times.append(t)
        out["find_next_median_ms"] = statistics.median(times) * 1000
        out["find_next_max_ms"] = max(times) * 1000
        out["split_s"], _ = timed(lambda: v.train_test_val_split(random_seed=3))
        forks = []
        for k in range(5):
            t, _ = timed(lambda k=k: v.fork(f"fork-{k}", with_tags=True, with_labels=True,
                                            with_annotations=True))  # type: ignore[misc]
            forks.append(t)
        out["fork_median_ms"] = statistics.median(forks) * 1000
        out["export_model_s"], aset = timed(lambda: to_annotation_set(v))
        out["export_images"] = len(aset.images)
        del aset
        target = os.path.join(base, "export")
        out["export_coco_s"], path = timed(lambda: v.export_annotation_file("coco", target))
        out["export_coco_mb"] = os.path.getsize(path) / 1e6
        with open(path, "rb") as f:
            coco = json.load(f)
        assert len(coco["images"]) == n and len(coco["annotations"]) == 3 * n, "bad export"
    finally:
        store.close()
    return out


def report(n: int, r: dict[str, float]) -> None:
    rows = [
        ("build (setup, not a target)", f"{r['build_s']:.1f} s", "-", None),
        ("list_assets(q) first call, index built", f"{r['list_q_cold_s']:.3f} s", "<= 1 s",
         r["list_q_cold_s"] / 1.0),
        ("list_assets(q) again", f"{r['list_q_warm_s']:.3f} s", "<= 1 s",
         r["list_q_warm_s"] / 1.0),
        ("find_asset(filename=) first call", f"{r['find_first_s'] * 1000:.1f} ms", "-", None),
        ("find_asset(filename=) after, median", f"{r['find_next_median_ms']:.2f} ms",
         "<= 5 ms", r["find_next_median_ms"] / 5.0),
        ("find_asset(filename=) after, max", f"{r['find_next_max_ms']:.2f} ms", "-", None),
        ("train_test_val_split", f"{r['split_s']:.3f} s", "<= 2 s", r["split_s"] / 2.0),
        ("full fork, median of 5", f"{r['fork_median_ms']:.2f} ms", "<= 10 ms",
         r["fork_median_ms"] / 10.0),
        ("COCO export, version -> AnnotationSet", f"{r['export_model_s']:.3f} s", "-", None),
        (f"export_annotation_file(COCO), {r['export_coco_mb']:.0f} MB",
         f"{r['export_coco_s']:.3f} s", "<= 5 s", r["export_coco_s"] / 5.0),
    ]
    print(f"\nPicsellia surface, {n:,} assets x 3 rectangles "
          f"(q matched {int(r['list_q_matches']):,}):")
    print(f"{'operation':<46} {'figure':>12}  {'target':<22} ratio")
    for name, fig, target, ratio in rows:
        shown = "" if ratio is None else f"{ratio:.2f}x {'PASS' if ratio <= 1 else 'FAIL'}"
        print(f"{name:<46} {fig:>12}  {target:<22} {shown}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000, help="assets (quick mode: 5000)")
    ap.add_argument("--json", help="also write the raw figures to this JSON file")
    ap.add_argument("--dir", help="base directory for the temporary store")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="bench-assets-", dir=args.dir)
    try:
        figures = run(args.records, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(args.records, figures)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": args.records, **figures}, f, indent=2)


if __name__ == "__main__":
    main()
