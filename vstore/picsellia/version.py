"""The Picsellia methods of ``vstore.DatasetVersion`` (a mixin of that class).

Each method is a thin, documented entry point; the work is done in the modules of this
package. No name here collides with a Hyper-Datasets method, so one version object serves
both surfaces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from vstore.picsellia.enums import AnnotationStatus, InferenceType, TagTarget
from vstore.picsellia.listing import Selection
from vstore.picsellia.version_formats import FormatsVersion

if TYPE_CHECKING:
    import datetime as _dt

    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.annotation import MultiAnnotation
    from vstore.picsellia.asset import Asset, MultiAsset
    from vstore.picsellia.campaign import AnnotationCampaign
    from vstore.picsellia.datalake import Data, MultiData
    from vstore.picsellia.job import Job
    from vstore.picsellia.labels import Label
    from vstore.picsellia.tags import Tag
    from vstore.picsellia.version_annotations import DatasetVersionStats

__all__ = ["PicselliaVersion"]

TagsArg = Any  # a Tag, a str, or a list of them


class PicselliaVersion(FormatsVersion):
    """The Picsellia surface of a dataset version (mixed into ``vstore.DatasetVersion``).

    The annotation file methods (COCO, YOLO, Pascal VOC) come from
    :class:`~vstore.picsellia.version_formats.FormatsVersion`.
    """

    tag_target = TagTarget.DATASET_VERSION

    def _v(self) -> DatasetVersion:
        return cast("DatasetVersion", self)

    # -- identity ---------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The version's id (the same as ``version_id``)."""
        return self._v().version_id

    @property
    def name(self) -> str:
        """The name of the dataset (the original's ``origin_name``)."""
        return self._v().dataset_name

    origin_name = name

    @property
    def origin_id(self) -> str:
        """The id of the dataset."""
        return self._v().dataset_id

    @property
    def version(self) -> str:
        """The version's name."""
        return self._v().version_name

    @property
    def description(self) -> str:
        """The version's description (the Hyper-Datasets ``comment``)."""
        return self._v().comment

    @property
    def type(self) -> InferenceType:
        """The version's inference type."""
        from vstore.picsellia.version_meta import version_type

        return version_type(self._v())

    # -- version fields -----------------------------------------------------------------------

    def set_type(self, type: InferenceType | str) -> None:
        """Set the inference type (a member or its name in any case, e.g. ``'object_detection'``).

        Raises:
            WrongTypeError: not an InferenceType.
            ReadOnlyError: the version is published.
        """
        from vstore.picsellia.enums import InferenceType as Kind
        from vstore.picsellia.version_meta import update_version_fields

        update_version_fields(self._v(), type=Kind.validate(type))

    def update(self, version: str | None = None, description: str | None = None,
               type: InferenceType | str | None = None) -> None:
        """Change the name, description and type; arguments left None are not changed.

        Raises:
            AlreadyExistsError: another version of the dataset has that name.
            WrongTypeError: ``type`` is not an InferenceType.
            ReadOnlyError: the version is published.
        """
        from vstore.picsellia.version_meta import update_version_fields

        update_version_fields(self._v(), version, description, type)

    def delete(self) -> None:
        """Delete the version with its assets, annotations and campaign.

        Raises:
            ReadOnlyError: the version is published (``remove_version(force=True)`` removes it).
        """
        from vstore.picsellia.version_meta import delete_version

        delete_version(self._v())

    # -- version tags -------------------------------------------------------------------------

    def add_tags(self, tags: TagsArg) -> None:
        """Put tags on the version: Tag objects of target DATASET_VERSION, or names.

        Raises:
            InvalidArgumentError: no tags, or a tag of another target.
        """
        from vstore.picsellia.version_meta import add_version_tags

        add_version_tags(self._v(), tags)

    def remove_tags(self, tags: TagsArg) -> None:
        """Take tags off the version."""
        from vstore.picsellia.version_meta import remove_version_tags

        remove_version_tags(self._v(), tags)

    def get_tags(self) -> list[Tag]:
        """The version's tags."""
        from vstore.picsellia.version_meta import version_tags

        return version_tags(self._v())

    # -- labels -------------------------------------------------------------------------------

    def list_labels(self) -> list[Label]:
        """The labels: those created here in creation order, then those only frames use."""
        from vstore.picsellia.version_meta import list_labels

        return list_labels(self._v())

    def create_label(self, name: str) -> Label:
        """Create a label.

        Raises:
            AlreadyExistsError: it exists.
        """
        from vstore.picsellia.version_meta import create_label

        return create_label(self._v(), name)

    def get_label(self, name: str) -> Label:
        """A label by name.

        Raises:
            NotFoundError: no such label.
        """
        from vstore.picsellia.version_meta import get_label

        return get_label(self._v(), name)

    def get_or_create_label(self, name: str) -> Label:
        """A label by name, created if needed."""
        from vstore.picsellia.labels import Label
        from vstore.picsellia.record import check_name
        from vstore.picsellia.version_meta import ensure_labels

        ensure_labels(self._v(), [check_name(name, "label name")])
        return Label(name)

    # -- asset tags ---------------------------------------------------------------------------

    def create_asset_tag(self, name: str) -> Tag:
        """Create an asset tag of this version.

        Raises:
            AlreadyExistsError: it exists.
        """
        from vstore.picsellia.version_meta import create_asset_tag

        return create_asset_tag(self._v(), name)

    def get_asset_tag(self, name: str) -> Tag:
        """An asset tag of this version.

        Raises:
            NotFoundError: no such asset tag.
        """
        from vstore.picsellia.version_meta import get_asset_tag

        return get_asset_tag(self._v(), name)

    def get_or_create_asset_tag(self, name: str) -> Tag:
        """An asset tag of this version, created if needed."""
        from vstore.picsellia.record import check_name
        from vstore.picsellia.version_meta import ensure_asset_tags

        return ensure_asset_tags(self._v(), [check_name(name, "tag name")])[0]

    def list_asset_tags(self) -> list[Tag]:
        """The asset tags of this version, in creation order."""
        from vstore.picsellia.version_meta import list_asset_tags

        return list_asset_tags(self._v())

    # -- assets -------------------------------------------------------------------------------

    def add_data(self, data: Data | Sequence[Data] | MultiData,
                 tags: Sequence[Tag | str] | None = None, wait: bool = True) -> Job:
        """Turn datalake data into assets of this version.

        Data already in the version are left as they are (an asset added from a data has
        that data's id). Every new asset gets the asset ``tags`` (created if needed).

        Args:
            data: a Data, a list of Data or a MultiData (duplicates are added once).
            tags: asset tags (Tag or str) for every created asset.
            wait: accepted for compatibility; the work is done on return.

        Returns:
            A finished Job; ``job.result`` counts the assets created.

        Raises:
            InvalidArgumentError: ``data`` is empty or from another store.
            ReadOnlyError: the version is published.
        """
        from vstore.picsellia.version_assets import add_data

        return add_data(self._v(), data, tags)

    def fork(self, version: str, description: str | None = None, assets: Any = None,
             type: InferenceType | str = InferenceType.NOT_CONFIGURED, with_tags: bool = False,
             with_labels: bool = False, with_annotations: bool = False, wait: bool = True
             ) -> tuple[DatasetVersion, Job]:
        """Fork this version into a new version of the same dataset, whose parent it is.

        With every asset and every ``with_*`` flag, the fork shares this version's tree: it
        costs the same at any size. Otherwise only the assets dropped or stripped are
        rewritten.

        Args:
            version: the new version's name.
            description: defaults to ``"Fork from <this version's name>"``.
            assets: only these assets (an Asset, a list or a MultiAsset of this version).
            type: the new version's inference type.
            with_tags: keep asset tags (and the asset tag definitions).
            with_labels: copy the labels.
            with_annotations: keep the annotations (and copy the labels).
            wait: accepted for compatibility.

        Returns:
            ``(new version, finished Job)``.

        Raises:
            InvalidArgumentError: an empty name, or assets of another version.
            AlreadyExistsError: the dataset has a version of that name.
        """
        from vstore.picsellia.version_assets import fork

        return fork(self._v(), version, description, assets, type, with_tags, with_labels,
                    with_annotations)

    def find_asset(self, data: Data | None = None, filename: str | None = None,
                   object_name: str | None = None, id: str | None = None) -> Asset:
        """The one asset matching every criterion given.

        Raises:
            UsageError: no criterion.
            NotFoundError: no asset matches.
            InvalidQueryError: several assets match (a duplicated filename, say).
        """
        from vstore.picsellia.version_assets import find_asset

        return find_asset(self._v(), data, filename, object_name, id)

    def find_all_assets(self, filenames: Sequence[str] | None = None,
                        object_names: Sequence[str] | None = None,
                        ids: Sequence[str] | None = None) -> MultiAsset:
        """The assets with these filenames, object names or ids (give one of them).

        Raises:
            NoDataError: none found.
        """
        from vstore.picsellia.version_assets import find_all_assets

        return find_all_assets(self._v(), filenames, object_names, ids)

    def list_assets(
        self,
        limit: int | None = None,
        offset: int | None = None,
        page_size: int | None = None,
        order_by: Sequence[str] | None = None,
        tags: TagsArg = None,
        data_tags: TagsArg = None,
        intersect_tags: bool = False,
        intersect_data_tags: bool = False,
        filenames: Sequence[str] | None = None,
        object_names: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        filenames_startswith: Sequence[str] | None = None,
        q: str | None = None,
        data_ids: Sequence[str] | None = None,
        assignment_status: str | None = None,
        assignment_step_id: str | None = None,
        assignment_user_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> MultiAsset:
        """List assets, filtered, ordered and paged.

        Args:
            limit: at most this many (> 0).
            offset: skip this many first (>= 0).
            page_size: accepted and ignored.
            order_by: field names, ``-`` first for descending: ``id``, ``filename``,
                ``object_name``, ``data_id``, ``content_type``, ``width``, ``height``,
                ``created_at``. Default: the version's order (by asset id).
            tags: assets with any of these asset tags (all of them with ``intersect_tags``).
            data_tags: assets whose data has any (or all) of these data tags.
            intersect_tags: see ``tags``.
            intersect_data_tags: see ``data_tags``.
            filenames, object_names, ids, filenames_startswith, data_ids: at most one of
                these lists; with one, ``limit`` and ``offset`` are ignored.
            q: a query (see docs/picsellia.md), AND-ed with every other filter.
            assignment_status, assignment_step_id, assignment_user_id: campaign task filters.
            custom_metadata: assets whose metadata holds every key with that value.

        Returns:
            A MultiAsset.

        Raises:
            NoDataError: no asset matches.
            UsageError: several list filters.
            InvalidArgumentError: a bad limit, offset, order field or empty list filter.
            InvalidQueryError: ``q`` does not parse (with the position).
        """
        from vstore.picsellia.campaign import campaign_filter
        from vstore.picsellia.version_assets import list_assets

        if page_size is not None:
            import logging

            logging.getLogger("vstore.picsellia").warning("page_size is deprecated and ignored")
        sel = Selection(
            limit=limit, offset=offset, order_by=order_by, tags=tags, data_tags=data_tags,
            intersect_tags=intersect_tags, intersect_data_tags=intersect_data_tags, q=q,
            custom_metadata=custom_metadata,
            lists={"ids": ids, "object_names": object_names, "filenames": filenames,
                   "filenames_startswith": filenames_startswith, "data_ids": data_ids},
            task=campaign_filter(self._v(), assignment_status, assignment_step_id,
                                 assignment_user_id),
        )
        return list_assets(self._v(), sel)

    def download(self, target_path: str | os.PathLike[str] | None = None,
                 force_replace: bool = False, max_workers: int | None = None,
                 use_id: bool = False) -> None:
        """Download every asset's file into ``target_path`` (default
        ``./<dataset name>/<version name>``), in parallel; existing files are kept unless
        ``force_replace``. Files are named by filename, or ``<asset id><ext>`` with ``use_id``.

        Raises:
            NoDataError: the version has no asset.
            InvalidArgumentError: a file name would leave the folder, or two assets would
                write the same file (nothing is written).
        """
        from vstore.picsellia.transfer import download_version

        download_version(self._v(), target_path, force_replace, max_workers, use_id)

    def synchronize(self, target_dir: str | os.PathLike[str], do_download: bool = False
                    ) -> MultiAsset | None:
        """Compare the assets' filenames with the files directly inside ``target_dir``.

        Returns:
            The assets missing locally (downloaded first with ``do_download``), or None when
            the folder is up-to-date. Local files the version lacks are only logged.

        Raises:
            InvalidArgumentError: ``target_dir`` is not an existing directory.
            NoDataError: the version has no asset.
        """
        from vstore.picsellia.transfer import synchronize

        return synchronize(self._v(), target_dir, do_download)

    # -- annotations --------------------------------------------------------------------------

    def list_annotations(self, worker: Any = None, status: AnnotationStatus | str | None = None,
                         limit: int | None = None, offset: int | None = None,
                         order_by: Sequence[str] | None = None, page_size: int | None = None
                         ) -> MultiAnnotation:
        """Every annotation of the version (of one worker or status, if given).

        ``order_by`` takes ``created_at``, ``status``, ``worker``, ``id``, ``asset_id``
        (``-`` for descending); the default is by asset, then creation.

        Raises:
            NoDataError: none found.
        """
        from vstore.picsellia.version_annotations import list_annotations

        return list_annotations(self._v(), worker, status, limit, offset, order_by)

    def load_annotations(self, worker: Any = None, status: AnnotationStatus | str | None = None,
                         assets: Any = None, chunk_size: int | None = None,
                         max_workers: int | None = None, skip_error: bool = False
                         ) -> dict[str, list[dict[str, Any]]]:
        """The annotations as dicts: ``{asset_id: [annotation, ...]}``, newest first.

        Each annotation holds ``id``, ``asset_id``, ``worker``, ``status``, ``duration``,
        ``created_at``, ``attributes`` and one list per shape kind (``rectangles``,
        ``polygons``, ``lines``, ``points``, ``keypoints``, ``classifications``,
        ``masks``); each shape holds ``id``, ``label`` (the name), ``text``, ``attributes``
        and its geometry.

        Raises:
            InvalidArgumentError: ``chunk_size`` outside 1..10000.
        """
        from vstore.picsellia.version_annotations import load_annotations

        return load_annotations(self._v(), worker, status, assets, chunk_size, max_workers,
                                skip_error)

    def delete_all_annotations(self, workers: Sequence[Any] | None = None) -> None:
        """Delete every annotation of the version (only those of ``workers``, if given).

        Raises:
            UsageError: the version has an annotation campaign.
        """
        from vstore.picsellia.version_annotations import delete_all_annotations

        delete_all_annotations(self._v(), workers)

    def retrieve_stats(self) -> DatasetVersionStats:
        """Shapes per label (``label_repartition``), ``nb_objects`` and ``nb_annotations``."""
        from vstore.picsellia.version_annotations import retrieve_stats

        return retrieve_stats(self._v())

    def convert_tags_to_classification(self, tag_type: TagTarget | str, tags: Sequence[Tag]
                                       ) -> Job:
        """Give every asset carrying one of ``tags`` a new annotation that classifies it
        with a label of each tag's name (labels are created).

        Args:
            tag_type: ASSET (asset tags) or DATA (tags of the asset's data).
            tags: Tag objects of that target.

        Raises:
            UsageError: the version is not CLASSIFICATION, or ``tag_type`` is another target.
            WrongTypeError: a tag of another target.
        """
        from vstore.picsellia.version_annotations import convert_tags_to_classification

        return convert_tags_to_classification(self._v(), tag_type, tags)

    # -- splits -------------------------------------------------------------------------------

    def train_test_split(self, prop: float = 0.8, random_seed: Any = None,
                         load_asset_page_size: int = 100) -> tuple[Any, ...]:
        """Split the annotated assets in two: ``(train, test, train_rep, test_rep, labels)``.

        Each repartition is ``{"x": [label names], "y": [shape counts]}``. The same seed
        gives the same split; the global random generator is not touched.

        Raises:
            InvalidArgumentError: ``prop`` outside [0, 1].
            NoDataError: no annotated asset, or an empty part.
        """
        from vstore.picsellia.splits import train_test_split

        return train_test_split(self._v(), prop, random_seed)

    def train_test_val_split(self, ratios: Sequence[float] | None = None,
                             random_seed: Any = None, load_asset_page_size: int = 100
                             ) -> tuple[Any, ...]:
        """Split the annotated assets in three (default ratios 0.64, 0.16, 0.20):
        ``(train, test, val, rep_train, rep_test, rep_val, labels)``.

        Raises:
            InvalidArgumentError: not exactly 3 ratios.
            NoDataError: no annotated asset, or an empty part.
        """
        from vstore.picsellia.splits import train_test_val_split

        return train_test_val_split(self._v(), ratios, random_seed)

    def split_into_multi_assets(self, ratios: Sequence[float], random_seed: Any = None,
                                load_asset_page_size: int = 100
                                ) -> tuple[list[MultiAsset], list[dict[str, int]], list[Label]]:
        """Split the annotated assets by ``ratios`` (normalised by their sum).

        Returns:
            ``(parts, label repartition of each part, labels)``.

        Raises:
            InvalidArgumentError: fewer than 2 ratios, or negative ones.
            NoDataError: no annotated asset, or an empty part.
        """
        from vstore.picsellia.splits import split_into_multi_assets

        return split_into_multi_assets(self._v(), ratios, random_seed)

    # -- campaign -----------------------------------------------------------------------------

    def create_campaign(self, name: str | None = None, description: str | None = None,
                        instructions_file_path: str | os.PathLike[str] | None = None,
                        instructions_text: str | None = None, end_date: _dt.date | None = None,
                        auto_add_new_assets: bool = False,
                        auto_close_on_completion: bool = False) -> AnnotationCampaign:
        """Create the version's annotation campaign, with one PENDING task per asset.

        Raises:
            AlreadyExistsError: the version has a campaign.
            LocalFileNotFoundError: the instructions file does not exist.
        """
        from vstore.picsellia.campaign import create_campaign

        return create_campaign(self._v(), name, description, instructions_file_path,
                               instructions_text, end_date, auto_add_new_assets,
                               auto_close_on_completion)

    def get_campaign(self) -> AnnotationCampaign:
        """The version's annotation campaign.

        Raises:
            NoDataError: the version has none.
        """
        from vstore.picsellia.campaign import get_campaign

        return get_campaign(self._v())
