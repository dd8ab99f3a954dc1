"""The tier chain in front of an ASGI application (Starlette, FastAPI, any ASGI 3 app).

* :class:`CacheMiddleware` caches the wrapped application's own ``GET`` and
  ``HEAD`` responses with the RFC 9111 rules of ``daramjwee serve``.  It
  needs only the core (no granian, httpx or Starlette).
* :class:`CachedResponse` is a Starlette ``Response`` that streams a value
  of ``AsyncCache.get`` from an endpoint (Starlette or FastAPI), owning and
  closing it.  Importing it imports Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._middleware import CacheMiddleware

if TYPE_CHECKING:
    from ._response import CachedResponse

__all__ = ["CacheMiddleware", "CachedResponse"]


def __getattr__(name: str) -> Any:
    if name == "CachedResponse":  # imports Starlette only when asked for
        from ._response import CachedResponse  # noqa: PLC0415

        return CachedResponse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
