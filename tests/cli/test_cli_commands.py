"""Datasets, versions, frames and history through the CLI, checked against the library."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Run, run_json, write_png

import vstore
from vstore import DatasetVersion


def _store(home: Path) -> vstore.Store:
    return vstore.open(str(home / ".vstore"))


def test_dataset_lifecycle(run: Run, home: Path) -> None:
    run("init")
    created = run_json(run, "dataset create", "dataset", "create", "cars", "-d", "street cars",
                       "--tag", "street")
    assert created["dataset"]["description"] == "street cars"
    assert created["version"]["version"] == "Current"
    run("dataset", "create", "bikes", "--default")
    listed = run_json(run, "dataset list", "dataset", "list")
    assert [(d["name"], d["versions"]) for d in listed["datasets"]] == [("cars", 1), ("bikes", 1)]
    assert "* bikes" in run("dataset", "list").stdout
    shown = run_json(run, "dataset show", "dataset", "show", "cars")
    assert shown["current"] == created["version"]["version_id"]
    dup = run("dataset", "create", "cars", ok=False)
    assert dup.exit_code == 1 and "already exists" in dup.stderr
    run("dataset", "rm", "cars")
    assert [d["name"] for d in run_json(run, "dataset list", "dataset", "list")["datasets"]] == [
        "bikes"]


def test_dataset_rm_needs_force_for_frames(run: Run, repo: Path) -> None:
    r = run("dataset", "rm", "cars", ok=False)
    assert r.exit_code == 1 and "Hint: pass --force" in r.stderr
    run("dataset", "rm", "cars", "--force")
    assert "cars" not in run("dataset", "list").stdout


def test_add_reads_sizes_metadata_and_tags(run: Run, repo: Path) -> None:
    write_png(repo / "new" / "a.png", 64, 48)
    write_png(repo / "new" / "b.png", 8, 6)
    data = run_json(run, "add", "add", "new/*.png", "--meta", "camera=left", "--meta",
                    "rank=3", "--tag", "fresh")
    assert data["added"] == 2 and data["failed"] == [] and data["tags"] == ["fresh"]
    with _store(repo) as s:
        v = DatasetVersion.get_current(dataset_name="cars", store=s)
        assert len(v) == 7
        frames = DatasetVersion.get_frames_by_source(f"file://{repo / 'new'}/",
                                                     dataset_name="cars", store=s)
        by_name = {f.source.rsplit("/", 1)[1]: f for f in frames}
        assert (by_name["a.png"].width, by_name["a.png"].height) == (64, 48)
        assert by_name["b.png"].metadata["camera"] == "left"
        assert by_name["b.png"].metadata["rank"] == 3
        assert [t.name for t in v.list_asset_tags()] == ["fresh"]
    tagged = run("ls", "--where", 'tags = "fresh"').stdout.splitlines()
    assert len(tagged) == 2 and all("/new/" in line for line in tagged)


def test_add_folder_takes_images_only_unless_all_files(run: Run, images: Path) -> None:
    run("init", "--dataset", "cars")
    assert run_json(run, "add", "add", "imgs")["added"] == 5
    assert run_json(run, "add", "add", "imgs", "--all-files")["added"] == 6
    missing = run("add", "nothing/here", ok=False)
    assert missing.exit_code == 1 and "no file or folder matches" in missing.stderr
    bad = run("add", "imgs", "--meta", "novalue", ok=False)
    assert bad.exit_code == 2


def test_add_uploads(run: Run, images: Path, home: Path) -> None:
    run("init", "--dataset", "cars")
    dest = home / "bucket"
    data = run_json(run, "add", "add", "imgs/more", "--upload-to", f"file://{dest}")
    assert data["added"] == 2
    uploaded = sorted(p.name for p in dest.rglob("*.png"))
    assert uploaded == ["bus0.png", "bus1.png"]
    uris = [f["uri"] for f in run_json(run, "ls", "ls")["frames"]]
    assert all(u.startswith(f"file://{dest}") for u in uris)
    bad = run("add", "imgs/car0.png", "--upload-to", "file:///proc/vstore-no", "--json",
              ok=False)
    assert bad.exit_code == 1 and "Hint: " in bad.stderr
    failed = json.loads(bad.stdout)["failed"]
    assert [(f["path"], f["error_type"]) for f in failed] == [
        (str(images / "car0.png"), "upload")]


def test_ls_where_limit(run: Run, repo: Path) -> None:
    rows = run("ls").stdout.splitlines()
    assert len(rows) == 5 and all("file://" in r for r in rows)
    wide = run_json(run, "ls", "ls", "--where", "width >= 41")
    assert sorted(f["width"] for f in wide["frames"]) == [41, 42]
    assert run_json(run, "ls", "ls", "-w", 'uri like "%/more/%"')["count"] == 2
    limited = run_json(run, "ls", "ls", "--limit", "2")
    assert limited["count"] == 2 and limited["truncated"] is True
    bad = run("ls", "--where", "width >>= 3", ok=False)
    assert bad.exit_code == 2 and "position" in bad.stderr


def test_show_by_id_and_by_path(run: Run, repo: Path) -> None:
    first = run_json(run, "ls", "ls", "--limit", "1")["frames"][0]
    by_id = run_json(run, "show", "show", first["id"])
    assert by_id["frame"]["id"] == first["id"]
    text = run("show", "imgs/car1.png").stdout
    assert "41x30" in text and "image/png" in text
    missing = run("show", "nope", ok=False)
    assert missing.exit_code == 1 and "has no frame 'nope'" in missing.stderr


def test_commit_publish_snapshot_and_stats(run: Run, repo: Path) -> None:
    stats = run_json(run, "stats", "stats")
    assert stats["frames"] == 5 and stats["source"] == "commit"
    assert stats["content_types"] == [{"name": "image/png", "count": 5}]
    write_png(repo / "imgs" / "late.png", 5, 5)
    run("add", "imgs/late.png")
    assert run_json(run, "stats", "stats")["frames"] == 6
    assert run_json(run, "stats", "stats", "--scan")["unannotated"] == 6
    committed = run_json(run, "commit", "commit")
    assert committed["total"] == 6 and committed["saved_and_updated"] == 1
    snap = run_json(run, "snapshot", "snapshot", "--name", "v1")
    assert snap["published"]["status"] == "published" and snap["draft"]["version"] == "Current"
    published = run("publish", "cars@v1", ok=False)
    assert published.exit_code == 1 and "Hint: published versions never change" in (
        published.stderr)
    pub = run_json(run, "publish", "publish")
    assert pub["version"]["status"] == "published"
    shown = run_json(run, "version show", "version", "show", "cars@v1")
    assert shown["version"]["frames"] == 6 and shown["version"]["status"] == "published"


def test_version_commands(run: Run, repo: Path) -> None:
    run("snapshot", "--name", "v1")
    made = run_json(run, "version create", "version", "create", "exp", "--from", "cars@v1",
                    "--description", "an experiment", "--meta", "lr=0.1")
    assert made["version"]["frames"] == 5 and made["version"]["comment"] == "an experiment"
    from_draft = run("version", "create", "bad", "--from", "cars@Current", ok=False)
    assert from_draft.exit_code == 1
    assert "Hint: publish it first (`vstore publish cars@Current`)" in from_draft.stderr
    listed = run_json(run, "version list", "version", "list", "cars")
    assert {v["version"] for v in listed["versions"]} == {"v1", "Current", "exp"}
    assert [v["version"] for v in run_json(run, "version list", "version", "list",
                                           "--published")["versions"]] == ["v1"]
    renamed = run_json(run, "version rename", "version", "rename", "cars@exp", "exp2")
    assert renamed["version"]["version"] == "exp2"
    frozen = run("version", "rename", "cars@v1", "v1b", ok=False)
    assert frozen.exit_code == 1 and "frozen" in frozen.stderr
    run("version", "rm", "cars@exp2")
    need_force = run("version", "rm", "cars@v1", ok=False)
    assert need_force.exit_code == 1 and "Hint: pass --force" in need_force.stderr


def test_fork_merge_and_log(run: Run, repo: Path) -> None:
    run("snapshot", "--name", "v1")
    forked = run_json(run, "fork", "fork", "cars@v1", "feature")
    assert forked["version"]["frames"] == 5 and forked["parent"]["version"] == "v1"
    write_png(repo / "feat" / "f.png", 3, 3)
    run("add", "feat/f.png", "-V", "cars@feature")
    merged = run_json(run, "merge", "merge", "cars@feature", "--into", "cars@Current")
    assert merged["applied"] == 1 and merged["conflicts"] == []
    assert merged["into"]["version"] == "Current" and merged["into"]["frames"] == 6
    self_merge = run("merge", "cars@current", ok=False)
    assert self_merge.exit_code == 2
    log = run_json(run, "log", "log", "cars@Current")
    assert [e["version_name"] for e in log["entries"]] == ["Current", "v1"]
    assert log["entries"][1]["status"] == "published"
    states = run_json(run, "log", "log", "--states", "cars@Current")
    assert states["entries"][-1]["message"].startswith("create version")
    assert states["entries"][0]["message"] == "merge feature"
    older = states["entries"][1]["commit_id"][:10]
    listed = run_json(run, "ls", "ls", older)
    assert listed["version"]["latest"] is False and listed["count"] == 5
    write = run("add", "feat/f.png", "-V", older, ok=False)
    assert write.exit_code == 1 and "older state" in write.stderr
    assert len(run("log", "-n", "1", "cars@Current").stdout.splitlines()) == 1
