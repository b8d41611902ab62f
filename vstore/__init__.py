"""vstore: a git-like, content-addressed versioned store for ML datasets.

    import vstore

    store = vstore.open("./data.vstore")            # embedded LMDB store
    v = vstore.DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([vstore.SingleFrame(source="s3://bucket/a.jpg")])
"""

import importlib
from typing import TYPE_CHECKING, Any

from vstore.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    CorruptObjectError,
    FormatError,
    InvalidArgumentError,
    InvalidQueryError,
    LocalFileNotFoundError,
    MergeConflictError,
    MissingObjectError,
    NoDataError,
    NotFoundError,
    ObjectTooLargeError,
    ReadOnlyError,
    UnsafeBackendError,
    UsageError,
    VStoreError,
    WrongTypeError,
)

if TYPE_CHECKING:
    from vstore.datasets import (
        BulkContext,
        DatasetInfo,
        DatasetVersion,
        FrameDiff,
        MergeReport,
        Store,
        default_store,
        open,
        set_default_store,
    )
    from vstore.model import Annotation, FrameGroup, SingleFrame
    from vstore.picsellia import (
        AnnotationExportKey,
        AnnotationFileType,
        AnnotationStatus,
        Asset,
        Data,
        Datalake,
        Dataset,
        DataType,
        DataUploadStatus,
        ImportAnnotationMode,
        InferenceType,
        Label,
        MultiAsset,
        MultiData,
        Tag,
        TagTarget,
    )

# The heavy parts load on first use, so ``import vstore`` (and ``vstore --help``) stays fast.
_LAZY = {
    "BulkContext": "vstore.datasets",
    "DatasetInfo": "vstore.datasets",
    "DatasetVersion": "vstore.datasets",
    "FrameDiff": "vstore.datasets",
    "MergeReport": "vstore.datasets",
    "Store": "vstore.datasets",
    "default_store": "vstore.datasets",
    "open": "vstore.datasets",
    "set_default_store": "vstore.datasets",
    "Annotation": "vstore.model",
    "FrameGroup": "vstore.model",
    "SingleFrame": "vstore.model",
    "AnnotationExportKey": "vstore.picsellia",
    "AnnotationFileType": "vstore.picsellia",
    "AnnotationStatus": "vstore.picsellia",
    "Asset": "vstore.picsellia",
    "Data": "vstore.picsellia",
    "Datalake": "vstore.picsellia",
    "Dataset": "vstore.picsellia",
    "DataType": "vstore.picsellia",
    "DataUploadStatus": "vstore.picsellia",
    "ImportAnnotationMode": "vstore.picsellia",
    "InferenceType": "vstore.picsellia",
    "Label": "vstore.picsellia",
    "MultiAsset": "vstore.picsellia",
    "MultiData": "vstore.picsellia",
    "Tag": "vstore.picsellia",
    "TagTarget": "vstore.picsellia",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "Annotation",
    "BulkContext",
    "DatasetInfo",
    "DatasetVersion",
    "FrameDiff",
    "FrameGroup",
    "MergeReport",
    "SingleFrame",
    "Store",
    "AnnotationExportKey",
    "AnnotationFileType",
    "AnnotationStatus",
    "Asset",
    "Data",
    "DataType",
    "DataUploadStatus",
    "Datalake",
    "Dataset",
    "ImportAnnotationMode",
    "InferenceType",
    "Label",
    "MultiAsset",
    "MultiData",
    "Tag",
    "TagTarget",
    "default_store",
    "open",
    "set_default_store",
    "BackendError",
    "ConflictError",
    "CorruptObjectError",
    "FormatError",
    "InvalidArgumentError",
    "InvalidQueryError",
    "LocalFileNotFoundError",
    "MergeConflictError",
    "MissingObjectError",
    "NoDataError",
    "NotFoundError",
    "ObjectTooLargeError",
    "ReadOnlyError",
    "UnsafeBackendError",
    "UsageError",
    "VStoreError",
    "WrongTypeError",
    "__version__",
]
