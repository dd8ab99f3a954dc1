"""What every scenario shares: options, the scenario record, the measured value, fetchers and the timed loops."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

from ... import AsyncCache, AsyncFetcher, Cache, CacheStats, Fetcher, FetchResult, Metadata
from .._model import Case, Ratio, ScenarioResult

__all__ = [
    "KEY",
    "VALUE",
    "Builder",
    "Options",
    "Paired",
    "Plotter",
    "Scenario",
    "afetch",
    "async_cache_hit_loop",
    "async_get_loop",
    "await_fan_outs",
    "cache_hit_loop",
    "fetch",
    "gc_paused",
    "get_loop",
    "ns_per_op",
    "timed_pass",
]

KEY = "bench:key"
VALUE = bytes(range(256)) * 4  # 1 KiB


@dataclasses.dataclass(frozen=True)
class Options:
    """How much to measure (operations per sample, samples per case), and trace files to replay."""

    iterations: int = 40_000
    rounds: int = 15
    traces: tuple[Path, ...] = ()
    """Trace files (one key per request per line) the ``eviction`` scenario replays beside its synthetic traces."""

    @classmethod
    def quick(cls) -> Options:
        return cls(iterations=2_000, rounds=3)


Builder = Callable[[Options, ExitStack], tuple[list[Case], list[Ratio]]]
"""Sets a scenario up (registering what must be closed on the stack) and returns its cases and ratios."""

Plotter = Callable[[ScenarioResult, Path], None]
"""Draws a scenario's result as a PNG at the path."""


def _runs_anywhere(options: Options) -> str | None:
    return None


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named group of cases: its title, its builder, and optionally its own plot and prerequisites.

    ``missing(options)`` says what this machine lacks to run it (a program, a
    server URL), or ``None`` when it can run.  ``plot`` replaces the runner's
    default bar chart when the cases read better another way.
    """

    title: str
    build: Builder
    plot: Plotter | None = None
    missing: Callable[[Options], str | None] = _runs_anywhere


class Paired:
    """One measured run feeding several cases: the first case asked runs it, the others take the values it left.

    ``run()`` returns one value per case, in case order.  Within a round the
    runner asks each case once (in shuffled order), so a round costs one run
    and all samples of the round come from the same run.
    """

    def __init__(self, run: Callable[[], tuple[float, ...]]) -> None:
        self._run = run
        self._pending: dict[int, float] = {}

    def case(self, index: int) -> Callable[[], float]:
        """The ``run()`` of the case fed by value ``index``."""

        def sample() -> float:
            if index in self._pending:
                return self._pending.pop(index)
            values = self._run()
            self._pending = {other: value for other, value in enumerate(values) if other != index}
            return values[index]

        return sample


def await_fan_outs(cache: Cache, finished: int, *, timeout: float = 30.0) -> CacheStats:
    """Wait until ``finished`` fan-out jobs in all have ended (published, failed or rejected); the stats then.

    Raises ``RuntimeError`` when they have not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        stats = cache.stats()
        if stats.fanouts + stats.fanouts_failed >= finished:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"background fan-outs did not finish in {timeout:g} s")
        time.sleep(0.0005)


def fetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


async def afetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collect garbage now, then keep the collector off for the block: no sample pays for an earlier one's garbage."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def ns_per_op(loop: Callable[[int], int], iterations: int) -> Callable[[], float]:
    """A sample: ns per operation of ``loop(n)`` (which returns elapsed ns for ``n`` operations), GC off."""

    def run() -> float:
        with gc_paused():
            return loop(iterations) / iterations

    return run


def cache_hit_loop(cache: Cache, fetcher: Fetcher = fetch) -> Callable[[int], int]:
    """A loop for :func:`ns_per_op`: ``n`` times ``with cache.get(KEY, fetcher) as r: r.read()``."""

    def loop(n: int) -> int:
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with get(KEY, fetcher) as response:
                response.read()
        return counter() - start

    return loop


def async_cache_hit_loop(
    runner: asyncio.Runner, cache: AsyncCache, fetcher: AsyncFetcher = afetch
) -> Callable[[int], int]:
    """The async twin of :func:`cache_hit_loop`: ``n`` hits looped inside one ``runner.run``."""

    async def timed(n: int) -> int:
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            async with await get(KEY, fetcher) as response:
                await response.read()
        return counter() - start

    return lambda n: runner.run(timed(n))


def get_loop(get: Callable[[str], object]) -> Callable[[int], int]:
    """A loop for :func:`ns_per_op`: ``n`` calls of a peer's ``get(KEY)`` (the bound method, called directly)."""

    def loop(n: int) -> int:
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            get(KEY)
        return counter() - start

    return loop


def async_get_loop(runner: asyncio.Runner, get: Callable[[str], Awaitable[object]]) -> Callable[[int], int]:
    """The async twin of :func:`get_loop`: ``n`` awaited ``get(KEY)`` calls inside one ``runner.run``."""

    async def timed(n: int) -> int:
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            await get(KEY)
        return counter() - start

    return lambda n: runner.run(timed(n))


def timed_pass(size: int, one_pass: Callable[[], int]) -> Callable[[], float]:
    """A sample in MiB/s of ``one_pass()``, which moves ``size`` bytes and returns how many it moved; GC off."""

    def run() -> float:
        with gc_paused():
            start = time.perf_counter_ns()
            moved = one_pass()
            elapsed = time.perf_counter_ns() - start
        if moved != size:
            raise RuntimeError(f"moved {moved} bytes, expected {size}")
        return size / (1 << 20) / (elapsed / 1e9)

    return run


def zipf_keys(rng: random.Random, keys: int, exponent: float, count: int) -> list[str]:
    """``count`` keys drawn from ``keys`` distinct ones with P(rank k) proportional to 1 / k ** exponent."""
    names = [f"bench:zipf:{rank}" for rank in range(keys)]
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(keys)))
    return rng.choices(names, cum_weights=cumulative, k=count)
