"""Annotations (ROIs): one shape, its labels, confidence and metadata.

On the wire an annotation is a ROI: ``{label, poly, confidence, id, sources,
meta, mask}``. The shape kind is kept in ``meta._type`` and the user id in
``meta._id`` (as the Hyper-Datasets SDK does) as well as in ``id``:

======  ===================================  ========================================
kind    given as                             stored ``poly``
======  ===================================  ========================================
p2d     ``poly2d_xy`` (flat, pairs, rings)   flat ``x0,y0,...``; one ROI per ring
b2d     ``box2d_xywh`` ``[x, y, w, h]``      4 corners ``x,y, x+w,y, x+w,y+h, x,y+h``
k2d     ``keypoints`` / ``points2d_xy``      flat ``x0,y0,...``
elp     ``ellipse2d_xyrrt``                  ``[cx, cy, rx, ry, theta]``
p3d     ``poly3d_xyz``                       flat ``x0,y0,z0,...``
k3d     ``points3d_xyz``                     flat ``x0,y0,z0,...``
b3d     ``box3d_xyzwhxyzwh``                 the 10 numbers
mask    ``mask_rgb`` ``[r, g, b]``           none; ``mask = {id: "00", value: rgb}``
im      ``Annotation(kind="im")``            none (a frame label)
======  ===================================  ========================================

A ROI without geometry and without a kind is a frame label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from vstore.errors import InvalidArgumentError
from vstore.model.validation import (
    check_confidence,
    check_int,
    check_labels,
    check_meta,
    check_number,
    check_str,
)

__all__ = [
    "KINDS",
    "RESERVED_META_KEYS",
    "Annotation",
    "annotation_from_roi",
    "annotations_from_rois",
    "box_corners",
    "check_roi_meta",
    "checked_annotation",
    "check_shape",
    "flatten_points",
    "polygon_rings",
    "roi_from_annotation",
    "rois_from_annotations",
]

# kind -> (coordinates per point, exact count or None, minimum count)
_GEOMETRY: dict[str | None, tuple[int, int | None, int]] = {
    None: (2, None, 2),
    "p2d": (2, None, 2),
    "k2d": (2, None, 2),
    "b2d": (2, 8, 8),
    "elp": (1, 5, 5),
    "p3d": (3, None, 3),
    "k3d": (3, None, 3),
    "b3d": (1, 10, 10),
}
KINDS = frozenset(k for k in _GEOMETRY if k is not None) | {"mask", "im"}
RESERVED_META_KEYS = ("_type", "_id")


def check_shape(kind: str | None, poly: Sequence[float] | None, has_mask: bool) -> None:
    """Check that a ROI's kind, coordinates and mask fit together.

    Args:
        kind: the shape kind (see :data:`KINDS`) or ``None``.
        poly: the flat coordinates, or ``None``.
        has_mask: whether the ROI carries a mask.

    Raises:
        InvalidArgumentError: an unknown kind, a missing or extra ``poly``, or a
            coordinate count the kind does not allow.
    """
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"unknown annotation kind {kind!r}; use one of {sorted(KINDS)}")
    if poly is None:
        if kind in ("mask", "im") or kind is None:
            if kind == "mask" and not has_mask:
                raise InvalidArgumentError("a 'mask' annotation needs a mask")
            return
        raise InvalidArgumentError(f"a {kind!r} annotation needs coordinates")
    if kind in ("mask", "im"):
        raise InvalidArgumentError(f"a {kind!r} annotation has no coordinates")
    step, exact, least = _GEOMETRY[kind]
    n = len(poly)
    if exact is not None and n != exact:
        raise InvalidArgumentError(f"a {kind!r} annotation needs {exact} numbers, got {n}")
    if n < least or n % step:
        raise InvalidArgumentError(
            f"a {kind or 'polygon'!r} annotation needs a multiple of {step} numbers "
            f"(at least {least}), got {n}"
        )


def _items(value: object, what: str) -> list[Any]:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a list of numbers, not {type(value).__name__}")
    return list(value)


def flatten_points(value: object, dim: int, what: str) -> tuple[float, ...]:
    """Return coordinates as a flat tuple of floats.

    Args:
        value: flat numbers ``[x0, y0, ...]`` or points ``[(x0, y0), ...]``.
        dim: numbers per point (2 or 3); points must have exactly this many.
        what: the argument name used in error messages.

    Returns:
        The flat coordinates.

    Raises:
        InvalidArgumentError: not numbers, or points of the wrong size.
    """
    out: list[float] = []
    for i, item in enumerate(_items(value, what)):
        t = type(item)
        if t is float or t is int:
            x = item + 0.0
            # x - x is 0.0 exactly when x is finite (inf - inf and NaN give NaN).
            out.append(x if x - x == 0.0 else check_number(item, f"{what}[{i}]"))
            continue
        if isinstance(item, (str, bytes)) or not hasattr(item, "__iter__"):
            out.append(check_number(item, f"{what}[{i}]"))
            continue
        point = list(item)
        if len(point) != dim:
            raise InvalidArgumentError(f"{what}[{i}] must have {dim} numbers, got {len(point)}")
        out.extend(check_number(x, f"{what}[{i}]") for x in point)
    return tuple(out)


def polygon_rings(value: object, what: str) -> list[tuple[float, ...]]:
    """Split ``poly2d_xy`` into rings of flat coordinates.

    Args:
        value: a polygon (flat numbers or points) or a list of rings.
        what: the argument name used in error messages.

    Returns:
        One flat tuple per ring.

    Raises:
        InvalidArgumentError: not numbers, or points of the wrong size.
    """
    # A list of lists is a list of (x, y) points when every item has 2 numbers,
    # otherwise a complex polygon: one ring per item.
    items = _items(value, what)
    nested = [hasattr(x, "__len__") and not isinstance(x, (str, bytes)) for x in items]
    if items and all(nested) and any(len(x) != 2 for x in items):
        return [flatten_points(x, 2, f"{what}[{i}]") for i, x in enumerate(items)]
    return [flatten_points(items, 2, what)]


def box_corners(xywh: Sequence[float]) -> tuple[float, ...]:
    """Return the 4 corners ``x,y, x+w,y, x+w,y+h, x,y+h`` of a box ``[x, y, w, h]``.

    Args:
        xywh: the box's corner, width and height.

    Returns:
        The 8 corner coordinates.

    Raises:
        InvalidArgumentError: a negative width or height.
    """
    x, y, w, h = xywh
    if w < 0 or h < 0:
        raise InvalidArgumentError(f"box2d_xywh width and height must be >= 0, got {w}, {h}")
    return (x, y, x + w, y, x + w, y + h, x, y + h)


def _check_mask(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"mask must be a dict {{id, value}}, not {type(value).__name__}")
    unknown = set(value) - {"id", "value"}
    if unknown:
        raise InvalidArgumentError(f"mask has unknown fields {sorted(unknown)}")
    mask_id = check_str(value.get("id"), "mask.id")
    rgb = [check_int(v, "mask.value", minimum=0) for v in _items(value.get("value"), "mask.value")]
    if not rgb or any(v > 255 for v in rgb):
        raise InvalidArgumentError(f"mask.value must be 1 to 4 integers 0..255, got {rgb}")
    return {"id": mask_id, "value": rgb}


def check_roi_meta(value: object) -> dict[str, Any]:
    """Check annotation metadata and return a copy (see ``check_meta``).

    Args:
        value: a dict, or ``None``.

    Returns:
        A deep copy.

    Raises:
        InvalidArgumentError: invalid metadata, or a reserved key (``_type``, ``_id``).
    """
    meta = check_meta(value, "annotation metadata")
    for key in RESERVED_META_KEYS:
        if key in meta:
            raise InvalidArgumentError(
                f"annotation metadata key {key!r} is reserved for the shape; use another name"
            )
    return meta


class Annotation:
    """One annotation (ROI): a shape, or none for a frame label.

    Args:
        values: the shape's coordinates, flat or as points (see the module table).
        id: a user id; annotations that share it describe one object.
        labels: label names (a single str is one label).
        confidence: a number in ``[0, 1]``.
        metadata: per-annotation metadata (keys without ``$`` or ``.``;
            ``_type`` and ``_id`` are reserved).
        kind: the shape kind, one of :data:`KINDS`; ``None`` with ``values`` is an
            untyped polygon, and without is a frame label.
        mask: ``{"id": mask_id, "value": [r, g, b]}`` for a mask annotation.
        sources: in a FrameGroup, the member (source) ids it applies to;
            ``None`` means the frame it was added to, or every member.

    Raises:
        InvalidArgumentError: any argument has a wrong type or value.
    """

    __slots__ = ("_confidence", "_id", "_kind", "_labels", "_mask", "_metadata", "_poly",
                 "_sources")

    def __init__(
        self,
        values: Sequence[Any] | None = None,
        id: str | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        kind: str | None = None,
        mask: dict[str, Any] | None = None,
        sources: Sequence[str] | None = None,
    ) -> None:
        if kind is not None and kind not in KINDS:
            check_shape(kind, None, False)
        step = _GEOMETRY.get(kind, (2, None, 2))[0]
        poly = None if values is None else flatten_points(values, max(step, 2), "values")
        if kind == "b2d" and poly is not None and len(poly) == 4:
            poly = box_corners(poly)
        checked_mask = None if mask is None else _check_mask(mask)
        check_shape(kind, poly, checked_mask is not None)
        self._kind = kind
        self._poly = poly
        self._mask = checked_mask
        self._labels = check_labels(labels)
        self._confidence = check_confidence(confidence)
        check_roi_meta(metadata)
        self._metadata: dict[str, Any] = {} if metadata is None else metadata
        self._id = None if id is None else check_str(id, "annotation id")
        self._sources = None if sources is None else check_labels(sources, "sources")

    @property
    def kind(self) -> str | None:
        """The shape kind (``"b2d"``, ``"p2d"``...), or ``None`` for a frame label."""
        return self._kind

    @property
    def type(self) -> str | None:
        """Same as :attr:`kind` (the legacy name)."""
        return self._kind

    def get_type(self) -> str | None:
        """Return the shape kind (legacy ``Annotation.get_type``).

        Returns:
            One of :data:`KINDS`, or ``None`` for a frame label.
        """
        return self._kind

    @property
    def poly(self) -> list[float] | None:
        """The flat coordinates as stored, or ``None`` without geometry."""
        return None if self._poly is None else list(self._poly)

    values = poly

    @property
    def labels(self) -> list[str]:
        """The label names (a live list)."""
        return self._labels

    @labels.setter
    def labels(self, value: Sequence[str] | str | None) -> None:
        self._labels = check_labels(value)

    @property
    def confidence(self) -> float | None:
        """The confidence in ``[0, 1]``, or ``None``."""
        return self._confidence

    @confidence.setter
    def confidence(self, value: float | None) -> None:
        self._confidence = check_confidence(value)

    @property
    def metadata(self) -> dict[str, Any]:
        """Per-annotation metadata (a live dict)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None:
        check_roi_meta(value)
        self._metadata = {} if value is None else value

    @property
    def id(self) -> str | None:
        """The user id, or ``None``."""
        return self._id

    @id.setter
    def id(self, value: str | None) -> None:
        self._id = None if value is None else check_str(value, "annotation id")

    @property
    def mask(self) -> dict[str, Any] | None:
        """``{"id": mask_id, "value": [r, g, b]}``, or ``None``."""
        return None if self._mask is None else {"id": self._mask["id"],
                                                 "value": list(self._mask["value"])}

    @property
    def mask_rgb(self) -> list[int] | None:
        """The mask's RGB value, or ``None``."""
        return None if self._mask is None else list(self._mask["value"])

    @property
    def sources(self) -> list[str] | None:
        """The member ids of a FrameGroup annotation, or ``None`` (its whole frame)."""
        return None if self._sources is None else list(self._sources)

    def _shape(self, *kinds: str) -> list[float] | None:
        return list(self._poly) if self._kind in kinds and self._poly is not None else None

    @property
    def box2d_xywh(self) -> list[float] | None:
        """``[x, y, w, h]`` of a box annotation, or ``None`` for other kinds."""
        p = self._poly
        if self._kind != "b2d" or p is None:
            return None
        return [p[0], p[1], p[4] - p[0], p[5] - p[1]]

    @property
    def poly2d_xy(self) -> list[float] | None:
        """Flat ``x, y`` coordinates of a polygon, or ``None`` for other kinds."""
        return self._shape("p2d") if self._kind else self.poly

    @property
    def keypoints(self) -> list[float] | None:
        """Flat ``x, y`` coordinates of 2D keypoints, or ``None`` for other kinds."""
        return self._shape("k2d")

    points2d_xy = keypoints

    @property
    def ellipse2d_xyrrt(self) -> list[float] | None:
        """``[cx, cy, rx, ry, theta]`` of an ellipse, or ``None`` for other kinds."""
        return self._shape("elp")

    @property
    def poly3d_xyz(self) -> list[float] | None:
        """Flat ``x, y, z`` coordinates of a 3D polygon, or ``None``."""
        return self._shape("p3d")

    @property
    def points3d_xyz(self) -> list[float] | None:
        """Flat ``x, y, z`` coordinates of 3D keypoints, or ``None``."""
        return self._shape("k3d")

    @property
    def box3d_xyzwhxyzwh(self) -> list[float] | None:
        """The 10 numbers of a 3D box, or ``None``."""
        return self._shape("b3d")

    def _key(self) -> tuple[Any, ...]:
        return (self._kind, self._poly, self._labels, self._confidence, self._metadata,
                self._id, self._mask, self._sources)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Annotation):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shape = f"{self._kind}={self.poly}" if self._poly is not None else repr(self._kind)
        return f"Annotation({shape}, labels={self._labels!r}, confidence={self._confidence!r})"


