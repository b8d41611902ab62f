"""The annotation file methods of a dataset version: COCO, YOLO and Pascal VOC, both ways."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO  # type: ignore[import-untyped]

import vstore
from vstore import AnnotationFileType, ImportAnnotationMode
from vstore.formats import UnsafePathError

Boxes = dict[str, list[tuple[str, float, float, float, float]]]

ROUND_TRIP: dict[str, Any] = {
    "info": {}, "licenses": [],
    "images": [{"id": 10, "file_name": "img0.png", "width": 64, "height": 48},
               {"id": 11, "file_name": "img1.png", "width": 64, "height": 48}],
    "annotations": [
        {"id": 100, "image_id": 10, "category_id": 3, "bbox": [1, 2, 10, 20], "area": 200,
         "iscrowd": 0, "segmentation": []},
        {"id": 101, "image_id": 10, "category_id": 7, "bbox": [5.5, 6, 3, 4], "area": 12,
         "iscrowd": 0, "segmentation": []},
        {"id": 102, "image_id": 11, "category_id": 3, "bbox": [0, 0, 64, 48], "area": 3072,
         "iscrowd": 0, "segmentation": []},
    ],
    "categories": [{"id": 3, "name": "car", "supercategory": "vehicle"},
                   {"id": 7, "name": "bus", "supercategory": "vehicle"},
                   {"id": 9, "name": "tree", "supercategory": ""}],
}


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def _boxes(v: vstore.DatasetVersion) -> Boxes:
    """Rectangles of each asset's newest annotation, by filename, rounded to 1e-6 px."""
    names = {a.id: a.filename for a in v.list_assets()}
    return {names[aid]: sorted((r["label"], *(round(r[k], 6) for k in "xywh"))
                               for r in anns[0]["rectangles"])
            for aid, anns in v.load_annotations().items() if anns[0]["rectangles"]}


def _annotate(v: vstore.DatasetVersion) -> None:
    car, bus = v.create_label("car"), v.create_label("bus")
    ann = v.find_asset(filename="img0.png").create_annotation(worker="alice")
    ann.create_rectangle(8, 4, 16, 12, car)
    ann.create_rectangle(0, 0, 64, 48, bus)
    v.find_asset(filename="img1.png").create_annotation(worker="alice").create_rectangle(
        32, 24, 8.5, 8, car)


def _comparable(coco: dict[str, Any]) -> dict[str, Any]:
    """A COCO dict without its image ids (renumbered by an export)."""
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    keys = ("id", "category_id", "bbox", "area", "iscrowd", "segmentation")
    return {
        "categories": coco["categories"],
        "images": sorted((im["file_name"], im["width"], im["height"]) for im in coco["images"]),
        "annotations": sorted((names[a["image_id"]], *(json.dumps(a[k]) for k in keys))
                              for a in coco["annotations"]),
    }


def _unzip(path: str, to: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        z.extractall(to)
        return sorted(z.namelist())


# -- COCO export ----------------------------------------------------------------------------


def test_coco_export_loads_in_pycocotools(version: vstore.DatasetVersion,
                                          tmp_path: Path) -> None:
    _annotate(version)
    path = version.export_annotation_file(AnnotationFileType.COCO, tmp_path / "out")
    assert path == str(tmp_path / "out" / f"{version.id}_coco.json")
    coco = COCO(path)
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {1: "car", 2: "bus"}
    boxes = {}
    for image in coco.loadImgs(coco.getImgIds()):
        assert (image["width"], image["height"]) == (64, 48)  # from the frame
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert all(a["iscrowd"] == 0 for a in anns)
        boxes[image["file_name"]] = sorted(
            (coco.cats[a["category_id"]]["name"], *a["bbox"]) for a in anns)
    assert boxes == _boxes(version)  # only annotated assets, identical boxes
    assert json.loads(Path(path).read_text()) == version.build_coco_file_locally()
    zero = version.build_coco_file_locally(category_id_base=0)
    assert [(c["id"], c["name"]) for c in zero["categories"]] == [(0, "car"), (1, "bus")]


def test_a_hyper_datasets_frame_exports_to_coco(store: vstore.Store, tmp_path: Path) -> None:
    v = vstore.DatasetVersion.create_new_dataset("hd", store=store)
    frame = vstore.SingleFrame(id="f1", source="s3://bucket/cam/a.jpg", width=100, height=80)
    frame.add_annotation(box2d_xywh=[10, 20, 30, 40], labels=["dog"])
    v.add_frames([frame])
    coco = json.loads(Path(v.export_annotation_file("COCO", tmp_path)).read_text())
    assert coco["images"] == [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80,
                               "asset_id": "f1"}]
    (ann,) = coco["annotations"]
    assert (ann["bbox"], ann["area"], ann["iscrowd"]) == ([10, 20, 30, 40], 1200, 0)
    assert coco["categories"] == [{"id": 1, "name": "dog", "supercategory": ""}]
    unsized = vstore.SingleFrame(id="f2", source="s3://bucket/cam/b.jpg")
    unsized.add_annotation(box2d_xywh=[1, 1, 2, 2], labels=["dog"])
    v.add_frames([unsized])
    with pytest.raises(vstore.FormatError, match=r"'b\.jpg' has no width and height"):
        v.export_annotation_file("coco", tmp_path / "again")
    assert not (tmp_path / "again").exists() or not list((tmp_path / "again").iterdir())


