"""``CacheMiddleware``: an ASGI application's own GET and HEAD responses, cached as ``daramjwee serve`` caches."""

from __future__ import annotations

import math
from typing import Any

from ... import AsyncCache
from ...server._asgi import Receive, Scope, Send
from ...server._cache_rules import StorePolicy
from ...server._front import refusal
from ...server._http_proxy import HttpCaching, Request
from ...server._paths import BadTarget, memoized_cache_key
from ._app_origin import AppOrigin

__all__ = ["CacheMiddleware"]


class CacheMiddleware:
    """ASGI middleware: a shared HTTP cache (RFC 9111) of ``app``'s responses, on the tier chain of ``cache``.

    The rules are those of ``daramjwee serve`` (the same code,
    :class:`~daramjwee.server._http_proxy.HttpCaching`), with ``app`` as the
    origin, called in the same process:

    * ``GET`` and ``HEAD`` go through the cache.  A response is stored when
      RFC 9111 lets a shared cache store it: not for a request with
      ``Authorization`` (unless the response says ``public``, ``s-maxage``
      or ``must-revalidate``), not when it says ``private`` or ``no-store``,
      not with ``Set-Cookie`` (unless ``store_set_cookie``; the cookie itself
      is never stored), not a status that is not cacheable (a 500).  Each
      stored response is fresh for its ``s-maxage``, ``max-age`` or
      ``Expires``; a response stating none is fresh ``default_fresh_for``
      seconds (``None``, the default: it is not stored, unless its
      ``Last-Modified`` gives a heuristic freshness); ``fresh_for_override``
      imposes one freshness on every storable response.  ``Vary`` keeps one
      response per variant; ``ETag``/``Last-Modified`` revalidate a stale
      one with the app (which sees ``If-None-Match``/``If-Modified-Since``
      and may answer 304); conditional and range requests are answered from
      the cache.  Each answer says ``X-Cache: HIT tier=N``, ``MISS``,
      ``STALE``, ``REVALIDATED``...
    * Other methods pass through to ``app`` (``X-Cache: PASS``); a 2xx or
      3xx answer to an unsafe one (``POST``, ``PUT``, ``DELETE``...)
      invalidates the stored response of its path, and of the paths its
      ``Location`` and ``Content-Location`` name.
    * ``websocket``, ``lifespan`` and other scopes go straight to ``app``, and
      so do requests whose target cannot be a cache key (a ``..`` segment,
      an encoded ``/``, longer than ``max_target_length``...: see
      :func:`~daramjwee.server._paths.cache_key`) or that are framed
      ambiguously (two ``Host`` fields...): those are neither cached nor
      invalidate anything.

    The cache key is the request path (``scope["raw_path"]``, normalized;
    under a ``root_path`` the full path, as ASGI servers give it), plus the
    query with its parameters sorted when ``include_query`` (the default;
    without it the query is ignored, and the app never sees it on a cached
    request).  The cache is shared by every client and ``Host``.  There are
    no ``/healthz`` or ``/metrics`` routes: every path is the app's
    (``cache.stats()`` has the counters).

    When the cache asks ``app`` for a response, the app's scope is the
    client request's scope (``app``, ``state``, ``root_path``, ``client``,
    ``scheme``...) with the cache's method, path, query and fields: the
    client's fields without the conditional and range ones (the cache adds
    its own validators), and no ``extensions``.  The response streams to the
    client as ``app`` sends it, while the cache stores it.  A client that
    disconnects mid-body stops it: the unfinished copy is discarded, never
    published, and ``app``'s call is cancelled and awaited.  An exception
    ``app`` raises propagates unchanged (to the framework's error handling
    outside the middleware), and nothing is stored.

    The caller owns ``cache`` (close it at shutdown, in the lifespan); the
    middleware closes nothing.  ``chunk_size`` is the most bytes read from
    the cache per body message.  Bad arguments raise ``TypeError`` or
    ``ValueError`` before anything is kept.
    """

    def __init__(
        self,
        app: Any,
        *,
        cache: AsyncCache,
        include_query: bool = True,
        default_fresh_for: float | None = None,
        fresh_for_override: float | None = None,
        store_set_cookie: bool = False,
        max_target_length: int = 8192,
        chunk_size: int = 1024 * 1024,
    ) -> None:
        if not isinstance(cache, AsyncCache):
            raise TypeError(f"cache must be a daramjwee.AsyncCache, got {type(cache).__name__}")
        if not callable(app):
            raise TypeError(f"app must be an ASGI application (a callable), got {type(app).__name__}")
        for name, seconds in (("default_fresh_for", default_fresh_for), ("fresh_for_override", fresh_for_override)):
            if seconds is not None and (
                isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf
            ):
                raise ValueError(f"{name} must be None or a number of seconds >= 0, got {seconds!r}")
        for name, size in (("max_target_length", max_target_length), ("chunk_size", chunk_size)):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        self.app = app
        self.cache = cache
        self.include_query = bool(include_query)
        self.max_target_length = max_target_length
        self.origin = AppOrigin(app)
        policy = StorePolicy(
            default_fresh_for=default_fresh_for,
            override_fresh_for=fresh_for_override,
            store_set_cookie=bool(store_set_cookie),
        )
        # In the same process nothing is forwarded: no Via, and the client's X-Forwarded-* reach the app as sent.
        self._caching = HttpCaching(cache, self.origin, policy, chunk_size=chunk_size, via=None, forwarded="off")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or refusal(scope.get("headers", ())) is not None:
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            key = memoized_cache_key(
                raw_path, scope.get("query_string", b""), self.include_query, self.max_target_length
            )
        except BadTarget:
            await self.app(scope, receive, send)
            return
        with self.origin.answering(scope):
            await self._caching.handle(Request.of_scope(scope, key), receive, send)
