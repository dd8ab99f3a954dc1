"""Scenario ``shared-tiers``: a hit through the cache on Redis and on S3 against the raw client call for the same bytes.

The scenario starts its own ``redis-server`` and moto S3 server on loopback
(``daramjwee.testing``), so both sides of every comparison talk to the same
server over the same kind of connection.  On a machine with two or more CPUs
the servers are pinned to the last CPU and this process to the others while
the scenario runs (left to the scheduler, a server and the client sometimes
share a core and sometimes not, and runs disagreed by 10 %).

A sample of a single-hit case is the median of many hits, each timed beside a
call of the other side of its comparison, alternating, so both sides meet the
same moments of a noisy machine; the GC is off while timing.  Every cache is
``Cache([store], chunk_size=1 MiB)`` holding the value, so every get is a hit in
that one tier (its fetcher raises if called).

- ``redis-1k`` / ``redis-1m`` (ns/op): ``with cache.get(key) as r: r.read()`` of a
  1 KiB / 1 MiB value on ``Cache([RedisStore])`` — one ``GET`` each (the first
  chunk travels with the head);
- ``raw-redis-1k`` / ``raw-redis-1m``: ``redis.Redis.get`` of the same bytes stored with ``SET``;
- ``s3-1m`` (ns/op): the same read of a 1 MiB value on ``Cache([ObjectStore])``;
- ``raw-s3-1m``: ``obstore.get(store, path).bytes()`` of an object of the same bytes;
- ``s3-large`` (MiB/s): a 64 MiB value (16 MiB quick) through ``Cache([ObjectStore])`` in 1 MiB reads;
- ``raw-s3-large``: ``obstore.get(...).stream(min_chunk_size=1 MiB)`` of the same bytes.

Ratios, goal <= 1.15 each: every cache case over its raw twin (for the
streaming case, the raw rate over the cache's, so lower is better throughout).

Needs ``redis-server`` on ``PATH`` and the ``redis``, ``obstore`` and ``moto``
packages (all in the ``bench`` extra, except the Debian package ``redis-server``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from ... import Cache, FetchResult, Metadata, Store
from ...testing import MotoServer, RedisServer
from .._model import Case, Ratio
from ._common import Options, gc_paused, timed_pass

__all__ = ["shared_tiers", "shared_tiers_missing"]

KIB, MIB = 1 << 10, 1 << 20
OVERHEAD_GOAL = 1.15


def shared_tiers_missing(options: Options) -> str | None:
    """What this machine lacks to run the scenario, or ``None``."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (Debian: apt-get install redis-server)"
    absent = [name for name in ("redis", "obstore", "moto") if importlib.util.find_spec(name) is None]
    if absent:
        return f"the Python packages {', '.join(absent)} are missing: pip install 'daramjwee[bench]'"
    return None


def _never(old: Metadata | None) -> FetchResult:
    raise AssertionError("a shared-tier benchmark hit must never reach the origin")


