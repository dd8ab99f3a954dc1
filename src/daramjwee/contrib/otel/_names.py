"""The names of what ``daramjwee.contrib.otel`` exports: metrics, attributes, spans (pure data).

Names follow OpenTelemetry's semantic-convention style: lower case, ``.``
between namespaces, ``_`` inside a multi-word component, no ``_total``
suffix, units in UCUM (``s``) or as ``{annotation}`` for counts.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "CACHE_COUNTERS",
    "HISTOGRAMS",
    "KEY",
    "METRICS",
    "ORIGIN_DURATION",
    "ORIGIN_OUTCOME",
    "READ_DURATION",
    "READ_OUTCOME",
    "REVALIDATION",
    "SCOPE",
    "SPAN_ORIGIN_FETCH",
    "SPAN_TIER_READ",
    "STORE",
    "TIER",
    "TIER_COUNTERS",
    "TIER_OUTCOME",
    "TIER_READ_DURATION",
    "Metric",
]

SCOPE = "daramjwee"
"""The instrumentation scope (meter and tracer name)."""

# Attributes.
TIER = "daramjwee.tier"
"""Index of a tier in the chain (0 is the fastest), an int."""
STORE = "daramjwee.store"
"""The class name of a tier's store without ``Async`` (``MemStore``, ``FileStore``...): the same in both flavours."""
READ_OUTCOME = "daramjwee.read.outcome"
"""How a ``get`` ended: hit, stale, revalidated, coalesced, miss, negative, error (``daramjwee.ReadOutcome``)."""
TIER_OUTCOME = "daramjwee.tier.outcome"
"""How a tier read ended: hit, miss, negative, error (``daramjwee.TierOutcome``)."""
ORIGIN_OUTCOME = "daramjwee.origin.outcome"
"""How an origin fetch ended: ok, not_modified, not_found, error (``daramjwee.FetchOutcome``)."""
REVALIDATION = "daramjwee.origin.revalidation"
"""Whether the fetcher got stored metadata as ``old`` (a revalidation or a refresh), a bool."""
KEY = "daramjwee.key"
"""The cache key: on spans only, and only with ``include_keys=True`` (keys can be sensitive)."""

# Spans.
SPAN_TIER_READ = "daramjwee.tier.read"
SPAN_ORIGIN_FETCH = "daramjwee.origin.fetch"

# Histograms, recorded by OpenTelemetryObserver.
READ_DURATION = "daramjwee.read.duration"
TIER_READ_DURATION = "daramjwee.tier.read.duration"
ORIGIN_DURATION = "daramjwee.origin.duration"


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    """One exported metric: its name, unit, instrument kind, attributes and meaning."""

    name: str
    unit: str
    kind: str
    """``histogram`` (recorded by the observer) or ``observable_counter`` (read from ``cache.stats()``)."""
    attributes: tuple[str, ...]
    description: str
    field: str = ""
    """For a counter, the :class:`~daramjwee.CacheStats` (or, under ``tier.``, :class:`~daramjwee.TierStats`)
    field it reads."""


def _counter(field: str, name: str, unit: str, description: str, *, tier: bool = False) -> Metric:
    attributes = (TIER, STORE) if tier else ()
    return Metric(name, unit, "observable_counter", attributes, description, field)


