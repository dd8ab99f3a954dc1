"""Ranged reads: ``get(key, fetch, byte_range=...)`` from every kind of tier, misses, errors."""

from __future__ import annotations

import itertools
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from obstore.store import S3Store

import daramjwee as dj
import daramjwee._async._objectstore as objectstore_module
from _flavours import async_run_concurrently
from _servers import MotoServer, RedisServer
from daramjwee._async_primitives import async_sleep

from ._helpers import Origin, eventually, put

VALUE = bytes(range(256)) * 80  # 20,480 bytes: past the object store's first read, over many Redis chunks
_PREFIXES = itertools.count()


def _memory_value(store: dj.AsyncMemStore, key: str) -> bytes | None:
    try:
        return store.peek(key)[0]
    except dj.NotFound:
        return None


@pytest.fixture(params=["memory", "file", "redis", "object"])
def lower(request: pytest.FixtureRequest, tmp_path: Path) -> dj.AsyncStore:
    """A store of each kind, to serve as tier 1 under a memory tier 0."""
    kind = request.param
    if kind == "memory":
        return dj.AsyncMemStore()
    if kind == "file":
        return dj.AsyncFileStore(tmp_path / "files")
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"{request.getfixturevalue('redis_prefix')}{next(_PREFIXES)}:"
        return dj.AsyncRedisStore(server.url, prefix=prefix, chunk_size=1000)
    s3: MotoServer = request.getfixturevalue("s3_server")
    return dj.AsyncObjectStore(S3Store(s3.bucket(), **s3.store_options()), "cache")


CASES = [
    (dj.ByteRange.from_http(10, 19), (10, 20)),  # bytes=10-19
    (dj.ByteRange.from_http(5000, None), (5000, len(VALUE))),  # bytes=5000-
    (dj.ByteRange.from_http(None, 700), (len(VALUE) - 700, len(VALUE))),  # bytes=-700
    (dj.ByteRange(0), (0, len(VALUE))),  # the whole value
    (dj.ByteRange(999, 1001), (999, 1001)),  # across a Redis chunk edge
    (dj.ByteRange(4000, 4200), (4000, 4200)),  # across the object store's first read
    (dj.ByteRange(len(VALUE) - 1, len(VALUE) + 50), (len(VALUE) - 1, len(VALUE))),  # past the end: clamped
    (dj.ByteRange.suffix(len(VALUE) + 50), (0, len(VALUE))),  # a suffix longer than the value: all of it
    (dj.ByteRange(300, 300), (300, 300)),  # zero bytes
]


@pytest.mark.parametrize(("byte_range", "bounds"), CASES, ids=[repr(case[0]) for case in CASES])
async def test_a_lower_tier_serves_the_range_and_promotes_nothing(
    lower: dj.AsyncStore, byte_range: dj.ByteRange, bounds: tuple[int, int]
) -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[top, lower]) as cache:
        await put(lower, "k", VALUE)  # type: ignore[arg-type]
        async with await cache.get("k", origin.fetcher("k"), byte_range=byte_range) as response:
            assert response.source == 1
            assert response.content_range == dj.ContentRange(*bounds, len(VALUE))
            assert await response.read() == VALUE[bounds[0] : bounds[1]]
            assert await response.read() == b""
        assert origin.calls == 0
        assert "k" not in top, "a ranged hit must not promote (a part, or the whole it did not read)"
        assert cache.stats().tiers[1].promotions == 0


async def test_a_range_past_the_end_raises_with_the_length_and_changes_nothing(lower: dj.AsyncStore) -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[top, lower]) as cache:
        await put(lower, "k", VALUE)  # type: ignore[arg-type]
        for byte_range in (dj.ByteRange(len(VALUE)), dj.ByteRange(len(VALUE) + 10, len(VALUE) + 20)):
            with pytest.raises(dj.RangeNotSatisfiable) as raised:
                await cache.get("k", origin.fetcher("k"), byte_range=byte_range)
            assert (raised.value.length, raised.value.byte_range, raised.value.key) == (len(VALUE), byte_range, "k")
        assert origin.calls == 0
        assert "k" not in top
        assert await cache.get_bytes("k", origin.fetcher("k")) == VALUE


