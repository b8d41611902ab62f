"""Shape objects: the rectangles, polygons, lines, points, keypoints, classifications and
masks of an annotation, as the user handles them.

Each holds its stored :class:`~vstore.picsellia.shapes.ShapeState` and the annotation it
belongs to; ``update`` and ``delete`` write through that annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from vstore.errors import WrongTypeError
from vstore.model.validation import check_meta
from vstore.picsellia.annrecord import with_shape_edit
from vstore.picsellia.labels import Label
from vstore.picsellia.shapes import ShapeState, check_geometry, num

if TYPE_CHECKING:
    from vstore.picsellia.annotation import Annotation

__all__ = [
    "Classification",
    "Keypoints",
    "LabelLike",
    "Line",
    "Mask",
    "Point",
    "Polygon",
    "Rectangle",
    "Shape",
    "label_name",
    "shape_object",
]

LabelLike = Label | str


def label_name(label: object) -> str:
    """The name of a label given as a Label or a str."""
    if isinstance(label, Label):
        return label.name
    if isinstance(label, str) and label:
        return label
    raise WrongTypeError(f"a label is a Label or its name, not {label!r}")


class Shape:
    """A shape of an annotation (see the subclasses for the geometry)."""

    kind: ClassVar[str] = ""

    def __init__(self, annotation: Annotation, state: ShapeState) -> None:
        self._annotation = annotation
        self._state = state

    @property
    def id(self) -> str:
        """The shape's id."""
        return self._state.id

    @property
    def annotation_id(self) -> str:
        """The annotation it belongs to."""
        return self._state.annotation_id

    @property
    def label(self) -> Label | None:
        """Its label."""
        return None if self._state.label is None else Label(self._state.label)

    @property
    def text(self) -> str | None:
        """Its text (OCR), or None."""
        return self._state.text

    @property
    def attributes(self) -> dict[str, Any] | None:
        """Its attributes (a copy), or None."""
        return None if self._state.attributes is None else check_meta(self._state.attributes)

    def _update(self, geometry: Any, label: LabelLike | None, text: str | None,
                attributes: dict[str, Any] | None) -> None:
        names = None if label is None else self._annotation._labels([label])
        state = ShapeState(
            self.kind, self.id, self.annotation_id,
            self._state.label if names is None else names[0],
            geometry, self._state.text if text is None else text,
            self._state.attributes if attributes is None else check_meta(attributes),
            self._state.object_id,
        )
        self._annotation._edit(lambda r: with_shape_edit(r, self.id, state))
        self._state = state

    def update(self, label: LabelLike | None = None, text: str | None = None,
               attributes: dict[str, Any] | None = None) -> None:
        """Change the label, text or attributes (only the arguments that are not None)."""
        self._update(self._state.geometry, label, text, attributes)

    def delete(self) -> None:
        """Delete the shape.

        Raises:
            NotFoundError: it was already deleted.
        """
        self._annotation._edit(lambda r: with_shape_edit(r, self.id, None))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shape) and other._state == self._state

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, label={self._state.label!r})"


class Rectangle(Shape):
    """A box: top-left corner ``x, y`` and size ``w, h`` in pixels."""

    kind = "rectangle"

    @property
    def x(self) -> int | float:
        """Left edge."""
        return num(self._state.geometry[0])

    @property
    def y(self) -> int | float:
        """Top edge."""
        return num(self._state.geometry[1])

    @property
    def w(self) -> int | float:
        """Width."""
        return num(self._state.geometry[2])

    @property
    def h(self) -> int | float:
        """Height."""
        return num(self._state.geometry[3])

    def update(  # type: ignore[override]
        self, x: float | None = None, y: float | None = None, w: float | None = None,
        h: float | None = None, label: LabelLike | None = None, text: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Change fields (only the arguments that are not None)."""
        old = self._state.geometry
        box = [old[i] if v is None else v for i, v in enumerate((x, y, w, h))]
        self._update(check_geometry("rectangle", box), label, text, attributes)


class _CoordsShape(Shape):
    @property
    def coords(self) -> list[list[int | float]]:
        """The points ``[[x, y], ...]``."""
        return [[num(c) for c in p] for p in self._state.geometry]

    def update(  # type: ignore[override]
        self, coords: Sequence[Sequence[float]] | None = None, label: LabelLike | None = None,
        text: str | None = None, attributes: dict[str, Any] | None = None,
    ) -> None:
        """Change fields (only the arguments that are not None)."""
        geometry = self._state.geometry if coords is None else check_geometry(self.kind, coords)
        self._update(geometry, label, text, attributes)


class Polygon(_CoordsShape):
    """A closed polygon ``[[x, y], ...]`` (3 points or more)."""

    kind = "polygon"


class Line(_CoordsShape):
    """An open polyline ``[[x, y], ...]`` (2 points or more)."""

    kind = "line"


class Keypoints(_CoordsShape):
    """Keypoints ``[[x, y, visibility], ...]`` (visibility 0, 1 or 2, as in COCO)."""

    kind = "keypoints"


class Point(Shape):
    """One point ``[x, y]``."""

    kind = "point"
    order = 0

    @property
    def coords(self) -> list[int | float]:
        """``[x, y]``."""
        return [num(c) for c in self._state.geometry]

    def update(  # type: ignore[override]
        self, coords: Sequence[float] | None = None, label: LabelLike | None = None,
        text: str | None = None, attributes: dict[str, Any] | None = None,
    ) -> None:
        """Change fields (only the arguments that are not None)."""
        geometry = self._state.geometry if coords is None else check_geometry("point", coords)
        self._update(geometry, label, text, attributes)


class Classification(Shape):
    """A label for the whole asset."""

    kind = "classification"


class Mask(Shape):
    """A segmentation mask: COCO RLE counts, area and bounding box."""

    kind = "mask"

    @property
    def mask(self) -> str:
        """The RLE counts string."""
        return str(self._state.geometry["rle"])

    @property
    def area(self) -> float | None:
        """The mask's area in pixels, if known."""
        area = self._state.geometry.get("area")
        return None if area is None else float(area)

    @property
    def bbox(self) -> list[int | float] | None:
        """``[x, y, w, h]`` around the mask, if known."""
        box = self._state.geometry.get("bbox")
        return None if box is None else [num(v) for v in box]


_CLASSES: dict[str, type[Shape]] = {
    c.kind: c for c in (Rectangle, Polygon, Line, Point, Keypoints, Classification, Mask)
}


def shape_object(annotation: Annotation, state: ShapeState) -> Shape:
    """The shape object of a stored shape."""
    return _CLASSES[state.kind](annotation, state)
