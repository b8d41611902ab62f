"""Hostile and malformed input (issue 7): corruption, fuzzers, paths and untrusted XML.

* **Corruption.** A dataset version whose tree is a stack (a base, three runs, their key
  filters, a spilled record) is built on LMDB and on a local directory. Each object it
  reaches is damaged in the backing store underneath vstore (bit flips, truncations, an
  appended byte, another object's bytes swapped in), then read back through the public API
  from a freshly opened store and checked by ``verify()``: every damage must surface as a
  :class:`~vstore.errors.CorruptObjectError` naming the object, both ways.
* **Fuzzers.** Hypothesis plus a seeded mutation fuzzer over the object decoder, the frame
  record decoder, the ``q`` and tag-filter parsers and the COCO / YOLO / VOC importers of
  ``DatasetVersion``. Each target runs in a child process whose address space is capped
  (``RLIMIT_AS``) and whose peak RSS is recorded. Only typed ``vstore.errors`` escape, bombs
  are refused, and a refused import leaves the version's ``commit_id`` as it was.
* **Paths.** Names with ``..``, absolute paths, NUL bytes or symlinks leaving the target
  folder are refused by downloads, ``synchronize``, exports, importers and the CLI, and
  nothing is written outside the target (the folder around it is compared before/after).
* **Untrusted XML.** Entity bombs and external entities are refused by the VOC importer,
  and nothing is imported.

Counts follow ``scale.scaled``; ``VSTORE_RELIABILITY_SCALE=10`` is the nightly size. Set
``VSTORE_RELIABILITY_FIGURES=/path/figures.jsonl`` to collect the figures of a run.
"""

from __future__ import annotations

import json
import os
import random
import resource
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import lmdb
import pytest
from click.testing import CliRunner
from scale import SCALE, scaled

import vstore
from vstore.cli.app import cli as app
from vstore.engine.codec import HEADER_SIZE, ObjectKind, unpack_object
from vstore.errors import (
    CorruptObjectError,
    FormatError,
    InvalidArgumentError,
    MissingObjectError,
    VStoreError,
)
from vstore.formats import UnsafePathError, UnsafeXMLError, read_yolo

HERE = Path(__file__).resolve().parent


def record_figures(name: str, **figures: Any) -> None:
    """Print a test's figures; append them to ``$VSTORE_RELIABILITY_FIGURES`` if it is set."""
    line = json.dumps({"test": name, "scale": SCALE, **figures}, sort_keys=True)
    print(f"FIGURES {line}")
    out = os.environ.get("VSTORE_RELIABILITY_FIGURES")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def png_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A small valid PNG whose bytes depend on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes([(seed + y) % 256]) * (width * 3) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


# =========================================================================================
# 1. Corruption of every object kind a stacked version reaches
# =========================================================================================

# Frames per flush: the first is folded into a base, the next three each become a run
# (16 < 240), so the tree is a stack of a base, three runs and four key filters.
FLUSHES = (240, 16, 16, 16)
SPILL_META = "x" * 40_000  # over the 32 KiB spill threshold: stored as its own BLOB


@dataclass
class Corpus:
    """A closed store holding one stacked version, with raw access to its objects."""

    backend: str
    url: str
    path: Path
    dataset_id: str
    version_id: str
    frame_ids: list[str]
    victims: dict[str, bytes] = field(default_factory=dict)  # role -> object id

    def _env(self) -> lmdb.Environment:
        # No fsync: these writes only stage damage for the next read.
        return lmdb.open(str(self.path), max_dbs=8, map_size=256 * 1024 * 1024, sync=False,
                         metasync=False)

    def _file(self, oid: bytes) -> Path:
        h = oid.hex()
        return self.path / "objects" / h[:2] / h[2:]

    def raw_get(self, oid: bytes) -> bytes:
        if self.backend == "file":
            return self._file(oid).read_bytes()
        env = self._env()
        try:
            with env.begin(db=env.open_db(b"objects")) as txn:
                value = txn.get(oid)
        finally:
            env.close()
        assert value is not None
        return bytes(value)

    def raw_put(self, oid: bytes, data: bytes) -> None:
        # Only while vstore has the store closed: LMDB allows one environment per process.
        if self.backend == "file":
            self._file(oid).write_bytes(data)
            return
        env = self._env()
        try:
            with env.begin(write=True, db=env.open_db(b"objects")) as txn:
                assert txn.get(oid) is not None, "damaging an object that is not stored"
                txn.put(oid, data)
        finally:
            env.close()


def build_corpus(root: Path, backend: str) -> Corpus:
    """Write the stacked version, close the store, and name one object of each role."""
    path = root / backend
    url = str(path) if backend == "lmdb" else f"file://{path}"
    ids: list[str] = []
    with vstore.open(url) as s:
        s.repo.layers.apply_max = 0  # every flush becomes a run (or a fold)
        v = vstore.DatasetVersion.create_new_dataset("hostile", store=s)
        bulk = v.get_bulk_context()
        n = 0
        for size in FLUSHES:
            for _ in range(size):
                meta = {"n": n, "big": SPILL_META} if n == sum(FLUSHES) - 1 else {"n": n}
                frame = vstore.SingleFrame(source=f"s3://bucket/img{n:04d}.png", width=8,
                                           height=8, metadata=meta)
                bulk.add_frame(frame)
                ids.append(str(frame_id(frame)))
                n += 1
            bulk.flush()
        corpus = Corpus(backend, url, path, v.dataset_id, v.version_id, ids)
        corpus.victims = victims_of(s, v)
        assert s.verify().ok
    return corpus


def frame_id(frame: vstore.SingleFrame) -> str:
    from vstore.model import frame_to_record

    return str(frame_to_record(frame)["id"])


def victims_of(s: vstore.Store, v: vstore.DatasetVersion) -> dict[str, bytes]:
    """One object of each role the version reaches now."""
    repo = s.repo
    state = s.registry.version(v.dataset_id, v.version_id)
    assert state is not None
    st = repo.layers.stack(state.tree)
    assert st.id is not None and len(st.runs) == 3 and st.base_filter is not None, st
    assert repo.tree.load(st.base).level >= 1, "the base should have internal nodes"
    leaves = list(repo.tree.leaves(st.base))
    spills = [bytes(val.data) for leaf in repo.tree.leaves(st.runs[-1].root)
              for val in leaf.vals if type(val) is not bytes]
    assert len(spills) == 1, "the last run should hold the spilled record"
    head = s.registry.refs.head(f"datasets/{v.dataset_id}")
    assert head is not None and head.value is not None
    return {
        "commit": state.commit.id,
        "stack": st.id,
        "base-root": st.base,
        "base-leaf": leaves[len(leaves) // 2].id,
        "run-first": st.runs[0].root,
        "run-last": st.runs[-1].root,
        "base-filter": st.base_filter,
        "run-filter": st.runs[1].filter,
        "spilled-record": spills[0],
        "dataset-doc": head.value,
    }


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Corpus]:
    root = tmp_path_factory.mktemp("corruption")
    return {b: build_corpus(root, b) for b in ("lmdb", "file")}


def read_everything(corpus: Corpus, s: vstore.Store) -> BaseException | None:
    """Read the version through the public API of a fresh store; the first error."""
    try:
        v = vstore.DatasetVersion.get_version(
            dataset_id=corpus.dataset_id, version_id=corpus.version_id, store=s)
        assert len(v) == len(corpus.frame_ids)
        frames = list(v.get_iterator())  # every node, run and spilled record
        assert len(frames) == len(corpus.frame_ids)
        found = v.get_frames_by_ids(corpus.frame_ids)  # through every key filter
        assert len(found) == len(corpus.frame_ids)
    except Exception as exc:
        return exc
    return None


