"""YOLO (Ultralytics ``data.yaml`` + one ``.txt`` per image): read and write.

Layouts read by :func:`read_yolo` (``source`` is the ``data.yaml`` or the folder holding it):

- **splits**: ``data.yaml`` has ``train`` / ``val`` / ``test`` keys (``validation`` and
  ``valid`` are read as ``val``), each a folder or a list of folders, relative to ``path``
  (itself relative to the yaml's folder) or to the yaml's folder. Label files are looked for
  where Ultralytics looks: the last ``images`` folder of the image path swapped for
  ``labels``, or next to the images. A folder written ``../x`` that does not exist is also
  tried as ``x``, as Ultralytics does for Roboflow exports;
- **flat**: no split key: the ``.txt`` files and images sit next to ``data.yaml`` (or in
  sub-folders, matched by relative path);
- **explicit**: ``label_files=[...]`` names the label files; images are looked for next to
  them or in the parallel ``images`` folder.

``names`` is a list or an ``{index: name}`` dict; ``nc``, when present, must agree. Each
row is ``class cx cy w h`` (a box) or ``class x1 y1 x2 y2 x3 y3 ...`` (a polygon, 3 points or
more), optionally followed by a confidence; values are fractions of the image size in
[0, 1]. Blank lines are skipped and an empty file is an image without objects.

YOLO stores no image size, so pixel coordinates need one per image with objects: from
``image_sizes`` (keyed by file name, base name or stem), else from the image file's header. Pass
``normalized=True`` to get fractions instead (:attr:`AnnotationSet.normalized` is then
true). Nothing found, or images and label files that never match, is an error naming the
folders searched. Every folder and file read must resolve inside ``root`` (by default the
yaml's folder).

:func:`write_yolo` writes ``data.yaml`` (``names`` as a list, and ``nc``) and one ``.txt``
per image, an empty one for images without objects, all checked before any is written:
flat (``<stem>.txt`` next to ``data.yaml``, the layout of the original exporter) or in
``labels/<split>/`` folders with ``train`` / ``val`` / ``test`` keys. Boxes and polygons are
written; other shapes are refused (``unsupported="error"``) or left out (``"skip"``).
Coordinates are clipped to the image and written in fixed point with 8 decimals.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vstore.errors import FormatError, InvalidArgumentError
from vstore.formats.errors import UnsafePathError
from vstore.formats.geometry import rescaled
from vstore.formats.imagesize import IMAGE_EXTENSIONS, image_size
from vstore.formats.model import AnnotationSet, ImageAnnotations, Shape
from vstore.formats.paths import read_text
from vstore.formats.yolo_write import SPLIT_ALIASES, SPLITS, write_yolo
from vstore.gcpause import paused_gc

__all__ = ["SPLITS", "read_yolo", "read_yolo_names", "write_yolo"]

# Ultralytics accepts a coordinate a hair outside [0, 1] from float round-off.
_SLACK = 1e-6


@dataclass
class _Entry:
    """One image: its name, where its image and label files are, its split."""

    name: str
    image: Path | None
    label: Path | None
    split: str | None


def read_yolo_names(path: str | os.PathLike[str]) -> AnnotationSet:
    """Read the class names of a ``data.yaml``.

    Args:
        path: the yaml file.

    Returns:
        A set with :attr:`~AnnotationSet.labels` in class order, their
        :attr:`~AnnotationSet.class_ids`, the other yaml keys in ``extra``, and no images.

    Raises:
        FileNotFoundError: the file does not exist.
        FormatError: the yaml does not parse, or ``names`` / ``nc`` are missing or wrong.
    """
    src = os.fspath(path)
    try:
        data = yaml.safe_load(read_text(src))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise FormatError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}", src, line
        ) from None
    except (RecursionError, ValueError) as e:
        raise FormatError(f"not valid YAML: {e}", src) from None
    if not isinstance(data, dict):
        raise FormatError("data.yaml must hold a mapping with 'names'", src)
    ids = _names(data.get("names"), src)
    nc = data.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc != len(ids)):
        raise FormatError(f"nc is {_brief(nc)} but names lists {len(ids)} classes", src)
    extra = {str(k): v for k, v in data.items() if k not in ("names", "nc")}
    labels = sorted(ids, key=ids.__getitem__)
    return AnnotationSet(labels=labels, class_ids=ids, extra=extra, source_format="yolo")


def _names(value: object, src: str) -> dict[str, int]:
    if isinstance(value, list):
        pairs = list(enumerate(value))
    elif isinstance(value, dict):
        pairs = [(_class_key(k, src), v) for k, v in value.items()]
    else:
        raise FormatError("names must be a list or an {index: name} mapping", src)
    ids: dict[str, int] = {}
    indexes: set[int] = set()
    for index, name in pairs:
        if isinstance(name, bool) or not isinstance(name, (str, int, float)) or name == "":
            raise FormatError(f"class {index} has no usable name: {_brief(name)}", src)
        if str(name) in ids:
            raise FormatError(f"class name {name!r} appears twice in names", src)
        if index in indexes:
            raise FormatError(f"class index {index} appears twice in names", src)
        indexes.add(index)
        ids[str(name)] = index
    return ids


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring = 2, 4, 4, 60


def _brief(value: object) -> str:
    # YAML aliases share nodes, so a 1 KiB file can hold a list whose repr is gigabytes.
    return _REPR.repr(value)


def _class_key(key: object, src: str) -> int:
    if isinstance(key, str) and key.strip().isdigit():
        return int(key)
    if isinstance(key, bool) or not isinstance(key, int) or key < 0:
        raise FormatError(f"names keys must be class indexes 0, 1, ..., got {key!r}", src)
    return key


@paused_gc()
def read_yolo(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    label_files: Sequence[str | os.PathLike[str]] | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    normalized: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> AnnotationSet:
    """Read a YOLO dataset: ``data.yaml`` and the label files it leads to.

    Args:
        source: the ``data.yaml`` file, or the folder that holds it.
        split: read only this split (``train``, ``val`` or ``test``); default all.
        label_files: read exactly these label files instead of the yaml's folders.
        image_sizes: ``(width, height)`` per image, keyed by file name, base name or stem;
            images missing from it are measured from their file header.
        normalized: return coordinates as fractions of the image size, needing no size.
        root: the folder every file read must stay in; default the yaml's folder.

    Returns:
        The annotations, one image per image file or label file found, each with
        ``extra["split"]`` when read from a split folder.

    Raises:
        FileNotFoundError: ``source`` or a given label file does not exist.
        FormatError: a malformed yaml or label row (naming file and line), nothing found,
            or an image with objects whose size is unknown.
        UnsafePathError: a folder or file would leave ``root``.
        InvalidArgumentError: ``image_sizes`` holds a size that is not positive.
    """
    yaml_path = _yaml_path(Path(source))
    aset = read_yolo_names(yaml_path)
    base = Path(root) if root is not None else yaml_path.parent
    if label_files is not None:
        entries = [_explicit_entry(Path(p)) for p in label_files]
    else:
        entries = _scan(aset.extra, yaml_path, base, split)
    classes = {i: name for name, i in aset.class_ids.items()}
    for entry in entries:
        shapes = [] if entry.label is None else _read_label_file(entry.label, classes)
        extra: dict[str, Any] = {} if entry.split is None else {"split": entry.split}
        aset.images.append(ImageAnnotations(entry.name, shapes=shapes, extra=extra))
    aset.normalized = True
    if normalized:
        return aset
    sizes = _size_lookup(image_sizes)
    for entry, image in zip(entries, aset.images, strict=True):
        size = _size(entry, sizes)
        if size is None and image.shapes:
            where = entry.label or entry.image
            raise FormatError(
                f"size of image {entry.name!r} unknown; pass image_sizes= or normalized=True",
                None if where is None else os.fspath(where),
            )
        image.width, image.height = size or (None, None)
    return rescaled(aset, normalized=False, source=os.fspath(yaml_path))


def _yaml_path(source: Path) -> Path:
    if not source.is_dir():
        if not source.exists():
            raise FileNotFoundError(f"no YOLO data.yaml at {source}")
        return source
    for name in ("data.yaml", "data.yml"):
        if (source / name).is_file():
            return source / name
    raise FileNotFoundError(f"no data.yaml in {source}")


def _explicit_entry(label: Path) -> _Entry:
    if not label.is_file():
        raise FileNotFoundError(f"no YOLO label file at {label}")
    image = _image_for(label)
    return _Entry(label.stem if image is None else image.name, image, label, None)


def _image_for(label: Path) -> Path | None:
    parts = list(label.parent.parts)
    folders = [label.parent]
    if "labels" in parts:
        i = len(parts) - 1 - parts[::-1].index("labels")
        folders.append(Path(*parts[:i], "images", *parts[i + 1 :]))
    for folder in folders:
        for ext in sorted(IMAGE_EXTENSIONS):
            for candidate in (folder / (label.stem + ext), folder / (label.stem + ext.upper())):
                if candidate.is_file():
                    return candidate
    return None


def _scan(config: dict[str, Any], yaml_path: Path, root: Path, only: str | None) -> list[_Entry]:
    src = os.fspath(yaml_path)
    splits: dict[str, Any] = {}
    for key in SPLITS:
        aliases = [a for a, target in SPLIT_ALIASES.items() if target == key]
        value = next((config[k] for k in (key, *aliases) if config.get(k)), None)
        if value is not None:
            splits[key] = value
    if only is not None:
        if only not in splits:
            raise FormatError(f"split {only!r} is not in data.yaml (it has {sorted(splits)})", src)
        splits = {only: splits[only]}
    if not splits:
        return _scan_folder(yaml_path.parent, yaml_path.parent, root, None, src)
    base = yaml_path.parent
    path = config.get("path")
    if isinstance(path, str) and path:
        base = base / path
        _inside(base, root, src)
    entries: list[_Entry] = []
    scanned: set[str] = set()
    for name, value in splits.items():
        folders = value if isinstance(value, list) else [value]
        for folder in folders:
            if not isinstance(folder, str) or not folder:
                raise FormatError(f"{name} must be a folder or a list of folders", src)
            images = _split_folder(base, folder, root, src)
            # A folder named by two splits (val: the train images) is read once.
            if os.path.realpath(images) not in scanned:
                scanned.add(os.path.realpath(images))
                entries += _scan_folder(images, _labels_folder(images), root, name, src)
    return entries


def _split_folder(base: Path, folder: str, root: Path, src: str) -> Path:
    path = base / folder
    if not path.exists() and folder.startswith("../") and (base / folder[3:]).exists():
        path = base / folder[3:]
    _inside(path, root, src)
    if path.is_file():
        raise FormatError(f"split {folder!r} is a file; only folders of images are read", src)
    return path


def _inside(path: str | os.PathLike[str], root: str | os.PathLike[str], src: str) -> str:
    """Return the resolved ``path``, or raise if it leaves ``root`` (resolved too)."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if real != real_root and os.path.commonpath([real, real_root]) != real_root:
        raise UnsafePathError(
            f"{path} resolves to {real}, outside {real_root} (a symlink or '..'?); "
            "pass root= to allow it",
            src,
        )
    return real


