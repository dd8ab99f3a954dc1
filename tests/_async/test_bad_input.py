"""Bad input: a clear exception, and nothing lost (rules A4, A5)."""

from __future__ import annotations

import io

import pytest

import daramjwee as dj

from ._helpers import Origin, mem_tiers


@pytest.mark.parametrize("key", [None, 42, b"bytes", ""])
async def test_bad_keys_raise_clear_errors(key: object) -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises((TypeError, ValueError), match="key"):
            await cache.get(key, Origin().fetcher("k"))  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="key"):
            cache.set(key)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="key"):
            await cache.delete(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["../../etc/passwd", "/abs/path", "a\x00b", "k" * 10_000, "..", "ünï/cødé"])
async def test_odd_keys_round_trip(key: str) -> None:
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:
        await cache.set_bytes(key, b"value")
        assert await cache.get_bytes(key, Origin().fetcher(key)) == b"value"
        await cache.delete(key)


async def test_non_bytes_write_is_rejected_and_the_old_value_kept() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("k", b"old")
        with pytest.raises(TypeError, match="bytes"):
            async with cache.set("k") as writer:
                await writer.write("text")  # type: ignore[arg-type]
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"old"


@pytest.mark.parametrize("nonsense", [None, b"raw bytes", 42, {"body": b"x"}])
async def test_fetcher_returning_nonsense_is_a_clear_type_error(nonsense: object) -> None:
    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return nonsense  # type: ignore[return-value]

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match="FetchResult"):
            await cache.get("k", fetch)
        assert cache._flights == {}


@pytest.mark.parametrize("body", ["text", 42, [b"ok", "text"], [b"ok", 7]])
async def test_bad_fetch_bodies_are_clear_type_errors_and_cache_nothing(body: object) -> None:
    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body)  # type: ignore[arg-type]

    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(TypeError):
            await cache.get_bytes("k", fetch)
        assert "k" not in tiers[0].inner  # type: ignore[operator]


async def test_fetch_result_rejects_bad_metadata() -> None:
    with pytest.raises(TypeError, match="metadata"):
        dj.FetchResult(b"x", {"etag": "e"})  # type: ignore[arg-type]


async def test_negative_metadata_from_a_fetcher_is_rejected() -> None:
    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(b"x", dj.Metadata(is_negative=True))

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match="CacheableNotFound"):
            await cache.get("k", fetch)


async def test_file_like_and_iterable_bodies_are_streamed() -> None:
    async def from_file(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(io.BytesIO(b"file body"))

    async def from_chunks(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(iter([b"a", b"", b"b", bytearray(b"c")]))

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        assert await cache.get_bytes("f", from_file) == b"file body"
        assert await cache.get_bytes("c", from_chunks) == b"abc"
        assert await cache.get_bytes("f", from_chunks) == b"file body"
