"""Packs: many objects in one remote file, found through per-pack indexes.

Layout under the store root::

    packs/<name>.pack   magic, then the stored bytes of each object, back to back
    packs/<name>.idx    which objects a pack holds: (id, offset, length) entries

A write of N objects is one PUT of a pack and one PUT of its index, whatever N
(packs are cut at :data:`PACK_MAX` bytes). The pack is written before its index,
so an index never names a pack that is not there. ``<name>`` is a hash of the
pack's bytes: two writers that pack the same objects write the same file.

Readers find objects through the indexes: they list ``packs/`` when an id is not
in the indexes they know (new packs appear there before any ref can name their
objects, since objects are written before refs), fetch the indexes they lack
(immutable: the on-disk cache keeps them), and read objects with ranged GETs,
adjacent objects coalesced, all in parallel.

Garbage collection (:meth:`PackStore.delete`) removes whole packs: a pack whose
objects all die is deleted (index first, then pack); one that still holds live
objects is rewritten to a new pack with only those, then deleted. A writer reuses
an object already stored only if it lies in a pack written within
:data:`REUSE_AGE` seconds; an older one is written again into the new pack. So a
gc that deletes only packs older than its grace period (which must exceed
:data:`REUSE_AGE`) never deletes an object that a writer has just decided not to
write. See docs/decisions/0007-packs.md.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import blake3

from vstore.engine.backends.transfer import Call, Transfer, mtime_of
from vstore.engine.cache import ObjectCache

__all__ = ["PACK_MAX", "REUSE_AGE", "PackStore", "decode_index", "encode_index"]

log = logging.getLogger("vstore.engine")

PACK_MAGIC = b"VSPACK01"
IDX_MAGIC = b"VSIDX001"
_COUNT = struct.Struct(">I")
_ENTRY = struct.Struct(">32sQI")
_SUM = 16
#: a pack is cut when it reaches this many bytes (a single PUT on every cloud)
PACK_MAX = 32 * 1024 * 1024
#: objects in packs younger than this are reused by writers instead of written again
REUSE_AGE = 3600.0
# Ranged reads: objects closer than this are fetched in one request, up to _SPAN bytes.
_GAP = 64 * 1024
_SPAN = 8 * 1024 * 1024
#: with a cache, each ranged read also fetches the objects in up to this many bytes
#: around it in the pack (written together, so likely read together); a pack no
#: larger than this is read whole
READ_AHEAD = 1024 * 1024
# A write relies on indexes listed at most this long ago to skip stored objects.
_WRITE_FRESHNESS = 30.0


def encode_index(entries: Sequence[tuple[bytes, int, int]]) -> bytes:
    """The bytes of an index of ``(id, offset, length)`` entries."""
    body = IDX_MAGIC + _COUNT.pack(len(entries)) + b"".join(
        _ENTRY.pack(oid, off, n) for oid, off, n in entries
    )
    return body + blake3.blake3(body).digest(length=_SUM)


def decode_index(raw: bytes) -> list[tuple[bytes, int, int]]:
    """Parse an index.

    Raises:
        ValueError: the bytes are not a whole, undamaged index.
    """
    body, check = raw[:-_SUM], raw[-_SUM:]
    if len(raw) < len(IDX_MAGIC) + _COUNT.size + _SUM or not body.startswith(IDX_MAGIC):
        raise ValueError("not a pack index")
    if blake3.blake3(body).digest(length=_SUM) != check:
        raise ValueError("pack index checksum mismatch")
    (count,) = _COUNT.unpack_from(body, len(IDX_MAGIC))
    start = len(IDX_MAGIC) + _COUNT.size
    if len(body) != start + count * _ENTRY.size:
        raise ValueError("pack index length mismatch")
    return [_ENTRY.unpack_from(body, start + i * _ENTRY.size) for i in range(count)]


@dataclass(slots=True)
class _Pack:
    name: str
    time: float
    entries: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    by_offset: list[tuple[int, int, bytes]] | None = None

    def within(self, start: int, end: int) -> list[tuple[bytes, int, int]]:
        """The objects that lie wholly inside ``[start, end)``, by offset."""
        if self.by_offset is None:
            self.by_offset = sorted((off, n, oid) for oid, (off, n) in self.entries.items())
        i = bisect_left(self.by_offset, (max(start, 0), 0, b""))
        out = []
        for off, n, oid in self.by_offset[i:]:
            if off + n > end:
                break
            out.append((oid, off, n))
        return out


@dataclass(frozen=True, slots=True)
class _Range:
    pack: str
    start: int
    end: int
    objects: tuple[tuple[bytes, int, int], ...]


class PackStore:
    """The packed objects of one store, and the index of where each one lies.

    Args:
        transfer: runs the remote calls (retries, concurrency, typed errors).
        root: the store's root path on the filesystem.
        cache: keeps fetched indexes (never required).
    """

    def __init__(self, transfer: Transfer, root: str, cache: ObjectCache | None = None) -> None:
        self.t = transfer
        self.base = f"{root}/packs"
        self.cache = cache
        self._packs: dict[str, _Pack] = {}
        self._where: dict[bytes, str] = {}
        self._orphans: dict[str, float] = {}  # packs without an index, by time
        self._listed = 0.0
        self._lock = threading.RLock()

    def _path(self, name: str, ext: str) -> str:
        return f"{self.base}/{name}.{ext}"

    # -- index -------------------------------------------------------------------------

    def refresh(self) -> None:
        """List ``packs/``: learn new packs' indexes, forget packs that were deleted."""
        listing = self.t.find("listing packs", self.base, detail=True)
        idx: dict[str, float] = {}
        packs: dict[str, float] = {}
        for path, info in listing.items():
            stem, _, ext = path.rstrip("/").rsplit("/", 1)[-1].partition(".")
            if ext == "idx":
                idx[stem] = mtime_of(info)
            elif ext == "pack":
                packs[stem] = mtime_of(info)
        with self._lock:
            known = set(self._packs)
        new = [n for n in idx if n not in known and n in packs]
        loaded = self._load_indexes(new, idx)
        with self._lock:
            for name in known - set(idx):
                self._drop(name)
            for pack in loaded:
                self._add(pack)
            self._orphans = {n: t for n, t in packs.items() if n not in idx}
            self._listed = time.monotonic()

    def _load_indexes(self, names: list[str], times: Mapping[str, float]) -> list[_Pack]:
        out: list[_Pack] = []
        fetch: list[str] = []
        for name in names:
            raw = self.cache.get(self._cache_id(name)) if self.cache is not None else None
            if raw is None:
                fetch.append(name)
            else:
                out.append(self._parse(name, times[name], raw))
        got = self.t.many("reading pack indexes", [self.t.get(self._path(n, "idx")) for n in fetch])
        for name, raw in zip(fetch, got, strict=True):
            if isinstance(raw, BaseException):
                continue  # deleted since the listing
            pack = self._parse(name, times[name], bytes(raw))
            if pack.entries and self.cache is not None:
                self.cache.put_many({self._cache_id(name): bytes(raw)})
            out.append(pack)
        return out

    @staticmethod
    def _cache_id(name: str) -> bytes:
        return blake3.blake3(b"pack-index:" + name.encode()).digest()

    def _parse(self, name: str, t: float, raw: bytes) -> _Pack:
        try:
            entries = decode_index(raw)
        except ValueError as exc:
            log.warning("%s: pack index %s is unreadable (%s); its objects are skipped",
                        self.t.where, name, exc)
            entries = []
        return _Pack(name, t, {oid: (off, n) for oid, off, n in entries})

    def _add(self, pack: _Pack) -> None:
        self._packs[pack.name] = pack
        for oid in pack.entries:
            cur = self._where.get(oid)
            if cur is None or self._packs[cur].time <= pack.time:
                self._where[oid] = pack.name

    def _drop(self, name: str) -> None:
        pack = self._packs.pop(name, None)
        if pack is None:
            return
        for oid in pack.entries:
            if self._where.get(oid) == name:
                del self._where[oid]
                others = [p for p in self._packs.values() if oid in p.entries]
                if others:
                    self._where[oid] = max(others, key=lambda p: p.time).name

    def locate(self, ids: Iterable[bytes]) -> dict[bytes, tuple[str, int, int]]:
        """Where the known indexes place each of ``ids`` (unknown ids are left out)."""
        out = {}
        with self._lock:
            for oid in ids:
                name = self._where.get(oid)
                if name is not None:
                    off, n = self._packs[name].entries[oid]
                    out[oid] = (name, off, n)
        return out

    def _fresh(self, oid: bytes, since: float) -> bool:
        name = self._where.get(oid)
        return name is not None and self._packs[name].time >= since

    # -- reads -------------------------------------------------------------------------

    def read(self, ids: Sequence[bytes], ahead: int = 0) -> dict[bytes, bytes]:
        """Fetch the packed objects among ``ids`` (listing again once if some are unknown).

        Args:
            ids: the objects wanted.
            ahead: also fetch, and return, the objects in up to this many bytes after
                each range read (for a cache to keep).
        """
        where = self.locate(ids)
        if len(where) < len(ids):
            self.refresh()
            where = self.locate(ids)
        out, gone = self._fetch(where, ahead)
        if gone:  # a pack was rewritten by gc since we listed: list again, once
            self.refresh()
            more, _ = self._fetch(self.locate(gone), ahead)
            out.update(more)
        return out

    def _fetch(
        self, where: Mapping[bytes, tuple[str, int, int]], ahead: int = 0
    ) -> tuple[dict[bytes, bytes], list[bytes]]:
        ranges = _coalesce(where)
        if ahead:
            ranges = [self._extend(r, ahead) for r in ranges]
        calls = [Call("cat_file", (self._path(r.pack, "pack"),), {"start": r.start, "end": r.end})
                 for r in ranges]
        got = self.t.many("reading packs", calls)
        out: dict[bytes, bytes] = {}
        gone: list[bytes] = []
        for r, data in zip(ranges, got, strict=True):
            if isinstance(data, BaseException) or len(data) != r.end - r.start:
                gone.extend(oid for oid, _, _ in r.objects)
                continue
            view = memoryview(data)
            for oid, off, n in r.objects:
                out[oid] = bytes(view[off - r.start : off - r.start + n])
        return out, gone

    def _extend(self, r: _Range, ahead: int) -> _Range:
        with self._lock:
            pack = self._packs.get(r.pack)
            if pack is None:
                return r
            spare = max(0, ahead - (r.end - r.start)) // 2
            near = pack.within(r.start - spare, r.end + spare)
        if not near:
            return r
        start = min(r.start, near[0][1])
        end = max(r.end, near[-1][1] + near[-1][2])
        return _Range(r.pack, start, end, tuple(dict.fromkeys((*r.objects, *near))))

    def contains(self, ids: Sequence[bytes]) -> set[bytes]:
        """The ids that some pack holds (listing again once if some are unknown)."""
        found = set(self.locate(ids))
        if len(found) < len(ids):
            self.refresh()
            found = set(self.locate(ids))
        return found

    def objects(self) -> Iterator[tuple[bytes, float]]:
        """Every packed id once, with the time of the newest pack that holds it."""
        self.refresh()
        with self._lock:
            items = [(oid, self._packs[name].time) for oid, name in self._where.items()]
        yield from sorted(items)

    # -- writes ------------------------------------------------------------------------

    def write(self, items: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
        """Write the objects not already stored in a recent pack; return what was written."""
        if time.monotonic() - self._listed > _WRITE_FRESHNESS:
            self.refresh()
        since = time.time() - REUSE_AGE
        with self._lock:
            todo = {oid: data for oid, data in items.items() if not self._fresh(oid, since)}
        for chunk in _chunks(todo):
            self._write_pack(chunk)
        return todo

    def _write_pack(self, items: Mapping[bytes, bytes]) -> None:
        parts = [PACK_MAGIC]
        entries = []
        off = len(PACK_MAGIC)
        for oid, data in items.items():
            entries.append((oid, off, len(data)))
            parts.append(data)
            off += len(data)
        pack = b"".join(parts)
        name = blake3.blake3(pack).hexdigest(length=20)
        index = encode_index(entries)
        # The pack first: an index must never name a pack that is not stored.
        self.t.one("writing a pack", Call("pipe_file", (self._path(name, "pack"), pack)))
        self.t.one("writing a pack index", Call("pipe_file", (self._path(name, "idx"), index)))
        with self._lock:
            self._add(_Pack(name, time.time(), {oid: (o, n) for oid, o, n in entries}))

    # -- gc ----------------------------------------------------------------------------

    def delete(self, ids: Iterable[bytes], older_than: float | None) -> int:
        """Delete objects by deleting or rewriting the packs that hold them.

        A pack written at or after ``older_than`` is kept whole. Packs that lost
        their index (a writer died between the two PUTs) and are older than
        ``older_than`` are deleted too.

        Returns:
            How many of ``ids`` no pack holds any more.
        """
        dead = set(ids)
        self.refresh()
        with self._lock:
            hit = [p for p in self._packs.values() if dead & p.entries.keys()]
            before = {oid for oid in dead if oid in self._where}
        doomed = [p for p in hit if older_than is None or p.time < older_than]
        for pack in doomed:
            live = [oid for oid in pack.entries if oid not in dead]
            if live:
                kept, _ = self._fetch({oid: (pack.name, *pack.entries[oid]) for oid in live})
                if len(kept) < len(live):
                    continue  # cannot read what must survive: keep the pack
                for chunk in _chunks(kept):
                    self._write_pack(chunk)
            self._remove(pack.name)
        cutoff = older_than if older_than is not None else float("inf")
        for name, t in list(self._orphans.items()):
            if t < cutoff:
                self._remove(name, index=False)
        with self._lock:
            return sum(1 for oid in before if oid not in self._where)

    def _remove(self, name: str, index: bool = True) -> None:
        # The index first: a reader that still lists the pack finds it gone and lists again.
        if index:
            self.t.one("deleting a pack index", Call("rm_file", (self._path(name, "idx"),)))
        self.t.one("deleting a pack", Call("rm_file", (self._path(name, "pack"),)))
        with self._lock:
            self._drop(name)
            self._orphans.pop(name, None)
        if self.cache is not None:
            self.cache.discard([self._cache_id(name)])


def _chunks(items: Mapping[bytes, bytes]) -> Iterator[dict[bytes, bytes]]:
    chunk: dict[bytes, bytes] = {}
    size = 0
    for oid, data in items.items():
        if chunk and size + len(data) > PACK_MAX:
            yield chunk
            chunk, size = {}, 0
        chunk[oid] = data
        size += len(data)
    if chunk:
        yield chunk


def _coalesce(where: Mapping[bytes, tuple[str, int, int]]) -> list[_Range]:
    """Group objects into ranged reads: one per run of nearby objects in one pack."""
    by_pack: dict[str, list[tuple[bytes, int, int]]] = {}
    for oid, (name, off, n) in where.items():
        by_pack.setdefault(name, []).append((oid, off, n))
    out: list[_Range] = []
    for name, objs in by_pack.items():
        objs.sort(key=lambda o: o[1])
        run: list[tuple[bytes, int, int]] = []
        for o in objs:
            if run and (o[1] - (run[-1][1] + run[-1][2]) > _GAP
                        or o[1] + o[2] - run[0][1] > _SPAN):
                out.append(_Range(name, run[0][1], max(x[1] + x[2] for x in run), tuple(run)))
                run = []
            run.append(o)
        if run:
            out.append(_Range(name, run[0][1], max(x[1] + x[2] for x in run), tuple(run)))
    return out
