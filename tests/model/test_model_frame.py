"""SingleFrame, FrameGroup and annotations as a user builds and reads them."""

from __future__ import annotations

import pytest

import vstore.model
from vstore.errors import InvalidArgumentError, UsageError
from vstore.model import Annotation, FrameGroup, SingleFrame, derive_frame_id, frame_key


def test_legacy_constructor_keeps_every_field_readable() -> None:
    ann = Annotation(labels=["day"], confidence=1.0)
    frame = SingleFrame(
        "f1", "s3://bucket/a.jpg", 640, 480, 0, 1234, "abc", "s3://bucket/a_prev.jpg", 7,
        {"city": "bremen"}, [ann], "s3://bucket/a_mask.png", "ctx",
    )
    assert frame.id == "f1"
    assert frame.source == "s3://bucket/a.jpg"
    assert (frame.width, frame.height, frame.timestamp) == (640, 480, 0)
    assert (frame.size, frame.hash) == (1234, "abc")
    assert frame.preview_uri == "s3://bucket/a_prev.jpg"
    assert frame.preview_uri_timestamp == 7
    assert frame.metadata == {"city": "bremen"} and frame.meta is frame.metadata
    assert frame.annotations == [ann]
    assert frame.mask_source == "s3://bucket/a_mask.png"
    assert frame.masks_source == {"00": "s3://bucket/a_mask.png"}
    assert frame.context_id == "ctx"
    assert frame.source_id == "default"


def test_defaults_come_from_the_source_uri() -> None:
    frame = SingleFrame(source="s3://bucket/a.jpg")
    assert frame.id == derive_frame_id("s3://bucket/a.jpg")
    assert frame.context_id == "s3://bucket/a.jpg"
    assert frame.timestamp == 0
    assert frame.metadata == {} and frame.annotations == []
    assert frame.preview_uri is None and frame.mask_source is None


def test_numeric_ids_become_strings() -> None:
    assert SingleFrame(id=17, source="s3://b/a.jpg").id == "17"
    assert SingleFrame(id=2.5, source="s3://b/a.jpg").id == "2.5"


def test_local_paths_get_a_file_scheme() -> None:
    frame = SingleFrame(source="/data/images/a.jpg", preview_uri="/data/prev/a.jpg")
    assert frame.source == "file:///data/images/a.jpg"
    assert frame.preview_uri == "file:///data/prev/a.jpg"


def test_masks_source_list_gets_numbered_ids() -> None:
    frame = SingleFrame(source="s3://b/a.jpg", masks_source=["s3://b/m0.png", "s3://b/m1.png"])
    assert frame.masks_source == {"00": "s3://b/m0.png", "01": "s3://b/m1.png"}
    named = SingleFrame(source="s3://b/a.jpg", masks_source={"fg": "s3://b/fg.png"})
    assert named.masks_source == {"fg": "s3://b/fg.png"}


def test_box_is_stored_as_four_corners_and_read_back_as_xywh() -> None:
    frame = SingleFrame(source="s3://b/a.jpg")
    (box,) = frame.add_annotation(box2d_xywh=(10, 10, 30, 20), labels=["test"], confidence=0.5)
    assert box.kind == "b2d" and box.get_type() == "b2d"
    assert box.poly == [10.0, 10.0, 40.0, 10.0, 40.0, 30.0, 10.0, 30.0]
    assert box.box2d_xywh == [10.0, 10.0, 30.0, 20.0]
    assert box.labels == ["test"] and box.confidence == 0.5
    assert frame.annotations == [box]


def test_each_shape_of_one_call_becomes_its_own_annotation() -> None:
    frame = SingleFrame(source="s3://b/a.jpg")
    added = frame.add_annotation(
        box2d_xywh=[0, 0, 1, 1], poly2d_xy=[(0, 0), (1, 0), (1, 1)],
        ellipse2d_xyrrt=[5, 5, 2, 1, 0.5], keypoints=[1, 2, 3, 4],
        labels=["car"], id="obj-1", metadata={"k": 1},
    )
    assert [a.kind for a in added] == ["p2d", "b2d", "k2d", "elp"]
    assert {a.id for a in added} == {"obj-1"}
    assert added[0].poly2d_xy == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert added[2].keypoints == [1.0, 2.0, 3.0, 4.0]
    assert added[3].ellipse2d_xyrrt == [5.0, 5.0, 2.0, 1.0, 0.5]
    added[0].metadata["k"] = 2
    assert added[1].metadata == {"k": 1}


def test_complex_polygon_gives_one_annotation_per_ring() -> None:
    frame = SingleFrame(source="s3://b/a.jpg")
    rings = frame.add_annotation(poly2d_xy=[[0, 0, 4, 0, 4, 4], [1, 1, 2, 1, 2, 2, 1, 2]],
                                 labels=["hole"])
    assert [len(r.poly or []) for r in rings] == [6, 8]


def test_labels_alone_label_the_whole_frame() -> None:
    frame = SingleFrame(source="s3://b/a.jpg")
    (label,) = frame.add_annotation(labels=["frame level label one", "two"])
    assert label.kind is None and label.poly is None
    assert label.labels == ["frame level label one", "two"]


