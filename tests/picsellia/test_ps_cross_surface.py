"""One engine, two surfaces: frames read as assets, assets read as frames."""

from __future__ import annotations

import pytest

import vstore
from vstore import DatasetVersion, SingleFrame
from vstore.picsellia import AnnotationStatus, Label


def test_a_hyper_datasets_frame_reads_as_an_asset(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("hd", store=store)
    f = SingleFrame(id="f1", source="s3://bucket/folder/a%20b.jpg", width=640, height=480,
                    content_type="image/jpeg", metadata={"camera": "left"})
    f.add_annotation(box2d_xywh=[10, 20, 30, 40], labels=["car"])
    f.add_annotation(poly2d_xy=[0, 0, 5, 0, 5, 5], labels=["road"])
    f.add_annotation(keypoints=[[1, 2], [3, 4]], labels=["person"])
    f.add_annotation(labels=["daytime"])
    f.add_annotation(ellipse2d_xyrrt=[5, 5, 2, 1, 0], labels=["sign"])
    v.add_frames([f])
    a = v.find_asset(id="f1")
    assert (a.filename, a.object_name, a.width, a.height) == ("a b.jpg", "folder/a b.jpg", 640,
                                                             480)
    assert a.metadata == {"camera": "left"} and a.data_id is None
    ann = a.get_annotation()
    assert ann.status is AnnotationStatus.PENDING and ann.worker is None
    (r,) = ann.list_rectangles()
    assert (r.x, r.y, r.w, r.h, r.label) == (10, 20, 30, 40, Label("car"))
    assert ann.list_polygons()[0].coords == [[0, 0], [5, 0], [5, 5]]  # type: ignore[attr-defined]
    assert ann.list_keypoints()[0].coords == [[1, 2, 2], [3, 4, 2]]  # type: ignore[attr-defined]
    assert ann.list_classifications()[0].label == Label("daytime")
    assert len(ann.list_shapes()) == 4  # the ellipse is not a Picsellia shape
    # every label the version knows is listed; the ellipse's counts no shape
    assert v.retrieve_stats().label_repartition == {
        "car": 1, "daytime": 1, "person": 1, "road": 1, "sign": 0}
    assert v.list_assets(q='annotations.rectangles.label.name = "car"')[0].id == "f1"


def test_editing_through_picsellia_keeps_what_it_does_not_show(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("hd", store=store)
    f = SingleFrame(id="f1", source="s3://bucket/a.jpg", metadata={"camera": "left"})
    f.add_annotation(box2d_xywh=[1, 1, 2, 2], labels=["car"], confidence=0.5,
                     metadata={"reviewer": "x"})
    f.add_annotation(ellipse2d_xyrrt=[5, 5, 2, 1, 0], labels=["sign"])
    v.add_frames([f])
    v.create_label("car")
    ann = v.find_asset(id="f1").get_annotation()
    ann.update(status="ACCEPTED")
    (r,) = ann.list_rectangles()
    r.update(w=9)
    ann.create_point([7, 7], "car")
    (frame,) = v.get_frames_by_ids(["f1"])
    kinds = sorted(x.kind or "-" for x in frame.annotations)
    assert kinds == ["b2d", "elp", "k2d"]
    box = next(x for x in frame.annotations if x.kind == "b2d")
    assert box.box2d_xywh == [1.0, 1.0, 9.0, 2.0] and box.confidence == 0.5
    assert box.metadata["reviewer"] == "x"
    assert frame.metadata["camera"] == "left"
    ann.delete()
    (frame,) = v.get_frames_by_ids(["f1"])
    assert [x.kind for x in frame.annotations] == ["elp"]  # shapes gone, the ellipse kept


def test_an_asset_reads_as_a_single_frame(version: vstore.DatasetVersion) -> None:
    car = version.create_label("car")
    asset = version.find_asset(filename="img0.png")
    asset.add_tags("hard")
    ann = asset.create_annotation(worker="alice")
    ann.create_rectangle(10, 20, 30, 40, car)
    ann.create_polygon([[0, 0], [4, 0], [4, 4]], car)
    ann.create_classification(car)
    (frame,) = version.get_frames_by_ids([asset.id])
    assert isinstance(frame, SingleFrame) and frame.source == asset.url
    assert (frame.width, frame.height) == (64, 48)
    by_kind = {x.kind: x for x in frame.annotations}
    assert by_kind["b2d"].box2d_xywh == [10.0, 20.0, 30.0, 40.0]
    assert by_kind["b2d"].labels == ["car"]
    assert by_kind["p2d"].poly2d_xy == [0.0, 0.0, 4.0, 0.0, 4.0, 4.0]
    assert by_kind[None].labels == ["car"]  # a classification is a frame label
    assert frame.metadata["_tags"] == ["hard"]
    assert frame.metadata["_annotations"][0]["worker"] == "alice"
    assert version.get_stats()["labels"] == [{"name": "car", "count": 3}]
    rows = list(version.get_iterator(projection=["id", "rois.label"]))
    assert len(rows) == 6


def test_a_frame_rewritten_by_hyper_datasets_keeps_its_asset(
        version: vstore.DatasetVersion) -> None:
    car = version.create_label("car")
    asset = version.find_asset(filename="img1.png")
    asset.create_annotation(worker="bob").create_rectangle(1, 2, 3, 4, car)
    (frame,) = version.get_frames_by_ids([asset.id])
    frame.metadata["camera"] = "right"
    version.update_frames([frame])
    again = version.find_asset(filename="img1.png")
    assert again.metadata == {"camera": "right"}
    ann = again.get_annotation()
    assert ann.worker == "bob" and ann.list_rectangles()[0].x == 1  # type: ignore[attr-defined]


def test_hyper_datasets_frame_groups_read_as_assets(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("groups", store=store)
    group = vstore.FrameGroup(id="g1")
    group["left"] = SingleFrame(source="s3://b/left.jpg", width=10, height=10)
    group["right"] = SingleFrame(source="s3://b/right.jpg")
    v.add_frames([group])
    v.create_label("car")
    a = v.find_asset(id="g1")
    assert a.filename == "left.jpg"
    a.create_annotation().create_rectangle(1, 1, 2, 2, "car")
    (back,) = v.get_frames_by_ids(["g1"])
    assert isinstance(back, vstore.FrameGroup) and set(back) == {"left", "right"}


def test_published_versions_keep_their_assets_frozen(version: vstore.DatasetVersion) -> None:
    version.create_label("car")
    version.publish_version()
    with pytest.raises(vstore.ReadOnlyError):
        version.find_asset(filename="img0.png").create_annotation()
    with pytest.raises(vstore.ReadOnlyError):
        version.list_assets().add_tags("x")
    assert version.find_asset(filename="img0.png").list_annotations() == []
