"""Concurrency of the engine across real processes, on real LMDB files and directories.

* Ref-log appends from 8 processes: no entry lost, none doubled, seqs contiguous.
* Read-modify-write flushes from 4 processes: zero lost updates, linear history.
* Forked children use an LMDB store their parent opened (reads and writes).
* The LMDB map grows past its initial size and another process sees every object.
"""

from __future__ import annotations

import importlib.util
import itertools
import multiprocessing
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from vstore.engine import EMPTY_ROOT, Repository, open_repository
from vstore.engine.codec import ObjectKind

_spec = importlib.util.spec_from_file_location(
    "_vstore_engine_test_workers", Path(__file__).with_name("workers.py")
)
assert _spec is not None and _spec.loader is not None
workers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workers)

BACKENDS = ["lmdb", "file"]


def store_url(tmp_path: Path, kind: str) -> str:
    """A fresh store: a plain path is LMDB, ``file://`` is the fsspec directory backend."""
    return str(tmp_path / "lmdb") if kind == "lmdb" else f"file://{tmp_path / 'fs'}"


def run_workers(cmd: str, url: str, ref: str, nproc: int, n: int) -> list[Any]:
    """Start ``nproc`` workers, release them together, and return their JSON results."""
    procs = [workers.spawn(cmd, url, ref, str(p), str(n)) for p in range(nproc)]
    try:
        for p in procs:
            workers.wait_line(p, "ready")
        workers.release(procs)
        return [workers.finish(p) for p in procs]
    finally:
        workers.reap(procs)


# -- 1. ref-log appends ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_appends_lose_and_double_nothing(tmp_path: Path, backend: str) -> None:
    nproc, per = 8, 50
    url = store_url(tmp_path, backend)
    with open_repository(url) as repo:  # create the store (and the empty tree) first
        assert repo.tree.build([]) == EMPTY_ROOT

    results = run_workers("append", url, "drafts/x", nproc, per)

    with open_repository(url) as repo:
        entries = list(repo.refs.entries("drafts/x"))
        assert len(entries) == nproc * per
        assert [e.seq for e in entries] == list(range(nproc * per, 0, -1))
        tags = [(e.meta["p"], e.meta["i"]) for e in entries]
        assert sorted(tags) == [(p, i) for p in range(nproc) for i in range(per)], (
            "an append was lost or recorded twice"
        )
        for e in entries:
            assert e.value is not None
            assert repo.read_commit(e.value).message == f"{e.meta['p']}:{e.meta['i']}"
        # Each process's own appends are in its program order.
        for p in range(nproc):
            mine = [i for (q, i) in reversed(tags) if q == p]
            assert mine == list(range(per))
        report = repo.verify()
        assert report.ok, report
        assert report.refs_checked == nproc * per

    # The race was real: appends interleave and some lost a compare-and-swap.
    runs = 1 + sum(1 for a, b in itertools.pairwise(tags) if a[0] != b[0])
    assert runs > nproc, f"the {nproc} writers never overlapped ({runs} runs)"
    assert sum(r["conflicts"] for r in results) > 0


# -- 2. read-modify-write flushes -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_flushes_lose_no_update(tmp_path: Path, backend: str) -> None:
    nproc, per, nbase = 4, 25, 500
    url = store_url(tmp_path, backend)
    base = {workers.base_key(i): b"base-%d" % i for i in range(nbase)}
    with open_repository(url) as repo:
        b = repo.batch()
        root = repo.tree.build(sorted(base.items()), b)
        c0 = repo.commit(root, message="base", batch=b)
        b.flush()
        assert repo.refs.append("drafts/main", c0.id, expect=0).ok

    results = run_workers("flush", url, "drafts/main", nproc, per)

    with open_repository(url) as repo:
        entries = list(reversed(list(repo.refs.entries("drafts/main"))))
        assert [e.seq for e in entries] == list(range(1, nproc * per + 2))
        done = [(e.meta["p"], e.meta["j"]) for e in entries[1:]]
        assert sorted(done) == [(p, j) for p in range(nproc) for j in range(per)]

        # Every entry's tree is the base plus exactly the flushes at or before it, and
        # every commit's parent is the previous entry: a linear history, nothing lost.
        expect = dict(base)
        assert dict(repo.tree.items(repo.read_commit(entries[0].value).tree)) == expect
        for prev, e in itertools.pairwise(entries):
            p, j = e.meta["p"], e.meta["j"]
            for m in range(3):
                expect[workers.flush_key(p, j, m)] = b"v-%d-%d-%d" % (p, j, m)
            del expect[workers.base_key(p * per + j)]
            c = repo.read_commit(e.value)
            assert c.parents == (prev.value,)
            assert dict(repo.tree.items(c.tree)) == expect, f"tree at seq {e.seq} is wrong"
        assert len(expect) == nbase - nproc * per + 3 * nproc * per
        assert len(list(repo.log(entries[-1].value))) == nproc * per + 1
        report = repo.verify()
        assert report.ok, report
    assert sum(r["conflicts"] for r in results) > 0, "the flushes never raced"


# -- 3. fork ----------------------------------------------------------------------------


