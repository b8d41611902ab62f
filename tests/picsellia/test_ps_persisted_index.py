"""The asset index persisted per tree root: new processes read it and answer like a fresh build.

Every test runs real processes on a real LMDB store (``index_worker.py``), with the persisted
indexes in a cache folder of the test's own. A process *probes* a version: it lists it the
ways a user would (queries over labels, statuses, tags and metadata of every type, paging,
lookups, stats, a split) and says how its index was obtained. The reference answer of each
test is a probe with persisting turned off, which decodes every record.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vstore
from vstore import SingleFrame
from vstore.engine.cache import ObjectCache
from vstore.picsellia import persisted
from vstore.picsellia.frames import state_of

_spec = importlib.util.spec_from_file_location(
    "_vstore_index_test_worker", Path(__file__).with_name("index_worker.py"))
assert _spec is not None and _spec.loader is not None
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

#: Enough assets for the index to be persisted (persisted.MIN_ROWS).
N = 1200
SPEEDS: list[Any] = [0, 1, 1.0, True, False, 2.5, None]


def _frames() -> list[SingleFrame]:
    frames = []
    for i in range(N):
        meta = {"camera": f"cam-{i % 4}", "speed": SPEEDS[i % 7], "flag": i % 3 == 0,
                "zone": ["a", "b"] if i % 5 == 0 else "c", "deep": {"k": i % 2}}
        f = SingleFrame(id=f"a{i:05d}", source=f"s3://bucket/cam{i % 4}/img{i:05d}.png",
                        width=640, height=480, metadata=meta,
                        content_type="video/mp4" if i % 50 == 0 else "image/png")
        if i % 4 == 0:
            f.add_annotation(box2d_xywh=[1, 2, 3, 4], labels=["car"])
        elif i % 4 == 1:
            f.add_annotation(box2d_xywh=[1, 2, 3, 4], labels=["bus"])
            f.add_annotation(poly2d_xy=[0, 0, 5, 0, 5, 5], labels=["person"])
        elif i % 4 == 3:
            f.add_annotation(keypoints=[1, 1, 2, 2], labels=["person"])
        frames.append(f)
    return frames


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with version v1 of dataset cars: N assets, tags, and a reviewed annotation."""
    path = tmp_path_factory.mktemp("template") / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSTORE_CACHE_SIZE", "0")  # the tests decide what is persisted, and when
        with vstore.open(str(path)) as store:
            v = store.create_dataset("cars").create_version("v1", type="object_detection")
            car = v.create_label("car")
            v.add_frames(_frames())
            v.list_assets(filenames=[f"img{i:05d}.png" for i in (1, 2, 3, 5, 8)]).add_tags("hard")
            ann = v.find_asset(filename="img00007.png").create_annotation(worker="alice")
            ann.create_rectangle(1, 2, 3, 4, car)
            ann.update(status="accepted")
    return path


@pytest.fixture
def store_path(template: Path, tmp_path: Path) -> Path:
    """A copy of the template store for one test."""
    path = tmp_path / "store"
    shutil.copytree(template, path)
    return path


def _env(cache: Path, persist: bool = True) -> dict[str, str]:
    env = {**os.environ, "VSTORE_CACHE_DIR": str(cache)}
    env["VSTORE_CACHE_SIZE"] = str(1 << 30) if persist else "0"
    return env


def _index_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.name != "trim.lock")


def _answers(probe: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in probe.items() if k != "origin"}


@pytest.fixture
def fresh(store_path: Path, tmp_path: Path) -> Iterator[Any]:
    """``fresh()``: what a process that decodes every record answers now."""
    def probe() -> dict[str, Any]:
        got = worker.run("probe", store_path, _env(tmp_path / "no-cache", persist=False))
        assert got["origin"] == "built"
        return _answers(got)

    yield probe


def test_a_new_process_loads_the_persisted_index_and_answers_like_a_fresh_build(
        store_path: Path, index_cache: Path, fresh: Any) -> None:
    reference = fresh()
    first = worker.run("probe", store_path, _env(index_cache))
    assert first["origin"] == "built" and len(_index_files(index_cache)) == 1
    second = worker.run("probe", store_path, _env(index_cache))
    assert second["origin"] == "loaded"
    assert _answers(first) == _answers(second) == reference
    queries = reference["queries"]
    ids = [f"a{i:05d}" for i in range(N)]
    # True, 1 and 1.0 stay apart as the q language says: 1 and 1.0 are the same number,
    # true is no number.
    assert queries["speed = 1"] == [a for i, a in enumerate(ids) if i % 7 in (1, 2)]
    assert queries["speed = true"] == [a for i, a in enumerate(ids) if i % 7 == 3]
    assert queries["flag = true"] == [a for i, a in enumerate(ids) if i % 3 == 0]
    assert queries['annotations.status = "ACCEPTED" or annotations.worker = "alice"'] == [
        "a00007"]


def _damage(kind: str, file: Path, store_path: Path, cache: Path) -> None:
    data = file.read_bytes()
    middle = len(data) // 2
    if kind == "truncated":
        file.write_bytes(data[:middle])
    elif kind == "flipped":
        file.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
    elif kind == "empty":
        file.write_bytes(b"")
    else:  # whole, with a good cache checksum, but not an index of this root
        with vstore.open(str(store_path)) as store:
            root = state_of(store.get_dataset("cars").get_version("v1")).tree
        own = ObjectCache(persisted._NAMESPACE, str(cache))
        index = own.get(root)
        assert index is not None and root in index
        body = b"not an index" if kind == "foreign" else index.replace(root, bytes(32), 1)
        own.discard([root])
        own.put_many({root: body})
        assert own.get(root) == body


