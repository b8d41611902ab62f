"""Filtering, ordering and paging index rows: the engine of ``list_assets`` and ``list_data``.

The rules are those of the original: an empty result raises ``NoDataError``; ``limit`` must
be > 0 and ``offset`` >= 0; at most one of the list filters (``ids``, ``object_names``,
``filenames``, ``filenames_startswith``, ``data_ids``) may be given, none of them empty, and
with one of them ``limit`` and ``offset`` are ignored (with a logged warning). Tag filters
match any of the tags, or all of them with ``intersect_*``; every filter given must hold.

A selection works on the rows of the index: list filters and ``q`` read its columns, and only
the assets that remain (after paging, when nothing else needs them) become entries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vstore.errors import InvalidArgumentError, NoDataError, UsageError, WrongTypeError
from vstore.picsellia.enums import TagTarget
from vstore.picsellia.index import AssetIndex, Entry
from vstore.picsellia.query import AssetQuery, DataLookup, compile_asset_query
from vstore.picsellia.tags import tag_names

__all__ = ["ORDER_FIELDS", "Selection", "select"]

log = logging.getLogger("vstore.picsellia")

ORDER_FIELDS = ("id", "filename", "object_name", "data_id", "content_type", "width", "height",
                "created_at")
_LIST_FILTERS = ("ids", "object_names", "filenames", "filenames_startswith", "data_ids")
_LOOKUP = {"object_names": "object_name", "filenames": "filename", "data_ids": "data_id"}

Predicate = Callable[[Entry], bool]
T = TypeVar("T")


@dataclass
class Selection:
    """What to select: every argument of ``list_assets`` / ``list_data``, unchecked."""

    limit: int | None = None
    offset: int | None = None
    order_by: Sequence[str] | None = None
    tags: Any = None
    data_tags: Any = None
    intersect_tags: bool = False
    intersect_data_tags: bool = False
    lists: dict[str, Any] = field(default_factory=dict)
    q: str | None = None
    custom_metadata: dict[str, Any] | None = None
    task: dict[str, Any] = field(default_factory=dict)
    what: str = "asset"


def _check_paging(sel: Selection) -> None:
    for name, value, least in (("limit", sel.limit, 1), ("offset", sel.offset, 0)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise WrongTypeError(f"{name} must be an int, got {value!r}")
        if value < least:
            raise InvalidArgumentError(f"{name} must be >= {least}, got {value}")


def _list_filter(sel: Selection) -> tuple[str, list[str]] | None:
    given = [(k, v) for k, v in sel.lists.items() if v is not None]
    if len(given) > 1:
        names = ", ".join(k for k, _ in given)
        raise UsageError(f"give only one of {', '.join(_LIST_FILTERS)} (got {names})")
    if not given:
        return None
    name, values = given[0]
    if isinstance(values, str) or not isinstance(values, (list, tuple, set)):
        raise WrongTypeError(f"{name} must be a list of str, not {type(values).__name__}")
    items = [str(v) if not isinstance(v, str) else v for v in values]
    if not items:
        raise InvalidArgumentError(f"{name} must hold at least one item")
    return name, items


def _tag_test(tags: Any, intersect: bool, target: TagTarget, get: Callable[[Entry], Any],
              what: str) -> Predicate | None:
    if tags is None:
        return None
    wanted = tag_names(tags, target, what)
    if intersect:
        need = set(wanted)
        return lambda e: need.issubset(get(e))
    return lambda e: any(t in wanted for t in get(e))


def _data_tags(lookup: DataLookup | None) -> Callable[[Entry], tuple[str, ...]]:
    def get(e: Entry) -> tuple[str, ...]:
        found = None if lookup is None or e.data_id is None else lookup(e.data_id)
        return () if found is None else found.tags

    return get


def _meta_test(wanted: dict[str, Any] | None) -> Predicate | None:
    if wanted is None:
        return None
    if not isinstance(wanted, dict):
        raise WrongTypeError(f"custom_metadata must be a dict, not {type(wanted).__name__}")
    items = list(wanted.items())
    return lambda e: all(k in e.meta and e.meta[k] == v for k, v in items)


def _task_test(wanted: dict[str, Any]) -> Predicate | None:
    items = [(k, v) for k, v in wanted.items() if v is not None]
    if not items:
        return None
    return lambda e: e.task is not None and all(e.task.get(k) == v for k, v in items)


def _predicates(sel: Selection, lookup: DataLookup | None
                ) -> tuple[AssetQuery | None, list[Predicate]]:
    """The query (read from columns) and the tests each selected entry must pass."""
    asset_tags = _tag_test(sel.tags, sel.intersect_tags, TagTarget.ASSET if sel.what == "asset"
                           else TagTarget.DATA, lambda e: e.tags, "tags")
    data_tags = _tag_test(sel.data_tags, sel.intersect_data_tags, TagTarget.DATA,
                          _data_tags(lookup), "data_tags")
    query = None if sel.q is None else compile_asset_query(sel.q, lookup)
    tests = [asset_tags, data_tags, _meta_test(sel.custom_metadata), _task_test(sel.task)]
    return query, [t for t in tests if t is not None]


def _sort_key(name: str) -> Callable[[Entry], Any]:
    attr = "created" if name == "created_at" else name

    def key(e: Entry) -> tuple[bool, Any]:
        value = getattr(e, attr)
        return (value is not None, value if value is not None else 0)

    return key


def _ordered(entries: list[Entry], order_by: Sequence[str] | None) -> list[Entry]:
    if order_by is None:
        return entries
    if isinstance(order_by, str) or not isinstance(order_by, (list, tuple)):
        raise WrongTypeError(f"order_by must be a list of field names, not {order_by!r}")
    for spec in reversed(list(order_by)):
        name = spec[1:] if isinstance(spec, str) and spec.startswith("-") else spec
        if name not in ORDER_FIELDS:
            raise InvalidArgumentError(
                f"cannot order by {spec!r}; use one of {list(ORDER_FIELDS)} ('-' for descending)"
            )
        entries = sorted(entries, key=_sort_key(name), reverse=spec.startswith("-"))
    return entries


def _candidates(index: AssetIndex, chosen: tuple[str, list[str]] | None) -> list[int]:
    """The rows a list filter keeps (every row without one), in the order it names them."""
    if chosen is None:
        return list(range(len(index)))
    name, values = chosen
    if name == "ids":
        rows = (index.row_of(v) for v in dict.fromkeys(values))
        return [r for r in rows if r is not None]
    if name == "filenames_startswith":
        prefixes = tuple(values)
        return [r for r, f in enumerate(index.column("filename")) if f.startswith(prefixes)]
    field_name = _LOOKUP[name]
    return [r for v in dict.fromkeys(values) for r in index.lookup_rows(field_name, v)]


def select(index: AssetIndex, sel: Selection, lookup: DataLookup | None = None) -> list[Entry]:
    """The entries of ``index`` that ``sel`` selects, in order.

    Raises:
        NoDataError: nothing is selected.
        UsageError: several list filters.
        InvalidArgumentError: a bad limit, offset, order field or empty list filter.
        InvalidQueryError: ``q`` does not parse.
    """
    entries = _selected(index, sel, lookup)
    if not entries:
        raise NoDataError(f"No {sel.what} retrieved")
    return entries


def _selected(index: AssetIndex, sel: Selection, lookup: DataLookup | None) -> list[Entry]:
    _check_paging(sel)
    chosen = _list_filter(sel)
    query, tests = _predicates(sel, lookup)
    rows = _candidates(index, chosen)
    if query is not None:
        rows = query.rows(index, rows)
    if not tests and sel.order_by is None:  # a page of rows: only its assets become entries
        return index.take(_page(rows, sel, chosen))
    entries = index.take(rows)
    if tests:
        entries = [e for e in entries if all(t(e) for t in tests)]
    return _page(_ordered(entries, sel.order_by), sel, chosen)


def _page(items: list[T], sel: Selection, chosen: tuple[str, list[str]] | None) -> list[T]:
    if chosen is not None and (sel.limit is not None or sel.offset is not None):
        log.warning("limit and offset are ignored when %s is given", chosen[0])
    elif sel.offset or sel.limit is not None:
        start = sel.offset or 0
        return items[start:None if sel.limit is None else start + sel.limit]
    return items
