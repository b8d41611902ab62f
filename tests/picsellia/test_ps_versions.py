"""Datasets and versions: creation, lookup, type, update, delete, version tags, labels."""

from __future__ import annotations

import pytest

import vstore
from vstore.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    ReadOnlyError,
    WrongTypeError,
)
from vstore.picsellia import InferenceType, Label, Tag, TagTarget


def test_datasets_create_get_list(store: vstore.Store) -> None:
    cars = store.create_dataset("cars", description="street cars")
    bikes = store.create_dataset("bikes")
    assert store.get_dataset("cars") == cars and cars.description == "street cars"
    assert [d.name for d in store.list_datasets()] == ["cars", "bikes"]
    with pytest.raises(AlreadyExistsError):
        store.create_dataset("cars")
    with pytest.raises(NotFoundError):
        store.get_dataset("planes")
    with pytest.raises(InvalidArgumentError):
        store.create_dataset("  ")
    assert bikes.list_versions() == []
    # the same dataset, seen through the Hyper-Datasets class methods
    assert [d.name for d in vstore.DatasetVersion.get_datasets(store=store)] == ["cars", "bikes"]


def test_versions_create_get_list(store: vstore.Store) -> None:
    ds = store.create_dataset("cars")
    v1 = ds.create_version("first", description="the first", type="object_detection")
    v2 = ds.create_version("second")
    assert (v1.name, v1.version, v1.description) == ("cars", "first", "the first")
    assert v1.id == v1.version_id and v1.origin_id == ds.id and v1.origin_name == "cars"
    assert v1.type is InferenceType.OBJECT_DETECTION and v2.type is InferenceType.NOT_CONFIGURED
    assert ds.get_version("second") == v2 and ds.get_version_by_id(v1.id) == v1
    assert [v.version for v in ds.list_versions()] == ["first", "second"]
    assert [v.version for v in ds.list_versions(order_by=["-version"], limit=1)] == ["second"]
    assert [v.version for v in ds.list_versions(offset=1)] == ["second"]
    with pytest.raises(AlreadyExistsError):
        ds.create_version("first")
    with pytest.raises(NotFoundError):
        ds.get_version("third")
    with pytest.raises(WrongTypeError):
        ds.create_version("third", type="detection")
    with pytest.raises(InvalidArgumentError):
        ds.list_versions(order_by=["size"])


def test_set_type_and_update(store: vstore.Store) -> None:
    ds = store.create_dataset("cars")
    v = ds.create_version("first")
    v.set_type("segmentation")
    assert v.type is InferenceType.SEGMENTATION
    with pytest.raises(WrongTypeError):
        v.set_type("nonsense")
    v.update(description="my favourite")
    assert v.description == "my favourite" and v.comment == "my favourite"
    assert v.version == "first" and v.type is InferenceType.SEGMENTATION  # None changes nothing
    v.update(version="renamed", type=InferenceType.CLASSIFICATION)
    assert v.version == "renamed" and v.version_name == "renamed"
    assert v.type is InferenceType.CLASSIFICATION
    ds.create_version("other")
    with pytest.raises(AlreadyExistsError):
        v.update(version="other")


def test_delete_version(store: vstore.Store) -> None:
    ds = store.create_dataset("cars")
    v = ds.create_version("first")
    v.delete()
    with pytest.raises(NotFoundError):
        ds.get_version("first")
    p = ds.create_version("pub")
    p.publish_version()
    with pytest.raises(ReadOnlyError, match="remove_version"):
        p.delete()


def test_published_versions_refuse_picsellia_writes(store: vstore.Store) -> None:
    v = store.create_dataset("cars").create_version("first")
    v.create_label("car")
    v.publish_version()
    with pytest.raises(ReadOnlyError):
        v.create_label("bus")
    with pytest.raises(ReadOnlyError):
        v.set_type("classification")
    assert [x.name for x in v.list_labels()] == ["car"]


def test_version_tags(store: vstore.Store) -> None:
    v = store.create_dataset("cars").create_version("first")
    tag = store.create_tag("training-dataset", TagTarget.DATASET_VERSION)
    v.add_tags(tag)
    v.add_tags(["reviewed"])
    assert [t.name for t in v.get_tags()] == ["training-dataset", "reviewed"]
    v.remove_tags("reviewed")
    assert v.get_tags() == [tag]
    with pytest.raises(InvalidArgumentError):
        v.add_tags(Tag("x", TagTarget.DATA))
    with pytest.raises(InvalidArgumentError):
        v.add_tags([])
    tag.detach_from([v])
    assert v.get_tags() == []


def test_labels(store: vstore.Store) -> None:
    v = store.create_dataset("cars").create_version("first")
    assert v.list_labels() == []
    car = v.create_label("car")
    assert car == Label("car") and v.get_label("car") == car
    assert v.get_or_create_label("bus") == Label("bus")
    assert v.get_or_create_label("car") == car
    assert [x.name for x in v.list_labels()] == ["car", "bus"]
    with pytest.raises(AlreadyExistsError):
        v.create_label("car")
    with pytest.raises(NotFoundError):
        v.get_label("truck")
    with pytest.raises(InvalidArgumentError):
        v.create_label("")


def test_labels_used_by_frames_are_listed_after_created_ones(store: vstore.Store) -> None:
    v = store.create_dataset("cars").create_version("first")
    v.create_label("zebra")
    f = vstore.SingleFrame(source="s3://b/a.jpg")
    f.add_annotation(box2d_xywh=[0, 0, 1, 1], labels=["dog"])
    f.add_annotation(box2d_xywh=[0, 0, 1, 1], labels=["cat"])
    v.add_frames([f])
    assert [x.name for x in v.list_labels()] == ["zebra", "cat", "dog"]
    assert v.get_label("dog") == Label("dog")


def test_asset_tags_are_scoped_to_the_version(store: vstore.Store) -> None:
    ds = store.create_dataset("cars")
    v1, v2 = ds.create_version("first"), ds.create_version("second")
    dog = v1.create_asset_tag("dog")
    assert dog.target_type is TagTarget.ASSET and v1.get_asset_tag("dog") == dog
    assert v1.get_or_create_asset_tag("cat").name == "cat"
    assert v1.get_or_create_asset_tag("dog") == dog
    assert dog in v1.list_asset_tags() and len(v1.list_asset_tags()) == 2
    assert v2.list_asset_tags() == []
    with pytest.raises(NotFoundError):
        v2.get_asset_tag("dog")
    with pytest.raises(AlreadyExistsError):
        v1.create_asset_tag("dog")
