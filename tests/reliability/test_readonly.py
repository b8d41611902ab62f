"""Published versions never change (DESIGN.md, invariant 1): every route that writes refuses.

The routes were found by reading the code: every public method of the objects a version
hands out (``DatasetVersion`` with its Hyper-Datasets and Picsellia surfaces,
``BulkContext``, ``Asset``, ``MultiAsset``, ``Annotation``, the shape classes, ``Tag``,
``AnnotationCampaign``) and every CLI command. :func:`test_every_route_is_classified`
keeps the lists honest: a public method or a command that is in none of them fails it.

Each write route runs against a published version, through a fresh handle, handles taken
from it, and handles taken while it was still a draft (a ``BulkContext`` with queued work,
a ``DatasetVersion`` object). Each must refuse (``ReadOnlyError``; ``False`` where the seed
API returns a bool; the CLI exits 1 with a ``Hint:``) and leave the version byte-identical:
the same commit id, no new entry in its log, the same write-once ``published/`` ref. The
read routes run too, and must leave it as it was.
"""

from __future__ import annotations

import inspect
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import vstore
from vstore import DatasetVersion, SingleFrame
from vstore.cli.app import cli
from vstore.datasets.bulk import BulkContext
from vstore.errors import ReadOnlyError
from vstore.picsellia.annotation import Annotation, MultiAnnotation
from vstore.picsellia.asset import Asset, MultiAsset
from vstore.picsellia.campaign import AnnotationCampaign
from vstore.picsellia.shape_objects import (
    Classification,
    Keypoints,
    Line,
    Mask,
    Point,
    Polygon,
    Rectangle,
    Shape,
)
from vstore.picsellia.tags import Tag


def png_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes([(seed + y) % 256]) * (width * 3) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


# -- a published version with everything a write could touch --------------------------------

RLE = "b14\\100000^h2"  # COCO RLE of a 4x4 square in a 64x48 image


@dataclass
class World:
    """A published version and every kind of handle on it."""

    root: Path
    store: vstore.Store
    v: DatasetVersion  # the published version, fresh handle
    stale: DatasetVersion  # a handle taken while it was a draft
    bulk: BulkContext  # opened while it was a draft, with operations queued
    campaign_version: DatasetVersion  # a second published version, with a campaign
    campaign: AnnotationCampaign
    child: DatasetVersion  # a draft child of ``v`` with changes (a merge source)
    new_data: Any  # datalake data that ``v`` does not hold
    files: dict[str, Path] = field(default_factory=dict)

    def asset(self, v: DatasetVersion | None = None) -> Asset:
        return (v or self.v).find_asset(filename="img0.png")

    def annotation(self) -> Annotation:
        return self.asset().get_annotation()

    def shape(self, cls: type[Shape]) -> Shape:
        found = [s for s in self.annotation().list_shapes() if type(s) is cls]
        assert found, cls
        return found[0]

    def address(self, v: DatasetVersion | None = None) -> str:
        v = v or self.v
        return f"{v.dataset_name}@{v.version_id}"


def fingerprint(world: World, v: DatasetVersion) -> tuple[Any, ...]:
    """What must not move: the log head (commit and sequence) and the published ref."""
    refs = world.store.repo.refs
    head = refs.head(f"versions/{v.dataset_id}/{v.version_id}")
    frozen = refs.frozen(f"published/{v.dataset_id}/{v.version_id}")
    assert head is not None and frozen is not None and head.value == frozen.value
    fresh = DatasetVersion.get_version(dataset_id=v.dataset_id, version_id=v.version_id,
                                       store=world.store)
    return (head.value, head.seq, frozen.value, fresh.commit_id, len(fresh))


def side_effects(world: World) -> tuple[Any, ...]:
    """Writes a refusal must not make elsewhere: uploads, source files, store-wide tags."""
    from vstore.picsellia.datalake import list_tags

    uploads = sorted(p.name for p in (world.root / "uploads").rglob("*"))
    sources = sorted(p.name for p in (world.root / "src").iterdir())
    return uploads, sources, [t.name for t in list_tags(world.store)]


