"""The record form of a frame: the wire dict stored in a version's tree, and its bytes.

``frame_to_record`` turns a SingleFrame or a FrameGroup into a plain dict in the
Hyper-Datasets wire schema (see ``vstore.model.schema``); ``encode_record`` gives
its one canonical msgpack form, so equal frames give equal bytes and equal tree
ids. ``decode_record`` and ``record_to_frame`` go back, checking the schema.

Every record holds ``id``, ``sources``, ``rois``, ``meta``, ``context_id`` and
``timestamp``; each source holds ``id``, ``uri`` and ``timestamp`` and the other
fields only when set. Defaults are filled in, so a record read back and written
again is byte-identical:

- ``id``: derived from the source URIs when the frame has none;
- ``context_id``: the first source URI;
- ``timestamp``: the first source's timestamp (0 for images).
"""

from __future__ import annotations

from typing import Any

import msgspec

from vstore.engine.codec import decode, encode
from vstore.errors import FormatError, InvalidArgumentError, ObjectTooLargeError
from vstore.model.frame import (
    DEFAULT_SOURCE_ID,
    SingleFrame,
    single_from_record,
    single_from_wire,
    single_record,
)
from vstore.model.group import FrameGroup, group_from_record, group_record
from vstore.model.schema import validate_record

__all__ = [
    "MAX_RECORD_SIZE",
    "Frame",
    "decode_record",
    "encode_record",
    "frame_from_bytes",
    "frame_record_bytes",
    "frame_to_record",
    "record_to_frame",
    "validate_record",
]

Frame = SingleFrame | FrameGroup
# A frame record lives inline in a tree leaf; anything larger is a mistake
# (a whole image in metadata, say) and is refused before it reaches the store.
MAX_RECORD_SIZE = 16 * 1024 * 1024
# Bytes that encode_record wrote hold only maps with str keys, lists and scalars, which
# msgspec decodes to the same values as msgpack in about half the time.
_decode_trusted = msgspec.msgpack.Decoder(dict[str, Any]).decode


def frame_to_record(frame: Frame) -> dict[str, Any]:
    """Return the record (wire dict) of a frame.

    The record shares no mutable container with the frame.

    Args:
        frame: a SingleFrame or a FrameGroup.

    Returns:
        ``{id, sources, rois, meta, context_id, timestamp}``.

    Raises:
        UsageError: the frame has no source URI, or a FrameGroup has no member.
        InvalidArgumentError: not a frame, or metadata or annotations that were
            changed to invalid values after they were set.
    """
    if type(frame) is SingleFrame:
        return single_record(frame)
    if isinstance(frame, FrameGroup):
        return group_record(frame)
    if isinstance(frame, SingleFrame):
        return single_record(frame)
    raise InvalidArgumentError(
        f"expected a SingleFrame or a FrameGroup, not {type(frame).__name__}"
    )


def frame_record_bytes(frame: Frame) -> tuple[dict[str, Any], bytes]:
    """Return a frame's record and its canonical bytes, for a write made at once.

    The bytes are those of ``encode_record(frame_to_record(frame))`` and the same checks
    apply, but a SingleFrame's record is not a private copy: it may hold the frame's
    own labels lists and points, so read it before the frame changes and do not change
    it. Bulk writes use it: no copy of each annotation's labels, points and sources.

    Raises:
        The errors of :func:`frame_to_record` and :func:`encode_record`.
    """
    if type(frame) is SingleFrame:
        record = single_record(frame, shared=True)
    else:
        record = frame_to_record(frame)
    return record, encode_record(record)


def record_to_frame(
    record: dict[str, Any], *, validate: bool = True, owned: bool = False
) -> Frame:
    """Build a frame from a record.

    A record with one source becomes a SingleFrame (whose ``source_id`` is that
    source's id), a record with several a FrameGroup keyed by source id. So does a
    FrameGroup of one member (see :func:`one_member_group`).

    Args:
        record: a record, e.g. from :func:`decode_record` or :func:`frame_to_record`.
            It is neither modified nor shared with the frame.
        validate: check the schema first; pass False only for a record that
            :func:`decode_record` or :func:`frame_to_record` just produced.
        owned: the caller gives the record away (one just decoded): the frame may
            keep its containers instead of copying them.

    Returns:
        The frame.

    Raises:
        FormatError: the record does not follow the schema.
    """
    if validate:
        validate_record(record)
    sources = record["sources"]
    if len(sources) == 1 and not one_member_group(sources[0]["id"], record.get("meta")):
        return single_from_record(record, owned=owned)
    return group_from_record(record)


