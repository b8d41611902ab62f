"""The seam between dataset versions and the annotation formats (``vstore.formats``).

:func:`to_annotation_set` turns a version's assets and annotations into the neutral
:class:`~vstore.formats.model.AnnotationSet` that the COCO, YOLO and Pascal VOC writers
take; :func:`apply_annotation_set` applies one that a reader produced, with the import
modes of the original:

* ``REPLACE`` (default): the worker's annotations of the asset are replaced by a new one;
* ``KEEP`` (alias ``SKIP``): assets that already have an annotation are left alone;
* ``CONCATENATE``: the shapes are added to the worker's newest annotation (a new one if
  the worker has none).

Images are matched to assets by ``export_key``: the file name (then its last segment), the
object name, or the asset or data id before the first ``.``. Everything is checked before
anything is written, and all assets are written in one atomic update.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vstore.engine.codec import encode
from vstore.errors import InvalidArgumentError, InvalidQueryError, NotFoundError, WrongTypeError
from vstore.formats.model import AnnotationSet, ImageAnnotations, Rle, Shape
from vstore.model.validation import check_meta
from vstore.picsellia import frames
from vstore.picsellia.annotation import worker_name
from vstore.picsellia.annrecord import (
    AnnotationState,
    entry_state,
    group_shapes,
    new_entry,
    read_annotations,
    with_entry,
    with_shapes,
    without_annotations,
)
from vstore.picsellia.enums import (
    AnnotationExportKey,
    AnnotationStatus,
    ImportAnnotationMode,
    InferenceType,
)
from vstore.picsellia.index import Entry, asset_index
from vstore.picsellia.shapes import ShapeState, check_geometry, shape_from_roi

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = ["IMPORT_TYPES", "apply_annotation_set", "asset_image", "image_name",
           "require_import_type", "to_annotation_set"]

IMPORT_TYPES = (InferenceType.OBJECT_DETECTION, InferenceType.SEGMENTATION,
                InferenceType.CLASSIFICATION, InferenceType.KEYPOINT, InferenceType.MASK)


def require_import_type(version: DatasetVersion) -> InferenceType:
    """The version's type, checked to be one that imports accept.

    Raises:
        WrongTypeError: the type is not set up (as the original, a ``TypeError``).
    """
    from vstore.picsellia.version_meta import version_type

    kind = version_type(version)
    if kind not in IMPORT_TYPES:
        raise WrongTypeError(
            f"You need to set up type of this dataset before importing annotations "
            f"(it is {kind.value}; use set_type with one of {[t.value for t in IMPORT_TYPES]})"
        )
    return kind


def image_name(entry: Entry, export_key: AnnotationExportKey) -> str:
    """The name of an asset's image in an annotation file, by export key."""
    if export_key == AnnotationExportKey.FILENAME:
        return entry.filename
    if export_key == AnnotationExportKey.OBJECT_NAME:
        return entry.object_name
    ext = posixpath.splitext(entry.filename)[1]
    if export_key == AnnotationExportKey.ASSET_ID:
        return entry.id + ext
    return (entry.data_id or entry.id) + ext


# -- export ---------------------------------------------------------------------------------


def _neutral(shape: ShapeState, width: int | None, height: int | None) -> Shape | None:
    g = shape.geometry
    coords: Any
    if shape.label is None:
        return None
    if shape.kind == "rectangle":
        coords = tuple(g)
    elif shape.kind in ("polygon", "line"):
        coords = [(p[0], p[1]) for p in g]
    elif shape.kind == "point":
        coords = (g[0], g[1])
    elif shape.kind == "keypoints":
        coords = [(p[0], p[1], int(p[2])) for p in g]
    elif shape.kind == "mask":
        coords = Rle((height or 0, width or 0), g["rle"])
    else:
        coords = None
    return Shape(shape.kind, shape.label, coords, None, shape.text,
                 dict(shape.attributes or {}), shape.object_id)


