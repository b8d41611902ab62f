"""Content-addressed blobs of the datalake: the bytes of uploaded files, stored once.

A blob is an engine object of kind BLOB whose id is the blake3-256 hash of the file's bytes,
so the same bytes uploaded twice, to any dataset, are stored once, and every read verifies
the hash. Blobs are kept alive by one ref log, ``picsellia/blobs``: each upload appends a
*pin* commit that links the blobs it stored and whose parent is the previous pin, so the
head reaches every blob ever pinned (``Store.gc`` never deletes one; ``Store.verify`` checks
them all) and an upload of many files costs one ref append, not one per file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vstore.engine.codec import MAX_OBJECT_SIZE, ObjectKind
from vstore.engine.tree import EMPTY_ROOT
from vstore.errors import ConflictError, NotFoundError, ObjectTooLargeError

if TYPE_CHECKING:
    from vstore.datasets.store import Store

__all__ = ["BLOB_PINS", "MAX_BLOB_SIZE", "pin_blobs", "pinned_blobs", "put_blob", "read_blob"]

#: The ref log whose head pin reaches every datalake blob.
BLOB_PINS = "picsellia/blobs"
#: Largest file the datalake stores.
MAX_BLOB_SIZE = MAX_OBJECT_SIZE
_PIN_TRIES = 64


def put_blob(store: Store, data: bytes, what: str = "file") -> str:
    """Store bytes (once); return their blake3 hex id. Pin them with :func:`pin_blobs`.

    Raises:
        ObjectTooLargeError: more than :data:`MAX_BLOB_SIZE` bytes.
    """
    if len(data) > MAX_BLOB_SIZE:
        raise ObjectTooLargeError(
            f"{what} is {len(data)} bytes; the datalake stores files of at most "
            f"{MAX_BLOB_SIZE} bytes"
        )
    return store.repo.objects.put(ObjectKind.BLOB, data).hex()


def pin_blobs(store: Store, blobs: Iterable[bytes | str]) -> None:
    """Keep stored blobs alive: one pin commit on the ``picsellia/blobs`` log.

    Objects come before refs: call this after the blobs are stored. Concurrent pins
    retry on the new head, so none is lost.

    Raises:
        ConflictError: other writers kept winning.
    """
    ids = sorted({bytes.fromhex(b) if isinstance(b, str) else bytes(b) for b in blobs})
    if not ids:
        return
    repo = store.repo
    for attempt in range(_PIN_TRIES):
        head = repo.refs.head(BLOB_PINS)
        parents = () if head is None or head.value is None else (head.value,)
        pin = repo.commit(EMPTY_ROOT, parents, f"pin {len(ids)} blob(s)", links=ids)
        if repo.refs.append(BLOB_PINS, pin.id, head.seq if head else 0).ok:
            return
        time.sleep(min(0.001 * 2 ** min(attempt, 8), 0.2) * (0.5 + random.random()))
    raise ConflictError(f"could not pin {len(ids)} datalake blob(s) against concurrent uploads")


def pinned_blobs(store: Store) -> set[bytes]:
    """Every blob the pins keep alive (walks the whole pin chain)."""
    head = store.repo.refs.head(BLOB_PINS)
    if head is None or head.value is None:
        return set()
    return {link for c in store.repo.log(head.value) for link in c.links}


def read_blob(store: Store, blob: str) -> bytes:
    """The bytes of a blob, checked against their hash.

    Raises:
        NotFoundError: no such blob.
        CorruptObjectError: the stored bytes do not match the hash.
    """
    try:
        oid = bytes.fromhex(blob)
    except ValueError:
        raise NotFoundError(f"no datalake blob {blob!r}") from None
    return store.repo.objects.get(oid, ObjectKind.BLOB)