def _pin_apart(cleanups: ExitStack, *servers: int) -> None:
    """Pin the server processes to the last CPU and this one to the others, until ``cleanups`` closes."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    for pid in servers:
        os.sched_setaffinity(pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    cleanups.callback(os.sched_setaffinity, 0, set(cpus))


def _interleaved(measured: Callable[[], object], other: Callable[[], object], iterations: int) -> Callable[[], float]:
    """A sample of ``measured``: the median ns of ``iterations`` calls, each beside a call of ``other``."""

    def run() -> float:
        counter = time.perf_counter_ns
        times = []
        with gc_paused():
            for index in range(iterations):
                if index % 2:
                    other()
                start = counter()
                measured()
                times.append(counter() - start)
                if not index % 2:
                    other()
        return float(statistics.median(times))

    return run


def _cache_holding(store: Store, value: bytes, cleanups: ExitStack) -> Cache:
    """A one-tier cache over ``store``, which holds ``value`` under the key ``"k"`` (checked once, untimed)."""
    sink = store.begin_set("k", Metadata(cached_at=time.time()))
    for start in range(0, len(value), MIB):
        sink.write(value[start : start + MIB])
    sink.commit()
    cache = Cache(stores=[store], chunk_size=MIB)
    cleanups.callback(cache.close)
    if _read_all(cache)() != value:
        raise RuntimeError(f"{type(store).__name__} did not return the value it was given")
    return cache


def _read_all(cache: Cache) -> Callable[[], bytes]:
    def get() -> bytes:
        with cache.get("k", _never) as response:
            return response.read()

    return get


def _stream(cache: Cache) -> Callable[[], int]:
    def stream() -> int:
        total = 0
        with cache.get("k", _never) as response:
            while chunk := response.read(MIB):
                total += len(chunk)
        return total

    return stream


def shared_tiers(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Hits on a loopback Redis and S3 through the cache against the raw clients."""
    import obstore  # noqa: PLC0415 (optional: the redis and s3 extras)
    import redis  # noqa: PLC0415
    from obstore.store import S3Store  # noqa: PLC0415

    from ... import ObjectStore, RedisStore  # noqa: PLC0415

    quick = options.iterations < Options().iterations
    small_iterations, medium_iterations, s3_iterations = (300, 20, 10) if quick else (2_000, 200, 60)
    large_size = (16 if quick else 64) * MIB
    small, medium, large = os.urandom(KIB), os.urandom(MIB), os.urandom(large_size)

    directory = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-")))
    redis_server, s3_server = RedisServer(directory / "redis"), MotoServer()
    redis_server.start()
    cleanups.callback(redis_server.stop)
    s3_server.start()
    cleanups.callback(s3_server.stop)
    _pin_apart(cleanups, redis_server.pid, s3_server.pid)
    logger = logging.getLogger("daramjwee")
    cleanups.callback(logger.setLevel, logger.level)
    logger.setLevel(logging.ERROR)

    client = redis.Redis.from_url(redis_server.url)
    cleanups.callback(client.close)
    client.set("raw:1k", small)
    client.set("raw:1m", medium)
    redis_small = _read_all(_cache_holding(RedisStore(redis_server.url, prefix="bench1k:"), small, cleanups))
    redis_medium = _read_all(_cache_holding(RedisStore(redis_server.url, prefix="bench1m:"), medium, cleanups))

    bucket = S3Store(s3_server.bucket(), **s3_server.store_options())  # type: ignore[arg-type]
    obstore.put(bucket, "raw/1m", medium)
    obstore.put(bucket, "raw/large", large)
    s3_medium = _read_all(_cache_holding(ObjectStore(bucket, prefix="bench1m"), medium, cleanups))
    s3_large = _stream(_cache_holding(ObjectStore(bucket, prefix="benchlarge"), large, cleanups))

    def raw_redis_small() -> object:
        return client.get("raw:1k")

    def raw_redis_medium() -> object:
        return client.get("raw:1m")

    def raw_s3_medium() -> object:
        return obstore.get(bucket, "raw/1m").bytes()

    def raw_s3_large() -> int:
        return sum(len(chunk) for chunk in obstore.get(bucket, "raw/large").stream(min_chunk_size=MIB))

    large_mib = large_size // MIB
    cases = [
        Case("redis-1k", "Cache([RedisStore]) get + read, 1 KiB", "ns/op",
             _interleaved(redis_small, raw_redis_small, small_iterations)),
        Case("raw-redis-1k", "redis.Redis.get, 1 KiB", "ns/op",
             _interleaved(raw_redis_small, redis_small, small_iterations)),
        Case("redis-1m", "Cache([RedisStore]) get + read, 1 MiB", "ns/op",
             _interleaved(redis_medium, raw_redis_medium, medium_iterations)),
        Case("raw-redis-1m", "redis.Redis.get, 1 MiB", "ns/op",
             _interleaved(raw_redis_medium, redis_medium, medium_iterations)),
        Case("s3-1m", "Cache([ObjectStore]) get + read, 1 MiB, moto S3", "ns/op",
             _interleaved(s3_medium, raw_s3_medium, s3_iterations)),
        Case("raw-s3-1m", "obstore.get(...).bytes(), 1 MiB, moto S3", "ns/op",
             _interleaved(raw_s3_medium, s3_medium, s3_iterations)),
        Case("s3-large", f"Cache([ObjectStore]) stream {large_mib} MiB in 1 MiB reads, moto S3", "MiB/s",
             timed_pass(large_size, s3_large)),
        Case("raw-s3-large", f"obstore.get(...).stream(1 MiB), {large_mib} MiB, moto S3", "MiB/s",
             timed_pass(large_size, raw_s3_large)),
    ]  # fmt: skip
    ratios = [
        Ratio("redis-1k: cache / raw", "redis-1k", "raw-redis-1k", OVERHEAD_GOAL),
        Ratio("redis-1m: cache / raw", "redis-1m", "raw-redis-1m", OVERHEAD_GOAL),
        Ratio("s3-1m: cache / raw", "s3-1m", "raw-s3-1m", OVERHEAD_GOAL),
        Ratio("s3-large: raw rate / cache rate", "raw-s3-large", "s3-large", OVERHEAD_GOAL),
    ]
    return cases, ratios
