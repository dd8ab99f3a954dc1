"""Counters behind ``cache.stats()``."""

from __future__ import annotations

import dataclasses
import enum
import threading

__all__ = ["CacheStats", "Stat", "StatsRecorder", "TierStat", "TierStats"]


@dataclasses.dataclass(frozen=True, slots=True)
class TierStats:
    """Counters of one tier."""

    hits: int = 0
    misses: int = 0
    errors: int = 0
    promotions: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    """A consistent snapshot of a cache's counters (see ``cache.stats()``)."""

    tiers: tuple[TierStats, ...]
    origin_fetches: int = 0
    negative_hits: int = 0
    stale_hits: int = 0
    refreshes_scheduled: int = 0
    refreshes_completed: int = 0
    refreshes_failed: int = 0
    refreshes_rejected: int = 0
    coalesced_waiters: int = 0
    fills_started: int = 0
    """Origin bodies the cache began copying into a tier; each ends as published or aborted."""
    fills_published: int = 0
    fills_aborted: int = 0
    """Fills that ended unpublished: closed early, failed, or superseded by a newer write."""
    fanouts: int = 0
    """Fan-outs that copied an entry to every lower tier able to hold it."""
    fanouts_failed: int = 0
    """Fan-outs that failed (a store error, the source lost the entry, a timeout)."""
    fanouts_rejected: int = 0
    """Fan-outs never attempted: too many pending without a snapshot, or still pending at close."""
    fanouts_superseded: int = 0
    """Fan-outs made pointless by a newer write of the key (a newer fan-out, a set, a delete)."""
    transit_hits: int = 0
    """Misses in every tier served from a value a fan-out was still copying to the lower tiers."""
    revalidations: int = 0
    """Stale entries revalidated with the origin before answering (past their stale-while-revalidate window)."""
    stale_if_error_hits: int = 0
    """Stale entries served because their revalidation failed, inside their stale-if-error window."""
    fleet_leases: int = 0
    """Misses in every tier that took the fleet's lease of the key and fetched it (rule Y2)."""
    fleet_waits: int = 0
    """Misses that waited for another instance's fetch instead of fetching (rule Y2)."""
    fleet_shared_hits: int = 0
    """Misses served from the shared tiers after another instance published the value (rule Y2)."""
    fleet_errors: int = 0
    """Redis calls of the coordinator that failed; each makes it unavailable for ``retry_after`` (rule Y7)."""
    fleet_invalidations_sent: int = 0
    """Invalidations this instance sent to the fleet (rule Y5)."""
    fleet_invalidations_applied: int = 0
    """Invalidations from other instances applied to the local tiers (rule Y5)."""
    fleet_resyncs: int = 0
    """Times the local tiers were dropped because missed invalidations could not be replayed (rule Y6)."""

    def as_dict(self) -> dict[str, object]:
        """Plain dict form, with ``tiers`` as a list of dicts."""
        result = dataclasses.asdict(self)
        result["tiers"] = [dataclasses.asdict(tier) for tier in self.tiers]
        return result


class Stat(enum.IntEnum):
    """The counters of :class:`CacheStats`, one member a field (``Stat.FANOUTS_FAILED`` counts ``fanouts_failed``).

    Members index the recorder's list of counts.  A misspelt counter fails
    the type check (mypy) instead of raising on the rare path that counts it.
    """

    ORIGIN_FETCHES = 0
    NEGATIVE_HITS = enum.auto()
    STALE_HITS = enum.auto()
    REFRESHES_SCHEDULED = enum.auto()
    REFRESHES_COMPLETED = enum.auto()
    REFRESHES_FAILED = enum.auto()
    REFRESHES_REJECTED = enum.auto()
    COALESCED_WAITERS = enum.auto()
    FILLS_STARTED = enum.auto()
    FILLS_PUBLISHED = enum.auto()
    FILLS_ABORTED = enum.auto()
    FANOUTS = enum.auto()
    FANOUTS_FAILED = enum.auto()
    FANOUTS_REJECTED = enum.auto()
    FANOUTS_SUPERSEDED = enum.auto()
    TRANSIT_HITS = enum.auto()
    REVALIDATIONS = enum.auto()
    STALE_IF_ERROR_HITS = enum.auto()
    FLEET_LEASES = enum.auto()
    FLEET_WAITS = enum.auto()
    FLEET_SHARED_HITS = enum.auto()
    FLEET_ERRORS = enum.auto()
    FLEET_INVALIDATIONS_SENT = enum.auto()
    FLEET_INVALIDATIONS_APPLIED = enum.auto()
    FLEET_RESYNCS = enum.auto()


class TierStat(enum.IntEnum):
    """The counters of :class:`TierStats`, one member a field, as :class:`Stat` is for :class:`CacheStats`."""

    HITS = 0
    MISSES = enum.auto()
    ERRORS = enum.auto()
    PROMOTIONS = enum.auto()


_NAMES = tuple(member.name.lower() for member in Stat)
_TIER_NAMES = tuple(member.name.lower() for member in TierStat)


class StatsRecorder:
    """Thread-safe, exact counters; ``snapshot()`` returns a :class:`CacheStats`.

    Counting runs on every cache hit, so the lock is taken with
    ``acquire``/``release`` (about half the cost of ``with`` on CPython 3.11).
    Counters are lists indexed by :class:`Stat` and :class:`TierStat` members.
    """

    __slots__ = ("_counts", "_hits", "_lock", "_tiers")

    def __init__(self, tiers: int) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * len(Stat)
        self._tiers = [[0] * tiers for _ in TierStat]
        self._hits = self._tiers[TierStat.HITS]

    def add(self, counter: Stat, amount: int = 1) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._counts[counter] += amount
        finally:
            lock.release()

    def tier(self, tier: int, counter: TierStat) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._tiers[counter][tier] += 1
        finally:
            lock.release()

    def tier0_hit(self) -> None:
        """``tier(0, TierStat.HITS)``, for the hot path (one lookup fewer)."""
        lock = self._lock
        lock.acquire()
        try:
            self._hits[0] += 1
        finally:
            lock.release()

    def snapshot(self) -> CacheStats:
        with self._lock:
            tiers = tuple(
                TierStats(**{name: counts[tier] for name, counts in zip(_TIER_NAMES, self._tiers, strict=True)})
                for tier in range(len(self._hits))
            )
            return CacheStats(tiers, **dict(zip(_NAMES, self._counts, strict=True)))