def test_build_coco_options(version: vstore.DatasetVersion) -> None:
    _annotate(version)
    a0, a1 = version.find_asset(filename="img0.png"), version.find_asset(filename="img1.png")
    newer = a0.create_annotation(worker="bob")
    newer.create_rectangle(1, 1, 1, 1, "bus")
    newer.update(status="accepted")
    coco = version.build_coco_file_locally(enforced_ordered_categories=["bus"], chunk_size=5)
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "bus"), (2, "car")]
    by_image = {im["file_name"]: im["id"] for im in coco["images"]}
    assert [a["bbox"] for a in coco["annotations"] if a["image_id"] == by_image["img0.png"]] == [
        [1, 1, 1, 1]]  # the newest annotation
    alice = version.build_coco_file_locally(worker="alice")
    assert len(alice["annotations"]) == 3
    accepted = version.build_coco_file_locally(status="ACCEPTED")
    assert [im["file_name"] for im in accepted["images"]] == ["img0.png"]
    only = version.build_coco_file_locally(assets=[a1])
    assert [im["file_name"] for im in only["images"]] == ["img1.png"]
    by_id = version.build_coco_file_locally(use_id=True)
    assert {im["file_name"] for im in by_id["images"]} == {f"{a0.id}.png", f"{a1.id}.png"}
    assert version.build_coco_file_locally(export_key="asset_id")["images"] == by_id["images"]
    by_object = version.build_coco_file_locally(export_key=vstore.AnnotationExportKey.OBJECT_NAME)
    assert {im["file_name"] for im in by_object["images"]} == {a0.object_name, a1.object_name}
    with pytest.raises(vstore.NotFoundError, match="truck"):
        version.build_coco_file_locally(enforced_ordered_categories=["truck"])
    with pytest.raises(vstore.UsageError, match="use_id"):
        version.build_coco_file_locally(use_id=True, export_key="filename")
    with pytest.raises(vstore.InvalidArgumentError, match="category_id_base"):
        version.build_coco_file_locally(category_id_base=-1)