@pytest.mark.parametrize(("byte_range", "bounds"), CASES, ids=[repr(case[0]) for case in CASES])
async def test_tier_0_serves_the_range(byte_range: dj.ByteRange, bounds: tuple[int, int]) -> None:
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        await cache.set_bytes("k", VALUE)
        async with await cache.get("k", origin.fetcher("k"), byte_range=byte_range) as response:
            assert (response.source, response.content_range) == (0, dj.ContentRange(*bounds, len(VALUE)))
            parts = [chunk async for chunk in response]
            assert b"".join(parts) == VALUE[bounds[0] : bounds[1]]
        assert await cache.get_bytes("k", origin.fetcher("k"), byte_range=byte_range) == VALUE[bounds[0] : bounds[1]]
        assert origin.calls == 0


async def test_the_file_tier_reads_no_byte_before_the_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = os.urandom(1 << 20)
    store = dj.AsyncFileStore(tmp_path / "files")
    await put(store, "k", value)
    record = _record_file(tmp_path / "files")
    head = record.stat().st_size - len(value)
    reads: list[tuple[int, int]] = []
    real_pread, real_read = os.pread, os.read
    monkeypatch.setattr(
        os, "pread", lambda fd, size, offset: reads.append((offset, size)) or real_pread(fd, size, offset)
    )
    monkeypatch.setattr(os, "read", lambda fd, size: reads.append((-1, size)) or real_read(fd, size))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), store]) as cache:
        fetch = Origin().fetcher("k")
        assert await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(700_000, 700_100)) == value[700_000:700_100]
        assert sum(size for offset, size in reads if offset == -1) <= head, "only the head is read from the start"
        assert [(offset, size) for offset, size in reads if offset >= 0] == [(head + 700_000, 100)]


async def test_the_file_tier_verifies_a_range_that_covers_the_whole_body(tmp_path: Path) -> None:
    """A part of a body is not verified (documented); the whole body, asked as a range, is."""
    value = os.urandom(200_000)
    store = dj.AsyncFileStore(tmp_path / "files")
    await put(store, "k", value)
    record = _record_file(tmp_path / "files")
    with open(record, "r+b") as file:  # damage one byte of the body, after the part read below
        file.seek(-10, os.SEEK_END)
        file.write(bytes([file.read(1)[0] ^ 0xFF]))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), store]) as cache:
        fetch = Origin().fetcher("k")
        assert await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(0, 1000)) == value[:1000]
        with pytest.raises(dj.TierError) as raised:
            await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(0))
        assert isinstance(raised.value.__cause__, dj.CorruptEntry)
        assert "k" not in store, "the damaged entry is removed, as after a whole read"


async def test_the_redis_tier_fetches_only_the_chunks_covering_the_range(private_redis: RedisServer) -> None:
    """Counted by the server (``INFO commandstats``): one HGET per chunk the range covers, no GET."""
    store = dj.AsyncRedisStore(private_redis.url, chunk_size=1000)

    async def counts() -> dict[str, int]:
        stats = await store.client.info("commandstats")
        return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("hget", "get", "getrange")}

    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), store]) as cache:
        await put(store, "k", VALUE)
        fetch = Origin().fetcher("k")
        before = await counts()
        assert await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(5500, 7200)) == VALUE[5500:7200]
        after = await counts()
        assert after["hget"] - before["hget"] == 3  # chunks 5, 6 and 7; never 0-4 or 8-20
        assert after["get"] == before["get"]
        before = await counts()
        assert await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(10, 20)) == VALUE[10:20]
        after = await counts()
        assert (after["hget"], after["get"]) == (before["hget"], before["get"])  # in the first chunk: no HGET


