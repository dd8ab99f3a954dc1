"""``CacheApp``: the tier chain as an ASGI application (HTTP GET and HEAD through an ``AsyncCache``).

The app speaks ASGI 3 and runs in any ASGI server (``daramjwee serve`` runs
it on uvicorn) or inside another ASGI app.  It only ever contacts its
configured :class:`~daramjwee.server._origins.Origin`: the request target is
reduced to a normalized path (:func:`~daramjwee.server._paths.cache_key`),
and neither the ``Host`` header nor an absolute-form target can name another
server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from .._async._cache import AsyncCache, AsyncFetcher
from .._async._response import AsyncResponse
from .._errors import NotFound
from .._metadata import FetchResult, Metadata, Status
from ._front import refusal
from ._metrics import RequestMetrics
from ._origins import Origin, OriginError
from ._paths import BadTarget, cache_key

__all__ = ["CacheApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_logger = logging.getLogger("daramjwee.server")

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
_METHODS = ("GET", "HEAD")
_CARRIED_ATTRS = (
    ("content-type", b"content-type"),
    ("content-length", b"content-length"),
    ("last-modified", b"last-modified"),
    ("content-encoding", b"content-encoding"),
)


class CacheApp:
    """An ASGI application serving ``GET``/``HEAD`` of paths through ``cache`` from ``origin``.

    Every path but ``/healthz`` and ``/metrics`` is a cache key (see
    :func:`~daramjwee.server._paths.cache_key`; with ``include_query`` the
    sorted query is part of it).  Responses stream as the bytes arrive; the
    ``X-Cache`` header says ``HIT tier=N``, ``STALE tier=N``, ``MISS`` or
    ``NEGATIVE``.  ``ETag``, ``Content-Type``, ``Content-Length``,
    ``Last-Modified`` and ``Content-Encoding`` come from the entry's
    metadata; ``If-None-Match`` that matches answers 304.  The origin's
    "not found" is cached (negative entry) and answered 404; an origin
    failure is answered 502 (504 on a timeout) and never cached.

    ``allowed_hosts``: the ``Host`` values (without port) the app answers;
    another gets 421.  ``None`` answers every host.  A client that
    disconnects mid-body ends the response: an unfinished fill or promotion
    is discarded, never published.  A ``HEAD`` that misses reads the body
    from the origin (unsent) so the cache still fills.

    The app owns ``cache`` and ``origin``: the ASGI lifespan shutdown (or
    :meth:`aclose`) closes both.
    """

    def __init__(
        self,
        cache: AsyncCache,
        origin: Origin,
        *,
        include_query: bool = False,
        allowed_hosts: Collection[str] | None = None,
        max_target_length: int = 8192,
        chunk_size: int = 1024 * 1024,
        tier_names: Collection[str] = (),
    ) -> None:
        self.cache = cache
        self.origin = origin
        self.include_query = include_query
        self.allowed_hosts = None if allowed_hosts is None else frozenset(host.lower() for host in allowed_hosts)
        self.max_target_length = max_target_length
        self.chunk_size = chunk_size
        self.metrics = RequestMetrics()
        self.tier_names = tuple(tier_names)
        self._closed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websocket and other scopes: returning without accepting refuses them

    async def aclose(self) -> None:
        """Close the cache, then the origin; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.cache.close()
        finally:
            await self.origin.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.aclose()
                except Exception as error:
                    await send({"type": "lifespan.shutdown.failed", "message": repr(error)})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        outcome, status = "other", 500
        try:
            outcome, status = await self._handle(scope, receive, send)
        finally:
            self.metrics.observe(
                method=method if method in _METHODS else "OTHER",
                status=status,
                outcome=outcome,
                seconds=time.perf_counter() - started,
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> tuple[str, int]:
        """Answer one request; return its (outcome, status) for the metrics."""
        if (why := refusal(scope.get("headers", ()))) is not None:  # before any header is believed
            return "other", await _plain(send, 400, f"{why}\n", extra=[(b"connection", b"close")])
        headers = _headers(scope)
        if self.allowed_hosts is not None and _host(headers) not in self.allowed_hosts:
            return "other", await _plain(send, 421, "this server does not serve that host\n")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        if raw_path == HEALTH_PATH.encode():
            return "other", await _plain(send, 200, "ok\n")
        if raw_path == METRICS_PATH.encode():
            text = self.metrics.render(self.cache.stats(), tier_names=self.tier_names)
            return "other", await _plain(send, 200, text, content_type=b"text/plain; version=0.0.4; charset=utf-8")
        method: str = scope["method"]
        if method not in _METHODS:
            return "other", await _plain(send, 405, "only GET and HEAD\n", extra=[(b"allow", b"GET, HEAD")])
        try:
            key = _cache_key(raw_path, scope.get("query_string", b""), self.include_query, self.max_target_length)
        except BadTarget as error:
            return "other", await _plain(send, error.status, f"{error}\n")
        return await self._serve(key, method == "HEAD", headers.get(b"if-none-match"), receive, send)

    async def _serve(
        self, key: str, head_only: bool, if_none_match: bytes | None, receive: Receive, send: Send
    ) -> tuple[str, int]:
        fetched = _Called(self.origin.fetcher(key))
        try:
            response = await self.cache.get(
                key, fetched, if_none_match=None if if_none_match is None else if_none_match.decode("latin-1")
            )
        except NotFound:
            outcome = "miss" if fetched.called else "negative"
            return outcome, await _plain(send, 404, "not found\n", extra=[(b"x-cache", outcome.upper().encode())])
        except OriginError as error:
            _logger.warning("origin failed for %r: %s", key, error, extra={"key": key})
            return "error", await _plain(send, error.status, "origin failed\n", extra=[(b"x-cache", b"MISS")])
        async with response:
            outcome, label = _outcome(response)
            if response.status is Status.NOT_MODIFIED:
                await send(_start(304, response.metadata, label, body=False))
                await send({"type": "http.response.body", "body": b""})
                return "not_modified", 304
            await send(_start(200, response.metadata, label, body=True))
            if head_only:
                if response.source is None:
                    while await response.read(self.chunk_size):  # fill the cache, send nothing
                        pass
                await send({"type": "http.response.body", "body": b""})
                return outcome, 200
            await self._stream(response, receive, send)
            return outcome, 200

    async def _stream(self, response: AsyncResponse, receive: Receive, send: Send) -> None:
        """Send the body chunk by chunk; stop (and let the response discard its copies) if the client leaves.

        A hit whose declared length fits in one chunk is one read and one
        send: there is nothing to stop midway, so no disconnect watcher.
        """
        length = response.metadata.declared_length
        if response.source is not None and length is not None and length <= self.chunk_size:
            await send({"type": "http.response.body", "body": await response.read()})
            return
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            while chunk := await response.read(self.chunk_size):
                if disconnected.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not disconnected.done():
                await send({"type": "http.response.body", "body": b""})
        finally:
            disconnected.cancel()


@functools.lru_cache(maxsize=8192)
def _cache_key(raw_path: bytes, query: bytes, include_query: bool, max_length: int) -> str:
    """:func:`cache_key`, memoized: popular paths are normalized once (a refused target raises every time)."""
    return cache_key(raw_path, query, include_query=include_query, max_length=max_length)


class _Called:
    """A fetcher that remembers whether the cache called it (a 404 then came from the origin, not the cache)."""

    __slots__ = ("called", "fetch")

    def __init__(self, fetch: AsyncFetcher) -> None:
        self.fetch = fetch
        self.called = False

    def __call__(self, old: Metadata | None) -> Awaitable[FetchResult]:
        self.called = True
        return self.fetch(old)


def _outcome(response: AsyncResponse) -> tuple[str, bytes]:
    """The metrics outcome and the ``X-Cache`` value of a response."""
    if response.source is None:
        return "miss", b"MISS"
    if response.stale:
        return "stale", b"STALE tier=%d" % response.source
    return "hit", b"HIT tier=%d" % response.source


def _start(status: int, metadata: Metadata, label: bytes, *, body: bool) -> Message:
    headers = [(b"x-cache", label)]
    if metadata.etag:
        headers.append((b"etag", metadata.etag.encode("latin-1", "replace")))
    attrs = metadata.attrs
    for name, header in _CARRIED_ATTRS:
        value = attrs.get(name)
        if value is not None and (body or name == "last-modified"):
            headers.append((header, value.encode("latin-1", "replace")))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _plain(
    send: Send,
    status: int,
    text: str,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> int:
    body = text.encode("utf-8")
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request headers by lowercase name (a repeated header keeps its last value)."""
    return {name.lower(): value for name, value in scope.get("headers", ())}


def _host(headers: dict[bytes, bytes]) -> str:
    """The ``Host`` header's host, lowercase, without the port (IPv6 brackets removed)."""
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