def checked_annotation(
    kind: str | None,
    poly: tuple[float, ...] | None,
    labels: list[str],
    confidence: float | None,
    metadata: dict[str, Any],
    id: str | None,
    mask: dict[str, Any] | None,
    sources: list[str] | None,
) -> Annotation:
    """Build an annotation from values that were already checked (no second pass).

    Args:
        kind: a kind from :data:`KINDS`, or ``None``.
        poly: flat float coordinates that fit ``kind``, or ``None``.
        labels: a list of str (owned by the annotation from now on).
        confidence: a float in ``[0, 1]``, or ``None``.
        metadata: a checked metadata dict without reserved keys.
        id: a non-empty str, or ``None``.
        mask: a checked ``{id, value}``, or ``None``.
        sources: member ids, or ``None``.

    Returns:
        The annotation.
    """
    ann = Annotation.__new__(Annotation)
    ann._kind, ann._poly, ann._labels, ann._confidence = kind, poly, labels, confidence
    ann._metadata, ann._id, ann._mask, ann._sources = metadata, id, mask, sources
    return ann


def roi_from_annotation(
    ann: Annotation, sources: list[str], shared: bool = False
) -> dict[str, Any]:
    """Return the wire ROI of an annotation (see :func:`rois_from_annotations`).

    Raises:
        InvalidArgumentError: labels or metadata were changed to invalid values.
    """
    return rois_from_annotations((ann,), sources, shared)[0]


