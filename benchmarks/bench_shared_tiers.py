"""Shared-tier benchmark: a hit through the cache on Redis and S3 against the raw client call for the same bytes.

    python benchmarks/bench_shared_tiers.py             # full run (about a minute)
    python benchmarks/bench_shared_tiers.py --quick     # a few seconds, noisier
    python benchmarks/bench_shared_tiers.py --json out.json

Starts its own ``redis-server`` and moto S3 server on loopback (the launchers
of the test suite), so both sides of every comparison talk to the same
server over the same connection kind; the servers are pinned to the last CPU
and the benchmark to the others.  This is a report, not a test: it
always exits 0.  Cases run in rounds, shuffled each round (see
``daramjwee.bench.measure``); each keeps its best round.  A sample of a single-hit case is
the median of many hits, each timed beside a call of the other side of its
comparison (alternating), so both sides meet the same moments of the machine.

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
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import obstore
import redis
from obstore.store import S3Store

import daramjwee as dj
from daramjwee.bench import Case, Ratio, ScenarioResult, machine, markdown, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _servers import MotoServer, RedisServer  # the test suite's server launchers

KIB, MIB = 1 << 10, 1 << 20
OVERHEAD_GOAL = 1.15


def _fetch(old: dj.Metadata | None) -> dj.FetchResult:
    raise AssertionError("a benchmark hit must never reach the origin")


def _pin_apart(servers: list[subprocess.Popen[bytes] | None]) -> None:
    """Run the servers on the last CPU and this process on the others, when there are two or more.

    Left to the scheduler, a server and the client sometimes share a core and
    sometimes not, and a round trip costs differently in each case: runs
    disagreed by 10 % before the pinning.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    for server in servers:
        if server is not None:
            os.sched_setaffinity(server.pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))


def _interleaved(measured: Callable[[], object], other: Callable[[], object], iterations: int) -> Callable[[], float]:
    """A sample of ``measured``: the median ns of ``iterations`` calls, each beside a call of ``other``.

    The two sides of a comparison alternate call by call (in both orders), so
    both meet the same moments of a noisy machine and network; the median
    ignores the stray slow call.  The GC is off while timing.
    """

    def run() -> float:
        counter = time.perf_counter_ns
        times = []
        gc.collect()
        gc.disable()
        try:
            for index in range(iterations):
                if index % 2:
                    other()
                start = counter()
                measured()
                times.append(counter() - start)
                if not index % 2:
                    other()
        finally:
            gc.enable()
        return float(statistics.median(times))

    return run


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


# Each cache case against its raw twin, time over time (for the rate case, the raw rate over ours).
RATIOS = [
    Ratio("redis-1k: cache/raw", "redis-1k", "raw-redis-1k", OVERHEAD_GOAL),
    Ratio("redis-1m: cache/raw", "redis-1m", "raw-redis-1m", OVERHEAD_GOAL),
    Ratio("s3-1m: cache/raw", "s3-1m", "raw-s3-1m", OVERHEAD_GOAL),
    Ratio("s3-large: cache/raw", "raw-s3-large", "s3-large", OVERHEAD_GOAL),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON to PATH")
    parser.add_argument("--rounds", type=int, help="samples per case (default 15, quick 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    rounds: int = args.rounds or (3 if args.quick else 15)
    small_iterations = 300 if args.quick else 2_000
    medium_iterations = 20 if args.quick else 200
    s3_iterations = 10 if args.quick else 60
    large_mib = 16 if args.quick else 64
    logging.getLogger("daramjwee").setLevel(logging.ERROR)

    cleanups: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="daramjwee-bench-") as directory:
        redis_server, s3_server = RedisServer(Path(directory) / "redis"), MotoServer()
        redis_server.start()
        s3_server.start()
        _pin_apart([redis_server.process, s3_server.process])
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

            def raw_redis_small() -> object:
                return client.get("raw:1k")

            def raw_redis_medium() -> object:
                return client.get("raw:1m")

            def raw_s3_medium() -> object:
                return obstore.get(bucket, "raw/1m").bytes()

            def raw_s3_stream() -> int:
                return sum(len(chunk) for chunk in obstore.get(bucket, "raw/large").stream(min_chunk_size=MIB))

            cases = [
                Case("redis-1k", "Cache([RedisStore]) get + read, 1 KiB", "ns/op",
                     _interleaved(cache_read_all(redis_small, "k"), raw_redis_small, small_iterations)),
                Case("raw-redis-1k", "redis.Redis.get, 1 KiB", "ns/op",
                     _interleaved(raw_redis_small, cache_read_all(redis_small, "k"), small_iterations)),
                Case("redis-1m", "Cache([RedisStore]) get + read, 1 MiB", "ns/op",
                     _interleaved(cache_read_all(redis_medium, "k"), raw_redis_medium, medium_iterations)),
                Case("raw-redis-1m", "redis.Redis.get, 1 MiB", "ns/op",
                     _interleaved(raw_redis_medium, cache_read_all(redis_medium, "k"), medium_iterations)),
                Case("s3-1m", "Cache([ObjectStore]) get + read, 1 MiB, moto S3", "ns/op",
                     _interleaved(cache_read_all(s3_medium, "k"), raw_s3_medium, s3_iterations)),
                Case("raw-s3-1m", "obstore.get(...).bytes(), 1 MiB, moto S3", "ns/op",
                     _interleaved(raw_s3_medium, cache_read_all(s3_medium, "k"), s3_iterations)),
                Case("s3-large", f"Cache([ObjectStore]) stream {large_mib} MiB in 1 MiB reads", "MiB/s",
                     _rate(len(large), cache_stream(s3_large, "k"))),
                Case("raw-s3-large", f"obstore.get(...).stream(1 MiB), {large_mib} MiB", "MiB/s",
                     _rate(len(large), raw_s3_stream)),
            ]  # fmt: skip
            measure(cases, rounds, random.Random(args.seed))
        finally:
            for cleanup in reversed(cleanups):
                cleanup()
            redis_server.stop()
            s3_server.stop()

    title = f"daramjwee shared tiers: a hit through the cache vs the raw client, {rounds} rounds per case"
    result = ScenarioResult("shared-tiers", title, cases, RATIOS)
    print(markdown([result], machine()))
    if args.json is not None:
        report = {**result.to_json(), "machine": machine(), "rounds": rounds, "large_mib": large_mib}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
