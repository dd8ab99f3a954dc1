"""Single-flight (rules S1-S6): concurrent misses of one key cause one origin fetch."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._async_primitives import async_sleep

from ._helpers import Origin, mem_tiers


async def test_fifty_concurrent_misses_cause_one_origin_fetch() -> None:
    value = os.urandom(100_000)
    origin = Origin({"k": value}, delay=0.2)
    async with dj.AsyncCache(stores=mem_tiers(3)) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        results = await async_run_concurrently([reader] * 50)
        assert results == [value] * 50
        assert origin.calls == 1
        assert cache.stats().coalesced_waiters == 49


async def test_a_waiters_response_says_it_was_coalesced_and_a_hit_does_not() -> None:
    origin = Origin({"k": b"value" * 100}, delay=0.2)
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        async def reader() -> tuple[int | None, bool]:
            async with await cache.get("k", origin.fetcher("k")) as response:
                await response.read()
                return response.source, response.coalesced

        async def ranged_reader() -> tuple[int | None, bool]:
            async with await cache.get("r", origin.fetcher("k"), byte_range=dj.ByteRange(0, 10)) as response:
                await response.read()
                return response.source, response.coalesced

        results = await async_run_concurrently([reader] * 10)
        assert sorted(results, key=str) == [(0, True)] * 9 + [(None, False)]  # type: ignore[arg-type]
        assert cache.stats().coalesced_waiters == 9
        assert await reader() == (0, False)  # a plain hit afterwards waited for nobody
        ranged = await async_run_concurrently([ranged_reader] * 4)
        assert sorted(ranged, key=str) == [(0, True)] * 3 + [(None, False)]  # type: ignore[arg-type]
        assert await ranged_reader() == (0, False)


async def test_waiters_of_a_value_too_large_for_tier_0_are_coalesced_too() -> None:
    origin = Origin({"k": os.urandom(10_000)}, delay=0.2)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore("1KiB"), dj.AsyncMemStore()]) as cache:

        async def reader() -> tuple[bool, bool]:
            async with await cache.get("k", origin.fetcher("k")) as response:
                await response.read()
                return response.source is None, response.coalesced

        results = await async_run_concurrently([reader] * 5)
        assert sorted(results) == [(False, True)] * 4 + [(True, False)]  # type: ignore[type-var]
        assert origin.calls == 1


async def test_waiters_of_a_revalidation_are_coalesced() -> None:
    calls = 0

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        if old is not None:
            await async_sleep(0.2)
            raise dj.NotModified()
        return dj.FetchResult(b"value", dj.Metadata(etag='"v1"', fresh_for=0.05, stale_while_revalidate=0))

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        assert await cache.get_bytes("k", fetch) == b"value"
        await async_sleep(0.1)  # stale, with no window to serve it stale: the next reads revalidate first

        async def reader() -> tuple[int | None, bool]:
            async with await cache.get("k", fetch) as response:
                assert await response.read() == b"value"
                return response.source, response.coalesced

        results = await async_run_concurrently([reader] * 5)
        assert sorted(results, key=str) == [(0, False)] + [(0, True)] * 4  # type: ignore[arg-type]
        assert calls == 2
        assert cache.stats().revalidations == 1


async def test_failed_leader_lets_a_waiter_retry_and_lead() -> None:
    origin = Origin({"k": b"value"}, delay=0.1)
    attempts = 0
    real = origin.fetcher("k")

    async def flaky(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await real(old)
            raise ConnectionError("first attempt fails")
        return await real(old)

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", flaky)

        results = await async_run_concurrently([reader] * 5)
        assert sum(isinstance(result, ConnectionError) for result in results) == 1
        assert results.count(b"value") == 4
        assert attempts == 2


async def test_waiter_whose_wait_runs_out_fetches_for_itself_without_caching() -> None:
    origin = Origin({"k": b"value"}, delay=0.6)
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, coalesce_wait=0.1) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        results = await async_run_concurrently([reader] * 3)
        assert results == [b"value"] * 3
        assert origin.calls == 3
        assert cache.stats().fills_published == 1


async def test_walk_error_skips_coalescing() -> None:
    origin = Origin({"k": b"value"}, delay=0.2)
    tiers = mem_tiers(2)
    tiers[1].fail("get_stream")
    async with dj.AsyncCache(stores=tiers) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        results = await async_run_concurrently([reader] * 4)
        assert results == [b"value"] * 4
        assert origin.calls == 4
        assert cache.stats().coalesced_waiters == 0


async def test_abandoned_leader_does_not_block_later_misses_forever() -> None:
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=mem_tiers(1), coalesce_wait=0.05) as cache:
        leaked = await cache.get("k", origin.fetcher("k"))
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        assert cache.stats().coalesced_waiters == 1
        await leaked.aclose()


async def test_concurrent_cacheable_not_found_is_fetched_once() -> None:
    origin = Origin(delay=0.1)
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        results = await async_run_concurrently([reader] * 10)
        assert all(isinstance(result, dj.NotFound) for result in results)
        assert origin.calls == 1


async def test_miss_that_overlaps_a_landing_flight_does_not_fetch_again() -> None:
    origin = Origin({"k": b"value"}, delay=0.05)
    tiers = mem_tiers(2)
    tiers[1].latency = 0.1

    def reader_after(delay: float) -> Callable[[], Awaitable[bytes]]:
        async def reader() -> bytes:
            await async_sleep(delay)
            return await cache.get_bytes("k", origin.fetcher("k"))

        return reader

    async with dj.AsyncCache(stores=tiers) as cache:
        results = await async_run_concurrently([reader_after(0.0), reader_after(0.12)])
        assert results == [b"value", b"value"]
        assert origin.calls == 1, "the second miss found tier 0 filled once it could lead"
