"""``list_assets(q=...)`` reads the index a column at a time; it must answer exactly what the
``q`` language says asset by asset, on a built index and on a persisted one read back.

Metadata mixes the values the language keeps apart although Python calls them equal (True, 1
and 1.0; False, 0 and 0.0), nulls, lists, nested dicts and absent keys.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

import vstore
from vstore import SingleFrame
from vstore.datasets.changes import diff_states
from vstore.datasets.query import compile_q
from vstore.errors import InvalidQueryError
from vstore.picsellia import persisted
from vstore.picsellia.frames import state_of
from vstore.picsellia.index import ENTRY_FIELDS, AssetIndex, Entry, asset_index
from vstore.picsellia.listing import Selection, select
from vstore.picsellia.query import resolve

VALUES: list[Any] = [True, False, 0, 1, 1.0, 0.0, 2, -1, "a", "b", "", None, [1, True],
                     ["x", "y"], [], {"k": 1}, 2.5, "video/mp4"]
PATHS = ["flag", "n", "s", "lst", "nested.a", "nested.b", "metadata.flag", "custom_metadata.n",
         "metadata", "tags", "tags.name", "tags.x", "annotations.rectangles.label.name",
         "annotations.label.name", "annotations.polygons.label", "annotations.rectangles.text",
         "annotations.status", "annotations.worker", "annotations.id", "annotations",
         "annotations.foo", "filename", "id", "width", "height", "type", "content_type",
         "data.id", "object_name", "uri", "filename.x", "missing", "nested"]
LITERALS = ["true", "false", "0", "1", "1.0", "0.0", "2", "-1", '"a"', '""', "null", '"car"',
            '"1"', '"true"', "640", '"IMAGE"', '"ACCEPTED"', '"alice"', '"hard"', '"3.jpg"',
            "2.5"]


@pytest.fixture
def tricky(store: vstore.Store) -> vstore.DatasetVersion:
    """300 assets whose metadata and labels take every kind of value."""
    rng = random.Random(3)
    v = store.create_dataset("tricky").create_version("v1")
    frames = []
    for i in range(300):
        meta = {k: rng.choice(VALUES) for k in ("flag", "n", "s", "lst") if rng.random() < 0.8}
        meta["nested"] = {"a": rng.choice(VALUES), "b": [rng.choice(VALUES)]}
        f = SingleFrame(source=f"s3://bucket/cam/{i}.jpg", width=rng.choice([640, 1, 2]),
                        height=480, metadata=meta)
        for _ in range(rng.randrange(3)):
            f.add_annotation(box2d_xywh=[1, 2, 3, 4],
                             labels=[rng.choice(["car", "bus", "1", "true"])])
        if rng.random() < 0.3:
            f.add_annotation(poly2d_xy=[0, 0, 1, 1, 2, 0], labels=["poly"])
        frames.append(f)
    v.add_frames(frames)
    v.list_assets(filenames=["0.jpg", "1.jpg", "7.jpg"]).add_tags("hard")
    ann = v.find_asset(filename="3.jpg").create_annotation(worker="alice")
    ann.update(status="accepted")
    return v


def _queries() -> list[str]:
    rng = random.Random(5)
    ops = ["=", "!=", "<", "<=", ">", ">="]
    out = []
    for path in PATHS:
        out += [f"{path} {rng.choice(ops)} {lit}" for lit in LITERALS]
        out += [f"{path} in ({rng.choice(LITERALS)}, {rng.choice(LITERALS)}, null)",
                f'{path} like "%a%"', f'{path} not like "_"']
    for _ in range(200):
        a, b, c = rng.sample(out, 3)
        out.append(f"({a}) and not ({b}) or ({c})")
    return out


def _one_by_one(index: AssetIndex, q: str) -> list[str]:
    """The assets ``q`` selects, each decided on its own by the language's evaluator."""
    holds = compile_q(q, lambda entry, path: resolve(entry, path))
    return [e.id for e in index.entries if holds(e)]


