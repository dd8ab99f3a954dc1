"""Scenarios of the Go original's own tests (github.com/mrchypark/daramjwee v0.14.2), against our API.

Each test names, in its docstring, the Go test file and function whose scenario
it ports.  Where our rules (docs/design.md, "The rules of the cache") ask for
something else than the Go test, the docstring says so and the test asserts our
behaviour.  Go's ``Get`` returns a response with a ``NotFound`` status where we
raise :class:`daramjwee.NotFound`; Go's ``ErrTopWriteInvalidated`` from a
superseded writer's ``Close`` is a writer whose ``published`` is False here.
"""

from __future__ import annotations

import logging
import pathlib
import random
import threading
import time
from collections import Counter
from typing import Any

import obstore.store
import pytest

import daramjwee as dj
from _flavours import AsyncGate, async_run_concurrently, async_start
from daramjwee._async_primitives import async_sleep
from daramjwee.testing import StoreFault

from ._helpers import Origin, eventually, holding, mem_tiers, put, stat_of

PROMPT = 2.0
"""Seconds within which an operation that must not wait for another one has to finish (it takes milliseconds)."""

HOUR = 3600.0
STORE_KINDS = ["memory", "file", "object"]


# -- helpers ---------------------------------------------------------------------------------------


def ago(seconds: float) -> float:
    """A ``cached_at`` that many seconds in the past."""
    return time.time() - seconds


def make_store(kind: str, directory: pathlib.Path) -> Any:
    """A built-in store of one kind (the Go tests' memstore, filestore and objectstore)."""
    if kind == "memory":
        return dj.AsyncMemStore()
    if kind == "file":
        return dj.AsyncFileStore(directory / "files")
    return dj.AsyncObjectStore("memory://")


async def entry(store: Any, key: str) -> tuple[bytes, dj.Metadata] | None:
    """The value and metadata one tier holds for ``key``, read straight from the store (``None`` if absent)."""
    try:
        reader, metadata = await store.get_stream(key)
    except dj.NotFound:
        return None
    try:
        return bytes(await reader.read()), metadata
    finally:
        await reader.aclose()


async def value_of(store: Any, key: str) -> bytes | None:
    found = await entry(store, key)
    return None if found is None else found[0]


async def assert_entry(store: Any, key: str, value: bytes, etag: str) -> None:
    found = await entry(store, key)
    assert found is not None, f"{key!r} is missing"
    assert (found[0], found[1].etag) == (value, etag)


async def settle(cache: dj.AsyncCache) -> None:
    """Wait until every write the cache started (fills, promotions, refreshes, fan-outs) has ended."""
    await eventually(lambda: cache._writes.in_flight() == 0)


def blocked_fetch(value: bytes, entered: AsyncGate, release: AsyncGate, etag: str = "origin") -> Any:
    """A fetcher that signals ``entered``, then waits for ``release`` before answering ``value``."""

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        entered.set()
        await release.wait()
        return dj.FetchResult(value, dj.Metadata(etag=etag))

    return fetch


def gated_body(first: bytes, rest: bytes, release: AsyncGate) -> Any:
    """An origin body that yields ``first`` at once and ``rest`` only after ``release`` (Go's blockingReadCloser)."""

    async def chunks() -> Any:
        yield first
        await release.wait()
        yield rest

    return chunks()


class TrackedBody:
    """An origin body with ``read`` and a close the test can observe; it may fail after its chunks or on close."""

    def __init__(
        self, chunks: list[bytes], *, error: BaseException | None = None, close_error: BaseException | None = None
    ) -> None:
        self._chunks = list(chunks)
        self._error = error
        self._close_error = close_error
        self.closed = AsyncGate()

    async def read(self, size: int = -1) -> bytes:
        if self._chunks:
            if size < 0:
                data, self._chunks = b"".join(self._chunks), []
                return data
            return self._chunks.pop(0)
        if self._error is not None:
            raise self._error
        return b""

    async def aclose(self) -> None:
        self.closed.set()
        if self._close_error is not None:
            raise self._close_error


class Hooked:
    """A store wrapper whose chosen calls stop until the test releases them, or fail.

    Calls are counted per operation across the whole store: ``get_stream``,
    ``begin_set``, ``delete``, ``stat``, ``close``, and on readers and sinks
    ``read``, ``reader_close``, ``write``, ``commit``, ``abort``.  With
    ``first_read``, the first read of every reader returns at most that many
    bytes.  It has no in-memory ``lookup``: the cache reads it like a remote tier.
    """

    def __init__(self, inner: Any, *, first_read: int | None = None) -> None:
        self.inner = inner
        self.first_read = first_read
        self.calls: Counter[str] = Counter()
        self._holds: dict[tuple[str, int], tuple[AsyncGate, AsyncGate]] = {}
        self._failures: dict[tuple[str, int], BaseException] = {}
        self._lock = threading.Lock()

    def hold(self, op: str, call: int = 1) -> tuple[AsyncGate, AsyncGate]:
        """Stop the ``call``-th call of ``op``: returns (entered, release)."""
        gates = (AsyncGate(), AsyncGate())
        self._holds[(op, call)] = gates
        return gates

    def fail(self, op: str, call: int = 1, error: BaseException | None = None) -> None:
        """Make the ``call``-th call of ``op`` raise (after any hold)."""
        self._failures[(op, call)] = error if error is not None else StoreFault(f"injected {op} failure")

    async def enter(self, op: str) -> None:
        with self._lock:
            self.calls[op] += 1
            call = self.calls[op]
        gates = self._holds.get((op, call))
        if gates is not None:
            gates[0].set()
            await gates[1].wait()
        error = self._failures.get((op, call))
        if error is not None:
            raise error

    async def get_stream(self, key: str, /) -> tuple[Any, dj.Metadata]:
        await self.enter("get_stream")
        reader, metadata = await self.inner.get_stream(key)
        return _HookedReader(self, reader), metadata

    async def begin_set(self, key: str, metadata: dj.Metadata, /) -> Any:
        await self.enter("begin_set")
        return _HookedSink(self, await self.inner.begin_set(key, metadata))

    async def delete(self, key: str, /) -> None:
        await self.enter("delete")
        await self.inner.delete(key)

    async def stat(self, key: str, /) -> dj.Metadata:
        await self.enter("stat")
        return await self.inner.stat(key)

    async def close(self) -> None:
        await self.enter("close")
        await self.inner.close()


class _HookedReader:
    def __init__(self, store: Hooked, inner: Any) -> None:
        self._store = store
        self._inner = inner
        self._reads = 0

    async def read(self, size: int = -1, /) -> Any:
        await self._store.enter("read")
        self._reads += 1
        limit = self._store.first_read
        if self._reads == 1 and limit is not None and (size < 0 or size > limit):
            size = limit
        return await self._inner.read(size)

    async def aclose(self) -> None:
        await self._inner.aclose()
        await self._store.enter("reader_close")


class _HookedSink:
    def __init__(self, store: Hooked, inner: Any) -> None:
        self._store = store
        self._inner = inner

    async def write(self, data: Any, /) -> None:
        await self._store.enter("write")
        await self._inner.write(data)

    async def commit(self) -> None:
        await self._store.enter("commit")
        await self._inner.commit()

    async def abort(self) -> None:
        await self._store.enter("abort")
        await self._inner.abort()


class Unhashable(Hooked):
    """A store that compares by value and so cannot be hashed (Go's non-comparable tier store)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unhashable)

    __hash__ = None  # type: ignore[assignment]


class OriginUnavailable(Exception):
    """The end-to-end origin answered 500."""


class E2EOrigin:
    """The Go end-to-end tests' origin service: per-key bodies and etags, hit counters, latency, failures.

    A fetch with old metadata whose etag still matches answers ``NotModified``
    (If-None-Match); an unknown key answers ``CacheableNotFound`` (404).
    """

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, str]] = {}
        self.hits: Counter[str] = Counter()
        self.misses = 0
        self.delay = 0.0
        self.fail_all = False
        self.chunked = False

    def set(self, key: str, data: bytes, etag: str) -> None:
        self.data[key] = (data, etag)

    def fetcher(self, key: str) -> Any:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            self.hits[key] += 1
            if self.fail_all:
                raise OriginUnavailable("origin returned status 500")
            if key not in self.data:
                self.misses += 1
                raise dj.CacheableNotFound(key)
            if self.delay:
                await async_sleep(self.delay)
            data, etag = self.data[key]
            if old is not None and old.etag == etag:
                raise dj.NotModified()
            half = len(data) // 2
            body: Any = [data[:half], data[half:]] if self.chunked else data
            return dj.FetchResult(body, dj.Metadata(etag=etag, attrs={"content-type": "application/octet-stream"}))

        return fetch


async def serve(cache: dj.AsyncCache, origin: E2EOrigin, key: str, if_none_match: str | None = None) -> Any:
    """What the Go end-to-end proxy answers to a GET: (status code, ETag, body)."""
    try:
        async with await cache.get(key, origin.fetcher(key), if_none_match=if_none_match) as response:
            if response.status is dj.Status.NOT_MODIFIED:
                return 304, response.metadata.etag, b""
            return 200, response.metadata.etag, await response.read()
    except dj.NotFound:
        return 404, "", b""
    except dj.CacheClosed:
        return 503, "", b""
    except OriginUnavailable:
        return 500, "", b""


# -- tests/cache_regression_test.go ------------------------------------------------------------------


async def test_schedule_refresh_is_rejected_when_the_worker_and_its_queue_are_busy() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_ReturnsErrorWhenWorkerQueueIsFull."""
    entered, release = AsyncGate(), AsyncGate()
    origin = Origin({"key-2": b"v", "key-3": b"v"})
    async with dj.AsyncCache(stores=mem_tiers(2), workers=1, worker_queue=1) as cache:
        await cache.schedule_refresh("key-1", blocked_fetch(b"v", entered, release))
        await entered.wait()
        await cache.schedule_refresh("key-2", origin.fetcher("key-2"))
        with pytest.raises(dj.BackgroundJobRejected):
            await cache.schedule_refresh("key-3", origin.fetcher("key-3"))
        release.set()
        assert cache.stats().refreshes_rejected == 1


async def test_a_refresh_reaches_a_lower_tier_that_lacks_the_key() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_PersistsToColdWhenColdEntryIsMissing;
    tests/refresh_cold_persist_test.go TestScheduleRefresh_PersistsToCold."""
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        await settle(cache)
        await tiers[1].inner.delete("k")
        await cache.schedule_refresh("k", Origin({"k": b"new-value"}, etag="v1").fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[1], "k", b"new-value", "v1")


async def test_a_refresh_whose_body_breaks_midway_keeps_the_old_value() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_DoesNotPublishPartialDataOnCopyFailure."""
    tiers = mem_tiers(1)
    body = TrackedBody([b"new-"], error=ConnectionResetError("origin went away"))

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body, dj.Metadata(etag="v1"))

    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        await cache.schedule_refresh("k", fetch)
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        assert body.closed.is_set()
        await assert_entry(tiers[0], "k", b"old-value", "v0")


async def test_a_refresh_whose_body_fails_to_close_leaves_the_tiers_consistent() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_DoesNotPublishWhenSourceCloseFails.

    Go keeps the old value when the refreshed body fails to close.  Here a
    refresh whose body was read to its end publishes (rule R3); what it may never
    do (rule O1) is publish into tier 0 and then drop the copy to the lower tiers.
    So either every tier keeps the old value or every tier gets the new one.
    """
    tiers = mem_tiers(2)
    body = TrackedBody([b"new-value"], close_error=OSError("refresh source close failed"))

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body, dj.Metadata(etag="v1"))

    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        await settle(cache)
        await cache.schedule_refresh("k", fetch)
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert body.closed.is_set()
        top, lower = await entry(tiers[0], "k"), await entry(tiers[1], "k")
        assert top is not None
        assert lower is not None
        assert (top[0], top[1].etag) in [(b"old-value", "v0"), (b"new-value", "v1")]
        assert (lower[0], lower[1].etag) == (top[0], top[1].etag), "tier 0 and tier 1 disagree"


async def test_a_stale_hit_in_the_only_tier_refreshes_it_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_WithoutColdStoreDoesNotPanicWorker."""
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old-value", dj.Metadata(etag="v0", cached_at=ago(HOUR)))
    origin = Origin({"k": b"new-value"}, etag="v1")
    with caplog.at_level(logging.WARNING, logger="daramjwee"):
        async with dj.AsyncCache(stores=tiers, positive_fresh_for=60, workers=1, worker_queue=4) as cache:
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"old-value"
            await eventually(lambda: cache.stats().refreshes_completed == 1)
            await settle(cache)
            await assert_entry(tiers[0], "k", b"new-value", "v1")
    assert [record.getMessage() for record in caplog.records if record.name == "daramjwee"] == []


async def test_a_delete_fences_a_writer_that_was_open_before_it() -> None:
    """Go: tests/cache_regression_test.go TestCache_DeleteInvalidatesOpenWriter.

    Go's ``Close`` returns an error; here the commit quietly yields (``published`` is False).
    """
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        writer = cache.set("k", dj.Metadata(etag="v1"))
        await writer.write(b"new-value")
        await cache.delete("k")
        await writer.commit()
        assert not writer.published
        assert holding(tiers, "k") == [False]


async def test_a_delete_that_fails_on_tier0_still_fences_a_writer_open_before_it() -> None:
    """Go: tests/cache_regression_test.go TestCache_FailedTopDeleteDoesNotInvalidateOpenWriter.

    Go lets the writer publish after a delete that failed on the top tier.
    Rule G3 fences every set begun before a ``delete`` (which tries every
    tier and then raises a TierError, rule W9): here the writer yields, and what tier 0
    held before stays.  (Go's cancelled-context variant,
    TestCache_CanceledDeleteDoesNotInvalidateOpenWriter, has no counterpart:
    our calls take no context.)
    """
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        writer = cache.set("k", dj.Metadata(etag="v1"))
        await writer.write(b"new-value")
        tiers[0].fail("delete", times=1)
        with pytest.raises(dj.TierError) as raised:
            await cache.delete("k")
        assert (raised.value.tier, raised.value.op) == (0, "delete")
        await writer.commit()
        assert not writer.published
        await assert_entry(tiers[0], "k", b"old-value", "v0")


async def test_a_refresh_fetching_when_a_set_lands_does_not_overwrite_it() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_DoesNotOverwriteNewerTopEntry."""
    tiers = mem_tiers(1)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers, workers=1, worker_queue=4) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        await cache.schedule_refresh("k", blocked_fetch(b"background-value", entered, release, etag="v1"))
        await entered.wait()
        await cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))
        release.set()
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")


@pytest.mark.parametrize("kind", ["memory", "wrapped", "file"])
async def test_a_miss_fetching_when_a_set_lands_does_not_overwrite_it(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/cache_regression_test.go TestCache_MissFetchDoesNotOverwriteNewerSet,
    TestCache_MissFetchDoesNotOverwriteNewerSetWithValueStoreWrapper."""
    store = Hooked(dj.AsyncMemStore()) if kind == "wrapped" else make_store(kind, tmp_path)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=[store]) as cache:
        reading = async_start(
            lambda: cache.get_bytes("k", blocked_fetch(b"fetched-value", entered, release, "origin-v1"))
        )
        await entered.wait()
        await cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))
        release.set()
        assert await reading.result() == b"fetched-value"
        await settle(cache)
        await assert_entry(store, "k", b"user-value", "user-v2")


async def test_a_queued_refresh_does_not_overwrite_a_set_made_while_it_waited() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_QueuedJobDoesNotOverwriteNewerSet."""
    tiers = mem_tiers(1)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers, workers=1, worker_queue=4) as cache:
        await cache.schedule_refresh("blocker-key", blocked_fetch(b"blocker-value", entered, release))
        await entered.wait()
        await cache.schedule_refresh("k", Origin({"k": b"refresh-value"}).fetcher("k"))
        await cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))
        release.set()
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 2)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")


@pytest.mark.parametrize("tier", [0, 1])
async def test_a_stale_read_closed_after_a_set_does_not_refresh_over_it(tier: int) -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_CloseTriggeredTopTierRefreshDoesNotOverwriteNewerSet,
    TestScheduleRefresh_CloseTriggeredLowerTierRefreshDoesNotOverwriteNewerSet."""
    tiers = mem_tiers(2)
    await put(tiers[tier], "k", b"stale-value", dj.Metadata(etag="stale-v0", cached_at=ago(HOUR)))
    origin = Origin({"k": b"refresh-value"}, etag="refresh-v1")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60, workers=1, worker_queue=4) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert response.stale
        await cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))
        await response.aclose()
        await eventually(lambda: not cache._refreshing)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")
        await assert_entry(tiers[1], "k", b"user-value", "user-v2")


