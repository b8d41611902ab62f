"""Reading and writing frame records and version metadata through the public version API.

Everything the Picsellia surface stores goes through here: frame records through
``DatasetVersion.get_frames_by_ids`` / ``add_frames`` / ``delete_frames``, and the
version-level document (type, labels, asset tags, campaign) through the registry's
``write_version``, in the version's own commit metadata under :data:`DOC_KEY`. So both are
versioned with the version: a published version's labels never change, and a fork starts
from a copy.

A write of several records is one atomic update of the version, followed by a commit (so
the Hyper-Datasets stats stay current).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from vstore.errors import InvalidArgumentError, NotFoundError
from vstore.gcpause import paused_gc
from vstore.model import record_to_frame

if TYPE_CHECKING:
    from vstore.datasets.registry import VersionState
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "DOC_KEY",
    "FULL",
    "delete_records",
    "edit_records",
    "iter_records",
    "paused_gc",
    "read_doc",
    "read_record",
    "read_records",
    "state_of",
    "update_version",
    "write_records",
]

#: The commit metadata key of the Picsellia version document.
DOC_KEY = "picsellia"
#: A projection that reads whole records.
FULL = ["id", "sources", "rois", "meta", "context_id", "timestamp"]


def state_of(version: DatasetVersion) -> VersionState:
    """The version's current state (commit, tree root, metadata).

    Raises:
        NotFoundError: the version was deleted.
    """
    state = version.store.registry.version(version.dataset_id, version.version_id)
    if state is None:
        raise NotFoundError(f"dataset version {version.version_id} was deleted")
    return state


def read_doc(version: DatasetVersion) -> dict[str, Any]:
    """The version's Picsellia document (type, labels, asset tags, campaign); a copy."""
    doc = state_of(version).meta.get(DOC_KEY)
    return dict(doc) if isinstance(doc, dict) else {}


def update_version(
    version: DatasetVersion,
    change: Callable[[VersionState], dict[str, Any] | None],
    message: str = "update version",
) -> VersionState:
    """Change the version's commit metadata atomically (retried against concurrent writers).

    Args:
        version: the version.
        change: ``change(state) -> metadata updates`` (None: nothing to change). It may be
            called again on a newer state, so it must not have side effects.
        message: the commit message.

    Raises:
        ReadOnlyError: the version is published.
    """
    def step(state: VersionState, _batch: Any) -> tuple[bytes, dict[str, Any]] | None:
        updates = change(state)
        return None if updates is None else (state.tree, updates)

    return version.store.registry.write_version(
        version.dataset_id, version.version_id, step, message=message
    )


def iter_records(version: DatasetVersion, ids: Iterable[str], chunk: int = 2000
                 ) -> Iterator[dict[str, Any]]:
    """The records of the given ids that exist, read a chunk at a time, in the given order."""
    wanted = list(ids)
    for start in range(0, len(wanted), chunk):
        yield from version.get_frames_by_ids(wanted[start:start + chunk], projection=FULL)


def read_records(version: DatasetVersion, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The records of the given frame ids that exist, by id."""
    return {r["id"]: r for r in version.get_frames_by_ids(list(ids), projection=FULL)}


def read_record(version: DatasetVersion, asset_id: str) -> dict[str, Any]:
    """One record.

    Raises:
        NotFoundError: the version has no such asset.
    """
    found = read_records(version, [asset_id])
    if asset_id not in found:
        raise NotFoundError(
            f"dataset version {version.version_name!r} has no asset {asset_id!r} (deleted?)"
        )
    return found[asset_id]


def write_records(version: DatasetVersion, records: list[dict[str, Any]]) -> None:
    """Write records (overwriting frames with the same ids) in one atomic update.

    Raises:
        ReadOnlyError: the version is published.
        InvalidArgumentError: a record does not hold (nothing is written).
    """
    if not records:
        return
    frames = [record_to_frame(r) for r in records]
    failed = version.add_frames(frames, batch_size=len(frames))
    if failed:
        raise InvalidArgumentError(f"asset {failed[0]['frame']!r}: {failed[0]['error']}")


def delete_records(version: DatasetVersion, ids: Iterable[str]) -> None:
    """Delete frames by id in one atomic update (absent ids are ignored)."""
    wanted = list(dict.fromkeys(ids))
    if wanted:
        version.delete_frames(wanted)


def edit_records(
    version: DatasetVersion,
    ids: Iterable[str],
    edit: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> dict[str, dict[str, Any]]:
    """Apply ``edit`` to records and write those it changed, in one update.

    Args:
        version: the version.
        ids: the frame ids to edit.
        edit: ``edit(record) -> new record`` (None or the same record: unchanged). It may
            raise to refuse the edit; then nothing is written.

    Returns:
        The new record of every id (changed or not).

    Raises:
        NotFoundError: an id is not in the version (nothing is written).
    """
    wanted = list(dict.fromkeys(ids))
    with paused_gc():
        found = read_records(version, wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"dataset version {version.version_name!r} has no asset(s) "
                                f"{missing[:5]} (deleted?)")
        out: dict[str, dict[str, Any]] = {}
        changed = []
        for asset_id in wanted:
            old = found[asset_id]
            new = edit(old)
            if new is None or new == old:
                out[asset_id] = old
            else:
                out[asset_id] = new
                changed.append(new)
        write_records(version, changed)
    return out
