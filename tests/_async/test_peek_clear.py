"""Cache-aside without a fetcher (rules L1, L2) and clearing every tier (rules W10, G8, K5)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from obstore.store import MemoryStore

import daramjwee as dj
from _flavours import AsyncGate, async_start
from _servers import RedisServer
from daramjwee.testing import AsyncFaultyStore

from ._helpers import Origin, eventually, holding, mem_tiers, put, read_tier


async def quiet(cache: dj.AsyncCache) -> None:
    """Wait until no write, fan-out or refresh of the cache is in flight."""
    await eventually(lambda: cache._writes.in_flight() == 0 and not len(cache._fan_outs) and not cache._refreshing)


# -- peek (rule L1) ------------------------------------------------------------------------


async def test_peek_serves_a_lower_tier_hit_without_promoting_it() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"value", dj.Metadata(etag="e", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert (response.source, response.stale, response.metadata.etag) == (1, False, "e")
            assert await response.read() == b"value"
        await quiet(cache)
        assert holding(tiers, "k") == [False, True], "peek writes nothing"
        assert cache.stats().tiers[1].hits == 1


async def test_peek_of_a_missing_key_is_none_and_asks_nobody() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.peek("k") is None
        assert not cache._flights
        assert cache._writes.in_flight() == 0
        stats = cache.stats()
        assert (stats.origin_fetches, stats.tiers[0].misses, stats.tiers[1].misses) == (0, 1, 1)
        assert holding(tiers, "k") == [False, False]


async def test_peek_reports_a_stale_entry_as_stale_and_schedules_no_refresh() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", dj.Metadata(cached_at=1.0, must_revalidate=True))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert response.stale
            assert await response.read() == b"old"
        await quiet(cache)
        stats = cache.stats()
        assert (stats.stale_hits, stats.refreshes_scheduled, stats.origin_fetches) == (1, 0, 0)


async def test_peek_of_a_negative_entry_raises_not_found_like_get() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", Origin().fetcher("k"))  # the origin says: not found (cached)
        await quiet(cache)
        with pytest.raises(dj.NotFound):
            await cache.peek("k")
        assert not await cache.contains("k")
        assert cache.stats().origin_fetches == 1


async def test_peek_skips_a_failing_tier() -> None:
    tiers = mem_tiers(2)
    await put(tiers[0], "k", b"tier0")
    await put(tiers[1], "k", b"tier1")
    tiers[0].fail("get_stream")
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert (response.source, await response.read()) == (1, b"tier1")
        assert cache.stats().tiers[0].errors == 1


async def test_peek_finds_a_value_still_in_transit_to_the_lower_tiers() -> None:
    tiers = mem_tiers(2)
    tiers[1].delay("begin_set", 0.3)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"value")
        await tiers[0].inner.delete("k")  # tier 0 dropped it; the fan-out still carries it
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert await response.read() == b"value"
        assert await cache.contains("k")
        assert cache.stats().transit_hits == 1


async def test_peek_and_contains_check_arguments_and_refuse_a_closed_cache() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(1))
    for bad in ("", None, 3):
        with pytest.raises((TypeError, ValueError)):
            await cache.peek(bad)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError)):
            await cache.contains(bad)  # type: ignore[arg-type]
    await cache.close()
    with pytest.raises(dj.CacheClosed):
        await cache.peek("k")
    with pytest.raises(dj.CacheClosed):
        await cache.contains("k")
    with pytest.raises(dj.CacheClosed):
        await cache.clear()


# -- contains (rule L2) --------------------------------------------------------------------


async def test_contains_answers_from_stat_without_opening_a_body() -> None:
    tiers = mem_tiers(3)
    await put(tiers[1], "fresh", b"v")
    await put(tiers[2], "stale", b"v", dj.Metadata(cached_at=1.0))
    await put(tiers[0], "negative", b"", dj.Metadata(is_negative=True, cached_at=time.time()))
    await put(tiers[1], "negative", b"lower", dj.Metadata(cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        assert await cache.contains("fresh")
        assert await cache.contains("stale")
        assert not await cache.contains("negative"), "the fastest entry answers, and it is negative"
        assert not await cache.contains("missing")
        assert [tier.calls["get_stream"] for tier in tiers] == [0, 0, 0]
        assert cache.stats().origin_fetches == 0


async def test_contains_skips_a_failing_tier() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"v")
    tiers[0].fail("stat")
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.contains("k")
        assert cache.stats().tiers[0].errors == 1


# -- clear (rules W10, G8) -------------------------------------------------------------------


async def test_clear_empties_every_tier(tmp_path: Path) -> None:
    tiers: list[dj.AsyncStore] = [dj.AsyncMemStore(), dj.AsyncFileStore(tmp_path / "files")]
    async with dj.AsyncCache(stores=tiers) as cache:
        for index in range(5):
            await cache.set_bytes(f"k{index}", b"v%d" % index)
        await quiet(cache)
        assert await cache.contains("k0")
        await cache.clear()
        for index in range(5):
            assert await cache.peek(f"k{index}") is None
            for tier in tiers:
                with pytest.raises(dj.NotFound):
                    await tier.stat(f"k{index}")
        await cache.set_bytes("k0", b"again")
        assert await cache.get_bytes("k0", Origin().fetcher("k0")) == b"again"


async def test_clear_refuses_before_touching_any_tier_when_a_store_cannot_clear() -> None:
    class NoClear:
        """A memory store without the optional ``clear``."""

        def __init__(self) -> None:
            self._inner = dj.AsyncMemStore()
            self.get_stream = self._inner.get_stream
            self.begin_set = self._inner.begin_set
            self.delete = self._inner.delete
            self.stat = self._inner.stat
            self.close = self._inner.close

    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=[tiers[0], NoClear()]) as cache:  # type: ignore[list-item]
        await cache.set_bytes("k", b"v")
        with pytest.raises(TypeError, match=r"stores\[1\] \(NoClear\)"):
            await cache.clear()
        assert holding(tiers, "k") == [True]


async def test_a_tier_failing_to_clear_is_a_tier_error_after_every_tier_was_tried() -> None:
    tiers = mem_tiers(3)
    for tier in tiers:
        await put(tier, "k", b"v")
    tiers[1].fail("clear")
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.TierError) as raised:
            await cache.clear()
        assert (raised.value.tier, raised.value.op) == (1, "clear")
        assert "failed to clear" in str(raised.value)
        assert holding(tiers, "k") == [False, True, False]


async def test_a_fill_in_flight_during_clear_does_not_publish_its_value_afterwards() -> None:
    tiers = mem_tiers(2)
    entered, release = AsyncGate(), AsyncGate()

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        entered.set()
        await release.wait()
        return dj.FetchResult(b"from before the clear")

    async with dj.AsyncCache(stores=tiers) as cache:
        reader = async_start(lambda: cache.get_bytes("k", fetch))
        await entered.wait()
        await cache.clear()
        release.set()
        assert await reader.result() == b"from before the clear"  # the caller still gets its answer
        await quiet(cache)
        assert holding(tiers, "k") == [False, False]
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)


async def test_a_promotion_open_across_a_clear_does_not_publish() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"lower value")
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        assert response.source == 1
        first = await response.read(3)
        await cache.clear()
        assert first + await response.read() == b"lower value"
        await response.aclose()
        await quiet(cache)
        assert holding(tiers, "k") == [False, False]


async def test_a_fan_out_in_flight_during_clear_does_not_land() -> None:
    tiers = mem_tiers(2)
    tiers[1].delay("begin_set", 0.2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v")
        await eventually(lambda: tiers[1].calls["begin_set"] == 1)  # the fan-out is copying
        await cache.clear()
        await quiet(cache)
        assert holding(tiers, "k") == [False, False]
        assert await cache.peek("k") is None


async def test_a_reader_open_across_a_clear_still_reads_its_value(tmp_path: Path) -> None:
    value = bytes(range(256)) * 1024
    store = dj.AsyncFileStore(tmp_path / "files", chunk_size=4096)
    async with dj.AsyncCache(stores=[store], chunk_size=4096) as cache:
        await cache.set_bytes("k", value)
        response = await cache.peek("k")
        assert response is not None
        async with response:
            head = await response.read(100)
            await cache.clear()
            assert head + await response.read() == value
        assert not await cache.contains("k")


async def test_a_set_after_a_clear_publishes_and_fans_out() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old")
        await cache.clear()
        await cache.set_bytes("k", b"new")
        await eventually(lambda: holding(tiers, "k") == [True, True])
        assert [await read_tier(tier, "k") for tier in tiers] == [b"new", b"new"]


# -- clear on each store (rule K5) -------------------------------------------------------


async def test_file_store_clear_removes_entries_another_store_wrote_and_keeps_writers_at_work(
    tmp_path: Path,
) -> None:
    mine = dj.AsyncFileStore(tmp_path / "shared")
    theirs = dj.AsyncFileStore(tmp_path / "shared")  # another process, say: mine does not index its entries
    await put(theirs, "k", b"theirs")  # type: ignore[arg-type]
    sink = await theirs.begin_set("open", dj.Metadata())
    await sink.write(b"x" * 100_000)  # past the first chunk: a temp file on disk
    await mine.clear()
    with pytest.raises(dj.NotFound):
        await theirs.stat("k")
    await sink.commit()  # a writer at work was not disturbed
    assert await read_tier(theirs, "open") == b"x" * 100_000
    assert (tmp_path / "shared").is_dir()
    assert mine.used == 0


async def test_redis_store_clear_leaves_keys_outside_its_prefix(redis_server: RedisServer, redis_prefix: str) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=f"{redis_prefix}a*", chunk_size=100)
    longer = dj.AsyncRedisStore(redis_server.url, prefix=f"{redis_prefix}ab", chunk_size=100)
    try:
        await put(store, "k", b"v" * 350)  # type: ignore[arg-type]
        await put(longer, "k", b"w" * 350)  # type: ignore[arg-type]
        await store.clear()
        with pytest.raises(dj.NotFound):
            await store.stat("k")
        assert await read_tier(longer, "k") == b"w" * 350
    finally:
        await longer.clear()
        await store.close()
        await longer.close()


async def test_object_store_clear_leaves_a_store_nested_under_its_prefix() -> None:
    backend = MemoryStore()
    outer = dj.AsyncObjectStore(backend, "p")
    inner = dj.AsyncObjectStore(backend, "p/q")
    await put(outer, "k", b"outer")  # type: ignore[arg-type]
    await put(inner, "k", b"inner")  # type: ignore[arg-type]
    await outer.clear()
    with pytest.raises(dj.NotFound):
        await outer.stat("k")
    assert await read_tier(inner, "k") == b"inner"


async def test_the_faulty_wrapper_offers_clear_only_when_its_store_does() -> None:
    assert AsyncFaultyStore(dj.AsyncMemStore()).clear is not None

    class Bare:
        async def get_stream(self, key: str, /) -> object:
            raise dj.NotFound(key)

    assert AsyncFaultyStore(Bare()).clear is None  # type: ignore[arg-type]
