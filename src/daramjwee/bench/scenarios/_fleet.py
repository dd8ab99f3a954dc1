"""Scenario ``fleet``: four processes sharing a Redis tier, with and without fleet-wide single-flight.

The scenario starts its own ``redis-server`` on loopback (``daramjwee.testing``)
and four worker processes (``multiprocessing``, spawned, kept for the whole
scenario).  A fleet run gives every worker a fresh
``AsyncCache(stores=[AsyncMemStore(), AsyncRedisStore(url, prefix=P)])`` (a new
prefix per run, the database flushed before it), in its ``coordinated`` variant
with ``coordination=AsyncRedisCoordinator(url, prefix=Q, lease_ttl=5.0)``.  The
workers are released together by a barrier; each then runs the cacheme-style
workload of the ``cacheme`` scenario, split over the fleet: 2,500 requests
(500 quick, with quick options) for keys Zipf-distributed (exponent 1.1) over
the same 3,000 keys (600 quick), each request a task that holds an
``asyncio.Semaphore(64)`` (25 quick) while it calls ``await cache.get_bytes(key,
fetch)``.  So the fleet makes cacheme's requests over its keys at half its
scale, 10,000 over 3,000 (quick: cacheme's own 2,000 over 600, at its total
concurrency of 100), to fit a two-core machine.  A worker's concurrency stays
below 100, the connection pool of a redis-py client by default (redis-py 8;
each store and coordinator made from a URL has one): past it a Redis call fails
at once with ``MaxConnectionsError``, as a failed tier read or a failed claim
that leaves the coordinator unavailable for a while, each costing origin loads.
The workers draw their keys with distinct seeds over the one key space, as the
processes behind a load balancer see different requests for the same popular
keys; all of them start on the hottest keys at once.  A miss costs one origin
call that sleeps 20 ms and returns the key's own 1 KiB value (the key padded),
so a request answered with another key's entry fails the run.

Each worker counts its origin calls per key; the fleet's origin loads are the
sum of the four counts.  A worker's time runs from its release to its last
answer (the caches are closed, and their fan-outs drained, afterwards,
untimed).

- ``coordinated-seconds`` / ``uncoordinated-seconds`` (s): the longest of the
  four workers' times in one fleet run of that variant;
- ``coordinated-origin-loads`` / ``uncoordinated-origin-loads`` (loads): the
  fleet's origin calls in that same run (see ``Paired``);
- ``distinct-keys`` (loads): the number of distinct keys the four workers
  request together, a constant: the floor, as every key must load once.

Without coordination each process has its own single-flight only: two
workers missing a key before either has published it to Redis both load it.
With it, a miss in every tier takes a lease in Redis, and the other workers
missing the key wait for the holder's value in the Redis tier: the holder gives
the lease back once its fan-out has copied the value there, so a wait lasts as
long as the holder's queue of fan-outs.

The added latency of coordination on a miss is measured apart, in this
process: two fresh caches of the same two tiers (one coordinated), each sample
timing ``get_bytes`` of 300 distinct cold keys (100 quick) on each, alternating
which goes first, with an origin that returns 1 KiB at once.  After each miss
the cache's background fan-outs are awaited (untimed), so every miss starts on
an idle cache; a few untimed misses open the connections first.

- ``coordinated-miss`` / ``uncoordinated-miss`` (ns/op): the median time of a miss;
- ``coordinated-miss-added`` (µs): the first median less the second, from the same sample.

Ratios: ``coordinated-origin-loads / distinct-keys`` (goal <= 1.01 at the worst
sample: within 1 % of the floor on every run);
``uncoordinated-origin-loads / distinct-keys``, both variants' times, and the
coordinated miss over the uncoordinated one (information).

Needs ``redis-server`` on ``PATH`` and the ``redis`` package (the ``bench`` extra).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import importlib.util
import multiprocessing
import random
import shutil
import signal
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from ... import AsyncCache, AsyncMemStore, AsyncStore, FetchResult, Metadata, NotFound
from .._model import Case, Ratio
from ._common import Options, Paired, zipf_keys

__all__ = ["fleet", "fleet_missing"]

SEED = 20240601
WORKERS = 4
LEASE_TTL = 5.0
LOADS_GOAL = 1.01
VALUE_SIZE = 1 << 10
RUN_TIMEOUT = 600.0
"""The longest the scenario waits for a worker to start, or to answer a run."""
SETTLE_TIMEOUT = 30.0
"""The longest the miss-latency sample waits for a miss's background fan-out."""
VARIANTS = ("coordinated", "uncoordinated")