def _forked_writer(repo: Repository, tag: str, n: int, conn: Any) -> None:
    """In a forked child: read the parent's data through the inherited handle, then write."""
    try:
        h = repo.refs.head("drafts/fork")
        assert h is not None and h.value is not None
        base = dict(repo.tree.items(repo.read_commit(h.value).tree))
        assert base[b"base-0000"] == b"parent"
        _cas_flushes(repo, tag, n)
        # A second handle opened in the child shares the child's environment.
        with open_repository(repo.backend.url) as again:
            assert again.refs.head("drafts/fork") is not None
        conn.send(("ok", os.getpid(), sum(1 for k in base if k.startswith(b"base-"))))
    except BaseException:
        conn.send(("err", os.getpid(), traceback.format_exc()))
    finally:
        conn.close()


def _cas_flushes(repo: Repository, tag: str, n: int) -> None:
    for i in range(n):
        while True:
            h = repo.refs.head("drafts/fork")
            assert h is not None and h.value is not None
            b = repo.batch()
            root = repo.tree.apply(
                repo.read_commit(h.value).tree, {f"{tag}-{i:03d}".encode(): tag.encode()}, b
            )
            c = repo.commit(root, parents=[h.value], message=f"{tag} {i}", batch=b)
            b.flush()
            if repo.refs.append("drafts/fork", c.id, expect=h.seq).ok:
                break


@pytest.mark.slow
def test_forked_children_use_parents_lmdb_store(tmp_path: Path) -> None:
    nchild, per = 3, 20
    path = str(tmp_path / "lmdb")
    repo = open_repository(path)
    try:
        b = repo.batch()
        root = repo.tree.build([(b"base-%04d" % i, b"parent") for i in range(300)], b)
        c0 = repo.commit(root, message="base", batch=b)
        b.flush()
        assert repo.refs.append("drafts/fork", c0.id, expect=0).ok
        # The parent has used its environment (read and write transactions) before forking.
        assert repo.tree.get(root, b"base-0001") == b"parent"

        ctx = multiprocessing.get_context("fork")
        pipes, procs = [], []
        for k in range(nchild):
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_forked_writer, args=(repo, f"child{k}", per, send))
            proc.start()
            send.close()
            pipes.append(recv)
            procs.append(proc)
        # The parent keeps writing through its own handle while the children do.
        _cas_flushes(repo, "parent", per)
        outcomes = []
        for recv, proc in zip(pipes, procs, strict=True):
            if recv.poll(120):
                outcomes.append(recv.recv())
            else:
                outcomes.append(("err", proc.pid, "no answer within 120 s"))
            recv.close()
            proc.join(60)
            assert proc.exitcode == 0, f"forked child exited {proc.exitcode}"
        errors = [o for o in outcomes if o[0] != "ok"]
        assert not errors, "\n".join(str(e[2]) for e in errors)
        assert all(o[2] == 300 for o in outcomes)

        # The parent's pre-fork handle still works and sees every child's writes.
        h = repo.refs.head("drafts/fork")
        assert h is not None and h.value is not None
        assert h.seq == 1 + (nchild + 1) * per
        items = dict(repo.tree.items(repo.read_commit(h.value).tree))
        for tag in ["parent"] + [f"child{k}" for k in range(nchild)]:
            for i in range(per):
                assert items[f"{tag}-{i:03d}".encode()] == tag.encode()
        assert len(items) == 300 + (nchild + 1) * per
        report = repo.verify()
        assert report.ok, report
        # ... and can still write after the children exited.
        assert repo.refs.append("drafts/fork", c0.id, expect=h.seq).ok
    finally:
        repo.close()
    with open_repository(path) as fresh:
        head = fresh.refs.head("drafts/fork")
        assert head is not None and head.seq == 2 + (nchild + 1) * per


# -- 4. LMDB map growth ---------------------------------------------------------------

_MAP_INITIAL = 256 * 1024 * 1024


@pytest.mark.slow
def test_lmdb_map_grows_and_other_process_sees_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "lmdb")
    total, size = 300, 1024 * 1024  # 300 MiB of incompressible objects, over the 256 MiB map
    repo = open_repository(path)
    reader = None
    try:
        first = repo.objects.put(ObjectKind.BLOB, b"before growth")
        # A process that opened the store (and mapped it) before it grew.
        reader = workers.spawn("map-reader", path, str(tmp_path / "ids.txt"))
        workers.wait_line(reader, "ready")

        t0 = time.monotonic()
        ids = [first]
        b = repo.batch()  # writes to LMDB every 32 MiB
        for _ in range(total):
            ids.append(b.add(ObjectKind.BLOB, os.urandom(size)))
        b.flush()
        elapsed = time.monotonic() - t0
        assert os.path.getsize(os.path.join(path, "data.mdb")) > _MAP_INITIAL
        assert len(repo.objects.has(ids)) == total + 1

        (tmp_path / "ids.txt").write_text("\n".join(i.hex() for i in ids))
        workers.release([reader])
        res = workers.finish(reader, timeout=120)
        assert res["before"] == 1
        assert res["checked"] == total + 1
        assert res["bytes"] == total * size + len(b"before growth")
        assert res["stored"] == total + 1
        # The reader's own write after the growth is visible here.
        new = bytes.fromhex(res["new"])
        assert repo.objects.get(new, ObjectKind.BLOB) == b"written by the reader after the map grew"
        print(f"wrote {total} MiB in {elapsed:.1f}s")
    finally:
        if reader is not None:
            workers.reap([reader])
        repo.close()
    # A fresh open maps the grown file.
    with open_repository(path) as fresh:
        assert len(fresh.objects.has(ids)) == total + 1
    shutil.rmtree(path)  # 300 MiB: do not leave it in pytest's kept temp dirs
