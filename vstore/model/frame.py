"""SingleFrame: one sample with one source, its annotations, masks, preview and metadata.

A SingleFrame is the Hyper-Datasets frame with one source. Its id and
``context_id`` default to values derived from the source URI; its wire form is
built by :func:`source_entry` and :func:`roi_entries` (see ``vstore.model.record``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vstore.errors import InvalidArgumentError, UsageError, VStoreError
from vstore.model.annotation import (
    Annotation,
    annotations_from_rois,
    annotations_from_wire,
    rois_from_annotations,
)
from vstore.model.identity import check_frame_id, derive_frame_id, normalize_uri
from vstore.model.shapes import Coordinates, build_annotations
from vstore.model.validation import check_int, check_meta, check_str

__all__ = [
    "DEFAULT_SOURCE_ID",
    "SingleFrame",
    "frame_from_source",
    "roi_entries",
    "single_from_record",
    "single_record",
    "source_entry",
]

DEFAULT_SOURCE_ID = "default"


def _opt_int(value: object, what: str) -> int | None:
    return None if value is None else check_int(value, what)


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else check_str(value, what)


def _masks(mask_source: object, masks_source: object) -> list[dict[str, Any]]:
    if mask_source is not None and masks_source is not None:
        raise UsageError("give mask_source (one mask) or masks_source (several), not both")
    if mask_source is not None:
        return [{"id": "00", "uri": normalize_uri(mask_source, "mask_source"), "timestamp": 0}]
    if masks_source is None:
        return []
    if isinstance(masks_source, Mapping):
        pairs = [(check_str(k, "masks_source key"), v) for k, v in masks_source.items()]
    elif isinstance(masks_source, (str, bytes)) or not isinstance(masks_source, Iterable):
        raise InvalidArgumentError("masks_source must be a dict {mask_id: uri} or a list of URIs")
    else:
        pairs = [(f"{i:02d}", uri) for i, uri in enumerate(masks_source)]
    return [{"id": k, "uri": normalize_uri(v, f"masks_source[{k!r}]"), "timestamp": 0}
            for k, v in pairs]


def _annotations(value: object) -> list[Annotation]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgumentError("annotations must be a list of Annotation")
    out = list(value)
    for i, ann in enumerate(out):
        if not isinstance(ann, Annotation):
            raise InvalidArgumentError(f"annotations[{i}] is a {type(ann).__name__}")
    return out


class SingleFrame:
    """A frame with one source (the legacy ``allegroai.SingleFrame`` constructor).

    Args:
        id: the frame id; a number becomes its str. ``None`` derives it from the
            source URI (and a non-zero timestamp), so the same URI is the same frame.
        source: the source URI; a local path gets a ``file://`` prefix.
        width: source width in pixels.
        height: source height in pixels.
        timestamp: offset in ms for a video frame (0, the default, for images).
        size: the source file size in bytes (kept in the source ``meta.size``).
        hash: the source content hash (kept in the source ``meta.hash.source``).
        preview_uri: a thumbnail URI.
        preview_uri_timestamp: the thumbnail's timestamp.
        metadata: searchable metadata; keys may not contain ``$`` or ``.``.
        annotations: a list of :class:`Annotation`.
        mask_source: one mask URI (mask id ``"00"``).
        context_id: the grouping and sort key; defaults to the source URI.
        masks_source: ``{mask_id: uri}``, or a list of URIs (ids ``"00"``, ``"01"``...).
        content_type: the source media type, e.g. ``image/jpeg``.
        source_id: the source id (``"default"``; a FrameGroup uses its key instead).

    Raises:
        InvalidArgumentError: an argument has a wrong type or value.
        UsageError: both ``mask_source`` and ``masks_source``, or a preview
            timestamp without a preview URI.
    """

    __slots__ = ("_annotations", "_content_type", "_context_id", "_height", "_id", "_masks",
                 "_metadata", "_preview", "_source", "_source_id", "_source_meta", "_timestamp",
                 "_width")

    def __init__(
        self,
        id: str | int | float | None = None,
        source: str | None = None,
        width: int | None = None,
        height: int | None = None,
        timestamp: int | None = None,
        size: int | None = None,
        hash: str | None = None,
        preview_uri: str | None = None,
        preview_uri_timestamp: int | None = None,
        metadata: dict[str, Any] | None = None,
        annotations: Sequence[Annotation] | None = None,
        mask_source: str | None = None,
        context_id: str | None = None,
        masks_source: Mapping[str, str] | Sequence[str] | None = None,
        *,
        content_type: str | None = None,
        source_id: str = DEFAULT_SOURCE_ID,
    ) -> None:
        if preview_uri is None and preview_uri_timestamp is not None:
            raise UsageError("preview_uri_timestamp needs a preview_uri")
        preview = None
        if preview_uri is not None:
            ts = _opt_int(preview_uri_timestamp, "preview_uri_timestamp") or 0
            preview = {"uri": normalize_uri(preview_uri, "preview_uri"), "timestamp": ts}
        source_meta: dict[str, Any] = {}
        if size is not None:
            source_meta["size"] = check_int(size, "size")
        if hash is not None:
            source_meta["hash"] = {"source": check_str(hash, "hash")}
        values = (
            check_frame_id(id),
            None if source is None else normalize_uri(source, "source"),
            _opt_int(width, "width"),
            _opt_int(height, "height"),
            _opt_int(timestamp, "timestamp") or 0,
            _masks(mask_source, masks_source),
            _annotations(annotations),
            _opt_str(context_id, "context_id"),
            _opt_str(content_type, "content_type"),
            check_str(source_id, "source_id"),
        )
        check_meta(metadata)
        (self._id, self._source, self._width, self._height, self._timestamp, self._masks,
         self._annotations, self._context_id, self._content_type, self._source_id) = values
        self._metadata: dict[str, Any] = {} if metadata is None else metadata
        self._preview: dict[str, Any] | None = preview
        self._source_meta: dict[str, Any] = source_meta

    # -- identity -----------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The frame id: the one given, else derived from the source URI (None without one)."""
        if self._id is not None:
            return self._id
        if self._source is None:
            return None
        return derive_frame_id(self._source, self._timestamp)

    @id.setter
    def id(self, value: str | int | float | None) -> None:
        self._id = check_frame_id(value)

    @property
    def context_id(self) -> str | None:
        """The grouping and sort key: the one given, else the source URI."""
        return self._context_id if self._context_id is not None else self._source

    @context_id.setter
    def context_id(self, value: str | None) -> None:
        self._context_id = _opt_str(value, "context_id")

    # -- source -------------------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The source URI."""
        return self._source

    @source.setter
    def source(self, value: str | None) -> None:
        self._source = None if value is None else normalize_uri(value, "source")

    @property
    def source_id(self) -> str:
        """The source id on the wire (a FrameGroup member uses its key instead)."""
        return self._source_id

    @source_id.setter
    def source_id(self, value: str) -> None:
        self._source_id = check_str(value, "source_id")

    @property
    def width(self) -> int | None:
        """Source width in pixels."""
        return self._width

    @width.setter
    def width(self, value: int | None) -> None:
        self._width = _opt_int(value, "width")

    @property
    def height(self) -> int | None:
        """Source height in pixels."""
        return self._height

    @height.setter
    def height(self, value: int | None) -> None:
        self._height = _opt_int(value, "height")

    @property
    def timestamp(self) -> int:
        """Offset in ms inside a video; 0 for images."""
        return self._timestamp

    @timestamp.setter
    def timestamp(self, value: int | None) -> None:
        self._timestamp = _opt_int(value, "timestamp") or 0

    @property
    def content_type(self) -> str | None:
        """The source media type, e.g. ``image/jpeg``."""
        return self._content_type

    @content_type.setter
    def content_type(self, value: str | None) -> None:
        self._content_type = _opt_str(value, "content_type")

    @property
    def source_meta(self) -> dict[str, Any]:
        """The source's own metadata (a live dict; holds ``size`` and ``hash``)."""
        return self._source_meta

    @property
    def size(self) -> int | None:
        """The source file size in bytes, if known."""
        size = self._source_meta.get("size")
        return size if isinstance(size, int) else None

    @property
    def hash(self) -> str | None:
        """The source content hash, if known."""
        h = self._source_meta.get("hash")
        value = h.get("source") if isinstance(h, dict) else None
        return value if isinstance(value, str) else None

    # -- preview and masks --------------------------------------------------------------

    @property
    def preview(self) -> dict[str, Any] | None:
        """The preview ``{uri, timestamp, ...}`` (a copy), or None."""
        return None if self._preview is None else dict(self._preview)

    @property
    def preview_uri(self) -> str | None:
        """The thumbnail URI, or None."""
        return None if self._preview is None else self._preview["uri"]

    @property
    def preview_uri_timestamp(self) -> int | None:
        """The thumbnail's timestamp, or None without a preview."""
        return None if self._preview is None else self._preview["timestamp"]

    @property
    def masks(self) -> list[dict[str, Any]]:
        """The masks ``[{id, uri, timestamp, ...}]`` (copies)."""
        return [dict(m) for m in self._masks]

    @property
    def masks_source(self) -> dict[str, str]:
        """The mask URIs by mask id (a copy)."""
        return {m["id"]: m["uri"] for m in self._masks}

    @property
    def mask_source(self) -> str | None:
        """The first mask URI, or None."""
        return self._masks[0]["uri"] if self._masks else None

    # -- metadata and annotations -------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """Searchable frame metadata (a live dict, checked again when the frame is saved)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None:
        check_meta(value)
        self._metadata = {} if value is None else value

    meta = metadata

    @property
    def annotations(self) -> list[Annotation]:
        """The annotations (a live list)."""
        return self._annotations

    @annotations.setter
    def annotations(self, value: Sequence[Annotation] | None) -> None:
        self._annotations = _annotations(value)

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
        points2d_xy: Coordinates | None = None,
        poly3d_xyz: Coordinates | None = None,
        points3d_xyz: Coordinates | None = None,
        box3d_xyzwhxyzwh: Coordinates | None = None,
        mask_rgb: Coordinates | None = None,
        frame_class: Sequence[str] | str | None = None,
    ) -> list[Annotation]:
        """Add one annotation per given shape (or a frame label for labels alone).

        Args:
            box2d_xywh: a box ``[x, y, w, h]``, stored as a 4-corner polygon.
            poly2d_xy: a polygon (flat or points), or a list of rings.
            ellipse2d_xyrrt: an ellipse ``[cx, cy, rx, ry, theta]``.
            keypoints: 2D keypoints (flat or points).
            labels: label names for every shape; alone, they label the whole frame.
            confidence: a number in ``[0, 1]``.
            metadata: per-annotation metadata.
            id: a user id shared by the shapes of this call.
            points2d_xy, poly3d_xyz, points3d_xyz, box3d_xyzwhxyzwh, mask_rgb,
                frame_class: the other legacy shapes (see ``build_annotations``).

        Returns:
            The annotations added.

        Raises:
            UsageError: no shape and no labels.
            InvalidArgumentError: a malformed shape or a bad value; nothing is added.
        """
        added = build_annotations(
            box2d_xywh=box2d_xywh, poly2d_xy=poly2d_xy, ellipse2d_xyrrt=ellipse2d_xyrrt,
            keypoints=keypoints, labels=labels, confidence=confidence, metadata=metadata,
            id=id, points2d_xy=points2d_xy, poly3d_xyz=poly3d_xyz, points3d_xyz=points3d_xyz,
            box3d_xyzwhxyzwh=box3d_xyzwhxyzwh, mask_rgb=mask_rgb, frame_class=frame_class,
        )
        self._annotations.extend(added)
        return added

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SingleFrame):
            return NotImplemented
        try:
            return single_record(self) == single_record(other)
        except VStoreError:
            return self is other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SingleFrame(id={self.id!r}, source={self._source!r})"


