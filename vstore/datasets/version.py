"""DatasetVersion: the Hyper-Datasets surface over the engine.

Class methods find or create datasets and versions; an instance is one
version, and every read pins the commit it read (``commit_id``).
"""

from __future__ import annotations

import datetime as _dt
import operator
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import msgspec

from vstore.datasets import lookup
from vstore.datasets.bulk import (
    BulkContext,
    Op,
    check_threshold,
    drop_fields,
    frame_id_of,
    merge_keys,
    queue_op,
    resolve_ops,
)
from vstore.datasets.catalog import Catalog
from vstore.datasets.changes import FrameDiff, MergeReport, diff_states, merge_into
from vstore.datasets.registry import (
    COMMITTED,
    DRAFT,
    PUBLISHED,
    DatasetInfo,
    VersionState,
)
from vstore.datasets.stats import (
    apply_changes,
    apply_sides,
    packed_contribution,
    stats_lists,
)
from vstore.datasets.store import Store
from vstore.engine import WriteBatch
from vstore.engine.layers import Layers
from vstore.errors import (
    InvalidArgumentError,
    NotFoundError,
    ObjectTooLargeError,
    ReadOnlyError,
    UsageError,
)
from vstore.gcpause import paused_gc
from vstore.model import (
    FrameGroup,
    SingleFrame,
    compile_projection,
    decode_record,
    encode_record,
    frame_key,
    frame_to_record,
    record_to_frame,
)
from vstore.model.projection import compile_fast, project
from vstore.model.record import frame_from_bytes
from vstore.picsellia.version import PicselliaVersion

__all__ = ["DatasetVersion"]

Frame = SingleFrame | FrameGroup
_second = operator.itemgetter(1)
_third = operator.itemgetter(2)


def _change_kind(committed: bytes | None, now: bytes | None) -> int:
    """0 added, 1 modified, 2 deleted, -1 unchanged: a key's state now against the commit."""
    if committed == now:
        return -1
    if committed is None:
        return 0
    return 2 if now is None else 1


def _since_commit(
    layers: Layers,
    state: VersionState,
    root: bytes,
    changes: list[tuple[bytes, bytes | None, bytes | None]],
) -> list[Any] | None:
    """The counts the next commit reports, carried forward through one more write.

    ``[committed_tree, tree, added, modified, deleted]``; the first write after a
    commit counts its own changes; a later one moves each key it changed from the
    kind it had (old value against the committed one) to its new kind, which needs
    the committed values of those keys only. None if the counts were not kept (a
    write by another path): the commit then diffs.
    """
    if state.tree == state.committed_tree:
        # Every change is against the commit, and changed something: an old None is an
        # add, a new None a delete (counted in C).
        added = list(map(_second, changes)).count(None)
        deleted = list(map(_third, changes)).count(None)
        return [state.tree, root, added, len(changes) - added - deleted, deleted]
    known = state.meta.get("since_commit")
    if not known or known[0] != state.committed_tree or known[1] != state.tree:
        return None
    counts = list(known[2:5])
    committed = layers.get_many(state.committed_tree, [k for k, _o, _n in changes])
    for key, old, new in changes:
        c = committed.get(key)
        before, after = _change_kind(c, old), _change_kind(c, new)
        if before >= 0:
            counts[before] -= 1
        if after >= 0:
            counts[after] += 1
    return [state.committed_tree, root, *counts]