@dataclasses.dataclass(frozen=True)
class _Workload:
    """What every worker does in a fleet run (its keys are its own)."""

    requests: int
    key_count: int
    concurrency: int
    delay: float
    miss_keys: int

    @classmethod
    def of(cls, options: Options) -> _Workload:
        if options.iterations < Options().iterations:  # quick
            return cls(requests=500, key_count=600, concurrency=25, delay=0.02, miss_keys=100)
        return cls(requests=2_500, key_count=3_000, concurrency=64, delay=0.02, miss_keys=300)


@dataclasses.dataclass(frozen=True)
class _Run:
    """One fleet run, sent to every worker."""

    url: str
    store_prefix: str
    coordinator_prefix: str | None
    """``None``: no coordination."""


def fleet_missing(options: Options) -> str | None:
    """What this machine lacks to run the scenario, or ``None``."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (Debian: apt-get install redis-server)"
    if importlib.util.find_spec("redis") is None:
        return "the Python package redis is missing: pip install 'daramjwee[bench]'"
    return None


def value_of(key: str) -> bytes:
    """The origin's 1 KiB value of ``key``: its name, padded."""
    return key.encode().ljust(VALUE_SIZE, b".")


VALUE = value_of("bench:miss")


def _cache(url: str, store_prefix: str, coordinator_prefix: str | None) -> AsyncCache:
    """``AsyncCache([AsyncMemStore, AsyncRedisStore])``, coordinated over Redis when ``coordinator_prefix`` is given."""
    from ... import AsyncRedisStore  # noqa: PLC0415 (optional: the redis extra)

    stores: list[AsyncStore] = [AsyncMemStore(), AsyncRedisStore(url, prefix=store_prefix)]
    if coordinator_prefix is None:
        return AsyncCache(stores=stores)
    from ... import AsyncRedisCoordinator  # noqa: PLC0415

    coordinator = AsyncRedisCoordinator(url, prefix=coordinator_prefix, lease_ttl=LEASE_TTL)
    return AsyncCache(stores=stores, coordination=coordinator)


# --- the worker processes ----------------------------------------------------------------------------


async def _fleet_part(
    run: _Run, keys: Sequence[str], workload: _Workload, barrier: Barrier
) -> tuple[float, dict[str, int]]:
    """One worker's part of a fleet run: (seconds from its release to its last answer, origin calls per key)."""
    loads: collections.Counter[str] = collections.Counter()
    values = {key: value_of(key) for key in set(keys)}
    delay = workload.delay
    cache = _cache(run.url, run.store_prefix, run.coordinator_prefix)
    try:
        semaphore = asyncio.Semaphore(workload.concurrency)

        async def request(key: str) -> bool:
            async def fetch(old: Metadata | None) -> FetchResult:
                loads[key] += 1
                await asyncio.sleep(delay)
                return FetchResult(values[key])

            async with semaphore:
                return await cache.get_bytes(key, fetch) == values[key]

        barrier.wait(RUN_TIMEOUT)  # blocks the loop, which has nothing to do yet
        start = time.perf_counter()
        right = await asyncio.gather(*(request(key) for key in keys))
        elapsed = time.perf_counter() - start
    finally:
        await cache.close()
    if not all(right):
        raise RuntimeError(f"{right.count(False)} of {len(keys)} requests got another key's value")
    return elapsed, dict(loads)


