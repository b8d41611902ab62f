"""BulkContext: buffered frame writes, flushed as one tree update and one ref append."""

from __future__ import annotations

import logging
import operator
import os
import threading
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vstore.datasets.stats import UNKNOWN_TYPE, Contribution, pack_parts, packed_contribution
from vstore.errors import BackendError, InvalidArgumentError, NotFoundError, UsageError
from vstore.model import (
    FrameGroup,
    SingleFrame,
    decode_record,
    encode_record,
    frame_key,
    frame_record_bytes,
    frame_to_record,
)

if TYPE_CHECKING:
    from vstore.datasets.background import Flusher
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "BulkContext", "Op", "deep_merge", "drop_fields", "frame_id_of", "merge_keys", "queue_op",
    "raw_op",
]

log = logging.getLogger("vstore.datasets")

# An op on one frame: ("set", record) overwrites, ("raw", (canonical bytes, packed stats
# contribution)) overwrites with an already encoded record, ("merge", [patch, ...]) merges
# each patch in turn into the stored frame, ("del", None) deletes. A "raw" op is two tuples
# over two bytes values: the garbage collector stops tracking it by its second collection,
# so thousands of queued frames never reach (and never trigger) a full collection.
Op = tuple[str, Any]
_first = operator.itemgetter(0)  # of an op: its kind
_second = operator.itemgetter(1)  # of an op: its payload


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base``: dicts merge, everything else replaces.

    A field absent from ``update`` is kept, so an update cannot remove a field.
    """
    out = dict(base)
    for k, v in update.items():
        old = out.get(k)
        out[k] = deep_merge(old, v) if isinstance(old, dict) and isinstance(v, dict) else v
    return out


def queue_op(ops: dict[bytes, Op], key: bytes, op: Op) -> None:
    """Add ``op`` for ``key`` to ``ops`` so that the result equals applying both in order.

    Raises:
        NotFoundError: an update of a frame deleted earlier in the same batch.
    """
    prev = ops.get(key)
    if op[0] != "merge" or prev is None:
        ops[key] = op
    elif prev[0] == "del":
        raise NotFoundError(
            f"cannot update frame {key.decode()!r}: it is deleted earlier in this batch"
        )
    elif prev[0] in ("set", "raw"):
        record = prev[1] if prev[0] == "set" else decode_record(prev[1][0], validate=False)
        for patch in op[1]:
            record = deep_merge(record, patch)
        ops[key] = ("set", record)
    else:
        ops[key] = ("merge", [*prev[1], *op[1]])


def raw_op(frame: SingleFrame | FrameGroup) -> tuple[str, Op]:
    """A frame's id and its ``"raw"`` op: its canonical record bytes and its packed stats
    contribution, what ``encode_record`` and ``packed_contribution`` give for its record.

    Raises:
        The errors of :func:`frame_to_record` and :func:`encode_record`.
    """
    record, data = frame_record_bytes(frame)
    if type(frame) is SingleFrame:
        # The usual bulk add: the contribution is read off the record just built.
        rois = record["rois"]
        packed = pack_parts([name for roi in rois for name in roi["label"]], bool(rois),
                            [frame._content_type or UNKNOWN_TYPE])
    else:
        packed = packed_contribution(record)
    return record["id"], ("raw", (data, packed))


def frame_id_of(frame: object) -> str:
    """The id of a frame given as a frame object, a record dict or an id string."""
    if isinstance(frame, str):
        frame_key(frame)
        return frame
    if isinstance(frame, (SingleFrame, FrameGroup)):
        fid = frame.id
        if fid is None:
            fid = frame_to_record(frame)["id"]
        return str(fid)
    if isinstance(frame, dict) and isinstance(frame.get("id"), str):
        return str(frame["id"])
    raise InvalidArgumentError(
        f"a frame is a SingleFrame, a FrameGroup, a frame dict or an id, not {type(frame).__name__}"
    )


def drop_fields(record: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of ``record`` without the (dot-path) ``fields``; the id is always kept."""
    out = dict(record)
    for path in fields:
        head, _, rest = path.partition(".")
        if head == "id":
            continue  # the id addresses the frame; it is never dropped
        if not rest:
            out.pop(head, None)
        elif isinstance(out.get(head), dict):
            out[head] = drop_fields(out[head], [rest])
    return out