class DatasetVersion(Catalog, PicselliaVersion):
    """One version of a dataset (the Hyper-Datasets ``DatasetVersion``).

    Get one from the class methods (:meth:`create_new_dataset`,
    :meth:`get_current`, :meth:`get_version`, :meth:`create_version`, ...);
    do not construct it directly.
    """

    def __init__(self, store: Store, dataset: DatasetInfo, state: VersionState) -> None:
        self._store = store
        self._dataset = dataset
        self._state = state
        self._bulk: BulkContext | None = None

    # -- identity -------------------------------------------------------------------

    def _refresh(self) -> VersionState:
        if self._bulk is not None:
            self._bulk._settle()  # flushes a writer process holds come first
        if self._state.status != PUBLISHED:
            state = self._store.registry.version(self._dataset.id, self._state.version_id)
            if state is None:
                raise NotFoundError(f"version {self._state.version_id} was removed")
            self._state = state
        return self._state

    @property
    def version_id(self) -> str:
        """The version's id."""
        return self._state.version_id

    @property
    def version_name(self) -> str:
        """The version's name."""
        return self._refresh().name

    @property
    def dataset_id(self) -> str:
        """The id of the dataset this version belongs to."""
        return self._dataset.id

    @property
    def dataset_name(self) -> str:
        """The name of the dataset this version belongs to."""
        return self._dataset.name

    @property
    def status(self) -> str:
        """``draft``, ``committed`` or ``published``."""
        return self._refresh().status

    @property
    def draft(self) -> bool:
        """True while the version can be written (not published)."""
        return self._refresh().status != PUBLISHED

    @property
    def last_updated(self) -> _dt.datetime:
        """When the version last changed."""
        return _dt.datetime.fromtimestamp(self._refresh().meta["updated"])

    @property
    def comment(self) -> str:
        """The version's comment (description)."""
        return str(self._refresh().meta.get("comment") or "")

    @property
    def commit_id(self) -> str:
        """Hex id of the commit this object last read; equal ids mean equal content."""
        return self._refresh().commit.id.hex()

    @property
    def store(self) -> Store:
        """The store this version lives in."""
        return self._store

    def __repr__(self) -> str:
        return (
            f"DatasetVersion(dataset={self._dataset.name!r}, version={self._state.name!r}, "
            f"status={self._state.status!r}, id={self._state.version_id})"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DatasetVersion)
            and other._dataset.id == self._dataset.id
            and other._state.version_id == self._state.version_id
        )

    def __hash__(self) -> int:
        return hash((self._dataset.id, self._state.version_id))

    # -- reads ------------------------------------------------------------------------------

    def _get_frame(self, frame_id: str) -> Frame:
        state = self._refresh()
        raw = self._store.repo.layers.get(state.tree, frame_key(frame_id))
        if raw is None:
            raise NotFoundError(
                f"version {state.name!r} of {self._dataset.name!r} has no frame {frame_id!r}"
            )
        return record_to_frame(decode_record(raw, validate=False), validate=False, owned=True)

    def _frames_by_ids(
        self, frame_ids: Iterable[str], projection: Sequence[str] | None
    ) -> list[Any]:
        if isinstance(frame_ids, str):
            raise InvalidArgumentError("frame_ids must be a collection of ids, not one str")
        state = self._refresh()
        keys = [frame_key(fid) for fid in frame_ids]
        conv = _converter(projection)
        # Thousands of acyclic objects at once: with the collector on, their allocation
        # would make it rescan every live container of the process mid-call.
        with paused_gc():
            found = self._store.repo.layers.get_many(state.tree, keys)
            out = []
            for k in dict.fromkeys(keys):
                raw = found.get(k)
                if raw is not None:
                    out.append(conv(raw))
        return out

    def _frames_by_source(self, pattern: str) -> Iterator[Frame]:
        from vstore.datasets.query import compile_source_pattern
        from vstore.model.identity import normalize_uri

        if not isinstance(pattern, str) or not pattern:
            raise InvalidArgumentError("source_uri must be a non-empty str pattern")
        match = compile_source_pattern(normalize_uri(pattern, "source_uri"))
        for _k, raw in self._store.repo.layers.items(self._refresh().tree):
            record = decode_record(raw, validate=False)
            if any(match(src["uri"]) for src in record["sources"]):
                yield record_to_frame(record, validate=False, owned=True)

    def get_iterator(self, projection: Sequence[str] | None = None) -> Iterator[Any]:
        """Iterate over every frame of the version, as it was when the call was made.

        Args:
            projection: dot paths (``meta.camera``, ``rois.*.label``, ``sources.0.uri``)
                to keep; given, the iterator yields dicts in the wire schema.
        """
        root = self._refresh().tree
        conv = _converter(projection)  # a bad projection fails here, not at the first next()
        return (conv(raw) for _k, raw in self._store.repo.layers.items(root))

    def __len__(self) -> int:
        return self._store.repo.layers.count(self._refresh().tree)

    def get_stats(self) -> dict[str, list[dict[str, Any]]]:
        """Stats as of the last commit.

        Returns:
            ``{labels, frames, content_types}``, each a list of ``{name, count}``.
        """
        meta = self._refresh().meta
        return stats_lists(meta.get("committed_stats") or meta["stats"])

    def get_parent(self) -> str | None:
        """The parent version's id, or None for a root version."""
        return self._state.parent

    def get_metadata(self) -> dict[str, Any]:
        """The version's user metadata."""
        return dict(self._refresh().meta.get("metadata") or {})

    def get_masks_labels(self) -> dict[tuple[int, ...], list[str]]:
        """The mask value → labels mapping set by :meth:`set_masks_labels`."""
        raw = self.get_metadata().get("mask_labels") or {}
        return {tuple(e["value"]): list(e["labels"]) for e in raw.get("_all_", [])}

    # -- writes -----------------------------------------------------------------------------

    def _write(
        self,
        change: Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None],
        message: str,
    ) -> VersionState:
        if self._bulk is not None:
            self._bulk._settle()
        self._state = self._store.registry.write_version(
            self._dataset.id, self._state.version_id, change, message=message
        )
        return self._state

    def _write_ops(self, ops: dict[bytes, Op], commit: bool = False) -> None:
        """Apply ``ops`` in one version update; with ``commit``, commit in the same update
        (as :meth:`commit_version` would right after it, in one log entry instead of two)."""
        with paused_gc():
            if not commit:
                self._write(self._ops_change(ops), "write frames")
                return
            write, commit_change = self._ops_change(ops), self._commit_change({})

            def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
                written = write(state, batch)
                tree, updates = written if written is not None else (state.tree, {})
                meta = {**state.meta, **updates}
                after = replace(state, commit=replace(state.commit, tree=tree, meta=meta))
                tree, more = commit_change(after, batch)
                return tree, {**updates, **more}

            self._write(change, "commit")

    def _ops_change(
        self, ops: dict[bytes, Op]
    ) -> Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None]:
        """The version change that applies ``ops`` (and keeps the live stats current)."""
        layers = self._store.repo.layers
        merges = merge_keys(ops)

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]] | None:
            stored = layers.get_many(state.tree, merges) if merges else {}
            edits, records = resolve_ops(ops, stored)
            changes: list[tuple[bytes, bytes | None, bytes | None]] = []
            root = layers.write(state.tree, edits, batch, changes=changes)
            if root == state.tree:
                return None
            updates: dict[str, Any] = {"status": DRAFT} if state.status == COMMITTED else {}
            since = _since_commit(layers, state, root, changes)
            if since is not None:
                updates["since_commit"] = since
            if state.meta.get("stats_tree") == state.tree:
                # Keep the live stats current from what this write changed: no re-read.
                removed = [decode_record(old, validate=False)
                           for _key, old, _new in changes if old is not None]
                if len(changes) == len(edits) == len(records):
                    added = list(records.values())  # every edit set a new value
                else:
                    added = [records[key] for key, _old, new in changes if new is not None]
                updates["stats"] = apply_sides(state.meta["stats"], removed, added)
                updates["stats_tree"] = root
            return root, updates

        return change

    def _records(
        self, frames: Iterable[Frame]
    ) -> tuple[list[tuple[Frame, dict[str, Any]]], list[dict[str, Any]]]:
        good, failed = [], []
        for frame in _frame_list(frames):
            try:
                good.append((frame, frame_to_record(frame)))
            except (InvalidArgumentError, UsageError) as exc:
                failed.append({"frame": frame, "error": str(exc), "error_type": "validation"})
        return good, failed

    def add_frames(
        self,
        frames: Iterable[Frame],
        warn_on_duplicate_frames: bool = False,
        batch_size: int = 1000,
        refresh_version_stats: bool = True,
        auto_upload_destination: str | None = None,
        local_dataset_root_path: str | None = None,
        force_upload: bool = False,
        progress_report: int | None = None,
        register_on_upload_failure: bool = False,
        upload_retries: int = 5,
        src_to_dst_mapping: dict[str, str] | None = None,
        unregister_on_upload_fail: bool = True,
        max_request_size_mb: float | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Add frames; a frame whose id exists overwrites it.

        Frames are written in batches of ``batch_size`` frames (and at most
        ``max_request_size_mb`` of records); each batch is one atomic update.
        Local source files are uploaded first when ``auto_upload_destination``
        (with ``local_dataset_root_path``) or ``src_to_dst_mapping`` is given.

        Args:
            frames: SingleFrame and FrameGroup objects.
            warn_on_duplicate_frames: warn when one call adds an id twice.
            batch_size: frames per atomic write.
            refresh_version_stats: commit (refresh stats) after adding.
            auto_upload_destination: upload local sources under this URL.
            local_dataset_root_path: the common root of local sources (required with
                ``auto_upload_destination``).
            force_upload: upload even if the same content was uploaded before.
            progress_report: unused (progress goes to ``callback``).
            register_on_upload_failure: add frames whose upload failed anyway.
            upload_retries: retries per file before the frame is reported failed.
            src_to_dst_mapping: explicit local path -> destination URI.
            unregister_on_upload_fail: the inverse of ``register_on_upload_failure``.
            max_request_size_mb: split batches so each holds at most this much record data
                (a frame over it is written in a batch of its own).
            callback: called with ``(frames done, frames total)`` after each batch.

        Returns:
            The frames that failed, as ``{"frame", "error", "error_type"}`` dicts with
            ``error_type`` one of ``validation``, ``upload`` or ``register`` (a record
            over the 16 MB record limit); the other frames are written.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
        good, failed = self._records(frames)
        if auto_upload_destination is not None or src_to_dst_mapping is not None:
            from vstore.io.sources import upload_sources

            good, upload_failed = upload_sources(
                self, good, destination=auto_upload_destination,
                local_root=local_dataset_root_path, mapping=src_to_dst_mapping,
                retries=upload_retries, force=force_upload,
                keep_failed=register_on_upload_failure or not unregister_on_upload_fail,
            )
            failed.extend(upload_failed)
        limit = None if max_request_size_mb is None else int(max_request_size_mb * 1024 * 1024)
        encoded = _encoded(good, failed)
        seen: set[bytes] = set()
        done = 0
        for batch in _batches(encoded, batch_size, limit):
            ops: dict[bytes, Op] = {}
            for fid, data, packed in batch:
                key = frame_key(fid)
                if warn_on_duplicate_frames and key in seen:
                    warnings.warn(f"frame {fid} is added twice", stacklevel=2)
                seen.add(key)
                ops[key] = ("raw", (data, packed))
            self._write_ops(ops)
            done += len(batch)
            if callback is not None:
                callback(done, len(encoded))
        if done and refresh_version_stats:
            self.commit_version()
        return failed

    def update_frames(
        self,
        frames: Iterable[Frame],
        batch_size: int = 1000,
        refresh_version_stats: bool = True,
        without_fields: Sequence[str] | None = None,
    ) -> None:
        """Update frames. With ``without_fields`` (even ``[]``), the data is merged into
        the stored frame (fields cannot be removed) leaving out those fields;
        without it, each frame overwrites the stored one.

        Raises:
            NotFoundError: a merged frame is not in the version (nothing is written).
        """
        # Unlike add_frames, an invalid frame fails the whole call with its own error.
        records = [frame_to_record(f) for f in _frame_list(frames)]
        ops: dict[bytes, Op] = {}
        for record in records:
            key = frame_key(record["id"])
            if without_fields is None:
                queue_op(ops, key, ("set", record))
            else:
                queue_op(ops, key, ("merge", [drop_fields(record, without_fields)]))
        if ops:
            self._write_ops(ops)
            if refresh_version_stats:
                self.commit_version()

    def delete_frames(
        self,
        frames: Iterable[Frame | str],
        batch_size: int = 1000,
        refresh_version_stats: bool = True,
        delete_sources: bool = False,
    ) -> None:
        """Delete frames given as objects or ids (absent ids are ignored).

        With ``delete_sources=True`` the files in cloud storage (S3, GCS, Azure) that
        the deleted frames name (sources, previews, masks) are deleted too, once the
        frames are gone. Local files are never deleted: they are often the only copy
        of the data, and a warning says how many were left. A file that another frame
        or version names is deleted for it as well, and a file that cannot be deleted
        is reported in a warning, never raised (the frames are deleted by then).
        """
        if isinstance(frames, (str, SingleFrame, FrameGroup)):
            raise InvalidArgumentError("frames must be a list of frames or ids")
        ops: dict[bytes, Op] = {frame_key(frame_id_of(f)): ("del", None) for f in frames}
        if not ops:
            return
        uris = self._source_files(ops) if delete_sources else []
        self._write_ops(ops)
        if refresh_version_stats:
            self.commit_version()
        self._delete_source_files(uris)

    def _source_files(self, keys: Iterable[bytes]) -> list[str]:
        """The URIs of the files (sources, previews, masks) the stored frames name."""
        uris: list[str] = []
        for raw in self._store.repo.layers.get_many(self._refresh().tree, keys).values():
            uris += _file_uris(decode_record(raw, validate=False))
        return uris

    def _delete_source_files(self, uris: list[str]) -> None:
        """Delete the files among ``uris`` that are in cloud storage; local files are
        left in place (a warning counts them), and so is a file that cannot be deleted
        (a warning names it)."""
        local = {u for u in uris if u.startswith("file://") or "://" not in u}
        if local:
            warnings.warn(
                f"{len(local)} local source file(s) left in place: delete_sources deletes "
                "files in cloud storage only", stacklevel=3,
            )
        remote = [u for u in uris if u not in local]
        if remote:
            from vstore.io.sources import delete_sources as remove_files

            for f in remove_files(self._store.repo.backend, remote):
                warnings.warn(
                    f"could not delete source {f['uri']}: {f['error']}", stacklevel=3
                )

    def get_bulk_context(
        self,
        flush_threshold: int | None = None,
        log: Any = None,
        refresh_version_stats: bool = True,
        auto_upload_destination: str | None = None,
        local_dataset_root_path: str | None = None,
        allow_update: bool = False,
        background: bool | None = None,
    ) -> BulkContext:
        """Return this version's bulk context (the same object on every call).

        Args:
            background: write the flushes a threshold starts in a writer process of the
                context's own, while the caller queues the next batch. ``None`` (the
                default) does so on a local LMDB store when ``flush_threshold`` is at
                least 1,000, once the context has written 20,000 operations itself,
                unless ``$VSTORE_BACKGROUND_FLUSH`` is ``0``; ``True`` from the first
                flush (a store that cannot is a ``UsageError``); ``False`` never.

        Raises:
            ReadOnlyError: the version is published.
            UsageError: ``background=True`` on a store a writer process cannot open.
        """
        check_threshold(flush_threshold)
        if self._refresh().status == PUBLISHED:
            raise ReadOnlyError(f"version {self._state.name!r} is published and cannot change")
        if self._bulk is None:
            upload = None
            if auto_upload_destination is not None:
                from vstore.io.sources import check_upload_options

                check_upload_options(auto_upload_destination, local_dataset_root_path, None)
                upload = {"destination": auto_upload_destination,
                          "local_root": local_dataset_root_path, "mapping": None,
                          "retries": 5, "force": False, "keep_failed": False}
            self._bulk = BulkContext(
                self, flush_threshold, log, refresh_version_stats, allow_update, upload,
                background,
            )
        return self._bulk

    def flush(self, refresh_version_stats: bool = True) -> None:
        """Send what the bulk context has queued (no-op without one)."""
        if self._bulk is not None:
            self._bulk.flush()

    def commit_version(self, message: str | None = None, **_ignored: Any) -> dict[str, Any]:
        """Commit the draft: refresh stats from the diff with the last commit.

        Costs what changed since the last commit, not the version's size.

        Args:
            message: recorded with the commit (shown by :meth:`log`); default ``"commit"``.

        Returns:
            ``{version, dataset, parent, total, saved_and_updated, merged, deleted,
            failed, errors}``.
        """
        counts = {"added": 0, "modified": 0, "deleted": 0}
        state = self._write(self._commit_change(counts), message or "commit")
        return {
            "version": state.version_id,
            "dataset": state.dataset_id,
            "parent": state.parent,
            "total": self._store.repo.layers.count(state.tree),
            "saved_and_updated": counts["added"] + counts["modified"],
            "merged": 0,
            "deleted": counts["deleted"],
            "failed": 0,
            "errors": [],
        }

    def _commit_change(
        self, counts: dict[str, int]
    ) -> Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]]]:
        """The version change that commits the draft (``counts`` gets what changed)."""

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
            repo = self._store.repo
            counts.update(added=0, modified=0, deleted=0)
            known = state.meta.get("since_commit")
            if known and known[0] == state.committed_tree and known[1] == state.tree:
                counts.update(added=known[2], modified=known[3], deleted=known[4])
            else:
                for _key, old, new in repo.tree_diff(state.committed_tree, state.tree):
                    kind = "added" if old is None else "deleted" if new is None else "modified"
                    counts[kind] += 1
            stats = state.meta["stats"]
            since = state.meta.get("stats_tree", state.committed_tree)
            if since != state.tree:
                # Writes that did not keep the live stats (a merge, say): catch up by diff.
                scratch = {"added": 0, "modified": 0, "deleted": 0}
                stats = apply_changes(
                    stats, diff_states(repo, since, state.tree).record_pairs(scratch)
                )
            return state.tree, {
                "stats": stats,
                "stats_tree": state.tree,
                "committed_stats": stats,
                "status": COMMITTED,
                "committed": time.time(),
                "committed_tree": state.tree,
            }

        return change

    def _publish(self, updates: dict[str, Any]) -> None:
        state = self._refresh()
        if state.status == PUBLISHED:
            if not self._store.registry.is_frozen(state):
                # A publish stopped (a crash, a lost reply) between its log entry and its
                # write-once ref: this call finishes it.
                self._store.registry.freeze(state)
                return
            raise ReadOnlyError(
                f"version {state.name!r} is already published; to change it, open a draft "
                f"child: DatasetVersion.create_version(name, parent_version_ids="
                f"[{state.version_id!r}])"
            )
        self.commit_version()

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
            return state.tree, {**updates, "status": PUBLISHED, "published": time.time()}

        state = self._write(change, "publish")
        self._store.registry.freeze(state)

    def publish_version(self) -> bool:
        """Publish the version: from now on its content never changes.

        Calling it again after a call that failed midway (a crash, a lost reply) finishes
        that publish.

        Returns:
            True.

        Raises:
            ReadOnlyError: it is already published.
        """
        self._publish({})
        return True

    def _set_meta(self, **updates: Any) -> bool:
        if self._refresh().status == PUBLISHED:
            return False
        self._write(lambda state, batch: (state.tree, updates), "update version")
        return True

    def set_metadata(self, metadata: dict[str, Any]) -> bool:
        """Replace the version's user metadata; False if the version is published."""
        return self._set_meta(metadata=lookup.check_metadata(metadata))

    def set_version_name(self, name: str) -> bool:
        """Rename the version; False if it is published."""
        from vstore.datasets.registry import check_name

        return self._set_meta(name=check_name(name, "version"))

    def set_masks_labels(self, mask_value_label_mapping: dict[Any, Sequence[str]]) -> bool:
        """Map mask pixel values (``(r, g, b)`` or an int) to labels, for every mask."""
        entries = []
        if not isinstance(mask_value_label_mapping, dict):
            raise InvalidArgumentError("mask_value_label_mapping must be a dict {value: [labels]}")
        for value, labels in mask_value_label_mapping.items():
            vals = [value] if isinstance(value, int) else list(value)
            if not vals or not all(isinstance(x, int) and 0 <= x <= 255 for x in vals):
                raise InvalidArgumentError(f"mask value {value!r} must be 0..255 ints (r, g, b)")
            labs = [labels] if isinstance(labels, str) else list(labels)
            if not all(isinstance(x, str) for x in labs):
                raise InvalidArgumentError(f"labels of mask value {value!r} must be str")
            entries.append({"value": vals, "labels": labs})
        meta = self.get_metadata()
        meta["mask_labels"] = {"_all_": entries}
        return self._set_meta(metadata=meta)

    # -- beyond the seed ----------------------------------------------------------------------

    def diff(self, other: DatasetVersion) -> FrameDiff:
        """Frames added, modified and deleted from ``other`` to this version.

        Costs what changed: equal subtrees of the two versions are skipped unread.
        """
        return diff_states(self._store.repo, other._refresh().tree, self._refresh().tree)

    def merge(
        self, other: DatasetVersion, strategy: str | Callable[..., Any] = "fail"
    ) -> MergeReport:
        """Three-way merge of ``other``'s changes (since the common ancestor) into this draft.

        Args:
            other: the version whose changes to bring in.
            strategy: for frames changed on both sides: ``"fail"`` (raise, write
                nothing), ``"ours"``, ``"theirs"``, ``"report"`` (keep ours, list
                them) or ``fn(frame_id, base, ours, theirs) -> record | None``.

        Raises:
            MergeConflictError: conflicts with ``strategy="fail"``.
            ReadOnlyError: this version is published.
        """
        return merge_into(self, other, strategy)

    def log(self) -> list[dict[str, Any]]:
        """The ancestry of this version, newest first: one entry per version state."""
        out = []
        for c in self._store.repo.log(self._refresh().commit.id):
            out.append(
                {
                    "commit_id": c.id.hex(),
                    "version_id": c.meta.get("version"),
                    "version_name": c.meta.get("name"),
                    "status": c.meta.get("status"),
                    "time": _dt.datetime.fromtimestamp(c.time),
                    "message": c.message,
                }
            )
        return out


