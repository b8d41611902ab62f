"""Subprocess entry points for the datasets concurrency tests.

Run as a script: ``python workers.py COMMAND ARGS...``. Each command opens the
store, finds its version, prints ``ready`` and waits for ``go`` on stdin (so the
test can release every writer at once), does its writes, and prints one JSON
line with what it did. The tests load this file by path (:func:`load`).

Commands:

* ``bulk-add URL VERSION_ID PREFIX N THRESHOLD [auto|on|off]``: add N frames
  ``PREFIX-00000``... through ``get_bulk_context(flush_threshold=THRESHOLD,
  background=None|True|False)``; each frame carries the frame label ``PREFIX`` and
  ``metadata={"p": PREFIX, "i": i}``.
* ``merge-hot URL VERSION_ID FRAME_ID PREFIX N``: N ``update_frames`` merges into one
  frame, each adding the metadata key ``PREFIX<i>``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve()
DATASET = "ds"


def load() -> ModuleType:
    """Import this file as a module (for the tests)."""
    spec = importlib.util.spec_from_file_location("_vstore_datasets_test_workers", HERE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- frames both sides agree on ---------------------------------------------------------


def frame_id(prefix: str, i: int) -> str:
    return f"{prefix}-{i:05d}"


def make_frame(prefix: str, i: int) -> Any:
    from vstore import SingleFrame

    frame = SingleFrame(
        id=frame_id(prefix, i),
        source=f"s3://bucket/{prefix}/{i}.jpg",
        metadata={"p": prefix, "i": i},
        content_type="image/jpeg",
    )
    frame.add_annotation(labels=[prefix])  # a frame label: counted in the stats
    return frame


def hot_frame(fid: str, metadata: dict[str, Any]) -> Any:
    from vstore import SingleFrame

    return SingleFrame(id=fid, source=f"s3://bucket/{fid}.jpg", metadata=metadata)


# -- parent side ------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start ``python workers.py *args`` with pipes on stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_together(commands: list[list[str]], timeout: float = 120) -> list[Any]:
    """Start one worker per command, release them at once, return their JSON results."""
    procs = [spawn(*cmd) for cmd in commands]
    try:
        for p in procs:
            _wait_ready(p)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdin is not None
            p.stdin.close()
            p.stdin = None  # so that communicate() does not flush it
        return [_finish(p, timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
            p.wait()


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        rest, err = proc.communicate(timeout=30)
        raise AssertionError(f"worker {proc.args} printed {line!r}\n{rest}\n{err}")


def _finish(proc: subprocess.Popen[str], timeout: float) -> Any:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"worker {proc.args} timed out\n{out}\n{err}") from None
    if proc.returncode != 0:
        raise AssertionError(f"worker {proc.args} exited {proc.returncode}\n{out}\n{err}")
    return json.loads(out.strip().splitlines()[-1])


# -- child side -------------------------------------------------------------------------


def _wait_go() -> None:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' on stdin, got {line!r}")


def _version(url: str, version_id: str) -> Any:
    import vstore

    store = vstore.open(url)
    v = vstore.DatasetVersion.get_version(dataset_name=DATASET, version_id=version_id, store=store)
    return store, v


def cmd_bulk_add(
    url: str, version_id: str, prefix: str, n: str, threshold: str, background: str = "auto"
) -> dict[str, Any]:
    store, v = _version(url, version_id)
    frames = [make_frame(prefix, i) for i in range(int(n))]
    _wait_go()
    t0 = time.perf_counter()
    bg = {"auto": None, "on": True, "off": False}[background]
    with v.get_bulk_context(flush_threshold=int(threshold), background=bg) as bc:
        for frame in frames:
            bc.add_frame(frame)
    elapsed = time.perf_counter() - t0
    store.close()
    return {"prefix": prefix, "added": len(frames), "seconds": elapsed}


def cmd_merge_hot(url: str, version_id: str, fid: str, prefix: str, n: str) -> dict[str, Any]:
    store, v = _version(url, version_id)
    _wait_go()
    t0 = time.perf_counter()
    for i in range(int(n)):
        v.update_frames([hot_frame(fid, {f"{prefix}{i}": i})], without_fields=[])
    elapsed = time.perf_counter() - t0
    store.close()
    return {"prefix": prefix, "merged": int(n), "seconds": elapsed}


COMMANDS = {"bulk-add": cmd_bulk_add, "merge-hot": cmd_merge_hot}


def main(argv: list[str]) -> None:
    result = COMMANDS[argv[0]](*argv[1:])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