def _worker(connection: Connection, barrier: Barrier, keys: list[str], workload: _Workload) -> None:
    """A worker process: runs each ``_Run`` it receives, sends back ``("ok", result)`` or ``("error", traceback)``.

    Ctrl-C is the scenario's to handle: it stops the workers when it unwinds.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection.send(("ready", None))
    with asyncio.Runner() as runner:
        while (run := connection.recv()) is not None:
            try:
                connection.send(("ok", runner.run(_fleet_part(run, keys, workload, barrier))))
            except Exception:  # reported by the scenario
                barrier.abort()  # the others must not wait for this one
                connection.send(("error", traceback.format_exc()))
    connection.close()


class _Fleet:
    """The worker processes, the Redis server they share, and the fleet runs."""

    def __init__(self, url: str, key_lists: Sequence[list[str]], workload: _Workload, cleanups: ExitStack) -> None:
        import redis  # noqa: PLC0415 (optional: the redis extra)

        self._url = url
        self._runs = 0
        self._client = redis.Redis.from_url(url)
        cleanups.callback(self._client.close)
        context = multiprocessing.get_context("spawn")
        self._barrier = context.Barrier(len(key_lists))
        self._connections: list[Connection] = []
        processes = []
        for keys in key_lists:
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(theirs, self._barrier, keys, workload), daemon=True)
            process.start()
            theirs.close()
            self._connections.append(ours)
            processes.append(process)
        cleanups.callback(self._stop, processes)
        for connection in self._connections:
            self._receive(connection)

    def _stop(self, processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
        for connection in self._connections:
            try:
                connection.send(None)
            except OSError:
                continue
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()

    def _receive(self, connection: Connection) -> Any:
        if not connection.poll(RUN_TIMEOUT):
            raise RuntimeError(f"a fleet worker did not answer in {RUN_TIMEOUT:g} s")
        try:
            status, payload = connection.recv()
        except EOFError:
            raise RuntimeError("a fleet worker exited") from None
        if status == "error":  # the traceback's innermost frame and its exception
            lines = payload.strip().splitlines()
            where = next((line.strip() for line in reversed(lines) if line.lstrip().startswith("File ")), "")
            raise RuntimeError(f"a fleet worker failed: {lines[-1]} ({where})")
        return payload

    def run(self, coordinated: bool) -> tuple[float, float]:
        """(seconds, origin loads) of one fleet run: the slowest worker's time, the fleet's origin calls."""
        self._runs += 1
        self._client.flushdb()
        prefix = f"fleet{self._runs}:"
        run = _Run(self._url, prefix + "b:", prefix + "c:" if coordinated else None)
        if self._barrier.broken:  # by a failed run; every worker has answered it, so none is waiting
            self._barrier.reset()
        for connection in self._connections:
            connection.send(run)
        results = []
        errors = []
        for connection in self._connections:
            try:
                results.append(self._receive(connection))
            except RuntimeError as error:
                errors.append(error)
        if errors:
            raise errors[0]
        loads: collections.Counter[str] = collections.Counter()
        for _, part in results:
            loads.update(part)
        return max(elapsed for elapsed, _ in results), float(loads.total())


# --- the added latency of a coordinated miss ---------------------------------------------------------


async def _settled(cache: AsyncCache, key: str) -> None:
    """Wait until the shared tier holds ``key`` (a coordinated fill writes it itself, an uncoordinated one fans out)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        try:
            await cache.stores[-1].stat(key)
            return
        except NotFound:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{key!r} did not reach the shared tier in {SETTLE_TIMEOUT:g} s: {cache.stats()}")
        await asyncio.sleep(0.0002)


