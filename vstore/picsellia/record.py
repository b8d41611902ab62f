"""How an asset is read from a frame record (the mapping both surfaces share).

An asset is a frame seen through the Picsellia surface. Its fields come from the record:

==================  ============================================================
``id``              the frame id
``filename``        the last path segment of the first source URI (unquoted)
``object_name``     the path of the first source URI, without its leading ``/``
                    (for ``s3://bucket/a/b.jpg``: ``a/b.jpg``)
``width/height``    the first source's ``width`` and ``height``
``content_type``    the first source's ``content_type``
``metadata``        the frame ``meta`` without the reserved keys below
``data_id``         ``meta._data``: the datalake data the asset was added from
``tags``            ``meta._tags``: asset tag names
annotations         ``meta._annotations`` and the ROIs (see ``vstore.picsellia.annrecord``)
campaign task       ``meta._task``
``created_at``      ``meta._created`` (unix time the asset was added; 0 when absent)
==================  ============================================================

The reserved frame ``meta`` keys are :data:`FRAME_KEYS`; Hyper-Datasets users see them in
``frame.metadata`` and should not write them by hand.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from vstore.errors import InvalidArgumentError

__all__ = [
    "DATALAKE_SCHEME",
    "FRAME_KEYS",
    "KEY_ANNOTATIONS",
    "KEY_CREATED",
    "KEY_DATA",
    "KEY_TAGS",
    "KEY_TASK",
    "check_name",
    "datalake_uri",
    "filename_of",
    "first_source",
    "object_name_of",
    "user_meta",
]

KEY_DATA = "_data"
KEY_TAGS = "_tags"
KEY_ANNOTATIONS = "_annotations"
KEY_TASK = "_task"
KEY_CREATED = "_created"
FRAME_KEYS = frozenset({KEY_DATA, KEY_TAGS, KEY_ANNOTATIONS, KEY_TASK, KEY_CREATED})

#: Sources of data uploaded to the datalake: ``datalake:///<blake3 hex>/<quoted filename>``.
DATALAKE_SCHEME = "datalake"
MAX_NAME = 256


def check_name(value: object, what: str) -> str:
    """Check a label, tag or version name: a non-empty str of at most 256 characters.

    Raises:
        InvalidArgumentError: not a str, empty or blank, or too long.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty str, got {value!r}")
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(f"{what} is longer than {MAX_NAME} characters: {value[:40]!r}")
    return value


def datalake_uri(blob: str, filename: str) -> str:
    """The source URI of a datalake data: its content hash and its file name."""
    return f"{DATALAKE_SCHEME}:///{blob}/{quote(filename, safe='')}"


def object_name_of(uri: str) -> str:
    """The storage key of a source URI: its path without the bucket and the leading ``/``."""
    return unquote(urlsplit(uri).path).lstrip("/")


def filename_of(uri: str) -> str:
    """The file name of a source URI: the last segment of its path."""
    return posixpath.basename(unquote(urlsplit(uri).path))


def first_source(record: dict[str, Any]) -> dict[str, Any]:
    """The first source of a record: the asset's image."""
    source: dict[str, Any] = record["sources"][0]
    return source


def user_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The frame metadata a user set: ``meta`` without the reserved keys (not copied)."""
    if not meta:
        return {}
    if FRAME_KEYS.isdisjoint(meta):
        return meta
    return {k: v for k, v in meta.items() if k not in FRAME_KEYS}
