# unasync: hand-written
"""What differs between the async and sync tests: concurrency (tasks vs threads) and the other flavour."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import redis

import daramjwee as dj

T = TypeVar("T")


async def run_concurrently(actions: list[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Start every action at once; return each result or exception, in order."""
    start = asyncio.Event()

    async def gated(action: Callable[[], Awaitable[T]]) -> T:
        await start.wait()
        return await action()

    tasks = [asyncio.ensure_future(gated(action)) for action in actions]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


class Gate:
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


class Background:
    """An action running concurrently with the test (a task here, a thread in the sync tests)."""

    def __init__(self, action: Callable[[], Awaitable[T]]) -> None:
        self._task = asyncio.ensure_future(action())

    async def result(self, timeout: float = 10.0) -> Any:
        """The action's result (or its exception, raised); ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self._task, timeout)


def start(action: Callable[[], Awaitable[T]]) -> Background:
    """Run ``action`` concurrently with the caller."""
    return Background(action)


def other_flavour_store() -> object:
    """A store of the flavour these tests do not exercise."""
    return dj.MemStore()


def run_scenario(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a test scenario to completion from a plain function (hypothesis tests are not async)."""
    asyncio.run(scenario())


def other_flavour_redis_client(url: str) -> object:
    """A Redis client of the flavour these tests do not exercise."""
    return redis.Redis.from_url(url)
