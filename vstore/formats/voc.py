"""Pascal VOC XML: one file per image, read safely and written with the full field set.

Reading (:func:`read_voc`, :func:`read_voc_dir`):

- files are parsed with defusedxml: a file that declares entities (an entity-expansion
  bomb) or references external entities raises :class:`UnsafeXMLError`; a parse error names
  the file and line;
- ``<filename>`` is required and must stay inside the folder; ``<size>`` may be missing (or
  zero), in which case the size is read from the image header when ``image_dir`` is given;
- each ``<object>`` becomes a ``polygon`` (``<polygon>`` with ``x1, y1, x2, y2, ...`` or
  ``<pt><x/><y/></pt>`` children), else a ``rectangle`` (``<bndbox>``: ``x = xmin``,
  ``w = xmax - xmin``, as written, with no 1-based offset), else a ``classification``;
- ``difficult``, ``truncated`` and ``occluded`` may be missing (0); they, and ``pose`` other
  than ``Unspecified``, go to the shape's attributes, with ``<attributes><attribute><name>
  <value>`` pairs (CVAT's layout; values read as strings), ``<score>`` and ``<text>``;
- :func:`read_voc_dir` reads every ``*.xml`` under a folder and skips other files (README,
  YOLO ``.txt`` files next to them); ``skip_difficult=True`` drops difficult objects.

Writing (:func:`voc_xml`, :func:`write_voc`, :func:`write_voc_dir`): ``folder``, ``filename``,
``source/database``, ``size`` (when known), ``segmented`` and, per object, ``name``, ``pose``,
``truncated``, ``difficult``, ``occluded``, ``bndbox`` (also for polygons) and ``polygon``.
Classifications are objects without a box; lines, points, keypoints and masks have no VOC
form and are refused (``unsupported="error"``) or left out (``"skip"``).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from vstore.errors import FormatError
from vstore.formats.errors import UnsafeXMLError
from vstore.formats.geometry import check_shape, fmt_number, number, rescaled, shape_bbox
from vstore.formats.imagesize import image_size
from vstore.formats.model import AnnotationSet, Box, ImageAnnotations, Point, Shape
from vstore.formats.paths import (
    atomic_write,
    check_name,
    read_limited,
    safe_join,
    write_files,
)
from vstore.gcpause import paused_gc

__all__ = ["read_voc", "read_voc_dir", "voc_xml", "write_voc", "write_voc_dir"]

Unsupported = Literal["error", "skip"]

_FLAGS = ("truncated", "difficult", "occluded")
# Defaults written when the image carries none; read back as "not given".
_UNSPECIFIED = "Unspecified"
_UNKNOWN = "Unknown"
_DEPTH = 3
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _LineBuilder(ET.TreeBuilder):
    """A tree builder that remembers the line each element starts on."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[int, int] = {}
        self.expat: Any = None

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        elem = super().start(tag, attrs)
        if self.expat is not None:
            self.lines[id(elem)] = self.expat.CurrentLineNumber
        return elem


class _Doc:
    """A parsed file: its root, element lines, and helpers that raise with file and line."""

    def __init__(self, src: str, root: ET.Element, lines: dict[int, int]) -> None:
        self.src, self.root, self.lines = src, root, lines

    def fail(self, elem: ET.Element, message: str) -> FormatError:
        return FormatError(message, self.src, self.lines.get(id(elem)))

    def text(self, parent: ET.Element, tag: str) -> str | None:
        child = parent.find(tag)
        if child is None or child.text is None or not child.text.strip():
            return None
        return child.text.strip()

    def number(self, parent: ET.Element, tag: str, *, required: bool) -> float | None:
        child = parent.find(tag)
        text = None if child is None or child.text is None else child.text.strip()
        if not text:
            if required:
                raise self.fail(parent, f"<{parent.tag}> has no <{tag}>")
            return None
        try:
            return number(float(text), f"<{tag}>", None)
        except (ValueError, FormatError):
            raise self.fail(
                child if child is not None else parent, f"<{tag}> must be a number, got {text!r}"
            ) from None


# ---------------------------------------------------------------------------------------------
# reading


