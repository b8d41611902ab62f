"""Fixtures of the Picsellia surface: a store on LMDB, image files, a version with assets, and
a cache of the test's own for persisted indexes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import vstore


def png(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """Write a small valid PNG whose bytes depend on ``seed``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes([(seed + y) % 256]) * (width * 3) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


@pytest.fixture(autouse=True)
def index_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Persisted asset indexes of a test go to a cache of its own, never the user's."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VSTORE_CACHE_DIR", str(folder))
    monkeypatch.delenv("VSTORE_CACHE_SIZE", raising=False)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[vstore.Store]:
    """A fresh LMDB store."""
    s = vstore.open(str(tmp_path / "store"))
    yield s
    s.close()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Six distinct PNG files, 64x48, named img0.png .. img5.png."""
    folder = tmp_path / "images"
    folder.mkdir()
    return [png(folder / f"img{i}.png", seed=i) for i in range(6)]


@pytest.fixture
def version(store: vstore.Store, images: list[Path]) -> vstore.DatasetVersion:
    """Version ``first`` of dataset ``cars`` with the six images as assets."""
    data = store.get_datalake().upload_data([str(p) for p in images], tags=["raw"])
    v = store.create_dataset("cars").create_version("first")
    v.add_data(data)
    return v
