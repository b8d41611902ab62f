"""The embedded default backend: one LMDB environment per store directory.

* One environment per path per process, shared by every handle; a process
  created by ``fork`` opens its own (LMDB forbids using the parent's).
* The memory map grows by doubling when a write finds it full; another process
  that sees the growth adopts the new size.
* Stale reader slots of killed processes are cleared on open.
* Every write transaction is synced to disk before it is acknowledged.
* Write times live in a log, one entry per write transaction (its time and the ids it
  wrote, see ``docs/decisions/0012-lmdb-write-log.md``); stores made before it keep a
  time per object in ``object_times``, which is still read and cleaned.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

import lmdb

from vstore.engine.backends.base import Backend, check_key
from vstore.engine.codec import ID_SIZE
from vstore.errors import BackendError

__all__ = ["LmdbBackend"]

T = TypeVar("T")
_INITIAL_MAP = 256 * 1024 * 1024
_MAX_MAP = 1 << 44
_TIME = struct.Struct(">d")
#: A write-log key: microseconds since the epoch, unique and increasing per store.
_STAMP = struct.Struct(">Q")

# A read of many objects watches its first few gets: when they waited on the disk (pages
# not in memory, as in a fresh process or after the host paged them out), the rest of the
# read is shared among threads, each in a read transaction of its own; py-lmdb lets go of
# the GIL while a page is read in, so the threads wait on the disk at once. A read whose
# pages are resident (~1-5 µs a get) stays on the calling thread, where threads would only
# cost. Where the OS counts a thread's major page faults (Linux), two of them in the first
# gets make a read cold; elsewhere, their mean time (which a busy thread holding the GIL
# can also stretch).
_COLD_MIN = 64
_COLD_PROBE = 8
_COLD_FAULTS = 2
_COLD_NS = 15_000  # mean time of a get above which a read is cold, without fault counts
_COLD_THREADS = 4

try:
    from resource import RUSAGE_THREAD, getrusage

    getrusage(RUSAGE_THREAD)
    _COUNTS_FAULTS = True
except (ImportError, OSError, ValueError):
    _COUNTS_FAULTS = False


def _cold_mark() -> int:
    """Where a read's first gets start: the calling thread's major page faults so far, or
    the time where the OS does not count them."""
    return int(getrusage(RUSAGE_THREAD).ru_majflt) if _COUNTS_FAULTS else time.perf_counter_ns()


def _cold_since(mark: int) -> bool:
    """Whether the first gets of a read, since ``mark``, waited on the disk."""
    if _COUNTS_FAULTS:
        return int(getrusage(RUSAGE_THREAD).ru_majflt) - mark >= _COLD_FAULTS
    return time.perf_counter_ns() - mark > _COLD_NS * _COLD_PROBE


class _RWLock:
    """Readers share, a map resize excludes them (LMDB requires no live txn in this process)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire_read(self) -> None:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True

    def release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class _Env:
    """One open environment and its databases, shared by the handles of one process."""

    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.pid = os.getpid()
        self.path = path
        self.refs = 0
        self.lock = _RWLock()
        self.write_lock = threading.Lock()
        try:
            self.env = lmdb.open(
                path,
                map_size=_INITIAL_MAP,
                max_dbs=8,
                max_readers=1024,
                readahead=False,
                sync=True,
                metasync=True,
                lock=True,
            )
        except lmdb.Error as exc:
            raise BackendError(f"cannot open LMDB store at {path}: {exc}") from exc
        # Reader slots of processes that died without closing would pin old pages forever.
        self.env.reader_check()
        if self.env.info()["map_size"] < _INITIAL_MAP:
            self.env.set_mapsize(_INITIAL_MAP)
        self.objects = self.env.open_db(b"objects")
        self.times = self.env.open_db(b"object_times")  # stores made before the log
        self.log = self.env.open_db(b"object_log")
        self.keys = self.env.open_db(b"keys")
        self._readers: ThreadPoolExecutor | None = None
        self._readers_lock = threading.Lock()

    def readers(self) -> ThreadPoolExecutor:
        """The threads that share a cold read (made on first use)."""
        with self._readers_lock:
            if self._readers is None:
                self._readers = ThreadPoolExecutor(
                    _COLD_THREADS - 1, thread_name_prefix="vstore-lmdb-read"
                )
            return self._readers

    def close(self) -> None:
        with self._readers_lock:
            pool, self._readers = self._readers, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.env.close()


_envs: dict[str, _Env] = {}
_envs_lock = threading.Lock()


def _acquire_env(path: str) -> _Env:
    real = os.path.realpath(path)
    with _envs_lock:
        env = _envs.get(real)
        if env is not None and env.pid != os.getpid():
            # Inherited through fork: LMDB forbids using it here, and py-lmdb refuses a
            # second open while it is registered. Closing it in the child releases only
            # the child's copies (fcntl locks and reader slots belong to the parent).
            with contextlib.suppress(lmdb.Error):
                env.env.close()
            env = None
        if env is None:
            env = _envs[real] = _Env(real)
        env.refs += 1
        return env


