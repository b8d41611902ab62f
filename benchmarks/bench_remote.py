"""Remote-store benchmark: a datasets ingest and reads on S3 (moto on loopback) vs LMDB.

Usage::

    python benchmarks/bench_remote.py [--records N] [--latency-ms 0 20] [--json out.json]

A moto S3 server runs on 127.0.0.1; a counting proxy in front of it records every
request and its bytes and can add a fixed latency to each one (``--latency-ms``).
For each latency: requests and bytes of one flush of 10k frames (the critical path
of a ``BulkContext`` flush: objects, then the ref append), the ingest of N frames,
a cold full read (fresh local cache) and a warm one (same cache: no data requests),
each against the same work on a local LMDB store measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vstore
from benchmarks.bench_datasets import frames
from tests.cloud.proxy import CountingProxy, Fault

BUCKET = "bench-bucket"
FLUSH = 10_000


def _data(method: str, path: str) -> bool:
    return "/packs/" in path or "/objects/" in path


def start_moto() -> tuple[Any, str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing-secret-key",
    ).create_bucket(Bucket=BUCKET)
    return server, f"{host}:{port}"


def options(proxy: CountingProxy) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing-secret-key", "skip_instance_cache": True,
            "client_kwargs": {"endpoint_url": proxy.url, "region_name": "us-east-1"}}


def run(url: str, opts: dict[str, Any] | None, n: int, cache: str,
        proxy: CountingProxy | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kw: dict[str, Any] = {"cache_dir": cache} if opts is not None else {}
    store = vstore.open(url, opts, **kw)
    v = vstore.DatasetVersion.create_new_dataset("bench", store=store)
    gen = frames(n)
    first = [next(gen) for _ in range(min(FLUSH, n))]
    if proxy is not None:
        proxy.requests.clear()
        proxy.bytes_up = proxy.bytes_down = 0
    t0 = time.perf_counter()
    with v.get_bulk_context(flush_threshold=FLUSH, refresh_version_stats=False) as bulk:
        for f in first:
            bulk.add_frame(f)
    out["flush_s"] = time.perf_counter() - t0
    if proxy is not None:
        out["flush_requests"] = proxy.count()
        out["flush_bytes"] = proxy.bytes_up + proxy.bytes_down
    t0 = time.perf_counter()
    with v.get_bulk_context(flush_threshold=FLUSH) as bulk:
        for f in gen:
            bulk.add_frame(f)
    v.commit_version()
    out["ingest_s"] = out["flush_s"] + time.perf_counter() - t0
    vid = v.version_id
    store.close()
    for label, cache_dir in (("cold", cache + "-cold"), ("warm", cache + "-cold")):
        kw = {"cache_dir": cache_dir} if opts is not None else {}
        store = vstore.open(url, opts, **kw)
        v = vstore.DatasetVersion.get_version(dataset_name="bench", version_id=vid, store=store)
        if proxy is not None:
            proxy.requests.clear()
        t0 = time.perf_counter()
        count = sum(1 for _ in v.get_iterator(projection=["id", "rois.*.label"]))
        out[f"{label}_read_s"] = time.perf_counter() - t0
        assert count == n, (count, n)
        if proxy is not None:
            out[f"{label}_requests"] = proxy.count()
            out[f"{label}_data_requests"] = proxy.count(_data)
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 20.0])
    ap.add_argument("--json", help="also write the raw figures to this JSON file")
    args = ap.parse_args(argv)
    base = tempfile.mkdtemp(prefix="vstore-bench-remote-")
    server, endpoint = start_moto()
    results: dict[str, Any] = {"records": args.records}
    try:
        results["lmdb"] = run(os.path.join(base, "lmdb"), None, args.records,
                              os.path.join(base, "c0"), None)
        for ms in args.latency_ms:
            proxy = CountingProxy(endpoint)
            if ms:
                proxy.faults.append(Fault(lambda m, p: True, action="delay", delay=ms / 1000,
                                          times=10**12))
            try:
                results[f"s3_{ms:g}ms"] = run(
                    f"s3://{BUCKET}/lat{ms:g}", options(proxy), args.records,
                    os.path.join(base, f"c{ms:g}"), proxy,
                )
            finally:
                proxy.stop()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    lm = results["lmdb"]
    print(f"vstore remote benchmark: {args.records:,} frames, moto on loopback, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'store':<12} {'flush 10k: req / MB / s':<28} {'ingest s (x LMDB)':<20} "
          f"{'cold read s (data req)':<24} {'warm read s (data req)':<24}")
    lm_flush = f"- / - / {lm['flush_s']:.2f}"
    print(f"{'lmdb':<12} {lm_flush:<28} {lm['ingest_s']:<20.1f} "
          f"{lm['cold_read_s']:<24.2f} {lm['warm_read_s']:<24.2f}")
    for key, r in results.items():
        if not key.startswith("s3_"):
            continue
        flush = f"{r['flush_requests']} / {r['flush_bytes'] / 1e6:.1f} / {r['flush_s']:.2f}"
        ingest = f"{r['ingest_s']:.1f} ({r['ingest_s'] / lm['ingest_s']:.2f}x)"
        cold = f"{r['cold_read_s']:.2f} ({r['cold_data_requests']})"
        warm = f"{r['warm_read_s']:.2f} ({r['warm_data_requests']})"
        print(f"{key:<12} {flush:<28} {ingest:<20} {cold:<24} {warm:<24}")
    print("targets: flush of 10k frames <= 10 requests on the critical path; warm read 0 data "
          "requests")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
