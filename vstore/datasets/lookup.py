"""Argument rules and name resolution shared by the DatasetVersion class methods."""

from __future__ import annotations

from typing import Any

from vstore.datasets.registry import PUBLISHED, DatasetInfo, Registry, VersionState
from vstore.datasets.store import Store, default_store
from vstore.errors import InvalidArgumentError, NotFoundError, UsageError

__all__ = [
    "check_metadata",
    "current_state",
    "resolve_dataset",
    "resolve_store",
    "resolve_version",
]


def resolve_store(store: Store | None) -> Store:
    """The store a call works on: the one given, else the default store."""
    if store is None:
        return default_store()
    if not isinstance(store, Store):
        raise InvalidArgumentError(f"store must be a vstore Store, not {type(store).__name__}")
    return store


def _exclusive(a: object, b: object, a_name: str, b_name: str) -> None:
    if a is not None and b is not None:
        raise UsageError(f"{a_name} and {b_name} are mutually exclusive: give one of them")


def resolve_dataset(
    registry: Registry, dataset_id: str | None, dataset_name: str | None
) -> DatasetInfo:
    """Find a dataset by id or by name (exactly one of them).

    Raises:
        UsageError: both or neither were given.
        NotFoundError: no such dataset.
    """
    _exclusive(dataset_id, dataset_name, "dataset_id", "dataset_name")
    if dataset_id is None and dataset_name is None:
        raise UsageError("give dataset_id or dataset_name")
    info = (
        registry.dataset_by_id(dataset_id)
        if dataset_id is not None
        else registry.dataset_by_name(dataset_name)  # type: ignore[arg-type]
    )
    if info is None:
        what = f"id {dataset_id!r}" if dataset_id is not None else f"name {dataset_name!r}"
        raise NotFoundError(f"no dataset with {what}; DatasetVersion.get_datasets() lists them")
    return info


def _depth(states: dict[str, VersionState], state: VersionState) -> int:
    depth, seen = 0, set()
    while state.parent is not None and state.parent in states and state.version_id not in seen:
        seen.add(state.version_id)
        state = states[state.parent]
        depth += 1
    return depth


def current_state(registry: Registry, info: DatasetInfo) -> VersionState:
    """The dataset's current version: the unpublished one furthest from the root.

    Falls back to the newest version when every version is published.
    """
    states = {s.version_id: s for s in registry.versions(info.id)}
    if not states:
        raise NotFoundError(f"dataset {info.name!r} has no versions")
    drafts = [s for s in states.values() if s.status != PUBLISHED]
    pool = drafts or list(states.values())
    return max(pool, key=lambda s: (_depth(states, s), s.meta["created"], s.version_id))


def resolve_version(
    registry: Registry,
    info: DatasetInfo,
    version_id: str | None,
    version_name: str | None,
    *,
    raise_on_multiple: bool = False,
) -> VersionState:
    """Find a version of ``info`` by id or name; neither gives the current version.

    Raises:
        UsageError: both were given, or the name matches several versions and
            ``raise_on_multiple`` is set.
        NotFoundError: no such version.
    """
    _exclusive(version_id, version_name, "version_id", "version_name")
    if version_id is not None:
        state = registry.version(info.id, version_id)
        if state is None:
            raise NotFoundError(f"dataset {info.name!r} has no version with id {version_id!r}")
        return state
    if version_name is None:
        if raise_on_multiple and len(registry.version_ids(info.id)) > 1:
            raise UsageError(f"dataset {info.name!r} has several versions: name one")
        return current_state(registry, info)
    matches = [s for s in registry.versions(info.id) if s.name == version_name]
    if not matches:
        raise NotFoundError(f"dataset {info.name!r} has no version named {version_name!r}")
    if len(matches) > 1 and raise_on_multiple:
        raise UsageError(
            f"dataset {info.name!r} has {len(matches)} versions named {version_name!r}"
        )
    return max(matches, key=lambda s: s.meta["updated"])


def check_metadata(value: Any, what: str = "metadata") -> dict[str, Any]:
    """Check user metadata: a dict whose keys (at any depth) are str without ``$`` or ``.``.

    Raises:
        InvalidArgumentError: not a dict, a bad key, or a value msgpack cannot hold.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what} must be a dict, not {type(value).__name__}")
    from vstore.model.validation import check_meta

    return check_meta(value, what)
