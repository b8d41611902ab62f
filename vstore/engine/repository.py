"""The engine facade: objects, trees, refs and commits of one store, plus verify and gc."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vstore.engine.backends.base import Backend
from vstore.engine.chunker import TreeParams
from vstore.engine.codec import FORMAT_VERSION, ObjectKind, decode, encode, hexid, unpack_object
from vstore.engine.commits import Commit, ancestors, parse_commit, read_commit, write_commit
from vstore.engine.diff import Collision, MergeResult
from vstore.engine.layers import Layers
from vstore.engine.node import SPILL_CODE
from vstore.engine.objects import ObjectStore, WriteBatch
from vstore.engine.refs import RefEntry, RefStore
from vstore.engine.tree import EMPTY_ROOT, ProllyTree, Spill
from vstore.errors import BackendError, CorruptObjectError, MissingObjectError, VStoreError

__all__ = ["GcReport", "Repository", "VerifyReport", "open_backend", "open_repository"]

_CONFIG_KEY = "config"
# The kind (or kinds) a walk expects of an object; None when anything goes.
_Expected = ObjectKind | tuple[ObjectKind, ...] | None
_TREE_KINDS = (ObjectKind.NODE, ObjectKind.STACK)
_WALK_CHUNK = 256
DAY = 86400.0


@dataclass
class VerifyReport:
    """What :meth:`Repository.verify` found.

    Attributes:
        objects_checked: reachable objects re-hashed.
        refs_checked: ref entries used as roots.
        missing: hex ids of reachable objects that are absent.
        corrupt: ``(hex id, reason)`` of reachable objects that failed their check.
        dangling: stored objects that no root reaches (gc candidates).
    """

    objects_checked: int = 0
    refs_checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    dangling: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing reachable is missing or corrupt."""
        return not self.missing and not self.corrupt


@dataclass
class GcReport:
    """What :meth:`Repository.gc` did (or would do, on a dry run).

    Attributes:
        reachable: objects reachable from the roots.
        unreachable: stored objects no root reaches.
        too_young: unreachable objects kept because they are within the grace period.
        deleted: objects deleted (0 on a dry run).
        candidates: hex ids that are (or would be) deleted.
        dry_run: whether anything was deleted.
        temporary_files: temporary files of killed writers deleted (older than the grace).
    """

    reachable: int = 0
    unreachable: int = 0
    too_young: int = 0
    deleted: int = 0
    candidates: list[str] = field(default_factory=list)
    dry_run: bool = False
    temporary_files: int = 0


def open_backend(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    single_writer: bool = False,
    packs: bool | None = None,
    cache: bool | None = None,
    cache_dir: str | None = None,
    cache_size: int | None = None,
) -> Backend:
    """Open the backend for ``url``.

    A plain path (or ``lmdb://path``) is an embedded LMDB store; any URL with
    another scheme (``file://``, ``memory://``, ``s3://``, ``gs://``/``gcs://``,
    ``az://``/``abfs://``, ...) is opened through fsspec, whose filesystem for
    that scheme is imported only then (install the ``s3``, ``gcs`` or ``azure``
    extra).

    Args:
        url: where the store lives.
        storage_options: passed untouched to the fsspec filesystem (credentials,
            endpoint); never stored in the store, printed, or put in a message.
        single_writer: accept a filesystem that does not enforce create-if-absent
            (only safe when one process ever writes).
        packs: write objects in packs (default: on for remote stores).
        cache: keep fetched objects in the on-disk cache (default: on for remote stores).
        cache_dir: the cache directory (default ``$VSTORE_CACHE_DIR``, else
            ``$XDG_CACHE_HOME/vstore``, else ``~/.cache/vstore``).
        cache_size: the cache bound in bytes (default ``$VSTORE_CACHE_SIZE``, else 2 GiB).

    Raises:
        BackendError: the filesystem is not installed or cannot be reached.
        UnsafeBackendError: a second create of one key did not fail, and
            ``single_writer`` is not set.
    """
    if url.startswith("lmdb://"):
        url = url[len("lmdb://") :]
    if "://" not in url:
        from vstore.engine.backends.lmdb import LmdbBackend

        return LmdbBackend(url)
    from vstore.engine.backends.fsspec import FsspecBackend

    return FsspecBackend(
        url, storage_options, single_writer=single_writer, packs=packs, cache=cache,
        cache_dir=cache_dir, cache_size=cache_size,
    )


