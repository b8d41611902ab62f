"""Faults at every storage operation: crashes, I/O errors and lost responses (issue 7; R1, R4, R5).

Each operation a user runs (a BulkContext flush, on plain and on layered trees;
``commit_version``; ``publish_version``; ``create_snapshot``; a Picsellia ``fork``; ``gc``)
is prepared once per store kind (LMDB, a local directory, S3 on moto) and observed:
the **old** state. A dry run on a copy, behind a counting
:class:`~vstore.testing.faults.FaultyBackend`, gives its N storage operations and the
**new** state. Then, on a fresh copy each time:

* **crash** before operation k, for every k in 1..N, and after operation N (on S3,
  after each write: see ``kill_points``): the process "dies" (:class:`SimulatedCrash`;
  ``os._exit`` in a subprocess for one test); the store is reopened on a clean backend,
  ``verify()`` is clean, what a user sees is exactly the old or the new state (so every
  flush acknowledged before is there), and retrying the operation (as its caller would,
  from what it sees) gives exactly the new state, nothing doubled;
* **I/O error** at operation k (``OSError``, connection reset, timeout, throttling):
  the caller gets a typed ``vstore.errors`` error or a success, never a raw one; the
  state is old or new; retrying the same batch gives the new state;
* **lost response** at every write (the write lands, the reply is an error): a ref
  append is recognised by its nonce (no false conflict, no second entry); a publish
  whose reply is lost is not published twice.

"What a user sees" (:func:`observe`): every dataset's versions by name, with status,
parent, comment, metadata, Picsellia document, frame count, every frame record, stats
(checked against a recount of the records for committed versions), whether the
published write-once ref is there, and which version is current.

Counts scale with ``VSTORE_RELIABILITY_SCALE`` (tests/reliability/scale.py). Each test
prints what it tried (``-s``); docs/reliability.md records the last figures.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import vstore
from tests.reliability.conftest import KINDS, Place
from tests.reliability.scale import scaled
from vstore import DatasetVersion, SingleFrame
from vstore.datasets import lookup
from vstore.datasets.registry import VersionState
from vstore.datasets.stats import apply_changes, empty_stats, stats_lists
from vstore.datasets.store import Store
from vstore.errors import AlreadyExistsError, ConflictError, ReadOnlyError, VStoreError
from vstore.model import decode_record
from vstore.picsellia.frames import DOC_KEY
from vstore.testing.faults import ERRORS, Fault, FaultyBackend, SimulatedCrash, connection_reset

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0
DS = "cars"
LABELS = ("car", "bus", "truck")
WRITES = frozenset({"put_objects", "create_key", "write_key", "delete_objects", "delete_key"})
#: kill points inside one batch call when each of its objects is an operation (more at scale)
PER_BATCH = scaled(4)
#: On S3 a kill point costs seconds of emulator round trips, not milliseconds. CI runs these
#: operations there, at the points where its stored state differs (see ``kill_points``);
#: ``VSTORE_RELIABILITY_SCALE=10`` runs every operation at every k on S3 too.
S3_OPERATIONS = ("flush-plain", "commit", "publish", "snapshot", "fork", "gc")
FULL_S3 = scaled(1) >= 10
#: the writes that change what a recovery reads (a ref hint only speeds reads up)
STATE_WRITES = frozenset({"put_objects", "create_key", "delete_objects", "delete_key"})

# What the sweeps did, per test, printed at the end of each (figures for docs/reliability.md).
FIGURES: Counter[str] = Counter()


# -- what a user sees ------------------------------------------------------------------------------


@functools.cache
def frame(i: int, rev: int = 0) -> SingleFrame:
    """Frame ``i`` (its id comes from its source URI); every 7th has no box."""
    f = SingleFrame(source=f"s3://bucket/images/{i:05d}.jpg", width=640, height=480,
                    metadata={"i": i, "rev": rev})
    if i % 7:
        f.add_annotation(box2d_xywh=[10, 20, 30, 40 + rev], labels=[LABELS[i % 3]])
    return f


_RECOUNTS: dict[bytes, dict[str, list[dict[str, Any]]]] = {}


def recount(store: Store, tree: bytes) -> dict[str, list[dict[str, Any]]]:
    """The stats of a tree's frames counted from scratch (a tree id names its content)."""
    if tree not in _RECOUNTS:
        records = (decode_record(raw, validate=False) for _, raw in store.repo.layers.items(tree))
        _RECOUNTS[tree] = stats_lists(apply_changes(empty_stats(), ((None, r) for r in records)))
    return _RECOUNTS[tree]


