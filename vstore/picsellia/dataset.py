"""Dataset: the origin of dataset versions on the Picsellia surface; and the Store functions.

A Picsellia dataset is a registry dataset (the same one the Hyper-Datasets class methods
see); creating one makes no version. Its versions are ``vstore.DatasetVersion`` objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vstore.errors import AlreadyExistsError, NotFoundError, WrongTypeError
from vstore.picsellia import frames
from vstore.picsellia.enums import InferenceType, TagTarget
from vstore.picsellia.record import check_name

if TYPE_CHECKING:
    from vstore.datasets.registry import DatasetInfo, VersionState
    from vstore.datasets.store import Store
    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.datalake import Datalake
    from vstore.picsellia.tags import Tag

__all__ = ["Dataset", "create_dataset", "create_tag", "get_datalake", "get_dataset",
           "list_datasets"]

_ORDER = ("created_at", "version", "updated_at")


class Dataset:
    """A dataset: a name and its versions. Get one from ``store.create_dataset`` or
    ``store.get_dataset``."""

    tag_target = TagTarget.DATASET

    def __init__(self, store: Store, info: DatasetInfo) -> None:
        self._store = store
        self._info = info
        self.id = info.id
        self.name = info.name

    @property
    def description(self) -> str:
        """The dataset's description."""
        return self._info.comment

    def _wrap(self, state: VersionState) -> DatasetVersion:
        from vstore.datasets.version import DatasetVersion

        return DatasetVersion.get_version(dataset_id=self.id, version_id=state.version_id,
                                          store=self._store)

    def create_version(self, version: str, description: str = "",
                       type: InferenceType | str = InferenceType.NOT_CONFIGURED
                       ) -> DatasetVersion:
        """Create an empty version.

        Raises:
            AlreadyExistsError: the dataset has a version of that name.
            WrongTypeError: ``type`` is not an InferenceType.
        """
        check_name(version, "version name")
        if not isinstance(description, str):
            raise WrongTypeError(f"description must be a str, not {description.__class__.__name__}")
        kind = InferenceType.validate(type)
        registry = self._store.registry
        if any(s.name == version for s in registry.versions(self.id)):
            raise AlreadyExistsError(f"dataset {self.name!r} already has a version {version!r}")
        doc: dict[str, Any] = {frames.DOC_KEY: {"type": kind.value}}
        state = registry.create_version(self.id, version, None, comment=description, **doc)
        return self._wrap(state)

    def get_version(self, version: str) -> DatasetVersion:
        """A version by name.

        Raises:
            NotFoundError: no such version.
        """
        found = [s for s in self._store.registry.versions(self.id) if s.name == version]
        if not found:
            raise NotFoundError(f"dataset {self.name!r} has no version named {version!r}")
        return self._wrap(max(found, key=lambda s: s.meta["created"]))

    def get_version_by_id(self, id: str) -> DatasetVersion:
        """A version by id.

        Raises:
            NotFoundError: no such version.
        """
        from vstore.datasets.version import DatasetVersion

        return DatasetVersion.get_version(dataset_id=self.id, version_id=id, store=self._store)

    def list_versions(self, limit: int | None = None, offset: int | None = None,
                      order_by: Sequence[str] | None = None) -> list[DatasetVersion]:
        """The versions, oldest first (``order_by``: ``created_at``, ``version``,
        ``updated_at``, ``-`` for descending)."""
        from vstore.errors import InvalidArgumentError

        states = sorted(self._store.registry.versions(self.id),
                        key=lambda s: (s.meta["created"], s.version_id))
        for spec in reversed(list(order_by or [])):
            name = spec.lstrip("-")
            if name not in _ORDER:
                raise InvalidArgumentError(f"cannot order versions by {spec!r}; use {_ORDER}")
            field = {"created_at": "created", "updated_at": "updated"}.get(name)
            states.sort(key=_version_key(field), reverse=spec.startswith("-"))
        start = offset or 0
        states = states[start:None if limit is None else start + limit]
        return [self._wrap(s) for s in states]

    def delete(self) -> None:
        """Delete the dataset and every version of it."""
        from vstore.datasets.version import DatasetVersion

        DatasetVersion.delete_dataset(dataset_id=self.id, delete_all_versions=True, force=True,
                                      store=self._store)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, id={self.id})"


def _version_key(field: str | None) -> Callable[[VersionState], Any]:
    if field is None:
        return lambda s: s.name
    return lambda s: s.meta[field]


def create_dataset(store: Store, name: str, description: str = "") -> Dataset:
    """Create a dataset without versions.

    Raises:
        AlreadyExistsError: a dataset of that name exists.
    """
    from vstore.datasets.registry import DatasetInfo, new_id

    check_name(name, "dataset name")
    now = time.time()
    info, created = store.registry.create_dataset(
        DatasetInfo(new_id(), name, description or "", None, (), {}, now, now))
    if not created:
        raise AlreadyExistsError(f"dataset {name!r} already exists; get it with get_dataset")
    return Dataset(store, info)


def get_dataset(store: Store, name: str) -> Dataset:
    """A dataset by name.

    Raises:
        NotFoundError: no such dataset.
    """
    info = store.registry.dataset_by_name(check_name(name, "dataset name"))
    if info is None:
        raise NotFoundError(f"no dataset named {name!r}; list_datasets() lists them")
    return Dataset(store, info)


def list_datasets(store: Store) -> list[Dataset]:
    """Every dataset, oldest first."""
    return [Dataset(store, info) for info in store.registry.datasets()]


def get_datalake(store: Store) -> Datalake:
    """The store's datalake."""
    from vstore.picsellia.datalake import Datalake

    return Datalake(store)


def create_tag(store: Store, name: str, target: TagTarget | str) -> Tag:
    """Create a store-wide tag (see ``vstore.picsellia.datalake.create_tag``)."""
    from vstore.picsellia.datalake import create_tag as create

    return create(store, name, target)