def build_world(root: Path) -> World:
    src = root / "src"
    src.mkdir()
    (root / "uploads").mkdir()
    paths = []
    for i in range(4):
        paths.append(src / f"img{i}.png")
        paths[-1].write_bytes(png_bytes(seed=i))
    store = vstore.open(str(root / "store"))
    lake = store.get_datalake()
    data = lake.upload_data([str(p) for p in paths[:3]], tags=["raw"])
    new_data = lake.upload_data(str(paths[3]))

    ds = store.create_dataset("cars")
    v = ds.create_version("v1", type="CLASSIFICATION")
    v.add_data(data, tags=["t1"])
    car = v.create_label("car")
    v.create_label("bus")
    v.create_asset_tag("t2")
    v.add_tags("vt")
    assert v.set_metadata({"owner": "team"})
    ann = v.find_asset(filename="img0.png").create_annotation(worker="alice")
    ann.create_rectangle(1, 2, 10, 20, car)
    ann.create_polygon([[0, 0], [10, 0], [10, 10]], car)
    ann.create_line([[0, 0], [5, 5]], car)
    ann.create_point([3, 3], car)
    ann.create_keypoints([[1, 1, 2], [2, 2, 2]], car)
    ann.create_classification(car)
    ann.create_mask(RLE, car, area=16.0, bbox=[1, 2, 4, 4])
    v.find_asset(filename="img1.png").create_annotation(worker="bob").create_rectangle(
        0, 0, 5, 5, car)
    v.add_frames([SingleFrame(id="local", source=str(paths[3]))])  # a local source file

    campaign_version = ds.create_version("v2", type="OBJECT_DETECTION")
    campaign_version.add_data(data)
    campaign = campaign_version.create_campaign("c", auto_close_on_completion=True)

    # Handles taken while v1 is a draft; the bulk context has work queued.
    stale = DatasetVersion.get_version(dataset_id=v.dataset_id, version_id=v.version_id,
                                       store=store)
    bulk = stale.get_bulk_context()
    bulk.add_frame(SingleFrame(source="s3://bucket/queued.png"))
    bulk.delete_frame(v.find_asset(filename="img2.png").id)

    v.publish_version()
    campaign_version.publish_version()
    child = DatasetVersion.create_version("child", dataset_id=v.dataset_id,
                                          parent_version_ids=[v.version_id], store=store)
    child.add_frames([SingleFrame(source="s3://bucket/child.png")])

    files = {"coco": root / "a.json", "yaml": root / "data.yaml", "label": root / "img0.txt",
             "voc": root / "a.xml", "image": paths[3]}
    files["coco"].write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img0.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}))
    files["yaml"].write_text("names: [car]\n")
    files["label"].write_text("0 0.5 0.5 0.2 0.2\n")
    files["voc"].write_text("<annotation><filename>img0.png</filename><object><name>car</name>"
                            "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
                            "</bndbox></object></annotation>")
    fresh = DatasetVersion.get_version(dataset_id=v.dataset_id, version_id=v.version_id,
                                       store=store)
    return World(root, store, fresh, stale, bulk, campaign_version, campaign, child, new_data,
                 files)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("readonly"))
    yield w
    w.store.close()


# -- the write routes -----------------------------------------------------------------------

Call = Callable[[World], Any]


def frame(uri: str = "s3://bucket/new.png") -> SingleFrame:
    return SingleFrame(source=uri, width=8, height=8)


def existing(w: World) -> SingleFrame:
    f: SingleFrame = w.v.get_frames_by_ids([w.asset().id])[0]
    f.metadata = {"changed": True}
    return f


