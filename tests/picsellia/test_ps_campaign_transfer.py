"""Campaigns, downloads and synchronize."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

import vstore
from vstore.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidArgumentError,
    LocalFileNotFoundError,
    NoDataError,
)


def test_campaign_lifecycle(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    with pytest.raises(NoDataError, match="no annotation campaign"):
        version.get_campaign()
    instructions = tmp_path / "howto.md"
    instructions.write_text("Draw boxes around cars.")
    campaign = version.create_campaign(
        "labelling", description="first pass", instructions_file_path=instructions,
        instructions_text="be precise", end_date=dt.date(2030, 1, 31),
        auto_close_on_completion=True)
    assert campaign.status == "OPEN" and campaign.end_date == dt.date(2030, 1, 31)
    assert campaign.instructions_file_content == "Draw boxes around cars."
    assert version.get_campaign().id == campaign.id
    tasks = campaign.list_tasks()
    assert len(tasks) == 6 and {t.status for t in tasks} == {"PENDING"}
    with pytest.raises(AlreadyExistsError):
        version.create_campaign()
    a0 = version.find_asset(filename="img0.png")
    campaign.update_task(a0, "done", user="alice")
    assert [a.id for a in version.list_assets(assignment_status="DONE")] == [a0.id]
    assert [a.id for a in version.list_assets(assignment_user_id="alice")] == [a0.id]
    assert len(version.list_assets(assignment_status="pending")) == 5
    with pytest.raises(NoDataError):
        version.list_assets(assignment_step_id="another-step")
    with pytest.raises(InvalidArgumentError):
        campaign.update_task(a0, "finished")
    for t in campaign.list_tasks()[:-1]:
        campaign.update_task(t.asset_id, "DONE")
    assert campaign.sync().status == "OPEN"
    campaign.update_task(campaign.list_tasks()[-1].asset_id, "SKIPPED")
    assert campaign.status == "CLOSED"  # auto_close_on_completion


def test_campaign_errors_and_auto_add(store: vstore.Store, images: list[Path]) -> None:
    v = store.create_dataset("cars").create_version("first")
    with pytest.raises(LocalFileNotFoundError):
        v.create_campaign(instructions_file_path="/nope.md")
    with pytest.raises(vstore.WrongTypeError):
        v.create_campaign(end_date="2030-01-01")
    campaign = v.create_campaign(auto_add_new_assets=True)
    assert campaign.list_tasks() == []
    v.add_data(store.get_datalake().upload_data([str(p) for p in images[:2]]))
    assert len(campaign.list_tasks()) == 2
    fork, _ = v.fork("second", with_tags=True, with_labels=True, with_annotations=True)
    with pytest.raises(NoDataError):
        fork.get_campaign()  # a fork has no campaign; inherited tasks are ignored
    with pytest.raises(NoDataError):
        fork.list_assets(assignment_status="PENDING")


def test_download(version: vstore.DatasetVersion, images: list[Path], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    version.download(out, max_workers=2)
    assert sorted(os.listdir(out)) == [f"img{i}.png" for i in range(6)]
    assert (out / "img3.png").read_bytes() == images[3].read_bytes()
    (out / "img3.png").write_bytes(b"local edit")
    version.download(out)
    assert (out / "img3.png").read_bytes() == b"local edit"  # kept without force_replace
    version.download(out, force_replace=True)
    assert (out / "img3.png").read_bytes() == images[3].read_bytes()
    by_id = tmp_path / "by_id"
    version.download(by_id, use_id=True)
    assert sorted(os.listdir(by_id)) == sorted(a.id_with_extension for a in version.list_assets())
    monkeypatch.chdir(tmp_path)
    version.download()
    assert len(os.listdir(tmp_path / "cars" / "first")) == 6
    with pytest.raises(InvalidArgumentError):
        version.download(out, max_workers=0)


def test_download_refuses_unsafe_or_clashing_names(store: vstore.Store,
                                                   tmp_path: Path) -> None:
    v = vstore.DatasetVersion.create_new_dataset("hd", store=store)
    v.add_frames([vstore.SingleFrame(id="../evil", source="s3://bucket/ok.jpg"),
                  vstore.SingleFrame(id="a", source="s3://bucket/x/same.jpg"),
                  vstore.SingleFrame(id="b", source="s3://bucket/y/same.jpg")])
    out = tmp_path / "out"
    with pytest.raises(InvalidArgumentError, match=r"same\.jpg"):
        v.download(out)
    with pytest.raises(InvalidArgumentError, match="could leave"):
        v.download(out, use_id=True)
    assert not out.exists() or os.listdir(out) == []


def test_download_reads_file_sources(store: vstore.Store, images: list[Path],
                                     tmp_path: Path) -> None:
    v = vstore.DatasetVersion.create_new_dataset("local", store=store)
    v.add_frames([vstore.SingleFrame(source=str(images[0])),
                  vstore.SingleFrame(source=str(tmp_path / "gone.png"))])
    out = tmp_path / "out"
    with pytest.raises(BackendError, match=r"gone\.png"):
        v.download(out)
    assert (out / "img0.png").read_bytes() == images[0].read_bytes()


def test_synchronize(version: vstore.DatasetVersion, tmp_path: Path) -> None:
    folder = tmp_path / "sync"
    folder.mkdir()
    with pytest.raises(InvalidArgumentError):
        version.synchronize(tmp_path / "missing")
    (folder / "img0.png").write_bytes(b"x")
    (folder / "extra.png").write_bytes(b"y")
    missing = version.synchronize(folder)
    assert missing is not None and sorted(a.filename for a in missing) == [
        f"img{i}.png" for i in range(1, 6)]
    assert not (folder / "img1.png").exists()
    again = version.synchronize(folder, do_download=True)
    assert again is not None and (folder / "img1.png").exists()
    assert version.synchronize(folder) is None
