"""Projections: keep only some fields of a record, in the record's own shape.

A projection is a list of dot paths, as in the Hyper-Datasets ``projection=``
argument and MongoDB projections:

- ``"meta.camera"`` keeps one field of a map;
- ``"rois.0.label"`` keeps one element of a list (the list keeps only it);
- ``"rois.*.label"`` keeps a field of every element (``*`` on a map keeps every key);
- ``"rois.label"`` is the same as ``"rois.*.label"`` (a name applies to each element).

Paths that select nothing are absent from the result, never an error:
``"dataset.id"`` on a record without ``dataset`` selects nothing. A map that
exists keeps its place even when none of its fields matched (``{"meta": {}}``),
as MongoDB does. Values are copied, so changing the result never changes the
record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypedDict

import msgspec

from vstore.errors import InvalidArgumentError, InvalidQueryError

__all__ = ["compile_projection", "project"]

# A compiled projection is a tree of path segments; LEAF marks "the whole value".
Node = dict[str, "Node"] | None
LEAF: Node = None
_ABSENT: Any = object()


def project(
    record: dict[str, Any], projection: Sequence[str], *, copy: bool = True
) -> dict[str, Any]:
    """Return the parts of ``record`` that ``projection`` selects.

    Args:
        record: a record (any map with str keys).
        projection: dot paths such as ``["id", "meta.camera", "rois.*.label"]``.
        copy: copy the selected values; pass False for a record nobody else holds
            (one just decoded), so the result may share its containers.

    Returns:
        A new dict in the record's shape holding only the selected fields.

    Raises:
        InvalidArgumentError: ``projection`` is not a list of str.
        InvalidQueryError: a path is empty, has an empty segment or uses ``$``.
    """
    tree = compile_projection(projection)
    if type(record) is not dict:
        out = _ABSENT
    elif copy:
        out = _apply(record, tree)
    else:
        out = _apply(record, tree, _keep)
    if out is _ABSENT:
        raise InvalidArgumentError(f"record must be a dict, not {type(record).__name__}")
    result: dict[str, Any] = out
    return result


def compile_projection(projection: Sequence[str]) -> dict[str, Node]:
    """Parse a projection into its path tree (cached, so repeated reads reuse it).

    Args:
        projection: dot paths.

    Returns:
        A tree mapping each segment to its sub-tree, or to None for a whole value.

    Raises:
        InvalidArgumentError: ``projection`` is not a list of str.
        InvalidQueryError: a malformed path.
    """
    if isinstance(projection, (str, bytes)) or not isinstance(projection, Sequence):
        raise InvalidArgumentError(
            f"projection must be a list of field paths such as ['id', 'meta.camera'], "
            f"not {type(projection).__name__}"
        )
    for path in projection:
        if type(path) is not str:
            raise InvalidArgumentError(f"projection paths must be str, not {type(path).__name__}")
    return _compile(tuple(projection))


@lru_cache(maxsize=256)
def _compile(paths: tuple[str, ...]) -> dict[str, Node]:
    root: dict[str, Node] = {}
    for path in paths:
        _check_path(path)
        node = root
        segments = path.split(".")
        for seg in segments[:-1]:
            child = node.setdefault(seg, {})
            if child is None:
                break
            node = child
        else:
            node[segments[-1]] = LEAF
    return root


def _check_path(path: str) -> None:
    if not path:
        raise InvalidQueryError("projection path is empty", position=0, query=path)
    if "$" in path:
        raise InvalidQueryError(
            "projection paths cannot use '$' operators", position=path.index("$"), query=path
        )
    offset = 0
    for seg in path.split("."):
        if not seg:
            raise InvalidQueryError(
                f"projection path {path!r} has an empty segment", position=offset, query=path
            )
        offset += len(seg) + 1


def _merge(a: Any, b: Any) -> Any:
    if a is _ABSENT:
        return b
    if b is _ABSENT:
        return a
    if a is LEAF or b is LEAF:
        return LEAF
    out = dict(a)
    for key, child in b.items():
        out[key] = _merge(out.get(key, _ABSENT), child)
    return out


def _keep(value: Any) -> Any:
    return value


def _select(value: Any, node: Node, leaf: Callable[[Any], Any]) -> Any:
    if node is None:
        return leaf(value)
    t = type(value)
    if t is dict or t is list:
        return _apply(value, node, leaf)
    return _ABSENT


def _apply(value: Any, node: dict[str, Node], leaf: Callable[[Any], Any] | None = None) -> Any:
    if leaf is None:
        leaf = _copy
    if type(value) is dict:
        star = node.get("*", _ABSENT)
        keys = value.keys() if star is not _ABSENT else [k for k in node if k in value]
        out: dict[str, Any] = {}
        for key in keys:
            child = _merge(star, node.get(key, _ABSENT))
            if child is _ABSENT:
                continue
            got = _select(value[key], child, leaf)
            if got is not _ABSENT:
                out[key] = got
        return out
    star = node.get("*", _ABSENT)
    names = {k: c for k, c in node.items() if k != "*" and not _is_index(k)}
    indexes = {int(k): c for k, c in node.items() if _is_index(k)}
    items = []
    for i, elem in enumerate(value):
        child = _merge(star, indexes.get(i, _ABSENT))
        if names and type(elem) is dict:
            child = _merge(child, names)
        if child is _ABSENT:
            continue
        got = _select(elem, child, leaf)
        if got is not _ABSENT:
            items.append(got)
    return items


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


def _copy(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _copy(v) for k, v in value.items()}
    if t is list:
        return [_copy(v) for v in value]
    return value


def compile_fast(projection: Sequence[str]) -> Callable[[bytes], dict[str, Any]] | None:
    """A decoder that reads only the projected fields of record bytes, or None.

    It builds msgspec types from the projection (``TypedDict``s, which decode
    straight into plain dicts), so the decoder skips every field that is not
    projected without materialising it; the result equals
    ``project(decode(data), projection)``. Projections with array indexes or
    ``*`` over a map with sub-paths are not covered (None: use :func:`project`).
    The decoder raises ``msgspec.ValidationError`` for a record whose shape does
    not fit the types (a scalar where a path goes deeper); the caller then falls
    back to :func:`project`.
    """
    tree = compile_projection(projection)
    try:
        top = _map_for(tree, "P")
    except _NotCovered:
        return None
    decode: Callable[[bytes], dict[str, Any]] = msgspec.msgpack.Decoder(top).decode
    return decode


class _NotCovered(Exception):
    pass


def _map_for(node: dict[str, Node], name: str) -> Any:
    """A total=False TypedDict of the named keys of ``node`` (a key not in the record
    stays absent, and keys that are not projected are skipped unread)."""
    if "*" in node or any(_is_index(k) for k in node):
        raise _NotCovered
    fields = {
        key: _type_for(child, f"{name}_{i}") for i, (key, child) in enumerate(sorted(node.items()))
    }
    return TypedDict(name, fields, total=False)  # type: ignore[operator]


def _type_for(child: Node, name: str) -> Any:
    """The msgspec type of a value reached by a projection sub-tree.

    Names apply to a map, or to each map of a list; ``*`` alone takes every
    element of a list or every value of a map.
    """
    if child is None:
        return Any
    if set(child) == {"*"}:
        inner = _type_for(child["*"], name)
        return list[inner] | dict[str, inner]  # type: ignore[valid-type]
    mapping = _map_for(child, name)
    return list[mapping] | mapping  # type: ignore[valid-type]
