"""Copy versions between two stores by object id (``vstore push`` and ``vstore pull``).

1. **Plan.** The versions asked for, and every version they descend from, are compared
   with the destination's version logs: a version the destination lacks is *created*,
   one whose destination head is an earlier state of the source's log is
   *fast-forwarded*, an equal one is *up to date*; anything else is *rejected* (the
   destination is ahead or has diverged) unless forced. A version published in the
   destination with other content is always rejected.
2. **Objects.** From the commits to send, the walk follows commits to their trees (plain
   NODE trees or STACK objects), parents and linked trees, and trees to their nodes and
   spilled records, the way the engine's own reachability walk does. An object the
   destination already holds is not sent, and by default not descended into: objects are
   always written before anything names them, so a stored object's children are stored
   too (``full=True`` checks every reachable object instead). Records of new leaves that
   name datalake blobs bring those blobs along. Every object read is verified against
   its id.
3. **Refs.** Only when every object is durable in the destination: dataset descriptions,
   blob refs, version log entries (a compare-and-swap on the head seen in step 1), and
   the write-once refs of published versions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vstore.cli.errors import CliError

if TYPE_CHECKING:
    from vstore.datasets.registry import DatasetInfo, VersionState
    from vstore.datasets.store import Store
    from vstore.engine import Repository
    from vstore.engine.backends.base import Backend

__all__ = ["CopyReport", "VersionPlan", "copy_versions", "plan_versions", "with_ancestors"]

_CHUNK = 256
_FLUSH_BYTES = 8 * 1024 * 1024
_DATALAKE = b"datalake:///"
SENT = ("created", "fast-forward", "forced")


@dataclass
class VersionPlan:
    """What happens to one version."""

    dataset: DatasetInfo
    state: VersionState
    result: str
    reason: str = ""
    expect: int = 0
    published: bool = False

    def json(self) -> dict[str, Any]:
        return {"dataset": self.dataset.name, "version": self.state.name,
                "version_id": self.state.version_id, "commit_id": self.state.commit.id.hex(),
                "result": self.result, "reason": self.reason}


@dataclass
class CopyReport:
    """What a copy did (or would do, on a dry run)."""

    objects_checked: int = 0
    objects_copied: int = 0
    bytes_copied: int = 0
    blobs_copied: int = 0
    versions: list[VersionPlan] = field(default_factory=list)


def _vlog(state: VersionState) -> str:
    return f"versions/{state.dataset_id}/{state.version_id}"


def with_ancestors(src: Store, states: list[VersionState]) -> list[VersionState]:
    """``states`` and the versions they descend from, each once, ancestors first."""
    out: dict[tuple[str, str], VersionState] = {}

    def add(s: VersionState, depth: int) -> None:
        if depth > 10_000:
            raise CliError("the version ancestry loops", "run `vstore verify`")
        if s.parent is not None:
            parent = src.registry.version(s.dataset_id, s.parent)
            if parent is not None:
                add(parent, depth + 1)
        out.setdefault((s.dataset_id, s.version_id), s)

    for s in states:
        add(s, 0)
    return list(out.values())


def plan_versions(src: Store, dst: Store, states: list[VersionState],
                  force: bool) -> list[VersionPlan]:
    """Decide, per version, what the copy does (nothing is written).

    Raises:
        CliError: the destination has another dataset of the same name.
    """
    plans = []
    infos: dict[str, DatasetInfo] = {}
    for s in states:
        info = infos.get(s.dataset_id) or src.registry.dataset_by_id(s.dataset_id)
        if info is None:
            raise CliError(f"dataset {s.dataset_id} vanished from the source", "try again")
        infos[s.dataset_id] = info
        other = dst.registry.dataset_by_name(info.name)
        if other is not None and other.id != info.id:
            raise CliError(
                f"the destination has another dataset named {info.name!r} ({other.id})",
                "rename or remove one of them before copying",
            )
        plans.append(_plan_one(src, dst, info, s, force))
    return plans


def _plan_one(src: Store, dst: Store, info: DatasetInfo, s: VersionState,
              force: bool) -> VersionPlan:
    name = _vlog(s)
    head = dst.repo.refs.head(name)
    published = src.repo.refs.frozen(f"published/{s.dataset_id}/{s.version_id}") is not None
    p = VersionPlan(info, s, "created", expect=head.seq if head else 0, published=published)
    if head is None or head.value is None:
        return p
    if head.value == s.commit.id:
        p.result = "up-to-date"
        return p
    frozen = dst.repo.refs.frozen(f"published/{s.dataset_id}/{s.version_id}")
    if frozen is not None:
        p.result, p.reason = "rejected", "published in the destination with other content"
        return p
    if any(e.value == head.value for e in src.repo.refs.entries(name)):
        p.result = "fast-forward"
        return p
    ahead = any(e.value == s.commit.id for e in dst.repo.refs.entries(name))
    p.reason = "the destination has newer changes" if ahead else "the histories diverged"
    p.result = "forced" if force else "rejected"
    return p


class _Walk:
    """Copies the objects reachable from some commits that a destination lacks."""

    def __init__(self, src: Repository, dst: Backend, full: bool, dry_run: bool,
                 tick: Callable[[int, int], None]) -> None:
        self.src, self.dst, self.full, self.dry_run, self.tick = src, dst, full, dry_run, tick
        self.report = CopyReport()
        self.blobs: set[bytes] = set()
        self._pending: dict[bytes, bytes] = {}
        self._pending_bytes = 0

    def run(self, roots: list[bytes]) -> None:
        from vstore.engine import EMPTY_ROOT

        seen = {EMPTY_ROOT}
        todo: list[tuple[bytes, bool]] = [(r, False) for r in roots]
        while todo:
            chunk = dict(todo[-_CHUNK:])
            del todo[-_CHUNK:]
            ids = [o for o in chunk if o not in seen]
            seen.update(ids)
            if ids:
                todo.extend(self._step(ids, chunk))
        self._flush()

    def _step(self, ids: list[bytes], record_blob: dict[bytes, bool]) -> list[tuple[bytes, bool]]:
        from vstore.engine.codec import hexid, unpack_object
        from vstore.errors import MissingObjectError

        have = self.dst.has_objects(ids)
        want = ids if self.full else [o for o in ids if o not in have]
        stored = self.src.backend.get_objects(want) if want else {}
        children: list[tuple[bytes, bool]] = []
        for oid in want:
            raw = stored.get(oid)
            if raw is None:
                raise MissingObjectError(hexid(oid), "a version of the source store")
            kind, body = unpack_object(oid, raw)
            new = oid not in have
            if new:
                self._queue(oid, raw)
            children += self._children(oid, kind, body, new, record_blob.get(oid, False))
        self.report.objects_checked += len(ids)
        self.tick(self.report.objects_checked, self.report.objects_copied)
        return children

    def _children(self, oid: bytes, kind: Any, body: bytes, new: bool,
                  is_record: bool) -> list[tuple[bytes, bool]]:
        from vstore.engine.codec import ObjectKind
        from vstore.engine.commits import parse_commit
        from vstore.engine.node import SPILL_CODE

        if kind == ObjectKind.COMMIT:
            c = parse_commit(oid, body)
            return [(x, False) for x in (c.tree, *c.parents, *c.links)]
        if kind == ObjectKind.STACK:
            return [(x, False) for x, _kind in self.src.layers.children(oid, body)]
        if kind == ObjectKind.BLOB:
            if new and is_record:
                self._scan(body)
            return []
        if kind != ObjectKind.NODE:
            return []
        node = self.src.tree.adopt(oid, body)
        if node.level:
            return [(child, False) for child in node.vals]
        out = []
        for v in node.vals:
            if isinstance(v, bytes):
                if new:
                    self._scan(v)
            elif v.code == SPILL_CODE:
                out.append((bytes(v.data), True))
        return out

    def _scan(self, record: bytes) -> None:
        if _DATALAKE not in record:
            return
        from vstore.model import decode_record

        def visit(x: Any) -> None:
            if isinstance(x, str) and x.startswith(_DATALAKE.decode()):
                blob = x[len(_DATALAKE):].split("/", 1)[0]
                with contextlib.suppress(ValueError):  # not a blob id: nothing to copy
                    self.blobs.add(bytes.fromhex(blob))
            elif isinstance(x, dict):
                for y in x.values():
                    visit(y)
            elif isinstance(x, list):
                for y in x:
                    visit(y)

        visit(decode_record(record, validate=False))

    def _queue(self, oid: bytes, raw: bytes) -> None:
        self.report.objects_copied += 1
        self.report.bytes_copied += len(raw)
        if self.dry_run:
            return
        self._pending[oid] = raw
        self._pending_bytes += len(raw)
        if self._pending_bytes >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self.dst.put_objects(self._pending)
        self._pending, self._pending_bytes = {}, 0

    def copy_blobs(self) -> list[bytes]:
        """Copy the datalake blobs the new records name; return those the source holds."""
        if not self.blobs:
            return []
        have = self.dst.has_objects(self.blobs)
        found = []
        for oid in sorted(self.blobs):
            if oid in have:
                found.append(oid)
                continue
            raw = self.src.backend.get_object(oid)
            if raw is None:
                continue  # a dangling source in the source store too: nothing to copy
            found.append(oid)
            self.report.blobs_copied += 1
            self._queue(oid, raw)
        self._flush()
        return found


def copy_versions(src: Store, dst: Store, plans: list[VersionPlan], *, full: bool = False,
                  dry_run: bool = False,
                  tick: Callable[[int, int], None] = lambda checked, copied: None) -> CopyReport:
    """Copy the objects of the planned versions, then write their refs in the destination.

    Args:
        src: the store the versions come from.
        dst: the store they go to.
        plans: from :func:`plan_versions`.
        full: check every reachable object, not only those under new ones.
        dry_run: count what would move; write nothing.
        tick: called with (objects checked, objects copied) as the walk goes.
    """
    walk = _Walk(src.repo, dst.repo.backend, full, dry_run, tick)
    walk.run([p.state.commit.id for p in plans if p.result in SENT])
    blobs = walk.copy_blobs()
    walk.report.versions = plans
    if not dry_run:
        _write_refs(dst, plans, blobs)
    return walk.report


def _write_refs(dst: Store, plans: list[VersionPlan], blobs: list[bytes]) -> None:
    from vstore.picsellia.blobs import pin_blobs

    refs = dst.repo.refs
    pin_blobs(dst, blobs)
    for p in plans:
        if dst.registry.dataset_by_id(p.dataset.id) is None:
            got, _created = dst.registry.create_dataset(p.dataset)
            if got.id != p.dataset.id:
                raise CliError(f"another dataset named {p.dataset.name!r} appeared in the "
                               "destination meanwhile", "rename one of them and copy again")
        if p.result in SENT:
            res = refs.append(_vlog(p.state), p.state.commit.id, p.expect)
            if not res.ok:
                p.result, p.reason = "rejected", "the destination changed during the copy"
                continue
        if p.published and p.result != "rejected":
            refs.create_frozen(f"published/{p.state.dataset_id}/{p.state.version_id}",
                               p.state.commit.id)
