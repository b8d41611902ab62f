"""Hypothesis properties of the record form: round trips, canonical bytes, safe decoding."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    project,
    record_to_frame,
    validate_record,
)
from vstore.model.record import frame_from_bytes

# Example counts come from the active profile (tests/conftest.py: ci, or deep).
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.text(st.characters(exclude_characters="$.", exclude_categories=["Cs"]),
               max_size=6)
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False) | st.text(max_size=8) | st.binary(max_size=6))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(keys, inner, max_size=3), max_leaves=8)
metadata = st.dictionaries(keys, values, max_size=4)
uris = st.builds("s3://bucket/{}.jpg".format, st.text("abcdef0123/", min_size=1, max_size=12))
small_ints = st.integers(0, 10_000)
coords = st.floats(-1e6, 1e6, allow_nan=False)
labels = st.lists(st.text(min_size=1, max_size=6), max_size=3)


@st.composite
def annotation_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["box", "poly", "ellipse", "keypoints", "mask", "labels"]))
    kwargs: dict[str, Any] = {"labels": draw(labels) or ["x"]}
    if shape == "box":
        kwargs["box2d_xywh"] = [draw(coords), draw(coords), draw(small_ints), draw(small_ints)]
    elif shape == "poly":
        kwargs["poly2d_xy"] = draw(st.lists(st.tuples(coords, coords), min_size=3, max_size=5))
    elif shape == "ellipse":
        kwargs["ellipse2d_xyrrt"] = draw(st.lists(coords, min_size=5, max_size=5))
    elif shape == "keypoints":
        kwargs["keypoints"] = draw(st.lists(coords, min_size=1, max_size=3).map(lambda c: c * 2))
    elif shape == "mask":
        kwargs["mask_rgb"] = draw(st.lists(st.integers(0, 255), min_size=3, max_size=3))
    kwargs["confidence"] = draw(st.none() | st.floats(0, 1))
    kwargs["metadata"] = draw(st.none() | metadata.map(
        lambda m: {k: v for k, v in m.items() if k not in ("_type", "_id")}))
    kwargs["id"] = draw(st.none() | st.text(min_size=1, max_size=5))
    return kwargs


@st.composite
def single_frames(draw: st.DrawFn) -> SingleFrame:
    frame = SingleFrame(
        id=draw(st.none() | st.text(min_size=1, max_size=10)),
        source=draw(uris),
        width=draw(st.none() | small_ints),
        height=draw(st.none() | small_ints),
        timestamp=draw(st.none() | small_ints),
        size=draw(st.none() | small_ints),
        hash=draw(st.none() | st.text(min_size=1, max_size=8)),
        preview_uri=draw(st.none() | uris),
        metadata=draw(metadata),
        masks_source=draw(st.none() | st.lists(uris, max_size=2)),
        context_id=draw(st.none() | st.text(min_size=1, max_size=8)),
        content_type=draw(st.none() | st.sampled_from(["image/jpeg", "video/mp4"])),
    )
    for kwargs in draw(st.lists(annotation_kwargs(), max_size=3)):
        frame.add_annotation(**kwargs)
    return frame


@st.composite
def frame_groups(draw: st.DrawFn) -> FrameGroup:
    names = draw(st.lists(st.text("abcxyz", min_size=1, max_size=4), min_size=2, max_size=3,
                          unique=True))
    group = FrameGroup({n: draw(single_frames()) for n in names},
                       id=draw(st.none() | st.text(min_size=1, max_size=8)))
    group.metadata.update({k: v for k, v in draw(metadata).items() if k not in names})
    for _ in range(draw(st.integers(0, 2))):
        members = draw(st.none() | st.lists(st.sampled_from(names), min_size=1, unique=True))
        group.add_annotation(labels=draw(labels), frame_ids=members)
    if draw(st.booleans()):
        group.add_global_annotation(Annotation(labels=draw(labels), confidence=1.0))
    return group


frames = single_frames() | frame_groups()


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@SETTINGS
@given(frames)
def test_frame_record_frame_keeps_everything(frame: SingleFrame | FrameGroup) -> None:
    record = frame_to_record(frame)
    back = record_to_frame(record)
    assert type(back) is type(frame)
    assert back == frame
    assert frame_to_record(back) == record
    assert back.id == frame.id and back.context_id == frame.context_id
    assert back.metadata == frame.metadata


@SETTINGS
@given(frames)
def test_record_bytes_record_is_identity(frame: SingleFrame | FrameGroup) -> None:
    record = frame_to_record(frame)
    data = encode_record(record)
    decoded = decode_record(data)
    assert decoded == record
    assert encode_record(decoded) == data


@SETTINGS
@given(frames)
def test_bulk_encoding_matches_the_record_path(frame: SingleFrame | FrameGroup) -> None:
    """What a bulk write stores is byte for byte what add_frames stores, and the
    frame is left as it was."""
    from vstore.datasets.bulk import raw_op
    from vstore.datasets.stats import packed_contribution

    before = frame_to_record(frame)
    record, data = frame_record_bytes(frame)
    assert data == encode_record(before)
    assert record["id"] == before["id"]
    assert packed_contribution(record) == packed_contribution(before)  # the stats it adds
    # What BulkContext.add_frame queues: the same bytes and the same stats contribution.
    assert raw_op(frame) == (before["id"], ("raw", (data, packed_contribution(before))))
    assert frame_to_record(frame) == before


@SETTINGS
@given(frames, st.randoms(use_true_random=False))
def test_encoding_ignores_insertion_order(frame: SingleFrame | FrameGroup,
                                          rng: random.Random) -> None:
    record = frame_to_record(frame)
    assert encode_record(shuffled(record, rng)) == encode_record(record)


@SETTINGS
@given(frames)
def test_every_record_passes_the_schema(frame: SingleFrame | FrameGroup) -> None:
    record = frame_to_record(frame)
    assert validate_record(record) is record


@SETTINGS
@given(frames, st.lists(st.sampled_from(["id", "sources", "rois", "meta", "context_id",
                                         "timestamp"]), unique=True))
def test_projecting_top_level_fields_is_a_sub_dict(frame: SingleFrame | FrameGroup,
                                                   fields: list[str]) -> None:
    record = frame_to_record(frame)
    assert project(record, fields) == {k: record[k] for k in fields}


@SETTINGS
@given(st.lists(uris, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_derived_id_depends_only_on_the_set_of_uris(items: list[str],
                                                    rng: random.Random) -> None:
    other = list(items)
    rng.shuffle(other)
    frame_id = derive_frame_id(items)
    assert frame_id == derive_frame_id(other)
    assert len(frame_id) == 32 and int(frame_id, 16) >= 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_format_error(data: bytes) -> None:
    try:
        record = decode_record(data)
    except (FormatError, ObjectTooLargeError):
        return
    record_to_frame(record)


@SETTINGS
@given(single_frames(), st.data())
def test_mutated_records_decode_or_raise_format_error(frame: SingleFrame,
                                                      data: st.DataObject) -> None:
    encoded = bytearray(encode_record(frame_to_record(frame)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        encoded[at] = data.draw(st.integers(0, 255))
    try:
        record = decode_record(bytes(encoded))
    except FormatError:
        return
    record_to_frame(record)


def _same_types(a: Any, b: Any) -> bool:
    """Equal values of the same types, at every depth (1 == 1.0 would not do)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or a != a


