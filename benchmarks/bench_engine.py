"""Engine benchmark: build, apply, diff, point gets and scans of a prolly tree on LMDB.

Usage::

    python benchmarks/bench_engine.py [--records N] [--json out.json] [--dir BASE]
                                      [--seed S] [--profile OP]

Every figure of the bulk build is also given as a ratio to a *floor* measured in
the same run: msgpack-encode + blake3 + zstd (level 3) of the same records. The
records are streamed from a deterministic generator; its own cost is measured in
a generate-only pass and subtracted ("net" figures). The generate-only pass, both
floors and the build each run in a fresh subprocess, so every one starts from the
same clean interpreter and the build's peak RSS can be read from the OS.

See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import blake3
import msgpack
import zstandard

from vstore.engine import open_repository
from vstore.engine.codec import encode

MB = 1024 * 1024
ZSTD_LEVEL = 3
FLOOR_CHUNK = 1 * MB  # the floor streams its buffer to zstd in pieces of this size
POINT_GETS = 10_000
SMALL_DIFF = 100
REPEATS = 5  # small diffs and warm reads: the median of this many runs
COLD_REPEATS = 3  # cold-cache gets, scan, apply and large diff: the median of this many runs

# -- deterministic, cheap record generation -------------------------------------------

_LABELS = [
    "car", "pedestrian", "cyclist", "truck", "bus", "traffic_light", "traffic_sign",
    "motorcycle", "animal", "stroller", "trailer", "construction_vehicle",
]
_CAMS = ["cam_front", "cam_front_left", "cam_front_right", "cam_back", "cam_back_left",
         "cam_back_right"]
_WEATHER = ["clear", "rain", "fog", "snow", "overcast"]
_POOL = 8192  # power of two


def _pools(seed: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Precomputed boxes (label + 4-corner polygon + score) and speeds, from ``seed``."""
    rng = random.Random(seed)
    boxes = []
    for _ in range(_POOL):
        x, y = rng.uniform(0, 1800), rng.uniform(0, 1000)
        w, h = rng.uniform(8, 300), rng.uniform(8, 300)
        poly = [[int(x), int(y)], [int(x + w), int(y)], [int(x + w), int(y + h)],
                [int(x), int(y + h)]]
        boxes.append({
            "label": _LABELS[rng.randrange(len(_LABELS))],
            "polygon": poly,
            "score": round(rng.random(), 4),
            "occluded": rng.random() < 0.2,
        })
    speeds = [round(rng.uniform(0, 35), 3) for _ in range(_POOL)]
    return boxes, speeds


def key_of(i: int) -> bytes:
    return f"frame/{i:09d}".encode()


def make_records(seed: int) -> Callable[..., Iterator[tuple[bytes, dict[str, Any]]]]:
    """Return ``records(indices, rev=0)``: a generator of ``(key, record dict)``.

    Record ``i`` is a pure function of ``(seed, i, rev)``: pool entries picked by a
    multiplicative hash of ``i``, so generation costs a few dict/list builds per
    record and nothing is kept alive between records.
    """
    boxes, speeds = _pools(seed)
    mask = _POOL - 1

    def records(indices: Any, rev: int = 0) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for i in indices:
            h = (i * 2654435761) & 0xFFFFFFFF
            b0 = h >> 7
            cam = _CAMS[i % 6]
            yield f"frame/{i:09d}".encode(), {
                "id": f"frame-{i:09d}",
                "source": f"s3://ml-datasets/drive/seq-{i // 1000:05d}/{cam}/{i:09d}.jpg",
                "boxes": [boxes[(b0 + 977 * j) & mask] for j in range(1 + h % 5)],
                "meta": {
                    "camera": cam,
                    "width": 1920,
                    "height": 1080,
                    "timestamp_us": 1_700_000_000_000_000 + i * 33_333,
                    "weather": _WEATHER[(h >> 3) % 5],
                    "sequence": i // 1000,
                    "ego_speed": speeds[(h >> 11) & mask],
                    "rev": rev,
                },
            }

    return records


# -- helpers ---------------------------------------------------------------------------


