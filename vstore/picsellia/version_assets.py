"""Assets of a version: adding data, finding and listing assets, forking a version."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vstore.datasets.bulk import Op
from vstore.datasets.registry import COMMITTED, VersionState
from vstore.engine import WriteBatch
from vstore.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    InvalidQueryError,
    NotFoundError,
    UsageError,
    WrongTypeError,
)
from vstore.model import decode_record, frame_key, frame_to_record, record_to_frame
from vstore.picsellia import frames, persisted
from vstore.picsellia.annrecord import without_annotations
from vstore.picsellia.asset import Asset, MultiAsset
from vstore.picsellia.datalake import Data, MultiData, datalake_version
from vstore.picsellia.enums import InferenceType, TagTarget
from vstore.picsellia.index import AssetIndex, Entry, asset_index
from vstore.picsellia.job import Job
from vstore.picsellia.listing import Selection, select
from vstore.picsellia.query import DataLookup
from vstore.picsellia.record import KEY_CREATED, KEY_DATA, KEY_TAGS, KEY_TASK, check_name
from vstore.picsellia.tags import tag_names
from vstore.picsellia.version_meta import FORMATS_KEY

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = ["add_data", "find_all_assets", "find_asset", "find_one", "fork", "list_assets"]

Change = Callable[[VersionState, WriteBatch], tuple[bytes, dict[str, Any]] | None]


def _data_list(data: object) -> list[Data]:
    items = list(data.items) if isinstance(data, MultiData) else (
        [data] if isinstance(data, Data) else data)
    if not isinstance(items, (list, tuple)):
        raise WrongTypeError(f"data must be a Data, a list of Data or a MultiData, not {data!r}")
    if not items:
        raise InvalidArgumentError("data parameter cannot be empty")
    for d in items:
        if not isinstance(d, Data):
            raise WrongTypeError(f"data must hold Data objects, not {type(d).__name__}")
    return list({d.id: d for d in items}.values())


def _campaign_task(version: DatasetVersion) -> dict[str, Any] | None:
    campaign = frames.read_doc(version).get("campaign")
    if isinstance(campaign, dict) and campaign.get("auto_add_new_assets") and (
            campaign.get("status") == "OPEN"):
        return {"campaign": campaign["id"], "status": "PENDING", "user": None}
    return None


def add_data(version: DatasetVersion, data: Any, tags: Any = None) -> Job:
    """Turn datalake data into assets of the version (see ``DatasetVersion.add_data``)."""
    from vstore.picsellia.version_meta import ensure_asset_tags

    items = _data_list(data)
    for d in items:
        if d.store is not version.store:
            raise InvalidArgumentError(f"data {d.filename!r} belongs to another store")
    names = [] if tags is None else tag_names(tags, TagTarget.ASSET)
    have = {r["id"] for r in version.get_frames_by_ids([d.id for d in items], projection=["id"])}
    todo = [d for d in items if d.id not in have]
    sources = frames.read_records(datalake_version(version.store), [d.id for d in todo])
    task = _campaign_task(version)
    now = time.time()
    records = []
    for d in todo:
        src = sources.get(d.id)
        if src is None:
            raise NotFoundError(f"data {d.id!r} was deleted from the datalake")
        meta: dict[str, Any] = {**d.metadata, KEY_DATA: d.id, KEY_CREATED: now}
        if names:
            meta[KEY_TAGS] = list(names)
        if task is not None:
            meta[KEY_TASK] = dict(task)
        records.append({"id": d.id, "sources": src["sources"], "rois": [], "meta": meta,
                        "context_id": src["sources"][0]["uri"], "timestamp": 0})
    if names:
        ensure_asset_tags(version, names)
    frames.write_records(version, records)
    return Job("add_data", result={"created": len(records), "already_there": len(have)})


def data_lookup(version: DatasetVersion) -> DataLookup:
    """A lookup of datalake entries by data id (the datalake index is read on first use)."""
    holder: list[AssetIndex] = []

    def lookup(data_id: str) -> Entry | None:
        if not holder:
            holder.append(asset_index(datalake_version(version.store)))
        return holder[0].get(data_id)

    return lookup


def find_one(index: AssetIndex, what: str, *, id: str | None = None,
             filename: str | None = None, object_name: str | None = None,
             data_id: str | None = None) -> Entry:
    """The one entry matching every criterion given.

    Raises:
        UsageError: no criterion.
        NotFoundError: nothing matches.
        InvalidQueryError: several entries match (a duplicated filename, say).
    """
    criteria = {k: v for k, v in (("id", id), ("filename", filename),
                                  ("object_name", object_name), ("data_id", data_id))
                if v is not None}
    if not criteria:
        raise UsageError(f"select at least one criterion to find a {what} "
                         "(id, filename, object_name or data)")
    for key, value in criteria.items():
        if not isinstance(value, str):
            raise WrongTypeError(f"{key} must be a str, not {type(value).__name__}")
    if "id" in criteria:
        hit = index.get(criteria["id"])
        found = [] if hit is None else [hit]
    else:
        key, value = next(iter(criteria.items()))
        found = index.lookup(key, value)
    found = [e for e in found if all(getattr(e, k) == v for k, v in criteria.items())]
    shown = ", ".join(f"{k}={v!r}" for k, v in criteria.items())
    if not found:
        raise NotFoundError(f"no {what} with {shown}")
    if len(found) > 1:
        raise InvalidQueryError(f"{len(found)} {what}s match {shown}; use list_assets to get "
                                "them all")
    return found[0]


def find_asset(version: DatasetVersion, data: Data | None = None, filename: str | None = None,
               object_name: str | None = None, id: str | None = None) -> Asset:
    """See ``DatasetVersion.find_asset``."""
    if data is not None and not isinstance(data, Data):
        raise WrongTypeError(f"data must be a Data, not {type(data).__name__}")
    entry = find_one(asset_index(version), "asset", id=id, filename=filename,
                     object_name=object_name, data_id=None if data is None else data.id)
    return Asset(version, entry)


def list_assets(version: DatasetVersion, sel: Selection) -> MultiAsset:
    """See ``DatasetVersion.list_assets``."""
    with persisted.answering():
        entries = select(asset_index(version), sel, data_lookup(version))
        return MultiAsset([Asset(version, e) for e in entries])


def find_all_assets(version: DatasetVersion, filenames: Sequence[str] | None,
                    object_names: Sequence[str] | None, ids: Sequence[str] | None
                    ) -> MultiAsset:
    """See ``DatasetVersion.find_all_assets``."""
    if filenames is None and object_names is None and ids is None:
        raise UsageError("give filenames, object_names or ids")
    return list_assets(version, Selection(
        lists={"ids": ids, "object_names": object_names, "filenames": filenames}))


# -- fork -----------------------------------------------------------------------------------


def _selected_ids(version: DatasetVersion, assets: object) -> set[str] | None:
    if assets is None:
        return None
    items = list(assets.items) if isinstance(assets, MultiAsset) else (
        [assets] if isinstance(assets, Asset) else assets)
    if not isinstance(items, (list, tuple)) or not all(isinstance(a, Asset) for a in items):
        raise WrongTypeError("assets must be an Asset, a list of Asset or a MultiAsset")
    if not items:
        raise InvalidArgumentError("assets must not be empty (give None to fork every asset)")
    for a in items:
        if a.dataset_version_id != version.version_id:
            raise InvalidArgumentError(f"asset {a.filename!r} is not in version "
                                       f"{version.version_name!r}")
    return {a.id for a in items}


def fork(version: DatasetVersion, name: str, description: str | None, assets: object,
         type: InferenceType | str, with_tags: bool, with_labels: bool,
         with_annotations: bool) -> tuple[DatasetVersion, Job]:
    """See ``DatasetVersion.fork``."""
    from vstore.datasets.version import DatasetVersion

    if not name:
        raise InvalidArgumentError("Version name can't be empty")
    check_name(name, "version name")
    kind = InferenceType.validate(type)
    selected = _selected_ids(version, assets)
    registry = version.store.registry
    if any(s.name == name for s in registry.versions(version.dataset_id)):
        raise AlreadyExistsError(f"dataset {version.dataset_name!r} already has a version "
                                 f"named {name!r}")
    state = frames.state_of(version)
    if state.tree != state.committed_tree and state.status != "published":
        version.commit_version()  # the child starts from committed stats
        state = frames.state_of(version)
    parent_doc = state.meta.get(frames.DOC_KEY) or {}
    doc: dict[str, Any] = {"type": kind.value}
    if with_labels or with_annotations:
        doc["labels"] = list(parent_doc.get("labels") or [])
        if parent_doc.get(FORMATS_KEY):
            doc[FORMATS_KEY] = list(parent_doc[FORMATS_KEY])
    if with_tags:
        doc["asset_tags"] = list(parent_doc.get("asset_tags") or [])
    ops: dict[bytes, Op] = {}
    dropped, rewritten = 0, 0
    if selected is not None or not (with_tags and with_annotations):
        ops, dropped, rewritten = _trim(version, state, selected, with_tags, with_annotations)
    # One commit creates the fork with its final frames: a crash leaves no half-made fork.
    change = _committed(version._ops_change(ops)) if ops else None
    child_state = registry.create_version(
        version.dataset_id, name, state, change=change,
        comment=description if description is not None else f"Fork from {state.name}",
        **{frames.DOC_KEY: doc},
    )
    child = DatasetVersion.get_version(dataset_id=version.dataset_id,
                                       version_id=child_state.version_id, store=version.store)
    return child, Job("fork", result={"dropped": dropped, "rewritten": rewritten})


def _committed(change: Change) -> Change:
    """``change``, committed: the stats of the new version are those of its own frames."""
    def step(state: VersionState, batch: WriteBatch) -> tuple[bytes, dict[str, Any]] | None:
        got = change(state, batch)
        if got is None:
            return None
        root, updates = got
        stats = updates.get("stats", state.meta["stats"])
        return root, {**updates, "status": COMMITTED, "committed": time.time(),
                      "committed_tree": root, "committed_stats": stats, "stats": stats,
                      "stats_tree": root}

    return step


def _trim(version: DatasetVersion, state: VersionState, selected: set[str] | None,
          with_tags: bool, with_annotations: bool) -> tuple[dict[bytes, Op], int, int]:
    """The frame writes that drop the assets not selected and strip what the fork does not
    carry over, read from the parent's ``state``; with the counts dropped and rewritten."""
    index = asset_index(version)
    if index.root != state.tree:
        raise ConflictError(f"version {state.name!r} changed during the fork: fork it again")
    entries = index.entries
    drop = [] if selected is None else [e.id for e in entries if e.id not in selected]
    keep = [e for e in entries if selected is None or e.id in selected]
    strip = [e.id for e in keep
             if (not with_annotations and e.annotations) or (not with_tags and e.tags)]

    def edit(record: dict[str, Any]) -> dict[str, Any]:
        if not with_annotations:
            record = without_annotations(record)
        if not with_tags:
            meta = {k: v for k, v in (record.get("meta") or {}).items() if k != KEY_TAGS}
            record = {**record, "meta": meta}
        return record

    ops: dict[bytes, Op] = {frame_key(i): ("del", None) for i in drop}
    stored = version.store.repo.layers.get_many(state.tree, [frame_key(i) for i in strip])
    for key, raw in stored.items():
        old = decode_record(raw, validate=False)
        new = edit(old)
        if new != old:
            ops[key] = ("set", frame_to_record(record_to_frame(new)))  # as add_frames writes it
    return ops, len(drop), len(strip)
