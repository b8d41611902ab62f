"""fork (O(1) when it keeps everything) and the reproducible splits."""

from __future__ import annotations

import random

import pytest

import vstore
from vstore.errors import AlreadyExistsError, InvalidArgumentError, NoDataError, WrongTypeError
from vstore.picsellia import InferenceType, Label, MultiAsset


def _root(v: vstore.DatasetVersion) -> bytes:
    state = v.store.registry.version(v.dataset_id, v.version_id)
    assert state is not None
    return state.tree


@pytest.fixture
def annotated(version: vstore.DatasetVersion) -> vstore.DatasetVersion:
    """The six assets; four annotated with car/bus boxes; two tagged."""
    car, bus = version.create_label("car"), version.create_label("bus")
    assets = version.list_assets(order_by=["filename"])
    for i, a in enumerate(assets[:4]):
        ann = a.create_annotation()
        ann.create_multiple_rectangles([(0, 0, 1, 1, car)] * (i + 1))
        if i % 2:
            ann.create_classification(bus)
    assets[0:2].add_tags("hard")
    return version


def test_a_full_fork_shares_the_tree(annotated: vstore.DatasetVersion) -> None:
    fork, job = annotated.fork("second", with_tags=True, with_labels=True,
                               with_annotations=True, type="object_detection")
    assert job.status == "SUCCESS" and job.result == {"dropped": 0, "rewritten": 0}
    assert _root(fork) == _root(annotated)  # the same tree: nothing was copied
    assert fork.get_parent() == annotated.version_id and fork.origin_id == annotated.origin_id
    assert fork.type is InferenceType.OBJECT_DETECTION
    assert fork.description == "Fork from first"
    assert [x.name for x in fork.list_labels()] == ["car", "bus"]
    assert fork.list_asset_tags() == annotated.list_asset_tags()
    assert fork.retrieve_stats() == annotated.retrieve_stats()
    fork.find_asset(filename="img0.png").delete()  # the fork is independent
    assert len(annotated.list_assets()) == 6 and len(fork.list_assets()) == 5


def test_a_default_fork_keeps_assets_only(annotated: vstore.DatasetVersion) -> None:
    fork, job = annotated.fork("bare", description="clean copy")
    assert job.result == {"dropped": 0, "rewritten": 4}
    assert len(fork.list_assets()) == 6 and fork.description == "clean copy"
    assert fork.list_labels() == [] and fork.list_asset_tags() == []
    with pytest.raises(NoDataError):
        fork.list_annotations()
    with pytest.raises(NoDataError):
        fork.list_assets(tags="hard")
    assert fork.type is InferenceType.NOT_CONFIGURED
    assert len(annotated.list_annotations()) == 4  # the parent is untouched


def test_a_filtered_fork_rewrites_only_what_it_must(annotated: vstore.DatasetVersion) -> None:
    some = annotated.list_assets(order_by=["filename"])[2:5]
    fork, job = annotated.fork("some", assets=some, with_labels=True, with_annotations=True)
    assert job.result == {"dropped": 3, "rewritten": 0}
    assert sorted(a.filename for a in fork.list_assets()) == ["img2.png", "img3.png", "img4.png"]
    assert len(fork.list_annotations()) == 2
    single, _ = annotated.fork("one", assets=some[0])
    assert [a.filename for a in single.list_assets()] == ["img2.png"]


def test_fork_errors(annotated: vstore.DatasetVersion, store: vstore.Store) -> None:
    with pytest.raises(InvalidArgumentError, match="can't be empty"):
        annotated.fork("")
    with pytest.raises(AlreadyExistsError):
        annotated.fork("first")
    with pytest.raises(WrongTypeError):
        annotated.fork("x", type="nope")
    other = store.create_dataset("other").create_version("v")
    with pytest.raises(WrongTypeError):
        annotated.fork("x", assets=["img0.png"])
    fork, _ = annotated.fork("y", with_annotations=True)
    with pytest.raises(InvalidArgumentError, match="not in version"):
        annotated.fork("z", assets=fork.list_assets())
    assert other.list_labels() == []


def test_a_fork_of_a_published_version(annotated: vstore.DatasetVersion) -> None:
    annotated.publish_version()
    fork, _ = annotated.fork("next", with_tags=True, with_labels=True, with_annotations=True)
    fork.find_asset(filename="img5.png").create_annotation()
    assert len(fork.list_annotations()) == 5 and len(annotated.list_annotations()) == 4


def test_splits_are_reproducible_and_leave_the_global_rng_alone(
        annotated: vstore.DatasetVersion) -> None:
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    parts, reps, labels = annotated.split_into_multi_assets([0.5, 0.5], random_seed=42)
    assert random.random() == expected_next
    again, _, _ = annotated.split_into_multi_assets([0.5, 0.5], random_seed=42)
    assert [[a.id for a in p] for p in parts] == [[a.id for a in p] for p in again]
    assert [len(p) for p in parts] == [2, 2]  # only the 4 annotated assets
    assert labels == [Label("car"), Label("bus")]
    total: dict[str, int] = {}
    for rep in reps:
        for k, n in rep.items():
            total[k] = total.get(k, 0) + n
    assert total == {"car": 10, "bus": 2}
    others = {tuple(a.id for a in annotated.split_into_multi_assets(
        [0.5, 0.5], random_seed=s)[0][0]) for s in range(8)}
    assert len(others) > 1  # the seed matters


def test_train_test_and_val_splits(annotated: vstore.DatasetVersion) -> None:
    train, test, rep_train, rep_test, labels = annotated.train_test_split(0.75, random_seed=1)
    assert (len(train), len(test)) == (3, 1) and isinstance(train, MultiAsset)
    assert set(rep_train) == {"x", "y"} and sum(rep_train["y"]) + sum(rep_test["y"]) == 12
    out = annotated.train_test_val_split([0.5, 0.25, 0.25], random_seed="s")
    assert [len(p) for p in out[:3]] == [2, 1, 1] and out[6] == labels
    assert [len(p) for p in annotated.train_test_val_split()[:3]] == [2, 1, 1]  # 0.64/.16/.2
    with pytest.raises(NoDataError, match="empty"):
        annotated.train_test_val_split([0.9, 0.05, 0.05])  # int(.9*4) == int(.95*4) == 3
    with pytest.raises(InvalidArgumentError):
        annotated.train_test_split(1.5)
    with pytest.raises(InvalidArgumentError):
        annotated.train_test_val_split([0.5, 0.5])
    with pytest.raises(InvalidArgumentError, match="two proportions"):
        annotated.split_into_multi_assets([1.0])
    with pytest.raises(InvalidArgumentError):
        annotated.split_into_multi_assets([0.5, -0.5])
    with pytest.raises(WrongTypeError):
        annotated.split_into_multi_assets([0.5, 0.5], random_seed=[1])


def test_splits_need_annotated_assets(version: vstore.DatasetVersion) -> None:
    with pytest.raises(NoDataError, match="No asset with annotation"):
        version.train_test_split()


def test_split_sizes_follow_floor_cuts(store: vstore.Store) -> None:
    v = vstore.DatasetVersion.create_new_dataset("many", store=store)
    frames = []
    for i in range(10):
        f = vstore.SingleFrame(source=f"s3://b/{i}.jpg")
        f.add_annotation(labels=["x"])
        frames.append(f)
    v.add_frames(frames)
    parts, _, _ = v.split_into_multi_assets([0.8, 0.2])
    assert [len(p) for p in parts] == [8, 2]
    parts, _, _ = v.split_into_multi_assets([1, 1, 1])
    assert [len(p) for p in parts] == [3, 3, 4]
