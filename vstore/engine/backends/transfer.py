"""Concurrent remote calls with bounded retries, and the errors they end in.

Every request the fsspec backend sends to a remote filesystem goes through
:class:`Transfer`: a batch of calls runs concurrently (on the filesystem's own
event loop for async filesystems such as s3fs, gcsfs and adlfs, in a thread pool
otherwise); a call that fails with a transient error (throttling, 5xx, a reset or
timed-out connection) is sent again after an exponential backoff with full jitter,
a bounded number of times; anything else ends the call at once.

Outcomes are typed: ``FileNotFoundError`` and ``FileExistsError`` are answers,
returned to the caller; every other failure becomes a
:class:`~vstore.errors.BackendError` that names the store and the operation,
with any secret from the storage options blanked out of the message.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import errno
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vstore.errors import BackendError

__all__ = ["Call", "RetryPolicy", "Transfer", "is_transient", "mtime_of", "secrets_of"]

# HTTP statuses and service error codes that mean "try again later".
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut",
    "TooManyRequests", "RequestLimitExceeded", "InternalServerError",
})
# Exception class names of the HTTP stacks under s3fs (aiohttp/botocore), gcsfs
# (aiohttp) and adlfs (azure-core), matched by name so that none is imported.
_TRANSIENT_TYPES = frozenset({
    "ServerDisconnectedError", "ClientConnectionError", "ClientConnectorError",
    "ClientOSError", "ClientPayloadError", "ServerTimeoutError", "ConnectionTimeoutError",
    "SocketTimeoutError", "EndpointConnectionError", "ConnectionClosedError",
    "ReadTimeoutError", "ConnectTimeoutError", "ResponseStreamingError",
    "ServiceRequestError", "ServiceResponseError", "IncompleteRead",
    "ChunkedEncodingError", "ProxyError", "ConnectionError", "Timeout",
})
_TRANSIENT_ERRNOS = frozenset({
    errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED, errno.EPIPE, errno.ETIMEDOUT,
    errno.EAGAIN,
})
_TRANSIENT_TEXT = re.compile(
    r"SlowDown|Please reduce your request rate|Too Many Requests|Service Unavailable|"
    r"ServerBusy|rate limit|Connection reset",
    re.IGNORECASE,
)


def _status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and service error code an exception carries, if any."""
    status: Any = None
    code: Any = None
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError
        meta = response.get("ResponseMetadata") or {}
        status = meta.get("HTTPStatusCode")
        code = (response.get("Error") or {}).get("Code")
    for attr in ("status_code", "status", "code"):
        value = getattr(exc, attr, None)
        if status is None and isinstance(value, int) and 100 <= value < 600:
            status = value
        elif code is None and isinstance(value, str):
            code = value
    if code is None:
        code = getattr(exc, "error_code", None)
    return status, (str(code) if code is not None else None)


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request is worth sending again (throttling, 5xx, lost connection).

    Not found, already exists, access denied and malformed requests are final.
    """
    for e in _chain(exc):
        if isinstance(e, FileNotFoundError | FileExistsError | PermissionError):
            return False
        status, code = _status_and_code(e)
        if status in (401, 403, 404, 409, 412):
            return False
        if status in _TRANSIENT_STATUS or code in _TRANSIENT_CODES:
            return True
        if type(e).__name__ in _TRANSIENT_TYPES:
            return True
        if isinstance(e, ConnectionError | TimeoutError | asyncio.TimeoutError):
            return True
        if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS:
            return True
        if _TRANSIENT_TEXT.search(str(e)):
            return True
    return False


def mtime_of(info: Mapping[str, Any]) -> float:
    """Return a file's modification time from the fields fsspec filesystems use."""
    for name in ("mtime", "LastModified", "last_modified", "updated", "created", "timeCreated"):
        v = info.get(name)
        if v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, _dt.datetime):
            return v.timestamp()
        if isinstance(v, str):
            try:
                return _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def secrets_of(options: Mapping[str, Any] | None) -> list[str]:
    """The values in storage options that could be credentials (to blank out of messages).

    Every string value of 8 characters or more is treated as secret, at any depth,
    and so is each ``key=value`` part of a connection string.
    """
    out: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 8:
                out.append(value)
            for part in value.split(";"):
                _, _, v = part.partition("=")
                if len(v) >= 8:
                    out.append(v)
        elif isinstance(value, Mapping):
            for v in value.values():
                visit(v)
        elif isinstance(value, list | tuple):
            for v in value:
                visit(v)

    visit(dict(options or {}))
    return sorted(set(out), key=len, reverse=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    Attributes:
        retries: sends after the first one (0: never retry).
        base_delay: the first backoff bound in seconds; it doubles on each retry.
        max_delay: the largest backoff bound.
    """

    retries: int = 6
    base_delay: float = 0.1
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Call:
    """One filesystem method call: ``fs.<method>(*args, **kwargs)``.

    ``method`` is the synchronous name (``cat_file``); async filesystems run
    their coroutine ``_cat_file``.
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] | None = None


