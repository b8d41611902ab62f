"""The backend contract: the promises every :class:`~vstore.engine.backends.base.Backend` keeps.

Usage (pytest)::

    import pytest
    from vstore.testing.contract import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self, tmp_path):
            b = MyBackend(tmp_path)
            yield b
            b.close()
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from vstore.engine.backends.base import Backend
from vstore.engine.codec import ObjectKind, hash_bytes, pack_object
from vstore.errors import InvalidArgumentError

__all__ = ["BackendContract"]


def _obj(payload: bytes) -> tuple[bytes, bytes]:
    return pack_object(ObjectKind.BLOB, payload)


class BackendContract:
    """Mixin of tests; subclasses provide a ``backend`` fixture yielding a fresh backend."""

    backend: Any  # the fixture, injected by pytest

    # -- objects -----------------------------------------------------------------

    def test_put_then_get_returns_the_same_bytes(self, backend: Backend) -> None:
        items = dict(_obj(os.urandom(n)) for n in (0, 1, 100, 70_000))
        backend.put_objects(items)
        assert backend.get_objects(list(items)) == items
        for oid, data in items.items():
            assert backend.get_object(oid) == data

    def test_absent_objects_are_left_out(self, backend: Backend) -> None:
        oid, data = _obj(b"present")
        backend.put_objects({oid: data})
        missing = hash_bytes(b"never stored")
        assert backend.get_object(missing) is None
        assert backend.get_objects([oid, missing]) == {oid: data}
        assert backend.has_objects([oid, missing]) == {oid}

    def test_putting_an_existing_id_keeps_the_first_bytes(self, backend: Backend) -> None:
        oid, data = _obj(b"first")
        backend.put_objects({oid: data})
        backend.put_objects({oid: data})
        assert backend.get_object(oid) == data
        assert [o for o, _ in backend.iter_objects()].count(oid) == 1

    def test_iter_objects_lists_every_object_with_its_time(self, backend: Backend) -> None:
        before = time.time() - 5
        items = dict(_obj(b"x%d" % i) for i in range(20))
        backend.put_objects(items)
        listed = dict(backend.iter_objects())
        assert set(items) <= set(listed)
        assert all(listed[o] >= before for o in items)

    def test_delete_objects(self, backend: Backend) -> None:
        if not backend.supports_deletes:
            pytest.skip("backend does not delete")
        items = dict(_obj(b"d%d" % i) for i in range(5))
        backend.put_objects(items)
        gone = list(items)[:3]
        assert backend.delete_objects(gone) == 3
        assert backend.has_objects(items) == set(list(items)[3:])
        assert backend.delete_objects(gone) == 0

    def test_delete_keeps_objects_newer_than_the_cutoff(self, backend: Backend) -> None:
        oid, data = _obj(b"young")
        backend.put_objects({oid: data})
        assert backend.delete_objects([oid], older_than=time.time() - 3600) == 0
        assert backend.get_object(oid) == data

    # -- keys --------------------------------------------------------------------

    def test_create_key_succeeds_once(self, backend: Backend) -> None:
        assert backend.create_key("refs/a/1", b"first") is True
        assert backend.create_key("refs/a/1", b"second") is False
        assert backend.read_key("refs/a/1") == b"first"

    def test_concurrent_creates_have_one_winner(self, backend: Backend) -> None:
        wins: list[int] = []
        barrier = threading.Barrier(8)

        def racer(i: int) -> None:
            barrier.wait()
            if backend.create_key("race/k", b"%d" % i):
                wins.append(i)

        threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert backend.read_key("race/k") == b"%d" % wins[0]

    def test_read_missing_key_is_none(self, backend: Backend) -> None:
        assert backend.read_key("nothing/here") is None

    def test_write_key_overwrites(self, backend: Backend) -> None:
        backend.write_key("hints/x", b"1")
        backend.write_key("hints/x", b"2")
        assert backend.read_key("hints/x") == b"2"

    def test_list_keys_under_a_prefix(self, backend: Backend) -> None:
        for k in ("logs/a/1", "logs/a/2", "logs/ab/1", "logs/b/1", "other"):
            backend.create_key(k, b"v")
        assert backend.list_keys("logs/a") == ["logs/a/1", "logs/a/2"]
        assert backend.list_keys("logs") == ["logs/a/1", "logs/a/2", "logs/ab/1", "logs/b/1"]
        assert backend.list_keys("none") == []

    def test_delete_key(self, backend: Backend) -> None:
        backend.create_key("k/1", b"v")
        assert backend.delete_key("k/1") is True
        assert backend.delete_key("k/1") is False
        assert backend.read_key("k/1") is None
        assert backend.create_key("k/1", b"again") is True

    @pytest.mark.parametrize("bad", ["", "/abs", "a//b", "a/../b", "..", "sp ace", "a/"])
    def test_invalid_key_names_are_refused(self, backend: Backend, bad: str) -> None:
        with pytest.raises(InvalidArgumentError):
            backend.create_key(bad, b"v")
        with pytest.raises(InvalidArgumentError):
            backend.read_key(bad)

    def test_capability_flags_are_declared(self, backend: Backend) -> None:
        assert isinstance(backend.atomic_create, bool)
        assert backend.atomic_create, "a shared store needs an atomic create"
        assert isinstance(backend.supports_deletes, bool)
        assert isinstance(backend.durable, bool)
