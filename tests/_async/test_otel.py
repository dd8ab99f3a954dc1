"""The observer hook (``observer=``, rule E3) and daramjwee.contrib.otel, with the SDK's in-memory exporters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._async import _cache as cache_module
from daramjwee._observer import CURRENT_READ
from daramjwee.contrib.otel import METRICS, OpenTelemetryObserver, instrument
from daramjwee.contrib.otel._names import REVALIDATION

from ._helpers import Origin, eventually, put


class Telemetry:
    """An SDK meter provider and tracer provider whose data the test reads back."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.spans = InMemorySpanExporter()
        self.tracers = TracerProvider()
        self.tracers.add_span_processor(SimpleSpanProcessor(self.spans))

    def observer(self, **options: object) -> OpenTelemetryObserver:
        return OpenTelemetryObserver(self.meters, self.tracers, **options)  # type: ignore[arg-type]

    def points(self, name: str) -> list[tuple[dict[str, object], int]]:
        """``(attributes, value)`` of each point of metric ``name``: a counter's value, a histogram's count."""
        found: list[tuple[dict[str, object], int]] = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            found.append((dict(point.attributes or {}), point.count))
                        else:
                            assert isinstance(point, NumberDataPoint)
                            found.append((dict(point.attributes or {}), int(point.value)))
        return found

    def reads(self) -> list[tuple[str, object]]:
        """``(outcome, tier)`` of each ``daramjwee.read.duration`` point, one per read counted, sorted."""
        return sorted(
            (
                (str(attributes["daramjwee.read.outcome"]), attributes.get("daramjwee.tier", "origin"))
                for attributes, count in self.points("daramjwee.read.duration")
                for _ in range(count)
            ),
            key=repr,
        )

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.meters.shutdown()
    telemetry.tracers.shutdown()


