"""vstore: a git-like, content-addressed versioned store for ML datasets.

    import vstore

    store = vstore.open("./data.vstore")            # embedded LMDB store
    v = vstore.DatasetVersion.create_new_dataset("cars", store=store)
    v.add_frames([vstore.SingleFrame(source="s3://bucket/a.jpg")])
"""

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
from vstore.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    CorruptObjectError,
    FormatError,
    InvalidArgumentError,
    InvalidQueryError,
    MergeConflictError,
    MissingObjectError,
    NoDataError,
    NotFoundError,
    ObjectTooLargeError,
    ReadOnlyError,
    UnsafeBackendError,
    UsageError,
    VStoreError,
)
from vstore.model import Annotation, FrameGroup, SingleFrame

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
    "default_store",
    "open",
    "set_default_store",
    "BackendError",
    "ConflictError",
    "CorruptObjectError",
    "FormatError",
    "InvalidArgumentError",
    "InvalidQueryError",
    "MergeConflictError",
    "MissingObjectError",
    "NoDataError",
    "NotFoundError",
    "ObjectTooLargeError",
    "ReadOnlyError",
    "UnsafeBackendError",
    "UsageError",
    "VStoreError",
    "__version__",
]
