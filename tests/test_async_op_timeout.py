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


async def test_peek_and_contains_skip_a_hung_tier_after_op_timeout() -> None:
    hung = AsyncFaultyStore(dj.AsyncMemStore())
    lower = dj.AsyncMemStore()
    sink = await lower.begin_set("k", dj.Metadata(cached_at=time.time()))
    await sink.write(b"lower")
    await sink.commit()
    hung.delay("get_stream", 30.0)
    hung.delay("stat", 30.0)
    started = time.monotonic()
    async with dj.AsyncCache(stores=[hung, lower], op_timeout=0.1, close_timeout=2) as cache:
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert (response.source, await response.read()) == (1, b"lower")
        assert await cache.contains("k")
    assert time.monotonic() - started < 5
    assert cache.stats().tiers[0].errors == 2
