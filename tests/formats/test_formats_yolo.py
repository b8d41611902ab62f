"""YOLO: data.yaml variants, Ultralytics folder layouts, loud failures, safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from formats_helpers import assert_sets_close, write_png

from vstore.errors import FormatError, InvalidArgumentError
from vstore.formats import (
    AnnotationSet,
    ImageAnnotations,
    Shape,
    UnsafePathError,
    read_yolo,
    read_yolo_names,
    write_yolo,
)


def pixel_set() -> AnnotationSet:
    return AnnotationSet(
        labels=["cat", "dog"],
        images=[
            ImageAnnotations(
                "one.jpg",
                640,
                480,
                [
                    Shape("rectangle", "cat", (10, 20, 30, 40)),
                    Shape("polygon", "dog", [(0, 0), (100, 0), (100, 50)]),
                    Shape("rectangle", "dog", (600, 400, 40, 80), score=0.25),
                ],
            ),
            ImageAnnotations("two.png", 320, 240, []),
        ],
    )


def make_dataset(root: Path, config: dict[str, object]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    return root / "data.yaml"


def add_image(root: Path, split_dir: str, stem: str, rows: str, size: tuple[int, int]) -> None:
    write_png(root / "images" / split_dir / f"{stem}.png", *size)
    label = root / "labels" / split_dir / f"{stem}.txt"
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text(rows)


# --- writing, then reading back ---------------------------------------------------------------


def test_flat_round_trip_with_empty_label_file_for_images_without_objects(
    tmp_path: Path,
) -> None:
    written = write_yolo(pixel_set(), tmp_path / "out")
    assert [p.name for p in written] == ["data.yaml", "one.txt", "two.txt"]
    assert (tmp_path / "out" / "two.txt").read_text() == ""
    config = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert config == {"nc": 2, "names": ["cat", "dog"]}
    rows = (tmp_path / "out" / "one.txt").read_text().splitlines()
    assert rows[0] == "0 0.0390625 0.08333333 0.046875 0.08333333"
    assert rows[2].split()[-1] == "0.25"
    got = read_yolo(tmp_path / "out", image_sizes={"one.jpg": (640, 480), "two": (320, 240)})
    want = pixel_set()
    want.images[0].filename, want.images[1].filename = "one", "two"
    assert_sets_close(got, want, 1e-3)
    assert got.class_ids == {"cat": 0, "dog": 1}


def test_splits_layout_is_what_ultralytics_reads(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[0].extra["split"] = "val"
    out = tmp_path / "ds"
    write_yolo(aset, out, layout="splits")
    config = yaml.safe_load((out / "data.yaml").read_text())
    assert config == {
        "train": "images/train",
        "val": "images/val",
        "nc": 2,
        "names": ["cat", "dog"],
    }
    assert "validation" not in (out / "data.yaml").read_text()
    assert (out / "labels" / "val" / "one.txt").read_text().count("\n") == 3
    assert (out / "labels" / "train" / "two.txt").read_text() == ""
    write_png(out / "images" / "val" / "one.jpg", 640, 480)
    write_png(out / "images" / "train" / "two.png", 320, 240)
    got = read_yolo(out)  # sizes come from the image headers
    assert [(im.filename, im.extra["split"]) for im in got.images] == [
        ("two.png", "train"),
        ("one.jpg", "val"),
    ]
    assert_sets_close(
        AnnotationSet(got.labels, [got.images[1]]),
        AnnotationSet(aset.labels, [aset.images[0]]),
        1e-3,
    )


def test_val_points_at_train_when_no_image_is_in_val(tmp_path: Path) -> None:
    write_yolo(pixel_set(), tmp_path, layout="splits")
    config = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert config["train"] == config["val"] == "images/train"


def test_class_ids_read_from_yaml_are_kept(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.class_ids = {"dog": 0, "cat": 1}
    write_yolo(aset, tmp_path)
    assert yaml.safe_load((tmp_path / "data.yaml").read_text())["names"] == ["dog", "cat"]
    assert (tmp_path / "one.txt").read_text().startswith("1 ")


# --- reading layouts ----------------------------------------------------------------------------


def test_names_as_dict_and_validation_alias_and_list_of_train_folders(tmp_path: Path) -> None:
    make_dataset(
        tmp_path,
        {
            "names": {0: "cat", 1: "dog"},
            "nc": 2,
            "train": ["images/a", "images/b"],
            "validation": "images/v",
        },
    )
    add_image(tmp_path, "a", "x", "0 0.5 0.5 0.5 0.5\n", (100, 100))
    add_image(tmp_path, "b", "y", "1 0.5 0.5 1 1\n", (10, 20))
    add_image(tmp_path, "v", "z", "", (10, 10))
    got = read_yolo(tmp_path / "data.yaml")
    assert [(im.filename, im.extra["split"]) for im in got.images] == [
        ("x.png", "train"),
        ("y.png", "train"),
        ("z.png", "val"),
    ]
    assert got.images[0].shapes[0].coords == (25, 25, 50, 50)
    assert (got.images[1].shapes[0].label, got.images[1].shapes[0].coords) == (
        "dog",
        (0, 0, 10, 20),
    )
    only_val = read_yolo(tmp_path, split="val")
    assert [im.filename for im in only_val.images] == ["z.png"]


def test_roboflow_parent_paths_are_found(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"], "train": "../train/images"})
    write_png(tmp_path / "train" / "images" / "p.png", 8, 8)
    (tmp_path / "train" / "labels").mkdir()
    (tmp_path / "train" / "labels" / "p.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    got = read_yolo(tmp_path)
    assert got.images[0].shapes[0].coords == (3, 3, 2, 2)


def test_explicit_label_files_as_the_original_import(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a", "b"], "nc": 2})
    (tmp_path / "x.txt").write_text("1 0.5 0.5 0.5 0.5\n\n")
    got = read_yolo(tmp_path, label_files=[tmp_path / "x.txt"], normalized=True)
    assert got.normalized and got.images[0].filename == "x"
    assert got.images[0].shapes == [Shape("rectangle", "b", (0.25, 0.25, 0.5, 0.5))]


def test_classes_txt_and_other_files_are_not_label_files(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"]})
    (tmp_path / "classes.txt").write_text("a\n")
    (tmp_path / "README.md").write_text("# hi\n")
    (tmp_path / "x.txt").write_text("0 0.1 0.1 0.1 0.1\n")
    assert [im.filename for im in read_yolo(tmp_path, normalized=True).images] == ["x"]


def test_polygon_rows_and_confidence(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"]})
    (tmp_path / "x.txt").write_text("0 0 0 1 0 1 1\n0 0 0 1 0 1 1 0.5\n0 0.5 0.5 1 1 0.75\n")
    shapes = read_yolo(tmp_path, image_sizes={"x": (10, 10)}).images[0].shapes
    assert [(s.kind, s.score) for s in shapes] == [
        ("polygon", None),
        ("polygon", 0.5),
        ("rectangle", 0.75),
    ]
    assert shapes[0].coords == [(0, 0), (10, 0), (10, 10)]


# --- loud failures ------------------------------------------------------------------------------


def test_nothing_found_names_the_globbed_folders(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"], "train": "images/train"})
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(FormatError) as err:
        read_yolo(tmp_path)
    assert str(tmp_path / "images" / "train") in str(err.value)
    assert str(tmp_path / "labels" / "train") in str(err.value)


def test_images_and_labels_that_never_match_fail_loudly(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"], "train": "images"})
    write_png(tmp_path / "images" / "a.png", 4, 4)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "other.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match=r"no label file under .* matches an image"):
        read_yolo(tmp_path)


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ("0 0.5 0.5 0.1 0.1\n\n0 0.5 0.5 0.1\n", 3, "4 box values or 6\\+ polygon"),
        ("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1 0.1\n", 2, "class index 1 is not in"),
        ("0.5 0.5 0.5 0.1 0.1\n", 1, "class index"),
        ("0 0.5 1.5 0.1 0.1\n", 1, "fractions in \\[0, 1\\]"),
        ("0 0.5 nan 0.1 0.1\n", 1, "fractions"),
        ("0 0.5 x 0.1 0.1\n", 1, "numbers only"),
    ],
)
def test_bad_label_rows_name_file_and_line(
    tmp_path: Path, rows: str, line: int, message: str
) -> None:
    make_dataset(tmp_path, {"names": ["a"], "nc": 1})
    (tmp_path / "x.txt").write_text(rows)
    with pytest.raises(FormatError, match=message) as err:
        read_yolo(tmp_path, normalized=True)
    assert err.value.path == str(tmp_path / "x.txt") and err.value.line == line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("names: [a, b\nnc: 2\n", "not valid YAML"),
        ("nc: 2\n", "names must be a list"),
        ("names: [a, b]\nnc: 3\n", "nc is 3 but names lists 2"),
        ("names: [a, a]\n", "appears twice"),
        ("names: {x: a}\n", "class indexes"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_data_yaml_is_a_format_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(FormatError, match=message) as err:
        read_yolo_names(tmp_path / "data.yaml")
    assert err.value.path == str(tmp_path / "data.yaml")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("nc: 2\nnames: [a, b\n")
    with pytest.raises(FormatError) as err:
        read_yolo(tmp_path)
    assert err.value.line is not None and err.value.line >= 2


def test_unknown_image_size_says_how_to_fix_it(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"]})
    (tmp_path / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match="image_sizes= or normalized=True"):
        read_yolo(tmp_path)


def test_unknown_split_is_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"], "train": "images"})
    with pytest.raises(FormatError, match=r"split 'test' is not in data\.yaml"):
        read_yolo(tmp_path, split="test")


# --- path safety --------------------------------------------------------------------------------


def test_label_symlink_leaving_the_dataset_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("0 0.5 0.5 0.1 0.1\n")
    root = tmp_path / "ds"
    make_dataset(root, {"names": ["a"]})
    os.symlink(outside, root / "x.txt")
    with pytest.raises(UnsafePathError, match="outside"):
        read_yolo(root, normalized=True)
    assert read_yolo(root, normalized=True, root=tmp_path).images[0].filename == "x"


def test_split_folder_leaving_the_dataset_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_dataset(root, {"names": ["a"], "train": "/etc"})
    with pytest.raises(UnsafePathError):
        read_yolo(root, normalized=True)
    make_dataset(root, {"names": ["a"], "path": "../..", "train": "x"})
    with pytest.raises(UnsafePathError):
        read_yolo(root, normalized=True)


def test_unsafe_image_name_is_refused_and_nothing_written(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[1].filename = "../../evil.png"
    with pytest.raises(UnsafePathError):
        write_yolo(aset, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symlinked_target_subfolder_leaving_the_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "sub")
    aset = pixel_set()
    aset.images[1].filename = "sub/two.png"
    with pytest.raises(UnsafePathError):
        write_yolo(aset, tmp_path / "out")
    assert not any((tmp_path / "elsewhere").iterdir())
    assert not (tmp_path / "out" / "data.yaml").exists()


# --- write errors -------------------------------------------------------------------------------


def test_other_shapes_are_refused_or_skipped(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[0].shapes.append(Shape("classification", "cat"))
    with pytest.raises(FormatError, match="not classification"):
        write_yolo(aset, tmp_path)
    assert not (tmp_path / "data.yaml").exists()
    write_yolo(aset, tmp_path, unsupported="skip")
    assert len((tmp_path / "one.txt").read_text().splitlines()) == 3


def test_two_images_sharing_a_label_file_are_refused(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[1].filename = "one.png"
    with pytest.raises(FormatError, match=r"one\.txt"):
        write_yolo(aset, tmp_path)


def test_split_must_be_val_not_validation(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[0].extra["split"] = "validation"
    with pytest.raises(FormatError, match="Ultralytics reads 'val'"):
        write_yolo(aset, tmp_path, layout="splits")


def test_image_without_size_cannot_be_normalized(tmp_path: Path) -> None:
    aset = pixel_set()
    aset.images[0].width = None
    with pytest.raises(FormatError, match="no width and height"):
        write_yolo(aset, tmp_path)


def test_boxes_outside_the_image_are_clipped(tmp_path: Path) -> None:
    aset = AnnotationSet(
        ["a"], [ImageAnnotations("a.jpg", 100, 100, [Shape("rectangle", "a", (-10, 50, 40, 80))])]
    )
    write_yolo(aset, tmp_path)
    assert (tmp_path / "a.txt").read_text() == "0 0.15 0.75 0.3 0.5\n"


def test_images_without_objects_need_no_size(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"]})
    (tmp_path / "x.txt").write_text("")
    (tmp_path / "x.tif").write_bytes(b"II*\x00")  # a header we do not measure
    got = read_yolo(tmp_path)
    assert [(im.filename, im.width, im.shapes) for im in got.images] == [("x.tif", None, [])]


def test_non_positive_image_size_is_an_argument_error(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"names": ["a"]})
    (tmp_path / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InvalidArgumentError, match="sizes are positive"):
        read_yolo(tmp_path, image_sizes={"x": (0, 10)})


def test_class_index_twice_in_names_dict_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: {0: a, '0': b}\n")
    with pytest.raises(FormatError, match="class index 0 appears twice"):
        read_yolo_names(tmp_path / "data.yaml")
