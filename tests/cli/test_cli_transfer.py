"""download, sync, datalake blobs across push, and import/export of annotation formats."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run, run_json

import vstore


def test_download_and_filters(run: Run, repo: Path) -> None:
    data = run_json(run, "download", "download", "-o", "out")
    assert (data["files"], data["downloaded"], data["skipped"]) == (5, 5, 0)
    out = repo / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "bus0.png", "bus1.png", "car0.png", "car1.png", "car2.png"]
    assert (out / "car1.png").read_bytes() == (repo / "imgs" / "car1.png").read_bytes()
    again = run_json(run, "download", "download", "-o", "out")
    assert (again["downloaded"], again["skipped"]) == (0, 5)
    ids = run_json(run, "download", "download", "-o", "byid", "--use-id", "-w", "width = 20")
    assert ids["files"] == 2
    assert all(len(p.stem) == 32 for p in (repo / "byid").iterdir())
    default = run_json(run, "download", "download")
    assert Path(default["target"]) == repo / "cars" / "Current"


def test_download_reports_failures(run: Run, repo: Path) -> None:
    (repo / "imgs" / "car2.png").unlink()
    r = run("download", "-o", "out", ok=False)
    assert r.exit_code == 1 and "1 file failed" in r.stderr and "Hint: " in r.stderr
    assert len(list((repo / "out").iterdir())) == 4  # no partial file left behind


def test_sync(run: Run, repo: Path) -> None:
    target = repo / "mirror"
    target.mkdir()
    (target / "stray.txt").write_text("x")
    (target / "car0.png").write_bytes(b"truncated")
    dry = run_json(run, "sync", "sync", "mirror", "--dry-run")
    assert dry["to_download"] == ["bus0.png", "bus1.png", "car0.png", "car1.png", "car2.png"]
    assert dry["extra"] == ["stray.txt"] and dry["downloaded"] == 0
    done = run_json(run, "sync", "sync", "mirror", "--delete")
    assert done["downloaded"] == 5 and done["deleted"] == ["stray.txt"]
    assert sorted(p.name for p in target.iterdir()) == [
        "bus0.png", "bus1.png", "car0.png", "car1.png", "car2.png"]
    assert run_json(run, "sync", "sync", "mirror")["up_to_date"] == 5


def test_datalake_sources_travel_with_push(run: Run, images: Path, home: Path) -> None:
    run("init")
    with vstore.open(str(home / ".vstore")) as s:
        v = s.create_dataset("pics").create_version("first")
        data = s.get_datalake().upload_data([str(images / "car0.png"),
                                             str(images / "car1.png")])
        v.add_data(data)
    remote = home.parent / "remote.vstore"
    pushed = run_json(run, "push", "push", str(remote), "pics@first")
    assert pushed["blobs_copied"] == 2
    fetched = run_json(run, "download", "-S", str(remote), "download", "pics@first", "-o",
                       "from-remote")
    assert fetched["downloaded"] == 2
    assert (home / "from-remote" / "car0.png").read_bytes() == (
        images / "car0.png").read_bytes()
    assert run_json(run, "verify", "-S", str(remote), "verify")["ok"] is True
