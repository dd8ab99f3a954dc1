"""Background refresh (rules R1-R5) and the runtime that runs it (rules X3, X5)."""

from __future__ import annotations

import logging
import time

import pytest

import daramjwee as dj
from daramjwee._async_primitives import async_sleep

from ._helpers import Origin, eventually, holding, mem_tiers, put, stat_of


async def test_refresh_writes_tier0_and_fans_out_to_lower_tiers() -> None:
    tiers = mem_tiers(3)
    origin = Origin({"k": b"new"})
    await put(tiers[0], "k", b"old", dj.Metadata(etag="e0", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 1 and cache.stats().fanouts == 1)
        assert origin.olds[0] is not None
        assert origin.olds[0].etag == "e0", "the fetcher gets the current metadata"
        for tier in tiers:
            reader, _ = await tier.get_stream("k")
            assert await reader.read() == b"new"


async def test_refresh_is_deduplicated_per_key() -> None:
    origin = Origin({"k": b"v", "j": b"w"}, delay=0.2)
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        for _ in range(5):
            await cache.schedule_refresh("k", origin.fetcher("k"))
        await cache.schedule_refresh("j", origin.fetcher("j"))
        await eventually(lambda: cache.stats().refreshes_completed == 2)
        assert origin.calls == 2
        assert cache.stats().refreshes_scheduled == 2
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 3)


async def test_full_queue_rejects_schedule_refresh() -> None:
    origin = Origin({f"k{i}": b"v" for i in range(10)}, delay=0.3)
    async with dj.AsyncCache(stores=mem_tiers(1), workers=1, worker_queue=2) as cache:
        await cache.schedule_refresh("k0", origin.fetcher("k0"))
        await eventually(lambda: origin.calls == 1)
        await cache.schedule_refresh("k1", origin.fetcher("k1"))
        await cache.schedule_refresh("k2", origin.fetcher("k2"))
        with pytest.raises(dj.BackgroundJobRejected, match="full"):
            await cache.schedule_refresh("k3", origin.fetcher("k3"))
        assert cache.stats().refreshes_rejected == 1


async def test_rejected_stale_refresh_is_counted_and_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tiers = mem_tiers(1)
    origin = Origin({"busy": b"v", "k": b"v"}, delay=0.3)
    await put(tiers[0], "k", b"stale", dj.Metadata(cached_at=1.0))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, workers=1, worker_queue=1) as cache:
        await cache.schedule_refresh("busy", origin.fetcher("busy"))
        await eventually(lambda: origin.calls == 1)
        await cache.schedule_refresh("filler", origin.fetcher("busy"))
        with caplog.at_level(logging.WARNING, logger="daramjwee"):
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"stale"
        assert cache.stats().refreshes_rejected == 1
        assert any("dropped" in record.getMessage() for record in caplog.records)


async def test_not_modified_refresh_bumps_cached_at_everywhere() -> None:
    tiers = mem_tiers(2)
    origin = Origin()
    origin.outcome = dj.NotModified()
    old = dj.Metadata(etag="e", cached_at=1000.0, attrs={"a": "b"})
    await put(tiers[0], "k", b"body", old)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().fanouts == 1)
        for tier in tiers:
            metadata = await stat_of(tier, "k")
            assert metadata.cached_at > time.time() - 60
            assert metadata.replace(cached_at=1000.0) == old
            reader, _ = await tier.get_stream("k")
            assert await reader.read() == b"body"


async def test_cacheable_not_found_refresh_writes_negative_entry() -> None:
    tiers = mem_tiers(2)
    await put(tiers[0], "k", b"was here")
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", Origin().fetcher("k"))
        await eventually(lambda: cache.stats().fanouts == 1)
        with pytest.raises(dj.NotFound):
            await cache.get("k", Origin().fetcher("k"))
        assert (await stat_of(tiers[1], "k")).is_negative


async def test_failing_refresh_job_does_not_kill_the_worker() -> None:
    origin = Origin({"good": b"v"})
    origin.outcome = RuntimeError("origin down")
    async with dj.AsyncCache(stores=mem_tiers(1), workers=1) as cache:
        await cache.schedule_refresh("bad", origin.fetcher("bad"))
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        origin.outcome = None
        await cache.schedule_refresh("good", origin.fetcher("good"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert await cache.get_bytes("good", Origin().fetcher("good")) == b"v"


async def test_refresh_that_overruns_worker_timeout_publishes_nothing() -> None:
    tiers = mem_tiers(1)
    origin = Origin({"k": b"x" * 4096})
    origin.chunk = 1024
    real = origin.fetcher("k")

    async def slow(old: dj.Metadata | None) -> dj.FetchResult:
        result = await real(old)
        await async_sleep(0.3)
        return result

    async with dj.AsyncCache(stores=tiers, worker_timeout=0.1) as cache:
        await cache.schedule_refresh("k", slow)
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        assert holding(tiers, "k") == [False]


@pytest.mark.parametrize("strategy", ["pool", "all"])
async def test_both_worker_strategies_run_jobs(strategy: str) -> None:
    origin = Origin({f"k{i}": b"v" for i in range(20)})
    async with dj.AsyncCache(stores=mem_tiers(1), worker_strategy=strategy, workers=2) as cache:
        for i in range(20):
            await cache.schedule_refresh(f"k{i}", origin.fetcher(f"k{i}"))
        await eventually(lambda: cache.stats().refreshes_completed == 20)


async def test_not_modified_refresh_without_any_copy_is_a_failed_refresh() -> None:
    origin = Origin()
    origin.outcome = dj.NotModified()
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        assert holding(tiers, "k") == [False, False]


async def test_refresh_writes_through_when_tier0_lost_the_key() -> None:
    tiers = mem_tiers(2)
    origin = Origin()
    origin.outcome = dj.NotModified()
    await put(tiers[1], "k", b"lower copy", dj.Metadata(etag="e", cached_at=1.0))
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().fanouts == 1)
        assert origin.olds[0] == dj.Metadata(etag="e", cached_at=1.0)
        for tier in tiers:
            assert (await stat_of(tier, "k")).cached_at > 1.0
