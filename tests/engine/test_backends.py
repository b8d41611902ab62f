"""Every built-in backend passes the shipped contract suite."""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vstore.engine import open_backend
from vstore.engine.backends.base import Backend
from vstore.engine.backends.fsspec import FsspecBackend
from vstore.engine.codec import ObjectKind
from vstore.errors import BackendError, UnsafeBackendError
from vstore.testing.contract import BackendContract


class TestLmdbBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = open_backend(str(tmp_path / "store"))
        yield b
        b.close()


class TestLmdbBackendSharedReads(BackendContract):
    """The contract again, with every read of two objects or more taken as cold: its gets
    after the first are shared among threads, each in its own read transaction."""

    @pytest.fixture
    def backend(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
        _all_reads_cold(monkeypatch)
        b = open_backend(str(tmp_path / "store"))
        yield b
        b.close()


def _all_reads_cold(monkeypatch: pytest.MonkeyPatch) -> None:
    from vstore.engine.backends import lmdb as lmdb_backend

    monkeypatch.setattr(lmdb_backend, "_COLD_MIN", 2)
    monkeypatch.setattr(lmdb_backend, "_COLD_PROBE", 1)
    monkeypatch.setattr(lmdb_backend, "_COLD_NS", -1)
    monkeypatch.setattr(lmdb_backend, "_COLD_FAULTS", 0)


class TestLocalDirectoryBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = open_backend(f"file://{tmp_path}/store")
        yield b
        b.close()


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        b = open_backend(f"memory://contract-{uuid.uuid4().hex}")
        yield b
        b.close()


def test_a_filesystem_without_atomic_create_is_refused(tmp_path: Path) -> None:
    """A filesystem whose second create silently overwrites must not be trusted."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class OverwritingFS(MemoryFileSystem):  # a real in-memory fs that ignores mode="create"
        protocol = ("overwritingmem",)

        def pipe_file(self, path, value, mode="overwrite", **kwargs):  # type: ignore[no-untyped-def]
            return super().pipe_file(path, value, **kwargs)

    fsspec.register_implementation("overwritingmem", OverwritingFS, clobber=True)
    with pytest.raises(UnsafeBackendError, match="second create"):
        FsspecBackend("overwritingmem://store")
    b = FsspecBackend("overwritingmem://store2", single_writer=True)
    assert b.atomic_create is False


def test_lmdb_handles_share_one_environment(tmp_path: Path) -> None:
    a = open_backend(str(tmp_path / "s"))
    b = open_backend(str(tmp_path / "s"))
    assert a._env is b._env  # type: ignore[attr-defined]
    a.create_key("k", b"1")
    assert b.read_key("k") == b"1"
    a.close()
    assert b.read_key("k") == b"1"
    b.close()


def _blob(payload: bytes) -> tuple[bytes, bytes]:
    from vstore.engine.codec import pack_object

    return pack_object(ObjectKind.BLOB, payload)


@pytest.fixture
def clocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Backend, list[float]]]:
    """An LMDB store whose writes read the time from ``clock[0]``."""
    from vstore.engine.backends import lmdb as lmdb_backend

    clock = [0.0]
    monkeypatch.setattr(lmdb_backend.time, "time", lambda: clock[0])
    b = open_backend(str(tmp_path / "s"))
    yield b, clock
    b.close()


def test_lmdb_a_reused_object_is_freshened(clocked: tuple[Backend, list[float]]) -> None:
    """A writer that puts an object again makes it young again: gc must keep it."""
    b, clock = clocked
    clock[0] = 1_000.0
    old, young = _blob(b"old"), _blob(b"young")
    b.put_objects(dict([old, young]))
    clock[0] = 2_000.0
    b.put_objects(dict([young]))
    assert dict(b.iter_objects()) == {old[0]: 1_000.0, young[0]: 2_000.0}
    assert b.delete_objects([old[0], young[0]], older_than=1_500.0) == 1
    assert b.has_objects([old[0], young[0]]) == {young[0]}


def test_lmdb_write_times_survive_a_clock_that_steps_back(
    clocked: tuple[Backend, list[float]],
) -> None:
    """Writes at the same instant, or after the clock went back, are all remembered."""
    b, clock = clocked
    clock[0] = 5_000.0
    objs = [_blob(b"o%d" % i) for i in range(3)]
    b.put_objects(dict(objs[:1]))
    b.put_objects(dict(objs[1:2]))  # same instant
    clock[0] = 4_000.0
    b.put_objects(dict(objs[2:]))  # the clock stepped back
    times = dict(b.iter_objects())
    assert all(times[oid] >= 5_000.0 for oid, _ in objs)
    assert b.delete_objects([oid for oid, _ in objs], older_than=5_000.0) == 0


def test_lmdb_logs_one_entry_per_write_and_gc_prunes_it(
    clocked: tuple[Backend, list[float]],
) -> None:
    """Write times cost one log entry per transaction, and collections keep the log short."""
    b, clock = clocked
    for batch in range(10):
        clock[0] = 100.0 + batch
        b.put_objects(dict(_blob(b"%d-%d" % (batch, i)) for i in range(50)))
    env = b._env  # type: ignore[attr-defined]

    def entries(name: bytes) -> int:
        with env.env.begin(db=env.env.open_db(name)) as txn:
            return int(txn.stat()["entries"])

    assert entries(b"object_log") == 10
    assert entries(b"object_times") == 0
    assert b.delete_objects([], older_than=105.0) == 0
    assert entries(b"object_log") == 5  # the writes at 105..109 are still young
    assert len(list(b.iter_objects())) == 500


def test_lmdb_stores_with_a_time_per_object_still_work(tmp_path: Path) -> None:
    """A store written before the log kept one time per object; gc still honours them."""
    import struct

    import lmdb

    path = tmp_path / "s"
    old, young = _blob(b"old"), _blob(b"young")
    env = lmdb.open(str(path), max_dbs=8)
    objects, times = env.open_db(b"objects"), env.open_db(b"object_times")
    with env.begin(write=True) as txn:
        for (oid, data), t in ((old, 1_000.0), (young, 3_000.0)):
            txn.put(oid, data, db=objects)
            txn.put(oid, struct.pack(">d", t), db=times)
    env.close()
    b = open_backend(str(path))
    assert dict(b.iter_objects()) == {old[0]: 1_000.0, young[0]: 3_000.0}
    assert b.delete_objects([old[0], young[0]], older_than=2_000.0) == 1
    assert b.get_object(young[0]) == young[1]
    assert b.delete_objects([young[0]]) == 1
    assert list(b.iter_objects()) == []
    b.close()


def test_storage_failures_surface_as_backend_errors(tmp_path: Path) -> None:
    from vstore.engine.codec import ObjectKind, pack_object
    from vstore.errors import BackendError

    b = open_backend(f"file://{tmp_path}/store")
    oid, data = pack_object(ObjectKind.BLOB, b"payload")
    # A file where the object's fan-out directory should be: the write cannot succeed.
    (tmp_path / "store" / "objects" / oid.hex()[:2]).write_bytes(b"in the way")
    with pytest.raises(BackendError, match="put_objects failed") as err:
        b.put_objects({oid: data})
    assert str(tmp_path) in str(err.value)
    assert isinstance(err.value, OSError)


class TestPackedMemoryBackend(BackendContract):
    """Packs and the object cache, on a filesystem that needs no emulator."""

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = open_backend(f"memory://packed-{uuid.uuid4().hex}", packs=True, cache=True,
                         cache_dir=str(tmp_path / "cache"))
        yield b
        b.close()


def test_transient_failures_are_told_from_final_ones() -> None:
    import aiohttp
    from botocore.exceptions import ClientError

    from vstore.engine.backends.transfer import is_transient

    def s3_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    assert is_transient(s3_error("SlowDown", 503))
    assert is_transient(s3_error("InternalError", 500))
    assert is_transient(s3_error("TooManyRequests", 429))
    assert not is_transient(s3_error("AccessDenied", 403))
    assert not is_transient(s3_error("NoSuchKey", 404))
    assert is_transient(ConnectionResetError("reset by peer"))
    assert is_transient(aiohttp.ServerDisconnectedError())
    assert not is_transient(FileNotFoundError("gone"))
    assert not is_transient(PermissionError("denied"))
    assert not is_transient(ValueError("bad request"))
    # s3fs turns a ClientError into an OSError raised while handling it.
    try:
        try:
            raise s3_error("SlowDown", 503)
        except ClientError:
            raise OSError(5, "Please reduce your request rate") from None
    except OSError as wrapped:
        assert is_transient(wrapped)


def test_retries_are_bounded_and_errors_name_the_store_not_the_secret() -> None:
    from vstore.engine.backends.transfer import Call, RetryPolicy, Transfer

    class Flaky:
        async_impl = False
        protocol = "flaky"

        def __init__(self) -> None:
            self.calls = 0

        def cat_file(self, path: str) -> bytes:
            self.calls += 1
            if self.calls < 3:
                raise ConnectionResetError("connection reset")
            if path == "denied":
                raise PermissionError("denied with key hunter2-secret")
            return b"ok"

    fs = Flaky()
    t = Transfer(fs, "flaky://store", ["hunter2-secret"], RetryPolicy(5, 0.001, 0.002))
    assert t.one("reading", Call("cat_file", ("a",))) == b"ok"
    assert fs.calls == 3 and t.sent == 3
    with pytest.raises(BackendError) as err:
        t.one("reading", Call("cat_file", ("denied",)))
    assert fs.calls == 4, "a permission error was retried"
    assert "flaky://store: reading failed" in str(err.value)
    assert "hunter2-secret" not in str(err.value)
    fs.calls = -100
    with pytest.raises(BackendError, match="after 3 attempts"):
        Transfer(fs, "flaky://store", policy=RetryPolicy(2, 0.001, 0.002)).one(
            "reading", Call("cat_file", ("a",)))


def test_pack_indexes_detect_damage() -> None:
    from vstore.engine.backends.packs import decode_index, encode_index

    entries = [(bytes([i]) * 32, 8 + 100 * i, 100) for i in range(5)]
    raw = encode_index(entries)
    assert decode_index(raw) == entries
    for bad in (raw[:-1], raw[:20], raw[:30] + bytes([raw[30] ^ 1]) + raw[31:], b""):
        with pytest.raises(ValueError):
            decode_index(bad)


def test_cache_entries_are_verified_and_bounded(tmp_path: Path) -> None:
    from vstore.engine.cache import ObjectCache
    from vstore.engine.codec import ObjectKind, pack_object

    cache = ObjectCache("memory://x", str(tmp_path), max_bytes=200_000)
    items = dict(pack_object(ObjectKind.BLOB, os.urandom(10_000) + b"%d" % i) for i in range(60))
    cache.put_many(items)
    assert cache.size() <= 200_000
    kept = cache.get_many(items)
    assert kept and all(items[o] == v for o, v in kept.items())
    oid = next(iter(kept))
    path = cache._path(oid)
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\x00")
    assert cache.get(oid) is None and not os.path.exists(path)
    # Another store's namespace never sees these entries.
    assert ObjectCache("memory://y", str(tmp_path)).get_many(kept) == {}


def test_the_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from vstore.engine.cache import default_cache_dir, default_cache_size

    monkeypatch.delenv("VSTORE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg")
    assert default_cache_dir() == "/tmp/xdg/vstore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == os.path.expanduser("~/.cache/vstore")
    monkeypatch.setenv("VSTORE_CACHE_DIR", "/tmp/elsewhere")
    assert default_cache_dir() == "/tmp/elsewhere"
    monkeypatch.setenv("VSTORE_CACHE_SIZE", "12345")
    assert default_cache_size() == 12345


def test_urls_lose_their_credentials_in_messages_and_reprs() -> None:
    from vstore.engine.backends.fsspec import public_url
    from vstore.engine.backends.transfer import secrets_of

    assert public_url("s3://AKIA:s3cr3t@bucket/data") == "s3://***@bucket/data"
    assert public_url("gs://bucket/data") == "gs://bucket/data"
    secrets = secrets_of({"key": "AKIAEXAMPLE", "secret": "wJalrXUtnFEMI",
                          "client_kwargs": {"aws_session_token": "FwoGZXIvYXdzEJr"},
                          "connection_string": "AccountName=acct1234;AccountKey=c2VjcmV0a2V5"})
    for s in ("AKIAEXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzEJr", "c2VjcmV0a2V5"):
        assert s in secrets


def test_gc_deletes_temporary_files_of_killed_writers(tmp_path: Path) -> None:
    """A writer killed mid-write leaves a ``.tmp-*`` file; gc removes it once it is old."""
    import time as _time

    from vstore.engine import open_repository

    repo = open_repository(f"file://{tmp_path / 's'}")
    oid = repo.objects.put(ObjectKind.BLOB, b"kept")
    repo.refs.append("heads/x", oid, expect=0)
    obj_dir = next(p for p in (tmp_path / "s" / "objects").iterdir() if p.is_dir())
    old = obj_dir / ".tmp-0123"
    old.write_bytes(b"half")
    stale = _time.time() - 3 * 86400
    os.utime(old, (stale, stale))
    young = tmp_path / "s" / "keys" / ".tmp-4567"
    young.write_bytes(b"half")
    assert repo.gc(dry_run=True).temporary_files == 0 and old.exists()
    report = repo.gc()
    assert report.temporary_files == 1 and not old.exists() and young.exists()
    assert repo.objects.get(oid, ObjectKind.BLOB) == b"kept" and repo.verify().ok
    repo.close()


def _shared_read_child(backend: Backend, ids: list[bytes], conn: Any) -> None:
    got = backend.get_objects(ids)
    conn.send(sorted(got.items()))
    conn.close()


def test_lmdb_cold_reads_shared_among_threads_return_what_one_thread_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = open_backend(str(tmp_path / "s"))
    items = dict(_blob(os.urandom(50) * (1 + i % 40)) for i in range(600))
    b.put_objects(items)
    absent = [bytes([i]) * 32 for i in range(5)]
    asked = [*list(items)[::2], *absent, *list(items)[1::2]]
    warm = b.get_objects(asked)
    assert warm == items

    _all_reads_cold(monkeypatch)
    before = threading.active_count()
    assert b.get_objects(asked) == items
    assert b.get_objects(asked[:3]) == {k: items[k] for k in asked[:3] if k in items}
    assert threading.active_count() > before  # the read was shared

    # A forked child reads on threads of its own (the parent's are not in it).
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_shared_read_child, args=(b, asked, send))
    proc.start()
    assert dict(recv.recv()) == items
    proc.join(30)
    assert proc.exitcode == 0
    b.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("vstore-lmdb-read")]