async def test_the_object_tier_asks_for_the_head_then_exactly_the_range(
    s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dj.AsyncObjectStore(S3Store(s3_server.bucket(), **s3_server.store_options()), "cache")
    asked: list[object] = []
    real_get = objectstore_module.obstore.get_async

    def recording_get(backend: object, path: str, options: dict[str, Any] | None = None) -> Any:
        asked.append((options or {}).get("range"))
        return real_get(backend, path, options=options)  # type: ignore[arg-type]

    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), store]) as cache:
        await put(store, "k", VALUE)
        monkeypatch.setattr(objectstore_module.obstore, real_get.__name__, recording_get)
        fetch = Origin().fetcher("k")
        assert await cache.get_bytes("k", fetch, byte_range=dj.ByteRange(-100)) == VALUE[-100:]
        assert len(asked) == 2
        assert asked[0] == (0, 4096)
        first, last = asked[1]  # type: ignore[misc]
        assert last - first == 100


async def test_a_ranged_miss_fills_the_whole_value_and_serves_the_range() -> None:
    top, bottom = dj.AsyncMemStore(), dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    origin.chunk = 1000
    declared = dj.Metadata(attrs={"content-length": str(len(VALUE))})
    async with dj.AsyncCache(stores=[top, bottom]) as cache:
        fetch = _declaring(origin, "k", declared)
        async with await cache.get("k", fetch, byte_range=dj.ByteRange(2500, 2600)) as response:
            assert (response.source, response.content_range) == (None, dj.ContentRange(2500, 2600, len(VALUE)))
            assert await response.read(30) == VALUE[2500:2530]
            assert await response.read() == VALUE[2530:2600]
            assert _memory_value(top, "k") is None, "nothing is published before the whole value went through"
        assert _memory_value(top, "k") == VALUE, "closing after the range read the rest into the fill"
        await eventually(lambda: _memory_value(bottom, "k") == VALUE)
        assert origin.calls == 1
        stats = cache.stats()
        assert (stats.fills_started, stats.fills_published, stats.fills_aborted) == (1, 1, 0)


async def test_a_ranged_miss_closed_unread_still_fills_the_whole_value() -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    origin.chunk = 1000
    async with dj.AsyncCache(stores=[top]) as cache:
        fetch = _declaring(origin, "k", dj.Metadata(attrs={"content-length": str(len(VALUE))}))
        response = await cache.get("k", fetch, byte_range=dj.ByteRange(-10))
        await response.aclose()
        assert _memory_value(top, "k") == VALUE


async def test_a_ranged_miss_past_the_end_fills_the_whole_value_then_raises() -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[top]) as cache:
        fetch = _declaring(origin, "k", dj.Metadata(attrs={"content-length": str(len(VALUE))}))
        with pytest.raises(dj.RangeNotSatisfiable) as raised:
            await cache.get("k", fetch, byte_range=dj.ByteRange(len(VALUE) + 1))
        assert raised.value.length == len(VALUE)
        assert _memory_value(top, "k") == VALUE
        with pytest.raises(dj.RangeNotSatisfiable):
            await cache.get("k", fetch, byte_range=dj.ByteRange(len(VALUE)))
        assert origin.calls == 1


async def test_a_ranged_miss_of_an_origin_that_declares_no_length_is_served_whole() -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[top]) as cache:
        async with await cache.get("k", origin.fetcher("k"), byte_range=dj.ByteRange(10, 20)) as response:
            assert response.content_range is None, "the length is unknown: the whole value, as HTTP allows"
            assert await response.read() == VALUE
        assert _memory_value(top, "k") == VALUE
        async with await cache.get("k", origin.fetcher("k"), byte_range=dj.ByteRange(10, 20)) as response:
            assert response.content_range == dj.ContentRange(10, 20, len(VALUE))  # now a hit: the store knows
            assert await response.read() == VALUE[10:20]


async def test_concurrent_ranged_misses_fetch_once() -> None:
    origin = Origin({"k": VALUE}, delay=0.05)
    fetch = _declaring(origin, "k", dj.Metadata(attrs={"content-length": str(len(VALUE))}))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], coalesce_wait=5.0) as cache:
        ranges = [dj.ByteRange(index * 100, index * 100 + 50) for index in range(8)]

        async def read(byte_range: dj.ByteRange) -> bytes:
            return await cache.get_bytes("k", fetch, byte_range=byte_range)

        results = await async_run_concurrently(
            [lambda byte_range=byte_range: read(byte_range) for byte_range in ranges]
        )
        assert results == [VALUE[r.start : r.stop] for r in ranges]
        assert origin.calls == 1