async def test_a_delete_while_a_refresh_commits_leaves_the_key_deleted() -> None:
    """Go: tests/cache_regression_test.go TestScheduleRefresh_CloseWindowDeleteKeepsKeyDeleted."""
    top = Hooked(dj.AsyncMemStore())
    await put(top.inner, "k", b"old-value", dj.Metadata(etag="v0", cached_at=ago(HOUR)))
    entered, release = top.hold("commit")
    async with dj.AsyncCache(stores=[top], workers=1, worker_queue=4) as cache:
        await cache.schedule_refresh("k", Origin({"k": b"background-value"}).fetcher("k"))
        await entered.wait()
        deleting = async_start(lambda: cache.delete("k"))
        release.set()
        await deleting.result()
        await settle(cache)
        assert await entry(top, "k") is None


async def test_a_delete_while_a_promotion_commits_leaves_the_key_deleted() -> None:
    """Go: tests/cache_regression_test.go TestCache_LowerTierPromotionDeleteKeepsKeyDeleted."""
    top = Hooked(dj.AsyncMemStore())
    lower = mem_tiers(1)[0]
    await put(lower, "k", b"lower-value", dj.Metadata(etag="lower-v1", cached_at=time.time()))
    entered, release = top.hold("commit")
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR) as cache:
        reading = async_start(lambda: cache.get_bytes("k", Origin().fetcher("k")))
        await entered.wait()
        deleting = async_start(lambda: cache.delete("k"))
        release.set()
        assert await reading.result() == b"lower-value"
        await deleting.result()
        await settle(cache)
        assert await entry(top, "k") is None
        assert holding([lower], "k") == [False]


async def test_a_delete_while_a_fan_out_commits_leaves_the_key_deleted() -> None:
    """Go: tests/cache_regression_test.go TestCache_FanoutDeleteDuringLowerTierCloseKeepsKeyDeleted."""
    top = mem_tiers(1)[0]
    cold = Hooked(dj.AsyncMemStore())
    entered, release = cold.hold("commit")
    async with dj.AsyncCache(stores=[top, cold], workers=1, worker_queue=4) as cache:
        assert await cache.get_bytes("k", Origin({"k": b"origin-value"}).fetcher("k")) == b"origin-value"
        await entered.wait()
        deleting = async_start(lambda: cache.delete("k"))
        release.set()
        await deleting.result()
        await settle(cache)
        assert holding([top], "k") == [False]
        assert await entry(cold, "k") is None


async def test_a_read_during_a_slow_delete_is_served_and_nothing_comes_back_after_it() -> None:
    """Go: tests/cache_regression_test.go TestCache_DeleteDoesNotAllowLowerTierPromotionWhileDeleteInProgress."""
    hot = mem_tiers(1)[0]
    cold = Hooked(dj.AsyncMemStore())
    seed = dj.Metadata(etag="seed", cached_at=time.time())
    await put(hot, "k", b"seed", seed)
    await put(cold.inner, "k", b"seed", seed)
    entered, release = cold.hold("delete")
    async with dj.AsyncCache(stores=[hot, cold], positive_fresh_for=HOUR) as cache:
        deleting = async_start(lambda: cache.delete("k"))
        await entered.wait()
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.status is dj.Status.OK
            assert await response.read() == b"seed"
        release.set()
        await deleting.result()
        await settle(cache)
        assert holding([hot], "k") == [False]
        assert await entry(cold.inner, "k") is None


async def test_a_conditional_lower_hit_during_a_delete_brings_nothing_back() -> None:
    """Go: tests/cache_regression_test.go
    TestCache_ConditionalLowerTierHitDoesNotReturnNotModifiedWhenPromotionInvalidated.

    Go answers 200 with the body because its promotion was invalidated.  Here a
    hit that matches ``if_none_match`` promotes nothing, and the read is
    ordered before the delete, which has not returned yet: it answers
    NOT_MODIFIED for the entry it found.  Nothing reaches tier 0, and the
    delete removes the key.
    """
    top = mem_tiers(1)[0]
    lower = Hooked(dj.AsyncMemStore())
    await put(lower.inner, "k", b"cached-value", dj.Metadata(etag="cache-v1", cached_at=time.time()))
    entered, release = lower.hold("delete")
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        deleting = async_start(lambda: cache.delete("k"))
        await entered.wait()
        async with await cache.get("k", Origin().fetcher("k"), if_none_match="cache-v1") as response:
            assert response.status is dj.Status.NOT_MODIFIED
            assert response.metadata.etag == "cache-v1"
        release.set()
        await deleting.result()
        await settle(cache)
        assert holding([top], "k") == [False]
        assert await entry(lower.inner, "k") is None


async def test_a_miss_begun_while_a_set_was_open_does_not_overwrite_its_commit() -> None:
    """Go: tests/cache_regression_test.go TestCache_MissDuringInFlightSetDoesNotOverwriteCommittedSet."""
    tiers = mem_tiers(1)
    entered, release = AsyncGate(), AsyncGate()
    async with dj.AsyncCache(stores=tiers) as cache:
        writer = cache.set("k", dj.Metadata(etag="user-v1"))
        await writer.write(b"user-value")
        reading = async_start(
            lambda: cache.get_bytes("k", blocked_fetch(b"origin-value", entered, release, "origin-v1"))
        )
        await entered.wait()
        await writer.commit()
        assert writer.published
        release.set()
        assert await reading.result() == b"origin-value"
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v1")


async def test_a_delete_while_a_set_commits_leaves_the_key_deleted() -> None:
    """Go: tests/cache_regression_test.go TestCache_DeleteDuringSlowCloseKeepsKeyDeleted.

    Go fails the writer's ``Close`` with ErrTopWriteInvalidated.  Here the
    commit was already in the store when the delete came: it lands first and
    the delete then removes it, so the key ends deleted either way.
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("commit")
    async with dj.AsyncCache(stores=[top]) as cache:
        writer = cache.set("k", dj.Metadata(etag="v1"))
        await writer.write(b"new-value")
        committing = async_start(writer.commit)
        await entered.wait()
        deleting = async_start(lambda: cache.delete("k"))
        release.set()
        await committing.result()
        await deleting.result()
        await settle(cache)
        assert await entry(top, "k") is None


# -- write_coordinator_test.go -------------------------------------------------------------------------


async def test_an_older_set_commits_while_a_newer_sets_begin_set_is_pending() -> None:
    """Go: write_coordinator_test.go TestLaterStagedBeginFailureDoesNotInvalidateOlderWriter,
    TestSetStreamToStoreWithTopGenerationRestoresGenerationOnBeginSetFailure.

    A set whose ``begin_set`` fails fences nothing (rule G4).
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("begin_set", call=2)
    top.fail("begin_set", call=2)
    async with dj.AsyncCache(stores=[top]) as cache:
        older = cache.set("k", dj.Metadata(etag="older"))
        await older.write(b"older-value")
        newer = async_start(lambda: cache.set_bytes("k", b"newer-value", dj.Metadata(etag="newer")))
        await entered.wait()
        await async_start(older.commit).result(PROMPT)
        assert older.published
        release.set()
        with pytest.raises(dj.TierError, match="begin_set"):
            await newer.result()
        await assert_entry(top, "k", b"older-value", "older")


async def test_a_newer_sets_slow_abort_does_not_hold_up_an_older_commit() -> None:
    """Go: write_coordinator_test.go TestLaterStagedAbortCleanupDoesNotInvalidateOlderWriter.

    Go publishes the older writer.  Rule G3: among overlapping sets the last
    one begun wins, here even though it is then aborted; so the older commit
    returns at once (it does not wait for the abort) but yields.
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("abort")
    async with dj.AsyncCache(stores=[top]) as cache:
        older = cache.set("k", dj.Metadata(etag="older"))
        await older.write(b"older-value")
        newer = cache.set("k", dj.Metadata(etag="newer"))
        await newer.write(b"newer-value")
        aborting = async_start(newer.abort)
        await entered.wait()
        await async_start(older.commit).result(PROMPT)
        assert not older.published
        release.set()
        await aborting.result()
        assert await entry(top, "k") is None


@pytest.mark.parametrize("change", ["set", "delete"])
async def test_a_set_or_delete_does_not_wait_for_the_abort_of_a_fill_it_fenced(change: str) -> None:
    """Go: write_coordinator_test.go TestStagedFillPreemptDoesNotWaitForAbortCleanup,
    TestStagedFillDeletePreemptDoesNotWaitForAbortCleanup.

    A fill is not preempted here: it goes on streaming to its reader, and is
    discarded (its sink aborted) when it ends.
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("abort")
    origin = Origin({"k": b"origin-value"})
    origin.chunk = 6
    async with dj.AsyncCache(stores=[top]) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert await response.read(6) == b"origin"
        if change == "set":
            await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user"))).result(PROMPT)
        else:
            await async_start(lambda: cache.delete("k")).result(PROMPT)
        reading = async_start(response.read)
        await entered.wait()
        release.set()
        assert await reading.result() == b"-value"
        await response.aclose()
        assert cache.stats().fills_aborted == 1
        expected = (b"user-value", "user") if change == "set" else None
        found = await entry(top, "k")
        assert (None if found is None else (found[0], found[1].etag)) == expected


@pytest.mark.parametrize("fill_begin", ["succeeds", "fails"])
async def test_a_set_goes_ahead_while_a_fills_begin_set_is_pending(fill_begin: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_SameKeySetPreemptsMissFillBeforeStoreBeginSetReturns,
    TestCache_PreemptedFillBeginSetFailureReleasesSameKeyWriters; write_coordinator_test.go
    TestLegacyFillPreemptCancelsPendingBeginSet, TestLegacyFillContextCancelPreemptsPendingBeginSet.

    Go serializes the ``BeginSet`` calls of one key, so its set waits for the
    fill's.  Here no store call runs under a lock a set needs: the set does not
    wait for the fill's ``begin_set`` at all, and the fill, begun before the
    set, cannot publish over it.  A fill that cannot begin still serves its
    body (rule M4).
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("begin_set")
    if fill_begin == "fails":
        top.fail("begin_set")
    async with dj.AsyncCache(stores=[top]) as cache:
        reading = async_start(lambda: cache.get_bytes("k", Origin({"k": b"origin-value"}).fetcher("k")))
        await entered.wait()
        await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))).result(PROMPT)
        release.set()
        assert await reading.result() == b"origin-value"
        await settle(cache)
        await assert_entry(top, "k", b"user-value", "user-v2")


async def test_a_superseded_writers_slow_abort_does_not_hold_up_a_later_set() -> None:
    """Go: write_coordinator_test.go TestStaleStagedCloseAbortCleanupDoesNotBlockNewerCommit."""
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("abort")
    async with dj.AsyncCache(stores=[top]) as cache:
        older = cache.set("k", dj.Metadata(etag="older"))
        await older.write(b"older-value")
        await cache.set_bytes("k", b"newer-value", dj.Metadata(etag="newer"))
        closing = async_start(older.commit)
        await entered.wait()
        await async_start(lambda: cache.set_bytes("k", b"third-value", dj.Metadata(etag="third"))).result(PROMPT)
        release.set()
        await closing.result()
        assert not older.published
        await assert_entry(top, "k", b"third-value", "third")


async def test_a_set_committing_behind_another_commit_of_the_key_lands_after_it() -> None:
    """Go: write_coordinator_test.go TestStagedCloseWaitingForCommitLeaseTimesOutAndReleasesReservation.

    Go gives up waiting for the other commit after ``close_timeout`` and fails
    the second ``Close``.  Here commits of one key are ordered (the write
    generations' per-key commit order): the second lands after the first, and
    the key is not poisoned for a third set.
    """
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("commit")
    async with dj.AsyncCache(stores=[top]) as cache:
        first = cache.set("k", dj.Metadata(etag="v1"))
        await first.write(b"first")
        committing = async_start(first.commit)
        await entered.wait()
        second = cache.set("k", dj.Metadata(etag="v2"))
        await second.write(b"second")
        second_committing = async_start(second.commit)
        release.set()
        await committing.result()
        await second_committing.result()
        assert second.published
        await assert_entry(top, "k", b"second", "v2")
        await cache.set_bytes("k", b"third", dj.Metadata(etag="v3"))
        await assert_entry(top, "k", b"third", "v3")


async def test_a_set_whose_commit_fails_aborts_its_sink_and_keeps_the_old_value() -> None:
    """Go: write_coordinator_test.go TestStagedCloseAbortsUnderlyingSinkAfterCommitFailure."""
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_bytes("k", b"old-value", dj.Metadata(etag="v0"))
        tiers[0].fail("commit", times=1)
        with pytest.raises(dj.TierError, match="commit"):
            await cache.set_bytes("k", b"new-value", dj.Metadata(etag="v1"))
        assert tiers[0].calls["abort"] == 1
        await assert_entry(tiers[0], "k", b"old-value", "v0")


