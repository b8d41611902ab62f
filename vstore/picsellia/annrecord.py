"""Annotations inside a frame record: reading them, and pure edits that return a new record.

An asset holds several annotations. Their own fields (id, worker, status, creation time,
duration, attributes) live in the frame's ``meta._annotations`` list, in creation order;
their shapes are ROIs whose ``meta._annotation`` names them (see ``vstore.picsellia.shapes``).
ROIs that name no annotation (every ROI a Hyper-Datasets user writes) form the frame's
*implicit* annotation, whose id is derived from the frame id and whose creation time is 0:
it is always the oldest. It exists while it has a shape, or once it has an entry.

The edits never modify the record they get: they return a copy that shares the parts
they leave alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import blake3

from vstore.engine.codec import encode
from vstore.errors import NotFoundError
from vstore.picsellia.enums import AnnotationStatus
from vstore.picsellia.record import KEY_ANNOTATIONS, first_source
from vstore.picsellia.shapes import (
    ROI_KEYS,
    ShapeState,
    roi_from_shape,
    shape_from_roi,
    shape_kind,
)

__all__ = [
    "AnnotationState",
    "entry_state",
    "group_shapes",
    "implicit_id",
    "new_entry",
    "newest",
    "read_annotations",
    "shape_ids",
    "with_entry",
    "with_entry_fields",
    "with_shape_edit",
    "with_shapes",
    "without_annotations",
]

T = TypeVar("T")


@dataclass(slots=True)
class AnnotationState:
    """One annotation of an asset as stored.

    Attributes:
        id: the annotation id.
        worker: the user who made it, or None.
        status: an :class:`AnnotationStatus` value.
        created: creation time (unix seconds; 0 for the implicit annotation).
        duration: time spent annotating, in seconds.
        attributes: free-form attributes, or None.
        shapes: its shapes, in ROI order.
        listed: it has an entry in ``meta._annotations``.
    """

    id: str
    worker: str | None = None
    status: str = AnnotationStatus.PENDING.value
    created: float = 0.0
    duration: float = 0.0
    attributes: dict[str, Any] | None = None
    shapes: list[ShapeState] = field(default_factory=list)
    listed: bool = False


def _derived(*parts: object) -> str:
    return blake3.blake3(encode(list(parts))).hexdigest()[:32]


def implicit_id(frame_id: str) -> str:
    """The id of a frame's implicit annotation (the ROIs that name no annotation)."""
    return _derived("annotation", frame_id)


def shape_ids(record: dict[str, Any]) -> list[str]:
    """The shape id of each ROI: its ``id`` when unique in the frame, else a derived one."""
    rois = record.get("rois") or []
    counts: dict[str, int] = {}
    for roi in rois:
        rid = roi.get("id")
        if isinstance(rid, str):
            counts[rid] = counts.get(rid, 0) + 1
    out = []
    for i, roi in enumerate(rois):
        rid = roi.get("id")
        if isinstance(rid, str) and counts[rid] == 1:
            out.append(rid)
        else:
            out.append(_derived("shape", record["id"], i, roi))
    return out


def _entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    value = (record.get("meta") or {}).get(KEY_ANNOTATIONS)
    return [e for e in value if isinstance(e, dict) and isinstance(e.get("id"), str)] if isinstance(
        value, list) else []


def entry_state(entry: dict[str, Any] | None, annotation_id: str) -> AnnotationState:
    """The fields of an annotation (without shapes) from its entry, or None for one without."""
    return AnnotationState(annotation_id) if entry is None else _state(entry)


def _state(entry: dict[str, Any]) -> AnnotationState:
    worker = entry.get("worker")
    status = entry.get("status")
    attributes = entry.get("attributes")
    return AnnotationState(
        entry["id"],
        worker if isinstance(worker, str) else None,
        status if isinstance(status, str) and status in AnnotationStatus.__members__
        else AnnotationStatus.PENDING.value,
        float(entry.get("created") or 0.0),
        float(entry.get("duration") or 0.0),
        attributes if isinstance(attributes, dict) else None,
        [],
        True,
    )