@SETTINGS
@given(frames)
def test_trusted_decoding_equals_the_checked_one(frame: SingleFrame | FrameGroup) -> None:
    data = encode_record(frame_to_record(frame))
    assert _same_types(decode_record(data, validate=False), decode_record(data))


@SETTINGS
@given(frames)
def test_frames_built_from_owned_records_equal_the_copying_build(
    frame: SingleFrame | FrameGroup,
) -> None:
    data = encode_record(frame_to_record(frame))
    owned = record_to_frame(decode_record(data, validate=False), validate=False, owned=True)
    copied = record_to_frame(decode_record(data))
    assert type(owned) is type(copied)
    assert owned == copied == frame
    assert _same_types(frame_to_record(owned), frame_to_record(copied))
    pairs = zip(owned.annotations, copied.annotations, strict=True)
    for a, b in pairs:
        assert repr(a._key()) == repr(b._key())
        assert a.sources == b.sources and a.metadata == b.metadata


@pytest.mark.parametrize("read", [
    lambda data: decode_record(data, validate=False),
    frame_from_bytes,  # what versions read frames with
], ids=["decode_record", "frame_from_bytes"])
@SETTINGS
@given(frame=single_frames(), data=st.data())
def test_trusted_decoding_of_damaged_bytes_raises_format_error(
    read: Any, frame: SingleFrame, data: st.DataObject
) -> None:
    encoded = encode_record(frame_to_record(frame))
    damaged = data.draw(st.sampled_from([
        encoded[: data.draw(st.integers(0, len(encoded) - 1))],  # truncated
        encoded + b"\x00",  # trailing bytes
        encode_record([frame_to_record(frame)]),  # not a map
        b"\xc1",  # never-used msgpack byte
    ]))
    with pytest.raises(FormatError):
        read(damaged)


