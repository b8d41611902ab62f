"""The seam to the annotation formats: a version to an AnnotationSet and back."""

from __future__ import annotations

import pytest

import vstore
from vstore.errors import InvalidQueryError, NotFoundError, WrongTypeError
from vstore.formats.model import AnnotationSet, ImageAnnotations, Rle, Shape
from vstore.picsellia.enums import AnnotationExportKey, ImportAnnotationMode
from vstore.picsellia.interchange import (
    apply_annotation_set,
    require_import_type,
    to_annotation_set,
)


def _image(name: str, *shapes: Shape) -> ImageAnnotations:
    return ImageAnnotations(name, 64, 48, list(shapes))


def test_export_holds_the_newest_annotation(version: vstore.DatasetVersion) -> None:
    car = version.create_label("car")
    a0 = version.find_asset(filename="img0.png")
    a0.create_annotation(worker="alice").create_rectangle(9, 9, 9, 9, car)
    ann = a0.create_annotation(worker="bob")
    ann.create_rectangle(1, 2, 3, 4, car, text="t")
    ann.create_polygon([[0, 0], [4, 0], [4, 4]], car)
    ann.create_keypoints([[1, 1, 2]], car)
    ann.create_mask("abc", car)
    ann.create_classification(car)
    aset = to_annotation_set(version)
    assert aset.labels == ["car"] and [im.filename for im in aset.images] == ["img0.png"]
    (image,) = aset.images
    assert (image.width, image.height, image.extra["asset_id"]) == (64, 48, a0.id)
    by_kind = {s.kind: s for s in image.shapes}
    assert by_kind["rectangle"].coords == (1.0, 2.0, 3.0, 4.0) and by_kind["rectangle"].text == "t"
    assert by_kind["polygon"].coords == [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0)]
    assert by_kind["keypoints"].coords == [(1.0, 1.0, 2)]
    assert by_kind["mask"].coords == Rle((48, 64), "abc")
    assert by_kind["classification"].coords is None
    alice = to_annotation_set(version, worker="alice")
    assert alice.images[0].shapes[0].coords == (9.0, 9.0, 9.0, 9.0)
    by_id = to_annotation_set(version, export_key="asset_id", include_unannotated=True)
    assert len(by_id.images) == 6 and f"{a0.id}.png" in {im.filename for im in by_id.images}


def test_import_modes(version: vstore.DatasetVersion) -> None:
    version.set_type("object_detection")
    assert require_import_type(version).value == "OBJECT_DETECTION"
    box = Shape("rectangle", "car", (1, 2, 3, 4), id=7)
    aset = AnnotationSet(["car"], [_image("img0.png", box), _image("img1.png", box)])
    counts = apply_annotation_set(version, aset, worker="importer")
    assert sorted(counts.values()) == [1, 1]
    assert [x.name for x in version.list_labels()] == ["car"]  # created
    a0 = version.find_asset(filename="img0.png")
    assert a0.get_annotation().list_rectangles()[0].x == 1  # type: ignore[attr-defined]
    again = apply_annotation_set(version, aset, worker="importer")  # REPLACE
    assert len(a0.list_annotations()) == 1 and set(again) != set(counts)
    apply_annotation_set(version, aset, worker="importer", mode="concatenate")
    assert len(a0.get_annotation().list_rectangles()) == 2
    apply_annotation_set(version, aset, worker="other", mode=ImportAnnotationMode.SKIP)
    assert [a.worker for a in a0.list_annotations()] == ["importer"]  # KEEP: left alone
    exported = to_annotation_set(version).images[0].shapes[0]
    assert exported.id == 7  # the object id read from the file survives


def test_import_errors_write_nothing(version: vstore.DatasetVersion) -> None:
    with pytest.raises(WrongTypeError, match="set up type"):
        require_import_type(version)
    box = Shape("rectangle", "car", (1, 2, 3, 4))
    missing = AnnotationSet(["car"], [_image("img0.png", box), _image("nope.png", box)])
    with pytest.raises(NotFoundError, match=r"nope\.png"):
        apply_annotation_set(version, missing)
    with pytest.raises(NotFoundError, match="force_create_label"):
        apply_annotation_set(version, AnnotationSet(["car"], [_image("img0.png", box)]),
                             force_create_label=False)
    bad = Shape("rectangle", "car", (1, 2, -3, 4))
    with pytest.raises(vstore.InvalidArgumentError):
        apply_annotation_set(version, AnnotationSet(["car"], [_image("img0.png", box),
                                                              _image("img1.png", bad)]))
    with pytest.raises(vstore.NoDataError):
        version.list_annotations()
    assert version.list_labels() == []
    counts = apply_annotation_set(version, missing, fail_on_asset_not_found=False)
    assert list(counts.values()) == [1]


def test_import_by_ids_and_normalized_coordinates(version: vstore.DatasetVersion) -> None:
    a1 = version.find_asset(filename="img1.png")
    aset = AnnotationSet(["car"], [_image(f"{a1.id}.png", Shape("rectangle", "car",
                                                               (0.5, 0.5, 0.25, 0.5)))],
                         normalized=True)
    apply_annotation_set(version, aset, export_key=AnnotationExportKey.ASSET_ID)
    r = a1.get_annotation().list_rectangles()[0]
    assert (r.x, r.y, r.w, r.h) == (32, 24, 16, 24)  # type: ignore[attr-defined]
    by_data = AnnotationSet(["car"], [_image(f"{a1.data_id}.png", Shape("classification",
                                                                       "car"))])
    apply_annotation_set(version, by_data, export_key="data_id", mode="concatenate")
    assert len(a1.get_annotation().list_shapes()) == 2


def test_import_skips_assets_in_the_campaign_and_refuses_ambiguity(
        version: vstore.DatasetVersion, store: vstore.Store) -> None:
    version.create_campaign()
    box = Shape("rectangle", "car", (1, 2, 3, 4))
    assert apply_annotation_set(version, AnnotationSet(["car"], [_image("img0.png", box)])) == {}
    other = vstore.DatasetVersion.create_new_dataset("hd", store=store)
    other.add_frames([vstore.SingleFrame(id="a", source="s3://b/x/same.jpg"),
                      vstore.SingleFrame(id="b", source="s3://b/y/same.jpg")])
    with pytest.raises(InvalidQueryError):
        apply_annotation_set(other, AnnotationSet(["car"], [_image("same.jpg", box)]))
