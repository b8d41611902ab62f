"""diff: grouped text, --stat, --md, --json, --exit-code and the self-contained HTML report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import Run, run_json, write_png

import vstore
from vstore import DatasetVersion


@pytest.fixture
def changed(run: Run, repo: Path) -> Path:
    """v1 published with five images; the draft then: car0 gains two boxes, car1 is
    deleted, a new image is added."""
    run("snapshot", "--name", "v1")
    with vstore.open(str(repo / ".vstore")) as s:
        v = DatasetVersion.get_current(dataset_name="cars", store=s)
        frame = DatasetVersion.get_frames_by_source(
            f"file://{repo / 'imgs' / 'car0.png'}", dataset_name="cars", store=s)[0]
        frame.add_annotation(box2d_xywh=[2, 3, 10, 8], labels=["car"])
        frame.add_annotation(poly2d_xy=[1, 1, 20, 1, 20, 20], labels=["wheel"])
        v.update_frames([frame])
        gone = DatasetVersion.get_frames_by_source(
            f"file://{repo / 'imgs' / 'car1.png'}", dataset_name="cars", store=s)[0]
        v.delete_frames([gone])
    write_png(repo / "imgs" / "new.png", 12, 9)
    run("add", "imgs/new.png")
    return repo


def test_text_is_grouped_with_labels_and_summary(run: Run, changed: Path) -> None:
    out = run("diff", "cars@v1", "cars").stdout
    assert out.startswith("diff cars@v1 (")
    for header in ("added (1)", "modified (1)", "deleted (1)", "labels"):
        assert f"\n{header}\n" in out
    assert re.search(r"  \+ \w+  file://\S+/new\.png", out)
    assert re.search(r"  ~ \w+  file://\S+/car0\.png  rois  car \+1, wheel \+1", out)
    assert re.search(r"  - \w+  file://\S+/car1\.png", out)
    assert out.rstrip().endswith("1 added, 1 modified, 1 deleted")
    assert run("diff").stdout == out  # no argument: @current~1 against @current
    assert run("diff", "cars").stdout == out


def test_stat_json_and_exit_code(run: Run, changed: Path) -> None:
    stat = run("diff", "--stat", "cars~1", "cars").stdout
    assert "added (1)" not in stat and "wheel" in stat
    data = run_json(run, "diff", "diff", "cars@v1", "cars@current")
    assert data["counts"] == {"added": 1, "modified": 1, "deleted": 1}
    assert data["labels"] == {"car": {"added": 1, "removed": 0},
                              "wheel": {"added": 1, "removed": 0}}
    assert data["modified"][0]["fields"] == ["rois"]
    assert run("diff", "--exit-code", "cars@v1", "cars", ok=False).exit_code == 1
    same = run("diff", "--exit-code", "cars@v1", "cars@v1")
    assert same.exit_code == 0 and "0 added, 0 modified, 0 deleted" in same.stdout
    reverse = run_json(run, "diff", "diff", "cars", "cars@v1")
    assert reverse["counts"] == {"added": 1, "modified": 1, "deleted": 1}
    assert reverse["labels"]["wheel"] == {"added": 0, "removed": 1}


def test_markdown(run: Run, changed: Path) -> None:
    md = run("diff", "--md", "cars@v1", "cars").stdout
    assert md.startswith("### vstore diff `cars@v1 (")
    assert "**1 added, 1 modified, 1 deleted**" in md
    assert "| label | added | removed |" in md and "| wheel | 1 | 0 |" in md
    assert "<details><summary>Deleted (1)</summary>" in md
    assert "\x1b[" not in md
    assert "<details>" not in run("diff", "--md", "--stat", "cars@v1", "cars").stdout
    assert run("diff", "--md", "--json", ok=False).exit_code == 2


def test_first_version_diffs_against_empty(run: Run, repo: Path) -> None:
    data = run_json(run, "diff", "diff")
    assert data["old"] is None and data["counts"]["added"] == 5


def test_html_report_is_self_contained(run: Run, changed: Path) -> None:
    result = run("diff", "cars@v1", "cars", "--html", "report.html")
    assert "1 added, 1 modified, 1 deleted" in result.stdout
    html = (changed / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert html.count('<div class="card">') == 3
    assert html.count("data:image/png;base64,") == 3  # every image is still on disk
    assert "<polygon" in html and "#1a7f37" in html  # boxes drawn, added in green
    assert "wheel" in html and "Labels" in html
    capped = run("diff", "cars@v1", "cars", "--html", "small.html", "--max-frames", "1")
    assert capped.exit_code == 0
    assert "2 more changed frames are not drawn" in (changed / "small.html").read_text()


def test_html_without_reachable_images(run: Run, changed: Path) -> None:
    (changed / "imgs" / "car0.png").unlink()
    run("diff", "cars@v1", "cars", "--html", "r.html")
    html = (changed / "r.html").read_text()
    assert "image not reachable" in html and "<polygon" in html