async def _miss_sample(url: str, sample: int, count: int) -> tuple[float, float, float]:
    """(coordinated median ns, uncoordinated median ns, added µs) of ``count`` cold misses on each of two caches."""

    async def fetch(old: Metadata | None) -> FetchResult:
        return FetchResult(VALUE)

    prefix = f"miss{sample}:"
    caches = {
        "coordinated": _cache(url, prefix + "cb:", prefix + "cc:"),
        "uncoordinated": _cache(url, prefix + "ub:", None),
    }
    times: dict[str, list[int]] = {name: [] for name in caches}
    counter = time.perf_counter_ns
    try:
        warm_up = 5
        for index in range(warm_up + count):
            order = VARIANTS if index % 2 else VARIANTS[::-1]
            for name in order:
                cache = caches[name]
                key = f"bench:miss:{sample}:{index}"
                start = counter()
                value = await cache.get_bytes(key, fetch)
                elapsed = counter() - start
                if value != VALUE:
                    raise RuntimeError(f"a {name} miss did not get the value")
                await _settled(cache, key)
                if index >= warm_up:
                    times[name].append(elapsed)
    finally:
        for cache in caches.values():
            await cache.close()
    coordinated, uncoordinated = (float(statistics.median(times[name])) for name in VARIANTS)
    return coordinated, uncoordinated, (coordinated - uncoordinated) / 1000


def _miss_sampler(runner: asyncio.Runner, url: str, count: int) -> Callable[[], tuple[float, float, float]]:
    samples = 0

    def run() -> tuple[float, float, float]:
        nonlocal samples
        samples += 1
        return runner.run(_miss_sample(url, samples, count))

    return run


# --- the scenario ------------------------------------------------------------------------------------


def fleet(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Four processes on one Redis tier: origin loads per key and time, with and without fleet-wide single-flight."""
    from ...testing import RedisServer  # noqa: PLC0415 (starts a child process: imported when used)

    workload = _Workload.of(options)
    key_lists = [
        zipf_keys(random.Random(SEED + worker), workload.key_count, 1.1, workload.requests) for worker in range(WORKERS)
    ]
    distinct = len(set().union(*key_lists))

    directory = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-fleet-")))
    server = RedisServer(directory / "redis")
    server.start()
    cleanups.callback(server.stop)
    workers = _Fleet(server.url, key_lists, workload, cleanups)
    runner = cleanups.enter_context(asyncio.Runner())

    what = (
        f"{WORKERS} processes x {workload.requests:,} Zipf(1.1) requests over {workload.key_count:,} keys "
        f"(distinct seeds), concurrency {workload.concurrency:,} each, {workload.delay * 1000:.0f} ms origin"
    )
    how = {
        "coordinated": "AsyncCache([AsyncMemStore, AsyncRedisStore], coordination=AsyncRedisCoordinator)",
        "uncoordinated": "AsyncCache([AsyncMemStore, AsyncRedisStore]) (single-flight per process)",
    }
    floor = f"the floor: the {distinct:,} distinct keys the fleet requests (constant)"
    cases = [Case("distinct-keys", floor, "loads", lambda: float(distinct))]
    for variant in VARIANTS:
        paired = Paired(functools.partial(workers.run, variant == "coordinated"))
        cases += [
            Case(f"{variant}-seconds", f"{how[variant]}, {what}: the slowest worker's time", "s", paired.case(0)),
            Case(f"{variant}-origin-loads", f"{how[variant]}, {what}: the fleet's origin calls", "loads",
                 paired.case(1)),
        ]  # fmt: skip
    misses = Paired(_miss_sampler(runner, server.url, workload.miss_keys))
    cold = f"cold miss of a 1 KiB value, instant origin, median of {workload.miss_keys:,}"
    cases += [
        Case("coordinated-miss", f"{how['coordinated']}, {cold}", "ns/op", misses.case(0)),
        Case("uncoordinated-miss", f"{how['uncoordinated']}, {cold}", "ns/op", misses.case(1)),
        Case("coordinated-miss-added", f"coordinated-miss less uncoordinated-miss, {cold}", "µs", misses.case(2)),
    ]
    ratios = [
        Ratio("coordinated-origin-loads / distinct-keys", "coordinated-origin-loads", "distinct-keys", LOADS_GOAL,
              of="worst"),
        Ratio("uncoordinated-origin-loads / distinct-keys", "uncoordinated-origin-loads", "distinct-keys",
              of="worst"),
        Ratio("coordinated-seconds / uncoordinated-seconds", "coordinated-seconds", "uncoordinated-seconds"),
        Ratio("coordinated-miss / uncoordinated-miss", "coordinated-miss", "uncoordinated-miss"),
    ]  # fmt: skip
    return cases, ratios