def _labels_folder(images: Path) -> Path:
    parts = list(images.parts)
    if "images" not in parts:
        return images
    i = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:i], "labels", *parts[i + 1 :])


def _scan_folder(
    images: Path, labels: Path, root: Path, split: str | None, src: str
) -> list[_Entry]:
    found_images = _files(images, root, lambda n: _suffix(n) in IMAGE_EXTENSIONS)
    found_labels = _files(labels, root, lambda n: n.endswith(".txt") and n != "classes.txt")
    if not found_images and not found_labels:
        raise FormatError(
            f"no images ({images}/**/*.jpg, *.png, ...) and no label files ({labels}/**/*.txt) "
            "found; check the folders in data.yaml",
            src,
        )
    if found_images and found_labels and not found_images.keys() & found_labels.keys():
        raise FormatError(
            f"no label file under {labels} matches an image under {images} (labels are matched "
            "to images by name, in a 'labels' folder parallel to 'images')",
            src,
        )
    entries = []
    for key in sorted(found_images.keys() | found_labels.keys()):
        image = found_images.get(key)
        name = key if image is None else image.relative_to(images).as_posix()
        entries.append(_Entry(name, image, found_labels.get(key), split))
    return entries


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _files(folder: Path, root: Path, keep: Callable[[str], bool]) -> dict[str, Path]:
    """Map ``relative/path/stem`` → file for the files under ``folder`` whose name ``keep`` takes.

    Each folder is resolved once; a file is resolved on its own only when it is a symlink.
    """
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    real_root = os.path.realpath(root)
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real_dir = _inside(dirpath, real_root, os.fspath(folder))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if real_dir in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real_dir)
        rel_dir = os.path.relpath(dirpath, folder).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in filenames:
            if name.startswith(".") or not keep(name):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                _inside(full, real_root, os.fspath(folder))
                if not os.path.isfile(full):
                    continue
            found[prefix + name.rsplit(".", 1)[0]] = Path(full)
    return found


