"""Uploads of local sources to S3, GCS and Azure, with a store on the same emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vstore
from tests.cloud.conftest import BUCKET, Cloud
from tests.cloud.proxy import Fault
from tests.cloud.test_remote import ProxyFor
from vstore import DatasetVersion, SingleFrame
from vstore.engine.backends.fsspec import FsspecBackend
from vstore.io.sources import INDEX_PREFIX, delete_sources


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "data"
    (r / "img").mkdir(parents=True)
    for i in range(6):
        (r / "img" / f"{i}.jpg").write_bytes(f"image {i} ".encode() * 500)
    return r


def frames(root: Path, n: int = 6) -> list[SingleFrame]:
    return [SingleFrame(source=str(root / "img" / f"{i}.jpg"), width=8, height=8)
            for i in range(n)]


@pytest.fixture
def store(cloud: Cloud) -> Iterator[vstore.Store]:
    s = vstore.open(cloud.url(), cloud.options())
    yield s
    s.close()


def uploaded(store: vstore.Store, v: DatasetVersion) -> dict[str, str]:
    """``{local file name: uploaded URI}`` of a version's frames."""
    return {f.source.rsplit("/", 1)[1]: f.source for f in v.get_iterator()}


def remote_fs(store: vstore.Store) -> Any:
    backend = store.repo.backend
    assert isinstance(backend, FsspecBackend)
    return backend.fs


def test_sources_upload_to_the_cloud_and_are_reused_by_content(
    cloud: Cloud, store: vstore.Store, root: Path
) -> None:
    dest = f"{cloud.scheme}://{BUCKET}/sources-{cloud.url().rsplit('/', 1)[1]}"
    kw = {"auto_upload_destination": dest, "local_dataset_root_path": str(root)}
    v1 = DatasetVersion.create_new_dataset("cars", store=store)
    assert v1.add_frames(frames(root), **kw) == []
    uris = uploaded(store, v1)
    assert sorted(uris) == [f"{i}.jpg" for i in range(6)]
    fs = remote_fs(store)
    for name, uri in uris.items():
        assert uri.startswith(dest + "/")
        assert fs.cat_file(fs._strip_protocol(uri)) == (root / "img" / name).read_bytes()
    assert store.repo.backend.list_keys("uploads")  # the content-hash index
    assert len(store.repo.backend.list_keys(INDEX_PREFIX.rstrip("/"))) == 6

    # Another dataset adding the same content reuses the copies: nothing is uploaded.
    before = set(fs.find(fs._strip_protocol(dest)))
    v2 = DatasetVersion.create_new_dataset("trucks", store=store)
    assert v2.add_frames(frames(root), **kw) == []
    assert uploaded(store, v2) == uris
    assert set(fs.find(fs._strip_protocol(dest))) == before

    # delete_sources removes the cloud copies (a missing one is not an error).
    assert delete_sources(store.repo.backend, [*uris.values(), dest + "/gone.jpg"]) == []
    assert not any(fs.exists(fs._strip_protocol(u)) for u in uris.values())


def test_delete_frames_deletes_their_cloud_copies_only(
    cloud: Cloud, store: vstore.Store, root: Path
) -> None:
    dest = f"{cloud.scheme}://{BUCKET}/del-{cloud.url().rsplit('/', 1)[1]}"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    assert v.add_frames(frames(root, 3), auto_upload_destination=dest,
                        local_dataset_root_path=str(root)) == []
    stored = sorted(v.get_iterator(), key=lambda f: f.source)
    fs = remote_fs(store)
    v.delete_frames(stored[:1], delete_sources=True)
    with v.get_bulk_context() as bc:
        bc.delete_frame(stored[1], delete_sources=True)  # its file goes at the end of the block
        assert fs.exists(fs._strip_protocol(stored[1].source))
    assert [fs.exists(fs._strip_protocol(f.source)) for f in stored] == [False, False, True]
    assert len(v) == 1 and all((root / "img" / f"{i}.jpg").exists() for i in range(3))


def test_upload_failures_are_returned_not_raised(
    s3_cloud: Cloud, proxy_for: ProxyFor, root: Path
) -> None:
    proxy = proxy_for(s3_cloud)
    store = vstore.open(s3_cloud.url(), s3_cloud.options(proxy))
    dest = f"s3://{BUCKET}/src-{s3_cloud.url().rsplit('/', 1)[1]}"
    kw = {"auto_upload_destination": dest, "local_dataset_root_path": str(root)}
    # Two files fail every attempt (403), the others are throttled twice, then land.
    denied = {"/img/1.jpg", "/img/4.jpg"}
    proxy.faults.append(Fault(lambda m, p: m == "PUT" and any(p.endswith(d) for d in denied),
                              status=403, body=b"<Error><Code>AccessDenied</Code></Error>",
                              times=1000))
    proxy.faults.append(Fault(lambda m, p: m == "PUT" and "/src-" in p, status=503,
                              body=b"<Error><Code>SlowDown</Code></Error>", times=2))
    v = DatasetVersion.create_new_dataset("cars", store=store)
    failed = v.add_frames(frames(root), upload_retries=2, **kw)
    assert sorted(f["frame"].source.rsplit("/", 1)[1] for f in failed) == ["1.jpg", "4.jpg"]
    assert all(f["error_type"] == "upload" and "3 attempt(s)" in f["error"] for f in failed)
    assert sorted(uploaded(store, v)) == ["0.jpg", "2.jpg", "3.jpg", "5.jpg"]
    assert all(u.startswith(dest) for u in uploaded(store, v).values())
    store.close()
