"""The Redis store beyond the conformance suite: layout, leases, expiry, failures, configuration."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest
import redis.asyncio
import redis.exceptions
from redis.crc import key_slot

import daramjwee as dj
from _flavours import async_other_flavour_redis_client
from _servers import RedisServer
from daramjwee._async_primitives import async_sleep
from daramjwee._entryhead import key_digest

from ._helpers import Origin, assert_hits_open_no_sink_above, eventually

HOSTILE_KEYS = [
    "/",
    "..",
    "../../etc/passwd",
    "a/b/../c",
    "nul\x00byte",
    "crlf\r\nSET x y",
    "k" * 10_000,
    "lone \ud800 surrogate",
    "\U0001f43f\ufe0f",
    "{tag}",
    "}{",
    "*?[]",
    " ",
]


async def _put(store: dj.AsyncRedisStore, key: str, value: bytes, metadata: dj.Metadata | None = None) -> None:
    sink = await store.begin_set(key, metadata or dj.Metadata(etag=key[:20], cached_at=1.0))
    for start in range(0, len(value), 300):
        await sink.write(value[start : start + 300])
    await sink.commit()


async def _get(store: dj.AsyncRedisStore, key: str) -> tuple[bytes, dj.Metadata]:
    reader, metadata = await store.get_stream(key)
    try:
        return bytes(await reader.read()), metadata
    finally:
        await reader.aclose()


@pytest.fixture
async def raw(redis_server: RedisServer) -> redis.asyncio.Redis:
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def _keys(raw: redis.asyncio.Redis, prefix: str) -> list[bytes]:
    return sorted([key async for key in raw.scan_iter(match=prefix.encode() + b"*")])


@pytest.mark.parametrize("chunk_size", [1 << 20, 256])
async def test_hostile_and_binary_unsafe_keys_round_trip_without_colliding(
    redis_server: RedisServer, redis_prefix: str, chunk_size: int
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=chunk_size)
    try:
        values = {key: f"value of {key!r}".encode("utf-8", "surrogatepass") * 40 for key in HOSTILE_KEYS}
        for key, value in values.items():
            await _put(store, key, value)
        for key, value in values.items():
            body, metadata = await _get(store, key)
            assert body == value
            assert metadata.etag == key[:20]
            assert (await store.stat(key)).etag == key[:20]
    finally:
        await store.close()


async def test_every_key_of_an_entry_shares_one_cluster_slot(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100)
    try:
        await _put(store, "{user}:42", b"x" * 1000)
        keys = await _keys(raw, redis_prefix)
        assert len(keys) == 2, "the head and one version key"
        digest = key_digest("{user}:42").encode()
        assert all(key.startswith(redis_prefix.encode() + b"{" + digest + b"}") for key in keys)
        assert len({key_slot(key) for key in keys}) == 1
    finally:
        await store.close()


async def test_a_small_value_is_one_key_and_a_large_one_is_chunked(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=1000)
    try:
        await _put(store, "small", b"s" * 1000)
        assert len(await _keys(raw, redis_prefix)) == 1
        await _put(store, "large", bytes(range(256)) * 20)
        keys = await _keys(raw, redis_prefix)
        assert len(keys) == 3
        (version_key,) = [key for key in keys if key.endswith(b"}") is False and b"}:" in key]
        chunks = await raw.hgetall(version_key)
        assert sorted(chunks) == [b"1", b"2", b"3", b"4", b"5"], "5,120 bytes: the first 1,000 in the head, then five"
        assert max(len(chunk) for chunk in chunks.values()) <= 1000
        assert (await _get(store, "large"))[0] == bytes(range(256)) * 20
    finally:
        await store.close()


async def test_replacing_and_deleting_leave_no_garbage_after_the_reader_grace(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100, reader_grace=0.05)
    try:
        for round_ in range(3):
            await _put(store, "k", bytes([round_]) * 1000)
        await store.delete("k")
        await _put(store, "gone", b"g" * 1000)
        await store.delete("gone")
        deadline = time.monotonic() + 5
        while await _keys(raw, redis_prefix) and time.monotonic() < deadline:
            await async_sleep(0.02)
        assert await _keys(raw, redis_prefix) == []
    finally:
        await store.close()


async def test_a_reader_slower_than_the_grace_fails_instead_of_mixing_values(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100, reader_grace=0)
    try:
        await _put(store, "k", b"a" * 1000)
        reader, _ = await store.get_stream("k")
        assert bytes(await reader.read(100)) == b"a" * 100
        await _put(store, "k", b"b" * 1000)
        with pytest.raises(dj.DaramjweeError, match="reader_grace"):
            await reader.read(100)
        await reader.aclose()
        assert (await _get(store, "k"))[0] == b"b" * 1000
    finally:
        await store.close()


async def test_an_open_reader_within_the_grace_keeps_its_version(redis_server: RedisServer, redis_prefix: str) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100)
    try:
        await _put(store, "k", b"a" * 1000)
        reader, _ = await store.get_stream("k")
        first = bytes(await reader.read(50))
        await _put(store, "k", b"b" * 1000)
        await store.delete("k")
        assert first + bytes(await reader.read()) == b"a" * 1000
        await reader.aclose()
    finally:
        await store.close()


async def test_ttl_is_a_hard_expiry(redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis) -> None:
    store = dj.AsyncRedisStore(
        redis_server.url, prefix=redis_prefix, chunk_size=100, ttl=datetime.timedelta(milliseconds=300)
    )
    try:
        await _put(store, "k", b"x" * 1000, dj.Metadata(cached_at=time.time()))
        assert (await _get(store, "k"))[0] == b"x" * 1000
        for key in await _keys(raw, redis_prefix):
            assert 0 < await raw.pttl(key) <= 300 + 60_000, "every key of the entry expires"
        await async_sleep(0.5)
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
    finally:
        await store.close()


async def test_staged_chunks_have_a_lease_and_abort_removes_them(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100, staging_ttl=30)
    try:
        sink = await store.begin_set("k", dj.Metadata())
        await sink.write(b"x" * 550)
        (staged,) = await _keys(raw, redis_prefix)
        assert 0 < await raw.pttl(staged) <= 30_000, "a writer that dies leaks its chunks for at most staging_ttl"
        with pytest.raises(dj.NotFound):
            await store.stat("k")
        await sink.abort()
        assert await _keys(raw, redis_prefix) == []
    finally:
        await store.close()


async def test_a_commit_whose_staged_chunks_expired_fails_and_keeps_the_old_value(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=100)
    try:
        await _put(store, "k", b"old" * 100)
        before = set(await _keys(raw, redis_prefix))
        sink = await store.begin_set("k", dj.Metadata())
        await sink.write(b"n" * 550)
        (staged,) = set(await _keys(raw, redis_prefix)) - before
        await raw.delete(staged)  # as if the lease ran out
        with pytest.raises(redis.exceptions.ResponseError, match="staging_ttl"):
            await sink.commit()
        await sink.abort()
        assert (await _get(store, "k"))[0] == b"old" * 100
    finally:
        await store.close()


async def test_a_corrupt_head_is_a_miss_and_is_removed(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)
    try:
        await _put(store, "k", b"value")
        (head,) = await _keys(raw, redis_prefix)
        await raw.setrange(head, 28, b"DJWHEAD\n garbage")  # after the version id and the two lengths
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
        assert await raw.exists(head) == 0
        await _put(store, "k", b"value")
        await raw.setrange(head, 16, (12345).to_bytes(8, "little"))  # claims more bytes than there are, no version key
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
        await _put(store, "k", b"value")
        await raw.setrange(head, 34, b"\xff")  # inside the head: its checksum no longer matches
        with pytest.raises(dj.NotFound):
            await store.stat("k")
        assert await raw.exists(head) == 0
    finally:
        await store.close()


async def test_an_entry_whose_chunks_the_server_evicted_is_a_miss_for_the_next_tier(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis, tmp_path: Path
) -> None:
    redis_tier = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=1000)
    disk = dj.AsyncFileStore(tmp_path / "disk")
    value = bytes(range(256)) * 40
    await _put(redis_tier, "k", value)
    await _put(disk, "k", value)
    (version_key,) = [key for key in await _keys(raw, redis_prefix) if not key.endswith(b"}")]
    await raw.delete(version_key)  # as allkeys-lru would
    async with dj.AsyncCache(stores=[redis_tier, disk], positive_fresh_for=None) as cache:
        response = await cache.get("k", Origin({}).fetcher("k"))
        async with response:
            assert response.source == 1
            assert bytes(await response.read()) == value
    assert await _keys(raw, redis_prefix) != [], "the promotion wrote it back whole"


async def test_stat_reads_a_head_longer_than_its_first_range(redis_server: RedisServer, redis_prefix: str) -> None:
    store = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)
    try:
        metadata = dj.Metadata(etag="big", attrs={"note": "n" * 20_000})
        await _put(store, "k", b"v" * 5000, metadata)
        assert await store.stat("k") == metadata
        assert (await _get(store, "k")) == (b"v" * 5000, metadata)
    finally:
        await store.close()


async def test_a_store_made_from_a_url_owns_its_client_and_a_given_client_is_left_open(
    redis_server: RedisServer, redis_prefix: str, raw: redis.asyncio.Redis
) -> None:
    store = dj.AsyncRedisStore(raw, prefix=redis_prefix)
    await _put(store, "k", b"v")
    await store.close()
    await store.close()
    assert await raw.ping(), "the caller's client still works"
    owned = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, client_options={"socket_timeout": 1.0})
    assert (await _get(owned, "k"))[0] == b"v"
    assert owned.client.get_connection_kwargs()["socket_timeout"] == 1.0
    await owned.close()


def test_bad_configuration_is_refused_with_a_clear_error(redis_server: RedisServer) -> None:
    url = redis_server.url
    with pytest.raises(dj.ConfigError, match="hash tag"):
        dj.AsyncRedisStore(url, prefix="app:{x}:")
    with pytest.raises(dj.ConfigError, match="decode_responses=False"):
        dj.AsyncRedisStore(redis.asyncio.Redis.from_url(url, decode_responses=True))
    with pytest.raises(TypeError, match="sync client belongs in RedisStore"):
        dj.AsyncRedisStore(async_other_flavour_redis_client(url))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got int"):
        dj.AsyncRedisStore(6379)  # type: ignore[arg-type]
    with pytest.raises(dj.ConfigError, match="client_options"):
        dj.AsyncRedisStore(redis.asyncio.Redis.from_url(url), client_options={"socket_timeout": 1})
    with pytest.raises(dj.ConfigError, match="ttl"):
        dj.AsyncRedisStore(url, ttl=0)
    with pytest.raises(dj.ConfigError, match="ttl"):
        dj.AsyncRedisStore(url, ttl=-1)
    with pytest.raises(dj.ConfigError, match="staging_ttl"):
        dj.AsyncRedisStore(url, staging_ttl=0.5)
    with pytest.raises(dj.ConfigError, match="chunk_size"):
        dj.AsyncRedisStore(url, chunk_size="0B")


async def test_a_dead_server_raises_from_the_store_which_recovers_when_it_is_back(
    private_redis: RedisServer,
) -> None:
    store = dj.AsyncRedisStore(private_redis.url, client_options={"socket_timeout": 1.0})
    try:
        await _put(store, "k", b"v" * 1000)
        private_redis.kill()
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.get_stream("k")
        with pytest.raises(redis.exceptions.ConnectionError):
            await _put(store, "k2", b"v")
        private_redis.start()
        with pytest.raises(dj.NotFound):  # no persistence: the restarted server is empty
            await store.get_stream("k")
        await _put(store, "k", b"again")
        assert (await _get(store, "k"))[0] == b"again"
    finally:
        await store.close()


async def test_as_a_shared_tier_a_second_cache_is_served_without_the_origin(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    origin = Origin({"k": b"shared value" * 1000})
    first = dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)])
    async with first:
        assert await first.get_bytes("k", origin.fetcher("k")) == b"shared value" * 1000
        await eventually(lambda: first.stats().fanouts == 1)
    second = dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)])
    async with second:
        assert await second.get_bytes("k", origin.fetcher("k")) == b"shared value" * 1000
        assert second.stats().tiers[1].hits == 1
    assert origin.calls == 1


async def test_a_hit_too_large_for_memory_opens_no_memory_sink_without_a_declared_length(
    redis_server: RedisServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The reader knows the chunked value's length (its ``remaining``): no sink above it is opened, every hit."""
    value = bytes(range(256)) * 1200
    redis_tier = dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix, chunk_size=64 * 1024)
    await _put(redis_tier, "k", value, dj.Metadata(cached_at=time.time()))
    await assert_hits_open_no_sink_above(redis_tier, "k", value, caplog)