async def test_a_failed_commits_slow_abort_does_not_hold_up_a_later_set() -> None:
    """Go: write_coordinator_test.go TestFailedStagedCommitAbortCleanupDoesNotHoldCommitLease."""
    top = Hooked(dj.AsyncMemStore())
    top.fail("commit")
    entered, release = top.hold("abort")
    async with dj.AsyncCache(stores=[top]) as cache:
        first = async_start(lambda: cache.set_bytes("k", b"v1", dj.Metadata(etag="v1")))
        await entered.wait()
        await async_start(lambda: cache.set_bytes("k", b"v2", dj.Metadata(etag="v2"))).result(PROMPT)
        release.set()
        with pytest.raises(dj.TierError, match="commit"):
            await first.result()
        await assert_entry(top, "k", b"v2", "v2")


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_an_abandoned_writer_does_not_hold_up_a_later_set(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: write_coordinator_test.go TestSetWithAbandonedTopWriteSinkReturnsWhenContextExpires;
    tests/top_write_liveness_test.go TestCache_AbandonedTopWriteSinkDoesNotBlockSameKeySetForBuiltInStagingStores."""
    store = make_store(kind, tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        abandoned = cache.set("same-key", dj.Metadata(etag="abandoned"))
        await abandoned.write(b"abandoned-value")
        await async_start(lambda: cache.set_bytes("same-key", b"user-value", dj.Metadata(etag="user-v2"))).result(
            PROMPT
        )
        await assert_entry(store, "same-key", b"user-value", "user-v2")
        await abandoned.abort()
        await assert_entry(store, "same-key", b"user-value", "user-v2")


async def test_a_slow_fan_out_commit_into_a_lower_tier_does_not_hold_up_a_set_of_the_key() -> None:
    """Go: write_coordinator_test.go TestFanoutWriteManagerDifferentTiersAreIndependent,
    TestFanoutWriteManagerSerializesSameDestinationKey (fan-out writes are ordered per destination tier
    and key, so a fan-out into one tier never stalls a write of the key into another).

    Rule G7: no store call runs under a lock that another operation needs.
    """
    top = mem_tiers(1)[0]
    lower = Hooked(dj.AsyncMemStore())
    entered, release = lower.hold("commit")
    async with dj.AsyncCache(stores=[top, lower]) as cache:
        await cache.set_bytes("k", b"v1", dj.Metadata(etag="v1"))
        await entered.wait()  # v1's fan-out is committing into tier 1
        try:
            await async_start(lambda: cache.set_bytes("k", b"v2", dj.Metadata(etag="v2"))).result(PROMPT)
        finally:
            release.set()
        await settle(cache)
        await assert_entry(top, "k", b"v2", "v2")
        await assert_entry(lower, "k", b"v2", "v2")


async def test_fan_outs_of_quick_successive_sets_leave_the_lower_tier_with_the_last() -> None:
    """Go: write_coordinator_test.go TestFanoutWriteManagerOrdersStaleCleanupBeforeNewerWrite,
    TestFanoutWriteManagerReleasesIdleLocksAfterConcurrentUse."""
    tiers = mem_tiers(2)
    tiers[1].latency = 0.01
    async with dj.AsyncCache(stores=tiers, workers=4) as cache:
        for i in range(6):
            await cache.set_bytes("k", f"value-{i}".encode(), dj.Metadata(etag=f"v{i}"))
        await settle(cache)
        await assert_entry(tiers[1], "k", b"value-5", "v5")
        assert cache._writes.in_flight() == 0


# -- tests/pure_streaming_integration_test.go ----------------------------------------------------------


async def test_a_miss_returns_its_stream_before_the_origin_body_ends() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_MissReturnsStreamBeforeSourceEOF."""
    tiers = mem_tiers(1)
    release = AsyncGate()

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(gated_body(b"hello", b" world", release), dj.Metadata(etag="v1"))

    async with dj.AsyncCache(stores=tiers) as cache:
        response = await async_start(lambda: cache.get("k", fetch)).result(PROMPT)
        assert await response.read(5) == b"hello"
        assert holding(tiers, "k") == [False]
        release.set()
        assert await response.read() == b" world"
        await response.aclose()
        await assert_entry(tiers[0], "k", b"hello world", "v1")


async def test_a_lower_hit_returns_its_stream_before_the_tier_body_ends() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_ColdHitReturnsStreamBeforeSourceEOF."""
    hot = mem_tiers(1)[0]
    cold = Hooked(dj.AsyncMemStore(), first_read=4)
    await put(cold.inner, "k", b"cold value", dj.Metadata(etag="v1", cached_at=time.time()))
    entered, release = cold.hold("read", call=2)
    async with dj.AsyncCache(stores=[hot, cold], positive_fresh_for=HOUR) as cache:
        response = await async_start(lambda: cache.get("k", Origin().fetcher("k"))).result(PROMPT)
        assert await response.read(4) == b"cold"
        assert holding([hot], "k") == [False]
        reading = async_start(response.read)
        await entered.wait()
        assert holding([hot], "k") == [False]
        release.set()
        assert await reading.result() == b" value"
        await response.aclose()
        await assert_entry(hot, "k", b"cold value", "v1")


async def test_a_miss_whose_fill_cannot_begin_passes_the_origin_body_through() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_MissBeginSetFailureFallsBackToPassthrough."""
    tiers = mem_tiers(1)
    tiers[0].fail("begin_set")
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", Origin({"k": b"passthrough"}).fetcher("k")) == b"passthrough"
        assert holding(tiers, "k") == [False]


@pytest.mark.parametrize("source", ["miss", "lower tier"])
async def test_a_stream_read_to_its_end_publishes_before_close_and_frees_the_key(source: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_MissFullReadWithoutExplicitClosePublishesAndReleasesKey,
    TestCache_LowerTierFullReadWithoutExplicitClosePublishesAndReleasesKey;
    streaming_reader_test.go TestStreamThrough_FullReadWithoutExplicitClosePublishes."""
    tiers = mem_tiers(2)
    if source == "lower tier":
        await put(tiers[1], "k", b"lower-value", dj.Metadata(etag="lower-v1", cached_at=time.time()))
        expected = (b"lower-value", "lower-v1")
    else:
        expected = (b"fetched-value", "origin-v1")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR) as cache:
        response = await cache.get("k", Origin({"k": b"fetched-value"}, etag="origin-v1").fetcher("k"))
        assert await response.read() == expected[0]
        await assert_entry(tiers[0], "k", *expected)
        await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))).result(PROMPT)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")
        await response.aclose()


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("consumed", [0, 6])
@pytest.mark.parametrize("change", ["set", "delete"])
async def test_an_unread_or_half_read_miss_does_not_hold_up_a_set_or_delete_of_its_key(
    change: str, consumed: int, kind: str, tmp_path: pathlib.Path
) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_SameKeySetPreemptsUnconsumedMissFill,
    TestCache_SameKeySetPreemptsPartiallyConsumedMissFill, TestCache_DeletePreemptsUnconsumedMissFillAndKeepsKeyDeleted,
    TestCache_PartialMissStreamDoesNotBlockSameKeySet; tests/cache_stuck_repro_test.go
    TestFileStore_UnconsumedMissBodyDoesNotBlockSameKeyUpdate, TestRepro_UnconsumedMissBodyDoesNotBlockSameKeyUpdate."""
    store = make_store(kind, tmp_path)
    origin = Origin({"k": b"origin-value"}, etag="origin-v1")
    origin.chunk = 6
    async with dj.AsyncCache(stores=[store]) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        received = await response.read(consumed)
        if change == "set":
            await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))).result(PROMPT)
        else:
            await async_start(lambda: cache.delete("k")).result(PROMPT)
        received += await response.read()
        await response.aclose()
        assert received == b"origin-value"
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)
        if change == "set":
            await assert_entry(store, "k", b"user-value", "user-v2")
        else:
            assert await entry(store, "k") is None


async def test_a_set_is_not_held_up_by_a_half_read_promotion_of_its_key() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_SameKeySetPreemptsPartiallyConsumedLowerTierPromotion."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"lower-value", dj.Metadata(etag="lower-v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, chunk_size=5) as cache:
        response = await cache.get("k", Origin().fetcher("k"))
        assert await response.read(5) == b"lower"
        await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))).result(PROMPT)
        assert await response.read() == b"-value"
        await response.aclose()
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")
        assert cache.stats().tiers[0].promotions == 0


async def test_a_second_miss_behind_an_unread_leader_waits_at_most_coalesce_wait() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_SecondSameKeyMissDoesNotBlockBehindUnconsumedFill;
    tests/miss_coalescing_test.go TestMissCoalescing_SlowLeaderFallback.

    Go lets the second miss fetch at once.  Rule S2 makes it wait for the
    leader's publish, bounded by ``coalesce_wait``, and then fetch for itself
    without caching.
    """
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers, coalesce_wait=0.1) as cache:
        first = await cache.get("k", Origin({"k": b"first-origin-value"}).fetcher("k"))
        started = time.monotonic()
        second = async_start(lambda: cache.get_bytes("k", Origin({"k": b"second-origin-value"}).fetcher("k")))
        assert await second.result(PROMPT) == b"second-origin-value"
        assert time.monotonic() - started >= 0.05
        assert await first.read() == b"first-origin-value"
        await first.aclose()
        await assert_entry(tiers[0], "k", b"first-origin-value", "v1")


async def test_lower_hits_are_not_held_up_by_an_unread_promotion_of_the_key() -> None:
    """Go: tests/pure_streaming_integration_test.go
    TestCache_ConditionalLowerTierPromotionDoesNotBlockBehindUnconsumedFill,
    TestCache_SecondSameKeyLowerTierPromotionDoesNotBlockBehindUnconsumedFill,
    TestCache_ConditionalLowerTierHitDoesNotBlockBehindUnconsumedFill."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"lower-value", dj.Metadata(etag="lower-v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR) as cache:
        first = await cache.get("k", Origin().fetcher("k"))
        conditional = await async_start(lambda: cache.get("k", Origin().fetcher("k"), if_none_match="lower-v1")).result(
            PROMPT
        )
        assert conditional.status is dj.Status.NOT_MODIFIED
        assert await conditional.read() == b""
        await conditional.aclose()
        assert await async_start(lambda: cache.get_bytes("k", Origin().fetcher("k"))).result(PROMPT) == b"lower-value"
        assert await first.read() == b"lower-value"
        await first.aclose()


async def test_a_cacheable_not_found_miss_behind_an_unread_fill_waits_at_most_coalesce_wait() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_NegativeMissDoesNotBlockBehindUnconsumedFill.

    Go answers at once; rule S2 bounds the wait by ``coalesce_wait``.
    """
    async with dj.AsyncCache(stores=mem_tiers(1), coalesce_wait=0.1) as cache:
        first = await cache.get("k", Origin({"k": b"origin-value"}).fetcher("k"))
        with pytest.raises(dj.NotFound):
            await async_start(lambda: cache.get("k", Origin().fetcher("k"))).result(PROMPT)
        assert await first.read() == b"origin-value"
        await first.aclose()


async def test_a_fresh_negative_lower_entry_answers_at_once_behind_an_unread_fill() -> None:
    """Go: tests/pure_streaming_integration_test.go
    TestCache_NegativeLowerTierPromotionDoesNotBlockBehindUnconsumedFill."""
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        first = await cache.get("k", Origin({"k": b"origin-value"}).fetcher("k"))
        await put(tiers[1], "k", b"", dj.Metadata(is_negative=True, cached_at=time.time()))
        with pytest.raises(dj.NotFound):
            await async_start(lambda: cache.get("k", Origin().fetcher("k"))).result(PROMPT)
        assert await first.read() == b"origin-value"
        await first.aclose()


@pytest.mark.parametrize("if_none_match", [None, "v1"])
async def test_a_lower_hit_after_a_tier0_read_error_is_served_and_not_promoted(if_none_match: str | None) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_ConditionalLowerTierHitAfterTopReadErrorReturnsBody,
    TestCache_LowerTierHitAfterTopReadErrorDoesNotPromoteToTop.

    Go answers a matching conditional read with the body (it could not
    promote); here a matching hit answers NOT_MODIFIED for the entry it read
    (rule I2), which promotes nothing either.  Tier 0, whose content is
    unknown, is never written (rule P2).
    """
    tiers = mem_tiers(2)
    await put(tiers[0], "k", b"top-value-v2", dj.Metadata(etag="v2", cached_at=time.time()))
    await put(tiers[1], "k", b"lower-value-v1", dj.Metadata(etag="v1", cached_at=time.time()))
    tiers[0].fail("get_stream", times=1)
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR) as cache:
        async with await cache.get("k", Origin().fetcher("k"), if_none_match=if_none_match) as response:
            assert response.source == 1
            if if_none_match is None:
                assert response.status is dj.Status.OK
                assert await response.read() == b"lower-value-v1"
            else:
                assert response.status is dj.Status.NOT_MODIFIED
                assert response.metadata.etag == "v1"
        await settle(cache)
        await assert_entry(tiers[0], "k", b"top-value-v2", "v2")


async def test_a_stale_negative_lower_entry_after_a_tier0_read_error_is_not_found() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_NegativeLowerTierHitAfterTopReadErrorReturnsNotFound."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"", dj.Metadata(is_negative=True, cached_at=ago(HOUR)))
    tiers[0].fail("get_stream", times=1)
    origin = Origin()
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert cache.stats().negative_hits == 1


@pytest.mark.parametrize("tier0", ["read fails", "stat only"])
async def test_not_modified_on_a_miss_is_an_error(tier0: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_NotModifiedAfterTopReadErrorReturnsError,
    TestCache_NotModifiedReplayMissReturnsError."""
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"top-value", dj.Metadata(etag="v1", cached_at=time.time()))
    if tier0 == "read fails":
        tiers[0].fail("get_stream")
    else:
        tiers[0].fail("get_stream", error=dj.NotFound("k"))  # stat still finds it
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(dj.DaramjweeError, match="NotModified"):
            await cache.get("k", origin.fetcher("k"))


async def test_a_cacheable_not_found_refresh_of_a_stale_lower_entry_reaches_the_lower_tier() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_NegativeMissFansOutToLowerTier."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"old-positive", dj.Metadata(etag="old", cached_at=ago(HOUR)))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60, negative_fresh_for=60) as cache:
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"old-positive"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        assert (await stat_of(tiers[1], "k")).is_negative
        assert (await stat_of(tiers[0], "k")).is_negative


async def test_a_refresh_of_a_key_with_an_unread_fill_runs_and_closes_its_body() -> None:
    """Go: tests/pure_streaming_integration_test.go
    TestScheduleRefreshSameKeyActiveFillDoesNotBlockWorkerAndClosesBody."""
    body = TrackedBody([b"refresh-value"])

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body, dj.Metadata(etag="refresh-v1"))

    other = Origin({"other": b"other-value"})
    async with dj.AsyncCache(stores=mem_tiers(1), workers=1, worker_queue=4) as cache:
        active = await cache.get("k", Origin({"k": b"active-value"}).fetcher("k"))
        await cache.schedule_refresh("k", fetch)
        await cache.schedule_refresh("other", other.fetcher("other"))
        await eventually(lambda: body.closed.is_set() and other.calls == 1)
        await eventually(lambda: cache.stats().refreshes_completed == 2)
        assert await active.read() == b"active-value"
        await active.aclose()


async def test_a_refresh_closes_its_body_when_tier0_cannot_begin_a_write() -> None:
    """Go: tests/pure_streaming_integration_test.go TestScheduleRefreshClosesBodyWhenWriterBeginFails."""
    tiers = mem_tiers(1)
    tiers[0].fail("begin_set")
    body = TrackedBody([b"refresh-value"])

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body, dj.Metadata(etag="refresh-v1"))

    async with dj.AsyncCache(stores=tiers, workers=1, worker_queue=4) as cache:
        await cache.schedule_refresh("k", fetch)
        await eventually(body.closed.is_set)
        assert holding(tiers, "k") == [False]


@pytest.mark.parametrize("became", ["positive", "other positive"])
async def test_a_304_does_not_restamp_a_lower_entry_that_changed_while_validating(became: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_LowerTierNotModifiedFallbackSkipsChangedNegativeEntry,
    TestCache_LowerTierNotModifiedFallbackSkipsChangedPositiveEntry."""
    tiers = mem_tiers(2)
    old = ago(HOUR)
    if became == "positive":
        await put(tiers[1], "k", b"", dj.Metadata(etag="old-neg", is_negative=True, cached_at=old))
    else:
        await put(tiers[1], "k", b"old-body", dj.Metadata(etag="old", cached_at=old))
    entered, release = AsyncGate(), AsyncGate()

    async def validate(old_metadata: dj.Metadata | None) -> dj.FetchResult:
        entered.set()
        await release.wait()
        raise dj.NotModified()

    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, negative_fresh_for=1) as cache:
        if became == "positive":
            with pytest.raises(dj.NotFound):
                await cache.get("k", validate)
        else:
            assert await cache.get_bytes("k", validate) == b"old-body"
        await entered.wait()
        await put(tiers[1], "k", b"new-body", dj.Metadata(etag="new", cached_at=old))
        release.set()
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert holding(tiers, "k") == [False, True]
        await assert_entry(tiers[1], "k", b"new-body", "new")


async def test_a_304_whose_lower_copy_fails_to_close_leaves_the_tiers_consistent() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_LowerTierNotModifiedFallbackCloseErrorDoesNotPublish.

    Go publishes nothing when the copy it re-stamps fails to close.  Here the
    re-stamped copy was read to its end; the rule that matters (rule T4: a
    store failure is logged and the cache goes on; rule O1: every published write
    reaches every lower tier) is that tier 0 never ends with an entry the
    lower tier does not have.
    """
    top = mem_tiers(1)[0]
    lower = Hooked(dj.AsyncMemStore())
    await put(lower.inner, "k", b"old-body", dj.Metadata(etag="old", cached_at=ago(HOUR)))
    lower.fail("reader_close", call=2)  # the stale read's reader closes fine; the re-stamp's copy does not
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=1) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"old-body"
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        top_entry, lower_entry = await entry(top, "k"), await entry(lower.inner, "k")
        assert lower_entry is not None
        if top_entry is not None:
            assert top_entry == lower_entry


async def test_a_set_is_not_held_up_by_misses_waiting_behind_an_unread_leader() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_SameKeySetPreemptsQueuedMissFills.

    The queued misses here are coalesced waiters (rule S2): once
    ``coalesce_wait`` runs out they fetch for themselves without caching.
    """
    tiers = mem_tiers(1)
    queued = Origin({"k": b"origin-value-queued"})
    async with dj.AsyncCache(stores=tiers, coalesce_wait=0.2) as cache:
        first = await cache.get("k", Origin({"k": b"origin-value-0"}).fetcher("k"))
        waiters = [async_start(lambda: cache.get_bytes("k", queued.fetcher("k"))) for _ in range(8)]
        await eventually(lambda: cache.stats().coalesced_waiters == 8)
        await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user-v2"))).result(PROMPT)
        for waiter in waiters:
            assert await waiter.result(PROMPT) == b"origin-value-queued"
        assert await first.read() == b"origin-value-0"
        await first.aclose()
        await settle(cache)
        await assert_entry(tiers[0], "k", b"user-value", "user-v2")


