"""The ``q`` language of ``list_assets`` over index entries: which field path reads what.

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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from vstore.datasets.query import compile_q, resolve_path
from vstore.picsellia.index import Entry
from vstore.picsellia.shapes import PLURALS

__all__ = ["DataLookup", "compile_asset_query", "resolve"]

DataLookup = Callable[[str], Entry | None]

_SCALARS = ("id", "filename", "object_name", "content_type", "width", "height", "data_id")
_SINGULAR = {plural: kind for kind, plural in PLURALS.items()}
_ANNOTATION_FIELDS = {"status": 1, "worker": 2, "id": 0}


def _scalar(entry: Entry, field: str) -> list[Any]:
    value = getattr(entry, field)
    return [] if value is None else [value]


def _kind_type(entry: Entry) -> str:
    return "VIDEO" if (entry.content_type or "").startswith("video/") else "IMAGE"


def _annotation_values(entry: Entry, rest: list[str]) -> list[Any]:
    if len(rest) == 1 and rest[0] in _ANNOTATION_FIELDS:
        i = _ANNOTATION_FIELDS[rest[0]]
        return [a[i] for a in entry.annotations if a[i] is not None]
    if not rest:
        return []
    kind = _SINGULAR.get(rest[0])
    if kind is None and rest[0] != "label":
        return []
    tail = rest[1:] if kind is not None else rest
    if tail in (["label", "name"], ["label"]):
        pos = 1
    elif tail == ["text"]:
        pos = 2
    else:
        return []
    return [
        shape[pos]
        for a in entry.annotations
        for shape in a.shapes
        if (kind is None or shape[0] == kind) and shape[pos] is not None
    ]


def resolve(entry: Entry, path: list[str], data: DataLookup | None = None) -> list[Any]:
    """The values a field path reaches on an entry (see the module docstring)."""
    head, rest = path[0], path[1:]
    if head in _SCALARS:
        return [] if rest else _scalar(entry, head)
    if head == "type":
        return [] if rest else [_kind_type(entry)]
    if head == "tags":
        return list(entry.tags) if rest in ([], ["name"]) else []
    if head == "data":
        if rest == ["id"]:
            return _scalar(entry, "data_id")
        found = None if data is None or entry.data_id is None else data(entry.data_id)
        return [] if found is None or not rest else resolve(found, rest)
    if head == "annotations":
        return _annotation_values(entry, rest)
    if head in ("metadata", "custom_metadata"):
        return resolve_path(entry.meta, rest) if rest else []
    return resolve_path(entry.meta, path)


def compile_asset_query(q: str, data: DataLookup | None = None) -> Callable[[Entry], bool]:
    """Compile a ``q`` query into a predicate over index entries.

    Raises:
        InvalidQueryError: the query does not parse (with the position).
    """
    def resolver(document: dict[str, Any], path: list[str]) -> list[Any]:
        return resolve(cast(Entry, document), path, data)

    predicate = compile_q(q, resolver)
    return cast(Callable[[Entry], bool], predicate)
