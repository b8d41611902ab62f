"""The shipped backend contract, on S3 (moto), GCS (fake-gcs-server) and Azure (Azurite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloud.conftest import Cloud
from vstore.engine import open_backend
from vstore.engine.backends.base import Backend
from vstore.testing.contract import BackendContract


class TestCloudBackend(BackendContract):
    @pytest.fixture
    def backend(self, cloud: Cloud) -> Iterator[Backend]:
        b = open_backend(cloud.url(), cloud.options())
        yield b
        b.close()


class TestCloudLooseObjects(BackendContract):
    """The same promises with packs off (one remote file per object)."""

    @pytest.fixture
    def backend(self, s3_cloud: Cloud) -> Iterator[Backend]:
        b = open_backend(s3_cloud.url(), s3_cloud.options(), packs=False)
        yield b
        b.close()
