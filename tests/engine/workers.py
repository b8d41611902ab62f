"""Subprocess entry points (and small process helpers) for the engine's crash, concurrency
and corruption tests.

Run as a script: ``python workers.py COMMAND ARGS...``. The tests load this file by
path (see :func:`load`), so it works whatever pytest's import mode is, and the
children import ``vstore`` exactly as the parent does (same interpreter, same
environment).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import blake3

HERE = Path(__file__).resolve()


def load() -> ModuleType:
    """Import this file as a module (for the tests)."""
    spec = importlib.util.spec_from_file_location("_vstore_engine_test_workers", HERE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- helpers used by the tests (parent side) ------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start ``python workers.py *args`` with pipes on stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_line(proc: subprocess.Popen[str], expect: str) -> None:
    """Block until the child prints ``expect`` on its own line (fail if it dies first)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != expect:
        rest, err = proc.communicate(timeout=30)
        raise AssertionError(
            f"worker {proc.args} printed {line!r} instead of {expect!r}\n"
            f"stdout: {rest}\nstderr: {err}"
        )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Any:
    """Wait for a child, require exit code 0, and return the JSON on its last stdout line."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"worker {proc.args} timed out\nstdout: {out}\nstderr: {err}"
        ) from None
    if proc.returncode != 0:
        raise AssertionError(
            f"worker {proc.args} exited {proc.returncode}\nstdout: {out}\nstderr: {err}"
        )
    return json.loads(out.strip().splitlines()[-1])


def release(procs: list[subprocess.Popen[str]]) -> None:
    """Tell children blocked in :func:`_wait_go` to start (all at once)."""
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()
        p.stdin = None  # so that communicate() does not flush it


def reap(procs: list[subprocess.Popen[str]]) -> None:
    """Kill and reap whatever is still running (test cleanup); close every pipe."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        p.wait()


# -- deterministic content for the crash test -----------------------------------------

CRASH_KEYS = 200


