"""push / pull: versions move between real stores, and only missing objects are copied."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Run, run_json

import vstore
from vstore import DatasetVersion, SingleFrame


def _objects(path: Path) -> set[bytes]:
    with vstore.open(str(path)) as s:
        return {oid for oid, _t in s.repo.backend.iter_objects()}


def _frame(i: int, label: str = "car") -> SingleFrame:
    f = SingleFrame(source=f"s3://bucket/img/{i:05d}.jpg", width=640, height=480,
                    metadata={"i": i})
    f.add_annotation(box2d_xywh=[i % 600, 10, 30, 20], labels=[label])
    return f


@pytest.fixture
def big(run: Run, home: Path) -> Path:
    """A repository whose dataset ``big`` has v1 (3000 frames, published) and a draft."""
    run("init", "--dataset", "big")
    with vstore.open(str(home / ".vstore")) as s:
        v = DatasetVersion.get_current(dataset_name="big", store=s)
        with v.get_bulk_context(flush_threshold=1000) as bulk:
            for i in range(3000):
                bulk.add_frame(_frame(i))
    run("snapshot", "--name", "v1")
    return home


def test_push_copies_only_missing_objects(run: Run, big: Path) -> None:
    remote = big.parent / "remote.vstore"
    run("remote", "add", "origin", str(remote))
    first = run_json(run, "push", "push", "origin", "big@current")
    assert [(v["version"], v["result"]) for v in first["versions"]] == [
        ("v1", "created"), ("Current", "created")]
    after_first = _objects(remote)
    # Plus one object the destination writes itself: the dataset's description.
    assert first["objects_copied"] == len(after_first) - 1 > 20
    assert run_json(run, "push", "push", "origin", "big@current")["objects_copied"] == 0

    with vstore.open(str(big / ".vstore")) as s:
        v = DatasetVersion.get_current(dataset_name="big", store=s)
        v.update_frames([_frame(1234, label="bus")])
    second = run_json(run, "push", "push", "origin", "big@current")
    assert [(v["version"], v["result"]) for v in second["versions"]] == [
        ("v1", "up-to-date"), ("Current", "fast-forward")]
    after_second = _objects(remote)
    new = after_second - after_first
    assert second["objects_copied"] == len(new)
    assert 0 < len(new) < len(after_first) // 5  # a change moves its path, not the tree
    full = run_json(run, "push", "push", "origin", "big@current", "--full", "--force")
    assert full["objects_copied"] == 0

    verified = run_json(run, "verify", "-S", str(remote), "verify")
    assert verified["ok"] is True
    here = run_json(run, "ls", "ls", "big@current", "-w", 'label = "bus"')["frames"]
    there = run_json(run, "ls", "-S", str(remote), "ls", "big@current", "-w",
                     'label = "bus"')["frames"]
    assert here == there and len(here) == 1


def test_pull_into_a_new_repository(run: Run, big: Path) -> None:
    remote = big.parent / "remote.vstore"
    run("push", str(remote), "--all")
    other = big.parent / "other"
    other.mkdir()
    run("-C", str(other), "init")
    pulled = run_json(run, "pull", "-C", str(other), "pull", str(remote), "big@v1")
    assert [(v["version"], v["result"]) for v in pulled["versions"]] == [("v1", "created")]
    theirs = run_json(run, "version show", "-C", str(other), "version", "show", "big@v1")
    ours = run_json(run, "version show", "version", "show", "big@v1")
    assert theirs["version"]["commit_id"] == ours["version"]["commit_id"]
    assert theirs["version"]["frames"] == 3000
    assert run_json(run, "verify", "-C", str(other), "verify")["ok"] is True
    again = run_json(run, "pull", "-C", str(other), "pull", str(remote), "big@v1")
    assert again["objects_copied"] == 0


def test_diverged_drafts_are_rejected_unless_forced(run: Run, big: Path) -> None:
    remote = big.parent / "remote.vstore"
    run("push", str(remote), "--all")
    with vstore.open(str(remote)) as s:
        DatasetVersion.get_current(dataset_name="big", store=s).add_frames([_frame(5000)])
    behind = run_json(run, "pull", "pull", str(remote), "big@current")
    assert behind["versions"][-1]["result"] == "fast-forward"
    with vstore.open(str(remote)) as s:
        DatasetVersion.get_current(dataset_name="big", store=s).add_frames([_frame(5001)])
    with vstore.open(str(big / ".vstore")) as s:
        DatasetVersion.get_current(dataset_name="big", store=s).add_frames([_frame(5002)])
    rejected = run("push", str(remote), "big@current", ok=False)
    assert rejected.exit_code == 1
    assert "error: 1 version(s) rejected: big@Current: the histories diverged" in rejected.stderr
    assert "Hint: " in rejected.stderr
    dry = run_json(run, "push", "push", str(remote), "big@current", "--force", "--dry-run")
    assert dry["dry_run"] is True and dry["versions"][-1]["result"] == "forced"
    assert run_json(run, "ls", "-S", str(remote), "ls", "big", "-w", "meta.i = 5002")[
        "count"] == 0
    run("push", str(remote), "big@current", "--force")
    assert run_json(run, "ls", "-S", str(remote), "ls", "big", "-w", "meta.i = 5002")[
        "count"] == 1


def test_same_name_other_dataset_and_bad_arguments(run: Run, big: Path) -> None:
    remote = big.parent / "remote.vstore"
    with vstore.open(str(remote)) as s:
        DatasetVersion.create_new_dataset("big", store=s)
    clash = run("push", str(remote), "big@v1", ok=False)
    assert clash.exit_code == 1 and "another dataset named 'big'" in clash.stderr
    assert run("push", str(remote), ok=False).exit_code == 2
    assert run("push", str(remote), "--all", "big", ok=False).exit_code == 2
    unknown = run("push", "nowhere", "big", ok=False)
    assert unknown.exit_code == 1 and "no remote named 'nowhere'" in unknown.stderr