class Recorder:
    """An observer that records every call, to check what the core reports and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def read_done(self, outcome: dj.ReadOutcome, tier: int | None, seconds: float, key: str) -> None:
        assert seconds >= 0
        self.calls.append(("read", outcome, tier, key))

    def tier_read(self, tier: int, store: object, key: str) -> RecordedProbe:
        return RecordedProbe(self.calls, ("tier", tier, key))

    def origin_fetch(self, key: str, revalidating: bool) -> RecordedProbe:
        return RecordedProbe(self.calls, ("origin", key, revalidating))


class RecordedProbe:
    def __init__(self, calls: list[tuple[object, ...]], started: tuple[object, ...]) -> None:
        self.calls = calls
        self.started = started

    def end(self, outcome: str, error: BaseException | None) -> None:
        self.calls.append((*self.started, outcome))


class Broken:
    """An observer every method of which raises, and whose probes raise when they end."""

    def read_done(self, outcome: dj.ReadOutcome, tier: int | None, seconds: float, key: str) -> None:
        raise RuntimeError("read_done is broken")

    def tier_read(self, tier: int, store: object, key: str) -> dj.Probe:
        if tier:
            raise RuntimeError("tier_read is broken")
        return BrokenProbe()

    def origin_fetch(self, key: str, revalidating: bool) -> dj.Probe:
        return BrokenProbe()


class BrokenProbe:
    def end(self, outcome: str, error: BaseException | None) -> None:
        raise RuntimeError("end is broken")


# -- metrics --------------------------------------------------------------------------------------------------------


async def test_hits_per_tier_are_counted_for_a_memory_and_file_chain(telemetry: Telemetry, tmp_path: Path) -> None:
    origin = Origin({"k": b"value" * 100})
    memory = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[memory, dj.AsyncFileStore(tmp_path)]) as cache:
        instrument(cache, telemetry.meters, attributes={"daramjwee.cache": "test"})
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value" * 100  # a miss: tier 0 filled
        await eventually(lambda: cache.stats().fanouts == 1)  # and copied to tier 1
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value" * 100  # a hit in tier 0
        await memory.delete("k")
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value" * 100  # a hit in tier 1, promoted
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value" * 100  # a hit in tier 0 again

        base = {"daramjwee.cache": "test"}
        memory_tier = {**base, "daramjwee.tier": 0, "daramjwee.store": "MemStore"}
        file_tier = {**base, "daramjwee.tier": 1, "daramjwee.store": "FileStore"}
        assert sorted(telemetry.points("daramjwee.tier.hits"), key=repr) == sorted(
            [(memory_tier, 2), (file_tier, 1)], key=repr
        )
        assert sorted(telemetry.points("daramjwee.tier.misses"), key=repr) == sorted(
            [(memory_tier, 2), (file_tier, 1)], key=repr
        )
        assert (memory_tier, 1) in telemetry.points("daramjwee.tier.promotions")
        assert telemetry.points("daramjwee.origin.fetches") == [(base, 1)]
        assert telemetry.points("daramjwee.fanouts.completed") == [(base, 1)]
        assert telemetry.points("daramjwee.fills.published") == [(base, 1)]
        # Every counter of stats() is exported, and says what stats() says.
        stats = cache.stats()
        for metric in METRICS:
            if metric.kind == "observable_counter" and not metric.name.startswith("daramjwee.tier."):
                assert telemetry.points(metric.name) == [(base, getattr(stats, metric.field))], metric.name


async def test_instrumented_caches_share_a_provider_and_are_told_apart_by_attributes(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as one, dj.AsyncCache(stores=[dj.AsyncMemStore()]) as two:
        instrument(one, telemetry.meters, attributes={"daramjwee.cache": "one"})
        instrument(two, telemetry.meters, attributes={"daramjwee.cache": "two"})
        await one.get_bytes("k", origin.fetcher("k"))
        await one.get_bytes("k", origin.fetcher("k"))
        assert sorted(telemetry.points("daramjwee.origin.fetches"), key=repr) == [
            ({"daramjwee.cache": "one"}, 1),
            ({"daramjwee.cache": "two"}, 0),
        ]
        with pytest.raises(ValueError, match="already instrumented"):
            instrument(one, telemetry.meters, attributes={"daramjwee.cache": "one"})


async def test_instrument_and_the_observer_refuse_bad_arguments(telemetry: Telemetry) -> None:
    with pytest.raises(TypeError, match="Cache or AsyncCache"):
        instrument(dj.AsyncMemStore(), telemetry.meters)  # type: ignore[arg-type]
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        with pytest.raises(TypeError, match="attribute 'cache' must be"):
            instrument(cache, telemetry.meters, attributes={"cache": ["a", "list"]})  # type: ignore[dict-item]
        instrument(cache, telemetry.meters)  # nothing was registered by the refusal above
        assert telemetry.points("daramjwee.origin.fetches") == [({}, 0)]
    with pytest.raises(TypeError, match="include_keys must be a bool"):
        telemetry.observer(include_keys="yes")
    with pytest.raises(dj.ConfigError, match="lacks read_done, tier_read, origin_fetch"):
        dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=logging.getLogger("x"))  # type: ignore[arg-type]


# -- read outcomes and latency --------------------------------------------------------------------------------------


async def test_a_miss_is_a_miss_point_and_a_hit_a_hit_point_of_its_tier(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        assert telemetry.reads() == [("miss", "origin")]
        await cache.get_bytes("k", origin.fetcher("k"))
        await cache.get_bytes("k", origin.fetcher("k"))
        assert telemetry.reads() == [("hit", 0), ("hit", 0), ("miss", "origin")]
        assert telemetry.points("daramjwee.origin.duration") == [
            ({"daramjwee.origin.outcome": "ok", "daramjwee.origin.revalidation": False}, 1)
        ]


async def test_concurrent_misses_are_one_miss_and_coalesced_waiters(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"value"}, delay=0.2)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        assert await async_run_concurrently([reader] * 5) == [b"value"] * 5
        assert origin.calls == 1
        assert telemetry.reads() == [("coalesced", 0)] * 4 + [("miss", "origin")]


async def test_reads_waiting_for_a_revalidation_are_coalesced(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"new"}, delay=0.2)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:
        await cache.set_bytes("k", b"old", dj.Metadata(fresh_for=0, stale_while_revalidate=0))  # must revalidate

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        assert await async_run_concurrently([reader] * 4) == [b"new"] * 4
        assert origin.calls == 1
    assert telemetry.reads() == [("coalesced", 0)] * 3 + [("miss", "origin")]


async def test_a_failing_fetcher_is_an_error_point_and_an_error_span(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"value"})
    origin.outcome = ConnectionError("origin down")
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:
        with pytest.raises(ConnectionError, match="origin down"):
            await cache.get_bytes("k", origin.fetcher("k"))
        with pytest.raises(TypeError):
            await cache.get_bytes("k", "not a fetcher")  # type: ignore[arg-type]
    assert telemetry.reads() == [("error", "origin"), ("error", "origin")]
    [fetch] = telemetry.finished("daramjwee.origin.fetch")
    assert fetch.status.status_code is StatusCode.ERROR
    assert attribute(fetch, "daramjwee.origin.outcome") == "error"
    assert [event.attributes["exception.type"] for event in fetch.events if event.attributes] == ["ConnectionError"]
    assert telemetry.points("daramjwee.origin.duration") == [
        ({"daramjwee.origin.outcome": "error", "daramjwee.origin.revalidation": False}, 1)
    ]


async def test_not_found_is_negative_from_the_origin_then_from_the_tier(telemetry: Telemetry) -> None:
    origin = Origin({})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:
        for _ in range(2):
            with pytest.raises(dj.NotFound):
                await cache.get_bytes("gone", origin.fetcher("gone"))
    assert origin.calls == 1
    assert telemetry.reads() == [("negative", "origin"), ("negative", 0)]
    [fetch] = telemetry.finished("daramjwee.origin.fetch")
    assert fetch.status.status_code is StatusCode.UNSET  # the origin's answer, not a failure
    assert attribute(fetch, "daramjwee.origin.outcome") == "not_found"


async def test_stale_and_revalidated_reads(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=0, observer=telemetry.observer()) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        async with await cache.get("k", origin.fetcher("k")) as response:  # stale: served, refreshed after
            assert response.stale
            await response.read()
        await eventually(lambda: cache.stats().refreshes_completed == 1)

        async def not_modified(old: dj.Metadata | None) -> dj.FetchResult:
            raise dj.NotModified()

        async with await cache.get("k", not_modified, revalidate_if=lambda metadata: True) as response:
            assert not response.stale
            assert await response.read() == b"value"
    assert telemetry.reads() == [("miss", "origin"), ("revalidated", 0), ("stale", 0)]
    outcomes = sorted(
        (str(attributes["daramjwee.origin.outcome"]), bool(attributes["daramjwee.origin.revalidation"]))
        for attributes, _ in telemetry.points("daramjwee.origin.duration")
    )
    assert outcomes == [("not_modified", True), ("ok", False), ("ok", True)]  # the miss, the refresh, the 304


# -- spans ----------------------------------------------------------------------------------------------------------


async def test_a_miss_emits_tier_read_and_origin_fetch_spans_under_the_callers_span(telemetry: Telemetry) -> None:
    tracer = telemetry.tracers.get_tracer("app")
    seen_inside: list[str] = []

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        with tracer.start_as_current_span("app.origin.call"):
            seen_inside.append("called")
        return dj.FetchResult(b"value")

    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=telemetry.observer()) as cache:
        with tracer.start_as_current_span("app.request") as request:
            assert await cache.get_bytes("secret-key", fetch) == b"value"
        assert trace.get_current_span() is not request  # every probe ended and restored the context
    assert seen_inside == ["called"]
    request_id = request.get_span_context().span_id
    [fetch_span] = telemetry.finished("daramjwee.origin.fetch")
    assert parent_of(fetch_span) == request_id
    assert fetch_span.kind is trace.SpanKind.INTERNAL
    [inner] = telemetry.finished("app.origin.call")  # the fetcher's own span nests under the fetch span
    assert parent_of(inner) == fetch_span.get_span_context().span_id
    reads = telemetry.finished("daramjwee.tier.read")
    assert reads  # tier 0 was read (by the walk, then again by the leader before it fetched)
    for span in reads:
        assert parent_of(span) == request_id
        assert span.attributes == {
            "daramjwee.tier": 0,
            "daramjwee.store": "MemStore",  # the same name in both flavours
            "daramjwee.tier.outcome": "miss",
        }
    for span in telemetry.spans.get_finished_spans():
        assert "secret-key" not in repr(dict(span.attributes or {}))  # keys stay out unless asked for


@pytest.mark.parametrize("strategy", ["pool", "all"])
async def test_background_refreshes_run_outside_the_callers_context(telemetry: Telemetry, strategy: str) -> None:
    tracer = telemetry.tracers.get_tracer("app")
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(
        stores=[dj.AsyncMemStore()], positive_fresh_for=0, worker_strategy=strategy, observer=telemetry.observer()
    ) as cache:
        await cache.get_bytes("k", origin.fetcher("k"))
        for number in (1, 2):
            with tracer.start_as_current_span(f"app.request.{number}"):
                assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"  # stale: a refresh when read
            await eventually(lambda number=number: cache.stats().refreshes_completed == number)
    refreshes = [span for span in telemetry.finished("daramjwee.origin.fetch") if attribute(span, REVALIDATION)]
    assert len(refreshes) == 2
    assert [parent_of(span) for span in refreshes] == [None, None]  # not under the request that started the pool


async def test_a_lower_tier_hit_has_a_tier_read_span_per_tier_and_keys_only_when_asked(telemetry: Telemetry) -> None:
    origin = Origin({"k": b"value"})
    lower = dj.AsyncMemStore()
    async with dj.AsyncCache(
        stores=[dj.AsyncMemStore(), lower], observer=telemetry.observer(include_keys=True)
    ) as cache:
        await put(lower, "k", b"value")
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"
    assert origin.calls == 0
    reads = telemetry.finished("daramjwee.tier.read")
    assert [attribute(span, "daramjwee.tier.outcome") for span in reads] == ["miss", "hit"]
    assert [attribute(span, "daramjwee.key") for span in reads] == ["k", "k"]
    assert telemetry.reads() == [("hit", 1)]


# -- the hook's own rules -------------------------------------------------------------------------------------------


async def test_an_observer_that_raises_never_breaks_a_read(caplog: pytest.LogCaptureFixture) -> None:
    origin = Origin({"k": b"value"})
    lower = dj.AsyncMemStore()
    with caplog.at_level(logging.ERROR, logger="daramjwee"):
        async with dj.AsyncCache(stores=[dj.AsyncMemStore(), lower], observer=Broken()) as cache:
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"  # a miss
            assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"  # a hit
            with pytest.raises(dj.NotFound):
                await cache.get_bytes("gone", origin.fetcher("gone"))  # negative
            origin.outcome = ConnectionError("down")
            with pytest.raises(ConnectionError):
                await cache.get_bytes("other", origin.fetcher("other"))  # the fetcher's own error, unchanged
            assert cache.stats().tiers[0].errors == 0
    failed = {record.getMessage().split(" failed in ")[1].split(";")[0] for record in caplog.records}
    assert failed == {"read_done", "tier_read", "end"}


class Untouchable:
    """Stands for the hook's machinery in the cache module: any use of it fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the observer hook was used ({name}) by a cache without an observer")

    def __call__(self, *args: object) -> object:
        raise AssertionError("the observer hook was called by a cache without an observer")