def crash_content(seq: int) -> dict[bytes, bytes]:
    """The records the crash writer's tree holds at ref seq ``seq`` (a pure function)."""
    out: dict[bytes, bytes] = {}
    for i in range(CRASH_KEYS):
        v = (seq + i * 7) // 16  # about CRASH_KEYS / 16 keys change per seq
        if (v + i) % 9 == 0:
            continue  # some keys come and go
        out[b"k%04d" % i] = b"%d:%d:" % (i, v) + b"x" * (i % 50)
    out[b"seq"] = b"%d" % seq
    # > 32 KiB, so the tree spills it into a BLOB object; changes every 4 seqs.
    out[b"zbig"] = blake3.blake3(b"big%d" % (seq // 4)).digest(length=40_000)
    return out


def crash_edits(seq: int) -> dict[bytes, bytes | None]:
    """The edits that turn ``crash_content(seq)`` into ``crash_content(seq + 1)``."""
    cur, nxt = crash_content(seq), crash_content(seq + 1)
    edits: dict[bytes, bytes | None] = {k: v for k, v in nxt.items() if cur.get(k) != v}
    edits.update({k: None for k in cur if k not in nxt})
    return edits


# -- child side -----------------------------------------------------------------------


def _wait_go() -> None:
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' on stdin, got {line!r}")


def cmd_append(url: str, ref: str, proc: str, n: str) -> None:
    """Append ``n`` entries to ``ref``, each a commit naming (proc, i); retry on conflict."""
    from vstore.engine import EMPTY_ROOT, open_repository

    p, count = int(proc), int(n)
    repo = open_repository(url)
    rng = random.Random(p)
    conflicts = 0
    _wait_go()
    for i in range(count):
        c = repo.commit(EMPTY_ROOT, message=f"{p}:{i}")
        while True:
            h = repo.refs.head(ref)
            time.sleep(rng.random() * 0.002)  # widen the read-then-append window
            r = repo.refs.append(ref, c.id, expect=h.seq if h else 0, meta={"p": p, "i": i})
            if r.ok:
                assert r.entry.seq == (h.seq if h else 0) + 1
                break
            conflicts += 1
            assert r.entry.seq == (h.seq if h else 0) + 1, "the winner is not at our seq"
    repo.close()
    print(json.dumps({"conflicts": conflicts}), flush=True)


def flush_key(p: int, j: int, m: int) -> bytes:
    """Key ``m`` written by flush ``j`` of worker ``p`` (spread over the base's key space)."""
    return b"k%04d-p%d-j%02d-m%d" % (((j * 4 + p) * 37 + m * 311) % 1000, p, j, m)


def base_key(i: int) -> bytes:
    return b"k%04d" % (i * 2)


def cmd_flush(url: str, ref: str, proc: str, n: str) -> None:
    """Do ``n`` read-modify-write flushes on ``ref``; re-apply on the new head on conflict.

    Flush ``j`` of worker ``p`` adds three keys of its own and deletes base key
    ``p * n + j``; the edit is re-applied to whatever head won a race.
    """
    from vstore.engine import open_repository

    p, count = int(proc), int(n)
    repo = open_repository(url)
    conflicts = 0
    _wait_go()
    for j in range(count):
        edits: dict[bytes, bytes | None] = {
            flush_key(p, j, m): b"v-%d-%d-%d" % (p, j, m) for m in range(3)
        }
        edits[base_key(p * count + j)] = None
        while True:
            h = repo.refs.head(ref)
            assert h is not None and h.value is not None
            head = repo.read_commit(h.value)
            b = repo.batch()
            root = repo.tree.apply(head.tree, edits, b)
            c = repo.commit(root, parents=[h.value], message=f"p{p} j{j}", batch=b)
            b.flush()
            r = repo.refs.append(ref, c.id, expect=h.seq, meta={"p": p, "j": j})
            if r.ok:
                break
            conflicts += 1
    repo.close()
    print(json.dumps({"conflicts": conflicts}), flush=True)


def cmd_crash_writer(url: str, ref: str, ack_path: str) -> None:
    """Loop forever: content of seq+1 -> commit -> append; then log the acked seq (fsync)."""
    from vstore.engine import open_repository

    repo = open_repository(url)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    print("started", flush=True)
    while True:
        h = repo.refs.head(ref)
        seq = h.seq if h else 0
        b = repo.batch()
        if h is None or (seq + 1) % 7 == 0:
            root = repo.tree.build(sorted(crash_content(seq + 1).items()), b)
        else:
            assert h.value is not None
            root = repo.tree.apply(repo.read_commit(h.value).tree, crash_edits(seq), b)
        parents = [h.value] if h is not None and h.value is not None else []
        c = repo.commit(root, parents=parents, message=f"seq {seq + 1}", batch=b)
        b.flush()
        r = repo.refs.append(ref, c.id, expect=seq, meta={"seq": seq + 1})
        if not r.ok:
            raise SystemExit(f"append of seq {seq + 1} lost to {r.entry} with a single writer")
        os.write(ack, b"%d\n" % (seq + 1))
        os.fsync(ack)


def cmd_map_reader(path: str, ids_path: str) -> None:
    """Open the store before the parent grows it; after 'go' read and check every object."""
    from vstore.engine import open_repository
    from vstore.engine.codec import ObjectKind

    repo = open_repository(path)
    first = repo.backend.iter_objects()
    n_before = sum(1 for _ in first)
    _wait_go()
    ids = [bytes.fromhex(x) for x in Path(ids_path).read_text().split()]
    checked = 0
    nbytes = 0
    for k in range(0, len(ids), 8):
        # get_many re-hashes every body against its id.
        bodies = repo.objects.get_many(ids[k : k + 8], ObjectKind.BLOB)
        checked += len(bodies)
        nbytes += sum(len(v) for v in bodies.values())
        del bodies
    stored = sum(1 for _ in repo.backend.iter_objects())
    oid = repo.objects.put(ObjectKind.BLOB, b"written by the reader after the map grew")
    repo.close()
    print(json.dumps({"before": n_before, "checked": checked, "bytes": nbytes,
                      "stored": stored, "new": oid.hex()}), flush=True)


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cmd_bomb_read(url: str, spec_json: str) -> None:
    """Read decompression bombs through the engine; report errors and the peak-RSS delta.

    ``spec_json`` is a list of ``[how, object_hex, key_hex_or_empty, root_hex]``.
    An address-space limit turns a real 10 GiB allocation into a MemoryError
    instead of swapping the machine.
    """
    from vstore.engine import open_repository
    from vstore.errors import CorruptObjectError

    repo = open_repository(url)
    with open("/proc/self/statm") as f:
        vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_bytes + 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = _maxrss_kb()
    results = []
    for how, oid_hex, key_hex, root_hex in json.loads(spec_json):
        try:
            if how == "commit":
                repo.read_commit(bytes.fromhex(oid_hex))
            elif how == "get":
                repo.tree.get(bytes.fromhex(root_hex), bytes.fromhex(key_hex))
            elif how == "items":
                list(repo.tree.items(bytes.fromhex(root_hex)))
            else:
                raise SystemExit(f"unknown read {how}")
            results.append([how, oid_hex, "no error", ""])
        except CorruptObjectError as exc:
            results.append([how, oid_hex, "CorruptObjectError", exc.object_id])
        except BaseException as exc:  # report, do not hide, anything else
            results.append([how, oid_hex, type(exc).__name__, str(exc)[:200]])
    report = repo.verify()
    repo.close()
    print(json.dumps({
        "results": results,
        "verify_corrupt": [c[0] for c in report.corrupt],
        "verify_ok": report.ok,
        "rss_delta_kb": _maxrss_kb() - before,
    }), flush=True)


COMMANDS = {
    "append": cmd_append,
    "flush": cmd_flush,
    "crash-writer": cmd_crash_writer,
    "map-reader": cmd_map_reader,
    "bomb-read": cmd_bomb_read,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
