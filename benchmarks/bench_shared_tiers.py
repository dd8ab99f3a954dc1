"""Shared-tier benchmark: a hit through the cache on Redis and S3 against the raw client call for the same bytes.

    python benchmarks/bench_shared_tiers.py             # full run (about a minute)
    python benchmarks/bench_shared_tiers.py --quick     # a few seconds, noisier
    python benchmarks/bench_shared_tiers.py --json out.json

Starts its own ``redis-server`` and moto S3 server on loopback (the launchers
of the test suite), so both sides of every comparison talk to the same
server over the same connection kind.  This is a report, not a test: it
always exits 0.  Cases run in rounds, shuffled each round (see
``_report.py``); each keeps its best round.

Cases (sync clients; ``Cache([store])`` so every get is a hit in that tier):

* ``redis-1k`` / ``redis-1m``: ``with cache.get(key) as r: r.read()`` of a
  1 KiB / 1 MiB value on ``Cache([RedisStore])``; one ``HMGET`` each (the
  first chunk travels with the head).
* ``raw-redis-1k`` / ``raw-redis-1m``: ``redis.Redis.get(key)`` of the same
  bytes stored with ``SET``.
* ``s3-1m`` / ``s3-64m``: read a 1 MiB / 64 MiB value through
  ``Cache([ObjectStore])`` on the moto server (64 MiB in 1 MiB reads).
* ``raw-s3-1m`` / ``raw-s3-64m``: ``obstore.get(store, path)`` of an object
  of the same bytes, read with ``.bytes()`` (1 MiB) or streamed in 1 MiB
  chunks (64 MiB).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import obstore
import redis
from _report import Case, Ratio, measure, render, to_json
from obstore.store import S3Store

import daramjwee as dj

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _servers import MotoServer, RedisServer  # the test suite's server launchers

KIB, MIB = 1 << 10, 1 << 20
OVERHEAD_GOAL = 1.15


def _fetch(old: dj.Metadata | None) -> dj.FetchResult:
    raise AssertionError("a benchmark hit must never reach the origin")


def _timed(operation: Callable[[], object], iterations: int) -> float:
    """ns per call of ``operation`` over ``iterations`` calls, with the GC off."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            operation()
        return (time.perf_counter_ns() - start) / iterations
    finally:
        gc.enable()


def _rate(size: int, operation: Callable[[], int]) -> Callable[[], float]:
    """A sample in MiB/s of one ``operation`` that returns the bytes it moved."""

    def run() -> float:
        gc.collect()
        start = time.perf_counter_ns()
        moved = operation()
        elapsed = time.perf_counter_ns() - start
        assert moved == size, moved
        return size / MIB / (elapsed / 1e9)

    return run


def _cache_on(store: dj.Store, key: str, value: bytes, cleanups: list[Callable[[], None]]) -> dj.Cache:
    sink = store.begin_set(key, dj.Metadata(cached_at=time.time()))
    for start in range(0, len(value), MIB):
        sink.write(value[start : start + MIB])
    sink.commit()
    cache = dj.Cache(stores=[store], chunk_size=MIB)
    cleanups.append(cache.close)
    with cache.get(key, _fetch) as response:
        assert response.read() == value
    return cache


def cache_read_all(cache: dj.Cache, key: str) -> Callable[[], bytes]:
    def get() -> bytes:
        with cache.get(key, _fetch) as response:
            return response.read()

    return get