#: Hyper-Datasets: ``DatasetVersion`` methods and class methods, and ``BulkContext``.
HYPER_DATASETS: dict[str, Call] = {
    "DatasetVersion.add_frames": lambda w: w.v.add_frames([frame()]),
    "DatasetVersion.add_frames (overwrite)": lambda w: w.v.add_frames([existing(w)]),
    "DatasetVersion.add_frames (auto_upload_destination)": lambda w: w.v.add_frames(
        [SingleFrame(source=str(w.files["image"]))],
        auto_upload_destination=f"file://{w.root / 'uploads'}",
        local_dataset_root_path=str(w.files["image"].parent)),
    "DatasetVersion.update_frames": lambda w: w.v.update_frames([existing(w)]),
    "DatasetVersion.update_frames (merge)": lambda w: w.v.update_frames(
        [existing(w)], without_fields=[]),
    "DatasetVersion.delete_frames": lambda w: w.v.delete_frames([w.asset().id]),
    "DatasetVersion.delete_frames (delete_sources)": lambda w: w.v.delete_frames(
        ["local"], delete_sources=True),
    "DatasetVersion.get_bulk_context": lambda w: w.v.get_bulk_context(),
    "DatasetVersion.commit_version": lambda w: w.v.commit_version(),
    "DatasetVersion.publish_version": lambda w: w.v.publish_version(),
    "DatasetVersion.merge": lambda w: w.v.merge(w.child, strategy="theirs"),
    "DatasetVersion.create_snapshot": lambda w: DatasetVersion.create_snapshot(
        version_id=w.v.version_id, dataset_id=w.v.dataset_id, store=w.store),
    "DatasetVersion.remove_version": lambda w: DatasetVersion.remove_version(
        dataset_id=w.v.dataset_id, version_id=w.v.version_id, store=w.store),
    "DatasetVersion.delete_dataset": lambda w: DatasetVersion.delete_dataset(
        dataset_id=w.v.dataset_id, delete_all_versions=True, store=w.store),
    "stale DatasetVersion.add_frames": lambda w: w.stale.add_frames([frame()]),
    "stale DatasetVersion.delete_frames": lambda w: w.stale.delete_frames([w.asset().id]),
    "stale DatasetVersion.flush": lambda w: w.stale.flush(),
    "stale BulkContext.flush": lambda w: w.bulk.flush(),
    "stale BulkContext.add_frame (threshold flush)": lambda w: stale_bulk(w, "add"),
    "stale BulkContext.update_frame (threshold flush)": lambda w: stale_bulk(w, "update"),
    "stale BulkContext.delete_frame (threshold flush)": lambda w: stale_bulk(w, "delete"),
    "stale BulkContext.__exit__": lambda w: stale_bulk(w, "exit"),
    "stale BulkContext.flush (auto_upload_destination)": lambda w: stale_bulk(w, "upload"),
}
#: The seed API answers these with False on a published version (no exception).
RETURN_FALSE: dict[str, Call] = {
    "DatasetVersion.set_metadata": lambda w: w.v.set_metadata({"x": 1}),
    "DatasetVersion.set_version_name": lambda w: w.v.set_version_name("renamed"),
    "DatasetVersion.set_masks_labels": lambda w: w.v.set_masks_labels({(1, 2, 3): ["car"]}),
    "stale DatasetVersion.set_metadata": lambda w: w.stale.set_metadata({"x": 1}),
}


def stale_bulk(w: World, how: str) -> None:
    bulk = BulkContext(w.stale, flush_threshold=1)
    if how == "add":
        bulk.add_frame(frame())
    elif how == "update":
        bulk.update_frame(existing(w))
    elif how == "delete":
        bulk.delete_frame(w.asset().id)
    elif how == "upload":
        image = w.files["image"]
        bulk = BulkContext(w.stale, upload={
            "destination": f"file://{w.root / 'uploads'}", "local_root": str(image.parent),
            "mapping": None, "retries": 0, "force": False, "keep_failed": False})
        bulk.add_frame(SingleFrame(source=str(image)))
        bulk.flush()
    else:
        with BulkContext(w.stale) as ctx:
            ctx.add_frame(frame())


def shape_update(cls: type[Shape]) -> Call:
    return lambda w: w.shape(cls).update(text="changed")


def shape_delete(cls: type[Shape]) -> Call:
    return lambda w: w.shape(cls).delete()


SHAPES: list[type[Shape]] = [Rectangle, Polygon, Line, Point, Keypoints, Classification, Mask]

