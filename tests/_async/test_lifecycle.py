"""Every flight, fill and fan-out ends exactly once (rules W4, S4); arguments are checked first (A4).

Each test reproduces a defect found by tests written outside the project
(issue 11, items 8, 9, 11 and 12): it failed before the fix.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

import daramjwee as dj

from ._helpers import Origin, eventually, holding, mem_tiers, put


def declaring(origin: Origin, key: str, length: object) -> Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]:
    """The origin's fetcher of ``key``, its body declared ``length`` bytes long (``attrs["content-length"]``)."""
    real = origin.fetcher(key)

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        result = await real(old)
        return dj.FetchResult(result.body, dj.Metadata(attrs={"content-length": str(length)}))

    return fetch


@pytest.mark.parametrize("bad", [123, ["etag"], b"etag", 1.5])
async def test_a_bad_if_none_match_is_refused_before_the_miss_registers_a_flight(bad: object) -> None:
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=mem_tiers(1), coalesce_wait=5.0) as cache:
        with pytest.raises(TypeError, match="if_none_match must be a str"):
            await cache.get("k", origin.fetcher("k"), if_none_match=bad)  # type: ignore[arg-type]
        started = time.monotonic()
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"v"
        assert time.monotonic() - started < 1.0, "no stranded flight to wait for"
        assert origin.calls == 1
        assert cache._flights == {}
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"v"
        assert origin.calls == 1, "the value was cached"


async def test_a_bad_if_none_match_is_refused_on_a_hit_too() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("k", b"v")
        with pytest.raises(TypeError, match="if_none_match"):
            await cache.get("k", Origin().fetcher("k"), if_none_match=7)  # type: ignore[arg-type]


@pytest.mark.parametrize("fetch", [None, "not callable", 42])
async def test_a_fetch_that_is_not_callable_is_refused_at_once(fetch: object) -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match="fetch must be a callable"):
            await cache.get("k", fetch)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="fetch must be a callable"):
            await cache.schedule_refresh("k", fetch)  # type: ignore[arg-type]
        assert cache._flights == {}
        assert cache.stats().refreshes_scheduled == 0
        assert cache._writes.in_flight() == 0


async def test_reading_exactly_the_declared_length_then_closing_publishes_the_fill() -> None:
    tiers = mem_tiers(2)
    value = b"0123456789" * 1000
    origin = Origin({"k": value})
    origin.chunk = 1000
    declared = declaring(origin, "k", len(value))

    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", declared)
        received = b""
        while len(received) < len(value):
            received += await response.read(len(value) - len(received))
        await response.aclose()
        assert received == value
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (1, 0)
        async with await cache.get("k", declared) as again:
            assert again.source == 0
            assert await again.read() == value
        assert origin.calls == 1


async def test_closing_early_still_aborts_the_fill_when_the_declared_length_was_not_reached() -> None:
    tiers = mem_tiers(1)
    value = b"x" * 5000
    origin = Origin({"k": value})
    origin.chunk = 1000
    declared = declaring(origin, "k", len(value))

    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", declared)
        await response.read(4999)
        await response.aclose()
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)
        assert holding(tiers, "k") == [False]


async def test_a_body_longer_than_its_declared_length_is_not_published_at_that_length() -> None:
    tiers = mem_tiers(1)
    origin = Origin({"k": b"y" * 3000})
    lying = declaring(origin, "k", "1000")

    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", lying)
        assert len(await response.read(1000)) == 1000
        await response.aclose()
        assert holding(tiers, "k") == [False]


async def test_a_not_modified_restamp_past_worker_timeout_publishes_nothing() -> None:
    tiers = mem_tiers(2)
    tiers[1].delay("read", 0.15)
    value = b"z" * 4096
    await put(tiers[1], "k", value, dj.Metadata(etag="e", cached_at=1.0))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers, worker_timeout=0.1, chunk_size=1024) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        await eventually(lambda: cache._writes.in_flight() == 0)
        assert holding(tiers, "k") == [False, True]


class _BrokenPolicy:
    """An eviction policy that names a key the store never held."""

    def insert(self, key: str, size: int) -> None:
        pass

    def access(self, key: str) -> None:
        pass

    def remove(self, key: str) -> None:
        pass

    def evict(self) -> str:
        return "a key nobody stored"


async def test_a_policy_evicting_an_unknown_key_is_a_contract_error_and_the_accounting_holds() -> None:
    store = dj.AsyncMemStore(capacity=100, policy=_BrokenPolicy())
    sink = await store.begin_set("a", dj.Metadata())
    await sink.write(b"a" * 60)
    await sink.commit()
    sink = await store.begin_set("b", dj.Metadata())
    await sink.write(b"b" * 60)
    with pytest.raises(dj.StoreContractError, match="does not hold"):
        await sink.commit()
    assert store.used <= 100
    stored = []
    for key in ("a", "b"):
        try:
            reader, _ = await store.get_stream(key)
        except dj.NotFound:
            continue
        stored.append(bytes(await reader.read()))
    assert store.used == sum(map(len, stored))
    assert len(store) == len(stored)
    sink = await store.begin_set("c", dj.Metadata())
    await sink.write(b"c" * 30)
    await sink.commit()  # later writes that fit still work
    reader, _ = await store.get_stream("c")
    assert await reader.read() == b"c" * 30
