"""The Redis store on a real three-primary Redis Cluster.

The conformance suite runs with redis-py's sync cluster client (on threads).
The async cluster client is exercised without concurrency only: under
concurrent first use of a node, redis-py's ``redis.asyncio.RedisCluster``
sometimes sends on a connection that another task is still setting up
(``'NoneType' object has no attribute 'writelines'`` from its
``on_connect``), a client race outside this store.
"""

from __future__ import annotations

import itertools

import pytest
import redis
import redis.asyncio

import daramjwee as dj
from _servers import RedisCluster
from daramjwee.testing import StoreConformance


class _ClusterStore(dj.RedisStore):
    """A store that closes the cluster client the test made for it."""

    def close(self) -> None:
        super().close()
        self.client.close()


class TestRedisClusterConformance(StoreConformance):
    large_value_size = 16 * 1024 * 1024

    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster: RedisCluster, redis_prefix: str) -> None:
        self.port = redis_cluster.port
        self.prefixes = (f"{redis_prefix}{index}:" for index in itertools.count())

    def make_store(self) -> dj.Store:
        client = redis.RedisCluster(host="127.0.0.1", port=self.port)
        return _ClusterStore(client, prefix=next(self.prefixes), chunk_size=64 * 1024)


def test_the_entries_of_many_keys_spread_over_every_node(redis_cluster: RedisCluster, redis_prefix: str) -> None:
    client = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    store = dj.RedisStore(client, prefix=redis_prefix, chunk_size=100)
    try:
        for index in range(30):
            sink = store.begin_set(f"key-{index}", dj.Metadata())
            sink.write(bytes([index]) * 250)  # three chunks: a head key and a version key each
            sink.commit()
        holders = sum(
            any(True for _ in client.scan_iter(match=f"{redis_prefix}*", target_nodes=node))
            for node in client.get_primaries()
        )
        assert holders == len(redis_cluster.nodes)
        for index in range(30):
            reader, _ = store.get_stream(f"key-{index}")
            assert bytes(reader.read()) == bytes([index]) * 250
            reader.close()
            store.delete(f"key-{index}")
    finally:
        store.close()
        client.close()


async def test_the_async_store_publishes_reads_and_deletes_multi_chunk_entries_on_a_cluster(
    redis_cluster: RedisCluster, redis_prefix: str
) -> None:
    client = redis.asyncio.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    store = dj.AsyncRedisStore(client, prefix=redis_prefix, chunk_size=100)
    try:
        for index in range(20):
            sink = await store.begin_set(f"key-{index}", dj.Metadata(etag=str(index)))
            await sink.write(bytes([index]) * 350)
            await sink.commit()
        for index in range(20):
            reader, metadata = await store.get_stream(f"key-{index}")
            assert bytes(await reader.read()) == bytes([index]) * 350
            assert metadata.etag == str(index)
            await reader.aclose()
            await store.delete(f"key-{index}")
            with pytest.raises(dj.NotFound):
                await store.stat(f"key-{index}")
    finally:
        await store.close()
        await client.aclose()
