"""The ``q`` query language of ``list_assets``: parser and evaluator over plain dict documents.

Grammar (keywords are case-insensitive; ``not`` binds tighter than ``and``, which binds tighter
than ``or``; parentheses group)::

    query      := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" or_expr ")" | condition
    condition  := path ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") literal
                | path ["not"] "in" "(" literal ("," literal)* ")"
                | path ["not"] "like" string
    path       := name ("." segment)*      e.g. annotations.rectangles.label.name
    literal    := string | number | "true" | "false" | "null"

Names start with a letter or ``_`` and may hold letters, digits, ``_`` and ``-``; the segments
after the first may also start with a digit (a list index, or a metadata key such as ``2024``).
Strings take single or double quotes and the escapes ``\\\\ \\" \\' \\n \\r \\t \\uXXXX``; ``\\%``
and ``\\_`` are kept as written so that ``like`` reads them as a literal ``%`` and ``_``.
Numbers are decimal, with optional sign, fraction and exponent.

Evaluation, Mongo-style (the Picsellia server filters a document database):

* A path collects every value it reaches; a path that crosses a list visits each element,
  and a list at the end of the path contributes its elements. A condition holds if **any**
  collected value satisfies it. ``tags.name = "x"`` reads "some tag is named x".
* ``!=``, ``not in`` and ``not like`` are the negations of ``=``, ``in`` and ``like``:
  ``tags.name != "x"`` reads "no tag is named x", and it holds when the field is absent.
* ``= null`` (and ``null`` inside ``in``) holds when the field is absent or null.
* Values of different kinds never compare: a number and a string, or a bool and a number,
  are not equal and not ordered (no error). Strings order by code point, so ISO-8601 dates
  compare correctly as strings.
* ``like``: ``%`` matches any run of characters, ``_`` exactly one, ``\\`` escapes the next
  character. Case-sensitive, as in SQL; only strings match.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from vstore.datasets.query.qeval import Predicate, Resolver, compile_node, resolve_path
from vstore.datasets.query.qnodes import And, Condition, Node, Not, Operator, Or, Scalar
from vstore.errors import InvalidArgumentError, InvalidQueryError

__all__ = ["MAX_DEPTH", "MAX_QUERY_LENGTH", "compile_q", "parse_q"]

#: Longest query text accepted, in characters.
MAX_QUERY_LENGTH = 64 * 1024
#: Deepest nesting accepted: every ``(`` and every ``not`` counts one level.
MAX_DEPTH = 100

_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "true", "false", "null"})
_OPERATORS: dict[str, Operator] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_NEGATED: dict[str, tuple[Operator, Operator]] = {
    "in": ("in", "not in"),
    "like": ("like", "not like"),
}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | (?P<word>[^\W\d][\w-]*(?:\.[\w-]+)*(?P<dangling>\.)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<>|<=|>=|[=<>])
      | (?P<punct>[(),])""",
    re.VERBOSE | re.DOTALL,
)
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
_EXPECT_CONDITION = "a condition (a field name, 'not' or '(')"
_EXPECT_VALUE = "a value (a quoted string, a number, true, false or null)"
_EXPECT_OPERATOR = "an operator (=, !=, <, <=, >, >=, in, not in, like, not like)"


class _Token(NamedTuple):
    kind: str  # "number", "string", "word", "keyword", "op", "punct", "end"
    text: str
    value: Any
    position: int


def parse_q(query: str) -> Node:
    """Parse a ``q`` query into its syntax tree.

    Args:
        query: the query text (see the module docstring for the grammar).

    Returns:
        The root node; ``str(node)`` gives the canonical text back.

    Raises:
        InvalidQueryError: the text does not parse, is empty, is longer than
            :data:`MAX_QUERY_LENGTH` or nests deeper than :data:`MAX_DEPTH`. ``position`` is the
            0-based offset of the offending token (the query length for a premature end), and
            the message says what was expected there.
        InvalidArgumentError: ``query`` is not a string.
    """
    if not isinstance(query, str):
        raise InvalidArgumentError(f"a query must be a string, got {type(query).__name__}")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidQueryError(
            f"query is {len(query)} characters long, over the limit of {MAX_QUERY_LENGTH}; "
            "split it or filter with tags",
            position=MAX_QUERY_LENGTH,
            query=query,
        )
    return _Parser(query, _tokenize(query)).parse()


def compile_q(query: str | Node, resolve: Resolver | None = None) -> Predicate:
    """Compile a ``q`` query into a predicate over asset documents.

    Args:
        query: the query text, or a tree from :func:`parse_q`.
        resolve: ``resolve(document, segments) -> values`` returns the values a path reaches;
            the default is :func:`resolve_path` (dot paths, any element of a list). A custom
            resolver can map virtual fields; its values are compared as returned (a list is
            not expanded), and an empty list means "absent".

    Returns:
        ``predicate(document) -> bool``. It never raises on odd documents: values of the
        wrong kind simply do not match.

    Raises:
        InvalidQueryError: the query does not parse (see :func:`parse_q`).
        InvalidArgumentError: ``query`` is neither a string nor a node.
    """
    node = query if isinstance(query, Condition | Not | And | Or) else parse_q(query)
    return compile_node(node, resolve or resolve_path)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        found = _TOKEN.match(query, position)
        if found is None:
            raise _unexpected_character(query, position)
        kind = found.lastgroup or ""
        text = found.group()
        if kind == "word" and found.group("dangling"):
            raise InvalidQueryError(
                "expected a field name after '.'", position=found.end(), query=query
            )
        if kind == "word" and text.lower() in _KEYWORDS:
            tokens.append(_Token("keyword", text.lower(), None, position))
        elif kind == "number":
            tokens.append(_Token(kind, text, _number(text, position, query), position))
        elif kind == "string":
            tokens.append(_Token(kind, text, _unescape(text, position, query), position))
        elif kind != "space":
            tokens.append(_Token(kind, text, None, position))
        position = found.end()
    tokens.append(_Token("end", "", None, len(query)))
    return tokens


