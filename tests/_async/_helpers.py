"""Test helpers shared by the cache tests (the sync twin is generated)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

import daramjwee as dj
from daramjwee._async_primitives import async_sleep
from daramjwee.testing import AsyncFaultyStore


class Origin:
    """A fake slow origin: counts calls, records the ``old`` metadata it got, can fail.

    ``values`` maps key → body bytes; a key not in ``values`` raises ``missing``
    (``CacheableNotFound`` by default).  ``outcome`` overrides everything: an
    exception instance to raise on every call.
    """

    def __init__(self, values: dict[str, bytes] | None = None, *, delay: float = 0.0, etag: str = "v1") -> None:
        self.values = dict(values or {})
        self.delay = delay
        self.etag = etag
        self.calls = 0
        self.olds: list[dj.Metadata | None] = []
        self.outcome: BaseException | None = None
        self.missing: type[BaseException] = dj.CacheableNotFound
        self.chunk: int | None = None

    def fetcher(self, key: str) -> Callable[[dj.Metadata | None], object]:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            self.calls += 1
            self.olds.append(old)
            if self.delay:
                await async_sleep(self.delay)
            if self.outcome is not None:
                raise self.outcome
            if key not in self.values:
                raise self.missing(key)
            body = self.values[key]
            chunks = body if self.chunk is None else [body[i : i + self.chunk] for i in range(0, len(body), self.chunk)]
            return dj.FetchResult(chunks, dj.Metadata(etag=self.etag, attrs={"origin": "yes"}))

        return fetch


def mem_tiers(count: int, *, latency: float = 0.0) -> list[AsyncFaultyStore]:
    """``count`` faulty-wrappable memory tiers (no faults until ``fail`` is called)."""
    return [AsyncFaultyStore(dj.AsyncMemStore(), latency=latency) for _ in range(count)]


def holds(store: object, key: str) -> bool:
    """Whether a memory tier (possibly wrapped) holds ``key``."""
    while isinstance(store, AsyncFaultyStore):
        store = store.inner
    assert isinstance(store, dj.AsyncMemStore)
    return key in store


def holding(stores: list[AsyncFaultyStore], key: str) -> list[bool]:
    return [holds(store, key) for store in stores]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (background work landed) or fail the test."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await async_sleep(0.005)


async def stat_of(store: AsyncFaultyStore, key: str) -> dj.Metadata:
    return await store.inner.stat(key)


async def put(store: dj.AsyncStore, key: str, value: bytes, metadata: dj.Metadata | None = None) -> None:
    """Write an entry straight into one tier, bypassing the cache."""
    if metadata is None:
        metadata = dj.Metadata(cached_at=time.time())
    sink = await store.begin_set(key, metadata)
    await sink.write(value)
    await sink.commit()


async def read_tier(store: object, key: str) -> bytes:
    """The whole value of ``key`` read straight from one store (no cache in between)."""
    reader, _ = await store.get_stream(key)  # type: ignore[attr-defined]
    try:
        return bytes(await reader.read())
    finally:
        await reader.aclose()


async def assert_hits_open_no_sink_above(
    lower: dj.AsyncStore, key: str, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Read ``key`` (held by ``lower`` alone) three times through a 1,000-byte memory tier over ``lower``.

    Each read is a hit in ``lower`` serving ``value``, and none opens a sink in
    the memory tier (which would refuse it, logging "refused"): the reader's
    ``remaining`` ruled the tier out, whatever the metadata declares.
    """
    memory = dj.AsyncMemStore(capacity=1000)
    async with dj.AsyncCache(stores=[memory, lower], positive_fresh_for=None, chunk_size=4096) as cache:
        with caplog.at_level(logging.DEBUG, logger="daramjwee"):
            for _ in range(3):
                assert await cache.get_bytes(key, Origin().fetcher(key)) == value
        assert key not in memory
        assert "refused" not in caplog.text, "no sink was opened on a tier that cannot hold the value"
        assert cache.stats().tiers[1].hits == 3
