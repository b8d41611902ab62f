"""Defaults and the smaller methods: dataset delete, loads, multi-object tags, page_size."""

from __future__ import annotations

import pytest

import vstore
from vstore.errors import NotFoundError
from vstore.picsellia import Job, TagTarget


def test_dataset_delete_removes_every_version(store: vstore.Store) -> None:
    ds = store.create_dataset("cars")
    ds.create_version("first")
    ds.create_version("second")
    ds.delete()
    with pytest.raises(NotFoundError):
        store.get_dataset("cars")
    assert store.create_dataset("cars").list_versions() == []  # the name is free again


def test_annotation_load_and_masks_through_overwrite(version: vstore.DatasetVersion) -> None:
    car = version.create_label("car")
    ann = version.find_asset(filename="img0.png").create_annotation()
    ann.overwrite(masks=[("0Ph02", car, 12.5, [1, 2, 3, 4])], points=[([1, 2], car)],
                  lines=[([[0, 0], [3, 3]], car)], keypoints=[([[1, 1, 1]], car)])
    loaded = ann.load()
    assert loaded["masks"][0]["mask"] == "0Ph02" and loaded["masks"][0]["area"] == 12.5
    assert loaded["points"][0]["point"] == [1, 2] and loaded["lines"][0]["line"] == [[0, 0],
                                                                                     [3, 3]]
    assert loaded["keypoints"][0]["keypoints"] == [[1, 1, 1]]
    assert loaded["rectangles"] == [] and loaded["status"] == "PENDING"


def test_multiasset_tags_and_defaults(version: vstore.DatasetVersion,
                                      caplog: pytest.LogCaptureFixture) -> None:
    assets = version.list_assets(page_size=10)
    assert "page_size" in caplog.text
    assets.add_tags(["a", "b"])
    assets[:3].remove_tags("a")
    assert len(version.list_assets(tags="a")) == 3
    assert {t.name for t in version.list_asset_tags()} == {"a", "b"}
    tag = version.get_asset_tag("b")
    assert tag.target_type is TagTarget.ASSET
    tag.detach_from(assets)
    with pytest.raises(vstore.NoDataError):
        version.list_assets(tags="b")


def test_defaults_of_splits_campaigns_and_jobs(version: vstore.DatasetVersion) -> None:
    car = version.create_label("car")
    for a in version.list_assets():
        a.create_annotation().create_classification(car)
    train, test, *_ = version.train_test_split()          # prop 0.8 of 6: int(4.8) = 4
    assert (len(train), len(test)) == (4, 2)
    campaign = version.create_campaign()
    assert campaign.name == "first campaign" and not campaign.auto_add_new_assets
    campaign.close()
    assert version.get_campaign().status == "CLOSED"
    job = Job("x", result={"n": 1})
    assert job.wait_for_done() is job and job.sync()["result"] == {"n": 1}
