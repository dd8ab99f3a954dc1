"""Tags (rules Q1-Q8): tagged writes, ``invalidate_tags``, across caches sharing a tier."""

from __future__ import annotations

import time

import pytest

import daramjwee as dj
from _flavours import AsyncGate, async_start
from _servers import RedisServer
from daramjwee._async_primitives import async_sleep
from daramjwee.testing import AsyncFaultyStore

from ._helpers import Origin, eventually, holds, mem_tiers

TAG_KEY = "\x00daramjwee:tag:"


async def read(cache: dj.AsyncCache, key: str, origin: Origin, tags: list[str] | None = None) -> bytes:
    async with await cache.get(key, origin.fetcher(key), tags=tags) as response:
        return bytes(await response.read())


async def settled(cache: dj.AsyncCache) -> None:
    await eventually(lambda: cache._writes.in_flight() == 0 and not len(cache._fan_outs) and not cache._refreshing)


# -- invalidation (rules Q1, Q2) -------------------------------------------------------------


async def test_an_invalidated_tag_makes_a_tagged_set_a_miss_that_is_refetched() -> None:
    origin = Origin({"k": b"from origin"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("k", b"set", tags=["t"])
        assert await read(cache, "k", origin) == b"set"
        await cache.invalidate_tags("t")
        assert await cache.peek("k") is None
        assert not await cache.contains("k")
        assert await read(cache, "k", origin) == b"from origin"
        assert origin.calls == 1
        assert await read(cache, "k", origin) == b"from origin"
        assert origin.calls == 1, "the refetched value is cached (untagged: this get gave no tags)"


async def test_other_tags_and_untagged_entries_are_untouched() -> None:
    origin = Origin({"a": b"A", "b": b"B", "c": b"C"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("a", b"a1", tags=["x"])
        await cache.set_bytes("b", b"b1", tags=("y",))
        await cache.set_bytes("c", b"c1")
        await cache.invalidate_tags("x")
        assert [await read(cache, key, origin) for key in "abc"] == [b"A", b"b1", b"c1"]
        assert origin.calls == 1


async def test_an_entry_with_two_tags_is_invalidated_by_either() -> None:
    origin = Origin({"k": b"origin"})
    for tag in ("x", "y"):
        async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
            await cache.set_bytes("k", b"set", tags={"x", "y"})
            await cache.invalidate_tags("unrelated")
            assert await read(cache, "k", origin) == b"set"
            await cache.invalidate_tags(tag)
            assert await read(cache, "k", origin) == b"origin"


async def test_a_tagged_fill_records_its_tags_and_an_invalidation_refetches_it() -> None:
    origin = Origin({"k": b"v"})
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await read(cache, "k", origin, ["t"]) == b"v"
        await settled(cache)
        assert holds(tiers[1], "k"), "the tagged fill was fanned out"
        assert await read(cache, "k", origin, ["t"]) == b"v"
        assert origin.calls == 1
        await cache.invalidate_tags("t")
        origin.values["k"] = b"v2"
        assert await read(cache, "k", origin, ["t"]) == b"v2", "neither tier 0 nor tier 1 serves it"
        assert origin.calls == 2
        await settled(cache)
        assert await read(cache, "k", origin, ["t"]) == b"v2"
        assert origin.calls == 2, "the refetch was stored with the current version"


async def test_get_value_and_set_value_record_tags() -> None:
    loads: list[int] = []

    async def loader() -> dict[str, int]:
        loads.append(1)
        return {"n": len(loads)}

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        assert await cache.get_value("k", loader, tags=["t"]) == {"n": 1}
        assert await cache.get_value("k", loader, tags=["t"]) == {"n": 1}
        await cache.invalidate_tags("t")
        assert await cache.get_value("k", loader, tags=["t"]) == {"n": 2}
        await cache.set_value("v", [1, 2], tags=["u"])
        assert await cache.get_value("v", loader) == [1, 2]
        await cache.invalidate_tags("u")
        assert await cache.get_value("v", loader) == {"n": 3}


async def test_a_ranged_get_of_an_invalidated_entry_refetches() -> None:
    origin = Origin({"k": b"0123456789"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("k", b"abcdefghij", tags=["t"])
        await cache.invalidate_tags("t")
        async with await cache.get("k", origin.fetcher("k"), byte_range=dj.ByteRange(2, 4)) as response:
            assert await response.read() in (b"23", b"0123456789")  # the whole value when no length is declared
        assert origin.calls == 1


# -- races (rule Q2) -------------------------------------------------------------------------


async def test_a_fill_racing_an_invalidation_never_publishes_a_value_served_afterwards() -> None:
    fetching, resume = AsyncGate(), AsyncGate()
    calls: list[int] = []

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        calls.append(1)
        if len(calls) == 1:
            fetching.set()
            await resume.wait()
            return dj.FetchResult(b"old")  # read from the origin before the invalidation
        return dj.FetchResult(b"new")

    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        async def first() -> bytes:
            async with await cache.get("k", fetch, tags=["t"]) as response:
                return bytes(await response.read())

        filling = async_start(first)
        await fetching.wait()
        await cache.invalidate_tags("t")
        resume.set()
        assert await filling.result() == b"old"
        await settled(cache)
        async with await cache.get("k", fetch, tags=["t"]) as response:
            assert await response.read() == b"new"
        assert await cache.peek("k") is not None


async def test_a_set_racing_an_invalidation_is_not_served_after_it() -> None:
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        async with cache.set("k", tags=["t"]) as writer:  # the versions are read when it opens
            await cache.invalidate_tags("t")
            await writer.write(b"written before the invalidation")
        assert writer.published
        assert await read(cache, "k", origin) == b"origin"


# -- versions in the chain (rules Q3-Q5) -------------------------------------------------------


async def test_two_caches_sharing_a_redis_tier_see_each_others_invalidations(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    shared_a = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)
    shared_b = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)
    origin = Origin({"k": b"from origin"})
    a = dj.AsyncCache(stores=[dj.AsyncMemStore(), shared_a], tag_ttl=0)
    b = dj.AsyncCache(stores=[dj.AsyncMemStore(), shared_b], tag_ttl=0)
    async with a, b:
        await a.set_bytes("k", b"by a", tags=["t"])
        await settled(a)
        assert await read(b, "k", origin) == b"by a"
        assert await read(b, "k", origin) == b"by a"  # now in b's own tier 0 too
        await a.invalidate_tags("t")
        assert await b.peek("k") is None, "b's memory tier holds it, but its version is gone"
        assert await read(b, "k", origin) == b"from origin"
        assert origin.calls == 1
        assert await shared_a.stat(TAG_KEY + "t") == await shared_b.stat(TAG_KEY + "t")


async def test_another_cache_sees_an_invalidation_within_tag_ttl(redis_server: RedisServer, redis_prefix: str) -> None:
    origin = Origin({"k": b"from origin"})
    a = dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)])
    b = dj.AsyncCache(
        stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)], tag_ttl=0.3
    )
    async with a, b:
        await a.set_bytes("k", b"by a", tags=["t"])
        await settled(a)
        assert await read(b, "k", origin) == b"by a"  # b reads the version and keeps it for 0.3 s
        await a.invalidate_tags("t")
        assert await a.peek("k") is None, "the invalidating cache sees it at once"
        invalidated = time.monotonic()
        while await b.contains("k"):  # the bound: rule Q4
            assert time.monotonic() - invalidated < 0.3 + 1.0
            await async_sleep(0.02)
        assert await read(b, "k", origin) == b"from origin"
        assert origin.calls == 1


