"""The tier walk (rules T1-T5) and tier-0 hits: freshness (F1, F3) and negative entries (N3)."""

from __future__ import annotations

import logging
import time

import pytest

import daramjwee as dj
from daramjwee.testing import AsyncFaultyStore

from ._helpers import Origin, eventually, holding, mem_tiers, put


async def test_cache_holds_stores_in_the_given_order() -> None:
    tiers = mem_tiers(4)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert cache.stores == tuple(tiers)


async def test_walk_serves_from_the_first_tier_holding_the_key() -> None:
    tiers = mem_tiers(3)
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=tiers) as cache:
        await put(tiers[2], "k", b"from two")
        tiers[2].calls.clear()
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 2
            assert await response.read() == b"from two"
        assert origin.calls == 0
        # the fast lookup, then once more under the write ticket that fences the promotion (rule G1)
        assert tiers[0].calls["get_stream"] == 2
        assert tiers[1].calls["get_stream"] == 1
        stats = cache.stats()
        assert [tier.misses for tier in stats.tiers] == [1, 1, 0]
        assert stats.tiers[2].hits == 1


async def test_store_error_is_logged_and_the_walk_continues(caplog: pytest.LogCaptureFixture) -> None:
    tiers = mem_tiers(3)
    tiers[0].fail("get_stream")
    tiers[1].fail("get_stream")
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=tiers) as cache:
        with caplog.at_level(logging.WARNING, logger="daramjwee"):
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        failures = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert [(record.tier, record.key) for record in failures[:2]] == [(0, "k"), (1, "k")]  # type: ignore[attr-defined]
        assert [tier.errors for tier in cache.stats().tiers][:2] == [1, 1]
        assert origin.calls == 1


async def test_only_a_body_already_in_memory_says_in_memory() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"value", "low": b"low value"})
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert (response.source, response.in_memory) == (None, False)
            assert await response.read() == b"value"
        await eventually(lambda: holding(tiers, "k") == [True, True])
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert (response.source, response.in_memory) == (0, True)
            assert await response.read() == b"value"
        async with await cache.get("k", origin.fetcher("k"), byte_range=dj.ByteRange(1, 3)) as response:
            assert (response.source, response.in_memory) == (0, False)
            assert await response.read() == b"al"
        async with await cache.get("k", origin.fetcher("k"), if_none_match="*") as response:
            assert (response.status, response.in_memory) == (dj.Status.NOT_MODIFIED, False)
        await put(tiers[1], "low", b"low value")
        async with await cache.get("low", origin.fetcher("low")) as response:
            assert (response.source, response.in_memory) == (1, False)
            assert await response.read() == b"low value"


async def test_failing_upper_tier_does_not_fail_a_lower_hit() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v")
        await eventually(lambda: holding(tiers, "k") == [True, True])
        tiers[0].fail("get_stream")
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 1
            assert await response.read() == b"v"


@pytest.mark.parametrize("memory_lookup", [False, True])
async def test_store_returning_none_metadata_is_a_tier_error_not_a_crash(memory_lookup: bool) -> None:
    class BrokenStore(AsyncFaultyStore):
        lookup = None

        async def get_stream(self, key: str, /) -> tuple[dj.AsyncReader, dj.Metadata]:
            reader, _ = await super().get_stream(key)
            return reader, None  # type: ignore[return-value]

        def broken_lookup(self, key: str) -> tuple[bytes, dj.Metadata]:
            return b"corrupt", None  # type: ignore[return-value]

    broken = BrokenStore(dj.AsyncMemStore())
    if memory_lookup:
        broken.lookup = broken.broken_lookup  # type: ignore[attr-defined]
    await put(broken, "k", b"corrupt")
    origin = Origin({"k": b"good"})
    async with dj.AsyncCache(stores=[broken, dj.AsyncMemStore()]) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"good"
        assert cache.stats().tiers[0].errors == 1


