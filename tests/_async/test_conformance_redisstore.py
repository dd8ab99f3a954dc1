"""The store conformance suite (``daramjwee.testing``) on the Redis store, against a real redis-server."""

from __future__ import annotations

import itertools

import pytest

import daramjwee as dj
from _servers import RedisServer
from daramjwee.testing import AsyncStoreConformance


class TestRedisStoreConformance(AsyncStoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer, redis_prefix: str) -> None:
        self.url = redis_server.url
        self.prefixes = (f"{redis_prefix}{index}:" for index in itertools.count())

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncRedisStore(self.url, prefix=next(self.prefixes))


class TestSmallChunkRedisStoreConformance(TestRedisStoreConformance):
    """Chunks far smaller than the suite's reads and writes: every value spans many chunks.

    The large value is smaller here: at 1,000-byte chunks, 64 MiB would be 67,000 round trips.
    """

    large_value_size = 4 * 1024 * 1024

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncRedisStore(self.url, prefix=next(self.prefixes), chunk_size=1000)
