"""A cache observer (``observer=``) recording OpenTelemetry histograms and spans: :class:`OpenTelemetryObserver`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token

from opentelemetry import context, metrics, trace

from ... import ReadOutcome
from ._attributes import Attributes, check_attributes, store_name
from ._names import (
    KEY,
    ORIGIN_DURATION,
    ORIGIN_OUTCOME,
    READ_DURATION,
    READ_OUTCOME,
    REVALIDATION,
    SCOPE,
    SPAN_ORIGIN_FETCH,
    SPAN_TIER_READ,
    STORE,
    TIER,
    TIER_OUTCOME,
    TIER_READ_DURATION,
)

__all__ = ["DURATION_BUCKETS", "OpenTelemetryObserver"]

DURATION_BUCKETS: tuple[float, ...] = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Advised bucket bounds (seconds) of the duration histograms: from 10 us (a memory hit) to 10 s (a slow origin)."""


class OpenTelemetryObserver:
    """A :class:`daramjwee.Observer` recording histograms and spans; pass it as ``observer=`` to a cache.

    Histograms (seconds; names and attributes in ``daramjwee.contrib.otel.METRICS``):

    - ``daramjwee.read.duration``: each ``get``, by ``daramjwee.read.outcome``
      (hit, stale, revalidated, coalesced, miss, negative, error) and
      ``daramjwee.tier`` (the tier that answered; absent for the origin).
      From the call to the response handed back: time to first byte.
    - ``daramjwee.tier.read.duration``: each tier read (open and first chunk),
      by tier, store and ``daramjwee.tier.outcome`` (hit, miss, negative, error).
    - ``daramjwee.origin.duration``: each call of a fetcher until it returns,
      by ``daramjwee.origin.outcome`` (ok, not_modified, not_found, error)
      and ``daramjwee.origin.revalidation``.

    Spans (kind ``INTERNAL``), children of the span current where the work
    runs: the caller's, for a read; none for background refreshes, which run
    outside any caller's context and so start traces of their own.  Each is
    current while it lasts, so that spans the store or the fetcher open nest
    under it:

    - ``daramjwee.tier.read``: a store's ``get_stream`` and the read-ahead of
      the entry's first chunk; attributes tier, store, outcome.  A fresh hit
      of a memory tier 0 served from its table opens none (it costs less than
      a span); the read's histogram counts it.
    - ``daramjwee.origin.fetch``: the fetcher's call, up to the
      ``FetchResult`` it returns (headers, for an HTTP origin): the body
      streams afterwards, as the caller reads it, outside the span.  A
      failure sets the span's status to error and records the exception;
      ``NotModified`` and ``CacheableNotFound`` are outcomes, not errors.

    The raw key is never recorded unless ``include_keys=True``, and then only
    on spans (``daramjwee.key``): keys can be sensitive, and as a metric
    attribute they would make one series per key.  ``attributes`` are added
    to every metric point and span (``{"daramjwee.cache": "images"}``, to tell
    caches apart).  ``meter_provider`` and ``tracer_provider`` default to the
    global ones.  One observer may serve several caches.  Raises
    ``TypeError`` for bad ``attributes``.
    """

    __slots__ = ("_attributes", "_include_keys", "_origin_duration", "_read_duration", "_tier_duration", "_tracer")

    def __init__(
        self,
        meter_provider: metrics.MeterProvider | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        include_keys: bool = False,
        attributes: Mapping[str, str | bool | int | float] | None = None,
    ) -> None:
        if type(include_keys) is not bool:
            raise TypeError(f"include_keys must be a bool, got {type(include_keys).__name__}")
        self._attributes: Attributes = check_attributes(attributes)
        self._include_keys = include_keys
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._read_duration = meter.create_histogram(
            READ_DURATION,
            "s",
            "Time from the call of get to the response handed back (time to first byte), by outcome and tier",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._tier_duration = meter.create_histogram(
            TIER_READ_DURATION,
            "s",
            "Time to open an entry in a tier and read its first chunk, by tier, store and outcome",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._origin_duration = meter.create_histogram(
            ORIGIN_DURATION,
            "s",
            "Time from calling the fetcher to its result (the body streams afterwards), by outcome",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)

    def read_done(self, outcome: ReadOutcome, tier: int | None, seconds: float, key: str) -> None:
        attributes = {**self._attributes, READ_OUTCOME: outcome}
        if tier is not None:
            attributes[TIER] = tier
        self._read_duration.record(seconds, attributes)

    def tier_read(self, tier: int, store: object, key: str) -> _SpanProbe:
        attributes = {**self._attributes, TIER: tier, STORE: store_name(store)}
        return self._start(SPAN_TIER_READ, attributes, key, self._tier_duration, TIER_OUTCOME)

    def origin_fetch(self, key: str, revalidating: bool) -> _SpanProbe:
        attributes = {**self._attributes, REVALIDATION: revalidating}
        return self._start(SPAN_ORIGIN_FETCH, attributes, key, self._origin_duration, ORIGIN_OUTCOME)

    def _start(
        self,
        name: str,
        attributes: dict[str, str | bool | int | float],
        key: str,
        histogram: metrics.Histogram,
        outcome_name: str,
    ) -> _SpanProbe:
        span_attributes = {**attributes, KEY: key} if self._include_keys else attributes
        span = self._tracer.start_span(name, kind=trace.SpanKind.INTERNAL, attributes=span_attributes)
        token = context.attach(trace.set_span_in_context(span))
        return _SpanProbe(span, token, histogram, attributes, outcome_name)

    def __repr__(self) -> str:
        return f"OpenTelemetryObserver(include_keys={self._include_keys}, attributes={dict(self._attributes)})"


class _SpanProbe:
    """One tier read or origin fetch: its span (current until :meth:`end`) and its histogram point."""

    __slots__ = ("_attributes", "_histogram", "_outcome_name", "_span", "_start", "_token")

    def __init__(
        self,
        span: trace.Span,
        token: Token[context.Context],
        histogram: metrics.Histogram,
        attributes: dict[str, str | bool | int | float],
        outcome_name: str,
    ) -> None:
        self._span = span
        self._token = token
        self._histogram = histogram
        self._attributes = attributes
        self._outcome_name = outcome_name
        self._start = time.perf_counter()

    def end(self, outcome: str, error: BaseException | None) -> None:
        seconds = time.perf_counter() - self._start
        context.detach(self._token)
        span = self._span
        span.set_attribute(self._outcome_name, outcome)
        if outcome == "error":
            if error is not None:
                span.record_exception(error)
            description = None if error is None else f"{type(error).__name__}: {error}"
            span.set_status(trace.Status(trace.StatusCode.ERROR, description))
        span.end()
        self._attributes[self._outcome_name] = outcome
        self._histogram.record(seconds, self._attributes)
