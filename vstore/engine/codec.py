"""Canonical encoding, object ids and the stored object format.

An object is a kind and a body. Its id is the blake3-256 of the canonical,
uncompressed body, so the same content has the same id on every backend. The
stored form is a 10-byte header (magic ``VSO``, format version, kind, body
codec, CRC-32 of those fields and the payload) followed by the body, zstd-compressed when that
saves space. The id check catches any change to the content; the CRC also
catches damage that a decompressor would silently absorb, so every flipped
byte of a stored object is reported.

Canonical msgpack: maps have ``str`` keys written in sorted order, integers use
their shortest form, floats are always float64 and ``bytes`` are msgpack ``bin``.
So every value has exactly one encoding, and byte-equal means equal.
"""

from __future__ import annotations

import enum
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import blake3
import msgpack
import msgspec
import zstandard

from vstore.errors import CorruptObjectError, InvalidArgumentError, ObjectTooLargeError

__all__ = [
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "ID_SIZE",
    "MAX_OBJECT_SIZE",
    "ObjectKind",
    "decode",
    "encode",
    "hash_bytes",
    "hexid",
    "pack_object",
    "peek_kind",
    "unpack_object",
]

MAGIC = b"VSO"
FORMAT_VERSION = 1
HEADER_SIZE = 10
ID_SIZE = 32
# Upper bound on one object's decompressed body: a hostile zstd frame or msgpack
# header can never make a read allocate more than this.
MAX_OBJECT_SIZE = 64 * 1024 * 1024
_RAW = 0
_ZSTD = 1
# Level -1: on tree nodes of frame records it stores ~7% more than level 1, but compresses
# and decompresses in ~30% less time; a leaf takes one 4 KB LMDB page either way.
_ZSTD_LEVEL = -1
# Compression must save at least this fraction to be kept; otherwise the body is stored raw.
_MIN_SAVING = 0.05


class ObjectKind(enum.IntEnum):
    """What an object's body holds; part of the stored header."""

    NODE = 1
    COMMIT = 2
    BLOB = 3
    DOC = 4
    STACK = 5


_KINDS = {int(k): k for k in ObjectKind}
_encoder = msgspec.msgpack.Encoder(order="deterministic")
_local = threading.local()


def _zstd_c() -> zstandard.ZstdCompressor:
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True)
    return c


def _zstd_d() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def encode(value: Any) -> bytes:
    """Encode ``value`` as canonical msgpack.

    Args:
        value: None, bool, int, float, str, bytes, lists/tuples and dicts with str keys.

    Returns:
        The one canonical byte form of ``value``.

    Raises:
        InvalidArgumentError: a type msgpack cannot hold, a non-str map key, or an
            integer outside the 64-bit range.
    """
    try:
        return _encoder.encode(value)
    except (TypeError, OverflowError, msgspec.EncodeError) as exc:
        raise InvalidArgumentError(f"value cannot be stored as canonical msgpack: {exc}") from exc


