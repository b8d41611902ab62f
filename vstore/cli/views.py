"""The JSON objects the CLI prints (see ``vstore.cli.schemas``) and the frames it reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vstore.cli.output import iso

if TYPE_CHECKING:
    from vstore.cli.address import Resolved
    from vstore.datasets.registry import DatasetInfo
    from vstore.datasets.store import Store
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "dataset_json",
    "first_source",
    "frame_labels",
    "frame_summary",
    "iter_records",
    "version_json",
    "version_json_of",
]


def dataset_json(info: DatasetInfo, versions: int | None = None) -> dict[str, Any]:
    """The ``Dataset`` object."""
    out: dict[str, Any] = {
        "id": info.id,
        "name": info.name,
        "description": info.comment,
        "project": info.project,
        "tags": list(info.tags),
        "created": iso(info.created),
    }
    if versions is not None:
        out["versions"] = versions
    return out


def _version(store: Store, dataset: DatasetInfo, meta: dict[str, Any], commit_id: bytes,
             tree: bytes, latest: bool) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "dataset_id": dataset.id,
        "version": str(meta.get("name")),
        "version_id": str(meta.get("version")),
        "status": str(meta.get("status")),
        "commit_id": commit_id.hex(),
        "parent_id": meta.get("parent"),
        "frames": store.repo.layers.count(tree),
        "updated": iso(meta.get("updated")),
        "comment": str(meta.get("comment") or ""),
        "latest": latest,
    }


def version_json(r: Resolved) -> dict[str, Any]:
    """The ``Version`` object of a resolved address."""
    return _version(r.store, r.dataset, r.commit.meta, r.commit.id, r.tree, r.is_head)


def version_json_of(v: DatasetVersion) -> dict[str, Any]:
    """The ``Version`` object of a DatasetVersion (its latest state)."""
    store = v.store
    state = store.registry.version(v.dataset_id, v.version_id)
    info = store.registry.dataset_by_id(v.dataset_id)
    if state is None or info is None:
        from vstore.errors import NotFoundError

        raise NotFoundError(f"version {v.version_id} was removed")
    return _version(store, info, state.meta, state.commit.id, state.tree, True)


def iter_records(store: Store, tree: bytes) -> Iterator[dict[str, Any]]:
    """Every frame record (wire schema) of a tree, in frame-id order."""
    from vstore.model import decode_record

    for _key, raw in store.repo.layers.items(tree):
        yield decode_record(raw, validate=False)


def get_record(store: Store, tree: bytes, frame_id: str) -> dict[str, Any] | None:
    """One frame record of a tree, or None."""
    from vstore.model import decode_record, frame_key

    raw = store.repo.layers.get(tree, frame_key(frame_id))
    return None if raw is None else decode_record(raw, validate=False)


def first_source(record: dict[str, Any]) -> dict[str, Any]:
    """The record's first source (``{}`` if it has none)."""
    sources = record.get("sources") or []
    return dict(sources[0]) if sources else {}


def frame_labels(record: dict[str, Any] | None) -> Counter[str]:
    """How many annotations carry each label."""
    c: Counter[str] = Counter()
    for roi in (record or {}).get("rois") or ():
        c.update(roi.get("label") or ())
    return c


def frame_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The ``FrameSummary`` object."""
    src = first_source(record)
    return {
        "id": record["id"],
        "uri": src.get("uri"),
        "width": src.get("width"),
        "height": src.get("height"),
        "labels": sorted(frame_labels(record)),
        "annotations": len(record.get("rois") or ()),
        "meta": record.get("meta") or {},
    }
