"""Background flushes: a bulk context's batches written by a writer process of its own.

A bulk ingest is two kinds of work: the caller's (making frames and turning them into
record bytes) and the flushes' (building runs, merging and folding them, committing to
LMDB). In one Python process they take turns on one core. A :class:`Flusher` hands each
full batch to a writer process that holds its own handle on the store and writes the
batches in order, each one the same flush the caller would have made (one tree update and
one ref append), while the caller goes on queueing the next batch (decision 0017).

A batch travels as a pickle file in a private temporary directory and a short message on
a pipe, so neither process waits on the other to copy it. The writer removes a batch's
file once the batch is written; a batch that failed, and every batch sent after it, is
read back from its file and handed to the caller to write again, so nothing queued is
lost.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import traceback
import weakref
from typing import IO, TYPE_CHECKING, Any

from vstore.errors import BackendError

if TYPE_CHECKING:
    from vstore.datasets.bulk import Op
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "ENV_BACKGROUND", "MIN_THRESHOLD", "QUEUE_BYTES", "START_AFTER", "Flusher", "WriterGone",
    "background_path",
]

#: set to ``0`` to make every bulk context flush in the calling process
ENV_BACKGROUND = "VSTORE_BACKGROUND_FLUSH"
#: with ``background=None``, bulk contexts with a smaller flush threshold flush inline
MIN_THRESHOLD = 1000
#: with ``background=None``, a context starts a writer once it has flushed this many
#: operations itself: a writer takes ~0.3 s of the other CPU to start, which a small
#: ingest never wins back
START_AFTER = 20_000
#: bytes of batches sent and not yet written before the caller waits (at least one batch)
QUEUE_BYTES = 256 << 20
#: seconds a writer process may take to start and open the store
START_TIMEOUT = 120.0

_HEADER = struct.Struct("<Q")
# The largest reply (a pickled exception and its traceback) is small; bound what is read.
_MAX_MESSAGE = 64 << 20


def background_path(version: DatasetVersion) -> str | None:
    """The path a writer process can open the version's store by, or None when its
    flushes must stay in this process: a store that is not a local LMDB store, a store
    whose writes this process observes, a single CPU to run on, a platform without pipes
    to poll, or an interpreter that cannot be started again (a frozen application)."""
    from vstore.engine.backends.lmdb import LmdbBackend

    store = version._store
    backend = store.repo.backend
    if (
        type(backend) is not LmdbBackend
        or store.registry.observe_writes is not None
        or os.name != "posix"
        or _cpus() < 2
        or not sys.executable
        or getattr(sys, "frozen", False)
    ):
        return None
    return backend.path


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _send(f: IO[bytes], payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[f.write(view) or 0:]


def _read_exact(f: IO[bytes], n: int) -> bytes | None:
    """``n`` bytes from an unbuffered pipe, or None at its end."""
    parts = []
    while n:
        chunk = f.read(n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _recv(f: IO[bytes]) -> bytes | None:
    """One message, or None at the end of the stream (the other process closed it).

    The pipes are unbuffered, so a message is never left in a buffer that ``select``
    cannot see.
    """
    head = _read_exact(f, _HEADER.size)
    if head is None:
        return None
    (n,) = _HEADER.unpack(head)
    if n > _MAX_MESSAGE:
        raise BackendError(f"background writer sent a {n}-byte message; the pipe is garbled")
    return _read_exact(f, n)


class WriterGone(BackendError):
    """The writer process is gone or cannot be reached, or a batch could not be handed
    to it; the batches it did not confirm are still the caller's."""