async def test_a_version_is_kept_in_the_last_tier_only_and_is_unique() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v", tags=["t"])
        assert not holds(tiers[0], TAG_KEY + "t")
        first = (await tiers[1].stat(TAG_KEY + "t")).etag
        await cache.invalidate_tags("t")
        second = (await tiers[1].stat(TAG_KEY + "t")).etag
        assert first
        assert second
        assert first != second


async def test_an_evicted_version_invalidates_the_entries_that_recorded_it() -> None:
    origin = Origin({"k": b"origin"})
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, tag_ttl=0) as cache:
        await cache.set_bytes("k", b"set", tags=["t"])
        assert await read(cache, "k", origin) == b"set"
        await tiers[0].delete(TAG_KEY + "t")  # as an eviction would
        assert await read(cache, "k", origin) == b"origin"


async def test_a_tier_failing_to_give_a_version_makes_the_tagged_entry_a_miss() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, tag_ttl=0) as cache:
        await cache.set_bytes("k", b"set", tags=["t"])
        tiers[0].fail("stat")  # only versions are read with stat here; peek opens the entry with get_stream
        assert await cache.peek("k") is None
        tiers[0].heal()
        response = await cache.peek("k")
        assert response is not None
        async with response:
            assert await response.read() == b"set"


async def test_an_invalidation_the_last_tier_refuses_raises_tier_error() -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        tiers[1].fail("begin_set")
        with pytest.raises(dj.TierError) as raised:
            await cache.invalidate_tags("t")
        assert raised.value.tier == 1


