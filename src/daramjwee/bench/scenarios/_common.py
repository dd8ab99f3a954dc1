"""What every scenario shares: options, the measured value, fetchers and the timing helper."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable
from contextlib import ExitStack

from ..._metadata import FetchResult, Metadata
from .._model import Case, Ratio

__all__ = ["KEY", "VALUE", "Options", "Scenario", "afetch", "fetch", "ns_per_op"]

KEY = "bench:key"
VALUE = bytes(range(256)) * 4  # 1 KiB


@dataclasses.dataclass(frozen=True)
class Options:
    """How much to measure: operations per sample, samples per case."""

    iterations: int = 40_000
    rounds: int = 15

    @classmethod
    def quick(cls) -> Options:
        return cls(iterations=2_000, rounds=3)


Scenario = Callable[[Options, ExitStack], tuple[list[Case], list[Ratio]]]


def fetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


async def afetch(old: Metadata | None) -> FetchResult:
    return FetchResult(VALUE)


def ns_per_op(loop: Callable[[int], int], iterations: int) -> Callable[[], float]:
    """A sample: ns per operation of ``loop(n)`` (which returns elapsed ns for ``n`` operations), GC off."""

    def run() -> float:
        gc.collect()
        gc.disable()
        try:
            return loop(iterations) / iterations
        finally:
            gc.enable()

    return run
