"""Conditional reads with ``if_none_match`` (rules I1, I2)."""

from __future__ import annotations

import pytest

import daramjwee as dj

from ._helpers import Origin, mem_tiers, put


@pytest.mark.parametrize("header", ['"v1"', 'W/"v1"', "v1", 'x, "v1"', "*"])
async def test_matching_etag_answers_not_modified_with_empty_body(header: str) -> None:
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        async with await cache.get("k", origin.fetcher("k"), if_none_match=header) as response:
            assert response.status is dj.Status.NOT_MODIFIED
            assert response.metadata.etag == "v1"
            assert await response.read() == b""


async def test_non_matching_etag_answers_ok_with_body() -> None:
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        async with await cache.get("k", origin.fetcher("k"), if_none_match='"v2"') as response:
            assert response.status is dj.Status.OK
            assert await response.read() == b"body"


async def test_empty_etag_matches_only_star() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"body", dj.Metadata(etag=""))
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", Origin().fetcher("k"), if_none_match='""') as response:
            assert response.status is dj.Status.OK
        async with await cache.get("k", Origin().fetcher("k"), if_none_match="*") as response:
            assert response.status is dj.Status.NOT_MODIFIED


async def test_replaced_key_is_never_answered_not_modified() -> None:
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        await cache.set_bytes("k", b"replaced", dj.Metadata(etag="v2"))
        async with await cache.get("k", origin.fetcher("k"), if_none_match='"v1"') as response:
            assert response.status is dj.Status.OK
            assert await response.read() == b"replaced"


async def test_deleted_key_is_never_answered_not_modified() -> None:
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        await cache.delete("k")
        origin.values.pop("k")
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"), if_none_match="*")


async def test_matching_miss_still_fills_the_cache() -> None:
    tiers = mem_tiers(1)
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetcher("k"), if_none_match='"v1"') as response:
            assert response.status is dj.Status.NOT_MODIFIED
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"body"
        assert origin.calls == 1


async def test_stale_matching_hit_answers_not_modified_and_still_refreshes() -> None:
    origin = Origin({"k": b"body"})
    async with dj.AsyncCache(stores=mem_tiers(1), positive_fresh_for=0) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        async with await cache.get("k", origin.fetcher("k"), if_none_match='"v1"') as response:
            assert response.status is dj.Status.NOT_MODIFIED
        assert cache.stats().refreshes_scheduled == 1