class Flusher:
    """A writer process that writes one version's batches, in the order they are sent.

    Args:
        version: the version the batches go to.
        path: the store's path (from :func:`background_path`).
        budget: bytes of unwritten batches before :meth:`submit` waits.

    Raises:
        WriterGone: the writer process could not be started. One that starts and then
            cannot open the version is reported by the first call that waits for it.
    """

    def __init__(self, version: DatasetVersion, path: str, budget: int = QUEUE_BYTES) -> None:
        self.budget = budget
        self._dir = tempfile.mkdtemp(prefix="vstore-flush-")
        self._sent = 0
        # batches sent and not yet acknowledged: (number, file, bytes, operations)
        self._inflight: collections.deque[tuple[int, str, int, int]] = collections.deque()
        self._bytes = 0
        self._error: BaseException | None = None
        self._ready = False  # the writer has opened the version
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "vstore.datasets.background",
                 str(to_child), str(from_child)],
                pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, env=env,
            )
        except OSError as exc:
            for fd in (to_child, from_parent, to_parent, from_child):
                os.close(fd)
            shutil.rmtree(self._dir, ignore_errors=True)
            raise WriterGone(f"could not start a background writer: {exc}") from exc
        os.close(to_child)
        os.close(from_child)
        self._out = os.fdopen(from_parent, "wb", buffering=0)
        self._in = os.fdopen(to_parent, "rb", buffering=0)
        # Also run at exit: the writer writes what it was sent before the interpreter ends.
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, self._out, self._in,
                                           self._dir, os.getpid())
        _live.add(self)
        try:
            # The writer starts while the caller goes on: its answer is read with the first
            # batch's.
            _send(self._out, pickle.dumps({
                "path": path,
                "dir": self._dir,
                "dataset_id": version._dataset.id,
                "version_id": version.version_id,
            }))
        except OSError as exc:
            self.close()
            raise WriterGone(f"could not start a background writer: {exc}") from exc

    @property
    def pid(self) -> int:
        """The writer process's pid."""
        return self._proc.pid

    @property
    def pending(self) -> int:
        """Operations sent and not yet written."""
        return sum(item[3] for item in tuple(self._inflight))

    def submit(self, ops: dict[bytes, Op], commit: bool) -> None:
        """Send one batch; wait first while the batches in flight are over the budget.

        Raises:
            The error of an earlier batch that failed, or of a writer that is gone (see
            :meth:`take_back`); the batch given is then not sent.
        """
        self._collect(block=False)
        data = pickle.dumps((ops, commit), protocol=pickle.HIGHEST_PROTOCOL)
        while self._inflight and self._bytes + len(data) > self.budget:
            self._collect(block=True)
        self._sent += 1
        path = os.path.join(self._dir, f"{self._sent:08d}")
        try:
            with open(path, "wb") as f:
                f.write(data)
            _send(self._out, pickle.dumps((self._sent, path)))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(path)  # not sent: the caller keeps the batch
            raise self._died(f"could not be handed a batch ({exc})") from exc
        self._inflight.append((self._sent, path, len(data), len(ops)))
        self._bytes += len(data)

    def drain(self) -> None:
        """Wait until every batch sent is written.

        Raises:
            The error of a batch that failed (see :meth:`take_back`).
        """
        while self._inflight:
            self._collect(block=True)

    def take_back(self) -> list[tuple[dict[bytes, Op], bool]]:
        """The batches sent and not written, in order (after an error): ``(ops, commit)``.

        They are no longer this flusher's; close it and write them another way. A batch
        the writer was in the middle of may be written twice, which changes nothing:
        writing a batch again sets, merges or deletes the same values.
        """
        out = []
        while self._inflight:
            _n, path, size, _count = self._inflight.popleft()
            self._bytes -= size
            try:
                with open(path, "rb") as f:
                    out.append(pickle.load(f))
            except FileNotFoundError:
                continue  # the writer removes a batch's file once it is written
            os.unlink(path)
        return out

    def close(self) -> None:
        """Let the writer write what it was sent and end; wait for it and remove its files.

        After an error, take the batches back first: a batch the writer did not write is
        not written by closing.
        """
        self._finalizer()

    def _collect(self, block: bool) -> None:
        """Take the writer's replies: all that are ready, or at least one with ``block``."""
        if self._error is not None:
            raise self._error
        while self._inflight or not self._ready:
            if not block and not select.select([self._in], [], [], 0)[0]:
                return
            self._reply()
            block = False

    def _reply(self) -> None:
        # A flush may take long (a fold, or turns behind other writers); a start may not.
        if not self._ready and not select.select([self._in], [], [], START_TIMEOUT)[0]:
            raise self._died(f"did not start within {START_TIMEOUT:.0f} s")
        try:
            raw = _recv(self._in)
        except OSError as exc:
            raise self._died(f"could not be read ({exc})") from exc
        if raw is None:
            raise self._died("closed its pipe")
        msg = pickle.loads(raw)
        kind = msg[0]
        if kind == "ready":
            self._ready = True
            return
        if not self._ready:  # it could not open the version: flush in the caller instead
            raise self._died(f"could not open the version ({_last_line(msg[2])})")
        if kind == "done":
            n, _path, size, _count = self._inflight.popleft()
            if n != msg[1]:
                raise self._died(f"acknowledged batch {msg[1]} when batch {n} was next")
            self._bytes -= size
            return
        # "failed": the writer stops writing; the batch and all later ones come back.
        self._error = _rebuild(msg[1], msg[2])
        raise self._error

    def _died(self, what: str) -> WriterGone:
        code = self._proc.poll()
        how = "" if code is None else f" (it exited with code {code})"
        err = WriterGone(
            f"the background writer, pid {self._proc.pid}, {what}{how}; "
            f"{self.pending} operation(s) sent to it and not confirmed are the caller's again"
        )
        self._error = err
        return err