async def test_fresh_tier0_hit_streams_without_origin_or_refresh() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"v" * 100})
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 0
            assert response.status is dj.Status.OK
            assert response.metadata.etag == "v1"
            assert await response.read(10) == b"v" * 10
            assert await response.read() == b"v" * 90
        assert origin.calls == 1
        assert cache.stats().refreshes_scheduled == 0


async def test_stale_tier0_hit_is_served_then_refreshed_once_closed() -> None:
    tiers = mem_tiers(1)
    origin = Origin({"k": b"old"})
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=0.2) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        origin.values["k"] = b"new"
        time.sleep(0.25)
        response = await cache.get("k", origin.fetcher("k"))
        assert await response.read(1) == b"o"
        assert cache.stats().refreshes_scheduled == 0
        await response.aclose()
        assert cache.stats().refreshes_scheduled == 1
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"new"
        assert origin.olds[-1] is not None
        assert origin.olds[-1].etag == "v1"


async def test_stale_hit_read_to_eof_schedules_refresh_before_close() -> None:
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=mem_tiers(1), positive_fresh_for=0) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        response = await cache.get("k", origin.fetcher("k"))
        assert response.stale
        assert await response.read() == b"v"
        assert cache.stats().refreshes_scheduled == 1
        await response.aclose()
        assert cache.stats().stale_hits == 1


async def test_a_response_says_whether_it_served_a_stale_entry() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers, tier_fresh_for={0: (3600, 60), 1: (0, 60)}) as cache:
        await put(tiers[0], "fresh", b"f")
        await put(tiers[1], "old", b"o")
        async with await cache.get("fresh", Origin().fetcher("fresh")) as response:
            assert not response.stale
        async with await cache.get("old", Origin({"old": b"n"}).fetcher("old")) as response:
            assert response.stale
            assert response.source == 1
        async with await cache.get("miss", Origin({"miss": b"m"}).fetcher("miss")) as response:
            assert not response.stale
            assert response.source is None


async def test_freshness_zero_means_always_stale() -> None:
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=mem_tiers(1), positive_fresh_for=0) as cache:
        for _ in range(3):
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"v"
            await eventually(lambda: not cache._refreshing)
        assert cache.stats().stale_hits == 2
        assert origin.calls == 3


async def test_freshness_none_never_goes_stale() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=None) as cache:
        await put(tiers[0], "k", b"ancient", dj.Metadata(cached_at=0.0))
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"ancient"
        assert cache.stats().stale_hits == 0


async def test_unknown_cached_at_is_stale_when_freshness_is_set() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=3600) as cache:
        await put(tiers[0], "k", b"x", dj.Metadata(cached_at=0.0))
        await cache.get_bytes("k", Origin({"k": b"y"}).fetcher("k"))
        assert cache.stats().stale_hits == 1


async def test_negative_tier0_entry_raises_not_found() -> None:
    origin = Origin()
    async with dj.AsyncCache(stores=mem_tiers(1), negative_fresh_for=60) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("gone", origin.fetcher("gone"))
        with pytest.raises(dj.NotFound):
            await cache.get("gone", origin.fetcher("gone"))
        assert origin.calls == 1
        assert cache.stats().negative_hits == 1


async def test_stale_negative_entry_raises_and_schedules_refresh() -> None:
    origin = Origin()
    async with dj.AsyncCache(stores=mem_tiers(1), negative_fresh_for=0) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        origin.values["k"] = b"appeared"
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"appeared"


async def test_tier_fresh_for_overrides_freshness_per_tier() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=None, tier_fresh_for={1: (0, 0)}) as cache:
        await put(tiers[1], "k", b"lower")
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 1
            assert await response.read() == b"lower"
        stats = cache.stats()
        assert stats.stale_hits == 1
        assert stats.tiers[0].promotions == 0


async def test_repr_names_the_chain() -> None:
    cache = dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncMemStore()])
    assert "MemStore -> " in repr(cache)
    await cache.close()
    assert "closed" in repr(cache)