def open_repository(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    single_writer: bool = False,
    packs: bool | None = None,
    cache: bool | None = None,
    cache_dir: str | None = None,
    cache_size: int | None = None,
) -> Repository:
    """Open (creating if needed) the engine repository at ``url``.

    The arguments are those of :func:`open_backend`.
    """
    return Repository(open_backend(
        url, storage_options, single_writer=single_writer, packs=packs, cache=cache,
        cache_dir=cache_dir, cache_size=cache_size,
    ))


class Repository:
    """Objects, trees, refs and commits of one store.

    The first open of a store records its format and tree parameters; every
    later open, on any machine, uses the recorded ones so all writers build
    identical trees.

    Args:
        backend: where the bytes live.
        params: tree parameters for a new store (ignored if the store exists).
    """

    def __init__(self, backend: Backend, params: TreeParams | None = None) -> None:
        self.backend = backend
        self.objects = ObjectStore(backend)
        self.refs = RefStore(backend)
        self.params = self._load_config(params or TreeParams())
        self.tree = ProllyTree(self.objects, self.params)
        #: reads and writes of layered trees (a plain tree or a stack of runs over one)
        self.layers = Layers(self.tree)

    def _load_config(self, params: TreeParams) -> TreeParams:
        raw = self.backend.read_key(_CONFIG_KEY)
        if raw is None:
            body = encode({"format": FORMAT_VERSION, "tree": params.to_dict()})
            if self.backend.create_key(_CONFIG_KEY, body):
                return params
            raw = self.backend.read_key(_CONFIG_KEY)
            if raw is None:
                raise BackendError(f"{self.backend.url}: store config vanished while opening")
        try:
            cfg = decode(raw)
            fmt = cfg["format"]
            t = cfg["tree"]
            stored = TreeParams(
                int(t["leaf_target"]), int(t["internal_target"]), int(t["max_bytes"]),
                bytes(t["salt"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptObjectError("config", f"store config does not decode: {exc}") from exc
        if fmt != FORMAT_VERSION:
            raise BackendError(
                f"{self.backend.url} uses store format {fmt}; this vstore reads format "
                f"{FORMAT_VERSION}: upgrade vstore"
            )
        return stored

    # -- convenience ---------------------------------------------------------------

    def batch(self) -> WriteBatch:
        """Return a write batch: objects queued in it are written together."""
        return self.objects.batch()

    def commit(
        self,
        tree: bytes,
        parents: Iterable[bytes] = (),
        message: str = "",
        meta: dict[str, Any] | None = None,
        links: Iterable[bytes] = (),
        batch: WriteBatch | None = None,
    ) -> Commit:
        """Write a commit object (into ``batch`` if given) and return it."""
        return write_commit(
            batch if batch is not None else self.objects, tree, tuple(parents), message, meta,
            tuple(links),
        )

    def read_commit(self, oid: bytes) -> Commit:
        """Read commit ``oid``."""
        return read_commit(self.objects, oid)

    def log(self, oid: bytes) -> Iterator[Commit]:
        """Yield commit ``oid`` and its ancestors, newest first."""
        return ancestors(self.objects, oid)

    def diff(self, a: bytes, b: bytes) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
        """Yield ``(key, old, new)`` between trees (plain or layered) ``a`` and ``b``."""
        return self.layers.diff(a, b)

    def tree_diff(
        self, a: bytes, b: bytes
    ) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
        """Like :meth:`diff`, but spilled values stay unresolved (cheaper when only keys count)."""
        return self.layers.diff(a, b, resolve=False)

    def merge(
        self, base: bytes, ours: bytes, theirs: bytes, on_collision: Collision | None = None,
        batch: WriteBatch | None = None,
    ) -> MergeResult:
        """Three-way merge of trees (see :func:`vstore.engine.diff.merge`)."""
        return self.layers.merge(base, ours, theirs, on_collision, batch)

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- roots, verify, gc ---------------------------------------------------------

    def roots(self, log_retention: float = 7 * DAY) -> tuple[set[bytes], int]:
        """Object ids every ref keeps alive, and how many ref entries named them.

        Every log's head, every log entry younger than ``log_retention`` and
        every write-once ref is a root.
        """
        now = time.time()
        ids: set[bytes] = set()
        n = 0
        for name in self.refs.logs():
            for i, e in enumerate(self.refs.entries(name)):
                if i and e.time < now - log_retention:
                    break
                n += 1
                if e.value is not None:
                    ids.add(e.value)
        for name in self.refs.frozen_names():
            e2: RefEntry | None = self.refs.frozen(name)
            if e2 is not None and e2.value is not None:
                n += 1
                ids.add(e2.value)
        return ids, n

    def _walk(
        self,
        roots: Iterable[bytes],
        on_error: Callable[[bytes, VStoreError], None],
        *,
        fresh: bool = False,
    ) -> set[bytes]:
        """Visit every object reachable from ``roots``, verifying each; return their ids.

        Each object must have the kind its parent implies (refs name commits, commits
        name a tree and commits, nodes name nodes or blobs); anything else is corrupt.
        """
        seen: set[bytes] = {EMPTY_ROOT}  # needs no stored object
        todo: list[tuple[bytes, _Expected]] = [(r, None) for r in roots]
        while todo:
            chunk = [(o, k) for o, k in dict(todo[-_WALK_CHUNK:]).items() if o not in seen]
            del todo[-_WALK_CHUNK:]
            ids = [o for o, _ in chunk]
            found = (self.backend.get_objects_uncached if fresh else self.backend.get_objects)(ids)
            for oid, expected in chunk:
                seen.add(oid)
                stored = found.get(oid)
                if stored is None:
                    on_error(oid, MissingObjectError(hexid(oid)))
                    continue
                try:
                    kind, body = unpack_object(oid, stored)
                    allowed = (expected,) if isinstance(expected, ObjectKind) else expected
                    if allowed is not None and kind not in allowed:
                        raise CorruptObjectError(
                            hexid(oid),
                            f"is a {kind.name} where a {' or '.join(k.name for k in allowed)} "
                            "belongs",
                        )
                    todo.extend(c for c in self._children(oid, kind, body) if c[0] not in seen)
                except CorruptObjectError as exc:
                    on_error(oid, exc)
        return seen

    def _children(
        self, oid: bytes, kind: ObjectKind, body: bytes
    ) -> list[tuple[bytes, _Expected]]:
        if kind == ObjectKind.COMMIT:
            c = parse_commit(oid, body)
            return [(c.tree, _TREE_KINDS), *((p, ObjectKind.COMMIT) for p in c.parents),
                    *((link, None) for link in c.links)]
        if kind == ObjectKind.NODE:
            node = self.tree._decode(oid, body)
            if node.level:
                return [(child, ObjectKind.NODE) for child in node.vals]
            return [
                (bytes(v.data), ObjectKind.BLOB)
                for v in node.vals
                if isinstance(v, Spill) and v.code == SPILL_CODE
            ]
        if kind == ObjectKind.STACK:
            return list(self.layers.children(oid, body))
        return []

    def verify(self, log_retention: float = 7 * DAY) -> VerifyReport:
        """Re-hash every object reachable from the refs; report missing, corrupt, dangling.

        Returns:
            A report; ``report.ok`` is False if anything reachable is missing or corrupt.
        """
        report = VerifyReport()
        roots, report.refs_checked = self.roots(log_retention)

        def on_error(oid: bytes, exc: VStoreError) -> None:
            if isinstance(exc, CorruptObjectError):
                report.corrupt.append((hexid(oid), str(exc)))
            else:
                report.missing.append(hexid(oid))

        seen = self._walk(roots, on_error, fresh=True)
        report.objects_checked = len(seen)
        report.dangling = sum(1 for oid, _ in self.backend.iter_objects() if oid not in seen)
        return report

    def gc(
        self, grace: float = DAY, log_retention: float = 7 * DAY, dry_run: bool = False
    ) -> GcReport:
        """Delete objects that no ref reaches and that are older than ``grace`` seconds.

        Reachability is marked twice, before and after listing, and an object a
        writer reused since (its time is freshened) is kept, so gc can run while
        writers flush.

        Raises:
            CorruptObjectError: a reachable object is damaged (gc refuses to guess).
        """
        report = GcReport(dry_run=dry_run)
        cutoff = time.time() - grace
        marked = self._mark(log_retention)
        unreachable = [(oid, t) for oid, t in self.backend.iter_objects() if oid not in marked]
        report.unreachable = len(unreachable)
        candidates = [oid for oid, t in unreachable if t < cutoff]
        report.too_young = len(unreachable) - len(candidates)
        if not dry_run and candidates:
            again = self._mark(log_retention)
            candidates = [o for o in candidates if o not in again]
            report.deleted = self.backend.delete_objects(candidates, older_than=cutoff)
        if not dry_run:
            report.temporary_files = self.backend.sweep_temporary(cutoff)
        report.reachable = len(marked)
        report.candidates = [hexid(o) for o in candidates]
        return report

    def _mark(self, log_retention: float) -> set[bytes]:
        roots, _ = self.roots(log_retention)

        def on_error(oid: bytes, exc: VStoreError) -> None:
            if isinstance(exc, CorruptObjectError):
                raise exc

        return self._walk(roots, on_error)
