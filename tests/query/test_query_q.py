"""The q language of list_assets: operators, precedence, lists, metadata, like, errors."""

from __future__ import annotations

from typing import Any

import pytest

from vstore.datasets.query import (
    And,
    Condition,
    Not,
    Or,
    compile_q,
    parse_q,
)

CAR: dict[str, Any] = {
    "filename": "car_001.jpg",
    "object_name": "datalake/car_001.jpg",
    "width": 640,
    "height": 480,
    "content_type": "image/jpeg",
    "tags": [{"name": "train"}, {"name": "reviewed"}],
    "data": {"tags": [{"name": "raw"}], "metadata": {"camera": "front", "iso": 200}},
    "metadata": {"weather": "rain", "score": 0.92, "night": False, "city": None},
    "annotations": [
        {
            "rectangles": [{"label": {"name": "car"}}, {"label": {"name": "person"}}],
            "polygons": [],
            "classifications": [],
            "status": "accepted",
            "worker": {"username": "alice"},
        }
    ],
}
BIKE: dict[str, Any] = {
    "filename": "bike_%1.png",
    "object_name": "datalake/bike_%1.png",
    "width": 1920,
    "height": 1080,
    "content_type": "image/png",
    "tags": [{"name": "test"}],
    "data": {"tags": [{"name": "raw"}, {"name": "night"}], "metadata": {"camera": "rear"}},
    "metadata": {"weather": "sun", "score": 0.4, "night": True},
    "annotations": [
        {
            "rectangles": [],
            "polygons": [{"label": {"name": "bicycle"}}],
            "classifications": [{"label": {"name": "outdoor"}}],
            "status": "pending",
            "worker": {"username": "bob"},
        },
        {
            "rectangles": [{"label": {"name": "car"}}],
            "status": "rejected",
            "worker": {"username": "carol"},
        },
    ],
}
BLANK: dict[str, Any] = {
    "filename": "blank.JPG",
    "object_name": "datalake/blank.JPG",
    "width": 10,
    "height": 5,
    "content_type": "image/jpeg",
    "tags": [],
    "annotations": [],
}
ASSETS = {"car": CAR, "bike": BIKE, "blank": BLANK}


def select(query: str) -> set[str]:
    match = compile_q(query)
    return {name for name, asset in ASSETS.items() if match(asset)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # = and != on plain fields
        ('filename = "car_001.jpg"', {"car"}),
        ("filename = 'car_001.jpg'", {"car"}),
        ('content_type != "image/jpeg"', {"bike"}),
        ('filename == "blank.JPG"', {"blank"}),
        ('filename <> "blank.JPG"', {"car", "bike"}),
        # numeric comparisons
        ("width > 640", {"bike"}),
        ("width >= 640", {"car", "bike"}),
        ("width < 640", {"blank"}),
        ("width <= 640", {"car", "blank"}),
        ("width = 640.0", {"car"}),
        ("height > -1", {"car", "bike", "blank"}),
        ("metadata.score >= 9.2e-1", {"car"}),
        # string ordering by code point
        ('filename < "c"', {"bike", "blank"}),
        # in / not in
        ('content_type in ("image/png", "image/gif")', {"bike"}),
        ("width in (10, 1920)", {"bike", "blank"}),
        ('content_type not in ("image/png")', {"car", "blank"}),
        # like / not like: % any run, _ one character, case-sensitive
        ('filename like "%.jpg"', {"car"}),
        ('filename like "%.JPG"', {"blank"}),
        ('filename like "b%"', {"bike", "blank"}),
        ('filename like "car\\_00_.jpg"', {"car"}),
        ('filename like "bike\\_\\%1%"', {"bike"}),
        ('filename like "bike\\%%"', set()),
        ('filename like "bike_%"', {"bike"}),
        ('filename not like "%.jpg"', {"bike", "blank"}),
        ('object_name like "datalake/%"', {"car", "bike", "blank"}),
        # booleans and null
        ("metadata.night = true", {"bike"}),
        ("metadata.night = false", {"car"}),
        ("metadata.night != true", {"car", "blank"}),
        ("metadata.city = null", {"car", "bike", "blank"}),
        ("metadata.weather = null", {"blank"}),
        ("metadata.weather != null", {"car", "bike"}),
        ('metadata.weather in ("sun", null)', {"bike", "blank"}),
        # keywords are case-insensitive
        ('metadata.night = TRUE AND NOT filename LIKE "%.png"', set()),
    ],
)
def test_operators(query: str, expected: set[str]) -> None:
    assert select(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('tags.name = "train"', {"car"}),
        ('tags.name in ("train", "test")', {"car", "bike"}),
        ('tags.name = "train" and tags.name = "reviewed"', {"car"}),
        ('tags.name != "train"', {"bike", "blank"}),  # "no tag named train"
        ('data.tags.name = "raw"', {"car", "bike"}),
        ('data.tags.name = "night"', {"bike"}),
        ('annotations.rectangles.label.name = "car"', {"car", "bike"}),
        ('annotations.rectangles.label.name = "person"', {"car"}),
        ('annotations.polygons.label.name = "bicycle"', {"bike"}),
        ('annotations.classifications.label.name like "out%"', {"bike"}),
        ('annotations.status = "rejected"', {"bike"}),
        ('annotations.worker.username in ("alice", "carol")', {"car", "bike"}),
        ("annotations.status = null", {"blank"}),  # no annotation at all
        ('annotations.0.status = "pending"', {"bike"}),  # a list index
        ('annotations.1.worker.username = "carol"', {"bike"}),
    ],
)
def test_paths_that_cross_lists_match_any_element(query: str, expected: set[str]) -> None:
    assert select(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('metadata.weather = "rain"', {"car"}),
        ("metadata.score < 0.5", {"bike"}),
        ('data.metadata.camera = "front"', {"car"}),
        ("data.metadata.iso >= 100", {"car"}),
        ("metadata.missing = 1", set()),
        ("metadata.missing != 1", {"car", "bike", "blank"}),
    ],
)
def test_metadata_fields(query: str, expected: set[str]) -> None:
    assert select(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # and binds tighter than or
        ('filename = "blank.JPG" or width > 600 and content_type = "image/png"', {"blank", "bike"}),
        ('(filename = "blank.JPG" or width > 600) and content_type = "image/png"', {"bike"}),
        # not binds tighter than and
        ('not content_type = "image/png" and width > 100', {"car"}),
        ('not (content_type = "image/png" and width > 100)', {"car", "blank"}),
        ("not not width = 10", {"blank"}),
        ("((((width = 10))))", {"blank"}),
        ('width = 10 or width = 640 or filename like "bike%"', {"car", "bike", "blank"}),
    ],
)
def test_precedence_and_parentheses(query: str, expected: set[str]) -> None:
    assert select(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        'width = "640"',  # a number is never equal to a string
        'width > "1"',
        "filename > 3",
        "metadata.night = 1",  # a bool is not a number
        "metadata.night > 0",
        "metadata.city < 1",
        "tags > 1",
        "annotations = 1",
    ],
)
def test_mismatched_kinds_compare_false_without_error(query: str) -> None:
    assert select(query) == set()


