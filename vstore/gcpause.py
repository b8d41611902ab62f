"""Pausing the cyclic garbage collector during bulk work.

A bulk write, an ingest or reading and writing an annotation file create millions of
short-lived, acyclic objects (dicts, tuples, records, nodes) that reference counting frees;
with the collector on, every burst of allocations also rescans every live container, which
costs a quarter of an ingest and up to two thirds of a large export.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["paused_gc"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of the block.

    Nesting and threads are counted: the collector resumes when the last user leaves, and
    only if it was on when the first one entered.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
