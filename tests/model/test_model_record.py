"""The record form: the wire schema, round trips, canonical bytes, malformed input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vstore.engine.codec import encode
from vstore.errors import FormatError, ObjectTooLargeError
from vstore.model import (
    Annotation,
    FrameGroup,
    SingleFrame,
    decode_record,
    derive_frame_id,
    encode_record,
    frame_record_bytes,
    frame_to_record,
    record_to_frame,
)
from vstore.model.record import frame_from_bytes


def annotated() -> SingleFrame:
    frame = SingleFrame(
        source="s3://bucket/a.jpg", width=640, height=480, size=99, hash="h1",
        preview_uri="s3://bucket/a_prev.jpg", metadata={"city": "bremen", "n": [1, 2.5]},
        mask_source="s3://bucket/a_mask.png", content_type="image/jpeg",
    )
    frame.add_annotation(box2d_xywh=(10, 10, 30, 20), labels=["test"], confidence=0.25,
                         id="obj", metadata={"occluded": True})
    frame.add_annotation(labels=["daytime"])
    return frame


def test_single_frame_record_follows_the_wire_schema() -> None:
    record = frame_to_record(annotated())
    assert record == {
        "id": derive_frame_id("s3://bucket/a.jpg"),
        "sources": [{
            "id": "default", "uri": "s3://bucket/a.jpg", "content_type": "image/jpeg",
            "width": 640, "height": 480, "timestamp": 0,
            "meta": {"size": 99, "hash": {"source": "h1"}},
            "preview": {"uri": "s3://bucket/a_prev.jpg", "timestamp": 0},
            "masks": [{"id": "00", "uri": "s3://bucket/a_mask.png", "timestamp": 0}],
        }],
        "rois": [
            {"label": ["test"], "poly": [10.0, 10.0, 40.0, 10.0, 40.0, 30.0, 10.0, 30.0],
             "confidence": 0.25, "id": "obj", "sources": ["default"],
             "meta": {"_type": "b2d", "_id": "obj", "occluded": True}},
            {"label": ["daytime"], "sources": ["default"]},
        ],
        "meta": {"city": "bremen", "n": [1, 2.5]},
        "context_id": "s3://bucket/a.jpg",
        "timestamp": 0,
    }


def test_record_shares_nothing_with_the_frame() -> None:
    frame = annotated()
    record = frame_to_record(frame)
    record["meta"]["n"].append(3)
    record["rois"][0]["label"].append("x")
    assert frame.metadata["n"] == [1, 2.5]
    assert frame.annotations[0].labels == ["test"]
    back = record_to_frame(frame_to_record(frame))
    back.metadata["city"] = "paris"
    assert frame.metadata["city"] == "bremen"


def test_single_frame_round_trip_keeps_everything() -> None:
    frame = annotated()
    back = record_to_frame(decode_record(encode_record(frame_to_record(frame))))
    assert isinstance(back, SingleFrame)
    assert back == frame
    assert (back.id, back.source, back.width, back.height) == (frame.id, frame.source, 640, 480)
    assert (back.size, back.hash, back.content_type) == (99, "h1", "image/jpeg")
    assert back.preview_uri == frame.preview_uri and back.masks == frame.masks
    assert back.metadata == frame.metadata and back.context_id == frame.context_id
    box, label = back.annotations
    assert box.box2d_xywh == [10.0, 10.0, 30.0, 20.0] and box.id == "obj"
    assert box.metadata == {"occluded": True} and box.confidence == 0.25
    assert label.labels == ["daytime"] and label.kind is None


def test_group_record_has_one_source_per_member() -> None:
    group = FrameGroup(metadata={"scene": "s1"})
    group["FrameOne"] = SingleFrame(source="s3://b/1.jpg", metadata={"alive": "yes"})
    group["FrameTwo"] = SingleFrame(source="s3://b/2.jpg", timestamp=5)
    group["FrameOne"].add_annotation(box2d_xywh=[1, 1, 2, 2], labels=["car"])
    group.add_global_annotation(Annotation(labels=["night"], confidence=1.0))
    record = frame_to_record(group)
    assert [s["id"] for s in record["sources"]] == ["FrameOne", "FrameTwo"]
    assert record["sources"][1]["timestamp"] == 5
    assert record["meta"] == {"scene": "s1", "FrameOne": {"alive": "yes"}, "FrameTwo": {}}
    assert [r["sources"] for r in record["rois"]] == [["FrameOne"], ["FrameOne", "FrameTwo"]]
    assert record["context_id"] == "s3://b/1.jpg"
    assert record["id"] == derive_frame_id(["s3://b/1.jpg", "s3://b/2.jpg"])


def test_group_round_trip_keeps_everything() -> None:
    group = FrameGroup({"a": SingleFrame(source="s3://b/a.jpg", metadata={"k": 1}),
                        "b": SingleFrame(source="s3://b/b.jpg"),
                        "c": SingleFrame(source="s3://b/c.jpg")},
                       id="g1", metadata={"scene": 3}, context_id="drive-7")
    group["b"].add_annotation(poly2d_xy=[0, 0, 1, 0, 1, 1], labels=["lane"])
    group.add_annotation(box2d_xywh=[0, 0, 5, 5], labels=["truck"], frame_ids=["a", "c"])
    group.add_global_annotation(Annotation(labels=["rain"]))
    back = record_to_frame(decode_record(encode_record(frame_to_record(group))))
    assert isinstance(back, FrameGroup)
    assert back == group
    assert list(back) == ["a", "b", "c"] and back.id == "g1"
    assert back.metadata == {"scene": 3} and back["a"].metadata == {"k": 1}
    assert back.context_id == "drive-7"
    assert back["b"].annotations[0].labels == ["lane"]
    truck, rain = back.annotations
    assert truck.sources == ["a", "c"] and rain.sources is None
    assert frame_to_record(back) == frame_to_record(group)


def test_one_source_record_with_a_custom_source_id() -> None:
    record = frame_to_record(SingleFrame(source="s3://b/a.jpg", source_id="Frame"))
    back = record_to_frame(record)
    assert isinstance(back, SingleFrame) and back.source_id == "Frame"
    assert frame_to_record(back) == record


def test_a_group_of_one_member_reads_back_as_a_group() -> None:
    group = FrameGroup()
    group["left"] = SingleFrame(source="s3://b/l.jpg", metadata={"cam": "L"})
    group["left"].add_annotation(box2d_xywh=[0, 0, 1, 1], labels=["car"])
    group.metadata = {"rig": 1}
    record, data = frame_record_bytes(group)
    for back in (record_to_frame(record), frame_from_bytes(data)):
        assert isinstance(back, FrameGroup) and back == group
        assert back.metadata == {"rig": 1} and back["left"].metadata == {"cam": "L"}
        assert back["left"].annotations[0].labels == ["car"]


def test_a_single_frame_with_its_own_source_id_and_metadata_stays_single() -> None:
    frame = SingleFrame(source="s3://b/a.jpg", source_id="Frame", metadata={"Frame": 1, "k": {}})
    record, data = frame_record_bytes(frame)
    for back in (record_to_frame(record), frame_from_bytes(data)):
        assert isinstance(back, SingleFrame) and back == frame


def test_same_uri_twice_is_the_same_frame() -> None:
    first = frame_to_record(SingleFrame(source="s3://b/a.jpg", metadata={"v": 1}))
    again = frame_to_record(SingleFrame(source="s3://b/a.jpg", metadata={"v": 2}))
    assert first["id"] == again["id"]


def test_encoding_is_canonical() -> None:
    record = frame_to_record(annotated())
    reordered = {k: record[k] for k in reversed(list(record))}
    reordered["sources"] = [{k: s[k] for k in reversed(list(s))} for s in record["sources"]]
    assert encode_record(reordered) == encode_record(record)
    assert encode_record(record) == encode(record)


def test_minus_zero_has_one_encoding() -> None:
    a = SingleFrame(source="s3://b/a.jpg", metadata={"x": -0.0})
    b = SingleFrame(source="s3://b/a.jpg", metadata={"x": 0.0})
    a.add_annotation(keypoints=[-0.0, 1])
    b.add_annotation(keypoints=[0.0, 1])
    assert encode_record(frame_to_record(a)) == encode_record(frame_to_record(b))


def good() -> dict[str, Any]:
    return frame_to_record(annotated())


def broken(change: str) -> dict[str, Any]:
    r = good()
    src, roi = r["sources"][0], r["rois"][0]
    edits: dict[str, Callable[[], object]] = {
        "no id": lambda: r.pop("id"),
        "id int": lambda: r.update(id=5),
        "no sources": lambda: r.pop("sources"),
        "empty sources": lambda: r.update(sources=[]),
        "unknown field": lambda: r.update(blob="x"),
        "source no uri": lambda: src.pop("uri"),
        "source width str": lambda: src.update(width="640"),
        "source unknown": lambda: src.update(color="red"),
        "dup source ids": lambda: r["sources"].append(dict(src)),
        "preview no uri": lambda: src["preview"].pop("uri"),
        "mask no id": lambda: src["masks"][0].pop("id"),
        "meta dotted": lambda: r["meta"].update({"a.b": 1}),
        "meta list": lambda: r.update(meta=[1]),
        "roi no label": lambda: roi.pop("label"),
        "roi label str": lambda: roi.update(label="car"),
        "roi odd poly": lambda: roi.update(poly=[1.0, 2.0, 3.0]),
        "roi box 6": lambda: roi.update(poly=[1.0] * 6),
        "roi poly str": lambda: roi.update(poly=["1"] * 8),
        "roi conf": lambda: roi.update(confidence=2),
        "roi bad source": lambda: roi.update(sources=["nope"]),
        "roi kind": lambda: roi["meta"].update(_type="hexagon"),
        "roi id mismatch": lambda: roi["meta"].update(_id="other"),
        "roi mask": lambda: roi.update(mask={"id": "00"}),
        "timestamp str": lambda: r.update(timestamp="0"),
        "context int": lambda: r.update(context_id=1),
    }
    edits[change]()
    return r


CHANGES = ["no id", "id int", "no sources", "empty sources", "unknown field", "source no uri",
           "source width str", "source unknown", "dup source ids", "preview no uri",
           "mask no id", "meta dotted", "meta list", "roi no label", "roi label str",
           "roi odd poly", "roi box 6", "roi poly str", "roi conf", "roi bad source",
           "roi kind", "roi id mismatch", "roi mask", "timestamp str", "context int"]


@pytest.mark.parametrize("change", CHANGES)
def test_malformed_records_raise_format_error(change: str) -> None:
    bad = broken(change)
    with pytest.raises(FormatError):
        decode_record(encode(bad))
    with pytest.raises(FormatError):
        record_to_frame(bad)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\x81\x01\x02", b"\xa3abc\x00"])
def test_garbage_bytes_raise_format_error(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode_record(data)


def test_oversized_record() -> None:
    frame = SingleFrame(source="s3://b/a.jpg", metadata={"blob": b"x" * (17 * 1024 * 1024)})
    with pytest.raises(ObjectTooLargeError):
        encode_record(frame_to_record(frame))
    with pytest.raises(ObjectTooLargeError):
        decode_record(b"\x80" * (17 * 1024 * 1024))


def test_decode_without_validation_still_needs_a_map() -> None:
    assert decode_record(encode_record(good()), validate=False) == good()
    with pytest.raises(FormatError):
        decode_record(encode([1, 2]), validate=False)
