"""The backend interface: bytes in, bytes out.

A backend holds two namespaces:

* **objects**: immutable bytes under a 32-byte content id. Putting an id that
  exists keeps the stored bytes (and, where the backend can, freshens its
  time so a concurrent gc treats it as new).
* **keys**: small named values under ``/``-separated names, used for refs and
  configuration. :meth:`Backend.create_key` is the one concurrency primitive: an
  atomic create-if-absent that says whether it created the key.

Backends never decode what they store; the object store above them verifies ids.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from vstore.errors import BackendError, InvalidArgumentError, VStoreError

__all__ = ["Backend", "check_key"]

_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def check_key(key: str) -> str:
    """Validate a key name and return it.

    Raises:
        InvalidArgumentError: empty, absolute, ``..`` segments or characters outside
            ``[A-Za-z0-9._-/]``.
    """
    if not isinstance(key, str) or not _KEY_RE.match(key) or ".." in key.split("/"):
        raise InvalidArgumentError(
            f"invalid key {key!r}: use '/'-separated segments of letters, digits, '.', '_', '-'"
        )
    return key


_TYPED = (
    "get_objects", "get_objects_uncached", "get_object", "put_objects", "has_objects",
    "delete_objects", "sweep_temporary", "iter_objects",
    "read_key", "create_key", "write_key", "list_keys", "delete_key",
)


def _typed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if name == "iter_objects":
        # An iterator fails while it is consumed, after the call has returned.
        @functools.wraps(fn)
        def listing(self: Backend, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(self, *args, **kwargs)
            except VStoreError:
                raise
            except OSError as exc:
                raise BackendError(f"{self.url}: {name} failed: {exc}") from exc

        return listing

    @functools.wraps(fn)
    def call(self: Backend, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except VStoreError:
            raise
        except OSError as exc:
            raise BackendError(f"{self.url}: {name} failed: {exc}") from exc

    return call


class Backend(ABC):
    """Abstract storage backend. Subclasses set the capability flags truthfully.

    Any ``OSError`` a subclass lets escape from a storage method reaches callers
    as :class:`~vstore.errors.BackendError` naming the store and the operation.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _TYPED:
            fn = cls.__dict__.get(name)
            if fn is not None:
                setattr(cls, name, _typed(name, fn))

    #: objects can be deleted (gc)
    supports_deletes: bool = True
    #: objects and keys can be listed
    supports_listing: bool = True
    #: :meth:`create_key` is atomic against other processes and machines
    atomic_create: bool = True
    #: an acknowledged write survives a crash of this machine
    durable: bool = True
    #: human-readable location
    url: str = ""

    # -- objects -----------------------------------------------------------------

    @abstractmethod
    def get_objects(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        """Return the stored bytes of the ids that exist (absent ids are left out)."""

    def get_objects_uncached(self, ids: Sequence[bytes]) -> dict[bytes, bytes]:
        """Like :meth:`get_objects`, but from the store itself, never from a local cache
        (what ``verify`` reads, so an object lost from the store is reported)."""
        return self.get_objects(ids)

    def sweep_temporary(self, older_than: float) -> int:
        """Delete temporary files that writers killed mid-write left behind, if the backend
        makes any, last modified before ``older_than``; return how many."""
        return 0

    def get_object(self, object_id: bytes) -> bytes | None:
        """Return one object's stored bytes, or ``None`` if it is absent."""
        return self.get_objects([object_id]).get(object_id)

    @abstractmethod
    def put_objects(self, items: Mapping[bytes, bytes]) -> None:
        """Store objects; durable when this returns. Existing ids keep their bytes."""

    @abstractmethod
    def has_objects(self, ids: Iterable[bytes]) -> set[bytes]:
        """Return the subset of ``ids`` that are stored."""

    @abstractmethod
    def iter_objects(self) -> Iterator[tuple[bytes, float]]:
        """Yield ``(id, unix time written or freshened)`` for every stored object."""

    @abstractmethod
    def delete_objects(self, ids: Iterable[bytes], older_than: float | None = None) -> int:
        """Delete objects; return how many were deleted.

        Args:
            ids: the objects.
            older_than: if given, keep any object written or freshened at or after
                this unix time (a writer reused it since gc looked).
        """

    # -- keys --------------------------------------------------------------------

    @abstractmethod
    def read_key(self, key: str) -> bytes | None:
        """Return a key's value, or ``None`` if it does not exist."""

    @abstractmethod
    def create_key(self, key: str, value: bytes) -> bool:
        """Atomically create ``key`` if it is absent.

        Returns:
            True if this call created it, False if it already existed (whoever wrote it).
        """

    @abstractmethod
    def write_key(self, key: str, value: bytes) -> None:
        """Create or overwrite ``key`` (for hints and caches, never for refs)."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Return the keys under ``prefix/`` (or equal to it), sorted."""

    @abstractmethod
    def delete_key(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles. The backend must not be used afterwards."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
