"""Conversions between formats: geometry survives, format-specific extras stay home."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from formats_helpers import write_png

from vstore.formats import (
    AnnotationSet,
    ImageAnnotations,
    Shape,
    read_coco,
    read_voc_dir,
    read_yolo,
    rescaled,
    write_coco,
    write_voc_dir,
    write_yolo,
)


def coco_file(tmp_path: Path) -> Path:
    aset = AnnotationSet(
        labels=["car", "person"],
        images=[
            ImageAnnotations(
                "a.png",
                200,
                100,
                [
                    Shape("rectangle", "car", (20, 10, 40, 30)),
                    Shape("polygon", "person", [(0, 0), (50, 0), (50, 50)]),
                ],
            )
        ],
        extra={"licenses": [{"id": 1, "name": "CC"}]},
        category_ids={"car": 3, "person": 7},
    )
    return write_coco(aset, tmp_path / "in.json")


def test_coco_to_yolo_and_back_keeps_geometry_but_not_coco_extras(tmp_path: Path) -> None:
    source = read_coco(coco_file(tmp_path))
    write_yolo(source, tmp_path / "yolo", layout="splits")
    assert yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text()) == {
        "train": "images/train",
        "val": "images/train",
        "nc": 2,
        "names": ["car", "person"],
    }
    write_png(tmp_path / "yolo" / "images" / "train" / "a.png", 200, 100)
    back = read_yolo(tmp_path / "yolo")
    out = json.loads(write_coco(back, tmp_path / "out.json").read_text())
    assert "licenses" in out and out["licenses"] == []
    assert out["images"] == [{"id": 1, "file_name": "a.png", "width": 200, "height": 100}]
    assert [a["bbox"] for a in out["annotations"]] == [[20, 10, 40, 30], [0, 0, 50, 50]]
    assert [c["id"] for c in out["categories"]] == [1, 2]


def test_voc_to_coco_fills_the_coco_fields(tmp_path: Path) -> None:
    write_voc_dir(read_coco(coco_file(tmp_path)), tmp_path / "voc")
    out = json.loads(write_coco(read_voc_dir(tmp_path / "voc"), tmp_path / "o.json").read_text())
    assert [(a["iscrowd"], a["area"]) for a in out["annotations"]] == [(0, 1200), (0, 1250)]
    assert out["annotations"][1]["segmentation"] == [[0, 0, 50, 0, 50, 50]]


def test_rescaled_round_trip_between_pixels_and_fractions() -> None:
    aset = AnnotationSet(
        ["a"],
        [
            ImageAnnotations(
                "a.png",
                200,
                100,
                [
                    Shape("rectangle", "a", (20, 10, 40, 30)),
                    Shape("keypoints", "a", [(100, 50, 2)]),
                ],
            )
        ],
    )
    fractions = rescaled(aset, normalized=True)
    assert fractions.normalized and not aset.normalized
    assert fractions.images[0].shapes[0].coords == (0.1, 0.1, 0.2, 0.3)
    assert fractions.images[0].shapes[1].coords == [(0.5, 0.5, 2)]
    assert rescaled(fractions, normalized=False).images[0].shapes[0].coords == (20, 10, 40, 30)
