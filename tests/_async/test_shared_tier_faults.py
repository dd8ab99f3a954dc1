"""A shared tier that dies and comes back: the cache keeps serving correct bytes and uses it again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import daramjwee as dj
from _flavours import async_run_concurrently
from _servers import RedisServer
from daramjwee._async_primitives import async_sleep

from ._helpers import Origin, eventually

KEYS = [f"object-{index}" for index in range(40)]


def _value(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest() * 64  # 2 KiB, distinct per key


async def test_redis_killed_mid_run_then_restarted(private_redis: RedisServer, tmp_path: Path) -> None:
    origin = Origin({key: _value(key) for key in KEYS})
    redis_tier = dj.AsyncRedisStore(private_redis.url, client_options={"socket_timeout": 1.0})
    # Tier 0 holds a few values only, so most reads go past it to Redis (or, while it is down, the disk).
    stores = [dj.AsyncMemStore(capacity=8 * 1024), redis_tier, dj.AsyncFileStore(tmp_path / "disk")]
    async with dj.AsyncCache(stores=stores, positive_fresh_for=None) as cache:
        for key in KEYS:
            assert await cache.get_bytes(key, origin.fetcher(key)) == _value(key)
        await eventually(lambda: cache.stats().fanouts == len(KEYS))
        assert cache.stats().tiers[1].errors == 0

        wrong: list[str] = []
        killed = False

        async def reader(offset: int) -> None:
            for round_ in range(12):
                for key in KEYS[offset::4]:
                    if await cache.get_bytes(key, origin.fetcher(key)) != _value(key):
                        wrong.append(key)
                if round_ == 4:
                    await async_sleep(0.05)  # let the killer land while readers are mid-run

        async def killer() -> None:
            nonlocal killed
            await async_sleep(0.02)
            private_redis.kill()
            killed = True

        results = await async_run_concurrently([*(lambda o=o: reader(o) for o in range(4)), killer])
        assert [result for result in results if isinstance(result, BaseException)] == []
        assert killed
        assert wrong == [], "every get returned the right bytes"
        errors_while_down = cache.stats().tiers[1].errors
        assert errors_while_down > 0, "the dead tier's failures are counted"
        assert origin.calls == len(KEYS), "the disk tier served what Redis could not"

        private_redis.start()  # empty: no persistence
        for key in KEYS:  # a disk hit promotes into tiers 0 and 1: Redis is written again
            assert await cache.get_bytes(key, origin.fetcher(key)) == _value(key)
        hits_before = cache.stats().tiers[1].hits
        for key in KEYS:  # tier 0 is too small for all of them: most now come from Redis
            assert await cache.get_bytes(key, origin.fetcher(key)) == _value(key)
        stats = cache.stats()
        assert stats.tiers[1].hits - hits_before >= len(KEYS) // 2, "the restarted tier serves again"
        assert stats.tiers[1].errors == errors_while_down, "no errors once the server is back"
        assert origin.calls == len(KEYS)
