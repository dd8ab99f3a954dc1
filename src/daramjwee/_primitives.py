"""Concurrency primitives, in both flavours: asyncio for ``_async``, threads for ``_sync``.

Everything the two flavours do differently, beyond what ``scripts/unasync.py``
rewrites, lives here and in ``_runtime`` and ``_body``, as pairs side by side:
``AsyncEvent`` and ``Event``, ``async_sleep`` and ``sleep``.  The async code
imports the async name and the generated sync code the sync one, because the
generator maps ``AsyncX`` to ``X`` and ``async_x`` to ``x``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from ._async._store import AsyncRangeGetter, AsyncRangeResult, AsyncSink, AsyncStore, MemoryLookup
from ._metadata import FetchResult, Metadata
from ._ranges import ByteRange
from ._sync._store import RangeGetter, Store

__all__ = [
    "AsyncEvent",
    "AsyncKeyLocks",
    "Capabilities",
    "Event",
    "KeyLocks",
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
    "bound_range_getter",
    "bound_store_calls",
    "call_fetcher",
    "cancel_after",
    "capabilities",
    "check_flavour",
    "run_blocking",
    "run_blocking_owned",
    "run_concurrently",
    "shielded",
    "sleep",
]

T = TypeVar("T")

async_sleep = asyncio.sleep
sleep = time.sleep


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


class Event:
    """A one-shot event waiters can wait on with a timeout."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: forever); True if the event was set."""
        return self._event.wait(timeout)


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


class KeyLocks:
    """One mutual-exclusion lock per key (any hashable), created on demand and dropped when unused."""

    __slots__ = ("_guard", "_locks")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, list[Any]] = {}

    @contextlib.contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
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


def shielded(work: T) -> T:
    """The result of ``work``, which already ran: a thread is never cancelled halfway through a call.

    :func:`async_shielded` runs ``work`` as its own task so that cancelling the
    caller cannot stop it halfway.
    """
    return work


def async_cancel_after(seconds: float) -> contextlib.AbstractAsyncContextManager[Any]:
    """Cancel the block after ``seconds``, raising ``TimeoutError`` inside the job."""
    return asyncio.timeout(seconds)


def cancel_after(seconds: float) -> contextlib.AbstractContextManager[Any]:
    """A thread cannot be cancelled: this does nothing.

    Background jobs also pass a deadline to their copy loops, which stop
    between chunks once it has passed.
    """
    return contextlib.nullcontext()


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


def call_fetcher(fetch: Callable[[Metadata | None], FetchResult], old: Metadata | None) -> FetchResult:
    """Call a sync fetcher and check that it returned a :class:`FetchResult`."""
    result = fetch(old)
    if not isinstance(result, FetchResult):
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError("Cache fetchers must be plain functions; use daramjwee.AsyncCache for async fetchers")
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


def check_flavour(stores: Sequence[object]) -> None:
    """Raise ``TypeError`` unless every store is a sync (not ``Async*``) store."""
    for index, store in enumerate(stores):
        if inspect.iscoroutinefunction(getattr(store, "get_stream", None)):
            raise TypeError(
                f"stores[{index}] ({type(store).__name__}) is an async store; Cache needs sync stores such as MemStore"
            )


G = TypeVar("G")


@dataclasses.dataclass(frozen=True, slots=True)
class Capabilities(Generic[G]):
    """The optional abilities of rule K4 that one store offers (the protocols of ``_store``), found once.

    ``G`` is the flavour's range getter: :data:`AsyncRangeGetter` from
    :func:`async_capabilities`, :data:`RangeGetter` from :func:`capabilities`.
    """

    lookup: MemoryLookup | None
    """The plain ``lookup`` method (``LookupStore``), else ``None``."""
    peek: MemoryLookup | None
    """The plain ``peek`` method (``PeekStore``), else ``None``."""
    get_range: G | None
    """``get_range`` of this flavour (``AsyncRangeStore`` / ``RangeStore``), unbounded, else ``None``."""
    capacity: int | None
    """The declared ``capacity`` in bytes (``CapacityStore``), else ``None``."""
    get_stream_inline: bool
    """Whether the store declares ``get_stream_inline = True`` (``InlineGetStore``)."""
    clear: Callable[[], Any] | None = None
    """``clear`` of this flavour (``AsyncClearStore`` / ``ClearStore``), unbounded, else ``None``."""


def async_capabilities(store: object) -> Capabilities[AsyncRangeGetter]:
    """What ``store`` offers of rule K4, as an async store: ``get_range`` and ``clear`` must be coroutine functions."""
    return _capabilities(store, coroutines=True)


def capabilities(store: object) -> Capabilities[RangeGetter]:
    """What ``store`` offers of rule K4, as a sync store: ``get_range`` and ``clear`` must be plain functions."""
    return _capabilities(store, coroutines=False)


def _capabilities(store: object, *, coroutines: bool) -> Capabilities[Any]:
    """The one place that looks for the optional abilities (``getattr``, once, when a cache or wrapper is built)."""
    get_range = _flavoured_method(store, "get_range", coroutines)
    capacity = getattr(store, "capacity", None)
    return Capabilities(
        lookup=_plain_method(store, "lookup"),
        peek=_plain_method(store, "peek"),
        get_range=get_range,
        capacity=capacity if isinstance(capacity, int) and not isinstance(capacity, bool) else None,
        get_stream_inline=getattr(store, "get_stream_inline", False) is True,
        clear=_flavoured_method(store, "clear", coroutines),
    )


def _flavoured_method(store: object, name: str, coroutine: bool) -> Any:
    """``store.<name>`` if it is a coroutine function (``coroutine``) or a plain callable (not), else ``None``."""
    method = getattr(store, name, None)
    if not callable(method) or inspect.iscoroutinefunction(method) is not coroutine:
        return None
    return method


def _plain_method(store: object, name: str) -> MemoryLookup | None:
    method = getattr(store, name, None)
    if callable(method) and not inspect.iscoroutinefunction(method):
        return method  # type: ignore[no-any-return]
    return None


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


def bound_store_calls(store: Store, found: Capabilities[RangeGetter], seconds: float) -> Store:
    """Return ``store`` unchanged: a thread blocked in a store call cannot be cancelled.

    Sync stores bound their calls with their client's own timeouts.
    """
    return store


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


def bound_range_getter(found: Capabilities[RangeGetter], seconds: float) -> RangeGetter | None:
    """The store's optional plain ``get_range`` (``found.get_range``), unchanged; else ``None``.

    As :func:`bound_store_calls` says, a sync store bounds its own calls.
    """
    return found.get_range


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


def run_blocking(function: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking call (file I/O) here: the calling thread may block."""
    return function(*args)


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


def run_blocking_owned(release: Callable[[T], object], function: Callable[..., T], /, *args: Any) -> T:
    """Run ``function`` here: a thread is never cancelled, so ``release`` is never needed.

    :func:`async_run_blocking_owned` is the flavour that needs it.
    """
    return function(*args)


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
