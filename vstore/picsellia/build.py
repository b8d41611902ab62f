"""Building the asset index of a tree root: record bytes straight to columns.

An index is built when no process has persisted one for the version (the first listing after
an ingest). Making an :class:`~vstore.picsellia.entry.Entry` per asset and then its columns
cost ~45 µs an asset; here msgspec decodes each record into typed structs that hold only what
the index reads (ROI geometry and the user metadata are skipped, not materialised), and the
row of column values is made from them in one pass. The result has the shape of a persisted
index (``vstore.picsellia.persisted``): per-asset task, annotations and metadata as msgpack,
and no per-asset Python container that the cyclic collector would have to scan again (at
100,000 assets, a million survivors cost it 0.5 s after the build). Metadata columns are made
when a query or the persisted form first reads them. So are the columns the reserved
metadata gives (data id, creation time, tags, annotation statuses and workers, task and
annotations): the record's ``meta`` is kept as msgpack but not decoded while building, since
a shape's ROI names its annotation and the shapes column needs nothing else; they are settled
all at once when one is read (a query on tags, the persisted form, written from a thread
after the answer), or row by row for the entries a caller asks for. File and object names
are made from the URI column likewise. Entries are made, as from a persisted index, only for
the rows a caller asks for.

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

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain, islice
from operator import attrgetter, ge
from typing import Any, Literal

import msgspec

from vstore.errors import MissingObjectError
from vstore.gcpause import paused_gc
from vstore.model.projection import compile_fast, project
from vstore.model.record import decode_record
from vstore.picsellia.columns import LISTS, META, SCALARS, decoded_column, extractor
from vstore.picsellia.entry import ROW, AnnSummary, Entry, made, names_of, restored
from vstore.picsellia.persisted import Stored
from vstore.picsellia.record import FRAME_KEYS
from vstore.picsellia.shapes import kind_of

__all__ = ["ENTRY_FIELDS", "Built", "build_columns"]

#: What an entry reads of a record: the fields the fallback decodes.
ENTRY_FIELDS = ["id", "sources.uri", "sources.content_type", "sources.width", "sources.height",
                "rois.label", "rois.meta", "rois.poly", "rois.mask", "meta"]

_ROW = (*SCALARS, *LISTS, "extra", "meta")
#: The columns a build makes at once; the others (:data:`_DEFERRED`) come from the metadata,
#: which is decoded when they are first asked for (most queries read none of them).
_EAGER = ("id", "uri", "content_type", "width", "height", "shapes", "meta")
#: Columns made from the ``uri`` column when first asked for.
_NAMES = ("filename", "object_name")
_DEFERRED = ("data_id", "created", "tags", "status", "worker", "extra")
#: What settling a row needs besides its eager columns: its key (to read the record again
#: should it not fit), the annotation its shapes name, whether it has ROIs.
_BUILT = (*_EAGER, "_key", "_aid", "_rois")
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
_encode = msgspec.msgpack.Encoder().encode
_NO_META = _Meta()
_Shape = tuple[str, str | None, str | None]
_NOT_SHAPE: Any = object()
_summary = tuple.__new__  # NamedTuple.__new__ costs more


class _Misfit(Exception):
    """A record the fast pass does not cover: it goes through ``Entry``."""


class _Rows:
    """Rows of one build. Repeated values (shapes, tags, statuses) are shared, not copied:
    the columns then hold few containers for the cyclic collector to scan."""

    def __init__(self) -> None:
        self.shared: dict[Any, Any] = {}
        self.shapes: dict[tuple[Any, ...], Any] = {}
        self.boxes: dict[str | None, Any] = {}  # the shape of a plain rectangle, by label
        self.rows: list[tuple[Any, ...]] = []
        #: the :data:`_DEFERRED` values of the rows settled while building, by row
        self.done: dict[int, tuple[Any, ...]] = {}
        #: whether every record so far was one of rectangles naming one annotation
        self.boxes_only = True

    def shape(self, roi: _Roi) -> Any:
        """``(kind, label, text)`` of a ROI (``entry._light``), or _NOT_SHAPE."""
        m = roi.meta
        if m is None:
            raise _Misfit
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
                    raise _Misfit
                shapes.append(shape)
        return [self.summary(e, shapes)]

    def grouped(self, rois: list[_Roi] | None, listed: list[_AnnEntry] | None
                ) -> list[tuple[Any, ...]]:
        """``entry.summarize`` of a record whose shapes all name a listed annotation."""
        if not listed:
            raise _Misfit  # shapes of the implicit annotation
        if len(listed) == 1:
            return self.one(rois, listed[0])
        groups: dict[str, tuple[_AnnEntry, list[_Shape]]] = {e.id: (e, []) for e in listed}
        if len(groups) != len(listed):
            raise _Misfit
        for roi in rois or ():
            shape = self.shape(roi)
            if shape is _NOT_SHAPE:
                continue
            aid = roi.meta.annotation  # type: ignore[union-attr]
            group = groups.get(aid) if aid.__class__ is str else None
            if group is None:
                raise _Misfit
            group[1].append(shape)
        out = [self.summary(e, shapes) for e, shapes in groups.values()]
        out.sort(key=lambda a: a[3])
        return out

    def add(self, key: bytes, raw: bytes) -> None:
        """Add the row of one record: its eager columns (:data:`_BUILT`), or raise _Misfit.

        The metadata is not decoded when every shape names one annotation (or there is
        none): what it gives (:data:`_DEFERRED`) is settled when first asked for. Records
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
            raise _Misfit from None
        if not rec.sources:
            raise _Misfit
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
            raise _Misfit
        shapes: tuple[_Shape, ...] = tuple(found)
        if shapes:
            shapes = self.shared.get(shapes) or self.shared.setdefault(shapes, shapes)
        self.rows.append(self.row(key, rec, shapes, aid))
        return True

    def row(self, key: bytes, rec: _Record | _Boxes, shapes: tuple[_Shape, ...], aid: str | None
            ) -> tuple[Any, ...]:
        """The eager columns of a row (:data:`_BUILT`)."""
        src = rec.sources[0]
        uri, meta = src.uri, rec.meta
        if meta is not _ABSENT and memoryview(meta)[0] not in _MAP_HEADS:
            raise _Misfit  # metadata that is no map
        return (rec.id, uri, src.content_type, src.width, src.height, shapes,
                _EMPTY_MAP if meta is _ABSENT else meta.copy(), key, aid, bool(rec.rois))

    def add_grouped(self, key: bytes, rec: _Record) -> None:
        """Add the row of a record whose shapes name several annotations, all settled."""
        meta = rec.meta
        try:
            m = _NO_META if meta is _ABSENT else _decode_meta(meta)
        except msgspec.ValidationError:
            raise _Misfit from None
        rois, listed = rec.rois, m.annotations
        annotations = self.grouped(rois, listed) if rois or listed else ()
        shapes, status, workers = self.lists(annotations)
        row = self.row(key, rec, shapes, None)
        self.done[len(self.rows)] = self.deferred(m, status, workers, annotations)
        self.rows.append(row)

    def add_entry(self, key: bytes, raw: bytes) -> None:
        """Add the row of a record the fast pass does not cover, through its ``Entry``."""
        row = dict(zip(_ROW, _entry_row(raw), strict=True))
        self.done[len(self.rows)] = tuple(row[n] for n in _DEFERRED)
        self.rows.append((*(row[n] for n in _EAGER), key, None, False))

    def settle(self, meta: msgspec.Raw, shapes: tuple[_Shape, ...], aid: str | None,
               has_rois: bool, stored: bool) -> tuple[Any, ...]:
        """The :data:`_DEFERRED` values of a row whose shapes all name ``aid`` (None: no
        shape), or raise _Misfit; ``stored``: see :meth:`deferred`."""
        try:
            m = _decode_meta(meta)
        except msgspec.ValidationError:
            raise _Misfit from None
        listed, shared = m.annotations, self.shared
        if listed and len(listed) == 1:  # the common case: summary() and lists(), inlined
            e = listed[0]
            if aid is not None and aid != e.id:
                raise _Misfit
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
                raise _Misfit  # shapes of the implicit annotation
            groups: dict[str, tuple[_AnnEntry, list[_Shape]]] = {e.id: (e, []) for e in listed}
            if len(groups) != len(listed):
                raise _Misfit
            if aid is not None:
                group = groups.get(aid)
                if group is None:
                    raise _Misfit
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
        """The :data:`_DEFERRED` values of a row; ``extra`` (the task and annotations) as
        the column holds it, msgpack, or else as an entry holds it (``AnnSummary`` tuples
        that share the row's shapes)."""
        tags = () if not m.tags else tuple(m.tags)
        shared = self.shared
        return (m.data, 0.0 if m.created is None else float(m.created),
                tags and (shared.get(tags) or shared.setdefault(tags, tags)), status, workers,
                msgspec.Raw(_encode((m.task, annotations))) if stored else
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


def _entry_row(raw: bytes) -> tuple[Any, ...]:
    """The row of one record, through its ``Entry``."""
    entry = _entry_of(raw)
    return (*(get(entry) for get in _GETTERS),
            msgspec.Raw(_encode((entry.task, entry.annotations))),
            msgspec.Raw(_encode(entry.stored_meta())))


_decode_map = msgspec.msgpack.Decoder(dict[str, Any]).decode


class Built(Stored):
    """The columns of an index built from records, in the shape of a persisted one.

    Metadata columns are made on first use, for any key (a persisted index holds only the
    most common keys), by decoding that key alone from each asset's metadata. So are the
    columns the reserved metadata gives (:data:`_DEFERRED`): all at once when one is read
    (a query on tags, the persisted form), or row by row for the entries of a few rows.
    """

    def __init__(self, root: bytes, columns: dict[str, list[Any]], rows: _Rows | None = None,
                 fetch: Callable[[bytes], bytes | None] | None = None) -> None:
        super().__init__(root, len(columns["id"]), columns)
        self._keys: list[str] | None = None
        self._lock = threading.Lock()
        self._rows = rows
        self._fetch = fetch
        self._pending = [columns.pop(n) for n in _BUILT[len(_EAGER):]] if rows else None

    def has(self, name: str) -> bool:
        return (name.startswith(META) or name in _DEFERRED or name in _NAMES
                or super().has(name))

    def column(self, name: str) -> list[Any]:
        values = self._columns.get(name)
        if values is None:
            if name in _DEFERRED:
                self.settle()
            elif name in _NAMES:
                self._names()
            elif name.startswith(META):
                self.prefetch([name])
            else:
                raise KeyError(name)
            values = self._columns[name]
        return values

    def entry_maker(self) -> Callable[[int], Entry]:
        if self._pending is None and all(n in self._columns for n in _NAMES):
            return super().entry_maker()
        c = self._columns
        ids, uris, types, widths, heights, meta = (
            c[n] for n in ("id", "uri", "content_type", "width", "height", "meta"))
        settled = self._settled

        def make(r: int) -> Entry:
            data_id, created, tags, _status, _worker, extra = settled(r)
            uri = uris[r]
            filename, object_name = names_of(uri)
            row = (ids[r], uri, filename, object_name, types[r], widths[r], heights[r],
                   data_id, tags, created)
            if extra.__class__ is msgspec.Raw:
                return restored(row, extra, meta[r])
            return made(row, extra, meta[r])

        return make

    def _names(self) -> None:
        """Make the :data:`_NAMES` columns."""
        names = list(map(names_of, self._columns["uri"]))
        with self._lock:
            for name, column in zip(_NAMES, zip(*names, strict=True) if names else ((), ()),
                                    strict=True):
                self._columns.setdefault(name, list(column))

    def settle(self) -> None:
        """Make the :data:`_DEFERRED` columns, if not made yet."""
        with self._lock, paused_gc():
            if self._pending is None:
                return
            values = list(map(partial(self._settle, stored=True), range(self.rows)))
            assert self._rows is not None
            for row, done in self._rows.done.items():
                extra = done[-1]
                if extra.__class__ is not msgspec.Raw:  # settled for an entry: encoded now
                    values[row] = (*done[:-1], msgspec.Raw(_encode(extra)))
            columns = zip(*values, strict=True) if values else ([] for _ in _DEFERRED)
            for name, column in zip(_DEFERRED, columns, strict=True):
                self._columns[name] = list(column)
            self._pending = self._rows = self._fetch = None

    def _settled(self, row: int) -> tuple[Any, ...]:
        """The :data:`_DEFERRED` values of one row, for its entry (``extra`` as msgpack or
        as values, see :meth:`_Rows.deferred`)."""
        with self._lock:
            if self._pending is None:
                return tuple(self._columns[n][row] for n in _DEFERRED)
            return self._settle(row, stored=False)

    def _settle(self, row: int, stored: bool) -> tuple[Any, ...]:
        """The :data:`_DEFERRED` values of one row: as its columns hold them (``stored``,
        not kept: the columns take them), or for its entry (kept until the columns are
        made, which encode them then)."""
        rows, pending = self._rows, self._pending
        assert rows is not None and pending is not None
        done = rows.done.get(row)
        if done is not None:
            return done
        keys, aids, has_rois = pending
        try:
            done = rows.settle(self._columns["meta"][row], self._columns["shapes"][row],
                               aids[row], has_rois[row], stored)
        except _Misfit:  # the metadata does not fit: the record again, through Entry
            key = keys[row]
            raw = self._fetch(key) if self._fetch is not None else None
            if raw is None:
                raise MissingObjectError(f"record {key!r} of tree {self.root.hex()}") from None
            full = dict(zip(_ROW, _entry_row(raw), strict=True))
            done = tuple(full[n] for n in _DEFERRED)
        if not stored:
            rows.done[row] = done
        return done

    def prefetch(self, names: Sequence[str]) -> None:
        """Make the metadata columns ``names`` that are not made yet, in one pass."""
        keys = [n[len(META):] for n in dict.fromkeys(names)
                if n.startswith(META) and n not in self._columns]
        if not keys:
            return
        fields = [(f"f{i}", Any, msgspec.UNSET) for i in range(len(keys))]
        struct = msgspec.defstruct("_Keys", fields, gc=False,
                                   rename={f"f{i}": k for i, k in enumerate(keys)})
        decoded = list(map(msgspec.msgpack.Decoder(struct).decode, self._columns["meta"]))
        shared: dict[Any, tuple[Any, ...]] = {}
        for i, key in enumerate(keys):
            values = decoded_column(list(map(attrgetter(f"f{i}"), decoded)), shared)
            with self._lock:
                self._columns.setdefault(META + key, values)

    def meta_keys(self) -> list[str]:
        """The user metadata keys, most common first (ties by name)."""
        if self._keys is None:
            counts = Counter(chain.from_iterable(map(_decode_map, self._columns["meta"])))
            self._keys = sorted((k for k in counts if k not in FRAME_KEYS),
                                key=lambda k: (-counts[k], k))
        return self._keys


#: The fields of an entry's row in the order ``Built.entry_maker`` gives them: ``entry.ROW``.
_READ = ("id", "uri", *_NAMES, "content_type", "width", "height", "data_id", "tags", "created")
assert _READ == ROW


def build_columns(root: bytes, records: Iterable[tuple[bytes, bytes]],
                  fetch: Callable[[bytes], bytes | None]) -> Built | None:
    """The columns of every record of a tree root.

    Args:
        root: the tree root.
        records: ``(key, record bytes)`` of the root, in key order.
        fetch: the record bytes of a key of the root (for the rare row whose reserved
            metadata, decoded later, does not fit the fast pass).

    Returns:
        The columns, or None when the records' ids are not in strictly increasing order
        (the caller then builds entries by id).
    """
    rows = _Rows()
    add, add_entry = rows.add, rows.add_entry
    for key, raw in records:
        try:
            add(key, raw)
        except _Misfit:
            add_entry(key, raw)
    columns = ({name: list(col) for name, col in zip(_BUILT, zip(*rows.rows, strict=True),
                                                     strict=True)}
               if rows.rows else {name: [] for name in _BUILT})
    rows.rows = []
    ids = columns["id"]
    if any(map(ge, ids, islice(ids, 1, None))):
        return None
    return Built(root, columns, rows, fetch)
