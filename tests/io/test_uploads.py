"""Uploads of local sources: auto_upload_destination, src_to_dst_mapping, hash reuse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

import vstore
from vstore import DatasetVersion, FrameGroup, SingleFrame
from vstore.io.sources import INDEX_PREFIX, resolve_under, upload_sources


@pytest.fixture
def store(tmp_path: Path) -> Iterator[vstore.Store]:
    """A real LMDB store under the test's temp directory."""
    s = vstore.open(str(tmp_path / "s"))
    yield s
    s.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A local dataset root with three images, a preview and a mask."""
    r = tmp_path / "data"
    (r / "img").mkdir(parents=True)
    for i in range(3):
        (r / "img" / f"{i}.jpg").write_bytes(f"image {i}".encode() * 100)
    (r / "img" / "0.thumb.jpg").write_bytes(b"thumb")
    (r / "img" / "0.mask.png").write_bytes(b"mask")
    return r


def files_under(path: Path) -> list[str]:
    """Every file under ``path``, relative, sorted."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def frame(path: Path, **kw: Any) -> SingleFrame:
    return SingleFrame(source=str(path), width=10, height=10, **kw)


def stored(v: DatasetVersion) -> dict[str, Any]:
    """The version's frames by id."""
    return {f.id: f for f in v.get_iterator()}


def upload_kw(dest: Path, root: Path) -> dict[str, Any]:
    return {"auto_upload_destination": f"file://{dest}", "local_dataset_root_path": str(root)}


