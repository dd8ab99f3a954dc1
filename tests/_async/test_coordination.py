"""Fleet coordination (rules Y1-Y8), two or more instances in one process over a real redis-server.

Each instance is a cache with its own memory and file tiers over one shared
``RedisStore`` and one coordinator prefix, as separate machines would be.
The multi-process runs (8 processes, SIGKILL, Redis killed) are in
``tests/fleet``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio

import daramjwee as dj
from _flavours import async_other_flavour_redis_client, async_run_concurrently, async_start
from _servers import RedisCluster, RedisServer
from daramjwee._async_primitives import async_sleep
from daramjwee._entryhead import key_digest

from ._helpers import Origin


class Fleet:
    """Instances sharing one Redis and one prefix; each with local tiers of its own under ``root``."""

    def __init__(self, url: str, prefix: str, root: Path, **coordinator: object) -> None:
        self.url = url
        self.prefix = prefix
        self.root = root
        self.coordinator = coordinator
        self.caches: list[dj.AsyncCache] = []

    def instance(self, **options: object) -> dj.AsyncCache:
        index = len(self.caches)
        coordinator = dj.AsyncRedisCoordinator(self.url, prefix=self.prefix, **self.coordinator)  # type: ignore[arg-type]
        cache = dj.AsyncCache(
            stores=[
                dj.AsyncMemStore("16MiB"),
                dj.AsyncFileStore(self.root / f"instance-{index}", capacity="64MiB"),
                dj.AsyncRedisStore(self.url, prefix=self.prefix),
            ],
            coordination=coordinator,
            **options,  # type: ignore[arg-type]
        )
        self.caches.append(cache)
        return cache

    async def close(self) -> None:
        for cache in self.caches:
            await cache.close()


@asynccontextmanager
async def fleet(url: str, prefix: str, root: Path, **coordinator: object) -> AsyncIterator[Fleet]:
    instances = Fleet(url, prefix, root, **coordinator)
    try:
        yield instances
    finally:
        await instances.close()


async def local_tiers_hold(cache: dj.AsyncCache, key: str) -> list[bool]:
    """Whether each local tier (memory, file) of ``cache`` holds ``key``."""
    held = []
    for store in cache.stores[:2]:
        try:
            await store.stat(key)
        except dj.NotFound:
            held.append(False)
        else:
            held.append(True)
    return held


async def until(predicate: Callable[[], Awaitable[object]], timeout: float = 5.0) -> float:
    """Wait until ``predicate()`` is truthy; the seconds it took (``AssertionError`` after ``timeout``)."""
    started = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        await async_sleep(0.005)


# -- construction (rule Y1) -------------------------------------------------------------------


async def test_a_coordinator_needs_a_shared_tier_and_serves_one_cache(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    coordinator = dj.AsyncRedisCoordinator(redis_server.url, prefix=redis_prefix)
    with pytest.raises(dj.ConfigError, match="shared"):
        dj.AsyncCache(stores=[dj.AsyncMemStore()], coordination=coordinator)
    cache = dj.AsyncCache(
        stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)], coordination=coordinator
    )
    with pytest.raises(dj.ConfigError, match="already serves a cache"):
        dj.AsyncCache(
            stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)],
            coordination=coordinator,
        )
    await cache.close()


async def test_bad_coordinator_arguments_are_refused_before_anything_connects(redis_server: RedisServer) -> None:
    with pytest.raises(dj.ConfigError, match="prefix"):
        dj.AsyncRedisCoordinator(redis_server.url, prefix="a{b}")
    with pytest.raises(dj.ConfigError, match="lease_ttl"):
        dj.AsyncRedisCoordinator(redis_server.url, lease_ttl=0)
    with pytest.raises(dj.ConfigError, match="log_size"):
        dj.AsyncRedisCoordinator(redis_server.url, log_size=0)
    with pytest.raises(TypeError, match="client"):
        dj.AsyncRedisCoordinator(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client"):
        dj.AsyncRedisCoordinator(async_other_flavour_redis_client(redis_server.url))  # type: ignore[arg-type]
    with pytest.raises(dj.ConfigError, match="coordination must be"):
        dj.AsyncCache(stores=[dj.AsyncMemStore()], coordination="redis://127.0.0.1:1/0")  # type: ignore[arg-type]


# -- single-flight (rules Y2-Y4) ----------------------------------------------------------------


async def test_three_instances_missing_one_key_fetch_it_once(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    value = bytes(range(256)) * 400
    origin = Origin({"k": value}, delay=0.2)
    async with fleet(redis_server.url, redis_prefix, tmp_path) as instances:
        caches = [instances.instance() for _ in range(3)]

        async def read(cache: dj.AsyncCache) -> tuple[bytes, bool]:
            async with await cache.get("k", origin.fetcher("k")) as response:
                return await response.read(), response.coalesced

        readers = [(lambda cache=cache: read(cache)) for cache in caches for _ in range(5)]
        results = await async_run_concurrently(readers)
        # One caller fetched; every other one waited for it, in its own process or in another instance.
        assert sorted(results) == [(value, False)] + [(value, True)] * 14  # type: ignore[type-var]
        assert origin.calls == 1
        assert sum(cache.stats().fleet_leases for cache in caches) == 1
        assert sum(cache.stats().fleet_shared_hits for cache in caches) == 2
        for cache in caches:  # each instance now serves it locally
            await until(lambda cache=cache: local_tiers_hold(cache, "k"))


async def test_a_failed_holder_hands_the_fetch_to_one_waiter(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    calls = 0

    async def flaky(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        await async_sleep(0.1)
        if calls == 1:
            raise ConnectionError("the origin dropped the first request")
        return dj.FetchResult(b"value", dj.Metadata(etag="v"))

    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=10.0) as instances:
        caches = [instances.instance() for _ in range(3)]
        readers = [(lambda cache=cache: cache.get_bytes("k", flaky)) for cache in caches]
        started = time.monotonic()
        results = await async_run_concurrently(readers)
        assert sum(isinstance(result, ConnectionError) for result in results) == 1
        assert results.count(b"value") == 2
        assert calls == 2
        assert time.monotonic() - started < 5  # the failure was told at once, not found by the 10 s expiry


async def test_a_holder_whose_client_leaves_mid_fill_hands_over_at_once(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    value = b"x" * 300_000
    origin = Origin({"k": value}, delay=0.05)
    origin.chunk = 1000
    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=30.0) as instances:
        holder, waiter = instances.instance(chunk_size=1000), instances.instance()
        response = await holder.get("k", origin.fetcher("k"))
        assert await response.read(1000) == value[:1000]
        started = time.monotonic()
        waiting = async_start(lambda: waiter.get_bytes("k", origin.fetcher("k")))
        await until(lambda: counted(waiter, "fleet_waits", 1))
        await response.aclose()  # the holder's client leaves: nothing is published, the lease ends "failed"
        assert await waiting.result() == value
        assert origin.calls == 2
        assert time.monotonic() - started < 10  # not the 30 s lease expiry


async def test_a_fill_longer_than_the_lease_keeps_it(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    calls = 0

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(15):  # 1.5 s, three times lease_ttl
            await async_sleep(0.1)
            yield b"x" * 1000

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        return dj.FetchResult(slow_body(), dj.Metadata())

    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=0.5) as instances:
        caches = [instances.instance() for _ in range(3)]
        results = await async_run_concurrently([(lambda cache=cache: cache.get_bytes("k", fetch)) for cache in caches])
        assert results == [b"x" * 15_000] * 3
        assert calls == 1  # renewed while it streamed: nobody took it over
        assert sum(cache.stats().fleet_shared_hits for cache in caches) == 2


async def test_an_expired_lease_is_taken_over_by_exactly_one_waiter(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    origin = Origin({"k": b"value"}, delay=0.05)
    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=0.5) as instances:
        caches = [instances.instance() for _ in range(4)]
        # The lease of a holder that died: a token nobody renews or gives back, expiring in 500 ms.
        await raw.set(f"{{{redis_prefix}}}lease:{key_digest('k')}", "dead-holder", px=500)
        readers = [(lambda cache=cache: cache.get_bytes("k", origin.fetcher("k"))) for cache in caches]
        started = time.monotonic()
        results = await async_run_concurrently(readers)
        assert results == [b"value"] * 4
        assert origin.calls == 1  # exactly one waiter took over
        assert 0.4 < time.monotonic() - started < 5
    await raw.aclose()


async def test_a_wait_for_a_live_holder_is_bounded_by_coalesce_wait(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    origin = Origin({"k": b"value"})
    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=30.0) as instances:
        cache = instances.instance(coalesce_wait=0.5)
        # A holder that is alive but slow: its lease stays for 30 s and it never sends a word.
        await raw.set(f"{{{redis_prefix}}}lease:{key_digest('k')}", "slow-holder", px=30_000)
        started = time.monotonic()
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        assert 0.4 < time.monotonic() - started < 3
        assert origin.calls == 1
        assert cache.stats().fleet_waits == 1
        assert await local_tiers_hold(cache, "k") == [False, False]  # fetched for that caller alone, stored nowhere
    await raw.aclose()


async def test_an_uncacheable_answer_lets_the_waiters_fetch_for_themselves(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    calls = 0

    async def private(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        await async_sleep(0.2)
        return dj.FetchResult(b"mine", dj.Metadata(), store=False)

    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=30.0) as instances:
        caches = [instances.instance() for _ in range(3)]
        started = time.monotonic()
        results = await async_run_concurrently(
            [(lambda cache=cache: cache.get_bytes("k", private)) for cache in caches]
        )
        assert results == [b"mine"] * 3
        assert calls == 3
        assert time.monotonic() - started < 5


async def test_a_negative_answer_is_shared_too(redis_server: RedisServer, redis_prefix: str, tmp_path: Path) -> None:
    origin = Origin({}, delay=0.2)
    async with fleet(redis_server.url, redis_prefix, tmp_path) as instances:
        caches = [instances.instance() for _ in range(3)]
        results = await async_run_concurrently(
            [(lambda cache=cache: cache.get_bytes("gone", origin.fetcher("gone"))) for cache in caches]
        )
        assert all(isinstance(result, dj.NotFound) for result in results)
        assert origin.calls == 1


async def test_a_cached_value_never_waits_for_a_lease(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    origin = Origin({"k": b"value"})
    async with fleet(redis_server.url, redis_prefix, tmp_path, lease_ttl=30.0) as instances:
        cache = instances.instance()
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
        probe = dj.AsyncRedisCoordinator(redis_server.url, prefix=redis_prefix, lease_ttl=30.0)
        try:
            await until(lambda: _taken(probe, "k"))  # once the fill gave it back, someone else holds it for 30 s
            started = time.monotonic()
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
            assert time.monotonic() - started < 0.5
        finally:
            await probe.close()
        assert origin.calls == 1


# -- invalidation (rules Y5, Y6) --------------------------------------------------------------------


async def test_delete_set_and_clear_on_one_instance_reach_the_local_tiers_of_the_others(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    origin = Origin({"a": b"A1", "b": b"B1"})
    async with fleet(redis_server.url, redis_prefix, tmp_path) as instances:
        writer, reader = instances.instance(), instances.instance()
        for key in ("a", "b"):
            assert await reader.get_bytes(key, origin.fetcher(key)) == origin.values[key]
            await until(lambda key=key: local_tiers_hold(reader, key))
        await writer.delete("a")
        seconds = await until(lambda: _none_held(reader, "a"))
        assert seconds < 1
        await writer.set_bytes("b", b"B2")
        await until(lambda: _none_held(reader, "b"))
        assert await reader.get_bytes("b", origin.fetcher("b")) == b"B2"  # from the shared tier, not the origin
        assert origin.calls == 2
        await until(lambda: local_tiers_hold(reader, "b"))
        await writer.clear()
        await until(lambda: _none_held(reader, "b"))
        assert reader.stats().fleet_invalidations_applied == 3
        assert writer.stats().fleet_invalidations_sent == 3
        assert writer.stats().fleet_invalidations_applied == 0  # an instance never applies its own


async def _none_held(cache: dj.AsyncCache, key: str) -> bool:
    return not any(await local_tiers_hold(cache, key))


async def _taken(coordinator: dj.AsyncRedisCoordinator, key: str) -> bool:
    """Whether ``coordinator`` took ``key``'s lease (kept until it closes)."""
    claim = await coordinator.claim(key, force=True)
    claim.close()
    return claim.kind == "lease"