def rss_now() -> int:
    """Current resident set size in bytes (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss()


def rss_split() -> dict[str, int]:
    """``{"anon": bytes, "file": bytes}`` of the current RSS (Linux only; else empty).

    File-backed RSS is mostly the LMDB memory map of the store being written.
    """
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:")):
                    out[line[3:7].lower()] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def peak_rss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def timed(fn: Callable[[], Any], profile: bool = False) -> tuple[float, Any]:
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    out = prof.runcall(fn) if prof is not None else fn()
    dt = time.perf_counter() - t0
    if prof is not None:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
        print(s.getvalue(), file=sys.stderr)
    return dt, out


def median_of(n: int, fn: Callable[[], Any], before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- subprocess workers ------------------------------------------------------------------


def worker(mode: str, n: int, seed: int, path: str, profile: bool) -> dict[str, Any]:
    records = make_records(seed)
    rss0 = rss_now()
    split0 = rss_split()
    out: dict[str, Any] = {"mode": mode}
    cpu0 = time.process_time()

    if mode == "gen":
        def run() -> int:
            c = 0
            for _k, _r in records(range(n)):
                c += 1
            return c

        dt, c = timed(run, profile)
        out.update(seconds=dt, records=c)

    elif mode in ("floor-codec", "floor-msgpack"):
        enc = encode if mode == "floor-codec" else msgpack.packb

        def run_floor() -> tuple[int, int, str]:
            h = blake3.blake3()
            z = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
            buf = bytearray()
            raw = comp = 0
            for _k, r in records(range(n)):
                body = enc(r)
                h.update(body)
                buf += body
                if len(buf) >= FLOOR_CHUNK:
                    raw += len(buf)
                    comp += len(z.compress(buf))
                    buf.clear()
            raw += len(buf)
            comp += len(z.compress(buf)) + len(z.flush())
            return raw, comp, h.hexdigest()

        dt, (raw, comp, digest) = timed(run_floor, profile)
        out.update(seconds=dt, raw_bytes=raw, zstd_bytes=comp, blake3=digest)

    elif mode == "build":
        repo = open_repository(path)
        try:
            b = repo.batch()

            def run_build() -> bytes:
                root = repo.tree.build(((k, encode(r)) for k, r in records(range(n))), b)
                b.flush()
                return root

            dt, root = timed(run_build, profile)
            split1 = rss_split()
            out.update({f"rss_{k}_growth": split1[k] - split0[k] for k in split1 if k in split0})
            stats = b.stats
            out.update(seconds=dt, root=root.hex(), objects=stats.objects, bytes=stats.bytes,
                       count=repo.tree.count(root))
        finally:
            repo.close()
    else:
        raise SystemExit(f"unknown worker mode {mode}")

    # CPU seconds of the whole pass (setup is negligible): less sensitive than wall time
    # to other work on the machine, but blind to time spent waiting for fsync.
    out.update(cpu_seconds=time.process_time() - cpu0, rss_after_imports=rss0,
               peak_rss=peak_rss(), engine=engine_fingerprint())
    return out


def run_worker(mode: str, n: int, seed: int, path: str, profile: bool) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--records", str(n),
           "--seed", str(seed), "--path", path]
    if profile:
        cmd.append("--profile-worker")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def best_worker(
    mode: str, n: int, seed: int, path: str, profile: bool, repeat: int
) -> dict[str, Any]:
    """Run a worker ``repeat`` times in fresh subprocesses; keep the fastest run.

    The peak RSS kept is the largest seen, so repeating never flatters memory.
    """
    runs: list[dict[str, Any]] = []
    for _ in range(repeat):
        shutil.rmtree(path, ignore_errors=True)
        runs.append(run_worker(mode, n, seed, path, profile and not runs))
    best = dict(min(runs, key=lambda r: r["seconds"]))
    if mode == "build" and best is not runs[-1]:
        best = dict(runs[-1], seconds=best["seconds"])  # the store on disk is the last run's
    best["all_seconds"] = [r["seconds"] for r in runs]
    worst = max(runs, key=lambda r: r["peak_rss"] - r["rss_after_imports"])
    for k in ("peak_rss", "rss_after_imports", "rss_anon_growth", "rss_file_growth"):
        if k in worst:
            best[k] = worst[k]
    return best


# -- the benchmark ----------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def engine_fingerprint() -> str:
    """Short sha256 of the engine's source files: which engine code the figures are for."""
    import hashlib

    import vstore.engine

    root = os.path.dirname(vstore.engine.__file__)
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    h.update(os.path.relpath(os.path.join(dirpath, name), root).encode())
                    h.update(f.read())
    return h.hexdigest()[:12]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_start": os.getloadavg()[0],
        "engine_sources_sha256": engine_fingerprint(),
    }


