"""The typed error tree of vstore.

Every error vstore raises on purpose is a :class:`VStoreError`. Subclasses also
inherit the builtin whose meaning they share, so callers may catch either::

    VStoreError
    ├── NotFoundError            (KeyError)        a dataset, version, frame or ref is absent
    │   ├── MissingObjectError                       an object a tree or commit names is absent
    │   └── LocalFileNotFoundError (FileNotFoundError) a local file to read is absent
    ├── AlreadyExistsError       (ValueError)      a name or ref that must be new exists
    ├── UsageError               (ValueError)      arguments that clash, or one is missing
    │   └── InvalidArgumentError                     one argument has a wrong type or value
    │       └── WrongTypeError   (TypeError)         a value of the wrong type or an unknown enum
    ├── ReadOnlyError                              a write to a published (frozen) version
    ├── ConflictError                              a concurrent writer won, or a merge collided
    │   └── MergeConflictError                       a three-way merge left records in conflict
    ├── CorruptObjectError                         stored bytes do not match their id
    ├── ObjectTooLargeError      (ValueError)      an object or value is over a size limit
    ├── InvalidQueryError        (ValueError)      a query, filter or pattern does not parse
    ├── NoDataError                                an empty result where the API promises one
    ├── FormatError              (ValueError)      a malformed import file (names file and line)
    └── BackendError             (OSError)         the storage backend failed or cannot be used
        └── UnsafeBackendError                       the backend cannot create a key atomically

Each error has a stable ``kind`` code (append-only) for programs that switch on it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AlreadyExistsError",
    "BackendError",
    "ConflictError",
    "CorruptObjectError",
    "FormatError",
    "InvalidArgumentError",
    "InvalidQueryError",
    "LocalFileNotFoundError",
    "MergeConflictError",
    "MissingObjectError",
    "NoDataError",
    "NotFoundError",
    "ObjectTooLargeError",
    "ReadOnlyError",
    "UnsafeBackendError",
    "UsageError",
    "VStoreError",
    "WrongTypeError",
]


class VStoreError(Exception):
    """Base class of every error vstore raises on purpose."""

    kind = "vstore"

    def __str__(self) -> str:
        # KeyError quotes its message; every error here reads as plain text.
        return str(self.args[0]) if self.args else self.kind


class NotFoundError(VStoreError, KeyError):
    """A dataset, version, frame, ref or object does not exist."""

    kind = "not_found"


class MissingObjectError(NotFoundError):
    """An object that a tree, commit or ref points to is absent from the store.

    Attributes:
        object_id: hex id of the missing object.
    """

    kind = "missing_object"

    def __init__(self, object_id: str, where: str = "") -> None:
        self.object_id = object_id
        suffix = f" (referenced by {where})" if where else ""
        super().__init__(
            f"object {object_id} is missing from the store{suffix}; run verify to see what else is"
        )


class LocalFileNotFoundError(NotFoundError, FileNotFoundError):
    """A local file that an operation must read (an upload, an instructions file) is absent.

    Attributes:
        path: the file that was asked for.
    """

    kind = "local_file_not_found"

    def __init__(self, path: str, what: str = "file") -> None:
        self.path = path
        super().__init__(f"{what} {path!r} does not exist or is not a regular file")


class AlreadyExistsError(VStoreError, ValueError):
    """A dataset, version, ref or name that must be new already exists."""

    kind = "already_exists"


class UsageError(VStoreError, ValueError):
    """Arguments that exclude each other were both given, or a required one is missing."""

    kind = "usage"


class InvalidArgumentError(UsageError):
    """One argument has the wrong type or an out-of-range value."""

    kind = "invalid_argument"


class WrongTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type, or names an enum member that does not exist.

    It is also a ``TypeError``, which is what the Picsellia SDK raises for these.
    """

    kind = "wrong_type"


class ReadOnlyError(VStoreError):
    """A write was attempted on a published, frozen version or a write-once ref."""

    kind = "read_only"


class ConflictError(VStoreError):
    """A concurrent writer changed the state this operation was based on."""

    kind = "conflict"


class MergeConflictError(ConflictError):
    """A three-way merge found records changed differently on both sides.

    Attributes:
        keys: the keys (bytes) of the records in conflict.
    """

    kind = "merge_conflict"

    def __init__(self, keys: Sequence[bytes]) -> None:
        self.keys = list(keys)
        shown = ", ".join(repr(k) for k in self.keys[:5])
        more = f" and {len(self.keys) - 5} more" if len(self.keys) > 5 else ""
        super().__init__(
            f"{len(self.keys)} record(s) changed on both sides: {shown}{more}; "
            "pass a collision strategy (ours, theirs or a callback) to resolve them"
        )


class CorruptObjectError(VStoreError):
    """Stored bytes do not hash to their id, or cannot be decoded safely.

    Attributes:
        object_id: hex id the object was stored under.
        expected: the id that was asked for (hex).
        actual: the hash of the bytes found (hex), or ``None`` if they did not decode.
    """

    kind = "corrupt_object"

    def __init__(self, object_id: str, reason: str, actual: str | None = None) -> None:
        self.object_id = object_id
        self.expected = object_id
        self.actual = actual
        super().__init__(f"object {object_id} is corrupt: {reason}")


class ObjectTooLargeError(VStoreError, ValueError):
    """An object, record or input is larger than the limit that protects memory."""

    kind = "too_large"


class InvalidQueryError(VStoreError, ValueError):
    """A query, tag filter or pattern does not parse.

    Attributes:
        position: 0-based offset in the query where parsing failed, if known.
    """

    kind = "invalid_query"

    def __init__(self, message: str, position: int | None = None, query: str | None = None):
        self.position = position
        self.query = query
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")


class NoDataError(VStoreError):
    """An operation found nothing where it promises at least one item."""

    kind = "no_data"


class FormatError(VStoreError, ValueError):
    """An import file is malformed.

    Attributes:
        path: the file that failed.
        line: 1-based line (or record number) where it failed, if known.
    """

    kind = "format"

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class BackendError(VStoreError, OSError):
    """The storage backend failed, or cannot serve this store."""

    kind = "backend"


class UnsafeBackendError(BackendError):
    """The backend does not create keys atomically, so concurrent writers could lose data."""

    kind = "unsafe_backend"
