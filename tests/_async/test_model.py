"""Property-based and concurrency tests: reads never tear, never return a partial or foreign value.

Random get/set/delete/refresh against a 3-tier cache whose lower
tiers fail at random, compared with a dict model of what each key may hold.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daramjwee as dj
from _flavours import async_run_concurrently, async_run_scenario
from daramjwee._async_primitives import async_sleep

from ._helpers import holds, mem_tiers

KEYS = ["a", "b", "c"]
MISSING = b"<not found>"


def value_of(tag: str) -> bytes:
    """A distinctive value: any partial or mixed read is not equal to any value."""
    return (tag.encode() + b"|") * random.Random(tag).randint(50, 3000)


class Model:
    """What each key may legitimately read as: the values valid at some point since the last set/delete."""

    def __init__(self) -> None:
        self.origin: dict[str, bytes | None] = {key: value_of(f"{key}-origin-0") for key in KEYS}
        self.origin["c"] = None
        self.allowed: dict[str, set[bytes]] = {key: {self._origin_read(key)} for key in KEYS}
        self.refreshing: set[str] = set()
        self.versions = 0

    def _origin_read(self, key: str) -> bytes:
        value = self.origin[key]
        return MISSING if value is None else value

    def fetcher(self, key: str) -> dj.AsyncFetcher:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            value = self.origin[key]
            if value is None:
                raise dj.CacheableNotFound(key)
            return dj.FetchResult([value[i : i + 1000] for i in range(0, len(value), 1000)])

        return fetch

    def update_origin(self, key: str) -> None:
        self.versions += 1
        self.origin[key] = value_of(f"{key}-origin-{self.versions}")
        if key in self.refreshing:
            self.allowed[key].add(self._origin_read(key))

    def on_set(self, key: str, value: bytes) -> None:
        self.allowed[key] = {value}
        self.refreshing.discard(key)

    def on_delete(self, key: str) -> None:
        self.allowed[key] = {self._origin_read(key)}
        self.refreshing.discard(key)

    def on_refresh(self, key: str) -> None:
        self.refreshing.add(key)
        self.allowed[key].add(self._origin_read(key))

    def on_origin_read(self, key: str) -> None:
        self.allowed[key].add(self._origin_read(key))


operations = st.lists(
    st.tuples(st.sampled_from(["get", "set", "delete", "refresh", "origin", "gets", "settle"]), st.sampled_from(KEYS)),
    min_size=5,
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, seed=st.integers(0, 2**16))
def test_reads_match_the_model_under_random_lower_tier_failures(ops: list[tuple[str, str]], seed: int) -> None:
    async def scenario() -> None:
        model = Model()
        tiers = mem_tiers(3)
        for index, tier in enumerate(tiers[1:], start=1):
            for op in ("get_stream", "read", "begin_set", "write", "commit"):
                tier.fail(op, probability=0.25, seed=seed * 10 + index)
        async with dj.AsyncCache(stores=tiers, chunk_size=1024) as cache:

            async def read(key: str) -> bytes:
                try:
                    return await cache.get_bytes(key, model.fetcher(key))
                except dj.NotFound:
                    return MISSING

            for number, (op, key) in enumerate(ops):
                if op in ("get", "gets"):
                    if not holds(tiers[0], key):
                        model.on_origin_read(key)
                    readers = 1 if op == "get" else 4
                    results = await async_run_concurrently([lambda key=key: read(key)] * readers)  # type: ignore[misc]
                    assert all(result in model.allowed[key] for result in results), results
                elif op == "set":
                    value = value_of(f"{key}-set-{number}")
                    await cache.set_bytes(key, value)
                    model.on_set(key, value)
                elif op == "delete":
                    await cache.delete(key)
                    model.on_delete(key)
                elif op == "refresh":
                    model.on_refresh(key)
                    await cache.schedule_refresh(key, model.fetcher(key))
                elif op == "origin":
                    model.update_origin(key)
                else:
                    await async_sleep(0.01)

    async_run_scenario(scenario)


async def test_mixed_concurrent_operations_never_tear_or_deadlock() -> None:
    values = {f"k{i}": [value_of(f"k{i}-v{j}") for j in range(4)] for i in range(4)}
    every_value = {value for versions in values.values() for value in versions}

    def fetch_for(key: str) -> dj.AsyncFetcher:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return dj.FetchResult(iter([values[key][0][:500], values[key][0][500:]]))

        return fetch

    tiers = mem_tiers(3)
    tiers[2].fail("write", probability=0.2, seed=7)
    async with dj.AsyncCache(stores=tiers, chunk_size=777) as cache:

        async def worker(seed: int) -> int:
            rng = random.Random(seed)
            reads = 0
            for _ in range(60):
                key = rng.choice(sorted(values))
                action = rng.random()
                if action < 0.55:
                    try:
                        data = await cache.get_bytes(key, fetch_for(key))
                    except dj.NotFound:
                        continue
                    assert data in every_value, f"torn read of {key}: {len(data)} bytes"
                    reads += 1
                elif action < 0.8:
                    await cache.set_bytes(key, rng.choice(values[key]))
                elif action < 0.9:
                    await cache.delete(key)
                else:
                    try:
                        await cache.schedule_refresh(key, fetch_for(key))
                    except dj.BackgroundJobRejected:
                        pass
            return reads

        results = await async_run_concurrently([lambda seed=seed: worker(seed) for seed in range(16)])  # type: ignore[misc]
        assert all(isinstance(result, int) for result in results), results
        assert sum(results) > 0  # type: ignore[arg-type]
