"""The ClearML tag-filter grammar, checked against the server algorithm (seed-apis.md B.4)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vstore.datasets.query import compile_tag_filter
from vstore.errors import InvalidArgumentError, InvalidQueryError

UNIVERSE = ("a", "b", "c", "d", "e", "f", "g", "-x", "best", "debug")

Formula = Callable[[set[str]], bool]


def all_tag_sets(names: tuple[str, ...]) -> list[set[str]]:
    return [set(combo) for n in range(len(names) + 1) for combo in itertools.combinations(names, n)]


def assert_same_truth_table(
    tags: list[str | None], formula: Formula, names: tuple[str, ...]
) -> None:
    keep = compile_tag_filter(tags)
    for have in all_tag_sets(names):
        assert keep(have) == formula(have), f"{tags} on {sorted(have)}"


# Every worked row of the B.4 table, with the meaning the server gives it.
WORKED_EXAMPLES: list[tuple[list[str | None], Formula, tuple[str, ...]]] = [
    (["a", "b", "c"], lambda t: "a" in t or "b" in t or "c" in t, ("a", "b", "c", "d")),
    (["best", "-debug"], lambda t: "best" in t and "debug" not in t, ("best", "debug", "a")),
    (["__$all", "a", "b", "c"], lambda t: {"a", "b", "c"} <= t, ("a", "b", "c", "d")),
    (["__$and", "a", "b", "c"], lambda t: {"a", "b", "c"} <= t, ("a", "b", "c", "d")),
    (
        ["__$all", "a", "b", "__$not", "c"],
        lambda t: "a" in t and "b" in t and "c" not in t,
        ("a", "b", "c", "d"),
    ),
    (
        ["__$not", "a", "b", "__$not", "c"],
        lambda t: "a" not in t and "b" in t and "c" not in t,
        ("a", "b", "c", "d"),
    ),
    (["__$or", "a", "__$not", "b"], lambda t: "a" in t or "b" not in t, ("a", "b", "c")),
    (
        ["a", "b", "__$and", "c", "d"],
        lambda t: ("a" in t or "b" in t) and "c" in t and "d" in t,
        ("a", "b", "c", "d", "e"),
    ),
    (
        ["__$and", "__$or", "a", "b", "__$and", "c", "d"],
        lambda t: ("a" in t or "b" in t) and "c" in t and "d" in t,
        ("a", "b", "c", "d", "e"),
    ),
    (
        ["__$all", "a", "b", "c", "__$or", "d", "__$not", "e", "__$and", "__$or", "f", "g"],
        lambda t: {"a", "b", "c"} <= t and bool({"d", "f", "g"} & t) and "e" not in t,
        ("a", "b", "c", "d", "e", "f", "g"),
    ),
]


@pytest.mark.parametrize(("tags", "formula", "names"), WORKED_EXAMPLES, ids=str)
def test_every_worked_example_of_the_reference(
    tags: list[str | None], formula: Formula, names: tuple[str, ...]
) -> None:
    assert_same_truth_table(tags, formula, names)


def test_a_and_b_then_and_c_d_is_not_what_the_sdk_docs_claim() -> None:
    keep = compile_tag_filter(["a", "b", "__$and", "c", "d"])
    # The docs say "a OR b OR (c AND d)"; the server says "(a OR b) AND c AND d".
    assert not keep({"a"})
    assert keep({"a", "c", "d"})


def test_exclusions_pool_into_one_bucket_under_an_or_combiner() -> None:
    keep = compile_tag_filter(["__$or", "a", "__$not", "b", "__$not", "c"])
    # in[a] OR nin[b, c]: without a, the item must carry neither b nor c.
    assert keep({"b", "c", "a"})
    assert keep(set())
    assert not keep({"b"})


def test_no_filter_and_empty_filter_match_everything() -> None:
    empty: list[str | None] = []
    for tags in (None, empty):
        keep = compile_tag_filter(tags)
        assert keep.matches_everything
        assert keep(set()) and keep({"a"}) and keep(None)


def test_a_bare_string_is_one_tag_as_on_the_server() -> None:
    keep = compile_tag_filter("best")
    assert keep(["best", "x"]) and not keep(["x"])


def test_predicate_accepts_any_iterable_of_tags() -> None:
    keep = compile_tag_filter(["__$all", "a", "b"])
    assert keep(iter(["b", "a"]))
    assert keep(("a", "b", "a"))
    assert not keep(None)


class TestLegacyPrefix:
    def test_minus_excludes_before_any_operator(self) -> None:
        assert_same_truth_table(["-a", "-b"], lambda t: not ({"a", "b"} & t), ("a", "b", "c"))

    def test_minus_is_literal_after_an_operator(self) -> None:
        keep = compile_tag_filter(["__$or", "-x"])
        assert keep({"-x"})
        assert not keep({"x"})
        assert not keep(set())

    def test_nop_reenables_the_prefix_and_resets_to_or(self) -> None:
        keep = compile_tag_filter(["__$all", "a", "b", "__$nop", "c", "-d"])
        # all[a, b] AND in[c] AND nin[d] (global AND from the leading __$all).
        assert keep({"a", "b", "c"})
        assert not keep({"a", "b", "c", "d"})
        assert not keep({"a", "b"})

    def test_not_before_a_minus_tag_excludes_the_literal_name(self) -> None:
        keep = compile_tag_filter(["__$not", "-x"])
        assert not keep({"-x"})
        assert keep({"x"})

    def test_a_bare_minus_after_an_operator_is_the_tag_minus(self) -> None:
        keep = compile_tag_filter(["__$any", "-"])
        assert keep({"-"}) and not keep({"a"})


class TestNullValue:
    def test_null_alone_selects_untagged_items(self) -> None:
        keep = compile_tag_filter([None])
        assert keep(set()) and keep(None)
        assert not keep({"a"})

    def test_null_is_ored_with_the_rest(self) -> None:
        keep = compile_tag_filter(["__$all", "a", "b", None])
        assert keep({"a", "b"}) and keep(set())
        assert not keep({"a"})

    def test_null_swallows_a_pending_not_as_the_server_does(self) -> None:
        keep = compile_tag_filter(["__$not", None, "a"])
        assert keep({"a"}) and keep(set())
        assert not keep({"b"})


def test_nop_cancels_a_pending_not() -> None:
    keep = compile_tag_filter(["__$not", "__$nop", "a"])
    assert keep({"a"}) and not keep({"b"})


def test_leading_nop_keeps_the_default_and_combiner() -> None:
    keep = compile_tag_filter(["__$nop", "a", "-b"])
    assert keep({"a"}) and not keep({"a", "b"}) and not keep(set())


@pytest.mark.parametrize(
    ("tags", "position", "fragment"),
    [
        (["a", "__$xor", "b"], 1, "unknown operator '__$xor'"),
        (["__$ALL", "a"], 0, "unknown operator"),
        (["__$not", "__$all", "a"], 1, "must be followed by a tag"),
        (["__$not", "__$not", "a"], 1, "must be followed by a tag"),
        (["a", "__$not"], 2, "ends with '__$not'"),
        (["a", "-"], 1, "bare '-'"),
        (["a", 3], 1, "not a string"),
    ],
)
def test_malformed_filters_name_the_item(tags: list[object], position: int, fragment: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        compile_tag_filter(tags)  # type: ignore[arg-type]
    assert caught.value.position == position
    assert fragment in str(caught.value)


def test_a_set_is_refused_because_order_matters() -> None:
    with pytest.raises(InvalidArgumentError, match="list of strings"):
        compile_tag_filter({"a", "b"})  # type: ignore[arg-type]


ITEMS = st.one_of(
    st.sampled_from(
        ["__$all", "__$and", "__$any", "__$or", "__$not", "__$nop", "__$bad", "-", None]
    ),
    st.sampled_from(UNIVERSE),
    st.text(max_size=4),
)


@given(st.lists(ITEMS, max_size=12), st.sets(st.sampled_from(UNIVERSE)))
def test_any_list_either_compiles_or_raises_invalid_query(
    tags: list[str | None], have: set[str]
) -> None:
    try:
        keep = compile_tag_filter(tags)
    except InvalidQueryError as error:
        assert error.position is not None and 0 <= error.position <= len(tags)
        return
    assert isinstance(keep(have), bool)


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1), st.sets(st.sampled_from(UNIVERSE)))
def test_plain_tags_mean_any_of(tags: list[str], have: set[str]) -> None:
    assert compile_tag_filter(tags)(have) == bool(set(tags) & have)


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1), st.sets(st.sampled_from(UNIVERSE)))
def test_all_prefix_means_every_one(tags: list[str], have: set[str]) -> None:
    assert compile_tag_filter(["__$all", *tags])(have) == set(tags).issubset(have)
