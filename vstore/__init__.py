"""vstore: a git-like, content-addressed versioned store for ML datasets."""

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

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
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