def observe(store: Store, seqs: bool = False) -> dict[str, Any]:
    """Everything a user can see of the store's datasets (``seqs``: with ref-log lengths)."""
    out: dict[str, Any] = {}
    for info in store.registry.datasets():
        states = store.registry.versions(info.id)
        names = {s.version_id: s.name for s in states}
        rows = [_view(store, s, names, seqs) for s in states]
        rows.sort(key=lambda r: (r["name"], r["status"], r["records"]))
        current = lookup.current_state(store.registry, info).name
        out[info.name] = {"versions": rows, "current": current}
    return out


def _view(store: Store, state: VersionState, names: dict[str, str], seqs: bool) -> dict[str, Any]:
    """One version as its properties show it (read from one state: one consistent read)."""
    # Every frame record, as its canonical bytes: equal digests, equal frames.
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    for key, raw in store.repo.layers.items(state.tree):
        digest.update(b"%d:%s%d:%s" % (len(key), key, len(raw), raw))
        count += 1
    frozen = store.repo.refs.frozen(f"published/{state.dataset_id}/{state.version_id}")
    meta = state.meta
    view = {
        "name": state.name, "status": state.status, "comment": meta.get("comment") or "",
        "parent": names.get(state.parent or "", state.parent),
        "metadata": meta.get("metadata") or {}, "picsellia": meta.get(DOC_KEY) or {},
        "count": store.repo.layers.count(state.tree), "records": digest.hexdigest(),
        "stats": stats_lists(meta.get("committed_stats") or meta["stats"]),  # get_stats()
        "frozen": None if frozen is None else frozen.value == state.commit.id,
    }
    assert view["count"] == count, f"{state.name}: len() says {view['count']}, it holds {count}"
    if state.status != "draft":
        assert view["stats"] == recount(store, state.tree), f"{state.name}: stats disagree"
    if seqs:
        view["seq"] = state.seq
    return view