async def counted(cache: dj.AsyncCache, counter: str, value: int) -> bool:
    """Whether ``cache.stats()`` has counted ``counter`` up to ``value``."""
    return bool(getattr(cache.stats(), counter) == value)


async def test_a_tag_invalidation_is_seen_at_once_despite_tag_ttl(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    origin = Origin({"k": b"v1"})
    async with fleet(redis_server.url, redis_prefix, tmp_path) as instances:
        writer, reader = instances.instance(tag_ttl=60), instances.instance(tag_ttl=60)
        assert await _tagged(reader, origin) == b"v1"
        assert await _tagged(reader, origin) == b"v1"  # a hit, its tag's version memoized for 60 s
        origin.values["k"] = b"v2"
        await writer.invalidate_tags("t")
        await until(lambda: counted(reader, "fleet_invalidations_applied", 1))
        assert await _tagged(reader, origin) == b"v2"
        assert origin.calls == 2


async def _tagged(cache: dj.AsyncCache, origin: Origin) -> bytes:
    async with await cache.get("k", origin.fetcher("k"), tags=["t"]) as response:
        return await response.read()


async def test_missed_invalidations_are_replayed_from_the_log_after_a_disconnect(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    origin = Origin({"a": b"A", "b": b"B", "c": b"C"})
    async with fleet(redis_server.url, redis_prefix, tmp_path, retry_after=0.5) as instances:
        writer, reader = instances.instance(), instances.instance()
        for key in "abc":
            await reader.get_bytes(key, origin.fetcher(key))
            await until(lambda key=key: local_tiers_hold(reader, key))
        await writer.delete("c")  # both listeners are up
        await until(lambda: _none_held(reader, "c"))
        await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # every listener loses its connection
        sender = instances.instance()  # one that never saw Redis fail: it sends at once, unseen by the reader
        await sender.delete("a")
        await sender.delete("b")
        await until(lambda: _none_held(reader, "a"))
        await until(lambda: _none_held(reader, "b"))
        assert reader.stats().fleet_resyncs == 0
    await raw.aclose()


async def test_an_instance_that_missed_more_than_the_log_holds_drops_its_local_tiers(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    origin = Origin({"kept": b"K"})
    async with fleet(redis_server.url, redis_prefix, tmp_path, log_size=2, retry_after=0.5) as instances:
        writer, reader = instances.instance(), instances.instance()
        await reader.get_bytes("kept", origin.fetcher("kept"))
        await until(lambda: local_tiers_hold(reader, "kept"))
        await writer.delete("warm-up")  # both listeners are up and have seen the log
        await until(lambda: counted(reader, "fleet_invalidations_applied", 1))
        await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the reader waits retry_after to reconnect
        sender = instances.instance()  # one that never saw Redis fail: it sends at once
        for index in range(5):  # five go by unseen; the log keeps two
            await sender.delete(f"k{index}")
        await until(lambda: counted(reader, "fleet_resyncs", 1))
        assert await local_tiers_hold(reader, "kept") == [False, False]
    await raw.aclose()


# -- Redis down (rule Y7) ------------------------------------------------------------------------------


async def test_redis_down_fails_no_read_and_a_delete_made_meanwhile_is_honoured_when_it_returns(
    private_redis: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    origin = Origin({"k": b"old"})
    async with fleet(private_redis.url, redis_prefix, tmp_path, retry_after=0.2, op_timeout=0.5) as instances:
        writer, reader = instances.instance(), instances.instance()
        assert await reader.get_bytes("k", origin.fetcher("k")) == b"old"
        await until(lambda: local_tiers_hold(reader, "k"))
        private_redis.kill()
        origin.values["k"] = b"new"
        assert await writer.get_bytes("cold", _answer(b"cold")) == b"cold"  # a miss with Redis down: no failure
        assert await reader.get_bytes("k", origin.fetcher("k")) == b"old"  # its local copy, still fresh
        with pytest.raises(dj.TierError):
            await writer.delete("k")  # the Redis tier failed; the invalidation is kept for later
        assert writer.stats().fleet_errors >= 1
        private_redis.start()
        seconds = await until(lambda: _none_held(reader, "k"), timeout=10)
        assert seconds < 5
        assert await reader.get_bytes("k", origin.fetcher("k")) == b"new"


async def test_a_redis_that_accepts_but_never_answers_delays_a_miss_by_op_timeout_only(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    with socket.socket() as listener:  # a hung Redis: connections are accepted, nothing is ever answered
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        hung = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        cache = dj.AsyncCache(
            stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)],
            coordination=dj.AsyncRedisCoordinator(hung, prefix=redis_prefix, op_timeout=0.3, retry_after=5),
        )
        try:
            started = time.monotonic()
            assert await cache.get_bytes("k", _answer(b"value")) == b"value"
            assert time.monotonic() - started < 2
            assert cache.stats().fleet_errors >= 1
            started = time.monotonic()
            assert await cache.get_bytes("other", _answer(b"other")) == b"other"  # unavailable now: no wait at all
            assert time.monotonic() - started < 0.3
        finally:
            await cache.close()


def _answer(value: bytes) -> Callable[[dj.Metadata | None], object]:
    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(value, dj.Metadata())

    return fetch


# -- a Redis Cluster ---------------------------------------------------------------------------------------


async def test_a_cluster_coordinates_with_sharded_pub_sub(
    redis_cluster: RedisCluster, redis_prefix: str, tmp_path: Path
) -> None:
    origin = Origin({"k": b"value"}, delay=0.2)
    caches = []
    clients = []
    try:
        for index in range(3):
            client = redis.asyncio.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
            clients.append(client)
            caches.append(
                dj.AsyncCache(
                    stores=[
                        dj.AsyncMemStore(),
                        dj.AsyncFileStore(tmp_path / f"i{index}", capacity="16MiB"),
                        dj.AsyncRedisStore(client, prefix=redis_prefix),
                    ],
                    coordination=dj.AsyncRedisCoordinator(client, prefix=redis_prefix),
                )
            )
        results = await async_run_concurrently(
            [(lambda cache=cache: cache.get_bytes("k", origin.fetcher("k"))) for cache in caches for _ in range(3)]
        )
        assert results == [b"value"] * 9
        assert origin.calls == 1
        for cache in caches[1:]:
            await until(lambda cache=cache: local_tiers_hold(cache, "k"))
        await caches[0].delete("k")
        for cache in caches[1:]:
            await until(lambda cache=cache: _none_held(cache, "k"))
    finally:
        for cache in caches:
            await cache.close()
        for client in clients:
            await client.aclose()