def bench(
    n: int, seed: int, base: str | None, profile: str | None, repeat: int = 1
) -> dict[str, Any]:
    records = make_records(seed)
    rng = random.Random(seed + 1)
    tmp = tempfile.mkdtemp(prefix="vstore-bench-", dir=base)
    res: dict[str, Any] = {"records": n, "seed": seed, "machine": machine()}
    try:
        path = os.path.join(tmp, "store")

        log(f"generate-only pass ({n:,} records)")
        gen = best_worker("gen", n, seed, path, profile == "gen", repeat)
        log("floor pass (vstore codec encode + blake3 + zstd)")
        floor_c = best_worker("floor-codec", n, seed, path, profile == "floor", repeat)
        log("floor pass (msgpack.packb + blake3 + zstd)")
        floor_m = best_worker("floor-msgpack", n, seed, path, profile == "floor", repeat)
        log("bulk build (fresh subprocess)")
        build = best_worker("build", n, seed, path, profile == "build", repeat)
        assert build["count"] == n, build
        g = gen["seconds"]
        res["generate"] = {"seconds": g}
        res["floor_codec"] = {**floor_c, "net_seconds": floor_c["seconds"] - g}
        res["floor_msgpack"] = {**floor_m, "net_seconds": floor_m["seconds"] - g}
        res["build"] = {
            **build,
            "net_seconds": build["seconds"] - g,
            "ratio_codec_net": (build["seconds"] - g) / (floor_c["seconds"] - g),
            "ratio_msgpack_net": (build["seconds"] - g) / (floor_m["seconds"] - g),
            "ratio_codec_raw": build["seconds"] / floor_c["seconds"],
            "ratio_msgpack_raw": build["seconds"] / floor_m["seconds"],
            "ratio_codec_net_cpu": (build["cpu_seconds"] - gen["cpu_seconds"])
            / (floor_c["cpu_seconds"] - gen["cpu_seconds"]),
            "rss_above_interpreter": build["peak_rss"] - build["rss_after_imports"],
            "mean_record_bytes": floor_c["raw_bytes"] / n,
        }
        root = bytes.fromhex(build["root"])
        manifest = build["bytes"]

        repo = open_repository(path)
        tree = repo.tree
        clear = tree._cache.clear
        try:
            # point gets, in random order
            idx = [rng.randrange(n) for _ in range(POINT_GETS)]
            keys = [key_of(i) for i in idx]

            def gets() -> None:
                for k in keys:
                    if tree.get(root, k) is None:
                        raise AssertionError(f"missing {k!r}")

            log(f"{POINT_GETS:,} random point gets")
            if profile == "gets":
                clear()
                timed(gets, True)
            t_gets_cold = median_of(COLD_REPEATS, gets, before=clear)
            t_gets_warm = median_of(REPEATS, gets)
            res["gets"] = {"n": POINT_GETS, "cold_seconds": t_gets_cold,
                           "warm_seconds": t_gets_warm}

            # full scan
            log("full scan")

            def scan() -> int:
                c = 0
                for _k, _v in tree.items(root):
                    c += 1
                return c

            if profile == "scan":
                clear()
                timed(scan, True)
            assert scan() == n
            t_scan = median_of(COLD_REPEATS, scan, before=clear)
            res["scan"] = {"seconds": t_scan, "records_per_s": n / t_scan}

            # 1% random upserts (new values of existing keys)
            n_edits = max(1, n // 100)
            sel = sorted(rng.sample(range(n), n_edits))
            edits = {k: encode(r) for k, r in records(sel, rev=1)}
            log(f"apply {n_edits:,} random upserts")
            if profile == "apply":
                clear()
                timed(lambda: tree.apply(root, edits, repo.batch()), True)
            applies = []  # (apply seconds, flush seconds, batch, new root), each from cold
            for _ in range(COLD_REPEATS):
                clear()
                b = repo.batch()
                t_apply, root2 = timed(lambda: tree.apply(root, edits, b))  # noqa: B023
                t_flush, _ = timed(b.flush)
                applies.append((t_apply, t_flush, b, root2))
            assert len({a[3] for a in applies}) == 1
            first = applies[0][2]  # the first batch is the one that wrote new objects
            t_apply, t_flush, _, root2 = sorted(applies, key=lambda a: a[0] + a[1])[
                len(applies) // 2]
            res["apply"] = {
                "edits": n_edits, "seconds": t_apply + t_flush, "apply_seconds": t_apply,
                "flush_seconds": t_flush, "all_seconds": [a[0] + a[1] for a in applies],
                "objects": first.stats.objects, "bytes": first.stats.bytes,
                "fraction_of_manifest": first.stats.bytes / manifest,
            }
            b2 = repo.batch()
            t_re, root2b = timed(lambda: tree.apply(root2, edits, b2))
            b2.flush()
            assert root2b == root2
            res["reapply"] = {"seconds": t_re, "bytes": b2.stats.bytes,
                              "objects": b2.stats.objects}

            # diff with 1% changes
            log(f"diff with {n_edits:,} changes")

            def diff_all(a: bytes, c: bytes, expect: int) -> Callable[[], None]:
                def run() -> None:
                    got = sum(1 for _ in repo.diff(a, c))
                    if got != expect:
                        raise AssertionError(f"diff found {got}, expected {expect}")
                return run

            if profile == "diff":
                clear()
                timed(diff_all(root, root2, n_edits), True)
            t_dbig_cold = median_of(COLD_REPEATS, diff_all(root, root2, n_edits), before=clear)
            t_dbig_warm = median_of(3, diff_all(root, root2, n_edits))
            res["diff_big"] = {"changes": n_edits, "cold_seconds": t_dbig_cold,
                               "warm_seconds": t_dbig_warm}

            # diff with 100 changes, and of identical roots
            log(f"diff with {SMALL_DIFF} changes")
            sel = sorted(rng.sample(range(n), SMALL_DIFF))
            small = {k: encode(r) for k, r in records(sel, rev=2)}
            root3 = tree.apply(root, small)
            d_small = diff_all(root, root3, SMALL_DIFF)
            d_small()  # warm the path
            t_dsmall_warm = median_of(REPEATS, d_small)
            t_dsmall_cold = median_of(REPEATS, d_small, before=clear)
            t_same = median_of(REPEATS, diff_all(root, root, 0))
            res["diff_small"] = {"changes": SMALL_DIFF, "warm_seconds": t_dsmall_warm,
                                 "cold_seconds": t_dsmall_cold, "identical_seconds": t_same}
        finally:
            repo.close()
        res["manifest_bytes"] = manifest
        res["machine"]["loadavg_end"] = os.getloadavg()[0]
        seen = {w["engine"] for w in (gen, floor_c, floor_m, build)} | {engine_fingerprint()}
        if seen != {res["machine"]["engine_sources_sha256"]}:
            res["engine_changed_during_run"] = sorted(seen)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


# -- report ------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(s: float) -> str:
    return f"{s * 1000:.2f} ms" if s >= 0.001 else f"{s * 1e6:.1f} us"


def rows(res: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(operation, figure, target, ratio to floor, verdict); verdict '' = informational."""
    n = res["records"]
    bd, fc, fm = res["build"], res["floor_codec"], res["floor_msgpack"]
    g = res["generate"]["seconds"]
    ap, re_, gets, scan = res["apply"], res["reapply"], res["gets"], res["scan"]
    db, ds = res["diff_big"], res["diff_small"]
    out = [
        (f"generate {n:,} records (subtracted)", f"{g:.2f} s", "-", "-", ""),
        ("floor: codec.encode+blake3+zstd",
         f"{fc['seconds']:.2f} s raw, {fc['net_seconds']:.2f} s net", "-", "1.00x", ""),
        ("floor: msgpack.packb+blake3+zstd",
         f"{fm['seconds']:.2f} s raw, {fm['net_seconds']:.2f} s net", "-", "-", ""),
        ("bulk build from sorted stream",
         f"{bd['seconds']:.2f} s raw, {bd['net_seconds']:.2f} s net", "<= 2.5x floor (net)",
         f"{bd['ratio_codec_net']:.2f}x net ({bd['ratio_codec_raw']:.2f}x raw); "
         f"msgpack floor {bd['ratio_msgpack_net']:.2f}x net; "
         f"CPU time {bd['ratio_codec_net_cpu']:.2f}x net",
         _verdict(bd["ratio_codec_net"] <= 2.5)),
        ("build peak RSS above interpreter",
         f"{bd['rss_above_interpreter'] / MB:.0f} MB" + (
             f" (at end: +{bd['rss_anon_growth'] / MB:.0f} MB anon, "
             f"+{bd['rss_file_growth'] / MB:.0f} MB file-backed/LMDB map)"
             if "rss_anon_growth" in bd else ""),
         "<= 400 MB", "-", _verdict(bd["rss_above_interpreter"] <= 400 * MB)),
        ("manifest (stored bytes of the tree)",
         f"{res['manifest_bytes'] / MB:.1f} MB in {bd['objects']:,} objects "
         f"(records {bd['mean_record_bytes']:.0f} B avg)", "-", "-", ""),
        (f"apply {ap['edits']:,} random upserts (cold cache, incl. flush)",
         f"{ap['seconds']:.3f} s (flush {ap['flush_seconds']:.3f} s)", "<= 1.5 s", "-",
         _verdict(ap["seconds"] <= 1.5)),
        (f"bytes written for {ap['edits']:,} edits (1%)",
         f"{ap['bytes'] / MB:.2f} MB = {ap['fraction_of_manifest'] * 100:.1f}% of manifest",
         "<= 15%", "-", _verdict(ap["fraction_of_manifest"] <= 0.15)),
        ("identical re-apply", f"{re_['bytes']} B ({re_['seconds']:.3f} s)", "0 B", "-",
         _verdict(re_["bytes"] == 0)),
        (f"diff, {ds['changes']} changes (warm cache)", ms(ds["warm_seconds"]), "<= 20 ms", "-",
         _verdict(ds["warm_seconds"] <= 0.020)),
        (f"diff, {ds['changes']} changes (cold node cache)", ms(ds["cold_seconds"]), "<= 20 ms",
         "-", _verdict(ds["cold_seconds"] <= 0.020)),
        ("diff, identical roots", ms(ds["identical_seconds"]), "O(1) (< 1 ms)", "-",
         _verdict(ds["identical_seconds"] < 0.001)),
        (f"diff, {db['changes']:,} random changes (cold node cache)",
         f"{db['cold_seconds']:.3f} s (warm {db['warm_seconds']:.3f} s)", "<= 1.5 s", "-",
         _verdict(db["cold_seconds"] <= 1.5)),
        (f"{gets['n']:,} random point gets (cold node cache)",
         f"{gets['cold_seconds']:.3f} s (warm {gets['warm_seconds']:.3f} s)", "<= 0.5 s", "-",
         _verdict(gets["cold_seconds"] <= 0.5)),
        ("full scan (cold node cache)",
         f"{scan['records_per_s'] / 1000:.0f}k records/s ({scan['seconds']:.2f} s)",
         ">= 250k rec/s", "-", _verdict(scan["records_per_s"] >= 250_000)),
    ]
    return out


def print_table(res: dict[str, Any]) -> None:
    m = res["machine"]
    print(f"vstore engine benchmark: {res['records']:,} records, seed {res['seed']}")
    print(f"{m['date']}; {m['nproc']} CPUs, {m['cpu']}; Python {m['python']}; {m['platform']}")
    print(f"engine sources sha256 {m['engine_sources_sha256']}; "
          f"load average (1 min) at start {m['loadavg_start']:.2f}, "
          f"at end {m.get('loadavg_end', float('nan')):.2f}; heavy passes: best of "
          f"{len(res['build']['all_seconds'])}; cold reads, apply: median of {COLD_REPEATS}")
    if "engine_changed_during_run" in res:
        print("WARNING: the engine's sources changed during the run "
              f"({', '.join(res['engine_changed_during_run'])}): the figures are mixed")
    header = ("operation", "figure", "target", "ratio to floor", "result")
    table = [header, *rows(res)]
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for j, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=1_000_000, help="number of records")
    p.add_argument("--json", help="also write all figures to this JSON file")
    p.add_argument("--dir", help="base directory for the temporary store (default: $TMPDIR)")
    p.add_argument("--seed", type=int, default=20240601, help="record/edit seed")
    p.add_argument("--profile", choices=["gen", "floor", "build", "gets", "scan", "apply", "diff"],
                   help="run cProfile on one operation; top functions go to stderr")
    p.add_argument("--repeat", type=int, default=1,
                   help="run generate, floors and build this many times each; keep the fastest")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target fails")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--profile-worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.records < 1000:
        p.error("--records must be at least 1000")
    if a.worker:
        print(json.dumps(worker(a.worker, a.records, a.seed, a.path, a.profile_worker)))
        return 0
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    res = bench(a.records, a.seed, a.dir, a.profile, a.repeat)
    res["table"] = [dict(zip(("operation", "figure", "target", "ratio_to_floor", "result"), r,
                             strict=True)) for r in rows(res)]
    print_table(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    failed = any(r[4] == "FAIL" for r in rows(res))
    return 1 if a.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
