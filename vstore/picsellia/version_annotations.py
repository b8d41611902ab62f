"""Annotations across a version: listing, loading, deleting, stats, tags to classifications."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vstore.errors import InvalidArgumentError, UsageError, WrongTypeError
from vstore.picsellia import frames
from vstore.picsellia.annotation import Annotation, MultiAnnotation, worker_name
from vstore.picsellia.annrecord import (
    AnnotationState,
    new_entry,
    read_annotations,
    with_entry,
    with_shapes,
    without_annotations,
)
from vstore.picsellia.enums import AnnotationStatus, InferenceType, TagTarget
from vstore.picsellia.index import asset_index
from vstore.picsellia.job import Job
from vstore.picsellia.shapes import PLURALS, ShapeState, num
from vstore.picsellia.tags import Tag

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "DatasetVersionStats",
    "annotation_dict",
    "convert_tags_to_classification",
    "delete_annotations",
    "list_annotations",
    "load_annotations",
    "retrieve_stats",
]

_ORDER = {"created_at": "created", "status": "status", "worker": "worker", "id": "id",
          "asset_id": "asset_id"}


@dataclass(frozen=True)
class DatasetVersionStats:
    """What ``retrieve_stats`` returns.

    Attributes:
        label_repartition: label name → number of shapes with that label.
        nb_objects: the number of shapes (the sum of ``label_repartition``).
        nb_annotations: the number of annotations.
    """

    label_repartition: dict[str, int] = field(default_factory=dict)
    nb_objects: int = 0
    nb_annotations: int = 0


def _shape_dict(shape: ShapeState) -> dict[str, Any]:
    out: dict[str, Any] = {"id": shape.id, "label": shape.label, "text": shape.text,
                           "attributes": shape.attributes}
    g = shape.geometry
    if shape.kind == "rectangle":
        out.update(x=num(g[0]), y=num(g[1]), w=num(g[2]), h=num(g[3]))
    elif shape.kind in ("polygon", "line"):
        out["polygon" if shape.kind == "polygon" else "line"] = [[num(c) for c in p] for p in g]
    elif shape.kind == "point":
        out.update(point=[num(c) for c in g], order=0)
    elif shape.kind == "keypoints":
        out["keypoints"] = [[num(p[0]), num(p[1]), int(p[2])] for p in g]
    elif shape.kind == "mask":
        out.update(mask=g["rle"], area=g.get("area"), bbox=g.get("bbox"))
    return out


def annotation_dict(asset_id: str, state: AnnotationState) -> dict[str, Any]:
    """An annotation as ``load_annotations`` gives it: its fields and one list per shape kind."""
    out: dict[str, Any] = {
        "id": state.id,
        "asset_id": asset_id,
        "worker": state.worker,
        "status": state.status,
        "duration": state.duration,
        "created_at": _dt.datetime.fromtimestamp(state.created, _dt.UTC).isoformat(),
        "attributes": state.attributes,
    }
    for kind, plural in PLURALS.items():
        out[plural] = [_shape_dict(s) for s in state.shapes if s.kind == kind]
    return out


def _records(version: DatasetVersion, asset_ids: Sequence[str] | None
             ) -> Iterator[dict[str, Any]]:
    if asset_ids is None:  # one sequential pass over the version
        return (r for r in version.get_iterator(projection=frames.FULL)
                if r.get("rois") or (r.get("meta") or {}).get("_annotations"))
    return frames.iter_records(version, asset_ids)


def _asset_ids(assets: object) -> list[str] | None:
    from vstore.picsellia.asset import Asset, MultiAsset

    if assets is None:
        return None
    items = list(assets.items) if isinstance(assets, MultiAsset) else assets
    if not isinstance(items, (list, tuple)) or not all(isinstance(a, Asset) for a in items):
        raise WrongTypeError("assets must be a list of Asset or a MultiAsset")
    return [a.id for a in items]


def _matching(states: list[AnnotationState], worker: object, status: object
              ) -> list[AnnotationState]:
    name = None if worker is None else worker_name(worker)
    wanted = None if status is None else AnnotationStatus.validate(status).value
    return [s for s in states if (name is None or s.worker == name)
            and (wanted is None or s.status == wanted)]


def load_annotations(version: DatasetVersion, worker: object = None, status: object = None,
                     assets: object = None, chunk_size: int | None = None,
                     max_workers: int | None = None, skip_error: bool = False
                     ) -> dict[str, list[dict[str, Any]]]:
    """See ``DatasetVersion.load_annotations``."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(
            chunk_size, int) or not 1 <= chunk_size <= 10000):
        raise InvalidArgumentError(f"chunk_size must be an int in 1..10000, got {chunk_size!r}")
    out: dict[str, list[dict[str, Any]]] = {}
    with frames.paused_gc():
        for record in _records(version, _asset_ids(assets)):
            states = _matching(read_annotations(record), worker, status)
            if states:
                out[record["id"]] = [annotation_dict(record["id"], s) for s in reversed(states)]
    return out