@pytest.mark.parametrize("kind", ["truncated", "flipped", "empty", "foreign", "other-root"])
def test_a_damaged_index_file_is_detected_and_rebuilt(
        kind: str, store_path: Path, index_cache: Path, fresh: Any) -> None:
    worker.run("probe", store_path, _env(index_cache))
    (file,) = _index_files(index_cache)
    _damage(kind, file, store_path, index_cache)
    again = worker.run("probe", store_path, _env(index_cache))
    assert again["origin"] == "built" and _answers(again) == fresh()
    after = worker.run("probe", store_path, _env(index_cache))  # the file was written anew
    assert after["origin"] == "loaded" and _answers(after) == _answers(again)


def test_a_fork_reads_its_parents_persisted_index(store_path: Path, index_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    parent = worker.run("probe", store_path, _env(index_cache))
    monkeypatch.setenv("VSTORE_CACHE_SIZE", "0")
    with vstore.open(str(store_path)) as store:
        v1 = store.get_dataset("cars").get_version("v1")
        v1.fork("v2", with_tags=True, with_labels=True, with_annotations=True)
    fork = worker.run("probe", store_path, _env(index_cache), version="v2")
    assert fork["origin"] == "loaded" and len(_index_files(index_cache)) == 1
    assert _answers(fork) == _answers(parent)


def test_a_write_after_persisting_lists_correctly_in_a_new_process(
        store_path: Path, index_cache: Path, fresh: Any) -> None:
    before = worker.run("probe", store_path, _env(index_cache))
    worker.run("write", store_path, _env(index_cache))
    after = worker.run("probe", store_path, _env(index_cache))
    assert after["origin"] == "patched"  # the persisted index and the diff, not every record
    assert _answers(after) == fresh() != _answers(before)
    ids = [row[0] for row in after["assets"]]
    assert "a00031" not in ids and {"n0", "n1", "n2"} <= set(ids)
    assert "a00040" in after["queries"]["flag = true"]
    assert after["queries"]['tags.name = "hard" or tags.name = "late"'] == [
        f"a{i:05d}" for i in (1, 2, 3, 5, 8, *range(10, 20))]


def test_many_small_writes_keep_a_persisted_index_within_reach(
        store_path: Path, index_cache: Path, fresh: Any) -> None:
    worker.run("probe", store_path, _env(index_cache))
    assert worker.run("edit-many", store_path, _env(index_cache))["origin"] == "patched"
    # 70 writes is further back than a new process looks (64 log entries): the writer
    # persisted its index again on the way, so the next process still patches.
    after = worker.run("probe", store_path, _env(index_cache))
    assert after["origin"] in ("patched", "loaded")
    assert _answers(after) == fresh()
    assert len(after["queries"]['tags.name = "hard" or tags.name = "late"']) == 5


def _objects(store_path: Path) -> set[bytes]:
    with vstore.open(str(store_path)) as store:
        return {oid for oid, _ in store.repo.backend.iter_objects()}


def test_gc_and_verify_stay_clean_and_gc_keeps_what_versions_reach(
        store_path: Path, index_cache: Path, fresh: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stored = _objects(store_path)
    worker.run("probe", store_path, _env(index_cache))
    assert _objects(store_path) == stored  # persisting writes nothing to the store
    worker.run("write", store_path, _env(index_cache))
    worker.run("probe", store_path, _env(index_cache))
    monkeypatch.setenv("VSTORE_CACHE_SIZE", "0")
    with vstore.open(str(store_path)) as store:
        first = store.verify()
        assert first.ok and not first.missing and not first.corrupt
        store.gc(grace=0)
        second = store.verify()
        assert second.ok and second.dangling == 0
    after = worker.run("probe", store_path, _env(index_cache))
    assert after["origin"] in ("patched", "loaded") and _answers(after) == fresh()


def test_an_index_of_a_state_gc_collected_is_not_patched_from(
        store_path: Path, index_cache: Path, fresh: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    worker.run("probe", store_path, _env(index_cache))
    worker.run("write", store_path, _env(index_cache))
    monkeypatch.setenv("VSTORE_CACHE_SIZE", "0")
    with vstore.open(str(store_path)) as store:
        # Only the newest state of each version stays: the persisted one's tree goes.
        assert store.repo.gc(grace=0, log_retention=0).deleted > 0
    after = worker.run("probe", store_path, _env(index_cache))
    assert after["origin"] == "built" and _answers(after) == fresh()


def test_a_zero_cache_size_turns_persisting_off(store_path: Path, index_cache: Path) -> None:
    runs = [worker.run("probe", store_path, _env(index_cache, persist=False)) for _ in range(2)]
    assert [r["origin"] for r in runs] == ["built", "built"]
    assert _index_files(index_cache) == [] and _answers(runs[0]) == _answers(runs[1])


def test_processes_that_build_at_once_leave_one_usable_index(
        store_path: Path, index_cache: Path, fresh: Any) -> None:
    procs = [worker.spawn("probe-on-go", store_path, _env(index_cache)) for _ in range(4)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    outs = [p.communicate("go\n", timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    answers = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    reference = fresh()
    assert all(_answers(a) == reference for a in answers)
    assert len(_index_files(index_cache)) == 1
    assert worker.run("probe", store_path, _env(index_cache))["origin"] == "loaded"
