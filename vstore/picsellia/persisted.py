"""The persisted asset index: one file per tree root in the local cache, read by new processes.

A tree root never changes, so the index of a root is derived data that any later process can
reuse instead of decoding every record again; a fork shares its parent's root, so it shares the
file too. The file holds the index's columns (``vstore.picsellia.columns``), each compressed on
its own and, when most values repeat (labels, cameras, tag sets), as a table of distinct values
and one code per asset; and two columns of per-asset msgpack (task with annotations, and the
metadata) that are decoded only for the assets a caller turns into entries. Reading the file
of 100,000 assets takes about 0.1 s, against seconds to decode their records.

**Where it lives.** In the local cache of immutable objects (``vstore.engine.cache``), under
its own namespace and keyed by the root id: ``$VSTORE_CACHE_DIR``, else
``$XDG_CACHE_HOME/vstore``, else ``~/.cache/vstore`` (a remote store's ``cache_dir`` when it
has one), within the same size bound (``VSTORE_CACHE_SIZE=0`` turns persisting off). Nothing
is written to the store: ``verify`` and ``gc`` never see these files, gc keeps nothing alive
for them, and a reader without write access to the store persists all the same. The cache is
bounded: the least recently used files go first.

**Many processes.** A file is written whole under a temporary name and renamed into place, by
whoever builds the index first; the content is a pure function of the root, so two writers
write equivalent files. Every read checks the cache's checksum, then this format's header
(magic, :data:`FORMAT`, root, row count) and each column's type and length; a torn, damaged or
foreign file is deleted and the index rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import zstandard

from vstore.engine.cache import ObjectCache, default_cache_dir, default_cache_size
from vstore.errors import VStoreError
from vstore.picsellia.columns import LISTS, META, SCALARS
from vstore.picsellia.entry import ROW, Entry, restored
from vstore.picsellia.frames import paused_gc

if TYPE_CHECKING:
    from vstore.datasets.registry import VersionState
    from vstore.datasets.store import Store
    from vstore.picsellia.index import AssetIndex

__all__ = ["FORMAT", "MIN_ROWS", "Malformed", "Stored", "dumps", "load", "load_nearest",
           "loads", "release", "save", "wait_saved"]

log = logging.getLogger("vstore.picsellia")

#: Version of the file format; part of the cache namespace, so files of another version are
#: never read (the cache's bound removes them in time). Bump it whenever an entry or a column
#: would be computed differently.
FORMAT = 1
#: Indexes of fewer assets are not persisted: they build in a few milliseconds.
MIN_ROWS = 1000
#: Most metadata keys that get a stored column.
MAX_META_COLUMNS = 64

_MAGIC = b"VSAI"
_HEAD = struct.Struct(">4sHI32s")  # magic, format, rows, root
_NAMESPACE = f"picsellia-index/{FORMAT}"
_ZSTD_LEVEL = 1
_MAX_COLUMN_BYTES = 1 << 31
#: Columns every file holds besides the metadata ones; ``extra`` is ``(task, annotations)``.
_REQUIRED = (*SCALARS, *LISTS, "extra", "meta")
#: Columns whose values are (nearly) all distinct: stored as they are, never as a table.
_UNIQUE = ("id", "uri", "filename", "object_name", "data_id", "created")
#: Columns of tuples of str, by construction (see ``vstore.picsellia.columns``).
_STRINGS = ("tags", "status", "worker")

_Light = tuple[str, Any, str | None]
_TYPES: dict[str, Any] = {
    "id": str, "uri": str, "filename": str, "object_name": str, "data_id": str | None,
    "created": float, "content_type": Any, "width": Any, "height": Any,
    "tags": tuple[str, ...], "status": tuple[str, ...], "worker": tuple[str, ...],
    "shapes": tuple[_Light, ...], "extra": msgspec.Raw, "meta": msgspec.Raw,
    META: tuple[Any, ...],
}
_Code = Annotated[int, msgspec.Meta(ge=0)]
_encoder = msgspec.msgpack.Encoder()
_outer = msgspec.msgpack.Decoder(list[tuple[str, str, bytes]])


class Malformed(ValueError):
    """A persisted index that does not hold together (torn, damaged, foreign, older)."""


def _decoder(name: str, encoding: str) -> msgspec.msgpack.Decoder[Any]:
    """The decoder of a column's payload, which also checks the type of every value."""
    if encoding not in ("plain", "table"):
        raise Malformed(f"column {name}: unknown encoding {encoding!r}")
    kind = META if name.startswith(META) else name
    if kind not in _TYPES:
        raise Malformed(f"unknown column {name!r}")
    return _typed_decoder(kind, encoding)


@functools.cache
def _typed_decoder(kind: str, encoding: str) -> msgspec.msgpack.Decoder[Any]:
    value = _TYPES[kind]
    if encoding == "plain":
        return msgspec.msgpack.Decoder(list[value])  # type: ignore[valid-type]
    return msgspec.msgpack.Decoder(tuple[list[value], list[_Code]])  # type: ignore[valid-type]


