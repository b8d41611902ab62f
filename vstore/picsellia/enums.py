"""The enums of the Picsellia surface, with the exact member values of the original SDK.

Every enum is a ``StrEnum`` whose values equal their names. :meth:`PicselliaEnum.validate`
accepts a member, or a string matched case-insensitively against a member's name or value;
anything else raises :class:`~vstore.errors.WrongTypeError` (also a ``TypeError``, as in the
original). ``ImportAnnotationMode.SKIP`` is an alias of ``KEEP``: an older docstring of the
original names it, and ``KEEP`` is the member that leaves existing annotations alone.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from vstore.errors import WrongTypeError

__all__ = [
    "AnnotationExportKey",
    "AnnotationFileType",
    "AnnotationStatus",
    "DataType",
    "DataUploadStatus",
    "ImportAnnotationMode",
    "InferenceType",
    "PicselliaEnum",
    "TagTarget",
]

E = TypeVar("E", bound="PicselliaEnum")


class PicselliaEnum(enum.StrEnum):
    """A string enum whose values equal its names, validated case-insensitively."""

    @classmethod
    def validate(cls: type[E], value: object) -> E:
        """Return the member ``value`` names.

        Args:
            value: a member of this enum, or a str equal to a member's name or value
                in any letter case (aliases such as ``SKIP`` count).

        Returns:
            The member.

        Raises:
            WrongTypeError: ``value`` is not a member, not a str, or names no member.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            wanted = value.upper()
            for name, member in cls.__members__.items():
                if wanted in (name.upper(), member.value.upper()):
                    return member
        choices = ", ".join(cls.__members__)
        raise WrongTypeError(
            f"{value!r} is not a {cls.__name__}: given string should be one of [{choices}]"
        )


class InferenceType(PicselliaEnum):
    """What the annotations of a dataset version describe."""

    NOT_CONFIGURED = "NOT_CONFIGURED"
    CLASSIFICATION = "CLASSIFICATION"
    OBJECT_DETECTION = "OBJECT_DETECTION"
    SEGMENTATION = "SEGMENTATION"
    POINT = "POINT"
    KEYPOINT = "KEYPOINT"
    LINE = "LINE"
    MASK = "MASK"
    MULTI = "MULTI"


class AnnotationStatus(PicselliaEnum):
    """The review status of an annotation."""

    PENDING = "PENDING"
    SKIPPED = "SKIPPED"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"


class ImportAnnotationMode(PicselliaEnum):
    """What an import does to an asset that already has annotations."""

    REPLACE = "REPLACE"
    KEEP = "KEEP"
    CONCATENATE = "CONCATENATE"
    SKIP = "KEEP"  # an alias: ImportAnnotationMode.SKIP is ImportAnnotationMode.KEEP


class AnnotationFileType(PicselliaEnum):
    """Annotation file formats of imports and exports."""

    PASCAL_VOC = "PASCAL_VOC"
    COCO = "COCO"
    YOLO = "YOLO"


class AnnotationExportKey(PicselliaEnum):
    """Which asset field names an image in an annotation file."""

    ASSET_ID = "ASSET_ID"
    DATA_ID = "DATA_ID"
    FILENAME = "FILENAME"
    OBJECT_NAME = "OBJECT_NAME"


class TagTarget(PicselliaEnum):
    """The kind of object a tag can be put on."""

    DATA = "DATA"
    ASSET = "ASSET"
    MODEL_VERSION = "MODEL_VERSION"
    MODEL = "MODEL"
    DATASET_VERSION = "DATASET_VERSION"
    DATASET = "DATASET"
    DEPLOYMENT = "DEPLOYMENT"
    PREDICTED_ASSET = "PREDICTED_ASSET"


class DataType(PicselliaEnum):
    """The media type of a data or an asset."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"


class DataUploadStatus(PicselliaEnum):
    """The processing status of an uploaded data."""

    PENDING = "PENDING"
    COMPUTING = "COMPUTING"
    ERROR = "ERROR"
    DONE = "DONE"
