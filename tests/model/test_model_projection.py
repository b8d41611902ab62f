"""Projections keep only the selected parts of a record, in the record's shape."""

from __future__ import annotations

from typing import Any

import pytest

from vstore.errors import InvalidArgumentError, InvalidQueryError
from vstore.model import FrameGroup, SingleFrame, frame_to_record, project


def record() -> dict[str, Any]:
    frame = SingleFrame(id="f1", source="s3://b/a.jpg", width=4, height=3,
                        preview_uri="s3://b/p.jpg",
                        metadata={"camera": {"model": "x1", "fps": 30}, "city": "bremen"})
    frame.add_annotation(box2d_xywh=[0, 0, 1, 1], labels=["car"], confidence=0.5)
    frame.add_annotation(labels=["day"])
    return frame_to_record(frame)


def test_top_level_fields_and_missing_paths() -> None:
    out = project(record(), ["id", "dataset.id", "sources"])
    assert out == {"id": "f1", "sources": [{
        "id": "default", "uri": "s3://b/a.jpg", "width": 4, "height": 3, "timestamp": 0,
        "preview": {"uri": "s3://b/p.jpg", "timestamp": 0}}]}


def test_dot_paths_into_maps() -> None:
    assert project(record(), ["meta.camera.model"]) == {"meta": {"camera": {"model": "x1"}}}
    assert project(record(), ["meta.camera", "meta.city"]) == {
        "meta": {"camera": {"model": "x1", "fps": 30}, "city": "bremen"}}
    assert project(record(), ["meta.nothing"]) == {"meta": {}}


def test_star_selects_every_element() -> None:
    assert project(record(), ["rois.*.label"]) == {"rois": [{"label": ["car"]},
                                                            {"label": ["day"]}]}
    assert project(record(), ["rois.label", "rois.confidence"]) == {
        "rois": [{"label": ["car"], "confidence": 0.5}, {"label": ["day"]}]}
    assert project(record(), ["meta.*.model"]) == {"meta": {"camera": {"model": "x1"}}}


def test_index_selects_one_element() -> None:
    assert project(record(), ["rois.1.label"]) == {"rois": [{"label": ["day"]}]}
    assert project(record(), ["rois.0.poly.2"]) == {"rois": [{"poly": [1.0]}]}
    assert project(record(), ["rois.9.label"]) == {"rois": []}
    assert project(record(), ["rois.0.label", "rois.*.confidence"]) == {
        "rois": [{"label": ["car"], "confidence": 0.5}, {}]}


def test_a_whole_field_wins_over_its_parts() -> None:
    full = record()["rois"]
    assert project(record(), ["rois.*.label", "rois"]) == {"rois": full}
    assert project(record(), ["rois", "rois.0.label"]) == {"rois": full}


def test_result_is_a_copy() -> None:
    rec = record()
    out = project(rec, ["meta", "rois.*.label"])
    out["meta"]["camera"]["model"] = "changed"
    out["rois"][0]["label"].append("x")
    assert rec["meta"]["camera"]["model"] == "x1" and rec["rois"][0]["label"] == ["car"]


def test_group_member_metadata_is_addressable() -> None:
    group = FrameGroup({"left": SingleFrame(source="s3://b/l.jpg", metadata={"cam": 1}),
                        "right": SingleFrame(source="s3://b/r.jpg", metadata={"cam": 2})})
    rec = frame_to_record(group)
    assert project(rec, ["meta.*.cam", "sources.*.id"]) == {
        "meta": {"left": {"cam": 1}, "right": {"cam": 2}},
        "sources": [{"id": "left"}, {"id": "right"}]}


def test_empty_projection_selects_nothing() -> None:
    assert project(record(), []) == {}


@pytest.mark.parametrize("path", ["", "meta.", ".id", "rois..label", "meta.$where"])
def test_malformed_paths(path: str) -> None:
    with pytest.raises(InvalidQueryError):
        project(record(), [path])


@pytest.mark.parametrize("projection", ["id", [1], None, [["id"]]])
def test_projection_must_be_a_list_of_str(projection: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        project(record(), projection)