def test_export_file_options(version: vstore.DatasetVersion, store: vstore.Store,
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _annotate(version)
    monkeypatch.chdir(tmp_path)
    assert version.export_annotation_file("pascal_voc") == f"./{version.id}_pascal_voc.zip"
    path = Path(version.export_annotation_file("coco", tmp_path))
    path.write_text("kept")
    assert version.export_annotation_file("coco", tmp_path, force_replace=False) == str(path)
    assert path.read_text() == "kept"
    version.export_annotation_file("coco", tmp_path)
    assert json.loads(path.read_text())["categories"]
    with pytest.raises(vstore.WrongTypeError) as bad:
        version.export_annotation_file("planet", tmp_path)
    assert isinstance(bad.value, TypeError)
    with pytest.raises(vstore.UsageError, match="video"):
        version.export_annotation_file("coco", tmp_path, export_video=True)
    version.find_asset(filename="img2.png").create_annotation().create_line(
        [[0, 0], [5, 5]], "car")
    with pytest.raises(vstore.FormatError, match="no line form"):
        version.export_annotation_file("coco", tmp_path / "strict", unsupported="error")
    assert len(version.build_coco_file_locally()["annotations"]) == 3  # the line: left out
    hd = vstore.DatasetVersion.create_new_dataset("escape", store=store)
    frame = vstore.SingleFrame(source="s3://bucket/../evil.jpg", width=10, height=10)
    frame.add_annotation(box2d_xywh=[1, 1, 2, 2], labels=["x"])
    hd.add_frames([frame])
    for kind in AnnotationFileType:
        with pytest.raises(UnsafePathError, match="evil"):
            hd.export_annotation_file(kind, tmp_path / "escape", export_key="object_name")
    assert not list((tmp_path / "escape").iterdir())


# -- COCO import ----------------------------------------------------------------------------


def test_coco_import_then_export_is_the_same_file(version: vstore.DatasetVersion,
                                                 tmp_path: Path) -> None:
    version.set_type("object_detection")
    counts = version.import_annotations_coco_file(_write(tmp_path / "in.json", ROUND_TRIP))
    assert sorted(counts.values()) == [1, 2]
    assert [x.name for x in version.list_labels()] == ["car", "bus", "tree"]  # category order
    exported = version.build_coco_file_locally()
    assert _comparable(exported) == _comparable(ROUND_TRIP)  # category and annotation ids kept
    assert exported == version.build_coco_file_locally(category_id_base=0)  # ids as recorded
    path = version.export_annotation_file("coco", tmp_path / "out")
    assert sorted(COCO(path).getCatIds()) == [3, 7, 9]
    fresh, _ = version.fork("v2", type="object_detection")  # no labels, no annotations
    fresh.import_annotations_coco_file(path)
    assert _comparable(fresh.build_coco_file_locally()) == _comparable(ROUND_TRIP)
    full, _ = version.fork("v3", with_labels=True, with_annotations=True)
    assert full.build_coco_file_locally() == {**exported, "info": {
        "description": "cars / v3", "version": "v3"}}
    by_id = version.export_annotation_file("coco", tmp_path / "ids", use_id=True)
    named, _ = version.fork("v4", type="object_detection")  # a fork keeps the asset ids
    named.import_annotations_coco_file(by_id, export_key="asset_id")
    assert _boxes(named) == _boxes(version)


def test_coco_segmentation_round_trip(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    version.set_type("segmentation")
    rings = [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30, 20, 30]]
    data = {**ROUND_TRIP, "annotations": [
        {"id": 5, "image_id": 10, "category_id": 3, "bbox": [0, 0, 30, 30], "area": 150,
         "iscrowd": 0, "segmentation": rings}]}
    version.import_annotations_coco_file(_write(tmp_path / "seg.json", data))
    assert len(version.find_asset(filename="img0.png").get_annotation().list_polygons()) == 2
    (ann,) = version.build_coco_file_locally()["annotations"]
    assert (ann["id"], ann["segmentation"], ann["bbox"], ann["area"]) == (5, rings,
                                                                         [0, 0, 30, 30], 150)


def test_imports_fit_the_version_type(version: vstore.DatasetVersion, store: vstore.Store,
                                      tmp_path: Path) -> None:
    data = {**ROUND_TRIP, "annotations": [
        {"id": 5, "image_id": 10, "category_id": 3, "iscrowd": 0,
         "segmentation": [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]]}]}
    path = _write(tmp_path / "seg.json", data)
    version.set_type("object_detection")
    version.import_annotations_coco_file(path)
    assert _boxes(version) == {"img0.png": [("car", 0, 0, 30, 30)]}  # one box per object
    classes, _ = version.fork("classes", type="classification")
    classes.import_annotations_coco_file(_write(tmp_path / "in.json", ROUND_TRIP))
    shapes = classes.find_asset(filename="img0.png").get_annotation().list_shapes()
    assert sorted((s.kind, s.label and s.label.name) for s in shapes) == [
        ("classification", "bus"), ("classification", "car")]
    untyped = store.create_dataset("untyped").create_version("v1")
    with pytest.raises(vstore.WrongTypeError, match="set up type"):
        untyped.import_annotations_coco_file(path)


