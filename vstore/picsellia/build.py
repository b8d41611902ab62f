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

How records become rows is :mod:`vstore.picsellia.rows`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain, islice
from operator import attrgetter, ge
from typing import Any

import msgspec

from vstore.errors import MissingObjectError
from vstore.gcpause import paused_gc
from vstore.picsellia.columns import META, decoded_column
from vstore.picsellia.entry import ROW, Entry, made, names_of, restored
from vstore.picsellia.persisted import Stored
from vstore.picsellia.record import FRAME_KEYS
from vstore.picsellia.rows import (
    BUILT,
    DEFERRED,
    EAGER,
    ENTRY_FIELDS,
    NAMES,
    ROW_COLUMNS,
    Misfit,
    Rows,
    encode_msgpack,
    entry_row,
)

__all__ = ["ENTRY_FIELDS", "Built", "build_columns"]

_decode_map = msgspec.msgpack.Decoder(dict[str, Any]).decode


class Built(Stored):
    """The columns of an index built from records, in the shape of a persisted one.

    Metadata columns are made on first use, for any key (a persisted index holds only the
    most common keys), by decoding that key alone from each asset's metadata. So are the
    columns the reserved metadata gives (:data:`DEFERRED`): all at once when one is read
    (a query on tags, the persisted form), or row by row for the entries of a few rows.
    """

    def __init__(self, root: bytes, columns: dict[str, list[Any]], rows: Rows | None = None,
                 fetch: Callable[[bytes], bytes | None] | None = None) -> None:
        super().__init__(root, len(columns["id"]), columns)
        self._keys: list[str] | None = None
        self._lock = threading.Lock()
        self._rows = rows
        self._fetch = fetch
        self._pending = [columns.pop(n) for n in BUILT[len(EAGER):]] if rows else None

    def has(self, name: str) -> bool:
        return (name.startswith(META) or name in DEFERRED or name in NAMES
                or super().has(name))

    def column(self, name: str) -> list[Any]:
        values = self._columns.get(name)
        if values is None:
            if name in DEFERRED:
                self.settle()
            elif name in NAMES:
                self._names()
            elif name.startswith(META):
                self.prefetch([name])
            else:
                raise KeyError(name)
            values = self._columns[name]
        return values

    def entry_maker(self) -> Callable[[int], Entry]:
        if self._pending is None and all(n in self._columns for n in NAMES):
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
        """Make the :data:`NAMES` columns."""
        names = list(map(names_of, self._columns["uri"]))
        with self._lock:
            for name, column in zip(NAMES, zip(*names, strict=True) if names else ((), ()),
                                    strict=True):
                self._columns.setdefault(name, list(column))

    def settle(self) -> None:
        """Make the :data:`DEFERRED` columns, if not made yet."""
        with self._lock, paused_gc():
            if self._pending is None:
                return
            values = list(map(partial(self._settle, stored=True), range(self.rows)))
            assert self._rows is not None
            for row, done in self._rows.done.items():
                extra = done[-1]
                if extra.__class__ is not msgspec.Raw:  # settled for an entry: encoded now
                    values[row] = (*done[:-1], msgspec.Raw(encode_msgpack(extra)))
            columns = zip(*values, strict=True) if values else ([] for _ in DEFERRED)
            for name, column in zip(DEFERRED, columns, strict=True):
                self._columns[name] = list(column)
            self._pending = self._rows = self._fetch = None

    def _settled(self, row: int) -> tuple[Any, ...]:
        """The :data:`DEFERRED` values of one row, for its entry (``extra`` as msgpack or
        as values, see :meth:`Rows.deferred`)."""
        with self._lock:
            if self._pending is None:
                return tuple(self._columns[n][row] for n in DEFERRED)
            return self._settle(row, stored=False)

    def _settle(self, row: int, stored: bool) -> tuple[Any, ...]:
        """The :data:`DEFERRED` values of one row: as its columns hold them (``stored``,
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
        except Misfit:  # the metadata does not fit: the record again, through Entry
            key = keys[row]
            raw = self._fetch(key) if self._fetch is not None else None
            if raw is None:
                raise MissingObjectError(f"record {key!r} of tree {self.root.hex()}") from None
            full = dict(zip(ROW_COLUMNS, entry_row(raw), strict=True))
            done = tuple(full[n] for n in DEFERRED)
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
_READ = ("id", "uri", *NAMES, "content_type", "width", "height", "data_id", "tags", "created")
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
    rows = Rows()
    add, add_entry = rows.add, rows.add_entry
    for key, raw in records:
        try:
            add(key, raw)
        except Misfit:
            add_entry(key, raw)
    columns = ({name: list(col) for name, col in zip(BUILT, zip(*rows.rows, strict=True),
                                                     strict=True)}
               if rows.rows else {name: [] for name in BUILT})
    rows.rows = []
    ids = columns["id"]
    if any(map(ge, ids, islice(ids, 1, None))):
        return None
    return Built(root, columns, rows, fetch)
