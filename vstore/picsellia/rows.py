"""Index rows from record bytes: the typed decoders and the fast pass of an index build.

The fast pass covers the records the Picsellia surface writes: every shape names an
annotation listed in ``meta._annotations``, and the types are those it writes. Any other
record (a Hyper-Datasets frame whose ROIs form the implicit annotation, an unusual type
anywhere, a record the typed decoder refuses) is decoded whole and made into an ``Entry`` as
before, whose values its row takes; so every row holds exactly what the ``Entry`` of its
record holds. A record whose shapes name several annotations has its metadata decoded while
building (the order of its shapes depends on their creation times); one whose metadata turns
out not to fit when settled is read again from the tree and goes through ``Entry`` then.
A version of rectangles alone (an object-detection dataset) takes a shorter way still: a
decoder that accepts nothing but plain rectangles naming one annotation needs no geometry
and fewer checks per ROI; the first record it refuses turns it off for the rest of the
build, so the records after it are decoded as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from vstore.model.projection import compile_fast, project
from vstore.model.record import decode_record
from vstore.picsellia.columns import LISTS, SCALARS, extractor
from vstore.picsellia.entry import AnnSummary, Entry
from vstore.picsellia.shapes import kind_of

__all__ = [
    "BUILT", "DEFERRED", "EAGER", "ENTRY_FIELDS", "NAMES", "ROW_COLUMNS", "Misfit", "Rows",
    "encode_msgpack", "entry_row",
]

#: What an entry reads of a record: the fields the fallback decodes.
ENTRY_FIELDS = ["id", "sources.uri", "sources.content_type", "sources.width", "sources.height",
                "rois.label", "rois.meta", "rois.poly", "rois.mask", "meta"]

#: The values of a row, in order.
ROW_COLUMNS = (*SCALARS, *LISTS, "extra", "meta")
#: The columns a build makes at once; the others (:data:`DEFERRED`) come from the metadata,
#: which is decoded when they are first asked for (most queries read none of them).
EAGER = ("id", "uri", "content_type", "width", "height", "shapes", "meta")
#: Columns made from the ``uri`` column when first asked for.
NAMES = ("filename", "object_name")
DEFERRED = ("data_id", "created", "tags", "status", "worker", "extra")
#: What settling a row needs besides its eager columns: its key (to read the record again
#: should it not fit), the annotation its shapes name, whether it has ROIs.
BUILT = (*EAGER, "_key", "_aid", "_rois")
_ABSENT = msgspec.Raw()
_EMPTY_MAP = msgspec.Raw(b"\x80")
_MAP_HEADS = frozenset((*range(0x80, 0x90), 0xDE, 0xDF))  # the first byte of a msgpack map


class _Source(msgspec.Struct, gc=False):
    uri: str
    content_type: Any = None
    width: Any = None
    height: Any = None


#: The ``_type`` and ``_shape`` values of the shapes the surface writes (``shapes.kind_of``):
#: decoded as constants, not a new str per ROI. A ROI with any other value is a misfit.
_Type = Literal["b2d", "p2d", "k2d"]
_Marked = Literal["line", "point", "keypoints", "mask"]


class _RoiMeta(msgspec.Struct, gc=False, rename={
        "annotation": "_annotation", "type": "_type", "shape": "_shape", "text": "_text"}):
    annotation: Any = None
    type: _Type | None = None
    shape: _Marked | None = None
    text: str | None = None


class _Roi(msgspec.Struct, gc=False):
    label: tuple[str, ...] | None = None  # not a label 1 or True: equal, they would be shared
    meta: _RoiMeta | None = None
    poly: msgspec.Raw = _ABSENT  # presence only: the geometry is skipped, never decoded
    mask: msgspec.Raw = _ABSENT


class _AnnEntry(msgspec.Struct, gc=False):
    id: str
    status: str | None = None
    worker: Any = None
    created: int | float | None = None


class _Meta(msgspec.Struct, gc=False, rename={
        "data": "_data", "tags": "_tags", "task": "_task", "created": "_created",
        "annotations": "_annotations"}):
    # the types ``entry.reserved`` reads as set; any other value is a misfit
    data: str | None = None
    tags: list[str] | None = None
    task: dict[str, Any] | None = None
    created: int | float | None = None
    annotations: list[_AnnEntry] | None = None


class _Record(msgspec.Struct, gc=False):
    id: str
    sources: list[_Source]
    rois: list[_Roi] | None = None
    meta: msgspec.Raw = _ABSENT  # kept as msgpack, read through _Meta


class _BoxMeta(msgspec.Struct, gc=False, rename={
        "annotation": "_annotation", "type": "_type", "shape": "_shape", "text": "_text"}):
    annotation: str
    type: Literal["b2d"]
    shape: None = None
    text: None = None


class _Box(msgspec.Struct, gc=False):
    meta: _BoxMeta
    label: tuple[str, ...] | None = None


class _Boxes(msgspec.Struct, gc=False):
    """A record whose ROIs are all plain rectangles (what ``create_rectangle`` writes): their
    kind needs no geometry, so none is looked at."""
    id: str
    sources: list[_Source]
    rois: list[_Box] | None = None
    meta: msgspec.Raw = _ABSENT


_decode_record = msgspec.msgpack.Decoder(_Record).decode
_decode_boxes = msgspec.msgpack.Decoder(_Boxes).decode
#: The kind of every ROI of a :class:`_Boxes` record, whatever its geometry.
_BOX = "rectangle"
assert kind_of("b2d", None, False, False) == kind_of("b2d", None, True, True) == _BOX
_decode_meta = msgspec.msgpack.Decoder(_Meta).decode
encode_msgpack = msgspec.msgpack.Encoder().encode
_NO_META = _Meta()
_Shape = tuple[str, str | None, str | None]
_NOT_SHAPE: Any = object()
_summary = tuple.__new__  # NamedTuple.__new__ costs more


class Misfit(Exception):
    """A record the fast pass does not cover: it goes through ``Entry``."""


class Rows:
    """Rows of one build. Repeated values (shapes, tags, statuses) are shared, not copied:
    the columns then hold few containers for the cyclic collector to scan."""

    def __init__(self) -> None:
        self.shared: dict[Any, Any] = {}
        self.shapes: dict[tuple[Any, ...], Any] = {}
        self.boxes: dict[str | None, Any] = {}  # the shape of a plain rectangle, by label
        self.rows: list[tuple[Any, ...]] = []
        #: the :data:`DEFERRED` values of the rows settled while building, by row
        self.done: dict[int, tuple[Any, ...]] = {}
        #: whether every record so far was one of rectangles naming one annotation
        self.boxes_only = True

    def shape(self, roi: _Roi) -> Any:
        """``(kind, label, text)`` of a ROI (``entry._light``), or _NOT_SHAPE."""
        m = roi.meta
        if m is None:
            raise Misfit
        labels = roi.label
        key = (m.type, m.shape, roi.poly is not _ABSENT, roi.mask is not _ABSENT,
               labels[0] if labels else None, m.text)
        shape = self.shapes.get(key)
        if shape is None:
            kind = kind_of(*key[:4])
            shape = self.shapes[key] = _NOT_SHAPE if kind is None else (kind, *key[4:])
        return shape

    def summary(self, e: _AnnEntry, shapes: list[_Shape]) -> tuple[Any, ...]:
        """An ``AnnSummary`` as a tuple."""
        worker = e.worker
        key = tuple(shapes)
        return (e.id, e.status or "PENDING", worker if worker.__class__ is str else None,
                float(e.created or 0.0), self.shared.setdefault(key, key))

    def one(self, rois: list[_Roi] | None, e: _AnnEntry) -> list[tuple[Any, ...]]:
        """``entry.summarize`` of a record with one listed annotation, which every shape
        names (the common case)."""
        aid, shape_of, shapes = e.id, self.shape, []
        for roi in rois or ():
            shape = shape_of(roi)
            if shape is not _NOT_SHAPE:
                if roi.meta.annotation != aid:  # type: ignore[union-attr]
                    raise Misfit
                shapes.append(shape)
        return [self.summary(e, shapes)]

    def grouped(self, rois: list[_Roi] | None, listed: list[_AnnEntry] | None
                ) -> list[tuple[Any, ...]]:
        """``entry.summarize`` of a record whose shapes all name a listed annotation."""
        if not listed:
            raise Misfit  # shapes of the implicit annotation
        if len(listed) == 1:
            return self.one(rois, listed[0])
        groups: dict[str, tuple[_AnnEntry, list[_Shape]]] = {e.id: (e, []) for e in listed}
        if len(groups) != len(listed):
            raise Misfit
        for roi in rois or ():
            shape = self.shape(roi)
            if shape is _NOT_SHAPE:
                continue
            aid = roi.meta.annotation  # type: ignore[union-attr]
            group = groups.get(aid) if aid.__class__ is str else None
            if group is None:
                raise Misfit
            group[1].append(shape)
        out = [self.summary(e, shapes) for e, shapes in groups.values()]
        out.sort(key=lambda a: a[3])
        return out

    def add(self, key: bytes, raw: bytes) -> None:
        """Add the row of one record: its eager columns (:data:`BUILT`), or raise Misfit.

        The metadata is not decoded when every shape names one annotation (or there is
        none): what it gives (:data:`DEFERRED`) is settled when first asked for. Records
        of rectangles take a shorter way until the first record that is not one (then
        trying it would decode the records of other shapes twice).
        """
        if self.boxes_only:
            try:
                if self.add_boxes(key, _decode_boxes(raw)):
                    return
            except msgspec.ValidationError:
                pass
            self.boxes_only = False
        try:
            rec = _decode_record(raw)
        except msgspec.ValidationError:
            raise Misfit from None
        if not rec.sources:
            raise Misfit
        known, boxes, shape_of, found, aid = self.shapes, self.boxes, self.shape, [], None
        for roi in rec.rois or ():
            rm, labels = roi.meta, roi.label
            if rm is None:
                shape = shape_of(roi)
            elif rm.type == "b2d" and rm.shape is None and rm.text is None:
                # a rectangle, whatever else the ROI holds: known by its label alone
                label = labels[0] if labels else None
                shape = boxes.get(label)
                if shape is None:
                    shape = boxes[label] = shape_of(roi)
            else:
                shape = known.get((
                    rm.type, rm.shape, roi.poly is not _ABSENT, roi.mask is not _ABSENT,
                    labels[0] if labels else None, rm.text))
                if shape is None:
                    shape = shape_of(roi)
            if shape is not _NOT_SHAPE:
                a = rm.annotation  # type: ignore[union-attr]
                if a != aid or aid is None:
                    if aid is not None or a.__class__ is not str:
                        return self.add_grouped(key, rec)  # several annotations
                    aid = a
                found.append(shape)
        shapes: tuple[_Shape, ...] = tuple(found)
        if shapes:
            shapes = self.shared.get(shapes) or self.shared.setdefault(shapes, shapes)
        self.rows.append(self.row(key, rec, shapes, aid))

    def add_boxes(self, key: bytes, rec: _Boxes) -> bool:
        """Add the row of a record of rectangles (see :meth:`add`), or return False when
        they name several annotations."""
        rois, boxes, aid = rec.rois, self.boxes, None
        found: list[_Shape] = []
        if rois:
            aid = rois[0].meta.annotation
            for roi in rois:
                if roi.meta.annotation != aid:
                    return False
                labels = roi.label
                label = labels[0] if labels else None
                shape = boxes.get(label)
                if shape is None:  # as shape() makes it
                    shape = boxes[label] = (_BOX, label, None)
                found.append(shape)
        if not rec.sources:
            raise Misfit
        shapes: tuple[_Shape, ...] = tuple(found)
        if shapes:
            shapes = self.shared.get(shapes) or self.shared.setdefault(shapes, shapes)
        self.rows.append(self.row(key, rec, shapes, aid))
        return True

    def row(self, key: bytes, rec: _Record | _Boxes, shapes: tuple[_Shape, ...], aid: str | None
            ) -> tuple[Any, ...]:
        """The eager columns of a row (:data:`BUILT`)."""
        src = rec.sources[0]
        uri, meta = src.uri, rec.meta
        if meta is not _ABSENT and memoryview(meta)[0] not in _MAP_HEADS:
            raise Misfit  # metadata that is no map
        return (rec.id, uri, src.content_type, src.width, src.height, shapes,
                _EMPTY_MAP if meta is _ABSENT else meta.copy(), key, aid, bool(rec.rois))

    def add_grouped(self, key: bytes, rec: _Record) -> None:
        """Add the row of a record whose shapes name several annotations, all settled."""
        meta = rec.meta
        try:
            m = _NO_META if meta is _ABSENT else _decode_meta(meta)
        except msgspec.ValidationError:
            raise Misfit from None
        rois, listed = rec.rois, m.annotations
        annotations = self.grouped(rois, listed) if rois or listed else ()
        shapes, status, workers = self.lists(annotations)
        row = self.row(key, rec, shapes, None)
        self.done[len(self.rows)] = self.deferred(m, status, workers, annotations)
        self.rows.append(row)

    def add_entry(self, key: bytes, raw: bytes) -> None:
        """Add the row of a record the fast pass does not cover, through its ``Entry``."""
        row = dict(zip(ROW_COLUMNS, entry_row(raw), strict=True))
        self.done[len(self.rows)] = tuple(row[n] for n in DEFERRED)
        self.rows.append((*(row[n] for n in EAGER), key, None, False))

    def settle(self, meta: msgspec.Raw, shapes: tuple[_Shape, ...], aid: str | None,
               has_rois: bool, stored: bool) -> tuple[Any, ...]:
        """The :data:`DEFERRED` values of a row whose shapes all name ``aid`` (None: no
        shape), or raise Misfit; ``stored``: see :meth:`deferred`."""
        try:
            m = _decode_meta(meta)
        except msgspec.ValidationError:
            raise Misfit from None
        listed, shared = m.annotations, self.shared
        if listed and len(listed) == 1:  # the common case: summary() and lists(), inlined
            e = listed[0]
            if aid is not None and aid != e.id:
                raise Misfit
            one, worker = e.status or "PENDING", e.worker
            if worker.__class__ is not str:
                worker = None
            workers = () if worker is None else (
                shared.get(worker) or shared.setdefault(worker, (worker,)))
            return self.deferred(m, shared.get(one) or shared.setdefault(one, (one,)), workers,
                                 [(e.id, one, worker, float(e.created or 0.0), shapes)], stored)
        annotations: Sequence[tuple[Any, ...]]
        if has_rois or listed:
            if not listed:
                raise Misfit  # shapes of the implicit annotation
            groups: dict[str, tuple[_AnnEntry, list[_Shape]]] = {e.id: (e, []) for e in listed}
            if len(groups) != len(listed):
                raise Misfit
            if aid is not None:
                group = groups.get(aid)
                if group is None:
                    raise Misfit
                group[1].extend(shapes)
            annotations = sorted((self.summary(e, s) for e, s in groups.values()),
                                 key=lambda a: a[3])
        else:
            annotations = ()
        _shapes, status, workers = self.lists(annotations)
        return self.deferred(m, status, workers, annotations, stored)

    def deferred(self, m: _Meta, status: tuple[str, ...], workers: tuple[str, ...],
                 annotations: Sequence[tuple[Any, ...]], stored: bool = True
                 ) -> tuple[Any, ...]:
        """The :data:`DEFERRED` values of a row; ``extra`` (the task and annotations) as
        the column holds it, msgpack, or else as an entry holds it (``AnnSummary`` tuples
        that share the row's shapes)."""
        tags = () if not m.tags else tuple(m.tags)
        shared = self.shared
        return (m.data, 0.0 if m.created is None else float(m.created),
                tags and (shared.get(tags) or shared.setdefault(tags, tags)), status, workers,
                msgspec.Raw(encode_msgpack((m.task, annotations))) if stored else
                (m.task, tuple([_summary(AnnSummary, a) for a in annotations])))

    def lists(self, annotations: Sequence[tuple[Any, ...]]) -> tuple[Any, Any, Any]:
        """The shapes, statuses and workers columns of a row (``columns.shapes_of``...)."""
        if not annotations:
            return (), (), ()
        shared = self.shared
        return tuple(shared.setdefault(t, t) for t in (
            tuple(s for a in annotations for s in a[4]),
            tuple(a[1] for a in annotations),
            tuple(a[2] for a in annotations if a[2] is not None)))


_fallback = compile_fast(ENTRY_FIELDS)
_GETTERS = [extractor(name) for name in (*SCALARS, *LISTS)]


def _entry_of(raw: bytes) -> Entry:
    """The entry of a record, decoded as ``DatasetVersion.get_iterator`` decodes it."""
    if _fallback is not None:
        try:
            return Entry(_fallback(raw))
        except msgspec.ValidationError:
            pass
    return Entry(project(decode_record(raw, validate=False), ENTRY_FIELDS, copy=False))


def entry_row(raw: bytes) -> tuple[Any, ...]:
    """The row of one record, through its ``Entry``."""
    entry = _entry_of(raw)
    return (*(get(entry) for get in _GETTERS),
            msgspec.Raw(encode_msgpack((entry.task, entry.annotations))),
            msgspec.Raw(encode_msgpack(entry.stored_meta())))


