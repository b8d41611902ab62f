"""Picsellia shapes and the ROIs that store them.

Each shape of an annotation is one ROI of the frame record, so a shape written here reads
back through the Hyper-Datasets surface as an annotation, and most ROIs written there read
back here as shapes:

==================  ==========================  =============================================
shape               ROI ``meta._type``          ROI geometry and other reserved ``meta`` keys
==================  ==========================  =============================================
rectangle           ``b2d``                     4 corners in ``poly``
polygon             ``p2d`` (or none, w/ poly)  ``poly`` = ``x0, y0, x1, y1, ...``
line                ``p2d``                     ``poly``; ``_shape = "line"``
point               ``k2d``                     ``poly = [x, y]``; ``_shape = "point"``
keypoints           ``k2d``                     ``poly``; ``_shape = "keypoints"``, ``_visibility``
classification      none                        no ``poly`` (a Hyper-Datasets frame label)
mask                none                        ``_shape = "mask"``, ``_rle``, ``_area``, ``_bbox``
==================  ==========================  =============================================

Every shape ROI also holds ``label = [name]``, ``id`` (the shape id, repeated in
``meta._id`` as the Hyper-Datasets SDK does), ``meta._annotation`` (its annotation, absent for
the frame's implicit annotation), and ``meta._text`` / ``meta._attributes`` when set. ROIs of
other kinds (ellipses, 3D shapes, pixel masks) are not shapes here and are left untouched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vstore.errors import InvalidArgumentError, WrongTypeError
from vstore.model.validation import check_meta

__all__ = [
    "KINDS",
    "PLURALS",
    "ROI_KEYS",
    "ShapeState",
    "check_geometry",
    "kind_of",
    "num",
    "roi_from_shape",
    "shape_from_roi",
    "shape_kind",
]

KINDS = ("rectangle", "polygon", "line", "point", "keypoints", "classification", "mask")
PLURALS = {
    "rectangle": "rectangles",
    "polygon": "polygons",
    "line": "lines",
    "point": "points",
    "keypoints": "keypoints",
    "classification": "classifications",
    "mask": "masks",
}
ROI_KEYS = frozenset(
    {"_annotation", "_shape", "_text", "_attributes", "_visibility", "_rle", "_area", "_bbox",
     "_object"}
)
_MARKED = {"line": "p2d", "point": "k2d", "keypoints": "k2d", "mask": None}


@dataclass(frozen=True, slots=True)
class ShapeState:
    """One shape as stored: kind, ids, label, geometry and extras.

    Attributes:
        kind: one of :data:`KINDS`.
        id: the shape id.
        annotation_id: the annotation the shape belongs to.
        label: the label name (None for a ROI without labels).
        geometry: the checked geometry (see :func:`check_geometry`).
        text: OCR text, or None.
        attributes: free-form attributes, or None.
        object_id: the object id an import read (a COCO annotation id), kept for exports.
    """

    kind: str
    id: str
    annotation_id: str
    label: str | None
    geometry: Any
    text: str | None = None
    attributes: dict[str, Any] | None = None
    object_id: int | str | None = None


def num(value: float) -> int | float:
    """A stored coordinate as the user sees it: an int when it is integral."""
    return int(value) if float(value).is_integer() else float(value)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WrongTypeError(f"{what} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InvalidArgumentError(f"{what} must be finite, got {value!r}")
    return out


def _points(value: object, dim: int, least: int, what: str) -> list[list[float]]:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
        raise WrongTypeError(f"{what} must be a list of points, got {type(value).__name__}")
    out = []
    for i, point in enumerate(value):
        if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != dim:
            raise InvalidArgumentError(
                f"{what}[{i}] must be a list of {dim} numbers, got {point!r}")
        out.append([_number(x, f"{what}[{i}]") for x in point])
    if len(out) < least:
        raise InvalidArgumentError(f"{what} needs at least {least} points, got {len(out)}")
    return out


def _mask(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("rle"), str) or not value["rle"]:
        raise InvalidArgumentError("a mask needs its RLE counts as a non-empty str")
    area = value.get("area")
    bbox = value.get("bbox")
    return {
        "rle": value["rle"],
        "area": None if area is None else _number(area, "mask area"),
        "bbox": None if bbox is None else _points([bbox], 4, 1, "mask bbox")[0],
    }


def check_geometry(kind: str, geometry: Any) -> Any:
    """Check a shape's geometry given by a user and return its stored form.

    Args:
        kind: the shape kind.
        geometry: rectangle ``(x, y, w, h)``; polygon (3+ points) and line (2+ points)
            ``[[x, y], ...]``; point ``[x, y]``; keypoints ``[[x, y, v], ...]`` with
            ``v`` in 0, 1, 2; classification ``None``; mask ``{"rle", "area", "bbox"}``.

    Returns:
        The geometry with float coordinates.

    Raises:
        InvalidArgumentError: a value out of range, too few points, bad sizes.
        WrongTypeError: a value of the wrong type.
    """
    if kind == "rectangle":
        x, y, w, h = _points([geometry], 4, 1, "rectangle x, y, w, h")[0]
        if w < 0 or h < 0:
            raise InvalidArgumentError(f"rectangle width and height must be >= 0, got {w}, {h}")
        return (x, y, w, h)
    if kind in ("polygon", "line"):
        return _points(geometry, 2, 3 if kind == "polygon" else 2, f"{kind} coords")
    if kind == "point":
        return _points([geometry], 2, 1, "point coords")[0]
    if kind == "keypoints":
        points = _points(geometry, 3, 1, "keypoints")
        for i, p in enumerate(points):
            if p[2] not in (0.0, 1.0, 2.0):
                raise InvalidArgumentError(f"keypoints[{i}] visibility must be 0, 1 or 2")
        return points
    if kind == "classification":
        return None
    if kind == "mask":
        return _mask(geometry)
    raise InvalidArgumentError(f"unknown shape kind {kind!r}; use one of {list(KINDS)}")


_BY_TYPE = {"b2d": "rectangle", "p2d": "polygon", "k2d": "keypoints"}


def shape_kind(roi: dict[str, Any]) -> str | None:
    """The shape kind a ROI holds, or None for a ROI that is not a Picsellia shape."""
    meta = roi.get("meta")
    if meta:
        return kind_of(meta.get("_type"), meta.get("_shape"), "poly" in roi, "mask" in roi)
    return kind_of(None, None, "poly" in roi, "mask" in roi)


def kind_of(roi_type: Any, marked: Any, has_poly: bool, has_mask: bool) -> str | None:
    """The shape kind of a ROI from its ``meta._type`` and ``meta._shape`` (None when absent)
    and whether it has ``poly`` and ``mask`` keys (see :func:`shape_kind`)."""
    if marked is not None and marked in _MARKED and roi_type == _MARKED[marked]:
        return str(marked)
    if roi_type is not None:
        return _BY_TYPE.get(roi_type)
    if has_poly:
        return "polygon"
    return None if has_mask else "classification"


def _pairs(poly: Sequence[float]) -> list[list[float]]:
    return [[poly[i], poly[i + 1]] for i in range(0, len(poly) - 1, 2)]


def _geometry_of(kind: str, roi: dict[str, Any], meta: dict[str, Any]) -> Any:
    poly = roi.get("poly") or []
    if kind == "rectangle":
        return (poly[0], poly[1], poly[4] - poly[0], poly[5] - poly[1])
    if kind in ("polygon", "line"):
        return _pairs(poly)
    if kind == "point":
        return [poly[0], poly[1]]
    if kind == "keypoints":
        pairs = _pairs(poly)
        vis = meta.get("_visibility")
        if not isinstance(vis, list) or len(vis) != len(pairs):
            vis = [2] * len(pairs)
        return [[x, y, float(v)] for (x, y), v in zip(pairs, vis, strict=True)]
    if kind == "mask":
        return {"rle": meta.get("_rle") or "", "area": meta.get("_area"), "bbox": meta.get("_bbox")}
    return None


def shape_from_roi(
    roi: dict[str, Any], kind: str, shape_id: str, annotation_id: str
) -> ShapeState:
    """Read a shape from a ROI whose kind :func:`shape_kind` gave."""
    meta = roi.get("meta") or {}
    labels = roi.get("label") or []
    attributes = meta.get("_attributes")
    object_id = meta.get("_object")
    return ShapeState(
        kind,
        shape_id,
        annotation_id,
        labels[0] if labels else None,
        _geometry_of(kind, roi, meta),
        meta.get("_text") if isinstance(meta.get("_text"), str) else None,
        attributes if isinstance(attributes, dict) else None,
        object_id if isinstance(object_id, (int, str)) else None,
    )


def _poly(kind: str, geometry: Any) -> list[float] | None:
    if kind == "rectangle":
        x, y, w, h = geometry
        return [x, y, x + w, y, x + w, y + h, x, y + h]
    if kind in ("polygon", "line", "keypoints"):
        return [float(c) for p in geometry for c in p[:2]]
    if kind == "point":
        return [float(geometry[0]), float(geometry[1])]
    return None


_TYPES = {"rectangle": "b2d", "polygon": "p2d", "line": "p2d", "point": "k2d", "keypoints": "k2d"}


def roi_from_shape(shape: ShapeState, source_id: str, implicit: bool) -> dict[str, Any]:
    """The ROI that stores a shape.

    Args:
        shape: the shape (geometry already checked).
        source_id: the record source the shape is drawn on (the first one).
        implicit: the shape belongs to the frame's implicit annotation (no ``_annotation``).

    Returns:
        The wire ROI.
    """
    meta: dict[str, Any] = {"_id": shape.id}
    if shape.kind in _TYPES:
        meta["_type"] = _TYPES[shape.kind]
    if shape.kind in _MARKED:
        meta["_shape"] = shape.kind
    if not implicit:
        meta["_annotation"] = shape.annotation_id
    if shape.text is not None:
        meta["_text"] = shape.text
    if shape.attributes:
        meta["_attributes"] = check_meta(shape.attributes, "shape attributes")
    if shape.object_id is not None:
        meta["_object"] = shape.object_id
    if shape.kind == "keypoints":
        meta["_visibility"] = [int(p[2]) for p in shape.geometry]
    if shape.kind == "mask":
        meta["_rle"] = shape.geometry["rle"]
        if shape.geometry.get("area") is not None:
            meta["_area"] = float(shape.geometry["area"])
        if shape.geometry.get("bbox") is not None:
            meta["_bbox"] = [float(v) for v in shape.geometry["bbox"]]
    roi: dict[str, Any] = {
        "label": [] if shape.label is None else [shape.label],
        "sources": [source_id],
        "id": shape.id,
        "meta": meta,
    }
    poly = _poly(shape.kind, shape.geometry)
    if poly is not None:
        roi["poly"] = poly
    return roi
