"""The syntax tree of the ``q`` query language, and its canonical text.

Nodes are frozen, slotted and comparable; ``str(node)`` prints the canonical query text, which
parses back to an equal tree (positions are not part of equality). The parser lives in
:mod:`vstore.datasets.query.q`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "COMPARISON_OPERATORS",
    "And",
    "Condition",
    "Node",
    "Not",
    "Operator",
    "Or",
    "Scalar",
]

#: A literal of the language: a string, a number, ``true``/``false`` or ``null``.
Scalar = str | int | float | bool | None

#: Every condition operator, in its canonical spelling.
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "not like"]

COMPARISON_OPERATORS: tuple[Operator, ...] = ("=", "!=", "<", "<=", ">", ">=")

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``field op value`` test.

    Attributes:
        path: the dot path, one entry per segment (``("annotations", "status")``).
        op: the operator, canonical spelling (``==`` is read as ``=``, ``<>`` as ``!=``).
        value: the literal; for ``in`` / ``not in`` a tuple of literals; for ``like`` /
            ``not like`` the pattern string (``%`` any run, ``_`` one character, ``\\``
            escapes the next character).
        position: 0-based offset of the field in the query text (not part of equality).
    """

    path: tuple[str, ...]
    op: Operator
    value: Scalar | tuple[Scalar, ...]
    position: int = field(default=0, compare=False)

    def __str__(self) -> str:
        if isinstance(self.value, tuple):
            shown = "(" + ", ".join(format_literal(v) for v in self.value) + ")"
        else:
            shown = format_literal(self.value)
        return f"{'.'.join(self.path)} {self.op} {shown}"


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation of one operand.

    Attributes:
        operand: the negated node.
    """

    operand: Node

    def __str__(self) -> str:
        return f"not {_child(self.operand)}"


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction: every operand must hold.

    Attributes:
        operands: two or more nodes.
    """

    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return " and ".join(_child(operand) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction: at least one operand must hold.

    Attributes:
        operands: two or more nodes.
    """

    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return " or ".join(_child(operand) for operand in self.operands)


#: Any node of the tree.
Node = Condition | Not | And | Or


def _child(node: Node) -> str:
    # Compound children always get parentheses, so that the text parses back to the very
    # same tree (the parser keeps the grouping it was given).
    return f"({node})" if isinstance(node, And | Or) else str(node)


def format_literal(value: Scalar) -> str:
    """Print a literal in query syntax (strings double-quoted and escaped).

    Args:
        value: a string, int, float, bool or None.

    Returns:
        The literal as it would be written in a query.

    Raises:
        ValueError: a float that is not finite (the language has no such literal).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal in the query language")
        return repr(value)
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'
