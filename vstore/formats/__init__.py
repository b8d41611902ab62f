"""Annotation file formats: COCO, YOLO and Pascal VOC to and from a neutral model.

The layer knows files, not stores: readers return an :class:`AnnotationSet` (or an
:class:`ImageAnnotations` for one VOC file) and writers take one. Every malformed file
raises :class:`~vstore.errors.FormatError` naming the file and line, and a reader returns
nothing partial. See ``docs/formats.md`` for what each format reads and writes.

=====================  ===============================================================
COCO                   :func:`read_coco`, :func:`parse_coco`, :func:`coco_dict`,
                       :func:`write_coco`
YOLO                   :func:`read_yolo`, :func:`read_yolo_names`, :func:`write_yolo`
Pascal VOC             :func:`read_voc`, :func:`read_voc_dir`, :func:`voc_xml`,
                       :func:`write_voc`, :func:`write_voc_dir`
helpers                :func:`rescaled` (pixels ↔ fractions), :func:`image_size`
=====================  ===============================================================
"""

from vstore.formats.coco import coco_dict, parse_coco, read_coco, write_coco
from vstore.formats.errors import UnsafePathError, UnsafeXMLError
from vstore.formats.geometry import rescaled
from vstore.formats.imagesize import image_size
from vstore.formats.model import (
    KINDS,
    WELL_KNOWN_ATTRIBUTES,
    AnnotationSet,
    Box,
    Coords,
    ImageAnnotations,
    Keypoint,
    Point,
    Rle,
    Shape,
)
from vstore.formats.voc import read_voc, read_voc_dir, voc_xml, write_voc, write_voc_dir
from vstore.formats.yolo import SPLITS, read_yolo, read_yolo_names, write_yolo

__all__ = [
    "KINDS",
    "SPLITS",
    "WELL_KNOWN_ATTRIBUTES",
    "AnnotationSet",
    "Box",
    "Coords",
    "ImageAnnotations",
    "Keypoint",
    "Point",
    "Rle",
    "Shape",
    "UnsafePathError",
    "UnsafeXMLError",
    "coco_dict",
    "image_size",
    "parse_coco",
    "read_coco",
    "read_voc",
    "read_voc_dir",
    "read_yolo",
    "read_yolo_names",
    "rescaled",
    "voc_xml",
    "write_coco",
    "write_voc",
    "write_voc_dir",
    "write_yolo",
]
