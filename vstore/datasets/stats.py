"""Version statistics, kept up to date from diffs, never by rescanning a version.

A frame record contributes: one count per ROI label, one annotated or
unannotated frame, and one count per source content type. Stats of a version
are the stats of its last committed state plus the contributions of the
frames that changed since (removed for the old record, added for the new).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Contribution", "apply_changes", "contribution", "empty_stats", "stats_lists"]

UNKNOWN_TYPE = "unknown"


def empty_stats() -> dict[str, Any]:
    """Stats of an empty version."""
    return {"labels": {}, "frames": {"annotated": 0, "unannotated": 0}, "content_types": {}}


#: What one frame adds to the stats: its ROI labels, whether it has ROIs, its content types.
Contribution = tuple[tuple[str, ...], bool, tuple[str, ...]]


def contribution(record: dict[str, Any]) -> Contribution:
    """The stats contribution of a frame record (a tuple of atomic values)."""
    rois = record.get("rois")
    labels: list[str] = []
    if rois:
        for roi in rois:
            names = roi.get("label")
            if names:
                labels += names
    types = [src.get("content_type") or UNKNOWN_TYPE for src in record.get("sources") or ()]
    return tuple(labels), bool(rois), tuple(types)


def _add(stats: dict[str, Any], record: dict[str, Any] | Contribution, sign: int) -> None:
    labels_of, annotated, types_of = (
        record if isinstance(record, tuple) else contribution(record)
    )
    labels = stats["labels"]
    for label in labels_of:
        labels[label] = labels.get(label, 0) + sign
    stats["frames"]["annotated" if annotated else "unannotated"] += sign
    types = stats["content_types"]
    for ct in types_of:
        types[ct] = types.get(ct, 0) + sign


Side = dict[str, Any] | Contribution | None


def apply_changes(stats: dict[str, Any], changes: Iterable[tuple[Side, Side]]) -> dict[str, Any]:
    """Return ``stats`` updated by ``(old, new)`` pairs: records or their
    :func:`contribution` (None: absent)."""
    out = {
        "labels": dict(stats["labels"]),
        "frames": dict(stats["frames"]),
        "content_types": dict(stats["content_types"]),
    }
    for old, new in changes:
        if old is not None:
            _add(out, old, -1)
        if new is not None:
            _add(out, new, +1)
    for key in ("labels", "content_types"):
        out[key] = {k: v for k, v in out[key].items() if v}
    return out


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
