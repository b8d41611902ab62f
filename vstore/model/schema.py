"""The record schema: what a stored frame record may hold, checked field by field.

A record is the wire frame of the Hyper-Datasets server schema::

    {id, sources: [{id, uri, content_type, width, height, timestamp, meta, preview,
                    masks: [{id, uri, content_type, width, height, timestamp}]}],
     rois: [{label: [str], poly: [number], confidence, id, sources: [str], meta,
             mask: {id, value: [int]}}],
     meta, context_id, timestamp}

``preview`` is ``{uri, content_type, width, height, timestamp}``. Unknown fields
are refused, so a typo never reaches a published version.
"""

from __future__ import annotations

import math
from typing import Any

from vstore.errors import FormatError, InvalidArgumentError
from vstore.model.annotation import check_shape
from vstore.model.identity import frame_key
from vstore.model.validation import check_confidence, check_int, check_meta, check_str

__all__ = [
    "MASK_FIELDS",
    "PREVIEW_FIELDS",
    "RECORD_FIELDS",
    "ROI_FIELDS",
    "SOURCE_FIELDS",
    "validate_record",
]

RECORD_FIELDS = frozenset({"id", "sources", "rois", "meta", "context_id", "timestamp"})
SOURCE_FIELDS = frozenset(
    {"id", "uri", "content_type", "width", "height", "timestamp", "meta", "preview", "masks"}
)
PREVIEW_FIELDS = frozenset({"uri", "content_type", "width", "height", "timestamp"})
MASK_FIELDS = frozenset({"id", "uri", "content_type", "width", "height", "timestamp"})
ROI_FIELDS = frozenset({"label", "poly", "confidence", "id", "sources", "meta", "mask"})
_ROI_MASK_FIELDS = frozenset({"id", "value"})


def validate_record(record: object) -> dict[str, Any]:
    """Check that ``record`` follows the record schema.

    Args:
        record: a decoded record.

    Returns:
        ``record`` itself, unchanged.

    Raises:
        FormatError: a missing, unknown or ill-typed field, or inconsistent ROIs
            (an unknown source id, a shape that does not fit its kind).
    """
    try:
        _record(record)
    except InvalidArgumentError as exc:
        raise FormatError(f"malformed frame record: {exc}") from None
    assert isinstance(record, dict)
    return record


def _fields(value: object, allowed: frozenset[str], what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise InvalidArgumentError(f"{what} must be a map, not {type(value).__name__}")
    extra = value.keys() - allowed
    if extra:
        shown = sorted(str(k) for k in extra)
        raise InvalidArgumentError(f"{what} has unknown fields {shown}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if type(value) is not list:
        raise InvalidArgumentError(f"{what} must be a list, not {type(value).__name__}")
    return value


def _media(d: dict[str, Any], what: str, required: tuple[str, ...]) -> None:
    for key in required:
        if key not in d:
            raise InvalidArgumentError(f"{what}.{key} is missing")
    for key in ("id", "uri", "content_type"):
        if key in d:
            check_str(d[key], f"{what}.{key}")
    for key in ("width", "height", "timestamp"):
        if key in d:
            check_int(d[key], f"{what}.{key}", minimum=0 if key != "timestamp" else None)


def _record(record: object) -> None:
    rec = _fields(record, RECORD_FIELDS, "record")
    if "id" not in rec:
        raise InvalidArgumentError("record.id is missing")
    frame_key(rec["id"])
    if "sources" not in rec:
        raise InvalidArgumentError("record.sources is missing")
    sources = _list(rec["sources"], "record.sources")
    if not sources:
        raise InvalidArgumentError("record.sources is empty; a frame has at least one source")
    ids = [_source(s, f"sources[{i}]") for i, s in enumerate(sources)]
    if len(set(ids)) != len(ids):
        raise InvalidArgumentError(f"record.sources has duplicate ids {ids}")
    if "meta" in rec:
        meta = check_meta(rec["meta"], "meta")  # {} for None
        if len(ids) > 1:
            for sid in ids:
                if sid in meta and type(meta[sid]) is not dict:
                    raise InvalidArgumentError(f"meta.{sid} (member metadata) must be a map")
    if "context_id" in rec:
        check_str(rec["context_id"], "context_id")
    if "timestamp" in rec:
        check_int(rec["timestamp"], "timestamp", minimum=None)
    known = set(ids)
    for i, roi in enumerate(_list(rec.get("rois", []), "record.rois")):
        _roi(roi, f"rois[{i}]", known)


def _source(value: object, what: str) -> str:
    src = _fields(value, SOURCE_FIELDS, what)
    _media(src, what, ("id", "uri"))
    if "meta" in src:
        check_meta(src["meta"], f"{what}.meta")
    if "preview" in src:
        _media(_fields(src["preview"], PREVIEW_FIELDS, f"{what}.preview"),
               f"{what}.preview", ("uri",))
    if "masks" in src:
        for j, mask in enumerate(_list(src["masks"], f"{what}.masks")):
            _media(_fields(mask, MASK_FIELDS, f"{what}.masks[{j}]"),
                   f"{what}.masks[{j}]", ("id", "uri"))
    sid: str = src["id"]
    return sid


def _roi(value: object, what: str, source_ids: set[str]) -> None:
    roi = _fields(value, ROI_FIELDS, what)
    if "label" not in roi:
        raise InvalidArgumentError(f"{what}.label is missing")
    for label in _list(roi["label"], f"{what}.label"):
        check_str(label, f"{what}.label")
    for sid in _list(roi.get("sources", []), f"{what}.sources"):
        if type(sid) is not str or sid not in source_ids:
            raise InvalidArgumentError(f"{what}.sources names {sid!r}, which is not a source")
    if "confidence" in roi:
        check_confidence(roi["confidence"], f"{what}.confidence")
    meta = check_meta(roi.get("meta"), f"{what}.meta")
    kind = meta.get("_type")
    if kind is not None and type(kind) is not str:
        raise InvalidArgumentError(f"{what}.meta._type must be a str")
    if "id" in roi:
        check_str(roi["id"], f"{what}.id")
        if "_id" in meta and meta["_id"] != roi["id"]:
            raise InvalidArgumentError(f"{what}.id and {what}.meta._id differ")
    poly = None
    if "poly" in roi:
        poly = _list(roi["poly"], f"{what}.poly")
        for x in poly:
            t = type(x)
            if not ((t is float and math.isfinite(x)) or t is int):
                raise InvalidArgumentError(f"{what}.poly holds {x!r}, not a number")
    if "mask" in roi:
        mask = _fields(roi["mask"], _ROI_MASK_FIELDS, f"{what}.mask")
        if "id" not in mask or "value" not in mask:
            raise InvalidArgumentError(f"{what}.mask needs id and value")
        check_str(mask["id"], f"{what}.mask.id")
        for v in _list(mask["value"], f"{what}.mask.value"):
            check_int(v, f"{what}.mask.value")
    try:
        check_shape(kind, poly, "mask" in roi)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{what}: {exc}") from None
