"""Bulk contexts whose threshold flushes a writer process writes (decision 0017).

Every test runs against a real LMDB store and a real writer process; the writer is
killed, or its version published behind its back, to make flushes fail.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import vstore
from tests.conftest import make_repo_url
from tests.datasets.conftest import boxed
from vstore import DatasetVersion, SingleFrame
from vstore.datasets import background


@pytest.fixture
def lmdb_store(tmp_path: Path) -> vstore.Store:
    s = vstore.open(make_repo_url("lmdb", tmp_path))
    yield s
    s.close()


def _content(v: DatasetVersion) -> dict[str, object]:
    return {r["id"]: r["meta"] for r in v.get_iterator(projection=["id", "meta"])}


def _writer_pid(bc: vstore.BulkContext) -> int | None:
    return None if bc._flusher is None else bc._flusher.pid


def _one_flush_written(store: vstore.Store) -> tuple[DatasetVersion, vstore.BulkContext]:
    """A new draft whose bulk context (threshold 10) has a writer that wrote 10 frames."""
    v = DatasetVersion.create_new_dataset("cars", store=store)
    bc = v.get_bulk_context(flush_threshold=10, background=True)
    for i in range(10):
        bc.add_frame(boxed(i))
    bc.flush()
    assert _writer_pid(bc) is not None and len(v) == 10
    return v, bc


def test_writer_process_writes_every_batch_in_order(lmdb_store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=lmdb_store)
    model: dict[str, tuple[dict[str, int], str]] = {}
    with v.get_bulk_context(flush_threshold=40, background=True) as bc:
        for i in range(200):
            label = "car" if i % 2 else "bus"
            bc.add_frame(boxed(i, label))
            model[boxed(i).id] = ({"i": i}, label)
        pid = _writer_pid(bc)
        assert pid is not None and pid != os.getpid()
        # A read through the version waits for the flushes the writer holds.
        assert len(v) == 200 and bc.pending == 0
        # A batch of 40 edits, then a batch deleting some of the edited frames: a writer
        # that swapped them would leave those frames edited.
        for i in range(0, 200, 5):
            bc.add_frame(boxed(i, "truck", edit=1))
            model[boxed(i).id] = ({"i": i, "edit": 1}, "truck")
        assert _writer_pid(bc) == pid  # the edits went to the same writer
        for i in range(0, 200, 25):
            bc.delete_frame(boxed(i))
            del model[boxed(i).id]
        bc.flush()  # through the writer too; waits for it: everything is readable now
        assert len(v) == len(model) and bc.pending == 0
    assert _writer_pid(bc) is None  # the writer ended with the block
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _content(v) == {fid: meta for fid, (meta, _label) in model.items()}
    labels = {r["name"]: r["count"] for r in v.get_stats()["labels"]}
    assert labels == dict(Counter(label for _meta, label in model.values()))


def test_a_failed_background_flush_raises_its_error_and_keeps_the_batch(
    lmdb_store: vstore.Store,
) -> None:
    v, bc = _one_flush_written(lmdb_store)
    # Another handle publishes the version: the writer's next flush is refused.
    DatasetVersion.get_version(dataset_id=v.dataset_id, version_id=v.version_id,
                               store=lmdb_store).publish_version()
    with pytest.raises(vstore.ReadOnlyError) as err:
        for i in range(10, 30):
            bc.add_frame(boxed(i))
        bc.flush()
    assert any("background writer" in note for note in err.value.__notes__)
    assert bc.pending == 20  # the refused batches are queued again, none written
    assert len(v) == 10
    assert _writer_pid(bc) is None  # the context now flushes in this process


def test_a_killed_writer_loses_nothing_and_the_ingest_goes_on(
    lmdb_store: vstore.Store, caplog: pytest.LogCaptureFixture
) -> None:
    v, bc = _one_flush_written(lmdb_store)
    flusher = bc._flusher
    assert flusher is not None
    flusher.budget = 1 << 40
    os.kill(flusher.pid, signal.SIGSTOP)  # it holds the next batch unwritten ...
    for i in range(10, 20):
        bc.add_frame(boxed(i))
    assert bc.pending == 10
    os.kill(flusher.pid, signal.SIGKILL)  # ... and dies with it
    flusher._proc.wait()
    with caplog.at_level(logging.WARNING, "vstore.datasets"):
        for i in range(20, 35):  # the next flush finds the writer gone
            bc.add_frame(boxed(i))
    assert f"pid {flusher.pid}" in caplog.text and "flushes in this process" in caplog.text
    assert _writer_pid(bc) is None
    assert bc.pending == 5 and len(v) == 30  # the batch it held was written here, in order
    bc.flush()
    assert sorted(r["meta"]["i"] for r in v.get_iterator(projection=["meta"])) == list(range(35))


def test_an_exception_in_the_block_keeps_what_was_sent_and_reports_the_rest(
    lmdb_store: vstore.Store, caplog: pytest.LogCaptureFixture
) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=lmdb_store)
    bc = v.get_bulk_context(flush_threshold=10, background=True)
    with caplog.at_level(logging.WARNING, "vstore.datasets"), pytest.raises(RuntimeError), bc:
        for i in range(25):
            bc.add_frame(boxed(i))
        raise RuntimeError("producer failed")
    assert len(v) == 20  # the two threshold flushes were written
    assert bc.pending == 5 and "5 queued operations were not written" in caplog.text
    bc.flush()
    assert len(v) == 25


@pytest.mark.parametrize(
    "ending",
    ["", "os.kill(os.getpid(), signal.SIGKILL)  # no finalizer, no exit handler runs"],
    ids=["exits", "is-killed"],
)
def test_batches_sent_before_the_caller_ends_are_written(tmp_path: Path, ending: str) -> None:
    url = make_repo_url("lmdb", tmp_path)
    script = textwrap.dedent(f"""
        import os, signal
        import vstore
        from tests.datasets.conftest import boxed
        store = vstore.open({url!r})
        v = vstore.DatasetVersion.create_new_dataset("cars", store=store)
        bc = v.get_bulk_context(flush_threshold=10, background=True)
        for i in range(25):  # two threshold flushes; 5 frames never flushed
            bc.add_frame(boxed(i))
        print(bc._flusher._dir, flush=True)
        {ending}
    """)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == (-signal.SIGKILL if ending else 0), proc.stderr
    batches = Path(proc.stdout.strip())
    deadline = time.monotonic() + 60
    while batches.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # a writer left alone writes what it holds, then removes its files
    assert not batches.exists()
    with vstore.open(url) as store:
        v = DatasetVersion.get_current(dataset_name="cars", store=store)
        assert sorted(r["meta"]["i"] for r in v.get_iterator(projection=["meta"])) == list(
            range(20)
        )


def test_which_contexts_flush_in_a_writer_process(
    tmp_path: Path, lmdb_store: vstore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def started(store: vstore.Store, name: str, threshold: int, n: int, **kw: object) -> bool:
        v = DatasetVersion.create_new_dataset(name, store=store)
        with v.get_bulk_context(flush_threshold=threshold, **kw) as bc:
            for i in range(n):
                bc.add_frame(boxed(i))
            running = _writer_pid(bc) is not None
        assert len(v) == n
        return running

    t = background.MIN_THRESHOLD
    monkeypatch.setattr(background, "START_AFTER", 2 * t)  # 20,000 in production
    # The default: a large threshold, once the context has written START_AFTER itself.
    assert started(lmdb_store, "big", t, 3 * t + 1)
    assert not started(lmdb_store, "not-yet", t, 2 * t + 1)
    assert not started(lmdb_store, "small", t - 1, 10 * t)
    assert not started(lmdb_store, "off", t, 3 * t + 1, background=False)
    monkeypatch.setenv(background.ENV_BACKGROUND, "0")
    assert not started(lmdb_store, "env-off", t, 3 * t + 1)
    assert started(lmdb_store, "forced", 10, 11, background=True)
    monkeypatch.delenv(background.ENV_BACKGROUND)
    for kind in ("file", "memory"):
        with vstore.open(make_repo_url(kind, tmp_path)) as other:
            assert not started(other, kind, t, 3 * t + 1)
            v = DatasetVersion.create_new_dataset(kind + "-forced", store=other)
            with pytest.raises(vstore.UsageError, match="local LMDB store"):
                v.get_bulk_context(flush_threshold=t, background=True)
    v = DatasetVersion.create_new_dataset("bad", store=lmdb_store)
    with pytest.raises(vstore.InvalidArgumentError):
        v.get_bulk_context(background="yes")  # type: ignore[arg-type]


def test_the_caller_goes_on_while_the_writer_works_up_to_its_budget(
    lmdb_store: vstore.Store,
) -> None:
    v, bc = _one_flush_written(lmdb_store)
    flusher = bc._flusher
    assert flusher is not None
    os.kill(flusher.pid, signal.SIGSTOP)  # the writer stops taking batches
    try:
        for i in range(10, 30):  # two flushes are due: both are sent, neither waits
            bc.add_frame(boxed(i))
        other = DatasetVersion.get_version(dataset_id=v.dataset_id, version_id=v.version_id,
                                           store=lmdb_store)
        assert bc.pending == 20 and len(other) == 10  # not written yet
        flusher.budget = 1  # now a batch waits until the writer holds none
        done = threading.Event()

        def third() -> None:
            for i in range(30, 40):
                bc.add_frame(boxed(i))
            done.set()

        t = threading.Thread(target=third)
        t.start()
        assert not done.wait(1.0)  # held back while the writer is stopped
    finally:
        os.kill(flusher.pid, signal.SIGCONT)
    t.join(60)
    assert done.is_set()
    bc.flush()
    assert len(v) == 40


def test_a_forked_child_leaves_the_parents_writer_alone(lmdb_store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=lmdb_store)
    bc = v.get_bulk_context(flush_threshold=10, background=True)
    for i in range(10):
        bc.add_frame(boxed(i))  # a batch the parent's writer holds
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the context flushes in the child
        code = 1
        try:
            os.close(w)
            for i in range(100, 110):
                bc.add_frame(boxed(i))
            code = 0 if bc._flusher is None else 2
            select.select([r], [], [], 30)  # alive until the parent has closed its writer
        finally:
            os._exit(code)
    os.close(r)
    t = time.monotonic()
    try:
        with bc:
            pass  # waits for the parent's writer to end, which the child must not hold up
        took = time.monotonic() - t
    finally:
        os.write(w, b"x")
        os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert took < 20
    assert sorted(r["meta"]["i"] for r in v.get_iterator(projection=["meta"])) == [
        *range(10), *range(100, 110)
    ]


def test_updates_merge_in_the_order_they_were_queued(lmdb_store: vstore.Store) -> None:
    v = DatasetVersion.create_new_dataset("cars", store=lmdb_store)
    v.add_frames([SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 1})])
    bc = v.get_bulk_context(flush_threshold=1, background=True, allow_update=True)
    with bc:
        bc.update_frame(SingleFrame(id="f", source="s3://b/f.jpg", metadata={"b": 2}))
        bc.update_frame(SingleFrame(id="f", source="s3://b/f.jpg", metadata={"a": 3}))
        bc.delete_frame("f")
        bc.add_frame(SingleFrame(id="g", source="s3://b/g.jpg", metadata={"c": 1}))
        bc.update_frame(SingleFrame(id="g", source="s3://b/g.jpg", metadata={"d": 2}))
        assert _writer_pid(bc) is not None
    assert _content(v) == {"g": {"c": 1, "d": 2}}


def test_a_writer_that_cannot_start_leaves_the_flushes_here(
    lmdb_store: vstore.Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    monkeypatch.setattr(background, "START_AFTER", 0)
    v = DatasetVersion.create_new_dataset("cars", store=lmdb_store)
    n = background.MIN_THRESHOLD
    bc = v.get_bulk_context(flush_threshold=n)  # the default: a warning, not an error
    with caplog.at_level(logging.WARNING, "vstore.datasets"), bc:
        for i in range(2 * n + 1):
            bc.add_frame(boxed(i))
        assert _writer_pid(bc) is None
    assert "could not start a background writer" in caplog.text
    assert len(v) == 2 * n + 1
    # Asked for explicitly, a writer that cannot start is an error; nothing is lost.
    v2 = DatasetVersion.create_new_dataset("trucks", store=lmdb_store)
    bc2 = v2.get_bulk_context(flush_threshold=5, background=True)
    with pytest.raises(vstore.BackendError, match="could not start"):
        for i in range(5):
            bc2.add_frame(boxed(i))
    assert bc2.pending == 5 and len(v2) == 0