#: Picsellia: the version, its assets, annotations, shapes, tags and campaign.
PICSELLIA: dict[str, Call] = {
    "DatasetVersion.set_type": lambda w: w.v.set_type("OBJECT_DETECTION"),
    "DatasetVersion.update (name)": lambda w: w.v.update(version="renamed"),
    "DatasetVersion.update (description)": lambda w: w.v.update(description="changed"),
    "DatasetVersion.update (type)": lambda w: w.v.update(type="SEGMENTATION"),
    "DatasetVersion.delete": lambda w: w.v.delete(),
    "DatasetVersion.add_tags": lambda w: w.v.add_tags("new-version-tag"),
    "DatasetVersion.remove_tags": lambda w: w.v.remove_tags("vt"),
    "DatasetVersion.create_label": lambda w: w.v.create_label("new-label"),
    "DatasetVersion.get_or_create_label": lambda w: w.v.get_or_create_label("new-label"),
    "DatasetVersion.create_asset_tag": lambda w: w.v.create_asset_tag("new-asset-tag"),
    "DatasetVersion.get_or_create_asset_tag": lambda w: w.v.get_or_create_asset_tag("new-tag"),
    "DatasetVersion.add_data": lambda w: w.v.add_data(w.new_data),
    "DatasetVersion.add_data (data it holds)": lambda w: w.v.add_data(
        w.asset().get_data(), tags=["t3"]),
    "DatasetVersion.create_campaign": lambda w: w.v.create_campaign("c"),
    "DatasetVersion.delete_all_annotations": lambda w: w.v.delete_all_annotations(),
    "DatasetVersion.delete_all_annotations (workers)": lambda w: w.v.delete_all_annotations(
        workers=["alice"]),
    "DatasetVersion.convert_tags_to_classification": lambda w: (
        w.v.convert_tags_to_classification("ASSET", [w.v.get_asset_tag("t1")])),
    "DatasetVersion.import_annotations_coco_file": lambda w: (
        w.v.import_annotations_coco_file(str(w.files["coco"]))),
    "DatasetVersion.import_annotations_yolo_files": lambda w: (
        w.v.import_annotations_yolo_files(str(w.files["yaml"]), [str(w.files["label"])])),
    "DatasetVersion.import_annotation_voc_file": lambda w: (
        w.v.import_annotation_voc_file(str(w.files["voc"]))),
    "Asset.add_tags": lambda w: w.asset().add_tags("t2"),
    "Asset.remove_tags": lambda w: w.asset().remove_tags("t1"),
    "Asset.create_annotation": lambda w: w.asset().create_annotation(),
    "Asset.delete_annotations": lambda w: w.asset().delete_annotations(),
    "Asset.delete": lambda w: w.asset().delete(),
    "MultiAsset.add_tags": lambda w: w.v.list_assets().add_tags("t2"),
    "MultiAsset.remove_tags": lambda w: w.v.list_assets().remove_tags("t1"),
    "MultiAsset.delete": lambda w: w.v.list_assets().delete(),
    "Tag.attach_on": lambda w: w.v.get_asset_tag("t2").attach_on(w.asset()),
    "Tag.detach_from": lambda w: w.v.get_asset_tag("t1").detach_from(w.asset()),
    "Annotation.update": lambda w: w.annotation().update(status="ACCEPTED"),
    "Annotation.delete": lambda w: w.annotation().delete(),
    "Annotation.overwrite": lambda w: w.annotation().overwrite(rectangles=[(0, 0, 1, 1, "car")]),
    "Annotation.create_rectangle": lambda w: w.annotation().create_rectangle(0, 0, 1, 1, "car"),
    "Annotation.create_multiple_rectangles": lambda w: (
        w.annotation().create_multiple_rectangles([(0, 0, 1, 1, "car")])),
    "Annotation.create_polygon": lambda w: w.annotation().create_polygon(
        [[0, 0], [1, 0], [1, 1]], "car"),
    "Annotation.create_multiple_polygons": lambda w: w.annotation().create_multiple_polygons(
        [([[0, 0], [1, 0], [1, 1]], "car")]),
    "Annotation.create_line": lambda w: w.annotation().create_line([[0, 0], [1, 1]], "car"),
    "Annotation.create_multiple_lines": lambda w: w.annotation().create_multiple_lines(
        [([[0, 0], [1, 1]], "car")]),
    "Annotation.create_point": lambda w: w.annotation().create_point([1, 1], "car"),
    "Annotation.create_multiple_points": lambda w: w.annotation().create_multiple_points(
        [([1, 1], "car")]),
    "Annotation.create_keypoints": lambda w: w.annotation().create_keypoints(
        [[1, 1, 2]], "car"),
    "Annotation.create_classification": lambda w: w.annotation().create_classification("car"),
    "Annotation.create_multiple_classifications": lambda w: (
        w.annotation().create_multiple_classifications(["car"])),
    "Annotation.create_mask": lambda w: w.annotation().create_mask(RLE, "car"),
    **{f"{c.__name__}.update": shape_update(c) for c in SHAPES},
    **{f"{c.__name__}.delete": shape_delete(c) for c in SHAPES},
    "AnnotationCampaign.update": lambda w: w.campaign.update(description="changed"),
    "AnnotationCampaign.close": lambda w: w.campaign.close(),
    "AnnotationCampaign.update_task": lambda w: w.campaign.update_task(
        w.asset(w.campaign_version), "DONE"),
}

