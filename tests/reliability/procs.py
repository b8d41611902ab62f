"""Worker processes and their shared pieces for the kill and concurrency tests.

The parent imports vstore once and starts children by ``fork`` (the kill test: no
interpreter start per kill) or through a ``multiprocessing`` context (``fork`` for
local stores; a fork server for S3, so that no child inherits the moto server's
threads). Everything a child needs is a module-level function of plain arguments.

Frames are a pure function of ``(prefix, i)``; a test checks a store against
:func:`expected` alone. Writers record what the store acknowledged in side logs of
complete, fsynced lines (:func:`append_line`, :func:`read_lines`), so a SIGKILL can
tear at most the last line, which readers ignore.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import blake3

import vstore
from vstore import DatasetVersion, SingleFrame
from vstore.model import encode_record, frame_to_record

DATASET = "reliability"

# -- frames ------------------------------------------------------------------------------


def frame_id(prefix: str, i: int) -> str:
    """The id of frame ``i`` of writer ``prefix``."""
    return f"{prefix}-{i:06d}"


def make_frame(prefix: str, i: int) -> SingleFrame:
    """Frame ``i`` of ``prefix``: its content depends on nothing else.

    Sizes vary with ``i``, and every 101st frame carries a 40 KiB field, so the
    tree spills it into a BLOB object of its own.
    """
    digest = blake3.blake3(f"{prefix}/{i}".encode()).hexdigest()
    meta: dict[str, Any] = {"p": prefix, "i": i, "pad": digest * (i % 7)}
    if i % 101 == 0:
        meta["blob"] = blake3.blake3(digest.encode()).hexdigest(length=20_000)
    frame = SingleFrame(
        id=frame_id(prefix, i),
        source=f"s3://bucket/{prefix}/{i}.jpg",
        metadata=meta,
        content_type="image/jpeg",
    )
    frame.add_annotation(labels=[f"l{i % 5}"])
    return frame


@functools.lru_cache(maxsize=200_000)
def expected(prefix: str, i: int) -> bytes:
    """The stored record of frame ``i`` of ``prefix`` (its canonical bytes)."""
    return encode_record(frame_to_record(make_frame(prefix, i)))


def record_of(frame: Any) -> bytes:
    """The canonical bytes of a frame read back through the public API."""
    return encode_record(frame_to_record(frame))


def parse_key(key: bytes) -> tuple[str, int]:
    """``(prefix, i)`` of a frame key made by :func:`frame_id`."""
    prefix, _, i = key.decode().rpartition("-")
    return prefix, int(i)


def check_content(items: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, set[int]], list[str]]:
    """Index stored ``(key, record)`` pairs by prefix; list those unequal to their generator."""
    present: dict[str, set[int]] = {}
    wrong: list[str] = []
    for key, raw in items:
        prefix, i = parse_key(key)
        present.setdefault(prefix, set()).add(i)
        if raw != expected(prefix, i):
            wrong.append(key.decode())
    return present, wrong


def draft_items(store: vstore.Store, version_id: str) -> list[tuple[bytes, bytes]]:
    """Every ``(key, record)`` of a version's tree, as stored."""
    info = store.registry.dataset_by_name(DATASET)
    assert info is not None
    state = store.registry.version(info.id, version_id)
    assert state is not None
    return list(store.repo.layers.items(state.tree))


# -- side logs ---------------------------------------------------------------------------


def append_line(path: str, line: str) -> None:
    """Append one line to ``path`` and fsync it before returning (an acknowledgement)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: str | Path) -> list[str]:
    """The complete lines of a side log (a torn last line is left out)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return [x.decode() for x in data.split(b"\n")[:-1] if x]


def acked_ranges(path: str | Path) -> list[tuple[str, int, int]]:
    """The ``(prefix, lo, hi)`` ranges an ack log holds."""
    out = []
    for line in read_lines(path):
        prefix, lo, hi = line.split()
        out.append((prefix, int(lo), int(hi)))
    return out


# -- fork and kill (the kill test) ----------------------------------------------------------


