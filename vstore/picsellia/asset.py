"""Asset: a frame of a dataset version seen through the Picsellia surface; and MultiAsset.

An asset's fields are read from its frame record when it is listed (see
``vstore.picsellia.record``); its methods act on the version's current record.
"""

from __future__ import annotations

import datetime as _dt
import os
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vstore.errors import InvalidArgumentError, NotFoundError
from vstore.model.validation import check_meta
from vstore.picsellia import frames
from vstore.picsellia.annotation import Annotation, worker_name
from vstore.picsellia.annrecord import (
    implicit_id,
    new_entry,
    read_annotations,
    with_entry,
)
from vstore.picsellia.enums import AnnotationStatus, DataType, TagTarget
from vstore.picsellia.index import Entry
from vstore.picsellia.multi import MultiObject
from vstore.picsellia.record import KEY_TAGS
from vstore.picsellia.tags import Tag, tag_names

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion
    from vstore.picsellia.datalake import Data, MultiData

__all__ = ["Asset", "MultiAsset", "edit_asset_tags"]


def edit_asset_tags(version: DatasetVersion, ids: Sequence[str], tags: Any, add: bool) -> None:
    """Add or remove asset tags on assets of one version (tags are registered when added)."""
    from vstore.picsellia.version_meta import ensure_asset_tags

    names = tag_names(tags, TagTarget.ASSET)
    if add:
        ensure_asset_tags(version, names)

    def edit(record: dict[str, Any]) -> dict[str, Any]:
        meta = dict(record.get("meta") or {})
        have = [t for t in meta.get(KEY_TAGS) or [] if isinstance(t, str)]
        now = have + [n for n in names if n not in have] if add else [
            t for t in have if t not in names]
        if now:
            meta[KEY_TAGS] = now
        else:
            meta.pop(KEY_TAGS, None)
        return {**record, "meta": meta}

    frames.edit_records(version, ids, edit)


class Asset:
    """One asset of a dataset version.

    Attributes:
        id: the asset id (its frame id).
        filename: the file name (last segment of the first source URI).
        object_name: the storage key (the path of the first source URI).
        data_id: the datalake data it was added from, or None.
        width, height, content_type: of its first source.
        url: its first source URI.
    """

    tag_target = TagTarget.ASSET
    duration = 0
    large = True

    def __init__(self, version: DatasetVersion, entry: Entry) -> None:
        self._version = version
        self._load(entry)

    def _load(self, entry: Entry) -> None:
        self._entry = entry
        self.id = entry.id
        self.filename = entry.filename
        self.object_name = entry.object_name
        self.data_id = entry.data_id
        self.width = entry.width
        self.height = entry.height
        self.content_type = entry.content_type
        self.url = entry.uri

    @property
    def version(self) -> DatasetVersion:
        """The dataset version the asset belongs to."""
        return self._version

    @property
    def dataset_version_id(self) -> str:
        """The id of its dataset version."""
        return self._version.version_id

    @property
    def type(self) -> DataType:
        """IMAGE, or VIDEO for a ``video/*`` content type."""
        return DataType.VIDEO if (self.content_type or "").startswith("video/") else DataType.IMAGE

    @property
    def metadata(self) -> dict[str, Any]:
        """The asset's metadata (the frame metadata without reserved keys; a copy)."""
        return check_meta(self._entry.user_meta())

    custom_metadata = metadata

    @property
    def created_at(self) -> _dt.datetime:
        """When the asset was added (the epoch for a frame added without this surface)."""
        return _dt.datetime.fromtimestamp(self._entry.created, _dt.UTC)

    @property
    def id_with_extension(self) -> str:
        """``<id><extension of filename>``: the file name ``use_id=True`` downloads write."""
        return self.id + posixpath.splitext(self.filename)[1]

    def sync(self) -> Asset:
        """Re-read the asset's fields.

        Raises:
            NotFoundError: the asset was deleted.
        """
        self._load(Entry(frames.read_record(self._version, self.id)))
        return self

    # -- tags and data -------------------------------------------------------------------

    def get_tags(self) -> list[Tag]:
        """The asset tags, as they are now."""
        return [Tag(n, TagTarget.ASSET) for n in self.sync()._entry.tags]

    def add_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Put asset tags on the asset (registered in the version if needed)."""
        edit_asset_tags(self._version, [self.id], tags, True)

    def remove_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Take asset tags off the asset."""
        edit_asset_tags(self._version, [self.id], tags, False)

    def get_data(self) -> Data:
        """The datalake data the asset was added from.

        Raises:
            NotFoundError: the asset was not added from the datalake.
        """
        from vstore.picsellia.datalake import Datalake

        if self.data_id is None:
            raise NotFoundError(f"asset {self.filename!r} was not added from the datalake")
        return Datalake(self._version.store).get_data(self.data_id)

    def get_data_tags(self) -> list[Tag]:
        """The tags of the asset's datalake data."""
        return self.get_data().get_tags()

    # -- annotations ---------------------------------------------------------------------

    def _annotations(self) -> list[Annotation]:
        record = frames.read_record(self._version, self.id)
        return [Annotation(self._version, self.id, s) for s in read_annotations(record)]

    def list_annotations(self, worker: object = None,
                         status: AnnotationStatus | str | None = None) -> list[Annotation]:
        """The asset's annotations, oldest first (of one worker or status, if given)."""
        wanted = None if status is None else AnnotationStatus.validate(status)
        name = None if worker is None else worker_name(worker)
        return [a for a in self._annotations()
                if (name is None or a.worker == name) and (wanted is None or a.status == wanted)]

    def get_annotation(self, worker: object = None) -> Annotation:
        """The newest annotation (of one worker, if given).

        Raises:
            NotFoundError: the asset has no annotation.
        """
        found = self.list_annotations(worker)
        if not found:
            raise NotFoundError(f"asset {self.filename!r} has no annotation")
        return found[-1]

    def create_annotation(self, duration: float = 0.0, worker: object = None,
                          status: AnnotationStatus | str | None = None) -> Annotation:
        """Create an empty annotation; it becomes the asset's newest.

        Args:
            duration: seconds spent annotating.
            worker: who annotates (default: the current user).
            status: the status (default PENDING).
        """
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
            raise InvalidArgumentError(f"duration must be a number >= 0, got {duration!r}")
        entry = new_entry(worker_name(worker),
                          AnnotationStatus.validate(status or AnnotationStatus.PENDING),
                          duration)
        if entry["id"] == implicit_id(self.id):  # pragma: no cover - a 128-bit clash
            raise InvalidArgumentError("annotation id clash; try again")
        record = frames.edit_records(self._version, [self.id],
                                     lambda r: with_entry(r, entry))[self.id]
        state = next(s for s in read_annotations(record) if s.id == entry["id"])
        return Annotation(self._version, self.id, state)

    def delete_annotations(self, workers: Sequence[object] | None = None) -> None:
        """Delete the asset's annotations (of some workers only, if given)."""
        from vstore.picsellia.version_annotations import delete_annotations

        delete_annotations(self._version, [self.id], workers)

    def delete(self) -> None:
        """Remove the asset (and its annotations) from the version."""
        frames.delete_records(self._version, [self.id])

    def download(self, target_path: str | os.PathLike[str] = "./", force_replace: bool = False,
                 use_id: bool = False) -> None:
        """Write the asset's file into ``target_path`` (as its filename, or its id)."""
        MultiAsset([self]).download(target_path, force_replace, 1, use_id)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Asset) and other.id == self.id
                and other.dataset_version_id == self.dataset_version_id)

    def __hash__(self) -> int:
        return hash((self.dataset_version_id, self.id))

    def __repr__(self) -> str:
        return f"Asset(id={self.id!r}, filename={self.filename!r})"


