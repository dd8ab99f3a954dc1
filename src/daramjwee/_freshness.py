"""When an entry is stale (SPEC §3.2).  Pure functions, no clock reads."""

from __future__ import annotations

from ._metadata import Metadata

__all__ = ["is_stale"]


def is_stale(metadata: Metadata, fresh_for: float | None, now: float) -> bool:
    """Whether ``metadata`` is stale at ``now`` (epoch seconds).

    ``fresh_for=None`` never goes stale.  Otherwise an entry is stale when
    ``fresh_for`` is 0 (always revalidate), when ``cached_at`` is 0 (unknown
    age), or when ``now`` is past ``cached_at + fresh_for``.
    """
    if fresh_for is None:
        return False
    cached_at = metadata.cached_at
    return fresh_for == 0 or cached_at == 0 or now > cached_at + fresh_for