def rois_from_annotations(
    anns: Sequence[Annotation], sources: list[str], shared: bool = False
) -> list[dict[str, Any]]:
    """Return the wire ROIs of annotations, in order.

    Args:
        anns: the annotations.
        sources: the source ids each ROI belongs to (each ROI gets its own copy unless
            ``shared``).
        shared: the ROIs may share ``sources`` and hold each annotation's own labels list
            and points tuple instead of copies (for a record encoded at once, see
            ``frame_record_bytes``).

    Returns:
        ``[{label, sources, [poly], [confidence], [id], [meta], [mask]}, ...]``.

    Raises:
        InvalidArgumentError: an item is not an Annotation, or holds labels or metadata
            changed to invalid values.
    """
    out = []
    for i, ann in enumerate(anns):  # one loop, no call per ROI: bulk writes run it per frame
        if type(ann) is not Annotation and not isinstance(ann, Annotation):
            raise InvalidArgumentError(f"annotations[{i}] is a {type(ann).__name__}")
        labels = ann._labels
        for x in labels:
            if type(x) is not str:
                labels = check_labels(labels)
                break
        roi: dict[str, Any]
        if shared:
            roi = {"label": labels, "sources": sources}
            if ann._poly is not None:
                roi["poly"] = ann._poly
        else:
            roi = {"label": list(labels), "sources": list(sources)}
            if ann._poly is not None:
                roi["poly"] = list(ann._poly)
        if ann._confidence is not None:
            roi["confidence"] = ann._confidence
        meta = check_roi_meta(ann._metadata) if ann._metadata else {}
        if ann._kind is not None:
            meta["_type"] = ann._kind
        if ann._id is not None:
            roi["id"] = meta["_id"] = ann._id
        if meta:
            roi["meta"] = meta
        if ann._mask is not None:
            roi["mask"] = {"id": ann._mask["id"], "value": list(ann._mask["value"])}
        out.append(roi)
    return out


