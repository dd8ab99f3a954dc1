"""The store conformance suite on the Redis store against a real three-node Redis Cluster."""

from __future__ import annotations

import itertools

import pytest
import redis.asyncio

import daramjwee as dj
from _servers import RedisCluster
from daramjwee.testing import AsyncStoreConformance


class _ClusterStore(dj.AsyncRedisStore):
    """A store that closes the cluster client the test made for it."""

    async def close(self) -> None:
        await super().close()
        await self.client.aclose()


class TestRedisClusterConformance(AsyncStoreConformance):
    large_value_size = 16 * 1024 * 1024

    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster: RedisCluster, redis_prefix: str) -> None:
        self.port = redis_cluster.port
        self.prefixes = (f"{redis_prefix}{index}:" for index in itertools.count())

    async def make_store(self) -> dj.AsyncStore:
        client = redis.asyncio.RedisCluster(host="127.0.0.1", port=self.port)
        return _ClusterStore(client, prefix=next(self.prefixes), chunk_size=64 * 1024)


async def test_the_entries_of_many_keys_spread_over_every_node(redis_cluster: RedisCluster, redis_prefix: str) -> None:
    client = redis.asyncio.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    store = dj.AsyncRedisStore(client, prefix=redis_prefix, chunk_size=100)
    try:
        for index in range(30):
            sink = await store.begin_set(f"key-{index}", dj.Metadata())
            await sink.write(bytes([index]) * 250)  # three chunks: a head key and a version key each
            await sink.commit()
        holders = 0
        for node in client.get_primaries():
            count = len([key async for key in client.scan_iter(match=f"{redis_prefix}*", target_nodes=node)])
            holders += count > 0
        assert holders == len(redis_cluster.nodes)
        for index in range(30):
            reader, _ = await store.get_stream(f"key-{index}")
            assert bytes(await reader.read()) == bytes([index]) * 250
            await reader.aclose()
            await store.delete(f"key-{index}")
    finally:
        await store.close()
        await client.aclose()