def single_record(frame: SingleFrame, shared: bool = False) -> dict[str, Any]:
    """Return the wire record of a SingleFrame (see ``vstore.model.record``).

    Args:
        frame: the frame.
        shared: the record may hold the annotations' own labels lists and points
            (see ``frame_record_bytes``).

    Returns:
        The record; unless ``shared``, it shares no mutable container with the frame.

    Raises:
        UsageError: the frame has no source URI.
        InvalidArgumentError: metadata or annotations were changed to invalid values.
    """
    sid = frame._source_id
    src = source_entry(frame, sid)
    return {
        "id": frame.id,
        "sources": [src],
        "rois": roi_entries(frame, [sid], shared),
        "meta": check_meta(frame._metadata),
        "context_id": frame.context_id,
        "timestamp": frame._timestamp,
    }


def single_from_record(record: dict[str, Any], *, owned: bool = False) -> SingleFrame:
    """Build a SingleFrame from a validated one-source record.

    Args:
        record: a record that passed ``validate_record``; it is not shared.
        owned: the record is given away, so its containers need no copy.

    Returns:
        The frame.
    """
    meta = record.get("meta")
    return frame_from_source(
        record["sources"][0],
        record.get("rois") or [],
        (meta if meta is not None else {}) if owned else check_meta(meta),
        record["id"],
        record.get("context_id"),
        owned=owned,
    )