def _slots(frame: SingleFrame | FrameGroup) -> list[str]:
    """A SingleFrame's every field, types included (1 and 1.0 print apart)."""
    if not isinstance(frame, SingleFrame):
        return [repr(frame_to_record(frame))]
    out = [repr(getattr(frame, s)) for s in SingleFrame.__slots__ if s != "_annotations"]
    return out + [repr((a._key(), a._sources)) for a in frame._annotations]


def _both_reads(data: bytes) -> tuple[SingleFrame | FrameGroup, SingleFrame | FrameGroup]:
    typed = frame_from_bytes(data)
    plain = record_to_frame(decode_record(data, validate=False), validate=False, owned=True)
    return typed, plain


@SETTINGS
@given(frames)
def test_frames_read_through_typed_structs_equal_the_dict_build(
    frame: SingleFrame | FrameGroup,
) -> None:
    """Versions read their frames through typed structs: every field comes back as the
    dict decode and build gives it, for any frame (groups go the dict way)."""
    typed, plain = _both_reads(encode_record(frame_to_record(frame)))
    assert type(typed) is type(plain) is type(frame)
    assert typed == plain == frame
    assert _slots(typed) == _slots(plain)


@SETTINGS
@given(single_frames(), st.data())
def test_records_the_typed_structs_do_not_fit_read_as_the_dict_build(
    frame: SingleFrame, data: st.DataObject
) -> None:
    """Stored records of other shapes (older or foreign writers) read exactly as before."""
    record = frame_to_record(frame)
    record["rois"].append({"label": ["z"], "poly": [1.5, 2.0, 3.0, 4.0]})
    roi, src = record["rois"][-1], record["sources"][0]
    change = data.draw(st.sampled_from([
        lambda: roi.update(id=None),  # an explicit nil id, not an absent one
        lambda: roi.update(poly=[1, 2.5, 3, 4]),  # integer points stay integers
        lambda: roi.update(confidence=1),  # an integer confidence becomes a float
        lambda: roi.update(extra={"kept": False}),  # an unknown field is ignored
        lambda: roi.update(label=[7]),  # a label of another type is kept as it is
        lambda: src.update(width=3.5),
        lambda: src.update(timestamp=None),
        lambda: record.update(rois=None),
        lambda: record.update(meta=None),
        lambda: record.update(sources=[src, {**src, "id": "second"}]),  # a group
    ]))
    change()
    typed, plain = _both_reads(encode_record(record))
    assert type(typed) is type(plain)
    assert _slots(typed) == _slots(plain)