@pytest.mark.parametrize("tier", [0, 1])
async def test_a_stale_stream_read_to_its_end_refreshes_before_close(tier: int) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_StaleTopTierFullReadWithoutExplicitCloseSchedulesRefresh,
    TestCache_StaleLowerTierFullReadWithoutExplicitCloseSchedulesRefresh."""
    tiers = mem_tiers(2)
    await put(tiers[tier], "k", b"stale-value", dj.Metadata(etag="old", cached_at=ago(HOUR)))
    origin = Origin({"k": b"fresh-value"}, etag="fresh")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, negative_fresh_for=1) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert await response.read() == b"stale-value"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"fresh-value", "fresh")
        await response.aclose()


@pytest.mark.parametrize("tier", [0, 1])
async def test_a_negative_hit_whose_reader_fails_to_close_is_still_not_found(tier: int) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_TopNegativeHitPropagatesCloseError,
    TestCache_LowerNegativeHitPropagatesCloseError, TestCache_ReplayedNegativeHitPropagatesCloseError.

    Go returns the close error.  Rule T4 logs a store failure and goes on:
    the key is still NotFound, the error is counted, and a fresh negative
    entry of a lower tier is still marked in tier 0 (rule N3).
    """
    stores = [Hooked(dj.AsyncMemStore()), Hooked(dj.AsyncMemStore())]
    await put(stores[tier].inner, "k", b"", dj.Metadata(is_negative=True, cached_at=time.time()))
    stores[tier].fail("reader_close")
    origin = Origin({"k": b"origin"})
    async with dj.AsyncCache(stores=stores, negative_fresh_for=HOUR) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert cache.stats().tiers[tier].errors == 1
        assert origin.calls == 0
        top = await entry(stores[0].inner, "k")
        assert top is not None
        assert top[1].is_negative


@pytest.mark.parametrize("tier", [0, 1])
async def test_a_hit_whose_reader_fails_to_close_still_delivers_every_byte(tier: int) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_TopPositiveHitPropagatesAutoCloseError,
    TestCache_StaleLowerTierHitPropagatesAutoCloseError.

    Go reports the close error from the read that reaches EOF and from
    ``Close``.  Here every byte is delivered; closing may report the store's
    failure only as a public error (a TierError with the store's error as its
    cause, rule T3), or log and count it like every other store failure
    the cache recovers from (rule T4).
    """
    stores = [Hooked(dj.AsyncMemStore()), Hooked(dj.AsyncMemStore())]
    cached_at = time.time() if tier == 0 else ago(HOUR)
    await put(stores[tier].inner, "k", b"value", dj.Metadata(etag="v1", cached_at=cached_at))
    stores[tier].fail("reader_close")
    async with dj.AsyncCache(stores=stores, positive_fresh_for=60) as cache:
        response = await cache.get("k", Origin({"k": b"fresh"}).fetcher("k"))
        assert response.source == tier
        assert await response.read() == b"value"
        failure = None
        try:
            await response.aclose()
        except dj.TierError as error:
            failure = error
        assert failure is None or isinstance(failure.__cause__, StoreFault)
        await response.aclose()


async def test_a_matching_lower_hit_whose_reader_fails_to_close_answers_not_modified() -> None:
    """Go: tests/pure_streaming_integration_test.go
    TestCache_ConditionalLowerTierPromotionCloseErrorAfterEOFDoesNotPublish.

    Go fails the call with the close error; here the store failure is logged
    and counted (rule T4), the answer is NOT_MODIFIED, and nothing is promoted.
    """
    top = mem_tiers(1)[0]
    lower = Hooked(dj.AsyncMemStore())
    await put(lower.inner, "k", b"conditional-value", dj.Metadata(etag="v1", cached_at=time.time()))
    lower.fail("reader_close")
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR) as cache:
        async with await cache.get("k", Origin().fetcher("k"), if_none_match="v1") as response:
            assert response.status is dj.Status.NOT_MODIFIED
        assert cache.stats().tiers[1].errors == 1
        assert holding([top], "k") == [False]


@pytest.mark.parametrize("source", ["miss", "lower tier"])
async def test_a_stream_closed_after_a_partial_read_publishes_nothing(source: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_PartialMissReadCloseDoesNotPublishToHot,
    TestCache_PartialColdHitReadCloseDoesNotPublishToHot; streaming_reader_test.go
    TestStreamThrough_PartialReadThenCloseAborts."""
    tiers = mem_tiers(2)
    if source == "lower tier":
        await put(tiers[1], "k", b"partial-value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR) as cache:
        response = await cache.get("k", Origin({"k": b"partial-value"}).fetcher("k"))
        assert await response.read(7) == b"partial"
        await response.aclose()
        assert holding(tiers, "k")[0] is False
        assert tiers[0].calls["commit"] == 0


async def test_a_fill_whose_tier0_commit_fails_still_serves_the_body_and_fans_out_nothing() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_PublishFailureDoesNotScheduleColdPersist;
    streaming_reader_test.go TestStreamThrough_CloseSurfacesPublishError.

    Go surfaces the commit error to the reader; rule M4 keeps a failing
    sink from breaking the reader.  Nothing reaches the lower tier.
    """
    tiers = mem_tiers(2)
    tiers[0].fail("commit")
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_bytes("k", Origin({"k": b"value"}).fetcher("k")) == b"value"
        await settle(cache)
        stats = cache.stats()
        assert (stats.fills_published, stats.fills_aborted, stats.fanouts) == (0, 1, 0)
        assert stats.tiers[0].errors == 1
        assert holding(tiers, "k") == [False, False]


async def test_tier0_found_on_the_second_look_is_served_without_the_origin() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_RetryLoopTierZeroHitServesAsTopTierHit.

    Go asks the origin (which answers 304) and then replays tier 0.  Here the
    miss leader looks at tier 0 once more before fetching and serves it as a
    tier-0 hit: the origin is not asked at all.
    """
    top = Hooked(dj.AsyncMemStore())
    await put(top.inner, "k", b"cached-value", dj.Metadata(etag="v1", cached_at=time.time()))
    top.fail("get_stream", call=1, error=dj.NotFound("k"))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=[top]) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 0
            assert await response.read() == b"cached-value"
            assert await response.read() == b""
        assert origin.calls == 0
        assert top.calls["reader_close"] == 1


@pytest.mark.parametrize("op", ["miss", "lower tier", "set", "object store set"])
async def test_streams_and_sinks_outlive_op_timeout(op: str) -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_MissStreamIgnoresOpTimeoutAfterFetchReturns,
    TestCache_LowerTierStreamIgnoresOpTimeoutAfterGetReturns, TestCache_SetSinkIgnoresOpTimeoutAfterBeginSetReturns;
    tests/api_contract_test.go TestCache_ObjectStoreTierZeroSinkIgnoresOpTimeoutAfterBeginSetReturns."""
    stores: list[Any] = [dj.AsyncObjectStore("memory://")] if op == "object store set" else mem_tiers(2, latency=0.001)
    if op == "lower tier":
        await put(stores[1], "k", b"timeout-safe", dj.Metadata(etag="v1", cached_at=time.time()))
    origin = Origin({"k": b"timeout-safe"})
    async with dj.AsyncCache(stores=stores, op_timeout=0.05, positive_fresh_for=HOUR) as cache:
        if op.endswith("set"):
            async with cache.set("k", dj.Metadata(etag="v1")) as writer:
                await async_sleep(0.1)
                await writer.write(b"timeout-safe")
            assert writer.published
        else:
            response = await cache.get("k", origin.fetcher("k"))
            await async_sleep(0.1)
            assert await response.read() == b"timeout-safe"
            await response.aclose()
        assert await value_of(stores[0], "k") == b"timeout-safe"


async def test_op_timeout_does_not_bound_the_fetcher() -> None:
    """Go: tests/pure_streaming_integration_test.go TestCache_MissUsesOpTimeoutForFetchSetup.

    Go fails a fetch that outlasts ``op_timeout``.  Here ``op_timeout`` bounds
    store calls and the wait on another caller's fetch (README), never the
    caller's own fetcher.
    """
    origin = Origin({"k": b"slow"}, delay=0.1)
    async with dj.AsyncCache(stores=mem_tiers(1, latency=0.001), op_timeout=0.02) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"slow"


# -- tests/e2e/e2e_test.go (the HTTP front is replaced by `serve`, which maps outcomes to its status codes) --


async def test_e2e_cold_miss_then_hot_hit() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_ColdMissThenHotHit."""
    origin = E2EOrigin()
    origin.set("hello", b"Hello, Daramjwee!", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        assert await serve(cache, origin, "hello") == (200, "v1", b"Hello, Daramjwee!")
        assert origin.hits["hello"] == 1
        assert await serve(cache, origin, "hello") == (200, "v1", b"Hello, Daramjwee!")
        assert origin.hits["hello"] == 1, "a hot hit does not touch the origin"


async def test_e2e_conditional_request_is_answered_not_modified_from_the_cache() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_ConditionalRequestNotModified."""
    origin = E2EOrigin()
    origin.set("hello", b"Hello, Daramjwee!", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        _, etag, _ = await serve(cache, origin, "hello")
        assert etag == "v1"
        assert await serve(cache, origin, "hello", if_none_match=etag) == (304, "v1", b"")
        assert origin.hits["hello"] == 1


async def test_e2e_negative_caching_expires() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_NegativeCaching."""
    origin = E2EOrigin()
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR, negative_fresh_for=0.2) as cache:
        assert (await serve(cache, origin, "missing"))[0] == 404
        assert origin.misses == 1
        assert (await serve(cache, origin, "missing"))[0] == 404
        assert origin.misses == 1, "within negative_fresh_for the origin is not asked"
        await async_sleep(0.25)
        assert (await serve(cache, origin, "missing"))[0] == 404
        await eventually(lambda: origin.misses >= 2)


async def test_e2e_delete_invalidates() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_DeleteInvalidates."""
    origin = E2EOrigin()
    origin.set("hello", b"Hello, Daramjwee!", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        assert (await serve(cache, origin, "hello"))[2] == b"Hello, Daramjwee!"
        await cache.delete("hello")
        assert (await serve(cache, origin, "hello"))[2] == b"Hello, Daramjwee!"
        assert origin.hits["hello"] == 2, "a deleted key is fetched again"


async def test_e2e_origin_failures_are_propagated_and_not_cached() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_OriginFailurePropagates."""
    origin = E2EOrigin()
    origin.set("hello", b"Hello, Daramjwee!", "v1")
    origin.fail_all = True
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        assert (await serve(cache, origin, "hello"))[0] == 500
        assert (await serve(cache, origin, "hello"))[0] == 500
        assert origin.hits["hello"] == 2


async def test_e2e_stale_while_revalidate() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_StaleWhileRevalidate."""
    origin = E2EOrigin()
    origin.set("fresh", b"fresh-v1", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=0.15, negative_fresh_for=HOUR) as cache:
        assert (await serve(cache, origin, "fresh"))[2] == b"fresh-v1"
        origin.set("fresh", b"fresh-v2", "v2")
        await async_sleep(0.2)
        assert (await serve(cache, origin, "fresh"))[2] == b"fresh-v1", "the stale entry is served at once"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert (await serve(cache, origin, "fresh"))[1:] == ("v2", b"fresh-v2")
        assert origin.hits["fresh"] == 2


async def test_e2e_a_partial_read_does_not_publish() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_PartialReadDoesNotPublish."""
    origin = E2EOrigin()
    origin.chunked = True
    origin.set("big", b"x" * (1 << 20), "big-v1")
    hot = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[hot], positive_fresh_for=HOUR) as cache:
        response = await cache.get("big", origin.fetcher("big"))
        assert len(await response.read(4096)) == 4096
        await response.aclose()
        assert "big" not in hot
        status, _, body = await serve(cache, origin, "big")
        assert (status, len(body)) == (200, 1 << 20)
        assert origin.hits["big"] == 2
        assert "big" in hot


async def test_e2e_concurrent_cold_requests_coalesce() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_ConcurrentColdRequestsCoalesce;
    tests/miss_coalescing_test.go TestMissCoalescing_ConcurrentMissesShareOriginFetch."""
    origin = E2EOrigin()
    origin.delay = 0.08
    origin.set("hot", b"shared-value", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        results = await async_run_concurrently([lambda: serve(cache, origin, "hot") for _ in range(20)])
        assert results == [(200, "v1", b"shared-value")] * 20
        assert origin.hits["hot"] == 1


async def test_e2e_memory_and_file_tiers_survive_a_restart(tmp_path: pathlib.Path) -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_MultiTierRestartPromotion."""
    origin = E2EOrigin()
    origin.set("tiered", b"tiered-value", "tiered-v1")
    async with dj.AsyncCache(
        stores=[dj.AsyncMemStore(), dj.AsyncFileStore(tmp_path)], positive_fresh_for=HOUR
    ) as cache:
        assert (await serve(cache, origin, "tiered"))[2] == b"tiered-value"
        await settle(cache)
        assert cache.stats().fanouts == 1
    top = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[top, dj.AsyncFileStore(tmp_path)], positive_fresh_for=HOUR) as cache:
        async with await cache.get("tiered", origin.fetcher("tiered")) as response:
            assert response.source == 1
            assert await response.read() == b"tiered-value"
        assert origin.hits["tiered"] == 1, "the file tier served it"
        assert "tiered" in top


async def test_e2e_file_and_object_store_chain_survives_a_restart(tmp_path: pathlib.Path) -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_FileObjectstoreChain."""
    origin = E2EOrigin()
    origin.set("remote", b"remote-value", "remote-v1")
    bucket = obstore.store.MemoryStore()
    async with dj.AsyncCache(
        stores=[dj.AsyncFileStore(tmp_path), dj.AsyncObjectStore(bucket, "cache")], positive_fresh_for=HOUR
    ) as cache:
        assert (await serve(cache, origin, "remote"))[2] == b"remote-value"
        await settle(cache)
    remote = dj.AsyncObjectStore(bucket, "cache")
    await assert_entry(remote, "remote", b"remote-value", "remote-v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), remote], positive_fresh_for=HOUR) as cache:
        assert await serve(cache, origin, "remote") == (200, "remote-v1", b"remote-value")
        assert origin.hits["remote"] == 1, "the object store served it"


async def test_e2e_promotion_probation_promotes_on_the_second_lower_hit_and_a_delete_starts_over() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_PromotionProbation; tests/promotion_probation_test.go
    TestPromotionProbation_SecondHitPromotes, TestPromotionProbation_DeleteResetsProbation."""
    origin = E2EOrigin()
    origin.set("probe", b"probe-value", "probe-v1")
    top, lower = dj.AsyncMemStore(), dj.AsyncMemStore()
    seed = dj.Metadata(etag="probe-v1", cached_at=time.time())
    await put(lower, "probe", b"probe-value", seed)
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR, promotion_probation=1024) as cache:
        assert (await serve(cache, origin, "probe"))[2] == b"probe-value"
        assert "probe" not in top, "the first lower hit does not promote"
        assert (await serve(cache, origin, "probe"))[2] == b"probe-value"
        await assert_entry(top, "probe", b"probe-value", "probe-v1")
        await cache.delete("probe")
        await put(lower, "probe", b"probe-value", seed)
        assert (await serve(cache, origin, "probe"))[2] == b"probe-value"
        assert "probe" not in top, "the first lower hit after a delete does not promote"
        assert origin.hits["probe"] == 0