def source_entry(frame: SingleFrame, source_id: str) -> dict[str, Any]:
    """Return the wire source of a frame.

    Args:
        frame: the frame.
        source_id: the id this source has in its record.

    Returns:
        ``{id, uri, timestamp, [content_type], [width], [height], [meta], [preview],
        [masks]}``.

    Raises:
        UsageError: the frame has no source URI.
        InvalidArgumentError: the source metadata was changed to invalid values.
    """
    if frame._source is None:
        raise UsageError(f"frame {frame._id or source_id!r} has no source; set source= to a URI")
    src: dict[str, Any] = {"id": source_id, "uri": frame._source, "timestamp": frame._timestamp}
    if frame._content_type is not None:
        src["content_type"] = frame._content_type
    if frame._width is not None:
        src["width"] = frame._width
    if frame._height is not None:
        src["height"] = frame._height
    if frame._source_meta:
        src["meta"] = check_meta(frame._source_meta, "source meta")
    if frame._preview is not None:
        src["preview"] = dict(frame._preview)
    if frame._masks:
        src["masks"] = [dict(m) for m in frame._masks]
    return src


def roi_entries(
    frame: SingleFrame, sources: list[str], shared: bool = False
) -> list[dict[str, Any]]:
    """Return the wire ROIs of a frame's annotations.

    Args:
        frame: the frame.
        sources: the source ids each ROI belongs to.
        shared: the ROIs may share ``sources`` and the annotations' own containers.

    Returns:
        One ROI per annotation, in order.

    Raises:
        InvalidArgumentError: an item of ``frame.annotations`` is not an Annotation,
            or holds invalid labels or metadata.
    """
    return rois_from_annotations(frame._annotations, sources, shared)


