"""Every built-in backend passes the shipped contract suite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vstore.engine import open_backend
from vstore.engine.backends.base import Backend
from vstore.engine.backends.fsspec import FsspecBackend
from vstore.errors import UnsafeBackendError
from vstore.testing.contract import BackendContract


class TestLmdbBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = open_backend(str(tmp_path / "store"))
        yield b
        b.close()


class TestLocalDirectoryBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = open_backend(f"file://{tmp_path}/store")
        yield b
        b.close()


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        b = open_backend(f"memory://contract-{uuid.uuid4().hex}")
        yield b
        b.close()


def test_a_filesystem_without_atomic_create_is_refused(tmp_path: Path) -> None:
    """A filesystem whose second create silently overwrites must not be trusted."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class OverwritingFS(MemoryFileSystem):  # a real in-memory fs that ignores mode="create"
        protocol = ("overwritingmem",)

        def pipe_file(self, path, value, mode="overwrite", **kwargs):  # type: ignore[no-untyped-def]
            return super().pipe_file(path, value, **kwargs)

    fsspec.register_implementation("overwritingmem", OverwritingFS, clobber=True)
    with pytest.raises(UnsafeBackendError, match="second create"):
        FsspecBackend("overwritingmem://store")
    b = FsspecBackend("overwritingmem://store2", single_writer=True)
    assert b.atomic_create is False


def test_lmdb_handles_share_one_environment(tmp_path: Path) -> None:
    a = open_backend(str(tmp_path / "s"))
    b = open_backend(str(tmp_path / "s"))
    assert a._env is b._env  # type: ignore[attr-defined]
    a.create_key("k", b"1")
    assert b.read_key("k") == b"1"
    a.close()
    assert b.read_key("k") == b"1"
    b.close()


def test_storage_failures_surface_as_backend_errors(tmp_path: Path) -> None:
    from vstore.engine.codec import ObjectKind, pack_object
    from vstore.errors import BackendError

    b = open_backend(f"file://{tmp_path}/store")
    oid, data = pack_object(ObjectKind.BLOB, b"payload")
    # A file where the object's fan-out directory should be: the write cannot succeed.
    (tmp_path / "store" / "objects" / oid.hex()[:2]).write_bytes(b"in the way")
    with pytest.raises(BackendError, match="put_objects failed") as err:
        b.put_objects({oid: data})
    assert str(tmp_path) in str(err.value)
    assert isinstance(err.value, OSError)