def to_annotation_set(version: DatasetVersion, assets: Sequence[Any] | None = None,
                      worker: object = None, status: AnnotationStatus | str | None = None,
                      export_key: AnnotationExportKey | str = AnnotationExportKey.FILENAME,
                      include_unannotated: bool = False) -> AnnotationSet:
    """A version's assets and annotations in the neutral model of the formats.

    Each image holds the shapes of the asset's newest annotation (of ``worker`` and with
    ``status``, when given), as the original exports do.

    Args:
        version: the version.
        assets: only these assets (Asset objects), in the version's order.
        worker: only annotations of this worker.
        status: only annotations with this status.
        export_key: what names each image (see :func:`image_name`).
        include_unannotated: also list assets without a matching annotation (no shapes).

    Returns:
        Labels in ``list_labels`` order and one image per asset.
    """
    from vstore.picsellia.version_meta import known_labels

    key = AnnotationExportKey.validate(export_key)
    index = asset_index(version)
    wanted = None if assets is None else {getattr(a, "id", a) for a in assets}
    entries = [e for e in index.entries if wanted is None or e.id in wanted]
    if not include_unannotated:
        entries = [e for e in entries if e.annotations]
    images = []
    by_id = {e.id: e for e in entries}
    # A whole version is read in one sequential pass; a selection by id lookups.
    records = (version.get_iterator(projection=frames.FULL) if wanted is None
               else frames.iter_records(version, list(by_id)))
    with frames.paused_gc():
        for record in records:
            entry = by_id.get(record["id"])
            if entry is not None:
                images.append(_image(entry, record, key, worker, status, include_unannotated))
    return AnnotationSet(labels=known_labels(version),
                         images=[im for im in images if im is not None])


def asset_image(entry: Entry, record: dict[str, Any], export_key: AnnotationExportKey
                ) -> ImageAnnotations | None:
    """The image of one asset in an export of every annotated asset: the shapes of its newest
    annotation (None for an asset without annotation); as :func:`to_annotation_set` makes it.
    """
    return _image(entry, record, export_key, None, None, False)


def _raw(roi: dict[str, Any], kind: str, _i: int, aid: str) -> tuple[dict[str, Any], str, str]:
    return roi, kind, aid


def _image(entry: Entry, record: dict[str, Any], key: AnnotationExportKey, worker: object,
           status: object, include_unannotated: bool) -> ImageAnnotations | None:
    from vstore.picsellia.version_annotations import _matching

    # Only the newest annotation's shapes are decoded: this is the hot loop of an export.
    groups = group_shapes(record, _raw)
    if worker is not None or status is not None:
        groups = [g for g in groups if _matching([entry_state(g[0], g[1])], worker, status)]
    if not groups and not include_unannotated:
        return None
    newest = groups[-1] if groups else None
    shapes = [] if newest is None else [
        s for s in (_neutral(shape_from_roi(roi, kind, "", aid), entry.width, entry.height)
                    for roi, kind, aid in newest[2]) if s is not None]
    extra: dict[str, Any] = {"asset_id": entry.id}
    attributes = None if newest is None or newest[0] is None else newest[0].get("attributes")
    if attributes and isinstance(attributes, dict):
        extra["attributes"] = dict(attributes)
    return ImageAnnotations(image_name(entry, key), entry.width, entry.height, shapes, None,
                            extra)


# -- import ---------------------------------------------------------------------------------


def _match(index: Any, image: ImageAnnotations, key: AnnotationExportKey) -> list[Entry]:
    name = image.filename
    if key in (AnnotationExportKey.ASSET_ID, AnnotationExportKey.DATA_ID):
        ident = posixpath.basename(name).split(".", 1)[0]
        if key == AnnotationExportKey.ASSET_ID:
            hit = index.get(ident)
            return [] if hit is None else [hit]
        return list(index.lookup("data_id", ident))
    field = "object_name" if key == AnnotationExportKey.OBJECT_NAME else "filename"
    found = list(index.lookup(field, name))
    if not found and field == "filename":
        found = list(index.lookup(field, posixpath.basename(name.replace("\\", "/"))))
    return found


def _geometry(shape: Shape, entry: Entry, normalized: bool) -> Any:
    c: Any = shape.coords
    if shape.kind == "mask":
        if not isinstance(c, Rle) or not isinstance(c.counts, str):
            raise InvalidArgumentError("a mask imports as RLE with string counts")
        return check_geometry("mask", {"rle": c.counts, "area": shape.attributes.get("area"),
                                       "bbox": None})
    if normalized and shape.kind != "classification":
        if not entry.width or not entry.height:
            raise InvalidArgumentError(f"asset {entry.filename!r} has no size: normalized "
                                       "coordinates cannot be converted")
        c = _scaled(shape.kind, c, entry.width, entry.height)
    return check_geometry(shape.kind, None if shape.kind == "classification" else (
        list(c) if shape.kind in ("rectangle", "point") else [list(p) for p in c]))


def _scaled(kind: str, c: Any, w: int, h: int) -> Any:
    if kind == "rectangle":
        return (c[0] * w, c[1] * h, c[2] * w, c[3] * h)
    if kind == "point":
        return (c[0] * w, c[1] * h)
    return [(p[0] * w, p[1] * h, *p[2:]) for p in c]