TIER_COUNTERS: tuple[Metric, ...] = (
    _counter("hits", "daramjwee.tier.hits", "{hit}", "Reads this tier answered (positive or negative)", tier=True),
    _counter("misses", "daramjwee.tier.misses", "{miss}", "Reads that found no entry in this tier", tier=True),
    _counter("errors", "daramjwee.tier.errors", "{error}", "Failures of this tier the cache recovered from", tier=True),
    _counter("promotions", "daramjwee.tier.promotions", "{entry}", "Entries promoted into this tier", tier=True),
)
CACHE_COUNTERS: tuple[Metric, ...] = (
    _counter("origin_fetches", "daramjwee.origin.fetches", "{fetch}", "Calls of the fetcher"),
    _counter("negative_hits", "daramjwee.negative_hits", "{hit}", "Reads answered by a negative entry"),
    _counter("stale_hits", "daramjwee.stale_hits", "{hit}", "Stale entries served (stale-while-revalidate)"),
    _counter("stale_if_error_hits", "daramjwee.stale_if_error_hits", "{hit}", "Stale entries served on error"),
    _counter("transit_hits", "daramjwee.transit_hits", "{hit}", "Misses served from a value being fanned out"),
    _counter("coalesced_waiters", "daramjwee.coalesced_waiters", "{read}", "Reads that waited for another's fetch"),
    _counter("revalidations", "daramjwee.revalidations", "{revalidation}", "Revalidations before answering"),
    _counter("refreshes_scheduled", "daramjwee.refreshes.scheduled", "{refresh}", "Background refreshes scheduled"),
    _counter("refreshes_completed", "daramjwee.refreshes.completed", "{refresh}", "Background refreshes completed"),
    _counter("refreshes_failed", "daramjwee.refreshes.failed", "{refresh}", "Background refreshes that failed"),
    _counter("refreshes_rejected", "daramjwee.refreshes.rejected", "{refresh}", "Refreshes the pool refused"),
    _counter("fills_started", "daramjwee.fills.started", "{fill}", "Origin bodies copied into a tier"),
    _counter("fills_published", "daramjwee.fills.published", "{fill}", "Fills published"),
    _counter("fills_aborted", "daramjwee.fills.aborted", "{fill}", "Fills that ended unpublished"),
    _counter("fanouts", "daramjwee.fanouts.completed", "{fanout}", "Copies to the lower tiers completed"),
    _counter("fanouts_failed", "daramjwee.fanouts.failed", "{fanout}", "Copies to the lower tiers that failed"),
    _counter("fanouts_rejected", "daramjwee.fanouts.rejected", "{fanout}", "Copies to the lower tiers never tried"),
    _counter("fanouts_superseded", "daramjwee.fanouts.superseded", "{fanout}", "Copies made pointless by a write"),
    _counter("fleet_leases", "daramjwee.fleet.leases", "{lease}", "Fleet leases taken to fetch"),
    _counter("fleet_waits", "daramjwee.fleet.waits", "{wait}", "Misses that waited for another instance"),
    _counter("fleet_shared_hits", "daramjwee.fleet.shared_hits", "{hit}", "Misses served after another's fetch"),
    _counter("fleet_errors", "daramjwee.fleet.errors", "{error}", "Failed Redis calls of the coordinator"),
    _counter("fleet_invalidations_sent", "daramjwee.fleet.invalidations.sent", "{invalidation}", "Invalidations sent"),
    _counter(
        "fleet_invalidations_applied",
        "daramjwee.fleet.invalidations.applied",
        "{invalidation}",
        "Invalidations from other instances applied",
    ),
    _counter("fleet_resyncs", "daramjwee.fleet.resyncs", "{resync}", "Local tiers dropped to resync with the fleet"),
)
HISTOGRAMS: tuple[Metric, ...] = (
    Metric(
        READ_DURATION,
        "s",
        "histogram",
        (READ_OUTCOME, TIER),
        "Time from the call of get to the response handed back or the exception raised (time to first byte); "
        f"{TIER} is absent when the origin answered",
    ),
    Metric(
        TIER_READ_DURATION,
        "s",
        "histogram",
        (TIER, STORE, TIER_OUTCOME),
        "Time to open an entry in a tier and read its first chunk",
    ),
    Metric(
        ORIGIN_DURATION,
        "s",
        "histogram",
        (ORIGIN_OUTCOME, REVALIDATION),
        "Time from calling the fetcher to its result (the body streams afterwards)",
    ),
)
METRICS: tuple[Metric, ...] = HISTOGRAMS + TIER_COUNTERS + CACHE_COUNTERS
"""Every metric ``daramjwee.contrib.otel`` exports, with its unit, attributes and meaning."""