def damages(good: bytes, partners: list[bytes], rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """``(mutation, damaged bytes)`` for one stored object."""
    n = len(good)
    header = rng.sample(range(HEADER_SIZE), min(HEADER_SIZE, scaled(3)))
    body = [rng.randrange(HEADER_SIZE, n) for _ in range(scaled(5))] if n > HEADER_SIZE else []
    for pos in [*header, *body]:
        bad = bytearray(good)
        bad[pos] ^= 1 << rng.randrange(8)
        yield "bit-flip", bytes(bad)
    for length in sorted({0, HEADER_SIZE - 1, HEADER_SIZE, (n + HEADER_SIZE) // 2, n - 1}):
        yield "truncation", good[:length]
    yield "appended-byte", good + b"\x00"
    for other in partners:
        yield "swap", other


@pytest.mark.parametrize("backend", ["lmdb", "file"])
def test_corruption_of_every_object_kind_is_detected_on_read_and_by_verify(
    corpora: dict[str, Corpus], backend: str
) -> None:
    corpus = corpora[backend]
    assert_intact(corpus)
    rng = random.Random(7)
    roles = list(corpus.victims)
    tried: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    by_mutation: Counter[str] = Counter()
    failures: list[str] = []
    for role in roles:
        oid = corpus.victims[role]
        good = corpus.raw_get(oid)
        # Swapped in: an intact object of another role, and one of the same kind when the
        # version has one (the most plausible mix-up: two leaves, two filters).
        kind = unpack_object(oid, good)[0]
        same = [r for r in roles if r != role and unpack_object(
            corpus.victims[r], corpus.raw_get(corpus.victims[r]))[0] == kind]
        others = [r for r in roles if r != role and r not in same]
        partners = [corpus.raw_get(corpus.victims[r]) for r in (same[:1] + others[:1])]
        for mutation, bad in damages(good, partners, rng):
            corpus.raw_put(oid, bad)
            try:
                tried[role] += 1
                by_mutation[mutation] += 1
                problem = check_detected(corpus, oid)
            finally:
                corpus.raw_put(oid, good)
            if problem:
                failures.append(f"{role} {mutation}: {problem}")
            else:
                detected[role] += 1
    assert_intact(corpus)  # every damage was undone
    record_figures(f"corruption[{backend}]", tried=dict(tried), detected=dict(detected),
                   mutations=dict(by_mutation), total_tried=sum(tried.values()),
                   total_detected=sum(detected.values()))
    assert not failures, "\n".join(failures[:30])
    assert set(tried) == set(corpus.victims)


def assert_intact(corpus: Corpus) -> None:
    with vstore.open(corpus.url) as s:
        assert read_everything(corpus, s) is None
        assert s.verify().ok


def check_detected(corpus: Corpus, oid: bytes) -> str | None:
    """None if a read and verify both report ``oid`` as corrupt; else what went wrong."""
    with vstore.open(corpus.url) as s:  # nothing cached: every read reaches the backend
        err = read_everything(corpus, s)
        report = s.verify()  # re-reads every object from the backend
    if err is None:
        return "every read succeeded"
    if not isinstance(err, CorruptObjectError):
        return f"a read raised {type(err).__name__}: {err}"
    if err.object_id != oid.hex():
        return f"a read named {err.object_id}"
    if oid.hex() not in [c[0] for c in report.corrupt]:
        return f"verify missed it: corrupt={report.corrupt[:2]} missing={report.missing[:2]}"
    return None


# =========================================================================================
# 2. Fuzzers: only typed errors, bombs refused, bounded memory, nothing partial written
# =========================================================================================

#: Address space a fuzz child may add to what it holds after its setup (``RLIMIT_AS``).
AS_BUDGET = 1 << 30
#: Hypothesis examples and mutation-fuzzer examples per target, at scale 1.
FUZZ_COUNTS: dict[str, tuple[int, int]] = {
    "object": (300, 1500),
    "record": (300, 1500),
    "q": (400, 3000),
    "tagfilter": (300, 2000),
    "coco": (150, 300),
    "yolo": (150, 300),
    "voc": (150, 300),
}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TEN_GIB = 10 * 1024**3
_BLOCK = 128 * 1024


def zstd_bomb(declared: int | None, total: int = TEN_GIB) -> bytes:
    """A real zstd frame of RLE blocks that decompresses to ``total`` bytes of ``b"A"``."""
    out = bytearray(ZSTD_MAGIC)
    if declared is None:
        out += bytes((0x00, 0x38))  # no content size; a 128 KiB window
    else:
        out += bytes((0xC0, 0x38)) + declared.to_bytes(8, "little")
    rle = ((_BLOCK << 3) | (1 << 1)).to_bytes(3, "little") + b"A"
    last = ((_BLOCK << 3) | (1 << 1) | 1).to_bytes(3, "little") + b"A"
    return bytes(out + rle * (total // _BLOCK - 1) + last)


#: msgpack headers that promise far more than they hold, and nesting past any stack.
MSGPACK_BOMBS = {
    "array32 of 2^32-1": b"\xdd\xff\xff\xff\xff",
    "map32 of 2^32-1": b"\xdf\xff\xff\xff\xff",
    "str32 of 4 GiB": b"\xdb\xff\xff\xff\xff" + b"a" * 64,
    "bin32 of 4 GiB": b"\xc6\xff\xff\xff\xff" + b"a" * 64,
    "ext32 of 4 GiB": b"\xc9\xff\xff\xff\xff\x01",
    "200k nested arrays": b"\x91" * 200_000,
    "node of 2^32-1 keys": b"\x93\x00\xdd\xff\xff\xff\xff\x90",
}


def mutate_bytes(rng: random.Random, data: bytes, tokens: list[bytes], seeds: list[bytes],
                 edits: int = 4) -> bytes:
    """One to ``edits`` random edits: flips, interesting bytes, deletions, insertions of
    tokens, duplicated ranges, truncation, or a splice with another seed."""
    out = bytearray(data)
    for _ in range(rng.randint(1, edits)):
        op = rng.randrange(8)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[min(at, len(out) - 1)] = rng.choice((0, 0x7F, 0x80, 0xC1, 0xDD, 0xDF, 0xFF))
        elif op == 2:
            del out[at:at + rng.randint(1, 16)]
        elif op == 3:
            out[at:at] = rng.choice(tokens)
        elif op == 4 and out:
            start = rng.randrange(len(out))
            piece = out[start:start + rng.randint(1, 64)]
            out[at:at] = piece * rng.randint(1, 8)
        elif op == 5:
            del out[at:]
        elif op == 6:
            other = rng.choice(seeds)
            out = out[:at] + other[rng.randrange(len(other) + 1):]
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out)


class Fuzzer:
    """One fuzz target. ``check`` returns normally (accepted) or raises; an exception
    outside ``allowed`` is a failure. ``bombs`` must all be refused."""

    allowed: ClassVar[tuple[type[BaseException], ...]] = (VStoreError,)
    tokens: ClassVar[list[bytes]] = [b"\x00", b"\xff"]

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.seeds: list[Any] = []

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def refusals(self, value: Any) -> tuple[type[BaseException], ...]:
        """The exceptions that count as a clean refusal of ``value``."""
        return self.allowed

    def bombs(self) -> dict[str, Any]:
        return {}

    def mutate(self, rng: random.Random, value: Any) -> Any:
        return mutate_bytes(rng, value, self.tokens, self.seeds)

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        seeds = st.sampled_from(self.seeds)
        edits = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1 << 20),
                                   st.binary(min_size=1, max_size=8)), min_size=1, max_size=4)
        return st.one_of(
            st.binary(max_size=512),
            st.builds(lambda s, e: apply_edits(s, e, self.tokens), seeds, edits),
        )


def apply_edits(data: bytes, edits: list[tuple[int, int, bytes]], tokens: list[bytes]) -> bytes:
    """Hypothesis-drawn edits (shrinkable, unlike the seeded mutator)."""
    out = bytearray(data)
    for op, at, piece in edits:
        at = at % (len(out) + 1)
        if op in (0, 1) and out:
            out[min(at, len(out) - 1)] = piece[0]
        elif op == 2:
            del out[at:at + len(piece) * 4]
        elif op == 3:
            out[at:at] = tokens[piece[0] % len(tokens)]
        elif op == 4:
            del out[at:]
        else:
            out[at:at] = piece
    return bytes(out)


class ObjectFuzzer(Fuzzer):
    """Stored objects → ``unpack_object`` → the decoder of their kind (node, commit, stack,
    key filter) → the children a walk would follow; and raw msgpack → ``codec.decode``.

    Inputs are ``(mode, kind, object id, bytes)``: ``stored`` bytes read under an id,
    a canonical ``body`` that is hashed and framed first (so it passes the id check and
    reaches the decoders: a hostile writer, not a damaged disk), or ``decode`` input.
    ``decode`` raises ``ValueError`` by contract (its callers wrap it); every other mode
    lets only :class:`CorruptObjectError` and :class:`MissingObjectError` out.
    """

    tokens: ClassVar[list[bytes]] = [
        b"\x00", b"\xc0", b"\x90", b"\x80", b"\xdd\xff\xff\xff\xff", b"\xc4\x20" + b"\x00" * 32,
        b"\xd4\x01\x00", b"\xc7\x20\x01" + b"\x00" * 32, b"\xa1k", b"\x01", b"\xcb" + b"\x7f" * 8,
        ZSTD_MAGIC]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        from vstore.engine import open_repository

        self.repo = open_repository(f"memory://objects-{os.getpid()}")
        self.repo.layers.apply_max = 0
        from vstore.engine.node import EMPTY_ROOT

        root = EMPTY_ROOT
        for b, size in enumerate((200, 10, 10)):
            edits = {b"k%05d" % (b * 1000 + i): b"v" * (i % 50) for i in range(size)}
            if b == 2:
                edits[b"spill-raw"] = random.Random(0).randbytes(40_000)
                edits[b"spill-zstd"] = b"abc" * 14_000
            root = self.repo.layers.write(root, edits)
        commit = self.repo.commit(root, message="fuzz", meta={"k": [1, 2.5, "s", b"b"]})
        assert self.repo.refs.append("drafts/fuzz", commit.id, expect=0).ok
        seen = self.repo._walk([commit.id], lambda o, e: None)
        self.stored: list[tuple[int, bytes, bytes]] = []
        for oid in sorted(seen):
            raw = self.repo.backend.get_object(oid)
            if raw is not None:
                kind, body = unpack_object(oid, raw)
                self.stored.append((int(kind), oid, raw))
                self.stored.append((int(kind), oid, body))  # its body, for hash-valid mode
        self.seeds = [s for _, _, s in self.stored]
        assert {k for k, _, _ in self.stored} == {1, 2, 3, 5}

    def check(self, value: Any) -> None:
        from vstore.engine.codec import decode, pack_object

        mode, kind, oid, data = value
        if mode == "decode":
            decode(data)
            return
        if mode == "body":
            oid, data = pack_object(ObjectKind(kind), data)
        got, body = unpack_object(oid, data)
        self.parse(got, oid, body)

    def refusals(self, value: Any) -> tuple[type[BaseException], ...]:
        if value[0] == "decode":
            return (ValueError,)  # the documented contract of codec.decode
        return (CorruptObjectError, MissingObjectError)

    def parse(self, kind: ObjectKind, oid: bytes, body: bytes) -> None:
        from vstore.engine.commits import parse_commit
        from vstore.engine.layers import KeyFilter, _parse_stack

        repo = self.repo
        if kind == ObjectKind.NODE:
            node = repo.tree._decode(oid, body)
            repo.tree.adopt(oid, body)
            try:
                list(repo.layers.items(oid))  # children are not stored: MissingObjectError
                for key in node.keys[:3]:
                    repo.layers.get(oid, key)
            finally:
                repo.tree._cache.clear()
        elif kind == ObjectKind.COMMIT:
            parse_commit(oid, body)
        elif kind == ObjectKind.STACK:
            _parse_stack(oid, body)
        elif kind == ObjectKind.BLOB:
            f = KeyFilter.from_body(oid, body)
            _ = 12345 in f
        for child, _expected in repo._children(oid, kind, body):
            assert type(child) is bytes and len(child) == 32, f"child id {child!r}"

    def mutate(self, rng: random.Random, value: Any) -> Any:
        kind, oid, data = rng.choice(self.stored)
        mode = rng.choice(("stored", "body", "body", "decode"))
        return (mode, kind, oid, mutate_bytes(rng, data, self.tokens, self.seeds))

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        from vstore.engine.codec import encode

        values = st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
            | st.text(max_size=8) | st.binary(max_size=40),
            lambda inner: st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=6), inner, max_size=4),
            max_leaves=12,
        )
        stored = st.sampled_from(self.stored)
        edits = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1 << 20),
                                   st.binary(min_size=1, max_size=8)), min_size=1, max_size=4)
        modes = st.sampled_from(("stored", "body", "decode"))
        kinds = st.sampled_from([1, 2, 3, 5])
        return st.one_of(
            st.builds(lambda m, s, e: (m, s[0], s[1], apply_edits(s[2], e, self.tokens)),
                      modes, stored, edits),
            st.builds(lambda k, v: ("body", k, b"", encode_loose(v, encode)), kinds, values),
            st.builds(lambda m, k, s, b: (m, k, s[1], b), modes, kinds, stored,
                      st.binary(max_size=256)),
        )

    def bombs(self) -> dict[str, Any]:
        from vstore.engine.codec import FORMAT_VERSION, MAGIC, _crc

        def framed(kind: int, payload: bytes) -> bytes:
            fields = bytes((FORMAT_VERSION, kind, 1))  # codec 1: zstd
            return MAGIC + fields + _crc(fields, payload) + payload

        oid = self.stored[0][1]
        out: dict[str, Any] = {
            "zstd declares 10 GiB": ("stored", 1, oid, framed(1, zstd_bomb(TEN_GIB))),
            "zstd declares no size": ("stored", 1, oid, framed(1, zstd_bomb(None))),
            "zstd declares 1000, holds 10 GiB": ("stored", 2, oid, framed(2, zstd_bomb(1000))),
            "zstd declares 64 MiB, holds 10 GiB": (
                "stored", 5, oid, framed(5, zstd_bomb(64 * 1024 * 1024))),
        }
        for name, data in MSGPACK_BOMBS.items():
            out[f"{name} to codec.decode"] = ("decode", 0, b"", data)
            for kind in (1, 2, 5):
                out[f"{name} as a hash-valid {ObjectKind(kind).name}"] = ("body", kind, b"", data)
        return out


