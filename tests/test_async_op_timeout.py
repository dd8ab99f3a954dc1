"""``op_timeout`` cancels hung store calls in AsyncCache (threads cannot be cancelled: async only)."""

from __future__ import annotations

import time

import daramjwee as dj
from daramjwee.testing import AsyncFaultyStore


async def test_hung_lower_tier_is_a_tier_error_and_the_walk_goes_on() -> None:
    hung = AsyncFaultyStore(dj.AsyncMemStore())
    for op in ("get_stream", "begin_set", "close"):
        hung.delay(op, 30.0)

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(b"from origin")

    started = time.monotonic()
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), hung], op_timeout=0.1, close_timeout=2) as cache:
        assert await cache.get_bytes("k", fetch) == b"from origin"
    assert time.monotonic() - started < 5
    stats = cache.stats()
    assert stats.tiers[1].errors >= 2, "the walk and the fan-out both gave up on tier 1"
    assert stats.fanouts_failed == 1


async def test_a_memory_tier_is_never_wrapped() -> None:
    store = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[store, AsyncFaultyStore(dj.AsyncMemStore(), latency=0.01)]) as cache:
        assert cache._tiers[0] is store
        assert cache._tiers[1] is not cache.stores[1]