def fork_call(fn: Callable[..., None], *args: Any, error_path: str) -> int:
    """Run ``fn(*args)`` in a forked child; return its pid.

    The child never returns into the caller's stack: it ends with ``os._exit``, 0
    when ``fn`` returns and 1 after writing its traceback to ``error_path``.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        fn(*args)
        code = 0
    except BaseException:
        Path(error_path).write_text(traceback.format_exc())
    finally:
        os._exit(code)


def kill_and_reap(pid: int) -> int:
    """SIGKILL a child and wait for it; return its wait status."""
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


def open_store(url: str, options: dict[str, Any] | None, cache_dir: str | None) -> vstore.Store:
    """Open a store as every worker does (a private object cache for remote stores)."""
    return vstore.open(url, options, cache_dir=cache_dir)


def get_version(store: vstore.Store, version_id: str) -> DatasetVersion:
    """A version of the test dataset by id."""
    return DatasetVersion.get_version(dataset_name=DATASET, version_id=version_id, store=store)


def ingest(
    url: str, version_id: str, prefix: str, start: int, threshold: int,
    apply_max: int | None, ack_path: str, stop: int | None = None,
) -> None:
    """Add frames ``start, start + 1, ...`` (up to ``stop``, or forever) in a bulk context.

    The context flushes every ``threshold`` frames; once a flush returns, its
    range is acknowledged in ``ack_path``. ``stop - start`` is a multiple of
    ``threshold``, so every frame is acknowledged when this returns.
    """
    store = vstore.open(url)
    if apply_max is not None:
        store.repo.layers.apply_max = apply_max
    # Flushes in this process: a threshold flush is durable when add_frame returns, which
    # the acknowledgements below rely on (a writer process would still hold it).
    bc = get_version(store, version_id).get_bulk_context(flush_threshold=threshold,
                                                          background=False)
    i = lo = start
    while stop is None or i < stop:
        bc.add_frame(make_frame(prefix, i))
        i += 1
        if i - lo == threshold:
            assert bc.pending == 0, "the bulk context did not flush at its threshold"
            # The caller takes a moment to acknowledge (as a reply over a network would), so
            # some kills land after a flush is durable and before its ack is written.
            time.sleep(0.003)
            append_line(ack_path, f"{prefix} {lo} {i}")
            lo = i
    assert bc.pending == 0
    store.close()


def stats_problems(store: vstore.Store, version_id: str) -> list[str]:
    """Where a version's recorded stats disagree with its trees (a half-written update)."""
    info = store.registry.dataset_by_name(DATASET)
    assert info is not None
    state = store.registry.version(info.id, version_id)
    assert state is not None
    layers, meta = store.repo.layers, state.meta
    out = []
    pairs = [("committed_stats", state.committed_tree)]
    if meta.get("stats_tree") == state.tree:
        pairs.append(("stats", state.tree))
    for field, tree in pairs:
        frames = sum(meta[field]["frames"].values())
        if frames != layers.count(tree):
            out.append(f"{field} count {frames} frames, the tree holds {layers.count(tree)}")
    return out


# -- multiprocessing workers (the concurrency tests) --------------------------------------------


def run_job(fn: Callable[..., Any], out_path: str, args: tuple[Any, ...]) -> None:
    """A child's entry point: run ``fn(*args)``; write its result or traceback as JSON."""
    try:
        result = {"ok": True, "result": fn(*args)}
    except BaseException:
        result = {"ok": False, "error": traceback.format_exc()}
    Path(out_path).write_text(json.dumps(result))