def group_shapes(
    record: dict[str, Any], make: Callable[[dict[str, Any], str, int, str], T]
) -> list[tuple[dict[str, Any] | None, str, list[T]]]:
    """Group a record's shape ROIs by annotation, oldest annotation first.

    Args:
        record: the frame record.
        make: ``make(roi, kind, roi index, annotation id)`` builds what is kept per shape.

    Returns:
        ``(entry or None, annotation id, shapes)`` per annotation: first those without an
        entry (the implicit one and any a ROI names without an entry: creation time 0),
        then the listed ones by creation time (ties keep their list order).
    """
    listed: dict[str, tuple[dict[str, Any], list[T]]] = {e["id"]: (e, []) for e in _entries(record)}
    unlisted: dict[str, list[T]] = {}
    implicit: str | None = None
    for i, roi in enumerate(record.get("rois") or ()):
        kind = shape_kind(roi)
        if kind is None:
            continue
        meta = roi.get("meta")
        aid = meta.get("_annotation") if meta else None
        if aid.__class__ is not str:
            implicit = implicit or implicit_id(record["id"])
            aid = implicit
        shape = make(roi, kind, i, aid)
        group = listed.get(aid)
        if group is not None:
            group[1].append(shape)
        else:
            unlisted.setdefault(aid, []).append(shape)
    ordered = list(listed.items())
    if len(ordered) > 1:
        ordered.sort(key=lambda kv: float(kv[1][0].get("created") or 0.0))
    return [
        *((None, aid, shapes) for aid, shapes in unlisted.items()),
        *((entry, aid, shapes) for aid, (entry, shapes) in ordered),
    ]


def read_annotations(record: dict[str, Any]) -> list[AnnotationState]:
    """The annotations of a record with their shapes, oldest first (the newest is the last)."""
    ids: list[str] = []

    def make(roi: dict[str, Any], kind: str, i: int, aid: str) -> ShapeState:
        if not ids:
            ids.extend(shape_ids(record))
        return shape_from_roi(roi, kind, ids[i], aid)

    out = []
    for entry, aid, shapes in group_shapes(record, make):
        state = entry_state(entry, aid)
        state.shapes = shapes
        out.append(state)
    return out


def newest(annotations: list[AnnotationState]) -> AnnotationState | None:
    """The annotation used where only one is: the last created."""
    return annotations[-1] if annotations else None


def new_entry(
    worker: str | None,
    status: AnnotationStatus,
    duration: float = 0.0,
    attributes: dict[str, Any] | None = None,
    annotation_id: str | None = None,
) -> dict[str, Any]:
    """A ``meta._annotations`` entry for a new annotation created now."""
    import uuid

    entry: dict[str, Any] = {
        "id": annotation_id or uuid.uuid4().hex,
        "worker": worker,
        "status": status.value,
        "created": time.time(),
        "duration": float(duration),
    }
    if attributes:
        entry["attributes"] = attributes
    return entry