async def test_e2e_a_miss_arriving_while_the_leader_streams_joins_it() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_LeaderBodyStillOpenWaiterArrives;
    tests/miss_coalescing_test.go TestMissCoalescing_NoDuplicateFetchWhileLeaderStreams."""
    release = AsyncGate()
    calls = 0

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        return dj.FetchResult(gated_body(b"origin", b"-value", release), dj.Metadata(etag="v1"))

    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        leader = await cache.get("key", fetch)
        assert await leader.read(6) == b"origin"
        waiter = async_start(lambda: cache.get_bytes("key", fetch))
        await eventually(lambda: cache.stats().coalesced_waiters == 1)
        assert calls == 1
        release.set()
        assert await leader.read() == b"-value"
        await leader.aclose()
        assert await waiter.result() == b"origin-value"
        assert calls == 1, "the waiter was served from tier 0"


async def test_e2e_concurrent_deletes_and_gets_never_tear_a_value() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_ConcurrentDeleteAndGet."""
    origin = E2EOrigin()
    origin.delay = 0.002
    origin.set("race", b"race-v1", "race-v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        assert (await serve(cache, origin, "race"))[2] == b"race-v1"

        async def reader() -> list[Any]:
            return [await serve(cache, origin, "race") for _ in range(25)]

        async def deleter() -> int:
            for _ in range(25):
                await cache.delete("race")
            return 25

        results = await async_run_concurrently([reader, reader, reader, reader, deleter, deleter])
        for result in results[:4]:
            assert result == [(200, "race-v1", b"race-v1")] * 25
        assert results[4:] == [25, 25]


async def test_e2e_concurrent_stale_requests_trigger_one_refresh() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_StaleRefreshCoalescing."""
    origin = E2EOrigin()
    origin.set("stale", b"stale-v1", "v1")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=0.05, negative_fresh_for=HOUR) as cache:
        assert (await serve(cache, origin, "stale"))[2] == b"stale-v1"
        origin.set("stale", b"stale-v2", "v2")
        origin.delay = 0.1
        await async_sleep(0.08)
        results = await async_run_concurrently([lambda: serve(cache, origin, "stale") for _ in range(10)])
        assert [result[2] for result in results] == [b"stale-v1"] * 10
        await eventually(lambda: cache.stats().refreshes_completed >= 1)
        assert (await serve(cache, origin, "stale"))[2] == b"stale-v2"
        assert origin.hits["stale"] <= 3


async def test_e2e_put_then_get_round_trip() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_PutThenGetRoundTrip."""
    origin = E2EOrigin()
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:
        await cache.set_bytes("uploaded", b"uploaded-body", dj.Metadata(etag="uploaded-v1"))
        assert await serve(cache, origin, "uploaded") == (200, "uploaded-v1", b"uploaded-body")
        assert origin.hits["uploaded"] == 0


async def test_e2e_concurrent_sets_leave_one_whole_value() -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_ConcurrentSetOperations;
    tests/crash_consistency_test.go TestCrashConsistency_ConcurrentWritesOnlyOneSucceeds."""
    origin = E2EOrigin()
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=HOUR) as cache:

        def writer(index: int) -> Any:
            async def write() -> bool:
                async with cache.set("shared", dj.Metadata(etag=f"v{index}")) as pending:
                    await pending.write(f"value-{index}".encode())
                return pending.published

            return write

        published = await async_run_concurrently([writer(index) for index in range(10)])
        assert all(isinstance(result, bool) for result in published)
        assert any(published)
        status, etag, body = await serve(cache, origin, "shared")
        assert status == 200
        assert body == f"value-{etag[1:]}".encode()
        assert origin.hits["shared"] == 0


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_e2e_keys_with_slashes_and_spaces(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/e2e/e2e_test.go TestE2E_CacheKeyWithSpecialChars."""
    origin = E2EOrigin()
    origin.set("path/to/resource", b"path-value", "path-v1")
    origin.set("key with spaces", b"space-value", "space-v1")
    async with dj.AsyncCache(stores=[make_store(kind, tmp_path)], positive_fresh_for=HOUR) as cache:
        for key, value in [("path/to/resource", b"path-value"), ("key with spaces", b"space-value")]:
            assert (await serve(cache, origin, key))[2] == value
            assert (await serve(cache, origin, key))[2] == value
            assert origin.hits[key] == 1


# -- tests/tiering_integration_test.go -------------------------------------------------------------------


async def test_a_lowest_tier_hit_fills_every_faster_tier_while_it_streams() -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierHitSynchronouslyFillsTopAndAsyncBackfillsIntermediate,
    TestCache_LowestTierHitSynchronouslyFillsTopAndAsyncBackfillsRemainingTiers;
    tests/stress_test.go TestCache_WithSlowColdStore.

    Go fills the top tier while streaming and the tiers between in the
    background.  Rule P1 tees the one pass over the source into every faster
    tier: all of them hold the value once the stream reaches its end.
    """
    tiers = mem_tiers(3)
    tiers[1].latency = 0.02
    tiers[2].latency = 0.02
    await put(tiers[2], "k", b"tier-value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        async with await cache.get("k", Origin().fetcher("k")) as response:
            assert response.source == 2
            assert await response.read() == b"tier-value"
        assert holding(tiers, "k") == [True, True, True]
        await assert_entry(tiers[1], "k", b"tier-value", "v1")


async def test_a_stale_lower_hit_is_served_without_promotion_and_refreshed_into_tier0() -> None:
    """Go: tests/tiering_integration_test.go
    TestCache_LowerTierStaleHitServesStaleWithoutPromotingAndSchedulesRefresh."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"stale-value", dj.Metadata(etag="old", cached_at=ago(HOUR)))
    origin = Origin({"k": b"fresh-value"}, etag="new")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, negative_fresh_for=1) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert holding(tiers, "k")[0] is False
        assert await response.read() == b"stale-value"
        await response.aclose()
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"fresh-value", "new")
        assert origin.olds[0] is not None
        assert origin.olds[0].etag == "old"


async def test_a_304_for_a_stale_lower_hit_restamps_it_into_tier0_and_stops_revalidating() -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierStaleHitNotModifiedPromotesToTopAndStopsRevalidation."""
    tiers = mem_tiers(2)
    old = ago(HOUR)
    await put(tiers[1], "k", b"stale-value", dj.Metadata(etag="old", cached_at=old))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60, negative_fresh_for=60) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"stale-value"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        found = await entry(tiers[0], "k")
        assert found is not None
        assert (found[0], found[1].etag) == (b"stale-value", "old")
        assert found[1].cached_at > old
        assert origin.olds[0] is not None
        assert origin.olds[0].etag == "old"
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 0
            assert not response.stale
            assert await response.read() == b"stale-value"
        assert origin.calls == 1


async def test_a_matching_stale_tier0_hit_answers_not_modified_and_refreshes_without_close() -> None:
    """Go: tests/tiering_integration_test.go TestCache_ConditionalStaleHitReturnsNotModifiedAndRefreshesWithoutClose."""
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"stale-value", dj.Metadata(etag="cache-v1", cached_at=ago(HOUR)))
    origin = Origin({"k": b"fresh-value"}, etag="cache-v2")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, negative_fresh_for=1) as cache:
        response = await cache.get("k", origin.fetcher("k"), if_none_match="cache-v1")
        assert response.status is dj.Status.NOT_MODIFIED
        assert response.metadata.etag == "cache-v1"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"fresh-value", "cache-v2")
        await response.aclose()


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        ("cache-v1", "cache-v1", True),
        ('"cache-v1"', "cache-v1", True),
        ('W/"cache-v1"', "cache-v1", True),
        ('"other", W/"cache-v1"', "cache-v1", True),
        ('"rev,42"', "rev,42", True),
        ("*", "cache-v1", True),
        ("*", "", True),
        ('"other"', "cache-v1", False),
        ("", "cache-v1", False),
        ('"cache-v1"', "", False),
    ],
)
async def test_if_none_match_accepts_the_http_forms(header: str, etag: str, matches: bool) -> None:
    """Go: tests/tiering_integration_test.go TestCache_ConditionalHitAcceptsHTTPIfNoneMatchForms;
    if_none_match_test.go TestIfNoneMatchMatchesCacheTag; response_and_cancel_test.go
    TestGetResponse_NilBodyIsSafe (a NOT_MODIFIED response reads empty and closes)."""
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"cached-value", dj.Metadata(etag=etag, cached_at=time.time()))
    origin = Origin()
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        async with await cache.get("k", origin.fetcher("k"), if_none_match=header) as response:
            assert response.metadata.etag == etag
            if matches:
                assert response.status is dj.Status.NOT_MODIFIED
                assert await response.read() == b""
            else:
                assert response.status is dj.Status.OK
                assert await response.read() == b"cached-value"
        assert origin.calls == 0


async def test_a_matching_lower_hit_is_not_promoted() -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierConditionalHitSkipsTopPromotion."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"cached-value", dj.Metadata(etag="cache-v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        async with await cache.get("k", Origin().fetcher("k"), if_none_match="cache-v1") as response:
            assert response.status is dj.Status.NOT_MODIFIED
        assert holding(tiers, "k") == [False, True]


async def test_a_304_for_a_stale_negative_lower_entry_restamps_it_into_tier0() -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierNegativeStaleHitNotModifiedPromotesNegativeToTop."""
    tiers = mem_tiers(2)
    old = ago(HOUR)
    await put(tiers[1], "k", b"", dj.Metadata(etag="old-neg", is_negative=True, cached_at=old))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=60, negative_fresh_for=60) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        restamped = await stat_of(tiers[0], "k")
        assert (restamped.is_negative, restamped.etag) == (True, "old-neg")
        assert restamped.cached_at > old
        with pytest.raises(dj.NotFound):
            await cache.get("k", origin.fetcher("k"))
        assert origin.calls == 1


@pytest.mark.parametrize("tier", [1, 0])
async def test_an_entry_without_cached_at_is_stale_and_refreshed(tier: int) -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierHitWithZeroCachedAtSchedulesRefresh,
    TestCache_SingleTierZeroCachedAtHitRefreshesOnlyTier."""
    tiers = mem_tiers(tier + 1)
    await put(tiers[tier], "k", b"legacy-value", dj.Metadata(etag="legacy"))
    origin = Origin({"k": b"fresh-value"}, etag="fresh")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=1, negative_fresh_for=1) as cache:
        response = await cache.get("k", origin.fetcher("k"))
        assert response.stale
        assert await response.read() == b"legacy-value"
        await response.aclose()
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"fresh-value", "fresh")


async def test_a_fresh_negative_lower_entry_is_not_found_and_marked_in_tier0() -> None:
    """Go: tests/tiering_integration_test.go TestCache_LowerTierNegativeHitReturnsNotFoundAndPromotesNegativeToTop."""
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"", dj.Metadata(is_negative=True, cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get("k", Origin().fetcher("k"))
        marker = await entry(tiers[0], "k")
        assert marker is not None
        assert (marker[0], marker[1].is_negative) == (b"", True)


@pytest.mark.parametrize("kind", ["positive", "negative"])
async def test_a_lower_tier_freshness_override_applies_to_its_entries(kind: str) -> None:
    """Go: tests/tiering_integration_test.go TestCache_Get_LowerTierPositiveFreshnessOverride,
    TestCache_Get_LowerTierNegativeFreshnessOverride."""
    tiers = mem_tiers(2)
    negative = kind == "negative"
    await put(
        tiers[1],
        "k",
        b"" if negative else b"lower-value",
        dj.Metadata(etag="" if negative else "lower-etag", is_negative=negative, cached_at=time.time()),
    )
    override = (0.0, HOUR) if negative else (HOUR, 0.0)
    origin = Origin({"k": b"origin-value"}, etag="origin-etag")
    async with dj.AsyncCache(
        stores=tiers, positive_fresh_for=0, negative_fresh_for=0, tier_fresh_for={1: override}
    ) as cache:
        if negative:
            with pytest.raises(dj.NotFound):
                await cache.get("k", origin.fetcher("k"))
            assert (await stat_of(tiers[0], "k")).is_negative
        else:
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"lower-value"
            await assert_entry(tiers[0], "k", b"lower-value", "lower-etag")
        assert origin.calls == 0


async def test_a_single_tier_cache_writes_sets_and_misses_into_its_tier() -> None:
    """Go: tests/tiering_integration_test.go TestCache_Set_WritesToSingleTierConfig,
    TestCache_SingleTierMissPublishesToOnlyTier;
    tests/api_contract_test.go TestCache_SetPublishesOnClose, TestCache_GetReturnsBodyAndDecisionMetadata,
    TestCache_ObjectStoreTierZeroPublishesOnClose."""
    tiers = mem_tiers(1)
    origin = Origin({"miss": b"single-tier-body"}, etag="v1")
    async with dj.AsyncCache(stores=tiers) as cache:
        async with cache.set("set", dj.Metadata(etag="v1")) as writer:
            await writer.write(b"single-tier-value")
        await assert_entry(tiers[0], "set", b"single-tier-value", "v1")
        async with await cache.get("set", origin.fetcher("set")) as response:
            assert (response.status, response.metadata.etag, response.source) == (dj.Status.OK, "v1", 0)
            assert await response.read() == b"single-tier-value"
        assert await cache.get_bytes("miss", origin.fetcher("miss")) == b"single-tier-body"
        await assert_entry(tiers[0], "miss", b"single-tier-body", "v1")
        assert origin.calls == 1


async def test_closing_a_lower_hit_early_publishes_nothing_in_any_tier() -> None:
    """Go: tests/tiering_integration_test.go TestCache_AbortPreventsFanoutAfterNonTopHit."""
    top, low = mem_tiers(2)
    mid = Hooked(dj.AsyncMemStore())
    await put(low, "fanout-key", b"fanout-value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=[top, mid, low], positive_fresh_for=HOUR) as cache:
        response = await cache.get("fanout-key", Origin().fetcher("fanout-key"))
        assert await response.read(4) == b"fano"
        await response.aclose()
        await settle(cache)
        assert (top.calls["commit"], mid.calls["commit"]) == (0, 0)
        assert holding([top], "fanout-key") == [False]
        assert await entry(mid, "fanout-key") is None


async def test_a_miss_fills_tier0_at_once_and_the_lower_tiers_in_the_background() -> None:
    """Go: tests/tiering_integration_test.go TestCache_MissSynchronouslyFillsTopAndAsyncBackfillsRemainingTiers."""
    top = mem_tiers(1)[0]
    mid, lowest = Hooked(dj.AsyncMemStore()), Hooked(dj.AsyncMemStore())
    _, release_mid = mid.hold("commit")
    _, release_lowest = lowest.hold("commit")
    async with dj.AsyncCache(stores=[top, mid, lowest], positive_fresh_for=HOUR) as cache:
        assert await cache.get_bytes("k", Origin({"k": b"miss-value"}).fetcher("k")) == b"miss-value"
        assert holding([top], "k") == [True]
        assert (await entry(mid.inner, "k"), await entry(lowest.inner, "k")) == (None, None)
        release_mid.set()
        release_lowest.set()
        await settle(cache)
        await assert_entry(mid.inner, "k", b"miss-value", "v1")
        await assert_entry(lowest.inner, "k", b"miss-value", "v1")


async def test_stores_that_cannot_be_hashed_work_as_tiers() -> None:
    """Go: tests/tiering_integration_test.go TestCache_FanoutHandlesNonComparableTierStores;
    options_test.go TestNew_OptionValidation ("success with non comparable tier store")."""
    top, mid = Unhashable(dj.AsyncMemStore()), Unhashable(dj.AsyncMemStore())
    lower = mem_tiers(1)[0]
    await put(lower, "k", b"value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=[top, mid, lower], positive_fresh_for=HOUR) as cache:
        assert await cache.get_bytes("k", Origin().fetcher("k")) == b"value"
        assert await cache.get_bytes("m", Origin({"m": b"miss"}).fetcher("m")) == b"miss"
        await settle(cache)
        await assert_entry(mid, "k", b"value", "v1")
        await assert_entry(mid, "m", b"miss", "v1")


@pytest.mark.parametrize("positive_fresh_for", [1.0, 0.0])
async def test_a_stale_hit_in_the_only_tier_refreshes_it(positive_fresh_for: float) -> None:
    """Go: tests/tiering_integration_test.go TestCache_SingleTierStaleHitRefreshesOnlyTier,
    TestCache_SingleTierZeroCachedAtIsStaleWhenFreshnessIsZero."""
    tiers = mem_tiers(1)
    await put(tiers[0], "k", b"old-value", dj.Metadata(etag="old", cached_at=ago(HOUR)))
    origin = Origin({"k": b"new-value"}, etag="new")
    async with dj.AsyncCache(stores=tiers, positive_fresh_for=positive_fresh_for, negative_fresh_for=0) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"old-value"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        await assert_entry(tiers[0], "k", b"new-value", "new")


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_a_304_for_a_stale_hit_in_the_only_tier_restamps_it(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/tiering_integration_test.go TestCache_SingleTierStaleNotModifiedLeavesNonStagingEntryStale,
    TestCache_SingleTierFilestoreStaleNotModifiedRefreshesWithoutSelfDeadlock.

    Go leaves an entry of a store without staged writes stale after a 304
    (and re-validates on every read).  Rule F7: a 304 re-stamps ``cached_at``
    in tier 0 whatever the store, so the next read is fresh and the origin is
    not asked again.
    """
    store = make_store(kind, tmp_path)
    old = ago(HOUR)
    await put(store, "k", b"old-value", dj.Metadata(etag="old", cached_at=old))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=[store], positive_fresh_for=1, negative_fresh_for=0) as cache:
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"old-value"
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await settle(cache)
        found = await entry(store, "k")
        assert found is not None
        assert (found[0], found[1].etag, found[1].is_negative) == (b"old-value", "old", False)
        assert found[1].cached_at > old
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert not response.stale
        assert origin.calls == 1