async def test_concurrent_ranged_misses_of_an_undeclared_length_wait_and_read_their_range_from_the_fill() -> None:
    origin = Origin({"k": VALUE}, delay=0.05)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], coalesce_wait=5.0) as cache:
        ranges = [dj.ByteRange(index * 100, index * 100 + 50) for index in range(6)]

        async def read(byte_range: dj.ByteRange) -> tuple[dj.ContentRange | None, bytes]:
            async with await cache.get("k", origin.fetcher("k"), byte_range=byte_range) as response:
                return response.content_range, await response.read()

        results = await async_run_concurrently(
            [lambda byte_range=byte_range: read(byte_range) for byte_range in ranges]
        )
        assert origin.calls == 1
        whole = [result for result in results if result[0] is None]  # type: ignore[index]
        assert whole == [(None, VALUE)], "only the leader, which the origin gave no length, serves the whole value"
        for byte_range, result in zip(ranges, results, strict=True):
            if result[0] is not None:  # type: ignore[index]
                assert result == (
                    dj.ContentRange(byte_range.start, byte_range.stop, len(VALUE)),
                    VALUE[byte_range.start : byte_range.stop],
                )


async def test_a_store_without_get_range_is_read_and_skipped() -> None:
    inner = dj.AsyncMemStore()
    lower = _NoRanges(inner)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), lower]) as cache:
        fetch = Origin().fetcher("k")
        declared = dj.Metadata(attrs={"content-length": str(len(VALUE))}, cached_at=time.time())
        await put(inner, "k", VALUE, declared)
        async with await cache.get("k", fetch, byte_range=dj.ByteRange(-300)) as response:
            assert response.content_range == dj.ContentRange(len(VALUE) - 300, len(VALUE), len(VALUE))
            assert await response.read() == VALUE[-300:]
        await put(inner, "u", VALUE)  # no declared length: served whole, as an ordinary hit
        async with await cache.get("u", fetch, byte_range=dj.ByteRange(-300)) as response:
            assert response.content_range is None
            assert await response.read() == VALUE


async def test_negative_stale_and_conditional_ranged_reads() -> None:
    top = dj.AsyncMemStore()
    origin = Origin({"k": VALUE}, etag="v1")
    async with dj.AsyncCache(stores=[top], positive_fresh_for=60.0) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("missing", origin.fetcher("missing"), byte_range=dj.ByteRange(0))
        with pytest.raises(dj.NotFound):  # now a negative entry
            await cache.get("missing", origin.fetcher("missing"), byte_range=dj.ByteRange(0))
        await put(top, "k", VALUE, dj.Metadata(etag="v1", cached_at=time.time()))
        async with await cache.get("k", origin.fetcher("k"), if_none_match='"v1"', byte_range=dj.ByteRange(5)) as r:
            assert (r.status, r.content_range) == (dj.Status.NOT_MODIFIED, None)
        await put(top, "k", b"old value", dj.Metadata(etag="v0", cached_at=time.time() - 3600))
        async with await cache.get("k", origin.fetcher("k"), byte_range=dj.ByteRange(4)) as response:
            assert response.stale
            assert await response.read() == b"value"
        await eventually(lambda: _memory_value(top, "k") == VALUE)  # the refresh ran
        assert cache.stats().stale_hits == 1


