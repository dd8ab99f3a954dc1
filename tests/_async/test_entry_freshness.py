"""Per-entry freshness: an entry's own lifetime, stale-while-revalidate, stale-if-error, must-revalidate.

The sync twin is generated.  Each scenario stores an entry whose metadata says
how long it is fresh and what may be done once it is stale, then checks what a
read returns and what it asked the origin.
"""

from __future__ import annotations

import time

import pytest

import daramjwee as dj
from daramjwee._record import decode_metadata, encode_metadata

from ._helpers import eventually, mem_tiers, put, stat_of


class Validator:
    """An origin for one key that records each ``old`` it gets and answers what the test sets."""

    def __init__(self, body: bytes = b"new", metadata: dj.Metadata | None = None) -> None:
        self.body = body
        self.metadata = metadata if metadata is not None else dj.Metadata(etag='"new"')
        self.olds: list[dj.Metadata | None] = []
        self.answer: BaseException | None = None  # raised instead of answering with the body
        self.store = True

    async def fetch(self, old: dj.Metadata | None) -> dj.FetchResult:
        self.olds.append(old)
        if self.answer is not None:
            raise self.answer
        return dj.FetchResult(self.body, self.metadata, store=self.store)


def stored(age: float, **freshness: object) -> dj.Metadata:
    """Metadata of an entry cached ``age`` seconds ago, with its own freshness fields."""
    return dj.Metadata(etag='"old"', cached_at=time.time() - age, attrs={"v": "old"}, **freshness)  # type: ignore[arg-type]


async def read(cache: dj.AsyncCache, origin: Validator) -> tuple[bytes, dj.AsyncResponse]:
    async with await cache.get("k", origin.fetch) as response:
        return await response.read(), response


async def test_the_entry_lifetime_wins_over_the_cache_default() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=60.0))
    origin = Validator()
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1.0) as cache:
        body, response = await read(cache, origin)
        assert (body, response.stale, origin.olds) == (b"old", False, [])


async def test_an_entry_lifetime_makes_it_stale_in_a_cache_that_never_expires() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0))
    origin = Validator()
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=None) as cache:
        body, response = await read(cache, origin)
        assert (body, response.stale) == (b"old", True), "no stale-while-revalidate window: served stale"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert origin.olds[0] is not None
        assert origin.olds[0].etag == '"old"'
        body, response = await read(cache, origin)
        assert (body, response.stale) == (b"new", False)


async def test_inside_its_stale_while_revalidate_window_a_stale_entry_is_served_and_refreshed() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, stale_while_revalidate=60.0))
    origin = Validator()
    async with dj.AsyncCache(stores=tiers) as cache:
        body, response = await read(cache, origin)
        assert (body, response.stale, response.source) == (b"old", True, 0)
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert cache.stats().revalidations == 0


async def test_past_its_stale_while_revalidate_window_the_origin_answers_first() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, stale_while_revalidate=1.0))
    origin = Validator(b"new")
    async with dj.AsyncCache(stores=tiers) as cache:
        body, response = await read(cache, origin)
        assert (body, response.stale, response.source) == (b"new", False, None)
        assert len(origin.olds) == 1
        assert origin.olds[0] is not None
        assert origin.olds[0].etag == '"old"'
        assert cache.stats().revalidations == 1
        assert cache.stats().refreshes_scheduled == 0
        body, response = await read(cache, origin)
        assert (body, response.source, len(origin.olds)) == (b"new", 0, 1), "the new value was stored"


async def test_must_revalidate_asks_the_origin_and_a_304_serves_and_restamps_the_stored_copy() -> None:
    tiers = mem_tiers(2)
    before = stored(10.0, fresh_for=5.0, must_revalidate=True)
    await put(tiers[1], "k", b"old", before)
    origin = Validator()
    origin.answer = dj.NotModified("k")
    async with dj.AsyncCache(stores=tiers) as cache:
        body, response = await read(cache, origin)
        assert (body, response.stale, response.source) == (b"old", False, 1)
        assert origin.olds == [before]
        assert response.metadata.cached_at > before.cached_at
        restamped = await stat_of(tiers[0], "k")
        assert restamped.cached_at > before.cached_at
        assert restamped.etag == '"old"'
        assert restamped.must_revalidate
        body, response = await read(cache, origin)
        assert (body, response.source, len(origin.olds)) == (b"old", 0, 1), "fresh again: no second trip"