def _read_label_file(path: Path, classes: Mapping[int, str]) -> list[Shape]:
    src = os.fspath(path)
    shapes = []
    for lineno, line in enumerate(read_text(src).splitlines(), 1):
        parts = line.split()
        if parts:
            shapes.append(_row(parts, classes, src, lineno))
    return shapes


def _row(parts: list[str], classes: Mapping[int, str], src: str, line: int) -> Shape:
    try:
        cls_value = float(parts[0])
        values = [float(v) for v in parts[1:]]
    except ValueError:
        raise FormatError(f"a row holds numbers only, got {' '.join(parts)!r}", src, line) from None
    if not cls_value.is_integer() or int(cls_value) not in classes:
        raise FormatError(
            f"class index {parts[0]} is not in data.yaml names (0..{len(classes) - 1})", src, line
        )
    label = classes[int(cls_value)]
    n = len(values)
    if n < 4:
        raise FormatError(f"a row needs 4 box values or 6+ polygon values, got {n}", src, line)
    if any(not math.isfinite(v) or not -_SLACK <= v <= 1 + _SLACK for v in values):
        raise FormatError(
            f"values must be fractions in [0, 1], got {' '.join(parts[1:])}", src, line
        )
    values = [min(max(v, 0.0), 1.0) for v in values]
    score = values.pop() if n in (5, 7) or (n > 7 and n % 2) else None
    if len(values) == 4:
        cx, cy, w, h = values
        x0, y0 = max(cx - w / 2, 0.0), max(cy - h / 2, 0.0)
        x1, y1 = min(cx + w / 2, 1.0), min(cy + h / 2, 1.0)
        return Shape("rectangle", label, (x0, y0, x1 - x0, y1 - y0), score)
    points = list(zip(values[::2], values[1::2], strict=True))
    return Shape("polygon", label, points, score)


def _size_lookup(sizes: Mapping[str, tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
    """Index sizes by the name given, its base name and its stem."""
    lookup = dict(sizes or {})
    for key, value in (sizes or {}).items():
        base = key.rsplit("/", 1)[-1]
        lookup.setdefault(base, value)
        lookup.setdefault(base.rsplit(".", 1)[0], value)
    return lookup


def _size(entry: _Entry, sizes: Mapping[str, tuple[int, int]]) -> tuple[int, int] | None:
    for key in (entry.name, entry.name.rsplit("/", 1)[-1], Path(entry.name).stem):
        if key in sizes:
            width, height = sizes[key]
            if width <= 0 or height <= 0:
                raise InvalidArgumentError(
                    f"image_sizes gives {entry.name!r} the size {sizes[key]}; sizes are positive"
                )
            return int(width), int(height)
    return None if entry.image is None else image_size(entry.image)