def annotations_from_wire(rois: Iterable[Any]) -> list[Annotation]:
    """Build the annotations of ROIs decoded into typed structs (``vstore.model.record``'s
    trusted read path), the same as :func:`annotations_from_rois` of the same ROIs as dicts
    with ``owned=True``: the ROIs are given away.

    Args:
        rois: objects with ``label``, ``poly``, ``meta``, ``confidence``, ``id`` (``UNSET``
            when the ROI has none) and ``mask`` attributes.

    Returns:
        One annotation per ROI, in order.
    """
    new = Annotation.__new__
    out = []
    for roi in rois:
        ann = new(Annotation)
        meta = roi.meta
        if meta is None:
            meta = {}
        ann._kind = meta.pop("_type", None) if meta else None
        user_id = meta.pop("_id", None) if meta else None
        ann._poly = roi.poly
        ann._labels = roi.label
        ann._confidence = roi.confidence
        ann._metadata = meta
        ann._id = user_id if roi.id is msgspec.UNSET else roi.id
        mask = roi.mask
        ann._mask = None if mask is None else {"id": mask["id"], "value": list(mask["value"])}
        ann._sources = None
        out.append(ann)
    return out


def annotation_from_roi(
    roi: dict[str, Any], sources: list[str] | None, *, owned: bool = False
) -> Annotation:
    """Build an annotation from a ROI that already passed schema validation.

    Args:
        roi: a valid wire ROI (not modified or shared unless ``owned``).
        sources: what :attr:`Annotation.sources` should hold.
        owned: the ROI is given away (freshly decoded, stored coordinates are
            floats already): its containers are kept, not copied.

    Returns:
        The annotation.
    """
    ann = annotations_from_rois((roi,), owned=owned)[0]
    ann._sources = sources
    return ann