def read_voc(
    path: str | os.PathLike[str],
    *,
    image_dir: str | os.PathLike[str] | None = None,
    skip_difficult: bool = False,
) -> ImageAnnotations:
    """Read one Pascal VOC XML file.

    Args:
        path: the XML file.
        image_dir: the folder of the images, used to read the size of an image whose file
            has no ``<size>``.
        skip_difficult: leave out objects marked ``difficult``.

    Returns:
        The image and its shapes, in pixels.

    Raises:
        FileNotFoundError: the file does not exist.
        FormatError: the XML does not parse or is not a VOC annotation (names file and line).
        UnsafeXMLError: the file declares entities or references external ones.
        UnsafePathError: ``<filename>`` would leave the folder.
    """
    doc = _parse(os.fspath(path))
    root = doc.root
    if root.tag != "annotation":
        raise doc.fail(root, f"the root element is <{root.tag}>, not <annotation>")
    filename = doc.text(root, "filename")
    if filename is None:
        raise doc.fail(root, "<annotation> has no <filename>")
    filename_elem = cast(ET.Element, root.find("filename"))
    line = doc.lines.get(id(filename_elem))
    check_name(filename, what="<filename>", source=doc.src, line=line)
    width, height = _size(doc)
    if (width is None or height is None) and image_dir is not None:
        found = image_size(
            safe_join(image_dir, filename, what="<filename>", source=doc.src, line=line)
        )
        width, height = found if found is not None else (width, height)
    shapes = [_object(doc, obj) for obj in root.findall("object")]
    if skip_difficult:
        shapes = [s for s in shapes if not s.attributes.get("difficult")]
    return ImageAnnotations(filename, width, height, shapes, None, _extra(doc))


@paused_gc()
def read_voc_dir(
    folder: str | os.PathLike[str],
    *,
    image_dir: str | os.PathLike[str] | None = None,
    skip_difficult: bool = False,
) -> AnnotationSet:
    """Read every ``*.xml`` file under a folder (other files are skipped).

    Args:
        folder: the folder of XML files (searched recursively, in name order).
        image_dir: see :func:`read_voc`.
        skip_difficult: see :func:`read_voc`.

    Returns:
        One image per file; labels in order of first appearance.

    Raises:
        FormatError: as :func:`read_voc`; also no XML file at all, or two files for one image.
    """
    root = Path(folder)
    paths = sorted(p for p in root.rglob("*.xml") if p.is_file() and not p.name.startswith("."))
    if not paths:
        raise FormatError(f"no Pascal VOC files ({root}/**/*.xml) found", os.fspath(root))
    aset = AnnotationSet(source_format="voc")
    seen: dict[str, Path] = {}
    for path in paths:
        safe_join(root, path.relative_to(root).as_posix(), what="file", source=root)
        image = read_voc(path, image_dir=image_dir, skip_difficult=skip_difficult)
        if image.filename in seen:
            raise FormatError(
                f"image {image.filename!r} is also annotated in {seen[image.filename]}",
                os.fspath(path),
            )
        seen[image.filename] = path
        aset.images.append(image)
    aset.labels = aset.all_labels()
    return aset


def _parse(src: str) -> _Doc:
    data = read_limited(src)
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as e:
        raise FormatError(
            f"not valid XML: {e.msg if hasattr(e, 'msg') else e}",
            src,
            e.position[0] if e.position else None,
        ) from None
    except defusedxml.DefusedXmlException as e:
        raise UnsafeXMLError(_refusal(e), src, parser.parser.CurrentLineNumber) from None
    except (ValueError, LookupError, RecursionError) as e:
        raise FormatError(f"not valid XML: {e}", src) from None
    return _Doc(src, root, builder.lines)


def _refusal(e: defusedxml.DefusedXmlException) -> str:
    system_id = getattr(e, "sysid", None) or getattr(e, "system_id", None)
    if system_id is not None:
        return f"references the external entity {system_id!r}; external entities are refused"
    if isinstance(e, defusedxml.EntitiesForbidden):
        name = getattr(e, "name", "?")
        return f"declares the entity {name!r}; entity declarations are refused (expansion bombs)"
    return f"refused unsafe XML: {e}"


def _size(doc: _Doc) -> tuple[int | None, int | None]:
    size = doc.root.find("size")
    if size is None:
        return None, None
    out: list[int | None] = []
    for tag in ("width", "height"):
        value = doc.number(size, tag, required=False)
        if value is not None and (value < 0 or not value.is_integer()):
            raise doc.fail(size, f"<{tag}> must be a whole number of pixels, got {value}")
        out.append(int(value) if value else None)
    return out[0], out[1]