def encode_loose(value: Any, encode: Callable[[Any], bytes]) -> bytes:
    try:
        return encode(value)
    except VStoreError:
        return b"\xc0"


def sample_frames() -> list[Any]:
    """Frames using every record field: sources, preview, masks, ROIs of several shapes."""
    from vstore.model import Annotation, FrameGroup, SingleFrame

    one = SingleFrame(
        source="s3://bucket/a.jpg", width=640, height=480, size=99, hash="h1",
        preview_uri="s3://bucket/a_prev.jpg", metadata={"city": "bremen", "n": [1, 2.5, None]},
        mask_source="s3://bucket/a_mask.png", content_type="image/jpeg",
    )
    one.add_annotation(box2d_xywh=(10, 10, 30, 20), labels=["car"], confidence=0.25, id="o",
                       metadata={"occluded": True})
    one.add_annotation(poly2d_xy=[0, 0, 5, 0, 5, 5], labels=["lane", "x"])
    one.add_annotation(keypoints=[1, 2, 3, 4], labels=["kp"])
    one.add_annotation(labels=["daytime"])
    group = FrameGroup({"a": SingleFrame(source="s3://b/a.jpg", metadata={"k": 1}),
                        "b": SingleFrame(source="s3://b/b.jpg", timestamp=5)},
                       id="g1", metadata={"scene": 3}, context_id="drive-7")
    group.add_annotation(box2d_xywh=[0, 0, 5, 5], labels=["truck"], frame_ids=["a", "b"])
    group.add_global_annotation(Annotation(labels=["rain"]))
    return [one, group, SingleFrame(source="/local/x.png")]