def resolve_ops(
    ops: dict[bytes, Op], stored: dict[bytes, bytes]
) -> tuple[dict[bytes, bytes | None], dict[bytes, dict[str, Any] | Contribution | bytes]]:
    """Turn queued ops into tree edits, merging updates into the stored records.

    Returns:
        The edits, and the new record (or its stats contribution) of every key that is set.

    Raises:
        NotFoundError: an update names frames the version does not hold.
    """
    if set(map(_first, ops.values())) == {"raw"}:
        # The usual bulk add: every payload is (bytes, contribution) already.
        payloads = list(map(_second, ops.values()))
        return (
            dict(zip(ops, map(_first, payloads), strict=True)),
            dict(zip(ops, map(_second, payloads), strict=True)),
        )
    missing = [k for k in merge_keys(ops) if k not in stored]
    if missing:
        shown = ", ".join(k.decode() for k in missing[:5])
        raise NotFoundError(
            f"cannot update {len(missing)} frame(s) that are not in the version: {shown}; "
            "use add_frames to add new frames"
        )
    edits: dict[bytes, bytes | None] = {}
    records: dict[bytes, dict[str, Any] | Contribution | bytes] = {}
    for key, (kind, payload) in ops.items():
        if kind == "del":
            edits[key] = None
            continue
        if kind == "raw":
            edits[key], records[key] = payload
            continue
        if kind == "set":
            record = payload
        else:
            record = decode_record(stored[key], validate=False)
            for patch in payload:
                record = deep_merge(record, patch)
        records[key] = record
        edits[key] = encode_record(record)
    return edits, records


def merge_keys(ops: dict[bytes, Op]) -> list[bytes]:
    """The keys of the ops that merge into a stored frame."""
    if "merge" not in set(map(_first, ops.values())):
        return []
    return [k for k, (kind, _) in ops.items() if kind == "merge"]


def check_threshold(flush_threshold: object) -> None:
    """Refuse a flush threshold that is not a positive int (or None)."""
    if flush_threshold is not None and (
        not isinstance(flush_threshold, int) or flush_threshold < 1
    ):
        raise InvalidArgumentError(
            f"flush_threshold must be a positive int, got {flush_threshold!r}"
        )


