"""The checks of ``get``'s arguments, shared by the whole-value walk and the ranged walk (both flavours)."""

from __future__ import annotations

__all__ = ["check_read_arguments"]


def check_read_arguments(fetch: object, if_none_match: object, revalidate_if: object) -> None:
    """Raise ``TypeError`` for a ``get`` argument of the wrong kind (before the read changes anything)."""
    if if_none_match is not None and not isinstance(if_none_match, str):
        raise TypeError(
            f"if_none_match must be a str (an If-None-Match header value) or None, got {type(if_none_match).__name__}"
        )
    if not callable(fetch):
        raise TypeError(f"fetch must be a callable fetch(old) -> FetchResult, got {type(fetch).__name__}")
    if revalidate_if is not None and not callable(revalidate_if):
        raise TypeError(f"revalidate_if must be a callable or None, got {type(revalidate_if).__name__}")
