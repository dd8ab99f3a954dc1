"""Cancelling a ranged read never strands a fill, a flight or a file, and never publishes a part.

A ranged miss streams the origin's whole body into the fill while the caller
gets only its range; closing the response reads the rest into the fill.  A
proxy closes the response right after the range's last byte, often inside a
cancelled anyio scope (Starlette cancels the body task), where every await
raises at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

import daramjwee as dj

KiB = 1 << 10
VALUE = os.urandom(512 * KiB)


class _SlowOrigin:
    """An origin whose body comes in 16 KiB chunks, ``delay`` seconds apart, with a declared length."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def fetch(self, old: dj.Metadata | None) -> dj.FetchResult:
        self.calls += 1

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(VALUE), 16 * KiB):
                await asyncio.sleep(self.delay)
                yield VALUE[start : start + 16 * KiB]

        return dj.FetchResult(body(), dj.Metadata(attrs={"content-length": str(len(VALUE))}))


async def _settled(cache: dj.AsyncCache) -> dj.CacheStats:
    """The stats once every fill started has published or aborted."""
    deadline = time.monotonic() + 5
    while True:
        stats = cache.stats()
        if stats.fills_started == stats.fills_published + stats.fills_aborted:
            return stats
        assert time.monotonic() < deadline, "a fill neither published nor aborted"
        await asyncio.sleep(0.01)


def _held(store: dj.AsyncMemStore, key: str) -> bytes | None:
    try:
        return store.peek(key)[0]
    except dj.NotFound:
        return None


async def test_cancelling_a_ranged_miss_mid_range_aborts_the_fill_and_lands_the_flight() -> None:
    top = dj.AsyncMemStore()
    origin = _SlowOrigin(delay=0.01)
    async with dj.AsyncCache(stores=[top], coalesce_wait=5.0) as cache:
        started = asyncio.Event()

        async def consume() -> None:
            async with await cache.get("k", origin.fetch, byte_range=dj.ByteRange(100 * KiB, 400 * KiB)) as response:
                await response.read(1000)
                started.set()
                while await response.read(16 * KiB):
                    pass

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 5)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        stats = await _settled(cache)
        assert (stats.fills_started, stats.fills_published, stats.fills_aborted) == (1, 0, 1)
        assert _held(top, "k") is None, "a part is never published"
        assert cache._flights == {}
        origin.delay = 0
        assert await cache.get_bytes("k", origin.fetch, byte_range=dj.ByteRange(-10)) == VALUE[-10:]
        assert origin.calls == 2
        assert _held(top, "k") == VALUE


async def test_closing_a_ranged_miss_in_a_cancelled_scope_still_fills_the_whole_value() -> None:
    top = dj.AsyncMemStore()
    origin = _SlowOrigin(delay=0.002)
    async with dj.AsyncCache(stores=[top]) as cache:
        response = await cache.get("k", origin.fetch, byte_range=dj.ByteRange(0, 20 * KiB))
        with anyio.CancelScope() as scope:
            try:
                assert await response.read() == VALUE[: 20 * KiB]
                scope.cancel()  # as Starlette does once the client has the range's last byte
            finally:
                await response.aclose()
        stats = await _settled(cache)
        assert (stats.fills_published, stats.fills_aborted) == (1, 0)
        assert _held(top, "k") == VALUE
        assert origin.calls == 1


async def test_cancelling_a_ranged_file_tier_read_leaves_nothing_behind(tmp_path: Path) -> None:
    files = dj.AsyncFileStore(tmp_path / "files")
    sink = await files.begin_set("k", dj.Metadata(cached_at=time.time()))
    await sink.write(VALUE)
    await sink.commit()
    opened_before = len(os.listdir("/proc/self/fd"))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), files]) as cache:
        reading = asyncio.Event()

        async def consume() -> None:
            async with await cache.get("k", _no_fetch, byte_range=dj.ByteRange(1000)) as response:
                while await response.read(1000):
                    reading.set()
                    await asyncio.sleep(0.01)

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(reading.wait(), 5)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert len(os.listdir("/proc/self/fd")) <= opened_before, "the record file was closed"
        assert await cache.get_bytes("k", _no_fetch, byte_range=dj.ByteRange(-5)) == VALUE[-5:]
        assert "k" not in cache.stores[0]
        assert cache.stats().tiers[1].errors == 0


async def _no_fetch(old: dj.Metadata | None) -> dj.FetchResult:
    raise AssertionError("the origin is not asked for a value a tier holds")
