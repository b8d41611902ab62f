"""Damaged stored objects are detected, named, and never silently read.

The raw bytes are changed underneath the engine: in the LMDB sub-database
``objects`` (keyed by the 32-byte id) through a raw ``lmdb`` transaction while the
engine has the store closed, and in the files ``<root>/objects/xx/yyyy`` of a
``file://`` store. Every read then goes through a fresh :class:`Repository`, so no
cache can hide the damage.
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import pytest
import zstandard

from vstore.engine import Repository, open_repository
from vstore.engine import codec as vcodec
from vstore.engine.codec import HEADER_SIZE, MAX_OBJECT_SIZE, ObjectKind
from vstore.engine.tree import Spill
from vstore.errors import CorruptObjectError, MissingObjectError

_spec = importlib.util.spec_from_file_location(
    "_vstore_engine_test_workers", Path(__file__).with_name("workers.py")
)
assert _spec is not None and _spec.loader is not None
workers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workers)

BACKENDS = ["lmdb", "file"]
OBJECTS = ["commit", "root", "leaf", "blob_raw", "blob_zstd"]
_RAW, _ZSTD = 0, 1


# -- a small store and raw access to its bytes ----------------------------------------


@dataclass
class Store:
    """A store with one commit of a two-level tree holding spilled values."""

    kind: str
    url: str
    path: Path
    ids: dict[str, bytes] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)  # a key whose read needs the object

    def open(self) -> Repository:
        return open_repository(self.url)

    # Raw access runs while the engine has the store closed: LMDB allows one open
    # environment per file per process.
    def _env(self) -> lmdb.Environment:
        return lmdb.open(str(self.path), max_dbs=8, map_size=256 * 1024 * 1024)

    def _file(self, oid: bytes) -> Path:
        h = oid.hex()
        return self.path / "objects" / h[:2] / h[2:]

    def raw_get(self, oid: bytes) -> bytes:
        if self.kind == "file":
            return self._file(oid).read_bytes()
        env = self._env()
        try:
            with env.begin(db=env.open_db(b"objects")) as txn:
                v = txn.get(oid)
        finally:
            env.close()
        assert v is not None
        return bytes(v)

    def raw_put(self, oid: bytes, data: bytes) -> None:
        if self.kind == "file":
            self._file(oid).write_bytes(data)
            return
        env = self._env()
        try:
            db = env.open_db(b"objects")
            with env.begin(write=True, db=db) as txn:
                assert txn.get(oid) is not None, "corrupting an object that is not stored"
                txn.put(oid, data)
        finally:
            env.close()

    def raw_delete(self, oid: bytes) -> None:
        if self.kind == "file":
            self._file(oid).unlink()
            return
        env = self._env()
        try:
            db = env.open_db(b"objects")
            with env.begin(write=True, db=db) as txn:
                assert txn.delete(oid)
        finally:
            env.close()

    def raw_count(self) -> int:
        if self.kind == "file":
            return sum(
                1 for p in (self.path / "objects").rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")
            )
        env = self._env()
        try:
            db = env.open_db(b"objects")
            with env.begin() as txn:
                n: int = txn.stat(db)["entries"]
        finally:
            env.close()
        return n


def make_store(tmp_path: Path, kind: str, trees: int = 1) -> Store:
    """Build the store, close it, and record the ids of one object of each kind."""
    path = tmp_path / ("lmdb" if kind == "lmdb" else "fs")
    store = Store(kind, str(path) if kind == "lmdb" else f"file://{path}", path)
    rnd = random.Random(0)
    with store.open() as repo:
        for t in range(trees):
            pairs = [(b"k%04d" % i, b"value-%d-%d-" % (t, i) * 5) for i in range(300)]
            pairs.append((b"zblob_raw", rnd.randbytes(40_000)))  # incompressible: raw
            pairs.append((b"zblob_zstd", b"abc%d" % t * 14_000))  # compressible: zstd
            b = repo.batch()
            root = repo.tree.build(sorted(pairs), b)
            c = repo.commit(root, message=f"tree {t}", batch=b)
            b.flush()
            assert repo.refs.append(f"drafts/t{t}", c.id, expect=0).ok
            if t == 0:
                node = repo.tree.load(root)
                assert node.level >= 1
                leaf = node.vals[len(node.vals) // 2]
                spills = {
                    k: bytes(v.data) for k, v in repo.tree.items(root, resolve=False)
                    if isinstance(v, Spill)
                }
                store.ids = {
                    "commit": c.id, "root": root, "leaf": leaf,
                    "blob_raw": spills[b"zblob_raw"], "blob_zstd": spills[b"zblob_zstd"],
                }
                store.keys = {
                    "root": b"k0000", "leaf": repo.tree.load(leaf).keys[0],
                    "blob_raw": b"zblob_raw", "blob_zstd": b"zblob_zstd",
                }
            else:
                store.ids[f"commit{t}"], store.ids[f"root{t}"] = c.id, root
        assert repo.verify().ok
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(tmp_path, request.param)


def typed_reads(store: Store, what: str) -> list[tuple[str, Callable[[Repository], Any]]]:
    """The public reads that need object ``what``."""
    root = store.ids["root"]
    if what == "commit":
        cid = store.ids["commit"]
        return [("read_commit", lambda r: r.read_commit(cid)),
                ("log", lambda r: list(r.log(cid)))]
    key = store.keys[what]
    return [("tree.get", lambda r: r.tree.get(root, key)),
            ("tree.items", lambda r: list(r.tree.items(root)))]


def assert_reads_raise(store: Store, what: str, exc_type: type[Exception]) -> list[Any]:
    """Every read needing ``what`` raises ``exc_type`` naming it; return the errors."""
    oid = store.ids[what]
    errors = []
    for name, read in typed_reads(store, what):
        with store.open() as repo, pytest.raises(exc_type) as info:
            read(repo)
        assert info.value.object_id == oid.hex(), f"{name} named the wrong object"
        errors.append(info.value)
    return errors


def flip(data: bytes, pos: int, mask: int = 0xFF) -> bytes:
    b = bytearray(data)
    b[pos] ^= mask
    return bytes(b)


POSITIONS: dict[str, Callable[[int], int]] = {
    "header_magic": lambda n: 0,
    "header_version": lambda n: 3,
    "header_kind": lambda n: 4,
    "header_codec": lambda n: 5,
    "header_last": lambda n: HEADER_SIZE - 1,
    "body_start": lambda n: HEADER_SIZE,
    "middle": lambda n: HEADER_SIZE + (n - HEADER_SIZE) // 2,
    "last": lambda n: n - 1,
}


# -- flipped bytes --------------------------------------------------------------------


def test_fixture_covers_both_body_codecs(store: Store) -> None:
    codecs = {what: store.raw_get(store.ids[what])[5] for what in OBJECTS}
    assert codecs["blob_raw"] == _RAW and codecs["blob_zstd"] == _ZSTD
    assert {codecs["commit"], codecs["root"], codecs["leaf"]} <= {_RAW, _ZSTD}


@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("what", OBJECTS)
def test_flipped_byte_is_detected(store: Store, what: str, position: str) -> None:
    oid = store.ids[what]
    good = store.raw_get(oid)
    before = store.raw_count()
    store.raw_put(oid, flip(good, POSITIONS[position](len(good))))

    assert_reads_raise(store, what, CorruptObjectError)
    with store.open() as repo:
        report = repo.verify()
        assert not report.ok
        assert [c[0] for c in report.corrupt] == [oid.hex()]
        assert report.missing == []
        # gc refuses to guess when something reachable is damaged, and deletes nothing.
        with pytest.raises(CorruptObjectError):
            repo.gc(grace=0)
    assert store.raw_count() == before

    store.raw_put(oid, good)  # repaired: everything reads again
    with store.open() as repo:
        assert repo.verify().ok
        for _name, read in typed_reads(store, what):
            read(repo)


# The kind byte is outside both the id (a hash of the body) and the CRC (of the payload).
KIND_FLIPS = [
    ("commit", ObjectKind.BLOB),
    ("commit", ObjectKind.DOC),
    ("root", ObjectKind.BLOB),
    ("root", ObjectKind.COMMIT),
    ("leaf", ObjectKind.DOC),
    ("blob_zstd", ObjectKind.NODE),
]


@pytest.mark.parametrize(
    ("what", "new_kind"), KIND_FLIPS, ids=[f"{w}-to-{k.name}" for w, k in KIND_FLIPS]
)
def test_kind_byte_changed_to_another_valid_kind_is_detected(
    store: Store, what: str, new_kind: ObjectKind
) -> None:
    oid = store.ids[what]
    good = store.raw_get(oid)
    before = store.raw_count()
    store.raw_put(oid, good[:4] + bytes((new_kind,)) + good[5:])

    assert_reads_raise(store, what, CorruptObjectError)
    with store.open() as repo:
        report = repo.verify()
        assert oid.hex() in [c[0] for c in report.corrupt], (
            f"verify does not notice a {what} whose kind byte reads {new_kind.name}: {report}"
        )
        assert not report.ok
        try:
            gc = repo.gc(grace=0)
        except CorruptObjectError:
            gc = None
    assert store.raw_count() == before, (
        f"gc deleted {before - store.raw_count()} objects still reachable through the "
        f"{what} whose kind byte was damaged ({gc})"
    )


@pytest.mark.slow
def test_many_single_byte_flips_are_detected(tmp_path: Path) -> None:
    """Every header byte and a sample of body bytes of each object, two masks each: no
    read returns, none leaks another error type, verify reports each one."""
    store = make_store(tmp_path, "file")
    rng = random.Random(1)
    failures = []
    for what in ["commit", "root", "leaf", "blob_zstd"]:
        oid = store.ids[what]
        good = store.raw_get(oid)
        body = range(HEADER_SIZE, len(good))
        positions = [*range(HEADER_SIZE), *sorted(rng.sample(body, min(40, len(body))))]
        for pos in positions:
            for mask in (0xFF, 0x01):
                bad = flip(good, pos, mask)
                store.raw_put(oid, bad)
                with store.open() as repo:
                    for name, read in typed_reads(store, what):
                        try:
                            read(repo)
                            failures.append(f"{what}[{pos}]^{mask:#x}: {name} returned")
                        except CorruptObjectError as exc:
                            if exc.object_id != oid.hex():
                                failures.append(f"{what}[{pos}]^{mask:#x}: {name} named "
                                                f"{exc.object_id}")
                        except Exception as exc:
                            failures.append(f"{what}[{pos}]^{mask:#x}: {name} raised {exc!r}")
                    valid_kind = pos == 4 and bad[4] in set(ObjectKind)  # see the test above
                    if not valid_kind and oid.hex() not in [c[0] for c in repo.verify().corrupt]:
                        failures.append(f"{what}[{pos}]^{mask:#x}: verify missed it")
        store.raw_put(oid, good)
    assert not failures, "\n".join(failures[:40])


# -- truncation, swaps, deletion ------------------------------------------------------


@pytest.mark.parametrize("what", ["commit", "root", "leaf", "blob_zstd"])
def test_truncated_object_is_detected(store: Store, what: str) -> None:
    oid = store.ids[what]
    good = store.raw_get(oid)
    for length in sorted({3, HEADER_SIZE - 1, HEADER_SIZE, (len(good) + HEADER_SIZE) // 2,
                          len(good) - 1}):
        store.raw_put(oid, good[:length])
        assert_reads_raise(store, what, CorruptObjectError)
        with store.open() as repo:
            report = repo.verify()
            assert [c[0] for c in report.corrupt] == [oid.hex()], f"truncated to {length}"
    store.raw_put(oid, good)


@pytest.mark.parametrize("what", ["commit", "root", "leaf", "blob_zstd"])
def test_empty_stored_object_reads_as_corrupt(store: Store, what: str) -> None:
    """A zero-length value (e.g. a file emptied by a crash) is damage, not absence."""
    oid = store.ids[what]
    store.raw_put(oid, b"")
    assert_reads_raise(store, what, CorruptObjectError)
    with store.open() as repo:
        report = repo.verify()
        assert [c[0] for c in report.corrupt] == [oid.hex()]
        assert report.missing == []


@pytest.mark.parametrize(("victim", "source"), [
    ("leaf", "root"), ("root", "commit"), ("commit", "root"), ("blob_zstd", "blob_raw"),
])
def test_swapped_object_is_detected(store: Store, victim: str, source: str) -> None:
    """The intact bytes of object A stored under the id of object B."""
    a, b = store.ids[source], store.ids[victim]
    store.raw_put(b, store.raw_get(a))
    for err in assert_reads_raise(store, victim, CorruptObjectError):
        assert err.actual == a.hex(), "the error should name the content that was found"
    with store.open() as repo:
        report = repo.verify()
        assert b.hex() in [c[0] for c in report.corrupt]
        assert not report.ok


def test_swapped_leaves_are_detected(store: Store) -> None:
    with store.open() as repo:
        node = repo.tree.load(store.ids["root"])
        a, b = node.vals[0], node.vals[-1]
    store.raw_put(b, store.raw_get(a))
    with store.open() as repo:
        last_key = repo.tree.load(store.ids["root"]).keys[-1]
        with pytest.raises(CorruptObjectError) as info:
            repo.tree.get(store.ids["root"], last_key)
        assert info.value.object_id == b.hex()
        assert info.value.actual == a.hex()
        assert [c[0] for c in repo.verify().corrupt] == [b.hex()]


@pytest.mark.parametrize("what", OBJECTS)
def test_deleted_object_is_missing(store: Store, what: str) -> None:
    oid = store.ids[what]
    store.raw_delete(oid)
    assert_reads_raise(store, what, MissingObjectError)
    with store.open() as repo:
        report = repo.verify()
        assert report.missing == [oid.hex()]
        assert report.corrupt == []
        assert not report.ok


# -- decompression bombs --------------------------------------------------------------

_TEN_GIB = 10 * 1024**3
_BLOCK = 128 * 1024


def zstd_bomb(declared: int | None, total: int = _TEN_GIB, single_segment: bool = True) -> bytes:
    """A real zstd frame of RLE blocks that decompresses to ``total`` bytes of b"A".

    ``declared`` is the content size written in the frame header (None: no size).
    """
    out = bytearray(b"\x28\xb5\x2f\xfd")
    if declared is None:
        out += bytes((0x00, 0x38))  # no size; window descriptor: 128 KiB window
    elif single_segment:
        out += bytes((0xE0,)) + declared.to_bytes(8, "little")  # 8-byte size, no window
    else:
        out += bytes((0xC0, 0x38)) + declared.to_bytes(8, "little")
    nblocks = total // _BLOCK
    rle = ((_BLOCK << 3) | (1 << 1)).to_bytes(3, "little") + b"A"
    last = ((_BLOCK << 3) | (1 << 1) | 1).to_bytes(3, "little") + b"A"
    out += rle * (nblocks - 1) + last
    return bytes(out)


def frame_stored(kind: ObjectKind, codec: int, payload: bytes) -> bytes:
    """Stored bytes in the engine's format (header, with its CRC if the format has one)."""
    fields = bytes((vcodec.FORMAT_VERSION, int(kind), codec))
    header = vcodec.MAGIC + fields + vcodec._crc(fields, payload)
    assert len(header) == HEADER_SIZE, "the test's framing no longer matches the format"
    return header + payload


