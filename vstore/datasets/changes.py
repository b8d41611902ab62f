"""Diffs and merges of versions, at a cost that follows what changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from vstore.engine import CONFLICT, Repository, WriteBatch
from vstore.errors import InvalidArgumentError, MergeConflictError
from vstore.model import decode_record, encode_record

if TYPE_CHECKING:
    from vstore.datasets.registry import VersionState
    from vstore.datasets.version import DatasetVersion

__all__ = ["FrameChange", "FrameDiff", "MergeReport", "diff_states", "merge_into"]


class FrameChange(NamedTuple):
    """One frame that differs: ``kind`` is ``added``, ``modified`` or ``deleted``."""

    frame_id: str
    kind: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def _labels(record: dict[str, Any] | None) -> Counter[str]:
    c: Counter[str] = Counter()
    for roi in (record or {}).get("rois") or ():
        c.update(roi.get("label") or ())
    return c


class FrameDiff:
    """The frames that differ between two versions (computed once, on first use).

    Iterate it for :class:`FrameChange` items in frame-id order; ``added``,
    ``modified`` and ``deleted`` list ids; ``counts`` and ``labels`` summarise.
    """

    def __init__(self, repo: Repository, old_root: bytes, new_root: bytes) -> None:
        self._repo = repo
        self.old_root = old_root
        self.new_root = new_root
        self._changes: list[FrameChange] | None = None

    def _raw(self) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
        return self._repo.diff(self.old_root, self.new_root)

    @property
    def changes(self) -> list[FrameChange]:
        if self._changes is None:
            out = []
            for key, old, new in self._raw():
                o = None if old is None else decode_record(old, validate=False)
                n = None if new is None else decode_record(new, validate=False)
                kind = "added" if o is None else "deleted" if n is None else "modified"
                out.append(FrameChange(key.decode(), kind, o, n))
            self._changes = out
        return self._changes

    def __iter__(self) -> Iterator[FrameChange]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return self.old_root != self.new_root

    def _ids(self, kind: str) -> list[str]:
        return [c.frame_id for c in self.changes if c.kind == kind]

    @property
    def added(self) -> list[str]:
        """Ids of frames only in the newer version."""
        return self._ids("added")

    @property
    def modified(self) -> list[str]:
        """Ids of frames in both, with different content."""
        return self._ids("modified")

    @property
    def deleted(self) -> list[str]:
        """Ids of frames only in the older version."""
        return self._ids("deleted")

    @property
    def counts(self) -> dict[str, int]:
        """``{"added": n, "modified": n, "deleted": n}``."""
        c = Counter(ch.kind for ch in self.changes)
        return {k: c.get(k, 0) for k in ("added", "modified", "deleted")}

    @property
    def labels(self) -> dict[str, dict[str, int]]:
        """Per label, how many annotations were ``added`` and ``removed``."""
        out: dict[str, dict[str, int]] = {}
        for ch in self.changes:
            before, after = _labels(ch.old), _labels(ch.new)
            for label in before.keys() | after.keys():
                delta = after[label] - before[label]
                if delta:
                    row = out.setdefault(label, {"added": 0, "removed": 0})
                    row["added" if delta > 0 else "removed"] += abs(delta)
        return dict(sorted(out.items()))

    def record_pairs(
        self, counts: dict[str, int]
    ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """Stream ``(old, new)`` records without keeping them, counting kinds in ``counts``."""
        for _key, old, new in self._raw():
            kind = "added" if old is None else "deleted" if new is None else "modified"
            counts[kind] += 1
            yield (
                None if old is None else decode_record(old, validate=False),
                None if new is None else decode_record(new, validate=False),
            )

    def __repr__(self) -> str:
        c = self.counts
        return f"FrameDiff(+{c['added']} ~{c['modified']} -{c['deleted']})"


def diff_states(repo: Repository, old_root: bytes, new_root: bytes) -> FrameDiff:
    """The diff from tree ``old_root`` to tree ``new_root``."""
    return FrameDiff(repo, old_root, new_root)


@dataclass
class MergeReport:
    """What :meth:`DatasetVersion.merge` did.

    Attributes:
        applied: frames brought in from the other version.
        conflicts: ids of frames changed on both sides and left as ours.
        base_commit: hex id of the common ancestor the merge started from.
    """

    applied: int = 0
    conflicts: list[str] = field(default_factory=list)
    base_commit: str = ""


def _merge_base(repo: Repository, ours: bytes, theirs: bytes) -> bytes:
    theirs_ancestry = {c.id: c for c in repo.log(theirs)}
    for c in repo.log(ours):
        if c.id in theirs_ancestry:
            return c.id
    raise InvalidArgumentError(
        "the two versions share no ancestor: merge needs versions of one lineage"
    )


def _collision(strategy: str | Callable[..., Any]) -> Callable[..., Any] | None:
    if strategy == "fail":
        return None
    if strategy == "ours":
        return lambda key, base, ours, theirs: ours
    if strategy == "theirs":
        return lambda key, base, ours, theirs: theirs
    if strategy == "report":
        return lambda key, base, ours, theirs: CONFLICT
    if callable(strategy):
        fn = strategy

        def call(key: bytes, base: Any, ours: Any, theirs: Any) -> Any:
            recs = [
                None if v is None else decode_record(v, validate=False)
                for v in (base, ours, theirs)
            ]
            result = fn(key.decode(), *recs)
            return None if result is None else encode_record(result)

        return call
    raise InvalidArgumentError(
        f"strategy must be 'fail', 'ours', 'theirs', 'report' or a function, not {strategy!r}"
    )


def merge_into(
    version: DatasetVersion, other: DatasetVersion, strategy: str | Callable[..., Any]
) -> MergeReport:
    """Merge ``other``'s changes since the common ancestor into ``version`` (a draft)."""
    repo = version.store.repo
    on_collision = _collision(strategy)
    theirs = other._refresh()
    report = MergeReport()

    def change(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]] | None:
        base_id = _merge_base(repo, state.commit.id, theirs.commit.id)
        base_tree = repo.read_commit(base_id).tree
        try:
            result = repo.merge(base_tree, state.tree, theirs.tree, on_collision, batch)
        except MergeConflictError as exc:
            raise MergeConflictError(exc.keys) from None
        report.applied = result.applied
        report.conflicts = [k.decode() for k in result.conflicts]
        report.base_commit = base_id.hex()
        return None if result.root == state.tree else (result.root, {})

    version._write(change, f"merge {other.version_name}")
    return report