async def test_delete_removes_the_key_from_every_tier() -> None:
    """Go: tests/tiering_integration_test.go TestCache_DeleteRemovesFromAllOrderedTiers."""
    tiers = mem_tiers(3)
    for tier, value in zip(tiers, [b"top", b"mid", b"lowest"], strict=True):
        await put(tier, "delete-all", value, dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.delete("delete-all")
        assert holding(tiers, "delete-all") == [False, False, False]
        assert [tier.calls["delete"] for tier in tiers] == [1, 1, 1]


# -- tests/top_write_liveness_test.go ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_set_is_not_held_up_by_a_miss_whose_origin_body_stalls(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/top_write_liveness_test.go TestCache_PartialMissStreamDoesNotBlockSameKeySetForBuiltInStagingStores;
    tests/pure_streaming_integration_test.go TestCache_PartialMissStreamDoesNotBlockSameKeySet.

    Go's ``Close`` of the superseded fill reports ErrTopWriteInvalidated; here
    the fill just ends unpublished.
    """
    store = make_store(kind, tmp_path)
    release = AsyncGate()

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(gated_body(b"origin", b"-value", release), dj.Metadata(etag="origin-v1"))

    async with dj.AsyncCache(stores=[store]) as cache:
        response = await cache.get("same-key", fetch)
        assert await response.read(6) == b"origin"
        await async_start(lambda: cache.set_bytes("same-key", b"user-value", dj.Metadata(etag="user-v2"))).result(
            PROMPT
        )
        release.set()
        assert await response.read() == b"-value"
        await response.aclose()
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)
        await assert_entry(store, "same-key", b"user-value", "user-v2")


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("newer", ["aborted first", "aborted after"])
async def test_an_older_set_yields_to_a_newer_one_even_if_that_is_aborted(
    newer: str, kind: str, tmp_path: pathlib.Path
) -> None:
    """Go: tests/top_write_liveness_test.go TestCache_NewerAbortedSetDoesNotInvalidateOlderSetForBuiltInStagingStores,
    TestCache_OlderSetCanPublishWhileNewerSetIsStillStagedForBuiltInStagingStores.

    Go publishes the older writer in both cases.  Rule G3 ("among
    overlapping sets, the last begun wins") and rule W7 make
    an older writer yield to any set of the key begun after it: the older
    commit returns at once with ``published`` False, whether the newer one is
    aborted before or after, and the key keeps its previous state.
    """
    store = make_store(kind, tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        older = cache.set("same-key", dj.Metadata(etag="older-v1"))
        await older.write(b"older-value")
        newer_writer = cache.set("same-key", dj.Metadata(etag="newer-v2"))
        await newer_writer.write(b"newer-value")
        if newer == "aborted first":
            await newer_writer.abort()
        await async_start(older.commit).result(PROMPT)
        if newer == "aborted after":
            await newer_writer.abort()
        assert not older.published
        assert await entry(store, "same-key") is None


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_superseded_set_reports_that_it_did_not_publish(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/top_write_liveness_test.go TestCache_StaleSetCloseReportsInvalidatedForBuiltInStagingStores.

    Go's ``Close`` returns ErrTopWriteInvalidated; here ``published`` is False.
    """
    store = make_store(kind, tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        older = cache.set("same-key", dj.Metadata(etag="older-v1"))
        await older.write(b"older-value")
        await async_start(lambda: cache.set_bytes("same-key", b"newer-value", dj.Metadata(etag="newer-v2"))).result(
            PROMPT
        )
        await async_start(older.commit).result(PROMPT)
        assert not older.published
        await assert_entry(store, "same-key", b"newer-value", "newer-v2")


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_an_aborted_set_does_not_poison_a_later_fill(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/top_write_liveness_test.go TestCache_AbortedSetDoesNotPoisonLaterMissFillForBuiltInStagingStores;
    tests/api_contract_test.go TestCache_SetDiscardsOnAbort."""
    store = make_store(kind, tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        aborted = cache.set("same-key", dj.Metadata(etag="aborted-v1"))
        await aborted.write(b"aborted-value")
        await aborted.abort()
        assert await entry(store, "same-key") is None
        origin = Origin({"same-key": b"origin-value"}, etag="origin-v2")
        assert await cache.get_bytes("same-key", origin.fetcher("same-key")) == b"origin-value"
        await assert_entry(store, "same-key", b"origin-value", "origin-v2")


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_set_left_by_an_exception_publishes_nothing(kind: str, tmp_path: pathlib.Path) -> None:
    """Go: tests/top_write_liveness_test.go TestCache_CanceledSetContextDoesNotPublishContextAwareStagingStores.

    A cancelled context maps to leaving ``with cache.set(...)`` by an exception
    (rule W7: discarded on exception).
    """
    store = make_store(kind, tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        with pytest.raises(KeyboardInterrupt):
            async with cache.set("same-key", dj.Metadata(etag="canceled-v1")) as writer:
                await writer.write(b"canceled-value")
                raise KeyboardInterrupt
        assert not writer.published
        assert await entry(store, "same-key") is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_random_sets_aborts_partial_misses_and_deletes_never_stall(seed: int) -> None:
    """Go: tests/top_write_liveness_test.go FuzzCacheTopWriteLiveness (its three seeds and one more).

    Every operation finishes promptly, and whatever tier 0 holds at the end is
    a value written for that very key.  A miss of a key whose earlier miss is
    still streaming waits for it at most ``coalesce_wait`` (rule S2), kept
    short here.
    """
    rng = random.Random(seed)
    tier = dj.AsyncMemStore()
    keys = ["liveness-key-0", "liveness-key-1", "liveness-key-2"]
    written: dict[str, set[bytes]] = {key: set() for key in keys}
    open_writers: list[Any] = []
    open_streams: list[tuple[Any, AsyncGate]] = []

    async def finish_stream(stream: tuple[Any, AsyncGate]) -> None:
        response, release = stream
        release.set()
        await async_start(response.read).result(PROMPT)
        await async_start(response.aclose).result(PROMPT)

    async with dj.AsyncCache(stores=[tier], coalesce_wait=0.05) as cache:
        for step in range(18):
            key = rng.choice(keys)
            value = f"value-{step}".encode()
            op = rng.randrange(7)
            if op == 0:
                writer = cache.set(key, dj.Metadata(etag=value.decode()))
                await async_start(lambda writer=writer, value=value: writer.write(value)).result(PROMPT)
                written[key].add(value)
                open_writers.append(writer)
                if len(open_writers) > 4:
                    await async_start(open_writers.pop(0).abort).result(PROMPT)
            elif op in (1, 2) and open_writers:
                writer = open_writers.pop()
                await async_start(writer.commit if op == 1 else writer.abort).result(PROMPT)
            elif op == 3:
                written[key].add(value)
                await async_start(lambda key=key, value=value: cache.set_bytes(key, value)).result(PROMPT)
            elif op == 4:
                release = AsyncGate()

                def fetch(release: AsyncGate = release, value: bytes = value) -> Any:
                    async def fetch_gated(old: dj.Metadata | None) -> dj.FetchResult:
                        return dj.FetchResult(gated_body(b"origin", b"-" + value, release))

                    return fetch_gated

                written[key].add(b"origin-" + value)
                response = await async_start(lambda key=key, fetch=fetch: cache.get(key, fetch())).result(PROMPT)
                await async_start(lambda response=response: response.read(6)).result(PROMPT)
                open_streams.append((response, release))
                if len(open_streams) > 4:
                    await finish_stream(open_streams.pop(0))
            elif op == 5 and open_streams:
                await finish_stream(open_streams.pop())
            elif op == 6:
                await async_start(lambda key=key: cache.delete(key)).result(PROMPT)
        for writer in open_writers:
            await async_start(writer.abort).result(PROMPT)
        for stream in open_streams:
            await finish_stream(stream)
        await settle(cache)
        for key in keys:
            value = await value_of(tier, key)
            assert value is None or value in written[key]


# -- tests/cache_stuck_repro_test.go ---------------------------------------------------------------------


async def test_an_unread_miss_holds_up_neither_its_key_nor_another(tmp_path: pathlib.Path) -> None:
    """Go: tests/cache_stuck_repro_test.go TestFileStore_UnconsumedMissBodyDoesNotBlockHeldAndControlUpdates."""
    store = dj.AsyncFileStore(tmp_path)
    async with dj.AsyncCache(stores=[store]) as cache:
        held = await cache.get("held", Origin({"held": b"held-origin"}).fetcher("held"))
        results = await async_start(
            lambda: async_run_concurrently(
                [
                    lambda: cache.set_bytes("held", b"held-user", dj.Metadata(etag="held-user-v2")),
                    lambda: cache.set_bytes("control", b"control-user", dj.Metadata(etag="control-user-v2")),
                ]
            )
        ).result(PROMPT)
        assert results == [None, None]
        assert await held.read() == b"held-origin"
        await held.aclose()
        await assert_entry(store, "held", b"held-user", "held-user-v2")
        await assert_entry(store, "control", b"control-user", "control-user-v2")


async def test_every_closed_miss_publishes_its_key_into_a_file_tier(tmp_path: pathlib.Path) -> None:
    """Go: tests/cache_stuck_repro_test.go TestRepro_AllClosedMissesPublishEveryFileStoreKey."""
    store = dj.AsyncFileStore(tmp_path)
    values = {f"closed-miss-key-{i:04d}": f"miss-value-{i:04d}".encode() for i in range(48)}
    async with dj.AsyncCache(stores=[store], workers=16, worker_queue=1024) as cache:

        def miss(key: str) -> Any:
            origin = Origin({key: values[key]}, etag=values[key].decode())
            return lambda: cache.get_bytes(key, origin.fetcher(key))

        results = await async_run_concurrently([miss(key) for key in values])
        assert results == list(values.values())
        for key, value in values.items():
            await assert_entry(store, key, value, value.decode())


async def test_every_closed_stale_read_refreshes_its_key_in_a_file_tier(tmp_path: pathlib.Path) -> None:
    """Go: tests/cache_stuck_repro_test.go TestRepro_AllClosedStaleRefreshesUpdateEveryFileStoreKey."""
    store = dj.AsyncFileStore(tmp_path)
    keys = [f"closed-stale-key-{i:04d}" for i in range(48)]
    for i, key in enumerate(keys):
        await put(store, key, f"old-value-{i:04d}".encode(), dj.Metadata(etag=f"old-{i:04d}", cached_at=ago(2 * HOUR)))
    async with dj.AsyncCache(
        stores=[store], positive_fresh_for=HOUR, negative_fresh_for=HOUR, workers=16, worker_queue=1024
    ) as cache:

        def stale_read(i: int) -> Any:
            origin = Origin({keys[i]: f"new-value-{i:04d}".encode()}, etag=f"new-{i:04d}")
            return lambda: cache.get_bytes(keys[i], origin.fetcher(keys[i]))

        results = await async_run_concurrently([stale_read(i) for i in range(len(keys))])
        assert results == [f"old-value-{i:04d}".encode() for i in range(len(keys))]
        await eventually(lambda: cache.stats().refreshes_completed == len(keys))
        await settle(cache)
        for i, key in enumerate(keys):
            await assert_entry(store, key, f"new-value-{i:04d}".encode(), f"new-{i:04d}")


# -- tests/refresh_dedup_test.go, tests/race_test.go, tests/data_integrity_test.go -------------------------


async def test_one_refresh_per_key_is_in_flight_and_another_may_follow() -> None:
    """Go: tests/refresh_dedup_test.go TestRefreshDedup_SingleInFlightRefreshPerKey."""
    tier = dj.AsyncMemStore()
    origin = Origin({"key": b"refreshed"}, delay=0.15, etag="v2")
    async with dj.AsyncCache(stores=[tier], workers=1, worker_queue=10) as cache:
        await cache.schedule_refresh("key", origin.fetcher("key"))
        await cache.schedule_refresh("key", origin.fetcher("key"))
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert (await tier.stat("key")).etag == "v2"
        assert origin.calls == 1
        await cache.schedule_refresh("key", origin.fetcher("key"))
        await eventually(lambda: cache.stats().refreshes_completed == 2)
        assert origin.calls == 2


async def test_many_concurrent_gets_and_sets_on_few_keys() -> None:
    """Go: tests/race_test.go TestConcurrentAccess.

    Go tolerates ErrTopWriteInvalidated from a superseded set; here a set never
    fails for that reason (it just may not publish).
    """
    tier = dj.AsyncMemStore(capacity=1 << 20, policy="lru")
    async with dj.AsyncCache(stores=[tier], positive_fresh_for=60, negative_fresh_for=0) as cache:

        def actor(actor_id: int) -> Any:
            async def act() -> list[bytes]:
                seen = []
                for op in range(10):
                    key = f"key-{op % 5}"
                    if (actor_id + op) % 2 == 0:
                        origin = Origin({key: f"value-{actor_id}-{op}".encode()}, etag="test")
                        seen.append(await cache.get_bytes(key, origin.fetcher(key)))
                    else:
                        await cache.set_bytes(key, f"set-value-{actor_id}-{op}".encode(), dj.Metadata(etag="test"))
                return seen

            return act

        results = await async_run_concurrently([actor(actor_id) for actor_id in range(40)])
        for result in results:
            assert isinstance(result, list), result
            assert all(value.startswith((b"value-", b"set-value-")) for value in result)


async def test_many_concurrent_refreshes_of_one_key() -> None:
    """Go: tests/race_test.go TestConcurrentRefresh."""
    tier = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[tier], positive_fresh_for=60, negative_fresh_for=0) as cache:
        await cache.set_bytes("refresh-test", b"initial-value", dj.Metadata(etag="v1"))

        def refresher(index: int) -> Any:
            origin = Origin({"refresh-test": f"refreshed-value-{index}".encode()}, etag=f"v{index}")
            return lambda: cache.schedule_refresh("refresh-test", origin.fetcher("refresh-test"))

        assert await async_run_concurrently([refresher(index) for index in range(50)]) == [None] * 50
        await eventually(lambda: cache.stats().refreshes_completed == cache.stats().refreshes_scheduled)
        await settle(cache)
        value = await value_of(tier, "refresh-test")
        assert value is not None
        assert value.startswith(b"refreshed-value-")


async def test_concurrent_gets_sets_and_deletes_on_few_keys() -> None:
    """Go: tests/race_test.go TestConcurrentMixedOperations (its GetOrSet is a get whose fetcher builds the value)."""
    tier = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[tier], positive_fresh_for=60, negative_fresh_for=0) as cache:

        def actor(actor_id: int) -> Any:
            async def act() -> None:
                for op in range(5):
                    key = f"mixed-key-{op % 3}"
                    kind = (actor_id + op) % 4
                    if kind in (0, 2):
                        origin = Origin({key: f"fetched-{actor_id}-{op}".encode()}, etag="test")
                        value = await cache.get_bytes(key, origin.fetcher(key))
                        assert value.startswith((b"fetched-", b"set-"))
                    elif kind == 1:
                        await cache.set_bytes(key, f"set-{actor_id}-{op}".encode(), dj.Metadata(etag="test"))
                    else:
                        await cache.delete(key)

            return act

        assert await async_run_concurrently([actor(actor_id) for actor_id in range(20)]) == [None] * 20


async def test_a_value_too_large_for_tier0_fails_cleanly_and_the_cache_goes_on() -> None:
    """Go: tests/data_integrity_test.go TestGenericCache_Set_WriteError."""
    tier = dj.AsyncMemStore(capacity=1 << 20, policy="lru")
    async with dj.AsyncCache(stores=[tier], positive_fresh_for=60, negative_fresh_for=0) as cache:
        await cache.set_bytes("test-key", b"valid-data", dj.Metadata(etag="v1"))
        with pytest.raises(dj.TierError) as raised:
            await cache.set_bytes("large-key", bytes(10 << 20), dj.Metadata(etag="v1"))
        assert isinstance(raised.value.__cause__, dj.EntryTooLarge)
        await cache.set_bytes("small-key", b"small-data", dj.Metadata(etag="v1"))
        origin = Origin()
        assert await cache.get_bytes("small-key", origin.fetcher("small-key")) == b"small-data"
        assert await cache.get_bytes("test-key", origin.fetcher("test-key")) == b"valid-data"
        with pytest.raises(dj.NotFound):
            await cache.get("large-key", origin.fetcher("large-key"))
        assert origin.calls == 1


# -- tests/cache_close_delete_refresh_race_test.go, tests/cache_worker_stress_test.go ------------------------


async def close_racing_deletes_and_refreshes() -> None:
    hot, cold = Hooked(dj.AsyncMemStore()), mem_tiers(1)[0]
    delete_entered, delete_release = hot.hold("delete")
    cache = dj.AsyncCache(stores=[hot, cold], positive_fresh_for=HOUR, workers=1, worker_queue=8)
    await cache.set_bytes("race-key", b"seed", dj.Metadata(etag="seed"))
    await settle(cache)
    entered, release = AsyncGate(), AsyncGate()
    fetch = blocked_fetch(b"refresh-value", entered, release, etag="refresh-value")
    await cache.schedule_refresh("race-key", fetch)
    await entered.wait()
    actions = [lambda: cache.schedule_refresh("race-key", fetch)] * 6 + [lambda: cache.delete("race-key")] * 3
    racing = async_start(lambda: async_run_concurrently(actions))
    await delete_entered.wait()
    closing = async_start(cache.close)
    delete_release.set()
    release.set()
    results = await racing.result()
    await closing.result()
    for result in results:
        assert result is None or isinstance(result, dj.CacheClosed | dj.BackgroundJobRejected), result
    for store in (hot.inner, cold.inner):
        found = await entry(store, "race-key")
        assert found is None or (found[0], found[1].etag) == (b"refresh-value", "refresh-value")


async def test_close_racing_deletes_and_refreshes_ends_cleanly() -> None:
    """Go: tests/cache_close_delete_refresh_race_test.go TestCache_ConcurrentCloseDeleteAndScheduleRefresh."""
    for _ in range(3):
        await close_racing_deletes_and_refreshes()


async def close_under_refresh_queue_pressure() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(2), workers=1, worker_queue=1)
    entered, release = AsyncGate(), AsyncGate()
    fetch = blocked_fetch(b"refresh-value", entered, release, etag="refresh-value")
    results = await async_run_concurrently(
        [lambda i=i: cache.schedule_refresh(f"stress-key-{'abc'[i % 3]}", fetch) for i in range(8)]
    )
    assert None in results
    assert all(result is None or isinstance(result, dj.BackgroundJobRejected) for result in results)
    closing = async_start(cache.close)
    await entered.wait()
    release.set()
    await closing.result(PROMPT)


async def test_close_under_refresh_queue_pressure_returns() -> None:
    """Go: tests/cache_worker_stress_test.go TestCache_CloseDuringRefreshQueuePressureStress."""
    for _ in range(3):
        await close_under_refresh_queue_pressure()


# -- tests/eviction_correctness_test.go ----------------------------------------------------------------


async def fill_three(cache: dj.AsyncCache) -> None:
    for i in range(3):
        await cache.set_bytes(f"key-{i}", f"value-{i}-".encode().ljust(30, b"a"), dj.Metadata(etag=f"v{i}"))


@pytest.mark.parametrize(
    ("policy", "reads"),
    [("lru", ["key-0", "key-1"]), ("s3fifo", ["key-0", "key-0", "key-0"]), ("sieve", ["key-0"])],
)
async def test_eviction_keeps_the_entries_the_policy_favours(policy: str, reads: list[str]) -> None:
    """Go: tests/eviction_correctness_test.go TestEvictionCorrectness_LRUEvictsLeastRecentlyUsed,
    TestEvictionCorrectness_S3FIFOEvictsFromSmallQueue, TestEvictionCorrectness_SIEVEEvictsUnvisitedItems."""
    tier = dj.AsyncMemStore(capacity=100, policy=policy)
    async with dj.AsyncCache(stores=[tier]) as cache:
        await fill_three(cache)
        for key in reads:
            assert (await cache.get_bytes(key, Origin().fetcher(key))).startswith(key.replace("key", "value").encode())
        await cache.set_bytes("key-new", b"value-new-".ljust(30, b"a"), dj.Metadata(etag="v-new"))
        assert "key-new" in tier
        assert all(key in tier for key in reads)
        if policy == "lru":
            assert "key-2" not in tier
        assert tier.used <= 100


async def test_nothing_is_evicted_under_capacity_and_a_deleted_key_stays_gone() -> None:
    """Go: tests/eviction_correctness_test.go TestEvictionCorrectness_NoEvictionWhenUnderCapacity,
    TestEvictionCorrectness_DeleteRemovesFromPolicy."""
    tier = dj.AsyncMemStore(capacity=1000, policy="lru")
    async with dj.AsyncCache(stores=[tier]) as cache:
        for i in range(5):
            await cache.set_bytes(f"key-{i}", f"value-{i}".encode(), dj.Metadata(etag=f"v{i}"))
        assert all(f"key-{i}" in tier for i in range(5))
    tier = dj.AsyncMemStore(capacity=100, policy="lru")
    async with dj.AsyncCache(stores=[tier]) as cache:
        await cache.set_bytes("key", b"value-".ljust(28, b"a"), dj.Metadata(etag="v1"))
        await cache.delete("key")
        for i in range(3):
            await cache.set_bytes(f"new-key-{i}", f"new-value-{i}-".encode().ljust(20, b"a"), dj.Metadata(etag=f"v{i}"))
        with pytest.raises(dj.NotFound):
            await cache.get("key", Origin().fetcher("key"))
        assert tier.used == sum(len(f"new-value-{i}-".encode().ljust(20, b"a")) for i in range(3))


# -- tests/crash_consistency_test.go -------------------------------------------------------------------


async def test_gets_promoting_while_a_delete_runs_leave_the_key_deleted() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_ConcurrentDeleteAndPromotion,
    TestCrashConsistency_GenerationFencePreventsStalePromotion."""
    top, lower = dj.AsyncMemStore(), dj.AsyncMemStore()
    await put(lower, "key", b"value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:

        async def reader() -> bytes | None:
            try:
                return await cache.get_bytes("key", Origin().fetcher("key"))
            except dj.NotFound:
                return None

        results = await async_run_concurrently([reader] * 10 + [lambda: cache.delete("key")])
        assert all(result in (b"value", None) for result in results)
        await settle(cache)
        with pytest.raises(dj.NotFound):
            await cache.get("key", Origin().fetcher("key"))


async def test_an_aborted_overwrite_keeps_the_old_value() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_PartialWriteDoesNotCorruptCache;
    store_contract_test.go TestStore_BeginSetKeepsCommittedValueVisibleUntilClose."""
    tier = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[tier]) as cache:
        await cache.set_bytes("key", b"initial-value", dj.Metadata(etag="v1"))
        writer = cache.set("key", dj.Metadata(etag="v2"))
        await writer.write(b"partial")
        assert await cache.get_bytes("key", Origin().fetcher("key")) == b"initial-value"
        await writer.abort()
        await assert_entry(tier, "key", b"initial-value", "v1")


async def test_a_delete_during_an_open_write_leaves_no_torn_value() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_DeleteDuringWriteDoesNotCorrupt.

    Go accepts either outcome; rule G3 fences the writer, so the key is gone.
    """
    tier = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[tier]) as cache:
        writer = cache.set("key", dj.Metadata(etag="v1"))
        await writer.write(b"value")
        await cache.delete("key")
        await writer.commit()
        with pytest.raises(dj.NotFound):
            await cache.get("key", Origin().fetcher("key"))


async def test_close_racing_sets_raises_nothing_but_cache_closed() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_ConcurrentCloseAndOperations,
    TestCrashConsistency_MultipleCloseCallsIsIdempotent, TestCrashConsistency_ClosePreventsBackgroundActivity."""
    cache = dj.AsyncCache(stores=[dj.AsyncMemStore()])

    def writer(index: int) -> Any:
        async def write() -> None:
            await async_sleep(0.001 * index)
            await cache.set_bytes(f"key-{index}", f"value-{index}".encode(), dj.Metadata(etag=f"v{index}"))

        return write

    results = await async_run_concurrently([writer(index) for index in range(5)] + [cache.close] * 10)
    for result in results:
        assert result is None or isinstance(result, dj.CacheClosed), result
    origin = Origin({"key": b"v"})
    with pytest.raises(dj.CacheClosed):
        await cache.get("key", origin.fetcher("key"))
    with pytest.raises(dj.CacheClosed):
        cache.set("key")
    with pytest.raises(dj.CacheClosed):
        await cache.delete("key")
    assert origin.calls == 0


async def test_a_delete_while_a_slow_lower_read_promotes_leaves_the_key_deleted() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_DeleteDuringFillPreventsStalePublish."""
    top = dj.AsyncMemStore()
    lower = Hooked(dj.AsyncMemStore())
    await put(lower.inner, "key", b"value", dj.Metadata(etag="v1", cached_at=time.time()))
    entered, release = lower.hold("get_stream")
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:
        reading = async_start(lambda: cache.get_bytes("key", Origin().fetcher("key")))
        await entered.wait()
        deleting = async_start(lambda: cache.delete("key"))
        await eventually(lambda: lower.calls["delete"] == 1)
        release.set()
        await deleting.result()
        try:
            assert await reading.result() == b"value"
        except dj.NotFound:
            pass
        await settle(cache)
        assert "key" not in top
        with pytest.raises(dj.NotFound):
            await cache.get("key", Origin().fetcher("key"))


async def test_gets_deletes_and_lower_tier_reseeds_racing_never_tear_or_stall() -> None:
    """Go: tests/crash_consistency_test.go TestCrashConsistency_GenerationPromotionRaceStress,
    TestCrashConsistency_DeleteFillPromotionTripleStress (shortened)."""
    top, lower = dj.AsyncMemStore(), dj.AsyncMemStore()
    await put(lower, "key", b"value", dj.Metadata(etag="v1", cached_at=time.time()))
    async with dj.AsyncCache(stores=[top, lower], positive_fresh_for=HOUR, negative_fresh_for=HOUR) as cache:

        async def reader() -> int:
            for _ in range(40):
                try:
                    assert await cache.get_bytes("key", Origin().fetcher("key")) == b"value"
                except dj.NotFound:
                    pass
            return 40

        async def deleter() -> int:
            for _ in range(40):
                await cache.delete("key")
            return 40

        async def reseeder() -> int:
            for index in range(40):
                await put(lower, "key", b"value", dj.Metadata(etag=f"v-{index}", cached_at=time.time()))
            return 40

        results = await async_run_concurrently([reader] * 5 + [deleter] * 3 + [reseeder] * 2)
        assert results == [40] * 10
        await settle(cache)
        await cache.delete("key")
        with pytest.raises(dj.NotFound):
            await cache.get("key", Origin().fetcher("key"))


# -- cache_test.go, store_contract_test.go --------------------------------------------------------------


async def test_the_callers_and_the_fetchers_metadata_are_never_changed() -> None:
    """Go: cache_test.go TestSetKeepsCallerMetadataUnchangedWhileStoringFreshCachedAt,
    TestMissKeepsFetcherMetadataUnchangedWhileReturningAndStoringFreshCachedAt,
    TestRefreshKeepsFetcherMetadataUnchangedWhileStoringFreshCachedAt."""
    tier = dj.AsyncMemStore()
    sentinel = 1.0
    caller = dj.Metadata(etag="set-v1", cached_at=sentinel, attrs={"a": "b"})
    fetched = dj.Metadata(etag="miss-v1", cached_at=sentinel)

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(b"value", fetched)

    async with dj.AsyncCache(stores=[tier]) as cache:
        await cache.set_bytes("set-key", b"value", caller)
        assert caller == dj.Metadata(etag="set-v1", cached_at=sentinel, attrs={"a": "b"})
        assert (await tier.stat("set-key")).cached_at > sentinel
        async with await cache.get("miss-key", fetch) as response:
            assert await response.read() == b"value"
            returned = response.metadata
        assert fetched == dj.Metadata(etag="miss-v1", cached_at=sentinel)
        assert returned.cached_at > sentinel
        assert await tier.stat("miss-key") == returned
        await cache.schedule_refresh("refresh-key", fetch)
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        assert fetched == dj.Metadata(etag="miss-v1", cached_at=sentinel)
        assert (await tier.stat("refresh-key")).cached_at > sentinel


async def test_sets_and_misses_sharing_one_metadata_object_do_not_interfere() -> None:
    """Go: cache_test.go TestPublicSetAndMissDoNotRaceOnSharedMetadata."""
    shared = dj.Metadata(etag="shared", cached_at=1.0)

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(b"value", shared)

    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:

        async def setter() -> int:
            for _ in range(100):
                writer = cache.set("set-race-key", shared)
                await writer.write(b"v")
                await writer.abort()
            return 100

        async def misser() -> int:
            for index in range(100):
                assert await cache.get_bytes(f"miss-race-key-{index}", fetch) == b"value"
            return 100

        assert await async_run_concurrently([setter, misser]) == [100, 100]
        assert shared == dj.Metadata(etag="shared", cached_at=1.0)


async def test_a_delete_does_not_wait_for_a_pending_begin_set() -> None:
    """Go: store_contract_test.go TestStore_DeleteDoesNotWaitForPendingBeginSet (at the cache level)."""
    top = Hooked(dj.AsyncMemStore())
    await put(top.inner, "key", b"old", dj.Metadata(etag="v0", cached_at=time.time()))
    entered, release = top.hold("begin_set")
    async with dj.AsyncCache(stores=[top]) as cache:
        setting = async_start(lambda: cache.set_bytes("key", b"new", dj.Metadata(etag="v1")))
        await entered.wait()
        await async_start(lambda: cache.delete("key")).result(PROMPT)
        assert await entry(top.inner, "key") is None
        release.set()
        await setting.result()


# -- streaming_reader_test.go -----------------------------------------------------------------------------


async def test_a_response_after_its_end_and_after_close() -> None:
    """Go: streaming_reader_test.go TestStreamThrough_FullReadAndClosePublishes,
    TestStreamThrough_ReadAfterAutoEOFDoesNotTouchClosedSource,
    TestStreamThrough_ReadAfterPartialCloseDoesNotTouchClosedSource,
    TestStreamThrough_ConcurrentCloseWaitsAndReturnsFinalError."""
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", Origin({"k": b"hello"}).fetcher("k"))
        assert await response.read() == b"hello"
        assert await response.read() == b""
        assert await response.read(1) == b""
        assert cache.stats().fills_published == 1
        await response.aclose()
        await response.aclose()
        assert cache.stats().fills_published == 1
        partial = await cache.get("j", Origin({"j": b"hello"}).fetcher("j"))
        assert await partial.read(2) == b"he"
        results = await async_run_concurrently([partial.aclose] * 8)
        assert results == [None] * 8
        with pytest.raises(ValueError, match="closed"):
            await partial.read(1)
        assert holding(tiers, "j") == [False]
        assert cache.stats().fills_aborted == 1


async def test_an_origin_body_error_reaches_the_reader_and_publishes_nothing() -> None:
    """Go: streaming_reader_test.go TestStreamThrough_SourceErrorAborts,
    TestStreamThrough_ReadWithDataJoinsReadAndSinkErrors."""
    tiers = mem_tiers(1)
    body = TrackedBody([b"he"], error=ConnectionResetError("source read failed"))

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body)

    async with dj.AsyncCache(stores=tiers) as cache:
        response = await cache.get("k", fetch)
        assert await response.read(2) == b"he"
        with pytest.raises(ConnectionResetError):
            await response.read(2)
        await response.aclose()
        assert body.closed.is_set()
        assert holding(tiers, "k") == [False]
        assert cache.stats().fills_aborted == 1


async def test_a_set_is_not_held_up_by_a_fill_whose_tier0_write_is_stuck() -> None:
    """Go: streaming_reader_test.go TestTopFillSinkPreemptDoesNotWaitForBlockedWrite,
    TestTopFillSinkPreemptReleasesCoordinatorBeforeBlockedWriteFinishes,
    TestTopFillSinkCloseDoesNotPublishDuringBlockedWrite."""
    top = Hooked(dj.AsyncMemStore())
    entered, release = top.hold("write")
    async with dj.AsyncCache(stores=[top]) as cache:
        reading = async_start(lambda: cache.get_bytes("k", Origin({"k": b"origin-value"}).fetcher("k")))
        await entered.wait()
        await async_start(lambda: cache.set_bytes("k", b"user-value", dj.Metadata(etag="user"))).result(PROMPT)
        assert top.calls["commit"] == 1, "the stuck fill has not committed"
        release.set()
        assert await reading.result() == b"origin-value"
        await settle(cache)
        assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)
        await assert_entry(top, "k", b"user-value", "user")


# -- cache_background_panic_test.go, background_runtime_test.go -------------------------------------------


@pytest.mark.parametrize("where", ["origin body", "tier-0 write"])
async def test_a_refresh_that_blows_up_leaves_the_key_writable(where: str) -> None:
    """Go: cache_background_panic_test.go TestRefreshBackgroundPanicReleasesCoordinator;
    background_runtime_test.go TestGroupRuntime_RecoversPanickingJobAndContinues.

    A Go panic is any exception here; the one worker goes on with the next job.
    """
    tiers = mem_tiers(1)
    body: Any = TrackedBody([b"partial"], error=RuntimeError("boom")) if where == "origin body" else b"value"
    if where == "tier-0 write":
        tiers[0].fail("write", times=1, error=RuntimeError("boom"))

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        return dj.FetchResult(body)

    async with dj.AsyncCache(stores=tiers, workers=1) as cache:
        await cache.schedule_refresh("key", fetch)
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert holding(tiers, "key") == [False]
        writer = cache.set("key")
        await writer.write(b"later")
        await async_start(writer.commit).result(PROMPT)
        assert writer.published
        await cache.schedule_refresh("other", Origin({"other": b"v"}).fetcher("other"))
        await eventually(lambda: holding(tiers, "other") == [True])


@pytest.mark.parametrize("where", ["begin_set", "write", "commit"])
async def test_a_fan_out_that_blows_up_leaves_the_key_writable(where: str) -> None:
    """Go: cache_background_panic_test.go TestPersistBackgroundPanicReleasesCoordinator."""
    tiers = mem_tiers(2)
    tiers[1].fail(where, times=1, error=RuntimeError("boom"))
    async with dj.AsyncCache(stores=tiers, workers=1) as cache:
        await cache.set_bytes("key", b"first")
        await eventually(lambda: cache.stats().fanouts_failed == 1)
        await settle(cache)
        await async_start(lambda: cache.set_bytes("key", b"later")).result(PROMPT)
        await settle(cache)
        assert await value_of(tiers[1], "key") == b"later"
        assert cache.stats().fanouts == 1


@pytest.mark.parametrize("where", ["lower read", "tier-0 write"])
async def test_a_304_restamp_that_blows_up_leaves_the_key_writable(where: str) -> None:
    """Go: cache_background_panic_test.go TestNotModifiedFallbackPanicReleasesCoordinator,
    TestNotModifiedStaleTopWritePanicReleasesCoordinator."""
    tiers = mem_tiers(2)
    await put(tiers[1], "key", b"fallback", dj.Metadata(etag="fallback", cached_at=ago(HOUR)))
    if where == "lower read":
        tiers[1].fail("read", error=RuntimeError("boom"))
    else:
        tiers[0].fail("write", error=RuntimeError("boom"))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers, workers=1, positive_fresh_for=60) as cache:
        await cache.schedule_refresh("key", origin.fetcher("key"))
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert holding(tiers, "key") == [False, True]
        tiers[0].heal()
        await async_start(lambda: cache.set_bytes("key", b"later")).result(PROMPT)
        await assert_entry(tiers[0], "key", b"later", "")


async def test_a_negative_refresh_whose_commit_blows_up_aborts_and_leaves_the_key_writable() -> None:
    """Go: cache_background_panic_test.go TestCacheableNotFoundCommitPanicAbortsAndReleasesCoordinator."""
    tiers = mem_tiers(1)
    tiers[0].fail("commit", times=1, error=RuntimeError("boom"))
    async with dj.AsyncCache(stores=tiers, workers=1) as cache:
        await cache.schedule_refresh("key", Origin().fetcher("key"))
        await eventually(lambda: cache.stats().refreshes_completed + cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert tiers[0].calls["abort"] == 1
        assert holding(tiers, "key") == [False]
        await async_start(lambda: cache.set_bytes("key", b"later")).result(PROMPT)
        assert await value_of(tiers[0], "key") == b"later"


async def test_close_waits_for_a_running_refresh() -> None:
    """Go: background_runtime_test.go TestStandaloneRuntime_CloseCacheWaitsForJobCompletion;
    tests/cache_regression_test.go TestScheduleRefresh_ContinuesAfterCallerContextCancel.

    The job outlives the task or thread that scheduled it.
    """
    tiers = mem_tiers(1)
    entered, release = AsyncGate(), AsyncGate()
    cache = dj.AsyncCache(stores=tiers, workers=1, worker_queue=1)
    await async_start(lambda: cache.schedule_refresh("k", blocked_fetch(b"refreshed", entered, release))).result()
    await entered.wait()
    closing = async_start(cache.close)
    release.set()
    await closing.result(PROMPT)
    assert cache.stats().refreshes_completed == 1
    assert await value_of(tiers[0], "k") == b"refreshed"


async def test_finished_writes_of_many_keys_leave_no_write_state_behind() -> None:
    """Go: write_coordinator_test.go TestTopWriteManagerRetiresCompletedHighCardinalityWrites,
    TestCurrentTopWriteGenerationDoesNotCreateCoordinatorForMissingKey, TestFanoutWriteManagerReleasesIdleLocks."""
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:
        for i in range(128):
            writer = cache.set(f"key-{i}")
            await writer.write(b"v")
            await (writer.commit() if i % 2 == 0 else writer.abort())
        for i in range(16):
            with pytest.raises(dj.NotFound):
                await cache.get(f"missing-{i}", Origin().fetcher(f"missing-{i}"))
        await settle(cache)
        assert cache._writes.in_flight() == 0
        assert cache._flights == {}


async def test_a_slow_write_of_one_key_does_not_hold_up_another_key() -> None:
    """Go: write_coordinator_test.go TestFanoutWriteManagerDifferentKeysAreIndependent (rule G7: an open
    writer never blocks other keys)."""
    top = mem_tiers(1)[0]
    lower = Hooked(dj.AsyncMemStore())
    entered, release = lower.hold("commit")
    async with dj.AsyncCache(stores=[top, lower]) as cache:
        await cache.set_bytes("slow", b"slow-value")
        await entered.wait()  # the fan-out of "slow" is committing into tier 1
        await async_start(lambda: cache.set_bytes("other", b"other-value")).result(PROMPT)
        assert (
            await async_start(lambda: cache.get_bytes("third", Origin({"third": b"t"}).fetcher("third"))).result(PROMPT)
            == b"t"
        )
        await async_start(lambda: cache.delete("other")).result(PROMPT)
        release.set()
        await settle(cache)
        assert await value_of(lower.inner, "slow") == b"slow-value"


async def test_a_304_restamp_that_outlasts_worker_timeout_publishes_nothing() -> None:
    """Go: cache_refresh_test.go TestRefreshTopEntryCachedAtStagingStoreCancelsBeforeCommit,
    TestRefreshTopEntryCachedAtStreamsBeforeSourceEOF (the re-stamp copies the entry as a stream)."""
    tiers = mem_tiers(2)
    tiers[1].delay("read", 0.15)
    old = ago(HOUR)
    await put(tiers[1], "k", b"z" * 4096, dj.Metadata(etag="v1", cached_at=old))
    origin = Origin()
    origin.outcome = dj.NotModified()
    async with dj.AsyncCache(stores=tiers, worker_timeout=0.1, chunk_size=1024) as cache:
        await cache.schedule_refresh("k", origin.fetcher("k"))
        await eventually(lambda: cache.stats().refreshes_failed == 1)
        await settle(cache)
        assert holding(tiers, "k") == [False, True]
        assert (await stat_of(tiers[1], "k")).cached_at == old


@pytest.mark.parametrize(
    ("negative", "age", "stale"),
    [(False, None, True), (False, 10.0, False), (False, 120.0, True), (True, 10.0, False), (True, 120.0, True)],
)
async def test_staleness_follows_the_age_and_kind_of_the_entry(negative: bool, age: float | None, stale: bool) -> None:
    """Go: cache_context_unit_test.go TestIsCachedStale_ZeroCachedAt, TestIsCachedStale_FreshPositive,
    TestIsCachedStale_StalePositive, TestIsCachedStale_FreshNegative, TestIsCachedStale_StaleNegative,
    TestTierFreshness_OverrideExists, TestTierFreshness_NoOverride.

    Positive entries are fresh for 60 s, negative ones for 60 s in tier 0 and
    for an hour in tier 1 (an override); an entry without ``cached_at`` is stale.
    """
    tiers = mem_tiers(2)
    cached_at = 0.0 if age is None else ago(age)
    metadata = dj.Metadata(etag="e", is_negative=negative, cached_at=cached_at)
    await put(tiers[0], "k", b"" if negative else b"value", metadata)
    await put(tiers[1], "lower", b"", dj.Metadata(is_negative=True, cached_at=ago(120.0)))
    origin = Origin({"k": b"fresh", "lower": b"fresh"})
    async with dj.AsyncCache(
        stores=tiers, positive_fresh_for=60, negative_fresh_for=60, tier_fresh_for={1: (60, HOUR)}
    ) as cache:
        if negative:
            with pytest.raises(dj.NotFound):
                await cache.get("k", origin.fetcher("k"))
        else:
            async with await cache.get("k", origin.fetcher("k")) as response:
                assert response.stale is stale
                assert await response.read() == b"value"
        await eventually(lambda: cache.stats().refreshes_completed == (1 if stale else 0))
        with pytest.raises(dj.NotFound):
            await cache.get("lower", origin.fetcher("lower"))
        assert cache.stats().refreshes_scheduled == (1 if stale else 0), "a fresh negative in tier 1 is not refreshed"


async def test_fetchers_must_be_callable_and_stores_must_return_metadata() -> None:
    """Go: tests/api_contract_test.go TestCache_GetRejectsNilFetcher, TestCache_ScheduleRefreshRejectsNilFetcher,
    TestCache_GetReturnsErrNilMetadataForTopTierHit.

    Go fails the call on a store that returns nil metadata; rule T2 counts it
    as a failing tier, logged, and the origin serves the key.
    """

    class NoMetadata(Hooked):
        async def get_stream(self, key: str, /) -> tuple[Any, Any]:
            reader, _ = await super().get_stream(key)
            return reader, None

    top = NoMetadata(dj.AsyncMemStore())
    await put(top.inner, "key", b"value", dj.Metadata(cached_at=time.time()))
    async with dj.AsyncCache(stores=[top]) as cache:
        with pytest.raises(TypeError, match="fetch"):
            await cache.get("missing-key", None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="fetch"):
            await cache.schedule_refresh("key", None)  # type: ignore[arg-type]
        origin = Origin({"key": b"origin-value"})
        assert await cache.get_bytes("key", origin.fetcher("key")) == b"origin-value"
        assert cache.stats().tiers[0].errors == 1


async def test_updates_of_many_keys_are_not_held_up_by_unread_misses_of_some() -> None:
    """Go: tests/cache_stuck_repro_test.go FuzzRepro_UnconsumedBodyDoesNotBlockSelectedKeys (one pattern)."""
    tier = dj.AsyncMemStore()
    keys = [f"repro-key-{i:04d}" for i in range(16)]
    async with dj.AsyncCache(stores=[tier]) as cache:
        held = [await cache.get(key, Origin({key: b"seed"}).fetcher(key)) for key in keys[::3]]
        results = await async_start(
            lambda: async_run_concurrently([lambda key=key: cache.set_bytes(key, b"updated") for key in keys])
        ).result(PROMPT)
        assert results == [None] * len(keys)
        for response in held:
            assert await response.read() == b"seed"
            await response.aclose()
        assert [await value_of(tier, key) for key in keys] == [b"updated"] * len(keys)


# -- options_test.go, constructor_validation_external_test.go -------------------------------------------


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"positive_fresh_for": -1.0}, "positive_fresh_for"),
        ({"negative_fresh_for": -1.0}, "negative_fresh_for"),
        ({"tier_fresh_for": {0: (-1.0, 1.0)}}, "tier_fresh_for"),
        ({"tier_fresh_for": {0: (1.0, -1.0)}}, "tier_fresh_for"),
        ({"tier_fresh_for": {-1: (1.0, 1.0)}}, "tier_fresh_for"),
        ({"worker_strategy": ""}, "worker_strategy"),
        ({"worker_strategy": "bogus"}, "worker_strategy"),
        ({"workers": 0}, "workers"),
        ({"worker_queue": 0}, "worker_queue"),
        ({"worker_timeout": 0}, "worker_timeout"),
        ({"op_timeout": 0}, "op_timeout"),
    ],
)
async def test_bad_options_are_refused_by_name(options: dict[str, Any], names: str) -> None:
    """Go: options_test.go TestNew_OptionValidation, TestNew_WithUnknownWorkerStrategyFails,
    TestNew_WithManualNegativeTierFreshnessOverrideFails."""
    with pytest.raises(dj.ConfigError, match=names):
        dj.AsyncCache(stores=[dj.AsyncMemStore()], **options)


