"""Annotation and its shapes: views of one asset's record, written back on every change.

An :class:`Annotation` (and each shape object) holds the ids it addresses and the fields it
last read. Every method reads the asset's current record, edits it and writes it in one
atomic update of the version, then refreshes the object.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vstore.errors import InvalidArgumentError, NotFoundError, WrongTypeError
from vstore.model.validation import check_meta
from vstore.picsellia import frames
from vstore.picsellia.annrecord import (
    AnnotationState,
    read_annotations,
    with_entry_fields,
    with_shapes,
    without_annotations,
)
from vstore.picsellia.enums import AnnotationStatus
from vstore.picsellia.multi import MultiObject
from vstore.picsellia.shape_objects import (
    Classification,
    Keypoints,
    LabelLike,
    Line,
    Mask,
    Point,
    Polygon,
    Rectangle,
    Shape,
    label_name,
    shape_object,
)
from vstore.picsellia.shapes import ShapeState, check_geometry

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "Annotation",
    "Classification",
    "Keypoints",
    "Line",
    "Mask",
    "MultiAnnotation",
    "Point",
    "Polygon",
    "Rectangle",
    "Shape",
    "worker_name",
]


def worker_name(worker: object) -> str | None:
    """A worker given as None (the current user), a str, or an object with ``username``."""
    if worker is None:
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return None
    if isinstance(worker, str):
        return worker
    name = getattr(worker, "username", None)
    if isinstance(name, str):
        return name
    raise WrongTypeError(f"worker must be a str or have a username, not {type(worker).__name__}")


class Annotation:
    """One annotation of an asset (get it from ``asset.create_annotation()`` and friends)."""

    def __init__(self, version: DatasetVersion, asset_id: str, state: AnnotationState) -> None:
        self._version = version
        self.asset_id = asset_id
        self._set(state)

    def _set(self, state: AnnotationState) -> None:
        self._state = state
        self.id = state.id
        self.worker = state.worker
        self.status = AnnotationStatus(state.status)
        self.duration = state.duration
        self.attributes = None if state.attributes is None else check_meta(state.attributes)

    @property
    def dataset_version_id(self) -> str:
        """The version the annotation belongs to."""
        return self._version.version_id

    @property
    def created_at(self) -> _dt.datetime:
        """When it was created (the epoch for an annotation written without this surface)."""
        return _dt.datetime.fromtimestamp(self._state.created, _dt.UTC)

    def _edit(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        record = frames.edit_records(self._version, [self.asset_id], fn)[self.asset_id]
        for state in read_annotations(record):
            if state.id == self.id:
                self._set(state)
                return

    def _labels(self, labels: Sequence[object]) -> list[str]:
        from vstore.picsellia.version_meta import known_labels

        names = [label_name(x) for x in labels]
        known = set(known_labels(self._version))
        missing = [n for n in names if n not in known]
        if missing:
            raise NotFoundError(
                f"label {missing[0]!r} is not a label of this dataset version; create it with "
                "create_label or get_or_create_label"
            )
        return names

    def _add(self, kind: str, items: Sequence[tuple[Any, object, str | None, Any]],
             replace: bool = False) -> list[Shape]:
        states = self._states(kind, items)
        self._edit(lambda r: with_shapes(r, self.id, states, replace=replace))
        return [shape_object(self, s) for s in states]

    def _states(self, kind: str, items: Sequence[tuple[Any, object, str | None, Any]]
                ) -> list[ShapeState]:
        names = self._labels([label for _g, label, _t, _a in items])
        return [
            ShapeState(kind, uuid.uuid4().hex, self.id, name, check_geometry(kind, geometry),
                       text, None if attributes is None else check_meta(attributes))
            for (geometry, _l, text, attributes), name in zip(items, names, strict=True)
        ]

    # -- the annotation itself ---------------------------------------------------------

    def sync(self) -> Annotation:
        """Re-read the annotation.

        Raises:
            NotFoundError: it was deleted.
        """
        for state in read_annotations(frames.read_record(self._version, self.asset_id)):
            if state.id == self.id:
                self._set(state)
                return self
        raise NotFoundError(f"annotation {self.id!r} was deleted")

    def update(self, duration: float | None = None, status: AnnotationStatus | str | None = None,
               attributes: dict[str, Any] | None = None) -> None:
        """Change the duration, status or attributes (only the arguments given)."""
        fields: dict[str, Any] = {}
        if duration is not None:
            fields["duration"] = _duration(duration)
        if status is not None:
            fields["status"] = AnnotationStatus.validate(status).value
        if attributes is not None:
            fields["attributes"] = check_meta(attributes)
        if fields:
            self._edit(lambda r: with_entry_fields(r, self.id, **fields))

    def delete(self) -> None:
        """Delete the annotation and its shapes."""
        frames.edit_records(self._version, [self.asset_id],
                            lambda r: without_annotations(r, [self.id]))

    def overwrite(
        self,
        rectangles: Sequence[tuple[Any, ...]] | None = None,
        polygons: Sequence[tuple[Any, ...]] | None = None,
        classifications: Sequence[Any] | None = None,
        lines: Sequence[tuple[Any, ...]] | None = None,
        points: Sequence[tuple[Any, ...]] | None = None,
        duration: float = 0.0,
        masks: Sequence[tuple[Any, ...]] | None = None,
        keypoints: Sequence[tuple[Any, ...]] | None = None,
    ) -> None:
        """Replace every shape at once (each argument in the ``create_multiple_*`` form)."""
        states = [
            *self._states("rectangle", [_rect(r) for r in rectangles or ()]),
            *self._states("polygon", [_pair(p) for p in polygons or ()]),
            *self._states("classification", [_single(c) for c in classifications or ()]),
            *self._states("line", [_pair(p) for p in lines or ()]),
            *self._states("point", [_pair(p) for p in points or ()]),
            *self._states("mask", [_mask(m) for m in masks or ()]),
            *self._states("keypoints", [_pair(p) for p in keypoints or ()]),
        ]
        seconds = _duration(duration)

        def edit(record: dict[str, Any]) -> dict[str, Any]:
            record = with_shapes(record, self.id, states, replace=True)
            return with_entry_fields(record, self.id, duration=seconds)

        self._edit(edit)

    def list_shapes(self, kind: str | None = None) -> list[Shape]:
        """The annotation's shapes as they are now (of one kind, or all)."""
        self.sync()
        return [shape_object(self, s) for s in self._state.shapes
                if kind is None or s.kind == kind]

    def load(self) -> dict[str, Any]:
        """The annotation as a dict, in the form of ``load_annotations``."""
        from vstore.picsellia.version_annotations import annotation_dict

        self.sync()
        return annotation_dict(self.asset_id, self._state)

    # -- shapes ------------------------------------------------------------------------

    def list_rectangles(self) -> list[Shape]:
        """The rectangles."""
        return self.list_shapes("rectangle")

    def list_polygons(self) -> list[Shape]:
        """The polygons."""
        return self.list_shapes("polygon")

    def list_lines(self) -> list[Shape]:
        """The lines."""
        return self.list_shapes("line")

    def list_points(self) -> list[Shape]:
        """The points."""
        return self.list_shapes("point")

    def list_keypoints(self) -> list[Shape]:
        """The keypoint sets."""
        return self.list_shapes("keypoints")

    def list_classifications(self) -> list[Shape]:
        """The classifications."""
        return self.list_shapes("classification")

    def list_masks(self) -> list[Shape]:
        """The masks."""
        return self.list_shapes("mask")

    def create_rectangle(self, x: float, y: float, w: float, h: float, label: LabelLike,
                         text: str | None = None, attributes: dict[str, Any] | None = None
                         ) -> Shape:
        """Add a rectangle (top-left ``x, y``, size ``w, h``)."""
        return self._add("rectangle", [((x, y, w, h), label, text, attributes)])[0]

    def create_multiple_rectangles(self, rectangles: Sequence[tuple[Any, ...]]) -> list[Shape]:
        """Add rectangles given as ``(x, y, w, h, label)`` tuples."""
        return self._add("rectangle", [_rect(r) for r in _nonempty(rectangles, "rectangles")])

    def create_polygon(self, coords: Sequence[Sequence[float]], label: LabelLike,
                       text: str | None = None, attributes: dict[str, Any] | None = None
                       ) -> Shape:
        """Add a polygon ``[[x, y], ...]``."""
        return self._add("polygon", [(coords, label, text, attributes)])[0]

    def create_multiple_polygons(self, polygons: Sequence[tuple[Any, ...]]) -> list[Shape]:
        """Add polygons given as ``(coords, label)`` tuples."""
        return self._add("polygon", [_pair(p) for p in _nonempty(polygons, "polygons")])

    def create_line(self, coords: Sequence[Sequence[float]], label: LabelLike,
                    text: str | None = None, attributes: dict[str, Any] | None = None) -> Shape:
        """Add a line ``[[x, y], ...]``."""
        return self._add("line", [(coords, label, text, attributes)])[0]

    def create_multiple_lines(self, lines: Sequence[tuple[Any, ...]]) -> list[Shape]:
        """Add lines given as ``(coords, label)`` tuples."""
        return self._add("line", [_pair(p) for p in _nonempty(lines, "lines")])

    def create_point(self, coords: Sequence[float], label: LabelLike, order: int | None = None,
                     text: str | None = None, attributes: dict[str, Any] | None = None) -> Shape:
        """Add a point ``[x, y]`` (``order`` is accepted and ignored, as in the original)."""
        return self._add("point", [(coords, label, text, attributes)])[0]

    def create_multiple_points(self, points: Sequence[tuple[Any, ...]]) -> list[Shape]:
        """Add points given as ``(coords, label)`` tuples."""
        return self._add("point", [_pair(p) for p in _nonempty(points, "points")])

    def create_keypoints(self, coords: Sequence[Sequence[float]], label: LabelLike,
                         text: str | None = None, attributes: dict[str, Any] | None = None
                         ) -> Shape:
        """Add keypoints ``[[x, y, visibility], ...]``."""
        return self._add("keypoints", [(coords, label, text, attributes)])[0]

    def create_classification(self, label: LabelLike, text: str | None = None,
                              attributes: dict[str, Any] | None = None) -> Shape:
        """Add a classification (a label for the whole asset)."""
        return self._add("classification", [(None, label, text, attributes)])[0]

    def create_multiple_classifications(self, classifications: Sequence[Any]) -> list[Shape]:
        """Add classifications given as labels (or ``(label,)`` tuples)."""
        return self._add("classification",
                         [_single(c) for c in _nonempty(classifications, "classifications")])

    def create_mask(self, mask: str, label: LabelLike, area: float | None = None,
                    bbox: Sequence[float] | None = None, text: str | None = None,
                    attributes: dict[str, Any] | None = None) -> Shape:
        """Add a mask given as COCO RLE counts."""
        geometry = {"rle": mask, "area": area, "bbox": bbox}
        return self._add("mask", [(geometry, label, text, attributes)])[0]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Annotation) and other.id == self.id
                and other.asset_id == self.asset_id
                and other.dataset_version_id == self.dataset_version_id)

    def __hash__(self) -> int:
        return hash((self.asset_id, self.id))

    def __repr__(self) -> str:
        return (f"Annotation(id={self.id!r}, asset_id={self.asset_id!r}, "
                f"status={self.status.value}, worker={self.worker!r})")


