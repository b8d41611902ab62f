"""The fast projected decoder gives exactly what decoding then projecting gives."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from vstore.engine.codec import decode, encode
from vstore.model.projection import compile_fast, project

names = st.sampled_from(["id", "meta", "rois", "sources", "label", "uri", "cam", "x", "*", "0"])
paths = st.lists(st.lists(names, min_size=1, max_size=4).map(".".join), min_size=1, max_size=4)
leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3) | st.binary(max_size=3)
values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["label", "uri", "cam", "x", "y"]), inner, max_size=3),
    max_leaves=12,
)
records = st.fixed_dictionaries(
    {"id": st.text(max_size=4)},
    optional={"meta": st.dictionaries(st.sampled_from(["cam", "x", "y"]), values, max_size=3),
              "rois": st.lists(st.dictionaries(st.sampled_from(["label", "x"]), values),
                               max_size=3),
              "sources": values},
)


@given(records, paths)
def test_fast_projection_equals_decode_then_project(record: dict, projection: list[str]) -> None:
    data = encode(record)
    expected = project(decode(data), projection)
    fast = compile_fast(projection)
    if fast is None:
        return
    try:
        got = fast(data)
    except msgspec.ValidationError:
        return  # the reader falls back to decode-then-project for such a record
    assert got == expected


def test_the_common_projections_take_the_fast_path() -> None:
    record = {"id": "f", "meta": {"camera": "left", "n": 1},
              "rois": [{"label": ["car"], "poly": [1.0, 2.0]}, {"label": ["bus"]}],
              "sources": [{"id": "default", "uri": "s3://b/f.jpg"}]}
    for projection in (["id", "meta", "rois.*.label"], ["id", "sources.uri"], ["meta.camera"]):
        fast = compile_fast(projection)
        assert fast is not None
        assert fast(encode(record)) == project(record, projection)
