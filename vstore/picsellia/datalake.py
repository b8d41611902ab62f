"""The datalake: every file uploaded to a store, content-addressed, with data tags.

The bytes of a file are a blob (``vstore.picsellia.blobs``): the same bytes are stored once
whatever their name and however many datasets use them. Each upload of a file is a
:class:`Data`, stored as a frame of a hidden dataset version (no dataset lists it) whose
source is ``datalake:///<blake3 hex>/<filename>``; its id is derived from that URI, so
uploading the same file under the same name again gives the same data (and adds the tags).
Data tags and the store-wide tags of ``store.create_tag`` live in that version too.
"""

from __future__ import annotations

import mimetypes
import os
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import blake3

from vstore.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    LocalFileNotFoundError,
    NotFoundError,
    WrongTypeError,
)
from vstore.model import SingleFrame, derive_frame_id
from vstore.model.validation import check_meta
from vstore.picsellia import frames, persisted
from vstore.picsellia.blobs import pin_blobs, put_blob
from vstore.picsellia.enums import DataType, TagTarget
from vstore.picsellia.index import Entry, asset_index
from vstore.picsellia.listing import Selection, select
from vstore.picsellia.multi import MultiObject
from vstore.picsellia.record import KEY_CREATED, KEY_TAGS, check_name, datalake_uri
from vstore.picsellia.tags import Tag, tag_names

if TYPE_CHECKING:
    from vstore.datasets.store import Store
    from vstore.datasets.version import DatasetVersion

__all__ = ["DATALAKE_ID", "Data", "Datalake", "MultiData", "datalake_version", "ensure_tags"]

