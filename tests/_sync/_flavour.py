# unasync: hand-written
"""What differs between the sync and async tests: concurrency (threads vs tasks) and the other flavour."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import redis.asyncio

import daramjwee as dj

T = TypeVar("T")


def run_concurrently(actions: list[Callable[[], T]]) -> list[T | BaseException]:
    """Start every action at once on its own thread; return each result or exception, in order."""
    barrier = threading.Barrier(len(actions))
    results: list[T | BaseException] = [RuntimeError("not run")] * len(actions)

    def gated(index: int, action: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=gated, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def other_flavour_store() -> object:
    """A store of the flavour these tests do not exercise."""
    return dj.AsyncMemStore()


def run_scenario(scenario: Callable[[], None]) -> None:
    """Run a test scenario to completion from a plain function (hypothesis tests are not async)."""
    scenario()


def other_flavour_redis_client(url: str) -> object:
    """A Redis client of the flavour these tests do not exercise."""
    return redis.asyncio.Redis.from_url(url)