def start_jobs(
    ctx: BaseContext, out_dir: Path, jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> list[tuple[BaseProcess, Path]]:
    """Start one process per ``(fn, args)``; each writes ``out_dir/<n>.json``."""
    started = []
    for n, (fn, args) in enumerate(jobs):
        out = out_dir / f"{n}.json"
        proc = ctx.Process(target=run_job, args=(fn, str(out), args))  # type: ignore[attr-defined]
        proc.start()
        started.append((proc, out))
    return started


def release(started: list[tuple[BaseProcess, Path]], barrier: Any) -> None:
    """Pass the start barrier with the jobs; if it breaks, fail with a job's traceback."""
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        finish_jobs(started, 30)
        raise


def finish_jobs(started: list[tuple[BaseProcess, Path]], timeout: float) -> list[Any]:
    """Wait for every job; fail with its traceback if one failed, hung or died."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc, out in started:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                raise AssertionError(f"worker {proc.name} still runs after {timeout:.0f}s")
            if not out.exists():
                raise AssertionError(f"worker {proc.name} died (exit code {proc.exitcode})")
            got = json.loads(out.read_text())
            if not got["ok"]:
                raise AssertionError(f"worker {proc.name} failed:\n{got['error']}")
            results.append(got["result"])
    finally:
        for proc, _ in started:
            if proc.is_alive():
                proc.kill()
            proc.join()
    return results


def _wait(barrier: Any) -> None:
    barrier.wait(timeout=120)


def flush_writer(
    url: str, options: dict[str, Any] | None, cache_dir: str | None, version_id: str,
    prefix: str, flushes: int, per_flush: int, ack_path: str | None, barrier: Any,
    apply_max: int | None = None, reuse_age: float | None = None, pause: float = 0.0,
) -> dict[str, Any]:
    """``flushes`` bulk-context flushes of ``per_flush`` new frames each into one draft.

    Frame ``j * per_flush + m`` of ``prefix`` goes in flush ``j``; with ``ack_path``
    each returned flush is acknowledged there. ``apply_max=0`` makes this writer's
    flushes layered-tree runs; ``pause`` s pass between flushes.
    """
    if reuse_age is not None:
        _scale_pack_reuse(reuse_age)
    store = open_store(url, options, cache_dir)
    if apply_max is not None:
        store.repo.layers.apply_max = apply_max
    bc = get_version(store, version_id).get_bulk_context()
    writes = _observe_writes(store)
    _wait(barrier)
    t0 = time.perf_counter()
    for j in range(flushes):
        lo = j * per_flush
        for i in range(lo, lo + per_flush):
            bc.add_frame(make_frame(prefix, i))
        bc.flush()
        if ack_path is not None:
            append_line(ack_path, f"{prefix} {lo} {lo + per_flush}")
        time.sleep(pause)
    store.close()
    return {"prefix": prefix, "flushes": flushes, "seconds": time.perf_counter() - t0,
            **write_figures(writes)}


def _observe_writes(store: vstore.Store) -> list[Any]:
    """Collect the :class:`~vstore.engine.turns.WriteReport` of every version write this
    store makes (the registry's own account; it changes nothing it does)."""
    writes: list[Any] = []
    store.registry.observe_writes = writes.append
    return writes


def write_figures(writes: list[Any]) -> dict[str, Any]:
    """What a worker's version writes went through: rounds lost (each one a retry),
    attempts, turns taken and time spent leaving the next write to another's turn."""
    return {
        "writes": len(writes),
        "conflicts": sum(w.lost for w in writes),
        "early": sum(w.early for w in writes),
        "max_losses_in_a_row": max((w.lost for w in writes), default=0),
        "max_attempts": max((w.attempts for w in writes), default=0),
        "turns": sum(w.turns for w in writes),
        "waited": sum(w.waited for w in writes),
        "slowest_write": max((w.seconds for w in writes), default=0.0),
    }


def snapshot_writer(
    url: str, options: dict[str, Any] | None, cache_dir: str | None, version_id: str,
    prefix: str, rounds: int, per_round: int, log_path: str, barrier: Any,
) -> dict[str, Any]:
    """Grow a draft by ``per_round`` frames and publish it (a snapshot), ``rounds`` times.

    After each snapshot returns, ``log_path`` gets ``<published id> <prefix> <frames>``:
    that version holds exactly frames ``0 .. frames - 1`` of ``prefix``.
    """
    store = open_store(url, options, cache_dir)
    vid = version_id
    _wait(barrier)
    for r in range(rounds):
        v = get_version(store, vid)
        with v.get_bulk_context() as bc:
            for i in range(r * per_round, (r + 1) * per_round):
                bc.add_frame(make_frame(prefix, i))
        child = DatasetVersion.create_snapshot(
            version_id=vid, dataset_name=DATASET, publish_name=f"{prefix} r{r}", store=store
        )
        append_line(log_path, f"{vid} {prefix} {(r + 1) * per_round}")
        vid = child.version_id
    store.close()
    return {"prefix": prefix, "published": rounds}


def verifying_reader(
    url: str, options: dict[str, Any] | None, cache_dir: str | None, log_path: str,
    per_round: int, seed: int, verify_every: int, pause: float, stop: Any, barrier: Any,
) -> dict[str, Any]:
    """Read published versions until ``stop`` is set; check each against the generator.

    Each pass reads the version the registry lists as published most recently (it
    may not be in ``log_path`` yet: its name says what it holds) and one named in
    ``log_path``. A read lists every frame of the version; every ``verify_every``
    reads (and at the end) the whole store is verified. Reads are ``pause`` s apart.
    """
    rng = random.Random(seed)
    store = open_store(url, options, cache_dir)
    out: dict[str, Any] = {"reads": 0, "partial": [], "frames": 0, "verifies": 0,
                           "verify_errors": 0}
    commits: dict[str, str] = {}
    _wait(barrier)
    last = False
    while not last:
        last = stop.is_set()  # one full pass after the writers stopped
        logged = [line.split() for line in read_lines(log_path)]
        listed = DatasetVersion.get_versions(
            dataset_name=DATASET, only_published=True, store=store
        )
        todo = {tuple(rng.choice(logged))} if logged else set()
        if listed:  # newest first; named "<prefix> r<round>" by the snapshot writer
            prefix, r = listed[0].version_name.split()
            todo.add((listed[0].version_id, prefix, str((int(r[1:]) + 1) * per_round)))
        if not todo:
            time.sleep(0.01)
            continue
        for vid, prefix, n in todo:
            _read_published(store, vid, prefix, int(n), out, commits)
            if out["reads"] % verify_every == 0:
                _verify(store, out)
            time.sleep(pause)
    _verify(store, out)
    store.close()
    return out


def _read_published(
    store: vstore.Store, vid: str, prefix: str, n: int, out: dict[str, Any],
    commits: dict[str, str],
) -> None:
    """Read one published version whole; record it in ``out["partial"]`` unless it is
    exactly frames ``0 .. n - 1`` of ``prefix``, at the commit first seen for it."""
    v = get_version(store, vid)
    commit = commits.setdefault(vid, v.commit_id)
    got = {f.id: record_of(f) for f in v.get_iterator()}
    want = {frame_id(prefix, i): expected(prefix, i) for i in range(n)}
    out["reads"] += 1
    out["frames"] += len(got)
    if got != want or v.status != "published" or v.commit_id != commit:
        out["partial"].append({"version": vid, "frames": len(got), "expected": n,
                               "wrong": sum(1 for k in got if got[k] != want.get(k))})


def _verify(store: vstore.Store, out: dict[str, Any]) -> None:
    report = store.verify()
    out["verifies"] += 1
    out["verify_errors"] += len(report.missing) + len(report.corrupt)


def gc_looper(
    url: str, options: dict[str, Any] | None, cache_dir: str | None, grace: float,
    stop: Any, barrier: Any, reuse_age: float | None = None,
) -> dict[str, Any]:
    """Run ``gc(grace=grace)`` back to back until ``stop`` is set, then once more."""
    if reuse_age is not None:
        _scale_pack_reuse(reuse_age)
    store = open_store(url, options, cache_dir)
    loops = deleted = unreachable = 0
    _wait(barrier)
    last = False
    while not last:
        last = stop.is_set()
        report = store.gc(grace=grace)
        loops += 1
        deleted += report.deleted
        unreachable = max(unreachable, report.unreachable)
    store.close()
    return {"loops": loops, "deleted": deleted, "max_unreachable": unreachable}


def _scale_pack_reuse(seconds: float) -> None:
    """Shrink the pack-reuse window (:data:`vstore.engine.backends.packs.REUSE_AGE`).

    gc is safe on packed stores only with a grace above that window (packs.py);
    a test that wants gc to delete within seconds scales both down together.
    """
    from vstore.engine.backends import packs

    packs.REUSE_AGE = seconds


def finish_snapshot(
    url: str, options: dict[str, Any] | None, cache_dir: str | None, dataset: str,
    version_id: str, how: str, barrier: Any,
) -> dict[str, Any]:
    """Meet a snapshot a crash interrupted, as a user would, once the barrier opens.

    ``how`` is ``list`` (list the dataset's versions, which finishes it) or ``retry``
    (run the snapshot again by version id: it finishes it and raises ``ReadOnlyError``
    naming the child). Returns the ids of the children of ``version_id`` it saw.
    """
    store = open_store(url, options, cache_dir)
    _wait(barrier)
    if how == "list":
        versions = DatasetVersion.get_versions(dataset_name=dataset, store=store)
        children = [v.version_id for v in versions if v.get_parent() == version_id]
    else:
        try:
            DatasetVersion.create_snapshot(dataset_name=dataset, version_id=version_id,
                                           store=store)
        except vstore.ReadOnlyError as exc:
            found = re.search(r"version_id='([0-9a-f]{32})'", str(exc))
            children = [found.group(1)] if found else []
        else:
            raise AssertionError("a second snapshot of a published version succeeded")
    store.close()
    return {"how": how, "children": children}
