"""Checks for values users put into frames, and the copies stored in records.

Every check raises :class:`~vstore.errors.InvalidArgumentError` naming the field
that failed; callers that read stored records turn it into a ``FormatError``.
A check returns the normalised value, so a caller assigns only after every
check passed and a failed call leaves the frame untouched.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from vstore.errors import InvalidArgumentError

__all__ = [
    "MAX_META_DEPTH",
    "check_confidence",
    "check_int",
    "check_labels",
    "check_meta",
    "check_number",
    "check_str",
    "copy_value",
]

# Deeper metadata is almost surely a bug, and recursion on it could exhaust the stack.
MAX_META_DEPTH = 32
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def _type_name(value: object) -> str:
    return type(value).__name__


def check_str(value: object, what: str) -> str:
    """Return ``value`` if it is a non-empty str.

    Args:
        value: the value to check.
        what: the field name used in the error message.

    Returns:
        The string.

    Raises:
        InvalidArgumentError: not a str, or empty.
    """
    if type(value) is not str:
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{what} must be a str, not {_type_name(value)}")
        value = str.__str__(value)
    if not value:
        raise InvalidArgumentError(f"{what} must not be empty")
    return value


def check_int(value: object, what: str, *, minimum: int | None = 0) -> int:
    """Return ``value`` as an int (bools are refused).

    Args:
        value: the value to check.
        what: the field name used in the error message.
        minimum: the smallest value allowed, or ``None`` for no bound.

    Returns:
        The integer.

    Raises:
        InvalidArgumentError: not an int, a bool, or below ``minimum``.
    """
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidArgumentError(f"{what} must be an int, not {_type_name(value)}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{what} must be >= {minimum}, got {value}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise InvalidArgumentError(f"{what} is outside the 64-bit integer range")
    return value


def check_number(value: object, what: str) -> float:
    """Return ``value`` as a finite float (ints are accepted, bools are refused).

    Args:
        value: the value to check.
        what: the field name used in the error message.

    Returns:
        The float.

    Raises:
        InvalidArgumentError: not a real number, a bool, NaN or infinite.
    """
    t = type(value)
    if t is float or t is int:
        out = float(value)  # type: ignore[arg-type]
    elif t is not bool and isinstance(value, numbers.Real):
        out = float(value)
    else:
        raise InvalidArgumentError(f"{what} must be a number, not {_type_name(value)}")
    if not math.isfinite(out):
        raise InvalidArgumentError(f"{what} must be finite, got {out}")
    return out + 0.0


def check_confidence(value: object, what: str = "confidence") -> float | None:
    """Return a confidence in ``[0, 1]`` as a float, or ``None``.

    Args:
        value: a number or ``None``.
        what: the field name used in the error message.

    Returns:
        The confidence.

    Raises:
        InvalidArgumentError: not a number, or outside ``[0, 1]``.
    """
    if value is None:
        return None
    out = check_number(value, what)
    if not 0.0 <= out <= 1.0:
        raise InvalidArgumentError(f"{what} must be between 0 and 1, got {out}")
    return out


def check_labels(value: object, what: str = "labels") -> list[str]:
    """Return labels as a list of str; a single str becomes a one-item list.

    Args:
        value: a str, an iterable of str, or ``None`` for no label.
        what: the field name used in the error message.

    Returns:
        A new list.

    Raises:
        InvalidArgumentError: not a str or an iterable of str.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [check_str(value, what)]
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{what} must be a list of str, not {_type_name(value)}")
    out = []
    for i, label in enumerate(value):
        if type(label) is not str:
            label = check_str(label, f"{what}[{i}]")
        out.append(label)
    return out


def check_meta(value: object, what: str = "metadata") -> dict[str, Any]:
    """Check a metadata dict and return a deep copy in record form.

    Keys must be str without ``$`` or ``.`` (at any depth), because they are query
    paths. Values must be what canonical msgpack holds: None, bool, int (64-bit),
    float (not NaN), str, bytes, list/tuple and dict. Tuples become lists and
    ``-0.0`` becomes ``0.0``, so equal values have one encoding.

    Args:
        value: a dict, or ``None`` for an empty one.
        what: the field name used in error messages.

    Returns:
        A new dict that shares no container with ``value``.

    Raises:
        InvalidArgumentError: a bad key, a value msgpack cannot hold, or nesting
            deeper than :data:`MAX_META_DEPTH`.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what} must be a dict, not {_type_name(value)}")
    return _copy_dict(value, what, 0)


def copy_value(value: Any, what: str = "value") -> Any:
    """Check and deep-copy one metadata value (see :func:`check_meta`).

    Args:
        value: the value.
        what: the field name used in error messages.

    Returns:
        The copy.

    Raises:
        InvalidArgumentError: a value msgpack cannot hold.
    """
    return _copy(value, what, 0)


def _copy_dict(d: dict[Any, Any], what: str, depth: int) -> dict[str, Any]:
    if depth >= MAX_META_DEPTH:
        raise InvalidArgumentError(f"{what} is nested deeper than {MAX_META_DEPTH} levels")
    out: dict[str, Any] = {}
    for key, v in d.items():
        if type(key) is not str:
            raise InvalidArgumentError(
                f"{what} has a {_type_name(key)} key {key!r}; metadata keys must be str"
            )
        if "$" in key or "." in key:
            raise InvalidArgumentError(
                f"{what} key {key!r} contains '$' or '.'; rename it (keys are query paths)"
            )
        t = type(v)
        if t is str or (t is int and _INT_MIN <= v <= _INT_MAX) or t is bool or v is None:
            out[key] = v
        else:
            out[key] = _copy(v, f"{what}.{key}", depth + 1)
    return out


def _copy(v: Any, what: str, depth: int) -> Any:
    t = type(v)
    if t is str or t is bool or v is None or t is bytes:
        return v
    if t is int:
        if not _INT_MIN <= v <= _INT_MAX:
            raise InvalidArgumentError(f"{what} is outside the 64-bit integer range")
        return v
    if t is float:
        if v != v:
            raise InvalidArgumentError(f"{what} is NaN, which has no canonical encoding")
        # -0.0 == 0.0 but encodes differently; adding 0.0 turns it into 0.0.
        return v + 0.0
    if t is dict:
        return _copy_dict(v, what, depth)
    if t is list or t is tuple:
        if depth >= MAX_META_DEPTH:
            raise InvalidArgumentError(f"{what} is nested deeper than {MAX_META_DEPTH} levels")
        return [_copy(x, f"{what}[{i}]", depth + 1) for i, x in enumerate(v)]
    return _copy_subclass(v, what, depth)


def _copy_subclass(v: Any, what: str, depth: int) -> Any:
    # Subclasses (IntEnum, numpy.float64, OrderedDict...) are stored as their base value.
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return _copy(int(v), what, depth)
    if isinstance(v, float):
        return _copy(float(v), what, depth)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, dict):
        return _copy_dict(v, what, depth)
    raise InvalidArgumentError(
        f"{what} is a {_type_name(v)}, which cannot be stored; "
        "use None, bool, int, float, str, bytes, list or dict"
    )