def list_annotations(version: DatasetVersion, worker: object = None, status: object = None,
                     limit: int | None = None, offset: int | None = None,
                     order_by: Sequence[str] | None = None) -> MultiAnnotation:
    """See ``DatasetVersion.list_annotations``."""
    from vstore.errors import NoDataError
    from vstore.picsellia.listing import Selection, _check_paging

    _check_paging(Selection(limit=limit, offset=offset))
    found: list[tuple[str, AnnotationState]] = []
    with frames.paused_gc():
        for record in _records(version, None):
            found.extend((record["id"], s)
                         for s in _matching(read_annotations(record), worker, status))
    for spec in reversed(list(order_by or [])):
        name = spec.lstrip("-")
        if name not in _ORDER:
            raise InvalidArgumentError(f"cannot order annotations by {spec!r}; use one of "
                                       f"{sorted(_ORDER)}")
        attr = _ORDER[name]
        found.sort(key=lambda p: (p[0] if attr == "asset_id" else getattr(p[1], attr)) or "",
                   reverse=spec.startswith("-"))
    start = offset or 0
    found = found[start:None if limit is None else start + limit]
    if not found:
        raise NoDataError("No annotation retrieved")
    return MultiAnnotation([Annotation(version, aid, s) for aid, s in found])


def delete_annotations(version: DatasetVersion, asset_ids: Sequence[str] | None,
                       workers: Sequence[object] | None) -> None:
    """Delete annotations of some assets (all with annotations when None), of some workers."""
    names = None if workers is None else {worker_name(w) for w in workers}
    if asset_ids is None:
        asset_ids = [e.id for e in asset_index(version).entries if e.annotations]

    def edit(record: dict[str, Any]) -> dict[str, Any]:
        if names is None:
            return without_annotations(record)
        return without_annotations(
            record, [s.id for s in read_annotations(record) if s.worker in names])

    frames.edit_records(version, asset_ids, edit)


def delete_all_annotations(version: DatasetVersion, workers: Sequence[object] | None) -> None:
    """See ``DatasetVersion.delete_all_annotations``."""
    if frames.read_doc(version).get("campaign"):
        raise UsageError("this dataset version has an annotation campaign: its annotations "
                         "cannot all be deleted")
    delete_annotations(version, None, workers)


def retrieve_stats(version: DatasetVersion) -> DatasetVersionStats:
    """See ``DatasetVersion.retrieve_stats``."""
    from vstore.picsellia.version_meta import known_labels

    counts = dict.fromkeys(known_labels(version), 0)
    nb_annotations = 0
    for entry in asset_index(version).entries:
        nb_annotations += len(entry.annotations)
        for ann in entry.annotations:
            for _kind, label, _text in ann.shapes:
                if label is not None:
                    counts[label] = counts.get(label, 0) + 1
    return DatasetVersionStats(counts, sum(counts.values()), nb_annotations)


def convert_tags_to_classification(version: DatasetVersion, tag_type: TagTarget | str,
                                   tags: Sequence[Tag]) -> Job:
    """See ``DatasetVersion.convert_tags_to_classification``."""
    from vstore.picsellia.version_assets import data_lookup
    from vstore.picsellia.version_meta import ensure_labels, version_type

    if version_type(version) != InferenceType.CLASSIFICATION:
        raise UsageError("convert_tags_to_classification needs a CLASSIFICATION dataset "
                         "version: set_type('CLASSIFICATION') first")
    kind = TagTarget.validate(tag_type)
    if kind not in (TagTarget.ASSET, TagTarget.DATA):
        raise UsageError(f"tag_type must be ASSET or DATA, not {kind.value}")
    if isinstance(tags, Tag) or not isinstance(tags, (list, tuple)) or not tags:
        raise WrongTypeError("tags must be a non-empty list of Tag")
    for tag in tags:
        if not isinstance(tag, Tag) or tag.target_type != kind:
            raise WrongTypeError(f"every tag must be a {kind.value} Tag, got {tag!r}")
    names = list(dict.fromkeys(t.name for t in tags))
    ensure_labels(version, names)
    campaign = frames.read_doc(version).get("campaign") or {}
    lookup = data_lookup(version)
    todo: dict[str, list[str]] = {}
    for entry in asset_index(version).entries:
        if entry.task is not None and entry.task.get("campaign") == campaign.get("id"):
            continue  # assets in the campaign are annotated there
        data = lookup(entry.data_id) if kind == TagTarget.DATA and entry.data_id else None
        have = entry.tags if kind == TagTarget.ASSET else (data.tags if data else ())
        matched = [n for n in names if n in have]
        if matched:
            todo[entry.id] = matched
    worker = worker_name(None)

    def edit(record: dict[str, Any]) -> dict[str, Any]:
        entry = new_entry(worker, AnnotationStatus.PENDING)
        shapes = [ShapeState("classification", uuid.uuid4().hex, entry["id"], n, None)
                  for n in todo[record["id"]]]
        return with_shapes(with_entry(record, entry), entry["id"], shapes, replace=False)

    frames.edit_records(version, list(todo), edit)
    return Job("convert_tags_to_classification", result={"annotated": len(todo)})
