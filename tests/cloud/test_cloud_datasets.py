"""The datasets API on remote stores: processes on separate clients write one draft.

Each worker process opens the store by URL alone (endpoint and credentials come from
the environment, as in a real deployment) and bulk-writes its own frames; the draft
must end with every frame exactly once, on S3 (moto), Azure (Azurite) and GCS
(fake-gcs-server, reached through ``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

import vstore
from tests.cloud.conftest import Cloud
from vstore import DatasetVersion, SingleFrame

_spec = importlib.util.spec_from_file_location(
    "_vstore_datasets_test_workers", Path(__file__).parents[1] / "datasets" / "workers.py"
)
assert _spec is not None and _spec.loader is not None
workers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workers)

DS = workers.DATASET


@pytest.fixture(params=["s3", "azure", "gcs"])
def env_cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """Each cloud, reachable by URL alone (credentials and endpoint in the environment)."""
    c: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    for k, v in c.env.items():
        monkeypatch.setenv(k, v)
    return c


def _ids(v: DatasetVersion) -> Counter[str]:
    return Counter(rec["id"] for rec in v.get_iterator(projection=["id"]))


def test_four_processes_write_5000_frames_each_into_one_draft(env_cloud: Cloud) -> None:
    url, per, prefixes = env_cloud.url(), 5000, ["p0", "p1", "p2", "p3"]
    with vstore.open(url) as store:
        vid = DatasetVersion.create_new_dataset(DS, store=store).version_id
    results = workers.run_together(
        [["bulk-add", url, vid, p, str(per), "1000"] for p in prefixes], timeout=600
    )
    assert sorted(r["added"] for r in results) == [per] * 4
    with vstore.open(url) as store:
        v = DatasetVersion.get_version(dataset_name=DS, version_id=vid, store=store)
        ids = _ids(v)
        assert len(v) == 4 * per and len(ids) == 4 * per and max(ids.values()) == 1
        for p in prefixes:
            assert {i for i in ids if i.startswith(p + "-")} == {
                workers.frame_id(p, i) for i in range(per)
            }, f"{p} lost frames"
        sample = [workers.frame_id(p, i) for p in prefixes for i in range(0, per, 997)]
        got = {f.id: f for f in v.get_frames_by_ids(sample)}
        for p in prefixes:
            for i in range(0, per, 997):
                want = workers.make_frame(p, i)
                assert got[want.id].metadata == want.metadata
        assert store.verify().ok


def test_two_drafts_forked_from_one_parent_written_at_once(env_cloud: Cloud) -> None:
    url, per = env_cloud.url(), 2500
    with vstore.open(url) as store:
        parent = DatasetVersion.create_new_dataset(DS, store=store)
        parent.add_frames([SingleFrame(id=f"base-{i}", source=f"s3://b/{i}.jpg")
                           for i in range(100)])
        parent.publish_version()
        a = DatasetVersion.create_version(
            dataset_name=DS, version_name="a", parent_version_ids=[parent.version_id],
            store=store,
        )
        b = DatasetVersion.create_version(
            dataset_name=DS, version_name="b", parent_version_ids=[parent.version_id],
            store=store,
        )
    jobs = [("a0", a), ("a1", a), ("b0", b), ("b1", b)]
    workers.run_together(
        [["bulk-add", url, d.version_id, p, str(per), "1000"] for p, d in jobs], timeout=600
    )
    with vstore.open(url) as store:
        for name, mine in (("a", {"a0", "a1"}), ("b", {"b0", "b1"})):
            v = DatasetVersion.get_version(dataset_name=DS, version_name=name, store=store)
            ids = _ids(v)
            assert len(ids) == 100 + 2 * per and max(ids.values()) == 1
            writers = {i.split("-", 1)[0] for i in ids if not i.startswith("base-")}
            assert writers == mine  # nothing leaked from the sibling draft
        base = DatasetVersion.get_version(
            dataset_name=DS, version_id=parent.version_id, store=store
        )
        assert len(base) == 100  # the published parent never changed
        assert store.verify().ok
