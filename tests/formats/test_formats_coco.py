"""COCO: a real consumer (pycocotools) loads what we write; reads are strict and located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import assert_sets_close, write_png

from vstore.errors import FormatError
from vstore.formats import (
    AnnotationSet,
    ImageAnnotations,
    Rle,
    Shape,
    UnsafePathError,
    coco_dict,
    read_coco,
    write_coco,
)

coco_api = pytest.importorskip("pycocotools.coco")
mask_api = pytest.importorskip("pycocotools.mask")


def sample() -> dict[str, Any]:
    """A COCO file as other tools write it: gapped category ids, crowd RLE, keypoints."""
    return {
        "info": {"description": "sample", "year": 2024},
        "licenses": [{"id": 1, "name": "CC-BY"}],
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "human",
                "keypoints": ["nose", "eye"],
                "skeleton": [[1, 2]],
            },
            {"id": 3, "name": "car", "supercategory": "vehicle"},
        ],
        "images": [
            {"id": 42, "file_name": "a.jpg", "width": 640, "height": 480, "license": 1},
            {"id": 7, "file_name": "sub/b.jpg", "width": 100, "height": 50},
        ],
        "annotations": [
            {
                "id": 5,
                "image_id": 42,
                "category_id": 3,
                "bbox": [10, 20, 30, 40],
                "area": 1200,
                "iscrowd": 0,
                "segmentation": [],
                "score": 0.9,
            },
            {
                "id": 6,
                "image_id": 42,
                "category_id": 1,
                "bbox": [0, 0, 20, 20],
                "area": 150,
                "iscrowd": 0,
                "segmentation": [[0, 0, 10, 0, 10, 10], [12, 12, 20, 12, 20, 20]],
                "keypoints": [5, 5, 2, 0, 0, 0],
                "num_keypoints": 1,
            },
            {
                "id": 8,
                "image_id": 7,
                "category_id": 3,
                "iscrowd": 1,
                "bbox": [0, 1, 1, 3],
                "area": 3,
                "segmentation": {"size": [50, 100], "counts": [1, 3, 4996]},
            },
            {
                "id": 9,
                "image_id": 7,
                "category_id": 1,
                "bbox": [],
                "segmentation": [],
                "utf8_string": "hello",
                "attributes": {"occluded": True},
            },
        ],
    }


def dump(tmp_path: Path, data: Any, name: str = "in.json", indent: int | None = 2) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=indent))
    return path


def boxes_set() -> AnnotationSet:
    return AnnotationSet(
        labels=["cat", "dog"],
        images=[
            ImageAnnotations(
                "one.jpg",
                640,
                480,
                [
                    Shape("rectangle", "cat", (10.5, 20, 30, 40)),
                    Shape("polygon", "dog", [(0, 0), (100, 0), (100, 50), (0, 50)]),
                ],
            ),
            ImageAnnotations("two.jpg", 320, 240, [Shape("rectangle", "dog", (1, 2, 3, 4))]),
            ImageAnnotations("empty.jpg", 10, 10, []),
        ],
    )


# --- a real consumer ---------------------------------------------------------------------------


def test_pycocotools_loads_written_file_with_same_boxes_categories_and_areas(
    tmp_path: Path,
) -> None:
    path = write_coco(boxes_set(), tmp_path / "out.json")
    coco = coco_api.COCO(str(path))
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {1: "cat", 2: "dog"}
    assert [im["file_name"] for im in coco.loadImgs(coco.getImgIds())] == [
        "one.jpg",
        "two.jpg",
        "empty.jpg",
    ]
    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["bbox"] for a in anns] == [[10.5, 20, 30, 40], [0, 0, 100, 50], [1, 2, 3, 4]]
    assert [a["area"] for a in anns] == [1200, 5000, 12]
    assert [a["category_id"] for a in anns] == [1, 2, 2]
    assert all(a["iscrowd"] == 0 for a in anns)
    assert coco.getAnnIds(imgIds=[3]) == []
    # The polygon rasterizes to (about) the area written.
    rle = coco.annToRLE(anns[1])
    assert abs(float(mask_api.area(rle)) - 5000) <= 151


def test_pycocotools_agrees_on_rle_area_and_box(tmp_path: Path) -> None:
    path = write_coco(read_coco(dump(tmp_path, sample())), tmp_path / "out.json")
    coco = coco_api.COCO(str(path))
    crowd = coco.loadAnns([8])[0]
    assert crowd["iscrowd"] == 1
    rle = mask_api.frPyObjects(crowd["segmentation"], 50, 100)
    assert float(mask_api.area(rle)) == crowd["area"] == 3
    assert [float(v) for v in mask_api.toBbox(rle)] == crowd["bbox"] == [0, 1, 1, 3]


def test_compressed_rle_string_is_decoded_like_pycocotools(tmp_path: Path) -> None:
    import numpy as np

    mask = np.zeros((30, 40), dtype=np.uint8, order="F")
    mask[5:12, 8:30] = 1
    mask[20:25, 2:4] = 1
    encoded = mask_api.encode(mask)
    data = sample()
    data["annotations"][2]["segmentation"] = {
        "size": [30, 40],
        "counts": encoded["counts"].decode(),
    }
    data["images"][1].update(width=40, height=30)
    out = write_coco(read_coco(dump(tmp_path, data)), tmp_path / "out.json")
    ann = json.loads(out.read_text())["annotations"][2]
    assert ann["area"] == int(mask_api.area(encoded)) == 7 * 22 + 5 * 2
    assert ann["bbox"] == [float(v) for v in mask_api.toBbox(encoded)] == [2, 5, 28, 20]


# --- round trips ------------------------------------------------------------------------------


def test_read_write_read_keeps_everything_including_original_ids(tmp_path: Path) -> None:
    first = read_coco(dump(tmp_path, sample()))
    out = write_coco(first, tmp_path / "out.json")
    second = read_coco(out)
    assert_sets_close(second, first, 0, ids=True)
    assert second.category_ids == first.category_ids == {"person": 1, "car": 3}
    assert second.label_info == first.label_info
    assert second.info == {"description": "sample", "year": 2024}
    assert second.extra == {"licenses": [{"id": 1, "name": "CC-BY"}]}
    assert [im.image_id for im in second.images] == [42, 7]
    assert second.images[0].extra == {"license": 1}
    written = json.loads(out.read_text())
    assert [a["id"] for a in written["annotations"]] == [5, 6, 8, 9]
    assert [c["id"] for c in written["categories"]] == [1, 3]


def test_one_annotation_with_two_rings_and_keypoints_stays_one(tmp_path: Path) -> None:
    aset = read_coco(dump(tmp_path, sample()))
    parts = [s for s in aset.images[0].shapes if s.id == 6]
    assert [s.kind for s in parts] == ["polygon", "polygon", "keypoints"]
    ann = coco_dict(aset)["annotations"][1]
    assert ann["segmentation"] == [[0, 0, 10, 0, 10, 10], [12, 12, 20, 12, 20, 20]]
    assert ann["area"] == 50 + 32
    assert ann["bbox"] == [0, 0, 20, 20]
    assert ann["keypoints"] == [5, 5, 2, 0, 0, 0] and ann["num_keypoints"] == 1


def test_shapes_read_as_user_sees_them(tmp_path: Path) -> None:
    aset = read_coco(dump(tmp_path, sample()))
    box, *_ = aset.images[0].shapes
    assert (box.kind, box.label, box.coords, box.score) == (
        "rectangle",
        "car",
        (10, 20, 30, 40),
        0.9,
    )
    crowd, cls = aset.images[1].shapes
    assert crowd.kind == "mask" and crowd.attributes == {"iscrowd": 1}
    assert crowd.coords == Rle((50, 100), (1, 3, 4996))
    assert (cls.kind, cls.text, cls.attributes) == ("classification", "hello", {"occluded": True})
    assert aset.labels == ["person", "car"]
    assert aset.label_info["person"]["skeleton"] == [[1, 2]]


# --- ids --------------------------------------------------------------------------------------


def test_category_ids_are_one_based_by_default() -> None:
    data = coco_dict(boxes_set())
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "cat"), (2, "dog")]
    assert [im["id"] for im in data["images"]] == [1, 2, 3]
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]


def test_zero_based_category_ids_as_the_original_exporter() -> None:
    data = coco_dict(boxes_set(), category_id_base=0)
    assert [c["id"] for c in data["categories"]] == [0, 1]
    assert [a["category_id"] for a in data["annotations"]] == [0, 1, 1]


def test_kept_ids_and_new_labels_do_not_collide(tmp_path: Path) -> None:
    aset = read_coco(dump(tmp_path, sample()))
    aset.labels.append("bike")
    aset.images[0].shapes.append(Shape("rectangle", "truck", (1, 1, 2, 2)))
    cats = {c["name"]: c["id"] for c in coco_dict(aset)["categories"]}
    assert cats == {"person": 1, "car": 3, "bike": 2, "truck": 4}
    renumbered = coco_dict(aset, keep_ids=False)
    assert [c["id"] for c in renumbered["categories"]] == [1, 2, 3, 4]
    assert [im["id"] for im in renumbered["images"]] == [1, 2]


def test_iscrowd_always_written_and_attributes_never_collide_with_coco_keys() -> None:
    aset = boxes_set()
    aset.images[0].shapes[0].attributes = {"category_id": "mine", "iscrowd": 1, "id": 3}
    anns = coco_dict(aset)["annotations"]
    assert [a["iscrowd"] for a in anns] == [1, 0, 0]
    assert anns[0]["category_id"] == 1
    assert anns[0]["attributes"] == {"category_id": "mine", "id": 3}


def test_keypoint_box_covers_visible_points_only() -> None:
    aset = AnnotationSet(
        ["p"],
        [
            ImageAnnotations(
                "a.jpg",
                100,
                100,
                [Shape("keypoints", "p", [(10, 10, 2), (30, 50, 1), (99, 99, 0)])],
            )
        ],
    )
    ann = coco_dict(aset)["annotations"][0]
    assert ann["bbox"] == [10, 10, 20, 40] and ann["area"] == 800
    assert ann["num_keypoints"] == 2


# --- read errors ------------------------------------------------------------------------------


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "images": [\n    {"id": 1,}\n  ]\n}\n')
    with pytest.raises(FormatError) as err:
        read_coco(path)
    assert err.value.path == str(path) and err.value.line == 3
    assert f"{path}:3:" in str(err.value)


@pytest.mark.parametrize(
    ("section", "index", "change", "message"),
    [
        ("annotations", 1, {"category_id": 99}, "unknown category_id 99"),
        ("annotations", 2, {"image_id": 1234}, "unknown image_id 1234"),
        ("annotations", 0, {"bbox": [1, 2, -3, 4]}, "must not be negative"),
        ("annotations", 0, {"bbox": [1, 2, 3]}, "bbox must be"),
        ("annotations", 0, {"bbox": [1, 2, "x", 4]}, "must be numbers"),
        ("annotations", 1, {"segmentation": [[1, 2, 3, 4, 5]]}, "even count"),
        (
            "annotations",
            2,
            {"segmentation": {"size": [50, 100], "counts": [1, 2]}},
            "cover 3 pixels",
        ),
        (
            "annotations",
            2,
            {"segmentation": {"size": [50, 100], "counts": "\x01"}},
            "invalid character",
        ),
        ("annotations", 1, {"keypoints": [1, 2, 5]}, "visibility"),
        ("annotations", 0, {"iscrowd": 2}, "iscrowd"),
        ("images", 1, {"id": 42}, "duplicate image id 42"),
        ("images", 0, {"width": 0}, "width must be positive"),
        ("images", 0, {"file_name": ""}, "non-empty string"),
        ("categories", 1, {"id": 1}, "duplicate category id 1"),
        ("categories", 1, {"name": "person"}, "duplicate category name"),
        ("categories", 0, {"id": "one"}, "must be an integer"),
    ],
)
def test_invalid_record_names_file_record_and_line(
    tmp_path: Path, section: str, index: int, change: dict[str, Any], message: str
) -> None:
    data = sample()
    data[section][index].update(change)
    path = tmp_path / "bad.json"
    # One record per line, so the record's line is known.
    lines = ["{"] + [f'"{k}": {json.dumps(v)},' for k, v in data.items() if k != section]
    lines += [f'"{section}": [']
    lines += [
        json.dumps(r) + ("," if i < len(data[section]) - 1 else "")
        for i, r in enumerate(data[section])
    ]
    lines += ["]}"]
    path.write_text("\n".join(lines))
    with pytest.raises(FormatError, match=message) as err:
        read_coco(path)
    first = len(lines) - len(data[section]) - 1
    assert err.value.line == first + index + 1
    assert f"{section}[{index}]" in str(err.value)


@pytest.mark.parametrize(
    "name",
    ["../escape.jpg", "/etc/passwd", "a/../../b.jpg", "C:\\x.jpg", "a\x00.jpg", "..\\..\\x.jpg"],
)
def test_file_name_leaving_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    data = sample()
    data["images"][1]["file_name"] = name
    with pytest.raises(UnsafePathError) as err:
        read_coco(dump(tmp_path, data))
    assert "images[1]" in str(err.value) and err.value.line is not None


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="JSON object"):
        read_coco(dump(tmp_path, [1, 2]))
    with pytest.raises(FormatError, match="images must be a list"):
        read_coco(dump(tmp_path, {"images": {}}))


def test_non_utf8_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"info": {"a": "\xe9"}}')
    with pytest.raises(FormatError, match="not UTF-8"):
        read_coco(path)


# --- write errors -----------------------------------------------------------------------------


def test_image_without_size_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    aset = boxes_set()
    aset.images[1].width = None
    target = tmp_path / "out.json"
    with pytest.raises(FormatError, match=r"'two.jpg' has no width and height"):
        write_coco(aset, target)
    assert not target.exists()


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous")
    aset = boxes_set()
    aset.images[0].shapes.append(Shape("rectangle", "cat", (0, 0, float("nan"), 1)))
    with pytest.raises(FormatError, match="bad coordinates"):
        write_coco(aset, target)
    assert target.read_text() == "previous"
    assert list(tmp_path.iterdir()) == [target]


def test_lines_and_points_are_refused_or_skipped() -> None:
    aset = boxes_set()
    aset.images[0].shapes.append(Shape("line", "cat", [(0, 0), (5, 5)]))
    with pytest.raises(FormatError, match="no line form"):
        coco_dict(aset)
    assert len(coco_dict(aset, unsupported="skip")["annotations"]) == 3


def test_unsafe_file_name_is_refused_on_write(tmp_path: Path) -> None:
    aset = boxes_set()
    aset.images[0].filename = "../../x.jpg"
    with pytest.raises(UnsafePathError):
        write_coco(aset, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_normalized_set_is_written_in_pixels() -> None:
    aset = AnnotationSet(
        ["a"],
        [ImageAnnotations("a.jpg", 200, 100, [Shape("rectangle", "a", (0.5, 0.5, 0.25, 0.5))])],
        normalized=True,
    )
    assert coco_dict(aset)["annotations"][0]["bbox"] == [100, 50, 50, 50]


def test_missing_size_is_read_from_the_image_and_symlinks_out_are_refused(
    tmp_path: Path,
) -> None:
    data = sample()
    del data["images"][1]["width"], data["images"][1]["height"]
    write_png(tmp_path / "imgs" / "sub" / "b.jpg", 100, 50)
    aset = read_coco(dump(tmp_path, data), image_dir=tmp_path / "imgs")
    assert (aset.images[1].width, aset.images[1].height) == (100, 50)
    assert read_coco(dump(tmp_path, data)).images[1].width is None
    (tmp_path / "imgs" / "sub" / "b.jpg").unlink()
    write_png(tmp_path / "private.png", 1, 1)
    (tmp_path / "imgs" / "sub" / "b.jpg").symlink_to(tmp_path / "private.png")
    with pytest.raises(UnsafePathError, match="outside") as err:
        read_coco(dump(tmp_path, data), image_dir=tmp_path / "imgs")
    assert err.value.line is not None
