"""The ``q`` language of ``list_assets`` over an asset index: which field path reads what.

Field paths (the syntax and operators are those of ``vstore.datasets.query``):

=====================================  ==================================================
``id``, ``filename``, ``object_name``  the asset's own fields; also ``content_type``,
                                       ``width``, ``height``, ``type`` (IMAGE or VIDEO),
                                       ``data_id``
``tags.name`` (or ``tags``)            asset tag names
``data.<path>``                        the same paths on the asset's datalake data, e.g.
                                       ``data.tags.name``, ``data.filename``
``annotations.<kind>.label.name``      labels of the shapes of one kind, over every
                                       annotation: ``rectangles``, ``polygons``, ``lines``,
                                       ``points``, ``keypoints``, ``classifications``,
                                       ``masks``; ``annotations.label.name`` for any kind;
                                       ``.text`` reads the shapes' text
``annotations.status|worker|id``       fields of every annotation
``metadata.<key>``                     the asset's metadata (``custom_metadata.<key>`` too);
                                       any other path is read in the metadata as well
=====================================  ==================================================

A query is evaluated a column at a time over the rows of the index (see
``vstore.picsellia.columns``), not an asset at a time: most paths read one column, and each
condition is decided once per distinct value of that column (a version has a few cameras,
labels and tag sets however many assets it holds). A condition says what it says on the values
a path reaches, exactly as ``vstore.datasets.query`` decides it; only the bookkeeping differs.
The few paths no column holds (``data.*``, ``annotations.id``, nested metadata) are resolved
on each asset's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from vstore.datasets.query import (
    And,
    Condition,
    Node,
    Not,
    Resolver,
    compile_q,
    parse_q,
    resolve_path,
)
from vstore.picsellia.columns import META, extractor
from vstore.picsellia.entry import Entry
from vstore.picsellia.shapes import PLURALS

if TYPE_CHECKING:
    from vstore.picsellia.index import AssetIndex

__all__ = ["AssetQuery", "DataLookup", "compile_asset_query", "resolve"]

DataLookup = Callable[[str], Entry | None]
#: The values a column value makes a path reach.
Project = Callable[[Any], Sequence[Any]]
#: ``(column, project)``; a None column: the path reaches nothing, whatever the asset.
Plan = tuple[str | None, Project]

_SCALARS = ("id", "filename", "object_name", "content_type", "width", "height", "data_id")
_SINGULAR = {plural: kind for kind, plural in PLURALS.items()}


def _scalar(value: Any) -> tuple[Any, ...]:
    return () if value is None else (value,)


def _same(value: Any) -> Any:
    return value


def _kind_type(content_type: Any) -> tuple[str]:
    return ("VIDEO",) if (content_type or "").startswith("video/") else ("IMAGE",)


def _shape_values(kind: str | None, pos: int) -> Project:
    def project(shapes: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
        return tuple(s[pos] for s in shapes
                     if (kind is None or s[0] == kind) and s[pos] is not None)

    return project


_NOTHING: Plan = (None, _same)


def _annotation_plan(rest: list[str]) -> Plan | None:
    if len(rest) == 1 and rest[0] in ("status", "worker"):
        return rest[0], _same
    if rest == ["id"]:
        return None
    if not rest:
        return _NOTHING
    kind = _SINGULAR.get(rest[0])
    if kind is None and rest[0] != "label":
        return _NOTHING
    tail = rest[1:] if kind is not None else rest
    if tail in (["label", "name"], ["label"]):
        return "shapes", _shape_values(kind, 1)
    if tail == ["text"]:
        return "shapes", _shape_values(kind, 2)
    return _NOTHING


def _plan(path: list[str]) -> Plan | None:
    """The column a path reads and how, or None when it is resolved on each entry."""
    head, rest = path[0], path[1:]
    if head in _SCALARS:
        return _NOTHING if rest else (head, _scalar)
    if head == "type":
        return _NOTHING if rest else ("content_type", _kind_type)
    if head == "tags":
        return ("tags", _same) if rest in ([], ["name"]) else _NOTHING
    if head == "data":
        return ("data_id", _scalar) if rest == ["id"] else None
    if head == "annotations":
        return _annotation_plan(rest)
    if head in ("metadata", "custom_metadata"):
        if not rest:
            return _NOTHING
        return (META + rest[0], _same) if len(rest) == 1 else None
    return (META + head, _same) if not rest else None


def _by_entry(entry: Entry, path: list[str], data: DataLookup | None) -> list[Any]:
    """What a path no column holds reaches on one entry."""
    head, rest = path[0], path[1:]
    if head == "data":
        found = None if data is None or entry.data_id is None else data(entry.data_id)
        return [] if found is None or not rest else resolve(found, rest)
    if head == "annotations":  # annotations.id
        return [a.id for a in entry.annotations]
    if head in ("metadata", "custom_metadata"):
        return resolve_path(entry.meta, rest)
    return resolve_path(entry.meta, path)


def resolve(entry: Entry, path: list[str], data: DataLookup | None = None) -> list[Any]:
    """The values a field path reaches on an entry (see the module docstring)."""
    plan = _plan(path)
    if plan is None:
        return _by_entry(entry, path, data)
    column, project = plan
    return [] if column is None else list(project(extractor(column)(entry)))


def _given(values: Any, _path: list[str]) -> list[Any]:
    return cast(list[Any], values)


def _memoized(holds: Callable[[Any], bool], project: Project) -> Callable[[Any], bool]:
    """``holds(project(value))``, computed once per distinct column value."""
    memo: dict[Any, bool] = {}

    def test(value: Any) -> bool:
        try:
            hit = memo.get(value)
        except TypeError:  # an unhashable value (a list in the metadata)
            return holds(project(value))
        if hit is None:
            reached = project(value)
            hit = holds(reached)
            # True == 1 and they hash alike, yet never match the same conditions: a value
            # reaching 0, 1 or a bool is decided on its own.
            if not (True in reached or False in reached):
                memo[value] = hit
        return hit

    return test


def _condition_rows(condition: Condition, index: AssetIndex, rows: list[int],
                    data: DataLookup | None) -> list[int]:
    holds = cast(Callable[[Any], bool], compile_q(condition, cast(Resolver, _given)))
    path = list(condition.path)
    plan = _plan(path)
    if plan is None:
        entries = index.take(rows)
        return [r for r, e in zip(rows, entries, strict=True) if holds(_by_entry(e, path, data))]
    column, project = plan
    if column is None:
        return rows if holds(()) else []
    values = index.column(column)
    test = _memoized(holds, project)
    return [r for r in rows if test(values[r])]


def _rows(node: Node, index: AssetIndex, rows: list[int], data: DataLookup | None
          ) -> list[int]:
    """The rows among ``rows`` (kept in their order) where ``node`` holds."""
    if not rows:
        return rows
    if isinstance(node, Condition):
        return _condition_rows(node, index, rows, data)
    if isinstance(node, Not):
        held = set(_rows(node.operand, index, rows, data))
        return [r for r in rows if r not in held]
    if isinstance(node, And):
        for operand in node.operands:
            rows = _rows(operand, index, rows, data)
        return rows
    matched: set[int] = set()
    left = rows
    for operand in node.operands:
        matched.update(_rows(operand, index, left, data))
        left = [r for r in left if r not in matched]
    return [r for r in rows if r in matched]


class AssetQuery:
    """A parsed ``q`` query over the rows of asset indexes.

    Args:
        q: the query text.
        data: finds the datalake entry of a data id, for ``data.*`` paths.

    Raises:
        InvalidQueryError: the query does not parse (with the position).
    """

    def __init__(self, q: str, data: DataLookup | None = None) -> None:
        self.node = parse_q(q)
        self.data = data

    def rows(self, index: AssetIndex, rows: list[int]) -> list[int]:
        """The rows among ``rows`` whose asset matches, in the order given."""
        index.prefetch(_columns(self.node))  # a built index makes them in one pass
        return _rows(self.node, index, rows, self.data)


def _columns(node: Node) -> list[str]:
    """The columns the conditions of a query read."""
    if isinstance(node, Condition):
        plan = _plan(list(node.path))
        return [] if plan is None or plan[0] is None else [plan[0]]
    if isinstance(node, Not):
        return _columns(node.operand)
    return [c for operand in node.operands for c in _columns(operand)]


def compile_asset_query(q: str, data: DataLookup | None = None) -> AssetQuery:
    """Parse a ``q`` query for evaluation over asset indexes.

    Raises:
        InvalidQueryError: the query does not parse (with the position).
    """
    return AssetQuery(q, data)
