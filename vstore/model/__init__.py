"""The model layer: frames, annotations and their canonical record form.

A frame (a :class:`SingleFrame`, or a :class:`FrameGroup` of them) is one sample:
source files, annotations and metadata. :func:`frame_to_record` turns it into
the wire dict stored in a version's tree under :func:`frame_key` of its id, and
:func:`encode_record` gives that dict's one canonical byte form. This layer
imports ``vstore.errors`` and the engine's codec only; it never touches a backend.
"""

from vstore.model.annotation import KINDS, Annotation
from vstore.model.frame import SingleFrame
from vstore.model.group import FrameGroup
from vstore.model.identity import derive_frame_id, frame_key
from vstore.model.projection import compile_projection, project
from vstore.model.record import (
    Frame,
    decode_record,
    encode_record,
    frame_record_bytes,
    frame_to_record,
    record_to_frame,
    validate_record,
)

__all__ = [
    "KINDS",
    "Annotation",
    "Frame",
    "FrameGroup",
    "SingleFrame",
    "compile_projection",
    "decode_record",
    "derive_frame_id",
    "encode_record",
    "frame_key",
    "frame_record_bytes",
    "frame_to_record",
    "project",
    "record_to_frame",
    "validate_record",
]
