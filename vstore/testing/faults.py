"""Fault injection: a backend wrapper that fails, or "kills the process", at the k-th operation.

Usage (pytest)::

    from vstore.engine import Repository, open_backend
    from vstore.datasets.store import Store
    from vstore.testing.faults import Fault, FaultyBackend, SimulatedCrash

    faulty = FaultyBackend(open_backend(url))
    store = Store(Repository(faulty))
    ...                                  # set up, not counted
    faulty.arm()                         # dry run: count the operation's storage ops
    run_the_operation(store)
    n = faulty.ops
    for k in range(1, n + 1):            # then, on a fresh copy of the store each time:
        faulty.arm(Fault(at=k))          # the k-th op "kills the process"
        with pytest.raises(SimulatedCrash):
            run_the_operation(store)
        # reopen with a clean backend and check the store

Every call of a storage method of :class:`~vstore.engine.backends.base.Backend`
(``get_objects``, ``get_objects_uncached``, ``put_objects``, ``has_objects``,
``iter_objects``, ``delete_objects``, ``read_key``, ``create_key``, ``write_key``,
``list_keys``, ``delete_key``) is one operation; with ``per_object=True`` each
object of a write batch (``put_objects``, ``delete_objects``) is one, and a fault
inside a batch lands the objects before it. Operations are counted from :meth:`FaultyBackend.arm`.

Fault modes:

* ``crash``: raise :class:`SimulatedCrash` (a ``BaseException``, which no vstore code
  catches), before the operation or, with ``after=True``, once it is done. The
  backend is dead from then on: every later call raises it again, so nothing a
  dying process could not do reaches the store. Reopen the store with a clean
  backend to see what a crash would have left.
* ``exit``: ``os._exit(exit_code)`` at the same points: a real death, for tests that
  run the writer in a subprocess.
* ``error``: raise the given error (default :func:`io_error`) instead of performing
  the operation, for ``times`` operations in a row.
* ``lost``: perform the operation, then raise the given error: a lost response (the
  create landed, the caller hears of a failure).

The wrapper is a :class:`Backend`, so an ``OSError`` it raises reaches callers as
:class:`~vstore.errors.BackendError`, exactly as one raised inside any real backend does.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from vstore.engine.backends.base import Backend

__all__ = [
    "ERRORS",
    "Fault",
    "FaultyBackend",
    "SimulatedCrash",
    "ThrottledError",
    "connection_reset",
    "io_error",
    "throttled",
    "timeout",
]

T = TypeVar("T")
Mode = Literal["crash", "exit", "error", "lost"]
#: The storage methods that count as operations.
OPERATIONS = (
    "get_objects", "get_objects_uncached", "put_objects", "has_objects", "iter_objects",
    "delete_objects", "read_key", "create_key", "write_key", "list_keys", "delete_key",
)
_WRITES = frozenset({"put_objects", "delete_objects", "create_key", "write_key", "delete_key"})


class SimulatedCrash(BaseException):
    """The process "died" at a storage operation (raised by a ``crash`` fault).

    A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` never catches
    it, so it unwinds through vstore the way a kill stops a process.

    Attributes:
        op: the operation it struck, before or after it (1-based, counted from ``arm``).
        method: the backend method.
    """

    def __init__(self, op: int, method: str) -> None:
        self.op = op
        self.method = method
        super().__init__(f"simulated crash at storage operation {op} ({method})")


class ThrottledError(OSError):
    """What a throttled request ends in: HTTP 503 ``SlowDown``, as S3 answers."""

    status_code = 503
    code = "SlowDown"


def io_error() -> OSError:
    """A generic I/O error (``EIO``)."""
    return OSError(errno.EIO, "Input/output error (injected)")


def connection_reset() -> OSError:
    """A connection reset by the peer."""
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer (injected)")


def timeout() -> OSError:
    """A request that timed out."""
    return TimeoutError(errno.ETIMEDOUT, "Connection timed out (injected)")


def throttled() -> OSError:
    """A throttled request (503 SlowDown)."""
    return ThrottledError(errno.EAGAIN, "SlowDown: Please reduce your request rate (injected)")


#: The injectable errors by name, for parametrized tests.
ERRORS: dict[str, Callable[[], OSError]] = {
    "oserror": io_error,
    "connection-reset": connection_reset,
    "timeout": timeout,
    "throttled": throttled,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """Where and how an armed :class:`FaultyBackend` fails.

    Attributes:
        at: the operation it strikes (1-based, counted from ``arm``).
        mode: ``crash``, ``exit``, ``error`` or ``lost`` (see the module docstring).
        error: makes the exception of ``error`` and ``lost`` faults.
        after: ``crash``/``exit`` once operation ``at`` is done, not before it.
        times: ``error``/``lost``: the operations in a row that fail, from ``at`` on.
        methods: count only calls of these methods (default: every operation).
        exit_code: the status of an ``exit`` fault.
    """

    at: int
    mode: Mode = "crash"
    error: Callable[[], BaseException] = io_error
    after: bool = False
    times: int = 1
    methods: frozenset[str] | None = None
    exit_code: int = 137

    def __post_init__(self) -> None:
        if self.at < 1 or self.times < 1:
            raise ValueError("a fault strikes operation 1 or later, at least once")
        if self.mode not in ("crash", "exit", "error", "lost"):
            raise ValueError(f"unknown fault mode {self.mode!r}")
        unknown = set(self.methods or ()) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"not storage operations: {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class _Strike:
    """What happens to one call: ``done`` items of it land, then ``action``."""

    done: int
    action: Literal["crash", "exit", "raise"]


class FaultyBackend(Backend):
    """Wraps a backend; counts storage operations and fails at the armed one.

    Until :meth:`arm` is called it only passes calls through.

    Args:
        inner: the real backend (closed with this one).
        per_object: count each object of a write batch as one operation.

    Attributes:
        ops: operations counted since ``arm`` (those matching the fault's ``methods``).
        trace: ``(method, operations counted)`` of every call since ``arm``, in order.
        fired: how many times the fault struck since ``arm``.
        dead: a ``crash`` fault struck; every call now raises :class:`SimulatedCrash`.
    """

    def __init__(self, inner: Backend, *, per_object: bool = False) -> None:
        self.inner = inner
        self.per_object = per_object
        self.url = inner.url
        self.supports_deletes = inner.supports_deletes
        self.supports_listing = inner.supports_listing
        self.atomic_create = inner.atomic_create
        self.durable = inner.durable
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._counting = False
        self.ops = 0
        self.trace: list[tuple[str, int]] = []
        self.fired = 0
        self.dead: SimulatedCrash | None = None

    def __getattr__(self, name: str) -> Any:
        # Backend-specific attributes (an fsspec backend's ``fs``, say) are the inner one's.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- arming ------------------------------------------------------------------------

    def arm(self, fault: Fault | None = None, *, per_object: bool | None = None) -> None:
        """Start counting operations from zero; strike ``fault`` (None: count only)."""
        with self._lock:
            self._fault = fault
            self._counting = True
            self.ops = 0
            self.trace = []
            self.fired = 0
            self.dead = None
            if per_object is not None:
                self.per_object = per_object

    def disarm(self) -> None:
        """Stop counting and striking; calls pass through again (a dead backend stays dead)."""
        with self._lock:
            self._fault = None
            self._counting = False

    def _plan(self, method: str, n: int) -> _Strike | None:
        """Count a call of ``n`` operations; return what the fault does to it, if anything."""
        with self._lock:
            if self.dead is not None:
                raise self.dead
            if not self._counting:
                return None
            f = self._fault
            if f is not None and f.methods is not None and method not in f.methods:
                self.trace.append((method, 0))
                return None
            self.trace.append((method, n))
            first = self.ops + 1
            self.ops += n
            if f is None:
                return None
            if f.mode in ("error", "lost"):
                hit = max(first, f.at)
                if hit > self.ops or hit >= f.at + f.times:
                    return None
                self.fired += 1
                return _Strike(hit - first + (f.mode == "lost"), "raise")
            if not first <= f.at <= self.ops:
                return None
            self.fired += 1
            action: Literal["crash", "exit"] = "exit" if f.mode == "exit" else "crash"
            return _Strike(f.at - first + f.after, action)

    def _strike(self, method: str, strike: _Strike) -> BaseException:
        f = self._fault
        assert f is not None
        if strike.action == "exit":
            os._exit(f.exit_code)
        if strike.action == "crash":
            with self._lock:
                self.dead = SimulatedCrash(f.at, method)
                return self.dead
        return f.error()

    def _call(self, method: str, items: int | None, run: Callable[[int | None], T]) -> T:
        """Run ``run(limit)`` under the fault; the first ``limit`` items land (None: all).

        ``items`` is the size of a batch call (None for a call on one key).
        """
        per_object = self.per_object and items is not None and method in _WRITES
        strike = self._plan(method, max(1, items or 0) if per_object else 1)
        if strike is None:
            return run(None)
        if method in _WRITES and strike.done:
            run(strike.done if per_object else None)
        raise self._strike(method, strike)

    # -- objects -----------------------------------------------------------------------

    def get_objects(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        return self._call("get_objects", len(ids), lambda _: self.inner.get_objects(ids))

    def get_objects_uncached(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        return self._call("get_objects_uncached", len(ids),
                          lambda _: self.inner.get_objects_uncached(ids))

    def put_objects(self, items: Mapping[bytes, bytes]) -> None:
        keys = list(items)

        def run(limit: int | None) -> None:
            part = items if limit is None else {k: items[k] for k in keys[:limit]}
            self.inner.put_objects(part)

        self._call("put_objects", len(keys), run)

    def has_objects(self, ids: Iterable[bytes]) -> set[bytes]:
        wanted = list(ids)
        return self._call("has_objects", len(wanted), lambda _: self.inner.has_objects(wanted))

    def iter_objects(self) -> Iterator[tuple[bytes, float]]:
        # One operation, the whole listing (counted when the iteration starts).
        yield from self._call("iter_objects", None, lambda _: list(self.inner.iter_objects()))

    def delete_objects(self, ids: Iterable[bytes], older_than: float | None = None) -> int:
        doomed = list(ids)
        return self._call("delete_objects", len(doomed),
                          lambda limit: self.inner.delete_objects(doomed[:limit], older_than))

    # -- keys --------------------------------------------------------------------------

    def read_key(self, key: str) -> bytes | None:
        return self._call("read_key", None, lambda _: self.inner.read_key(key))

    def create_key(self, key: str, value: bytes) -> bool:
        return self._call("create_key", None, lambda _: self.inner.create_key(key, value))

    def write_key(self, key: str, value: bytes) -> None:
        self._call("write_key", None, lambda _: self.inner.write_key(key, value))

    def list_keys(self, prefix: str) -> list[str]:
        return self._call("list_keys", None, lambda _: self.inner.list_keys(prefix))

    def delete_key(self, key: str) -> bool:
        return self._call("delete_key", None, lambda _: self.inner.delete_key(key))

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"FaultyBackend({self.inner!r})"
