"""The counters of ``cache.stats()`` as OpenTelemetry observable counters: :func:`instrument`."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping

from opentelemetry import metrics

from ... import AsyncCache, Cache, CacheStats
from ._attributes import Attributes, check_attributes, store_name
from ._names import CACHE_COUNTERS, SCOPE, STORE, TIER, TIER_COUNTERS

__all__ = ["instrument"]

_Observe = Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]]


def instrument(
    cache: Cache | AsyncCache,
    meter_provider: metrics.MeterProvider | None = None,
    *,
    attributes: Mapping[str, str | bool | int | float] | None = None,
) -> None:
    """Export ``cache.stats()`` through ``meter_provider`` (the global one when ``None``) as observable counters.

    One counter per field of :class:`~daramjwee.CacheStats` and, with the
    attributes ``daramjwee.tier`` and ``daramjwee.store``, per field of
    :class:`~daramjwee.TierStats` (the names are in
    ``daramjwee.contrib.otel.METRICS``).  Their callbacks read
    ``cache.stats()`` when the SDK collects: reads pay nothing.  Several
    caches may be instrumented on one provider: give each its own
    ``attributes`` (``{"daramjwee.cache": "images"}``, say), which every
    observation of it carries.  The cache is held weakly: once it is garbage,
    its series end; a closed cache keeps reporting its last counts.

    Raises ``TypeError`` for a ``cache`` that is not a ``Cache`` or
    ``AsyncCache`` or bad ``attributes``, and ``ValueError`` when the cache is
    already instrumented on that provider with the same attributes; both
    before anything is registered.
    """
    if not isinstance(cache, Cache | AsyncCache):
        raise TypeError(f"instrument() needs a daramjwee Cache or AsyncCache, got {type(cache).__name__}")
    extra = check_attributes(attributes)
    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    with _LOCK:
        export = _EXPORTS.get(provider)
        if export is None:
            export = _EXPORTS[provider] = _StatsExport(provider.get_meter(SCOPE))
        export.add(cache, extra)


class _Source:
    __slots__ = ("attributes", "cache", "stores")

    def __init__(self, cache: Cache | AsyncCache, attributes: Attributes) -> None:
        self.cache = weakref.ref(cache)
        self.attributes = attributes
        self.stores = tuple(store_name(store) for store in cache.stores)


class _StatsExport:
    """The counters of one meter provider, observing every cache instrumented on it."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._lock = threading.Lock()
        self._sources: list[_Source] = []
        for metric in TIER_COUNTERS:
            meter.create_observable_counter(
                metric.name, [self._tier_counter(metric.field)], metric.unit, metric.description
            )
        for metric in CACHE_COUNTERS:
            meter.create_observable_counter(
                metric.name, [self._cache_counter(metric.field)], metric.unit, metric.description
            )

    def add(self, cache: Cache | AsyncCache, attributes: Attributes) -> None:
        with self._lock:
            for source in self._sources:
                if source.cache() is cache and source.attributes == attributes:
                    raise ValueError(f"{cache!r} is already instrumented on this meter provider with {attributes}")
            self._sources.append(_Source(cache, attributes))

    def _snapshots(self) -> list[tuple[CacheStats, _Source]]:
        """A snapshot of each live cache's counters; forgets the caches that are gone."""
        with self._lock:
            live = [(source, source.cache()) for source in self._sources]
            self._sources = [source for source, cache in live if cache is not None]
        return [(cache.stats(), source) for source, cache in live if cache is not None]

    def _tier_counter(self, field: str) -> _Observe:
        def observe(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [
                metrics.Observation(getattr(counts, field), {**source.attributes, TIER: tier, STORE: store})
                for stats, source in self._snapshots()
                for tier, (counts, store) in enumerate(zip(stats.tiers, source.stores, strict=True))
            ]

        return observe

    def _cache_counter(self, field: str) -> _Observe:
        def observe(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [
                metrics.Observation(getattr(stats, field), source.attributes) for stats, source in self._snapshots()
            ]

        return observe


_LOCK = threading.Lock()
_EXPORTS: weakref.WeakKeyDictionary[metrics.MeterProvider, _StatsExport] = weakref.WeakKeyDictionary()
"""One export per meter provider: an instrument name registered twice on a meter would drop the second callback."""
