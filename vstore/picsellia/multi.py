"""MultiObject: the list wrapper of the Picsellia surface, which is never empty.

As in the original: the constructor refuses an empty list, and ``remove``, ``pop`` and
``del`` refuse to take the last item (all with :class:`~vstore.errors.NoDataError`);
``clear()`` always refuses. Slicing gives the same wrapper type, and ``+`` / ``+=`` take an
item or a wrapper of the same type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from vstore.errors import InvalidArgumentError, NoDataError, WrongTypeError

__all__ = ["MultiObject"]

T = TypeVar("T")


class MultiObject(Generic[T]):
    """A non-empty list of objects of one type.

    Args:
        items: the objects.

    Raises:
        NoDataError: ``items`` is empty.
        WrongTypeError: an item of the wrong type.
    """

    item_type: ClassVar[type[Any]] = object

    def __init__(self, items: Iterable[T]) -> None:
        self.items: list[T] = list(items)
        if not self.items:
            raise NoDataError(f"a {type(self).__name__} can't be empty")
        for item in self.items:
            self._check_item(item)

    def _check_item(self, item: object) -> None:
        if not isinstance(item, self.item_type):
            raise WrongTypeError(
                f"a {type(self).__name__} holds {self.item_type.__name__} objects, "
                f"not {type(item).__name__}"
            )

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __contains__(self, item: object) -> bool:
        return item in self.items

    @overload
    def __getitem__(self, key: int) -> T: ...

    @overload
    def __getitem__(self, key: slice) -> Self: ...

    def __getitem__(self, key: int | slice) -> T | Self:
        if isinstance(key, slice):
            return type(self)(self.items[key])
        return self.items[key]

    def __delitem__(self, key: int | slice) -> None:
        rest = list(self.items)
        del rest[key]
        self._refuse_empty(rest)
        self.items = rest

    def _refuse_empty(self, rest: list[T]) -> None:
        if not rest:
            raise NoDataError(f"a {type(self).__name__} can't be empty: keep at least one item")

    def _others(self, other: object) -> list[T]:
        if isinstance(other, type(self)):
            return list(other.items)
        if isinstance(other, self.item_type):
            return [other]
        raise WrongTypeError(
            f"you can only add a {self.item_type.__name__} or a {type(self).__name__} to a "
            f"{type(self).__name__}, not {type(other).__name__}"
        )

    def __add__(self, other: object) -> Self:
        return type(self)([*self.items, *self._others(other)])

    def __iadd__(self, other: object) -> Self:
        self.items.extend(self._others(other))
        return self

    def append(self, item: T) -> None:
        """Add one item at the end."""
        self._check_item(item)
        self.items.append(item)

    def extend(self, items: Iterable[T]) -> None:
        """Add items at the end."""
        for item in items:
            self.append(item)

    def remove(self, item: T) -> None:
        """Remove one item.

        Raises:
            NoDataError: it is the last item.
            ValueError: it is not in the list.
        """
        rest = list(self.items)
        rest.remove(item)
        self._refuse_empty(rest)
        self.items = rest

    def pop(self, index: int = -1) -> T:
        """Remove and return one item.

        Raises:
            NoDataError: it is the last item.
        """
        self._refuse_empty(self.items[:index] + self.items[index:][1:])
        return self.items.pop(index)

    def clear(self) -> None:
        """Always refused: a MultiObject is never empty.

        Raises:
            NoDataError: always.
        """
        raise NoDataError(f"a {type(self).__name__} can't be empty; there is nothing to clear")

    def copy(self) -> Self:
        """A shallow copy."""
        return type(self)(self.items)

    def split(self, ratio: float) -> tuple[Self, Self]:
        """Cut in two at ``round(ratio * len(self))``.

        Raises:
            InvalidArgumentError: ``ratio`` is not in [0, 1].
            NoDataError: one side would be empty.
        """
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise InvalidArgumentError(f"ratio must be a number in [0, 1], got {ratio!r}")
        cut = round(ratio * len(self.items))
        return type(self)(self.items[:cut]), type(self)(self.items[cut:])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiObject) and type(other) is type(self) and (
            other.items == self.items)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(repr(x) for x in self.items[:3])
        more = f", ... ({len(self.items)} items)" if len(self.items) > 3 else ""
        return f"{type(self).__name__}([{shown}{more}])"
