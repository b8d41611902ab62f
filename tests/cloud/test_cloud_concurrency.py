"""Many processes, each with its own client, writing one store on an emulator.

The workers are the engine's (tests/engine/workers.py); they open the store by URL
alone and find the emulator and its credentials through the environment, the
same chain a real deployment uses.
"""

from __future__ import annotations

import importlib.util
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.conftest import Cloud
from vstore.engine import open_repository

_spec = importlib.util.spec_from_file_location(
    "_vstore_engine_test_workers", Path(__file__).parents[1] / "engine" / "workers.py"
)
assert _spec is not None and _spec.loader is not None
workers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workers)


@pytest.fixture(params=["s3", "azure"])
def env_cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """S3 and Azure, reachable by URL alone (credentials and endpoint in the environment)."""
    c: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    for k, v in c.env.items():
        monkeypatch.setenv(k, v)
    return c


def run_workers(cmd: str, url: str, ref: str, nproc: int, n: int) -> list[Any]:
    procs = [workers.spawn(cmd, url, ref, str(p), str(n)) for p in range(nproc)]
    try:
        for p in procs:
            workers.wait_line(p, "ready")
        workers.release(procs)
        return [workers.finish(p, timeout=300) for p in procs]
    finally:
        workers.reap(procs)


@pytest.mark.parametrize("nproc,per", [
    pytest.param(8, 6, id="8x6"),
    pytest.param(8, 50, id="8x50", marks=pytest.mark.nightly),
])
def test_concurrent_appends_lose_and_double_nothing(env_cloud: Cloud, nproc: int, per: int) -> None:
    url = env_cloud.url()
    with open_repository(url) as repo:
        repo.tree.build([])

    results = run_workers("append", url, "drafts/x", nproc, per)

    with open_repository(url) as repo:
        entries = list(repo.refs.entries("drafts/x"))
        assert [e.seq for e in entries] == list(range(nproc * per, 0, -1))
        tags = [(e.meta["p"], e.meta["i"]) for e in entries]
        assert sorted(tags) == [(p, i) for p in range(nproc) for i in range(per)], (
            "an append was lost or recorded twice"
        )
        for p in range(nproc):
            assert [i for (q, i) in reversed(tags) if q == p] == list(range(per))
        for e in entries:
            assert e.value is not None
            assert repo.read_commit(e.value).message == f"{e.meta['p']}:{e.meta['i']}"
        assert repo.verify().ok
    runs = 1 + sum(1 for a, b in itertools.pairwise(tags) if a[0] != b[0])
    assert runs > nproc, f"the {nproc} writers never overlapped ({runs} runs)"
    assert sum(r["conflicts"] for r in results) > 0


@pytest.mark.parametrize("nproc,per", [
    pytest.param(4, 5, id="4x5"),
    pytest.param(4, 25, id="4x25", marks=pytest.mark.nightly),
])
def test_concurrent_flushes_lose_no_update(env_cloud: Cloud, nproc: int, per: int) -> None:
    nbase = 500
    url = env_cloud.url()
    base = {workers.base_key(i): b"base-%d" % i for i in range(nbase)}
    with open_repository(url) as repo:
        b = repo.batch()
        c0 = repo.commit(repo.tree.build(sorted(base.items()), b), message="base", batch=b)
        b.flush()
        assert repo.refs.append("drafts/main", c0.id, expect=0).ok

    results = run_workers("flush", url, "drafts/main", nproc, per)

    with open_repository(url) as repo:
        entries = list(reversed(list(repo.refs.entries("drafts/main"))))
        assert [e.seq for e in entries] == list(range(1, nproc * per + 2))
        expect = dict(base)
        for prev, e in itertools.pairwise(entries):
            p, j = e.meta["p"], e.meta["j"]
            for m in range(3):
                expect[workers.flush_key(p, j, m)] = b"v-%d-%d-%d" % (p, j, m)
            del expect[workers.base_key(p * per + j)]
            c = repo.read_commit(e.value)
            assert c.parents == (prev.value,)
        assert dict(repo.tree.items(repo.read_commit(entries[-1].value).tree)) == expect
        assert repo.verify().ok
    assert sum(r["conflicts"] for r in results) > 0, "the flushes never raced"


@pytest.mark.parametrize("kills", [pytest.param(3, id="3"),
                                   pytest.param(25, id="25", marks=pytest.mark.nightly)])
def test_a_writer_killed_during_flushes_leaves_a_store_that_verifies(
    s3_cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kills: int
) -> None:
    import random
    import signal

    from tests.engine.test_crash import REF, check_store, last_ack

    for k, v in s3_cloud.env.items():
        monkeypatch.setenv(k, v)
    url, ack = s3_cloud.url(), tmp_path / "acks"
    rng = random.Random("s3-crash")
    head = 0
    for _ in range(kills):
        proc = workers.spawn("crash-writer", url, REF, str(ack))
        try:
            workers.wait_line(proc, "started")
            time.sleep(rng.uniform(0.05, 1.0))
            assert proc.poll() is None, proc.communicate()[1]
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            workers.reap([proc])
        head = check_store(url, last_ack(ack), head)
    assert head > 0, "the writer never completed a flush"
