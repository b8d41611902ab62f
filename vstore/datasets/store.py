"""The Store: one open vstore (a registry of datasets over an engine repository)."""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vstore.datasets.registry import DatasetInfo, Registry
from vstore.engine import GcReport, Repository, VerifyReport, open_repository

if TYPE_CHECKING:
    from vstore.picsellia.datalake import Datalake
    from vstore.picsellia.dataset import Dataset
    from vstore.picsellia.enums import TagTarget
    from vstore.picsellia.tags import Tag

__all__ = ["DEFAULT_PATH", "Store", "default_store", "open", "set_default_store"]

DEFAULT_PATH = ".vstore"
ENV_URL = "VSTORE_URL"


class Store:
    """An open store: datasets, versions and frames over one backend.

    Use :func:`vstore.open` to get one. A store is safe to share between threads.

    Args:
        repo: the engine repository.
    """

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.registry = Registry(repo)
        self.url = repo.backend.url

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset, oldest first."""
        return self.registry.datasets()

    # -- the Picsellia surface ---------------------------------------------------------

    def create_dataset(self, name: str, description: str = "") -> Dataset:
        """Create a dataset without versions (Picsellia surface).

        Raises:
            AlreadyExistsError: a dataset of that name exists.
        """
        from vstore.picsellia.dataset import create_dataset

        return create_dataset(self, name, description)

    def get_dataset(self, name: str) -> Dataset:
        """A dataset by name (Picsellia surface).

        Raises:
            NotFoundError: no such dataset.
        """
        from vstore.picsellia.dataset import get_dataset

        return get_dataset(self, name)

    def list_datasets(self) -> list[Dataset]:
        """Every dataset, oldest first (Picsellia surface)."""
        from vstore.picsellia.dataset import list_datasets

        return list_datasets(self)

    def get_datalake(self) -> Datalake:
        """The store's datalake: uploaded files, content-addressed, with data tags."""
        from vstore.picsellia.dataset import get_datalake

        return get_datalake(self)

    def create_tag(self, name: str, target: TagTarget | str) -> Tag:
        """Create a store-wide tag for objects of ``target`` (e.g. ``TagTarget.DATA``).

        Raises:
            AlreadyExistsError: a tag with this name and target exists.
            WrongTypeError: ``target`` is not a TagTarget.
        """
        from vstore.picsellia.dataset import create_tag

        return create_tag(self, name, target)

    def verify(self) -> VerifyReport:
        """Re-hash everything every ref reaches; report missing, corrupt and dangling objects."""
        return self.repo.verify()

    def gc(self, grace: float = 86400.0, dry_run: bool = False) -> GcReport:
        """Delete objects no version reaches that are older than ``grace`` seconds."""
        return self.repo.gc(grace=grace, dry_run=dry_run)

    def close(self) -> None:
        """Close the store's backend handles."""
        global _default
        with _lock:
            if _default is self:
                _default = None
        self.repo.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def open(
    url: str | os.PathLike[str] | None = None,
    storage_options: dict[str, Any] | None = None,
    *,
    single_writer: bool = False,
    packs: bool | None = None,
    cache: bool | None = None,
    cache_dir: str | None = None,
    cache_size: int | None = None,
) -> Store:
    """Open (creating if needed) the store at ``url``.

    Args:
        url: a local path (an embedded LMDB store) or an fsspec URL (``file://``,
            ``memory://``, ``s3://``, ``gs://``, ``az://``). Default: ``$VSTORE_URL``,
            else ``./.vstore``.
        storage_options: passed to fsspec untouched (credentials, endpoints).
        single_writer: accept a filesystem without atomic creates (one writer only).
        packs: write objects in packs (default: on for remote stores).
        cache: keep fetched objects in the local cache (default: on for remote stores).
        cache_dir: the cache directory (default ``$VSTORE_CACHE_DIR``, else
            ``$XDG_CACHE_HOME/vstore``, else ``~/.cache/vstore``).
        cache_size: the cache bound in bytes (default ``$VSTORE_CACHE_SIZE``, else 2 GiB).

    Returns:
        The store; use it as a context manager to close it.
    """
    target = os.fspath(url) if url is not None else os.environ.get(ENV_URL) or DEFAULT_PATH
    return Store(open_repository(
        target, storage_options, single_writer=single_writer, packs=packs, cache=cache,
        cache_dir=cache_dir, cache_size=cache_size,
    ))


_default: Store | None = None
_lock = threading.Lock()


def set_default_store(store: Store | None) -> None:
    """Make ``store`` the one used when a call gets no ``store=``."""
    global _default
    with _lock:
        _default = store


def default_store() -> Store:
    """The default store: the one set, else ``$VSTORE_URL``, else ``./.vstore`` (opened once)."""
    global _default
    with _lock:
        if _default is None:
            _default = open()
        return _default
