"""Scenarios ``tier-paths`` and ``miss-latency``: promotion and miss costs across chain lengths, and a slow origin.

``tier_paths`` builds, for 1, 2, 3, 5 and 8 ``MemStore`` tiers, sync ``Cache``
instances over 1 KiB values (``VALUE``) and measures, in ns per operation with
``max(100, iterations // 10)`` operations per sample:

- ``promote-{n}`` (n >= 2): ``cache.get`` + ``read()`` + ``close`` of a key held
  only by the last tier, so the hit walks every faster tier and is promoted
  (streamed into, and published by) every faster tier while it is read.  Each
  operation uses a distinct key; before every sample, untimed, the keys are
  written into the last store and deleted from stores 0..n-2 directly, so no
  delete is inside the timed loop.  Promotion is synchronous: no background work.
- ``miss-{n}``: ``cache.get`` + ``read()`` + ``close`` of a key held by no tier,
  with an in-memory fetcher returning ``VALUE``: the walk of every tier, the
  fetch and the publish into tier 0.  Each operation uses a distinct key; before
  every sample, untimed, the previous sample's fan-outs are awaited and its keys
  are removed with ``cache.delete``.  The cache keeps the default ``"pool"``
  worker strategy with ``workers=1`` and a queue large enough that no fan-out is
  rejected: for n >= 2 the fan-out to tiers 1..n-1 still runs in that background
  thread *during* the timed loop, so the number includes its contention for the
  GIL but not the whole of its cost (the backlog left at the end is not timed).

Ratios (information only): ``promote-8 / promote-2`` and ``miss-8 / miss-1``.

``miss_latency`` measures a miss against a slow synchronous origin: a generator
yielding a 4 MiB body (1 MiB with quick options) in 64 KiB chunks, sleeping
1 ms before each chunk.  Every sample is one fetch, in ns:

- ``origin-ttfb`` / ``origin-total``: from calling the origin to holding its
  first chunk / its last chunk, iterating the generator directly.
- ``cache-ttfb`` / ``cache-total``: from ``cache.get`` to holding the first
  chunk / the last chunk of the response (iterated in the cache's chunks), through
  ``Cache([MemStore(), MemStore()])``.  Before each sample, untimed, the earlier
  fan-out to tier 1 is awaited and the key is deleted, so every sample is a miss.

Ratios: ``cache-ttfb / origin-ttfb`` <= 1.3 and ``cache-total / origin-total`` <= 1.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from ... import Cache, FetchResult, MemStore, Metadata
from .._model import Case, Ratio
from ._common import KEY, VALUE, Options, await_fan_outs, fetch, ns_per_op

__all__ = ["miss_latency", "tier_paths"]

TIER_COUNTS = (1, 2, 3, 5, 8)
CHUNK = 64 * 1024
CHUNK_DELAY = 0.001


def _operations(options: Options) -> int:
    return max(100, options.iterations // 10)


def _promote_loop(stores: list[MemStore], cleanups: ExitStack) -> Callable[[int], int]:
    """Timed hits in the last tier, each promoted into every faster tier; keys are reset untimed."""
    cache = Cache(stores=stores)
    cleanups.callback(cache.close)
    last = stores[-1]
    faster = stores[:-1]

    def loop(n: int) -> int:
        keys = [f"{KEY}:promote:{i}" for i in range(n)]
        metadata = Metadata(cached_at=time.time())
        for key in keys:
            for store in faster:
                store.delete(key)
            if key not in last:
                sink = last.begin_set(key, metadata)
                sink.write(VALUE)
                sink.commit()
        elapsed = _read_each(cache, keys)
        if keys[-1] not in stores[0]:
            raise RuntimeError("the hit in the last tier was not promoted into tier 0")
        return elapsed

    return loop


def _read_each(cache: Cache, keys: list[str]) -> int:
    """ns to get, read and close each of ``keys`` in turn."""
    get = cache.get
    counter = time.perf_counter_ns
    start = counter()
    for key in keys:
        with get(key, fetch) as response:
            response.read()
    return counter() - start


def _miss_loop(stores: list[MemStore], queue: int, cleanups: ExitStack) -> Callable[[int], int]:
    """Timed misses on distinct keys; fan-outs of the previous sample are awaited and its keys deleted, untimed."""
    cache = Cache(stores=stores, workers=1, worker_queue=queue, worker_strategy="pool")
    cleanups.callback(cache.close)
    fans_out = len(stores) > 1
    scheduled = 0

    def loop(n: int) -> int:
        nonlocal scheduled
        keys = [f"{KEY}:miss:{i}" for i in range(n)]
        await_fan_outs(cache, scheduled)
        for key in keys:
            cache.delete(key)
        elapsed = _read_each(cache, keys)
        if fans_out:
            scheduled += n
        return elapsed

    return loop


def tier_paths(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """A hit promoted from the last tier, and a miss, for 1 to 8 memory tiers."""
    n = _operations(options)
    cases: list[Case] = []
    for count in TIER_COUNTS:
        if count >= 2:
            cases.append(
                Case(
                    f"promote-{count}",
                    f"Cache([MemStore] * {count}), hit in the last tier promoted into the {count - 1} faster",
                    "ns/op",
                    ns_per_op(_promote_loop([MemStore() for _ in range(count)], cleanups), n),
                )
            )
        cases.append(
            Case(
                f"miss-{count}",
                f"Cache([MemStore] * {count}, workers=1), miss + in-memory fetch (fan-out in the background)",
                "ns/op",
                ns_per_op(_miss_loop([MemStore() for _ in range(count)], 2 * n + 16, cleanups), n),
            )
        )
    ratios = [
        Ratio("promote-8 / promote-2", "promote-8", "promote-2"),
        Ratio("miss-8 / miss-1", "miss-8", "miss-1"),
    ]
    return cases, ratios


def _slow_origin(size: int) -> Iterator[bytes]:
    """``size`` bytes in 64 KiB chunks, 1 ms of sleep before each."""
    chunk = bytes(CHUNK)
    sent = 0
    while sent < size:
        piece = chunk[: min(CHUNK, size - sent)]
        time.sleep(CHUNK_DELAY)
        yield piece
        sent += len(piece)


def _origin_fetch(size: int) -> tuple[int, int]:
    """(ns to the first chunk, ns to the last) iterating the origin directly."""
    counter = time.perf_counter_ns
    start = counter()
    first = 0
    received = 0
    for chunk in _slow_origin(size):
        if not first:
            first = counter()
        received += len(chunk)
    end = counter()
    if received != size:
        raise RuntimeError(f"the origin sent {received} bytes, not {size}")
    return first - start, end - start


def _cache_fetch(size: int, cleanups: ExitStack) -> Callable[[], tuple[int, int]]:
    cache = Cache(stores=[MemStore(), MemStore()])
    cleanups.callback(cache.close)
    scheduled = 0

    def origin(old: Metadata | None) -> FetchResult:
        return FetchResult(_slow_origin(size))

    def one() -> tuple[int, int]:
        nonlocal scheduled
        await_fan_outs(cache, scheduled)
        cache.delete(KEY)
        counter = time.perf_counter_ns
        start = counter()
        first = 0
        received = 0
        with cache.get(KEY, origin) as response:
            for chunk in response:
                if not first:
                    first = counter()
                received += len(chunk)
        end = counter()
        scheduled += 1
        if received != size:
            raise RuntimeError(f"the cache served {received} bytes, not {size}")
        return first - start, end - start

    return one


def miss_latency(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Time to first byte and to last byte of a miss against a slow origin, through the cache and without it."""
    size = (1 if options.iterations <= Options.quick().iterations else 4) * 1024 * 1024
    mib = size // (1024 * 1024)
    what = f"{mib} MiB in 64 KiB chunks, 1 ms sleep per chunk"
    cached = _cache_fetch(size, cleanups)
    cases = [
        Case("origin-ttfb", f"origin generator, first chunk ({what})", "ns", lambda: float(_origin_fetch(size)[0])),
        Case("cache-ttfb", f"Cache([MemStore] * 2) miss, first chunk ({what})", "ns", lambda: float(cached()[0])),
        Case("origin-total", f"origin generator, last chunk ({what})", "ns", lambda: float(_origin_fetch(size)[1])),
        Case("cache-total", f"Cache([MemStore] * 2) miss, last chunk ({what})", "ns", lambda: float(cached()[1])),
    ]
    ratios = [
        Ratio("cache-ttfb / origin-ttfb", "cache-ttfb", "origin-ttfb", 1.3),
        Ratio("cache-total / origin-total", "cache-total", "origin-total", 1.1),
    ]
    return cases, ratios