def _extra(doc: _Doc) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key, tag in (("folder", "folder"), ("path", "path"), ("database", "source/database")):
        value = doc.text(doc.root, tag)
        if value is not None and (key, value) != ("database", _UNKNOWN):
            extra[key] = value
    size = doc.root.find("size")
    depth = None if size is None else doc.number(size, "depth", required=False)
    if depth is not None and depth != _DEPTH:
        extra["depth"] = int(depth)
    return extra


def _object(doc: _Doc, obj: ET.Element) -> Shape:
    label = doc.text(obj, "name")
    if label is None:
        raise doc.fail(obj, "<object> has no <name>")
    attributes: dict[str, Any] = {}
    for flag in _FLAGS:
        value = doc.number(obj, flag, required=False)
        if value:
            attributes[flag] = 1
    pose = doc.text(obj, "pose")
    if pose is not None and pose != _UNSPECIFIED:
        attributes["pose"] = pose
    for attr in obj.iterfind("attributes/attribute"):
        name = doc.text(attr, "name")
        if name is None:
            raise doc.fail(attr, "<attribute> has no <name>")
        attributes[name] = doc.text(attr, "value") or ""
    score = doc.number(obj, "score", required=False)
    text = doc.text(obj, "text")
    polygon, box = obj.find("polygon"), obj.find("bndbox")
    if polygon is not None:
        return Shape("polygon", label, _polygon(doc, polygon), score, text, attributes)
    if box is not None:
        return Shape("rectangle", label, _box(doc, box), score, text, attributes)
    return Shape("classification", label, None, score, text, attributes)


def _box(doc: _Doc, box: ET.Element) -> Box:
    x0, y0, x1, y1 = (
        cast(float, doc.number(box, t, required=True)) for t in ("xmin", "ymin", "xmax", "ymax")
    )
    if x1 < x0 or y1 < y0:
        raise doc.fail(box, f"bad coordinates: xmax/ymax ({x1}, {y1}) below xmin/ymin ({x0}, {y0})")
    return (x0, y0, x1 - x0, y1 - y0)


def _polygon(doc: _Doc, polygon: ET.Element) -> list[Point]:
    points: list[Point] = []
    if polygon.find("pt") is not None:
        for pt in polygon.iterfind("pt"):
            points.append(
                (
                    cast(float, doc.number(pt, "x", required=True)),
                    cast(float, doc.number(pt, "y", required=True)),
                )
            )
    else:
        i = 1
        while polygon.find(f"x{i}") is not None or polygon.find(f"y{i}") is not None:
            points.append(
                (
                    cast(float, doc.number(polygon, f"x{i}", required=True)),
                    cast(float, doc.number(polygon, f"y{i}", required=True)),
                )
            )
            i += 1
    if len(points) < 3:
        raise doc.fail(polygon, f"a <polygon> needs 3 points or more, got {len(points)}")
    return points


# ---------------------------------------------------------------------------------------------
# writing


def voc_xml(
    image: ImageAnnotations, *, unsupported: Unsupported = "error", source: str | None = None
) -> bytes:
    """Return the Pascal VOC XML of one image, UTF-8 encoded.

    Args:
        image: the image and its shapes, in pixels.
        unsupported: what to do with lines, points, keypoints and masks: ``"error"`` raises,
            ``"skip"`` leaves them out.
        source: the file being written, for error messages.

    Raises:
        FormatError: a shape is malformed or unsupported, or a text holds a character XML
            cannot carry.
    """
    check_name(image.filename, what="image file name", source=source)
    where = f"image {image.filename!r}"
    root = ET.Element("annotation")
    _sub(root, "folder", str(image.extra.get("folder", "")))
    _sub(root, "filename", image.filename)
    if "path" in image.extra:
        _sub(root, "path", str(image.extra["path"]))
    _sub(ET.SubElement(root, "source"), "database", str(image.extra.get("database", _UNKNOWN)))
    if image.width and image.height:
        size = ET.SubElement(root, "size")
        for tag, value in (
            ("width", image.width),
            ("height", image.height),
            ("depth", image.extra.get("depth", _DEPTH)),
        ):
            _sub(size, tag, str(value))
    segmented = _sub(root, "segmented", "0")
    for shape in _writable(image, unsupported, source, where):
        _write_object(root, shape)
        if shape.kind == "polygon":
            segmented.text = "1"
    for elem in root.iter():
        if elem.text and _NOT_XML.search(elem.text):
            raise FormatError(f"{where}: {elem.text!r} holds a character XML cannot carry", source)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return data + b"\n"


