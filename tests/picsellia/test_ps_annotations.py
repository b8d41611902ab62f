"""Annotations and shapes: create, list, update, overwrite, delete; loads, stats, conversion."""

from __future__ import annotations

import pytest

import vstore
from vstore.errors import (
    InvalidArgumentError,
    NoDataError,
    NotFoundError,
    UsageError,
    WrongTypeError,
)
from vstore.picsellia import (
    AnnotationStatus,
    Classification,
    Keypoints,
    Label,
    Line,
    Mask,
    Point,
    Polygon,
    Rectangle,
    Tag,
    TagTarget,
)


@pytest.fixture
def car(version: vstore.DatasetVersion) -> Label:
    version.create_label("bus")
    return version.create_label("car")


def test_every_shape_kind_round_trips(version: vstore.DatasetVersion, car: Label) -> None:
    ann = version.find_asset(filename="img0.png").create_annotation(duration=2.5)
    r = ann.create_rectangle(10, 20, 30, 40, car, text="AB-123", attributes={"occluded": True})
    assert isinstance(r, Rectangle) and (r.x, r.y, r.w, r.h) == (10, 20, 30, 40)
    assert r.text == "AB-123" and r.attributes == {"occluded": True} and r.label == car
    p = ann.create_polygon([[0, 0], [10, 0], [10, 10]], "car")
    assert isinstance(p, Polygon) and p.coords == [[0, 0], [10, 0], [10, 10]]
    line = ann.create_line([[0, 0], [5, 5]], car)
    assert isinstance(line, Line) and line.coords == [[0, 0], [5, 5]]
    pt = ann.create_point([3, 4], car)
    assert isinstance(pt, Point) and pt.coords == [3, 4] and pt.order == 0
    kp = ann.create_keypoints([[1, 1, 2], [2, 2, 0]], car)
    assert isinstance(kp, Keypoints) and kp.coords == [[1, 1, 2], [2, 2, 0]]
    c = ann.create_classification("bus")
    assert isinstance(c, Classification) and c.label == Label("bus")
    m = ann.create_mask("0Ph02", car, area=12.0, bbox=[1, 2, 3, 4])
    assert isinstance(m, Mask) and (m.mask, m.area, m.bbox) == ("0Ph02", 12.0, [1, 2, 3, 4])
    again = version.find_asset(filename="img0.png").get_annotation()
    assert again == ann and again.duration == 2.5 and again.status is AnnotationStatus.PENDING
    assert [len(again.list_rectangles()), len(again.list_polygons()), len(again.list_lines()),
            len(again.list_points()), len(again.list_keypoints()),
            len(again.list_classifications()), len(again.list_masks())] == [1] * 7
    assert again.list_rectangles()[0] == r


def test_create_multiple_and_errors(version: vstore.DatasetVersion, car: Label) -> None:
    ann = version.find_asset(filename="img0.png").create_annotation()
    rects = ann.create_multiple_rectangles([(0, 0, 1, 1, car), (2, 2, 3, 3, "bus")])
    assert [r.label.name for r in rects if r.label] == ["car", "bus"]
    assert len(ann.create_multiple_polygons([([[0, 0], [1, 0], [1, 1]], car)])) == 1
    assert len(ann.create_multiple_lines([([[0, 0], [1, 1]], car)])) == 1
    assert len(ann.create_multiple_points([([0, 0], car)])) == 1
    assert len(ann.create_multiple_classifications([car, (Label("bus"),)])) == 2
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        ann.create_multiple_rectangles([])
    with pytest.raises(NotFoundError, match="get_or_create_label"):
        ann.create_rectangle(0, 0, 1, 1, "truck")
    with pytest.raises(InvalidArgumentError):
        ann.create_rectangle(0, 0, -1, 1, car)
    with pytest.raises(InvalidArgumentError, match="at least 3"):
        ann.create_polygon([[0, 0], [1, 1]], car)
    with pytest.raises(WrongTypeError):
        ann.create_rectangle("a", 0, 1, 1, car)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="visibility"):
        ann.create_keypoints([[0, 0, 5]], car)
    assert len(ann.list_shapes()) == 7  # nothing partial was written


def test_update_and_delete_shapes(version: vstore.DatasetVersion, car: Label) -> None:
    ann = version.find_asset(filename="img0.png").create_annotation()
    r = ann.create_rectangle(1, 2, 3, 4, car)
    r.update(x=10, label="bus", text="t")
    (stored,) = ann.list_rectangles()
    assert (stored.x, stored.y, stored.label, stored.text) == (10, 2, Label("bus"), "t")
    p = ann.create_polygon([[0, 0], [1, 0], [1, 1]], car)
    p.update(coords=[[0, 0], [2, 0], [2, 2], [0, 2]])
    assert ann.list_polygons()[0].coords == [[0, 0], [2, 0], [2, 2], [0, 2]]  # type: ignore[attr-defined]
    r.delete()
    assert ann.list_rectangles() == []
    with pytest.raises(NotFoundError):
        r.delete()


def test_annotation_update_overwrite_delete(version: vstore.DatasetVersion, car: Label) -> None:
    asset = version.find_asset(filename="img0.png")
    ann = asset.create_annotation()
    ann.create_rectangle(1, 1, 1, 1, car)
    ann.update(status="accepted", duration=3, attributes={"reviewed": True})
    assert ann.status is AnnotationStatus.ACCEPTED and ann.duration == 3.0
    ann.update()  # nothing given: nothing changes
    assert asset.get_annotation().attributes == {"reviewed": True}
    with pytest.raises(WrongTypeError):
        ann.update(status="done")
    ann.overwrite(rectangles=[(5, 5, 5, 5, car)], polygons=[([[0, 0], [1, 0], [1, 1]], car)],
                  classifications=[car], duration=7.0)
    shapes = ann.list_shapes()
    assert sorted(s.kind for s in shapes) == ["classification", "polygon", "rectangle"]
    assert shapes[0].x == 5 and ann.duration == 7.0  # type: ignore[attr-defined]
    ann.delete()
    with pytest.raises(NotFoundError):
        asset.get_annotation()
    with pytest.raises(NotFoundError):
        ann.sync()


