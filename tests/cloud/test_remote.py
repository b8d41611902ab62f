"""Remote stores on real emulators: request counts, packs, cache, faults, credentials.

Requests are counted by a loopback proxy between the client and the emulator
(tests/cloud/proxy.py), which also injects faults: errors, throttling, and
replies dropped after the write landed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cloud.conftest import Cloud
from tests.cloud.proxy import CountingProxy, Fault
from vstore.engine import Repository, open_backend, open_repository
from vstore.engine.backends.fsspec import FsspecBackend
from vstore.engine.backends.transfer import RetryPolicy
from vstore.engine.codec import ObjectKind
from vstore.engine.refs import RefStore
from vstore.errors import BackendError, UnsafeBackendError

ProxyFor = Callable[[Cloud], CountingProxy]
FAST = RetryPolicy(retries=4, base_delay=0.01, max_delay=0.05)


def records(n: int, tag: str = "") -> list[tuple[bytes, bytes]]:
    return [(b"frame-%07d" % i, (f"{tag}record {i} " * 8).encode()) for i in range(n)]


def data_path(_method: str, path: str) -> bool:
    """A request for object data (packs, or loose objects)."""
    return "/packs/" in path or "/objects/" in path


def write_version(repo: Repository, n: int, ref: str = "drafts/main") -> bytes:
    b = repo.batch()
    root = repo.tree.build(records(n), b)
    c = repo.commit(root, message=f"{n} records", batch=b)
    b.flush()
    assert repo.refs.append(ref, c.id, expect=0).ok
    return root


def read_version(repo: Repository, ref: str = "drafts/main") -> dict[bytes, bytes]:
    head = repo.refs.head(ref)
    assert head is not None and head.value is not None
    return dict(repo.tree.items(repo.read_commit(head.value).tree))


# -- what a flush costs --------------------------------------------------------------------


def test_flush_requests_do_not_grow_with_the_number_of_objects(
    cloud: Cloud, proxy_for: ProxyFor
) -> None:
    proxy = proxy_for(cloud)
    repo = open_repository(cloud.url(), cloud.options(proxy))
    counts = {}
    for n in (1, 50, 20_000):  # the first flush also lists the packs other writers made
        b = repo.batch()
        root = repo.tree.build(records(n, tag=str(n)), b)
        repo.commit(root, batch=b)
        proxy.reset()
        stats = b.flush()
        counts[n] = (stats.objects, proxy.count())
    (few, small_cost), (many, large_cost) = counts[50], counts[20_000]
    assert many > 50 * few
    assert large_cost == small_cost <= 3, counts  # one pack, one index (+ one listing)
    repo.close()


def test_a_whole_flush_with_its_ref_append_is_a_few_requests(
    s3_cloud: Cloud, proxy_for: ProxyFor
) -> None:
    proxy = proxy_for(s3_cloud)
    repo = open_repository(s3_cloud.url(), s3_cloud.options(proxy))
    write_version(repo, 100)
    head = repo.refs.head("drafts/main")
    assert head is not None and head.value is not None
    proxy.reset()
    b = repo.batch()
    root = repo.tree.apply(repo.read_commit(head.value).tree,
                           {b"frame-%07d" % i: b"changed" for i in range(0, 10_000, 7)}, b)
    c = repo.commit(root, parents=[head.value], batch=b)
    b.flush()
    assert repo.refs.append("drafts/main", c.id, expect=head.seq).ok
    # 2 PUTs of objects, 1 conditional PUT of the ref entry (the hint is written later).
    puts = proxy.count(lambda m, _p: m == "PUT")
    assert puts <= 3, proxy.requests
    assert proxy.count() <= 6, proxy.requests
    repo.close()


# -- packs and cache -----------------------------------------------------------------------


def test_cold_read_uses_few_ranged_requests_and_a_warm_read_none(
    cloud: Cloud, proxy_for: ProxyFor, tmp_path: Path
) -> None:
    url = cloud.url()
    with open_repository(url, cloud.options()) as writer:
        write_version(writer, 20_000)
    proxy = proxy_for(cloud)
    cache = str(tmp_path / "reader-cache")

    with open_repository(url, cloud.options(proxy), cache_dir=cache) as cold:
        proxy.reset()
        got = read_version(cold)
        cold_data = proxy.count(data_path)
    assert got == dict(records(20_000))
    nodes = len(list(open_repository(url, cloud.options()).backend.iter_objects()))
    assert 0 < cold_data < nodes / 4, (cold_data, nodes)

    with open_repository(url, cloud.options(proxy), cache_dir=cache) as warm:
        proxy.reset()
        assert read_version(warm) == got
        assert proxy.count(data_path) == 0, proxy.requests


def test_a_damaged_cache_entry_is_fetched_again(s3_cloud: Cloud, tmp_path: Path) -> None:
    url, cache = s3_cloud.url(), str(tmp_path / "c")
    with open_repository(url, s3_cloud.options(), cache_dir=cache) as repo:
        oid = repo.objects.put(ObjectKind.BLOB, b"payload " * 100)
    entries = [p for p in Path(cache, "objects").rglob("*") if p.is_file()
               and p.name == oid.hex()[2:]]
    assert len(entries) == 1
    entries[0].write_bytes(entries[0].read_bytes()[:-3] + b"xyz")
    with open_repository(url, s3_cloud.options(), cache_dir=cache) as repo:
        assert repo.objects.get(oid, ObjectKind.BLOB) == b"payload " * 100
        assert isinstance(repo.backend, FsspecBackend) and repo.backend.cache is not None
        assert repo.backend.cache.get(oid) is not None  # written back whole


def test_the_cache_stays_within_its_bound(s3_cloud: Cloud, tmp_path: Path) -> None:
    cache = str(tmp_path / "small")
    b = open_backend(s3_cloud.url(), s3_cloud.options(), cache_dir=cache, cache_size=400_000)
    assert isinstance(b, FsspecBackend) and b.cache is not None
    from vstore.engine.codec import pack_object

    for round_ in range(10):
        b.put_objects(dict(pack_object(ObjectKind.BLOB, os.urandom(20_000) + b"%d" % i)
                           for i in range(round_ * 10, round_ * 10 + 10)))
    assert b.cache.size() <= 400_000
    b.close()


def test_gc_deletes_unreachable_objects_in_packs(s3_cloud: Cloud) -> None:
    repo = open_repository(s3_cloud.url(), s3_cloud.options())
    write_version(repo, 2_000)
    orphan_batch = repo.batch()
    orphan_root = repo.tree.build(records(500, tag="orphan"), orphan_batch)
    orphan_batch.flush()
    before = {oid for oid, _ in repo.backend.iter_objects()}
    assert orphan_root in before
    report = repo.gc(grace=-1.0)
    assert report.deleted > 0
    after = {oid for oid, _ in repo.backend.iter_objects()}
    assert orphan_root not in after and len(after) == len(before) - report.deleted
    assert repo.verify().ok
    assert read_version(repo) == dict(records(2_000))
    fresh = open_repository(s3_cloud.url(repo.backend.url.rsplit("/", 1)[1]),
                            s3_cloud.options(), cache=False)
    assert read_version(fresh) == dict(records(2_000))
    fresh.close()
    repo.close()


# -- refs: create-if-absent, the probe, lost replies -------------------------------------


def test_the_probe_refuses_an_endpoint_that_ignores_conditional_writes(
    s3_cloud: Cloud, proxy_for: ProxyFor
) -> None:
    proxy = proxy_for(s3_cloud)
    proxy.strip_headers.add("if-none-match")  # an S3 look-alike without If-None-Match
    url = s3_cloud.url()
    with pytest.raises(UnsafeBackendError, match="does not enforce create-if-absent"):
        open_backend(url, s3_cloud.options(proxy))
    b = open_backend(url, s3_cloud.options(proxy), single_writer=True)
    assert b.atomic_create is False
    b.close()


class DropsFirstReply(FsspecBackend):
    """A real backend whose next create lands but whose reply is lost."""

    armed = False

    def create_key(self, key: str, value: bytes) -> bool:
        created = super().create_key(key, value)
        if self.armed:
            self.armed = False
            raise ConnectionResetError("connection reset before the reply arrived")
        return created


def test_a_lost_create_reply_is_not_a_false_conflict(s3_cloud: Cloud) -> None:
    url = s3_cloud.url()
    backend = DropsFirstReply(url, s3_cloud.options())
    backend.armed = True
    refs = RefStore(backend)
    r = refs.append("drafts/x", b"\x01" * 32, expect=0)
    assert not backend.armed, "the reply was not dropped"
    assert r.ok and r.entry.seq == 1
    head = refs.head("drafts/x")
    assert head is not None and head.seq == 1 and head.nonce == r.entry.nonce
    # A real competitor is still a conflict.
    other = open_backend(url, s3_cloud.options())
    assert not RefStore(other).append("drafts/x", b"\x02" * 32, expect=0).ok
    other.close()
    backend.close()


def test_a_reply_dropped_on_the_wire_is_not_a_false_conflict(
    cloud: Cloud, proxy_for: ProxyFor
) -> None:
    proxy = proxy_for(cloud)
    repo = open_repository(cloud.url(), cloud.options(proxy))
    c = repo.commit(repo.tree.build(records(10)))
    # S3 and Azure name the key in the path; GCS sends it in the body of an upload.
    proxy.faults.append(Fault(lambda m, p: (m == "PUT" and "/keys/logs/" in p)
                              or (m == "POST" and "ifGenerationMatch=0" in p), action="drop"))
    r = repo.refs.append("drafts/x", c.id, expect=0)
    assert proxy.faults[0].hits == 1, proxy.requests
    assert r.ok and r.entry.seq == 1
    assert repo.refs.head("drafts/x") == r.entry
    repo.close()


# -- retries and typed errors -----------------------------------------------------------------


def test_throttled_requests_are_retried(s3_cloud: Cloud, proxy_for: ProxyFor) -> None:
    proxy = proxy_for(s3_cloud)
    slow_down = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                 b"<Message>Please reduce your request rate.</Message></Error>")
    opts = s3_cloud.options(proxy)
    # botocore's own retries off: what recovers here is vstore's retry loop.
    opts["config_kwargs"] = {"retries": {"max_attempts": 1, "mode": "standard"}}
    backend = FsspecBackend(s3_cloud.url(), opts, retry=FAST)
    repo = Repository(backend)
    proxy.faults.append(Fault(lambda m, p: m == "PUT" and "/packs/" in p, status=503,
                              body=slow_down, times=3))
    sent = backend.t.sent
    write_version(repo, 300)
    assert proxy.faults[0].hits == 3
    assert backend.t.sent - sent >= 3 + 2, "the throttled PUTs were not sent again by vstore"
    assert read_version(repo) == dict(records(300))
    repo.close()


def test_access_denied_is_final_and_typed(s3_cloud: Cloud, proxy_for: ProxyFor) -> None:
    proxy = proxy_for(s3_cloud)
    denied = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
              b"<Message>Access Denied</Message></Error>")
    opts = s3_cloud.options(proxy)
    backend = FsspecBackend(s3_cloud.url(), opts, retry=FAST)
    proxy.faults.append(Fault(lambda m, p: m == "PUT" and "/packs/" in p, status=403,
                              body=denied, times=100))
    from vstore.engine.codec import pack_object

    t0 = time.monotonic()
    with pytest.raises(BackendError) as err:
        backend.put_objects(dict([pack_object(ObjectKind.BLOB, b"x")]))
    assert time.monotonic() - t0 < 5
    assert proxy.faults[0].hits == 1, "a 403 was retried"
    message = str(err.value)
    assert backend.url in message and "writing a pack" in message
    assert opts["secret"] not in message and opts["secret"] not in repr(backend)
    backend.close()


def test_credentials_are_never_stored_printed_or_reported(
    cloud: Cloud, proxy_for: ProxyFor
) -> None:
    proxy = proxy_for(cloud)
    opts = cloud.options(proxy)
    secrets = [v for v in _strings(opts) if len(v) >= 8 and "127.0.0.1" not in v]
    url = cloud.url()
    repo = open_repository(url, opts)
    write_version(repo, 50)
    proxy.faults.append(Fault(lambda _m, p: "/packs/" in p, status=403, times=1000))
    with pytest.raises(BackendError) as err:
        open_repository(url, opts, cache=False).objects.get(
            repo.read_commit(read_head(repo)).tree)
    stored = open_backend(url, cloud.options())
    assert isinstance(stored, FsspecBackend)
    everything = b"".join(stored.fs.cat(stored.fs.find(stored.root)).values())
    for s in secrets:
        assert s not in str(err.value) and s not in repr(repo.backend)
        assert s.encode() not in everything
    repo.close()


def read_head(repo: Repository) -> bytes:
    head = repo.refs.head("drafts/main")
    assert head is not None and head.value is not None
    return head.value


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value, *(p.partition("=")[2] for p in value.split(";") if "=" in p)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_a_missing_bucket_says_so(s3_cloud: Cloud) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        open_backend("s3://no-such-bucket-here/store", s3_cloud.options())


def test_a_missing_filesystem_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    registry = importlib.import_module("fsspec.registry")
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if the s3 extra were not installed
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    with pytest.raises(BackendError, match=r"vstore\[s3\]"):
        open_backend("s3://bucket/store")


def test_verify_reports_an_object_lost_from_the_store_even_when_cached(
    s3_cloud: Cloud, tmp_path: Path
) -> None:
    url, cache = s3_cloud.url(), str(tmp_path / "c")
    repo = open_repository(url, s3_cloud.options(), cache_dir=cache, packs=False)
    root = write_version(repo, 300)
    assert len(read_version(repo)) == 300  # every node is now in the local cache
    other = open_backend(url, s3_cloud.options(), cache=False, packs=False)
    assert other.delete_objects([root]) == 1  # lost from the store, not from the cache
    other.close()
    assert len(read_version(repo)) == 300  # reads are still served by the cache
    report = repo.verify()
    assert not report.ok and report.missing == [root.hex()]
    repo.close()
