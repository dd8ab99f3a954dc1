"""Validation of cache keys."""

from __future__ import annotations

from ._tags import RESERVED_PREFIX

__all__ = ["check_key"]


def check_key(key: object) -> str:
    """Return ``key`` if it is a non-empty ``str``; raise ``TypeError``/``ValueError`` otherwise.

    Any other string is a valid key, including ones with ``/``, ``..``, NUL or
    thousands of characters: stores must map every key safely; except the
    keys the cache keeps for itself (rule Q6), which start with NUL and
    ``daramjwee:`` (``ValueError``).
    """
    if not isinstance(key, str):
        raise TypeError(f"cache keys must be str, got {type(key).__name__}: {key!r:.80}")
    if not key:
        raise ValueError("cache keys must be non-empty strings")
    if key.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"keys starting with {RESERVED_PREFIX!r} are reserved for the cache's own entries: {key!r:.80}"
        )
    return key if type(key) is str else str(key)
