"""The tag-filter grammar of list queries (``__$all``, ``__$or``, ``__$not``, legacy ``-tag``).

A tag filter is a list of strings read left to right, exactly as the ClearML server's
``NewListFieldBucketHelper`` reads it (reference/seed-apis.md, B.4):

* ``"__$all"`` / ``"__$and"`` switch to AND context, ``"__$any"`` / ``"__$or"`` to OR context.
  The context starts as OR.
* ``"__$not"`` negates the next value only; ``"__$nop"`` resets the context to OR, cancels a
  pending ``"__$not"`` and re-enables the legacy prefix.
* If the list *starts* with a context operator, that operator is the global combiner;
  otherwise the global combiner is AND.
* Legacy ``"-tag"`` means NOT tag, but only until the first context operator (or again after
  ``"__$nop"``); after that ``"-tag"`` is the literal tag ``-tag``.
* Every value lands in one of three buckets: included in AND context → ``all``, included in
  OR context → ``in``, excluded in either context → ``nin``. The result is the global combiner
  over the non-empty buckets. So exclusions pool into one bucket:
  ``["__$all", "a", "__$or", "d", "__$not", "e"]`` is ``a AND d AND NOT e``,
  not ``a AND (d OR NOT e)``.
* A ``None`` value ORs in "the entity has no tags".

Typical use::

    >>> keep = compile_tag_filter(["best", "-debug"])
    >>> keep({"best", "train"}), keep({"best", "debug"})
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from vstore.errors import InvalidArgumentError, InvalidQueryError

__all__ = ["TagFilter", "compile_tag_filter"]

_OP_PREFIX = "__$"
_NOT = "__$not"
_RESET = "__$nop"
_CONTEXT_OPERATORS: dict[str, Literal["and", "or"]] = {
    "__$all": "and",
    "__$and": "and",
    "__$any": "or",
    "__$or": "or",
}
_KNOWN = ", ".join(sorted([*_CONTEXT_OPERATORS, _NOT, _RESET]))


@dataclass(frozen=True, slots=True)
class TagFilter:
    """A compiled tag filter: three buckets joined by one combiner.

    Call it with an entity's tags (any iterable of strings, or ``None`` for "no tags") to
    learn whether the entity matches. The buckets are public so that a caller holding a
    tag index can narrow its scan before calling the predicate.

    Attributes:
        combiner: ``"and"`` or ``"or"``; how the non-empty buckets combine.
        all_of: the entity must carry every one of these (the ``all`` bucket).
        any_of: the entity must carry at least one of these (the ``in`` bucket).
        none_of: the entity must carry none of these (the ``nin`` bucket).
        allow_empty: an entity with no tags matches too (a ``None`` was in the list).
    """

    combiner: Literal["and", "or"] = "and"
    all_of: frozenset[str] = frozenset()
    any_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    allow_empty: bool = False

    @property
    def matches_everything(self) -> bool:
        """True when the filter places no condition at all (``None`` or an empty list)."""
        return not (self.all_of or self.any_of or self.none_of or self.allow_empty)

    def __call__(self, tags: Iterable[str] | None) -> bool:
        """Tell whether an entity with these tags passes the filter.

        Args:
            tags: the entity's tags; ``None`` means the entity has no tag field.

        Returns:
            True if the entity matches.
        """
        have = frozenset(tags) if tags is not None else frozenset()
        checks: list[bool] = []
        if self.all_of:
            checks.append(self.all_of <= have)
        if self.any_of:
            checks.append(not self.any_of.isdisjoint(have))
        if self.none_of:
            checks.append(self.none_of.isdisjoint(have))
        if not checks:
            # No bucket: either no filter at all, or only a None ("must be empty").
            return not have if self.allow_empty else True
        result = all(checks) if self.combiner == "and" else any(checks)
        return result or (self.allow_empty and not have)


def compile_tag_filter(tags: Sequence[str | None] | str | None) -> TagFilter:
    """Compile a ClearML-style tag filter list into a predicate over an entity's tags.

    Args:
        tags: the filter list, read left to right (see the module docstring). ``None`` and
            ``[]`` match every entity. A bare string is read as a one-item list, as the
            server does.

    Returns:
        A :class:`TagFilter`; call it with an entity's tags to get a bool.

    Raises:
        InvalidQueryError: an unknown ``__$`` operator, an operator right after ``__$not``, a
            trailing ``__$not``, a bare ``-`` while the legacy prefix is active, or an item that
            is not a string. ``position`` is the 0-based index of the offending item (the list
            length for a trailing ``__$not``).
        InvalidArgumentError: ``tags`` is not a list, tuple, string or None.
    """
    if tags is None:
        return TagFilter()
    if isinstance(tags, str):
        tags = [tags]
    elif not isinstance(tags, Sequence):
        raise InvalidArgumentError(
            f"a tag filter must be a list of strings, got {type(tags).__name__}; "
            "wrap the tags in a list"
        )
    reader = _Reader()
    for index, value in enumerate(tags):
        reader.feed(index, value)
    return reader.finish(len(tags))


class _Reader:
    """The server's left-to-right state machine over one tag list."""

    __slots__ = ("allow_empty", "buckets", "combiner", "context", "legacy", "pending_not")

    def __init__(self) -> None:
        self.combiner: Literal["and", "or"] | None = None
        self.context: Literal["and", "or"] = "or"
        self.legacy = True
        self.pending_not: int | None = None  # index of a "__$not" still waiting for its tag
        self.allow_empty = False
        self.buckets: dict[str, set[str]] = {"all": set(), "in": set(), "nin": set()}

    def feed(self, index: int, value: object) -> None:
        """Read one item of the list."""
        if value is None:
            # The server lets a None swallow a pending "__$not" without complaint.
            self._start_values()
            self.pending_not = None
            self.allow_empty = True
            return
        if not isinstance(value, str):
            raise InvalidQueryError(
                f"tag filter item {index} is a {type(value).__name__}, not a string; "
                "tag filters hold tag names and operators only",
                position=index,
            )
        if value == _RESET:
            self._start_values()
            self.pending_not = None
            self.context = "or"
            self.legacy = True
            return
        if value.startswith(_OP_PREFIX):
            self._operator(index, value)
            return
        include = self.pending_not is None
        if include and self.legacy and value.startswith("-"):
            if len(value) == 1:
                raise InvalidQueryError(
                    f"tag filter item {index} is a bare '-'; write '-tag' to exclude a tag",
                    position=index,
                )
            value, include = value[1:], False
        self._start_values()
        self.pending_not = None
        bucket = "nin" if not include else ("all" if self.context == "and" else "in")
        self.buckets[bucket].add(value)

    def finish(self, length: int) -> TagFilter:
        """Build the filter once every item was read."""
        if self.pending_not is not None:
            raise InvalidQueryError(
                f"tag filter ends with '{_NOT}' (item {self.pending_not}); put a tag after it",
                position=length,
            )
        return TagFilter(
            combiner=self.combiner or "and",
            all_of=frozenset(self.buckets["all"]),
            any_of=frozenset(self.buckets["in"]),
            none_of=frozenset(self.buckets["nin"]),
            allow_empty=self.allow_empty,
        )

    def _start_values(self) -> None:
        # A list that starts with a value (or __$nop, or None) combines its buckets with AND.
        if self.combiner is None:
            self.combiner = "and"

    def _operator(self, index: int, value: str) -> None:
        if self.pending_not is not None:
            raise InvalidQueryError(
                f"tag filter item {index} is the operator '{value}', but '{_NOT}' (item "
                f"{self.pending_not}) must be followed by a tag",
                position=index,
            )
        if value == _NOT:
            self.pending_not = index
            return
        operator = _CONTEXT_OPERATORS.get(value)
        if operator is None:
            raise InvalidQueryError(
                f"tag filter item {index} is the unknown operator '{value}'; known operators "
                f"are {_KNOWN}",
                position=index,
            )
        self.context = operator
        self.legacy = False
        if self.combiner is None:
            self.combiner = operator
