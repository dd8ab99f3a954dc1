"""Set, delete and write generations (rules W5-W9, G1-G7)."""

from __future__ import annotations

import time

import pytest

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._async_primitives import async_sleep

from ._helpers import Origin, eventually, holding, mem_tiers, put, stat_of


async def test_set_publishes_to_tier0_then_fans_out() -> None:
    tiers = mem_tiers(3)
    async with dj.AsyncCache(stores=tiers) as cache:
        writer = cache.set("k", dj.Metadata(etag="s1"))
        async with writer:
            await writer.write(b"hello ")
            await writer.write(memoryview(b"world"))
            assert holding(tiers, "k") == [False, False, False], "nothing visible before publish"
        assert writer.published
        assert holding(tiers, "k")[0]
        await eventually(lambda: holding(tiers, "k") == [True, True, True])
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"hello world"


async def test_old_value_stays_readable_until_the_set_publishes() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old")
        writer = cache.set("k")
        await writer.write(b"new")
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"old"
        await writer.commit()
        await writer.commit()
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"new"


async def test_exception_inside_set_discards_the_write() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old")
        with pytest.raises(RuntimeError):
            async with cache.set("k") as writer:
                await writer.write(b"partial")
                raise RuntimeError("caller failed")
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"old"
        await writer.abort()
        with pytest.raises(ValueError, match="aborted"):
            await writer.commit()


async def test_set_raises_when_tier0_cannot_open_a_writer_and_tries_no_other_tier() -> None:
    tiers = mem_tiers(2)
    tiers[0].fail("begin_set")
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.TierError) as raised:
            await cache.set_bytes("k", b"v")
        assert raised.value.tier == 0
        assert raised.value.op == "begin_set"
        assert isinstance(raised.value.__cause__, dj.testing.StoreFault)
        assert tiers[1].calls["begin_set"] == 0


async def test_set_write_failure_raises_tier_error_and_publishes_nothing() -> None:
    tiers = mem_tiers(1)
    tiers[0].fail("write", after=1)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.TierError, match="write"):
            async with cache.set("k") as writer:
                await writer.write(b"a")
                await writer.write(b"b")
        assert holding(tiers, "k") == [False]


async def test_set_never_mutates_the_callers_metadata_and_stamps_cached_at() -> None:
    tiers = mem_tiers(1)
    attrs = {"type": "text/plain"}
    metadata = dj.Metadata(etag="e", attrs=attrs)
    async with dj.AsyncCache(stores=tiers) as cache:
        before = time.time()
        await cache.set_bytes("k", b"v", metadata)
        attrs["type"] = "changed"
        stored = await stat_of(tiers[0], "k")
        assert metadata.cached_at == 0.0
        assert stored.cached_at >= before
        assert stored.etag == "e"
        assert stored.attrs == {"type": "text/plain"}


async def test_set_fan_out_stops_an_older_lower_copy_from_resurfacing() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"old lower copy")
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"new")
        await eventually(lambda: cache.stats().fanouts == 1)
    restarted = [mem_tiers(1)[0], tiers[1]]
    async with dj.AsyncCache(stores=restarted) as cache:
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"new"


async def test_delete_removes_a_set_value_from_every_tier_and_a_missing_key_is_no_error() -> None:
    tiers = mem_tiers(3)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v")
        await eventually(lambda: holding(tiers, "k") == [True, True, True])
        await cache.delete("k")
        assert holding(tiers, "k") == [False, False, False]
        await cache.delete("k")
        await cache.delete("never existed")


async def test_delete_tries_every_tier_and_raises_the_first_failure() -> None:
    tiers = mem_tiers(4)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v")
        await eventually(lambda: holding(tiers, "k") == [True] * 4)
        tiers[1].fail("delete")
        tiers[2].fail("delete")
        with pytest.raises(dj.TierError) as raised:
            await cache.delete("k")
        assert raised.value.tier == 2, "tiers are deleted from the last to tier 0"
        assert raised.value.key == "k"
        assert raised.value.store is tiers[2]
        assert "tier 2" in str(raised.value)
        assert isinstance(raised.value.__cause__, dj.testing.StoreFault)
        assert holding(tiers, "k") == [False, True, True, False]
        assert [tier.calls["delete"] for tier in tiers] == [1, 1, 1, 1]


async def test_late_fill_never_resurrects_a_deleted_key() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        await response.read(2)
        await cache.delete("k")
        assert await response.read() == b"lue"
        await response.aclose()
        assert holding(tiers, "k") == [False, False]


async def test_late_fill_never_overwrites_a_newer_set() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        await cache.set_bytes("k", b"set value")
        assert await response.read() == b"origin"
        await response.aclose()
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"set value"
        await eventually(lambda: cache.stats().fanouts == 1)
        reader, _ = await tiers[1].get_stream("k")
        assert await reader.read() == b"set value"


async def test_late_promotion_never_overwrites_a_newer_set() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"lower")
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        await cache.set_bytes("k", b"newer")
        assert await response.read() == b"lower"
        await response.aclose()
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"newer"


async def test_among_overlapping_sets_the_last_one_begun_wins() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        first = cache.set("k")
        await first.write(b"first")
        second = cache.set("k")
        await second.write(b"second")
        await second.commit()
        await first.commit()
        assert second.published
        assert not first.published
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"second"


async def test_late_refresh_never_resurrects_a_deleted_key() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"v"}, delay=0.2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: origin.calls == 1)
        await cache.delete("k")
        await eventually(lambda: not cache._refreshing)
        assert holding(tiers, "k") == [False, False]


async def test_generation_tables_drain_after_work_completes() -> None:
    tiers = mem_tiers(3)
    origin = Origin({"a": b"1", "b": b"2"})
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.get_bytes("a", origin.fetcher("a"))
        await cache.set_bytes("b", b"x")
        await cache.delete("a")
        await eventually(lambda: holding(tiers, "b") == [True, True, True])
        await eventually(lambda: cache._writes.in_flight() == 0)


async def test_open_writer_never_blocks_other_keys_or_a_delete() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        writer = cache.set("busy")
        await writer.write(b"half")
        await cache.set_bytes("other", b"v")
        assert await cache.get_bytes("other", Origin().fetcher("other")) == b"v"
        await cache.delete("other")
        await cache.delete("busy")
        await writer.commit()
        assert not writer.published, "the delete began after the writer, so the write yields"
        assert holding(tiers, "busy") == [False, False]


async def test_set_begun_while_an_earlier_set_commits_still_wins() -> None:
    tiers = mem_tiers(1)
    tiers[0].latency = 0.1

    async with dj.AsyncCache(stores=tiers) as cache:
        first = cache.set("k")
        await first.write(b"first")
        second = cache.set("k")

        async def second_set() -> None:
            await async_sleep(0.05)
            async with second:
                await second.write(b"second")

        await async_run_concurrently([first.commit, second_set])
        assert first.published
        assert second.published, "the set begun last must win"
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"second"


async def test_set_rejects_metadata_of_the_wrong_type() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match="Metadata"):
            cache.set("k", {"etag": "e"})  # type: ignore[arg-type]


async def test_failing_set_commit_raises_tier_error_and_keeps_the_old_value() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old")
        tiers[0].fail("commit")
        with pytest.raises(dj.TierError, match="commit"):
            await cache.set_bytes("k", b"new")
        tiers[0].heal()
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"old"
        await eventually(lambda: cache._writes.in_flight() == 0)


async def test_writer_opened_after_close_raises_cache_closed() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(1))
    writer = cache.set("k")
    await cache.close()
    with pytest.raises(dj.CacheClosed):
        await writer.write(b"late")
