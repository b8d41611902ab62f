"""The Picsellia surface: datalake, datasets, assets, tags, labels, annotations, splits.

It runs on the same engine as the Hyper-Datasets surface: an asset is a frame, its shapes are
ROIs, and version-level data lives in the version's commit metadata (see
docs/decisions/0006-assets-are-frames.md). The ``DatasetVersion`` methods come from the
:class:`~vstore.picsellia.version.PicselliaVersion` mixin of ``vstore.DatasetVersion``.
"""

# vstore.DatasetVersion mixes in this package's PicselliaVersion and this package reads
# versions: loading the datasets layer first breaks the cycle whichever side is imported first.
import vstore.datasets  # noqa: F401
from vstore.picsellia.annotation import (
    Annotation,
    Classification,
    Keypoints,
    Line,
    Mask,
    MultiAnnotation,
    Point,
    Polygon,
    Rectangle,
    Shape,
)
from vstore.picsellia.asset import Asset, MultiAsset
from vstore.picsellia.campaign import AnnotationCampaign, CampaignTask
from vstore.picsellia.datalake import Data, Datalake, MultiData
from vstore.picsellia.dataset import Dataset
from vstore.picsellia.enums import (
    AnnotationExportKey,
    AnnotationFileType,
    AnnotationStatus,
    DataType,
    DataUploadStatus,
    ImportAnnotationMode,
    InferenceType,
    TagTarget,
)
from vstore.picsellia.job import Job
from vstore.picsellia.labels import Label
from vstore.picsellia.multi import MultiObject
from vstore.picsellia.tags import Tag
from vstore.picsellia.version import PicselliaVersion
from vstore.picsellia.version_annotations import DatasetVersionStats

__all__ = [
    "Annotation",
    "AnnotationCampaign",
    "AnnotationExportKey",
    "AnnotationFileType",
    "AnnotationStatus",
    "Asset",
    "CampaignTask",
    "Classification",
    "Data",
    "DataType",
    "DataUploadStatus",
    "Datalake",
    "Dataset",
    "DatasetVersionStats",
    "ImportAnnotationMode",
    "InferenceType",
    "Job",
    "Keypoints",
    "Label",
    "Line",
    "Mask",
    "MultiAnnotation",
    "MultiAsset",
    "MultiData",
    "MultiObject",
    "PicselliaVersion",
    "Point",
    "Polygon",
    "Rectangle",
    "Shape",
    "Tag",
    "TagTarget",
]