class MultiAnnotation(MultiObject[Annotation]):
    """A non-empty list of :class:`Annotation`."""

    item_type = Annotation


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidArgumentError(f"duration must be a number >= 0, got {value!r}")
    return float(value)


def _nonempty(items: Sequence[Any], what: str) -> Sequence[Any]:
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise WrongTypeError(f"{what} must be a list, not {type(items).__name__}")
    if not items:
        raise InvalidArgumentError(f"{what} must not be empty")
    return items


def _rect(item: Any) -> tuple[Any, object, str | None, Any]:
    if not isinstance(item, (tuple, list)) or len(item) not in (5, 6, 7):
        raise InvalidArgumentError(f"a rectangle is (x, y, w, h, label), got {item!r}")
    extra = [*list(item[5:]), None, None]
    return (tuple(item[:4]), item[4], extra[0], extra[1])


def _pair(item: Any) -> tuple[Any, object, str | None, Any]:
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3, 4):
        raise InvalidArgumentError(f"expected (coords, label), got {item!r}")
    extra = [*list(item[2:]), None, None]
    return (item[0], item[1], extra[0], extra[1])


def _single(item: Any) -> tuple[Any, object, str | None, Any]:
    label = item[0] if isinstance(item, (tuple, list)) and len(item) == 1 else item
    return (None, label, None, None)


def _mask(item: Any) -> tuple[Any, object, str | None, Any]:
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3, 4):
        raise InvalidArgumentError(f"a mask is (rle, label[, area, bbox]), got {item!r}")
    rest = [*list(item[2:]), None, None]
    return ({"rle": item[0], "area": rest[0], "bbox": rest[1]}, item[1], None, None)