class RecordFuzzer(Fuzzer):
    """Record bytes → ``decode_record`` → ``record_to_frame``; a record accepted must also
    encode back (``frame_to_record`` + ``encode_record``)."""

    tokens: ClassVar[list[bytes]] = [
        b"\xc0", b"\xc3", b"\x90", b"\x80", b"\xa0", b"\xcb\x7f\xf8" + b"\x00" * 6,
        b"\xcb\xff\xf0" + b"\x00" * 6, b"\xcf" + b"\xff" * 8, b"\xd3\x80" + b"\x00" * 7,
        b"\xa2id", b"\xa4rois", b"\xa4meta", b"\xa7sources", b"\xa3uri", b"\xa4poly",
        b"\xa5label", b"\xa4mask", b"\xa5value", b"\xa1$", b"\xa1.", b"\xd4\x01\x00",
        b"\xdd\xff\xff\xff\xff"]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        from vstore.model import encode_record, frame_to_record

        self.records = [frame_to_record(f) for f in sample_frames()]
        self.seeds = [encode_record(r) for r in self.records]

    def check(self, value: Any) -> None:
        from vstore.model import decode_record, encode_record, frame_to_record, record_to_frame

        frame = record_to_frame(decode_record(value))
        encode_record(frame_to_record(frame))
        loose = decode_record(value, validate=False)
        record_to_frame(loose)  # validated on the way in

    def strategy(self) -> Any:
        import msgpack
        from hypothesis import strategies as st

        leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
                | st.text(max_size=6) | st.binary(max_size=6))
        values = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                              max_leaves=8)

        def replaced(record: dict[str, Any], path: list[int], value: Any) -> bytes:
            # Replace one field somewhere in a valid record by an arbitrary value.
            record = json.loads(json.dumps(record))
            node: Any = record
            for step in path:
                keys = list(node) if isinstance(node, dict) else list(range(len(node)))
                if not keys:
                    break
                key = keys[step % len(keys)]
                if not isinstance(node[key], (dict, list)) or step % 3 == 0:
                    node[key] = value
                    break
                node = node[key]
            return bytes(msgpack.packb(record, use_bin_type=True))

        plain = [json.loads(json.dumps(r)) for r in self.records]
        return st.one_of(
            super().strategy(),
            st.builds(replaced, st.sampled_from(plain), st.lists(st.integers(0, 50), max_size=5),
                      values),
        )

    def bombs(self) -> dict[str, Any]:
        import msgpack

        deep: Any = 1
        for _ in range(40):
            deep = {"k": deep}
        record = json.loads(json.dumps(self.records[2]))
        big = dict(record, meta={"blob": b"x" * (17 * 1024 * 1024)})
        out = {name: data for name, data in MSGPACK_BOMBS.items()}
        out["metadata nested 40 deep"] = msgpack.packb(dict(record, meta=deep))
        out["17 MiB record"] = msgpack.packb(big, use_bin_type=True)
        return out


class QFuzzer(Fuzzer):
    """``q`` text → ``parse_q`` → ``compile_q`` → evaluated on documents."""

    tokens: ClassVar[list[bytes]] = [t.encode() for t in [
        " ", "a", "tags.name", "x.0", "metadata.k-1", "=", "==", "!=", "<>", "<", "<=", ">",
        ">=", " in ", " not ", " like ", " and ", " or ", "(", ")", ",", '"s"', "'t'", '"',
        "'", "\\", "\\u00e9", "\\u", "1", "-2.5e3", "1e999", "true", "null", "%", "_", ".",
        "\x00", "é", "\U0001f600"]]
    docs: ClassVar[list[dict[str, Any]]] = [
        {"a": [1, "s"], "tags": [{"name": "s"}], "x": [3.5, None], "metadata": {"k-1": "v"}},
        {"a": "abc%_", "filename": "img.png", "width": 640, "nested": {"l": [[1, 2], {"m": 1}]}},
        {},
    ]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.seeds = [q.encode() for q in [
            'a = 1', 'tags.name = "s" and not (x.0 >= 3 or a in (1, "s", null))',
            "filename like 'img%.p_g' or width >= 10", 'metadata.k-1 != "v"',
            'nested.l.0.1 > -2.5e3 and a not like "ab\\%%"', "a not in (true, false, 1e3)",
        ]]

    def check(self, value: Any) -> None:
        from vstore.datasets.query import compile_q, parse_q

        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        predicate = compile_q(parse_q(text))
        for doc in self.docs:
            predicate(doc)

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        soup = st.lists(st.sampled_from(self.tokens), max_size=30).map(b"".join)
        return st.one_of(super().strategy(), soup, st.text(max_size=80).map(str.encode))

    def bombs(self) -> dict[str, Any]:
        from vstore.datasets.query import MAX_QUERY_LENGTH

        return {
            "over the length limit": b"a = 1 or " * (MAX_QUERY_LENGTH // 9 + 1),
            "60k open parentheses": b"(" * 60_000 + b"a = 1",
            "16k nested not": b"not " * 16_000 + b"a = 1",
            "unterminated 60k string": b'a = "' + b"x" * 60_000,
        }


class TagFilterFuzzer(Fuzzer):
    """Tag-filter lists → ``compile_tag_filter`` → applied to tag sets."""

    pool: ClassVar[list[Any]] = [
        "__$all", "__$and", "__$any", "__$or", "__$not", "__$nop", "__$bad", "__$", "-a", "-",
        "a", "b", "-__$all", "", None, 3, b"a", 1.5, ["a"], {"a": 1}, "a" * 300]
    tag_sets: ClassVar[list[Any]] = [None, set(), {"a"}, {"a", "b"}, ["-a", "__$all"], {"c"}]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.seeds = [["a", "-b"], ["__$all", "a", "__$or", "b", "__$not", "c"], [None],
                      ["__$not", "__$nop", "-a"], "a", None, []]

    def check(self, value: Any) -> None:
        from vstore.datasets.query import compile_tag_filter

        f = compile_tag_filter(value)
        for tags in self.tag_sets:
            f(tags)

    def mutate(self, rng: random.Random, value: Any) -> Any:
        items = list(rng.choice([s for s in self.seeds if isinstance(s, list)]))
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(items) + 1)
            if rng.random() < 0.6 or not items:
                items.insert(at, rng.choice(self.pool))
            else:
                del items[min(at, len(items) - 1)]
        return rng.choice([items, tuple(items), items[0] if items else 7, set(map(repr, items))])

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        item = st.sampled_from(self.pool) | st.text(max_size=6) | st.none() | st.integers()
        return st.one_of(st.lists(item, max_size=12), st.text(max_size=12), st.none(),
                         st.integers(), st.tuples(item, item))


