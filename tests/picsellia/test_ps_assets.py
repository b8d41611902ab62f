"""Assets: add_data, find_asset, find_all_assets, list_assets with every filter and q."""

from __future__ import annotations

from pathlib import Path

import pytest

import vstore
from tests.picsellia.conftest import png
from vstore.errors import (
    InvalidArgumentError,
    InvalidQueryError,
    NoDataError,
    NotFoundError,
    UsageError,
    WrongTypeError,
)
from vstore.picsellia import Asset, MultiAsset, TagTarget


def test_add_data_makes_assets_from_data(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    data = lake.upload_data([str(p) for p in images[:3]], metadata={"camera": "left"})
    v = store.create_dataset("cars").create_version("first")
    job = v.add_data([data[0], data[1], data[0]], tags=["batch-1"])
    assert job.wait_for_done().status == "SUCCESS" and job.result["created"] == 2
    assets = v.list_assets()
    assert isinstance(assets, MultiAsset) and len(assets) == 2
    a = v.find_asset(data=data[0])
    assert (a.filename, a.width, a.height, a.content_type) == ("img0.png", 64, 48, "image/png")
    assert a.data_id == data[0].id and a.get_data() == data[0]
    assert a.metadata == {"camera": "left"} and a.object_name.endswith("/img0.png")
    assert [t.name for t in a.get_tags()] == ["batch-1"]
    assert v.get_asset_tag("batch-1").target_type is TagTarget.ASSET
    v.add_data(data)  # the two already there are kept (with their tags), one is added
    assert len(v.list_assets()) == 3
    assert [t.name for t in v.find_asset(filename="img0.png").get_tags()] == ["batch-1"]


def test_add_data_errors(store: vstore.Store, images: list[Path], tmp_path: Path) -> None:
    v = store.create_dataset("cars").create_version("first")
    with pytest.raises(InvalidArgumentError, match="cannot be empty"):
        v.add_data([])
    with pytest.raises(WrongTypeError):
        v.add_data(["img0.png"])  # type: ignore[list-item]
    other = vstore.open(str(tmp_path / "other"))
    try:
        d = other.get_datalake().upload_data(str(images[0]))
        with pytest.raises(InvalidArgumentError, match="another store"):
            v.add_data(d)
    finally:
        other.close()
    with pytest.raises(NoDataError):
        v.list_assets()


def test_find_asset(version: vstore.DatasetVersion, store: vstore.Store,
                    tmp_path: Path) -> None:
    a = version.find_asset(filename="img3.png")
    assert isinstance(a, Asset) and a.filename == "img3.png"
    assert version.find_asset(id=a.id) == a
    assert version.find_asset(object_name=a.object_name) == a
    assert version.find_asset(filename="img3.png", id=a.id) == a
    with pytest.raises(NotFoundError):
        version.find_asset(filename="img3.png", id="0" * 32)
    with pytest.raises(NotFoundError):
        version.find_asset(filename="nope.png")
    with pytest.raises(UsageError):
        version.find_asset()
    folder = tmp_path / "dup"
    folder.mkdir()
    version.add_data(store.get_datalake().upload_data(str(png(folder / "img3.png", seed=42))))
    with pytest.raises(InvalidQueryError, match="2 assets"):
        version.find_asset(filename="img3.png")


def test_find_all_assets(version: vstore.DatasetVersion) -> None:
    found = version.find_all_assets(filenames=["img1.png", "img2.png", "nope.png"])
    assert sorted(a.filename for a in found) == ["img1.png", "img2.png"]
    ids = [a.id for a in found]
    assert [a.id for a in version.find_all_assets(ids=ids)] == ids
    with pytest.raises(NoDataError):
        version.find_all_assets(filenames=["nope.png"])
    with pytest.raises(UsageError):
        version.find_all_assets()


def test_list_assets_paging_and_order(version: vstore.DatasetVersion) -> None:
    assert len(version.list_assets()) == 6
    names = [a.filename for a in version.list_assets(order_by=["filename"])]
    assert names == [f"img{i}.png" for i in range(6)]
    page = version.list_assets(order_by=["-filename"], limit=2, offset=1)
    assert [a.filename for a in page] == ["img4.png", "img3.png"]
    with pytest.raises(NoDataError, match="No asset retrieved"):
        version.list_assets(offset=6)
    for bad in ({"limit": 0}, {"offset": -1}):
        with pytest.raises(InvalidArgumentError):
            version.list_assets(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="cannot order"):
        version.list_assets(order_by=["size"])


def test_list_filters_are_exclusive_and_ignore_paging(version: vstore.DatasetVersion,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UsageError, match="only one"):
        version.list_assets(filenames=["img0.png"], ids=["x"])
    with pytest.raises(InvalidArgumentError):
        version.list_assets(filenames=[])
    found = version.list_assets(filenames_startswith=["img1", "img2"], limit=1)
    assert sorted(a.filename for a in found) == ["img1.png", "img2.png"]
    assert "ignored" in caplog.text
    a = version.find_asset(filename="img4.png")
    assert list(version.list_assets(object_names=[a.object_name])) == [a]
    assert list(version.list_assets(data_ids=[a.data_id])) == [a]  # type: ignore[list-item]


def test_tag_filters(version: vstore.DatasetVersion, store: vstore.Store) -> None:
    assets = version.list_assets(order_by=["filename"])
    assets[0:2].add_tags("red")
    assets[1:3].add_tags(["blue"])
    assets[4].get_data().add_tags("night")
    assert {a.filename for a in version.list_assets(tags="red")} == {"img0.png", "img1.png"}
    assert {a.filename for a in version.list_assets(tags=["red", "blue"])} == {
        "img0.png", "img1.png", "img2.png"}
    both = version.list_assets(tags=["red", "blue"], intersect_tags=True)
    assert [a.filename for a in both] == ["img1.png"]
    night = version.list_assets(data_tags=["night"])
    assert [a.filename for a in night] == ["img4.png"]
    assert len(version.list_assets(data_tags=["raw", "night"], intersect_data_tags=True)) == 1
    assert len(version.list_assets(data_tags="raw")) == 6
    assets[0].remove_tags("red")
    assert [a.filename for a in version.list_assets(tags="red")] == ["img1.png"]


def test_q_language(version: vstore.DatasetVersion) -> None:
    car, bus = version.create_label("car"), version.create_label("bus")
    a0 = version.find_asset(filename="img0.png")
    ann = a0.create_annotation()
    ann.create_rectangle(1, 2, 3, 4, car)
    ann.create_classification(bus)
    version.find_asset(filename="img1.png").create_annotation().create_polygon(
        [[0, 0], [5, 0], [5, 5]], car)
    version.find_asset(filename="img2.png").add_tags("hard")

    def names(q: str) -> list[str]:
        return sorted(a.filename for a in version.list_assets(q=q))

    assert names('annotations.rectangles.label.name = "car"') == ["img0.png"]
    assert names('annotations.label.name = "car"') == ["img0.png", "img1.png"]
    assert names('annotations.classifications.label.name in ("bus", "x")') == ["img0.png"]
    assert names('filename = "img3.png" or tags.name = "hard"') == ["img2.png", "img3.png"]
    assert names('data.tags.name = "raw" and filename like "img_.png" and width = 64') == [
        f"img{i}.png" for i in range(6)]
    assert names('not (filename != "img5.png")') == ["img5.png"]
    assert names('annotations.status = "PENDING"') == ["img0.png", "img1.png"]
    with pytest.raises(InvalidQueryError) as err:
        version.list_assets(q='filename = ')
    assert err.value.position == 11
    with pytest.raises(NoDataError):
        version.list_assets(q='filename = "img0.png"', tags="hard")


def test_q_over_metadata_and_custom_metadata(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    data = lake.upload_data([str(p) for p in images[:4]],
                            metadata=[{"camera": "left", "speed": i} for i in range(4)])
    v = store.create_dataset("cars").create_version("first")
    v.add_data(data)
    assert len(v.list_assets(q='metadata.speed >= 2')) == 2
    assert len(v.list_assets(q='speed < 1 and camera = "left"')) == 1
    assert len(v.list_assets(q='custom_metadata.camera = "left"')) == 4
    assert [a.metadata["speed"] for a in v.list_assets(custom_metadata={"speed": 3})] == [3]
    with pytest.raises(WrongTypeError):
        v.list_assets(custom_metadata=["speed"])  # type: ignore[arg-type]


def test_asset_fields_and_delete(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    a = version.find_asset(filename="img0.png")
    assert a.id_with_extension == a.id + ".png" and a.type is vstore.DataType.IMAGE
    assert a.dataset_version_id == version.id and a.url.startswith("datalake:///")
    assert a.created_at.year >= 2024
    a.delete()
    assert len(version.list_assets()) == 5
    with pytest.raises(NotFoundError):
        a.get_tags()
    version.list_assets(filenames=["img1.png", "img2.png"]).delete()
    assert len(version.list_assets()) == 3


def test_multiasset_as_data(version: vstore.DatasetVersion) -> None:
    assets = version.list_assets()
    data = assets.as_multidata()
    assert len(data) == 6 and {d.id for d in data} == {a.data_id for a in assets}
    frame = vstore.SingleFrame(source="s3://bucket/x.jpg")
    version.add_frames([frame])
    with pytest.raises(NotFoundError, match="not added from the datalake"):
        version.find_asset(filename="x.jpg").get_data()
