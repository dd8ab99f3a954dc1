"""``AsyncFaultyStore``: a store wrapper that fails chosen operations, for tests."""

from __future__ import annotations

import random
import threading
from collections import Counter

from .._metadata import Metadata
from ._primitives import sleep
from ._store import AsyncReader, AsyncSink, AsyncStore, Buffer

__all__ = ["AsyncFaultyStore", "StoreFault"]

OPERATIONS = ("get_stream", "begin_set", "delete", "stat", "close", "read", "write", "commit", "abort")


class StoreFault(OSError):
    """The failure an :class:`AsyncFaultyStore` injects."""


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


class AsyncFaultyStore:
    """Wraps a store; injects failures and latency into chosen operations.

    ``fail(op, after=N)`` lets ``N`` calls of ``op`` succeed, then fails the
    following ones (``times`` of them, or all).  For ``read`` and ``write``
    the count is per stream, so ``fail("write", after=2)`` fails every sink on
    its third write.  ``probability`` fails each eligible call at random
    (seeded by ``seed``).  ``latency`` seconds are added to every operation.
    ``calls`` counts calls per operation.  Thread-safe.
    """

    def __init__(self, inner: AsyncStore, *, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()

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
        """Make ``op`` fail (see the class docstring); ``error`` defaults to :class:`StoreFault`."""
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; choose from {OPERATIONS}")
        with self._lock:
            self._faults[op] = _Fault(after, times, probability, error, seed)

    def heal(self, op: str | None = None) -> None:
        """Stop failing ``op`` (every operation when ``None``)."""
        with self._lock:
            if op is None:
                self._faults.clear()
            else:
                self._faults.pop(op, None)

    async def _enter(self, op: str, count: int | None = None) -> None:
        with self._lock:
            self.calls[op] += 1
            fault = self._faults.get(op)
            seen = self.calls[op] if count is None else count
            failing = fault is not None and seen > fault.after and fault.rng.random() < fault.probability
            if failing and fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[op]
        if self.latency:
            await sleep(self.latency)
        if failing and fault is not None:
            raise fault.error if fault.error is not None else StoreFault(f"injected {op} failure")

    async def get_stream(self, key: str, /) -> tuple[AsyncReader, Metadata]:
        await self._enter("get_stream")
        reader, metadata = await self.inner.get_stream(key)
        return _AsyncFaultyReader(self, reader), metadata

    async def begin_set(self, key: str, metadata: Metadata, /) -> AsyncSink:
        await self._enter("begin_set")
        return _AsyncFaultySink(self, await self.inner.begin_set(key, metadata))

    async def delete(self, key: str, /) -> None:
        await self._enter("delete")
        await self.inner.delete(key)

    async def stat(self, key: str, /) -> Metadata:
        await self._enter("stat")
        return await self.inner.stat(key)

    async def close(self) -> None:
        await self._enter("close")
        await self.inner.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.inner!r}>"


class _AsyncFaultyReader:
    __slots__ = ("_inner", "_reads", "_store")

    def __init__(self, store: AsyncFaultyStore, inner: AsyncReader) -> None:
        self._store = store
        self._inner = inner
        self._reads = 0

    async def read(self, size: int = -1, /) -> Buffer:
        self._reads += 1
        await self._store._enter("read", self._reads)
        return await self._inner.read(size)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncFaultySink:
    __slots__ = ("_inner", "_store", "_writes")

    def __init__(self, store: AsyncFaultyStore, inner: AsyncSink) -> None:
        self._store = store
        self._inner = inner
        self._writes = 0

    async def write(self, data: Buffer, /) -> None:
        self._writes += 1
        await self._store._enter("write", self._writes)
        await self._inner.write(data)

    async def commit(self) -> None:
        await self._store._enter("commit")
        await self._inner.commit()

    async def abort(self) -> None:
        await self._store._enter("abort")
        await self._inner.abort()