def decode(data: bytes | memoryview, *, limit: int = MAX_OBJECT_SIZE) -> Any:
    """Decode msgpack bytes with bounded memory.

    Args:
        data: msgpack bytes.
        limit: refuse input longer than this.

    Returns:
        The decoded value (lists for arrays, str for str, bytes for bin).

    Raises:
        ObjectTooLargeError: ``data`` is longer than ``limit``.
        ValueError: the bytes are not valid msgpack (callers turn this into a typed error).
    """
    if len(data) > limit:
        raise ObjectTooLargeError(f"{len(data)} bytes of msgpack is over the {limit}-byte limit")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            # unpackb also caps every length by len(data), so a header cannot over-allocate.
            max_array_len=limit,
            max_map_len=limit // 2,
        )
    except RecursionError as exc:
        raise ValueError("msgpack nesting is too deep") from exc
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ValueError(str(exc)) from exc
    except (TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid msgpack: {exc}") from exc


def hash_bytes(body: bytes | memoryview) -> bytes:
    """Return the 32-byte object id of a canonical body."""
    return blake3.blake3(body).digest()


def hexid(object_id: bytes) -> str:
    """Return the lowercase hex form of an object id."""
    return object_id.hex()


def pack_object(kind: ObjectKind, body: bytes) -> tuple[bytes, bytes]:
    """Frame a canonical body for storage.

    Args:
        kind: what the body holds.
        body: canonical bytes (msgpack for NODE, COMMIT and DOC; anything for BLOB).

    Returns:
        ``(object_id, stored_bytes)``.

    Raises:
        ObjectTooLargeError: the body is over :data:`MAX_OBJECT_SIZE`.
    """
    if len(body) > MAX_OBJECT_SIZE:
        raise ObjectTooLargeError(
            f"object of {len(body)} bytes is over the {MAX_OBJECT_SIZE}-byte limit"
        )
    oid = hash_bytes(body)
    codec = _RAW
    payload: bytes = body
    if len(body) >= 64:
        z = _zstd_c().compress(body)
        if len(z) <= len(body) * (1 - _MIN_SAVING):
            codec, payload = _ZSTD, z
    fields = bytes((FORMAT_VERSION, int(kind), codec))
    return oid, MAGIC + fields + _crc(fields, payload) + payload


def pack_objects(kind: ObjectKind, bodies: list[bytes]) -> list[tuple[bytes, bytes]]:
    """:func:`pack_object` of each body, in order, on two threads when there is enough.

    Compression and hashing run outside the GIL, so a second thread packing half of a
    large batch (the leaves of a run) overlaps with this one.

    Raises:
        ObjectTooLargeError: a body is over :data:`MAX_OBJECT_SIZE`.
    """
    if len(bodies) < _PAR_MIN_OBJECTS or sum(map(len, bodies)) < _PAR_MIN_BYTES:
        return _pack_list(kind, bodies)
    half = len(bodies) // 2
    theirs = _packer().submit(_pack_list, kind, bodies[:half])
    mine = _pack_list(kind, bodies[half:])
    return theirs.result() + mine


def _pack_list(kind: ObjectKind, bodies: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [pack_object(kind, b) for b in bodies]


# Below these, a batch is packed in the caller's thread: handing it over costs more.
_PAR_MIN_OBJECTS = 16
_PAR_MIN_BYTES = 64 * 1024
_packer_pool: ThreadPoolExecutor | None = None
_packer_lock = threading.Lock()


def _packer() -> ThreadPoolExecutor:
    """The one packing thread of this process, started on first use."""
    global _packer_pool
    with _packer_lock:
        if _packer_pool is None:
            _packer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vstore-pack")
        return _packer_pool


def _forget_packer() -> None:
    # A forked child has none of its parent's threads (and perhaps a held lock): it
    # starts its own packing thread when it needs one.
    global _packer_pool, _packer_lock
    _packer_pool, _packer_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_packer)


def _crc(fields: bytes | memoryview, payload: bytes | memoryview) -> bytes:
    # The CRC covers the kind and codec bytes too: the id only covers the body, and a
    # flipped kind would otherwise make a commit read as a childless blob.
    return zlib.crc32(payload, zlib.crc32(fields)).to_bytes(4, "big")


def peek_kind(object_id: bytes, stored: bytes) -> ObjectKind:
    """Return the kind in a stored object's header without decoding its body.

    Raises:
        CorruptObjectError: the header is malformed.
    """
    if len(stored) < HEADER_SIZE or stored[:3] != MAGIC:
        raise CorruptObjectError(hexid(object_id), "bad header magic")
    if stored[3] != FORMAT_VERSION:
        raise CorruptObjectError(hexid(object_id), f"unknown format version {stored[3]}")
    kind = _KINDS.get(stored[4])  # a dict probe: the enum's own lookup costs far more
    if kind is None:
        raise CorruptObjectError(hexid(object_id), f"unknown object kind {stored[4]}")
    return kind


def unpack_object(
    object_id: bytes, stored: bytes, *, limit: int = MAX_OBJECT_SIZE
) -> tuple[ObjectKind, bytes]:
    """Check and unframe a stored object.

    Args:
        object_id: the id the object was read under.
        stored: the stored bytes.
        limit: refuse a body that would decompress to more than this.

    Returns:
        ``(kind, body)`` where ``hash_bytes(body) == object_id``.

    Raises:
        CorruptObjectError: bad header, undecodable or oversized body, or a hash mismatch.
    """
    kind = peek_kind(object_id, stored)
    codec = stored[5]
    payload = memoryview(stored)[HEADER_SIZE:]
    if _crc(memoryview(stored)[3:6], payload) != stored[6:HEADER_SIZE]:
        raise CorruptObjectError(hexid(object_id), "stored bytes fail their checksum")
    if codec == _RAW:
        body = bytes(payload)
    elif codec == _ZSTD:
        body = _decompress(object_id, payload, limit)
    else:
        raise CorruptObjectError(hexid(object_id), f"unknown body codec {codec}")
    actual = hash_bytes(body)
    if actual != object_id:
        raise CorruptObjectError(
            hexid(object_id), "content does not match its id", actual=hexid(actual)
        )
    return kind, body


def _decompress(object_id: bytes, payload: memoryview, limit: int) -> bytes:
    try:
        size = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise CorruptObjectError(hexid(object_id), f"bad zstd frame: {exc}") from exc
    if size < 0:
        raise CorruptObjectError(hexid(object_id), "zstd frame does not declare its size")
    if size > limit:
        raise CorruptObjectError(
            hexid(object_id), f"declares {size} bytes decompressed, over the {limit}-byte limit"
        )
    try:
        out = _zstd_d().decompress(payload, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise CorruptObjectError(hexid(object_id), f"zstd body does not decompress: {exc}") from exc
    if len(out) != size:
        raise CorruptObjectError(hexid(object_id), "zstd body is shorter than it declares")
    return bytes(out)
