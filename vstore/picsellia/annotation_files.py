"""Annotation files of a dataset version: COCO, YOLO and Pascal VOC exports and imports.

Exports read the version with :func:`~vstore.picsellia.interchange.to_annotation_set` and
write with ``vstore.formats``; imports read with ``vstore.formats`` and apply with
:func:`~vstore.picsellia.interchange.apply_annotation_set`. A file is read whole, and every
image matched to an asset, before anything is written, so a malformed file (a
:class:`~vstore.errors.FormatError` naming file and line) or a missing asset leaves the
version as it was.

What an import learns about labels (COCO category ids, supercategories and skeletons, YOLO
class indexes) is recorded in the version document (``version_meta.label_formats``) and
written back by the exports: a file imported and exported again keeps its ids.
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from vstore.datasets.registry import PUBLISHED
from vstore.errors import (
    FormatError,
    InvalidArgumentError,
    InvalidQueryError,
    LocalFileNotFoundError,
    NotFoundError,
    ReadOnlyError,
    UsageError,
    WrongTypeError,
)
from vstore.formats import (
    AnnotationSet,
    Shape,
    coco_dict,
    read_coco,
    read_voc,
    read_yolo,
    write_voc_dir,
    write_yolo,
)
from vstore.formats.geometry import shape_bbox, union_bbox
from vstore.formats.paths import atomic_write
from vstore.gcpause import paused_gc
from vstore.picsellia import frames
from vstore.picsellia.coco_export import coco_of_version
from vstore.picsellia.enums import (
    AnnotationExportKey,
    AnnotationFileType,
    AnnotationStatus,
    ImportAnnotationMode,
    InferenceType,
)
from vstore.picsellia.index import asset_index
from vstore.picsellia.interchange import (
    apply_annotation_set,
    require_import_type,
    to_annotation_set,
)
from vstore.picsellia.transfer import check_target

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = [
    "EXPORT_NAMES",
    "Unsupported",
    "build_coco",
    "conform",
    "export_file",
    "export_key_of",
    "import_coco",
    "import_voc",
    "import_yolo",
]

Unsupported = Literal["error", "skip"]

EXPORT_NAMES = {
    AnnotationFileType.COCO: "{id}_coco.json",
    AnnotationFileType.YOLO: "{id}_yolo.zip",
    AnnotationFileType.PASCAL_VOC: "{id}_pascal_voc.zip",
}
"""The file an export writes under its target folder, by type (``id``: the version id)."""

_COCO_FIELDS = ("supercategory", "keypoints", "skeleton")


def export_key_of(use_id: bool | None, export_key: AnnotationExportKey | str | None
                  ) -> AnnotationExportKey:
    """The export key of a call: ``export_key``, or ASSET_ID for the older ``use_id=True``.

    Raises:
        UsageError: ``use_id`` and ``export_key`` disagree.
        WrongTypeError: ``export_key`` names no AnnotationExportKey.
    """
    key = AnnotationExportKey.validate(export_key or AnnotationExportKey.FILENAME)
    if use_id is None:
        return key
    if export_key is not None and use_id != (key == AnnotationExportKey.ASSET_ID):
        raise UsageError(f"use_id={use_id} contradicts export_key={key.value}; give only "
                         "export_key")
    return AnnotationExportKey.ASSET_ID if use_id else key


# -- export ---------------------------------------------------------------------------------


def _check_base(category_id_base: int) -> int:
    if isinstance(category_id_base, bool) or not isinstance(category_id_base, int) or (
            category_id_base < 0):
        raise InvalidArgumentError(f"category_id_base must be an int >= 0 (1, or 0 for the "
                                   f"original numbering), got {category_id_base!r}")
    return category_id_base


def _with_formats(version: DatasetVersion, aset: AnnotationSet) -> AnnotationSet:
    """``aset`` with the ids and label fields imports recorded."""
    from vstore.picsellia.version_meta import label_formats

    for name, fields in label_formats(version).items():
        coco_id, yolo_index = fields.get("coco_id"), fields.get("yolo_index")
        if type(coco_id) is int:
            aset.category_ids[name] = coco_id
        if type(yolo_index) is int:
            aset.class_ids[name] = yolo_index
        info = {k: fields[k] for k in _COCO_FIELDS if k in fields}
        if info:
            aset.label_info[name] = info
    return aset


def _enforce(aset: AnnotationSet, names: Sequence[str], base: int) -> None:
    """Give ``names`` the first category ids, in that order; the other labels follow."""
    unknown = [n for n in names if n not in aset.labels]
    if unknown:
        raise NotFoundError(f"enforced_ordered_categories names {unknown[:10]}, which are not "
                            "labels of this dataset version")
    first = list(dict.fromkeys(names))
    aset.labels = first + [n for n in aset.labels if n not in set(first)]
    aset.category_ids.update({n: base + i for i, n in enumerate(first)})


@paused_gc()
def build_coco(version: DatasetVersion, worker: object, status: AnnotationStatus | str | None,
               enforced_ordered_categories: Sequence[str] | None, assets: Any,
               key: AnnotationExportKey, category_id_base: int, unsupported: Unsupported,
               source: str | None = None) -> dict[str, Any]:
    """See ``DatasetVersion.build_coco_file_locally`` (``source``: the file it goes to)."""
    from vstore.picsellia.version_meta import known_labels

    base = _check_base(category_id_base)
    whole = assets is None and worker is None and status is None
    # A whole version goes straight from the records (the labels alone first); the general
    # path makes the AnnotationSet of every image.
    aset = _with_formats(version, AnnotationSet(labels=known_labels(version)) if whole
                         else to_annotation_set(version, assets, worker, status, key))
    if enforced_ordered_categories is not None:
        _enforce(aset, list(enforced_ordered_categories), base)
    aset.info = {"description": f"{version.dataset_name} / {version.version_name}",
                 "version": version.version_name}
    data = coco_of_version(version, aset, key, base, unsupported, source) if whole else None
    if data is None:
        if whole:  # the fast pass gave up: the general path, whose errors are the reference
            aset.images = to_annotation_set(version, None, None, None, key).images
        data = coco_dict(aset, category_id_base=base, unsupported=unsupported, source=source)
    data["categories"].sort(key=lambda c: c["id"])  # kept ids may not follow label order
    return data


def _zip(root: Path, paths: Sequence[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path in paths:
            z.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


@paused_gc()
def export_file(version: DatasetVersion, file_type: AnnotationFileType | str,
                target_path: str | os.PathLike[str], assets: Any, worker: object,
                status: AnnotationStatus | str | None, force_replace: bool, export_video: bool,
                key: AnnotationExportKey, category_id_base: int, unsupported: Unsupported
                ) -> str:
    """See ``DatasetVersion.export_annotation_file``."""
    kind = AnnotationFileType.validate(file_type)
    if export_video:
        raise UsageError("video exports are not supported: assets are images")
    path = os.path.join(check_target(target_path),
                        EXPORT_NAMES[kind].format(id=version.version_id))
    target = Path(path)
    if target.exists() and not force_replace:
        return path
    if kind == AnnotationFileType.COCO:
        data = build_coco(version, worker, status, None, assets, key, category_id_base,
                          unsupported, os.fspath(target))
        try:  # msgspec: 5-10x faster than json; coco_dict checked that numbers are finite
            blob = msgspec.json.encode(data)
        except (TypeError, ValueError, msgspec.EncodeError) as e:
            raise FormatError(f"cannot encode as JSON: {e}", os.fspath(target)) from None
    else:
        # YOLO lists every asset (an empty label file for one without objects).
        aset = to_annotation_set(version, assets, worker, status, key,
                                 include_unannotated=kind == AnnotationFileType.YOLO)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Next to the file, so that an error names the folder the user asked for.
        with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
            if kind == AnnotationFileType.YOLO:
                written = write_yolo(_with_formats(version, aset), tmp, unsupported=unsupported)
            else:
                written = write_voc_dir(aset, tmp, unsupported=unsupported)
            blob = _zip(Path(tmp), written)
    atomic_write(target, blob)
    return path


# -- import ---------------------------------------------------------------------------------


def _prepare(version: DatasetVersion, mode: ImportAnnotationMode | str,
             status: AnnotationStatus | str | None) -> InferenceType:
    """Check the arguments and that the version takes imports; return its type."""
    ImportAnnotationMode.validate(mode)
    if status is not None:
        AnnotationStatus.validate(status)
    state = frames.state_of(version)
    if state.status == PUBLISHED:
        raise ReadOnlyError(f"version {state.name!r} is published and cannot change; import "
                            "into a draft (a fork or a new version)")
    return require_import_type(version)


def _file(path: object, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise WrongTypeError(f"{what} must be a path, not {type(path).__name__}")
    src = os.fspath(path)
    if not isinstance(src, str) or not os.path.isfile(src):
        raise LocalFileNotFoundError(str(src), what)
    return src


def conform(aset: AnnotationSet, kind: InferenceType) -> AnnotationSet:
    """Shapes fit for the version's type, as the original imports them.

    OBJECT_DETECTION keeps boxes: any other geometry becomes the box around it (the parts
    of one COCO annotation, one box). CLASSIFICATION keeps one classification per object.
    Other types keep the shapes as read.
    """
    if kind not in (InferenceType.OBJECT_DETECTION, InferenceType.CLASSIFICATION):
        return aset
    images = [replace(im, shapes=_conformed(im.shapes, kind)) for im in aset.images]
    return replace(aset, images=images)


def _conformed(shapes: list[Shape], kind: InferenceType) -> list[Shape]:
    out: list[Shape] = []
    placed: dict[tuple[int | str, str], int] = {}
    for s in shapes:
        if kind == InferenceType.OBJECT_DETECTION and s.kind in ("rectangle", "classification"):
            out.append(s)
            continue
        box = None if kind == InferenceType.CLASSIFICATION else shape_bbox(s)
        if kind == InferenceType.OBJECT_DETECTION and box is None:
            continue  # keypoints that are all invisible: nothing to box
        group = None if s.id is None else (s.id, s.label)
        if group is not None and group in placed:
            i = placed[group]
            if box is not None:
                out[i] = replace(out[i], coords=union_bbox([shape_bbox(out[i]), box]))
            continue
        if group is not None:
            placed[group] = len(out)
        out.append(Shape("classification" if box is None else "rectangle", s.label, box,
                         s.score, s.text, dict(s.attributes), s.id))
    return out


def _apply(version: DatasetVersion, aset: AnnotationSet, kind: InferenceType, worker: object,
           mode: ImportAnnotationMode | str, force_create_label: bool,
           fail_on_asset_not_found: bool, status: AnnotationStatus | str | None,
           key: AnnotationExportKey, label_fields: dict[str, dict[str, Any]]
           ) -> dict[str, int]:
    return apply_annotation_set(
        version, conform(aset, kind), mode=mode, worker=worker, status=status,
        force_create_label=force_create_label, fail_on_asset_not_found=fail_on_asset_not_found,
        export_key=key, label_fields=label_fields)


@paused_gc()
def import_coco(version: DatasetVersion, file_path: str | os.PathLike[str], worker: object,
                mode: ImportAnnotationMode | str, force_create_label: bool,
                fail_on_asset_not_found: bool, status: AnnotationStatus | str | None,
                key: AnnotationExportKey) -> dict[str, int]:
    """See ``DatasetVersion.import_annotations_coco_file``."""
    kind = _prepare(version, mode, status)
    aset = read_coco(_file(file_path, "COCO file"))
    fields = {n: {"coco_id": i, **{k: v for k, v in aset.label_info.get(n, {}).items()
                                   if k in _COCO_FIELDS}}
              for n, i in aset.category_ids.items()}
    return _apply(version, aset, kind, worker, mode, force_create_label,
                  fail_on_asset_not_found, status, key, fields)


@paused_gc()
def import_yolo(version: DatasetVersion, configuration_yaml_path: str | os.PathLike[str],
                file_paths: Sequence[str | os.PathLike[str]], worker: object,
                mode: ImportAnnotationMode | str, force_create_label: bool,
                fail_on_asset_not_found: bool, status: AnnotationStatus | str | None
                ) -> dict[str, int]:
    """See ``DatasetVersion.import_annotations_yolo_files``."""
    kind = _prepare(version, mode, status)
    if isinstance(file_paths, (str, os.PathLike)):
        raise WrongTypeError("file_paths must be a list of paths, not one path")
    paths = [_file(p, "YOLO label file") for p in file_paths]
    config = _file(configuration_yaml_path, "YOLO configuration file")
    if not paths:
        return {}
    aset = read_yolo(config, label_files=paths, normalized=True)
    _match_stems(version, aset, paths, fail_on_asset_not_found)
    fields = {n: {"yolo_index": i} for n, i in aset.class_ids.items()}
    return _apply(version, aset, kind, worker, mode, force_create_label, False, status,
                  AnnotationExportKey.FILENAME, fields)


def _match_stems(version: DatasetVersion, aset: AnnotationSet, paths: list[str],
                 fail_on_asset_not_found: bool) -> None:
    """Name each image by the asset whose file name has the label file's stem.

    Empty files are skipped; images matching no asset are dropped (or refused, with
    ``fail_on_asset_not_found``).
    """
    stems: dict[str, list[str]] = {}
    for entry in asset_index(version).entries:
        stems.setdefault(posixpath.splitext(entry.filename)[0], []).append(entry.filename)
    kept, missing = [], []
    for path, image in zip(paths, aset.images, strict=True):
        if not image.shapes:
            continue  # an empty file: skipped, as the original does
        found = stems.get(Path(path).stem, [])
        if len(found) > 1:
            raise InvalidQueryError(f"{len(found)} assets match the label file {path} "
                                    f"({found[:3]}); their names differ only by extension")
        if found:
            kept.append(replace(image, filename=found[0]))
        else:
            missing.append(path)
    if missing and fail_on_asset_not_found:
        raise NotFoundError(f"no asset matches the label files {missing[:10]} ({len(missing)} "
                            "in all; matched by file name without extension); nothing was "
                            "imported")
    aset.images = kept


@paused_gc()
def import_voc(version: DatasetVersion, file_path: str | os.PathLike[str], worker: object,
               mode: ImportAnnotationMode | str, force_create_label: bool,
               status: AnnotationStatus | str | None) -> dict[str, int]:
    """See ``DatasetVersion.import_annotation_voc_file``."""
    kind = _prepare(version, mode, status)
    image = read_voc(_file(file_path, "Pascal VOC file"))
    aset = AnnotationSet(images=[image], source_format="voc")
    aset.labels = aset.all_labels()
    return _apply(version, aset, kind, worker, mode, force_create_label, True, status,
                  AnnotationExportKey.FILENAME, {})
