"""Scenarios ``hot-path`` and ``n-tier``: a tier-0 memory hit against a locked LRU dict, and across chain lengths."""

from __future__ import annotations

import asyncio
import functools
import io
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import cachetools

from ... import AsyncCache, AsyncMemStore, Cache, MemStore
from .._model import Case, Ratio
from ._common import (
    KEY,
    VALUE,
    Options,
    afetch,
    async_cache_hit_loop,
    cache_hit_loop,
    fetch,
    get_loop,
    ns_per_op,
)

__all__ = [
    "async_hit_loop",
    "decorated_hit_loop",
    "hot_path",
    "n_tier",
    "sync_hit_loop",
    "tagged_hit_loop",
    "value_hit_loop",
]


def _locked_lru_loop() -> Callable[[int], int]:
    lru: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(maxsize=1024)
    lock = threading.Lock()
    lru[KEY] = VALUE

    def loop(n: int) -> int:
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with lock:
                value = lru[KEY]
            io.BytesIO(value).read()
        return counter() - start

    return loop


def sync_hit_loop(stores: list[MemStore], cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits on a cache over ``stores``, after a miss filled every tier."""
    cache = Cache(stores=stores)
    cleanups.callback(cache.close)
    cache.get_bytes(KEY, fetch)
    deadline = time.monotonic() + 10
    while not all(KEY in store for store in stores):  # the fan-out lands in the background
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up value never reached every tier")
        time.sleep(0.001)
    return cache_hit_loop(cache)


def tagged_hit_loop(cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits of a tagged entry (``get(..., tags=...)``) on ``Cache([MemStore])``, after a tagged miss."""
    cache = Cache(stores=[MemStore()])
    cleanups.callback(cache.close)
    tags = ("user:42", "team:7")
    if cache.get_bytes(KEY, fetch) != VALUE:
        raise RuntimeError("the warm-up read did not return the value")
    cache.delete(KEY)
    with cache.get(KEY, fetch, tags=tags) as response:
        response.read()
    with cache.get(KEY, fetch, tags=tags) as response:
        if response.source != 0:
            raise RuntimeError("the tagged entry is not served from tier 0")

    def loop(n: int) -> int:
        get = cache.get
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(n):
            with get(KEY, fetch, tags=tags) as response:
                response.read()
        return counter() - start

    return loop


_USER = {"id": 42, "name": "squirrel", "roles": ["admin"]}


def _load_user() -> dict[str, object]:
    return _USER


def value_hit_loop(cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits of ``get_value`` (a small JSON value) on ``Cache([MemStore])``, after a miss stored it."""
    cache = Cache(stores=[MemStore()])
    cleanups.callback(cache.close)
    get_value = functools.partial(cache.get_value, loader=_load_user)
    if get_value(KEY) != _USER:
        raise RuntimeError("the warm-up read did not return the value")
    return get_loop(get_value)


def decorated_hit_loop(cleanups: ExitStack, *, template: bool) -> Callable[[int], int]:
    """Timed tier-0 hits of a ``cached`` function (a key template, or the default key), after a first call."""
    cache = Cache(stores=[MemStore()])
    cleanups.callback(cache.close)

    def user(name: str) -> dict[str, object]:
        return _USER

    decorated = cache.cached(key="user:{name}")(user) if template else cache.cached()(user)
    if decorated(KEY) != _USER:
        raise RuntimeError("the warm-up call did not return the value")
    return get_loop(decorated)


def async_hit_loop(runner: asyncio.Runner, cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits on ``AsyncCache([AsyncMemStore()])`` run by ``runner``, after a miss filled it."""
    cache = AsyncCache(stores=[AsyncMemStore()])
    cleanups.callback(lambda: runner.run(cache.close()))
    if runner.run(cache.get_bytes(KEY, afetch)) != VALUE:
        raise RuntimeError("the async warm-up read did not return the value")
    return async_cache_hit_loop(runner, cache)


def hot_path(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Tier-0 memory hit of 1 KiB (get + read + close) against cachetools under a lock with a BytesIO read."""
    n = options.iterations
    runner = cleanups.enter_context(asyncio.Runner())
    cases = [
        Case("cachetools", "LRUCache + threading.Lock + BytesIO(v).read()", "ns/op", ns_per_op(_locked_lru_loop(), n)),
        Case("sync", "Cache([MemStore])", "ns/op", ns_per_op(sync_hit_loop([MemStore()], cleanups), n)),
        Case(
            "sync-tagged",
            "Cache([MemStore]), an entry with 2 tags, get(tags=...)",
            "ns/op",
            ns_per_op(tagged_hit_loop(cleanups), n),
        ),
        Case(
            "get-value",
            "Cache([MemStore]).get_value, a small JSON value",
            "ns/op",
            ns_per_op(value_hit_loop(cleanups), n),
        ),
        Case(
            "decorated",
            "a Cache.cached function, key template",
            "ns/op",
            ns_per_op(decorated_hit_loop(cleanups, template=True), n),
        ),
        Case(
            "decorated-default-key",
            "a Cache.cached function, the default key (canonical JSON of the arguments)",
            "ns/op",
            ns_per_op(decorated_hit_loop(cleanups, template=False), n),
        ),
        Case(
            "async",
            "AsyncCache([AsyncMemStore])",
            "ns/op",
            ns_per_op(async_hit_loop(runner, cleanups), n),
        ),
    ]
    ratios = [
        Ratio("sync / cachetools", "sync", "cachetools", 3.0),
        Ratio("async / sync", "async", "sync", 2.0),
        # A tagged hit checks its tag arguments and finds its recorded versions current in the memo (rule Q4):
        # a few hundred ns, no store call while the memo holds them.
        Ratio("sync-tagged / sync", "sync-tagged", "sync", 1.5),
        # What a Python value costs over bytes (JSON decoding, the serializer check) and what the decorator adds
        # (binding the arguments, making the key): reported, no goal yet.
        Ratio("get-value / sync", "get-value", "sync"),
        Ratio("decorated / get-value", "decorated", "get-value"),
        Ratio("decorated-default-key / get-value", "decorated-default-key", "get-value"),
    ]
    return cases, ratios


TIER_COUNTS = (1, 2, 3, 5, 8)


def n_tier(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """A tier-0 hit must cost the same whatever the number of tiers behind it."""
    cases = [
        Case(
            f"{count}-tier",
            f"Cache([MemStore] * {count}), tier-0 hit",
            "ns/op",
            ns_per_op(sync_hit_loop([MemStore() for _ in range(count)], cleanups), options.iterations),
        )
        for count in TIER_COUNTS
    ]
    ratios = [Ratio(f"{count}-tier / 1-tier", f"{count}-tier", "1-tier", 1.1) for count in TIER_COUNTS[1:]]
    return cases, ratios