class Stored:
    """The columns of one persisted index, decoded and checked.

    Attributes:
        root: the tree root the file describes.
        rows: the number of assets.
    """

    def __init__(self, root: bytes, rows: int, columns: dict[str, list[Any]]) -> None:
        self.root = root
        self.rows = rows
        self._columns = columns

    def has(self, name: str) -> bool:
        """Whether the file holds column ``name``."""
        return name in self._columns

    def column(self, name: str) -> list[Any]:
        """Column ``name``, one value per row (KeyError: the file has no such column)."""
        return self._columns[name]

    def meta_keys(self) -> list[str]:
        """The metadata keys that have a column, most common first."""
        return [n[len(META):] for n in self._columns if n.startswith(META)]

    def prefetch(self, names: Sequence[str]) -> None:
        """Get columns ready to be read (a persisted index holds every column already)."""

    def entry_maker(self) -> Callable[[int], Entry]:
        """The function making the entry of one row (see ``entry.restored``)."""
        columns = [self.column(n) for n in ROW]
        extra, meta = self.column("extra"), self.column("meta")
        return lambda r: restored(tuple([c[r] for c in columns]), extra[r], meta[r])


def _decode_column(name: str, encoding: str, payload: bytes, rows: int) -> list[Any]:
    """One column of a file: ``rows`` values of the column's type, or Malformed."""
    try:
        body = zstandard.ZstdDecompressor().decompress(payload, max_output_size=_MAX_COLUMN_BYTES)
        decoded = _decoder(name, encoding).decode(body)
        if encoding == "plain":
            values: list[Any] = decoded
        else:
            table, codes = decoded  # codes are >= 0: the decoder checks it
            values = list(map(table.__getitem__, codes))
    except IndexError:
        raise Malformed(f"column {name}: a code is out of its table") from None
    except (msgspec.DecodeError, msgspec.ValidationError, zstandard.ZstdError) as exc:
        raise Malformed(f"column {name}: {exc}") from exc
    if len(values) != rows:
        raise Malformed(f"column {name} has {len(values)} values for {rows} rows")
    return values


def _encode_column(name: str, values: list[Any]) -> tuple[str, bytes]:
    """A column as a table of distinct values and codes when that is smaller, else plain."""
    if name in _UNIQUE:
        return "plain", _encoder.encode(values)
    # Told apart by their encoding (but tuples of str): True, 1 and 1.0 are equal in Python,
    # with equal hashes, yet must come back as they were; and dicts or lists have no hash.
    keys = values if name in _STRINGS else list(map(_encoder.encode, values))
    positions = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    if len(positions) * 2 > len(values):
        return "plain", _encoder.encode(values)
    table = list(positions) if keys is values else list(map(msgspec.Raw, positions))
    return "table", _encoder.encode((table, list(map(positions.__getitem__, keys))))


def dumps(index: AssetIndex) -> bytes:
    """The persisted form of an index (see the module docstring)."""
    names = [*SCALARS, *LISTS, *(META + k for k in index.meta_keys(MAX_META_COLUMNS))]
    index.prefetch(names)
    compress = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress
    columns = []
    for name in names:
        encoding, body = _encode_column(name, index.column(name, keep=False))
        columns.append((name, encoding, compress(body)))
    extra, meta = index.persisted_rows()
    columns += [("extra", "plain", compress(_encoder.encode(extra))),
                ("meta", "plain", compress(_encoder.encode(meta)))]
    head = _HEAD.pack(_MAGIC, FORMAT, len(index), index.root)
    return head + _encoder.encode(columns)


def loads(data: bytes, root: bytes) -> Stored:
    """Read a persisted index of ``root``, every column decoded and checked.

    Raises:
        Malformed: the bytes are not a whole index of ``root`` in this format.
    """
    if len(data) < _HEAD.size:
        raise Malformed(f"{len(data)} bytes: shorter than the header")
    magic, fmt, rows, got = _HEAD.unpack_from(data)
    if magic != _MAGIC or fmt != FORMAT:
        raise Malformed(f"not an asset index of format {FORMAT} (magic {magic!r}, format {fmt})")
    if got != root:
        raise Malformed(f"the index of root {got.hex()}, not {root.hex()}")
    try:
        listed = _outer.decode(memoryview(data)[_HEAD.size:])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(f"column list: {exc}") from exc
    names = [name for name, _, _ in listed]
    missing = [n for n in _REQUIRED if n not in names]
    if missing or len(set(names)) != len(names):
        raise Malformed(f"columns missing or repeated: {missing or sorted(names)}")
    with paused_gc():
        columns = {name: _decode_column(name, encoding, payload, rows)
                   for name, encoding, payload in listed}
    return Stored(root, rows, columns)


# -- where the files live ----------------------------------------------------------------------