def _listed(index: AssetIndex, q: str) -> list[str]:
    try:
        return [e.id for e in select(index, Selection(q=q))]
    except vstore.NoDataError:
        return []


def _fresh(version: vstore.DatasetVersion) -> AssetIndex:
    """The index of the version as decoding every record gives it."""
    records = version.get_iterator(projection=ENTRY_FIELDS)
    return AssetIndex(state_of(version).tree, {r["id"]: Entry(r) for r in records})


def _same_entries(mine: AssetIndex, theirs: AssetIndex) -> None:
    fields = ("id", "uri", "filename", "object_name", "content_type", "width", "height",
              "data_id", "tags", "task", "created", "annotations", "meta")
    assert len(mine) == len(theirs)
    for a, b in zip(mine.entries, theirs.entries, strict=True):
        for name in fields:
            x, y = getattr(a, name), getattr(b, name)
            assert x == y and type(x) is type(y), (a.id, name)


def test_column_evaluation_answers_like_asset_by_asset(tricky: vstore.DatasetVersion) -> None:
    built = asset_index(tricky)
    loaded = AssetIndex(built.root, stored=persisted.loads(persisted.dumps(built), built.root))
    compared = 0
    for q in _queries():
        try:
            want = _one_by_one(built, q)
        except InvalidQueryError:
            continue
        assert _listed(built, q) == want, q
        assert _listed(loaded, q) == want, q
        compared += 1
    assert compared > 800


def test_a_read_back_index_holds_the_very_entries(tricky: vstore.DatasetVersion) -> None:
    built = asset_index(tricky)
    loaded = AssetIndex(built.root, stored=persisted.loads(persisted.dumps(built), built.root))
    _same_entries(built, loaded)
    # what a user reads: the same assets with the same metadata, True still True
    assert [(x.id, x.metadata) for x in tricky.list_assets()] == [
        (e.id, e.user_meta()) for e in loaded.entries]


def test_a_persisted_index_patched_by_writes_answers_like_a_fresh_build(
        tricky: vstore.DatasetVersion) -> None:
    index = asset_index(tricky)
    index = AssetIndex(index.root, stored=persisted.loads(persisted.dumps(index), index.root))
    writes = [
        lambda: tricky.list_assets(filenames=["2.jpg", "4.jpg"]).add_tags("late"),
        lambda: tricky.delete_frames(["5", *(a.id for a in tricky.list_assets(
            filenames=["6.jpg", "9.jpg"]))]),
        lambda: tricky.add_frames([SingleFrame(source="s3://bucket/cam/new.jpg",
                                               metadata={"flag": 1, "fresh": True})]),
    ]
    for write in writes:  # each write patches the last index: a chain over the stored one
        write()
        root = state_of(tricky).tree
        changes = diff_states(tricky.store.repo, index.root, root).changes
        index = index.patched(root, ((c.frame_id, c.new) for c in changes))
        fresh = _fresh(tricky)
        _same_entries(index, fresh)
        for q in [*_queries()[::7], "fresh = true", 'tags.name = "late"']:
            try:
                assert _listed(index, q) == _listed(fresh, q), q
            except InvalidQueryError:
                continue
    again = AssetIndex(index.root, stored=persisted.loads(persisted.dumps(index), index.root))
    _same_entries(again, _fresh(tricky))


def test_values_python_calls_equal_stay_apart(store: vstore.Store) -> None:
    v = store.create_dataset("kinds").create_version("v1")
    v.add_frames([SingleFrame(id=f"f{i}", source=f"s3://b/{i}.jpg", metadata={"x": x})
                  for i, x in enumerate([True, 1, 1.0, False, 0, 0.0, "1"])])

    def ids(q: str) -> list[str]:
        return [a.id for a in v.list_assets(q=q)]

    assert ids("x = true") == ["f0"]
    assert ids("x = 1") == ["f1", "f2"]
    assert ids("x = false") == ["f3"]
    assert ids("x <= 0") == ["f4", "f5"]
    assert ids('x = "1"') == ["f6"]
