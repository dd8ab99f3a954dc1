"""What differs between the async and sync tests, in both flavours side by side.

``tests/_async`` imports the async names (``AsyncGate``, ``async_start``) and
the generated ``tests/_sync`` the sync ones (``Gate``, ``start``): tasks vs
threads, a store or Redis client of the flavour the tests do not exercise,
and what a fleet member (``tests/_async/_fleet_member.py``) does differently:
its Redis Cluster client's start, its origin responses' bodies, its stdin.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio

import daramjwee as dj

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


async def async_run_concurrently(actions: list[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Start every action at once, each on its own task; return each result or exception, in order."""
    start = asyncio.Event()

    async def gated(action: Callable[[], Awaitable[T]]) -> T:
        await start.wait()
        return await action()

    tasks = [asyncio.ensure_future(gated(action)) for action in actions]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


class AsyncGate:
    """A one-shot signal between the test and a fetcher or store running concurrently."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float = 10.0) -> None:
        """Wait until set; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._event.wait()


class AsyncBackground:
    """An action running concurrently with the test, as an asyncio task."""

    def __init__(self, action: Callable[[], Awaitable[T]]) -> None:
        self._task = asyncio.ensure_future(action())

    async def result(self, timeout: float | None = 10.0) -> Any:
        """The action's result (or its exception, raised); ``TimeoutError`` after ``timeout`` seconds (None: never)."""
        return await asyncio.wait_for(self._task, timeout)

    def cancel(self) -> None:
        """Cancel the task, if it still runs."""
        self._task.cancel()


def async_start(action: Callable[[], Awaitable[T]]) -> AsyncBackground:
    """Run ``action`` concurrently with the caller."""
    return AsyncBackground(action)


def async_other_flavour_store() -> object:
    """A sync store: the flavour the async tests do not exercise."""
    return dj.MemStore()


def async_run_scenario(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test scenario to completion from a plain function (hypothesis tests are not async)."""
    asyncio.run(scenario())


def async_other_flavour_redis_client(url: str) -> object:
    """A sync Redis client: the flavour the async tests do not exercise."""
    return redis.Redis.from_url(url)


def async_other_flavour_function() -> Callable[[int], object]:
    """A plain function: the kind ``AsyncCache.cached`` refuses."""

    def load(user_id: int) -> int:
        return user_id

    return load


async def async_initialize_cluster(client: redis.asyncio.RedisCluster) -> None:
    """Initialize a fresh cluster client before its first concurrent use.

    A fresh ``redis.asyncio.RedisCluster`` that first meets concurrent
    commands sometimes fails some of them with ``AttributeError: 'NoneType'
    object has no attribute 'writelines'`` (redis-py; see
    tests/test_rediscluster.py); initializing it first avoids that.
    """
    await client.initialize()


async def async_response_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body of a streamed httpx response as it arrives, undecoded; it closes the response when done or closed."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


async def async_read_line() -> str:
    """The next line of stdin (``""`` at its end), read on a thread so that the event loop runs on."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


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
    """An action running concurrently with the test, on a thread."""

    def __init__(self, action: Callable[[], T]) -> None:
        self._outcome: list[Any] = []

        def run() -> None:
            try:
                self._outcome.append((True, action()))
            except BaseException as error:
                self._outcome.append((False, error))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float | None = 10.0) -> Any:
        """The action's result (or its exception, raised); ``TimeoutError`` after ``timeout`` seconds (None: never)."""
        self._thread.join(timeout)
        if not self._outcome:
            raise TimeoutError(f"background action still running after {timeout}s")
        ok, value = self._outcome[0]
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Nothing: a thread cannot be stopped from outside; a daemon thread, it ends with the process at the latest."""


def start(action: Callable[[], T]) -> Background:
    """Run ``action`` concurrently with the caller."""
    return Background(action)


def other_flavour_store() -> object:
    """An async store: the flavour the sync tests do not exercise."""
    return dj.AsyncMemStore()


def run_scenario(scenario: Callable[[], None]) -> None:
    """Run a sync test scenario: call it."""
    scenario()


def other_flavour_redis_client(url: str) -> object:
    """An async Redis client: the flavour the sync tests do not exercise."""
    return redis.asyncio.Redis.from_url(url)


def other_flavour_function() -> Callable[[int], object]:
    """An async function: the kind ``Cache.cached`` refuses."""

    async def fetch(user_id: int) -> int:
        return user_id

    return fetch


def initialize_cluster(client: redis.RedisCluster) -> None:
    """Nothing: a ``redis.RedisCluster`` initializes itself in its constructor."""


def response_body(response: httpx.Response) -> Iterator[bytes]:
    """The body of a streamed httpx response as it arrives, undecoded; it closes the response when done or closed."""
    try:
        yield from response.iter_raw()
    finally:
        response.close()


def read_line() -> str:
    """The next line of stdin (``""`` at its end)."""
    return sys.stdin.readline()
