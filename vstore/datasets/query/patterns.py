"""Source-URI patterns for ``get_frames_by_source``, and the one wildcard matcher of vstore.

The seed documents the pattern only by example: ``'/home/folder/'``, ``'/folder/*'``,
``'https://domain.com/folder/*'``, ``'s3://bucket/folder/*'``. The rules chosen here:

* **Exact URI** — a pattern without wildcards that does not end in ``/`` matches that URI only.
* **Folder prefix** — a pattern without wildcards that ends in ``/`` matches every URI under
  that folder, at any depth (``'/home/folder/'`` matches ``'/home/folder/a/b.jpg'``).
* **Glob** — ``*`` matches any run of characters, **including** ``/``, and ``?`` matches exactly
  one character. This is the wildcard of the Elasticsearch/Lucene keyword queries that back
  ClearML's source filtering, so ``'s3://bucket/folder/*'`` matches the whole subtree, as
  ``'s3://bucket/folder/'`` does. ``**`` is accepted and means the same as ``*``. There are no
  character classes: ``[`` and ``]`` are literal.
* ``\\*``, ``\\?`` and ``\\\\`` stand for a literal ``*``, ``?`` and backslash; any other
  backslash is literal (Windows-looking paths keep working). Write ``\\?`` for the ``?`` of a URL
  query string when an exact match matters.
* Matching is case-sensitive and compares the strings as stored: the pattern is not normalised.
  A caller that stores local sources as ``file:///...`` must normalise a local-path pattern the
  same way before compiling it.

:func:`literal_prefix` gives the literal text before the first wildcard, so that a caller whose
frames are keyed or indexed by URI can narrow a scan to that prefix.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vstore.errors import InvalidArgumentError, InvalidQueryError

__all__ = [
    "Wildcard",
    "SourcePattern",
    "WildcardToken",
    "compile_source_pattern",
    "literal_prefix",
    "wildcard_matcher",
]


class Wildcard(enum.Enum):
    """The two wildcards every pattern syntax of vstore compiles to."""

    ONE = "one"  # exactly one character
    RUN = "run"  # any run of characters, possibly empty


#: A pattern after parsing: literal text, or a wildcard.
WildcardToken = str | Wildcard

_SOURCE_ESCAPABLE = frozenset("*?\\")


@dataclass(frozen=True, slots=True)
class SourcePattern:
    """A compiled source-URI pattern; call it with a URI to test it.

    Attributes:
        pattern: the pattern as given.
        kind: ``"exact"``, ``"prefix"`` (a folder ending in ``/``) or ``"glob"``.
        prefix: the literal text every matching URI starts with (the whole URI for ``exact``).
    """

    pattern: str
    kind: Literal["exact", "prefix", "glob"]
    prefix: str
    _match: Callable[[str], bool] = field(repr=False, compare=False)

    def __call__(self, uri: str) -> bool:
        """Tell whether ``uri`` matches the pattern.

        Args:
            uri: a source URI as stored on a frame.

        Returns:
            True if it matches. A non-string never matches.
        """
        return isinstance(uri, str) and self._match(uri)


def compile_source_pattern(pattern: str) -> SourcePattern:
    """Compile a ``get_frames_by_source`` pattern (see the module docstring for the rules).

    Args:
        pattern: an exact URI, a folder ending in ``/``, or a glob with ``*`` / ``?``.

    Returns:
        A :class:`SourcePattern`, callable on a URI string.

    Raises:
        InvalidArgumentError: ``pattern`` is not a string.
        InvalidQueryError: ``pattern`` is empty.
    """
    tokens = _parse_source(pattern)
    prefix = _leading_literal(tokens)
    if not any(isinstance(token, Wildcard) for token in tokens):
        if prefix.endswith("/"):
            return SourcePattern(pattern, "prefix", prefix, lambda uri: uri.startswith(prefix))
        return SourcePattern(pattern, "exact", prefix, lambda uri: uri == prefix)
    return SourcePattern(pattern, "glob", prefix, wildcard_matcher(tokens))


def literal_prefix(pattern: str) -> str:
    """Return the longest literal prefix of a source pattern, escapes resolved.

    Every URI the pattern matches starts with this text, so a caller can restrict a scan
    to it. For an exact URI or a folder it is the whole pattern.

    Args:
        pattern: a pattern as accepted by :func:`compile_source_pattern`.

    Returns:
        The text before the first unescaped wildcard.

    Raises:
        InvalidArgumentError: ``pattern`` is not a string.
        InvalidQueryError: ``pattern`` is empty.
    """
    return _leading_literal(_parse_source(pattern))


def _parse_source(pattern: str) -> list[WildcardToken]:
    if not isinstance(pattern, str):
        raise InvalidArgumentError(
            f"a source pattern must be a string, got {type(pattern).__name__}"
        )
    if not pattern:
        raise InvalidQueryError(
            "empty source pattern; give a URI, a folder ending in '/', or a glob such as "
            "'s3://bucket/folder/*'",
            position=0,
            query=pattern,
        )
    tokens: list[WildcardToken] = []
    literal: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        nxt = pattern[index + 1] if index + 1 < len(pattern) else ""
        if char == "\\" and nxt in _SOURCE_ESCAPABLE:
            literal.append(nxt)
            index += 2
            continue
        if char in "*?":
            _flush(literal, tokens)
            tokens.append(Wildcard.RUN if char == "*" else Wildcard.ONE)
        else:
            literal.append(char)
        index += 1
    _flush(literal, tokens)
    return tokens


def _flush(literal: list[str], tokens: list[WildcardToken]) -> None:
    if literal:
        tokens.append("".join(literal))
        literal.clear()


def _leading_literal(tokens: Sequence[WildcardToken]) -> str:
    return tokens[0] if tokens and isinstance(tokens[0], str) else ""


@dataclass(frozen=True, slots=True)
class _Segment:
    """The part of a pattern between two RUN wildcards.

    Attributes:
        chars: one entry per character; ``None`` stands for a ONE wildcard.
        literal: the segment as plain text when it holds no ONE wildcard, else ``None``.
    """

    chars: tuple[str | None, ...]
    literal: str | None

    @classmethod
    def of(cls, chars: list[str | None]) -> _Segment:
        text = "".join(c for c in chars if c is not None)
        return cls(tuple(chars), text if len(text) == len(chars) else None)

    def __len__(self) -> int:
        return len(self.chars)

    def matches_at(self, text: str, start: int) -> bool:
        if self.literal is not None:
            return text.startswith(self.literal, start)
        if start + len(self.chars) > len(text):
            return False
        return all(want is None or want == text[start + i] for i, want in enumerate(self.chars))

    def find(self, text: str, start: int, end: int) -> int:
        """Index of the leftmost fit inside ``text[start:end]``, or -1."""
        if self.literal is not None:
            return text.find(self.literal, start, end)
        for position in range(start, end - len(self.chars) + 1):
            if self.matches_at(text, position):
                return position
        return -1


def wildcard_matcher(tokens: Sequence[WildcardToken]) -> Callable[[str], bool]:
    """Build a full-string matcher for a parsed wildcard pattern.

    Runs in O(len(text) * len(pattern)) at worst and never backtracks exponentially, so a
    hostile pattern such as ``*a*a*a*a*b`` stays cheap (a regex engine would not).

    Args:
        tokens: literal strings and :class:`Wildcard` markers, in order.

    Returns:
        A function telling whether a whole string matches the pattern.
    """
    parts: list[list[str | None]] = [[]]
    for token in tokens:
        if token is Wildcard.RUN:
            parts.append([])
        elif token is Wildcard.ONE:
            parts[-1].append(None)
        else:
            parts[-1].extend(token)
    segments = [_Segment.of(part) for part in parts]
    if len(segments) == 1:
        only = segments[0]
        return lambda text: len(text) == len(only) and only.matches_at(text, 0)
    head, tail = segments[0], segments[-1]
    middle = [segment for segment in segments[1:-1] if len(segment)]

    def match(text: str) -> bool:
        end = len(text) - len(tail)
        if end < len(head) or not head.matches_at(text, 0) or not tail.matches_at(text, end):
            return False
        # Between the two anchors, the leftmost fit of each segment is always the best choice.
        position = len(head)
        for segment in middle:
            found = segment.find(text, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    return match
