"""Version statistics, kept up to date from diffs, never by rescanning a version.

A frame record contributes: one count per ROI label, one annotated or
unannotated frame, and one count per source content type. Stats of a version
are the stats of its last committed state plus the contributions of the
frames that changed since (removed for the old record, added for the new).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

__all__ = [
    "Contribution", "apply_changes", "apply_sides", "contribution", "empty_stats",
    "pack_parts", "packed_contribution", "stats_lists",
]

UNKNOWN_TYPE = "unknown"


def empty_stats() -> dict[str, Any]:
    """Stats of an empty version."""
    return {"labels": {}, "frames": {"annotated": 0, "unannotated": 0}, "content_types": {}}


#: What one frame adds to the stats: its ROI labels, whether it has ROIs, its content types.
Contribution = tuple[tuple[str, ...], bool, tuple[str, ...]]


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(tuple[tuple[str, ...], bool, tuple[str, ...]]).decode


def _parts(record: dict[str, Any]) -> tuple[list[str], bool, list[str]]:
    rois = record.get("rois")
    labels: list[str] = []
    if rois:
        for roi in rois:
            names = roi.get("label")
            if names:
                labels += names
    types = [src.get("content_type") or UNKNOWN_TYPE for src in record.get("sources") or ()]
    return labels, bool(rois), types


def contribution(record: dict[str, Any]) -> Contribution:
    """The stats contribution of a frame record (a tuple of atomic values)."""
    labels, annotated, types = _parts(record)
    return tuple(labels), annotated, tuple(types)


def packed_contribution(record: dict[str, Any]) -> bytes:
    """:func:`contribution` packed into one bytes value, its labels sorted.

    One atomic value: a queue of thousands costs the cyclic garbage collector nothing
    (nested tuples survive a collection or two before it stops tracking them, and enough
    of them trigger full collections), and frames that contribute the same pack to equal
    bytes, which :func:`apply_changes` applies once with their count.
    """
    return pack_parts(*_parts(record))


def pack_parts(labels: list[str], annotated: bool, types: list[str]) -> bytes:
    """:func:`packed_contribution` of a frame with these ROI labels (sorted in place), ROIs
    or none, and source content types (:data:`UNKNOWN_TYPE` for a source without one)."""
    labels.sort()
    return _pack((labels, annotated, types))


def _add(
    stats: dict[str, Any], record: dict[str, Any] | Contribution | bytes, sign: int
) -> None:
    """Add ``sign`` times (a count, negative to remove) the contribution of ``record``."""
    if type(record) is bytes:
        labels_of, annotated, types_of = _unpack(record)
    elif isinstance(record, tuple):
        labels_of, annotated, types_of = record
    else:
        labels_of, annotated, types_of = contribution(record)  # type: ignore[arg-type]
    labels = stats["labels"]
    for label in labels_of:
        labels[label] = labels.get(label, 0) + sign
    stats["frames"]["annotated" if annotated else "unannotated"] += sign
    types = stats["content_types"]
    for ct in types_of:
        types[ct] = types.get(ct, 0) + sign


Side = dict[str, Any] | Contribution | bytes | None


def apply_changes(stats: dict[str, Any], changes: Iterable[tuple[Side, Side]]) -> dict[str, Any]:
    """Return ``stats`` updated by ``(old, new)`` pairs: records, their
    :func:`contribution` or :func:`packed_contribution` (None: absent)."""
    removed: list[Side] = []
    added: list[Side] = []
    for old, new in changes:
        if old is not None:
            removed.append(old)
        if new is not None:
            added.append(new)
    return apply_sides(stats, removed, added)


def apply_sides(
    stats: dict[str, Any], removed: Sequence[Side], added: Sequence[Side]
) -> dict[str, Any]:
    """Return ``stats`` without the ``removed`` frames and with the ``added`` ones (records,
    their :func:`contribution` or :func:`packed_contribution`; never None)."""
    out = {
        "labels": dict(stats["labels"]),
        "frames": dict(stats["frames"]),
        "content_types": dict(stats["content_types"]),
    }
    _apply(out, removed, -1)
    _apply(out, added, +1)
    for key in ("labels", "content_types"):
        out[key] = {k: v for k, v in out[key].items() if v}
    return out


def _apply(out: dict[str, Any], sides: Sequence[Side], sign: int) -> None:
    if not set(map(type, sides)) <= {bytes, tuple}:
        for side in sides:
            if isinstance(side, dict):
                _add(out, side, sign)
        sides = [side for side in sides if not isinstance(side, dict)]
    # Contributions are hashable: equal ones (common in a batch) are applied once.
    for side, n in Counter(sides).items():
        _add(out, side, sign * n)  # type: ignore[arg-type]


def stats_lists(stats: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The ``get_stats`` form: three lists of ``{name, count}``, largest first."""

    def rows(d: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"name": k, "count": v} for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    return {
        "labels": rows(stats["labels"]),
        "frames": [{"name": k, "count": v} for k, v in stats["frames"].items()],
        "content_types": rows(stats["content_types"]),
    }
