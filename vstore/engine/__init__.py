"""The storage engine: a generic versioned key -> record store.

It knows bytes, object ids, prolly trees, refs and commits, and nothing of
frames or datasets. Layers above it use :class:`Repository`.
"""

from vstore.engine.chunker import TreeParams
from vstore.engine.commits import Commit
from vstore.engine.diff import CONFLICT, MergeResult
from vstore.engine.objects import ObjectStore, WriteBatch, WriteStats
from vstore.engine.refs import AppendResult, RefEntry, RefStore
from vstore.engine.repository import (
    GcReport,
    Repository,
    VerifyReport,
    open_backend,
    open_repository,
)
from vstore.engine.tree import EMPTY_ROOT, ProllyTree

__all__ = [
    "CONFLICT",
    "EMPTY_ROOT",
    "AppendResult",
    "Commit",
    "GcReport",
    "MergeResult",
    "ObjectStore",
    "ProllyTree",
    "RefEntry",
    "RefStore",
    "Repository",
    "TreeParams",
    "VerifyReport",
    "WriteBatch",
    "WriteStats",
    "open_backend",
    "open_repository",
]