WRITE_ROUTES = {**HYPER_DATASETS, **PICSELLIA}


def published_of(w: World, name: str) -> DatasetVersion:
    return w.campaign_version if name.startswith("AnnotationCampaign") else w.v


@pytest.mark.parametrize("name", list(WRITE_ROUTES))
def test_api_write_route_refuses_on_a_published_version(world: World, name: str) -> None:
    target = published_of(world, name)
    before, effects = fingerprint(world, target), side_effects(world)
    with pytest.raises(ReadOnlyError):
        WRITE_ROUTES[name](world)
    assert fingerprint(world, target) == before
    assert side_effects(world) == effects, "a refused write changed something elsewhere"


@pytest.mark.parametrize("name", list(RETURN_FALSE))
def test_api_write_route_returns_false_on_a_published_version(world: World, name: str) -> None:
    before, effects = fingerprint(world, world.v), side_effects(world)
    assert RETURN_FALSE[name](world) is False
    assert fingerprint(world, world.v) == before
    assert side_effects(world) == effects


# -- routes that only read (or write elsewhere): they succeed and leave it as it was --------

READS: dict[str, Call] = {
    "DatasetVersion.fork": lambda w: w.v.fork("forked", with_annotations=True),
    "DatasetVersion.create_version (child)": lambda w: DatasetVersion.create_version(
        "child2", dataset_id=w.v.dataset_id, parent_version_ids=[w.v.version_id],
        store=w.store),
    "DatasetVersion.train_test_split": lambda w: w.v.train_test_split(0.5, random_seed=1)
    if len(w.v.list_annotations()) > 1 else None,
    "DatasetVersion.split_into_multi_assets": lambda w: w.v.split_into_multi_assets([1, 1]),
    "DatasetVersion.export_annotation_file": lambda w: w.v.export_annotation_file(
        "COCO", str(w.root / "export")),
    "DatasetVersion.build_coco_file_locally": lambda w: w.v.build_coco_file_locally(),
    "DatasetVersion.download": lambda w: w.v.download(str(w.root / "download")),
    "DatasetVersion.synchronize": lambda w: w.v.synchronize(str(w.root / "src")),
    "DatasetVersion.load_annotations": lambda w: w.v.load_annotations(),
    "DatasetVersion.retrieve_stats": lambda w: w.v.retrieve_stats(),
    "DatasetVersion.get_stats": lambda w: w.v.get_stats(),
    "DatasetVersion.get_iterator": lambda w: list(w.v.get_iterator()),
    "DatasetVersion.diff": lambda w: list(w.v.diff(w.child)),
    "DatasetVersion.log": lambda w: w.v.log(),
    "Data.add_tags (the datalake, not the version)": lambda w: w.asset().get_data().add_tags(
        "lake-tag"),
    "Store.verify": lambda w: w.store.verify(),
    "Store.gc": lambda w: w.store.gc(grace=0),
}


@pytest.mark.parametrize("name", list(READS))
def test_read_route_leaves_a_published_version_as_it_was(world: World, name: str) -> None:
    target = world.v
    before = fingerprint(world, target)
    READS[name](world)
    assert fingerprint(world, target) == before
    assert world.store.verify().ok


# -- the CLI ----------------------------------------------------------------------------------


