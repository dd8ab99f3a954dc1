# unasync: hand-written
"""What differs between the sync and async tests: concurrency (threads vs tasks) and the other flavour."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

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


class Gate:
    """A one-shot signal between the test and a fetcher or store running concurrently."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float = 10.0) -> None:
        """Wait until set; ``TimeoutError`` after ``timeout`` seconds."""
        if not self._event.wait(timeout):
            raise TimeoutError(f"gate not set within {timeout}s")


class Background:
    """An action running concurrently with the test (a thread here, a task in the async tests)."""

    def __init__(self, action: Callable[[], T]) -> None:
        self._outcome: list[Any] = []

        def run() -> None:
            try:
                self._outcome.append((True, action()))
            except BaseException as error:
                self._outcome.append((False, error))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 10.0) -> Any:
        """The action's result (or its exception, raised); ``TimeoutError`` after ``timeout`` seconds."""
        self._thread.join(timeout)
        if not self._outcome:
            raise TimeoutError(f"background action still running after {timeout}s")
        ok, value = self._outcome[0]
        if not ok:
            raise value
        return value


def start(action: Callable[[], T]) -> Background:
    """Run ``action`` concurrently with the caller."""
    return Background(action)


def other_flavour_store() -> object:
    """A store of the flavour these tests do not exercise."""
    return dj.AsyncMemStore()


def run_scenario(scenario: Callable[[], None]) -> None:
    """Run a test scenario to completion from a plain function (hypothesis tests are not async)."""
    scenario()


def other_flavour_redis_client(url: str) -> object:
    """A Redis client of the flavour these tests do not exercise."""
    return redis.asyncio.Redis.from_url(url)