def single_from_wire(rec: Any) -> SingleFrame:
    """Build the SingleFrame of a one-source record decoded into typed structs
    (``vstore.model.record``'s trusted read path); the same frame as
    :func:`single_from_record` of that record as a dict with ``owned=True``.

    Args:
        rec: an object with ``id``, ``sources`` (one source with ``id``, ``uri``,
            ``width``, ``height``, ``timestamp``, ``content_type``, ``meta``, ``preview``
            and ``masks``), ``rois``, ``meta`` and ``context_id`` attributes; given away.
    """
    src = rec.sources[0]
    frame = SingleFrame.__new__(SingleFrame)
    frame._id = rec.id
    frame._source = src.uri
    frame._source_id = src.id
    frame._width = src.width
    frame._height = src.height
    frame._timestamp = src.timestamp
    frame._content_type = src.content_type
    frame._source_meta = src.meta if src.meta is not None else {}
    frame._preview = None if src.preview is None else {"timestamp": 0, **src.preview}
    frame._masks = [{"timestamp": 0, **m} for m in src.masks] if src.masks else []
    frame._metadata = rec.meta if rec.meta is not None else {}
    frame._context_id = rec.context_id
    frame._annotations = annotations_from_wire(rec.rois or ())
    return frame


def frame_from_source(
    src: dict[str, Any],
    rois: list[dict[str, Any]],
    metadata: dict[str, Any],
    frame_id: str | None,
    context_id: str | None,
    *,
    owned: bool = False,
) -> SingleFrame:
    """Build a frame from a validated wire source and its ROIs (nothing is shared
    unless ``owned``: then the source and ROIs are given away and kept as they are).

    Args:
        src: the wire source.
        rois: the wire ROIs of this source.
        metadata: the frame metadata (already a private copy).
        frame_id: the frame id, or ``None`` to derive it.
        context_id: the context id, or ``None`` for the default.

    Returns:
        The frame; its ``source_id`` is the source's id.
    """
    frame = SingleFrame.__new__(SingleFrame)
    frame._id = frame_id
    frame._source = src["uri"]
    frame._source_id = src["id"]
    get = src.get
    frame._width = get("width")
    frame._height = get("height")
    frame._timestamp = get("timestamp", 0)
    frame._content_type = get("content_type")
    smeta = get("meta")
    if owned:
        frame._source_meta = smeta if smeta is not None else {}
    else:
        frame._source_meta = check_meta(smeta, "source meta")
    preview = get("preview")
    frame._preview = None if preview is None else {"timestamp": 0, **preview}
    masks = get("masks")
    frame._masks = [{"timestamp": 0, **m} for m in masks] if masks else []
    frame._metadata = metadata
    frame._context_id = context_id
    frame._annotations = annotations_from_rois(rois, owned=owned)
    return frame
