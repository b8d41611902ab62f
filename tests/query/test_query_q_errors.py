"""Malformed q queries: the error names what was expected, at the exact 0-based position."""

from __future__ import annotations

import pytest

from vstore.datasets.query import MAX_DEPTH, MAX_QUERY_LENGTH, compile_q, parse_q
from vstore.errors import InvalidArgumentError, InvalidQueryError


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("", 0, "empty query"),
        ("width >", 7, "expected a value"),
        ("width > 10 and", 14, "expected a condition"),
        ("width > 10 and or height = 1", 15, "expected a condition"),
        ("width 10", 6, "expected an operator"),
        ("= 10", 0, "expected a condition"),
        ("and = 1", 0, "expected a condition"),
        ("not", 3, "expected a condition"),
        ("(width = 1", 10, "expected ')' to close the '(' opened at offset 0"),
        ("width = 1)", 9, "expected 'and', 'or' or the end of the query, found ')'"),
        ("width = 1 height = 2", 10, "found 'height'"),
        ("a = foo", 4, "expected a value"),
        ("a in ()", 6, "expected a value"),
        ("a in (1,)", 8, "expected a value"),
        ("a in (1 2)", 8, "expected ',' or ')'"),
        ('a in "x"', 5, "expected '('"),
        ("a like x", 7, "quoted pattern"),
        ("a like 5", 7, "quoted pattern"),
        ("a not = 1", 6, "'in' or 'like'"),
        ('a = "abc', 4, "unterminated string"),
        ("a = 'it''", 8, "unterminated string"),
        (r'a = "\x"', 5, "unknown escape '\\x'"),
        (r'a = "ok\u12"', 7, "unknown escape '\\u'"),
        ("a = #", 4, "unexpected character '#'"),
        ("a ! 1", 2, "'!='"),
        ("tags. = 1", 5, "field name after '.'"),
        ("a = -x", 4, "unexpected character '-'"),
        (r'a like "x\\"', 7, "cannot end with an escaping backslash"),
        ("a = 1e999", 4, "out of range"),
        ("a = " + "9" * 5000, 4, "too long"),
        ("width > 1 and (height < 2 or )", 29, "expected a condition"),
    ],
)
def test_error_position_and_message(query: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_q(query)
    error = caught.value
    assert error.position == position, str(error)
    assert fragment in str(error)
    assert f"at position {position}" in str(error)
    assert error.query == query


def test_invalid_query_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        compile_q("width >")


def test_non_string_query_is_a_usage_error() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_q(42)  # type: ignore[arg-type]


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep = "(" * MAX_DEPTH + "width = 1" + ")" * MAX_DEPTH
    assert compile_q(deep)({"width": 1})
    nots = "not " * MAX_DEPTH + "width = 1"
    assert compile_q(nots)({"width": 1})  # an even number of negations


def test_nesting_past_the_limit_is_refused_at_the_offending_token() -> None:
    parens = "(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidQueryError, match="nests deeper") as caught:
        parse_q(parens)
    assert caught.value.position == MAX_DEPTH
    mixed = "not (" * (MAX_DEPTH // 2) + "not a = 1" + ")" * (MAX_DEPTH // 2)
    with pytest.raises(InvalidQueryError) as caught:
        parse_q(mixed)
    assert caught.value.position == len("not (") * (MAX_DEPTH // 2)


def test_hostile_nesting_cannot_exhaust_the_stack() -> None:
    for query in ("(" * 100_000, "not " * 15_000 + "a = 1", "((((" * 10_000 + "a=1"):
        with pytest.raises(InvalidQueryError):
            parse_q(query)


def test_query_length_limit() -> None:
    long_ok = "a = 1" + " or a = 1" * ((MAX_QUERY_LENGTH - 5) // 9)
    assert len(long_ok) <= MAX_QUERY_LENGTH
    assert compile_q(long_ok)({"a": 1})
    too_long = long_ok + " " * (MAX_QUERY_LENGTH - len(long_ok) + 1)
    with pytest.raises(InvalidQueryError, match="over the limit") as caught:
        parse_q(too_long)
    assert caught.value.position == MAX_QUERY_LENGTH
