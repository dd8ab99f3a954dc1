"""Lower-tier hits and streaming promotion (rules P1-P6, N3)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

import daramjwee as dj

from ._helpers import Origin, assert_hits_open_no_sink_above, eventually, holding, mem_tiers, put, stat_of

MiB = 1 << 20


async def test_lower_hit_is_promoted_into_every_upper_tier() -> None:
    tiers = mem_tiers(4)
    value = os.urandom(300_000)
    await put(tiers[3], "k", value, dj.Metadata(etag="e", cached_at=time.time(), attrs={"type": "blob"}))
    async with dj.AsyncCache(stores=tiers, chunk_size=4096) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 3
            assert await response.read() == value
        assert holding(tiers, "k") == [True, True, True, True]
        for tier in tiers[:3]:
            reader, _ = await tier.get_stream("k")
            assert await reader.read() == value
        assert [tier.promotions for tier in cache.stats().tiers] == [1, 1, 1, 0]
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 0


async def test_promotion_keeps_cached_at_and_metadata() -> None:
    tiers = mem_tiers(2)
    origin_time = time.time() - 30
    source = dj.Metadata(etag="e", cached_at=origin_time, attrs={"type": "blob"})
    await put(tiers[1], "k", b"v", source)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60) as cache:
        await cache.get_bytes("k", Origin().fetcher("k"))
        assert await stat_of(tiers[0], "k") == source


async def test_promotion_streams_in_one_pass_while_the_caller_reads() -> None:
    tiers = mem_tiers(2)
    value = os.urandom(10 * 4096)
    await put(tiers[1], "k", value)
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        received = [await response.read(4096) for _ in range(10)]
        assert not holding(tiers, "k")[0], "nothing is published before the end of the stream"
        assert await response.read(4096) == b""
        assert holding(tiers, "k")[0], "reaching EOF publishes even before close()"
        await response.aclose()
        assert b"".join(received) == value
        assert tiers[1].calls["read"] == 2, "one pass: the first chunk (read ahead, all of it here), then the end"


@pytest.mark.parametrize("source_tier", [1, 2])
async def test_early_close_publishes_nothing_anywhere(source_tier: int) -> None:
    tiers = mem_tiers(3)
    value = os.urandom(MiB)
    await put(tiers[source_tier], "k", value)
    async with dj.AsyncCache(stores=tiers, chunk_size=65536) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        assert await response.read(1) == value[:1]
        await response.aclose()
        assert holding(tiers, "k")[:source_tier] == [False] * source_tier
        assert [tier.promotions for tier in cache.stats().tiers] == [0, 0, 0]


async def test_source_read_error_aborts_every_sink_and_reaches_the_caller() -> None:
    tiers = mem_tiers(3)
    await put(tiers[2], "k", os.urandom(100_000))
    tiers[2].fail("read", after=2)
    async with dj.AsyncCache(stores=tiers, chunk_size=1000) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        await response.read(1000)
        await response.read(1000)
        with pytest.raises(dj.TierError) as raised:
            await response.read(1000)
        assert (raised.value.tier, raised.value.op, raised.value.key) == (2, "read", "k")
        assert isinstance(raised.value.__cause__, dj.testing.StoreFault)
        await response.aclose()
        assert holding(tiers, "k") == [False, False, True]


async def test_failing_upper_sink_on_third_write_does_not_break_the_reader() -> None:
    tiers = mem_tiers(3)
    value = os.urandom(MiB)
    await put(tiers[2], "k", value)
    tiers[0].fail("write", after=2)
    async with dj.AsyncCache(stores=tiers, chunk_size=65536) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            received = b"".join([chunk async for chunk in response])
        assert received == value
        assert holding(tiers, "k") == [False, True, True], "the other sink still publishes"
        assert cache.stats().tiers[0].errors == 1


@pytest.mark.parametrize(("failing_tier", "op"), [(1, "begin_set"), (0, "commit"), (1, "write")])
async def test_one_failing_upper_sink_does_not_stop_the_others(failing_tier: int, op: str) -> None:
    tiers = mem_tiers(3)
    await put(tiers[2], "k", b"value")
    tiers[failing_tier].fail(op)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"value"
        expected = [True, True, True]
        expected[failing_tier] = False
        assert holding(tiers, "k") == expected
        assert cache.stats().tiers[failing_tier].errors == 1


async def test_fresh_negative_in_lower_tier_is_not_found_and_marks_upper_tiers() -> None:
    tiers = mem_tiers(3)
    origin = Origin({"k": b"should not be fetched"})
    await put(tiers[2], "k", b"", dj.Metadata(is_negative=True, cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, negative_fresh_for=60) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert origin.calls == 0
        assert holding(tiers, "k") == [True, True, True]
        assert (await stat_of(tiers[0], "k")).is_negative


async def test_stale_lower_hit_is_served_without_promotion_and_refreshed() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"fresh"})
    await put(tiers[1], "k", b"stale", dj.Metadata(etag="old", cached_at=time.time() - 100))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=10) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert await response.read() == b"stale"
            assert response.source == 1
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert origin.olds == [dj.Metadata(etag="old", cached_at=origin.olds[0].cached_at)]  # type: ignore[union-attr]
        assert cache.stats().tiers[0].promotions == 0
        await eventually(lambda: cache.stats().fanouts == 1)
        reader, _ = await tiers[1].get_stream("k")
        assert await reader.read() == b"fresh", "the refreshed value reaches the lower tier"


async def test_stale_negative_in_lower_tier_is_not_found_and_refreshed() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"now exists"})
    await put(tiers[1], "k", b"", dj.Metadata(is_negative=True, cached_at=time.time() - 100))
    async with dj.AsyncCache(stores=tiers, negative_fresh_for=10) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert not holding(tiers, "k")[0]
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"now exists"


async def test_promotion_probation_promotes_on_the_second_lower_hit() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"v")
    async with dj.AsyncCache(stores=tiers, promotion_probation=8) as cache:
        await cache.get_bytes("k", Origin().fetcher("k"))
        assert holding(tiers, "k") == [False, True]
        await cache.get_bytes("k", Origin().fetcher("k"))
        assert holding(tiers, "k") == [True, True]


async def test_read_of_zero_bytes_is_not_end_of_stream() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"complete value")
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert await response.read(0) == b""
            assert not holding(tiers, "k")[0]
            assert await response.readinto(bytearray(0)) == 0
            assert await response.read(3) == b"com"
        assert holding(tiers, "k") == [False, True], "closed before the end: nothing published"


async def test_lower_hit_is_served_when_no_upper_sink_opens() -> None:
    tiers = mem_tiers(3)
    await put(tiers[2], "k", b"value")
    tiers[0].fail("begin_set")
    tiers[1].fail("begin_set")
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 2
            assert await response.read() == b"value"
        assert holding(tiers, "k") == [False, False, True]
        assert cache._writes.in_flight() == 0


async def test_value_too_large_for_tier0_is_refused_quietly_and_still_promoted_below(
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = dj.AsyncMemStore(capacity=1000)
    tiers = [small, *mem_tiers(2)]
    await put(tiers[2], "k", b"x" * 5000)
    async with dj.AsyncCache(stores=tiers, chunk_size=512) as cache:
        with caplog.at_level(logging.WARNING, logger="daramjwee"):
            assert await cache.get_bytes("k", Origin().fetcher("k")) == b"x" * 5000
        assert "k" not in small
        assert holding(tiers[1:], "k") == [True, True]
        assert cache.stats().tiers[0].errors == 0
        assert not [record for record in caplog.records if record.name == "daramjwee"]


async def test_entry_too_large_is_one_class_in_both_flavours() -> None:
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(capacity=10)]) as cache:
        with pytest.raises(dj.TierError) as raised:
            await cache.set_bytes("k", b"x" * 100)
        assert isinstance(raised.value.__cause__, dj.EntryTooLarge)


@pytest.mark.parametrize("attrs", [{"content-length": "5000"}, {}], ids=["declared", "undeclared"])
async def test_promotion_skips_a_tier_too_small_for_the_value(
    caplog: pytest.LogCaptureFixture, attrs: dict[str, str]
) -> None:
    """The length the metadata declares, or else the one the lower tier's reader knows, rules out a tier."""
    tiers = [dj.AsyncMemStore(capacity=1000), dj.AsyncMemStore(capacity=10_000), dj.AsyncMemStore()]
    value = b"v" * 5000
    await put(tiers[2], "k", value, dj.Metadata(cached_at=time.time(), attrs=attrs))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=None) as cache:
        with caplog.at_level(logging.DEBUG, logger="daramjwee"):
            assert await cache.get_bytes("k", Origin().fetcher("k")) == value
        assert ["k" in tier for tier in tiers] == [False, True, True]
        assert "refused" not in caplog.text, "no sink was opened on a tier that cannot hold the value"
        assert cache.stats().tiers[1].promotions == 1