class ImportFuzzer(Fuzzer):
    """Annotation files → ``DatasetVersion.import_annotations_*``: a refused file must leave
    the version's ``commit_id`` as it was (nothing partial written)."""

    kind = ""
    suffix = ""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        images = workdir / "images"
        images.mkdir(exist_ok=True)
        paths = []
        for i in range(3):
            paths.append(images / f"img{i}.png")
            paths[-1].write_bytes(png_bytes(64, 48, seed=i))
        self.store = vstore.open(f"memory://{type(self).__name__}-{os.getpid()}")
        data = self.store.get_datalake().upload_data([str(p) for p in paths])
        self.version = self.store.create_dataset("fuzz").create_version(
            "v", type="OBJECT_DETECTION")
        self.version.add_data(data)
        self.file = workdir / f"input{self.suffix}"
        self.imported = 0

    def check(self, value: Any) -> None:
        before = self.version.commit_id
        try:
            self.run_import(value)
        except VStoreError:
            after = self.version.commit_id
            assert after == before, f"a refused import changed the version ({after})"
            raise
        self.imported += 1

    def run_import(self, value: Any) -> None:
        raise NotImplementedError


HOSTILE_JSON_VALUES: list[Any] = [
    None, True, -1, 0, 2**63, -(2**64), 1e308, -1e308, 0.5, "", "x" * 10_000, "../../x.png",
    "/etc/passwd", "img0.png", "a\x00b", [], {}, [[]], [None], {"counts": "0"}, [1, 2, 3],
    [0, 0, 1e308, 1e308], {"size": [48, 64], "counts": [1] * 100},
]


class CocoFuzzer(ImportFuzzer):
    suffix = ".json"
    tokens: ClassVar[list[bytes]] = [t.encode() for t in [
        '"', "{", "}", "[", "]", ",", ":", "null", "-1", "1e400", "9" * 30, '"file_name"',
        '"../x.png"', '"bbox"', "[]", "{}", '"segmentation"', '"counts"', "NaN", "\\u0000",
        "0.5"]]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        coco = {
            "images": [{"id": i, "file_name": f"img{i}.png", "width": 64, "height": 48}
                       for i in range(3)],
            "categories": [{"id": 1, "name": "car", "supercategory": "v"},
                           {"id": 2, "name": "bus"}],
            "annotations": [
                {"id": 10, "image_id": 0, "category_id": 1, "bbox": [1, 2, 10, 20],
                 "area": 200, "iscrowd": 0, "segmentation": []},
                {"id": 11, "image_id": 1, "category_id": 2, "bbox": [0, 0, 8, 8], "area": 64,
                 "iscrowd": 0, "segmentation": [[0, 0, 8, 0, 8, 8, 0, 8]]},
                {"id": 12, "image_id": 2, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16,
                 "iscrowd": 1, "segmentation": {"counts": [0, 16, 3056], "size": [48, 64]}},
            ],
        }
        self.seeds = [json.dumps(coco, indent=1).encode()]

    def mutate(self, rng: random.Random, value: Any) -> Any:
        if rng.random() < 0.5:
            return mutate_bytes(rng, value, self.tokens, self.seeds, edits=2)
        # Valid JSON, hostile content: one value somewhere replaced.
        data = json.loads(value)
        node: Any = data
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = rng.choice(keys)
            if isinstance(node[key], (dict, list)) and rng.random() < 0.8:
                node = node[key]
                continue
            node[key] = rng.choice(HOSTILE_JSON_VALUES)
            break
        return json.dumps(data).encode()

    def run_import(self, value: Any) -> None:
        self.file.write_bytes(value)
        self.version.import_annotations_coco_file(str(self.file))

    def bombs(self) -> dict[str, Any]:
        return {
            "200k nested arrays": b'{"images": ' + b"[" * 200_000,
            "5000-digit integer id": b'{"images": [{"id": ' + b"9" * 5000 + b"}]}",
            "file_name leaving the folder": self.seeds[0].replace(b"img0.png", b"../../x.png"),
            # Recorded with the labels after the shapes are written: must fail before.
            "category field past 64-bit ints": self.seeds[0].replace(
                b'"supercategory": "v"', b'"supercategory": -18446744073709551616'),
        }


class YoloFuzzer(ImportFuzzer):
    suffix = ".txt"
    tokens: ClassVar[list[bytes]] = [t.encode() for t in [
        " ", "\n", "-", "1e9", "nan", "inf", "9", ".", "0", ":", "names", "[", "]", "&a", "*a",
        "!!python/object:os.system", "'", "{", "nc: 3", "\t", "0.5 0.5"]]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.yaml = workdir / "data.yaml"
        self.labels = workdir / "labels"
        self.labels.mkdir()
        self.seeds = [b"names: [car, bus]\nnc: 2\n",
                      b"0 0.5 0.5 0.2 0.3\n1 0.1 0.1 0.3 0.2 0.3 0.4\n"]

    def mutate(self, rng: random.Random, value: Any) -> Any:
        target = rng.randrange(2)
        files = list(self.seeds)
        files[target] = mutate_bytes(rng, files[target], self.tokens, self.seeds, edits=2)
        return tuple(files)

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        one = super().strategy()
        return st.one_of(st.tuples(one, st.just(self.seeds[1])),
                         st.tuples(st.just(self.seeds[0]), one))

    def run_import(self, value: Any) -> None:
        config, rows = value if isinstance(value, tuple) else (self.seeds[0], value)
        self.yaml.write_bytes(config)
        label = self.labels / "img1.txt"
        label.write_bytes(rows)
        self.version.import_annotations_yolo_files(str(self.yaml), [str(label)])

    def bombs(self) -> dict[str, Any]:
        laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"]
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
            laughs.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        laughs.append("names: *i")
        rows = self.seeds[1]
        return {
            "yaml alias bomb (billion laughs)": ("\n".join(laughs).encode(), rows),
            "yaml 100k nested lists": (b"names: " + b"[" * 100_000, rows),
            "python object tag": (b"names: !!python/object/apply:os.system ['true']", rows),
        }


