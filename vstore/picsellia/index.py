"""The asset index: a compact summary of every asset of a version, for lookups and queries.

``list_assets``, ``find_asset``, splits and stats read the index instead of decoding every
record again. An index describes one tree root, so it is exact by construction. It is found,
cheapest first:

1. in a small in-process cache keyed by the root (a fork, which shares its parent's root,
   shares its index too);
2. patched from the index of the version's previous root in that cache, from the diff of the
   two roots, which costs what changed, not the version's size;
3. persisted by an earlier process (``vstore.picsellia.persisted``): the file of this very
   root, or else the nearest earlier root of the version that has one, patched from the diff;
4. built by decoding every record, then persisted for the processes to come.

A patched index is persisted too once it has drifted far from the persisted one it came from
(:func:`_worth_saving`), so a new process never has far to walk or much to patch.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from vstore.datasets.changes import diff_states
from vstore.errors import MissingObjectError
from vstore.picsellia import persisted
from vstore.picsellia.build import ENTRY_FIELDS, build_columns
from vstore.picsellia.columns import extractor, meta_keys
from vstore.picsellia.entry import ROW, AnnSummary, Entry, restored, summarize
from vstore.picsellia.frames import paused_gc, state_of

if TYPE_CHECKING:
    from vstore.datasets.registry import VersionState
    from vstore.datasets.version import DatasetVersion

__all__ = ["ENTRY_FIELDS", "AnnSummary", "AssetIndex", "Entry", "asset_index", "summarize"]

_MAX_CACHED = 4
_BUILD_TRIES = 3
#: How far back in a version's log a new process looks for a persisted index to patch.
_WALK = 64


#: A row of an index over a persisted one: a row of the persisted index, or a new entry.
Row = int | Entry


class AssetIndex:
    """Every asset of one tree root, as rows in frame-id order: entries, columns, lookups.

    An index is built from records, loaded from its persisted form, or patched from another
    index and the diff of the two roots. Over a persisted index (loaded, or patched from one)
    rows become entries only when they are asked for: a query reads columns (see
    ``vstore.picsellia.columns``) and turns only what it selects into entries, and a patch
    keeps the persisted rows it does not change as they are.

    Args:
        root: the tree root it describes.
        by_id: the entries of an index built (or patched) from records, by asset id.
        stored: the persisted index it reads (instead of ``by_id``).
        rows: over ``stored``, each row: a row of ``stored`` or a new entry (default: every
            row of ``stored``, as it is).
        unsaved: records decoded since the persisted index it comes from (given for a patched
            index; 0 for a loaded one, all of them for a built one).
        origin: ``"built"`` for ``stored`` columns built from records (see
            ``vstore.picsellia.build``) rather than loaded.

    Attributes:
        root: the tree root.
        origin: how it was made: ``"built"`` from every record, ``"patched"`` from another
            index and a diff, or ``"loaded"`` from its persisted form.
        unsaved: what persisting it would spare a new process, in records to decode.
    """

    def __init__(self, root: bytes, by_id: dict[str, Entry] | None = None,
                 stored: persisted.Stored | None = None, rows: list[Row] | None = None,
                 unsaved: int | None = None, *, origin: str | None = None,
                 _made: list[Entry | None] | None = None) -> None:
        self.root = root
        self._by_id = by_id
        self._stored = stored
        self._map = rows
        # entries of the stored rows, made once (shared with the indexes patched from this)
        self._made: list[Entry | None] | None = _made
        if _made is None and stored is not None:
            self._made = [None] * stored.rows
        self._entries: list[Entry] | None = None
        self._positions: dict[str, int] | None = None
        self._columns: dict[str, list[Any]] = {}
        self._maps: dict[str, dict[Any, list[int]]] = {}
        self._lock = threading.Lock()
        if unsaved is not None:
            self.origin, self.unsaved = "patched", unsaved
        elif stored is not None and origin != "built":
            self.origin, self.unsaved = "loaded", 0
        else:
            self.origin, self.unsaved = "built", len(self)

    def __len__(self) -> int:
        if self._stored is None:
            return len(self._by_id or ())
        return self._stored.rows if self._map is None else len(self._map)

    @property
    def entries(self) -> list[Entry]:
        """Every entry, in frame-id order (the version's own order)."""
        if self._entries is None:
            if self._stored is None:
                by_id = self._by_id or {}
                self._entries = [by_id[k] for k in sorted(by_id)]
            elif self._map is None and not any(self._made or ()):
                self._entries = self._every_stored_entry()
            else:
                self._entries = self.take(range(len(self)))
        return self._entries

    def _every_stored_entry(self) -> list[Entry]:
        """Every row of the stored index made into an entry, a column at a time."""
        stored = self._stored
        assert stored is not None
        rows = zip(*(stored.column(n) for n in ROW), strict=True)
        with paused_gc():
            made = list(map(restored, rows, stored.column("extra"), stored.column("meta")))
        self._made = made  # type: ignore[assignment]
        return made

    def take(self, rows: Iterable[int]) -> list[Entry]:
        """The entries of the given rows, in that order."""
        if self._stored is None:
            entries = self.entries
            return [entries[r] for r in rows]
        wanted = rows if self._map is None else (self._map[r] for r in rows)
        return self._stored_entries(wanted)

    def _stored_entries(self, rows: Iterable[Row]) -> list[Entry]:
        stored, made = self._stored, self._made
        assert stored is not None and made is not None
        make = stored.entry_maker()
        out = []
        with paused_gc():
            for r in rows:
                if isinstance(r, Entry):
                    out.append(r)
                    continue
                e = made[r]
                if e is None:
                    e = made[r] = make(r)
                out.append(e)
        return out

    def entry(self, row: int) -> Entry:
        """The entry of one row."""
        return self.take((row,))[0]

    @property
    def by_id(self) -> dict[str, Entry]:
        """Every entry by asset id (over a persisted index, this makes every entry)."""
        if self._by_id is None:
            self._by_id = {e.id: e for e in self.entries}
        return self._by_id

    def row_of(self, asset_id: str) -> int | None:
        """The row of an asset, or None."""
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(self.column("id"))}
        return self._positions.get(asset_id)

    def get(self, asset_id: str) -> Entry | None:
        """The entry of an asset, or None."""
        if self._stored is None:
            return (self._by_id or {}).get(asset_id)
        row = self.row_of(asset_id)
        return None if row is None else self.entry(row)

    def column(self, name: str, keep: bool = True) -> list[Any]:
        """Column ``name`` (see ``vstore.picsellia.columns``), one value per row.

        Args:
            name: the column.
            keep: keep it for the next call (else it is only returned, when it is computed).
        """
        values = self._columns.get(name)
        if values is None:
            with paused_gc():
                values = self._compute(name)
            if keep:
                self._columns[name] = values
        return values

    def _compute(self, name: str) -> list[Any]:
        get = extractor(name)
        if self._stored is None or not self._stored.has(name):
            return list(map(get, self.entries))
        base = self._stored.column(name)
        if self._map is None:
            return base
        return [base[r] if isinstance(r, int) else get(r) for r in self._map]

    def prefetch(self, names: Iterable[str]) -> None:
        """Get the columns ``names`` ready at once (cheaper than one by one for some)."""
        if self._stored is not None:
            self._stored.prefetch(list(names))

    def persisted_rows(self) -> tuple[list[Any], list[Any]]:
        """What the persisted form holds of each row besides its columns: ``(task,
        annotations)`` and the metadata, as values or as the msgpack bytes read."""
        if self._stored is None:
            entries = self.entries
            return [(e.task, e.annotations) for e in entries], [e.stored_meta() for e in entries]
        extra, meta = self._stored.column("extra"), self._stored.column("meta")
        if self._map is None:
            return extra, meta
        return ([extra[r] if isinstance(r, int) else (r.task, r.annotations) for r in self._map],
                [meta[r] if isinstance(r, int) else r.stored_meta() for r in self._map])

    def meta_keys(self, limit: int) -> list[str]:
        """The metadata keys whose columns the persisted form keeps (at most ``limit``)."""
        if self._stored is None:
            return meta_keys(self.entries, limit)
        return self._stored.meta_keys()[:limit]

    def lookup_rows(self, field: str, value: Any) -> list[int]:
        """The rows whose column ``field`` (filename, object_name, data_id) is ``value``."""
        with self._lock:
            table = self._maps.get(field)
            if table is None:
                table = {}
                with paused_gc():
                    for row, key in enumerate(self.column(field)):
                        if key is not None:
                            table.setdefault(key, []).append(row)
                self._maps[field] = table
        return table.get(value, [])

    def lookup(self, field: str, value: Any) -> list[Entry]:
        """The entries whose ``field`` (filename, object_name or data_id) equals ``value``."""
        return self.take(self.lookup_rows(field, value))

    def patched(
        self, root: bytes, changes: Iterable[tuple[str, dict[str, Any] | None]]
    ) -> AssetIndex:
        """A new index for ``root``: this one with ``(id, new record or None)`` applied."""
        changed = {frame_id: None if r is None else Entry(r) for frame_id, r in changes}
        unsaved = self.unsaved + len(changed)
        if self._stored is None:
            by_id = dict(self.by_id)
            for frame_id, entry in changed.items():
                if entry is None:
                    by_id.pop(frame_id, None)
                else:
                    by_id[frame_id] = entry
            return AssetIndex(root, by_id, unsaved=unsaved)
        current: Iterable[Row] = range(len(self)) if self._map is None else self._map
        kept = [(i, r) for i, r in zip(self.column("id"), current, strict=True)
                if i not in changed]
        added = sorted((i, e) for i, e in changed.items() if e is not None)
        rows = [r for _, r in heapq.merge(kept, added, key=itemgetter(0))]
        return AssetIndex(root, stored=self._stored, rows=rows, unsaved=unsaved,
                          _made=self._made)