def write_voc(
    image: ImageAnnotations, path: str | os.PathLike[str], *, unsupported: Unsupported = "error"
) -> Path:
    """Write one image's Pascal VOC XML file, atomically.

    Args:
        image: the image and its shapes.
        path: the XML file to write (parent folders are created).
        unsupported: see :func:`voc_xml`.

    Returns:
        The path written.

    Raises:
        FormatError: as :func:`voc_xml`; nothing is written.
    """
    target = Path(path)
    atomic_write(target, voc_xml(image, unsupported=unsupported, source=os.fspath(target)))
    return target


@paused_gc()
def write_voc_dir(
    aset: AnnotationSet, target_dir: str | os.PathLike[str], *, unsupported: Unsupported = "error"
) -> list[Path]:
    """Write one ``<image stem>.xml`` per image under a folder, checking all before writing.

    Args:
        aset: the annotations (normalized coordinates are converted with the image sizes).
        target_dir: the folder (created if needed).
        unsupported: see :func:`voc_xml`.

    Returns:
        The paths written, in image order.

    Raises:
        FormatError: as :func:`voc_xml`, or two images would share one XML file; nothing
            is written.
        UnsafePathError: an image name would leave ``target_dir``; nothing is written.
    """
    src = os.fspath(target_dir)
    aset = rescaled(aset, normalized=False, source=src)
    files: dict[str, bytes] = {}
    for image in aset.images:
        check_name(image.filename, what="image file name", source=src)
        head, _, tail = image.filename.rpartition("/")
        name = (f"{head}/" if head else "") + (tail.rsplit(".", 1)[0] if "." in tail else tail)
        if f"{name}.xml" in files:
            raise FormatError(f"two images would write {name}.xml", src)
        files[f"{name}.xml"] = voc_xml(image, unsupported=unsupported, source=src)
    return write_files(target_dir, files, what="VOC file")


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    elem = ET.SubElement(parent, tag)
    elem.text = text
    return elem


def _writable(
    image: ImageAnnotations, unsupported: Unsupported, source: str | None, where: str
) -> Iterator[Shape]:
    for shape in image.shapes:
        check_shape(shape, source, where)
        if shape.kind in ("rectangle", "polygon", "classification"):
            yield shape
        elif unsupported == "error":
            raise FormatError(
                f"{where}: Pascal VOC has no {shape.kind} form; pass "
                "unsupported='skip' to leave such shapes out",
                source,
            )


def _write_object(root: ET.Element, shape: Shape) -> None:
    obj = ET.SubElement(root, "object")
    attributes = dict(shape.attributes)
    _sub(obj, "name", shape.label)
    _sub(obj, "pose", str(attributes.pop("pose", None) or _UNSPECIFIED))
    for flag in _FLAGS:
        _sub(obj, flag, "1" if attributes.pop(flag, 0) else "0")
    box = shape_bbox(shape)
    if box is not None:
        bndbox = ET.SubElement(obj, "bndbox")
        x, y, w, h = box
        for tag, value in (("xmin", x), ("ymin", y), ("xmax", x + w), ("ymax", y + h)):
            _sub(bndbox, tag, str(fmt_number(value)))
    if shape.kind == "polygon":
        polygon = ET.SubElement(obj, "polygon")
        for i, (px, py) in enumerate(cast(list[Point], shape.coords), 1):
            _sub(polygon, f"x{i}", str(fmt_number(px)))
            _sub(polygon, f"y{i}", str(fmt_number(py)))
    if shape.score is not None:
        _sub(obj, "score", str(shape.score))
    if shape.text:
        _sub(obj, "text", shape.text)
    if attributes:
        holder = ET.SubElement(obj, "attributes")
        for key, value in attributes.items():
            attr = ET.SubElement(holder, "attribute")
            _sub(attr, "name", str(key))
            _sub(attr, "value", str(value))