class BulkContext:
    """Collects frame adds, updates and deletes and writes them in bulk.

    It flushes every ``flush_threshold`` operations and when the ``with`` block
    exits. A flush is one ordered tree update and one ref append, so it is
    all-or-nothing and safe against concurrent writers of the same draft.
    Get it from :meth:`DatasetVersion.get_bulk_context`.

    On a local LMDB store, the flushes a threshold starts may be written by a writer
    process of the context's own while the caller queues the next batch (``background``,
    decision 0017). They are written in order, as the same flushes; :meth:`flush` and the
    end of the ``with`` block wait for all of them. An error of such a flush is raised by
    the next call that queues, flushes or exits, and every operation not written is queued
    again, so a retry of :meth:`flush` loses nothing.
    """

    def __init__(
        self,
        version: DatasetVersion,
        flush_threshold: int | None = None,
        log: logging.Logger | None = None,
        refresh_version_stats: bool = True,
        allow_update: bool = False,
        upload: dict[str, Any] | None = None,
        background: bool | None = None,
    ) -> None:
        check_threshold(flush_threshold)
        if background not in (None, True, False):
            raise InvalidArgumentError(
                f"background must be None, True or False, not {background!r}"
            )
        if background:
            from vstore.datasets.background import background_path

            if background_path(version) is None:
                raise UsageError(
                    "background flushes need a local LMDB store, two CPUs and a POSIX system, "
                    f"and no write observer; {version._store.url} cannot have them "
                    "(pass background=None or False)"
                )
        self._upload = upload
        #: frames whose source upload failed, as ``{frame, error, error_type}`` dicts
        self.failed: list[dict[str, Any]] = []
        self.version = version
        self.flush_threshold = flush_threshold
        self.log = log or globals()["log"]
        self.refresh_version_stats = refresh_version_stats
        self.allow_update = allow_update
        #: write threshold flushes in a writer process: True, False, or None to decide
        self.background = background
        self._ops: dict[bytes, Op] = {}
        self._count = 0
        self._lock = threading.RLock()
        # Flushes go out one at a time, in order (the writer process writes them in order).
        self._flush_lock = threading.RLock()
        self._flusher: Flusher | None = None
        self._inline = False  # no writer process for this context (none possible, or failed)
        # Batches a writer process gave back, to write before anything newer: (ops, commit).
        self._retry: list[tuple[dict[bytes, Op], bool]] = []
        self._written = 0  # operations this context wrote itself
        # Keys added with warn_on_duplicate_frames, kept past their flush to warn of a
        # later add; files of frames deleted with delete_sources, deleted at flush().
        self._added: set[bytes] = set()
        self._doomed: list[str] = []

    def _queue(self, key: bytes, op: Op) -> None:
        with self._lock:
            queue_op(self._ops, key, op)
            self._count += 1
            full = self.flush_threshold is not None and self._count >= self.flush_threshold
        if full:
            self._flush(wait=False)

    def add_frame(
        self, frame: SingleFrame | FrameGroup, warn_on_duplicate_frames: bool = False
    ) -> None:
        """Queue a frame; an existing frame with its id is overwritten.

        With ``warn_on_duplicate_frames``, a warning says so when the frame's id was
        already added in this context, by a call that asked for the warning too or still
        queued (the ids of such calls are kept until the ``with`` block ends).

        Raises:
            InvalidArgumentError, UsageError: the frame is not valid (nothing is queued).
        """
        op: Op
        if self._upload:
            record = frame_to_record(frame)
            frame_id, op = record["id"], ("set", record)  # uploads rewrite its URIs first
        else:
            frame_id, op = raw_op(frame)
        key = frame_key(frame_id)
        if warn_on_duplicate_frames:
            if key in self._added or key in self._ops:
                warnings.warn(
                    f"frame {frame_id} was already added in this bulk context", stacklevel=2
                )
            self._added.add(key)
        self._queue(key, op)

    def update_frame(self, frame: SingleFrame | FrameGroup) -> None:
        """Queue an update: merged into the stored frame if ``allow_update``, else an add."""
        record = frame_to_record(frame)
        key = frame_key(record["id"])
        self._queue(key, ("merge", [record]) if self.allow_update else ("set", record))

    def delete_frame(
        self, frame: SingleFrame | FrameGroup | str, delete_sources: bool = False
    ) -> None:
        """Queue the deletion of a frame (by object or id).

        With ``delete_sources``, the files in cloud storage that the stored frame names
        are deleted at the next :meth:`flush` (or the end of the block), once the
        deletion is written; see :meth:`DatasetVersion.delete_frames`.
        """
        key = frame_key(frame_id_of(frame))
        if delete_sources:
            # Read through the version, which first waits for this context's writer.
            files = self.version._source_files([key])
            with self._lock:
                self._doomed += files
        self._queue(key, ("del", None))

    @property
    def pending(self) -> int:
        """Operations queued and not yet written (those a writer process holds included)."""
        held = self._flusher.pending if self._flusher is not None else 0
        return len(self._ops) + held + sum(len(ops) for ops, _commit in self._retry)

    def flush(self) -> None:
        """Write every queued operation now (one atomic version update, which also commits
        the version if ``refresh_version_stats``), and wait for the flushes a writer
        process is making."""
        self._flush(wait=True)

    def _flush(self, wait: bool) -> None:
        with self._flush_lock:
            with self._lock:
                ops, self._ops, self._count = self._ops, {}, 0
            sent = False
            try:
                self._write_retry()
                if ops:
                    # Inside the try: a failed upload step keeps every op queued too.
                    ready = self._upload_sources(ops) if self._upload else ops
                    flusher = self._flusher or (None if wait else self._start())
                    if flusher is None or not self._hand_over(flusher, ready):
                        self._write(ready, self.refresh_version_stats)
                    sent = True
                if wait and self._flusher is not None:
                    self._drain()
                    self.version._refresh()
                if wait and self._doomed:
                    with self._lock:
                        doomed, self._doomed = self._doomed, []
                    self.version._delete_source_files(doomed)
            except BaseException:
                if not sent:
                    with self._lock:  # keep them queued: a retry of flush() loses nothing
                        ops.update(self._ops)
                        self._ops = ops
                self._give_back()
                raise

    def _write_retry(self) -> None:
        """Write the batches a writer process gave back, oldest first."""
        while self._retry:
            self._write(*self._retry[0])
            del self._retry[0]

    def _hand_over(self, flusher: Flusher, ops: dict[bytes, Op]) -> bool:
        """Send ``ops`` to the writer process; False if it is gone, once what it did not
        write is written here, in order."""
        from vstore.datasets.background import WriterGone

        try:
            flusher.submit(ops, self.refresh_version_stats)
        except WriterGone as exc:
            self._writer_gone(exc)
            return False
        return True

    def _writer_gone(self, exc: Exception) -> None:
        self.log.warning("%s; this bulk context flushes in this process from now on", exc)
        self._give_back()
        self._write_retry()

    def _write(self, ops: dict[bytes, Op], commit: bool) -> None:
        self.version._write_ops(ops, commit=commit)
        self._written += len(ops)
        self.log.debug("flushed %d frame operations into %s", len(ops), self.version.version_id)

    def _start(self) -> Flusher | None:
        """The writer process for threshold flushes, started now, or None to flush here."""
        from vstore.datasets.background import (
            ENV_BACKGROUND,
            MIN_THRESHOLD,
            START_AFTER,
            Flusher,
            background_path,
        )

        if self._inline or self.background is False:
            return None
        if self.background is None and (
            os.environ.get(ENV_BACKGROUND, "1") == "0"
            or (self.flush_threshold or 0) < MIN_THRESHOLD
            or self._written < START_AFTER  # a large ingest: it has written this much
        ):
            return None
        path = background_path(self.version)
        if path is None:
            self._inline = True
            return None
        try:
            self._flusher = Flusher(self.version, path)
        except BackendError as exc:
            if self.background:
                raise
            self._inline = True
            self.log.warning("bulk context flushes in this process: %s", exc)
            return None
        self.log.debug("bulk context flushes through writer process %d", self._flusher.pid)
        return self._flusher

    def _give_back(self) -> None:
        """After an error: take back what the writer process did not write (to write here,
        in order, before anything newer) and stop it."""
        flusher = self._flusher
        if flusher is None:
            return
        self._flusher = None
        self._inline = True
        try:
            self._retry[:0] = flusher.take_back()
        finally:
            flusher.close()

    def _settle(self) -> None:
        """Wait for the flushes the writer process holds: reads and writes through the
        version see them, as they would have seen the same flushes made here.

        Raises:
            The error of a flush that failed (its operations are queued again).
        """
        if self._flusher is None:  # the usual case: no writer process, no lock taken
            return
        with self._flush_lock:
            self._drain()

    def _drain(self) -> None:
        """:meth:`_settle`, with the flush lock held."""
        from vstore.datasets.background import WriterGone

        if self._flusher is None:  # another thread stopped it meanwhile
            return
        try:
            self._flusher.drain()
        except WriterGone as exc:
            self._writer_gone(exc)
        except BaseException:
            self._give_back()
            raise

    def _stop(self) -> None:
        """Let the writer process finish what it holds and end (a later flush starts
        another); forget the ids kept for duplicate warnings (the block is over)."""
        self._added = set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.close()
            self.version._refresh()

    def _upload_sources(self, ops: dict[bytes, Op]) -> dict[bytes, Op]:
        """Upload the local sources of queued records; drop the ops of frames that failed."""
        from vstore.io.sources import upload_sources

        assert self._upload is not None
        # Each record is tagged with (key, patch index; -1 for a "set") to find it again.
        items: list[tuple[Any, dict[str, Any]]] = []
        for key, (kind, payload) in ops.items():
            if kind == "set":
                items.append(((key, -1), payload))
            elif kind == "merge":
                items.extend(((key, i), patch) for i, patch in enumerate(payload))
        done, failed = upload_sources(self.version, items, **self._upload)
        for f in failed:
            f["frame"] = f["frame"][0].decode()
        self.failed.extend(failed)
        new = dict(done)
        out: dict[bytes, Op] = {}
        for key, (kind, payload) in ops.items():
            if kind == "set":
                if (key, -1) in new:
                    out[key] = ("set", new[(key, -1)])
            elif kind == "merge":
                patches = [new.get((key, i)) for i in range(len(payload))]
                if all(p is not None for p in patches):
                    out[key] = ("merge", patches)
            else:
                out[key] = (kind, payload)
        return out

    def __enter__(self) -> BulkContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self.flush()
            finally:
                self._stop()
            return
        try:
            # What a threshold flush sent to the writer process is written, as it would
            # have been here; only the operations still queued are left.
            self._settle()
        except Exception as err:
            self.log.warning("a background flush failed: %s", err)
        finally:
            self._stop()
        if self.pending:
            self.log.warning(
                "bulk context exited with %s; %d queued operations were not written "
                "(call flush() to write them)",
                exc_type.__name__,
                self.pending,
            )
