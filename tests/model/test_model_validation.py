"""Bad input gets a typed error, and a failed call changes nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vstore.errors import InvalidArgumentError, UsageError
from vstore.model import Annotation, FrameGroup, SingleFrame, frame_to_record


def frame() -> SingleFrame:
    return SingleFrame(source="s3://b/a.jpg", width=10, height=10, metadata={"ok": 1})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": "640"},
        {"width": 1.5},
        {"width": True},
        {"height": -1},
        {"timestamp": "0"},
        {"size": -5},
        {"hash": 123},
        {"source": ""},
        {"source": 42},
        {"id": ""},
        {"id": True},
        {"id": ["a"]},
        {"id": math.nan},
        {"context_id": 3},
        {"metadata": "city=bremen"},
        {"metadata": {"a.b": 1}},
        {"metadata": {"$where": 1}},
        {"metadata": {"nested": {"deeper": [{"x.y": 1}]}}},
        {"metadata": {1: "int key"}},
        {"metadata": {"obj": object()}},
        {"metadata": {"set": {1, 2}}},
        {"metadata": {"nan": math.nan}},
        {"metadata": {"huge": 2**70}},
        {"annotations": ["not an annotation"]},
        {"masks_source": "s3://b/m.png"},
        {"masks_source": {"00": 5}},
    ],
)
def test_constructor_refuses(kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"source": "s3://b/a.jpg"}
    base.update(kwargs)
    with pytest.raises(InvalidArgumentError):
        SingleFrame(**base)


def test_too_deep_metadata_is_refused() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(InvalidArgumentError, match="nested deeper"):
        SingleFrame(source="s3://b/a.jpg", metadata=deep)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"box2d_xywh": [1, 2, 3]},
        {"box2d_xywh": [1, 2, -3, 4]},
        {"box2d_xywh": [1, 2, "3", 4]},
        {"poly2d_xy": [1, 2, 3]},
        {"poly2d_xy": [[0, 0], [1]]},
        {"poly2d_xy": [0, 0, math.inf, 1]},
        {"poly2d_xy": "0,0,1,1"},
        {"poly2d_xy": []},
        {"ellipse2d_xyrrt": [1, 2, 3, 4]},
        {"keypoints": [1, 2, 3]},
        {"keypoints": [None, 1]},
        {"mask_rgb": [256, 0, 0]},
        {"mask_rgb": [1, 2]},
        {"box3d_xyzwhxyzwh": [1, 2, 3]},
        {"labels": [1, 2]},
        {"labels": 7},
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"confidence": "high"},
        {"confidence": math.nan},
        {"id": 5},
        {"metadata": {"bad.key": 1}},
        {"metadata": {"_type": "b2d"}},
    ],
)
def test_add_annotation_refuses_and_adds_nothing(kwargs: dict[str, Any]) -> None:
    f = frame()
    shape: dict[str, Any] = {"box2d_xywh": [0, 0, 1, 1], "labels": ["car"]}
    shape.update(kwargs)
    with pytest.raises(InvalidArgumentError):
        f.add_annotation(**shape)
    assert f.annotations == []


def test_a_bad_second_shape_adds_neither() -> None:
    f = frame()
    with pytest.raises(InvalidArgumentError):
        f.add_annotation(box2d_xywh=[0, 0, 1, 1], poly2d_xy=[1, 2, 3], labels=["car"])
    assert f.annotations == []


@pytest.mark.parametrize(
    ("attr", "value"),
    [("width", "wide"), ("height", -2), ("timestamp", 1.5), ("source", ""), ("id", False),
     ("metadata", {"a.b": 1}), ("context_id", ""), ("annotations", [1])],
)
def test_setters_refuse_and_keep_the_old_value(attr: str, value: Any) -> None:
    f = frame()
    before = frame_to_record(f)
    with pytest.raises(InvalidArgumentError):
        setattr(f, attr, value)
    assert frame_to_record(f) == before


def test_annotation_constructor_checks_its_shape() -> None:
    with pytest.raises(InvalidArgumentError):
        Annotation([1, 2, 3], kind="b2d")
    with pytest.raises(InvalidArgumentError):
        Annotation([1, 2, 3, 4], kind="unknown")
    with pytest.raises(InvalidArgumentError):
        Annotation(kind="mask")
    with pytest.raises(InvalidArgumentError):
        Annotation([1, 2], kind="im")
    assert Annotation([0, 0, 2, 3], kind="b2d").box2d_xywh == [0.0, 0.0, 2.0, 3.0]


def test_missing_source_is_a_usage_error_when_saving() -> None:
    with pytest.raises(UsageError, match="no source"):
        frame_to_record(SingleFrame(metadata={"k": 1}))
    with pytest.raises(UsageError):
        frame_to_record(FrameGroup())
    group = FrameGroup({"a": SingleFrame(source="s3://b/a.jpg"), "b": SingleFrame()})
    with pytest.raises(UsageError):
        frame_to_record(group)


def test_metadata_changed_after_construction_is_checked_when_saving() -> None:
    f = frame()
    f.metadata["bad.key"] = 1
    with pytest.raises(InvalidArgumentError):
        frame_to_record(f)
    f = frame()
    f.metadata["obj"] = object()
    with pytest.raises(InvalidArgumentError):
        frame_to_record(f)
    f = frame()
    f.add_annotation(labels=["x"])[0].labels.append(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        frame_to_record(f)


def test_group_metadata_may_not_shadow_a_member() -> None:
    group = FrameGroup({"left": SingleFrame(source="s3://b/l.jpg"),
                        "right": SingleFrame(source="s3://b/r.jpg")},
                       metadata={"left": "oops"})
    with pytest.raises(UsageError, match="member names"):
        frame_to_record(group)


def test_group_annotation_for_a_removed_member() -> None:
    group = FrameGroup({"a": SingleFrame(source="s3://b/a.jpg"),
                        "b": SingleFrame(source="s3://b/b.jpg"),
                        "c": SingleFrame(source="s3://b/c.jpg")})
    group.add_annotation(labels=["x"], frame_ids=["a", "c"])
    del group["c"]
    with pytest.raises(UsageError, match="not in the group"):
        frame_to_record(group)


def test_not_a_frame() -> None:
    with pytest.raises(InvalidArgumentError):
        frame_to_record({"id": "x"})  # type: ignore[arg-type]