class VocFuzzer(ImportFuzzer):
    suffix = ".xml"
    tokens: ClassVar[list[bytes]] = [t.encode() for t in [
        "<", ">", "</", "/>", "&", "&amp;", "&#0;", "&#x1F600;", "<object>", "<name>", "<bndbox>",
        "<xmin>", "-1", "1e9", "nan", "<!DOCTYPE a>", "<![CDATA[", "]]>", "<?xml ?>",
        "<filename>../x.png</filename>", '"', "\x00"]]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.seeds = [(
            b"<annotation>\n<folder>images</folder>\n<filename>img2.png</filename>\n"
            b"<size><width>64</width><height>48</height><depth>3</depth></size>\n"
            b"<object><name>car</name><pose>Left</pose><truncated>0</truncated>"
            b"<difficult>1</difficult>\n<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax>"
            b"<ymax>40</ymax></bndbox></object>\n<object><name>bus</name><polygon>"
            b"<x1>0</x1><y1>0</y1><x2>10</x2><y2>0</y2><x3>10</x3><y3>10</y3></polygon>"
            b"</object>\n</annotation>\n")]

    def mutate(self, rng: random.Random, value: Any) -> Any:
        return mutate_bytes(rng, value, self.tokens, self.seeds, edits=2)

    def run_import(self, value: Any) -> None:
        self.file.write_bytes(value)
        self.version.import_annotation_voc_file(str(self.file))

    def bombs(self) -> dict[str, Any]:
        return {name: xml.encode() for name, xml in hostile_xml(self.workdir / "secret.txt")}


FUZZERS: dict[str, type[Fuzzer]] = {
    "object": ObjectFuzzer, "record": RecordFuzzer, "q": QFuzzer,
    "tagfilter": TagFilterFuzzer, "coco": CocoFuzzer, "yolo": YoloFuzzer, "voc": VocFuzzer,
}


def hostile_xml(secret: Path) -> list[tuple[str, str]]:
    """Untrusted XML: entity bombs and external entities, each a VOC file otherwise."""
    secret.write_text("TOP-SECRET")
    head = '<?xml version="1.0"?>\n'
    voc = "<annotation><filename>{}</filename><object><name>{}</name><bndbox><xmin>1</xmin>" \
          "<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>\n"
    laughs = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10)]
    return [
        ("billion laughs", head + f"<!DOCTYPE annotation [{''.join(laughs)}]>\n"
         + voc.format("img0.png", "&l9;")),
        ("quadratic blowup", head + f'<!DOCTYPE annotation [<!ENTITY a "{"x" * 50_000}">]>\n'
         + voc.format("img0.png", "&a;" * 10_000)),
        ("external entity (local file)", head
         + f'<!DOCTYPE annotation [<!ENTITY s SYSTEM "file://{secret}">]>\n'
         + voc.format("img0.png", "&s;")),
        ("external entity (URL)", head
         + '<!DOCTYPE annotation [<!ENTITY s SYSTEM "http://127.0.0.1:9/x">]>\n'
         + voc.format("img0.png", "&s;")),
        ("external parameter entity", head
         + f'<!DOCTYPE annotation [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>\n'
         + voc.format("img0.png", "car")),
        ("entity in an attribute", head
         + '<!DOCTYPE annotation [<!ENTITY e "car">]>\n'
         + '<annotation a="&e;"><filename>img0.png</filename></annotation>\n'),
    ]


# -- the child process that runs one target ------------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def fuzz_child(target: str, workdir: str, n_hypothesis: int, n_mutations: int) -> None:
    """Run one fuzz target under an address-space cap; print its figures as JSON."""
    fuzzer = FUZZERS[target](Path(workdir))
    # Hypothesis builds its tables (the unicode charmap: ~200 MiB, once) on first use:
    # draw a few examples before the peak is reset, so the figure is the parser's.
    run_hypothesis(fuzzer, 5, lambda value, source: None)
    bombs = fuzzer.bombs()  # built before the reset: their own size is not the parser's
    reset = False
    try:  # reset the peak-RSS mark, so it measures the fuzzing alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        pass
    base_rss = _status_kib("VmRSS")
    limit = _status_kib("VmSize") * 1024 + AS_BUDGET
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    outcome: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()

    def one(value: Any, source: str) -> None:
        outcome[source] += 1
        try:
            fuzzer.check(value)
        except fuzzer.refusals(value):
            outcome["refused"] += 1
        except BaseException as exc:  # MemoryError and friends are failures too
            if len(failures) < 10:
                failures.append(f"{source}: {type(exc).__name__}: {str(exc)[:300]} "
                                f"on {repr(value)[:300]}")
            outcome["failed"] += 1
        else:
            outcome["accepted"] += 1

    for name, value in bombs.items():
        before = outcome["refused"]
        one(value, "bombs")
        if outcome["refused"] == before and len(failures) < 10:
            failures.append(f"bomb {name!r} was not refused")
    run_hypothesis(fuzzer, n_hypothesis, one)
    rng = random.Random(f"{target}-{SCALE}")
    for _ in range(n_mutations):
        one(fuzzer.mutate(rng, rng.choice(fuzzer.seeds)), "mutations")
    print(json.dumps({
        "target": target, "hypothesis": outcome["hypothesis"], "mutations": outcome["mutations"],
        "bombs": outcome["bombs"], "accepted": outcome["accepted"],
        "refused": outcome["refused"], "failed": outcome["failed"], "failures": failures,
        "peak_rss_growth_kib": _status_kib("VmHWM") - base_rss, "peak_reset": reset,
        "as_budget_mib": AS_BUDGET >> 20, "seconds": round(time.monotonic() - started, 1),
    }))


def run_hypothesis(fuzzer: Fuzzer, examples: int, one: Callable[[Any, str], None]) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=examples, database=None, deadline=None, derandomize=SCALE == 1,
              suppress_health_check=list(HealthCheck))
    @given(fuzzer.strategy())
    def prop(value: Any) -> None:
        one(value, "hypothesis")

    prop()


# -- the tests that start the children -----------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, Future[Any]]]:
    """Every selected fuzz target started in its own child process, two at a time."""
    root = tmp_path_factory.mktemp("fuzz")
    selected = [item.callspec.params["target"] for item in request.session.items
                if getattr(item, "originalname", "") == FUZZ_TEST and hasattr(item, "callspec")]

    def run(target: str) -> dict[str, Any]:
        workdir = root / target
        workdir.mkdir()
        n_hyp, n_mut = FUZZ_COUNTS[target]
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_hostile; "
                f"test_hostile.fuzz_child({target!r}, {str(workdir)!r}, {scaled(n_hyp)}, "
                f"{scaled(n_mut)})")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VSTORE_")}
        env["VSTORE_RELIABILITY_SCALE"] = str(SCALE)
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(root / "hypothesis")  # one charmap cache
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300 * SCALE, env=env, cwd=workdir)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            return {"error": f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    with ThreadPoolExecutor(2) as pool:
        yield {t: pool.submit(run, t) for t in selected}


FUZZ_TEST = "test_fuzzer_raises_only_typed_errors_in_bounded_memory"


@pytest.mark.parametrize("target", list(FUZZ_COUNTS))
def test_fuzzer_raises_only_typed_errors_in_bounded_memory(
    fuzz_runs: dict[str, Future[Any]], target: str
) -> None:
    result = fuzz_runs[target].result()
    assert "error" not in result, result.get("error")
    record_figures(f"fuzz[{target}]", **{k: v for k, v in result.items() if k != "failures"})
    assert result["failed"] == 0, "\n".join(result["failures"])
    assert result["hypothesis"] >= 1 and result["mutations"] == scaled(FUZZ_COUNTS[target][1])
    # Far below the address-space cap: no input made the parser allocate much.
    assert result["peak_rss_growth_kib"] < 256 * 1024, result


# =========================================================================================
# 3. Paths that would leave the target folder
# =========================================================================================


@dataclass
class Site:
    """A folder holding a store, local source files, a target and an ``outside`` victim."""

    root: Path
    store: vstore.Store
    src: Path
    outside: Path

    def snapshot(self) -> dict[str, tuple[Any, ...]]:
        """Every path under the root but the store, with what it is and holds."""
        out: dict[str, tuple[Any, ...]] = {}
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if rel == "store" or rel.startswith("store/"):
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", p.read_bytes())
            else:
                out[rel] = ("dir",)
        return out

    def version(self, *uris: str, ids: tuple[str | None, ...] = ()) -> vstore.DatasetVersion:
        """A new dataset whose version holds a good local image and frames at ``uris``."""
        v = vstore.DatasetVersion.create_new_dataset(f"ds{len(self.store.datasets())}",
                                                     store=self.store)
        frames = [vstore.SingleFrame(source=f"file://{self.src / 'good.png'}", width=64,
                                     height=48)]
        for i, uri in enumerate(uris):
            fid = ids[i] if i < len(ids) else None
            frames.append(vstore.SingleFrame(id=fid, source=uri, width=64, height=48))
        assert v.add_frames(frames) == []
        return v


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.png").write_bytes(png_bytes(seed=1))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.png").write_bytes(b"VICTIM")
    with vstore.open(str(tmp_path / "store")) as s:
        yield Site(tmp_path, s, src, outside)


