"""Geometry shared by the formats: number checks, boxes, areas and COCO RLE decoding."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import cast

from vstore.errors import FormatError
from vstore.formats.model import KINDS, AnnotationSet, Box, Coords, Keypoint, Point, Rle, Shape

__all__ = [
    "check_shape",
    "fmt_number",
    "number",
    "points_bbox",
    "polygon_area",
    "rle_area_bbox",
    "rescaled",
    "map_coords",
    "rle_counts",
    "rounded",
    "scaled",
    "shape_bbox",
    "union_bbox",
]


def number(value: object, what: str, source: str | None, line: int | None = None) -> float:
    """Return ``value`` as a finite float, or raise :class:`FormatError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"{what} must be a number, got {value!r}", source, line)
    result = float(value)
    if not math.isfinite(result):
        raise FormatError(f"{what} must be finite, got {value!r}", source, line)
    return result


def fmt_number(value: float, decimals: int = 6) -> int | float:
    """Return an int for integral values, else ``value`` rounded to ``decimals``.

    Integral coordinates stay integers in the written file (``10``, not ``10.0``).
    """
    if type(value) is int:
        return value
    f = float(value)
    if f.is_integer():
        return int(f)
    rounded = round(f, decimals)
    return int(rounded) if rounded.is_integer() else rounded


def points_bbox(points: Iterable[Sequence[float]]) -> Box | None:
    """Return the tight ``(x, y, w, h)`` around ``(x, y, ...)`` points, or ``None`` if none."""
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        xs.append(p[0])
        ys.append(p[1])
    if not xs:
        return None
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def union_bbox(boxes: Iterable[Box | None]) -> Box | None:
    """Return the box covering every non-``None`` box, or ``None`` if there is none."""
    corners: list[tuple[float, float]] = []
    for b in boxes:
        if b is not None:
            corners += [(b[0], b[1]), (b[0] + b[2], b[1] + b[3])]
    return points_bbox(corners)


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Return the area of a simple polygon (shoelace formula)."""
    total = 0.0
    for i, (x0, y0, *_) in enumerate(points):
        x1, y1, *_ = points[(i + 1) % len(points)]
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


def rle_counts(rle: Rle) -> list[int]:
    """Return the run lengths of an RLE, decoding COCO's compressed string form.

    Raises:
        ValueError: the counts string is malformed, or the runs do not cover the mask.
    """
    counts = _decode_counts(rle.counts) if isinstance(rle.counts, str) else list(rle.counts)
    if any(c < 0 for c in counts):
        raise ValueError("RLE counts must not be negative")
    height, width = rle.size
    if sum(counts) != height * width:
        raise ValueError(f"RLE counts cover {sum(counts)} pixels, the mask has {height * width}")
    return counts


def _decode_counts(text: str) -> list[int]:
    # pycocotools' rleFrString: 5-bit groups, 0x20 = more groups follow, 0x10 = sign,
    # and from the third count on each value is a delta from the count two places back.
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise ValueError("RLE counts string ends in the middle of a value")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"RLE counts string has an invalid character {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_area_bbox(rle: Rle) -> tuple[int, Box | None]:
    """Return the foreground pixel count and the tight box of an RLE mask (column-major)."""
    counts = rle_counts(rle)
    height = rle.size[0]
    area, pos = 0, 0
    xmin = ymin = math.inf
    xmax = ymax = -math.inf
    for i, run in enumerate(counts):
        if i % 2 and run:
            area += run
            start, end = pos, pos + run - 1
            x0, x1 = start // height, end // height
            y0, y1 = (start % height, end % height) if x0 == x1 else (0, height - 1)
            xmin, xmax = min(xmin, x0), max(xmax, x1)
            ymin, ymax = min(ymin, y0), max(ymax, y1)
        pos += run
    if not area:
        return 0, None
    return area, (xmin, ymin, xmax - xmin + 1, ymax - ymin + 1)


def check_shape(shape: Shape, source: str | None, where: str) -> None:
    """Check a shape's kind, label, coordinates and score before a writer uses it.

    Args:
        shape: the shape to check.
        source: the file being written, for the message.
        where: which image the shape is on, for the message.

    Raises:
        FormatError: the kind is unknown, the label empty, or the coordinates are not
            the form :mod:`vstore.formats.model` documents for the kind.
    """
    what = f"{where}: {shape.kind} {shape.label!r}"
    if shape.kind not in KINDS:
        raise FormatError(f"{where}: unknown shape kind {shape.kind!r}; one of {KINDS}", source)
    if not isinstance(shape.label, str) or not shape.label:
        raise FormatError(f"{where}: a {shape.kind} has an empty label", source)
    if shape.score is not None:
        number(shape.score, f"{what} score", source)
    try:
        _check_coords(shape.kind, shape.coords)
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        raise FormatError(f"{what} has bad coordinates {shape.coords!r}: {e}", source) from None


def _check_coords(kind: str, c: object) -> None:
    if kind == "classification":
        if c is not None:
            raise ValueError("a classification has no coordinates")
    elif kind == "mask":
        if not isinstance(c, Rle):
            raise TypeError("a mask needs an Rle")
        rle_counts(c)
    elif kind in ("rectangle", "point"):
        values = _finite_seq(c, 4 if kind == "rectangle" else 2)
        if kind == "rectangle" and (values[2] < 0 or values[3] < 0):
            raise ValueError("width and height must not be negative")
    else:
        if not isinstance(c, list):
            raise TypeError(f"a {kind} needs a list of points")
        dim, least = {"polygon": (2, 3), "line": (2, 2), "keypoints": (3, 1)}[kind]
        if len(c) < least:
            raise ValueError(f"a {kind} needs {least} points or more")
        for p in c:
            v = _finite_seq(p, dim)
            if dim == 3 and v[2] not in (0, 1, 2):
                raise ValueError("keypoint visibility must be 0, 1 or 2")


def _finite_seq(value: object, size: int) -> Sequence[float]:
    if not isinstance(value, (tuple, list)) or len(value) != size:
        raise ValueError(f"expected {size} numbers")
    # One C call checks every item: fsum raises TypeError on a non-number and returns a
    # non-finite total (or overflows) when any item is NaN or infinite.
    if not math.isfinite(math.fsum(value)):
        raise ValueError("coordinates must be finite numbers")
    return value


def shape_bbox(shape: Shape) -> Box | None:
    """Return the tight box of a checked shape's geometry, or ``None`` for a classification."""
    c = shape.coords
    if shape.kind == "rectangle":
        x, y, w, h = cast(Box, c)
        return (float(x), float(y), float(w), float(h))
    if shape.kind == "point":
        x, y = cast(Point, c)
        return (float(x), float(y), 0.0, 0.0)
    if shape.kind in ("polygon", "line"):
        return points_bbox(cast(list[Point], c))
    if shape.kind == "keypoints":
        return points_bbox(p for p in cast(list[Keypoint], c) if p[2])
    if shape.kind == "mask":
        return rle_area_bbox(cast(Rle, c))[1]
    return None


def map_coords(shape: Shape, fx: Callable[[float], float], fy: Callable[[float], float]) -> Shape:
    """Return a copy of a checked shape with ``fx`` applied to each x and ``fy`` to each y.

    An RLE mask is pixels by nature and is copied unchanged.
    """
    c = shape.coords
    coords: Coords
    if shape.kind == "rectangle":
        x, y, w, h = cast(Box, c)
        coords = (fx(x), fy(y), fx(w), fy(h))
    elif shape.kind == "point":
        x, y = cast(Point, c)
        coords = (fx(x), fy(y))
    elif shape.kind in ("polygon", "line"):
        coords = [(fx(x), fy(y)) for x, y in cast(list[Point], c)]
    elif shape.kind == "keypoints":
        coords = [(fx(x), fy(y), v) for x, y, v in cast(list[Keypoint], c)]
    else:
        coords = c
    return Shape(
        shape.kind, shape.label, coords, shape.score, shape.text, dict(shape.attributes), shape.id
    )


def scaled(shape: Shape, sx: float, sy: float) -> Shape:
    """Return a copy of a checked shape with x multiplied by ``sx`` and y by ``sy``."""
    return map_coords(shape, lambda x: x * sx, lambda y: y * sy)


def rounded(shape: Shape, decimals: int = 6) -> Shape:
    """Return a copy of a checked shape with coordinates as :func:`fmt_number` writes them.

    Writers derive boxes and areas from the rounded shape, so the values in the file agree
    with each other exactly and a file read and written again is unchanged.
    """
    return map_coords(shape, lambda v: fmt_number(v, decimals), lambda v: fmt_number(v, decimals))


def rescaled(aset: AnnotationSet, *, normalized: bool, source: str | None = None) -> AnnotationSet:
    """Return ``aset`` with pixel coordinates (``normalized=False``) or fractions (``True``).

    The set is returned unchanged when it already is in the asked unit; otherwise each image
    needs its ``width`` and ``height``.

    Args:
        aset: the annotations.
        normalized: the unit wanted.
        source: the file being written, for error messages.

    Returns:
        A new set (or ``aset`` itself when nothing changes); ``aset`` is never modified.

    Raises:
        FormatError: a shape fails :func:`check_shape`, or an image with shapes has no
            size.
    """
    where = "image {!r}"
    for image in aset.images:
        for shape in image.shapes:
            check_shape(shape, source, where.format(image.filename))
    if aset.normalized == normalized:
        return aset
    images = []
    for image in aset.images:
        w, h = image.width, image.height
        if image.shapes and (not w or not h):
            raise FormatError(
                f"image {image.filename!r} has no width and height, needed to convert "
                f"{'pixel' if normalized else 'normalized'} coordinates",
                source,
            )
        sx, sy = (1 / w, 1 / h) if normalized and w and h else (float(w or 1), float(h or 1))
        shapes = [scaled(s, sx, sy) for s in image.shapes]
        images.append(replace(image, shapes=shapes, extra=dict(image.extra)))
    return replace(aset, images=images, normalized=normalized)