def test_mask_and_3d_shapes() -> None:
    frame = SingleFrame(source="s3://b/a.jpg", mask_source="s3://b/m.png")
    mask, = frame.add_annotation(mask_rgb=[255, 0, 0], labels=["road"])
    assert mask.kind == "mask" and mask.mask == {"id": "00", "value": [255, 0, 0]}
    cube, = frame.add_annotation(box3d_xyzwhxyzwh=list(range(10)), labels=["car"])
    assert cube.box3d_xyzwhxyzwh == [float(x) for x in range(10)]
    pts, = frame.add_annotation(points3d_xyz=[(1, 2, 3)], labels=["p"])
    assert pts.points3d_xyz == [1.0, 2.0, 3.0]


def test_frame_group_is_a_dict_of_single_frames() -> None:
    group = FrameGroup()
    group["left"] = SingleFrame(source="s3://b/l.jpg", metadata={"cam": "l"})
    group["right"] = SingleFrame(source="s3://b/r.jpg")
    assert list(group) == ["left", "right"] and len(group) == 2
    group["left"].metadata["new_key"] = "new_value"
    assert group["left"].metadata == {"cam": "l", "new_key": "new_value"}
    assert group.id == derive_frame_id(["s3://b/r.jpg", "s3://b/l.jpg"])
    assert group.context_id == "s3://b/l.jpg"
    del group["right"]
    assert list(group) == ["left"]


def test_frame_group_annotations_span_members() -> None:
    group = FrameGroup({"a": SingleFrame(source="s3://b/a.jpg"),
                        "b": SingleFrame(source="s3://b/b.jpg"),
                        "c": SingleFrame(source="s3://b/c.jpg")})
    everyone = group.add_global_annotation(Annotation(labels=["night"], confidence=1.0))
    pair = group.add_annotation(box2d_xywh=[0, 0, 2, 2], labels=["car"], frame_ids=["c", "a"])
    one = group.add_annotation(labels=["blurry"], frame_ids=["b"])
    assert group.annotations == [everyone, *pair]
    assert pair[0].sources == ["a", "c"]
    assert group["b"].annotations == one


def test_frame_group_refuses_bad_members_and_keys() -> None:
    group = FrameGroup()
    with pytest.raises(InvalidArgumentError):
        group["x"] = "s3://b/a.jpg"  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError):
        group["cam.left"] = SingleFrame(source="s3://b/a.jpg")
    with pytest.raises(InvalidArgumentError):
        group.add_annotation(labels=["x"], frame_ids=["missing"])
    assert len(group) == 0 and group.annotations == []


def test_frame_key_is_utf8_of_the_id() -> None:
    assert frame_key("ab/ü") == "ab/ü".encode()
    with pytest.raises(InvalidArgumentError):
        frame_key("")
    with pytest.raises(InvalidArgumentError):
        frame_key("x" * 2000)


def test_derived_id_is_stable_and_order_free() -> None:
    # Pinned values: a change here re-keys every stored frame that had no id.
    assert derive_frame_id("s3://bucket/a.jpg") == "c45ec256478e980c1abea077d7864302"
    assert derive_frame_id(["s3://b/2.jpg", "s3://b/1.jpg"]) == derive_frame_id(
        ["s3://b/1.jpg", "s3://b/2.jpg"]) == "e73b271c9466bf3e03100688eb04931d"
    assert SingleFrame(source="s3://bucket/a.jpg").id == SingleFrame(
        source="s3://bucket/a.jpg", metadata={"other": 1}).id


def test_video_frames_of_one_uri_get_distinct_ids() -> None:
    first = SingleFrame(source="s3://b/v.mp4", timestamp=0)
    later = SingleFrame(source="s3://b/v.mp4", timestamp=40)
    assert first.id != later.id
    assert later.id == derive_frame_id("s3://b/v.mp4", 40)


def test_equality_is_equality_of_stored_content() -> None:
    a = SingleFrame(source="s3://b/a.jpg", metadata={"k": (1, 2)})
    b = SingleFrame(source="s3://b/a.jpg", metadata={"k": [1, 2]})
    assert a == b
    b.add_annotation(labels=["x"])
    assert a != b
    # Frames without a source have no record, so they compare by identity.
    empty = SingleFrame()
    assert empty == empty and empty != SingleFrame()


def test_usage_errors() -> None:
    with pytest.raises(UsageError):
        SingleFrame(source="s3://b/a.jpg").add_annotation(confidence=0.5)
    with pytest.raises(UsageError):
        SingleFrame(source="s3://b/a.jpg", mask_source="m", masks_source=["n"])
    with pytest.raises(UsageError):
        SingleFrame(source="s3://b/a.jpg", preview_uri_timestamp=3)
    with pytest.raises(UsageError):
        SingleFrame(source="s3://b/a.jpg").add_annotation(keypoints=[1, 2], points2d_xy=[1, 2])


def test_public_names() -> None:
    for name in ("SingleFrame", "FrameGroup", "Annotation", "frame_to_record", "record_to_frame",
                 "encode_record", "decode_record", "derive_frame_id", "frame_key", "project"):
        assert name in vstore.model.__all__
        assert hasattr(vstore.model, name)
