"""Evaluation of ``q`` syntax trees against plain dict documents.

The rules (any-element matching over lists, negated operators, kinds that never compare) are
described in :mod:`vstore.datasets.query.q`; this module implements them. Each node compiles
once into a closure, so a predicate applied to a million documents does no parsing or
dispatch on operator names.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from vstore.datasets.query.patterns import Wildcard, WildcardToken, wildcard_matcher
from vstore.datasets.query.qnodes import And, Condition, Node, Not, Scalar
from vstore.errors import InvalidQueryError

__all__ = ["Predicate", "Resolver", "compile_node", "like_tokens", "resolve_path"]

#: ``resolve(document, path_segments) -> values``: the values a path reaches in a document.
Resolver = Callable[[dict[str, Any], list[str]], list[Any]]
#: A compiled query: ``predicate(document) -> bool``.
Predicate = Callable[[dict[str, Any]], bool]
_Test = Callable[[Any], bool]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Indexes longer than this cannot address a real list; int() of huge digit strings also fails.
_MAX_INDEX_DIGITS = 18


def compile_node(node: Node, resolve: Resolver) -> Predicate:
    """Turn a syntax tree into a predicate over documents.

    Args:
        node: the root of a tree from :func:`~vstore.datasets.query.q.parse_q`.
        resolve: maps a document and a path to the values the path reaches.

    Returns:
        ``predicate(document) -> bool``.
    """
    if isinstance(node, Condition):
        return _compile_condition(node, resolve)
    if isinstance(node, Not):
        inner = compile_node(node.operand, resolve)
        return lambda document: not inner(document)
    parts = [compile_node(operand, resolve) for operand in node.operands]
    if isinstance(node, And):
        return lambda document: all(part(document) for part in parts)
    return lambda document: any(part(document) for part in parts)


def _compile_condition(condition: Condition, resolve: Resolver) -> Predicate:
    path = list(condition.path)
    negated = condition.op.startswith("not ") or condition.op == "!="
    positive = {"!=": "=", "not in": "in", "not like": "like"}.get(condition.op, condition.op)
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    # A null among the wanted values also matches "the path reaches nothing", as in Mongo.
    matches_absent = positive in ("=", "in") and None in values
    test = _value_test(condition, positive)

    def predicate(document: dict[str, Any]) -> bool:
        reached = resolve(document, list(path))
        found = (matches_absent and not reached) or any(test(value) for value in reached)
        return found != negated

    return predicate


def _value_test(condition: Condition, op: str) -> _Test:
    """A test of one reached value against the literal(s) of a positive operator."""
    wanted = condition.value
    if op == "like" and isinstance(wanted, str):
        match = wildcard_matcher(like_tokens(wanted))
        return lambda value: isinstance(value, str) and match(value)
    if op == "in" and isinstance(wanted, tuple):
        return lambda value: any(_equal(value, choice) for choice in wanted)
    if op == "=" and not isinstance(wanted, tuple):
        return lambda value: _equal(value, wanted)
    compare = _ORDER.get(op)
    if compare is None or isinstance(wanted, tuple):
        # Only a hand-built Condition gets here; the parser never builds one.
        raise InvalidQueryError(
            f"operator {condition.op!r} cannot take the value {wanted!r}",
            position=condition.position,
        )
    return lambda value: _same_kind(value, wanted) and compare(value, wanted)


def _kind(value: Any) -> str | None:
    """The comparison family of a value: values of different families never compare."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _same_kind(value: Any, wanted: Scalar) -> bool:
    kind = _kind(value)
    return kind is not None and kind != "null" and kind == _kind(wanted)


def _equal(value: Any, wanted: Scalar) -> bool:
    kind = _kind(value)
    return kind is not None and kind == _kind(wanted) and bool(value == wanted)


def like_tokens(pattern: str) -> list[WildcardToken]:
    """Translate a ``like`` pattern into wildcard tokens.

    Args:
        pattern: ``%`` any run, ``_`` one character, ``\\`` escapes the next character.

    Returns:
        Tokens for :func:`~vstore.datasets.query.patterns.wildcard_matcher`.
    """
    tokens: list[WildcardToken] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            tokens.append(pattern[index + 1])
            index += 2
            continue
        if char == "%":
            tokens.append(Wildcard.RUN)
        elif char == "_":
            tokens.append(Wildcard.ONE)
        else:
            tokens.append(char)
        index += 1
    return tokens


def resolve_path(document: Mapping[str, Any], path: list[str]) -> list[Any]:
    """Collect the values a dot path reaches in a document, Mongo-style.

    A segment applied to a list is applied to each element that is a mapping; a segment made
    of digits also picks that index of a list. A list reached at the end of the path
    contributes its elements (one level, as in Mongo). Missing keys contribute nothing.

    Args:
        document: a plain dict of nested dicts and lists.
        path: the path segments.

    Returns:
        Every value reached; empty if the path reaches nothing.
    """
    current: list[Any] = [document]
    for segment in path:
        index = _list_index(segment)
        reached: list[Any] = []
        for value in current:
            if isinstance(value, Mapping):
                if segment in value:
                    reached.append(value[segment])
            elif isinstance(value, list | tuple):
                reached.extend(i[segment] for i in value if isinstance(i, Mapping) and segment in i)
                if index is not None and index < len(value):
                    reached.append(value[index])
        current = reached
    values: list[Any] = []
    for value in current:
        if isinstance(value, list | tuple):
            values.extend(value)
        else:
            values.append(value)
    return values


def _list_index(segment: str) -> int | None:
    if segment.isascii() and segment.isdigit() and len(segment) <= _MAX_INDEX_DIGITS:
        return int(segment)
    return None
