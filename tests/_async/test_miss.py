"""Misses: fill tier 0 while streaming, fan out after publish (rules M1-M7, N1, O1-O6)."""

from __future__ import annotations

import os
import pathlib
import time

import pytest

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._async_primitives import async_sleep
from daramjwee.testing import AsyncFaultyStore

from ._helpers import Origin, eventually, holding, holds, mem_tiers, stat_of

MiB = 1 << 20


async def test_three_tier_miss_fills_tier0_then_fans_out_and_survives_a_restart() -> None:
    tiers = mem_tiers(3)
    value = os.urandom(200_000)
    origin = Origin({"k": value})
    origin.chunk = 7000
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source is None
            assert await response.read() == value
        assert holding(tiers, "k")[0]
        await eventually(lambda: holding(tiers, "k") == [True, True, True])
        await eventually(lambda: cache.stats().fanouts == 1)
        assert cache.stats().fills_published == 1
    fresh_tier0 = mem_tiers(1)[0]
    restarted = [fresh_tier0, tiers[1], tiers[2]]
    async with dj.AsyncCache(stores=restarted) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 1
            assert await response.read() == value
        assert holding(restarted, "k")[0], "promoted into the new tier 0"
    assert origin.calls == 1


async def test_fan_out_copies_origin_metadata_to_lower_tiers() -> None:
    tiers = mem_tiers(2)
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=tiers) as cache:
        before = time.time()
        await cache.get_bytes("k", origin.fetcher("k"))
        await eventually(lambda: holding(tiers, "k") == [True, True])
        top, lower = await stat_of(tiers[0], "k"), await stat_of(tiers[1], "k")
        assert top == lower
        assert top.etag == "v1"
        assert top.attrs == {"origin": "yes"}
        assert top.cached_at >= before


async def test_early_close_of_a_miss_publishes_nothing() -> None:
    tiers = mem_tiers(3)
    origin = Origin({"k": os.urandom(MiB)})
    origin.chunk = 65536
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert len(await response.read(1)) == 1
        await response.aclose()
        await response.aclose()
        assert holding(tiers, "k") == [False, False, False]
        assert cache.stats().fills_aborted == 1
        assert cache.stats().fanouts == 0


async def test_origin_body_error_mid_stream_publishes_nothing() -> None:
    def broken_body() -> object:
        yield b"partial"
        raise ConnectionResetError("origin went away")

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(broken_body())

    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", fetch)
        with pytest.raises(ConnectionResetError):
            await response.read()
        await response.aclose()
        assert holding(tiers, "k") == [False, False]


async def test_cacheable_not_found_writes_a_negative_entry_and_fans_it_out() -> None:
    tiers = mem_tiers(3)
    origin = Origin()
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        await eventually(lambda: holding(tiers, "k") == [True, True, True])
        for tier in tiers:
            assert (await stat_of(tier, "k")).is_negative
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert origin.calls == 1


@pytest.mark.parametrize("error", [dj.NotFound("k"), ValueError("boom")])
async def test_not_found_and_other_errors_propagate_unchanged_and_cache_nothing(error: Exception) -> None:
    tiers = mem_tiers(2)
    origin = Origin()
    origin.outcome = error
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(type(error)) as raised:
            await cache.get("k", origin.fetcher("k"))
        assert raised.value is error
        with pytest.raises(type(error)):
            await cache.get("k", origin.fetcher("k"))
        assert origin.calls == 2
        assert holding(tiers, "k") == [False, False]


async def test_fill_that_cannot_start_still_serves_the_origin_body() -> None:
    tiers = mem_tiers(2)
    tiers[0].fail("begin_set")
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        assert holding(tiers, "k") == [False, False]
        assert cache.stats().tiers[0].errors == 1


async def test_not_modified_on_a_miss_without_a_cached_copy_is_a_clear_error() -> None:
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(dj.DaramjweeError, match="NotModified"):
            await cache.get("k", origin.fetcher("k"))


async def test_entry_too_large_for_tier0_is_still_served() -> None:
    tiers = [dj.AsyncMemStore(capacity=1000), dj.AsyncMemStore()]
    origin = Origin({"k": os.urandom(5000)})
    origin.chunk = 512
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == origin.values["k"]
        assert "k" not in tiers[0]


async def test_fan_out_reaches_lower_tiers_even_when_a_busy_tier0_evicts_first() -> None:
    """A memory tier 0 is snapshotted at publish: later misses evicting it cannot starve the lower tiers."""
    lower = mem_tiers(1)[0]
    lower.latency = 0.05
    values = {key: key.encode() * 800 for key in "zab"}
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(capacity=1000), lower], workers=1) as cache:
        for key in values:
            await cache.get_bytes(key, Origin(values).fetcher(key))
        await eventually(lambda: cache.stats().fanouts + cache.stats().fanouts_failed == 3)
        assert cache.stats().fanouts == 3
        for key, value in values.items():
            reader, _ = await lower.inner.get_stream(key)
            assert bytes(await reader.read()) == value


