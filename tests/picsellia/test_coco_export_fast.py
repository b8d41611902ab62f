"""The COCO export of a whole version from the record bytes (``vstore.picsellia.coco_export``)
makes the very dict and file the general path (``coco_dict`` of ``to_annotation_set``) makes.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pycocotools.coco import COCO  # type: ignore[import-untyped]

import vstore
from vstore.errors import FormatError
from vstore.model import record_to_frame
from vstore.picsellia import annotation_files, coco_export
from vstore.picsellia.annrecord import new_entry
from vstore.picsellia.enums import AnnotationExportKey, AnnotationStatus
from vstore.picsellia.record import datalake_uri
from vstore.picsellia.shapes import ShapeState, roi_from_shape

LABELS = ["car", "bus", "person"]
NUMBERS = [0.0, 1.0, 0.1, 0.3, 2.5, 1e-7, 123.4567891, 1919.9999999, 7, 1e6 + 0.5, 1 / 3]


def _shape(rng: random.Random, aid: str, odd: bool) -> ShapeState:
    kind = rng.choice(["polygon", "point", "line", "keypoints", "classification"]
                      ) if odd and rng.random() < 0.5 else "rectangle"
    geometry: Any = {
        "rectangle": (rng.choice(NUMBERS), rng.choice(NUMBERS), rng.choice(NUMBERS),
                      rng.choice(NUMBERS)),
        "polygon": [[1.0, 2.0], [10.5, 2.0], [4.0, 9.25]],
        "line": [[1.0, 2.0], [3.0, 4.0]],
        "point": [5.0, 6.0],
        "keypoints": [[1.0, 2.0, 2.0], [3.0, 4.0, 0.0]],
        "classification": None,
    }[kind]
    label = rng.choice([*LABELS, "new-label"]) if odd else rng.choice(LABELS)
    return ShapeState(
        kind, uuid.UUID(int=rng.getrandbits(128)).hex, aid, label, geometry,
        text=rng.choice([None, None, "ocr text", ""]),
        attributes={"iscrowd": 1, "k": 2} if odd and rng.random() < 0.2 else None,
        object_id=rng.choice([None, 5, "obj-7"]) if odd and rng.random() < 0.2 else None,
    )


def _record(rng: random.Random, i: int, odd: bool) -> dict[str, Any]:
    uri = datalake_uri(f"{i:064x}", f"dir/img_{i:04d}.jpg")
    meta: dict[str, Any] = {"camera": f"cam-{i % 3}", "_data": f"{i:032x}"}
    rois = []
    count = rng.choice([1, 1, 1, 2]) if odd else 1
    if rng.random() > 0.1:  # some assets stay unannotated
        entries = []
        for n in range(count):
            entry = new_entry("w", AnnotationStatus.PENDING)
            entry["created"] = float(n)
            if rng.random() < 0.2:
                entry["attributes"] = {"reviewed": True}
            entries.append(entry)
            rois += [roi_from_shape(_shape(rng, entry["id"], odd), "default", False)
                     for _ in range(rng.randrange(4))]
        meta["_annotations"] = entries
    if odd and rng.random() < 0.1:
        rois.append(roi_from_shape(_shape(rng, "", odd), "default", True))  # implicit
    if odd and rng.random() < 0.1 and rois:
        rois[0]["label"] = []  # a shape without a label is left out
    return {"id": f"{i:032x}", "meta": meta, "rois": rois, "context_id": uri, "timestamp": 0,
            "sources": [{"id": "default", "uri": uri, "timestamp": 0, "width": 640,
                         "height": 480, "content_type": "image/jpeg"}]}


def _version(store: vstore.Store, seed: int, odd: bool) -> vstore.DatasetVersion:
    rng = random.Random(seed)
    v = store.create_dataset(f"d{seed}").create_version("v1")
    for label in LABELS:
        v.create_label(label)
    v.add_frames([record_to_frame(_record(rng, i, odd)) for i in range(40)])
    return v


def _reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every export take the general path."""
    monkeypatch.setattr(annotation_files, "coco_of_version", lambda *a, **k: None)


def _build(v: vstore.DatasetVersion, **kw: Any) -> dict[str, Any]:
    return v.build_coco_file_locally(**kw)


@pytest.mark.parametrize("odd", [False, True])
def test_the_fast_export_is_the_general_one(store: vstore.Store, odd: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []
    real = coco_export.coco_of_version

    def spy(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(annotation_files, "coco_of_version", spy)
    options: list[dict[str, Any]] = [
        {}, {"export_key": AnnotationExportKey.ASSET_ID}, {"export_key": "DATA_ID"},
        {"export_key": "OBJECT_NAME"}, {"category_id_base": 0},
        {"enforced_ordered_categories": ["person", "car"]},
    ]
    for seed in range(12):
        v = _version(store, seed, odd)
        for kw in options:
            fast = _build(v, **kw)
            with monkeypatch.context() as m:
                _reference(m)
                slow = _build(v, **kw)
            assert fast == slow, (seed, kw)
            assert msgspec.json.encode(fast) == msgspec.json.encode(slow)  # key order too
    assert all(taken)  # the odd assets went through the general path, image by image


def test_the_exported_file_is_the_same_bytes(store: vstore.Store, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    v = _version(store, 99, odd=True)
    fast = Path(v.export_annotation_file("coco", tmp_path / "fast")).read_bytes()
    _reference(monkeypatch)
    slow = Path(v.export_annotation_file("coco", tmp_path / "slow")).read_bytes()
    assert fast == slow


def test_numbers_are_exact_and_pycocotools_loads_the_file(store: vstore.Store,
                                                          tmp_path: Path) -> None:
    v = store.create_dataset("exact").create_version("v1")
    v.create_label("car")
    rec = _record(random.Random(1), 0, odd=False)
    entry = rec["meta"]["_annotations"][0]
    shape = ShapeState("rectangle", "s" * 32, entry["id"], "car", (0.1, 0.2, 0.3, 1e-7))
    rec["rois"] = [roi_from_shape(shape, "default", False)]
    v.add_frames([record_to_frame(rec)])
    path = v.export_annotation_file("coco", tmp_path)
    data = json.loads(Path(path).read_text())
    ann = data["annotations"][0]
    # (x, y, w, h) read back from the 4 corners: w = 0.4 - 0.1, rounded to 1e-6 as before
    assert ann["bbox"] == [0.1, 0.2, 0.3, 0.0] and ann["area"] == 0
    assert data["images"][0]["asset_id"] == rec["id"]
    coco = COCO(path)
    assert coco.getAnnIds(imgIds=[1]) == [1] and coco.loadCats([1])[0]["name"] == "car"


def test_errors_are_the_general_paths(store: vstore.Store, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    v = store.create_dataset("bad").create_version("v1")
    records = [_record(random.Random(i), i, odd=False) for i in range(3)]
    for r in records:
        r["meta"]["_annotations"] = r["meta"].get("_annotations") or [new_entry("w", "PENDING")]
    del records[1]["sources"][0]["width"]
    v.add_frames([record_to_frame(r) for r in records])
    with pytest.raises(FormatError) as fast:
        v.export_annotation_file("coco", tmp_path)
    _reference(monkeypatch)
    with pytest.raises(FormatError) as slow:
        v.export_annotation_file("coco", tmp_path)
    assert str(fast.value) == str(slow.value) and "no width and height" in str(fast.value)
