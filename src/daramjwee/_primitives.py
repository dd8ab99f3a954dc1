"""Concurrency primitives of the sync flavour (threads), and what both flavours share.

Everything the two flavours do differently, beyond what ``scripts/unasync.py``
rewrites, lives in pairs of modules: this one and ``_async_primitives``,
``_runtime`` and ``_async_runtime``, ``_body`` and ``_async_body``, with twins
of the same shape (``AsyncEvent`` and ``Event``, ``async_sleep`` and
``sleep``).  The async code
imports ``daramjwee._async_primitives.async_x`` and the generated sync code
``daramjwee._primitives.x``, because the generator maps ``_async_x`` to ``_x``,
``AsyncX`` to ``X`` and ``async_x`` to ``x``.  Only the async modules import
``asyncio``: a sync-only application never loads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from ._metadata import FetchResult, Metadata
from ._sync._store import MemoryLookup, RangeGetter, Store

__all__ = [
    "Capabilities",
    "Event",
    "KeyLocks",
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
    "store_capabilities",
]

T = TypeVar("T")


sleep = time.sleep


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


def shielded(work: T) -> T:
    """The result of ``work``, which already ran: a thread is never cancelled halfway through a call.

    :func:`async_shielded` runs ``work`` as its own task so that cancelling the
    caller cannot stop it halfway.
    """
    return work


def cancel_after(seconds: float) -> contextlib.AbstractContextManager[Any]:
    """A thread cannot be cancelled: this does nothing.

    Background jobs also pass a deadline to their copy loops, which stop
    between chunks once it has passed.
    """
    return contextlib.nullcontext()


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


def capabilities(store: object) -> Capabilities[RangeGetter]:
    """What ``store`` offers of rule K4, as a sync store: ``get_range`` and ``clear`` must be plain functions."""
    return store_capabilities(store, coroutines=False)


def store_capabilities(store: object, *, coroutines: bool) -> Capabilities[Any]:
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


def bound_store_calls(store: Store, found: Capabilities[RangeGetter], seconds: float) -> Store:
    """Return ``store`` unchanged: a thread blocked in a store call cannot be cancelled.

    Sync stores bound their calls with their client's own timeouts.
    """
    return store


def bound_range_getter(found: Capabilities[RangeGetter], seconds: float) -> RangeGetter | None:
    """The store's optional plain ``get_range`` (``found.get_range``), unchanged; else ``None``.

    As :func:`bound_store_calls` says, a sync store bounds its own calls.
    """
    return found.get_range


def run_blocking(function: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking call (file I/O) here: the calling thread may block."""
    return function(*args)


def run_blocking_owned(release: Callable[[T], object], function: Callable[..., T], /, *args: Any) -> T:
    """Run ``function`` here: a thread is never cancelled, so ``release`` is never needed.

    :func:`async_run_blocking_owned` is the flavour that needs it.
    """
    return function(*args)


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
