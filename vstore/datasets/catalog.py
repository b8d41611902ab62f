"""The DatasetVersion class methods: finding and creating datasets, versions and frames.

They live in a mixin so that the version module holds what one version does;
:class:`vstore.datasets.version.DatasetVersion` is the only class that uses it.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from vstore.datasets import lookup
from vstore.datasets.registry import (
    PUBLISHED,
    SNAPSHOT,
    DatasetInfo,
    VersionState,
    new_id,
    snapshot_intent,
)
from vstore.datasets.store import Store
from vstore.engine import WriteBatch
from vstore.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    ReadOnlyError,
    UsageError,
)
from vstore.model import FrameGroup, SingleFrame

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = ["Catalog"]

Frame = SingleFrame | FrameGroup

log = logging.getLogger("vstore.datasets")


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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _already_published(state: VersionState, child: VersionState | None) -> ReadOnlyError:
    """The error for a snapshot of a version that is already published."""
    if child is not None:
        return ReadOnlyError(
            f"version {state.name!r} ({state.version_id}) is already published by a snapshot; "
            f"its draft child is {child.name!r}: DatasetVersion.get_version(version_id="
            f"{child.version_id!r}, ...)"
        )
    return ReadOnlyError(
        f"version {state.name!r} ({state.version_id}) is already published; to change it, "
        f"open a draft child: DatasetVersion.create_version(name, parent_version_ids="
        f"[{state.version_id!r}])"
    )


def _check_tags(tags: Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise InvalidArgumentError("tags must be a list of str")
    return list(tags)


class Catalog:
    """Class methods of DatasetVersion (mixed in; ``cls`` is always DatasetVersion)."""

    @staticmethod
    def _wrap(store: Store, info: DatasetInfo, state: VersionState) -> DatasetVersion:
        from vstore.datasets.version import DatasetVersion

        return DatasetVersion(store, info, state)

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
            return cls._wrap(s, got, lookup.current_state(s.registry, got))
        state = s.registry.create_version(got.id, "Current", None)
        return cls._wrap(s, got, state)

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
        nonempty = [st for st in states if s.repo.layers.count(st.tree)]
        if nonempty and not delete_all_versions:
            raise UsageError(
                f"dataset {info.name!r} has versions with frames: pass delete_all_versions=True "
                "to delete it"
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
        return cls._wrap(s, info, lookup.current_state(s.registry, info))

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
        """Return a version by id or name; without either, the current version (a
        warning is logged when the dataset has several, unless ``raise_on_multiple``
        makes that an error)."""
        s = lookup.resolve_store(store)
        info = lookup.resolve_dataset(s.registry, dataset_id, dataset_name)
        state = lookup.resolve_version(
            s.registry, info, version_id, version_name, raise_on_multiple=raise_on_multiple
        )
        if version_id is None and version_name is None:
            count = len(s.registry.version_ids(info.id))
            if count > 1:
                log.warning(
                    "dataset %r has %d versions: using the current one, %r (%s); give "
                    "version_id or version_name to choose", info.name, count, state.name,
                    state.version_id,
                )
        return cls._wrap(s, info, state)

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
        return [cls._wrap(s, info, st) for st in states]

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
            return cls._wrap(s, info, existing[0])
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
        return cls._wrap(s, info, state)

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

        One log entry is the commit point: it commits and publishes the draft and
        records the child to open (chosen beforehand). The child and the version's
        write-once ref follow; if a crash stops the snapshot between them, the next
        listing of the dataset's versions (or this call, retried) finishes it with
        the same child, so a snapshot is either not there or whole.

        Returns:
            The new draft child.

        Raises:
            ReadOnlyError: the version is already published (by a snapshot: the error
                names its child).
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
        if state.status == PUBLISHED:
            raise _already_published(state, s.registry.snapshot_child(state))
        pub_meta = lookup.check_metadata(publish_metadata, "publish_metadata")
        child_meta = lookup.check_metadata(child_metadata, "child_metadata")
        stamp = _now_iso()
        intent = snapshot_intent(child_name or state.name, child_comment or "", child_meta)
        updates: dict[str, Any] = {
            "name": publish_name or f"snapshot {stamp}",
            "comment": publish_comment or f"published at {stamp} by {_user()}",
            SNAPSHOT: intent,
        }
        if publish_metadata is not None:
            updates["metadata"] = pub_meta
        commit = cls._wrap(s, info, state)._commit_change({"added": 0, "modified": 0,
                                                           "deleted": 0})

        def publish(st: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]]:
            tree, committed = commit(st, batch)
            return tree, {**committed, **updates, "status": PUBLISHED, "published": time.time()}

        published = s.registry.write_version(info.id, state.version_id, publish,
                                             message="publish")
        s.registry.freeze(published)  # opens the child, then writes the write-once ref
        child = s.registry.version(info.id, intent["child"])
        if child is None:
            raise NotFoundError(
                f"the child {intent['child']} of snapshot {state.version_id} was removed while "
                "it was being opened"
            )
        return cls._wrap(s, info, child)

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
        cls: Any,
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
