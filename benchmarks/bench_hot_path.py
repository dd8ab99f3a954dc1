"""Hot-path benchmark: a tier-0 memory hit of daramjwee against a plain locked LRU dict.

    python benchmarks/bench_hot_path.py             # full run (about 15-30 s)
    python benchmarks/bench_hot_path.py --quick     # a few seconds, noisier
    python benchmarks/bench_hot_path.py --json out.json

This is a report, not a test: it always exits 0.  Every case reads one
pre-warmed 1 KiB value in a tight loop; the cases are measured in rounds, in
a shuffled order each round, with the garbage collector off inside the timing
loops.  A case's ns/op is the minimum (also shown: the median) over its
samples; the goal ratios use the minimum, the least noisy estimate of the
cost itself.

Cases:

* ``baseline``: ``with lock: v = lru[key]`` on a ``cachetools.LRUCache``, then
  ``io.BytesIO(v).read()``.
* ``sync-1tier`` / ``sync-8tier``: ``with cache.get(key, fetch) as r: r.read()``
  on a ``Cache`` of 1 or 8 ``MemStore`` tiers (the value sits in tier 0).
* ``async-1tier`` / ``async-8tier``: ``async with await acache.get(key, afetch)
  as r: await r.read()`` looped inside one coroutine on one running loop.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import io
import json
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cachetools

import daramjwee as dj

KEY = "bench:hot-key"
VALUE = bytes(range(256)) * 4  # 1 KiB
assert len(VALUE) == 1024

# (name, numerator case, denominator case, goal: the ratio must be <= goal)
GOALS: tuple[tuple[str, str, str, float], ...] = (
    ("sync/baseline", "sync-1tier", "baseline", 3.0),
    ("async/sync", "async-1tier", "sync-1tier", 2.0),
    ("8-tier/1-tier (sync)", "sync-8tier", "sync-1tier", 1.1),
)
# Reported for information, without a goal.
EXTRA_RATIOS: tuple[tuple[str, str, str], ...] = (
    ("async/baseline", "async-1tier", "baseline"),
    ("8-tier/1-tier (async)", "async-8tier", "async-1tier"),
)

Runner = Callable[[int], int]
"""Runs ``n`` iterations of a case and returns the elapsed nanoseconds of the timing loop alone."""


@dataclasses.dataclass
class Case:
    name: str
    description: str
    run: Runner
    samples: list[float] = dataclasses.field(default_factory=list)  # ns/op, one per round

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def _fetch(old: dj.Metadata | None) -> dj.FetchResult:
    return dj.FetchResult(VALUE)


async def _afetch(old: dj.Metadata | None) -> dj.FetchResult:
    return dj.FetchResult(VALUE)


# -- cases ------------------------------------------------------------------------


def baseline_case() -> Runner:
    lru: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(maxsize=1024)
    lock = threading.Lock()
    lru[KEY] = VALUE

    def run(n: int) -> int:
        key = KEY
        bytes_io = io.BytesIO
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with lock:
                value = lru[key]
            bytes_io(value).read()
        return counter() - start

    return run


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.001)


def sync_case(tiers: int, cleanups: list[Callable[[], None]]) -> Runner:
    stores = [dj.MemStore() for _ in range(tiers)]
    cache = dj.Cache(stores=stores)
    cleanups.append(cache.close)
    with cache.get(KEY, _fetch) as response:  # a miss: fills tier 0, fans out to the others
        assert response.read() == VALUE
    _wait_until(lambda: all(KEY in store for store in stores), "the fan-out of the warm-up value")
    with cache.get(KEY, _fetch) as response:
        assert response.source == 0
        assert response.read() == VALUE

    def run(n: int) -> int:
        key = KEY
        fetch = _fetch
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with get(key, fetch) as response:
                response.read()
        return counter() - start

    return run


def async_case(tiers: int, loop: asyncio.AbstractEventLoop, cleanups: list[Callable[[], None]]) -> Runner:
    stores = [dj.AsyncMemStore() for _ in range(tiers)]
    cache = dj.AsyncCache(stores=stores)
    cleanups.append(lambda: loop.run_until_complete(cache.close()))

    async def warm() -> None:
        async with await cache.get(KEY, _afetch) as response:
            assert await response.read() == VALUE
        deadline = time.monotonic() + 10.0
        while not all(KEY in store for store in stores):  # let the background fan-out land
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for the fan-out of the warm-up value")
            await asyncio.sleep(0.001)
        async with await cache.get(KEY, _afetch) as response:
            assert response.source == 0
            assert await response.read() == VALUE

    loop.run_until_complete(warm())

    async def timed(n: int) -> int:
        key = KEY
        fetch = _afetch
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            async with await get(key, fetch) as response:
                await response.read()
        return counter() - start

    def run(n: int) -> int:
        return loop.run_until_complete(timed(n))

    return run


# -- measurement --------------------------------------------------------------------


def sample(case: Case, iterations: int) -> None:
    """Time one sample of ``iterations`` operations with the GC off and record its ns/op."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        elapsed = case.run(iterations)
    finally:
        if enabled:
            gc.enable()
    case.samples.append(elapsed / iterations)


