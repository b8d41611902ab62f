"""Shared fixtures and Hypothesis profiles (``HYPOTHESIS_PROFILE=deep`` for long runs)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from vstore.engine import Repository, open_repository

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKEND_KINDS = ["lmdb", "file", "memory"]


def make_repo_url(kind: str, tmp_path: Path) -> str:
    """A fresh store URL of the given backend kind."""
    if kind == "lmdb":
        return str(tmp_path / f"lmdb-{uuid.uuid4().hex[:8]}")
    if kind == "file":
        return f"file://{tmp_path}/dir-{uuid.uuid4().hex[:8]}"
    return f"memory://mem-{uuid.uuid4().hex}"


@pytest.fixture(params=BACKEND_KINDS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    """An engine repository on each backend kind."""
    r = open_repository(make_repo_url(request.param, tmp_path))
    yield r
    r.close()


@pytest.fixture
def lmdb_repo(tmp_path: Path) -> Iterator[Repository]:
    """An engine repository on LMDB only."""
    r = open_repository(str(tmp_path / "store"))
    yield r
    r.close()
