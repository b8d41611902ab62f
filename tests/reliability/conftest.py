"""Shared fixtures of the reliability tests: stores on LMDB, a local directory and S3 (moto).

``place`` is one kind of store at a time; a test makes as many stores on it as it
needs, copies a prepared one (cheaper than preparing it again for every kill point),
and opens them plainly or behind a :class:`~vstore.testing.faults.FaultyBackend`.
S3 runs on the moto server of ``tests/cloud/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.conftest import Cloud, s3_cloud
from vstore.datasets.store import Store
from vstore.engine import Repository, open_backend
from vstore.testing.faults import FaultyBackend

__all__ = ["KINDS", "Place", "local_place", "place", "s3_cloud"]

KINDS = ["lmdb", "file", "s3"]


@dataclass
class Place:
    """Where the stores of one test live: ``lmdb``, ``file`` or ``s3``.

    Attributes:
        kind: the backend kind.
        root: a local directory of the test (LMDB and ``file://`` stores go under it).
        cloud: the S3 emulator, for ``s3``.
    """

    kind: str
    root: Path
    cloud: Cloud | None = None
    _open: list[Store] = field(default_factory=list)

    @property
    def local(self) -> bool:
        """A store on this machine's disk (LMDB or a directory)."""
        return self.kind != "s3"

    def new_url(self) -> str:
        """The URL of a new, empty store."""
        name = uuid.uuid4().hex[:12]
        if self.kind == "lmdb":
            return str(self.root / f"lmdb-{name}")
        if self.kind == "file":
            return f"file://{self.root}/dir-{name}"
        assert self.cloud is not None
        return self.cloud.url(name)

    def options(self) -> dict[str, Any] | None:
        """Storage options for the store's URL."""
        return self.cloud.options() if self.cloud is not None else None

    def open(self, url: str) -> Store:
        """Open the store at ``url`` on a clean backend (closed at the end of the test)."""
        store = Store(Repository(open_backend(url, self.options())))
        self._open.append(store)
        return store

    def open_faulty(self, url: str, per_object: bool = False) -> tuple[Store, FaultyBackend]:
        """Open the store at ``url`` behind a fault-injecting wrapper (not yet armed)."""
        faulty = FaultyBackend(open_backend(url, self.options()), per_object=per_object)
        store = Store(Repository(faulty))
        self._open.append(store)
        return store, faulty

    def copy(self, url: str) -> str:
        """A new store holding the same bytes as the (closed or idle) store at ``url``."""
        new = self.new_url()
        if self.kind == "lmdb":
            # The data file alone: LMDB makes a fresh lock file (no reader slots) on open.
            os.makedirs(new)
            shutil.copyfile(os.path.join(url, "data.mdb"), os.path.join(new, "data.mdb"))
        elif self.kind == "file":
            shutil.copytree(url[len("file://"):], new[len("file://"):])
        else:
            import s3fs

            fs = s3fs.S3FileSystem(**(self.options() or {}))
            src, dst = url[len("s3://"):], new[len("s3://"):]
            fs.copy(f"{src}/", f"{dst}/", recursive=True)
        return new

    def close_all(self) -> None:
        """Close every store this place opened."""
        for store in self._open:
            store.close()
        self._open.clear()


@pytest.fixture(params=KINDS)
def place(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Place]:
    """Each store kind in turn: LMDB, a local directory, S3 on moto."""
    # Remote stores keep an object cache: this test's own, never the user's.
    monkeypatch.setenv("VSTORE_CACHE_DIR", str(tmp_path / "cache"))
    cloud: Cloud | None = None
    if request.param == "s3":
        cloud = request.getfixturevalue("s3_cloud")
    p = Place(request.param, tmp_path, cloud)
    yield p
    p.close_all()


@pytest.fixture(params=["lmdb", "file"])
def local_place(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Place]:
    """The store kinds on this machine's disk: LMDB and a local directory."""
    monkeypatch.setenv("VSTORE_CACHE_DIR", str(tmp_path / "cache"))
    p = Place(request.param, tmp_path)
    yield p
    p.close_all()