async def test_tier_chains_are_checked_when_the_cache_is_built() -> None:
    """Go: options_test.go TestNew_OptionValidation (empty config, nil tier, duplicate tier instance, equal-valued
    stores, a full option set); constructor_validation_external_test.go TestNew_RejectsTypedNilTier;
    options_test.go TestOptionOverrides (later options win: here one value per option).

    Go refuses ``close_timeout=0``; here 0 means "do not wait for background jobs" and is accepted.
    """
    store = dj.AsyncMemStore()
    for bad in ([], [None], [store, store]):
        with pytest.raises(dj.ConfigError):
            dj.AsyncCache(stores=bad)
    with pytest.raises(dj.ConfigError):
        dj.AsyncCache()
    twins = [Unhashable(dj.AsyncMemStore()), Unhashable(dj.AsyncMemStore())]
    assert twins[0] == twins[1]
    async with dj.AsyncCache(
        stores=[store, *twins],
        worker_strategy="all",
        workers=10,
        worker_queue=100,
        worker_timeout=5,
        op_timeout=10,
        close_timeout=0,
        positive_fresh_for=60,
        negative_fresh_for=300,
        tier_fresh_for={1: (120, 180)},
    ) as cache:
        config = cache.config
        assert (config.worker_strategy, config.workers, config.worker_queue) == ("all", 10, 100)
        assert (config.positive_fresh_for, config.negative_fresh_for, config.close_timeout) == (60.0, 300.0, 0.0)
        assert config.freshness(1) == (120.0, 180.0)
        assert config.freshness(2) == (60.0, 300.0)
        assert cache.stores == (store, *twins)


