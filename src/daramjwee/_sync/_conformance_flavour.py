# unasync: hand-written
"""Concurrency for the store conformance suite, sync flavour (threads).

``daramjwee._async._conformance_flavour`` has the same names over asyncio tasks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["run_concurrently"]

T = TypeVar("T")


def run_concurrently(actions: list[Callable[[], T]], timeout: float) -> list[T]:
    """Start every action at once, each on its own thread; return their results in order.

    Waits for all of them, then raises the first action's exception if any
    failed.  Raises ``TimeoutError`` when they have not all finished within
    ``timeout`` seconds; a thread cannot be cancelled, so the late ones are
    daemon threads left to finish on their own.
    """
    barrier = threading.Barrier(len(actions))
    results: dict[int, T] = {}
    errors: dict[int, BaseException] = {}

    def gated(index: int, action: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = action()
        except BaseException as error:
            errors[index] = error

    threads = [threading.Thread(target=gated, args=pair, daemon=True) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = sum(thread.is_alive() for thread in threads)
    if running:
        raise TimeoutError(f"{running} of {len(threads)} concurrent actions still running after {timeout} s")
    for index in range(len(threads)):
        if index in errors:
            raise errors[index]
    return [results[index] for index in range(len(threads))]