def _file_uris(record: dict[str, Any]) -> list[str]:
    """The URIs of the files a frame record names: sources, previews and masks."""
    out: list[Any] = []
    for src in record.get("sources") or ():
        out.append(src.get("uri"))
        out.append((src.get("preview") or {}).get("uri"))
        out += [m.get("uri") for m in (src.get("masks") or ()) if isinstance(m, dict)]
    return [u for u in out if isinstance(u, str) and u]


def _frame_list(frames: Iterable[Frame]) -> Iterable[Frame]:
    """``frames`` itself, refused if it is one frame or a string instead of a collection."""
    if isinstance(frames, (SingleFrame, FrameGroup, str, bytes)):
        raise InvalidArgumentError("frames must be a list of SingleFrame or FrameGroup")
    return frames


def _encoded(
    items: list[tuple[Frame, dict[str, Any]]], failed: list[dict[str, Any]]
) -> list[tuple[str, bytes, bytes]]:
    """Each record's id, canonical bytes and packed stats contribution, in order.

    A record that cannot be stored (over the record size limit, or a value canonical
    msgpack cannot hold) is reported in ``failed`` and left out: the others are written.
    """
    out = []
    for frame, record in items:
        try:
            data = encode_record(record)
        except ObjectTooLargeError as exc:
            failed.append({"frame": frame, "error": str(exc), "error_type": "register"})
            continue
        except InvalidArgumentError as exc:
            failed.append({"frame": frame, "error": str(exc), "error_type": "validation"})
            continue
        out.append((record["id"], data, packed_contribution(record)))
    return out


def _batches(
    items: list[tuple[str, bytes, bytes]], size: int, max_bytes: int | None
) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """Split encoded frames into write batches of at most ``size`` frames and, when
    given, ``max_bytes`` of record data; a frame larger than that is written alone."""
    batch: list[tuple[str, bytes, bytes]] = []
    used = 0
    for item in items:
        n = len(item[1])
        if batch and (len(batch) >= size or (max_bytes is not None and used + n > max_bytes)):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += n
    if batch:
        yield batch


def _converter(projection: Sequence[str] | None) -> Callable[[bytes], Any]:
    if projection is None:
        return frame_from_bytes
    paths = list(projection)
    compile_projection(paths)  # a bad path fails here, before any frame is read
    fast = compile_fast(paths)

    def slow(raw: bytes) -> dict[str, Any]:
        # A freshly decoded record is ours alone: project it without copying.
        return project(decode_record(raw, validate=False), paths, copy=False)

    if fast is None:
        return slow

    def convert(raw: bytes) -> dict[str, Any]:
        try:
            return fast(raw)  # decodes only the projected fields
        except msgspec.ValidationError:
            return slow(raw)  # a record whose shape the fast types do not fit

    return convert