async def test_a_304_with_metadata_replaces_the_stored_metadata() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, must_revalidate=True))
    updated = dj.Metadata(etag='"old"', attrs={"v": "updated"}, fresh_for=100.0)
    origin = Validator()
    origin.answer = dj.NotModified("k", metadata=updated)
    async with dj.AsyncCache(stores=tiers) as cache:
        body, response = await read(cache, origin)
        assert (body, response.metadata.attrs["v"], response.metadata.fresh_for) == (b"old", "updated", 100.0)
        entry = await stat_of(tiers[0], "k")
        assert (entry.attrs["v"], entry.fresh_for, entry.must_revalidate) == ("updated", 100.0, False)


async def test_a_304_with_metadata_that_is_not_metadata_is_a_type_error_and_keeps_the_entry() -> None:
    tiers = mem_tiers(1)
    before = stored(10.0, fresh_for=5.0, must_revalidate=True)
    await put(tiers[0], "k", b"old", before)
    origin = Validator()
    origin.answer = dj.NotModified("k", metadata={"etag": "x"})
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(TypeError, match="NotModified"):
            await read(cache, origin)
        assert await stat_of(tiers[0], "k") == before


@pytest.mark.parametrize(
    ("freshness", "served"),
    [
        ({"stale_while_revalidate": 0.0, "stale_if_error": 60.0}, True),
        ({"stale_while_revalidate": 0.0, "stale_if_error": 1.0}, False),
        ({"stale_while_revalidate": 0.0}, False),
        ({"must_revalidate": True, "stale_if_error": 60.0}, False),
    ],
)
async def test_a_failed_revalidation_serves_the_entry_only_inside_its_stale_if_error_window(
    freshness: dict[str, object], served: bool
) -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, **freshness))
    origin = Validator()
    origin.answer = OSError("origin down")
    async with dj.AsyncCache(stores=tiers) as cache:
        if served:
            body, response = await read(cache, origin)
            assert (body, response.stale, response.source) == (b"old", True, 0)
            assert cache.stats().stale_if_error_hits == 1
        else:
            with pytest.raises(OSError, match="origin down"):
                await read(cache, origin)
            assert cache.stats().stale_if_error_hits == 0
        assert len(origin.olds) == 1
        assert cache.stats().refreshes_scheduled == 0


async def test_a_revalidation_that_finds_the_key_gone_stores_a_negative_entry() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, must_revalidate=True))
    origin = Validator()
    origin.answer = dj.CacheableNotFound("k")
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.NotFound):
            await read(cache, origin)
        assert (await stat_of(tiers[0], "k")).is_negative


async def test_an_if_none_match_that_matches_the_revalidated_entry_is_not_modified() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(10.0, fresh_for=5.0, must_revalidate=True))
    origin = Validator()
    origin.answer = dj.NotModified("k")
    async with (
        dj.AsyncCache(stores=tiers) as cache,
        await cache.get("k", origin.fetch, if_none_match='"old"') as response,
    ):
        assert response.status is dj.Status.NOT_MODIFIED
        assert await response.read() == b""


async def test_a_result_that_says_do_not_store_is_passed_through_and_stored_nowhere() -> None:
    tiers = mem_tiers(2)
    origin = Validator(b"private")
    origin.store = False
    async with dj.AsyncCache(stores=tiers) as cache:
        for calls in (1, 2):
            body, response = await read(cache, origin)
            assert (body, response.source, len(origin.olds)) == (b"private", None, calls)
        assert cache.stats().fills_started == 0
        for tier in tiers:
            with pytest.raises(dj.NotFound):
                await tier.stat("k")


async def test_a_refresh_whose_result_says_do_not_store_keeps_the_entry() -> None:
    tiers = mem_tiers(1)
    before = stored(10.0, fresh_for=5.0)
    await put(tiers[0], "k", b"old", before)
    origin = Validator(b"private")
    origin.store = False
    async with dj.AsyncCache(stores=tiers) as cache:
        body, _ = await read(cache, origin)
        assert body == b"old"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert await stat_of(tiers[0], "k") == before


def test_fetch_result_store_must_be_bool() -> None:
    with pytest.raises(TypeError, match="store must be bool"):
        dj.FetchResult(b"", store=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("fresh_for", -1.0, ValueError),
        ("fresh_for", float("inf"), ValueError),
        ("fresh_for", float("nan"), ValueError),
        ("stale_while_revalidate", "60", TypeError),
        ("stale_if_error", True, TypeError),
        ("must_revalidate", 1, TypeError),
    ],
)
def test_metadata_rejects_bad_freshness(field: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=field):
        dj.Metadata(**{field: value})  # type: ignore[arg-type]


