# unasync: hand-written
"""Concurrency for the store conformance suite, async flavour (asyncio tasks).

``daramjwee._sync._conformance_flavour`` has the same names over threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_concurrently"]

T = TypeVar("T")


async def run_concurrently(actions: list[Callable[[], Awaitable[T]]], timeout: float) -> list[T]:
    """Start every action at once, each on its own task; return their results in order.

    Waits for all of them, then raises the first action's exception if any
    failed.  Raises ``TimeoutError`` (cancelling what still runs) when they
    have not all finished within ``timeout`` seconds.
    """
    tasks = [asyncio.ensure_future(action()) for action in actions]
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        raise TimeoutError(f"{len(pending)} of {len(tasks)} concurrent actions still running after {timeout} s")
    for task in tasks:
        error = task.exception()
        if error is not None:
            raise error
    return [task.result() for task in tasks]