def _slow_fan_out_cache() -> dj.AsyncCache:
    """Tier 0 holds one 800-byte value; fan-outs to tier 1 stay queued for a while (one worker, slow begin_set)."""
    lower = mem_tiers(1)[0]
    lower.delay("begin_set", 0.3)
    return dj.AsyncCache(stores=[dj.AsyncMemStore(capacity=1000), lower], workers=1)


async def test_a_value_evicted_from_tier0_before_its_fan_out_lands_is_served_in_transit() -> None:
    """A busy small tier 0 must not send a value back to the origin while it is still being copied down."""
    values = {key: key.encode() * 800 for key in "ab"}
    origin = Origin(values)
    async with _slow_fan_out_cache() as cache:
        await cache.get_bytes("a", origin.fetcher("a"))
        await cache.get_bytes("b", origin.fetcher("b"))  # evicts "a" from tier 0
        async with await cache.get("a", origin.fetcher("a")) as response:
            assert response.source == 0
            assert await response.read() == values["a"]
        assert origin.calls == 2, "the value in transit was served, not fetched again"
        assert cache.stats().transit_hits == 1
        await eventually(lambda: cache.stats().fanouts == 2)
        async with await cache.get("a", origin.fetcher("a")) as response:
            assert response.source == 1, "once copied down, the lower tier serves it"
            assert await response.read() == values["a"]
        assert origin.calls == 2


@pytest.mark.parametrize("change", ["delete", "set"])
async def test_a_value_in_transit_is_not_served_after_a_later_delete_or_set(change: str) -> None:
    values = {key: key.encode() * 800 for key in "ab"}
    origin = Origin(values)
    async with _slow_fan_out_cache() as cache:
        await cache.get_bytes("a", origin.fetcher("a"))
        if change == "delete":
            await cache.delete("a")
            expected, calls = values["a"], 3
        else:
            await cache.set_bytes("a", b"new" * 300)
            expected, calls = b"new" * 300, 2
        await cache.get_bytes("b", origin.fetcher("b"))  # evicts "a" from tier 0
        assert await cache.get_bytes("a", origin.fetcher("a")) == expected
        assert cache.stats().transit_hits == (0 if change == "delete" else 1)
        assert origin.calls == calls


async def test_values_in_transit_hold_at_most_the_larger_of_tier0_capacity_and_64_mib() -> None:
    """Past the budget a fan-out keeps no snapshot, so a burst of large misses cannot pin unbounded memory."""
    lower = mem_tiers(1)[0]
    lower.delay("begin_set", 0.3)  # the fan-outs stay queued while the test reads
    values = {key: key.encode() * (40 * MiB) for key in "abc"}  # 40 MiB each; tier 0 holds one
    origin = Origin(values)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(capacity=50 * MiB), lower], workers=1) as cache:
        for key in "abc":  # "a" is held in transit (40 MiB); "b" and "c" would pass 64 MiB, so are not
            await cache.get_bytes(key, origin.fetcher(key))
        assert await cache.get_bytes("a", origin.fetcher("a")) == values["a"]
        assert cache.stats().transit_hits == 1
        assert await cache.get_bytes("b", origin.fetcher("b")) == values["b"]
        assert cache.stats().transit_hits == 1
        assert origin.calls == 4, "b was evicted from tier 0 and not held in transit: fetched again"


async def test_a_fan_out_reaches_the_lower_tier_though_tier0_evicted_the_entry_before_it_ran() -> None:
    """Issue 11, item 13: the fan-out carries the value tier 0 committed, not a later read of tier 0."""
    tier0 = AsyncFaultyStore(dj.AsyncMemStore(capacity=1000))  # no peek through the wrapper
    lower = mem_tiers(1)[0]
    lower.latency = 0.05
    async with dj.AsyncCache(stores=[tier0, lower], workers=1) as cache:
        await cache.get_bytes("z", Origin({"z": b"z" * 100}).fetcher("z"))
        await cache.get_bytes("a", Origin({"a": b"a" * 800}).fetcher("a"))
        await cache.get_bytes("b", Origin({"b": b"b" * 800}).fetcher("b"))  # evicts "a" from tier 0
        await eventually(lambda: cache.stats().fanouts + cache.stats().fanouts_failed == 3)
        assert cache.stats().fanouts == 3
        assert holds(lower, "a")
        assert not holds(tier0, "a")


