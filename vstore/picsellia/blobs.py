"""Content-addressed blobs of the datalake: the bytes of uploaded files, stored once.

A blob is an engine object of kind BLOB whose id is the blake3-256 hash of the file's bytes,
so the same bytes uploaded twice, to any dataset, are stored once, and every read verifies
the hash. Each blob is kept alive by a ref log ``picsellia/blobs/<hex id>`` that names it:
``Store.gc`` never deletes a blob a data still uses, and ``Store.verify`` checks them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vstore.engine.codec import MAX_OBJECT_SIZE, ObjectKind
from vstore.errors import NotFoundError, ObjectTooLargeError

if TYPE_CHECKING:
    from vstore.datasets.store import Store

__all__ = ["BLOB_REFS", "MAX_BLOB_SIZE", "blob_ref", "put_blob", "read_blob"]

BLOB_REFS = "picsellia/blobs"
#: Largest file the datalake stores.
MAX_BLOB_SIZE = MAX_OBJECT_SIZE


def blob_ref(blob: str) -> str:
    """The name of the ref log that keeps a blob alive."""
    return f"{BLOB_REFS}/{blob}"


def put_blob(store: Store, data: bytes, what: str = "file") -> str:
    """Store bytes (once) and keep them alive; return their blake3 hex id.

    Raises:
        ObjectTooLargeError: more than :data:`MAX_BLOB_SIZE` bytes.
    """
    if len(data) > MAX_BLOB_SIZE:
        raise ObjectTooLargeError(
            f"{what} is {len(data)} bytes; the datalake stores files of at most "
            f"{MAX_BLOB_SIZE} bytes"
        )
    oid = store.repo.objects.put(ObjectKind.BLOB, data)
    name = blob_ref(oid.hex())
    refs = store.repo.refs
    head = refs.head(name)
    if head is None or head.value != oid:
        # Objects before refs: the blob is durable before any ref names it. A lost race
        # means another writer pinned the same bytes, which is just as good.
        refs.append(name, oid, head.seq if head else 0)
    return oid.hex()


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