def test_freshness_fields_round_trip_and_records_without_them_still_decode() -> None:
    full = dj.Metadata(
        etag="e", cached_at=5.0, fresh_for=1, stale_while_revalidate=2.5, stale_if_error=0, must_revalidate=True
    )
    assert full.fresh_for == 1.0
    assert type(full.fresh_for) is float
    assert decode_metadata(encode_metadata(full)) == full
    old_format = b'{"etag":"e","is_negative":false,"cached_at":5.0,"attrs":{}}'
    assert decode_metadata(old_format) == dj.Metadata(etag="e", cached_at=5.0)
    assert full.replace(fresh_for=None).freshness == (None, 2.5, 0.0, True)


async def test_revalidate_if_makes_a_read_ask_the_origin_about_a_fresh_entry() -> None:
    tiers = mem_tiers(2)
    before = stored(1.0, fresh_for=600.0)
    await put(tiers[0], "k", b"old", before)
    origin = Validator()
    origin.answer = dj.NotModified("k")
    seen: list[dj.Metadata] = []

    def always(metadata: dj.Metadata) -> bool:
        seen.append(metadata)
        return True

    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetch, revalidate_if=always) as response:
            assert (await response.read(), response.source, response.stale) == (b"old", 0, False)
        assert seen == [before]
        assert origin.olds == [before]
        async with await cache.get("k", origin.fetch, revalidate_if=lambda metadata: False) as response:
            assert await response.read() == b"old"
        assert len(origin.olds) == 1, "a predicate that says no leaves a fresh hit alone"


async def test_revalidate_if_that_is_not_callable_is_a_type_error_before_anything_changes() -> None:
    origin = Validator()
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match="revalidate_if"):
            await cache.get("k", origin.fetch, revalidate_if=3)  # type: ignore[arg-type]
        assert origin.olds == []
        assert await cache.get_bytes("k", origin.fetch) == b"new"


async def test_a_ranged_read_of_an_entry_that_must_be_revalidated_asks_the_origin_first() -> None:
    tiers = mem_tiers(1)
    before = stored(10.0, fresh_for=5.0, must_revalidate=True)
    await put(tiers[0], "k", b"old value", before)
    origin = Validator()
    origin.answer = dj.NotModified("k")
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetch, byte_range=dj.ByteRange(0, 3)) as response:
            assert (await response.read(), response.content_range) == (b"old value", None)
        assert origin.olds == [before]
        async with await cache.get("k", origin.fetch, byte_range=dj.ByteRange(0, 3)) as response:
            assert await response.read() == b"old", "re-stamped: fresh, so the range is served"
        async with await cache.get(
            "k", origin.fetch, byte_range=dj.ByteRange(4), revalidate_if=lambda metadata: True
        ) as response:
            assert await response.read() == b"old value"
        assert len(origin.olds) == 2


async def test_max_stale_serves_an_entry_past_its_window_and_refreshes_it_in_the_background() -> None:
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old", stored(100.0, fresh_for=5.0, stale_while_revalidate=1.0))
    origin = Validator(b"new")
    async with dj.AsyncCache(stores=tiers) as cache:
        async with await cache.get("k", origin.fetch, max_stale=600.0) as response:  # stale for 95 s
            assert (await response.read(), response.stale) == (b"old", True)
        assert cache.stats().revalidations == 0
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        body, response = await read(cache, origin)
        assert (body, response.stale) == (b"new", False)


async def test_max_stale_too_short_or_must_revalidate_still_asks_the_origin_first() -> None:
    for freshness, max_stale in (({"stale_while_revalidate": 1.0}, 10.0), ({"must_revalidate": True}, 1e9)):
        tiers = mem_tiers(1)
        await put(tiers[0], "k", b"old", stored(100.0, fresh_for=5.0, **freshness))
        origin = Validator(b"new")
        async with dj.AsyncCache(stores=tiers) as cache:
            async with await cache.get("k", origin.fetch, max_stale=max_stale) as response:
                assert (await response.read(), response.source) == (b"new", None)
            assert cache.stats().revalidations == 1


@pytest.mark.parametrize(("max_stale", "error"), [("5", TypeError), (True, TypeError), (-1, ValueError)])
async def test_a_bad_max_stale_is_refused_before_anything_changes(max_stale: object, error: type[Exception]) -> None:
    origin = Validator()
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(error, match="max_stale"):
            await cache.get("k", origin.fetch, max_stale=max_stale)  # type: ignore[arg-type]
        assert origin.olds == []
