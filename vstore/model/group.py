"""FrameGroup: one frame made of several SingleFrames (cameras, sensors), keyed by name.

Each member becomes one source of the record, whose id is the member's key; its
annotations become ROIs whose ``sources`` is ``[key]``, and its metadata is kept
under ``meta[key]`` (as the Hyper-Datasets SDK stores sub-entry metadata). The
group's own metadata holds the other keys of ``meta``. Group annotations apply
to several members (all of them by default) and list those members in
``sources``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from vstore.errors import InvalidArgumentError, UsageError, VStoreError
from vstore.model.annotation import Annotation, annotation_from_roi, roi_from_annotation
from vstore.model.frame import (
    SingleFrame,
    frame_from_source,
    roi_entries,
    source_entry,
)
from vstore.model.identity import check_frame_id, derive_frame_id
from vstore.model.shapes import Coordinates, build_annotations
from vstore.model.validation import check_int, check_meta, check_str

__all__ = ["FrameGroup", "group_from_record", "group_record"]


def _check_key(key: object) -> str:
    name = check_str(key, "FrameGroup key")
    if "$" in name or "." in name:
        raise InvalidArgumentError(
            f"FrameGroup key {name!r} contains '$' or '.'; member metadata is stored under "
            "the key, so rename it"
        )
    return name


class FrameGroup(MutableMapping[str, SingleFrame]):
    """A dict of ``name -> SingleFrame`` stored as one frame with one source per member.

    Args:
        frames: initial members.
        id: the frame id; ``None`` derives it from the members' source URIs.
        metadata: the group's own searchable metadata (keys must differ from the
            member names, whose metadata is stored under their name).
        context_id: the grouping and sort key; defaults to the first member's.
        timestamp: defaults to the first member's timestamp.

    Raises:
        InvalidArgumentError: a bad key, member, id or metadata.
    """

    __slots__ = ("_annotations", "_context_id", "_frames", "_id", "_metadata", "_timestamp")

    def __init__(
        self,
        frames: Mapping[str, SingleFrame] | None = None,
        *,
        id: str | int | float | None = None,
        metadata: dict[str, Any] | None = None,
        context_id: str | None = None,
        timestamp: int | None = None,
    ) -> None:
        members: dict[str, SingleFrame] = {}
        for key, frame in (frames or {}).items():
            members[_check_key(key)] = self._check_member(frame)
        frame_id = check_frame_id(id)
        check_meta(metadata)
        ctx = None if context_id is None else check_str(context_id, "context_id")
        self._timestamp = None if timestamp is None else check_int(timestamp, "timestamp")
        self._frames = members
        self._id = frame_id
        self._metadata: dict[str, Any] = {} if metadata is None else metadata
        self._context_id = ctx
        self._annotations: list[Annotation] = []

    @staticmethod
    def _check_member(frame: object) -> SingleFrame:
        if not isinstance(frame, SingleFrame):
            raise InvalidArgumentError(
                f"a FrameGroup member must be a SingleFrame, not {type(frame).__name__}"
            )
        return frame

    # -- mapping ------------------------------------------------------------------------

    def __getitem__(self, key: str) -> SingleFrame:
        return self._frames[key]

    def __setitem__(self, key: str, frame: SingleFrame) -> None:
        self._frames[_check_key(key)] = self._check_member(frame)

    def __delitem__(self, key: str) -> None:
        del self._frames[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    # -- frame fields -------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The frame id: the one given, else derived from every member's source URI."""
        if self._id is not None:
            return self._id
        uris = [f.source for f in self._frames.values()]
        if not uris or any(u is None for u in uris):
            return None
        return derive_frame_id([u for u in uris if u is not None], self.timestamp)

    @id.setter
    def id(self, value: str | int | float | None) -> None:
        self._id = check_frame_id(value)

    @property
    def context_id(self) -> str | None:
        """The grouping and sort key: the one given, else the first member's."""
        if self._context_id is not None:
            return self._context_id
        first = next(iter(self._frames.values()), None)
        return None if first is None else first.context_id

    @context_id.setter
    def context_id(self, value: str | None) -> None:
        self._context_id = None if value is None else check_str(value, "context_id")

    @property
    def timestamp(self) -> int:
        """The frame timestamp: the one given, else the first member's (0 without one)."""
        if self._timestamp is not None:
            return self._timestamp
        first = next(iter(self._frames.values()), None)
        return 0 if first is None else first.timestamp

    @timestamp.setter
    def timestamp(self, value: int | None) -> None:
        self._timestamp = None if value is None else check_int(value, "timestamp")

    @property
    def metadata(self) -> dict[str, Any]:
        """The group's own metadata (a live dict)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None:
        check_meta(value)
        self._metadata = {} if value is None else value

    meta = metadata

    @property
    def annotations(self) -> list[Annotation]:
        """Annotations of the group that span several members (a live list)."""
        return self._annotations

    def add_global_annotation(self, annotation: Annotation) -> Annotation:
        """Add an annotation that applies to every member of the group.

        Args:
            annotation: the annotation; its ``sources``, if set, limit the members.

        Returns:
            The annotation.

        Raises:
            InvalidArgumentError: not an Annotation.
        """
        if not isinstance(annotation, Annotation):
            raise InvalidArgumentError(
                f"annotation must be an Annotation, not {type(annotation).__name__}"
            )
        self._annotations.append(annotation)
        return annotation

    def add_annotation(
        self,
        *,
        box2d_xywh: Coordinates | None = None,
        poly2d_xy: Coordinates | None = None,
        ellipse2d_xyrrt: Coordinates | None = None,
        keypoints: Coordinates | None = None,
        labels: Sequence[str] | str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        frame_ids: Sequence[str] | None = None,
        points2d_xy: Coordinates | None = None,
        poly3d_xyz: Coordinates | None = None,
        points3d_xyz: Coordinates | None = None,
        box3d_xyzwhxyzwh: Coordinates | None = None,
        mask_rgb: Coordinates | None = None,
        frame_class: Sequence[str] | str | None = None,
    ) -> list[Annotation]:
        """Add annotations to several members (every member when ``frame_ids`` is None).

        Args:
            box2d_xywh: a box ``[x, y, w, h]``.
            poly2d_xy: a polygon (flat or points), or a list of rings.
            ellipse2d_xyrrt: an ellipse ``[cx, cy, rx, ry, theta]``.
            keypoints: 2D keypoints.
            labels: label names; alone, they label the members.
            confidence: a number in ``[0, 1]``.
            metadata: per-annotation metadata.
            id: a user id shared by the shapes of this call.
            frame_ids: the member names the annotation applies to.
            points2d_xy, poly3d_xyz, points3d_xyz, box3d_xyzwhxyzwh, mask_rgb,
                frame_class: the other legacy shapes (see ``build_annotations``).

        Returns:
            The annotations added.

        Raises:
            UsageError: no shape and no labels.
            InvalidArgumentError: an unknown member name, a malformed shape or a
                bad value; nothing is added.
        """
        members = None
        if frame_ids is not None:
            members = [check_str(k, "frame_ids") for k in frame_ids]
            unknown = [k for k in members if k not in self._frames]
            if unknown:
                raise InvalidArgumentError(
                    f"frame_ids {unknown} are not members of this group; it has {list(self)}"
                )
            chosen = set(members)
            members = [k for k in self._frames if k in chosen]
        added = build_annotations(
            box2d_xywh=box2d_xywh, poly2d_xy=poly2d_xy, ellipse2d_xyrrt=ellipse2d_xyrrt,
            keypoints=keypoints, labels=labels, confidence=confidence, metadata=metadata,
            id=id, points2d_xy=points2d_xy, poly3d_xyz=poly3d_xyz, points3d_xyz=points3d_xyz,
            box3d_xyzwhxyzwh=box3d_xyzwhxyzwh, mask_rgb=mask_rgb, frame_class=frame_class,
            sources=None if members is None or len(members) == 1 else members,
        )
        if members is not None and len(members) == 1:
            self._frames[members[0]].annotations.extend(added)
        else:
            self._annotations.extend(added)
        return added

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameGroup):
            return NotImplemented
        try:
            return group_record(self) == group_record(other)
        except VStoreError:
            return self is other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameGroup(id={self.id!r}, frames={list(self._frames)})"


def _roi_sources(ann: Annotation, keys: list[str]) -> list[str]:
    if not ann._sources:
        return keys
    chosen = set(ann._sources)
    unknown = chosen.difference(keys)
    if unknown:
        raise UsageError(
            f"a group annotation refers to members {sorted(unknown)} that are not in the group"
        )
    return [k for k in keys if k in chosen]


def group_record(group: FrameGroup) -> dict[str, Any]:
    """Return the wire record of a FrameGroup (see ``vstore.model.record``).

    Args:
        group: the group.

    Returns:
        The record; it shares no mutable container with the group.

    Raises:
        UsageError: no members, a member without a source, a group metadata key
            equal to a member name, or an annotation for a missing member.
        InvalidArgumentError: metadata or annotations were changed to invalid values.
    """
    if not group._frames:
        raise UsageError("a FrameGroup needs at least one member: group[name] = SingleFrame(...)")
    keys = list(group._frames)
    sources = [source_entry(f, k) for k, f in group._frames.items()]
    meta = check_meta(group._metadata)
    clash = [k for k in keys if k in meta]
    if clash:
        raise UsageError(
            f"group metadata keys {clash} are also member names, whose metadata is stored "
            "under their name; rename them"
        )
    per_member: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    shared: list[dict[str, Any]] = []
    for ann in group._annotations:
        chosen = _roi_sources(ann, keys)
        roi = roi_from_annotation(ann, chosen)
        # A one-member ROI reads back as that member's annotation: keep it in its place.
        (per_member[chosen[0]] if len(chosen) == 1 else shared).append(roi)
    rois = []
    for key, frame in group._frames.items():
        meta[key] = check_meta(frame._metadata, f"{key} metadata")
        rois.extend(roi_entries(frame, [key]))
        rois.extend(per_member[key])
    rois.extend(shared)
    return {"id": group.id, "sources": sources, "rois": rois, "meta": meta,
            "context_id": group.context_id, "timestamp": group.timestamp}


def group_from_record(record: dict[str, Any]) -> FrameGroup:
    """Build a FrameGroup from a validated record (several sources, or a one-member group).

    Args:
        record: a record that passed ``validate_record``; it is not shared.

    Returns:
        The group, keyed by source id.
    """
    keys = [s["id"] for s in record["sources"]]
    meta = check_meta(record.get("meta"))
    member_meta = {k: meta.pop(k) if isinstance(meta.get(k), dict) else {} for k in keys}
    per_member: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    shared: list[dict[str, Any]] = []
    for roi in record.get("rois") or ():
        chosen: list[str] = roi.get("sources") or []
        (per_member[chosen[0]] if len(chosen) == 1 else shared).append(roi)
    group = FrameGroup.__new__(FrameGroup)
    group._frames = {
        s["id"]: frame_from_source(s, per_member[s["id"]], member_meta[s["id"]], None, None)
        for s in record["sources"]
    }
    group._id = record["id"]
    group._metadata = meta
    group._context_id = record.get("context_id")
    group._timestamp = record.get("timestamp")
    everyone = set(keys)
    group._annotations = [
        annotation_from_roi(r, None if set(r.get("sources") or keys) == everyone
                            else list(r["sources"]))
        for r in shared
    ]
    return group