async def test_bad_arguments_raise_before_anything_changes() -> None:
    origin = Origin({"k": VALUE})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        for bad in ((0, 10), slice(0, 10), 5, "bytes=0-9"):
            with pytest.raises(TypeError, match=r"byte_range must be a daramjwee\.ByteRange"):
                await cache.get("k", origin.fetcher("k"), byte_range=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="fetch must be a callable"):
            await cache.get("k", None, byte_range=dj.ByteRange(0))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="if_none_match"):
            await cache.get("k", origin.fetcher("k"), if_none_match=b"x", byte_range=dj.ByteRange(0))  # type: ignore[arg-type]
        assert origin.calls == 0
        assert cache.stats().tiers[0].misses == 0
    for make, error in [
        (lambda: dj.ByteRange(5, 2), ValueError),
        (lambda: dj.ByteRange(-3, 5), ValueError),
        (lambda: dj.ByteRange(1.5), TypeError),  # type: ignore[arg-type]
        (lambda: dj.ByteRange(True), TypeError),
        (lambda: dj.ByteRange(0, "9"), TypeError),  # type: ignore[arg-type]
        (lambda: dj.ByteRange.suffix(0), ValueError),
        (lambda: dj.ByteRange.from_http(None, 0), ValueError),
        (lambda: dj.ByteRange.from_http(None, None), ValueError),
        (lambda: dj.ByteRange.from_http(9, 5), ValueError),
        (lambda: dj.ByteRange.from_http(-5, None), ValueError),
        (lambda: dj.ByteRange.from_http(-5, 10), ValueError),
        (lambda: dj.ByteRange.from_http("5", None), TypeError),  # type: ignore[arg-type]
    ]:
        with pytest.raises(error):
            make()


def test_byte_range_is_a_small_immutable_value() -> None:
    byte_range = dj.ByteRange.from_http(10, 19)
    assert byte_range == dj.ByteRange(10, 20)
    assert hash(byte_range) == hash(dj.ByteRange(10, 20))
    assert (byte_range.start, byte_range.stop, byte_range.is_suffix) == (10, 20, False)
    assert dj.ByteRange.from_http(None, 5) == dj.ByteRange(-5) == dj.ByteRange.suffix(5)
    assert dj.ByteRange.from_http(7, None) == dj.ByteRange(7)
    with pytest.raises(AttributeError):
        byte_range._start = 3  # type: ignore[misc]
    assert repr(dj.ByteRange(-5)) == "ByteRange(-5)"
    satisfiable = [dj.ByteRange(0).satisfiable(1), dj.ByteRange(0).satisfiable(0), dj.ByteRange(-5).satisfiable(0)]
    assert satisfiable == [True, False, False]
    bounds = [dj.ByteRange(-5).bounds(3), dj.ByteRange(5, 5).bounds(10), dj.ByteRange(50).bounds(10)]
    assert bounds == [(0, 3), (5, 5), (10, 10)]
    assert dj.ContentRange(10, 20, 100).header == "bytes 10-19/100"
    assert pickle.loads(pickle.dumps(byte_range)) == byte_range
    error = pickle.loads(pickle.dumps(dj.RangeNotSatisfiable("k", byte_range, 3)))
    assert (error.key, error.byte_range, error.length) == ("k", byte_range, 3)


def _record_file(root: Path) -> Path:
    """The one record file of a file store at ``root``."""
    (record,) = [path for path in root.rglob("*") if path.is_file() and "tmp" not in path.relative_to(root).parts]
    return record


def _declaring(origin: Origin, key: str, metadata: dj.Metadata) -> Any:
    """``origin``'s fetcher for ``key``, returning ``metadata`` (such as a declared content-length)."""
    fetch = origin.fetcher(key)

    async def declaring(old: dj.Metadata | None) -> dj.FetchResult:
        result = await fetch(old)  # type: ignore[misc]
        return dj.FetchResult(result.body, metadata)

    return declaring


class _NoRanges:
    """A store without the optional ``get_range``: the cache falls back to ``get_stream``."""

    def __init__(self, inner: dj.AsyncMemStore) -> None:
        self.inner = inner

    async def get_stream(self, key: str, /) -> tuple[dj.AsyncReader, dj.Metadata]:
        await async_sleep(0)
        return await self.inner.get_stream(key)

    async def begin_set(self, key: str, metadata: dj.Metadata, /) -> dj.AsyncSink:
        return await self.inner.begin_set(key, metadata)

    async def delete(self, key: str, /) -> None:
        await self.inner.delete(key)

    async def stat(self, key: str, /) -> dj.Metadata:
        return await self.inner.stat(key)

    async def close(self) -> None:
        await self.inner.close()