class MultiAsset(MultiObject[Asset]):
    """A non-empty list of :class:`Asset`."""

    item_type = Asset
    tag_target = TagTarget.ASSET

    def _by_version(self) -> list[tuple[DatasetVersion, list[str]]]:
        groups: dict[tuple[str, str], tuple[DatasetVersion, list[str]]] = {}
        for a in self.items:
            key = (a.version.dataset_id, a.version.version_id)
            groups.setdefault(key, (a.version, []))[1].append(a.id)
        return list(groups.values())

    def add_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Put asset tags on every asset."""
        for version, ids in self._by_version():
            edit_asset_tags(version, ids, tags, True)

    def remove_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Take asset tags off every asset."""
        for version, ids in self._by_version():
            edit_asset_tags(version, ids, tags, False)

    def delete(self) -> None:
        """Remove every asset (and its annotations) from its version."""
        for version, ids in self._by_version():
            frames.delete_records(version, ids)

    def download(self, target_path: str | os.PathLike[str] = "./", force_replace: bool = False,
                 max_workers: int | None = None, use_id: bool = False) -> None:
        """Write every asset's file into ``target_path``, in parallel.

        Raises:
            InvalidArgumentError: a file name would leave ``target_path``, or two assets
                would write the same file (nothing is written).
        """
        from vstore.picsellia.transfer import download_sources

        items = [(a.id_with_extension if use_id else a.filename, a.url) for a in self.items]
        download_sources(self.items[0].version.store, items, target_path, force_replace,
                         max_workers)

    def as_list_of_data(self) -> list[Data]:
        """The datalake data of every asset.

        Raises:
            NotFoundError: an asset was not added from the datalake.
        """
        return [a.get_data() for a in self.items]

    def as_multidata(self) -> MultiData:
        """The datalake data of every asset, as a MultiData."""
        from vstore.picsellia.datalake import MultiData

        return MultiData(self.as_list_of_data())
