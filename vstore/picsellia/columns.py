"""Columns of the asset index: one value per asset, read by queries, lookups and the disk form.

A column is named and has one extractor, ``Entry -> value``; an index built from records
computes a column from its entries the first time it is asked for, and the persisted form of
an index stores the very values these extractors give (see ``vstore.picsellia.persisted``), so
a loaded index answers exactly as the index it was saved from.

=====================  =========================================================
``id`` ... ``created``  the entry's own scalar fields (:data:`SCALARS`), None if unset
``tags``                asset tag names, a tuple
``shapes``              ``(kind, label, text)`` of every shape of every annotation
``status``, ``worker``  the status and (set) worker of every annotation, tuples
``meta:<key>``          what the one-segment path ``<key>`` reaches in the metadata:
                        ``(value,)``, the elements of a list, or ``()`` when absent
=====================  =========================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec

from vstore.picsellia.record import FRAME_KEYS

if TYPE_CHECKING:
    from vstore.picsellia.entry import Entry

__all__ = ["LISTS", "META", "SCALARS", "decoded_column", "extractor", "meta_keys", "meta_values",
           "shapes_of"]

SCALARS = ("id", "uri", "filename", "object_name", "content_type", "width", "height",
           "data_id", "created")
LISTS = ("tags", "shapes", "status", "worker")
#: Prefix of the metadata columns: ``meta:camera`` is what ``camera`` reaches.
META = "meta:"

_ABSENT = object()


def meta_values(meta: dict[str, Any], key: str) -> tuple[Any, ...]:
    """What the one-segment path ``key`` reaches in ``meta`` (``resolve_path(meta, [key])``)."""
    value = meta.get(key, _ABSENT)
    if value is _ABSENT:
        return ()
    if value.__class__ is list or value.__class__ is tuple:
        return tuple(value)
    return (value,)


def shapes_of(entry: Entry) -> tuple[tuple[str, str | None, str | None], ...]:
    """``(kind, label, text)`` of every shape of every annotation of an entry, in order."""
    annotations = entry.annotations
    if not annotations:
        return ()
    if len(annotations) == 1:
        return annotations[0].shapes
    return tuple(shape for a in annotations for shape in a.shapes)


def _statuses(entry: Entry) -> tuple[str, ...]:
    return tuple(a.status for a in entry.annotations)


def _workers(entry: Entry) -> tuple[str, ...]:
    return tuple(a.worker for a in entry.annotations if a.worker is not None)


_LIST_EXTRACTORS: dict[str, Callable[[Entry], Any]] = {
    "tags": attrgetter("tags"), "shapes": shapes_of, "status": _statuses, "worker": _workers,
}


def extractor(name: str) -> Callable[[Entry], Any]:
    """The function that gives column ``name`` of one entry.

    Raises:
        KeyError: no such column.
    """
    if name.startswith(META):
        key = name[len(META):]
        return lambda entry: meta_values(entry.meta, key)
    if name in SCALARS:
        return attrgetter(name)
    return _LIST_EXTRACTORS[name]


def meta_keys(entries: list[Entry], limit: int) -> list[str]:
    """The metadata keys worth a stored column: the ``limit`` most common user keys (other
    paths are read from the metadata of each entry)."""
    counts = Counter(chain.from_iterable(e.meta for e in entries))
    keys = sorted((k for k in counts if k not in FRAME_KEYS), key=lambda k: (-counts[k], k))
    return keys[:limit]


#: Values whose equal ones are interchangeable, given their type (not floats: -0.0 == 0.0).
_SHARED_TYPES = (str, int, bool, type(None))
#: Types whose equal values are interchangeable even mixed in one column, but for ``True ==
#: 1``: a column holding both ints and bools goes value by value.
_PLAIN = frozenset((str, int, bool, type(None), msgspec.UnsetType))


def decoded_column(values: list[Any], shared: dict[Any, tuple[Any, ...]]) -> list[Any]:
    """The metadata column of values msgspec decoded for one key (``msgspec.UNSET``: absent),
    as :func:`meta_values` gives it; each distinct value is made once when they are plain.

    Args:
        values: the decoded value of each row.
        shared: tuples shared between the columns made together.
    """
    kinds = set(map(type, values))
    if kinds <= _PLAIN and not (int in kinds and bool in kinds):
        table = dict.fromkeys(values)
        for value in table:
            table[value] = _reached(value, shared)
        return list(map(table.__getitem__, values))
    return [_reached(value, shared) for value in values]


def _reached(value: Any, shared: dict[Any, tuple[Any, ...]]) -> tuple[Any, ...]:
    """``columns.meta_values`` of a decoded value (UNSET: absent); equal values of one type
    share one tuple (``True`` and ``1`` are told apart by their type)."""
    if value is msgspec.UNSET:
        return ()
    cls = value.__class__
    if cls is list:
        return tuple(value)
    if cls in _SHARED_TYPES:
        key = (cls, value)
        got = shared.get(key)
        if got is None:
            got = shared[key] = (value,)
        return got
    return (value,)
