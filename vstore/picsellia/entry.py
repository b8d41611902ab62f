"""Entries of the asset index: one asset (or datalake data) as the index holds it.

An entry is made from a frame record when an index is built, or from a row of a persisted
index (``vstore.picsellia.persisted``), whose metadata it decodes only when it is read.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import msgspec

from vstore.picsellia.annrecord import group_shapes
from vstore.picsellia.record import (
    KEY_ANNOTATIONS,
    KEY_CREATED,
    KEY_DATA,
    KEY_TAGS,
    KEY_TASK,
    user_meta,
)

__all__ = ["ROW", "AnnSummary", "Entry", "Extra", "made", "names_of", "reserved",
           "reserved_of", "restored", "summarize", "uri_path"]


class AnnSummary(NamedTuple):
    """One annotation of an asset, without geometry.

    Attributes:
        id: annotation id.
        status: an ``AnnotationStatus`` value.
        worker: who made it, or None.
        created: creation time (0 for an implicit annotation).
        shapes: ``(kind, label, text)`` per shape (the label as stored: a str, or whatever
            the first element of the ROI's label list is).
    """

    id: str
    status: str
    worker: str | None
    created: float
    shapes: tuple[tuple[str, Any, str | None], ...]


def uri_path(uri: str) -> str:
    """The unquoted path of a URI (``urllib.parse.urlsplit(uri).path``, only faster)."""
    start = uri.find("://")
    if start < 0:
        return unquote(urlsplit(uri).path)
    slash = uri.find("/", start + 3)
    path = "" if slash < 0 else uri[slash:]
    if "?" in path or "#" in path:
        path = urlsplit(uri).path
    return unquote(path) if "%" in path else path


def names_of(uri: str) -> tuple[str, str]:
    """The filename and the object name of an asset's URI (the last part of its path, and
    the path without its leading slash)."""
    path = uri_path(uri)
    return path[path.rfind("/") + 1:], path.lstrip("/")


#: What a row holds besides its columns: the task and the annotations.
Extra = tuple[dict[str, Any] | None, tuple[AnnSummary, ...]]

_meta_decoder = msgspec.msgpack.Decoder(dict[str, Any])
_extra_decoder: msgspec.msgpack.Decoder[Extra] = msgspec.msgpack.Decoder(Extra)


Reserved = tuple[str | None, tuple[str, ...], dict[str, Any] | None, float]


def reserved(meta: dict[str, Any]) -> Reserved:
    """``(data_id, tags, task, created)`` from a frame's metadata (None, (), None, 0.0 unset)."""
    return reserved_of(meta.get(KEY_DATA), meta.get(KEY_TAGS), meta.get(KEY_TASK),
                       meta.get(KEY_CREATED))


def reserved_of(data_id: Any, tags: Any, task: Any, created: Any) -> Reserved:
    """:func:`reserved` from the values of the keys (None for an absent one)."""
    return (data_id if data_id.__class__ is str else None,
            tuple(t for t in tags if t.__class__ is str) if tags.__class__ is list else (),
            task if task.__class__ is dict else None,
            float(created) if created.__class__ in (int, float) else 0.0)


class Entry:
    """One asset (or datalake data) as the index holds it; never modified once built.

    ``meta`` is the frame metadata as stored, reserved keys included (see :meth:`user_meta`).
    An entry of a loaded index decodes it on first use.
    """

    __slots__ = ("_meta", "annotations", "content_type", "created", "data_id", "filename",
                 "height", "id", "object_name", "tags", "task", "uri", "width")

    def __init__(self, record: dict[str, Any]) -> None:
        # Runs once per asset when an index is built: kept to plain attribute reads.
        src = record["sources"][0]
        uri: str = src["uri"]
        self.id: str = record["id"]
        self.uri = uri
        self.filename, self.object_name = names_of(uri)
        self.content_type: str | None = src.get("content_type")
        self.width: int | None = src.get("width")
        self.height: int | None = src.get("height")
        meta = record.get("meta")
        self.data_id: str | None = None
        self.tags: tuple[str, ...] = ()
        self.task: dict[str, Any] | None = None
        self.created = 0.0
        self._meta: dict[str, Any] | msgspec.Raw = {}
        if meta:
            self._meta = meta
            self.data_id, self.tags, self.task, self.created = reserved(meta)
        rois = record.get("rois")
        self.annotations = summarize(record) if rois or KEY_ANNOTATIONS in self.meta else ()

    @property
    def meta(self) -> dict[str, Any]:
        """The frame metadata, reserved keys included."""
        meta = self._meta
        if isinstance(meta, msgspec.Raw):
            meta = self._meta = _meta_decoder.decode(meta)
        return meta

    def stored_meta(self) -> dict[str, Any] | msgspec.Raw:
        """The metadata, or its msgpack bytes when it was never decoded (to persist it)."""
        return self._meta

    def user_meta(self) -> dict[str, Any]:
        """The metadata without reserved keys."""
        return user_meta(self.meta)

    @property
    def newest(self) -> AnnSummary | None:
        """The newest annotation, or None."""
        return self.annotations[-1] if self.annotations else None


#: The fields of a stored row that are columns of their own, in Entry order.
ROW = ("id", "uri", "filename", "object_name", "content_type", "width", "height", "data_id",
       "tags", "created")


def restored(row: tuple[Any, ...], extra: msgspec.Raw, meta: msgspec.Raw) -> Entry:
    """An entry from the columns of one stored row (see ``vstore.picsellia.persisted``)."""
    return made(row, _extra_decoder.decode(extra), meta)


def made(row: tuple[Any, ...], extra: Extra, meta: msgspec.Raw) -> Entry:
    """An entry from its :data:`ROW` values, its task and annotations, and its metadata as
    msgpack."""
    e = Entry.__new__(Entry)
    (e.id, e.uri, e.filename, e.object_name, e.content_type, e.width, e.height, e.data_id,
     e.tags, e.created) = row
    e.task, e.annotations = extra
    e._meta = meta
    return e


Light = tuple[str, str | None, str | None]


def _light(roi: dict[str, Any], kind: str, _i: int, _aid: str) -> Light:
    labels = roi.get("label")
    text = (roi.get("meta") or {}).get("_text")
    return (kind, labels[0] if labels else None, text if isinstance(text, str) else None)


def summarize(record: dict[str, Any]) -> tuple[AnnSummary, ...]:
    """The annotations of a record without geometry, oldest first."""
    if not record.get("rois") and not (record.get("meta") or {}).get("_annotations"):
        return ()
    out = []
    fields: tuple[Any, ...]
    for entry, aid, shapes in group_shapes(record, _light):
        if entry is None:
            fields = (aid, "PENDING", None, 0.0, tuple(shapes))
        else:
            worker = entry.get("worker")
            fields = (aid, str(entry.get("status") or "PENDING"),
                      worker if worker.__class__ is str else None,
                      float(entry.get("created") or 0.0), tuple(shapes))
        out.append(_summary(AnnSummary, fields))  # NamedTuple.__new__ costs more than this
    return tuple(out)


_summary = tuple.__new__
