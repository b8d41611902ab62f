"""The Hyper-Datasets DatasetVersion surface: every method, its defaults and its errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import vstore
from tests.datasets.conftest import boxed
from vstore import DatasetVersion, SingleFrame
from vstore.model import frame_to_record
from vstore.model.record import MAX_RECORD_SIZE


def test_create_new_dataset_makes_an_empty_current_draft(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", description="d", tags=["x"], store=store)
    assert (v.version_name, v.status, v.draft, len(v)) == ("Current", "draft", True, 0)
    assert v.dataset_name == "cars" and v.get_parent() is None
    again = DatasetVersion.create_new_dataset("cars", store=store)
    assert again == v
    with pytest.raises(vstore.AlreadyExistsError):
        DatasetVersion.create_new_dataset("cars", raise_if_exists=True, store=store)
    with pytest.raises(ValueError):  # AlreadyExistsError is a ValueError, as the seed raises
        DatasetVersion.create_new_dataset("cars", raise_if_exists=True, store=store)


def test_dataset_and_version_selectors_are_exclusive(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    with pytest.raises(vstore.UsageError):
        DatasetVersion.get_current(dataset_id=v.dataset_id, dataset_name="cars", store=store)
    with pytest.raises(vstore.UsageError):
        DatasetVersion.get_version(
            dataset_name="cars", version_id=v.version_id, version_name="Current", store=store
        )
    with pytest.raises(vstore.UsageError):
        DatasetVersion.get_current(store=store)
    with pytest.raises(vstore.NotFoundError):
        DatasetVersion.get_current(dataset_name="nope", store=store)
    with pytest.raises(vstore.NotFoundError):
        DatasetVersion.get_version(dataset_name="cars", version_name="nope", store=store)
    assert DatasetVersion.get_version(dataset_id=v.dataset_id, store=store) == v
    assert DatasetVersion.get_version(dataset_name="cars", version_name="Current", store=store) == v


def test_add_overwrites_by_id_and_returns_invalid_frames(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    assert v.add_frames([boxed(i) for i in range(20)]) == []
    assert len(v) == 20
    failed = v.add_frames([boxed(1, label="bus"), SingleFrame(id="nosource")])
    assert len(failed) == 1 and failed[0]["error_type"] == "validation"
    assert "source" in failed[0]["error"]
    assert len(v) == 20
    frame = DatasetVersion.get_single_frame(
        boxed(1).id or _id_of(boxed(1)), dataset_name="cars", store=store
    )
    assert frame.annotations[0].labels == ["bus"]


def _id_of(frame: SingleFrame) -> str:
    return str(vstore.model.frame_to_record(frame)["id"])


def test_same_uri_is_the_same_frame(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([SingleFrame(source="s3://b/a.jpg")])
    v.add_frames([SingleFrame(source="s3://b/a.jpg", metadata={"seen": 2})])
    assert len(v) == 1
    assert next(iter(v.get_iterator())).metadata == {"seen": 2}


def test_update_merges_and_cannot_remove_fields(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 1, "n": {"x": 1}})])
    v.update_frames(
        [SingleFrame(id="f", source="s3://b/f.jpg", metadata={"b": 2, "n": {"y": 2}})],
        without_fields=[],
    )
    (f,) = v.get_frames_by_ids(["f"])
    assert f.metadata == {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}
    v.update_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"c": 3})],
                    without_fields=["meta"])
    assert v.get_frames_by_ids(["f"])[0].metadata == {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}
    v.update_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"c": 3})])
    assert v.get_frames_by_ids(["f"])[0].metadata == {"c": 3}  # no without_fields: overwrite
    with pytest.raises(vstore.NotFoundError, match="ghost"):
        v.update_frames([SingleFrame(id="ghost", source="s3://b/g.jpg")], without_fields=[])
    assert len(v) == 1


def test_delete_by_object_or_id(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    frames = [boxed(i) for i in range(5)]
    v.add_frames(frames)
    v.delete_frames([frames[0], _id_of(frames[1]), "not-there"])
    assert len(v) == 3
    with pytest.raises(vstore.InvalidArgumentError):
        v.delete_frames("f1")  # type: ignore[arg-type]


@pytest.mark.parametrize("apply_max", [256, 0])  # plain trees; every write a run
def test_commit_counts_what_changed_across_several_writes(
    store: vstore.Store, apply_max: int
) -> None:
    store.repo.layers.apply_max = apply_max
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(i) for i in range(10)], refresh_version_stats=False)
    assert v.commit_version()["saved_and_updated"] == 10
    quiet = {"refresh_version_stats": False}
    v.add_frames([boxed(i, "bus") for i in range(3)], **quiet)      # modify 0-2
    v.add_frames([boxed(i) for i in range(10, 14)], **quiet)        # add 10-13
    v.delete_frames([boxed(4), boxed(5), boxed(11)], **quiet)       # 11 never committed
    v.add_frames([boxed(1), boxed(5, "truck")], **quiet)            # 1 back as committed
    v.add_frames([boxed(2, "car", note="x")], **quiet)              # 2 modified twice
    report = v.commit_version()
    # Added 10, 12, 13; modified 0, 2, 5; deleted 4; frame 1 is as committed.
    assert (report["saved_and_updated"], report["deleted"]) == (6, 1)
    assert report["total"] == 12
    same = DatasetVersion.get_version(dataset_name="cars", version_id=v.version_id, store=store)
    assert len(v.diff(same)) == 0
    assert v.commit_version()["saved_and_updated"] == 0


def test_stats_are_refreshed_on_commit(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(i, "car") for i in range(6)] + [SingleFrame(source="s3://b/plain.jpg")],
                 refresh_version_stats=False)
    assert v.get_stats()["labels"] == []
    result = v.commit_version()
    assert result["total"] == 7 and result["saved_and_updated"] == 7 and result["deleted"] == 0
    stats = v.get_stats()
    assert stats["labels"] == [{"name": "car", "count": 6}]
    assert {r["name"]: r["count"] for r in stats["frames"]} == {"annotated": 6, "unannotated": 1}
    v.delete_frames([boxed(0)])
    assert v.get_stats()["labels"] == [{"name": "car", "count": 5}]


def test_published_versions_refuse_every_write(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(1)])
    assert v.publish_version() is True
    assert v.status == "published" and not v.draft
    before = v.commit_id
    for write in (
        lambda: v.add_frames([boxed(2)]),
        lambda: v.update_frames([boxed(1)]),
        lambda: v.delete_frames([boxed(1)]),
        lambda: v.get_bulk_context(),
        lambda: v.commit_version(),
        lambda: v.publish_version(),
    ):
        with pytest.raises(vstore.ReadOnlyError):
            write()
    assert v.set_metadata({"a": 1}) is False
    assert v.set_version_name("renamed") is False
    assert v.commit_id == before and len(v) == 1


def test_children_come_from_published_parents(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(i) for i in range(3)])
    with pytest.raises(vstore.ReadOnlyError, match="publish it first"):
        DatasetVersion.create_version("child", dataset_name="cars",
                                      parent_version_ids=[v.version_id], store=store)
    v.publish_version()
    child = DatasetVersion.create_version(
        "child", dataset_name="cars", parent_version_names=["Current"], store=store
    )
    assert child.get_parent() == v.version_id and len(child) == 3 and child.status == "draft"
    assert DatasetVersion.create_version("child", dataset_name="cars", store=store) == child
    with pytest.raises(vstore.AlreadyExistsError):
        DatasetVersion.create_version("child", dataset_name="cars", raise_if_exists=True,
                                      store=store)
    root = DatasetVersion.create_version("empty-root", dataset_name="cars", store=store)
    assert len(root) == 0 and root.get_parent() is None


def test_create_snapshot_publishes_in_place_and_opens_a_child(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(i) for i in range(4)])
    child = DatasetVersion.create_snapshot(dataset_name="cars", child_metadata={"k": 1},
                                           store=store)
    published = DatasetVersion.get_version(dataset_name="cars", version_id=v.version_id,
                                           store=store)
    assert published.status == "published"
    assert published.version_name.startswith("snapshot 20")
    assert published.comment.startswith("published at ")
    assert child.version_name == "Current" and child.version_id != v.version_id
    assert child.get_parent() == v.version_id and child.get_metadata() == {"k": 1}
    assert len(child) == 4
    assert DatasetVersion.get_current(dataset_name="cars", store=store) == child
    names = [x.version_name for x in DatasetVersion.get_versions(dataset_name="cars", store=store)]
    assert names[0] == "Current" and len(names) == 2
    assert [x.version_id for x in DatasetVersion.get_versions(
        dataset_name="cars", only_published=True, store=store)] == [v.version_id]
    assert [x.version_id for x in DatasetVersion.get_versions(
        dataset_name="cars", only_draft=True, store=store)] == [child.version_id]


def test_remove_version_rules(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    child = DatasetVersion.create_snapshot(dataset_name="cars", store=store)
    with pytest.raises(vstore.ReadOnlyError):
        DatasetVersion.remove_version(dataset_name="cars", version_id=v.version_id, store=store)
    with pytest.raises(vstore.UsageError, match="child"):
        DatasetVersion.remove_version(dataset_name="cars", version_id=v.version_id, force=True,
                                      store=store)
    DatasetVersion.remove_version(dataset_name="cars", version_id=child.version_id, store=store)
    DatasetVersion.remove_version(dataset_name="cars", version_id=v.version_id, force=True,
                                  store=store)
    assert DatasetVersion.get_versions(dataset_name="cars", store=store) == []


def test_metadata_rules(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    assert v.set_metadata({"owner": "me", "nested": {"ok": [1, 2]}}) is True
    assert v.get_metadata() == {"owner": "me", "nested": {"ok": [1, 2]}}
    for bad in ({"a.b": 1}, {"$x": 1}, {"n": {"y.z": 1}}, "not a dict"):
        with pytest.raises(vstore.InvalidArgumentError):
            v.set_metadata(bad)  # type: ignore[arg-type]
    assert v.get_metadata() == {"owner": "me", "nested": {"ok": [1, 2]}}
    assert v.set_version_name("renamed") and v.version_name == "renamed"


def test_masks_labels_live_in_version_metadata(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.set_masks_labels({(255, 0, 0): ["car"], (0, 255, 0): ["road", "asphalt"]})
    assert v.get_masks_labels() == {(255, 0, 0): ["car"], (0, 255, 0): ["road", "asphalt"]}
    assert v.get_metadata()["mask_labels"] == {
        "_all_": [{"value": [255, 0, 0], "labels": ["car"]},
                  {"value": [0, 255, 0], "labels": ["road", "asphalt"]}]
    }
    with pytest.raises(vstore.InvalidArgumentError):
        v.set_masks_labels({(300, 0, 0): ["x"]})


def test_reads_by_ids_source_and_projection(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(i, "car" if i % 2 else "bus", cam=f"c{i % 3}") for i in range(30)])
    ids = [_id_of(boxed(i)) for i in (3, 7, 11)]
    got = v.get_frames_by_ids([*ids, "missing"])
    assert sorted(_id_of(f) for f in got) == sorted(ids)
    projected = DatasetVersion.get_frames_by_ids(
        ids, projection=["id", "meta.cam", "rois.*.label"], dataset_name="cars", store=store
    )
    assert all(set(p) == {"id", "meta", "rois"} for p in projected)
    assert {p["rois"][0]["label"][0] for p in projected} == {"car"}
    assert all(set(p["meta"]) == {"cam"} for p in projected)
    by_folder = DatasetVersion.get_frames_by_source("s3://bucket/images/0001*",
                                                    dataset_name="cars", store=store)
    assert len(by_folder) == 10
    assert len(DatasetVersion.get_frames_by_source("s3://bucket/images/", dataset_name="cars",
                                                   store=store)) == 30
    exact = DatasetVersion.get_frames_by_source("s3://bucket/images/00005.jpg",
                                                dataset_name="cars", store=store)
    assert [f.source for f in exact] == ["s3://bucket/images/00005.jpg"]
    with pytest.raises(vstore.InvalidQueryError, match="empty segment"):
        v.get_iterator(projection=["rois..label"])
    assert sum(1 for _ in v.get_iterator()) == 30


def test_get_datasets_filters_by_tags(store: vstore.Store) -> None:
    for name, tags in (("a", ["best"]), ("b", ["best", "debug"]), ("c", ["other"])):
        DatasetVersion.create_new_dataset(name, tags=tags, store=store)
    names = lambda tags: [d.name for d in DatasetVersion.get_datasets(tags=tags, store=store)]  # noqa: E731
    assert names(None) == ["a", "b", "c"]
    assert names(["best", "-debug"]) == ["a"]
    assert names(["best", "other"]) == ["a", "b", "c"]
    assert names(["__$all", "best", "debug"]) == ["b"]
    assert names(["__$all", "best", "__$not", "debug"]) == ["a"]
    with pytest.raises(vstore.InvalidQueryError):
        names(["__$bogus", "x"])


def test_bulk_context_flushes_by_threshold_and_on_exit(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    bc = v.get_bulk_context(flush_threshold=10)
    assert v.get_bulk_context() is bc
    with bc:
        for i in range(25):
            bc.add_frame(boxed(i))
        assert len(v) == 20 and bc.pending == 5
    assert len(v) == 25 and bc.pending == 0
    with pytest.warns(UserWarning, match="already added"):
        bc.add_frame(boxed(1), warn_on_duplicate_frames=True)
        bc.add_frame(boxed(1), warn_on_duplicate_frames=True)
    bc.delete_frame(boxed(2))
    bc.flush()
    assert len(v) == 25 - 1
    with pytest.raises(vstore.InvalidArgumentError):
        v.get_bulk_context(flush_threshold=0)  # a different context: arguments are checked


def test_get_version_without_a_version_logs_when_there_are_several(
    store: vstore.Store, caplog: pytest.LogCaptureFixture
) -> None:
    DatasetVersion.create_new_dataset("cars", store=store)
    with caplog.at_level("WARNING", logger="vstore.datasets"):
        DatasetVersion.get_version(dataset_name="cars", store=store)
    assert caplog.records == []  # one version: nothing to choose
    child = DatasetVersion.create_snapshot(dataset_name="cars", store=store)
    with caplog.at_level("WARNING", logger="vstore.datasets"):
        current = DatasetVersion.get_version(dataset_name="cars", store=store)
        DatasetVersion.get_version(dataset_name="cars", version_id=child.id, store=store)
    assert current.id == child.id
    assert [r.getMessage() for r in caplog.records] == [
        f"dataset 'cars' has 2 versions: using the current one, {child.version_name!r} "
        f"({child.id}); give version_id or version_name to choose"
    ]


def test_bulk_context_warns_of_a_duplicate_added_before_a_flush(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    with v.get_bulk_context(flush_threshold=2) as bc:
        bc.add_frame(boxed(1), warn_on_duplicate_frames=True)
        bc.add_frame(boxed(2), warn_on_duplicate_frames=True)  # the threshold flushes both
        assert bc.pending == 0
        with pytest.warns(UserWarning, match="already added"):
            bc.add_frame(boxed(1), warn_on_duplicate_frames=True)
    with v.get_bulk_context() as bc, warnings.catch_warnings():
        warnings.simplefilter("error")  # a new block: the ids of the last one are forgotten
        bc.add_frame(boxed(1), warn_on_duplicate_frames=True)
    assert len(v) == 2


def test_bulk_context_delete_frame_takes_delete_sources(
    store: vstore.Store, tmp_path: Path
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    local = tmp_path / "a.jpg"
    local.write_bytes(b"jpeg")
    frame = SingleFrame(source=local.as_uri())
    v.add_frames([frame, boxed(1)])
    with v.get_bulk_context() as bc:
        bc.delete_frame(boxed(1), delete_sources=False)
        bc.delete_frame(frame, delete_sources=True)
        with pytest.warns(UserWarning, match="1 local source file"):
            bc.flush()
    assert len(v) == 0 and local.exists()  # local files are never deleted


def test_bulk_context_keeps_stats_exact_through_overwrites_and_deletes(
    store: vstore.Store,
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    with v.get_bulk_context(flush_threshold=7) as bc:
        for i in range(30):  # many frames contribute the same: they are counted together
            bc.add_frame(boxed(i, "car" if i % 3 else "bus"))
    with v.get_bulk_context() as bc:
        for i in range(0, 30, 2):  # overwrites, with another label
            bc.add_frame(boxed(i, "truck"))
        bc.add_frame(SingleFrame(source="s3://b/plain.jpg"))
        bc.delete_frame(boxed(1))
    labels = {r["name"]: r["count"] for r in v.get_stats()["labels"]}
    frames = {r["name"]: r["count"] for r in v.get_stats()["frames"]}
    kept = [i for i in range(1, 30, 2) if i != 1]
    assert labels == {"truck": 15, "car": sum(1 for i in kept if i % 3),
                      "bus": sum(1 for i in kept if not i % 3)}
    assert frames == {"annotated": 29, "unannotated": 1}
    assert v.status == "committed" and len(v) == 30
    with v.get_bulk_context() as bc:  # a frame written again unchanged, and a delete
        bc.add_frame(boxed(0, "truck"))
        bc.delete_frame(boxed(2))
    labels = {r["name"]: r["count"] for r in v.get_stats()["labels"]}
    frames = {r["name"]: r["count"] for r in v.get_stats()["frames"]}
    assert labels["truck"] == 14 and frames == {"annotated": 28, "unannotated": 1}


def test_bulk_update_is_an_add_unless_allow_update(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 1})])
    with v.get_bulk_context() as bc:
        bc.update_frame(SingleFrame(id="f", source="s3://b/f.jpg", metadata={"b": 2}))
    assert v.get_frames_by_ids(["f"])[0].metadata == {"b": 2}
    v2 = DatasetVersion.create_new_dataset("trucks", store=store)
    v2.add_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 1})])
    bc2 = v2.get_bulk_context(allow_update=True)
    with bc2:
        bc2.update_frame(SingleFrame(id="f", source="s3://b/f.jpg", metadata={"b": 2}))
    assert v2.get_frames_by_ids(["f"])[0].metadata == {"a": 1, "b": 2}


def test_diff_merge_and_log(store: vstore.Store) -> None:
    base = DatasetVersion.create_new_dataset("cars", store=store)
    base.add_frames([boxed(i) for i in range(50)])
    base.publish_version()
    ours = DatasetVersion.create_version("ours", dataset_name="cars",
                                         parent_version_ids=[base.version_id], store=store)
    theirs = DatasetVersion.create_version("theirs", dataset_name="cars",
                                           parent_version_ids=[base.version_id], store=store)
    ours.add_frames([boxed(100), boxed(1, "bus")])
    theirs.add_frames([boxed(200), boxed(1, "truck"), boxed(2, "van")])
    theirs.delete_frames([boxed(3)])
    d = theirs.diff(base)
    assert d.counts == {"added": 1, "modified": 2, "deleted": 1}
    assert d.labels == {"car": {"added": 1, "removed": 3}, "truck": {"added": 1, "removed": 0},
                        "van": {"added": 1, "removed": 0}, }
    assert not base.diff(base) and len(base.diff(base)) == 0
    with pytest.raises(vstore.MergeConflictError) as err:
        ours.merge(theirs)
    assert err.value.keys == [_id_of(boxed(1)).encode()]
    report = ours.merge(theirs, strategy="report")
    assert report.conflicts == [_id_of(boxed(1))] and report.applied == 3
    assert len(ours) == 50 + 2 - 1
    assert ours.get_frames_by_ids([_id_of(boxed(1))])[0].annotations[0].labels == ["bus"]
    assert ours.get_frames_by_ids([_id_of(boxed(2))])[0].annotations[0].labels == ["van"]
    history = ours.log()
    assert [h["version_name"] for h in history][-1] == "Current"
    assert history[-1]["status"] == "published"
    assert len(ours.commit_id) == 64


def test_snapshot_needs_a_version_name_when_several_drafts_exist(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    DatasetVersion.create_version("second-root", dataset_name="cars", store=store)
    with pytest.raises(vstore.UsageError, match="name the one"):
        DatasetVersion.create_snapshot(dataset_name="cars", store=store)
    child = DatasetVersion.create_snapshot(dataset_name="cars", version_id=v.version_id,
                                           store=store)
    assert child.get_parent() == v.version_id


def test_add_frames_batches_and_reports_progress(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    seen: list[tuple[int, int]] = []
    before = v.commit_id
    failed = v.add_frames([boxed(i) for i in range(25)], batch_size=10,
                          callback=lambda done, total: seen.append((done, total)))
    assert failed == [] and len(v) == 25
    assert seen == [(10, 25), (20, 25), (25, 25)]
    assert v.commit_id != before
    with pytest.raises(vstore.InvalidArgumentError):
        v.add_frames([boxed(1)], batch_size=0)


def test_max_request_size_splits_batches_and_writes_a_larger_frame_alone(
    store: vstore.Store,
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    big = SingleFrame(source="s3://b/big.jpg", metadata={"blob": "x" * 300_000})
    done: list[int] = []
    failed = v.add_frames([boxed(1), big, boxed(2)], max_request_size_mb=0.1,
                          callback=lambda n, _total: done.append(n))
    assert failed == [] and len(v) == 3
    assert done == [1, 2, 3]  # the big frame fits with neither neighbour: three writes
    (back,) = v.get_frames_by_ids([big.id or frame_to_record(big)["id"]])
    assert back.metadata["blob"] == "x" * 300_000


def test_a_frame_over_the_record_size_limit_fails_alone(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    huge = SingleFrame(source="s3://b/huge.jpg", metadata={"blob": "x" * MAX_RECORD_SIZE})
    failed = v.add_frames([boxed(1), huge, boxed(2)])
    assert [(f["frame"], f["error_type"]) for f in failed] == [(huge, "register")]
    assert f"over the {MAX_RECORD_SIZE}-byte limit" in failed[0]["error"]
    assert sorted(f.id for f in v.get_iterator()) == sorted(
        frame_to_record(boxed(i))["id"] for i in (1, 2))


def test_frames_read_back_are_independent_copies(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    f = SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": {"b": 1}})
    f.add_annotation(box2d_xywh=[1, 2, 3, 4], labels=["car"], metadata={"x": 1})
    v.add_frames([f])
    (first,) = v.get_frames_by_ids(["f"])
    first.metadata["a"]["b"] = 99
    first.annotations[0].labels.append("bus")
    first.annotations[0].metadata["x"] = 2
    (again,) = list(v.get_iterator())
    assert again.metadata == {"a": {"b": 1}}
    assert again.annotations[0].labels == ["car"] and again.annotations[0].metadata == {"x": 1}
    assert again.annotations[0].box2d_xywh == [1.0, 2.0, 3.0, 4.0]


def test_delete_dataset_rules(store: vstore.Store) -> None:
    empty = DatasetVersion.create_new_dataset("empty", store=store)
    DatasetVersion.delete_dataset(dataset_name="empty", store=store)
    assert [d.name for d in DatasetVersion.get_datasets(store=store)] == []
    with pytest.raises(vstore.NotFoundError):
        DatasetVersion.get_current(dataset_id=empty.dataset_id, store=store)
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([boxed(1)])
    with pytest.raises(vstore.UsageError, match="delete_all_versions"):
        DatasetVersion.delete_dataset(dataset_name="cars", store=store)
    v.publish_version()
    with pytest.raises(vstore.ReadOnlyError, match="force"):
        DatasetVersion.delete_dataset(dataset_name="cars", delete_all_versions=True, store=store)
    DatasetVersion.delete_dataset(dataset_name="cars", delete_all_versions=True, force=True,
                                  store=store)
    assert DatasetVersion.get_datasets(store=store) == []
    again = DatasetVersion.create_new_dataset("cars", store=store)  # the name is free again
    assert again.dataset_id != v.dataset_id and len(again) == 0
    assert store.verify().ok


def test_update_with_an_invalid_frame_raises_its_error_and_writes_nothing(
    store: vstore.Store,
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 1})])
    before = v.commit_id
    with pytest.raises(vstore.UsageError, match="source"):
        v.update_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 2}),
                         SingleFrame(id="nosource")])
    assert v.commit_id == before
    assert v.get_frames_by_ids(["f"])[0].metadata == {"a": 1}


def test_commit_version_records_its_message(store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("msg", store=store)
    v.add_frames([boxed(1)], refresh_version_stats=False)
    v.commit_version(message="first batch of left-camera frames")
    assert v.log()[0]["message"] == "first batch of left-camera frames"
    v.add_frames([boxed(2)], refresh_version_stats=False)
    v.commit_version()
    assert v.log()[0]["message"] == "commit"