def test_several_annotations_newest_wins(version: vstore.DatasetVersion, car: Label) -> None:
    asset = version.find_asset(filename="img0.png")
    first = asset.create_annotation(worker="alice")
    second = asset.create_annotation(worker="bob", status="ACCEPTED")
    assert asset.get_annotation() == second
    assert asset.get_annotation(worker="alice") == first
    assert [a.worker for a in asset.list_annotations()] == ["alice", "bob"]
    assert asset.list_annotations(status=AnnotationStatus.ACCEPTED) == [second]
    assert first.created_at <= second.created_at
    asset.delete_annotations(workers=["bob"])
    assert asset.list_annotations() == [first]
    asset.delete_annotations()
    assert asset.list_annotations() == []


def test_load_and_list_annotations(version: vstore.DatasetVersion, car: Label) -> None:
    a0 = version.find_asset(filename="img0.png")
    old = a0.create_annotation(worker="alice")
    old.create_rectangle(1, 2, 3, 4, car, text="x")
    new = a0.create_annotation(worker="bob")
    new.create_point([5, 6], car)
    version.find_asset(filename="img1.png").create_annotation(worker="bob")
    loaded = version.load_annotations()
    assert list(loaded[a0.id][0]) == ["id", "asset_id", "worker", "status", "duration",
                                      "created_at", "attributes", "rectangles", "polygons",
                                      "lines", "points", "keypoints", "classifications",
                                      "masks"]
    assert [x["id"] for x in loaded[a0.id]] == [new.id, old.id]  # newest first
    assert loaded[a0.id][1]["rectangles"] == [
        {"id": old.list_rectangles()[0].id, "label": "car", "text": "x", "attributes": None,
         "x": 1, "y": 2, "w": 3, "h": 4}]
    assert loaded[a0.id][0]["points"][0]["point"] == [5, 6]
    assert set(version.load_annotations(worker="alice")) == {a0.id}
    assert version.load_annotations(assets=[a0], status="ACCEPTED") == {}
    with pytest.raises(InvalidArgumentError):
        version.load_annotations(chunk_size=0)
    listed = version.list_annotations()
    assert len(listed) == 3
    assert [a.worker for a in version.list_annotations(order_by=["worker"])] == [
        "alice", "bob", "bob"]
    assert len(version.list_annotations(worker="bob", limit=1)) == 1
    with pytest.raises(NoDataError, match="No annotation retrieved"):
        version.list_annotations(status="REFUSED")


def test_delete_all_annotations(version: vstore.DatasetVersion, car: Label) -> None:
    for name, worker in (("img0.png", "alice"), ("img1.png", "bob")):
        version.find_asset(filename=name).create_annotation(worker=worker).create_point(
            [1, 1], car)
    version.delete_all_annotations(workers=["alice"])
    assert [a.worker for a in version.list_annotations()] == ["bob"]
    version.delete_all_annotations()
    with pytest.raises(NoDataError):
        version.list_annotations()
    version.create_campaign()
    with pytest.raises(UsageError, match="campaign"):
        version.delete_all_annotations()


def test_retrieve_stats(version: vstore.DatasetVersion, car: Label) -> None:
    stats = version.retrieve_stats()
    assert (stats.label_repartition, stats.nb_objects, stats.nb_annotations) == (
        {"bus": 0, "car": 0}, 0, 0)
    a = version.find_asset(filename="img0.png")
    a.create_annotation().create_multiple_rectangles([(0, 0, 1, 1, car)] * 3)
    a.create_annotation().create_classification("bus")
    version.find_asset(filename="img1.png").create_annotation()
    stats = version.retrieve_stats()
    assert stats.label_repartition == {"bus": 1, "car": 3}
    assert stats.nb_objects == 4 and stats.nb_annotations == 3


def test_convert_tags_to_classification(version: vstore.DatasetVersion,
                                        store: vstore.Store) -> None:
    assets = version.list_assets(order_by=["filename"])
    dog, cat = version.create_asset_tag("dog"), version.create_asset_tag("cat")
    assets[0].add_tags([dog, cat])
    assets[1].add_tags(dog)
    with pytest.raises(UsageError, match="CLASSIFICATION"):
        version.convert_tags_to_classification(TagTarget.ASSET, [dog])
    version.set_type("classification")
    with pytest.raises(UsageError):
        version.convert_tags_to_classification(TagTarget.MODEL, [dog])
    with pytest.raises(WrongTypeError):
        version.convert_tags_to_classification(TagTarget.DATA, [dog])
    version.convert_tags_to_classification("asset", [dog, cat])
    assert {x.name for x in version.list_labels()} == {"dog", "cat"}
    ann = assets[0].get_annotation()
    assert sorted(c.label.name for c in ann.list_classifications() if c.label) == ["cat", "dog"]
    assert [c.label for c in assets[1].get_annotation().list_classifications()] == [Label("dog")]
    night = store.create_tag("night", TagTarget.DATA)
    assets[2].get_data().add_tags(night)
    version.convert_tags_to_classification(TagTarget.DATA, [Tag("night", TagTarget.DATA)])
    assert assets[2].get_annotation().list_classifications()[0].label == Label("night")