def test_import_modes_and_status(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    version.set_type("object_detection")
    path = _write(tmp_path / "in.json", ROUND_TRIP)
    first = version.import_annotations_coco_file(path, worker="alice")
    a0 = version.find_asset(filename="img0.png")
    assert [a.status.value for a in a0.list_annotations()] == ["PENDING"]
    again = version.import_annotations_coco_file(path, worker="alice")  # REPLACE
    assert len(a0.list_annotations()) == 1 and not set(again) & set(first)
    version.import_annotations_coco_file(path, worker="alice", mode="concatenate")
    assert len(a0.get_annotation().list_rectangles()) == 4
    before = version.commit_id
    assert version.import_annotations_coco_file(path, worker="bob", mode="Keep") == {}
    assert version.commit_id == before and [a.worker for a in a0.list_annotations()] == ["alice"]
    version.delete_all_annotations()
    version.import_annotations_coco_file(path, worker="bob", mode=ImportAnnotationMode.KEEP,
                                         status="accepted")
    assert [(a.worker, a.status.value) for a in a0.list_annotations()] == [("bob", "ACCEPTED")]
    with pytest.raises(vstore.WrongTypeError, match="ImportAnnotationMode"):
        version.import_annotations_coco_file(path, mode="skipp")
    with pytest.raises(vstore.WrongTypeError, match="AnnotationStatus"):
        version.import_annotations_coco_file(path, status="done")


def test_assets_not_found_and_label_creation(version: vstore.DatasetVersion,
                                             tmp_path: Path) -> None:
    version.set_type("object_detection")
    ghost = {**ROUND_TRIP, "images": [*ROUND_TRIP["images"],
                                      {"id": 12, "file_name": "ghost.png", "width": 1,
                                       "height": 1}]}
    path = _write(tmp_path / "ghost.json", ghost)
    before = version.commit_id
    with pytest.raises(vstore.NotFoundError, match=r"ghost\.png"):
        version.import_annotations_coco_file(path)
    with pytest.raises(vstore.NotFoundError, match="force_create_label"):
        version.import_annotations_coco_file(path, force_create_label=False,
                                             fail_on_asset_not_found=False)
    assert version.commit_id == before and version.list_labels() == []
    version.create_label("car")
    version.create_label("bus")
    version.import_annotations_coco_file(path, force_create_label=False,
                                         fail_on_asset_not_found=False)
    assert [x.name for x in version.list_labels()] == ["car", "bus"]  # "tree" not created
    assert set(_boxes(version)) == {"img0.png", "img1.png"}


def test_published_version_refuses_imports(version: vstore.DatasetVersion,
                                           tmp_path: Path) -> None:
    version.set_type("object_detection")
    version.publish_version()
    with pytest.raises(vstore.ReadOnlyError, match="published"):
        version.import_annotations_coco_file(_write(tmp_path / "in.json", ROUND_TRIP))
    with pytest.raises(vstore.ReadOnlyError):
        version.import_annotation_voc_file(tmp_path / "in.json")
    with pytest.raises(vstore.ReadOnlyError):
        version.import_annotations_yolo_files(tmp_path / "data.yaml", [])
    assert version.build_coco_file_locally()["images"] == []  # exports still read


def test_a_malformed_file_imports_nothing(version: vstore.DatasetVersion,
                                          tmp_path: Path) -> None:
    version.set_type("object_detection")
    bad = json.loads(json.dumps(ROUND_TRIP))
    bad["annotations"][2]["bbox"] = [1, 2, -3, 4]
    path = _write(tmp_path / "bad.json", bad)
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if '"id": 102' in text) - 1  # its "{"
    before = version.commit_id
    with pytest.raises(vstore.FormatError) as err:
        version.import_annotations_coco_file(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert "annotations[2]" in str(err.value)
    (tmp_path / "data.yaml").write_text("names: [car]\n")
    (tmp_path / "img0.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (tmp_path / "img1.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 1.5 0.2\n")
    with pytest.raises(vstore.FormatError) as err:
        version.import_annotations_yolo_files(tmp_path / "data.yaml",
                                              [tmp_path / "img0.txt", tmp_path / "img1.txt"])
    assert (err.value.path, err.value.line) == (str(tmp_path / "img1.txt"), 2)
    (tmp_path / "bad.xml").write_text("<annotation>\n<filename>img0.png</filename>\n<object>")
    with pytest.raises(vstore.FormatError, match=r"bad\.xml"):
        version.import_annotation_voc_file(tmp_path / "bad.xml")
    with pytest.raises(vstore.LocalFileNotFoundError) as missing:
        version.import_annotations_coco_file(tmp_path / "nope.json")
    assert isinstance(missing.value, FileNotFoundError)
    assert version.commit_id == before and version.list_labels() == []


# -- YOLO and Pascal VOC --------------------------------------------------------------------


def test_yolo_round_trip(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    version.set_type("object_detection")
    _annotate(version)
    path = version.export_annotation_file("yolo", tmp_path / "out")
    assert path.endswith("_yolo.zip")
    members = _unzip(path, tmp_path / "yolo")
    assert members == ["data.yaml", *(f"img{i}.txt" for i in range(6))]
    assert (tmp_path / "yolo" / "img2.txt").read_text() == ""  # no objects: an empty file
    assert "names:\n- car\n- bus\n" in (tmp_path / "yolo" / "data.yaml").read_text()
    labels = [tmp_path / "yolo" / f"img{i}.txt" for i in range(6)]
    copy, _ = version.fork("copy", type="object_detection")
    counts = copy.import_annotations_yolo_files(tmp_path / "yolo" / "data.yaml", labels)
    assert sorted(counts.values()) == [1, 2]
    assert _boxes(copy) == _boxes(version)
    before = copy.commit_id
    assert copy.import_annotations_yolo_files(tmp_path / "yolo" / "data.yaml", labels,
                                              mode="keep") == {}
    assert copy.commit_id == before
    assert copy.import_annotations_yolo_files(tmp_path / "yolo" / "data.yaml", []) == {}
    with pytest.raises(vstore.LocalFileNotFoundError, match=r"nope\.yaml"):
        copy.import_annotations_yolo_files(tmp_path / "nope.yaml", labels)
    with pytest.raises(vstore.WrongTypeError, match="list of paths"):
        copy.import_annotations_yolo_files(tmp_path / "yolo" / "data.yaml", str(labels[0]))
    (tmp_path / "dict.yaml").write_text("names: {0: truck, 1: car}\n")
    (tmp_path / "ghost.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    ghost = [tmp_path / "yolo" / "img3.txt", tmp_path / "ghost.txt"]
    with pytest.raises(vstore.NotFoundError, match=r"ghost\.txt"):
        copy.import_annotations_yolo_files(tmp_path / "dict.yaml", ghost)
    (tmp_path / "yolo" / "img3.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    copy.import_annotations_yolo_files(tmp_path / "dict.yaml", ghost,
                                       fail_on_asset_not_found=False)
    assert _boxes(copy)["img3.png"] == [("truck", 16, 12, 32, 24)]
    assert [x.name for x in copy.list_labels()] == ["car", "bus", "truck"]


def test_voc_round_trip(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    version.set_type("object_detection")
    _annotate(version)
    path = version.export_annotation_file(AnnotationFileType.PASCAL_VOC, tmp_path / "out")
    assert path.endswith("_pascal_voc.zip")
    assert _unzip(path, tmp_path / "voc") == ["img0.xml", "img1.xml"]
    xml = (tmp_path / "voc" / "img0.xml").read_text()
    for field in ("<pose>Unspecified</pose>", "<truncated>0</truncated>",
                  "<difficult>0</difficult>", "<occluded>0</occluded>",
                  "<segmented>0</segmented>", "<width>64</width>"):
        assert field in xml
    copy, _ = version.fork("copy", type="object_detection")
    for name in ("img0.xml", "img1.xml"):
        assert list(copy.import_annotation_voc_file(tmp_path / "voc" / name).values())
    assert _boxes(copy) == _boxes(version)
    bare = tmp_path / "bare.xml"  # no size, difficult or truncated
    bare.write_text("<annotation><filename>img3.png</filename><object><name>car</name>"
                    "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>22</ymax>"
                    "</bndbox></object></annotation>")
    copy.import_annotation_voc_file(bare, worker="carol", status="accepted")
    assert _boxes(copy)["img3.png"] == [("car", 1, 2, 10, 20)]
    bare.write_text(bare.read_text().replace("img3.png", "ghost.png"))
    with pytest.raises(vstore.NotFoundError, match=r"ghost\.png"):
        copy.import_annotation_voc_file(bare)
