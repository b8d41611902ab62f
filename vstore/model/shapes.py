"""Turn ``add_annotation`` keywords into annotations, one per shape.

``frame.add_annotation(box2d_xywh=..., poly2d_xy=..., labels=[...])`` gives one
annotation per shape, all with the same labels, confidence, metadata and id
(annotations that share an id describe one object). Labels alone give one frame
label. Everything is checked before anything is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vstore.errors import InvalidArgumentError, UsageError
from vstore.model.annotation import (
    Annotation,
    box_corners,
    check_roi_meta,
    check_shape,
    checked_annotation,
    flatten_points,
    polygon_rings,
)
from vstore.model.validation import (
    check_confidence,
    check_int,
    check_labels,
    check_meta,
    check_str,
)

__all__ = ["Coordinates", "build_annotations"]

Coordinates = Sequence[Any]
"""Flat numbers ``[x0, y0, ...]`` or points ``[(x0, y0), ...]`` (also numpy arrays)."""


def _numbers(value: object, count: int, what: str) -> tuple[float, ...]:
    flat = flatten_points(value, 1, what)
    if len(flat) != count:
        raise InvalidArgumentError(f"{what} needs {count} numbers, got {len(flat)}")
    return flat


def _points(value: object, dim: int, what: str) -> tuple[float, ...]:
    flat = flatten_points(value, dim, what)
    if not flat or len(flat) % dim:
        raise InvalidArgumentError(
            f"{what} needs a non-empty multiple of {dim} numbers, got {len(flat)}"
        )
    return flat


def _mask_value(value: object) -> list[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"mask_rgb must be [r, g, b], not {type(value).__name__}")
    rgb = [check_int(v, "mask_rgb") for v in value]
    if len(rgb) != 3 or any(v > 255 for v in rgb):
        raise InvalidArgumentError(f"mask_rgb must be 3 integers 0..255, got {rgb}")
    return rgb


def _geometry(
    box2d_xywh: Coordinates | None,
    poly2d_xy: Coordinates | None,
    ellipse2d_xyrrt: Coordinates | None,
    points2d_xy: Coordinates | None,
    poly3d_xyz: Coordinates | None,
    points3d_xyz: Coordinates | None,
    box3d_xyzwhxyzwh: Coordinates | None,
) -> list[tuple[str, tuple[float, ...]]]:
    shapes: list[tuple[str, tuple[float, ...]]] = []
    if poly2d_xy is not None:
        for ring in polygon_rings(poly2d_xy, "poly2d_xy"):
            if len(ring) < 2 or len(ring) % 2:
                raise InvalidArgumentError(
                    f"poly2d_xy needs an even number of coordinates, got {len(ring)}"
                )
            shapes.append(("p2d", ring))
    if box2d_xywh is not None:
        shapes.append(("b2d", box_corners(_numbers(box2d_xywh, 4, "box2d_xywh"))))
    if points2d_xy is not None:
        shapes.append(("k2d", _points(points2d_xy, 2, "keypoints")))
    if ellipse2d_xyrrt is not None:
        shapes.append(("elp", _numbers(ellipse2d_xyrrt, 5, "ellipse2d_xyrrt")))
    if poly3d_xyz is not None:
        shapes.append(("p3d", _points(poly3d_xyz, 3, "poly3d_xyz")))
    if points3d_xyz is not None:
        shapes.append(("k3d", _points(points3d_xyz, 3, "points3d_xyz")))
    if box3d_xyzwhxyzwh is not None:
        shapes.append(("b3d", _numbers(box3d_xyzwhxyzwh, 10, "box3d_xyzwhxyzwh")))
    return shapes


def build_annotations(
    *,
    box2d_xywh: Coordinates | None = None,
    poly2d_xy: Coordinates | None = None,
    ellipse2d_xyrrt: Coordinates | None = None,
    keypoints: Coordinates | None = None,
    labels: Sequence[str] | str | None = None,
    confidence: float | None = None,
    metadata: dict[str, Any] | None = None,
    id: str | None = None,
    points2d_xy: Coordinates | None = None,
    poly3d_xyz: Coordinates | None = None,
    points3d_xyz: Coordinates | None = None,
    box3d_xyzwhxyzwh: Coordinates | None = None,
    mask_rgb: Coordinates | None = None,
    frame_class: Sequence[str] | str | None = None,
    sources: Sequence[str] | None = None,
) -> list[Annotation]:
    """Build the annotations that one ``add_annotation`` call describes.

    Args:
        box2d_xywh: a box ``[x, y, w, h]``, stored as its 4 corners.
        poly2d_xy: a polygon (flat or points), or a list of rings (complex polygon).
        ellipse2d_xyrrt: an ellipse ``[cx, cy, rx, ry, theta]``.
        keypoints: 2D keypoints (flat or points); ``points2d_xy`` is the legacy name.
        labels: label names shared by every shape; alone, they label the frame.
        confidence: a number in ``[0, 1]``.
        metadata: per-annotation metadata (copied into each annotation).
        id: a user id shared by every shape of this call.
        points2d_xy: same as ``keypoints``.
        poly3d_xyz: a 3D polygon (flat or points).
        points3d_xyz: 3D keypoints (flat or points).
        box3d_xyzwhxyzwh: a 3D box (10 numbers).
        mask_rgb: the ``[r, g, b]`` value of this object in the frame's mask ``"00"``.
        frame_class: labels for the whole frame (a frame label of their own).
        sources: FrameGroup member ids the annotations apply to.

    Returns:
        The annotations, in the order: polygons, box, keypoints, ellipse, 3D shapes,
        mask, frame class or label.

    Raises:
        UsageError: no shape and no labels, or both ``keypoints`` and ``points2d_xy``.
        InvalidArgumentError: a malformed shape or a bad label, confidence,
            metadata or id.
    """
    if keypoints is not None and points2d_xy is not None:
        raise UsageError("keypoints and points2d_xy are the same argument; give only one")
    shapes = _geometry(box2d_xywh, poly2d_xy, ellipse2d_xyrrt,
                       points2d_xy if keypoints is None else keypoints,
                       poly3d_xyz, points3d_xyz, box3d_xyzwhxyzwh)
    rgb = None if mask_rgb is None else _mask_value(mask_rgb)
    names = check_labels(labels)
    classes = None if frame_class is None else check_labels(frame_class, "frame_class")
    conf = check_confidence(confidence)
    check_roi_meta(metadata)
    user_id = None if id is None else check_str(id, "annotation id")
    members = None if sources is None else check_labels(sources, "sources")
    if not shapes and rgb is None and classes is None and labels is None:
        raise UsageError(
            "add_annotation needs a shape (box2d_xywh, poly2d_xy, ellipse2d_xyrrt, keypoints, "
            "...) or labels"
        )

    def make(kind: str | None, poly: tuple[float, ...] | None, label_list: list[str],
             mask: dict[str, Any] | None = None) -> Annotation:
        check_shape(kind, poly, mask is not None)
        return checked_annotation(kind, poly, list(label_list), conf, check_meta(metadata),
                                  user_id, mask, members)

    out = [make(kind, poly, names) for kind, poly in shapes]
    if rgb is not None:
        out.append(make("mask", None, names, {"id": "00", "value": rgb}))
    if classes is not None:
        out.append(make(None, None, classes))
    elif not out:
        out.append(make(None, None, names))
    return out