#: Source URIs whose file name (the last path segment, unquoted) cannot be written safely.
HOSTILE_URIS = {
    "dot-dot name": "file:///nonexistent/dir/..",
    "empty name": "file:///nonexistent/dir/",
    "backslash traversal": "file:///nonexistent/dir/a%5C..%5C..%5Cevil.png",
    "NUL byte": "file:///nonexistent/dir/evil%00.png",
}
#: Frame ids that ``use_id=True`` would turn into a path.
HOSTILE_IDS = {"id with '..'": "../../evil", "absolute id": "/tmp/evil"}
PATH_ATTACKS: Counter[str] = Counter()


def refused(site: Site, attack: str, call: Callable[[], Any],
            error: type[BaseException] | tuple[type[BaseException], ...],
            may_create: tuple[str, ...] = ()) -> None:
    """``call`` raises ``error`` and changes nothing around it (but folders in
    ``may_create``, which it may create empty)."""
    before = site.snapshot()
    with pytest.raises(error):
        call()
    after = site.snapshot()
    created = {k: v for k, v in after.items() if k not in before}
    assert all(k in may_create and v == ("dir",) for k, v in created.items()), created
    assert {k: after.get(k) for k in before} == before, f"{attack} changed files"
    PATH_ATTACKS[attack.split(":")[0]] += 1


@pytest.mark.parametrize("name", list(HOSTILE_URIS))
def test_download_and_synchronize_refuse_unsafe_asset_names(site: Site, name: str) -> None:
    v = site.version(HOSTILE_URIS[name])
    target = site.root / "target"
    refused(site, f"download: {name}", lambda: v.download(str(target)), InvalidArgumentError)
    refused(site, f"download: {name}", lambda: v.list_assets().download(str(target)),
            InvalidArgumentError)
    target.mkdir()
    refused(site, f"synchronize: {name}", lambda: v.synchronize(str(target), do_download=True),
            InvalidArgumentError)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("name", list(HOSTILE_IDS))
def test_download_by_id_refuses_ids_that_are_paths(site: Site, name: str) -> None:
    v = site.version(f"file://{site.src / 'good.png'}?copy", ids=(HOSTILE_IDS[name],))
    target = site.root / "target"
    refused(site, f"download: {name}", lambda: v.download(str(target), use_id=True),
            InvalidArgumentError)


def test_download_replaces_a_symlink_in_the_target_instead_of_writing_through_it(
    site: Site
) -> None:
    v = site.version()
    target = site.root / "target"
    target.mkdir()
    (target / "good.png").symlink_to(site.outside / "victim.png")
    v.download(str(target), force_replace=True)
    assert (site.outside / "victim.png").read_bytes() == b"VICTIM"
    assert not (target / "good.png").is_symlink()
    assert (target / "good.png").read_bytes() == (site.src / "good.png").read_bytes()
    # A dangling link: synchronize sees the file missing and replaces the link too.
    (target / "good.png").unlink()
    (target / "good.png").symlink_to(site.outside / "created.png")
    v.synchronize(str(target), do_download=True)
    assert not (site.outside / "created.png").exists()
    assert not (target / "good.png").is_symlink()
    PATH_ATTACKS["download: symlink in the target"] += 1
    PATH_ATTACKS["synchronize: dangling symlink in the target"] += 1


def test_targets_with_a_nul_byte_are_refused(site: Site) -> None:
    v = site.version()
    v.set_type("OBJECT_DETECTION")
    bad = str(site.root / "tar\x00get")
    refused(site, "download: NUL in target", lambda: v.download(bad), InvalidArgumentError)
    refused(site, "synchronize: NUL in target", lambda: v.synchronize(bad),
            InvalidArgumentError)
    for kind in ("COCO", "YOLO", "PASCAL_VOC"):
        refused(site, "export_annotation_file: NUL in target",
                partial(v.export_annotation_file, kind, bad), InvalidArgumentError)


@pytest.mark.parametrize("key", ["OBJECT_NAME", "ASSET_ID"])
@pytest.mark.parametrize("kind", ["YOLO", "PASCAL_VOC"])
def test_export_refuses_image_names_that_leave_the_folder(site: Site, kind: str,
                                                          key: str) -> None:
    v = site.version("file:///nonexistent/../../../evil.png", ids=("../../../evil",))
    v.set_type("OBJECT_DETECTION")
    label = v.create_label("car")
    for asset in v.list_assets():
        asset.create_annotation().create_rectangle(1, 1, 5, 5, label)
    target = site.root / "target"
    refused(site, f"export_annotation_file: {key} with '..'",
            lambda: v.export_annotation_file(kind, str(target), export_key=key),
            UnsafePathError, may_create=("target",))


def test_export_replaces_a_symlink_at_its_file_name(site: Site) -> None:
    v = site.version()
    v.set_type("OBJECT_DETECTION")
    target = site.root / "target"
    target.mkdir()
    for kind, name in (("COCO", "coco.json"), ("YOLO", "yolo.zip"),
                       ("PASCAL_VOC", "pascal_voc.zip")):
        link = target / f"{v.version_id}_{name}"
        link.symlink_to(site.outside / "victim.png")
        path = v.export_annotation_file(kind, str(target))
        assert Path(path) == link and not link.is_symlink()
    assert (site.outside / "victim.png").read_bytes() == b"VICTIM"
    PATH_ATTACKS["export_annotation_file: symlink at the file name"] += 1


COCO_NAMES = ["../img0.png", "/etc/img0.png", "C:img0.png", "\\\\server\\img0.png",
              "a/../../img0.png", "img0\x00.png"]
VOC_NAMES = ["../img0.png", "/img0.png", "C:img0.png", "a/../../img0.png"]


