"""Frame ids, tree keys and source URIs.

A frame without an id gets one derived from its source URIs, so adding the same
URI twice addresses the same frame (an update, not a duplicate). The id is the
first 128 bits of blake3 over the canonical msgpack of the sorted URIs, in hex:
short enough to read, far from any practical collision.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import blake3

from vstore.engine.codec import encode
from vstore.errors import InvalidArgumentError

__all__ = [
    "FRAME_ID_HEX_CHARS",
    "MAX_ID_BYTES",
    "check_frame_id",
    "derive_frame_id",
    "frame_key",
    "normalize_uri",
]

FRAME_ID_HEX_CHARS = 32
_ID_BYTES = FRAME_ID_HEX_CHARS // 2
# A frame id is a tree key; keys are kept well under a leaf's size.
MAX_ID_BYTES = 1024


def derive_frame_id(uris: str | Iterable[str], timestamp: int = 0) -> str:
    """Derive a frame id from source URIs.

    The order of ``uris`` does not matter. ``timestamp`` takes part only when it is
    not 0, so frames of one video at different offsets get different ids while an
    image keeps the id of its URI alone.

    Args:
        uris: one URI, or the URIs of every source of the frame.
        timestamp: the frame's timestamp (ms offset in a video); 0 for images.

    Returns:
        32 lowercase hex characters.

    Raises:
        InvalidArgumentError: no URI, or a URI that is not a non-empty str.
    """
    if type(uris) is str and uris and not timestamp:  # one image: the common case
        # The first 16 bytes of the digest, as hex: the same as hexdigest()[:32], cheaper.
        return blake3.blake3(encode([uris])).digest(_ID_BYTES).hex()
    items = [uris] if isinstance(uris, str) else list(uris)
    if not items:
        raise InvalidArgumentError("a frame id is derived from source URIs, but none were given")
    for uri in items:
        if type(uri) is not str or not uri:
            raise InvalidArgumentError(f"source URI must be a non-empty str, got {uri!r}")
    items.sort()
    payload: list[object] = list(items)
    if timestamp:
        payload = [items, timestamp]
    return blake3.blake3(encode(payload)).digest(_ID_BYTES).hex()


def check_frame_id(value: object) -> str | None:
    """Normalise a user-given frame id.

    A str is used as-is; an int or a finite float becomes its str form (as the
    legacy SDK does); ``None`` stays ``None`` (the id will be derived).

    Args:
        value: the id given by the user.

    Returns:
        The id as a str, or ``None``.

    Raises:
        InvalidArgumentError: a bool or other type, an empty id, an id that is
            not valid UTF-8 or longer than :data:`MAX_ID_BYTES` bytes.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgumentError("frame id must be a str, not bool")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"frame id must be a str, got {value}")
        return str(float(value))
    if not isinstance(value, str):
        raise InvalidArgumentError(f"frame id must be a str, not {type(value).__name__}")
    frame_key(value)
    return str.__str__(value)


def frame_key(frame_id: str) -> bytes:
    """Return the tree key of a frame: its id as UTF-8 bytes.

    Args:
        frame_id: a frame id.

    Returns:
        The key under which the frame's record is stored in a version's tree.

    Raises:
        InvalidArgumentError: not a non-empty str, not encodable as UTF-8, or
            longer than :data:`MAX_ID_BYTES` bytes.
    """
    if type(frame_id) is not str or not frame_id:
        raise InvalidArgumentError(f"frame id must be a non-empty str, got {frame_id!r}")
    try:
        key = frame_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"frame id {frame_id!r} is not valid UTF-8: {exc}") from None
    if len(key) > MAX_ID_BYTES:
        raise InvalidArgumentError(
            f"frame id is {len(key)} bytes long; the limit is {MAX_ID_BYTES} bytes"
        )
    return key


def normalize_uri(value: object, what: str = "source") -> str:
    """Check a source URI; a local path (no ``scheme://``) gets a ``file://`` prefix.

    The path is kept as given after the prefix (``/data/a.jpg`` becomes
    ``file:///data/a.jpg``), so the derived frame id does not depend on the
    current directory.

    Args:
        value: a URI or a local path.
        what: the field name used in the error message.

    Returns:
        The URI.

    Raises:
        InvalidArgumentError: not a non-empty str.
    """
    if isinstance(value, str):
        uri = str.__str__(value)
    elif isinstance(value, os.PathLike):
        uri = os.fsdecode(value)
    else:
        raise InvalidArgumentError(f"{what} must be a URI str, not {type(value).__name__}")
    if not uri:
        raise InvalidArgumentError(f"{what} must not be empty")
    if "://" not in uri:
        uri = "file://" + uri
    return uri
