"""DatasetVersion: the Hyper-Datasets surface over the engine.

Class methods find or create datasets and versions; an instance is one
version, and every read pins the commit it read (``commit_id``).
"""

from __future__ import annotations

import datetime as _dt
import getpass
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from vstore.datasets import lookup
from vstore.datasets.bulk import (
    BulkContext,
    Op,
    check_threshold,
    frame_id_of,
    queue_op,
    resolve_ops,
)
from vstore.datasets.changes import FrameDiff, MergeReport, diff_states, merge_into
from vstore.datasets.registry import (
    COMMITTED,
    DRAFT,
    PUBLISHED,
    DatasetInfo,
    VersionState,
    new_id,
)
from vstore.datasets.stats import apply_changes, stats_lists
from vstore.datasets.store import Store
from vstore.engine import WriteBatch
from vstore.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    ReadOnlyError,
    UsageError,
)
from vstore.model import (
    FrameGroup,
    SingleFrame,
    compile_projection,
    decode_record,
    frame_key,
    frame_to_record,
    record_to_frame,
)
from vstore.model.projection import project

__all__ = ["DatasetVersion"]

Frame = SingleFrame | FrameGroup


class _hybrid:
    """A method that works on the class (with dataset/version arguments) and on an instance."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, cls: type) -> Callable[..., Any]:
        def bound(*args: Any, **kwargs: Any) -> Any:
            return self.fn(cls, obj, *args, **kwargs)

        bound.__doc__ = self.fn.__doc__
        return bound


def _now_iso() -> str:
    return _dt.datetime.now().isoformat(timespec="microseconds")


class DatasetVersion:
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

    # -- class methods: datasets ------------------------------------------------------

    @classmethod
    def create_new_dataset(
        cls,
        dataset_name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        raise_if_exists: bool = False,
        dataset_project: str | None = None,
        *,
        store: Store | None = None,
    ) -> DatasetVersion:
        """Create a dataset with one empty draft version named ``Current``.

        Returns:
            The ``Current`` version (the existing dataset's current version if it exists).

        Raises:
            AlreadyExistsError: the dataset exists and ``raise_if_exists`` is True.
        """
        s = lookup.resolve_store(store)
        if dataset_name is None:
            raise UsageError("create_new_dataset needs dataset_name")
        tag_list = _check_tags(tags)
        now = time.time()
        info = DatasetInfo(
            new_id(),
            dataset_name,
            description or "",
            dataset_project,
            tuple(tag_list),
            {},
            now,
            now,
        )
        got, created = s.registry.create_dataset(info)
        if not created:
            if raise_if_exists:
                raise AlreadyExistsError(f"dataset {dataset_name!r} already exists")
            return cls(s, got, lookup.current_state(s.registry, got))
        state = s.registry.create_version(got.id, "Current", None)
        return cls(s, got, state)

    @classmethod
    def get_datasets(
        cls,
        tags: Sequence[str | None] | str | None = None,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        *,
        store: Store | None = None,
    ) -> list[DatasetInfo]:
        """Return the datasets, oldest first, filtered by the tag-filter grammar.

        Args:
            tags: ``["a", "-b"]``, ``["__$all", "a", "__$not", "b"]``, ... (see docs).
            dataset_project: only datasets of this project.
            partial_name: a regular expression searched in the name.
        """
        import re

        from vstore.datasets.query import compile_tag_filter

        s = lookup.resolve_store(store)
        keep = compile_tag_filter(tags) if tags else None
        pattern = re.compile(partial_name) if partial_name else None
        return [
            d
            for d in s.registry.datasets()
            if (keep is None or keep(d.tags))
            and (dataset_project is None or d.project == dataset_project)
            and (pattern is None or pattern.search(d.name))
        ]

    @classmethod
    def delete_dataset(
        cls,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        delete_all_versions: bool = False,
        force: bool = False,
        *,
        store: Store | None = None,
    ) -> None:
        """Delete a dataset; versions need ``delete_all_versions``, published ones ``force``."""
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        states = s.registry.versions(info.id)
        nonempty = [st for st in states if st.meta.get("frames_total", 1)]
        if nonempty and not delete_all_versions:
            raise UsageError(
                f"dataset {info.name!r} has versions: pass delete_all_versions=True to delete it"
            )
        if any(st.status == PUBLISHED for st in states) and not force:
            raise ReadOnlyError(
                f"dataset {info.name!r} has published versions: pass force=True to delete it"
            )
        s.registry.delete_dataset(info)

    # -- class methods: versions --------------------------------------------------------

    @classmethod
    def get_current(
        cls,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> DatasetVersion:
        """Return the dataset's current (writable) version."""
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        return cls(s, info, lookup.current_state(s.registry, info))

    @classmethod
    def get_version(
        cls,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        version_id: str | None = None,
        version_name: str | None = None,
        raise_on_multiple: bool = False,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> DatasetVersion:
        """Return a version by id or name; without either, the current version."""
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        state = lookup.resolve_version(
            s.registry, info, version_id, version_name, raise_on_multiple=raise_on_multiple
        )
        return cls(s, info, state)

    @classmethod
    def get_versions(
        cls,
        dataset_name: str | None = None,
        dataset_id: str | None = None,
        only_published: bool = False,
        only_draft: bool = False,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> list[DatasetVersion]:
        """Return the dataset's versions, most recently updated first."""
        if only_published and only_draft:
            raise UsageError("only_published and only_draft are mutually exclusive")
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        states = s.registry.versions(info.id)
        if only_published:
            states = [st for st in states if st.status == PUBLISHED]
        if only_draft:
            states = [st for st in states if st.status != PUBLISHED]
        states.sort(key=lambda st: (st.meta["updated"], st.version_id), reverse=True)
        return [cls(s, info, st) for st in states]

    @classmethod
    def create_version(
        cls,
        version_name: str,
        description: str | None = None,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        parent_version_ids: Sequence[str] | None = None,
        parent_version_names: Sequence[str] | None = None,
        raise_if_exists: bool = False,
        metadata: dict[str, Any] | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> DatasetVersion:
        """Create a draft version; with a parent it starts with the parent's frames.

        Raises:
            ReadOnlyError: the parent is not published (children inherit frozen content).
            AlreadyExistsError: a version of that name exists and ``raise_if_exists``.
        """
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        if parent_version_ids is not None and parent_version_names is not None:
            raise UsageError("parent_version_ids and parent_version_names are mutually exclusive")
        existing = [st for st in s.registry.versions(info.id) if st.name == version_name]
        if existing:
            if raise_if_exists:
                raise AlreadyExistsError(
                    f"dataset {info.name!r} already has a version named {version_name!r}"
                )
            return cls(s, info, existing[0])
        parents = list(parent_version_ids or parent_version_names or [])
        if len(parents) > 1:
            raise UsageError("a version has at most one parent")
        parent = None
        if parents:
            by_id = parent_version_ids is not None
            parent = lookup.resolve_version(
                s.registry, info, parents[0] if by_id else None, None if by_id else parents[0]
            )
            if parent.status != PUBLISHED:
                raise ReadOnlyError(
                    f"parent version {parent.name!r} is a draft: publish it first "
                    "(children start from frozen content)"
                )
        meta = lookup.check_metadata(metadata)
        state = s.registry.create_version(
            info.id, version_name, parent, comment=description or "", metadata=meta
        )
        return cls(s, info, state)

    @classmethod
    def remove_version(
        cls,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        version_id: str | None = None,
        version_name: str | None = None,
        force: bool = False,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> None:
        """Remove a version; a published one only with ``force=True``.

        Raises:
            ReadOnlyError: the version is published and ``force`` is False.
            UsageError: the version has child versions.
        """
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        if version_id is None and version_name is None:
            raise UsageError("give version_id or version_name of the version to remove")
        state = lookup.resolve_version(s.registry, info, version_id, version_name)
        if state.status == PUBLISHED and not force:
            raise ReadOnlyError(
                f"version {state.name!r} is published: pass force=True to remove it"
            )
        children = [c.name for c in s.registry.versions(info.id) if c.parent == state.version_id]
        if children:
            raise UsageError(
                f"version {state.name!r} has child versions {children}: remove them first"
            )
        if not s.registry.remove_version(state):
            raise NotFoundError(f"version {state.name!r} changed while being removed; try again")

    @classmethod
    def create_snapshot(
        cls,
        version_name: str | None = None,
        version_id: str | None = None,
        dataset_name: str | None = None,
        dataset_id: str | None = None,
        publish_name: str | None = None,
        publish_comment: str | None = None,
        publish_metadata: dict[str, Any] | None = None,
        child_name: str | None = None,
        child_comment: str | None = None,
        child_metadata: dict[str, Any] | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> DatasetVersion:
        """Publish a draft in place and open a new draft child of it.

        The published version keeps its id; the child gets a new one and the
        parent's name unless ``child_name`` is given. Costs the same at any size.

        Returns:
            The new draft child.
        """
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        if version_id is None and version_name is None:
            drafts = [st for st in s.registry.versions(info.id) if st.status != PUBLISHED]
            if len(drafts) > 1:
                raise UsageError(
                    f"dataset {info.name!r} has {len(drafts)} draft versions: name the one to "
                    "snapshot with version_id or version_name"
                )
        state = lookup.resolve_version(s.registry, info, version_id, version_name)
        pub_meta = lookup.check_metadata(publish_metadata, "publish_metadata")
        child_meta = lookup.check_metadata(child_metadata, "child_metadata")
        stamp = _now_iso()
        snap = cls(s, info, state)
        original_name = state.name
        updates: dict[str, Any] = {"name": publish_name or f"snapshot {stamp}"}
        updates["comment"] = publish_comment or f"published at {stamp} by {_user()}"
        if publish_metadata is not None:
            updates["metadata"] = pub_meta
        snap._publish(updates)
        child = s.registry.create_version(
            info.id,
            child_name or original_name,
            snap._state,
            comment=child_comment or "",
            metadata=child_meta,
        )
        return cls(s, info, child)

    # -- class methods: frames ------------------------------------------------------------

    @classmethod
    def get_single_frame(
        cls,
        frame_id: str,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        version_id: str | None = None,
        version_name: str | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> Frame:
        """Return one frame of a version.

        Raises:
            NotFoundError: no frame with that id.
        """
        v = cls.get_version(dataset_id, dataset_name, version_id, version_name, store=store)
        return v._get_frame(frame_id)

    @classmethod
    def get_frames_by_source(
        cls,
        source_uri: str,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        version_id: str | None = None,
        version_name: str | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> list[Frame]:
        """Return the frames with a source URI matching ``source_uri``.

        ``'/folder/'`` matches everything under a folder; ``'s3://b/folder/*'``
        is a glob; a URI without wildcards matches exactly.
        """
        v = cls.get_version(dataset_id, dataset_name, version_id, version_name, store=store)
        return list(v._frames_by_source(source_uri))

    @_hybrid
    def get_frames_by_ids(
        cls: type[DatasetVersion],
        self: DatasetVersion | None,
        frame_ids: Iterable[str],
        projection: Sequence[str] | None = None,
        dataset_id: str | None = None,
        dataset_name: str | None = None,
        version_id: str | None = None,
        version_name: str | None = None,
        *,
        store: Store | None = None,
        **_ignored: Any,
    ) -> list[Any]:
        """Return the frames with the given ids (dicts when ``projection`` is given).

        Works on an instance, or on the class with dataset and version arguments.
        Ids that are not in the version are left out.
        """
        v = self
        if v is None:
            v = cls.get_version(dataset_id, dataset_name, version_id, version_name, store=store)
        return v._frames_by_ids(frame_ids, projection)

    # -- reads ------------------------------------------------------------------------------

    def _get_frame(self, frame_id: str) -> Frame:
        state = self._refresh()
        raw = self._store.repo.tree.get(state.tree, frame_key(frame_id))
        if raw is None:
            raise NotFoundError(
                f"version {state.name!r} of {self._dataset.name!r} has no frame {frame_id!r}"
            )
        return record_to_frame(decode_record(raw, validate=False), validate=False)

    def _frames_by_ids(
        self, frame_ids: Iterable[str], projection: Sequence[str] | None
    ) -> list[Any]:
        if isinstance(frame_ids, str):
            raise InvalidArgumentError("frame_ids must be a collection of ids, not one str")
        state = self._refresh()
        keys = [frame_key(fid) for fid in frame_ids]
        found = self._store.repo.tree.get_many(state.tree, keys)
        out = []
        conv = _converter(projection)
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
        for _k, raw in self._store.repo.tree.items(self._refresh().tree):
            record = decode_record(raw, validate=False)
            if any(match(src["uri"]) for src in record["sources"]):
                yield record_to_frame(record, validate=False)

    def get_iterator(self, projection: Sequence[str] | None = None) -> Iterator[Any]:
        """Iterate over every frame of the version, as it was when the call was made.

        Args:
            projection: dot paths (``meta.camera``, ``rois.*.label``, ``sources.0.uri``)
                to keep; given, the iterator yields dicts in the wire schema.
        """
        root = self._refresh().tree
        conv = _converter(projection)  # a bad projection fails here, not at the first next()
        return (conv(raw) for _k, raw in self._store.repo.tree.items(root))

    def __len__(self) -> int:
        return self._store.repo.tree.count(self._refresh().tree)

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
        self._state = self._store.registry.write_version(
            self._dataset.id, self._state.version_id, change, message=message
        )
        return self._state

    def _write_ops(self, ops: dict[bytes, Op]) -> None:
        tree = self._store.repo.tree

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]] | None:
            merges = [k for k, (kind, _) in ops.items() if kind == "merge"]
            stored = tree.get_many(state.tree, merges) if merges else {}
            edits, records = resolve_ops(ops, stored)
            changes: list[tuple[bytes, bytes | None, bytes | None]] = []
            root = tree.apply(state.tree, edits, batch, changes=changes)
            if root == state.tree:
                return None
            updates: dict[str, Any] = {"status": DRAFT} if state.status == COMMITTED else {}
            if state.meta.get("stats_tree") == state.tree:
                # Keep the live stats current from what this write changed: no re-read.
                pairs = (
                    (None if old is None else decode_record(old, validate=False),
                     None if new is None else records[key])
                    for key, old, new in changes
                )
                updates["stats"] = apply_changes(state.meta["stats"], pairs)
                updates["stats_tree"] = root
            return root, updates

        self._write(change, "write frames")

    def _records(
        self, frames: Iterable[Frame]
    ) -> tuple[list[tuple[Frame, dict[str, Any]]], list[dict[str, Any]]]:
        if isinstance(frames, (SingleFrame, FrameGroup, str, bytes)):
            raise InvalidArgumentError("frames must be a list of SingleFrame or FrameGroup")
        good, failed = [], []
        for frame in frames:
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
            max_request_size_mb: split batches so each holds at most this much record data.
            callback: called with ``(frames done, frames total)`` after each batch.

        Returns:
            The frames that failed, as ``{"frame", "error", "error_type"}`` dicts with
            ``error_type`` one of ``validation``, ``upload`` or ``register``.
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
        seen: set[bytes] = set()
        done = 0
        for batch in _batches(good, batch_size, limit, failed):
            ops: dict[bytes, Op] = {}
            for _frame, record in batch:
                key = frame_key(record["id"])
                if warn_on_duplicate_frames and key in seen:
                    warnings.warn(f"frame {record['id']} is added twice", stacklevel=2)
                seen.add(key)
                ops[key] = ("set", record)
            self._write_ops(ops)
            done += len(batch)
            if callback is not None:
                callback(done, len(good))
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
        from vstore.datasets.bulk import _drop_fields

        good, failed = self._records(frames)
        if failed:
            raise InvalidArgumentError(failed[0]["error"])
        ops: dict[bytes, Op] = {}
        for _frame, record in good:
            key = frame_key(record["id"])
            if without_fields is None:
                queue_op(ops, key, ("set", record))
            else:
                queue_op(ops, key, ("merge", [_drop_fields(record, without_fields)]))
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
        """Delete frames given as objects or ids (absent ids are ignored)."""
        if isinstance(frames, (str, SingleFrame, FrameGroup)):
            raise InvalidArgumentError("frames must be a list of frames or ids")
        ops: dict[bytes, Op] = {frame_key(frame_id_of(f)): ("del", None) for f in frames}
        if ops:
            self._write_ops(ops)
            if refresh_version_stats:
                self.commit_version()

    def get_bulk_context(
        self,
        flush_threshold: int | None = None,
        log: Any = None,
        refresh_version_stats: bool = True,
        auto_upload_destination: str | None = None,
        local_dataset_root_path: str | None = None,
        allow_update: bool = False,
    ) -> BulkContext:
        """Return this version's bulk context (the same object on every call).

        Raises:
            ReadOnlyError: the version is published.
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
                self, flush_threshold, log, refresh_version_stats, allow_update, upload
            )
        return self._bulk

    def flush(self, refresh_version_stats: bool = True) -> None:
        """Send what the bulk context has queued (no-op without one)."""
        if self._bulk is not None:
            self._bulk.flush()

    def commit_version(self, **_ignored: Any) -> dict[str, Any]:
        """Commit the draft: refresh stats from the diff with the last commit.

        Costs what changed since the last commit, not the version's size.

        Returns:
            ``{version, dataset, parent, total, saved_and_updated, merged, deleted,
            failed, errors}``.
        """
        counts = {"added": 0, "modified": 0, "deleted": 0}

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
            repo = self._store.repo
            counts.update(added=0, modified=0, deleted=0)
            for _key, old, new in repo.tree_diff(state.committed_tree, state.tree):
                counts["added" if old is None else "deleted" if new is None else "modified"] += 1
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

        state = self._write(change, "commit")
        return {
            "version": state.version_id,
            "dataset": state.dataset_id,
            "parent": state.parent,
            "total": self._store.repo.tree.count(state.tree),
            "saved_and_updated": counts["added"] + counts["modified"],
            "merged": 0,
            "deleted": counts["deleted"],
            "failed": 0,
            "errors": [],
        }

    def _publish(self, updates: dict[str, Any]) -> None:
        if self._refresh().status == PUBLISHED:
            raise ReadOnlyError(f"version {self._state.name!r} is already published")
        self.commit_version()

        def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
            return state.tree, {**updates, "status": PUBLISHED, "published": time.time()}

        state = self._write(change, "publish")
        self._store.registry.freeze(state)

    def publish_version(self) -> bool:
        """Publish the version: from now on its content never changes.

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


def _batches(
    items: list[tuple[Frame, dict[str, Any]]],
    size: int,
    max_bytes: int | None,
    failed: list[dict[str, Any]],
) -> Iterator[list[tuple[Frame, dict[str, Any]]]]:
    """Split frames into write batches by count and by encoded size.

    A frame larger than ``max_bytes`` on its own is reported in ``failed``.
    """
    from vstore.model import encode_record

    batch: list[tuple[Frame, dict[str, Any]]] = []
    used = 0
    for item in items:
        n = len(encode_record(item[1])) if max_bytes is not None else 0
        if max_bytes is not None and n > max_bytes:
            failed.append({"frame": item[0], "error_type": "register", "error": (
                f"frame {item[1]['id']} is {n} bytes, over max_request_size_mb"
            )})
            continue
        if batch and (len(batch) >= size or (max_bytes is not None and used + n > max_bytes)):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += n
    if batch:
        yield batch


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _check_tags(tags: Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise InvalidArgumentError("tags must be a list of str")
    return list(tags)


def _converter(projection: Sequence[str] | None) -> Callable[[bytes], Any]:
    if projection is None:
        return lambda raw: record_to_frame(decode_record(raw, validate=False), validate=False)
    paths = list(projection)
    compile_projection(paths)  # a bad path fails here, before any frame is read
    return lambda raw: project(decode_record(raw, validate=False), paths)
