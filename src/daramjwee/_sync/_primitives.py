# unasync: hand-written
"""Concurrency primitives of the sync flavour (threads).

Same names as ``daramjwee._async._primitives``, over ``threading``.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, TypeVar

from .._metadata import FetchResult, Metadata
from ._store import RangeGetter, Store

__all__ = [
    "Event",
    "KeyLocks",
    "bound_range_getter",
    "bound_store_calls",
    "call_fetcher",
    "cancel_after",
    "check_flavour",
    "run_blocking",
    "run_blocking_owned",
    "shielded",
    "sleep",
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

    def __len__(self) -> int:
        return len(self._locks)


def shielded(work: T) -> T:
    """The result of ``work``, which already ran: a thread is never cancelled halfway through a call.

    The async twin runs ``work`` as its own task so that cancelling the caller
    cannot stop it halfway.
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


def bound_store_calls(store: Store, seconds: float) -> Store:
    """Return ``store`` unchanged: a thread blocked in a store call cannot be cancelled.

    Sync stores bound their calls with their client's own timeouts.
    """
    return store


def bound_range_getter(store: object, seconds: float) -> RangeGetter | None:
    """The store's optional plain ``get_range`` (see :class:`Store`), unchanged; else ``None``.

    A coroutine function is the async capability, not this one: ``None``.
    As :func:`bound_store_calls` says, a sync store bounds its own calls.
    """
    method = getattr(store, "get_range", None)
    if not callable(method) or inspect.iscoroutinefunction(method):
        return None
    return method  # type: ignore[no-any-return]


def run_blocking(function: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking call (file I/O) here: the calling thread may block."""
    return function(*args)


def run_blocking_owned(release: Callable[[T], object], function: Callable[..., T], /, *args: Any) -> T:
    """Run ``function`` here: a thread is never cancelled, so ``release`` is never needed (see the async twin)."""
    return function(*args)
