"""When an entry is stale, and what a stale entry may still be used for.  Pure functions, no clock reads.

An entry's own freshness fields (:class:`Metadata` ``fresh_for``,
``stale_while_revalidate``, ``stale_if_error``, ``must_revalidate``) win over
the cache-wide defaults passed in as ``fresh_for``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._metadata import Metadata

__all__ = ["ReadRules", "is_stale", "may_serve_on_error", "must_revalidate_first", "revalidate_first"]


def is_stale(metadata: Metadata, fresh_for: float | None, now: float) -> bool:
    """Whether ``metadata`` is stale at ``now`` (epoch seconds).

    The lifetime is the entry's own ``fresh_for`` when it has one, else the
    default ``fresh_for``; ``None`` never goes stale.  Otherwise an entry is
    stale when the lifetime is 0 (always revalidate), when ``cached_at`` is 0
    (unknown age), or when ``now`` is past ``cached_at + lifetime``.
    """
    own = metadata.fresh_for
    if own is not None:
        fresh_for = own
    if fresh_for is None:
        return False
    cached_at = metadata.cached_at
    return fresh_for == 0 or cached_at == 0 or now > cached_at + fresh_for


def _stale_for(metadata: Metadata, fresh_for: float | None, now: float) -> float:
    """Seconds a stale entry has been stale at ``now`` (infinite when its age is unknown)."""
    own = metadata.fresh_for
    lifetime = own if own is not None else fresh_for or 0.0
    if metadata.cached_at == 0:
        return float("inf")
    return max(now - (metadata.cached_at + lifetime), 0.0)


def must_revalidate_first(
    metadata: Metadata, fresh_for: float | None, now: float, max_stale: float | None = None
) -> bool:
    """Whether a stale entry must be revalidated with the origin before it is served.

    True when the entry says ``must_revalidate``, or when it is past its own
    ``stale_while_revalidate`` window, widened to ``max_stale`` seconds when
    the read accepts that much staleness (an HTTP request's ``max-stale``);
    an entry without a window (``None``) is served stale while a background
    refresh runs, however long ago it went stale.
    """
    if metadata.must_revalidate:
        return True
    window = metadata.stale_while_revalidate
    if window is None:
        return False
    if max_stale is not None and max_stale > window:
        window = max_stale
    return _stale_for(metadata, fresh_for, now) > window


def may_serve_on_error(metadata: Metadata, fresh_for: float | None, now: float) -> bool:
    """Whether a stale entry may answer a read whose revalidation failed (its ``stale_if_error`` window)."""
    window = metadata.stale_if_error
    if metadata.must_revalidate or not window:
        return False
    return _stale_for(metadata, fresh_for, now) <= window


def revalidate_first(
    rules: ReadRules | None, metadata: Metadata, fresh_for: float | None, now: float, stale: bool
) -> bool:
    """Whether a read under ``rules`` (``None``: the cache's own rules only) must revalidate a positive entry first."""
    if rules is None:
        return stale and must_revalidate_first(metadata, fresh_for, now)
    return rules.revalidate_first(metadata, fresh_for, now, stale)


@dataclasses.dataclass(frozen=True, slots=True)
class ReadRules:
    """What one read asks of a stored entry besides the cache's own rules (``get``'s arguments, checked).

    ``revalidate_if(metadata)`` true makes the read revalidate the entry
    first; ``max_stale`` is the staleness the read accepts without a
    revalidation (never past ``must_revalidate``).
    """

    revalidate_if: Callable[[Metadata], bool] | None = None
    max_stale: float | None = None

    def revalidate_first(self, metadata: Metadata, fresh_for: float | None, now: float, stale: bool) -> bool:
        """Whether the read must revalidate ``metadata``'s entry before serving it."""
        predicate = self.revalidate_if
        if predicate is not None and predicate(metadata):
            return True
        return stale and must_revalidate_first(metadata, fresh_for, now, self.max_stale)
