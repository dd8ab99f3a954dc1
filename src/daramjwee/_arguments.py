"""The checks of ``get``'s arguments, shared by the whole-value walk and the ranged walk (both flavours)."""

from __future__ import annotations

import math

from ._freshness import ReadRules

__all__ = ["check_read_arguments", "read_rules"]


def check_read_arguments(fetch: object, if_none_match: object) -> None:
    """Raise ``TypeError`` for a ``get`` argument of the wrong kind (before the read changes anything)."""
    if if_none_match is not None and not isinstance(if_none_match, str):
        raise TypeError(
            f"if_none_match must be a str (an If-None-Match header value) or None, got {type(if_none_match).__name__}"
        )
    if not callable(fetch):
        raise TypeError(f"fetch must be a callable fetch(old) -> FetchResult, got {type(fetch).__name__}")


def read_rules(revalidate_if: object, max_stale: object) -> ReadRules:
    """``get``'s ``revalidate_if`` and ``max_stale``, checked (``TypeError``/``ValueError`` naming the argument)."""
    if revalidate_if is not None and not callable(revalidate_if):
        raise TypeError(f"revalidate_if must be a callable or None, got {type(revalidate_if).__name__}")
    if max_stale is not None:
        if isinstance(max_stale, bool) or not isinstance(max_stale, int | float):
            raise TypeError(f"max_stale must be a number of seconds or None, got {type(max_stale).__name__}")
        if not 0 <= max_stale < math.inf:
            raise ValueError(f"max_stale must be a finite number of seconds >= 0, got {max_stale!r}")
        max_stale = float(max_stale)
    return ReadRules(revalidate_if, max_stale)
