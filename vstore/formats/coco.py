"""COCO JSON: read a file into an :class:`AnnotationSet` and write one back.

Reading (:func:`read_coco`, or :func:`parse_coco` for an already decoded dict):

- categories become :attr:`AnnotationSet.labels`, in file order; their ids go to
  :attr:`AnnotationSet.category_ids` and their other keys (``supercategory``, ``keypoints``,
  ``skeleton``) to :attr:`AnnotationSet.label_info`;
- each annotation becomes: one ``polygon`` shape per segmentation ring, or a ``mask`` for an
  RLE segmentation; plus a ``keypoints`` shape when it has keypoints; a ``rectangle`` when
  it has only a ``bbox``; a ``classification`` when it has no geometry. Every shape keeps the
  annotation ``id``, ``score``, ``utf8_string`` (as text), ``iscrowd`` (when 1), its
  ``attributes`` and any unknown key as attributes. ``area`` and ``num_keypoints`` are
  derived data and are recomputed on write;
- an unknown ``image_id`` or ``category_id``, a bad box, ring, RLE or keypoint list, a
  duplicate id and a file name that leaves the folder are errors naming file and line.

Writing (:func:`coco_dict`, :func:`write_coco`):

- category ids are the ones read (``keep_ids=True``); labels without one are numbered from
  ``category_id_base`` (1 by default, as COCO tools expect; pass 0 for the 0-based numbering
  of the original exporter), skipping ids already taken. Image and annotation ids are kept
  the same way, fresh ones counting from 1;
- ``iscrowd`` is always written; ``bbox`` is always the tight box around the geometry and
  ``area`` is the box area for rectangles and keypoints, the polygon area (shoelace) for
  polygons and the pixel count for RLE masks, so the two always agree;
- free-form attributes go under the annotation's ``attributes`` key, where they cannot
  collide with COCO's own keys;
- every image needs ``width`` and ``height``; lines and points have no COCO form and are
  refused (``unsupported="error"``) or left out (``"skip"``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any, cast

from vstore.errors import FormatError
from vstore.formats.coco_write import IMAGE_KEYS, SECTIONS, coco_dict, write_coco
from vstore.formats.geometry import number, rle_counts
from vstore.formats.imagesize import image_size
from vstore.formats.model import AnnotationSet, Box, ImageAnnotations, Keypoint, Rle, Shape
from vstore.formats.paths import check_name, read_text, safe_join
from vstore.gcpause import paused_gc

__all__ = ["coco_dict", "parse_coco", "read_coco", "write_coco"]

_ANN_KEYS = frozenset(
    (
        "id",
        "image_id",
        "category_id",
        "bbox",
        "segmentation",
        "keypoints",
        "num_keypoints",
        "area",
        "iscrowd",
        "score",
        "utf8_string",
        "attributes",
    )
)


class _Bad(Exception):
    """A semantic error at ``section[index]``; turned into a FormatError with a line."""

    def __init__(
        self,
        message: str,
        section: str | None,
        index: int | None,
        cls: type[FormatError] = FormatError,
    ) -> None:
        super().__init__(message)
        self.message, self.section, self.index, self.cls = message, section, index, cls


@paused_gc()
def read_coco(
    path: str | os.PathLike[str], *, image_dir: str | os.PathLike[str] | None = None
) -> AnnotationSet:
    """Read a COCO JSON file.

    Args:
        path: the JSON file.
        image_dir: the folder of the images, used to read the size of an image whose record
            has no ``width`` or ``height``.

    Returns:
        The annotations, with pixel coordinates.

    Raises:
        FileNotFoundError: the file does not exist.
        FormatError: the file is not JSON or not valid COCO; the message names the file, the
            line and the record (e.g. ``annotations[12]``).
        UnsafePathError: an image ``file_name`` would leave the dataset folder (lexically, or
            through a symlink under ``image_dir``).
    """
    src = os.fspath(path)
    text = read_text(src)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"not valid JSON: {e.msg} (column {e.colno})", src, e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise FormatError(f"not valid JSON: {e}", src) from None
    try:
        return _parse(data, image_dir)
    except _Bad as e:
        raise e.cls(e.message, src, _locate(text, e.section, e.index)) from None


@paused_gc()
def parse_coco(
    data: object,
    *,
    source: str | None = None,
    image_dir: str | os.PathLike[str] | None = None,
) -> AnnotationSet:
    """Build an :class:`AnnotationSet` from an already decoded COCO dict.

    Args:
        data: the decoded JSON.
        source: where it came from, for error messages.
        image_dir: see :func:`read_coco`.

    Raises:
        FormatError: ``data`` is not valid COCO (the message names the record).
    """
    try:
        return _parse(data, image_dir)
    except _Bad as e:
        raise e.cls(e.message, source) from None


def _parse(data: object, image_dir: str | os.PathLike[str] | None) -> AnnotationSet:
    if not isinstance(data, dict):
        raise _Bad("a COCO file holds a JSON object at the top", None, None)
    info = data.get("info") or {}
    if not isinstance(info, dict):
        raise _Bad("info must be an object", "info", None)
    extra = {k: v for k, v in data.items() if k not in SECTIONS}
    if extra.get("licenses") == []:
        del extra["licenses"]
    aset = AnnotationSet(info=info, extra=extra, source_format="coco")
    cats: dict[int, str] = {}
    for i, c in enumerate(_section(data, "categories")):
        _read_category(aset, c, i, cats)
    images: dict[int | str, ImageAnnotations] = {}
    for i, im in enumerate(_section(data, "images")):
        image = _read_image(im, i)
        if image.image_id in images:
            raise _Bad(f"images[{i}]: duplicate image id {image.image_id!r}", "images", i)
        images[cast(int | str, image.image_id)] = image
        aset.images.append(image)
        if image_dir is not None and (image.width is None or image.height is None):
            _measure(image, image_dir, i)
    for i, a in enumerate(_section(data, "annotations")):
        _read_annotation(a, i, images, cats)
    return aset


def _measure(image: ImageAnnotations, image_dir: str | os.PathLike[str], i: int) -> None:
    what = f"images[{i}] file_name"
    try:
        path = safe_join(image_dir, image.filename, what=what, source=None)
    except FormatError as e:
        raise _Bad(str(e), "images", i, type(e)) from None
    size = image_size(path)
    if size is not None:
        image.width, image.height = size


def _section(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{key} must be a list, got {type(value).__name__}", key, None)
    return value


def _record(value: object, section: str, i: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{section}[{i}] must be an object", section, i)
    return value


def _int(value: object, what: str, section: str, i: int) -> int:
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{section}[{i}]: {what} must be an integer, got {value!r}", section, i)
    return value


def _id(value: object, what: str, section: str, i: int) -> int | str:
    if isinstance(value, str):
        return value
    return _int(value, what, section, i)


def _read_category(aset: AnnotationSet, c: object, i: int, cats: dict[int, str]) -> None:
    rec = _record(c, "categories", i)
    cid = _int(rec.get("id"), "id", "categories", i)
    name = rec.get("name")
    if not isinstance(name, str) or not name:
        raise _Bad(f"categories[{i}]: name must be a non-empty string", "categories", i)
    if cid in cats or name in aset.category_ids:
        dup = f"id {cid}" if cid in cats else f"name {name!r}"
        raise _Bad(f"categories[{i}]: duplicate category {dup}", "categories", i)
    cats[cid] = name
    aset.labels.append(name)
    aset.category_ids[name] = cid
    extra = {k: v for k, v in rec.items() if k not in ("id", "name")}
    if extra.get("supercategory") == "":
        del extra["supercategory"]
    if extra:
        aset.label_info[name] = extra


def _read_image(im: object, i: int) -> ImageAnnotations:
    rec = _record(im, "images", i)
    image_id = _id(rec.get("id"), "id", "images", i)
    name = rec.get("file_name")
    try:
        check_name(name, what=f"images[{i}] file_name", source=None)
    except FormatError as e:
        raise _Bad(str(e), "images", i, type(e)) from None
    size = []
    for key in ("width", "height"):
        value = rec.get(key)
        if value is not None:
            value = _int(value, key, "images", i)
            if value <= 0:
                raise _Bad(f"images[{i}]: {key} must be positive, got {value}", "images", i)
        size.append(value)
    extra = {k: v for k, v in rec.items() if k not in IMAGE_KEYS}
    return ImageAnnotations(cast(str, name), size[0], size[1], [], image_id, extra)


def _read_annotation(
    a: object, i: int, images: dict[int | str, ImageAnnotations], cats: dict[int, str]
) -> None:
    rec = _record(a, "annotations", i)
    where = f"annotations[{i}]"
    image_id = _id(rec.get("image_id"), "image_id", "annotations", i)
    if image_id not in images:
        raise _Bad(f"{where}: unknown image_id {image_id!r}", "annotations", i)
    category_id = _int(rec.get("category_id"), "category_id", "annotations", i)
    if category_id not in cats:
        raise _Bad(f"{where}: unknown category_id {category_id}", "annotations", i)
    try:
        shapes = _shapes(rec, cats[category_id], where)
    except (FormatError, TypeError, ValueError, OverflowError) as e:
        raise _Bad(f"{where}: {e}", "annotations", i) from None
    images[image_id].shapes.extend(shapes)


def _shapes(rec: dict[str, Any], label: str, where: str) -> list[Shape]:
    ann_id = rec.get("id")
    if ann_id is not None and (isinstance(ann_id, bool) or not isinstance(ann_id, (int, str))):
        raise ValueError(f"id must be an integer or a string, got {ann_id!r}")
    score = rec.get("score")
    text = rec.get("utf8_string")
    if text is not None and not isinstance(text, str):
        raise ValueError("utf8_string must be a string")
    attributes = _attributes(rec)
    geometry: list[tuple[str, Any]] = list(_segmentation(rec.get("segmentation")))
    keypoints = rec.get("keypoints")
    if keypoints:
        geometry.append(("keypoints", _keypoints(keypoints)))
    if not geometry:
        box = _bbox(rec.get("bbox"))
        geometry.append(("rectangle", box) if box is not None else ("classification", None))
    return [
        Shape(
            kind,
            label,
            coords,
            None if score is None else number(score, "score", None),
            text,
            dict(attributes),
            ann_id,
        )
        for kind, coords in geometry
    ]


def _attributes(rec: dict[str, Any]) -> dict[str, Any]:
    attributes = rec.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ValueError("attributes must be an object")
    out = {k: v for k, v in rec.items() if k not in _ANN_KEYS}
    out.update(attributes)
    iscrowd = rec.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, float):
        raise ValueError(f"iscrowd must be 0 or 1, got {iscrowd!r}")
    if iscrowd:
        out["iscrowd"] = 1
    return out


def _floats(values: list[Any], what: str) -> list[float]:
    """Return JSON numbers as floats; raise ValueError on anything else or a non-finite one."""
    if not all(type(v) is int or type(v) is float for v in values):
        raise ValueError(f"{what} must be numbers, got {values!r}")
    if not math.isfinite(math.fsum(values)):
        raise ValueError(f"{what} must be finite, got {values!r}")
    return [float(v) for v in values]


def _bbox(value: object) -> Box | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"bbox must be [x, y, width, height], got {value!r}")
    x, y, w, h = _floats(value, "bbox values")
    if w < 0 or h < 0:
        raise ValueError(f"bbox width and height must not be negative, got {value!r}")
    return (x, y, w, h)


def _segmentation(value: object) -> Iterator[tuple[str, Any]]:
    if value is None or value == []:
        return
    if isinstance(value, dict):
        yield "mask", _rle(value)
        return
    if not isinstance(value, list):
        raise ValueError("segmentation must be a list of polygons or an RLE object")
    for ring in value:
        if ring == []:
            continue
        if not isinstance(ring, list) or len(ring) < 6 or len(ring) % 2:
            raise ValueError("a segmentation polygon needs an even count of 6 numbers or more")
        flat = _floats(ring, "polygon coordinates")
        yield "polygon", list(zip(flat[::2], flat[1::2], strict=True))


def _rle(value: dict[str, Any]) -> Rle:
    size, counts = value.get("size"), value.get("counts")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise ValueError(f"RLE size must be [height, width], got {size!r}")
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise ValueError("RLE counts must be integers")
        counts = tuple(counts)
    elif not isinstance(counts, str):
        raise ValueError("RLE counts must be a string or a list of integers")
    rle = Rle((size[0], size[1]), counts)
    rle_counts(rle)
    return rle


def _keypoints(value: object) -> list[Keypoint]:
    if not isinstance(value, list) or len(value) % 3:
        raise ValueError("keypoints must be a flat list of [x, y, visibility] triples")
    points: list[Keypoint] = []
    for j in range(0, len(value), 3):
        x, y = number(value[j], "keypoint x", None), number(value[j + 1], "keypoint y", None)
        v = value[j + 2]
        if v not in (0, 1, 2) or isinstance(v, bool):
            raise ValueError(f"keypoint visibility must be 0, 1 or 2, got {v!r}")
        points.append((x, y, int(v)))
    return points


def _locate(text: str, section: str | None, index: int | None) -> int | None:
    """Return the line where ``section[index]`` starts in the JSON text, if it can be found.

    Only called on an error, so the common path never pays for line tracking.
    """
    dec = json.JSONDecoder()
    try:
        pos = _ws(text, 0)
        if section is None or text[pos] != "{":
            return text.count("\n", 0, pos) + 1
        pos = _ws(text, pos + 1)
        while text[pos] != "}":
            key, pos = dec.raw_decode(text, pos)
            pos = _ws(text, _ws(text, pos) + 1)
            if key == section:
                return _element_line(text, pos, index, dec)
            pos = _ws(text, dec.raw_decode(text, pos)[1])
            pos = _ws(text, pos + 1) if text[pos] == "," else pos
    except (ValueError, IndexError, RecursionError):
        pass
    return None


def _element_line(text: str, pos: int, index: int | None, dec: json.JSONDecoder) -> int | None:
    if index is not None and text[pos] == "[":
        pos = _ws(text, pos + 1)
        for _ in range(index):
            pos = _ws(text, dec.raw_decode(text, pos)[1])
            if text[pos] != ",":
                return None
            pos = _ws(text, pos + 1)
    return text.count("\n", 0, pos) + 1


def _ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