def test_bomb_helpers_make_what_they_claim() -> None:
    # frame_stored is the engine's format: a genuine body framed by it unpacks.
    body = b"hello world, " * 20
    stored = frame_stored(ObjectKind.BLOB, _ZSTD, zstandard.ZstdCompressor().compress(body))
    assert vcodec.unpack_object(vcodec.hash_bytes(body), stored) == (ObjectKind.BLOB, body)
    # The bombs are real: they declare what we say and stream out b"A"s.
    assert zstandard.frame_content_size(zstd_bomb(_TEN_GIB)) == _TEN_GIB
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zstd_bomb(None)))
    assert reader.read(1 << 20) == b"A" * (1 << 20)
    reader.close()
    lying = zstd_bomb(1000, single_segment=False)
    assert zstandard.frame_content_size(lying) == 1000
    assert len(lying) > _TEN_GIB // _BLOCK * 4  # the blocks of 10 GiB are all there


BOMBS = {
    "declares_10GiB": zstd_bomb(_TEN_GIB),
    "declares_nothing": zstd_bomb(None),
    "declares_1000_holds_10GiB": zstd_bomb(1000, single_segment=False),
    "declares_limit_holds_10GiB": zstd_bomb(MAX_OBJECT_SIZE, single_segment=False),
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_decompression_bombs_are_refused_without_allocating(
    tmp_path: Path, backend: str
) -> None:
    store = make_store(tmp_path, backend, trees=1 + 2 * len(BOMBS))
    reads, bombed = [], []
    for i, payload in enumerate(BOMBS.values()):
        root = store.ids[f"root{1 + 2 * i}"]  # a tree node: its tree is unreadable
        commit = store.ids[f"commit{2 + 2 * i}"]  # a commit
        store.raw_put(root, frame_stored(ObjectKind.NODE, _ZSTD, payload))
        store.raw_put(commit, frame_stored(ObjectKind.COMMIT, _ZSTD, payload))
        reads += [["get", root.hex(), b"k0001".hex(), root.hex()],
                  ["items", root.hex(), "", root.hex()],
                  ["commit", commit.hex(), "", ""]]
        bombed += [root.hex(), commit.hex()]

    # A fresh process, so its peak RSS is not an earlier test's.
    proc = workers.spawn("bomb-read", store.url, json.dumps(reads))
    try:
        out = workers.finish(proc, timeout=120)
    finally:
        workers.reap([proc])
    for (how, oid_hex, _k, _r), (_, _, err, named) in zip(reads, out["results"], strict=True):
        assert err == "CorruptObjectError", f"{how} of bomb {oid_hex}: {err} {named}"
        assert named == oid_hex
    assert sorted(out["verify_corrupt"]) == sorted(bombed)
    assert not out["verify_ok"]
    assert out["rss_delta_kb"] < 200 * 1024, f"peak RSS grew by {out['rss_delta_kb']} KiB"

