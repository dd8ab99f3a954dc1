"""The scenarios of ``daramjwee bench`` (SPEC §8), each building cases against named peers on the same bytes.

A scenario is a function ``(options, cleanups) -> (cases, ratios)``: it sets up
its caches (registering what must be closed on ``cleanups``) and returns
cases whose ``run()`` takes one sample.  The runner samples them in shuffled
rounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import io
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import cachetools

from .._async._cache import AsyncCache
from .._async._memstore import AsyncMemStore
from .._metadata import FetchResult, Metadata
from .._sync._cache import Cache
from .._sync._memstore import MemStore
from ._model import Case, Ratio

__all__ = ["SCENARIOS", "Options", "Scenario"]

KEY = "bench:key"
VALUE = bytes(range(256)) * 4  # 1 KiB


@dataclasses.dataclass(frozen=True)
class Options:
    """How much to measure: operations per sample, samples per case."""

    iterations: int = 40_000
    rounds: int = 15

    @classmethod
    def quick(cls) -> Options:
        return cls(iterations=2_000, rounds=3)


Scenario = Callable[[Options, ExitStack], tuple[list[Case], list[Ratio]]]


def _fetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


async def _afetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


def _ns_per_op(loop: Callable[[int], int], iterations: int) -> Callable[[], float]:
    """A sample: ns per operation of ``loop(n)`` (which returns elapsed ns for ``n`` operations), GC off."""

    def run() -> float:
        gc.collect()
        gc.disable()
        try:
            return loop(iterations) / iterations
        finally:
            gc.enable()

    return run


def _locked_lru_loop() -> Callable[[int], int]:
    lru: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(maxsize=1024)
    lock = threading.Lock()
    lru[KEY] = VALUE

    def loop(n: int) -> int:
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with lock:
                value = lru[KEY]
            io.BytesIO(value).read()
        return counter() - start

    return loop


def _sync_hit_loop(stores: list[MemStore], cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits on a cache over ``stores``, after a miss filled every tier."""
    cache = Cache(stores=stores)
    cleanups.callback(cache.close)
    cache.get_bytes(KEY, _fetch)
    deadline = time.monotonic() + 10
    while not all(KEY in store for store in stores):  # the fan-out lands in the background
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up value never reached every tier")
        time.sleep(0.001)

    def loop(n: int) -> int:
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with get(KEY, _fetch) as response:
                response.read()
        return counter() - start

    return loop


def _async_hit_loop(cleanups: ExitStack) -> Callable[[int], int]:
    runner = cleanups.enter_context(asyncio.Runner())
    cache = AsyncCache(stores=[AsyncMemStore()])
    cleanups.callback(lambda: runner.run(cache.close()))
    runner.run(cache.get_bytes(KEY, _afetch))

    async def timed(n: int) -> int:
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            async with await get(KEY, _afetch) as response:
                await response.read()
        return counter() - start

    return lambda n: runner.run(timed(n))


def hot_path(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Tier-0 memory hit of 1 KiB (get + read + close) against cachetools under a lock with a BytesIO read."""
    n = options.iterations
    cases = [
        Case("cachetools", "LRUCache + threading.Lock + BytesIO(v).read()", "ns/op", _ns_per_op(_locked_lru_loop(), n)),
        Case("sync", "Cache([MemStore])", "ns/op", _ns_per_op(_sync_hit_loop([MemStore()], cleanups), n)),
        Case("async", "AsyncCache([AsyncMemStore])", "ns/op", _ns_per_op(_async_hit_loop(cleanups), n)),
    ]
    ratios = [
        Ratio("sync / cachetools", "sync", "cachetools", 3.0),
        Ratio("async / sync", "async", "sync", 2.0),
    ]
    return cases, ratios


TIER_COUNTS = (1, 2, 3, 5, 8)


def n_tier(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """A tier-0 hit must cost the same whatever the number of tiers behind it."""
    cases = [
        Case(
            f"{count}-tier",
            f"Cache([MemStore] * {count}), tier-0 hit",
            "ns/op",
            _ns_per_op(_sync_hit_loop([MemStore() for _ in range(count)], cleanups), options.iterations),
        )
        for count in TIER_COUNTS
    ]
    ratios = [Ratio(f"{count}-tier / 1-tier", f"{count}-tier", "1-tier", 1.1) for count in TIER_COUNTS[1:]]
    return cases, ratios


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "hot-path": ("Tier-0 memory hit, 1 KiB", hot_path),
    "n-tier": ("N-tier scaling of a tier-0 hit", n_tier),
}
"""Every scenario by name: (title, builder)."""
