"""Construction through the cache API (rules A1-A3)."""

from __future__ import annotations

import dataclasses
import datetime
import logging

import pytest

import daramjwee as dj
from _flavours import async_other_flavour_store
from daramjwee.contrib.otel import OpenTelemetryObserver

from ._helpers import Origin, eventually, holding, mem_tiers


async def test_from_config_builds_the_same_chain() -> None:
    tiers = mem_tiers(2)
    config = dj.Config(stores=tiers, positive_fresh_for=datetime.timedelta(seconds=5))
    async with dj.AsyncCache.from_config(config) as cache:
        assert cache.stores == tuple(tiers)
        assert cache.config.positive_fresh_for == 5.0


async def test_stores_must_be_a_non_empty_chain_without_none() -> None:
    with pytest.raises(dj.ConfigError, match="at least one"):
        dj.AsyncCache(stores=[])
    with pytest.raises(dj.ConfigError, match=r"stores\[1\] is None"):
        dj.AsyncCache(stores=[dj.AsyncMemStore(), None])  # type: ignore[list-item]


async def test_same_store_twice_is_rejected() -> None:
    store = dj.AsyncMemStore()
    with pytest.raises(dj.ConfigError, match="same store instance"):
        dj.AsyncCache(stores=[store, dj.AsyncMemStore(), store])


async def test_legacy_hot_store_alone_is_one_tier() -> None:
    hot = dj.AsyncMemStore()
    async with dj.AsyncCache(hot_store=hot, cold_store=None) as cache:
        assert cache.stores == (hot,)


async def test_mixing_stores_with_legacy_options_is_an_error() -> None:
    with pytest.raises(dj.ConfigError, match="stores= only"):
        dj.AsyncCache(stores=[dj.AsyncMemStore()], hot_store=dj.AsyncMemStore())
    with pytest.raises(dj.ConfigError, match="hot_store"):
        dj.AsyncCache(cold_store=dj.AsyncMemStore())


async def test_legacy_two_tier_cache_behaves_like_the_same_chain_given_as_stores() -> None:
    async def scenario(cache: dj.AsyncCache, tiers: list[dj.AsyncStore]) -> list[object]:
        origin = Origin({"k": b"value"})
        trace: list[object] = []
        async with cache:
            trace.append(await cache.get_bytes("k", origin.fetcher("k")))
            await eventually(lambda: holding(tiers, "k") == [True, True])  # type: ignore[arg-type]
            await tiers[0].delete("k")
            async with await cache.get("k", origin.fetcher("k")) as response:
                trace.append((response.source, await response.read()))
            trace.append(holding(tiers, "k"))  # type: ignore[arg-type]
            trace.append(origin.calls)
        return trace

    legacy_tiers = mem_tiers(2)
    modern_tiers = mem_tiers(2)
    legacy = await scenario(dj.AsyncCache(hot_store=legacy_tiers[0], cold_store=legacy_tiers[1]), legacy_tiers)
    modern = await scenario(dj.AsyncCache(stores=modern_tiers), modern_tiers)
    assert legacy == modern == [b"value", (1, b"value"), [True, True], 1]


async def test_unknown_option_is_a_clear_config_error() -> None:
    with pytest.raises(dj.ConfigError, match="positive_fresh_fr"):
        dj.AsyncCache(stores=mem_tiers(1), positive_fresh_fr=3)  # type: ignore[call-arg]


async def test_every_option_given_to_the_constructor_reaches_the_config() -> None:
    options: dict[str, object] = {
        "stores": mem_tiers(2),
        "positive_fresh_for": 7,
        "negative_fresh_for": datetime.timedelta(seconds=8),
        "tier_fresh_for": {1: (1, None)},
        "op_timeout": 9,
        "close_timeout": 10.5,
        "workers": 3,
        "worker_queue": 11,
        "worker_strategy": "all",
        "worker_timeout": 12,
        "chunk_size": 4096,
        "coalesce_wait": 0,
        "promotion_probation": 5,
        "tag_ttl": 0.25,
        "observer": OpenTelemetryObserver(),
        "logger": logging.getLogger("daramjwee.tests.options"),
    }
    legacy = {"hot_store", "cold_store"}  # rule A2's other form of stores; test_legacy_* cover them
    fleet = {"coordination"}  # needs Redis and a shared tier: test_coordination.py covers it
    assert set(options) == {field.name for field in dataclasses.fields(dj.Config)} - legacy - fleet
    defaults = dj.Config()
    assert all(getattr(defaults, name) != value for name, value in options.items())
    async with dj.AsyncCache(**options) as cache:  # type: ignore[arg-type]
        assert cache.config == dj.Config(**options).validate()  # type: ignore[arg-type]


async def test_unknown_worker_strategy_is_an_error() -> None:
    with pytest.raises(dj.ConfigError, match="worker_strategy"):
        dj.AsyncCache(stores=mem_tiers(1), worker_strategy="threads")  # type: ignore[arg-type]


async def test_stores_of_the_other_flavour_are_rejected() -> None:
    with pytest.raises(TypeError, match="stores\\[0\\]"):
        dj.AsyncCache(stores=[async_other_flavour_store()])  # type: ignore[list-item]