_lock = threading.Lock()
_by_root: OrderedDict[bytes, AssetIndex] = OrderedDict()
_last_root: dict[tuple[str, str, str], bytes] = {}
#: Per version: the log position of the newest state whose index is persisted (or was read).
_anchors: dict[tuple[str, str, str], int] = {}


def _cached(root: bytes) -> AssetIndex | None:
    with _lock:
        index = _by_root.get(root)
        if index is not None:
            _by_root.move_to_end(root)
        return index


def _remember(key: tuple[str, str, str], index: AssetIndex) -> None:
    with _lock:
        _by_root[index.root] = index
        _by_root.move_to_end(index.root)
        while len(_by_root) > _MAX_CACHED:
            _by_root.popitem(last=False)
        _last_root[key] = index.root


def _build(version: DatasetVersion, root: bytes) -> tuple[AssetIndex, bool]:
    """The index of ``root`` from its records (see ``vstore.picsellia.build``), and whether
    it is exact (the fallback reads the version as it is, which a writer may have moved)."""
    with paused_gc():
        layers = version.store.repo.layers
        built = build_columns(root, layers.items(root), lambda key: layers.get(root, key))
        if built is not None:
            return AssetIndex(root, stored=built, origin="built"), True
        # ids out of key order (never written so): entries by id, as the records say
        by_id = {}
        for record in version.get_iterator(projection=ENTRY_FIELDS):
            by_id[record["id"]] = Entry(record)
    return AssetIndex(root, by_id), state_of(version).tree == root


