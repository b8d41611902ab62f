"""Fixtures for the datasets layer: a fresh store on each backend kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import vstore
from tests.conftest import make_repo_url


@pytest.fixture(params=["lmdb", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[vstore.Store]:
    """A store on LMDB and on a local directory."""
    s = vstore.open(make_repo_url(request.param, tmp_path))
    yield s
    s.close()


def boxed(i: int, label: str = "car", **meta: object) -> vstore.SingleFrame:
    """A frame with one box, addressed by its source URI."""
    f = vstore.SingleFrame(
        source=f"s3://bucket/images/{i:05d}.jpg", width=640, height=480,
        metadata={"i": i, **meta},
    )
    f.add_annotation(box2d_xywh=[10, 20, 30, 40], labels=[label])
    return f