def test_tree_shape_and_canonical_text() -> None:
    node = parse_q('a = 1 or b.c in ("x", 2) and not d like "p%"')
    assert node == Or(
        (
            Condition(("a",), "=", 1),
            And((Condition(("b", "c"), "in", ("x", 2)), Not(Condition(("d",), "like", "p%")))),
        )
    )
    assert str(node) == 'a = 1 or (b.c in ("x", 2) and not d like "p%")'
    assert parse_q(str(node)) == node


def test_positions_point_at_each_field() -> None:
    node = parse_q('width > 1 and  filename = "x"')
    assert isinstance(node, And)
    assert [c.position for c in node.operands if isinstance(c, Condition)] == [0, 15]


def test_string_escapes() -> None:
    node = parse_q(r'a = "q\"uote\\ \u00e9\n" or b = ' + r"'it\'s'")
    assert isinstance(node, Or)
    first, second = node.operands
    assert isinstance(first, Condition) and first.value == 'q"uote\\ é\n'
    assert isinstance(second, Condition) and second.value == "it's"
    match = compile_q(r'filename = "a\\b"')
    assert match({"filename": "a\\b"})


def test_field_names_may_hold_dashes_and_keywords_after_a_dot() -> None:
    match = compile_q('metadata.camera-id = "c1" and metadata.in = 2')
    assert match({"metadata": {"camera-id": "c1", "in": 2}})


def test_custom_resolver_maps_virtual_fields() -> None:
    def resolve(document: dict[str, Any], path: list[str]) -> list[Any]:
        if path == ["area"]:
            return [document["width"] * document["height"]]
        return []

    match = compile_q("area >= 300000", resolve=resolve)
    assert {name for name, asset in ASSETS.items() if match(asset)} == {"car", "bike"}


def test_compile_accepts_a_parsed_tree() -> None:
    assert compile_q(parse_q("width = 10"))(BLANK)


def test_odd_documents_never_raise() -> None:
    match = compile_q('a.b.c = 1 or a like "x%" or a.0 > 2')
    for document in ({}, {"a": None}, {"a": [1, [2], {"b": None}]}, {"a": {"b": [{"c": "1"}]}}):
        assert match(document) is False
    assert match({"a": [5, 6]}) is True  # "a.0" picks 5, and 5 > 2
