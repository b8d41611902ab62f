"""Version statistics, kept up to date from diffs, never by rescanning a version.

A frame record contributes: one count per ROI label, one annotated or
unannotated frame, and one count per source content type. Stats of a version
are the stats of its last committed state plus the contributions of the
frames that changed since (removed for the old record, added for the new).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["apply_changes", "empty_stats", "stats_lists"]

UNKNOWN_TYPE = "unknown"


def empty_stats() -> dict[str, Any]:
    """Stats of an empty version."""
    return {"labels": {}, "frames": {"annotated": 0, "unannotated": 0}, "content_types": {}}


def _add(stats: dict[str, Any], record: dict[str, Any], sign: int) -> None:
    rois = record.get("rois") or []
    labels = stats["labels"]
    for roi in rois:
        for label in roi.get("label") or ():
            labels[label] = labels.get(label, 0) + sign
    kind = "annotated" if rois else "unannotated"
    stats["frames"][kind] += sign
    types = stats["content_types"]
    for src in record.get("sources") or ():
        ct = src.get("content_type") or UNKNOWN_TYPE
        types[ct] = types.get(ct, 0) + sign


def apply_changes(
    stats: dict[str, Any], changes: Iterable[tuple[dict[str, Any] | None, dict[str, Any] | None]]
) -> dict[str, Any]:
    """Return ``stats`` updated by ``(old record, new record)`` pairs (None: absent)."""
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
