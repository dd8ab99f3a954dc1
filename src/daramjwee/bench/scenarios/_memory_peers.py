"""Scenario ``memory-peers``: a tier-0 memory hit of the same 1 KiB value against in-memory cache libraries.

Every case stores ``VALUE`` under ``KEY`` before timing (the setup asserts it
reads back once), then times ``n`` hits in one loop and reports ns per hit:

- ``daramjwee-sync``: ``with cache.get(KEY, fetch) as r: r.read()`` on ``Cache([MemStore()])``;
- ``cachebox``: ``cachebox.LRUCache.get(KEY)`` (the cache is thread-safe itself; the value is bytes);
- ``theine``: ``theine.Cache.get(KEY)`` with its default lock (returns ``(value, found)``);
- ``dogpile``: ``region.get(KEY)`` on ``make_region().configure("dogpile.cache.memory")``;
- ``daramjwee-async``: ``async with await cache.get(KEY, afetch) as r: await r.read()``
  on ``AsyncCache([AsyncMemStore()])``;
- ``cashews``: ``await cache.get(KEY)`` on a ``cashews.Cache`` set up with ``"mem://"``;
- ``aiocache``: ``await cache.get(KEY)`` on ``aiocache.SimpleMemoryCache`` (its default null serializer).

The peers return the stored bytes object itself; daramjwee reads it through a
response.  Async cases loop inside one coroutine, one ``asyncio.Runner.run`` per sample.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack

import aiocache  # type: ignore[import-untyped]
import cachebox
import cashews
import theine
from dogpile.cache import make_region

from ... import MemStore
from .._model import Case, Ratio
from ._common import KEY, VALUE, Options, async_get_loop, get_loop, ns_per_op
from ._memory_hits import async_hit_loop, sync_hit_loop

__all__ = ["memory_peers"]


def _cachebox_loop() -> Callable[[int], int]:
    lru: cachebox.LRUCache[str, bytes] = cachebox.LRUCache(maxsize=1024)
    lru[KEY] = VALUE
    assert lru.get(KEY) == VALUE
    return get_loop(lru.get)


def _theine_loop(cleanups: ExitStack) -> Callable[[int], int]:
    cache: theine.Cache[str, bytes] = theine.Cache(1024)
    cleanups.callback(cache.close)
    cache.set(KEY, VALUE)
    assert cache.get(KEY) == (VALUE, True)
    return get_loop(cache.get)


def _dogpile_loop() -> Callable[[int], int]:
    region = make_region().configure("dogpile.cache.memory")
    region.set(KEY, VALUE)
    assert region.get(KEY) == VALUE
    return get_loop(region.get)


def _async_loops(cleanups: ExitStack) -> dict[str, Callable[[int], int]]:
    """One runner for the three async cases: daramjwee, cashews and aiocache, each filled and checked once."""
    runner = cleanups.enter_context(asyncio.Runner())
    daramjwee = async_hit_loop(runner, cleanups)

    mem = cashews.Cache()
    mem.setup("mem://")
    cleanups.callback(lambda: runner.run(mem.close()))
    runner.run(mem.set(KEY, VALUE))
    assert runner.run(mem.get(KEY)) == VALUE

    simple = aiocache.SimpleMemoryCache()
    cleanups.callback(lambda: runner.run(simple.close()))
    runner.run(simple.set(KEY, VALUE))
    assert runner.run(simple.get(KEY)) == VALUE

    return {
        "daramjwee-async": daramjwee,
        "cashews": async_get_loop(runner, mem.get),
        "aiocache": async_get_loop(runner, simple.get),
    }


def memory_peers(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Tier-0 memory hit of 1 KiB against cachebox, theine, dogpile (sync) and cashews, aiocache (async)."""
    n = options.iterations
    async_loops = _async_loops(cleanups)
    cases = [
        Case(
            "daramjwee-sync",
            "Cache([MemStore]), get + read + close",
            "ns/op",
            ns_per_op(sync_hit_loop([MemStore()], cleanups), n),
        ),
        Case("cachebox", "cachebox.LRUCache.get", "ns/op", ns_per_op(_cachebox_loop(), n)),
        Case("theine", "theine.Cache.get (locked)", "ns/op", ns_per_op(_theine_loop(cleanups), n)),
        Case("dogpile", 'dogpile region "dogpile.cache.memory" get', "ns/op", ns_per_op(_dogpile_loop(), n)),
        Case(
            "daramjwee-async",
            "AsyncCache([AsyncMemStore]), get + read + close",
            "ns/op",
            ns_per_op(async_loops["daramjwee-async"], n),
        ),
        Case("cashews", 'cashews.Cache "mem://" await get', "ns/op", ns_per_op(async_loops["cashews"], n)),
        Case("aiocache", "aiocache.SimpleMemoryCache await get", "ns/op", ns_per_op(async_loops["aiocache"], n)),
    ]
    ratios = [
        Ratio("daramjwee-sync / cachebox", "daramjwee-sync", "cachebox"),
        Ratio("daramjwee-sync / theine", "daramjwee-sync", "theine"),
        Ratio("daramjwee-sync / dogpile", "daramjwee-sync", "dogpile"),
        Ratio("daramjwee-async / cashews", "daramjwee-async", "cashews"),
        Ratio("daramjwee-async / aiocache", "daramjwee-async", "aiocache"),
    ]
    return cases, ratios
