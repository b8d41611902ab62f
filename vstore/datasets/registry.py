"""Datasets and versions as refs and commits of the engine.

Layout of the refs::

    dsnames/<hex of name>          log; meta {"dataset": id, "deleted": bool}: name -> dataset
    datasets/<dataset id>          log; value = DOC object with the dataset's info (None: deleted)
    versions/<dataset id>/<vid>    log; value = the version's current commit (None: removed)
    published/<dataset id>/<vid>   write-once; the commit a version was published at

A version's commit holds the frames tree (keyed by frame id) and, in its
metadata, everything else about the version (name, status, parent, stats...).
Every change to a version is one new commit appended to its log with a
compare-and-swap on the head, so concurrent writers never lose each other's work;
a writer that keeps losing takes a turn (decision 0009).

A snapshot publishes a version with the intent to open its child (``meta["snapshot"]``:
the child's id, name, comment and metadata, chosen before publishing): that one log
entry is the commit point. The child's first commit is a pure function of the published
commit and the intent, so whoever finishes it (the snapshot itself, a retry, any
listing of the versions) writes the same one, once (decision 0010).

Each entry of a version's log carries the version's status in its meta, so a writer can
tell a published version without reading the commit.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vstore.datasets.stats import empty_stats
from vstore.engine import Commit, Repository, WriteBatch
from vstore.engine.codec import ObjectKind, decode, encode
from vstore.engine.commits import write_commit
from vstore.engine.refs import RefEntry
from vstore.engine.tree import EMPTY_ROOT
from vstore.engine.turns import Turns, WriteReport
from vstore.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    CorruptObjectError,
    InvalidArgumentError,
    NotFoundError,
    ReadOnlyError,
)

__all__ = [
    "DRAFT", "PUBLISHED", "COMMITTED", "SNAPSHOT", "DatasetInfo", "Registry", "VersionState",
    "WriteReport",
]

DRAFT = "draft"
COMMITTED = "committed"
PUBLISHED = "published"
#: the meta key of a published version's snapshot intent (its child, chosen before publishing)
SNAPSHOT = "snapshot"
MAX_NAME = 256
_WRITE_TRIES = 64
#: seconds a version write keeps trying against concurrent writers before ConflictError
WRITE_PATIENCE = 600.0
_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """Return a new random id (32 hex characters)."""
    return uuid.uuid4().hex


def check_id(value: object, what: str) -> str:
    """Check an id given by a user (32 hex characters)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise NotFoundError(f"no {what} with id {value!r}")
    return value


def check_name(value: object, what: str) -> str:
    """Check a dataset or version name."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what} name must be a non-empty str, got {value!r}")
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(f"{what} name is longer than {MAX_NAME} characters")
    return value


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's description (not its versions)."""

    id: str
    name: str
    comment: str = ""
    project: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    last_update: float = 0.0

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "comment": self.comment,
            "project": self.project,
            "tags": list(self.tags),
            "metadata": self.metadata,
            "created": self.created,
            "last_update": self.last_update,
        }

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> DatasetInfo:
        return cls(
            d["id"],
            d["name"],
            d.get("comment") or "",
            d.get("project"),
            tuple(d.get("tags") or ()),
            dict(d.get("metadata") or {}),
            float(d["created"]),
            float(d.get("last_update") or d["created"]),
        )


@dataclass(frozen=True)
class VersionState:
    """One version as of one entry of its log."""

    dataset_id: str
    version_id: str
    seq: int
    commit: Commit

    @property
    def meta(self) -> dict[str, Any]:
        return self.commit.meta

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def status(self) -> str:
        return str(self.meta["status"])

    @property
    def parent(self) -> str | None:
        p = self.meta.get("parent")
        return None if p is None else str(p)

    @property
    def tree(self) -> bytes:
        return self.commit.tree

    @property
    def committed_tree(self) -> bytes:
        t = self.meta.get("committed_tree")
        return t if isinstance(t, bytes) else EMPTY_ROOT


