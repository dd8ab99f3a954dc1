"""A cancelled ``AsyncCache.get`` under an observer (rule E3): its probes end, its read is not reported.

Async only: a thread running ``Cache.get`` cannot be cancelled.
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import daramjwee as dj
from daramjwee.contrib.otel import OpenTelemetryObserver


async def test_a_get_cancelled_while_the_origin_answers_ends_the_fetch_span_and_reports_no_read() -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    spans = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    called = asyncio.Event()

    async def slow(old: dj.Metadata | None) -> dj.FetchResult:
        called.set()
        await asyncio.sleep(10)
        return dj.FetchResult(b"never")

    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], observer=OpenTelemetryObserver(meters, tracers)) as cache:
        before = trace.get_current_span()

        async def read() -> None:
            await cache.get_bytes("k", slow)

        task = asyncio.ensure_future(read())
        await called.wait()
        task.cancel()
        await asyncio.wait({task})
        assert task.cancelled()
        assert trace.get_current_span() is before
        # The cache still serves, and the next read is reported.
        assert await cache.get_bytes("k", lambda old: _value()) == b"value"

    fetches = [span for span in spans.get_finished_spans() if span.name == "daramjwee.origin.fetch"]
    assert len(fetches) == 2
    cancelled = fetches[0]
    assert cancelled.status.status_code is StatusCode.ERROR
    assert [event.attributes["exception.type"] for event in cancelled.events if event.attributes] == [
        "asyncio.exceptions.CancelledError"
    ]
    data = reader.get_metrics_data()
    assert data is not None
    outcomes = [
        point.attributes["daramjwee.read.outcome"]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "daramjwee.read.duration"
        for point in metric.data.data_points
        if point.attributes
    ]
    assert outcomes == ["miss"]  # the second read only: the cancelled one is not reported
    meters.shutdown()
    tracers.shutdown()


async def _value() -> dj.FetchResult:
    return dj.FetchResult(b"value")
