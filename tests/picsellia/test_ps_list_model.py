"""list_assets against a plain Python model of the same assets (Hypothesis)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import vstore
from vstore.errors import NoDataError

TAGS = ["red", "blue", "green"]
LABELS = ["car", "bus"]
N = 24


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[vstore.DatasetVersion, list[dict[str, Any]]]]:
    """A version of N frames with random tags, metadata and boxes, and its plain model."""
    rng = random.Random(7)
    store = vstore.open(str(tmp_path_factory.mktemp("model") / "store"))
    v = store.create_dataset("model").create_version("v")
    model, frames = [], []
    for i in range(N):
        tags = sorted(rng.sample(TAGS, rng.randint(0, 2)))
        labels = [rng.choice(LABELS) for _ in range(rng.randint(0, 2))]
        meta = {"speed": rng.randint(0, 5), "camera": rng.choice(["left", "right"])}
        f = vstore.SingleFrame(id=f"a{i:02d}", source=f"s3://bucket/img{i:02d}.jpg",
                               metadata={**meta, "_tags": tags} if tags else meta)
        for label in labels:
            f.add_annotation(box2d_xywh=[1, 1, 2, 2], labels=[label])
        frames.append(f)
        model.append({"id": f"a{i:02d}", "filename": f"img{i:02d}.jpg", "tags": tags,
                      "labels": labels, **meta})
    v.add_frames(frames)
    yield v, model
    store.close()


conditions = st.one_of(
    st.tuples(st.just("speed"), st.sampled_from(["=", "!=", "<", ">=", ">"]),
              st.integers(0, 5)),
    st.tuples(st.just("camera"), st.sampled_from(["=", "!="]), st.sampled_from(["left", "right"])),
    st.tuples(st.just("annotations.rectangles.label.name"), st.just("="),
              st.sampled_from(LABELS)),
)

_OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b, ">": lambda a, b: a > b}


def _holds(row: dict[str, Any], cond: tuple[str, str, Any]) -> bool:
    field, op, value = cond
    if field.startswith("annotations"):
        return value in row["labels"]
    return bool(_OPS[op](row[field], value))


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


@given(
    tags=st.none() | st.lists(st.sampled_from(TAGS), min_size=1, max_size=3, unique=True),
    intersect=st.booleans(),
    conds=st.lists(conditions, max_size=3),
    joiner=st.sampled_from(["and", "or"]),
    order=st.sampled_from([None, ["filename"], ["-filename"]]),
    offset=st.none() | st.integers(0, 30),
    limit=st.none() | st.integers(1, 30),
)
def test_list_assets_matches_a_plain_filter(
    world: tuple[vstore.DatasetVersion, list[dict[str, Any]]],
    tags: list[str] | None, intersect: bool, conds: list[tuple[str, str, Any]], joiner: str,
    order: list[str] | None, offset: int | None, limit: int | None,
) -> None:
    version, model = world
    q = f" {joiner} ".join(f"{f} {op} {_literal(v)}" for f, op, v in conds) or None
    rows = model
    if tags is not None:
        rows = [r for r in rows if (set(tags) <= set(r["tags"]) if intersect
                                    else set(tags) & set(r["tags"]))]
    if conds:
        combine = all if joiner == "and" else any
        rows = [r for r in rows if combine(_holds(r, c) for c in conds)]
    rows = sorted(rows, key=lambda r: r["filename"], reverse=order == ["-filename"])
    start = offset or 0
    rows = rows[start:None if limit is None else start + limit]
    expected = [r["filename"] for r in rows]
    try:
        got = [a.filename for a in version.list_assets(
            tags=tags, intersect_tags=intersect, q=q, order_by=order, offset=offset,
            limit=limit)]
    except NoDataError:
        got = []
    assert got == expected
