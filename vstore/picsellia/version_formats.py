"""The annotation file methods of ``vstore.DatasetVersion``: COCO, YOLO and Pascal VOC.

A mixin of :class:`~vstore.picsellia.version.PicselliaVersion`. The methods are thin entry
points; the work is done in :mod:`vstore.picsellia.annotation_files`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from vstore.picsellia.enums import (
    AnnotationExportKey,
    AnnotationFileType,
    AnnotationStatus,
    ImportAnnotationMode,
)

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.annotation_files import Unsupported

__all__ = ["FormatsVersion"]


class FormatsVersion:
    """Exports to and imports from annotation files (mixed into ``vstore.DatasetVersion``)."""

    def _fv(self) -> DatasetVersion:
        return cast("DatasetVersion", self)

    def export_annotation_file(
        self,
        annotation_file_type: AnnotationFileType | str,
        target_path: str | os.PathLike[str] = "./",
        assets: Any = None,
        worker: Any = None,
        status: AnnotationStatus | str | None = None,
        force_replace: bool = True,
        export_video: bool = False,
        use_id: bool | None = None,
        export_key: AnnotationExportKey | str | None = None,
        *,
        category_id_base: int = 1,
        unsupported: Unsupported = "skip",
    ) -> str:
        """Write the annotations to one file in ``target_path`` (created if needed).

        Each asset contributes its newest annotation (of ``worker`` and with ``status``,
        when given). The file is ``<version id>_coco.json`` (COCO), ``<version id>_yolo.zip``
        (``data.yaml`` and one ``<image stem>.txt`` per asset, empty for an asset without
        objects) or ``<version id>_pascal_voc.zip`` (one ``<image stem>.xml`` per annotated
        asset). It is written to a temporary name and renamed, so it is never half-written.

        Args:
            annotation_file_type: COCO, YOLO or PASCAL_VOC (a member or its name, any case).
            target_path: the folder of the file.
            assets: only these assets (an Asset list or a MultiAsset of this version).
            worker: only annotations of this worker.
            status: only annotations with this status.
            force_replace: replace an existing file; with False an existing file is kept
                and its path returned.
            export_video: must be False (assets are images).
            use_id: older form of ``export_key=ASSET_ID``.
            export_key: what names each image: FILENAME (default), OBJECT_NAME, ASSET_ID or
                DATA_ID (``<id><ext>``).
            category_id_base: COCO ids of categories without a recorded one start here: 1,
                or 0 for the original's numbering. Ids recorded by a COCO import are kept.
            unsupported: shapes the format has no form for (lines and points in COCO, all
                but boxes and polygons in YOLO, keypoints, masks, lines and points in VOC)
                are left out (``"skip"``) or refused (``"error"``).

        Returns:
            The path of the file written.

        Raises:
            WrongTypeError: an unknown file type, status or export key.
            UsageError: ``export_video``, or ``use_id`` contradicting ``export_key``.
            FormatError: an image without width and height (COCO needs them; YOLO and VOC
                for images with objects), or two images that would share a label file;
                nothing is written.
            UnsafePathError: an image name (an object name, say) would leave the folder.
        """
        from vstore.picsellia.annotation_files import export_file, export_key_of

        key = export_key_of(use_id, export_key)
        return export_file(self._fv(), annotation_file_type, target_path, assets, worker,
                           status, force_replace, export_video, key, category_id_base,
                           unsupported)

    def build_coco_file_locally(
        self,
        worker: Any = None,
        status: AnnotationStatus | str | None = None,
        enforced_ordered_categories: Sequence[str] | None = None,
        assets: Any = None,
        use_id: bool | None = None,
        export_key: AnnotationExportKey | str | None = None,
        chunk_size: int | None = None,
        *,
        category_id_base: int = 1,
        unsupported: Unsupported = "skip",
    ) -> dict[str, Any]:
        """The COCO file of the version's annotations, as a JSON-ready dict.

        ``info``, ``licenses``, ``images`` (the annotated assets, with ``width`` and
        ``height`` from the asset), ``annotations`` (the newest annotation of each asset;
        ``iscrowd`` always written; ``bbox`` and ``area`` computed from the geometry) and
        ``categories`` (every label, sorted by id). Category ids recorded by a COCO import
        are kept, and so are annotation ids; the others are numbered from
        ``category_id_base`` (categories) and 1 (images, annotations).

        Args:
            worker: only annotations of this worker.
            status: only annotations with this status.
            enforced_ordered_categories: label names that get the first category ids, in
                this order (the other labels follow).
            assets: only these assets.
            use_id: older form of ``export_key=ASSET_ID``.
            export_key: what names each image (see ``export_annotation_file``).
            chunk_size: accepted for compatibility; reads are local.
            category_id_base: 1 (default), or 0 for the original's 0-based numbering.
            unsupported: lines and points are left out (``"skip"``) or refused.

        Returns:
            The COCO dict (``json.dump`` it, or give it to pycocotools).

        Raises:
            NotFoundError: an enforced category is not a label.
            FormatError: an annotated asset has no width and height.
        """
        from vstore.picsellia.annotation_files import build_coco, export_key_of

        key = export_key_of(use_id, export_key)
        return build_coco(self._fv(), worker, status, enforced_ordered_categories, assets, key,
                          category_id_base, unsupported)

    def import_annotations_coco_file(
        self,
        file_path: str | os.PathLike[str],
        worker: Any = None,
        mode: ImportAnnotationMode | str = ImportAnnotationMode.REPLACE,
        force_create_label: bool = True,
        fail_on_asset_not_found: bool = True,
        status: AnnotationStatus | str | None = None,
        use_id: bool | None = None,
        export_key: AnnotationExportKey | str | None = None,
    ) -> dict[str, int]:
        """Import a COCO file: each image's annotations become a new annotation of its asset.

        Images are matched to assets by ``export_key`` (by default the file name, then its
        last segment). Categories are labels by name; their ids, supercategories and
        skeletons are recorded so that exports write them back. The version's type decides
        what is kept: OBJECT_DETECTION imports boxes (a segmentation as the box around
        it), CLASSIFICATION one classification per object, other types the shapes as read.

        Args:
            file_path: the COCO JSON file.
            worker: the worker of the new annotations (default: the current user).
            mode: REPLACE (the worker's annotations of the asset are replaced), KEEP (an
                asset with an annotation is left alone) or CONCATENATE (shapes added to
                the worker's newest annotation).
            force_create_label: create missing labels (every category); with False a
                missing label used by an annotation is an error.
            fail_on_asset_not_found: an image without an asset is an error (otherwise it
                is skipped).
            status: the status of the new annotations (default PENDING).
            use_id: older form of ``export_key=ASSET_ID``.
            export_key: how images name assets: FILENAME, OBJECT_NAME, ASSET_ID or DATA_ID.

        Returns:
            ``{annotation id: number of shapes written}``.

        Raises:
            LocalFileNotFoundError: no such file.
            FormatError: the file is malformed (the error names the file and line).
            NotFoundError: an image matches no asset, or a label is missing.
            InvalidQueryError: an image matches several assets.
            WrongTypeError: the version's type is not set up, or an unknown enum value.
            ReadOnlyError: the version is published.

        Nothing is written when an error is raised.
        """
        from vstore.picsellia.annotation_files import export_key_of, import_coco

        key = export_key_of(use_id, export_key)
        return import_coco(self._fv(), file_path, worker, mode, force_create_label,
                           fail_on_asset_not_found, status, key)

    def import_annotations_yolo_files(
        self,
        configuration_yaml_path: str | os.PathLike[str],
        file_paths: Sequence[str | os.PathLike[str]],
        worker: Any = None,
        mode: ImportAnnotationMode | str = ImportAnnotationMode.REPLACE,
        force_create_label: bool = True,
        fail_on_asset_not_found: bool = True,
        status: AnnotationStatus | str | None = None,
    ) -> dict[str, int]:
        """Import YOLO label files, with the class names of a ``data.yaml``.

        Each label file goes to the asset whose file name is the label file's stem plus an
        extension (``img0.txt`` → ``img0.png``); its rows (``cls cx cy w h`` boxes or
        ``cls x1 y1 ...`` polygons, fractions of the image) are converted to pixels with
        the asset's width and height. ``names`` may be a list or an ``{index: name}``
        mapping; the class indexes are recorded so that exports write them back.

        Args:
            configuration_yaml_path: the ``data.yaml``.
            file_paths: the label files (an empty list imports nothing).
            worker, mode, force_create_label, status: as ``import_annotations_coco_file``.
            fail_on_asset_not_found: a label file without an asset is an error (otherwise
                it is skipped).

        Returns:
            ``{annotation id: number of shapes written}``.

        Raises:
            LocalFileNotFoundError: the yaml or a label file does not exist.
            FormatError: a malformed yaml or row (naming file and line).
            NotFoundError, InvalidQueryError, WrongTypeError, ReadOnlyError: as
                ``import_annotations_coco_file``.
            InvalidArgumentError: a matched asset has no width and height.

        Nothing is written when an error is raised.
        """
        from vstore.picsellia.annotation_files import import_yolo

        return import_yolo(self._fv(), configuration_yaml_path, file_paths, worker, mode,
                           force_create_label, fail_on_asset_not_found, status)

    def import_annotation_voc_file(
        self,
        file_path: str | os.PathLike[str],
        worker: Any = None,
        mode: ImportAnnotationMode | str = ImportAnnotationMode.REPLACE,
        force_create_label: bool = True,
        status: AnnotationStatus | str | None = None,
    ) -> dict[str, int]:
        """Import one Pascal VOC file into the asset its ``<filename>`` names.

        The file is parsed safely (no entity expansion); missing ``difficult``,
        ``truncated`` and ``size`` are tolerated, and the flags are kept as shape
        attributes.

        Args:
            file_path: the XML file.
            worker, mode, force_create_label, status: as ``import_annotations_coco_file``.

        Returns:
            ``{annotation id: number of shapes written}``.

        Raises:
            LocalFileNotFoundError: no such file.
            FormatError: the XML does not parse or is not VOC (naming file and line).
            NotFoundError: no asset has that file name, or a label is missing.
            InvalidQueryError, WrongTypeError, ReadOnlyError: as
                ``import_annotations_coco_file``.

        Nothing is written when an error is raised.
        """
        from vstore.picsellia.annotation_files import import_voc

        return import_voc(self._fv(), file_path, worker, mode, force_create_label, status)
