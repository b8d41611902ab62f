"""The COCO export of a whole version, straight from the record bytes.

``export_annotation_file(COCO)`` and ``build_coco_file_locally`` of a whole version (no asset
selection, worker or status) come here first. The general path makes an ``Entry`` per asset,
an :class:`~vstore.formats.model.ImageAnnotations` with a ``Shape`` per shape, checks them,
groups them into objects and then makes the dicts: ~30 µs an asset. Here msgspec decodes each
annotated asset's record into structs that hold only what a box export reads (ROI labels,
kinds, ``poly``, text; the annotation entry), the image's name and size come from the asset
index's columns, and each box becomes its annotation dict at once.

The fast pass covers the records the Picsellia surface writes for object detection: one
listed annotation whose shapes all name it, rectangles without attributes or object ids. An
asset it does not cover (other shapes, several annotations, an unusual type) goes through the
general path, image by image, into the same lists; so the dict is the one
:func:`vstore.formats.coco_dict` makes of ``to_annotation_set``, key order included. Anything
the general path would refuse (a bad name, an image without size, a bad coordinate) makes
:func:`coco_of_version` give up, and the caller runs the general path, which raises exactly
what it always raised.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import msgspec

from vstore.formats import AnnotationSet, ImageAnnotations
from vstore.formats.coco_write import (
    Unsupported,
    assign_ids,
    categories,
    category_ids,
    coco_header,
    coco_objects,
    image_dict,
)
from vstore.formats.geometry import check_shape, fmt_number
from vstore.formats.paths import check_name
from vstore.gcpause import paused_gc
from vstore.model.record import decode_record
from vstore.picsellia.enums import AnnotationExportKey
from vstore.picsellia.index import AssetIndex, asset_index
from vstore.picsellia.shapes import kind_of

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = ["coco_of_version"]

_UNSET: Any = msgspec.UNSET
_ABSENT = msgspec.Raw()


class _RoiMeta(msgspec.Struct, gc=False, rename={
        "annotation": "_annotation", "type": "_type", "shape": "_shape", "text": "_text",
        "attributes": "_attributes", "object": "_object"}):
    annotation: Any = None
    type: str | None = None
    shape: str | None = None
    text: Any = None
    attributes: msgspec.Raw = _ABSENT  # present: the general path
    object: msgspec.Raw = _ABSENT


class _Roi(msgspec.Struct, gc=False):
    label: list[str] | None = None
    meta: _RoiMeta | None = None
    poly: list[int | float] | msgspec.UnsetType = _UNSET
    mask: msgspec.Raw = _ABSENT


class _AnnEntry(msgspec.Struct, gc=False):
    id: str
    attributes: Any = None


class _Meta(msgspec.Struct, gc=False, rename={"annotations": "_annotations"}):
    annotations: list[_AnnEntry] | None = None


class _Record(msgspec.Struct, gc=False):
    id: str
    rois: list[_Roi] | None = None
    meta: _Meta | None = None


_decode = msgspec.msgpack.Decoder(_Record).decode


class _Numbers(dict[float, int | float]):
    """``fmt_number`` of each number, remembered (equal numbers give equal results)."""

    def __missing__(self, value: float) -> int | float:
        out = self[value] = fmt_number(value)
        return out


class _GiveUp(Exception):
    """The general path must make the whole export (it raises what it raises)."""


class _Misfit(Exception):
    """An asset the fast pass does not cover: the general path makes its image."""


def coco_of_version(version: DatasetVersion, aset: AnnotationSet, key: AnnotationExportKey,
                    base: int, unsupported: Unsupported, source: str | None
                    ) -> dict[str, Any] | None:
    """The COCO dict of every asset's newest annotation, or None to use the general path.

    Args:
        version: the version.
        aset: its labels and the label fields imports recorded (no images).
        key: what names each image.
        base: the first category id given to a label without a recorded one.
        unsupported: what to do with lines and points.
        source: the file written, for messages.

    Returns:
        ``coco_dict(to_annotation_set(version), ...)``, or None when the general path must
        make it (an error to report, records out of the index's order).
    """
    index = asset_index(version)
    try:
        with paused_gc():
            images, annotations, labels, object_ids = _Pass(version, index, key, unsupported,
                                                            source).run()
    except _GiveUp:
        return None
    names = list(dict.fromkeys([*aset.labels, *labels]))
    cat_ids = category_ids(aset, names, base)
    for a in annotations:
        a["category_id"] = cat_ids[a["category_id"]]
    if any(i is not None for i in object_ids):
        for a, aid in zip(annotations, assign_ids(object_ids, 1), strict=True):
            a["id"] = aid
    out = coco_header(aset)
    out["images"] = images
    out["annotations"] = annotations
    out["categories"] = categories(aset, cat_ids)
    return out


class _Pass:
    """One pass over the records: the ``images`` and ``annotations`` lists, with the label
    name in place of each category id."""

    def __init__(self, version: DatasetVersion, index: AssetIndex, key: AnnotationExportKey,
                 unsupported: Unsupported, source: str | None) -> None:
        self.version, self.index, self.key = version, index, key
        self.unsupported, self.source = unsupported, source
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.labels: dict[str, None] = {}
        self.object_ids: list[int | str | None] = []
        self.kinds: dict[tuple[Any, ...], str | None] = {}
        self.numbers = _Numbers()

    def run(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, None],
                           list[int | str | None]]:
        index = self.index
        ids, widths, heights = (index.column(n) for n in ("id", "width", "height"))
        annotated, names = index.column("status"), self._names()
        records = self.version.store.repo.layers.items(index.root)
        for row, (_key, raw) in enumerate(_counted(records, len(index))):
            if not annotated[row]:
                continue  # no annotation: not exported
            width, height, name = widths[row], heights[row], names[row]
            if not width or not height or not _plain_name(name):
                raise _GiveUp  # the general path says what is wrong
            try:
                self._fast(raw, ids[row], name, width, height)
            except _Misfit:
                self._general(raw, index.entry(row))
        return self.images, self.annotations, self.labels, self.object_ids

    def _names(self) -> list[str]:
        """The image name of each row, by export key (``interchange.image_name``)."""
        index, key = self.index, self.key
        if key == AnnotationExportKey.FILENAME:
            return index.column("filename")
        if key == AnnotationExportKey.OBJECT_NAME:
            return index.column("object_name")
        exts = [posixpath.splitext(f)[1] for f in index.column("filename")]
        ids = index.column("id")
        if key == AnnotationExportKey.ASSET_ID:
            return [i + e for i, e in zip(ids, exts, strict=True)]
        return [(d or i) + e for d, i, e in zip(index.column("data_id"), ids, exts, strict=True)]

    def _fast(self, raw: bytes, asset_id: str, name: str, width: int, height: int) -> None:
        # The hot loop of an export: kept to plain attribute reads and dict lookups.
        try:
            rec = _decode(raw)
        except msgspec.ValidationError:
            raise _Misfit from None
        listed = None if rec.meta is None else rec.meta.annotations
        if rec.id != asset_id:
            raise _GiveUp  # records out of the index's order
        if not listed or len(listed) != 1:
            raise _Misfit
        entry = listed[0]
        try:
            boxes = self._boxes(rec.rois or (), entry.id)
        except OverflowError:
            raise _GiveUp from None
        iid = len(self.images) + 1
        image = {"id": iid, "file_name": name, "width": width, "height": height,
                 "asset_id": asset_id}
        attributes = entry.attributes
        if attributes and attributes.__class__ is dict:
            image["attributes"] = attributes
        self.images.append(image)
        labels, out, numbers = self.labels, self.annotations, self.numbers
        aid = len(out)
        for label, x, y, w, h, text in boxes:
            aid += 1
            labels[label] = None
            bbox = [numbers[x], numbers[y], numbers[w], numbers[h]]
            ann = {"id": aid, "image_id": iid, "category_id": label, "iscrowd": 0,
                   "bbox": bbox, "area": numbers[bbox[2] * bbox[3]], "segmentation": []}
            if text.__class__ is str:
                ann["utf8_string"] = text
            out.append(ann)
        self.object_ids.extend(repeat(None, len(boxes)))

    def _boxes(self, rois: Iterable[_Roi], aid: str) -> list[tuple[Any, ...]]:
        """``(label, x, y, w, h, text)`` of each box of annotation ``aid``, leaving out the
        ROIs that are no shape or have no label; _Misfit for any other shape."""
        out = []
        for roi in rois:
            m = roi.meta
            if m is None:
                raise _Misfit
            if m.type != "b2d" or m.shape is not None:  # else a rectangle, whatever it holds
                key = (m.type, m.shape, roi.poly is not _UNSET, roi.mask is not _ABSENT)
                kind = self.kinds.get(key, "")
                if kind == "":
                    kind = self.kinds[key] = kind_of(*key)
                if kind is None:
                    continue
                if kind != "rectangle":
                    raise _Misfit
            if m.annotation != aid or m.attributes is not _ABSENT or m.object is not _ABSENT:
                raise _Misfit
            labels = roi.label
            if not labels:
                continue
            label, poly = labels[0], roi.poly
            if not label or len(poly) < 6:  # type: ignore[arg-type]
                raise _Misfit
            x, y = poly[0], poly[1]  # type: ignore[index]
            w, h = poly[4] - x, poly[5] - y  # type: ignore[index]
            if w < 0 or h < 0 or not math.isfinite(math.fsum((x, y, w, h))):
                raise _GiveUp
            out.append((label, x, y, w, h, m.text))
        return out

    def _general(self, raw: bytes, entry: Any) -> None:
        """The image of an asset the fast pass does not cover, as ``coco_dict`` makes it."""
        from vstore.picsellia.interchange import asset_image

        record = decode_record(raw, validate=False)
        if record.get("id") != entry.id:
            raise _GiveUp  # records out of the index's order
        image = asset_image(entry, record, self.key)
        if image is None:
            return
        try:
            self._add(image)
        except Exception:  # the general path reports it, in its own order
            raise _GiveUp from None

    def _add(self, image: ImageAnnotations) -> None:
        where = f"image {image.filename!r}"
        for shape in image.shapes:
            check_shape(shape, self.source, where)
        objects = list(coco_objects(image, self.unsupported, self.source))
        iid = len(self.images) + 1
        self.images.append(image_dict(image, iid, self.source))
        self.labels.update(dict.fromkeys(s.label for s in image.shapes))
        for obj in objects:
            self.annotations.append(obj.to_dict(len(self.annotations) + 1, iid, obj.label))
            self.object_ids.append(obj.id)


def _counted(records: Iterable[tuple[bytes, bytes]], rows: int) -> Iterator[tuple[bytes, bytes]]:
    """The records, checked to be as many as the index's rows."""
    n = 0
    for item in records:
        n += 1
        if n > rows:
            raise _GiveUp
        yield item
    if n != rows:
        raise _GiveUp


def _plain_name(name: object) -> bool:
    """Whether ``check_name`` accepts an image name (a quick test first)."""
    if (isinstance(name, str) and ".." not in name and "\x00" not in name
            and name[:1] not in ("/", "\\") and name[1:2] != ":" and name.strip()):
        return True
    try:
        check_name(name, what="image file name", source=None)
    except Exception:  # refused: the general path reports it
        return False
    return True
