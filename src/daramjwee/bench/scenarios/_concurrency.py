"""Scenarios ``threads``, ``stampede`` and ``cacheme``: the cache under concurrent callers.

``threads`` — one ``Cache(stores=[MemStore(capacity="64MiB")])`` shared by n threads:

- ``threads-{n}`` (n = 1, 2, 4, 8, 16; ops/s): one sample runs ``options.iterations``
  operations in total, split evenly across n threads released together by a
  ``threading.Barrier``, and reports total operations over the wall time from the
  release to the last thread joining.  The operations are precomputed with
  ``random.Random(seed)``: keys Zipf-distributed (exponent 1.0) over 2,000 keys, 90 %
  ``with cache.get(key, fetch) as r: r.read()`` and 10 % ``cache.set_bytes(key, VALUE)``
  (1 KiB).  Every key is set once before timing, so gets hit; ``fetch`` (1 KiB, no
  delay) only serves a miss.

``stampede`` — 100 concurrent misses on one key whose origin sleeps 50 ms, on a fresh cache per sample:

- ``sync-origin-fetches`` (fetches): the number of origin calls when 100 threads,
  released together by a barrier, call ``get_bytes`` on ``Cache(stores=[MemStore()])``;
- ``sync-seconds`` (s): the wall time of that same run, release to last join;
- ``async-origin-fetches`` / ``async-seconds``: the same with 100 tasks gathered on
  ``AsyncCache(stores=[AsyncMemStore()])`` in one ``asyncio.Runner``;
- ``one-fetch`` (fetches): the constant 1.0, the goal, so the ratios
  ``* fetches / 1`` (goal <= 1.0, taken at the worst sample) show whether every
  stampede cost exactly one origin call.

  A ``*-seconds`` sample and its ``*-origin-fetches`` sample come from the same run
  (one run serves both cases; see ``Paired``).  Each caller checks it got the value.

``cacheme`` — a cacheme-style load run (a fresh cache per sample, one run per sample):
20,000 requests for keys Zipf-distributed (exponent 1.1) over 6,000 keys, each
request a task that holds an ``asyncio.Semaphore(1000)`` while it asks the cache; a
miss costs one origin call that sleeps 100 ms and returns 1 KiB.  With quick options
(``options.iterations`` below the default): 2,000 requests over 600 keys, concurrency
100, a 20 ms origin.

- ``daramjwee-seconds`` (s): wall time of the run with ``await cache.get_bytes(key, fetch)``
  on ``AsyncCache(stores=[AsyncMemStore()])`` (concurrent misses of a key share one fetch);
- ``daramjwee-2tier-seconds``: the same on the two tiers of cacheme's own benchmark (a local
  cache in front of a shared one): ``AsyncMemStore`` bounded to 1/6 of the values' bytes
  (1,000 of 6,000) in front of an ``AsyncFileStore`` in a temporary directory;
- ``cashews-seconds``: the same with ``cashews.Cache`` on ``"mem://"`` (size raised above the
  key count so nothing is evicted) and the plain pattern ``get``, on ``None`` load then
  ``set``: no single-flight (cashews offers one only through its decorators with a lock,
  which this does not use), so concurrent misses of a key each load;
- ``aiocache-seconds``: the same get / load / set pattern on ``aiocache.SimpleMemoryCache``;
- ``{peer}-origin-loads`` (loads): the number of origin calls in that same run;
- ``daramjwee-2tier-lower-tier-reads`` (reads): hits in the file tier in that same run,
  requests the bounded memory tier had evicted and the lower tier served without the origin;
- ``distinct-keys`` (loads): the number of distinct keys requested, a constant: the floor,
  as every key must load once.

Ratios: each daramjwee run's time over each peer's, and its origin loads over the distinct
keys (at the worst sample).  The time goal (<= 1.0) applies to the one-tier run, the
like-for-like comparison; the two-tier run's times are information (it writes every value
to disk as well).  The loads goal (<= 1.01, within 1 % of the floor on every run) applies to
both: fan-outs to the file tier are not rejected by the job queue, and each carries the value
the memory tier committed, so a value the bounded memory tier evicts is still in the file
tier (or, while its copy is pending, served from memory as ``transit_hits``).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack

import aiocache  # type: ignore[import-untyped]
import cashews

from ... import AsyncCache, AsyncFileStore, AsyncMemStore, AsyncStore, Cache, FetchResult, MemStore, Metadata
from .._model import Case, Ratio
from ._common import KEY, VALUE, Options, Paired, fetch, zipf_keys

__all__ = ["cacheme", "stampede", "threads"]

SEED = 20240601


# --- threads -----------------------------------------------------------------------------------------

THREAD_COUNTS = (1, 2, 4, 8, 16)
THREAD_KEYS = 2_000


def _threads_run(cache: Cache, ops: Sequence[tuple[bool, str]], count: int) -> Callable[[], float]:
    chunks = [ops[index::count] for index in range(count)]

    def run() -> float:
        barrier = threading.Barrier(count + 1)
        errors: list[BaseException] = []

        def work(chunk: Sequence[tuple[bool, str]]) -> None:
            get, set_bytes = cache.get, cache.set_bytes
            barrier.wait()
            try:
                for is_set, key in chunk:
                    if is_set:
                        set_bytes(key, VALUE)
                    else:
                        with get(key, fetch) as response:
                            response.read()
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        elapsed = _run_together([threading.Thread(target=work, args=(chunk,)) for chunk in chunks], barrier)
        if errors:
            raise errors[0]
        return len(ops) / elapsed

    return run


def _run_together(workers: list[threading.Thread], barrier: threading.Barrier) -> float:
    """Start ``workers``, release them through ``barrier`` (whose last party is the caller); seconds until all end."""
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def threads(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """90 % get / 10 % set of 1 KiB on Zipf keys, one shared memory cache, 1 to 16 threads."""
    rng = random.Random(SEED)
    keys = zipf_keys(rng, THREAD_KEYS, 1.0, options.iterations)
    ops = [(rng.random() < 0.1, key) for key in keys]
    cache = Cache(stores=[MemStore(capacity="64MiB")])
    cleanups.callback(cache.close)
    for rank in range(THREAD_KEYS):
        cache.set_bytes(f"bench:zipf:{rank}", VALUE)
    cases = [
        Case(
            f"threads-{count}",
            f"{count} threads, 90 % get+read / 10 % set, Zipf(1.0) over {THREAD_KEYS} keys",
            "ops/s",
            _threads_run(cache, ops, count),
        )
        for count in THREAD_COUNTS
    ]
    return cases, [Ratio("threads-16 / threads-1", "threads-16", "threads-1")]


# --- stampede ----------------------------------------------------------------------------------------

STAMPEDE_CALLERS = 100
STAMPEDE_ORIGIN = 0.05


def _sync_stampede() -> tuple[float, float]:
    """(origin fetches, seconds) of 100 threads missing one key together on a fresh cache."""
    lock = threading.Lock()
    calls = 0

    def origin(old: Metadata | None) -> FetchResult:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(STAMPEDE_ORIGIN)
        return FetchResult(VALUE)

    barrier = threading.Barrier(STAMPEDE_CALLERS + 1)
    results: list[bytes] = []
    errors: list[BaseException] = []

    with Cache(stores=[MemStore()]) as cache:

        def work() -> None:
            barrier.wait()
            try:
                results.append(cache.get_bytes(KEY, origin))
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        elapsed = _run_together([threading.Thread(target=work) for _ in range(STAMPEDE_CALLERS)], barrier)
    if errors:
        raise errors[0]
    if len(results) != STAMPEDE_CALLERS or any(result != VALUE for result in results):
        raise RuntimeError("a stampede caller did not get the value")
    return float(calls), elapsed


async def _async_stampede() -> tuple[float, float]:
    """(origin fetches, seconds) of 100 tasks missing one key together on a fresh cache."""
    calls = 0

    async def origin(old: Metadata | None) -> FetchResult:
        nonlocal calls
        calls += 1
        await asyncio.sleep(STAMPEDE_ORIGIN)
        return FetchResult(VALUE)

    cache = AsyncCache(stores=[AsyncMemStore()])
    try:
        start = time.perf_counter()
        results = await asyncio.gather(*(cache.get_bytes(KEY, origin) for _ in range(STAMPEDE_CALLERS)))
        elapsed = time.perf_counter() - start
    finally:
        await cache.close()
    if any(result != VALUE for result in results):
        raise RuntimeError("a stampede caller did not get the value")
    return float(calls), elapsed


def stampede(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """100 concurrent misses of one key with a 50 ms origin: how many origin calls, how long."""
    runner = cleanups.enter_context(asyncio.Runner())
    sync = Paired(_sync_stampede)
    aio = Paired(lambda: runner.run(_async_stampede()))
    what = f"{STAMPEDE_CALLERS} concurrent misses of one key, {STAMPEDE_ORIGIN * 1000:.0f} ms origin"
    cases = [
        Case("sync-origin-fetches", f"Cache([MemStore]), {what}: origin calls", "fetches", sync.case(0)),
        Case("sync-seconds", f"Cache([MemStore]), {what}: wall time", "s", sync.case(1)),
        Case("async-origin-fetches", f"AsyncCache([AsyncMemStore]), {what}: origin calls", "fetches", aio.case(0)),
        Case("async-seconds", f"AsyncCache([AsyncMemStore]), {what}: wall time", "s", aio.case(1)),
        Case("one-fetch", "the goal: exactly one origin call (constant)", "fetches", lambda: 1.0),
    ]
    ratios = [
        Ratio("sync fetches / 1", "sync-origin-fetches", "one-fetch", 1.0, of="worst"),
        Ratio("async fetches / 1", "async-origin-fetches", "one-fetch", 1.0, of="worst"),
    ]
    return cases, ratios


# --- cacheme -----------------------------------------------------------------------------------------

PEERS = ("daramjwee", "daramjwee-2tier", "cashews", "aiocache")
DARAMJWEE_RUNS = ("daramjwee", "daramjwee-2tier")


async def _cacheme_run(peer: str, keys: Sequence[str], concurrency: int, delay: float) -> tuple[float, ...]:
    """(seconds, origin loads, lower-tier reads) of one run of ``keys`` through a fresh cache of ``peer``."""
    loads = 0

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        await asyncio.sleep(delay)
        return VALUE

    async def fetcher(old: Metadata | None) -> FetchResult:
        return FetchResult(await load())

    get: Callable[[str], Awaitable[bytes]]
    with tempfile.TemporaryDirectory(prefix="daramjwee-bench-cacheme-") as directory:
        if peer in DARAMJWEE_RUNS:
            stores: list[AsyncStore] = [AsyncMemStore()]
            if peer == "daramjwee-2tier":
                local_bytes = len(VALUE) * len(set(keys)) // 6
                stores = [AsyncMemStore(capacity=local_bytes), AsyncFileStore(directory)]
            cache = AsyncCache(stores=stores)

            async def get(key: str) -> bytes:
                return await cache.get_bytes(key, fetcher)

            async def close() -> int:
                tiers = cache.stats().tiers
                await cache.close()
                return tiers[1].hits if len(tiers) > 1 else 0

        else:
            if peer == "cashews":
                peer_cache = cashews.Cache()
                peer_cache.setup("mem://", size=len(keys) + 1)  # its default size is 1,000 entries
            else:
                peer_cache = aiocache.SimpleMemoryCache()

            async def get(key: str) -> bytes:
                value = await peer_cache.get(key)
                if value is None:
                    value = await load()
                    await peer_cache.set(key, value)
                return value

            async def close() -> int:
                await peer_cache.close()
                return 0

        semaphore = asyncio.Semaphore(concurrency)

        async def request(key: str) -> bytes:
            async with semaphore:
                return await get(key)

        try:
            start = time.perf_counter()
            results = await asyncio.gather(*(request(key) for key in keys))
            elapsed = time.perf_counter() - start
        finally:
            lower_reads = await close()
    if any(result != VALUE for result in results):
        raise RuntimeError(f"{peer}: a request did not get the value")
    return elapsed, float(loads), float(lower_reads)


def _cacheme_sampler(
    runner: asyncio.Runner, peer: str, keys: Sequence[str], concurrency: int, delay: float
) -> Callable[[], tuple[float, ...]]:
    return lambda: runner.run(_cacheme_run(peer, keys, concurrency, delay))


def cacheme(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """A cacheme-style run: Zipf(1.1) requests with a slow origin at high concurrency, against cashews, aiocache."""
    if options.iterations < Options().iterations:  # quick
        requests, key_count, concurrency, delay = 2_000, 600, 100, 0.02
    else:
        requests, key_count, concurrency, delay = 20_000, 6_000, 1_000, 0.1
    keys = zipf_keys(random.Random(SEED), key_count, 1.1, requests)
    distinct = len(set(keys))
    runner = cleanups.enter_context(asyncio.Runner())
    what = (
        f"{requests:,} Zipf(1.1) requests over {key_count:,} keys, "
        f"concurrency {concurrency:,}, {delay * 1000:.0f} ms origin"
    )
    how = {
        "daramjwee": "AsyncCache([AsyncMemStore]) get_bytes (single-flight)",
        "daramjwee-2tier": "AsyncCache([AsyncMemStore(1/6 of the bytes), AsyncFileStore]) get_bytes (single-flight)",
        "cashews": 'cashews "mem://" get, load, set on miss (no single-flight)',
        "aiocache": "aiocache.SimpleMemoryCache get, load, set on miss (no single-flight)",
    }
    floor = f"the floor: the {distinct:,} distinct keys requested (constant)"
    cases = [Case("distinct-keys", floor, "loads", lambda: float(distinct))]
    for peer in PEERS:
        paired = Paired(_cacheme_sampler(runner, peer, keys, concurrency, delay))
        cases += [
            Case(f"{peer}-seconds", f"{how[peer]}, {what}: wall time", "s", paired.case(0)),
            Case(f"{peer}-origin-loads", f"{how[peer]}, {what}: origin calls", "loads", paired.case(1)),
        ]
        if peer == "daramjwee-2tier":
            reads = f"{how[peer]}, {what}: hits in the file tier"
            cases.append(Case(f"{peer}-lower-tier-reads", reads, "reads", paired.case(2)))
    ratios = []
    for ours, time_goal, load_goal in (("daramjwee", 1.0, 1.01), ("daramjwee-2tier", None, 1.01)):
        ratios += [
            Ratio(f"{ours}-seconds / {peer}-seconds", f"{ours}-seconds", f"{peer}-seconds", time_goal)
            for peer in ("cashews", "aiocache")
        ]
        loads = f"{ours}-origin-loads"
        ratios.append(Ratio(f"{loads} / distinct-keys", loads, "distinct-keys", load_goal, of="worst"))
    return cases, ratios