async def test_without_an_observer_the_hook_is_never_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CURRENT_READ", "report_read", "start_tier_read", "start_origin_fetch", "end_probe", "noted"):
        monkeypatch.setattr(cache_module, name, Untouchable())
    origin = Origin({"k": b"value"}, delay=0.1)
    lower = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), lower], positive_fresh_for=0) as cache:

        async def reader() -> bytes:
            return await cache.get_bytes("k", origin.fetcher("k"))

        assert await async_run_concurrently([reader] * 3) == [b"value"] * 3  # a miss and coalesced waiters
        assert await cache.get_bytes("k", origin.fetcher("k")) == b"value"  # stale, refreshed
        await eventually(lambda: cache.stats().refreshes_completed == 1)
        await put(lower, "low", b"low")
        assert await cache.get_bytes("low", origin.fetcher("low")) == b"low"  # a lower-tier hit (stale)
        with pytest.raises(dj.NotFound):
            await cache.get_bytes("gone", origin.fetcher("gone"))
        with pytest.raises(dj.NotFound):
            await cache.get_bytes("gone", origin.fetcher("gone"))  # a negative entry


async def test_a_fetchers_own_reads_are_observed_as_reads_of_their_own() -> None:
    recorder = Recorder()
    origin = Origin({"k": b"value"})
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=recorder) as cache:

        async def outer(old: dj.Metadata | None) -> dj.FetchResult:
            assert CURRENT_READ.get() is None  # the outer read's note is out of the fetcher's reach
            return dj.FetchResult(await cache.get_bytes("inner", origin.fetcher("k")) + b"!")

        assert await cache.get_bytes("outer", outer) == b"value!"
    reads = [call for call in recorder.calls if call[0] == "read"]
    assert reads == [("read", "miss", None, "inner"), ("read", "miss", None, "outer")]
    assert ("origin", "outer", False, "ok") in recorder.calls
    assert ("origin", "inner", False, "ok") in recorder.calls
    assert ("tier", 0, "outer", "miss") in recorder.calls
    assert CURRENT_READ.get() is None


async def test_a_cache_keeps_to_29_instance_attributes() -> None:
    # On CPython 3.11 an object with 30 or more attributes reads each of them about 3 ns slower, and the
    # memory hit reads a dozen: the observer's attribute was the 30th until a derived one (the tag tier) went.
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncMemStore()], observer=Recorder()) as cache:
        assert len(vars(cache)) <= 29, sorted(vars(cache))
