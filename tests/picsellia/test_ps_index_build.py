"""Building the asset index from record bytes (``vstore.picsellia.build``) gives, row by row,
exactly what an ``Entry`` of each record gives: on the records the Picsellia surface writes
(the typed fast pass) and on every record shape it does not cover (the fallback through
``Entry``), types included (``True``, ``1`` and ``1.0`` stay apart, nested too).
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

import vstore
from vstore.engine.codec import encode
from vstore.picsellia import persisted
from vstore.picsellia.build import ENTRY_FIELDS, Built, build_columns
from vstore.picsellia.columns import LISTS, META, SCALARS, extractor
from vstore.picsellia.entry import Entry
from vstore.picsellia.frames import state_of
from vstore.picsellia.index import AssetIndex, asset_index

_strict = msgspec.msgpack.Encoder().encode

ENTRY_ATTRS = ("id", "uri", "filename", "object_name", "content_type", "width", "height",
               "data_id", "tags", "task", "created", "annotations", "meta")


def _same(x: Any, y: Any) -> bool:
    """Equal, with equal types all the way down (msgpack tells True, 1 and 1.0 apart)."""
    return type(x) is type(y) and _strict(x) == _strict(y)


def _reference(raw: bytes) -> Entry:
    """The entry of a record as the index made it before: every record through Entry."""
    record = msgspec.msgpack.decode(raw)
    record = {k: v for k, v in record.items() if k in {p.split(".")[0] for p in ENTRY_FIELDS}}
    return Entry(record)


def _build(raws: list[bytes]) -> Built | None:
    """Build from the records, keyed by position (what settling a misfit reads again)."""
    keyed = {b"%06d" % i: raw for i, raw in enumerate(raws)}
    return build_columns(b"r" * 32, keyed.items(), keyed.get)


def _check(built: Built, raws: list[bytes], keys: list[str]) -> None:
    refs = [_reference(r) for r in raws]
    assert built.rows == len(refs)
    # the entries of a few rows first: their reserved metadata is settled row by row
    some = list(range(0, len(refs), 3))
    firsts = AssetIndex(b"r" * 32, stored=built, origin="built").take(some)
    for mine, ref in zip(firsts, (refs[r] for r in some), strict=True):
        for attr in ENTRY_ATTRS:
            assert _same(getattr(mine, attr), getattr(ref, attr)), (mine.id, attr)
    for name in [*SCALARS, *LISTS, *(META + k for k in keys)]:
        get = extractor(name)
        for i, (got, ref) in enumerate(zip(built.column(name), refs, strict=True)):
            assert _same(got, get(ref)), (name, i, got, get(ref))
    index = AssetIndex(b"r" * 32, stored=built, origin="built")
    for mine, ref in zip(index.entries, refs, strict=True):
        for attr in ENTRY_ATTRS:
            assert _same(getattr(mine, attr), getattr(ref, attr)), (mine.id, attr)


def _ann(aid: str, **fields: Any) -> dict[str, Any]:
    return {"id": aid, "status": "PENDING", "worker": "bob", "created": 5.0, **fields}


def _roi(aid: Any = "a1", label: Any = ("car",), **meta: Any) -> dict[str, Any]:
    roi: dict[str, Any] = {"id": "r", "label": list(label), "sources": ["default"],
                           "poly": [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
                           "meta": {"_type": "b2d", **meta}}
    if aid is not None:
        roi["meta"]["_annotation"] = aid
    return roi


def _record(i: int, rois: Any = None, **meta: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"f{i:03d}",
        "sources": [{"id": "default", "uri": f"s3://b/d%20ir/{i}.jpg", "width": 640,
                     "height": 480, "content_type": "image/jpeg"}],
        "meta": {"_annotations": [_ann("a1")], "camera": "c1", **meta},
        "rois": [_roi()] if rois is None else rois,
    }
    return record


#: Records of every shape: the first few fit the fast pass, the others do not.
CASES: list[dict[str, Any]] = [
    _record(0),
    _record(1, rois=[_roi(), _roi(label=["bus"], _text="t"), _roi(label=[])]),
    _record(2, _tags=["x", 3, "y"], _data="d", _created=3, _task={"k": 1}, flag=True,
            n=1, f=1.0, z=-0.0, lst=[1, True, 1.0], nested={"a": [0, False]}),
    _record(3, _annotations=[_ann("a2", created=9.0), _ann("a1", created=1),
                             _ann("a3", status="", worker=7, created=None)],
            rois=[_roi("a2", _shape="line", _type="p2d"), _roi("a1"),
                  _roi("a2", _shape="point", _type="k2d", label=["p"]),
                  {"id": "c", "label": ["cls"], "meta": {"_annotation": "a3"}},
                  {"id": "m", "label": ["msk"], "mask": {"rle": []},
                   "meta": {"_annotation": "a3"}}]),
    _record(4, rois=[]),
    _record(5, rois=[_roi(None)]),                               # the implicit annotation
    _record(6, rois=[{"id": "x", "label": ["car"]}]),              # a ROI without meta
    _record(7, rois=[_roi(label=[1])]),                           # a label that is no str
    _record(8, rois=[_roi(label=[True])]),
    _record(9, rois=[_roi("nope")]),                               # names no listed one
    _record(10, _annotations=[_ann("a1"), _ann("a1", status="ACCEPTED")]),  # twice
    _record(11, _annotations=[_ann("a1", created=True)]),
    _record(12, _annotations=[_ann("a1", status=3)]),
    _record(13, _annotations=["junk", _ann("a1")]),
    _record(14, _annotations="junk"),
    _record(15, _annotations=None),
    _record(16, _annotations=[], rois=[]),
    _record(17, _created=True, _data=5, _task=[1], _tags="x"),
    _record(18, rois=[_roi(_text=5, _type="zzz")]),
    _record(19, rois=[_roi(_shape="blob"), _roi(_shape="line"), _roi(_type="p2d", _shape="line"),
                      _roi(_type="k2d", _shape="point"), _roi(_shape="mask", _type=None)]),
    {"id": "f020", "sources": [{"uri": "s3://b/20.jpg"}]},        # no meta, no rois
    {"id": "f021", "sources": [{"uri": "s3://b/21.jpg"}], "meta": None, "rois": None},
    {"id": "f022", "sources": [{"uri": "s3://b/22.jpg"}], "meta": {}, "rois": [_roi(None)]},
    {"id": "f023", "sources": [{"uri": "b/23.jpg", "width": "w"}], "meta": {"_tags": []}},
]


def test_every_record_shape_builds_the_row_its_entry_gives() -> None:
    raws = [encode(r) for r in CASES]
    built = _build(raws)
    assert built is not None
    keys = ["camera", "flag", "n", "f", "z", "lst", "nested", "missing", "_data"]
    _check(built, raws, keys)
    assert built.meta_keys()[0] == "camera"


def test_random_metadata_and_shapes_build_like_entries() -> None:
    rng = random.Random(11)
    values: list[Any] = [True, False, 0, 1, 1.0, 0.0, -0.0, "a", "", None, [1, True], [],
                         {"k": 1}, 2.5]
    records = []
    for i in range(400):
        meta = {k: rng.choice(values) for k in ("a", "b", "c") if rng.random() < 0.7}
        listed = [_ann(f"a{j}", created=rng.choice([0, 1, 2.5, None]),
                       status=rng.choice(["PENDING", "ACCEPTED", "", None]),
                       worker=rng.choice(["bob", None, 1])) for j in range(rng.randrange(3))]
        rois = [_roi(rng.choice([*(a["id"] for a in listed), None]),
                     label=rng.choice([["car"], ["bus"], [], [1]]))
                for _ in range(rng.randrange(4))]
        if rng.random() < 0.1:
            rois.append({"id": "c", "label": ["cls"]})
        records.append(_record(i, rois=rois, _annotations=listed, **meta))
    raws = [encode(r) for r in records]
    built = _build(raws)
    assert built is not None
    _check(built, raws, ["a", "b", "c", "camera"])


def test_a_run_of_rectangles_then_other_shapes_build_like_entries() -> None:
    # records of rectangles take a shorter way until the first one that is not
    rng = random.Random(3)
    records = []
    for i in range(300):
        aid = rng.choice(["a1", "a1", "a1", "nope"])  # "nope": a ROI names no listed one
        rois = [_roi(aid, label=rng.choice([["car"], ["bus"], [], ["car", "bus"]]))
                for _ in range(rng.randrange(4))]
        meta = {"_tags": ["t"]} if i % 7 == 0 else {}
        records.append(_record(i, rois=rois, **meta))
    records[250]["rois"] = [_roi(), _roi(_type="p2d", label=["bus"])]
    raws = [encode(r) for r in records]
    built = _build(raws)
    assert built is not None
    _check(built, raws, ["camera"])


def test_metadata_columns_of_one_plain_type_build_like_entries() -> None:
    # columns of str, int, bool or None values are made a distinct value at a time
    rng = random.Random(5)
    pools: dict[str, list[Any]] = {
        "s": ["a", "b", "", None], "n": [0, 1, 2, -1, None], "b": [True, False, None],
        "ib": [0, 1, True, False], "fs": [1.0, -0.0, 0.0, "x"], "sl": ["a", ["a"], None]}
    records = [_record(i, **{k: rng.choice(p) for k, p in pools.items() if rng.random() < 0.8})
               for i in range(300)]
    raws = [encode(r) for r in records]
    built = _build(raws)
    assert built is not None
    _check(built, raws, list(pools))


def test_ids_out_of_order_are_refused() -> None:
    raws = [encode(_record(2)), encode(_record(1))]
    assert _build(raws) is None


@pytest.fixture
def surface(store: vstore.Store) -> vstore.DatasetVersion:
    """Assets written through both surfaces: Picsellia annotations of every kind, and
    Hyper-Datasets frames whose ROIs form the implicit annotation."""
    v = store.create_dataset("mix").create_version("v1", type="object_detection")
    frames = [vstore.SingleFrame(source=f"s3://bucket/{i}.jpg", metadata={"i": i, "odd": i % 2})
              for i in range(12)]
    for f in frames[:3]:
        f.add_annotation(box2d_xywh=[1, 2, 3, 4], labels=["car"])
    v.add_frames(frames)
    for label in ("car", "bus"):
        v.create_label(label)
    car, bus = v.get_label("car"), v.get_label("bus")
    assets = v.list_assets()
    for n, asset in enumerate(assets.items[3:]):
        ann = asset.create_annotation(worker=None)
        ann.create_rectangle(1, 2, 3, 4, car)
        if n % 2:
            ann.create_polygon([[0, 0], [1, 1], [2, 0]], bus)
            asset.create_annotation().create_classification(car)
        if n % 3 == 0:
            ann.update(status="accepted")
    assets.items[4].add_tags("hard")
    return v


def test_a_version_written_by_both_surfaces_builds_like_entries(
        surface: vstore.DatasetVersion) -> None:
    root = state_of(surface).tree
    layers = surface.store.repo.layers
    records = list(layers.items(root))
    built = build_columns(root, records, lambda key: layers.get(root, key))
    assert built is not None
    _check(built, [raw for _, raw in records], ["i", "odd"])
    index = AssetIndex(root, stored=built, origin="built")
    again = AssetIndex(root, stored=persisted.loads(persisted.dumps(index), root))
    followed = asset_index(surface)  # the index the writes kept up to date
    assert followed.root == root
    for a, b, c in zip(again.entries, index.entries, followed.entries, strict=True):
        for attr in ENTRY_ATTRS:
            assert _same(getattr(a, attr), getattr(b, attr)), (a.id, attr)
            assert _same(getattr(c, attr), getattr(b, attr)), (a.id, attr)


def test_entries_taken_before_and_after_the_reserved_columns_are_made_are_alike() -> None:
    # rows made into entries before any column of the reserved metadata is asked for, then
    # after those columns are made but not the file names
    raws = [encode(r) for r in CASES]
    refs = [_reference(r) for r in raws]
    built = _build(raws)
    assert built is not None
    before = AssetIndex(b"r" * 32, stored=built, origin="built").take(range(0, len(raws), 2))
    built.column("tags")
    after = AssetIndex(b"r" * 32, stored=built, origin="built").take(range(len(raws)))
    for mine, ref in [*zip(before, refs[::2], strict=True), *zip(after, refs, strict=True)]:
        for attr in ENTRY_ATTRS:
            assert _same(getattr(mine, attr), getattr(ref, attr)), (mine.id, attr)


def test_a_new_index_is_written_only_once_the_listing_is_made(
        surface: vstore.DatasetVersion, monkeypatch: pytest.MonkeyPatch) -> None:
    from vstore.picsellia import version_assets

    events: list[str] = []
    monkeypatch.setattr(persisted, "release", lambda: events.append("release"))
    made = version_assets.MultiAsset

    def multi(items: Any) -> Any:
        events.append("answer")
        return made(items)

    monkeypatch.setattr(version_assets, "MultiAsset", multi)
    surface.list_assets(q='annotations.label.name = "car"')
    assert events == ["answer", "release"]