def _plan(version: DatasetVersion, aset: AnnotationSet, key: AnnotationExportKey,
          fail_on_asset_not_found: bool) -> dict[str, tuple[Entry, ImageAnnotations]]:
    index = asset_index(version)
    plan: dict[str, tuple[Entry, ImageAnnotations]] = {}
    missing = []
    for image in aset.images:
        found = _match(index, image, key)
        if not found:
            missing.append(image.filename)
        elif len(found) > 1:
            raise InvalidQueryError(f"{len(found)} assets match {image.filename!r}; import "
                                    "with another export_key")
        else:
            plan[found[0].id] = (found[0], image)
    if missing and fail_on_asset_not_found:
        raise NotFoundError(f"Some filenames were not found in the dataset version: "
                            f"{missing[:10]} ({len(missing)} in all); nothing was imported")
    return plan


def apply_annotation_set(
    version: DatasetVersion,
    aset: AnnotationSet,
    *,
    mode: ImportAnnotationMode | str = ImportAnnotationMode.REPLACE,
    worker: object = None,
    status: AnnotationStatus | str | None = None,
    force_create_label: bool = True,
    fail_on_asset_not_found: bool = True,
    export_key: AnnotationExportKey | str = AnnotationExportKey.FILENAME,
    label_fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, int]:
    """Apply annotations read from a file to the version's assets.

    With ``force_create_label``, every label of the set (its categories or class names,
    used or not) is created when missing, in the set's order; otherwise every label a
    shape uses must exist. An image without shapes must match an asset like the others,
    but leaves it alone.

    Args:
        label_fields: per label, fields to record for the file formats (COCO category id,
            YOLO class index; see ``version_meta.label_formats``), for the labels that
            exist once the import is done.

    Returns:
        ``{annotation id: number of shapes written}`` for every annotation created or
        extended.

    Raises:
        NotFoundError: an image matches no asset (with ``fail_on_asset_not_found``), or a
            label does not exist (without ``force_create_label``). Nothing is written.
        InvalidQueryError: an image matches several assets.
        InvalidArgumentError: a shape or a label field does not hold.
    """
    from vstore.picsellia.version_meta import ensure_labels, known_labels

    how = ImportAnnotationMode.validate(mode)
    key = AnnotationExportKey.validate(export_key)
    state = AnnotationStatus.validate(status or AnnotationStatus.PENDING)
    who = worker_name(worker)
    # Every image must match, but one without shapes has nothing to import.
    plan = {aid: p for aid, p in _plan(version, aset, key, fail_on_asset_not_found).items()
            if p[1].shapes}
    known = set(known_labels(version))
    used = dict.fromkeys(s.label for _e, im in plan.values() for s in im.shapes)
    missing = [n for n in (aset.all_labels() if force_create_label else used)
               if n not in known]
    if missing and not force_create_label:
        raise NotFoundError(f"labels {missing[:10]} were not found during upload; create them "
                            "or import with force_create_label=True")
    fields = {n: dict(f) for n, f in (label_fields or {}).items()
              if n in known or n in missing}
    encode(fields)  # they are written after the shapes: one the version cannot hold fails now
    campaign = (frames.read_doc(version).get("campaign") or {}).get("id")
    geometries = {aid: [_geometry(s, e, aset.normalized) for s in im.shapes]
                  for aid, (e, im) in plan.items()}
    attributes = {aid: [check_meta(s.attributes, "shape attributes") or None for s in im.shapes]
                  for aid, (_e, im) in plan.items()}
    counts: dict[str, int] = {}

    def edit(record: dict[str, Any]) -> dict[str, Any] | None:
        entry, image = plan[record["id"]]
        if entry.task is not None and entry.task.get("campaign") == campaign:
            return None  # annotated in the campaign
        existing = read_annotations(record)
        if how == ImportAnnotationMode.KEEP and existing:
            return None
        target = _target(existing, who) if how == ImportAnnotationMode.CONCATENATE else None
        if how == ImportAnnotationMode.REPLACE:
            record = without_annotations(record, [a.id for a in existing if a.worker == who])
        if target is None:
            attrs = image.extra.get("attributes")
            fresh = new_entry(who, state, attributes=attrs if isinstance(attrs, dict) else None)
            record, aid = with_entry(record, fresh), fresh["id"]
        else:
            aid = target.id
        shapes = [ShapeState(s.kind, uuid.uuid4().hex, aid, s.label, g, s.text, a, s.id)
                  for s, g, a in zip(image.shapes, geometries[record["id"]],
                                     attributes[record["id"]], strict=True)]
        counts[aid] = counts.get(aid, 0) + len(shapes)
        return with_shapes(record, aid, shapes, replace=False)

    frames.edit_records(version, list(plan), edit)
    if missing or fields:  # after the shapes: a label their frames use is listed even before
        ensure_labels(version, missing, fields)
    return counts


def _target(existing: list[AnnotationState], worker: str | None) -> AnnotationState | None:
    mine = [a for a in existing if a.worker == worker]
    return mine[-1] if mine else None