def _unexpected_character(query: str, position: int) -> InvalidQueryError:
    char = query[position]
    if char in "\"'":
        return InvalidQueryError(
            f"unterminated string: no closing {char} for the quote here", position, query
        )
    if char == "!":
        return InvalidQueryError("expected '!=' ('!' alone is not an operator)", position, query)
    return InvalidQueryError(f"unexpected character {char!r}", position, query)


def _number(text: str, position: int, query: str) -> int | float:
    try:
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:  # an integer past Python's digit limit
        raise InvalidQueryError(f"number {text[:20]}... is too long", position, query) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidQueryError(f"number {text} is out of range", position, query)
    return value


def _unescape(text: str, position: int, query: str) -> str:
    body, out, index = text[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]  # the token regex guarantees a character after "\"
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
        elif code in "%_":
            out.append("\\" + code)  # left for `like`, which reads "\%" as a literal "%"
        elif code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 4
        else:
            raise InvalidQueryError(
                f"unknown escape '\\{code}' in string; write '\\\\' for a backslash",
                position + 1 + index,
                query,
            )
        index += 2
    return "".join(out)


def _shorten(text: str, limit: int = 40) -> str:
    """Quote a piece of the query for a message, cut short so messages stay readable."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, query: str, tokens: list[_Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error(f"empty query: expected {_EXPECT_CONDITION}")
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.expected("'and', 'or' or the end of the query")
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, kind: str, text: str) -> bool:
        token = self.peek()
        return token.kind == kind and token.text == text

    def error(self, message: str, token: _Token | None = None) -> InvalidQueryError:
        return InvalidQueryError(message, (token or self.peek()).position, self.query)

    def expected(self, what: str) -> InvalidQueryError:
        token = self.peek()
        found = "the end of the query" if token.kind == "end" else _shorten(token.text)
        return self.error(f"expected {what}, found {found}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nests deeper than {MAX_DEPTH} levels of '(' and 'not'")

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.at("keyword", "or"):
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.unary()]
        while self.at("keyword", "and"):
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        negations = 0
        saved_depth = self.depth
        while self.at("keyword", "not"):  # a loop, so that "not not ..." costs no stack
            self.nest()
            self.take()
            negations += 1
        if self.at("punct", "("):
            self.nest()
            opening = self.take()
            node = self.or_expr()
            if not self.at("punct", ")"):
                raise self.expected(f"')' to close the '(' opened at offset {opening.position}")
            self.take()
        else:
            node = self.condition()
        self.depth = saved_depth
        for _ in range(negations):
            node = Not(node)
        return node

    def condition(self) -> Condition:
        field = self.peek()
        if field.kind != "word":
            raise self.expected(_EXPECT_CONDITION)
        self.take()
        path = tuple(field.text.split("."))
        if self.peek().kind == "op":
            op = _OPERATORS[self.take().text]
            return Condition(path, op, self.literal(), field.position)
        negated = self.at("keyword", "not")
        if negated:
            self.take()
        word = self.peek().text if self.peek().kind == "keyword" else ""
        if word == "in":
            self.take()
            return Condition(path, _NEGATED["in"][negated], self.in_list(), field.position)
        if word == "like":
            self.take()
            return Condition(path, _NEGATED["like"][negated], self.like_pattern(), field.position)
        if negated:
            raise self.expected(f"'in' or 'like' after {_shorten(field.text + ' not')}")
        raise self.expected(f"{_EXPECT_OPERATOR} after field {_shorten(field.text)}")

    def literal(self) -> Scalar:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.take()
            value: Scalar = token.value
            return value
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.take()
            return {"true": True, "false": False, "null": None}[token.text]
        raise self.expected(_EXPECT_VALUE)

    def in_list(self) -> tuple[Scalar, ...]:
        if not self.at("punct", "("):
            raise self.expected("'(' to open the list after 'in'")
        self.take()
        values = [self.literal()]
        while self.at("punct", ","):
            self.take()
            values.append(self.literal())
        if not self.at("punct", ")"):
            raise self.expected("',' or ')' in the 'in' list")
        self.take()
        return tuple(values)

    def like_pattern(self) -> str:
        token = self.peek()
        if token.kind != "string":
            raise self.expected("a quoted pattern after 'like'")
        self.take()
        pattern: str = token.value
        if pattern.endswith("\\") and (len(pattern) - len(pattern.rstrip("\\"))) % 2:
            raise self.error("a 'like' pattern cannot end with an escaping backslash", token)
        return pattern