async def test_clear_drops_the_versions_and_tags_work_after_it() -> None:
    origin = Origin({"k": b"origin"})
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"before", tags=["t"])
        await settled(cache)
        await cache.clear()
        assert not holds(tiers[1], TAG_KEY + "t")
        assert await cache.peek("k") is None
        await cache.set_bytes("k", b"after", tags=["t"])
        assert await read(cache, "k", origin) == b"after"
        await cache.invalidate_tags("t")
        assert await read(cache, "k", origin) == b"origin"


# -- arguments and reserved keys (rules Q6, Q7) --------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "error"),
    [
        ("t", TypeError),
        (b"t", TypeError),
        (3, TypeError),
        ([1], TypeError),
        ([["t"]], TypeError),
        ([""], ValueError),
        (["a\nb"], ValueError),
        (("a\x00",), ValueError),
        (["ok", "tab\there"], ValueError),
    ],
)
async def test_bad_tags_raise_before_anything_is_read_or_written(tags: object, error: type[Exception]) -> None:
    origin = Origin({"k": b"v"})
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(error):
            await cache.get("k", origin.fetcher("k"), tags=tags)  # type: ignore[arg-type]
        with pytest.raises(error):
            cache.set("k", tags=tags)  # type: ignore[arg-type]
        with pytest.raises(error):
            await cache.set_bytes("k", b"v", tags=tags)  # type: ignore[arg-type]
        with pytest.raises(error):
            await cache.set_value("k", 1, tags=tags)  # type: ignore[arg-type]
        with pytest.raises(error):
            await cache.get_value("k", origin.fetcher("k"), tags=tags)  # type: ignore[arg-type]
        if not isinstance(tags, str | bytes | int):
            with pytest.raises(error):
                await cache.invalidate_tags(*tags)  # type: ignore[misc]
        assert origin.calls == 0
        assert sum(sum(tier.calls.values()) for tier in tiers) == 0, "no store was asked anything"
        assert cache._writes.in_flight() == 0
        assert not cache._flights


async def test_no_tags_is_no_tags() -> None:
    origin = Origin({"k": b"v"})
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"set", tags=[])
        await cache.invalidate_tags()
        assert await read(cache, "k", origin) == b"set"
        assert tiers[0].calls["begin_set"] == 1, "no version was written"


async def test_reserved_keys_are_refused_everywhere() -> None:
    origin = Origin()
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"v", tags=["t"])
        key = TAG_KEY + "t"
        assert holds(tiers[0], key), "a one-tier chain keeps the version in tier 0"
        with pytest.raises(ValueError, match="reserved"):
            await cache.get(key, origin.fetcher(key))  # the hot path does not serve the version entry
        with pytest.raises(ValueError, match="reserved"):
            await cache.get(key, origin.fetcher(key), byte_range=dj.ByteRange(0, 0))
        with pytest.raises(ValueError, match="reserved"):
            cache.set(key)
        with pytest.raises(ValueError, match="reserved"):
            await cache.delete(key)
        with pytest.raises(ValueError, match="reserved"):
            await cache.peek(key)
        with pytest.raises(ValueError, match="reserved"):
            await cache.contains(key)
        assert await read(cache, "\x00other", Origin({"\x00other": b"fine"})) == b"fine"


async def test_a_closed_cache_raises_cache_closed() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(1))
    await cache.close()
    with pytest.raises(dj.CacheClosed):
        await cache.invalidate_tags("t")
    with pytest.raises(dj.CacheClosed):
        await cache.get("k", Origin().fetcher("k"), tags=["t"])
    with pytest.raises(dj.CacheClosed):
        cache.set("k", tags=["t"])


async def test_tag_ttl_is_checked() -> None:
    with pytest.raises(dj.ConfigError, match="tag_ttl"):
        dj.AsyncCache(stores=mem_tiers(1), tag_ttl=-1)
    assert dj.AsyncCache(stores=mem_tiers(1)).config.tag_ttl == 1.0


async def test_versions_are_read_from_the_last_tier(redis_server: RedisServer, redis_prefix: str) -> None:
    """A version is read from the last tier even when a faster tier holds a copy of its key (rule Q3)."""
    last = AsyncFaultyStore(dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), last], tag_ttl=0) as cache:
        await cache.set_bytes("k", b"v", tags=["t"])
        before = last.calls["stat"]
        assert await cache.contains("k")
        assert last.calls["stat"] == before + 1