def differences(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A short account of how two observations differ (for failure messages)."""
    lines = []
    for ds in sorted(set(a) | set(b)):
        va, vb = a.get(ds, {}), b.get(ds, {})
        if va.get("current") != vb.get("current"):
            lines.append(f"{ds}: current {va.get('current')!r} vs {vb.get('current')!r}")
        ra = {r["name"]: r for r in va.get("versions", [])}
        rb = {r["name"]: r for r in vb.get("versions", [])}
        for name in sorted(set(ra) | set(rb)):
            x, y = ra.get(name), rb.get(name)
            if x is None or y is None:
                lines.append(f"{ds}/{name}: only on one side")
                continue
            lines += [f"{ds}/{name}.{k}: {_short(x[k])} vs {_short(y[k])}"
                      for k in x if x[k] != y.get(k)]
        if len(va.get("versions", [])) != len(vb.get("versions", [])):
            lines.append(f"{ds}: {len(va['versions'])} vs {len(vb['versions'])} versions")
    return "; ".join(lines) or "equal"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."


# -- the operations --------------------------------------------------------------------------------


class Operation:
    """One user operation: how to prepare its store, run it, and finish it after a fault."""

    name = ""
    #: ``layers.apply_max`` of every open (0: every write makes runs on a stack)
    apply_max: int | None = None
    #: on a local directory, count each object of a write batch as one storage operation: a
    #: crash can land part of a batch there (one file per object); LMDB writes a batch in
    #: one transaction and S3 in one pack, so a batch is one operation on them
    per_object = False
    #: the log retention ``verify`` (and gc) use
    retention = 7 * DAY
    #: the operation changes what users see (gc does not: it only deletes garbage)
    visible = True
    #: on S3, the writes after which a crash is tried (see ``kill_points``)
    s3_writes = STATE_WRITES

    def configure(self, store: Store) -> Store:
        if self.apply_max is not None:
            store.repo.layers.apply_max = self.apply_max
        return store

    def prepare(self, store: Store, workdir: Path) -> None:
        """Build the state the operation starts from, in an empty store."""
        raise NotImplementedError

    def target(self, store: Store) -> Any:
        """What the operation works on (a version handle), looked up before faults are armed."""
        return _version(store)

    def run(self, store: Store, target: Any) -> None:
        """The operation."""
        raise NotImplementedError

    def retry(self, store: Store) -> None:
        """Finish the operation after a crash, from a new process: run it again."""
        self.run(store, self.target(store))

    def retry_same(self, store: Store) -> None:
        """Finish it after an error, in the same process (the same batch, if any)."""
        self.retry(store)

    def check_dry_run(self, store: Store) -> None:
        """Check that the dry run did what the test says it exercises."""

    def pending(self, store: Store) -> bool:
        """After a crash: the operation's commit point is passed, its followers not done."""
        return False

    def accept(self, seen: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> str:
        """Name the state seen after a fault; fail unless it is the old or the new one."""
        if seen == old:
            return "old"
        if seen == new:
            return "new"
        raise AssertionError(
            f"{self.name}: neither the old nor the new state. vs old: {differences(seen, old)}"
            f" | vs new: {differences(seen, new)}"
        )


def _version(store: Store, name: str = "Current") -> DatasetVersion:
    return DatasetVersion.get_version(dataset_name=DS, version_name=name, store=store)


def _fill(store: Store, batches: list[range], commit: bool = True) -> DatasetVersion:
    """A dataset whose draft got one acknowledged flush per range of frame numbers."""
    v = DatasetVersion.create_new_dataset(DS, store=store)
    for numbers in batches:
        bc = v.get_bulk_context(refresh_version_stats=False)
        for i in numbers:
            bc.add_frame(frame(i))
        bc.flush()
    if commit:
        v.commit_version()
    return v


@dataclass
class Flush(Operation):
    """One BulkContext flush: new frames, overwritten frames and deletions.

    ``layers``: ``plain`` (the tree edited in place, at any size), ``merge`` (on a stack
    of three runs, the flush's run makes a fourth and they merge), ``fold`` (the runs
    outgrow the base and everything folds into a new base).
    """

    layers: str = "plain"
    _bc: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.name = f"flush-{self.layers}"
        self.apply_max = 1 << 30 if self.layers == "plain" else 0
        self.per_object = self.layers != "plain"

    def configure(self, store: Store) -> Store:
        if self.layers != "plain":
            # Small shapes: four runs of a generation merge, runs fold at the base's size.
            store.repo.layers.fanout = 4
            store.repo.layers.fold_ratio = 1
        return super().configure(store)

    def prepare(self, store: Store, workdir: Path) -> None:
        base = scaled(600 if self.layers == "merge" else 300)
        batches = [range(b, min(b + scaled(100), base)) for b in range(0, base, scaled(100))]
        if self.layers != "plain":
            small = scaled(20)
            start = 10 * base
            batches = [range(0, base)]  # one flush: the first fold makes the base
            batches += [range(start + j * small, start + (j + 1) * small) for j in range(3)]
        _fill(self.configure(store), batches)

    def run(self, store: Store, target: Any) -> None:
        self._bc = None
        self._bc = bc = target.get_bulk_context(refresh_version_stats=False)
        top = scaled(2000)
        for i in range(top, top + scaled(200)):
            bc.add_frame(frame(i))
        for i in range(0, scaled(50)):
            bc.add_frame(frame(i, rev=1))
        for i in range(scaled(50), scaled(70)):
            bc.delete_frame(frame(i))
        bc.flush()

    def retry_same(self, store: Store) -> None:
        if self._bc is None:  # failed before the bulk context existed: start again
            self.retry(store)
        else:  # a failed flush keeps its operations queued: flushing again sends them
            self._bc.flush()

    def check_dry_run(self, store: Store) -> None:
        state = store.registry.version(self._bc.version.dataset_id, self._bc.version.version_id)
        assert state is not None
        stack = store.repo.layers.stack(state.tree)
        shape = {"plain": [], "merge": [1], "fold": []}[self.layers]
        assert [r.generation for r in stack.runs] == shape
        assert (stack.id is None) == (self.layers == "plain"), "not the tree shape meant"


class Commit(Operation):
    """``commit_version`` of a draft with flushes since its last commit."""

    name = "commit"

    def prepare(self, store: Store, workdir: Path) -> None:
        v = _fill(store, [range(0, scaled(150)), range(scaled(150), scaled(300))])
        bc = v.get_bulk_context(refresh_version_stats=False)
        for i in range(scaled(280), scaled(400)):
            bc.add_frame(frame(i, rev=2))
        bc.delete_frame(frame(1))
        bc.flush()

    def run(self, store: Store, target: Any) -> None:
        target.commit_version()


class Publish(Operation):
    """``publish_version`` of a committed draft."""

    name = "publish"
    vid = ""
    # Its object writes are those of a flush, tried on S3 by flush-plain: here the refs.
    s3_writes = frozenset({"create_key"})

    def prepare(self, store: Store, workdir: Path) -> None:
        v = _fill(store, [range(0, scaled(150)), range(scaled(150), scaled(300))])
        self.vid = v.version_id

    def target(self, store: Store) -> Any:
        return DatasetVersion.get_version(dataset_name=DS, version_id=self.vid, store=store)

    def run(self, store: Store, target: Any) -> None:
        assert target.publish_version() is True

    def retry(self, store: Store) -> None:
        v = self.target(store)
        try:
            assert v.publish_version() is True
        except ReadOnlyError:
            assert v.status == "published"  # the crashed call had published it: a clear no

    def accept(self, seen: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> str:
        if seen == _unfrozen(new):
            # Two keys cannot be written at once: the log says published, the write-once
            # ref is not there yet. Nothing can write to the version; publishing again
            # finishes it (checked by the retry).
            return "published, ref pending"
        return super().accept(seen, old, new)


class Snapshot(Publish):
    """``create_snapshot`` of a draft with a flush since its last commit: commit, publish in
    place and open a draft child, as one commit point.

    A crash after the publish entry leaves the child (and the write-once ref) to be
    finished: the next listing of the versions does it, so what a user sees is exactly
    the old or the new state, never one without the other.
    """

    name = "snapshot"

    def prepare(self, store: Store, workdir: Path) -> None:
        super().prepare(store, workdir)
        bc = self.target_version(store).get_bulk_context(refresh_version_stats=False)
        for i in range(scaled(300), scaled(340)):
            bc.add_frame(frame(i))
        bc.delete_frame(frame(3))
        bc.flush()  # not committed: the snapshot commits it in the same entry

    def target_version(self, store: Store) -> DatasetVersion:
        return super().target(store)  # type: ignore[no-any-return]

    def target(self, store: Store) -> Any:
        return None

    def run(self, store: Store, target: Any) -> None:
        DatasetVersion.create_snapshot(
            dataset_name=DS, version_id=self.vid, publish_name="v1", publish_comment="first",
            child_name="next", store=store,
        )

    def retry(self, store: Store) -> None:
        try:
            self.run(store, None)
        except ReadOnlyError as exc:
            # Published before the crash: the call finished the snapshot, and says where
            # its child is.
            assert "its draft child is 'next'" in str(exc), exc

    def pending(self, store: Store) -> bool:
        """Published, the snapshot not finished (read without listing, which finishes it)."""
        info = store.registry.dataset_by_name(DS)
        assert info is not None
        state = store.registry.version(info.id, self.vid)
        assert state is not None
        return state.status == "published" and not store.registry.is_frozen(state)

    def accept(self, seen: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> str:
        return Operation.accept(self, seen, old, new)  # no state in between


def _unfrozen(obs: dict[str, Any]) -> dict[str, Any]:
    """``obs`` with no write-once published ref."""
    return {ds: {**d, "versions": [{**r, "frozen": None} for r in d["versions"]]}
            for ds, d in obs.items()}


class Fork(Operation):
    """A Picsellia ``fork`` that drops some assets and strips annotations and tags."""

    name = "fork"

    def prepare(self, store: Store, workdir: Path) -> None:
        from tests.picsellia.conftest import png

        folder = workdir / "images"
        folder.mkdir(exist_ok=True)
        paths = [str(png(folder / f"img{i}.png", seed=i)) for i in range(6)]
        data = store.get_datalake().upload_data(paths, tags=["raw"])
        v = store.create_dataset(DS).create_version("first")
        v.add_data(data)
        car, bus = v.create_label("car"), v.create_label("bus")
        assets = v.list_assets(order_by=["filename"])
        for i, a in enumerate(assets[:4]):
            ann = a.create_annotation()
            ann.create_multiple_rectangles([(0, 0, 1, 1, car)] * (i + 1))
            if i % 2:
                ann.create_classification(bus)
        assets[0:2].add_tags("hard")

    def target(self, store: Store) -> Any:
        v = _version(store, "first")
        return v, v.list_assets(order_by=["filename"])[1:5]

    def run(self, store: Store, target: Any) -> None:
        v, assets = target
        v.fork("forked", description="fork", assets=assets)

    def retry(self, store: Store) -> None:
        # If the crashed call had made the fork, a clear no (and observe checks it whole).
        with contextlib.suppress(AlreadyExistsError):
            super().retry(store)


class Gc(Operation):
    """``gc`` with no grace period and no log retention: only the heads keep objects."""

    name = "gc"
    retention = 0.0
    per_object = True
    visible = False

    def prepare(self, store: Store, workdir: Path) -> None:
        v = _fill(store, [range(0, scaled(100)), range(scaled(50), scaled(200))])
        for rev in (1, 2):
            bc = v.get_bulk_context(refresh_version_stats=False)
            for i in range(0, scaled(200), 3):
                bc.add_frame(frame(i, rev=rev))
            bc.flush()
        v.commit_version()
        gone = DatasetVersion.create_version("scratch", dataset_name=DS, store=store)
        gone.add_frames([frame(i) for i in range(scaled(5000), scaled(5000) + scaled(50))])
        DatasetVersion.remove_version(dataset_name=DS, version_id=gone.version_id, store=store)

    def target(self, store: Store) -> Any:
        return None

    def run(self, store: Store, target: Any) -> None:
        store.repo.gc(grace=0.0, log_retention=self.retention)




# -- the sweep machinery ---------------------------------------------------------------------------


@dataclass
class Bench:
    """One operation on one store kind: its prepared template, dry run and states."""

    place: Place
    op: Operation
    #: each object of a write batch is an operation (see ``Operation.per_object``)
    per_object: bool = False
    template: str = ""
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    new_seqs: dict[str, Any] = field(default_factory=dict)
    trace: list[tuple[str, int]] = field(default_factory=list)
    garbage: int = 0

    @property
    def n(self) -> int:
        return sum(n for _, n in self.trace)

    def setup(self, like: Bench | None = None) -> Bench:
        """Prepare the template (or take that of ``like``) and make the dry run."""
        if like is not None:
            self.template, self.old, self.garbage = like.template, like.old, like.garbage
        else:
            self.template = self.place.new_url()
            store = self.op.configure(self.place.open(self.template))
            self.op.prepare(store, self.place.root)
            self.old = observe(store)
            self.garbage = store.repo.verify(log_retention=self.op.retention).dangling
            store.close()
        store, faulty = self.fresh()
        target = self.op.target(store)
        faulty.arm()
        self.op.run(store, target)
        self.trace = list(faulty.trace)
        self.op.check_dry_run(store)
        self.new, self.new_seqs = observe(store), observe(store, seqs=True)
        if self.op.visible:
            assert self.new != self.old, f"{self.op.name}: the dry run changed nothing"
        else:
            left = store.repo.verify(log_retention=self.op.retention).dangling
            assert self.garbage > 0 and left == 0, "the dry run collected nothing"
        return self

    def fresh(self) -> tuple[Store, FaultyBackend]:
        """A copy of the template, opened behind a fault injector, as a new process would."""
        forget_process_caches()
        store, faulty = self.place.open_faulty(self.place.copy(self.template), self.per_object)
        return self.op.configure(store), faulty

    def reopen(self, store: Store) -> Store:
        """Close ``store`` and open it again on a clean backend (what a restart does)."""
        store.close()
        forget_process_caches()
        return self.op.configure(self.place.open(store.url))

    def check(self, store: Store) -> str:
        """Verify the store and name the state it is in (old or new, else fail)."""
        report = store.repo.verify(log_retention=self.op.retention)
        assert report.ok, f"{self.op.name}: verify found missing {report.missing[:3]}, " \
                          f"corrupt {report.corrupt[:3]}"
        return self.op.accept(observe(store), self.old, self.new)

    def finish(self, store: Store, state: str, same: bool = False) -> None:
        """Retry the operation and require exactly the new state."""
        (self.op.retry_same if same else self.op.retry)(store)
        seen = observe(store)
        assert seen == self.new, f"{self.op.name}: after the retry: {differences(seen, self.new)}"
        if self.place.local or not self.op.visible:
            # (On S3 observe has just read every tree the retry wrote, each object verified.)
            report = store.repo.verify(log_retention=self.op.retention)
            assert report.ok, f"{self.op.name}: after the retry: {report}"
            if not self.op.visible:
                assert report.dangling == 0, "the retried gc left garbage"


def forget_process_caches() -> None:
    """Drop what vstore caches per process (Picsellia asset indexes), as a restart does.

    Without this the operation counts of two runs differ: a later run finds the index
    the dry run built.
    """
    from vstore.picsellia import index

    with index._lock:
        index._by_root.clear()
        index._last_root.clear()


def kill_points(bench: Bench, every: bool = True) -> list[tuple[int, bool]]:
    """``(k, after)`` points: before every storage operation, and after the last one.

    With ``per_object``, a batch call of many objects is many operations; inside one,
    ``PER_BATCH`` points spread over it (and its second object) are taken, not all: a crash
    between two objects of a batch leaves the same kind of state wherever it falls.

    Without ``every``: a crash right after each write that changes what is stored. A crash
    anywhere else leaves the same stored bytes as one of these (reads and hints change
    nothing a recovery reads; before the first write is the old state), so these cover
    every state a crash can leave; used on S3, where a point costs seconds.
    """
    points: list[tuple[int, bool]] = []
    last = 0
    for method, n in bench.trace:
        first, last = last + 1, last + n
        if not every:
            if method in bench.op.s3_writes:
                points.append((last, True))
            continue
        inside = list(range(first, last + 1))
        if len(inside) > PER_BATCH:
            step = (len(inside) - 1) / (PER_BATCH - 1)
            inside = sorted({inside[round(j * step)] for j in range(PER_BATCH)} | {inside[1]})
        points += [(k, False) for k in inside]
    if every:
        points.append((bench.n, True))
    return points


_BENCHES: dict[tuple[str, str, bool], Bench] = {}


def bench_for(place: Place, name: str, objects: bool = True) -> Bench:
    """The bench of operation ``name`` on ``place``'s store kind, prepared once per session
    (the tests of one operation share its template; each copies it before any write).

    Args:
        objects: on a local directory, count each object of a write batch as an operation.
    """
    key = (place.kind, name, objects and MAKERS[name]().per_object and place.kind == "file")
    if key not in _BENCHES:
        like = _BENCHES.get((key[0], key[1], not key[2]))
        op = like.op if like is not None else MAKERS[name]()
        _BENCHES[key] = Bench(place, op, key[2]).setup(like)
    bench = _BENCHES[key]
    bench.place = place  # copies and opens go to this test's place
    return bench


def run_to_outcome(op: Operation, store: Store, target: Any, k: int) -> str:
    """Run ``op`` under an armed fault: ``ok``, or ``typed`` if a vstore error reached us."""
    try:
        op.run(store, target)
    except VStoreError:
        return "typed"
    except Exception as exc:
        raise AssertionError(
            f"{op.name}: a raw {type(exc).__name__} reached the caller at operation {k}: {exc}"
        ) from exc
    return "ok"


def report(test: str, place: Place, op: Operation, counts: Counter[str]) -> None:
    """Print and keep what a sweep did (the figures of docs/reliability.md)."""
    line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"\n[faults] {test} {place.kind} {op.name}: {line}")
    for k, v in counts.items():
        FIGURES[f"{test}/{place.kind}/{op.name}/{k}"] += v


MAKERS: dict[str, Callable[[], Operation]] = {
    "flush-plain": lambda: Flush("plain"),
    "flush-merge": lambda: Flush("merge"),
    "flush-fold": lambda: Flush("fold"),
    "commit": Commit,
    "publish": Publish,
    "snapshot": Snapshot,
    "fork": Fork,
    "gc": Gc,
}


# -- 1. a crash at every storage operation ---------------------------------------------------------


def cases(lmdb: Sequence[str], file: Sequence[str] | None = None,
          s3: Sequence[str] = ()) -> list[Any]:
    """``(store kind, operation)`` parameters: the operations to run on each kind (``file``
    defaults to ``lmdb``'s; at full scale every kind runs ``lmdb``'s)."""
    names = {"lmdb": lmdb, "file": lmdb if file is None or FULL_S3 else file,
             "s3": lmdb if FULL_S3 else s3}
    return [pytest.param(kind, name, id=f"{kind}-{name}") for kind in KINDS
            for name in names[kind]]


@pytest.mark.parametrize(
    ("place", "name"),
    # The directory runs one layered flush (the fold, the most objects written), LMDB both.
    cases(list(MAKERS), [n for n in MAKERS if n != "flush-merge"], S3_OPERATIONS),
    indirect=["place"],
)
def test_a_crash_at_any_storage_operation_leaves_the_old_or_the_new_state(
    place: Place, name: str
) -> None:
    bench = bench_for(place, name)
    op = bench.op
    counts: Counter[str] = Counter({"storage operations": bench.n})
    for k, after in kill_points(bench, every=place.local or FULL_S3):
        store, faulty = bench.fresh()
        target = op.target(store)
        faulty.arm(Fault(at=k, after=after))
        with pytest.raises(SimulatedCrash):
            op.run(store, target)
        assert faulty.dead is not None
        store = bench.reopen(store)
        pending = op.pending(store)
        state = bench.check(store)
        bench.finish(store, state)
        store.close()
        counts["kill points"] += 1
        counts[f"left {state}" + (" (finished by the next listing)" if pending else "")] += 1
    report("crash", place, op, counts)


# -- 2. I/O errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "name"),
    cases(["flush-plain", "flush-fold", "commit", "publish", "gc"], ["flush-plain"],
          ["flush-plain"]),
    indirect=["place"],
)
def test_an_io_error_at_any_operation_is_typed_and_the_same_batch_then_succeeds(
    place: Place, name: str
) -> None:
    """An error at storage operation k: a typed error (or a success), then the same call
    again gives the new state, nothing doubled.

    The errors are raised above the backend, so its kind changes only the recovery: LMDB
    runs five operations at every k, the directory the flush at every k, S3 the flush at
    its two writes.
    """
    bench = bench_for(place, name, objects=False)
    op = bench.op
    kinds = list(ERRORS)
    counts: Counter[str] = Counter()
    if place.local or FULL_S3:
        points = [k for k, _ in kill_points(bench)][:-1]  # not the "after the last" point
    else:
        points = [k for k, _ in kill_points(bench, every=False)]  # the writes
    for j, k in enumerate(points):
        # Every kind of error at every point of a flush on LMDB; elsewhere they take turns.
        every_kind = name == "flush-plain" and place.kind == "lmdb"
        for kind in kinds if every_kind else [kinds[j % len(kinds)]]:
            store, faulty = bench.fresh()
            target = op.target(store)
            faulty.arm(Fault(at=k, mode="error", error=ERRORS[kind]))
            outcome = run_to_outcome(op, store, target, k)
            assert faulty.fired == 1
            faulty.disarm()
            state = bench.check(store)
            if outcome == "ok":
                # Retried inside vstore (a ref create) or harmless (a hint): done, once.
                assert state == "new"
                assert observe(store, seqs=True) == bench.new_seqs, "an entry was doubled"
            else:
                bench.finish(store, state, same=True)
                if name.startswith("flush"):
                    assert observe(store, seqs=True) == bench.new_seqs, "the retry doubled"
            store.close()
            counts[f"{kind} {outcome}"] += 1
    report("io-error", place, op, counts)


# -- 3. lost responses -----------------------------------------------------------------------------


def write_points(bench: Bench) -> list[tuple[int, str]]:
    """The last operation of every write call (a lost reply to the whole call)."""
    out, last = [], 0
    for method, n in bench.trace:
        last += n
        if method in WRITES:
            out.append((last, method))
    return out


@pytest.mark.parametrize(
    ("place", "name"),
    # The reply is lost above the backend; the directory and S3 run the ref writers.
    cases(list(MAKERS), ["flush-plain", "publish", "snapshot", "fork"], ["flush-plain"]),
    indirect=["place"],
)
def test_a_lost_reply_to_any_write_is_neither_a_conflict_nor_a_double_write(
    place: Place, name: str
) -> None:
    bench = bench_for(place, name, objects=False)
    op = bench.op
    counts: Counter[str] = Counter()
    for k, method in write_points(bench):
        store, faulty = bench.fresh()
        target = op.target(store)
        faulty.arm(Fault(at=k, mode="lost", error=connection_reset))
        try:
            outcome = run_to_outcome(op, store, target, k)
        except ConflictError as exc:  # pragma: no cover - the failure this test looks for
            raise AssertionError(f"{op.name}: a false conflict at operation {k}") from exc
        faulty.disarm()
        if method == "create_key":
            # The writer's retry finds its own entry by its nonce.
            assert outcome == "ok", f"{op.name}: a lost create at operation {k} failed"
        state = bench.check(store)
        if outcome == "ok":
            assert state == "new"
            assert observe(store, seqs=True) == bench.new_seqs, "an entry was doubled"
        else:
            bench.finish(store, state, same=True)
        store.close()
        counts[f"{method} {outcome}"] += 1
    report("lost-reply", place, op, counts)


@pytest.mark.parametrize("which", ["publish entry", "write-once ref"])
def test_a_publish_whose_replies_are_all_lost_is_published_once(place: Place, which: str) -> None:
    bench = bench_for(place, "publish", objects=False)
    op = bench.op
    assert isinstance(op, Publish)
    # The creates of a publish: the commit's entry, the publish entry, the write-once ref.
    assert [m for m, _ in bench.trace if m == "create_key"] == ["create_key"] * 3
    store, faulty = bench.fresh()
    target = op.target(store)
    # The create lands; its reply and the replies of every retry are lost: the call fails.
    faulty.arm(Fault(at=2 if which == "publish entry" else 3, mode="lost", times=10,
                     methods=frozenset({"create_key"}), error=connection_reset))
    with pytest.raises(vstore.BackendError):
        op.run(store, target)
    faulty.disarm()
    v = op.target(store)
    assert v.status == "published"
    # Publishing again finishes what is missing, or says it is published; never twice.
    try:
        assert v.publish_version() is True
        again = "completes it"
    except ReadOnlyError:
        again = "says already published"
    assert observe(store, seqs=True) == bench.new_seqs
    store.close()
    report("lost-publish", place, op, Counter({f"{which}: a second publish {again}": 1}))


# -- 4. a real process exit ------------------------------------------------------------------------


_CHILD = """
import sys
from tests.reliability.test_faults import child_flush
child_flush(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1")
"""


def child_flush(url: str, k: int, after: bool) -> None:
    """In a subprocess: flush with ``os._exit(137)`` at operation ``k``; exit 3 if it never came."""
    from vstore.engine import Repository, open_backend

    faulty = FaultyBackend(open_backend(url))
    store = Store(Repository(faulty))
    op = Flush("plain")
    target = op.target(store)
    faulty.arm(Fault(at=k, mode="exit", after=after))
    op.run(store, target)
    sys.exit(3)


def test_a_real_exit_at_each_write_of_a_flush_leaves_the_old_or_the_new_state(
    local_place: Place,
) -> None:
    """``os._exit`` in a subprocess (no unwinding, LMDB locks and readers left as a kill
    leaves them): before the flush's first operation and after each of its writes."""
    bench = bench_for(local_place, "flush-plain")
    op = bench.op
    points = [(1, False), *kill_points(bench, every=False)]
    counts: Counter[str] = Counter()
    for k, after in points:
        url = local_place.copy(bench.template)
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, url, str(k), "1" if after else "0"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 137, proc.stderr[-2000:]
        store = op.configure(local_place.open(url))
        state = bench.check(store)
        bench.finish(store, state)
        store.close()
        counts[f"left {state}"] += 1
    report("exit", local_place, op, counts)


# -- 5. the harness's own premise ------------------------------------------------------------------


def test_no_vstore_code_swallows_a_base_exception() -> None:
    """A simulated crash is a BaseException: it must unwind through vstore untouched."""
    offenders = []
    for path in sorted((ROOT / "vstore").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ExceptHandler) and _broad(node.type):
                last = node.body[-1]
                if not (isinstance(last, ast.Raise) and last.exc is None):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress")
                    and any(_broad(a) for a in node.args)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "handlers that can swallow a BaseException: " + ", ".join(offenders)


def _broad(node: ast.expr | None) -> bool:
    if node is None:
        return True
    if isinstance(node, ast.Tuple):
        return any(_broad(e) for e in node.elts)
    return isinstance(node, ast.Name) and node.id == "BaseException"


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    if FIGURES:
        print("\n[faults] totals:")
        for key, value in sorted(FIGURES.items()):
            print(f"[faults]   {key}: {value}")