DATALAKE_ID = blake3.blake3(b"vstore.picsellia.datalake").hexdigest()[:32]
_CLAIM = "picsellia/datalake"
_versions: weakref.WeakKeyDictionary[Store, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def datalake_version(store: Store) -> DatasetVersion:
    """The hidden version that holds the store's datalake (created on first use)."""
    from vstore.datasets.registry import DatasetInfo
    from vstore.datasets.version import DatasetVersion

    with _lock:
        vid = _versions.get(store)
    if vid is None:
        head = store.repo.refs.head(_CLAIM)
        if head is None:
            state = store.registry.create_version(DATALAKE_ID, "datalake", None)
            got = store.repo.refs.append(_CLAIM, None, 0, {"version": state.version_id})
            if not got.ok:  # another writer created the datalake first: use theirs
                store.registry.remove_version(state)
            head = got.entry
        vid = str(head.meta["version"])
        with _lock:
            _versions[store] = vid
    found = store.registry.version(DATALAKE_ID, vid)
    if found is None:
        raise NotFoundError(f"the datalake of {store.url} is missing its version {vid}")
    return DatasetVersion(store, DatasetInfo(DATALAKE_ID, "datalake"), found)


def _store_tags(store: Store) -> dict[str, list[str]]:
    doc = frames.read_doc(datalake_version(store))
    tags = doc.get("tags")
    return {k: list(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def ensure_tags(store: Store, names: Sequence[str], target: TagTarget, *, new: bool = False
                ) -> list[Tag]:
    """Record store-wide tags (get-or-create); with ``new``, refuse names that exist.

    Raises:
        AlreadyExistsError: ``new`` and a tag of that name and target exists.
    """
    lake = datalake_version(store)

    def change(state: Any) -> dict[str, Any] | None:
        doc = dict(state.meta.get(frames.DOC_KEY) or {})
        tags = {k: list(v) for k, v in (doc.get("tags") or {}).items()}
        have = tags.setdefault(target.value, [])
        if new and any(n in have for n in names):
            raise AlreadyExistsError(f"a {target.value} tag named {names[0]!r} already exists")
        missing = [n for n in names if n not in have]
        if not missing:
            return None
        have.extend(missing)
        doc["tags"] = tags
        return {frames.DOC_KEY: doc}

    frames.update_version(lake, change, "record tags")
    return [Tag(n, target) for n in names]


def list_tags(store: Store, target: TagTarget | str | None = None) -> list[Tag]:
    """The store-wide tags, in creation order, of one target or all."""
    wanted = None if target is None else TagTarget.validate(target)
    return [Tag(n, TagTarget(t)) for t, names in _store_tags(store).items()
            if wanted is None or t == wanted.value for n in names]


class Data:
    """A file of the datalake.

    Attributes:
        id: the data id.
        filename, object_name, content_type, width, height, url: as uploaded.
        blob: the blake3 hex hash of its bytes.
    """

    tag_target = TagTarget.DATA

    def __init__(self, lake: Datalake, entry: Entry) -> None:
        self._lake = lake
        self._entry = entry
        self.id = entry.id
        self.filename = entry.filename
        self.object_name = entry.object_name
        self.content_type = entry.content_type
        self.width = entry.width
        self.height = entry.height
        self.url = entry.uri
        self.blob = entry.object_name.split("/", 1)[0]

    @property
    def type(self) -> DataType:
        """IMAGE, or VIDEO for a ``video/*`` content type."""
        return DataType.VIDEO if (self.content_type or "").startswith("video/") else DataType.IMAGE

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata given at upload (a copy)."""
        return check_meta(self._entry.user_meta())

    custom_metadata = metadata

    @property
    def store(self) -> Store:
        """The store the data lives in."""
        return self._lake.store

    def get_tags(self) -> list[Tag]:
        """The data's tags, as they are now."""
        return [Tag(n, TagTarget.DATA) for n in self._lake._entry(self.id).tags]

    def add_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Put data tags on this data (created store-wide if needed).

        Raises:
            InvalidArgumentError: no tags, or a tag of another target.
        """
        MultiData([self]).add_tags(tags)

    def remove_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Take data tags off this data."""
        MultiData([self]).remove_tags(tags)

    def read(self) -> bytes:
        """The file's bytes (checked against their hash)."""
        from vstore.picsellia.blobs import read_blob

        return read_blob(self.store, self.blob)

    def download(self, target_path: str | os.PathLike[str] = "./",
                 force_replace: bool = False) -> None:
        """Write the file as ``target_path/<filename>`` (kept if it exists, unless forced)."""
        from vstore.picsellia.transfer import download_sources

        download_sources(self.store, [(self.filename, self.url)], target_path, force_replace, 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and other.id == self.id and other.store is self.store

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Data(id={self.id!r}, filename={self.filename!r})"


class MultiData(MultiObject[Data]):
    """A non-empty list of :class:`Data`."""

    item_type = Data
    tag_target = TagTarget.DATA

    def _edit_tags(self, tags: Any, add: bool) -> None:
        names = tag_names(tags, TagTarget.DATA)
        by_store: dict[int, list[Data]] = {}
        for d in self.items:
            by_store.setdefault(id(d.store), []).append(d)
        for items in by_store.values():
            store = items[0].store
            if add:
                ensure_tags(store, names, TagTarget.DATA)

            def edit(record: dict[str, Any]) -> dict[str, Any]:
                meta = dict(record.get("meta") or {})
                have = list(meta.get(KEY_TAGS) or [])
                tags_now = have + [n for n in names if n not in have] if add else [
                    t for t in have if t not in names]
                meta[KEY_TAGS] = tags_now
                return {**record, "meta": meta}

            frames.edit_records(datalake_version(store), [d.id for d in items], edit)

    def add_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Put data tags on every data (created store-wide if needed)."""
        self._edit_tags(tags, True)

    def remove_tags(self, tags: Tag | str | Sequence[Tag | str]) -> None:
        """Take data tags off every data."""
        self._edit_tags(tags, False)

    def download(self, target_path: str | os.PathLike[str] = "./", force_replace: bool = False,
                 max_workers: int | None = None) -> None:
        """Write every file into ``target_path`` (in parallel)."""
        from vstore.picsellia.transfer import download_sources

        download_sources(self.items[0].store, [(d.filename, d.url) for d in self.items],
                         target_path, force_replace, max_workers)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Datalake:
    """The store's datalake. Get it from ``store.get_datalake()``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.id = DATALAKE_ID
        self.name = "datalake"

    def _version(self) -> DatasetVersion:
        return datalake_version(self.store)

    def _entry(self, data_id: str) -> Entry:
        entry = asset_index(self._version()).get(data_id)
        if entry is None:
            raise NotFoundError(f"the datalake has no data {data_id!r}")
        return entry

    def upload_data(
        self,
        filepaths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        tags: Sequence[Tag | str] | Tag | str | None = None,
        metadata: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        max_workers: int | None = None,
    ) -> Data | MultiData:
        """Upload local files; the same bytes are stored once.

        Args:
            filepaths: one path (returns a Data) or a list of paths (returns a MultiData).
            tags: data tags put on every uploaded data (created if needed).
            metadata: custom metadata of every file, or one dict per file.
            max_workers: threads that read and store the files.

        Returns:
            The data, in the order of ``filepaths`` (a file given twice once).

        Raises:
            LocalFileNotFoundError: a path is not a file (nothing is uploaded).
            InvalidArgumentError: an empty list, or bad tags or metadata.
            ObjectTooLargeError: a file is larger than the datalake's limit.
        """
        if isinstance(filepaths, (str, os.PathLike)):
            single, paths = True, [os.fspath(filepaths)]
        else:
            single, paths = False, [os.fspath(p) for p in filepaths]
        if not paths:
            raise InvalidArgumentError("filepaths must name at least one file")
        for p in paths:
            if not os.path.isfile(p):
                raise LocalFileNotFoundError(p, "file to upload")
            check_name(os.path.basename(p), "file name")
        metas = self._metadata(metadata, len(paths))
        names = [] if tags is None else tag_names(tags, TagTarget.DATA)
        # Each worker reads one file and stores its blob: only a few files are in memory.
        with ThreadPoolExecutor(max_workers or min(8, len(paths))) as pool:
            blobs = list(pool.map(lambda p: put_blob(self.store, _read_file(p), p), paths))
        pin_blobs(self.store, blobs)
        framed: dict[str, SingleFrame] = {}
        for path, blob, meta in zip(paths, blobs, metas, strict=True):
            frame = self._frame(path, blob, meta, names)
            framed.setdefault(str(frame.id), frame)
        if names:
            ensure_tags(self.store, names, TagTarget.DATA)
        self._write(list(framed.values()), names)
        index = asset_index(self._version())
        out = [Data(self, index.by_id[i]) for i in framed]
        return out[0] if single else MultiData(out)

    @staticmethod
    def _metadata(metadata: Any, n: int) -> list[dict[str, Any]]:
        if metadata is None:
            return [{} for _ in range(n)]
        if isinstance(metadata, dict):
            metas = [check_meta(metadata) for _ in range(n)]
        elif not isinstance(metadata, (list, tuple)) or len(metadata) != n:
            raise InvalidArgumentError("metadata must be a dict, or one dict per file")
        else:
            metas = [check_meta(m) for m in metadata]
        bad = sorted({k for m in metas for k in m if k.startswith("_")})
        if bad:
            raise InvalidArgumentError(f"metadata keys starting with '_' are reserved: {bad}")
        return metas

    def _frame(self, path: str, blob: str, meta: dict[str, Any], tags: list[str]) -> SingleFrame:
        from vstore.formats.imagesize import image_size

        filename = os.path.basename(path)
        uri = datalake_uri(blob, filename)
        size = image_size(path)
        return SingleFrame(
            id=derive_frame_id(uri), source=uri, width=size[0] if size else None,
            height=size[1] if size else None, size=os.path.getsize(path), hash=blob,
            content_type=mimetypes.guess_type(filename)[0],
            metadata={**meta, KEY_TAGS: list(tags), KEY_CREATED: time.time()},
        )

    def _write(self, new: list[SingleFrame], tags: list[str]) -> None:
        version = self._version()
        existing = frames.read_records(version, [str(f.id) for f in new])
        for frame in new:
            old = existing.get(str(frame.id))
            if old is not None:  # uploaded before: keep it, add the tags
                meta = dict(old.get("meta") or {})
                have = list(meta.get(KEY_TAGS) or [])
                frame.metadata = {**meta, KEY_TAGS: have + [t for t in tags if t not in have]}
        failed = version.add_frames(new, batch_size=max(1, len(new)))
        if failed:
            raise InvalidArgumentError(str(failed[0]["error"]))

    def list_data(
        self,
        limit: int | None = None,
        offset: int | None = None,
        page_size: int | None = None,
        order_by: Sequence[str] | None = None,
        tags: Tag | str | Sequence[Tag | str] | None = None,
        filenames: Sequence[str] | None = None,
        intersect_tags: bool = False,
        object_names: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        q: str | None = None,
    ) -> MultiData:
        """List data, filtered like ``DatasetVersion.list_assets``.

        Raises:
            NoDataError: nothing matches.
        """
        sel = Selection(limit=limit, offset=offset, order_by=order_by, tags=tags,
                        intersect_tags=intersect_tags, q=q, what="data",
                        lists={"ids": ids, "object_names": object_names, "filenames": filenames})
        with persisted.answering():
            entries = select(asset_index(self._version()), sel)
            return MultiData([Data(self, e) for e in entries])

    def get_data(self, id: str) -> Data:
        """The data with this id.

        Raises:
            NotFoundError: no such data.
        """
        return Data(self, self._entry(id))

    def find_data(self, filename: str | None = None, object_name: str | None = None,
                  id: str | None = None) -> Data:
        """The one data matching every criterion given.

        Raises:
            UsageError: no criterion.
            NotFoundError: no match. InvalidQueryError: several matches.
        """
        from vstore.picsellia.version_assets import find_one

        entry = find_one(asset_index(self._version()), "data", id=id, filename=filename,
                         object_name=object_name)
        return Data(self, entry)

    def create_tag(self, name: str, target: TagTarget | str = TagTarget.DATA) -> Tag:
        """Create a store-wide tag (see ``store.create_tag``)."""
        return create_tag(self.store, name, target)

    def list_data_tags(self) -> list[Tag]:
        """The store's data tags."""
        return list_tags(self.store, TagTarget.DATA)

    def __repr__(self) -> str:
        return f"Datalake({self.store.url!r})"


def create_tag(store: Store, name: str, target: TagTarget | str) -> Tag:
    """Create a store-wide tag.

    Raises:
        AlreadyExistsError: a tag with this name and target exists.
        WrongTypeError: ``target`` is not a TagTarget.
    """
    if not isinstance(name, str):
        raise WrongTypeError(f"a tag name is a str, not {type(name).__name__}")
    kind = TagTarget.validate(target)
    return ensure_tags(store, [check_name(name, "tag name")], kind, new=True)[0]
