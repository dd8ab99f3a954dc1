"""Which store operations to fail, for the fault-injecting test stores (pure, thread-safe)."""

from __future__ import annotations

import random
import threading
from collections import Counter

__all__ = ["OPERATIONS", "FaultPlan", "StoreFault"]

OPERATIONS = ("get_stream", "begin_set", "delete", "stat", "close", "read", "write", "commit", "abort", "clear")


class StoreFault(OSError):
    """The failure a fault-injecting store raises unless told another one."""


class _Fault:
    __slots__ = ("after", "error", "probability", "rng", "times")

    def __init__(
        self, after: int, times: int | None, probability: float, error: BaseException | None, seed: int | None
    ) -> None:
        self.after = after
        self.times = times
        self.probability = probability
        self.error = error
        self.rng = random.Random(seed)


class FaultPlan:
    """Counts calls per operation and decides which ones fail."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.delays: dict[str, float] = {}
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()

    def delay(self, op: str, seconds: float) -> None:
        """Add ``seconds`` of latency to every call of ``op`` (0 removes it)."""
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; choose from {OPERATIONS}")
        self.delays[op] = seconds

    def fail(
        self,
        op: str,
        *,
        after: int = 0,
        times: int | None = None,
        probability: float = 1.0,
        error: BaseException | None = None,
        seed: int | None = None,
    ) -> None:
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; choose from {OPERATIONS}")
        with self._lock:
            self._faults[op] = _Fault(after, times, probability, error, seed)

    def heal(self, op: str | None = None) -> None:
        with self._lock:
            if op is None:
                self._faults.clear()
            else:
                self._faults.pop(op, None)

    def check(self, op: str, count: int | None = None) -> BaseException | None:
        """Record a call of ``op`` (the ``count``-th of its stream, if given); return the error to raise."""
        with self._lock:
            self.calls[op] += 1
            fault = self._faults.get(op)
            if fault is None:
                return None
            seen = self.calls[op] if count is None else count
            if seen <= fault.after or fault.rng.random() >= fault.probability:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[op]
            return fault.error if fault.error is not None else StoreFault(f"injected {op} failure")