def _rebuild(pickled: bytes, text: str) -> BaseException:
    """The writer's exception, with its traceback as a note."""
    exc: BaseException
    try:
        loaded = pickle.loads(pickled)
        if not isinstance(loaded, BaseException):
            raise TypeError(type(loaded).__name__)
        exc = loaded
    except Exception:
        exc = BackendError(f"a background flush failed: {_last_line(text)}")
    exc.add_note(f"raised by the background writer:\n{text}")
    return exc


def _last_line(traceback_text: str) -> str:
    """The exception line of a formatted traceback."""
    lines = traceback_text.strip().splitlines()
    return lines[-1] if lines else "unknown error"


def _forget_in_child() -> None:
    """In a forked child: the writers and their batches are the parent's. Close the child's
    copies of the pipes (a copy left open would keep a writer from seeing its end) and
    leave each flusher empty and gone, so the child's bulk contexts flush in the child."""
    for flusher in list(_live):
        flusher._finalizer.detach()
        for f in (flusher._out, flusher._in):
            with contextlib.suppress(OSError):
                f.close()
        flusher._inflight.clear()
        flusher._bytes = 0
        flusher._error = WriterGone("this process was forked from the one its writer serves")


_live: weakref.WeakSet[Flusher] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _shutdown(
    proc: subprocess.Popen[bytes], out: IO[bytes], inp: IO[bytes], tmp: str, pid: int
) -> None:
    """Close the writer's pipe, wait for it to write what it holds, remove the files."""
    for f in (out, inp):
        with contextlib.suppress(OSError):
            f.close()
    if os.getpid() != pid:
        return  # a forked child's copy: the writer and its files are its parent's
    # Interrupted here, the writer still writes what it holds and removes the files.
    proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)


# -- the writer process ----------------------------------------------------------------------


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps(exc)
    except Exception:
        return b""


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """The writer's loop: open the version, then write each batch it is sent, in order.

    After a batch fails it writes no more and answers every later batch with the same
    error, so the caller takes them all back in order. A caller that stops listening (it
    is exiting, or was killed) still has every batch it sent written.
    """
    listening = True

    def answer(msg: tuple[Any, ...]) -> None:
        nonlocal listening
        if listening:
            try:
                _send(out, pickle.dumps(msg))
            except BrokenPipeError:
                listening = False

    raw = _recv(inp)
    if raw is None:
        return 0
    hello = pickle.loads(raw)
    try:
        store, version = _open_version(hello)
    except Exception as exc:  # the caller flushes in its own process instead
        answer(("failed", _pickled_error(exc), traceback.format_exc()))
        return 1
    answer(("ready",))
    failure: tuple[bytes, str] | None = None
    try:
        while (raw := _recv(inp)) is not None:
            n, path = pickle.loads(raw)
            if failure is None:
                try:
                    with open(path, "rb") as f:
                        ops, commit = pickle.load(f)
                    version._write_ops(ops, commit=commit)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)  # written: nothing to take back
                except Exception as exc:  # anything else ends the writer: the caller sees it gone
                    failure = (_pickled_error(exc), traceback.format_exc())
            answer(("done", n) if failure is None else ("failed", *failure))
    finally:
        store.close()
        # The caller took back what it needed before closing the pipe, or is gone.
        shutil.rmtree(hello["dir"], ignore_errors=True)
    return 0


def _open_version(hello: dict[str, Any]) -> tuple[Any, Any]:
    import vstore

    store = vstore.open(hello["path"])
    try:
        version = vstore.DatasetVersion.get_version(
            dataset_id=hello["dataset_id"], version_id=hello["version_id"], store=store
        )
    except BaseException:
        store.close()
        raise
    return store, version


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole process group; the caller decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp = os.fdopen(int(argv[0]), "rb", buffering=0)
    out = os.fdopen(int(argv[1]), "wb", buffering=0)
    return serve(inp, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