def _release_env(env: _Env) -> None:
    with _envs_lock:
        env.refs -= 1
        if env.refs <= 0 and _envs.get(env.path) is env and env.pid == os.getpid():
            del _envs[env.path]
            env.close()


class LmdbBackend(Backend):
    """Backend over a local LMDB environment (the directory ``path``)."""

    durable = True
    atomic_create = True

    def __init__(self, path: str) -> None:
        self.path = os.path.realpath(path)
        self.url = self.path
        self._env: _Env | None = _acquire_env(self.path)

    # -- transactions ------------------------------------------------------------

    def _e(self) -> _Env:
        env = self._env
        if env is None:
            raise BackendError(f"LMDB store {self.path} is closed")
        if env.pid != os.getpid():
            # Forked child: adopt a fresh environment for this process.
            self._env = env = _acquire_env(self.path)
        return env

    def _read(self, fn: Callable[[Any, _Env], T]) -> T:
        env = self._e()
        while True:
            env.lock.acquire_read()
            try:
                with env.env.begin(buffers=False) as txn:
                    return fn(txn, env)
            except lmdb.MapResizedError:
                pass
            except lmdb.Error as exc:
                raise BackendError(f"LMDB read failed in {self.path}: {exc}") from exc
            finally:
                env.lock.release_read()
            self._adopt_size(env)

    def _write(self, fn: Callable[[Any, _Env], T]) -> T:
        env = self._e()
        with env.write_lock:
            while True:
                env.lock.acquire_read()
                try:
                    with env.env.begin(write=True) as txn:
                        return fn(txn, env)
                except lmdb.MapFullError:
                    grow = True
                except lmdb.MapResizedError:
                    grow = False
                except lmdb.Error as exc:
                    raise BackendError(f"LMDB write failed in {self.path}: {exc}") from exc
                finally:
                    env.lock.release_read()
                if grow:
                    self._grow(env)
                else:
                    self._adopt_size(env)

    def _grow(self, env: _Env) -> None:
        env.lock.acquire_write()
        try:
            size = env.env.info()["map_size"]
            if size * 2 > _MAX_MAP:
                raise BackendError(f"LMDB store {self.path} reached its maximum size")
            env.env.set_mapsize(size * 2)
        finally:
            env.lock.release_write()

    def _adopt_size(self, env: _Env) -> None:
        # Another process grew the map; 0 means "adopt the size now in the file".
        env.lock.acquire_write()
        try:
            env.env.set_mapsize(0)
        finally:
            env.lock.release_write()

    # -- objects -----------------------------------------------------------------

    def get_objects(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        def fn(txn: Any, env: _Env) -> dict[bytes, bytes]:
            out: dict[bytes, bytes] = {}
            rest = ids
            if len(ids) >= _COLD_MIN:
                mark = _cold_mark()
                _get_into(out, txn, env.objects, ids[:_COLD_PROBE])
                rest = ids[_COLD_PROBE:]
                if _cold_since(mark):
                    _get_shared(out, txn, env, rest)
                    return out
            _get_into(out, txn, env.objects, rest)
            return out

        return self._read(fn)

    def put_objects(self, items: Mapping[bytes, bytes]) -> None:
        if not items:
            return
        ids = sorted(items)

        def fn(txn: Any, env: _Env) -> None:
            cur = txn.cursor(db=env.objects)
            for oid in ids:
                cur.put(oid, items[oid], overwrite=False)
            # Ids already stored are logged too: a writer reusing an object freshens it.
            _log_write(txn, env, b"".join(ids))

        self._write(fn)

    def has_objects(self, ids: Iterable[bytes]) -> set[bytes]:
        ids = list(ids)

        def fn(txn: Any, env: _Env) -> set[bytes]:
            cur = txn.cursor(db=env.objects)
            return {oid for oid in ids if cur.set_key(oid)}

        return self._read(fn)

    def iter_objects(self) -> Iterator[tuple[bytes, float]]:
        def fn(txn: Any, env: _Env) -> list[tuple[bytes, float]]:
            written = _logged_times(txn, env, 0.0)
            legacy = txn.cursor(db=env.times)
            out = []
            for oid in txn.cursor(db=env.objects).iternext(keys=True, values=False):
                t = written.get(oid)
                if t is None:
                    old = legacy.get(oid)
                    t = _TIME.unpack(old)[0] if old else 0.0
                out.append((oid, t))
            return out

        yield from self._read(fn)

    def delete_objects(self, ids: Iterable[bytes], older_than: float | None = None) -> int:
        ids = list(ids)

        # One write transaction: no writer can freshen an object between the check and
        # the delete.
        def fn(txn: Any, env: _Env) -> int:
            young: Mapping[bytes, float] = {}
            if older_than is not None:
                young = _logged_times(txn, env, older_than)
            n = 0
            for oid in ids:
                if oid in young:
                    continue
                if older_than is not None:
                    t = txn.get(oid, db=env.times)
                    if t is not None and _TIME.unpack(t)[0] >= older_than:
                        continue
                if txn.delete(oid, db=env.objects):
                    n += 1
                txn.delete(oid, db=env.times)
            if older_than is not None:
                _prune_log(txn, env, older_than)
            return n

        return self._write(fn)

    # -- keys --------------------------------------------------------------------

    def read_key(self, key: str) -> bytes | None:
        k = check_key(key).encode()
        value: bytes | None = self._read(lambda txn, env: txn.get(k, db=env.keys))
        return value

    def create_key(self, key: str, value: bytes) -> bool:
        k = check_key(key).encode()
        return bool(self._write(lambda txn, env: txn.put(k, value, db=env.keys, overwrite=False)))

    def write_key(self, key: str, value: bytes) -> None:
        k = check_key(key).encode()
        self._write(lambda txn, env: txn.put(k, value, db=env.keys))

    def list_keys(self, prefix: str) -> list[str]:
        p = check_key(prefix).encode()

        def fn(txn: Any, env: _Env) -> list[str]:
            cur = txn.cursor(db=env.keys)
            out = []
            if cur.set_range(p):
                for k in cur.iternext(keys=True, values=False):
                    if not k.startswith(p):
                        break
                    if k == p or k[len(p)] == 0x2F:  # "/"
                        out.append(k.decode())
            return out

        return self._read(fn)

    def delete_key(self, key: str) -> bool:
        k = check_key(key).encode()
        return bool(self._write(lambda txn, env: txn.delete(k, db=env.keys)))

    def close(self) -> None:
        env, self._env = self._env, None
        if env is not None:
            _release_env(env)


def _get_into(out: dict[bytes, bytes], txn: Any, db: Any, ids: Sequence[bytes]) -> None:
    get = txn.get
    for oid in ids:
        v = get(oid, db=db)
        if v is not None:
            out[oid] = v


def _get_shared(out: dict[bytes, bytes], txn: Any, env: _Env, ids: Sequence[bytes]) -> None:
    """Read ``ids`` into ``out`` on ``_COLD_THREADS`` threads, this one included (which
    holds ``txn`` and the read lock, so the map cannot be resized meanwhile)."""

    def part(share: Sequence[bytes]) -> dict[bytes, bytes]:
        got: dict[bytes, bytes] = {}
        with env.env.begin(buffers=False) as own:
            _get_into(got, own, env.objects, share)
        return got

    shares = [ids[i::_COLD_THREADS] for i in range(_COLD_THREADS)]
    pending = [env.readers().submit(part, share) for share in shares[1:]]
    try:
        _get_into(out, txn, env.objects, shares[0])
    finally:
        wait(pending)  # every thread's transaction ends before the caller lets go of the lock
    for f in pending:
        out.update(f.result())


def _stamp(t: float) -> int:
    return max(0, int(t * 1_000_000))


def _log_write(txn: Any, env: _Env, ids: bytes) -> None:
    """Append one log entry: now (made later than the last entry) -> the ids written."""
    cur = txn.cursor(db=env.log)
    stamp = _stamp(time.time())
    if cur.last():
        # Clocks of two writers (or one stepped back) may disagree: keys stay unique and
        # increasing, so an entry is never overwritten and appends stay at the end.
        stamp = max(stamp, _STAMP.unpack(cur.key())[0] + 1)
    cur.put(_STAMP.pack(stamp), ids, append=True)


def _logged_times(txn: Any, env: _Env, since: float) -> dict[bytes, float]:
    """The newest logged write time of every id written at or after ``since``."""
    out: dict[bytes, float] = {}
    cur = txn.cursor(db=env.log)
    if not cur.set_range(_STAMP.pack(_stamp(since))):
        return out
    for key, ids in cur.iternext():
        t = _STAMP.unpack(key)[0] / 1_000_000
        if len(ids) % ID_SIZE:
            raise BackendError(f"LMDB store {env.path}: damaged write-log entry {key.hex()}")
        # Entries are oldest first, so a later write of the same id replaces the time.
        out.update(dict.fromkeys([ids[i : i + ID_SIZE] for i in range(0, len(ids), ID_SIZE)], t))
    return out


def _prune_log(txn: Any, env: _Env, before: float) -> None:
    """Drop log entries older than ``before``: their ids now read as written long ago,
    which is all a collection with this cutoff or a later one needs to know."""
    cur = txn.cursor(db=env.log)
    end = _STAMP.pack(_stamp(before))
    while cur.first() and cur.key() < end:
        cur.delete()
