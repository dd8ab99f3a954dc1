# unasync: hand-written
"""Running test actions concurrently: threads here, asyncio tasks in the async twin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

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