def _patch(version: DatasetVersion, base: AssetIndex, root: bytes) -> AssetIndex:
    with paused_gc():
        diff = diff_states(version.store.repo, base.root, root)
        return base.patched(root, ((c.frame_id, c.new) for c in diff.changes))


def _worth_saving(index: AssetIndex, drift: int) -> bool:
    """Whether to persist an index ``drift`` log entries past the last persisted one: one
    built from every record, or patched far (in records or in log entries) from it."""
    if index.unsaved == 0:
        return False
    return (index.origin == "built" or drift >= _WALK // 2
            or index.unsaved >= max(persisted.MIN_ROWS, len(index) // 16))


def _from_disk(version: DatasetVersion, key: tuple[str, str, str], state: VersionState
               ) -> AssetIndex | None:
    """The index of the state's root from the persisted index of it or of an earlier root."""
    store = version.store
    stored = persisted.load(store, state.tree)
    if stored is not None:
        _anchors[key] = state.seq
        return AssetIndex(state.tree, stored=stored)
    nearest = persisted.load_nearest(store, state, _WALK)
    if nearest is None:
        return None
    base, back = nearest
    try:
        index = _patch(version, AssetIndex(base.root, stored=base), state.tree)
    except MissingObjectError:  # a gc running meanwhile took that root: build instead
        return None
    _anchors[key] = state.seq - back
    return index


def _fetch(version: DatasetVersion, key: tuple[str, str, str], state: VersionState
           ) -> tuple[AssetIndex, bool]:
    """An index of the state's root, and whether it is exact (a build may read a newer root)."""
    root = state.tree
    with _lock:
        base_root = _last_root.get(key)
    base = None if base_root is None else _cached(base_root)
    if base is not None:
        return _patch(version, base, root), True
    index = _from_disk(version, key, state)
    if index is not None:
        return index, True
    return _build(version, root)


def asset_index(version: DatasetVersion, on_miss: Callable[[], None] | None = None) -> AssetIndex:
    """The index of the version as it is now.

    Args:
        version: the version (or the datalake's hidden version).
        on_miss: called when the index had to be built, loaded or patched (for tests).

    Returns:
        The index of the version's current tree root.
    """
    key = (version.store.url, version.dataset_id, version.version_id)
    index: AssetIndex | None = None
    for _ in range(_BUILD_TRIES):
        state = state_of(version)
        hit = _cached(state.tree)
        if hit is not None:
            with _lock:
                _last_root[key] = state.tree
            return hit
        if on_miss is not None:
            on_miss()
        index, exact = _fetch(version, key, state)
        if exact:
            drift = state.seq - _anchors.get(key, state.seq)
            # a built index is written after the answer, from a thread: it costs as much
            # as the build, and only later processes need it
            if _worth_saving(index, drift) and persisted.save(
                    version.store, index, background=index.origin == "built"):
                _anchors[key] = state.seq
            _remember(key, index)
            return index
    assert index is not None
    return index