def one_member_group(source_id: str, meta: dict[str, Any] | None) -> bool:
    """Whether a record with one source is a FrameGroup of one member.

    A group stores each member's metadata as a dict under the member's name, which is
    also its source id, while a SingleFrame's source id is ``"default"`` unless it was
    given another. So a one-source record is a group when its source id is not
    ``"default"`` and its metadata holds a dict under that id. (A SingleFrame given both
    a source id of its own and a metadata dict under that same key reads back as the
    group it is stored exactly like.)
    """
    return (
        source_id != DEFAULT_SOURCE_ID
        and meta is not None
        and isinstance(meta.get(source_id), dict)
    )


def encode_record(record: dict[str, Any]) -> bytes:
    """Return the canonical msgpack bytes of a record.

    Map keys are written in sorted order, so two equal records give equal bytes
    whatever their insertion order. The record is not validated again (it comes
    from :func:`frame_to_record`); only its size is checked.

    Args:
        record: a record.

    Returns:
        The canonical bytes.

    Raises:
        InvalidArgumentError: a value canonical msgpack cannot hold.
        ObjectTooLargeError: the encoded record is over :data:`MAX_RECORD_SIZE`.
    """
    data = encode(record)
    if len(data) > MAX_RECORD_SIZE:
        raise ObjectTooLargeError(
            f"frame record {record.get('id')!r} is {len(data)} bytes, over the "
            f"{MAX_RECORD_SIZE}-byte limit; keep large data in source files, not metadata"
        )
    return data


class _WireRoi(msgspec.Struct, gc=False):
    label: list[str]
    poly: tuple[int | float, ...] | None = None
    meta: dict[str, Any] | None = None
    confidence: float | None = None
    id: str | msgspec.UnsetType | None = msgspec.UNSET
    mask: dict[str, Any] | None = None


class _WireSource(msgspec.Struct, gc=False):
    id: str
    uri: str
    timestamp: int = 0
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    meta: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None
    masks: list[dict[str, Any]] | None = None


class _WireRecord(msgspec.Struct, gc=False):
    id: str
    sources: list[_WireSource]
    rois: list[_WireRoi] | None = None
    meta: dict[str, Any] | None = None
    context_id: str | None = None


# Typed structs (unknown fields skipped, ROI sources not read): a stored one-source record
# becomes a SingleFrame in about two thirds of the work of a dict decode and its copy.
_decode_wire = msgspec.msgpack.Decoder(_WireRecord).decode


def frame_from_bytes(data: bytes) -> Frame:
    """The frame of record bytes read from a hash-verified object that
    :func:`encode_record` wrote: ``record_to_frame(decode_record(data, validate=False),
    validate=False, owned=True)``, faster.

    Raises:
        FormatError: the bytes are not a record.
    """
    if len(data) <= MAX_RECORD_SIZE:
        try:
            rec = _decode_wire(data)
        except (ValueError, RecursionError):
            pass  # types the structs do not fit: the dict path says what is wrong, if anything
        else:
            sources = rec.sources
            if len(sources) == 1 and (
                sources[0].id == DEFAULT_SOURCE_ID or not one_member_group(sources[0].id, rec.meta)
            ):
                return single_from_wire(rec)
            # A FrameGroup, which the dict path builds.
    return record_to_frame(decode_record(data, validate=False), validate=False, owned=True)


def decode_record(data: bytes | memoryview, *, validate: bool = True) -> dict[str, Any]:
    """Decode record bytes and check the schema.

    Args:
        data: bytes from :func:`encode_record`.
        validate: check the schema; pass False only for bytes read from a
            hash-verified object that :func:`encode_record` wrote.

    Returns:
        The record.

    Raises:
        FormatError: the bytes are not msgpack, or not a record.
        ObjectTooLargeError: more than :data:`MAX_RECORD_SIZE` bytes.
    """
    if not validate and len(data) <= MAX_RECORD_SIZE:
        try:
            return _decode_trusted(data)
        except (ValueError, RecursionError):
            pass  # the general decoder below raises its own error for these bytes
    try:
        value = decode(data, limit=MAX_RECORD_SIZE)
    except ObjectTooLargeError:
        raise
    except ValueError as exc:
        raise FormatError(f"frame record bytes are not valid msgpack: {exc}") from None
    if validate:
        return validate_record(value)
    if type(value) is not dict:
        raise FormatError(f"a frame record must be a map, not {type(value).__name__}")
    return value
