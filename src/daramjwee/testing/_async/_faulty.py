"""``AsyncFaultyStore`` and ``FaultyStore``: a store wrapper that fails chosen operations, for tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from ..._async._store import AsyncRangeGetter, AsyncReader, AsyncSink, AsyncStore, Buffer, MemoryLookup
from ..._async_primitives import async_capabilities, async_sleep
from ..._metadata import Metadata
from ..._ranges import ByteRange
from .._faults import FaultPlan

__all__ = ["AsyncFaultyStore"]


class AsyncFaultyStore:
    """Wraps a store; injects failures and latency into chosen operations.

    ``fail(op, after=N)`` lets ``N`` calls of ``op`` succeed, then fails the
    following ones (``times`` of them, or all).  For ``read`` and ``write``
    the count is per stream, so ``fail("write", after=2)`` fails every sink on
    its third write.  ``probability`` fails each eligible call at random
    (seeded by ``seed``).  ``latency`` seconds are added to every operation;
    ``delay(op, seconds)`` sets the latency of one operation.
    ``calls`` counts calls per operation; :meth:`heal` removes faults.  The
    inner store's in-memory ``lookup`` is kept (failing as ``get_stream``)
    unless ``latency`` is set.  Errors
    default to :class:`daramjwee.testing.StoreFault`.  Thread-safe.
    """

    def __init__(self, inner: AsyncStore, *, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self._plan = FaultPlan()
        self.fail = self._plan.fail
        self.heal = self._plan.heal
        self.delay = self._plan.delay

    @property
    def calls(self) -> Counter[str]:
        """Calls so far, per operation."""
        return self._plan.calls

    async def _enter(self, op: str, count: int | None = None) -> None:
        error = self._plan.check(op, count)
        latency = self._plan.delays.get(op, self.latency)
        if latency:
            await async_sleep(latency)
        if error is not None:
            raise error

    @property
    def lookup(self) -> MemoryLookup | None:
        """The inner store's in-memory ``lookup``, failing like ``get_stream``; absent with latency.

        Read when a cache is built: a cache over this wrapper takes the fast
        path exactly when it would over the inner store.
        """
        inner = async_capabilities(self.inner).lookup
        if inner is None or self.latency or self._plan.delays.get("get_stream"):
            return None

        def lookup(key: str) -> tuple[bytes, Metadata]:
            error = self._plan.check("get_stream")
            if error is not None:
                raise error
            return inner(key)

        return lookup

    async def get_stream(self, key: str, /) -> tuple[AsyncReader, Metadata]:
        await self._enter("get_stream")
        reader, metadata = await self.inner.get_stream(key)
        return _AsyncFaultyReader(self, reader), metadata

    @property
    def get_range(self) -> AsyncRangeGetter | None:
        """The inner store's ``get_range`` (failing as ``"get_range"``, its reader as ``"read"``), if it has one."""
        inner_get_range = async_capabilities(self.inner).get_range  # this flavour's, unbounded
        if inner_get_range is None:
            return None

        async def get_range(key: str, byte_range: ByteRange, /) -> tuple[AsyncReader, Metadata, int]:
            await self._enter("get_range")
            reader, metadata, length = await inner_get_range(key, byte_range)
            return _AsyncFaultyReader(self, reader), metadata, length

        return get_range

    @property
    def clear(self) -> Callable[[], Awaitable[None]] | None:
        """The inner store's ``clear`` (failing as ``"clear"``), if it has one."""
        inner_clear = async_capabilities(self.inner).clear  # this flavour's
        if inner_clear is None:
            return None

        async def clear() -> None:
            await self._enter("clear")
            await inner_clear()

        return clear

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

    @property
    def value(self) -> bytes | None:
        """The inner sink's committed bytes, if it offers them (a memory sink does)."""
        value = getattr(self._inner, "value", None)
        return value if type(value) is bytes else None

    async def commit(self) -> None:
        await self._store._enter("commit")
        await self._inner.commit()

    async def abort(self) -> None:
        await self._store._enter("abort")
        await self._inner.abort()
