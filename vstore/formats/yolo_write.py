"""YOLO writing: :func:`write_yolo` (described in :mod:`.yolo`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from vstore.errors import FormatError
from vstore.formats.geometry import rescaled
from vstore.formats.model import AnnotationSet, Box, ImageAnnotations, Point, Shape
from vstore.formats.paths import check_name, write_files
from vstore.gcpause import paused_gc

__all__ = ["SPLITS", "SPLIT_ALIASES", "Layout", "Unsupported", "write_yolo"]

SPLITS = ("train", "val", "test")
"""The split keys of ``data.yaml``; Ultralytics wants ``val``, never ``validation``."""
SPLIT_ALIASES = {"validation": "val", "valid": "val"}
"""Split keys other tools write, read as the split they stand for."""

_LAYOUT_KEYS = frozenset(("names", "nc", "path", *SPLITS, *SPLIT_ALIASES))

Layout = Literal["flat", "splits"]
Unsupported = Literal["error", "skip"]


@paused_gc()
def write_yolo(
    aset: AnnotationSet,
    target_dir: str | os.PathLike[str],
    *,
    layout: Layout = "flat",
    default_split: str = "train",
    unsupported: Unsupported = "error",
) -> list[Path]:
    """Write ``data.yaml`` and one label file per image, checking everything first.

    Args:
        aset: the annotations (pixel coordinates are normalized with each image's size).
        target_dir: the dataset folder (created if needed).
        layout: ``"flat"``: ``<stem>.txt`` next to ``data.yaml``; ``"splits"``:
            ``labels/<split>/<stem>.txt``, the split taken from ``image.extra["split"]``,
            and ``train`` / ``val`` / ``test`` keys pointing at ``images/<split>``
            (``train`` and ``val`` are always written, as Ultralytics needs both: a split
            without images points at the other one's).
        default_split: the split of images without one, in the ``"splits"`` layout.
        unsupported: what to do with shapes other than boxes and polygons: ``"error"``
            raises, ``"skip"`` leaves them out.

    Returns:
        The paths written, ``data.yaml`` first.

    Raises:
        FormatError: an image lacks its size, a shape is malformed or unsupported, a split
            is not train / val / test, or two images would share one label file; nothing
            is written.
        UnsafePathError: an image name would leave ``target_dir``; nothing is written.
    """
    src = os.fspath(target_dir)
    aset = rescaled(aset, normalized=True, source=src)
    classes = _class_indexes(aset)
    files: dict[str, bytes] = {"data.yaml": b""}
    splits: set[str] = set()
    for image in aset.images:
        name = _label_name(image, layout, default_split, src, splits)
        if name in files:
            raise FormatError(f"two images would write the label file {name}", src)
        rows = [_format_row(s, classes, image, unsupported, src) for s in image.shapes]
        files[name] = "".join(f"{r}\n" for r in rows if r is not None).encode("utf-8")
    config = _config(aset, classes, layout, splits)
    try:
        files["data.yaml"] = yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode()
    except (yaml.YAMLError, ValueError) as e:
        raise FormatError(f"cannot write data.yaml: {e}", src) from None
    return write_files(target_dir, files, what="YOLO label file")


def _class_indexes(aset: AnnotationSet) -> dict[str, int]:
    labels = aset.all_labels()
    kept = {n: aset.class_ids[n] for n in labels if n in aset.class_ids}
    if len(kept) == len(labels) and sorted(kept.values()) == list(range(len(labels))):
        return kept
    return {name: i for i, name in enumerate(labels)}


def _label_name(
    image: ImageAnnotations, layout: Layout, default: str, src: str, splits: set[str]
) -> str:
    check_name(image.filename, what="image file name", source=src)
    stem = (
        image.filename.rsplit(".", 1)[0]
        if "." in image.filename.rsplit("/", 1)[-1]
        else image.filename
    )
    if layout == "flat":
        return f"{stem}.txt"
    split = str(image.extra.get("split") or default)
    if split not in SPLITS:
        hint = " (Ultralytics reads 'val')" if split in SPLIT_ALIASES else ""
        raise FormatError(
            f"image {image.filename!r}: split {split!r} is not one of {SPLITS}{hint}", src
        )
    splits.add(split)
    return f"labels/{split}/{stem}.txt"


def _format_row(
    shape: Shape,
    classes: Mapping[str, int],
    image: ImageAnnotations,
    unsupported: Unsupported,
    src: str,
) -> str | None:
    if shape.kind == "rectangle":
        x, y, w, h = cast(Box, shape.coords)
        x0, y0, x1, y1 = (_clip(v) for v in (x, y, x + w, y + h))
        values = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
    elif shape.kind == "polygon":
        values = [_clip(v) for p in cast(list[Point], shape.coords) for v in p]
    elif unsupported == "skip":
        return None
    else:
        raise FormatError(
            f"image {image.filename!r}: YOLO writes boxes and polygons, not "
            f"{shape.kind}; pass unsupported='skip' to leave them out",
            src,
        )
    if shape.score is not None:
        values.append(_clip(shape.score))
    return " ".join([str(classes[shape.label]), *(_fixed(v) for v in values)])


def _fixed(value: float) -> str:
    # Fixed-point: some readers choke on "1e-05"; 8 decimals keep 1e-4 px on a 10k image.
    return f"{value:.8f}".rstrip("0").rstrip(".")


def _clip(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)


def _config(
    aset: AnnotationSet, classes: Mapping[str, int], layout: Layout, splits: set[str]
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if aset.source_format in (None, "yolo"):
        config.update({k: v for k, v in aset.extra.items() if k not in _LAYOUT_KEYS})
    if layout == "splits":
        for split in SPLITS:
            if split in splits:
                config[split] = f"images/{split}"
        # Ultralytics needs both keys; a missing one points at the other's images.
        if "train" in config and "val" not in config:
            config["val"] = config["train"]
        elif "val" in config and "train" not in config:
            config = {"train": config["val"], **config}
    config["nc"] = len(classes)
    config["names"] = sorted(classes, key=classes.__getitem__)
    return config
