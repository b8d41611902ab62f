"""The datalake: content-addressed uploads, data tags, listing, store-wide tags."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import vstore
from tests.picsellia.conftest import png
from vstore.errors import (
    AlreadyExistsError,
    InvalidQueryError,
    LocalFileNotFoundError,
    NoDataError,
    NotFoundError,
    UsageError,
    WrongTypeError,
)
from vstore.picsellia import Data, MultiData, Tag, TagTarget
from vstore.picsellia.blobs import pinned_blobs


def test_upload_reads_size_type_and_tags(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    data = lake.upload_data([str(p) for p in images[:2]], tags=["raw", "day"])
    assert isinstance(data, MultiData) and len(data) == 2
    d = data[0]
    assert (d.filename, d.width, d.height, d.content_type) == ("img0.png", 64, 48, "image/png")
    assert d.type == vstore.DataType.IMAGE
    assert [t.name for t in d.get_tags()] == ["raw", "day"]
    assert d.read() == images[0].read_bytes()
    single = lake.upload_data(str(images[2]))
    assert isinstance(single, Data) and single.get_tags() == []


def test_same_bytes_are_stored_once(store: vstore.Store, images: list[Path],
                                    tmp_path: Path) -> None:
    lake = store.get_datalake()
    copy = tmp_path / "copy.png"
    shutil.copy(images[0], copy)
    a, b = lake.upload_data([str(images[0]), str(copy)])
    assert a.id != b.id and a.blob == b.blob  # two data, one blob
    again = lake.upload_data(str(images[0]), tags=["late"])
    assert again.id == a.id  # the same file and name is the same data
    assert [t.name for t in a.get_tags()] == ["late"]
    assert pinned_blobs(store) == {bytes.fromhex(a.blob)}
    assert "picsellia/blobs" in store.repo.refs.logs("picsellia")  # one log for every pin
    assert [log for log in store.repo.refs.logs("picsellia") if "blobs/" in log] == []


def test_a_missing_file_uploads_nothing(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    with pytest.raises(LocalFileNotFoundError) as err:
        lake.upload_data([str(images[0]), "/nope/missing.png"])
    assert isinstance(err.value, FileNotFoundError) and "missing.png" in str(err.value)
    with pytest.raises(NoDataError):
        lake.list_data()
    with pytest.raises(vstore.InvalidArgumentError):
        lake.upload_data([])


def test_reserved_metadata_keys_are_refused(store: vstore.Store, images: list[Path]) -> None:
    with pytest.raises(vstore.InvalidArgumentError, match="reserved"):
        store.get_datalake().upload_data(str(images[0]), metadata={"_tags": ["x"]})


def test_list_data_filters(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    lake.upload_data([str(p) for p in images[:3]], tags=["a"],
                     metadata=[{"n": 0}, {"n": 1}, {"n": 2}])
    lake.upload_data([str(p) for p in images[3:]], tags=["b"])
    assert len(lake.list_data()) == 6
    assert {d.filename for d in lake.list_data(tags=["b"])} == {"img3.png", "img4.png",
                                                               "img5.png"}
    assert len(lake.list_data(tags=["a", "b"])) == 6
    with pytest.raises(NoDataError):
        lake.list_data(tags=["a", "b"], intersect_tags=True)
    assert [d.filename for d in lake.list_data(filenames=["img4.png"])] == ["img4.png"]
    assert [d.filename for d in lake.list_data(q="n >= 1 and n < 2")] == ["img1.png"]
    names = [d.filename for d in lake.list_data(order_by=["-filename"], limit=2, offset=1)]
    assert names == ["img4.png", "img3.png"]
    assert lake.list_data(filenames=["img0.png"])[0].metadata == {"n": 0}


def test_find_and_get_data(store: vstore.Store, images: list[Path], tmp_path: Path) -> None:
    lake = store.get_datalake()
    d = lake.upload_data(str(images[0]))
    assert lake.find_data(filename="img0.png") == d
    assert lake.get_data(d.id) == d
    with pytest.raises(NotFoundError):
        lake.get_data("0" * 32)
    with pytest.raises(UsageError):
        lake.find_data()
    other = tmp_path / "other"
    other.mkdir()
    lake.upload_data(str(png(other / "img0.png", seed=9)))
    with pytest.raises(InvalidQueryError):
        lake.find_data(filename="img0.png")


def test_data_tags_add_remove(store: vstore.Store, images: list[Path]) -> None:
    lake = store.get_datalake()
    data = lake.upload_data([str(p) for p in images[:2]])
    tag = store.create_tag("bicycle", TagTarget.DATA)
    data.add_tags(tag)
    data[0].add_tags(["car", "truck"])
    assert [t.name for t in data[0].get_tags()] == ["bicycle", "car", "truck"]
    data[0].remove_tags("car")
    assert [t.name for t in data[0].get_tags()] == ["bicycle", "truck"]
    with pytest.raises(vstore.InvalidArgumentError, match="targets ASSET"):
        data.add_tags(Tag("x", TagTarget.ASSET))
    with pytest.raises(vstore.InvalidArgumentError):
        data.add_tags([])
    tag.detach_from(data)
    assert data[1].get_tags() == []
    assert {t.name for t in lake.list_data_tags()} == {"bicycle", "car", "truck"}


def test_create_tag_rules(store: vstore.Store) -> None:
    tag = store.create_tag("bicycle", "data")
    assert tag == Tag("bicycle", TagTarget.DATA) and len(tag.id) == 32
    with pytest.raises(AlreadyExistsError):
        store.create_tag("bicycle", TagTarget.DATA)
    assert store.create_tag("bicycle", TagTarget.ASSET).target_type == TagTarget.ASSET
    with pytest.raises(WrongTypeError):
        store.create_tag("x", "planet")
    with pytest.raises(vstore.InvalidArgumentError):
        store.create_tag("", TagTarget.DATA)


def test_the_datalake_is_invisible_to_dataset_lists(store: vstore.Store,
                                                    images: list[Path]) -> None:
    store.get_datalake().upload_data(str(images[0]))
    assert store.list_datasets() == [] and vstore.DatasetVersion.get_datasets(store=store) == []


def test_blobs_survive_gc_and_verify_clean(store: vstore.Store, images: list[Path]) -> None:
    d = store.get_datalake().upload_data(str(images[0]))
    store.gc(grace=0)
    assert d.read() == images[0].read_bytes()
    assert store.verify().ok


def test_data_download(store: vstore.Store, images: list[Path], tmp_path: Path) -> None:
    data = store.get_datalake().upload_data([str(p) for p in images[:3]])
    out = tmp_path / "out"
    data.download(out)
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert (out / "img1.png").read_bytes() == images[1].read_bytes()