def measure(cases: list[Case], iterations: int, rounds: int, seed: int) -> None:
    shuffler = random.Random(seed)
    for case in cases:  # warm-up: caches, branch predictors, lazily built state
        case.run(max(iterations // 10, 100))
    order = list(cases)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for case in order:
            sample(case, iterations)


# -- report -------------------------------------------------------------------------


@dataclasses.dataclass
class Ratio:
    name: str
    value: float
    goal: float | None

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "info"
        return "PASS" if self.value <= self.goal else "FAIL"


def ratios(by_name: dict[str, Case]) -> list[Ratio]:
    result = [Ratio(name, by_name[num].best / by_name[den].best, goal) for name, num, den, goal in GOALS]
    result += [Ratio(name, by_name[num].best / by_name[den].best, None) for name, num, den in EXTRA_RATIOS]
    return result


def render(cases: list[Case], results: list[Ratio], iterations: int, rounds: int) -> str:
    base = next(case for case in cases if case.name == "baseline").best
    lines = [
        f"daramjwee hot path: 1 KiB tier-0 hit, {iterations} ops x {rounds} rounds per case "
        f"(Python {platform.python_version()}, {platform.machine()})",
        "",
        f"{'case':<13} {'min ns/op':>10} {'median':>10} {'x baseline':>11}  description",
        f"{'-' * 13} {'-' * 10} {'-' * 10} {'-' * 11}  {'-' * 40}",
    ]
    for case in cases:
        lines.append(
            f"{case.name:<13} {case.best:>10.0f} {case.median:>10.0f} {case.best / base:>10.2f}x  {case.description}"
        )
    lines += ["", f"{'ratio':<22} {'value':>7} {'goal':>7}  verdict", f"{'-' * 22} {'-' * 7} {'-' * 7}  {'-' * 7}"]
    for ratio in results:
        goal = "-" if ratio.goal is None else f"<= {ratio.goal:.1f}"
        lines.append(f"{ratio.name:<22} {ratio.value:>7.2f} {goal:>7}  {ratio.verdict}")
    return "\n".join(lines)


def to_json(cases: list[Case], results: list[Ratio], iterations: int, rounds: int) -> dict[str, object]:
    return {
        "python": sys.version,
        "platform": platform.platform(),
        "value_bytes": len(VALUE),
        "iterations": iterations,
        "rounds": rounds,
        "statistic": "min",
        "cases": {
            case.name: {
                "description": case.description,
                "ns_per_op_min": case.best,
                "ns_per_op_median": case.median,
                "samples_ns_per_op": case.samples,
            }
            for case in cases
        },
        "ratios": {
            ratio.name: {"value": ratio.value, "goal": ratio.goal, "verdict": ratio.verdict} for ratio in results
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds (a few seconds)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON to PATH")
    parser.add_argument("--iterations", type=int, help="operations per sample (default 40000, quick 4000)")
    parser.add_argument("--rounds", type=int, help="samples per case (default 25, quick 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    iterations: int = args.iterations or (4_000 if args.quick else 40_000)
    rounds: int = args.rounds or (7 if args.quick else 25)

    cleanups: list[Callable[[], None]] = []
    loop = asyncio.new_event_loop()
    try:
        cases = [
            Case("baseline", "cachetools.LRUCache + Lock, BytesIO(v).read()", baseline_case()),
            Case("sync-1tier", "Cache([MemStore]) get + read", sync_case(1, cleanups)),
            Case("sync-8tier", "Cache([MemStore] * 8) get + read, tier-0 hit", sync_case(8, cleanups)),
            Case("async-1tier", "AsyncCache([AsyncMemStore]) get + read", async_case(1, loop, cleanups)),
            Case("async-8tier", "AsyncCache([AsyncMemStore] * 8), tier-0 hit", async_case(8, loop, cleanups)),
        ]
        measure(cases, iterations, rounds, args.seed)
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        loop.close()

    results = ratios({case.name: case for case in cases})
    print(render(cases, results, iterations, rounds))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(cases, results, iterations, rounds), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