def test_upload_uses_the_documented_layout_and_rewrites_uris(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    f0 = frame(root / "img" / "0.jpg", preview_uri=str(root / "img" / "0.thumb.jpg"),
               mask_source=str(root / "img" / "0.mask.png"))
    others = [frame(root / "img" / f"{i}.jpg") for i in (1, 2)]
    remote = SingleFrame(source="s3://bucket/x.jpg")
    assert v.add_frames([f0, *others, remote], **upload_kw(dest, root)) == []
    base = f"{v.dataset_id}/Current.{v.version_id}/img"
    assert files_under(dest) == sorted(
        f"{base}/{n}" for n in ("0.jpg", "1.jpg", "2.jpg", "0.thumb.jpg", "0.mask.png")
    )
    frames = {f.source: f for f in v.get_iterator()}
    got = frames[f"file://{dest}/{base}/0.jpg"]
    assert got.preview_uri == f"file://{dest}/{base}/0.thumb.jpg"
    assert got.mask_source == f"file://{dest}/{base}/0.mask.png"
    assert got.context_id == got.source
    assert got.hash == blake3.blake3((root / "img" / "0.jpg").read_bytes()).hexdigest()
    assert "s3://bucket/x.jpg" in frames
    assert (dest / base / "1.jpg").read_bytes() == (root / "img" / "1.jpg").read_bytes()
    assert not [n for n in files_under(dest) if n.endswith(".part")]
    assert store.repo.backend.read_key(INDEX_PREFIX + got.hash) == got.source.encode()


def test_same_content_is_reused_across_versions_and_datasets(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([frame(root / "img" / "0.jpg")], **upload_kw(dest, root))
    first = files_under(dest)
    assert len(first) == 1
    child = DatasetVersion.create_snapshot(dataset_id=v.dataset_id, store=store)
    other = DatasetVersion.create_new_dataset("bikes", store=store)
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    (copy_dir / "same.jpg").write_bytes((root / "img" / "0.jpg").read_bytes())
    assert child.add_frames([frame(root / "img" / "0.jpg")], **upload_kw(dest, root)) == []
    assert other.add_frames(
        [frame(copy_dir / "same.jpg")], **upload_kw(dest, copy_dir)
    ) == []
    assert files_under(dest) == first
    uri = f"file://{dest}/{first[0]}"
    assert [f.source for f in child.get_iterator()] == [uri]
    assert [f.source for f in other.get_iterator()] == [uri]


def test_force_upload_writes_a_new_copy(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([frame(root / "img" / "0.jpg")], **upload_kw(dest, root))
    child = DatasetVersion.create_snapshot(dataset_id=v.dataset_id, store=store)
    child.add_frames([frame(root / "img" / "0.jpg")], force_upload=True, **upload_kw(dest, root))
    assert len(files_under(dest)) == 2
    new = f"file://{dest}/{v.dataset_id}/Current.{child.version_id}/img/0.jpg"
    assert [f.source for f in child.get_iterator()] == [new]
    digest = blake3.blake3((root / "img" / "0.jpg").read_bytes()).hexdigest()
    assert store.repo.backend.read_key(INDEX_PREFIX + digest) == new.encode()


def test_a_deleted_upload_is_uploaded_again(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([frame(root / "img" / "0.jpg")], **upload_kw(dest, root))
    (dest / files_under(dest)[0]).unlink()
    v.add_frames([frame(root / "img" / "0.jpg")], **upload_kw(dest, root))
    assert len(files_under(dest)) == 1
    assert Path(next(iter(v.get_iterator())).source[len("file://"):]).is_file()


def test_missing_file_fails_only_its_frame(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    missing = frame(root / "img" / "nope.jpg")
    failed = v.add_frames(
        [frame(root / "img" / "0.jpg"), missing, frame(root / "img" / "1.jpg")],
        upload_retries=1, **upload_kw(dest, root),
    )
    assert [(f["frame"], f["error_type"]) for f in failed] == [(missing, "upload")]
    assert "nope.jpg" in failed[0]["error"] and "does not exist" in failed[0]["error"]
    assert len(v) == 2
    assert all(f.source.startswith(f"file://{dest}/") for f in v.get_iterator())


def test_register_on_upload_failure_keeps_the_original_uri(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    missing = frame(root / "img" / "nope.jpg")
    failed = v.add_frames(
        [missing], register_on_upload_failure=True, **upload_kw(tmp_path / "dest", root)
    )
    assert len(failed) == 1 and failed[0]["error_type"] == "upload"
    assert [f.source for f in v.get_iterator()] == [f"file://{root}/img/nope.jpg"]


def test_sources_outside_the_root_fail_and_nothing_is_written(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key.jpg").write_bytes(b"secret")
    (root / "img" / "link.jpg").symlink_to(outside / "key.jpg")
    before = files_under(tmp_path)
    v = DatasetVersion.create_new_dataset("cars", store=store)
    dotdot = SingleFrame(source=f"{root}/img/../../secret/key.jpg")
    link = frame(root / "img" / "link.jpg")
    failed = v.add_frames([dotdot, link], **upload_kw(dest, root))
    assert [f["frame"] for f in failed] == [dotdot, link]
    assert all("outside the local root" in f["error"] for f in failed)
    assert len(v) == 0
    assert not dest.exists()
    assert [p for p in files_under(tmp_path) if not p.startswith("s/")] == [
        p for p in before if not p.startswith("s/")
    ]


def test_resolve_under_keeps_the_given_relative_path(root: Path) -> None:
    real, rel = resolve_under(f"{root}/img/../img/1.jpg", str(root))
    assert (real, rel) == (os.path.realpath(root / "img" / "1.jpg"), os.path.join("img", "1.jpg"))
    with pytest.raises(vstore.InvalidArgumentError):
        resolve_under(str(root), str(root))


def test_src_to_dst_mapping(store: vstore.Store, root: Path, tmp_path: Path) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    target = tmp_path / "mapped" / "deep" / "zero.jpg"
    src0, src1 = root / "img" / "0.jpg", root / "img" / "1.jpg"
    mapping = {str(src0): f"file://{target}"}
    assert v.add_frames([frame(src0), frame(src1)], src_to_dst_mapping=mapping) == []
    assert target.read_bytes() == src0.read_bytes()
    assert sorted(f.source for f in v.get_iterator()) == sorted(
        [f"file://{target}", f"file://{src1}"]
    )
    assert files_under(tmp_path / "mapped") == [os.path.join("deep", "zero.jpg")]


def test_clashing_or_missing_options_raise_usage_error(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=store)
    f = frame(root / "img" / "0.jpg")
    with pytest.raises(vstore.UsageError, match="local_dataset_root_path"):
        v.add_frames([f], auto_upload_destination=f"file://{tmp_path}/d")
    with pytest.raises(vstore.UsageError, match="not both"):
        v.add_frames([f], src_to_dst_mapping={}, **upload_kw(tmp_path / "d", root))
    with pytest.raises(vstore.InvalidArgumentError):
        v.add_frames([f], upload_retries=-1, **upload_kw(tmp_path / "d", root))
    assert len(v) == 0 and not (tmp_path / "d").exists()


@pytest.mark.parametrize("background", [False, True], ids=["here", "writer-process"])
def test_bulk_context_uploads_at_flush_and_lists_failures(
    store: vstore.Store, root: Path, tmp_path: Path, background: bool
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    missing = frame(root / "img" / "nope.jpg")
    # With a writer process, each frame is a threshold flush: uploaded here, then sent.
    kw: dict[str, Any] = {"flush_threshold": 1, "background": True} if background else {}
    with v.get_bulk_context(**upload_kw(dest, root), **kw) as bc:
        bc.add_frame(frame(root / "img" / "0.jpg"))
        bc.add_frame(missing)
        assert dest.exists() == background
    assert len(files_under(dest)) == 1
    assert [f.source for f in v.get_iterator()] == [f"file://{dest}/{files_under(dest)[0]}"]
    assert [(f["frame"], f["error_type"]) for f in bc.failed] == [
        (vstore.model.frame_to_record(missing)["id"], "upload")
    ]


def test_frame_group_with_a_missing_member_is_not_registered(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    v = DatasetVersion.create_new_dataset("cars", store=store)
    broken = FrameGroup()
    broken["left"] = frame(root / "img" / "0.jpg")
    broken["right"] = frame(root / "img" / "nope.jpg")
    whole = FrameGroup()
    whole["left"] = frame(root / "img" / "1.jpg")
    whole["right"] = frame(root / "img" / "2.jpg")
    failed = v.add_frames([broken, whole], **upload_kw(dest, root))
    assert [f["frame"] for f in failed] == [broken]
    assert len(v) == 1
    (group,) = v.get_iterator()
    assert {k: group[k].source for k in group} == {
        side: f"file://{dest}/{v.dataset_id}/Current.{v.version_id}/img/{n}.jpg"
        for side, n in (("left", 1), ("right", 2))
    }


def test_failing_transfer_is_retried_then_reported(
    store: vstore.Store, root: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file where the destination folder should be")
    v = DatasetVersion.create_new_dataset("cars", store=store)
    record = vstore.model.frame_to_record(frame(root / "img" / "0.jpg"))
    done, failed = upload_sources(
        v, [(None, record)], destination=f"file://{blocker}", local_root=str(root),
        mapping=None, retries=2, force=False, keep_failed=False,
    )
    assert done == []
    assert failed[0]["frame"] == record["id"] and "3 attempt(s)" in failed[0]["error"]
    assert record["sources"][0]["uri"] == f"file://{root}/img/0.jpg"  # input untouched


def test_delete_frames_with_delete_sources_leaves_local_files(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        p = tmp_path / "src" / f"{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"jpeg %d" % i)
        files.append(p)
    store = vstore.open(str(tmp_path / "store"))
    v = vstore.DatasetVersion.create_new_dataset("d", store=store)
    frames = [vstore.SingleFrame(source=p.as_uri()) for p in files]
    v.add_frames(frames)
    with pytest.warns(UserWarning, match="2 local source file"):
        v.delete_frames(frames[:2], delete_sources=True)
    assert all(p.exists() for p in files)  # only cloud copies are ever deleted
    assert len(v) == 1
    store.close()
