# unasync: hand-written
"""Running test actions concurrently: asyncio tasks here, threads in the sync twin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
