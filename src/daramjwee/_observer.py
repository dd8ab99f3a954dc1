"""The observer hook of a cache (``observer=``): what reads and origin fetches report, for metrics and traces.

An :class:`Observer` is told, synchronously and on the thread or task doing
the work, when a ``get`` ends (its outcome, the tier that answered, its
latency), and when the cache reads a tier or calls the origin (a
:class:`Probe` it starts and the cache ends).  ``daramjwee.contrib.otel``
implements one for OpenTelemetry.  Counters the cache keeps anyway are in
``cache.stats()``; the observer is for what those cannot say.

Rule E3: with ``observer=None`` (the default) a fresh hit of a memory
tier 0 pays one ``is None`` test and nothing else.  An observer that raises is
logged (``logger.exception``) and never changes what the read returns or
raises.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Literal, Protocol, TypeAlias

from ._errors import CacheableNotFound, NotModified

__all__ = [
    "CURRENT_READ",
    "OBSERVER_METHODS",
    "FetchOutcome",
    "Observer",
    "Probe",
    "ReadNote",
    "ReadOutcome",
    "TierOutcome",
    "end_probe",
    "fetch_failure",
    "noted",
    "read_outcome",
    "report_read",
    "start_origin_fetch",
    "start_tier_read",
]

ReadOutcome: TypeAlias = Literal["hit", "stale", "revalidated", "coalesced", "miss", "negative", "error"]
"""How a ``get`` ended.

- ``hit``: a fresh entry of a tier (or a value a fan-out was copying down).
- ``stale``: a stale entry served as it is (stale-while-revalidate, or stale-if-error after a failed revalidation).
- ``revalidated``: a stored entry served after the origin answered ``NotModified``.
- ``coalesced``: a concurrent miss (or revalidation) served what another caller's fetch published.
- ``miss``: the origin's body (a miss, a revalidation that brought a new value, a coalesced wait that ran out).
- ``negative``: ``NotFound`` raised (a negative entry, or the origin said ``CacheableNotFound``).
- ``error``: any other exception (a failing fetcher, a bad argument, a closed cache).
"""
TierOutcome: TypeAlias = Literal["hit", "miss", "negative", "error"]
"""How one tier read ended: an entry, none, a negative entry, or a failure (logged and counted, rule T2)."""
FetchOutcome: TypeAlias = Literal["ok", "not_modified", "not_found", "error"]
"""How one origin fetch ended: a ``FetchResult``, ``NotModified``, ``CacheableNotFound``, anything else raised."""

OBSERVER_METHODS = ("read_done", "tier_read", "origin_fetch")


class Probe(Protocol):
    """One tier read or origin fetch under way, started by the observer; the cache ends it exactly once."""

    def end(self, outcome: str, error: BaseException | None) -> None:
        """The operation ended with ``outcome`` (a :data:`TierOutcome` or :data:`FetchOutcome`).

        ``error`` is the exception for outcome ``error``: the fetcher's, or
        a cancellation; ``None`` for any other outcome, and for a tier whose
        failure the cache already logged and counted (rule T2).  Called
        in the same thread or task, and the same context, as the call that
        started the probe, so a probe may make itself current meanwhile.
        """
        ...


class Observer(Protocol):
    """What a cache reports to its ``observer``; every method is called synchronously and must not block.

    Each method is called on the thread (``Cache``) or task (``AsyncCache``)
    doing the work, inside the caller's context (contextvars, so the current
    span of a tracer), and may raise: the cache logs it and carries on.
    """

    def read_done(self, outcome: ReadOutcome, tier: int | None, seconds: float, key: str) -> None:
        """A ``get`` (any form: ``get_bytes``, ``get_value``, a ranged get) ended.

        ``tier`` is the tier that answered, ``None`` when the origin did (and
        for ``error``, and for ``negative`` when the origin said it).
        ``seconds`` runs from the call of ``get`` to the response being handed
        back or the exception raised: time to first byte (a hit's first chunk
        is read ahead; a miss's body streams from the origin afterwards, and
        is not in it).  A ``get`` cancelled (or interrupted) is not reported;
        nor are ``peek`` and ``contains``, which are not reads of the origin.
        """
        ...

    def tier_read(self, tier: int, store: object, key: str) -> Probe:
        """The cache opens ``key`` in ``tier`` (``store``'s ``get_stream``, then its first chunk read ahead).

        Every tier a ``get`` or ``peek`` looks in, except a memory tier 0's
        fresh hit served from its in-memory table, which opens no stream, and
        a ranged hit read through the store's ``get_range``.
        """
        ...

    def origin_fetch(self, key: str, revalidating: bool) -> Probe:
        """The cache calls the fetcher of ``key``: a miss, a revalidation or a refresh (``revalidating``
        when the fetcher gets the stored metadata as ``old``).

        The probe ends when the fetcher returns or raises: the origin's body
        streams afterwards, to the caller and the fill, and is not in it.
        """
        ...


class ReadNote:
    """What the core learns about the ``get`` being observed that its response cannot say.

    Class attributes are the defaults: a note nobody writes (a hit) costs one
    allocation and no ``__init__`` call.
    """

    outcome: ReadOutcome | None = None
    tier: int | None = None


CURRENT_READ: ContextVar[ReadNote | None] = ContextVar("daramjwee_current_read", default=None)
"""The note of the observed ``get`` running in this context; ``None`` outside one, and while a fetcher runs."""


def noted(outcome: ReadOutcome, tier: int | None = None) -> None:
    """Record ``outcome`` (and the ``tier`` it came from) for the observed ``get`` of this context, if any."""
    note = CURRENT_READ.get()
    if note is not None:
        note.outcome = outcome
        note.tier = tier


def read_outcome(source: int | None, stale: bool, coalesced: bool, note: ReadNote) -> ReadOutcome:
    """The outcome of a ``get`` that returned a response served from ``source`` (``None``: the origin).

    ``coalesced`` is the response's: it waited for another request's fetch (in this process or the fleet).
    """
    if note.outcome is not None:
        return note.outcome
    if coalesced:
        return "coalesced"
    if source is None:
        return "miss"
    return "stale" if stale else "hit"


def report_read(
    observer: Observer, logger: logging.Logger, outcome: ReadOutcome, tier: int | None, seconds: float, key: str
) -> None:
    try:
        observer.read_done(outcome, tier, seconds, key)
    except Exception:
        logger.exception("observer %r failed in read_done; the read is unaffected", observer)


def start_tier_read(observer: Observer, logger: logging.Logger, tier: int, store: object, key: str) -> Probe | None:
    try:
        return observer.tier_read(tier, store, key)
    except Exception:
        logger.exception("observer %r failed in tier_read; the read is unaffected", observer)
        return None


def start_origin_fetch(observer: Observer, logger: logging.Logger, key: str, revalidating: bool) -> Probe | None:
    try:
        return observer.origin_fetch(key, revalidating)
    except Exception:
        logger.exception("observer %r failed in origin_fetch; the fetch is unaffected", observer)
        return None


def end_probe(probe: Probe | None, logger: logging.Logger, outcome: str, error: BaseException | None = None) -> None:
    if probe is None:
        return
    try:
        probe.end(outcome, error)
    except Exception:
        logger.exception("observer probe %r failed in end; the operation is unaffected", probe)


def fetch_failure(error: BaseException) -> tuple[FetchOutcome, BaseException | None]:
    """The outcome of an origin fetch that raised ``error``, and the error to report with it."""
    if isinstance(error, NotModified):
        return "not_modified", None
    if isinstance(error, CacheableNotFound):
        return "not_found", None
    return "error", error