def _version_meta(
    dataset_id: str, version_id: str, name: str, parent: str | None, now: float, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dataset": dataset_id,
        "version": version_id,
        "name": name,
        "status": DRAFT,
        "parent": parent,
        "comment": "",
        "metadata": {},
        "tags": [],
        "created": now,
        "updated": now,
        "committed": None,
        "published": None,
        "committed_tree": EMPTY_ROOT,
        "stats_tree": EMPTY_ROOT,
        "stats": empty_stats(),
        "committed_stats": empty_stats(),
    }
    meta.update(extra)
    return meta


def _links(meta: dict[str, Any], tree: bytes) -> tuple[bytes, ...]:
    """Trees the metadata names besides the version's own: gc must keep them."""
    named = (meta.get("committed_tree"), meta.get("stats_tree"))
    return tuple(sorted({t for t in named if isinstance(t, bytes) and t not in (tree, EMPTY_ROOT)}))


def snapshot_intent(name: str, comment: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot records in the version it publishes: the child it opens.

    Everything about the child is chosen here, before the publish; with the published
    commit it determines the child's first commit, so whoever finishes an interrupted
    snapshot opens the same child.
    """
    return {"child": new_id(), "name": check_name(name, "version"), "comment": comment,
            "metadata": metadata}


def _entry_meta(commit: Commit) -> dict[str, Any]:
    """What a version's log entry says besides the commit: its status, so that a writer
    can tell a published version from the entry alone (no commit read before a turn)."""
    return {"status": commit.meta.get("status")}


def _intent(state: VersionState) -> dict[str, Any] | None:
    """The snapshot intent of a published version, if it has a well-formed one."""
    intent = state.meta.get(SNAPSHOT) if state.status == PUBLISHED else None
    if not isinstance(intent, dict) or not isinstance(intent.get("child"), str):
        return None
    if not _ID_RE.match(intent["child"]) or not isinstance(intent.get("name"), str):
        return None
    return intent


class Registry:
    """Reads and writes datasets and versions in an engine repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.refs = repo.refs
        #: called with the :class:`WriteReport` of every version write (tests, diagnostics)
        self.observe_writes: Callable[[WriteReport], None] | None = None

    # -- datasets ------------------------------------------------------------------

    def _name_log(self, name: str) -> str:
        return "dsnames/" + name.encode().hex()

    def _owner(self, name: str) -> str | None:
        head = self.refs.head(self._name_log(check_name(name, "dataset")))
        if head is None or head.meta.get("deleted"):
            return None
        return str(head.meta["dataset"])

    def dataset_by_name(self, name: str) -> DatasetInfo | None:
        owner = self._owner(name)
        return None if owner is None else self.dataset_by_id(owner)

    def dataset_by_id(self, dataset_id: str) -> DatasetInfo | None:
        head = self.refs.head(f"datasets/{check_id(dataset_id, 'dataset')}")
        if head is None or head.value is None:
            return None
        try:
            return DatasetInfo.from_doc(decode(self.repo.objects.get(head.value, ObjectKind.DOC)))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptObjectError(head.value.hex(), f"not a dataset description: {exc}") from exc

    def datasets(self) -> list[DatasetInfo]:
        """Every live dataset, oldest first."""
        out = []
        for log in self.refs.logs("datasets"):
            info = self.dataset_by_id(log.split("/", 1)[1])
            # A writer that crashed between describing a dataset and claiming its name
            # leaves a description no name points to: it is not a dataset.
            if info is not None and self._owner(info.name) == info.id:
                out.append(info)
        return sorted(out, key=lambda d: (d.created, d.id))

    def create_dataset(self, info: DatasetInfo) -> tuple[DatasetInfo, bool]:
        """Create a dataset unless one has the name; return it and whether it is new."""
        log = self._name_log(check_name(info.name, "dataset"))
        while True:
            head = self.refs.head(log)
            if head is not None and not head.meta.get("deleted"):
                existing = self.dataset_by_name(info.name)
                if existing is not None:
                    return existing, False
            # The description first, so a claimed name never points to nothing.
            self._write_dataset(info, expect=0)
            got = self.refs.append(log, None, head.seq if head else 0, {"dataset": info.id})
            if got.ok:
                return info, True
            self.refs.append(f"datasets/{info.id}", None, 1)  # lost the name: retract

    def _write_dataset(self, info: DatasetInfo, expect: int) -> bool:
        oid = self.repo.objects.put(ObjectKind.DOC, encode(info.doc()))
        return self.refs.append(f"datasets/{info.id}", oid, expect).ok

    def update_dataset(self, dataset_id: str, fn: Callable[[DatasetInfo], DatasetInfo]) -> None:
        """Apply ``fn`` to a dataset's description, retrying if another writer wins."""
        for _ in range(_WRITE_TRIES):
            head = self.refs.head(f"datasets/{dataset_id}")
            info = self.dataset_by_id(dataset_id)
            if head is None or info is None:
                raise NotFoundError(f"no dataset with id {dataset_id!r}")
            if self._write_dataset(fn(info), head.seq):
                return
        raise ConflictError(f"dataset {dataset_id}: too many concurrent writers")

    def delete_dataset(self, info: DatasetInfo) -> None:
        """Remove a dataset from the registry (its versions' refs are tombstoned too)."""
        for vid in self.version_ids(info.id):
            state = self.version(info.id, vid)
            if state is not None:
                self.refs.append(f"versions/{info.id}/{vid}", None, state.seq)
        head = self.refs.head(f"datasets/{info.id}")
        if head is not None:
            self.refs.append(f"datasets/{info.id}", None, head.seq)
        log = self._name_log(info.name)
        name_head = self.refs.head(log)
        if name_head is not None:
            self.refs.append(log, None, name_head.seq, {"dataset": info.id, "deleted": True})

    # -- versions ------------------------------------------------------------------

    def version_ids(self, dataset_id: str) -> list[str]:
        return [n.rsplit("/", 1)[1] for n in self.refs.logs(f"versions/{dataset_id}")]

    def version(self, dataset_id: str, version_id: str) -> VersionState | None:
        """The current state of a version, or None if it does not exist (or was removed)."""
        head = self.refs.head(f"versions/{dataset_id}/{check_id(version_id, 'version')}")
        if head is None or head.value is None:
            return None
        return VersionState(dataset_id, version_id, head.seq, self.repo.read_commit(head.value))

    def versions(self, dataset_id: str) -> list[VersionState]:
        """Every live version of a dataset, a snapshot's child included even if the
        snapshot was interrupted before opening it (this call finishes it)."""
        ids = self.version_ids(dataset_id)
        states = {}
        for vid in ids:
            s = self.version(dataset_id, vid)
            if s is not None:
                states[vid] = s
        for s in list(states.values()):
            child = self._roll_forward(s, set(ids), states)
            if child is not None:
                states[child.version_id] = child
        return [states[vid] for vid in sorted(states)]

    def _roll_forward(
        self, state: VersionState, ids: set[str], states: dict[str, VersionState]
    ) -> VersionState | None:
        """Finish the snapshot ``state`` was published by, if a crash interrupted it.

        A snapshot is finished when its write-once ref exists (written last). That is
        read only when the child is missing from the listing, or is there but never
        written since it was opened: a listing of finished snapshots costs no read.
        """
        intent = _intent(state)
        if intent is None:
            return None
        cid = intent["child"]
        child = states.get(cid)
        if cid in ids and (child is None or child.seq > 1):
            return None  # opened, and removed or written since: finished long ago
        if self.is_frozen(state):
            # Finished, maybe by another process after ``ids`` was listed: its child is read
            # again (absent if it was removed since, or the version was copied here without it).
            return None if cid in ids else self.version(state.dataset_id, cid)
        try:
            self.freeze(state)
        except BackendError:
            return child  # a reader that cannot write still reads; the next one finishes it
        return self.version(state.dataset_id, cid)

    def _first_commit(
        self,
        dataset_id: str,
        vid: str,
        name: str,
        parent: VersionState | None,
        batch: WriteBatch,
        change: Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None]
        | None = None,
        when: float | None = None,
        **extra: Any,
    ) -> Commit:
        """The first commit of a new version (a pure function of its arguments and
        ``when``, which defaults to now)."""
        now = time.time() if when is None else when
        check_name(name, "version")
        parents: tuple[bytes, ...] = ()
        meta = _version_meta(dataset_id, vid, name, parent.version_id if parent else None, now)
        if parent is None:
            tree = EMPTY_ROOT
        else:
            tree, parents = parent.tree, (parent.commit.id,)
            committed = parent.meta.get("committed_stats") or parent.meta["stats"]
            meta.update(stats=committed, stats_tree=parent.tree, committed_stats=committed,
                        committed_tree=parent.tree)
        meta.update(extra)
        if change is not None:
            got = change(VersionState(dataset_id, vid, 0, Commit(tree, parents, meta=meta)), batch)
            if got is not None:
                tree = got[0]
                meta.update(got[1])
        return write_commit(batch, tree, parents, f"create version {name}", meta,
                            _links(meta, tree), when=now)

    def create_version(
        self,
        dataset_id: str,
        name: str,
        parent: VersionState | None,
        change: Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None]
        | None = None,
        **extra: Any,
    ) -> VersionState:
        """Create a draft version; a child starts from its parent's frames and stats.

        ``change(state, batch)``, as in :meth:`write_version`, edits the new version before
        it is created: its first commit holds the result, so it appears whole or not at all.
        """
        vid = new_id()
        batch = self.repo.batch()
        commit = self._first_commit(dataset_id, vid, name, parent, batch, change, **extra)
        batch.flush()
        if not self.refs.append(f"versions/{dataset_id}/{vid}", commit.id, 0,
                                _entry_meta(commit)).ok:
            raise AlreadyExistsError(f"version id {vid} exists")  # a 128-bit random clash
        return VersionState(dataset_id, vid, 1, commit)

    def write_version(
        self,
        dataset_id: str,
        version_id: str,
        change: Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None],
        *,
        message: str = "",
        allow_published: bool = False,
    ) -> VersionState:
        """Change a version with a compare-and-swap on its log, retrying on conflict.

        ``change(state, batch)`` returns the new tree and metadata updates from
        the current state (it is called again on the new head if another writer
        wins), or None to leave the version as it is. Writers take turns when one
        keeps losing (:mod:`vstore.engine.turns`).

        Raises:
            NotFoundError: the version does not exist.
            ReadOnlyError: the version is published.
            ConflictError: other writers kept winning for :data:`WRITE_PATIENCE` seconds.
        """
        turns = Turns(self.refs, f"versions/{dataset_id}/{check_id(version_id, 'version')}",
                      WRITE_PATIENCE)
        try:
            return self._write_rounds(turns, dataset_id, version_id, change, message,
                                      allow_published)
        except Exception:
            turns.release()
            raise
        finally:
            if self.observe_writes is not None:
                self.observe_writes(turns.finish())

    def _write_rounds(
        self,
        turns: Turns,
        dataset_id: str,
        version_id: str,
        change: Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None],
        message: str,
        allow_published: bool,
    ) -> VersionState:
        while not turns.expired():
            head = self._writable_head(turns.log, version_id, allow_published, turns.known)
            base = turns.ready(head)
            if base is None:
                continue
            # A turn repeats the entry it sits on. Reading the commit may mean fetching
            # another writer's pack index: it comes after taking a turn, not before.
            assert base.value is not None
            state = VersionState(dataset_id, version_id, base.seq,
                                 self.repo.read_commit(base.value))
            batch = self.repo.batch()
            result = change(state, batch)
            if result is None:
                turns.release()
                return state
            commit = self._next_commit(state, result, message, batch)
            if turns.moved(base):
                continue  # another writer got there while we computed: nothing uploaded
            batch.flush()
            got = self.refs.append(turns.log, commit.id, base.seq,
                                   {**turns.carry(base), **_entry_meta(commit)})
            turns.landed(got)
            if got.ok:
                return VersionState(dataset_id, version_id, got.entry.seq, commit)
        raise ConflictError(
            f"version {version_id}: gave up after {turns.patience:.0f} s and "
            f"{turns.report.attempts} attempts against concurrent writers; nothing was "
            "written, try again"
        )

    def _writable_head(
        self, log: str, version_id: str, allow_published: bool, known: int
    ) -> RefEntry:
        """The head of a version's log, if the version may be written.

        The entry says whether the version is published (its meta, since entries carry
        the status); an entry without it (an older writer's, a copy's) needs its commit.
        """
        head = self.refs.head(log, known)
        if head is None or head.value is None:
            dataset_id = log.split("/")[1]
            raise NotFoundError(f"version {version_id} of dataset {dataset_id} does not exist")
        status = head.meta.get("status")
        if status is None:
            status = self.repo.read_commit(head.value).meta.get("status")
        if status == PUBLISHED and not allow_published:
            name = self.repo.read_commit(head.value).meta.get("name")
            raise ReadOnlyError(
                f"version {name!r} ({version_id}) is published and cannot change; create a "
                "child version to edit it"
            )
        return head

    def _next_commit(
        self, state: VersionState, result: tuple[bytes, dict[str, Any]], message: str,
        batch: WriteBatch,
    ) -> Commit:
        tree, updates = result
        meta = dict(state.meta)
        meta.update(updates)
        meta["updated"] = time.time()
        return self.repo.commit(
            tree, state.commit.parents, message or state.commit.message, meta,
            _links(meta, tree), batch=batch,
        )

    def remove_version(self, state: VersionState) -> bool:
        """Tombstone a version's log; return False if it changed meanwhile."""
        return self.refs.append(
            f"versions/{state.dataset_id}/{state.version_id}", None, state.seq
        ).ok

    # -- publishing and snapshots ----------------------------------------------------

    def freeze(self, state: VersionState) -> None:
        """Finish a publish: record its commit in the version's write-once ref.

        A version published by a snapshot gets its child first: the write-once ref,
        written last, is what says the snapshot is finished.
        """
        if _intent(state) is not None:
            self._open_child(state)
        self.refs.create_frozen(f"published/{state.dataset_id}/{state.version_id}", state.commit.id)

    def _open_child(self, parent: VersionState) -> None:
        intent = _intent(parent)
        assert intent is not None
        batch = self.repo.batch()
        # The child's time comes from the published commit (just after it), not from a
        # clock: every finisher writes the same first commit.
        updated = parent.meta.get("updated")
        last = max(parent.commit.time, float(updated) if isinstance(updated, float) else 0.0)
        commit = self._first_commit(
            parent.dataset_id, intent["child"], intent["name"], parent, batch,
            when=math.nextafter(last, math.inf), comment=str(intent.get("comment") or ""),
            metadata=dict(intent.get("metadata") or {}),
        )
        batch.flush()
        # Entry 1 is created once: a second finisher (a retry, a reader) brings the same
        # commit and finds it there, or finds the child's later writes.
        self.refs.append(f"versions/{parent.dataset_id}/{intent['child']}", commit.id, 0,
                         _entry_meta(commit))

    def snapshot_child(self, state: VersionState) -> VersionState | None:
        """The child a snapshot opened when it published ``state`` (finishing the
        snapshot if a crash interrupted it), or None: not published by a snapshot, or
        the child was removed."""
        intent = _intent(state)
        if intent is None:
            return None
        if not self.is_frozen(state):
            self.freeze(state)
        return self.version(state.dataset_id, intent["child"])

    def is_frozen(self, state: VersionState) -> bool:
        """Whether the write-once ref of a published version exists."""
        return self.refs.frozen(f"published/{state.dataset_id}/{state.version_id}") is not None
