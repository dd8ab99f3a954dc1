"""Close (rules C1-C4) and the shutdown of background work."""

from __future__ import annotations

import pytest

import daramjwee as dj
from _flavours import async_run_concurrently

from ._helpers import Origin, holding, mem_tiers, put


async def test_closed_cache_rejects_every_operation() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(1))
    await cache.close()
    assert cache.closed
    origin = Origin({"k": b"v"})
    with pytest.raises(dj.CacheClosed):
        await cache.get("k", origin.fetcher("k"))
    with pytest.raises(dj.CacheClosed):
        cache.set("k")
    with pytest.raises(dj.CacheClosed):
        await cache.delete("k")
    with pytest.raises(dj.CacheClosed):
        await cache.schedule_refresh("k", origin.fetcher("k"))
    assert origin.calls == 0


async def test_streams_handed_out_before_close_stay_readable() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"lower value")
    cache = dj.AsyncCache(stores=tiers)
    response = await cache.get("k", Origin().fetcher("k"))
    await cache.close()
    assert await response.read() == b"lower value"
    await response.aclose()


async def test_double_and_concurrent_close_are_safe() -> None:
    tiers = mem_tiers(2)
    cache = dj.AsyncCache(stores=tiers)
    results = await async_run_concurrently([cache.close] * 5)
    assert results == [None] * 5
    await cache.close()
    assert [tier.calls["close"] for tier in tiers] == [1, 1]


async def test_close_drains_queued_background_jobs() -> None:
    origin = Origin({f"k{i}": b"v" for i in range(6)}, delay=0.05)
    tiers = mem_tiers(1)
    cache = dj.AsyncCache(stores=tiers, workers=1)
    for i in range(6):
        await cache.schedule_refresh(f"k{i}", origin.fetcher(f"k{i}"))
    await cache.close()
    assert cache.stats().refreshes_completed == 6


async def test_close_timeout_bounds_the_drain() -> None:
    origin = Origin({f"k{i}": b"v" for i in range(5)}, delay=0.3)
    cache = dj.AsyncCache(stores=mem_tiers(1), workers=1, close_timeout=0.1)
    for i in range(5):
        await cache.schedule_refresh(f"k{i}", origin.fetcher(f"k{i}"))
    await cache.close()
    assert cache.stats().refreshes_completed < 5


async def test_response_and_writer_close_twice() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        response = await cache.get("k", Origin({"k": b"v"}).fetcher("k"))
        await response.aclose()
        await response.aclose()
        with pytest.raises(ValueError, match="closed"):
            await response.read()
        writer = cache.set("w")
        await writer.abort()
        await writer.abort()


async def test_store_close_failure_is_logged_and_other_stores_still_close() -> None:
    tiers = mem_tiers(2)
    tiers[0].fail("close")
    cache = dj.AsyncCache(stores=tiers)
    await cache.close()
    assert tiers[1].calls["close"] == 1
    assert cache.stats().tiers[0].errors == 1


async def test_fill_finishing_after_close_does_not_crash() -> None:
    tiers = mem_tiers(2)
    cache = dj.AsyncCache(stores=tiers)
    response = await cache.get("k", Origin({"k": b"value"}).fetcher("k"))
    await cache.close()
    assert await response.read() == b"value"
    await response.aclose()
    assert cache.stats().fanouts_rejected == 1, "the fan-out after close is rejected and counted"


async def test_stream_outlives_the_operation_timeout_of_get() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"x" * 10_000)
    tiers[1].delay("read", 0.02)
    async with dj.AsyncCache(stores=tiers, op_timeout=0.01, chunk_size=1000) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            chunks = [chunk async for chunk in response]
        assert b"".join(chunks) == b"x" * 10_000
        assert holding(tiers, "k") == [True, True]
