"""Validation of cache keys."""

from __future__ import annotations

__all__ = ["check_key"]


def check_key(key: object) -> str:
    """Return ``key`` if it is a non-empty ``str``; raise ``TypeError``/``ValueError`` otherwise.

    Any other string is a valid key, including ones with ``/``, ``..``, NUL or
    thousands of characters: stores must map every key safely.
    """
    if not isinstance(key, str):
        raise TypeError(f"cache keys must be str, got {type(key).__name__}: {key!r:.80}")
    if not key:
        raise ValueError("cache keys must be non-empty strings")
    return key if type(key) is str else str(key)
