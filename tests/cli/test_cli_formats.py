"""import and export of COCO, YOLO and Pascal VOC annotations through the CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cli_helpers import Run, run_json, write_png


@pytest.fixture
def pets(run: Run, home: Path) -> Path:
    """Dataset ``pets``: four images, and a COCO file giving each one box (cat or dog)."""
    images, anns = [], []
    for i in range(4):
        write_png(home / "images" / f"img{i}.png", 32 + i, 24)
        images.append({"id": i + 1, "file_name": f"img{i}.png", "width": 32 + i, "height": 24})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2,
                     "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0})
    coco = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (home / "coco.json").write_text(json.dumps(coco))
    run("init", "--dataset", "pets")
    run("add", "images")
    return home


def test_coco_import_then_every_export(run: Run, pets: Path) -> None:
    r = run("import", "--format", "coco", "coco.json")
    assert "now object_detection" in r.stderr
    assert r.stdout.startswith("imported 4 annotations (4 shapes) from coco into pets@Current")
    stats = run_json(run, "stats", "stats", "--scan")
    assert stats["labels"] == [{"name": "cat", "count": 2}, {"name": "dog", "count": 2}]
    assert "cat  " in run("show", "images/img0.png").stdout
    run("snapshot", "--name", "v1")
    for fmt, suffix in (("coco", "_coco.json"), ("yolo", "_yolo.zip"),
                        ("voc", "_pascal_voc.zip")):
        out = run_json(run, "export", "export", "pets@v1", "--format", fmt, "-o", f"out-{fmt}")
        path = Path(out["path"])
        assert path.parent == pets / f"out-{fmt}" and path.name.endswith(suffix)
    exported = json.loads(next((pets / "out-coco").iterdir()).read_text())
    assert len(exported["annotations"]) == 4
    with zipfile.ZipFile(next((pets / "out-yolo").iterdir())) as z:
        assert "data.yaml" in z.namelist() and "img0.txt" in z.namelist()


def test_yolo_and_voc_imports(run: Run, pets: Path) -> None:
    (pets / "yolo").mkdir()
    (pets / "yolo" / "data.yaml").write_text("nc: 2\nnames: [cat, dog]\n")
    (pets / "yolo" / "img1.txt").write_text("1 0.5 0.5 0.25 0.25\n")
    data = run_json(run, "import", "import", "--format", "yolo", "--type", "object_detection",
                    "yolo/data.yaml", "yolo")
    assert data["shapes"] == 1
    voc = pets / "voc" / "img2.xml"
    voc.parent.mkdir()
    voc.write_text(
        "<annotation><filename>img2.png</filename><size><width>34</width><height>24</height>"
        "<depth>3</depth></size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>")
    run("import", "--format", "voc", "voc")
    labels = {x["name"]: x["count"] for x in run_json(run, "stats", "stats", "--scan")["labels"]}
    assert labels == {"cat": 1, "dog": 1}


def test_import_errors(run: Run, pets: Path) -> None:
    (pets / "bad.json").write_text('{"images": [')
    r = run("import", "--format", "coco", "bad.json", ok=False)
    assert r.exit_code == 1 and "bad.json" in r.stderr and "Hint: fix the file" in r.stderr
    assert run("import", "coco.json", ok=False).exit_code == 2  # --format is required
    assert run("import", "--format", "coco", "missing.json", ok=False).exit_code == 2
    two = run("import", "--format", "coco", "coco.json", "coco.json", ok=False)
    assert two.exit_code == 2 and "one JSON file" in two.stderr
    run("publish")
    frozen = run("import", "--format", "coco", "coco.json", ok=False)
    assert frozen.exit_code == 1 and "Hint: published versions never change" in frozen.stderr
