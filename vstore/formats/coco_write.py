"""COCO JSON writing: :func:`coco_dict` and :func:`write_coco` (described in :mod:`.coco`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from vstore.errors import FormatError
from vstore.formats.geometry import (
    fmt_number,
    polygon_area,
    rescaled,
    rle_area_bbox,
    rounded,
    shape_bbox,
    union_bbox,
)
from vstore.formats.model import AnnotationSet, Box, ImageAnnotations, Keypoint, Point, Rle, Shape
from vstore.formats.paths import atomic_write, check_name
from vstore.gcpause import paused_gc

__all__ = [
    "IMAGE_KEYS",
    "SECTIONS",
    "Unsupported",
    "assign_ids",
    "categories",
    "category_ids",
    "coco_dict",
    "coco_header",
    "coco_objects",
    "image_dict",
    "write_coco",
]

Unsupported = Literal["error", "skip"]

SECTIONS = ("info", "images", "annotations", "categories")
"""The top-level keys of a COCO file that the model holds in dedicated fields."""
IMAGE_KEYS = frozenset(("id", "file_name", "width", "height"))
"""The image keys that the model holds in dedicated fields."""
_MERGEABLE = frozenset(("polygon", "mask", "keypoints"))
# Per-image extras that belong to the other formats (YOLO split, VOC header fields).
_NOT_IMAGE_KEYS = IMAGE_KEYS | {"split", "folder", "path", "database", "depth"}


@paused_gc()
def coco_dict(
    aset: AnnotationSet,
    *,
    category_id_base: int = 1,
    keep_ids: bool = True,
    unsupported: Unsupported = "error",
    source: str | None = None,
) -> dict[str, Any]:
    """Build the COCO dict of an annotation set.

    Args:
        aset: the annotations (normalized coordinates are converted with the image sizes).
        category_id_base: the first id given to a category that has none (1, or 0 for the
            original exporter's numbering).
        keep_ids: reuse the category, image and annotation ids of the set; with ``False``
            every id is numbered afresh (categories from ``category_id_base``, in label
            order).
        unsupported: what to do with lines and points, which COCO cannot hold: ``"error"``
            raises, ``"skip"`` leaves them out.
        source: the file being written, for error messages.

    Returns:
        A JSON-serializable dict with ``info``, ``licenses``, ``images``, ``annotations``
        and ``categories`` (and any other top-level key kept in ``aset.extra``).

    Raises:
        FormatError: an image lacks its size, a shape is malformed or unsupported.
    """
    aset = rescaled(aset, normalized=False, source=source)
    labels = aset.all_labels()
    cat_ids = category_ids(aset, labels, category_id_base, keep_ids)
    image_ids = assign_ids([im.image_id if keep_ids else None for im in aset.images], 1)
    objects = [list(coco_objects(im, unsupported, source)) for im in aset.images]
    ann_ids = assign_ids([obj.id if keep_ids else None for objs in objects for obj in objs], 1)
    out = coco_header(aset)
    out["images"] = [
        image_dict(im, iid, source) for im, iid in zip(aset.images, image_ids, strict=True)
    ]
    flat = [(iid, obj) for iid, objs in zip(image_ids, objects, strict=True) for obj in objs]
    out["annotations"] = [
        obj.to_dict(aid, iid, cat_ids[obj.label])
        for aid, (iid, obj) in zip(ann_ids, flat, strict=True)
    ]
    out["categories"] = categories(aset, cat_ids)
    return out


def coco_header(aset: AnnotationSet) -> dict[str, Any]:
    """The top-level keys of a COCO dict that come before ``images``: ``info``, ``licenses``
    and the other top-level keys of a set read from COCO (or built in memory)."""
    out: dict[str, Any] = {"info": dict(aset.info), "licenses": []}
    if aset.source_format in (None, "coco"):
        out.update({k: v for k, v in aset.extra.items() if k not in SECTIONS})
    return out


def category_ids(
    aset: AnnotationSet, labels: Sequence[str], base: int, keep_ids: bool = True
) -> dict[str, int | str]:
    """The COCO category id of each label: its id in ``aset.category_ids`` (with
    ``keep_ids``), else an unused int from ``base`` on, in label order."""
    wanted = [aset.category_ids.get(n) if keep_ids else None for n in labels]
    return dict(zip(labels, assign_ids(wanted, base), strict=True))


def categories(aset: AnnotationSet, cat_ids: dict[str, int | str]) -> list[dict[str, Any]]:
    """The ``categories`` list: one dict per label, with the label's extra fields."""
    return [_category_dict(aset, name, cid) for name, cid in cat_ids.items()]


@paused_gc()
def write_coco(
    aset: AnnotationSet,
    path: str | os.PathLike[str],
    *,
    category_id_base: int = 1,
    keep_ids: bool = True,
    unsupported: Unsupported = "error",
    indent: int | None = None,
) -> Path:
    """Write an annotation set as one COCO JSON file, atomically.

    Args:
        aset: the annotations.
        path: the JSON file to write (parent folders are created).
        category_id_base: see :func:`coco_dict`.
        keep_ids: see :func:`coco_dict`.
        unsupported: see :func:`coco_dict`.
        indent: JSON indentation; ``None`` writes one compact line.

    Returns:
        The path written.

    Raises:
        FormatError: as :func:`coco_dict`; nothing is written.
    """
    target = Path(path)
    data = coco_dict(
        aset,
        category_id_base=category_id_base,
        keep_ids=keep_ids,
        unsupported=unsupported,
        source=os.fspath(target),
    )
    try:
        text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
        blob = text.encode("utf-8")
    except (TypeError, ValueError) as e:
        raise FormatError(f"cannot encode as JSON: {e}", os.fspath(target)) from None
    atomic_write(target, blob)
    return target


def assign_ids(wanted: Sequence[int | str | None], base: int) -> list[int | str]:
    """Keep each wanted id the first time it appears; give the others unused ints from base."""
    taken = {w for w in wanted if w is not None}
    seen: set[int | str] = set()
    out: list[int | str] = []
    next_id = base
    for w in wanted:
        if w is not None and w not in seen:
            seen.add(w)
            out.append(w)
            continue
        while next_id in taken:
            next_id += 1
        taken.add(next_id)
        out.append(next_id)
    return out


def image_dict(image: ImageAnnotations, image_id: int | str, source: str | None
               ) -> dict[str, Any]:
    """The ``images`` item of an image (its name checked, its size required).

    Raises:
        FormatError: the image has no width and height, or no name.
        UnsafePathError: the name would leave the folder.
    """
    check_name(image.filename, what="image file name", source=source)
    if not image.width or not image.height:
        raise FormatError(
            f"image {image.filename!r} has no width and height; COCO requires both", source
        )
    out: dict[str, Any] = {
        "id": image_id,
        "file_name": image.filename,
        "width": image.width,
        "height": image.height,
    }
    out.update({k: v for k, v in image.extra.items() if k not in _NOT_IMAGE_KEYS})
    return out


def _category_dict(aset: AnnotationSet, name: str, cid: int | str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": cid, "name": name, "supercategory": ""}
    out.update({k: v for k, v in aset.label_info.get(name, {}).items() if k not in ("id", "name")})
    return out


@dataclass
class _Object:
    """The shapes that make one COCO annotation."""

    label: str
    id: int | str | None
    shapes: list[Shape] = field(default_factory=list)

    def accepts(self, shape: Shape) -> bool:
        kinds = {s.kind for s in self.shapes}
        if shape.kind == "polygon":
            return "mask" not in kinds
        if shape.kind == "mask":
            return not kinds & {"mask", "polygon"}
        return shape.kind == "keypoints" and "keypoints" not in kinds

    def to_dict(
        self, ann_id: int | str, image_id: int | str, category_id: int | str
    ) -> dict[str, Any]:
        first = self.shapes[0]
        attributes = dict(first.attributes)
        for s in self.shapes[1:]:
            attributes.update(s.attributes)
        out: dict[str, Any] = {
            "id": ann_id,
            "image_id": image_id,
            "category_id": category_id,
            "iscrowd": 1 if attributes.pop("iscrowd", 0) else 0,
        }
        if first.kind == "rectangle":  # the common case, kept fast: a box is never merged
            bbox = [fmt_number(v) for v in cast(Box, first.coords)]
            out.update(bbox=bbox, area=fmt_number(bbox[2] * bbox[3]), segmentation=[])
        else:
            self._geometry(out)
        if first.score is not None:
            out["score"] = first.score
        if first.text is not None:
            out["utf8_string"] = first.text
        if attributes:
            out["attributes"] = attributes
        return out

    def _geometry(self, out: dict[str, Any]) -> None:
        # Box and area come from the coordinates as written, so they agree exactly.
        shapes = [rounded(s) for s in self.shapes]
        box = union_bbox(shape_bbox(s) for s in shapes)
        out["bbox"] = [] if box is None else [fmt_number(v) for v in box]
        out["area"] = fmt_number(_area(shapes, box))
        out["segmentation"] = _segmentation(shapes)
        for s in shapes:
            if s.kind == "keypoints":
                points = cast(list[Keypoint], s.coords)
                out["keypoints"] = [v for p in points for v in p]
                out["num_keypoints"] = sum(1 for p in points if p[2])


def _area(shapes: list[Shape], box: Box | None) -> float:
    polygons = [cast(list[Point], s.coords) for s in shapes if s.kind == "polygon"]
    if polygons:
        return sum(polygon_area(p) for p in polygons)
    for s in shapes:
        if s.kind == "mask":
            return float(rle_area_bbox(cast(Rle, s.coords))[0])
    return 0.0 if box is None else box[2] * box[3]


def _segmentation(shapes: list[Shape]) -> list[list[float]] | dict[str, Any]:
    for s in shapes:
        if s.kind == "mask":
            rle = cast(Rle, s.coords)
            counts = rle.counts if isinstance(rle.counts, str) else list(rle.counts)
            return {"size": list(rle.size), "counts": counts}
    return [
        [v for p in cast(list[Point], s.coords) for v in p] for s in shapes if s.kind == "polygon"
    ]


def coco_objects(
    image: ImageAnnotations, unsupported: Unsupported, source: str | None
) -> Iterator[_Object]:
    """The COCO annotations of an image: its shapes, the parts of one object merged.

    Raises:
        FormatError: a line or a point, with ``unsupported="error"``.
    """
    groups: dict[tuple[int | str, str], _Object] = {}
    objects: list[_Object] = []
    for shape in image.shapes:
        if shape.kind in ("line", "point"):
            if unsupported == "skip":
                continue
            raise FormatError(
                f"image {image.filename!r}: COCO has no {shape.kind} form; "
                "pass unsupported='skip' to leave such shapes out",
                source,
            )
        key = None if shape.id is None else (shape.id, shape.label)
        obj = groups.get(key) if key is not None else None
        if obj is None or not obj.accepts(shape):
            obj = _Object(shape.label, shape.id)
            objects.append(obj)
            if key is not None and shape.kind in _MERGEABLE:
                groups[key] = obj
        obj.shapes.append(shape)
    yield from objects
