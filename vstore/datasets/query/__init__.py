"""Pure query functions of the datasets layer: no storage, no I/O.

* :func:`compile_tag_filter` — the ClearML tag-filter grammar (``__$all``, ``__$or``,
  ``__$not``, ``__$nop``, legacy ``-tag``) as a predicate over an entity's tags.
* :func:`compile_source_pattern` / :func:`literal_prefix` — ``get_frames_by_source`` patterns
  (exact URI, folder prefix, ``*`` / ``?`` globs).
* :func:`parse_q` / :func:`compile_q` — the Picsellia ``q`` language of ``list_assets``
  (``field op value``, ``in``, ``like``, ``and`` / ``or`` / ``not``) over plain dict documents.

Every malformed input raises :class:`vstore.errors.InvalidQueryError` with a 0-based position.
"""

from __future__ import annotations

from vstore.datasets.query.patterns import SourcePattern, compile_source_pattern, literal_prefix
from vstore.datasets.query.q import MAX_DEPTH, MAX_QUERY_LENGTH, compile_q, parse_q
from vstore.datasets.query.qeval import Predicate, Resolver, resolve_path
from vstore.datasets.query.qnodes import And, Condition, Node, Not, Or
from vstore.datasets.query.tagfilter import TagFilter, compile_tag_filter

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "And",
    "Condition",
    "Node",
    "Not",
    "Or",
    "Predicate",
    "Resolver",
    "SourcePattern",
    "TagFilter",
    "compile_q",
    "compile_source_pattern",
    "compile_tag_filter",
    "literal_prefix",
    "parse_q",
    "resolve_path",
]