# -- tests/cache_fuzz_test.go, tests/background_fuzz_test.go ----------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
async def test_sequential_operations_match_a_model(seed: int) -> None:
    """Go: tests/cache_fuzz_test.go FuzzCacheSequentialOperations (seeded instead of fuzzed)."""
    rng = random.Random(seed)
    tier = dj.AsyncMemStore()
    keys = ["fuzz-key-0", "fuzz-key-1", "fuzz-key-2"]
    expected: dict[str, bytes] = {}
    async with dj.AsyncCache(stores=[tier], positive_fresh_for=HOUR, negative_fresh_for=0) as cache:
        for step in range(40):
            key = rng.choice(keys)
            op = rng.randrange(4)
            if op == 0:
                value = f"set-{step}".encode()
                await cache.set_bytes(key, value, dj.Metadata(etag=value.decode()))
                expected[key] = value
            elif op == 1:
                await cache.delete(key)
                expected.pop(key, None)
            elif op == 2:
                assert await entry(tier, key) == (
                    None if key not in expected else (expected[key], await tier.stat(key))
                )
                if key in expected:
                    assert (await tier.stat(key)).etag == expected[key].decode()
            else:
                value = f"fetch-{step}".encode()
                got = await cache.get_bytes(key, Origin({key: value}, etag=value.decode()).fetcher(key))
                assert got == expected.get(key, value)
                expected[key] = got
        for key in keys:
            found = await entry(tier, key)
            if key not in expected:
                assert found is None
            else:
                assert found is not None
                assert (found[0], found[1].etag) == (expected[key], expected[key].decode())


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_background_refreshes_deletes_and_sets_match_a_model(seed: int) -> None:
    """Go: tests/background_fuzz_test.go FuzzScheduleRefreshBackgroundStateMachine, FuzzLowerTierFanoutStateMachine
    (seeded instead of fuzzed)."""
    rng = random.Random(seed)
    tiers = mem_tiers(3)
    keys = ["bg-key-0", "bg-key-1", "bg-key-2"]
    async with dj.AsyncCache(
        stores=tiers, positive_fresh_for=HOUR, negative_fresh_for=0, workers=1, worker_queue=8
    ) as cache:
        for step in range(16):
            key = rng.choice(keys)
            value = f"value-{step}".encode()
            op = rng.randrange(4)
            if op == 0:
                await cache.set_bytes(key, value, dj.Metadata(etag=value.decode()))
                expected: Any = (value, value.decode(), False)
            elif op == 1:
                await cache.schedule_refresh(key, Origin({key: value}, etag=value.decode()).fetcher(key))
                expected = (value, value.decode(), False)
            elif op == 2:
                await cache.schedule_refresh(key, Origin().fetcher(key))
                expected = (b"", "", True)
            else:
                await cache.delete(key)
                expected = None
            await eventually(lambda: not cache._refreshing)
            await settle(cache)
            for tier in tiers:
                found = await entry(tier, key)
                assert (None if found is None else (found[0], found[1].etag, found[1].is_negative)) == expected
