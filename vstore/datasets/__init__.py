"""Datasets, versions and frames over the engine: the Hyper-Datasets surface."""

from vstore.datasets.bulk import BulkContext
from vstore.datasets.changes import FrameChange, FrameDiff, MergeReport
from vstore.datasets.registry import DatasetInfo
from vstore.datasets.store import Store, default_store, open, set_default_store
from vstore.datasets.version import DatasetVersion

__all__ = [
    "BulkContext",
    "DatasetInfo",
    "DatasetVersion",
    "FrameChange",
    "FrameDiff",
    "MergeReport",
    "Store",
    "default_store",
    "open",
    "set_default_store",
]
