"""The Store: one open vstore (a registry of datasets over an engine repository)."""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import Any

from vstore.datasets.registry import DatasetInfo, Registry
from vstore.engine import GcReport, Repository, VerifyReport, open_repository

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
) -> Store:
    """Open (creating if needed) the store at ``url``.

    Args:
        url: a local path (an embedded LMDB store) or an fsspec URL (``file://``,
            ``memory://``, ``s3://``, ``gs://``, ``az://``). Default: ``$VSTORE_URL``,
            else ``./.vstore``.
        storage_options: passed to fsspec untouched (credentials, endpoints).
        single_writer: accept a filesystem without atomic creates (one writer only).

    Returns:
        The store; use it as a context manager to close it.
    """
    target = os.fspath(url) if url is not None else os.environ.get(ENV_URL) or DEFAULT_PATH
    return Store(open_repository(target, storage_options, single_writer=single_writer))


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