async def test_an_admission_policy_that_refuses_a_value_does_not_keep_it_from_the_lower_tiers() -> None:
    """W-TinyLFU may refuse a newcomer at once; the lower tiers still get every value."""
    tier0 = dj.AsyncMemStore(capacity=2000, policy="tinylfu")
    lower = dj.AsyncMemStore()
    origin = Origin({f"k{i}": bytes([i]) * 500 for i in range(10)})
    async with dj.AsyncCache(stores=[tier0, lower]) as cache:
        for _ in range(3):
            await cache.get_bytes("k0", origin.fetcher("k0"))  # a frequent key tinylfu wants to keep
        for i in range(10):
            await cache.get_bytes(f"k{i}", origin.fetcher(f"k{i}"))
        await eventually(lambda: all(f"k{i}" in lower for i in range(10)))
        calls = origin.calls
        for i in range(10):
            assert await cache.get_bytes(f"k{i}", origin.fetcher(f"k{i}")) == bytes([i]) * 500
        assert origin.calls == calls, "every value is served from a tier now"


async def test_a_value_declared_larger_than_tier0_fills_the_first_tier_that_can_hold_it() -> None:
    value = bytes(range(250)) * 20  # 5,000 bytes
    calls = 0

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        await async_sleep(0.05)
        return dj.FetchResult([value[:2500], value[2500:]], dj.Metadata(attrs={"content-length": str(len(value))}))

    tiers = [dj.AsyncMemStore(capacity=1000), dj.AsyncMemStore(capacity=10_000), dj.AsyncMemStore()]
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=None) as cache:
        results = await async_run_concurrently([lambda: cache.get_bytes("big", fetch) for _ in range(5)])
        assert results == [value] * 5
        assert calls == 1, "the waiters were served from the tier the leader filled"
        await eventually(lambda: "big" in tiers[2])
        assert ["big" in tier for tier in tiers] == [False, True, True]
        async with await cache.get("big", fetch) as response:
            assert response.source == 1
            assert bytes(await response.read()) == value
        assert calls == 1


async def test_a_value_of_unknown_length_too_large_for_tier0_spills_into_the_next_tier() -> None:
    """Issue 11, item 13: tier 0 refuses it mid-stream; the fill goes on in the first tier able to hold it."""
    tiers = [dj.AsyncMemStore(capacity=1000), dj.AsyncMemStore(capacity=3000), dj.AsyncMemStore()]
    origin = Origin({"big": b"x" * 5000})
    origin.chunk = 700
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("big", origin.fetcher("big")) == b"x" * 5000
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (1, 0)
        assert ["big" in tier for tier in tiers] == [False, False, True], "tier 1 refused too: tier 2 holds it"
        async with await cache.get("big", origin.fetcher("big")) as response:
            assert response.source == 2
            assert await response.read() == b"x" * 5000
        assert origin.calls == 1


async def test_a_spilled_fill_is_fanned_out_below_the_tier_it_spilled_into() -> None:
    tiers = [dj.AsyncMemStore(capacity=1000), dj.AsyncMemStore(), dj.AsyncMemStore()]
    origin = Origin({"big": b"y" * 4000})
    origin.chunk = 600
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("big", origin.fetcher("big")) == b"y" * 4000
        await eventually(lambda: "big" in tiers[2])
        assert ["big" in tier for tier in tiers] == [False, True, True]


@pytest.mark.parametrize("policy", ["s3fifo", "lru", "tinylfu", "sieve"])
async def test_concurrent_readers_over_a_small_tier0_load_each_key_from_the_origin_once(
    tmp_path: pathlib.Path, policy: str
) -> None:
    """Issue 11, item 13: 8 readers over 30 keys through a small memory tier over a file tier.

    Before the fix, 222 origin loads for 30 keys (LRU), and with tinylfu 1 value in 10 ever reached the
    file tier: fan-outs read tier 0 when they ran, and it had dropped the value by then.
    """
    values = {f"key-{i}": os.urandom(4000 + 97 * i) for i in range(30)}
    origin = Origin(values)
    origin.chunk = 1500
    tiers = [dj.AsyncMemStore(capacity=20_000, policy=policy), dj.AsyncFileStore(str(tmp_path / "files"))]
    keys = [key for round_ in range(6) for key in sorted(values, key=lambda k: hash((k, round_)))]

    async def reader(offset: int) -> None:
        for key in keys[offset:] + keys[:offset]:
            assert await cache.get_bytes(key, origin.fetcher(key)) == values[key]

    async with dj.AsyncCache(stores=tiers) as cache:
        results = await async_run_concurrently([lambda offset=offset: reader(offset * 7) for offset in range(8)])
        assert [result for result in results if result is not None] == []
        assert origin.calls == len(values), "each key loaded from the origin exactly once"
        await eventually(lambda: all(key in tiers[1] for key in values))
        stats = cache.stats()
        assert stats.fanouts_rejected == 0
