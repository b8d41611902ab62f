"""Property tests of the q language: robustness, round trips, and an independent model."""

from __future__ import annotations

import operator
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vstore.datasets.query import And, Condition, Node, Not, Or, compile_q, parse_q
from vstore.errors import InvalidQueryError

KEYWORDS = {"and", "or", "not", "in", "like", "true", "false", "null"}

FRAGMENTS = st.sampled_from(
    [
        "a", "tags.name", "x.0", "metadata.k-1", " ", "=", "==", "!=", "<>", "<", "<=", ">",
        ">=", "in", "not", "like", "and", "or", "AND", "(", ")", ",", '"s"', "'t'", '"', "'",
        "\\", "1", "-2.5e3", "true", "null", "%", ".", "!", "#", "\n",
    ]
)  # fmt: skip


def check_parse_or_invalid(query: str) -> None:
    try:
        node = parse_q(query)
    except InvalidQueryError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(query)
        return
    compile_q(node)({"a": [1, "s"], "tags": [{"name": "s"}]})


@given(st.text(max_size=80))
@example("a = 1 or")
@example('a like "\\')
def test_random_text_parses_or_raises_invalid_query(query: str) -> None:
    check_parse_or_invalid(query)


@given(st.lists(FRAGMENTS, max_size=25).map(" ".join))
@settings(max_examples=300)
def test_random_token_soup_parses_or_raises_invalid_query(query: str) -> None:
    check_parse_or_invalid(query)


@given(st.lists(FRAGMENTS, max_size=25).map("".join))
def test_random_glued_tokens_parse_or_raise_invalid_query(query: str) -> None:
    check_parse_or_invalid(query)


# --- round trip: the canonical text parses back to the same tree --------------------------

NAMES = st.from_regex(r"[a-z_][a-z0-9_-]{0,6}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
SEGMENTS = st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True)
PATHS = st.builds(lambda first, rest: (first, *rest), NAMES, st.lists(SEGMENTS, max_size=3))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
LIKE_PATTERNS = st.text(max_size=8).filter(
    lambda s: (len(s) - len(s.rstrip("\\"))) % 2 == 0  # no escaping backslash at the very end
)
CONDITIONS = st.one_of(
    st.builds(Condition, PATHS, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), SCALARS),
    st.builds(
        Condition,
        PATHS,
        st.sampled_from(["in", "not in"]),
        st.lists(SCALARS, min_size=1).map(tuple),
    ),
    st.builds(Condition, PATHS, st.sampled_from(["like", "not like"]), LIKE_PATTERNS),
)


def compound(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, many), st.builds(Or, many))


TREES = st.recursive(CONDITIONS, compound, max_leaves=12)


@given(TREES)
def test_canonical_text_round_trips(node: Node) -> None:
    text = str(node)
    assert parse_q(text) == node
    assert str(parse_q(text)) == text


# --- agreement with a tiny independent evaluator ------------------------------------------

REF_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, 1.5, -2.5, 3.0]),
    st.text(alphabet="ab%_", max_size=3),
)
DOCUMENTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    REF_SCALARS.map(lambda v: {"f": v}),
    st.lists(REF_SCALARS, max_size=3).map(lambda v: {"f": v}),
)
ORDERS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def family(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "bool"
    if type(value) in (int, float):
        return "number"
    return "string" if type(value) is str else "other"


def reference_holds(document: dict[str, Any], op: str, literal: Any) -> bool:
    raw = document.get("f", _MISSING)
    values = [] if raw is _MISSING else list(raw) if isinstance(raw, list) else [raw]
    if op == "!=":
        return not reference_holds(document, "=", literal)
    if op == "=":
        if literal is None and not values:
            return True
        return any(family(v) == family(literal) and v == literal for v in values)
    if op == "like":
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in literal)
        return any(isinstance(v, str) and re.fullmatch(regex, v, re.DOTALL) for v in values)
    same = [v for v in values if family(v) == family(literal) and family(v) != "null"]
    return any(ORDERS[op](v, literal) for v in same)


_MISSING = object()


def literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return repr(value)


@given(DOCUMENTS, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), REF_SCALARS)
@settings(max_examples=400)
def test_comparisons_agree_with_the_reference(
    document: dict[str, Any], op: str, literal: Any
) -> None:
    query = f"f {op} {literal_text(literal)}"
    assert compile_q(query)(document) == reference_holds(document, op, literal), query


@given(DOCUMENTS, st.text(alphabet="ab%_", max_size=4))
@settings(max_examples=300)
def test_like_agrees_with_the_reference(document: dict[str, Any], pattern: str) -> None:
    query = f'f like "{pattern}"'
    assert compile_q(query)(document) == reference_holds(document, "like", pattern), query