@pytest.fixture
def annotated(site: Site) -> vstore.DatasetVersion:
    """A Picsellia version with assets img0.png .. img2.png (64x48), OBJECT_DETECTION."""
    paths = []
    for i in range(3):
        paths.append(site.src / f"img{i}.png")
        paths[-1].write_bytes(png_bytes(seed=10 + i))
    data = site.store.get_datalake().upload_data([str(p) for p in paths])
    v = site.store.create_dataset("annotated").create_version("v", type="OBJECT_DETECTION")
    v.add_data(data)
    return v


def test_importers_refuse_file_names_that_leave_the_folder(
    site: Site, annotated: vstore.DatasetVersion
) -> None:
    v = annotated
    before = v.commit_id
    for name in COCO_NAMES:
        coco = {"images": [{"id": 1, "file_name": name, "width": 64, "height": 48}],
                "categories": [{"id": 1, "name": "car"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                 "bbox": [1, 1, 5, 5]}]}
        path = site.src / "coco.json"
        path.write_text(json.dumps(coco))
        refused(site, "import COCO: file_name leaving the folder",
                partial(v.import_annotations_coco_file, str(path)), UnsafePathError)
    for name in VOC_NAMES:
        path = site.src / "a.xml"
        path.write_text(f"<annotation><filename>{name}</filename><object><name>car</name>"
                        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
                        "</bndbox></object></annotation>")
        refused(site, "import VOC: <filename> leaving the folder",
                partial(v.import_annotation_voc_file, str(path)), UnsafePathError)
    assert v.commit_id == before
    assert v.list_labels() == []


@pytest.mark.parametrize("config", [
    "path: ../outside\ntrain: images\nnames: [car]\n",
    "train: ../../outside\nnames: [car]\n",
    "train: {outside}\nnames: [car]\n",
    "train: linked\nnames: [car]\n",
])
def test_yolo_folders_leaving_the_dataset_are_refused(site: Site, config: str) -> None:
    root = site.root / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "linked").symlink_to(site.outside, target_is_directory=True)
    (site.outside / "images").mkdir()
    (root / "data.yaml").write_text(config.format(outside=site.outside))
    refused(site, "read YOLO: folder leaving the dataset", lambda: read_yolo(root),
            UnsafePathError)


def test_uploads_refuse_sources_outside_the_local_root(site: Site) -> None:
    v = site.version()
    root = site.root / "data"
    root.mkdir()
    (root / "link.png").symlink_to(site.outside / "victim.png")
    dest = site.root / "dest"
    for source in (root / ".." / "outside" / "victim.png", root / "link.png"):
        before = site.snapshot()
        failed = v.add_frames([vstore.SingleFrame(source=str(source))],
                              auto_upload_destination=f"file://{dest}",
                              local_dataset_root_path=str(root))
        assert [f["error_type"] for f in failed] == ["upload"]
        after = site.snapshot()
        assert {k: after.get(k) for k in before} == before
        assert not any(k.startswith("dest/") and v[0] == "file" for k, v in after.items())
        PATH_ATTACKS["upload: source outside the local root"] += 1


def cli(site: Site, *args: str) -> Any:
    """Run the CLI in-process on the site's store, with a home and config of its own."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("VSTORE_")}
    env.update(HOME=str(site.root / "home"), XDG_CONFIG_HOME=str(site.root / "home" / "cfg"))
    return CliRunner().invoke(app, ["-C", str(site.root), "-S", str(site.root / "store"),
                                    *args], env=env)


# The CLI names a file without a name by its frame id: "empty name" is no attack there.
@pytest.mark.parametrize("name", [n for n in HOSTILE_URIS if n != "empty name"])
def test_cli_download_and_sync_refuse_unsafe_names(site: Site, name: str) -> None:
    v = site.version(HOSTILE_URIS[name])
    address = f"{v.dataset_name}@{v.version_id}"
    for args in (["download", address, "-o", str(site.root / "target")],
                 ["sync", str(site.root / "target"), "-V", address]):
        before = site.snapshot()
        result = cli(site, *args)
        assert result.exit_code == 1, result.output
        assert "Hint:" in result.stderr
        after = site.snapshot()
        assert {k: after.get(k) for k in before} == before
        assert all(v == ("dir",) for k, v in after.items() if k not in before), after
        PATH_ATTACKS[f"CLI {args[0]}: unsafe name"] += 1


def test_cli_download_does_not_write_through_a_planted_temp_link(site: Site) -> None:
    v = site.version()
    target = site.root / "target"
    target.mkdir()
    for name in ("good.png", ".good.png.vstore-part"):
        (target / name).symlink_to(site.outside / "victim.png")
    result = cli(site, "download", f"{v.dataset_name}@{v.version_id}", "-o", str(target),
                 "--force")
    assert result.exit_code == 0, result.output
    assert (site.outside / "victim.png").read_bytes() == b"VICTIM"
    assert (target / "good.png").read_bytes() == (site.src / "good.png").read_bytes()
    PATH_ATTACKS["CLI download: planted symlinks"] += 1


@pytest.fixture(scope="module", autouse=True)
def _path_figures() -> Iterator[None]:
    yield
    if PATH_ATTACKS:
        record_figures("paths", refused=dict(PATH_ATTACKS), total=sum(PATH_ATTACKS.values()))


# =========================================================================================
# 4. Untrusted XML
# =========================================================================================

XML_ATTACKS: Counter[str] = Counter()


def test_voc_importer_refuses_entity_bombs_and_external_entities(
    site: Site, annotated: vstore.DatasetVersion
) -> None:
    v = annotated
    secret = site.outside / "secret.txt"
    (site.outside / "secret.dtd").write_text(f'<!ENTITY s SYSTEM "file://{secret}">')
    attacks = [*hostile_xml(secret), (
        "external DTD", '<?xml version="1.0"?>\n'
        f'<!DOCTYPE annotation SYSTEM "file://{site.outside / "secret.dtd"}">\n'
        "<annotation><filename>img0.png</filename><object><name>&s;</name></object>"
        "</annotation>\n",
    ), (
        "XInclude of a local file", '<?xml version="1.0"?>\n'
        '<annotation xmlns:xi="http://www.w3.org/2001/XInclude"><filename>img0.png</filename>'
        f'<object><name><xi:include href="file://{secret}" parse="text"/></name><bndbox>'
        "<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        "</annotation>\n",
    )]
    before = v.commit_id
    for name, text in attacks:
        path = site.src / "attack.xml"
        path.write_text(text)
        started = time.monotonic()
        with pytest.raises(FormatError) as err:
            v.import_annotation_voc_file(str(path))
        assert time.monotonic() - started < 5, f"{name}: slow refusal"
        assert "TOP-SECRET" not in str(err.value), name
        if "entit" in name or name in ("billion laughs", "quadratic blowup"):
            assert isinstance(err.value, UnsafeXMLError), (name, err.value)
        assert v.commit_id == before, f"{name} changed the version"
        XML_ATTACKS[name] += 1
        # The CLI refuses it too, with a hint, and imports nothing.
        result = cli(site, "import", "--format", "voc", str(path), "-V",
                     f"{v.dataset_name}@{v.version_id}")
        assert result.exit_code == 1 and "Hint:" in result.stderr, (name, result.output)
        assert v.commit_id == before
    assert v.list_labels() == []
    assert all("TOP-SECRET" not in json.dumps(a, default=str)
               for a in v.load_annotations().values())
    record_figures("xml", refused=dict(XML_ATTACKS), total=sum(XML_ATTACKS.values()))
