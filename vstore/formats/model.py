"""The neutral in-memory model that every annotation format reads into and writes from.

An :class:`AnnotationSet` holds ordered labels and one :class:`ImageAnnotations` per image;
each image holds :class:`Shape` objects. Coordinates are pixels, with the origin at the
image's top-left corner, unless :attr:`AnnotationSet.normalized` is true (YOLO read without
image sizes), in which case they are fractions of the image width and height (an RLE mask
is always in pixels).

Shape kinds and their ``coords``:

=================  ==========================================================
``rectangle``      ``(x, y, w, h)``: top-left corner and size
``polygon``        ``[(x, y), ...]``: one closed ring, 3 points or more
``line``           ``[(x, y), ...]``: an open polyline, 2 points or more
``point``          ``(x, y)``
``keypoints``      ``[(x, y, visibility), ...]``: COCO visibility 0, 1 or 2
``mask``           :class:`Rle`: a COCO run-length encoded mask
``classification`` ``None``: a label for the whole image
=================  ==========================================================

Well-known :attr:`Shape.attributes` keys, written to the field of the format that has one:
``iscrowd`` (COCO), ``difficult``, ``truncated``, ``occluded``, ``pose`` (Pascal VOC). Other
keys travel in COCO's and VOC's free-form ``attributes``.

Shapes of one image that share a non-``None`` :attr:`Shape.id` and label are parts of one
object: a COCO annotation with several polygon rings reads as several polygon shapes with
the annotation's id, and is written back as one annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

__all__ = [
    "KINDS",
    "AnnotationSet",
    "Box",
    "Coords",
    "ImageAnnotations",
    "Keypoint",
    "Point",
    "Rle",
    "Shape",
    "WELL_KNOWN_ATTRIBUTES",
]

KINDS: Final = ("rectangle", "polygon", "line", "point", "keypoints", "mask", "classification")
"""Every value :attr:`Shape.kind` may take."""

WELL_KNOWN_ATTRIBUTES: Final = ("iscrowd", "difficult", "truncated", "occluded", "pose")
"""Attribute keys that map to a dedicated field in at least one format."""

Point: TypeAlias = tuple[float, float]
Keypoint: TypeAlias = tuple[float, float, int]
Box: TypeAlias = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Rle:
    """A COCO run-length encoded mask.

    Attributes:
        size: ``(height, width)`` of the mask, as COCO writes it.
        counts: the compressed counts string, or the uncompressed run lengths.
    """

    size: tuple[int, int]
    counts: str | tuple[int, ...]


Coords: TypeAlias = Box | list[Point] | Point | list[Keypoint] | Rle | None


@dataclass(slots=True)
class Shape:
    """One object (or whole-image label) on an image.

    Attributes:
        kind: one of :data:`KINDS`.
        label: the label name.
        coords: the geometry; its form depends on ``kind`` (see the module docstring).
        score: a confidence in [0, 1] for predictions, else ``None``.
        text: free text attached to the shape (OCR text, COCO ``utf8_string``).
        attributes: format fields and free-form attributes (see the module docstring).
        id: the object's id in the source file (COCO annotation id), kept on a round trip.
    """

    kind: str
    label: str
    coords: Coords = None
    score: float | None = None
    text: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: int | str | None = None


@dataclass(slots=True)
class ImageAnnotations:
    """The shapes of one image.

    Attributes:
        filename: the image's file name, relative to the dataset folder (``/`` separated).
        width: image width in pixels, if known.
        height: image height in pixels, if known.
        shapes: the objects on the image, in file order.
        image_id: the image's id in the source file (COCO image id), kept on a round trip.
        extra: other per-image fields of the source format, written back where the format
            has a place for them (COCO image keys such as ``license`` or ``attributes``;
            VOC ``folder``, ``path``, ``depth``, ``database``; YOLO ``split``).
    """

    filename: str
    width: int | None = None
    height: int | None = None
    shapes: list[Shape] = field(default_factory=list)
    image_id: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AnnotationSet:
    """Labels and per-image annotations: what one annotation export holds.

    Attributes:
        labels: label names, in order (COCO category order, YOLO class order).
        images: one entry per image, in file order.
        category_ids: COCO category id of each label as read from a COCO file; the COCO
            writer reuses them, so ids survive a round trip.
        class_ids: YOLO class index of each label as read from a YOLO ``data.yaml``; the
            YOLO writer reuses them when they are exactly ``0 .. n-1``.
        label_info: per-label extras, e.g. COCO ``supercategory``, ``keypoints`` (vertex
            names) and ``skeleton`` (edges).
        info: dataset-level description (COCO ``info``).
        extra: other top-level fields of the source format (COCO ``licenses``; the keys of
            a YOLO ``data.yaml`` other than ``names`` and ``nc``).
        normalized: coordinates are fractions of the image size instead of pixels.
        source_format: the format the set was read from (``"coco"``, ``"yolo"``, ``"voc"``),
            or ``None`` for a set built in memory. A writer writes :attr:`extra` back only
            into its own format (or when this is ``None``), so a COCO ``licenses`` list
            never lands in a YOLO ``data.yaml``.
    """

    labels: list[str] = field(default_factory=list)
    images: list[ImageAnnotations] = field(default_factory=list)
    category_ids: dict[str, int] = field(default_factory=dict)
    class_ids: dict[str, int] = field(default_factory=dict)
    label_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    normalized: bool = False
    source_format: str | None = None

    def all_labels(self) -> list[str]:
        """Return :attr:`labels` followed by any shape label they miss, in first-use order."""
        seen = dict.fromkeys(self.labels)
        for image in self.images:
            for shape in image.shapes:
                seen.setdefault(shape.label)
        return list(seen)