class Transfer:
    """Runs filesystem calls concurrently, with retries, for one store.

    Args:
        fs: the fsspec filesystem.
        where: how errors name the store (its URL, without credentials).
        secrets: strings to blank out of error messages.
        policy: the retry policy.
        concurrency: at most this many requests in flight.
    """

    def __init__(
        self,
        fs: Any,
        where: str,
        secrets: Sequence[str] = (),
        policy: RetryPolicy | None = None,
        concurrency: int = 32,
    ) -> None:
        self.fs = fs
        self.where = where
        self.secrets = list(secrets)
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.is_async = bool(getattr(fs, "async_impl", False))
        protocols = getattr(fs, "protocol", ())
        self.protocols = protocols if isinstance(protocols, tuple) else (protocols,)
        # s3fs fetches a whole object with a HEAD first unless told to use one request.
        self._whole: dict[str, Any] = {"max_concurrency": 1} if "s3" in self.protocols else {}
        #: requests sent (every attempt counts); read by tests and benchmarks
        self.sent = 0

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def error(self, op: str, exc: BaseException, attempts: int = 1) -> BackendError:
        """A typed error for a failed operation, naming the store, never a credential."""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        detail = self.redact(f"{type(exc).__name__}: {exc}")
        return BackendError(f"{self.where}: {op} failed{tries}: {detail}")

    def one(self, op: str, call: Call) -> Any:
        """Run one call; return its result, or the FileNotFoundError/FileExistsError it met.

        Raises:
            BackendError: the call failed otherwise (after its retries if transient).
        """
        return self.many(op, [call])[0]

    def many(self, op: str, calls: Sequence[Call]) -> list[Any]:
        """Run calls concurrently; return, in order, each result or its final answer.

        A call that ends in ``FileNotFoundError`` or ``FileExistsError`` has that
        exception as its result.

        Raises:
            BackendError: a call failed otherwise (after its retries if transient).
        """
        if not calls:
            return []
        if self.is_async:
            from fsspec.asyn import sync

            out: list[Any] = sync(self.fs.loop, self._gather, op, calls)
            return out
        if len(calls) == 1:
            return [self._run_sync(op, calls[0])]
        with ThreadPoolExecutor(min(self.concurrency, len(calls))) as pool:
            return list(pool.map(lambda c: self._run_sync(op, c), calls))

    def get(self, path: str) -> Call:
        """The call that reads a whole file in one request."""
        return Call("cat_file", (path,), self._whole)

    def find(self, op: str, directory: str, detail: bool = False) -> Any:
        """List every file under ``directory`` (a list, or a dict of infos with ``detail``).

        Returns an empty listing when nothing is there.
        """
        if "s3" in self.protocols and "/" in directory.strip("/"):
            # One LIST with a prefix; the plain form adds a HEAD and a LIST when it is empty.
            parent, name = directory.rstrip("/").rsplit("/", 1)
            call = Call("find", (parent,), {"prefix": name + "/", "detail": detail})
        else:
            call = Call("find", (directory,), {"detail": detail})
        self.fs.invalidate_cache(directory)
        got = self.one(op, call)
        if isinstance(got, FileNotFoundError):
            return {} if detail else []
        return got

    # -- async ---------------------------------------------------------------------

    async def _gather(self, op: str, calls: Sequence[Call]) -> list[Any]:
        sem = asyncio.Semaphore(self.concurrency)

        async def run(call: Call) -> Any:
            async with sem:
                return await self._run_async(op, call)

        tasks = [asyncio.ensure_future(run(c)) for c in calls]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for t in tasks:
                t.cancel()

    async def _run_async(self, op: str, call: Call) -> Any:
        fn = getattr(self.fs, "_" + call.method)
        attempt = 0
        while True:
            self.sent += 1
            try:
                return await fn(*call.args, **dict(call.kwargs or {}))
            except (FileNotFoundError, FileExistsError) as exc:
                return exc
            except Exception as exc:
                attempt += 1
                if attempt > self.policy.retries or not is_transient(exc):
                    raise self.error(op, exc, attempt) from None
                await asyncio.sleep(self.policy.delay(attempt))

    # -- sync ----------------------------------------------------------------------

    def _run_sync(self, op: str, call: Call) -> Any:
        fn: Callable[..., Any] = getattr(self.fs, call.method)
        attempt = 0
        while True:
            self.sent += 1
            try:
                return fn(*call.args, **dict(call.kwargs or {}))
            except (FileNotFoundError, FileExistsError) as exc:
                return exc
            except Exception as exc:
                attempt += 1
                if attempt > self.policy.retries or not is_transient(exc):
                    raise self.error(op, exc, attempt) from None
                time.sleep(self.policy.delay(attempt))
