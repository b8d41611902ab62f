"""The CLI as a user runs it: real subprocesses, a new user's first session, start-up time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import write_png


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSTORE_")}
    env.pop("NO_COLOR", None)
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    return env


def _vstore(cwd: Path, env: dict[str, str], *args: str,
            code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "vstore.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, f"vstore {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def test_a_new_users_first_session(tmp_path: Path) -> None:
    env = _env(tmp_path)
    work = tmp_path / "project"
    images, boxes = [], []
    for i in range(4):
        write_png(work / "images" / f"img{i}.png", 32 + i, 24)
        images.append({"id": i, "file_name": f"img{i}.png", "width": 32 + i, "height": 24})
        boxes.append({"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 8, 8]})
    (work / "images" / "coco.json").write_text(json.dumps(
        {"images": images, "annotations": boxes, "categories": [{"id": 1, "name": "car"}]}))

    _vstore(work, env, "init", "--dataset", "street")
    added = json.loads(_vstore(work, env, "add", "images", "--json").stdout)
    assert added["added"] == 4
    _vstore(work, env, "import", "--format", "coco", "images/coco.json")
    _vstore(work, env, "commit")
    _vstore(work, env, "snapshot", "--name", "v1")

    write_png(work / "images" / "img9.png", 50, 40)
    _vstore(work, env, "add", "images/img9.png", "--meta", "reviewed=true")
    md = _vstore(work, env, "diff", "--md", "street@v1", "street").stdout
    assert "**1 added, 0 modified, 0 deleted**" in md
    _vstore(work, env, "diff", "--exit-code", "street@v1", "street", code=1)
    stats = json.loads(_vstore(work, env, "stats", "street@v1", "--json").stdout)
    assert stats["labels"] == [{"name": "car", "count": 4}]
    exported = json.loads(_vstore(work, env, "export", "street@v1", "--format", "yolo",
                                  "-o", "yolo", "--json").stdout)
    assert Path(exported["path"]).is_file()

    _vstore(work, env, "remote", "add", "origin", str(tmp_path / "shared.vstore"))
    _vstore(work, env, "push", "origin", "--all")
    other = tmp_path / "laptop"
    other.mkdir()
    _vstore(other, env, "init")
    _vstore(other, env, "pull", str(tmp_path / "shared.vstore"), "street@current")
    listed = json.loads(_vstore(other, env, "ls", "street", "--json").stdout)
    assert listed["count"] == 5
    assert json.loads(_vstore(other, env, "verify", "--json").stdout)["ok"] is True


def test_errors_from_a_real_process(tmp_path: Path) -> None:
    env = _env(tmp_path)
    (tmp_path / "empty").mkdir()
    proc = _vstore(tmp_path / "empty", env, "ls", code=1)
    assert proc.stdout == ""
    assert proc.stderr.splitlines()[0].startswith("error: no vstore repository")
    assert proc.stderr.splitlines()[1].startswith("Hint: ")
    assert _vstore(tmp_path, env, "ls", "--bogus", code=2).stderr.startswith("error: ")


@pytest.mark.timeout(120)
def test_help_starts_fast(tmp_path: Path) -> None:
    env = _env(tmp_path)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "vstore.cli", "--help"], env=env,
                              capture_output=True, text=True, timeout=60)
        best = min(best, time.perf_counter() - t0)
        assert proc.returncode == 0 and "Usage: vstore" in proc.stdout
    print(f"vstore --help: {best:.3f}s")
    assert best <= 1.0  # the target is 0.3 s; the margin absorbs a loaded test machine
    heavy = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vstore.cli", "--help"], env=env,
        capture_output=True, text=True, timeout=60).stderr
    # What a command needs is imported when it runs, not to print the help.
    for module in ("tqdm", "botocore", "google.auth", "vstore.cli.doctor",
                   "vstore.cli.replicate", "vstore.cli.htmlreport", "vstore.cli.address"):
        assert f" {module}\n" not in heavy and f" {module}." not in heavy, module


def test_every_other_command_in_a_real_process(tmp_path: Path) -> None:
    """The commands the first session does not reach, each run once as a process."""
    env = _env(tmp_path)
    work = tmp_path / "project"
    for i in range(3):
        write_png(work / "images" / f"img{i}.png", 20 + i, 10)
    _vstore(work, env, "init", "--dataset", "street")
    _vstore(work, env, "add", "images")

    def js(*args: str) -> dict[str, object]:
        out = json.loads(_vstore(work, env, *args, "--json").stdout)
        assert isinstance(out, dict)
        return out

    _vstore(work, env, "config", "set", "gc.grace", "2d")
    assert _vstore(work, env, "config", "get", "gc.grace").stdout.strip() == "2d"
    assert "gc.grace" in _vstore(work, env, "config", "list", "--show-origin").stdout
    js("dataset", "create", "other")
    assert {d["name"] for d in js("dataset", "list")["datasets"]} >= {"street", "other"}  # type: ignore[index]
    js("dataset", "show", "street")
    js("publish", "street")
    js("version", "create", "exp", "--from", "street@Current")
    js("version", "list", "street")
    js("version", "rename", "street@exp", "exp2")
    js("version", "show", "street@exp2")
    js("fork", "street@exp2", "side")
    js("merge", "street@exp2", "--into", "street@side")
    assert js("log", "street@side")["entries"]
    frame = js("ls", "street@exp2")["frames"][0]  # type: ignore[index]
    js("show", "-V", "street@exp2", frame["id"])  # type: ignore[index]
    js("download", "street@exp2", "-o", str(tmp_path / "dl"))
    assert len(list((tmp_path / "dl").rglob("*.png"))) == 3
    js("sync", "-V", "street@exp2", str(tmp_path / "mirror"))
    assert len(list((tmp_path / "mirror").rglob("*.png"))) == 3
    js("gc", "--dry-run")
    js("doctor")
    _vstore(work, env, "version", "rm", "street@side", "--force")
    _vstore(work, env, "dataset", "rm", "other", "--force")
    names = {d["name"] for d in js("dataset", "list")["datasets"]}  # type: ignore[index]
    assert "other" not in names
    assert "complete" in _vstore(work, env, "completion", "bash").stdout.lower()
