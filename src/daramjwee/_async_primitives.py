"""Concurrency primitives of the async flavour (asyncio): the twins of those in ``_primitives``.

The only core module besides ``_async_runtime`` that imports ``asyncio``; the
async code imports its names, and ``scripts/unasync.py`` points the generated
sync code at their twins in ``_primitives`` (``_async_primitives.async_sleep``
becomes ``_primitives.sleep``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from ._async._store import AsyncRangeGetter, AsyncRangeResult, AsyncSink, AsyncStore
from ._metadata import FetchResult, Metadata
from ._primitives import Capabilities, store_capabilities
from ._ranges import ByteRange

__all__ = [
    "AsyncEvent",
    "AsyncKeyLocks",
    "async_bound_range_getter",
    "async_bound_store_calls",
    "async_call_fetcher",
    "async_cancel_after",
    "async_capabilities",
    "async_check_flavour",
    "async_run_blocking",
    "async_run_blocking_owned",
    "async_run_concurrently",
    "async_shielded",
    "async_sleep",
]

T = TypeVar("T")

async_sleep = asyncio.sleep


class AsyncEvent:
    """A one-shot event waiters can wait on with a timeout."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: forever); True if the event was set."""
        if self._event.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class AsyncKeyLocks:
    """One mutual-exclusion lock per key (any hashable), created on demand and dropped when unused."""

    __slots__ = ("_guard", "_locks")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, list[Any]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [asyncio.Lock(), 0]
            entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[key]

    def held(self) -> list[Hashable]:
        """The keys whose lock is held or waited for now."""
        with self._guard:
            return list(self._locks)

    def __len__(self) -> int:
        return len(self._locks)


_DETACHED: set[asyncio.Future[Any]] = set()


_logger = logging.getLogger("daramjwee")


async def async_shielded(work: Awaitable[T]) -> T:
    """Run ``work`` to its end even if the awaiting task is cancelled meanwhile.

    Ending an operation (publishing or aborting its sinks, landing its
    flight, ending its write ticket) must happen exactly once and completely.
    A cancellation arriving in the middle would leave it half done: Starlette
    cancels a streaming body's task as soon as the client has its last byte,
    and inside a cancelled anyio scope *every* await raises at once.  So the
    work runs as its own task: the caller still gets ``CancelledError``, the
    work finishes in the background, and an error it raises after the caller
    left is logged.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            _DETACHED.add(task)
            task.add_done_callback(_detached_done)
        raise


def _detached_done(task: asyncio.Future[Any]) -> None:
    _DETACHED.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _logger.warning("ending an operation after its caller was cancelled failed", exc_info=task.exception())


def async_cancel_after(seconds: float) -> contextlib.AbstractAsyncContextManager[Any]:
    """Cancel the block after ``seconds``, raising ``TimeoutError`` inside the job."""
    return asyncio.timeout(seconds)


async def async_call_fetcher(
    fetch: Callable[[Metadata | None], Awaitable[FetchResult]], old: Metadata | None
) -> FetchResult:
    """Call an async fetcher and check that it returned a :class:`FetchResult`."""
    pending = fetch(old)
    if not inspect.isawaitable(pending):
        raise TypeError(
            f"AsyncCache fetchers must be async (return an awaitable), got {type(pending).__name__} "
            "from a plain function; use daramjwee.Cache for sync fetchers"
        )
    result = await pending
    if not isinstance(result, FetchResult):
        raise TypeError(f"fetcher returned {type(result).__name__}; it must return daramjwee.FetchResult")
    return result


def async_check_flavour(stores: Sequence[object]) -> None:
    """Raise ``TypeError`` unless every store is an async (``Async*``) store."""
    for index, store in enumerate(stores):
        if not inspect.iscoroutinefunction(getattr(store, "get_stream", None)):
            raise TypeError(
                f"stores[{index}] ({type(store).__name__}) is a sync store; "
                "AsyncCache needs async stores such as AsyncMemStore"
            )


def async_capabilities(store: object) -> Capabilities[AsyncRangeGetter]:
    """What ``store`` offers of rule K4, as an async store: ``get_range`` and ``clear`` must be coroutine functions."""
    return store_capabilities(store, coroutines=True)


def async_bound_store_calls(store: AsyncStore, found: Capabilities[AsyncRangeGetter], seconds: float) -> AsyncStore:
    """``store`` with ``get_stream``, ``stat``, ``begin_set``, ``delete`` and ``close`` cancelled after ``seconds``.

    A call that runs out raises ``TimeoutError``, which the cache treats like
    any store failure.  Streams and sinks are not bounded: they belong to the
    caller once handed out.  In-memory stores (with ``lookup``) never block and
    are returned as they are.  A store whose ``get_stream_inline`` is true opens
    entries without awaiting (``AsyncFileStore(inline_open=True)``): no timeout
    could interrupt that call, so it is not wrapped in one.  ``found`` is
    ``async_capabilities(store)``.
    """
    if found.lookup is not None:
        return store
    if found.get_stream_inline:
        return _AsyncInlineGetBoundedStore(store, seconds)
    return _AsyncBoundedStore(store, seconds)


def async_bound_range_getter(found: Capabilities[AsyncRangeGetter], seconds: float) -> AsyncRangeGetter | None:
    """The store's optional ``async get_range`` (``found.get_range``), cancelled after ``seconds``; else ``None``.

    An in-memory store's (with ``lookup``) never blocks and is returned as it is.
    """
    method = found.get_range
    if method is None or found.lookup is not None:
        return method

    async def get_range(key: str, byte_range: ByteRange, /) -> AsyncRangeResult:
        async with asyncio.timeout(seconds):
            return await method(key, byte_range)

    return get_range


class _AsyncBoundedStore:
    __slots__ = ("_seconds", "_store")

    def __init__(self, store: AsyncStore, seconds: float) -> None:
        self._store = store
        self._seconds = seconds

    async def get_stream(self, key: str, /) -> tuple[Any, Metadata]:
        async with asyncio.timeout(self._seconds):
            return await self._store.get_stream(key)

    async def begin_set(self, key: str, metadata: Metadata, /) -> AsyncSink:
        async with asyncio.timeout(self._seconds):
            return await self._store.begin_set(key, metadata)

    async def delete(self, key: str, /) -> None:
        async with asyncio.timeout(self._seconds):
            await self._store.delete(key)

    async def stat(self, key: str, /) -> Metadata:
        async with asyncio.timeout(self._seconds):
            return await self._store.stat(key)

    async def close(self) -> None:
        async with asyncio.timeout(self._seconds):
            await self._store.close()


class _AsyncInlineGetBoundedStore(_AsyncBoundedStore):
    """A bounded store whose ``get_stream`` runs inline, so it gets no timeout (the timer would cost, not help)."""

    __slots__ = ()

    async def get_stream(self, key: str, /) -> tuple[Any, Metadata]:
        return await self._store.get_stream(key)


async def async_run_blocking(function: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking call (file I/O) on a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(function, *args)


async def async_run_blocking_owned(release: Callable[[T], object], function: Callable[..., T], /, *args: Any) -> T:
    """:func:`async_run_blocking` for a call whose result must be released (an open file): never leaked.

    A thread cannot be stopped: if the caller is cancelled while ``function``
    runs, its result is passed to ``release`` once it arrives.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(functools.partial(_release_result, release))
        raise


def _release_result(release: Callable[[Any], object], future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        release(future.result())


async def async_run_concurrently(actions: list[Callable[[], Awaitable[T]]], timeout: float) -> list[T]:
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