_caches: dict[tuple[str, int], ObjectCache] = {}
_caches_lock = threading.Lock()
_rng = random.Random()  # the caller's global generator is left alone


def _cache(store: Store) -> ObjectCache | None:
    """The cache the store's indexes go to, or None when caching is off."""
    # A remote store's own cache settings (``vstore.open(cache_dir=...)``) win.
    own = getattr(store.repo.backend, "cache", None)
    directory = own.root if isinstance(own, ObjectCache) else default_cache_dir()
    bound = own.max_bytes if isinstance(own, ObjectCache) else default_cache_size()
    if bound <= 0:
        return None
    with _caches_lock:
        cache = _caches.get((directory, bound))
        if cache is None:
            cache = _caches[(directory, bound)] = ObjectCache(_NAMESPACE, directory, bound)
        return cache


def load(store: Store, root: bytes) -> Stored | None:
    """The persisted index of ``root``, or None (absent, off, or damaged: then deleted)."""
    cache = _cache(store)
    data = None if cache is None else cache.get(root)  # checks the checksum
    if cache is None or data is None:
        return None
    try:
        stored = loads(data, root)
    except Malformed as exc:
        log.warning("persisted asset index of %s is unusable (%s): rebuilding it", root.hex(), exc)
        cache.discard([root])
        return None
    return stored


def save(store: Store, index: AssetIndex, background: bool = False) -> bool:
    """Persist an index (best effort: a full or read-only disk only costs the next process).

    Args:
        store: the store the index is of (where its cache is).
        index: the index; it must not change afterwards.
        background: write it from a thread of its own, which starts once the answer that
            needed the index is out (:func:`release`, at most :data:`DEFER` seconds later),
            so that it does not compete with the caller; the interpreter waits for it before
            it exits (see also :func:`wait_saved`).

    Returns:
        Whether the index was handed to the cache (not when it is too small or caching is
        off; a write the disk refuses goes unreported, as for any cache entry).
    """
    cache = _cache(store)
    if cache is None or len(index) < MIN_ROWS:
        return False
    if not background:
        _write(cache, index)
        return True
    go = threading.Event()
    thread = threading.Thread(target=_write_later, args=(cache, index, go),
                              name="vstore-index-save")
    with _saving_lock:
        _saving[:] = [(t, e) for t, e in _saving if t.is_alive()]
        _saving.append((thread, go))
    thread.start()
    return True


def _write(cache: ObjectCache, index: AssetIndex) -> None:
    with paused_gc():
        data = dumps(index)
    cache.put_many({index.root: data})  # whole under a temporary name, then renamed
    # put_many trims once a process has added a tenth of the bound; short processes each
    # adding one index would never get there, so trim with the matching probability too.
    if _rng.random() < len(data) / max(1, cache.max_bytes // 10):
        cache.trim()
    index.unsaved = 0


def _write_later(cache: ObjectCache, index: AssetIndex, go: threading.Event) -> None:
    go.wait(DEFER)
    try:
        _write(cache, index)
    except Exception:  # best effort: the next process builds the index again
        log.warning("could not persist the asset index of %s", index.root.hex(), exc_info=True)


#: Most seconds a background save waits for :func:`release`.
DEFER = 1.0
_saving: list[tuple[threading.Thread, threading.Event]] = []
_saving_lock = threading.Lock()


def release() -> None:
    """Let the background saves start: the answer that needed their index is out."""
    with _saving_lock:
        for _, go in _saving:
            go.set()


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Around making a listing's answer: the collector paused (a build leaves ~100,000 new
    objects that each collection on the way would scan again), and the index it built
    written (from a thread) once the answer is out, not competing with making it."""
    try:
        with paused_gc():
            yield
    finally:
        release()


def wait_saved(timeout: float | None = None) -> bool:
    """Write the indexes being persisted in the background now, and wait for them.

    Args:
        timeout: seconds to wait at most (None: as long as it takes).

    Returns:
        Whether every one is written.
    """
    release()
    with _saving_lock:
        pending = [t for t, _ in _saving]
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in pending:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    with _saving_lock:
        _saving[:] = [(t, e) for t, e in _saving if t.is_alive()]
        return not _saving


def load_nearest(store: Store, state: VersionState, depth: int
                 ) -> tuple[Stored, int] | None:
    """The persisted index of an earlier root of the version, the nearest first.

    Walks back at most ``depth`` entries of the version's log (its earlier states; a fork's
    first state has its parent's root).

    Returns:
        ``(stored index, how many log entries back)``, or None.
    """
    repo = store.repo
    seen = {state.tree}
    try:
        for back, entry in enumerate(
                repo.refs.entries(f"versions/{state.dataset_id}/{state.version_id}")):
            if back > depth or entry.value is None:
                break
            tree = repo.read_commit(entry.value).tree
            if tree in seen:
                continue
            seen.add(tree)
            stored = load(store, tree)
            if stored is not None:
                return stored, back
    except VStoreError:  # an entry or commit gc removed: nothing older to find
        return None
    return None
