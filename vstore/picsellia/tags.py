"""Tags: a name and the kind of object it goes on.

A tag is a value: two tags with the same name and target are the same tag, and its id is
derived from both. Store-wide tags (``store.create_tag``) are recorded in the datalake's
document; asset tags are also recorded per dataset version (``create_asset_tag``). Objects
store the names of their tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import blake3

from vstore.errors import InvalidArgumentError, WrongTypeError
from vstore.picsellia.enums import TagTarget
from vstore.picsellia.record import check_name

__all__ = ["Tag", "tag_names"]


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag.

    Attributes:
        name: the tag's name.
        target_type: what it can be put on.
    """

    name: str
    target_type: TagTarget

    @property
    def id(self) -> str:
        """A stable id derived from the target and the name."""
        return blake3.blake3(f"{self.target_type.value}/{self.name}".encode()).hexdigest()[:32]

    def attach_on(self, targets: Any) -> None:
        """Put this tag on objects (a list, or one); objects of another kind are skipped."""
        for target in _as_list(targets):
            if getattr(target, "tag_target", None) == self.target_type:
                target.add_tags(self)

    def detach_from(self, targets: Any) -> None:
        """Remove this tag from objects (a list, or one); objects of another kind are skipped."""
        for target in _as_list(targets):
            if getattr(target, "tag_target", None) == self.target_type:
                target.remove_tags(self)

    def __repr__(self) -> str:
        return f"Tag(name={self.name!r}, target_type={self.target_type.value})"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "items") and not isinstance(value, dict):  # a MultiAsset or MultiData
        return list(value.items)
    return [value]


def tag_names(tags: object, target: TagTarget, what: str = "tags") -> list[str]:
    """The names of tags given as a Tag, a str, or a list of them (duplicates removed).

    Raises:
        InvalidArgumentError: an empty list, or a tag of another target.
        WrongTypeError: an item that is neither a Tag nor a str.
    """
    items: Iterable[object]
    items = [tags] if isinstance(tags, (str, Tag)) else tags  # type: ignore[assignment]
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise WrongTypeError(f"{what} must be a Tag, a str or a list of them, not {tags!r}")
    names: dict[str, None] = {}
    for tag in items:
        if isinstance(tag, Tag):
            if tag.target_type != target:
                raise InvalidArgumentError(
                    f"tag {tag.name!r} targets {tag.target_type.value}; {what} here need "
                    f"{target.value} tags"
                )
            names[tag.name] = None
        elif isinstance(tag, str):
            names[check_name(tag, "tag name")] = None
        else:
            raise WrongTypeError(f"{what} must hold Tag or str items, not {type(tag).__name__}")
    if not names:
        raise InvalidArgumentError(f"{what} must not be empty")
    return list(names)