def run_cli(w: World, *args: str) -> Any:
    """Run the CLI in-process on the world's store, with a home and config of its own."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("VSTORE_")}
    env.update(HOME=str(w.root / "home"), XDG_CONFIG_HOME=str(w.root / "home" / ".config"))
    return CliRunner().invoke(cli, ["-C", str(w.root), "-S", str(w.root / "store"), *args],
                              env=env)


CliArgs = Callable[[World], list[str]]

CLI_WRITES: dict[str, CliArgs] = {
    "add": lambda w: ["add", str(w.files["image"]), "-V", w.address()],
    "add --upload-to": lambda w: ["add", str(w.files["image"]), "-V", w.address(),
                                  "--upload-to", f"file://{w.root / 'uploads'}"],
    "add --tag": lambda w: ["add", str(w.files["image"]), "-V", w.address(), "--tag", "x"],
    "commit": lambda w: ["commit", w.address(), "-m", "again"],
    "publish": lambda w: ["publish", w.address()],
    "snapshot": lambda w: ["snapshot", w.address()],
    "version rename": lambda w: ["version", "rename", w.address(), "renamed"],
    "version rm": lambda w: ["version", "rm", w.address()],
    "dataset rm": lambda w: ["dataset", "rm", "cars"],
    "merge --into": lambda w: ["merge", w.address(w.child), "--into", w.address(),
                               "--strategy", "theirs"],
    "import coco": lambda w: ["import", "-f", "coco", str(w.files["coco"]), "-V", w.address()],
    "import yolo": lambda w: ["import", "-f", "yolo", str(w.files["yaml"]),
                              str(w.files["label"]), "-V", w.address()],
    "import voc": lambda w: ["import", "-f", "voc", str(w.files["voc"]), "-V", w.address()],
    "import --type": lambda w: ["import", "-f", "coco", str(w.files["coco"]), "-V",
                                w.address(), "--type", "segmentation"],
    "pull --force (diverged copy)": lambda w: ["pull", str(w.root / "remote"), w.address(),
                                               "--force"],
}
CLI_READS: dict[str, CliArgs] = {
    "ls": lambda w: ["ls", w.address()],
    "show": lambda w: ["show", w.asset().id, "-V", w.address()],
    "stats": lambda w: ["stats", w.address()],
    "log": lambda w: ["log", w.address()],
    "diff": lambda w: ["diff", w.address(), w.address(w.child)],
    "export": lambda w: ["export", w.address(), "-f", "coco", "-o", str(w.root / "cli-export")],
    "download": lambda w: ["download", w.address(), "-o", str(w.root / "cli-download")],
    "sync": lambda w: ["sync", str(w.root / "cli-sync"), "-V", w.address()],
    "fork": lambda w: ["fork", w.address(), "cli-fork"],
    "version create --from": lambda w: ["version", "create", "cli-child", "--from",
                                        w.address()],
    "version show": lambda w: ["version", "show", w.address()],
    "version list": lambda w: ["version", "list", "cars"],
    "dataset show": lambda w: ["dataset", "show", "cars"],
    "dataset list": lambda w: ["dataset", "list"],
    "push": lambda w: ["push", str(w.root / "pushed"), w.address()],
    "verify": lambda w: ["verify"],
    "gc": lambda w: ["gc", "--grace", "0s"],
}


@pytest.fixture(scope="module")
def remote(world: World) -> Path:
    """A copy of the store in which version v1 is still a draft, with one more frame: a
    pull of it would change the published v1 if anything let it."""
    path = world.root / "remote"
    result = run_cli(world, "push", str(path), world.address())
    assert result.exit_code == 0, result.output
    with vstore.open(str(path)) as s:
        # Rewrite the copy's log so that its v1 is a draft that diverged.
        def change(state: Any, batch: Any) -> tuple[bytes, dict[str, Any]]:
            tree = s.repo.layers.write(state.tree, {b"diverged": b"\x80"}, batch)
            return tree, {"status": "draft"}

        s.registry.write_version(world.v.dataset_id, world.v.version_id, change,
                                 allow_published=True)
    return path


@pytest.mark.parametrize("name", list(CLI_WRITES))
def test_cli_write_command_refuses_on_a_published_version(
    world: World, remote: Path, name: str
) -> None:
    before, effects = fingerprint(world, world.v), side_effects(world)
    result = run_cli(world, *CLI_WRITES[name](world))
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Hint:" in result.stderr, result.stderr
    assert fingerprint(world, world.v) == before
    assert side_effects(world) == effects


@pytest.mark.parametrize("name", list(CLI_READS))
def test_cli_read_command_leaves_a_published_version_as_it_was(world: World,
                                                                name: str) -> None:
    before = fingerprint(world, world.v)
    result = run_cli(world, *CLI_READS[name](world))
    assert result.exit_code == 0, result.output
    assert fingerprint(world, world.v) == before


# -- nothing is left unclassified -------------------------------------------------------------

#: Public methods that write nothing to a version (reads, local list operations), or that
#: write elsewhere on purpose (the datalake, a new version), by class.
NOT_VERSION_WRITES: dict[type, set[str]] = {
    DatasetVersion: {
        # reads
        "diff", "download", "export_annotation_file", "build_coco_file_locally",
        "find_all_assets", "find_asset", "get_asset_tag", "get_campaign", "get_frames_by_ids",
        "get_iterator", "get_label", "get_masks_labels", "get_metadata", "get_parent",
        "get_stats", "get_tags", "list_annotations", "list_asset_tags", "list_assets",
        "list_labels", "load_annotations", "log", "retrieve_stats", "split_into_multi_assets",
        "synchronize", "train_test_split", "train_test_val_split", "flush",
        # class methods that read, or create other datasets and versions
        "create_new_dataset", "create_version", "get_current", "get_datasets",
        "get_frames_by_source", "get_single_frame", "get_version", "get_versions", "fork",
    },
    BulkContext: set(),
    Asset: {"download", "get_annotation", "get_data", "get_data_tags", "get_tags",
            "list_annotations", "sync"},
    MultiAsset: {"as_list_of_data", "as_multidata", "download"},
    Annotation: {"list_classifications", "list_keypoints", "list_lines", "list_masks",
                 "list_points", "list_polygons", "list_rectangles", "list_shapes", "load",
                 "sync"},
    MultiAnnotation: set(),
    AnnotationCampaign: {"list_tasks", "sync"},
    Tag: set(),
    **{c: set() for c in SHAPES},
}
#: List operations of every Multi* object: local, they write nothing.
LOCAL = {"append", "clear", "copy", "extend", "pop", "remove", "split"}
#: CLI commands that do not touch a version's content (configuration, remotes, help).
CLI_OTHER = {"init", "config get", "config set", "config unset", "config list", "doctor",
             "completion", "remote list", "remote add", "remote remove", "dataset create"}


def public_methods(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and inspect.isroutine(getattr(cls, n))}


def cli_commands(group: click.Group, prefix: str = "") -> set[str]:
    out = set()
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out |= cli_commands(cmd, f"{prefix}{name} ")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_route_is_classified() -> None:
    tested = {n.split(" (")[0].removeprefix("stale ") for n in [*WRITE_ROUTES, *RETURN_FALSE]}
    missing = {}
    for cls, others in NOT_VERSION_WRITES.items():
        unlisted = {m for m in public_methods(cls) - others - LOCAL
                    if f"{cls.__name__}.{m}" not in tested}
        if unlisted:
            missing[cls.__name__] = sorted(unlisted)
    assert not missing, f"public methods in no list: {missing}"
    commands = cli_commands(cli)
    listed = {n.split(" --")[0].split(" (")[0].removesuffix(" coco").removesuffix(" yolo")
              .removesuffix(" voc") for n in [*CLI_WRITES, *CLI_READS]}
    assert commands - listed - CLI_OTHER == set(), "CLI commands in no list"
    assert listed | CLI_OTHER <= commands, "lists name commands that do not exist"


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    line = json.dumps({
        "test": "readonly", "api_write_routes_refused": len(WRITE_ROUTES),
        "api_routes_returning_false": len(RETURN_FALSE), "cli_write_commands_refused":
        len(CLI_WRITES), "api_read_routes_unchanged": len(READS),
        "cli_read_commands_unchanged": len(CLI_READS)}, sort_keys=True)
    print(f"FIGURES {line}")
    out = os.environ.get("VSTORE_RELIABILITY_FIGURES")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")