@pytest.mark.parametrize("size", [5000, 300_000], ids=["read-whole", "streamed"])
async def test_a_file_tier_hit_too_large_for_memory_opens_no_sink_without_a_declared_length(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, size: int
) -> None:
    """The file tier knows the body's length from the record: no sink is opened above it, every hit."""
    files = dj.AsyncFileStore(tmp_path, whole_read=64 * 1024)
    value = os.urandom(size)
    await put(files, "k", value)
    await assert_hits_open_no_sink_above(files, "k", value, caplog)


async def test_a_promotion_that_fits_still_happens_without_a_declared_length(tmp_path: Path) -> None:
    memory = dj.AsyncMemStore(capacity=1 << 20)
    files = dj.AsyncFileStore(tmp_path, whole_read=64 * 1024)
    value = os.urandom(300_000)
    await put(files, "k", value)
    async with dj.AsyncCache(stores=[memory, files], positive_fresh_for=None, chunk_size=4096) as cache:
        assert await cache.get_bytes("k", Origin().fetcher("k")) == value
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 0
            assert await response.read() == value


async def test_a_tier_failing_before_its_first_byte_falls_through_to_the_next_tier() -> None:
    """Issue 11, item 21: no byte reached the caller yet, so the walk goes on instead of failing."""
    tiers = mem_tiers(3)
    await put(tiers[1], "k", b"from one")
    await put(tiers[2], "k", b"from two")
    tiers[1].fail("read", times=1)
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 2
            assert await response.read() == b"from two"
        assert cache.stats().tiers[1].errors == 1
        assert holding(tiers, "k")[0] is True, "promoted into tier 0, which missed"


async def test_a_tier_failing_before_its_first_byte_falls_through_to_the_origin() -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"stored")
    tiers[1].fail("read", times=1)
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"origin"
        assert origin.calls == 1