def _with_meta(record: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    meta = dict(record.get("meta") or {})
    if entries:
        meta[KEY_ANNOTATIONS] = entries
    else:
        meta.pop(KEY_ANNOTATIONS, None)
    return {**record, "meta": meta}


def with_entry(record: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The record with one more annotation entry (its newest annotation)."""
    return _with_meta(record, [*_entries(record), entry])


def _find(record: dict[str, Any], annotation_id: str) -> AnnotationState:
    for state in read_annotations(record):
        if state.id == annotation_id:
            return state
    if annotation_id == implicit_id(record["id"]):
        return AnnotationState(annotation_id)
    raise NotFoundError(f"asset {record['id']!r} has no annotation {annotation_id!r}")


def with_entry_fields(
    record: dict[str, Any], annotation_id: str, **fields: Any
) -> dict[str, Any]:
    """The record with some fields of one annotation changed (an entry is made if needed).

    Raises:
        NotFoundError: the asset has no such annotation.
    """
    state = _find(record, annotation_id)
    entries = _entries(record)
    for i, entry in enumerate(entries):
        if entry["id"] == annotation_id:
            entries[i] = {**entry, **fields}
            return _with_meta(record, entries)
    entry = {"id": annotation_id, "worker": state.worker, "status": state.status,
             "created": state.created, "duration": state.duration, **fields}
    return _with_meta(record, [entry, *entries])


def _annotation_of(roi: dict[str, Any], implicit: str) -> str | None:
    """The annotation a ROI's shape belongs to, or None for a ROI that is no shape."""
    if shape_kind(roi) is None:
        return None
    aid = (roi.get("meta") or {}).get("_annotation")
    return aid if isinstance(aid, str) else implicit


def _keep_rois(
    record: dict[str, Any], drop: Callable[[dict[str, Any], str | None], bool]
) -> list[dict[str, Any]]:
    implicit = implicit_id(record["id"])
    return [r for r in record.get("rois") or [] if not drop(r, _annotation_of(r, implicit))]


def without_annotations(
    record: dict[str, Any], annotation_ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """The record without some annotations (all when ``annotation_ids`` is None) and their shapes.

    ROIs that are not shapes (ellipses, 3D shapes, pixel masks) are kept.
    """
    ids = None if annotation_ids is None else set(annotation_ids)
    rois = _keep_rois(record, lambda _r, aid: aid is not None and (ids is None or aid in ids))
    entries = [] if ids is None else [e for e in _entries(record) if e["id"] not in ids]
    return {**_with_meta(record, entries), "rois": rois}


def with_shapes(
    record: dict[str, Any], annotation_id: str, shapes: list[ShapeState], *, replace: bool
) -> dict[str, Any]:
    """The record with shapes added to one annotation (or replacing its shapes).

    Raises:
        NotFoundError: the asset has no such annotation.
    """
    _find(record, annotation_id)
    rois = record.get("rois") or []
    if replace:
        rois = _keep_rois(record, lambda _r, aid: aid == annotation_id)
    implicit = annotation_id == implicit_id(record["id"])
    sid = first_source(record)["id"]
    new = [roi_from_shape(s, sid, implicit) for s in shapes]
    return {**record, "rois": [*rois, *new]}


def with_shape_edit(
    record: dict[str, Any], shape_id: str, shape: ShapeState | None
) -> dict[str, Any]:
    """The record with one shape replaced by ``shape`` (or removed when it is None).

    Raises:
        NotFoundError: the asset has no such shape.
    """
    rois = list(record.get("rois") or [])
    for i, sid in enumerate(shape_ids(record)):
        if sid == shape_id and shape_kind(rois[i]) is not None:
            if shape is None:
                del rois[i]
            else:
                rois[i] = _replacement(record, rois[i], shape)
            return {**record, "rois": rois}
    raise NotFoundError(f"asset {record['id']!r} has no shape {shape_id!r}; it was deleted")


def _replacement(
    record: dict[str, Any], old: dict[str, Any], shape: ShapeState
) -> dict[str, Any]:
    """The ROI of an edited shape; what the old ROI held beyond the shape is kept."""
    implicit = shape.annotation_id == implicit_id(record["id"])
    roi = roi_from_shape(shape, first_source(record)["id"], implicit)
    owned = ROI_KEYS | {"_type", "_id"}
    extra = {k: v for k, v in (old.get("meta") or {}).items() if k not in owned}
    roi["meta"] = {**extra, **roi["meta"]}
    roi["sources"] = old.get("sources") or roi["sources"]
    if "confidence" in old:
        roi["confidence"] = old["confidence"]
    return roi