def cache_stream(cache: dj.Cache, key: str) -> Callable[[], int]:
    def stream() -> int:
        total = 0
        with cache.get(key, _fetch) as response:
            while chunk := response.read(MIB):
                total += len(chunk)
        return total

    return stream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON to PATH")
    parser.add_argument("--rounds", type=int, help="samples per case (default 15, quick 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    rounds: int = args.rounds or (3 if args.quick else 15)
    small_iterations = 300 if args.quick else 3_000
    medium_iterations = 20 if args.quick else 200
    large_mib = 16 if args.quick else 64
    logging.getLogger("daramjwee").setLevel(logging.ERROR)

    cleanups: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="daramjwee-bench-") as directory:
        redis_server, s3_server = RedisServer(Path(directory) / "redis"), MotoServer()
        redis_server.start()
        s3_server.start()
        try:
            small, medium, large = os.urandom(KIB), os.urandom(MIB), os.urandom(large_mib * MIB)
            client = redis.Redis.from_url(redis_server.url)
            cleanups.append(client.close)
            client.set("raw:1k", small)
            client.set("raw:1m", medium)
            redis_small = _cache_on(dj.RedisStore(redis_server.url, prefix="bench1k:"), "k", small, cleanups)
            redis_medium = _cache_on(dj.RedisStore(redis_server.url, prefix="bench1m:"), "k", medium, cleanups)

            bucket = S3Store(s3_server.bucket(), **s3_server.store_options())  # type: ignore[arg-type]
            obstore.put(bucket, "raw/1m", medium)
            obstore.put(bucket, "raw/large", large)
            s3_medium = _cache_on(dj.ObjectStore(bucket, prefix="bench1m"), "k", medium, cleanups)
            s3_large = _cache_on(dj.ObjectStore(bucket, prefix="benchlarge"), "k", large, cleanups)

            def raw_s3_stream() -> int:
                return sum(len(chunk) for chunk in obstore.get(bucket, "raw/large").stream(min_chunk_size=MIB))

            cases = [
                Case("redis-1k", "Cache([RedisStore]) get + read, 1 KiB", "ns/op",
                     lambda: _timed(cache_read_all(redis_small, "k"), small_iterations)),
                Case("raw-redis-1k", "redis.Redis.get, 1 KiB", "ns/op",
                     lambda: _timed(lambda: client.get("raw:1k"), small_iterations)),
                Case("redis-1m", "Cache([RedisStore]) get + read, 1 MiB", "ns/op",
                     lambda: _timed(cache_read_all(redis_medium, "k"), medium_iterations)),
                Case("raw-redis-1m", "redis.Redis.get, 1 MiB", "ns/op",
                     lambda: _timed(lambda: client.get("raw:1m"), medium_iterations)),
                Case("s3-1m", "Cache([ObjectStore]) get + read, 1 MiB, moto S3", "ns/op",
                     lambda: _timed(cache_read_all(s3_medium, "k"), medium_iterations // 4)),
                Case("raw-s3-1m", "obstore.get(...).bytes(), 1 MiB, moto S3", "ns/op",
                     lambda: _timed(lambda: obstore.get(bucket, "raw/1m").bytes(), medium_iterations // 4)),
                Case("s3-large", f"Cache([ObjectStore]) stream {large_mib} MiB in 1 MiB reads", "MiB/s",
                     _rate(len(large), cache_stream(s3_large, "k"))),
                Case("raw-s3-large", f"obstore.get(...).stream(1 MiB), {large_mib} MiB", "MiB/s",
                     _rate(len(large), raw_s3_stream)),
            ]  # fmt: skip
            measure(cases, rounds, args.seed)
        finally:
            for cleanup in reversed(cleanups):
                cleanup()
            redis_server.stop()
            s3_server.stop()

    by_name = {case.name: case for case in cases}

    def overhead(name: str, raw: str, *, rate: bool = False) -> Ratio:
        ours, theirs = by_name[name].best, by_name[raw].best
        return Ratio(f"{name}: cache/raw", theirs / ours if rate else ours / theirs, OVERHEAD_GOAL, at_most=True)

    results = [
        overhead("redis-1k", "raw-redis-1k"),
        overhead("redis-1m", "raw-redis-1m"),
        overhead("s3-1m", "raw-s3-1m"),
        overhead("s3-large", "raw-s3-large", rate=True),
    ]
    title = f"daramjwee shared tiers: a hit through the cache vs the raw client, {rounds} rounds per case"
    print(render(title, cases, results))
    if args.json is not None:
        report = to_json(cases, results, rounds=rounds, large_mib=large_mib)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