def annotations_from_rois(
    rois: Iterable[dict[str, Any]], *, owned: bool = False
) -> list[Annotation]:
    """Build the annotations of valid wire ROIs, without sources (a SingleFrame's).

    One loop for all the ROIs of a frame: reading a version builds millions of them.

    Args:
        rois: valid wire ROIs (not modified or shared unless ``owned``).
        owned: the ROIs are given away (see :func:`annotation_from_roi`).

    Returns:
        One annotation per ROI, in order.
    """
    new = Annotation.__new__
    out = []
    for roi in rois:
        ann = new(Annotation)
        meta = roi.get("meta")
        if meta is None:
            meta = {}
        elif not owned:
            meta = check_meta(meta, "rois.meta")
        ann._kind = meta.pop("_type", None) if meta else None
        user_id = meta.pop("_id", None) if meta else None
        poly = roi.get("poly")
        if poly is None:
            ann._poly = None
        else:
            ann._poly = tuple(poly) if owned else tuple([float(x) for x in poly])
        ann._labels = roi["label"] if owned else list(roi["label"])
        confidence = roi.get("confidence")
        ann._confidence = None if confidence is None else float(confidence)
        ann._metadata = meta
        ann._id = roi.get("id", user_id)
        mask = roi.get("mask")
        ann._mask = None if mask is None else {"id": mask["id"], "value": list(mask["value"])}
        ann._sources = None
        out.append(ann)
    return out
