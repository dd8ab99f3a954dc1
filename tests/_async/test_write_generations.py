"""Rules G1-G7: late writers never win, and a write that never began fences nothing (G4).

Each test reproduces a defect found by tests written outside the project
(issue 11, items 1-6): it failed before the fix.
"""

from __future__ import annotations

import time

import pytest

import daramjwee as dj
from _flavours import AsyncGate, async_start

from ._helpers import Origin, eventually, holding, mem_tiers, put, read_tier, stat_of


def blocked_origin(value: bytes, entered: AsyncGate, release: AsyncGate) -> object:
    """A fetcher that signals ``entered``, then waits for ``release`` before answering ``value``."""

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        entered.set()
        await release.wait()
        return dj.FetchResult(value)

    return fetch


async def test_a_miss_does_not_overwrite_a_set_that_landed_while_the_origin_was_fetching() -> None:
    tiers = mem_tiers(2)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers) as cache:
        reader = async_start(lambda: cache.get_bytes("k", blocked_origin(b"origin-value", entered, release)))
        await entered.wait()
        await cache.set_bytes("k", b"user-value")
        release.set()
        assert await reader.result() == b"origin-value"  # the reader still gets what it asked the origin for
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"user-value"
        assert [await read_tier(tier, "k") for tier in tiers] == [b"user-value", b"user-value"]
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)  # fenced: it ended unpublished


async def test_a_miss_does_not_bring_back_a_key_deleted_while_the_origin_was_fetching() -> None:
    tiers = mem_tiers(2)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers) as cache:
        reader = async_start(lambda: cache.get_bytes("k", blocked_origin(b"origin-value", entered, release)))
        await entered.wait()
        await cache.delete("k")
        release.set()
        assert await reader.result() == b"origin-value"
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert holding(tiers, "k") == [False, False]


async def test_a_stale_reads_refresh_does_not_overwrite_a_set_made_before_the_response_closed() -> None:
    tiers = mem_tiers(1)
    origin = Origin({"k": b"origin"})
    await put(tiers[0], "k", b"old", dj.Metadata(cached_at=1.0))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert response.stale
        assert await response.read(1) == b"o"
        await cache.set_bytes("k", b"user")
        await response.aclose()  # the refresh is scheduled now, but it belongs to the read before the set
        await eventually(lambda: cache._writes.in_flight() == 0)
        await eventually(lambda: not cache._refreshing)
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"user"


async def test_a_refresh_scheduled_after_a_set_still_refreshes() -> None:
    """The fence is the read's, not the key's: a refresh asked for after the set does run and publish."""
    tiers = mem_tiers(1)
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"user")
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"origin"


async def test_a_lower_tier_hit_after_a_tier0_read_error_is_served_but_not_promoted_over_tier0() -> None:
    tiers = mem_tiers(2)
    await put(tiers[0], "k", b"v2")
    await put(tiers[1], "k", b"v1")
    tiers[0].fail("get_stream", times=1)
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 1
            assert await response.read() == b"v1"
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert await read_tier(tiers[0], "k") == b"v2"
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"v2"
        assert cache.stats().tiers[0].promotions == 0


async def test_a_promotion_still_fills_the_faster_tiers_that_missed_when_another_failed() -> None:
    tiers = mem_tiers(3)
    await put(tiers[2], "k", b"v")
    tiers[0].fail("get_stream", times=1)
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 2
            assert await response.read() == b"v"
        assert holding(tiers, "k") == [False, True, True]


async def test_a_304_does_not_mark_an_entry_fresh_that_changed_after_it_was_validated() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"old-body", dj.Metadata(etag="old", cached_at=1.0))
    entered, release = AsyncGate(), AsyncGate()
    olds: list[dj.Metadata | None] = []

    async def validate(old: dj.Metadata | None) -> dj.FetchResult:
        olds.append(old)
        entered.set()
        await release.wait()
        raise dj.NotModified()

    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        async with await cache.get("k", validate) as response:  # stale tier-1 hit: a refresh when it ends
            assert response.stale
            assert await response.read() == b"old-body"
        await entered.wait()
        assert olds == [dj.Metadata(etag="old", cached_at=1.0)]
        await put(tiers[1], "k", b"new-body", dj.Metadata(etag="new", cached_at=2.0))  # changed behind the cache
        release.set()
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert holding(tiers, "k") == [False, True], "the 304 validated 'old', not 'new'"
        assert (await stat_of(tiers[1], "k")).cached_at == 2.0


async def test_a_304_does_not_mark_an_entry_fresh_that_turned_negative_after_it_was_validated() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"body", dj.Metadata(etag="e", cached_at=1.0))
    entered, release = AsyncGate(), AsyncGate()

    async def validate(old: dj.Metadata | None) -> dj.FetchResult:
        entered.set()
        await release.wait()
        raise dj.NotModified()

    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        await cache.schedule_refresh("k", validate)
        await entered.wait()
        await put(tiers[0], "k", b"", dj.Metadata(is_negative=True, cached_at=3.0))
        release.set()
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        assert await stat_of(tiers[0], "k") == dj.Metadata(is_negative=True, cached_at=3.0)


async def test_a_set_that_fails_to_begin_does_not_fence_an_older_open_writer() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        async with cache.set("k") as writer:
            await writer.write(b"first")
            tiers[0].fail("begin_set", times=1)
            with pytest.raises(dj.TierError, match="begin_set"):
                await cache.set_bytes("k", b"second")
        assert writer.published
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"first"


async def test_a_set_that_fails_to_begin_does_not_discard_a_fill_in_flight() -> None:
    tiers = mem_tiers(1)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers) as cache:
        reader = async_start(lambda: cache.get_bytes("k", blocked_origin(b"origin-value", entered, release)))
        await entered.wait()
        tiers[0].fail("begin_set", times=1)
        with pytest.raises(dj.TierError):
            await cache.set_bytes("k", b"never")
        release.set()
        assert await reader.result() == b"origin-value"
        assert cache.stats().fills_published == 1
        assert await read_tier(tiers[0], "k") == b"origin-value"


async def test_a_slow_abort_of_a_superseded_writer_does_not_hold_up_a_newer_commit() -> None:
    tiers = mem_tiers(1)
    tiers[0].delay("abort", 1.0)
    async with dj.AsyncCache(stores=tiers) as cache:
        older = cache.set("k")
        await older.write(b"older")
        newer = cache.set("k")
        await newer.write(b"newer")
        superseded = async_start(older.commit)  # may not publish any more: its sink is aborted, slowly
        await eventually(lambda: tiers[0].calls["abort"] == 1)
        started = time.monotonic()
        await newer.commit()
        assert time.monotonic() - started < 0.5
        assert newer.published
        await superseded.result()
        assert not older.published
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"newer"


async def test_a_slow_delete_of_one_tier_does_not_hold_up_a_commit_of_the_key() -> None:
    tiers = mem_tiers(2)
    tiers[1].delay("delete", 1.0)
    async with dj.AsyncCache(stores=tiers) as cache:
        deleting = async_start(lambda: cache.delete("k"))
        await eventually(lambda: tiers[1].calls["delete"] == 1)
        started = time.monotonic()
        await cache.set_bytes("k", b"v")
        assert time.monotonic() - started < 0.5
        await deleting.result()
