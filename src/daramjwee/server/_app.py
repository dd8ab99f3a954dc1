"""``CacheApp``: the tier chain as an ASGI application (HTTP GET and HEAD through an ``AsyncCache``).

The app speaks ASGI 3 and runs in any ASGI server (``daramjwee serve`` runs
it on granian) or inside another ASGI app.  It only ever contacts its
configured :class:`~daramjwee.server._origin_types.Origin`: the request target is
reduced to a normalized path (:func:`~daramjwee.server._paths.cache_key`),
and neither the ``Host`` header nor an absolute-form target can name another
server.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Collection, Iterable

from .. import AsyncCache, AsyncFetcher, AsyncResponse, FetchResult, Metadata, NotFound, Status
from ._asgi import Message, Receive, Scope, Send
from ._cache_rules import StorePolicy
from ._fields import check_forwarding, http_now
from ._front import refusal
from ._http_proxy import HttpCaching, Request, answer_text, stream_body
from ._metrics import RequestMetrics
from ._origin_types import REPRESENTATION_ATTRS, Origin, OriginError
from ._paths import BadTarget, memoized_cache_key
from ._upstream import HttpSender

__all__ = ["CacheApp"]


_logger = logging.getLogger("daramjwee.server")

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
_HEALTH = HEALTH_PATH.encode()
_METRICS = METRICS_PATH.encode()
_METHODS = ("GET", "HEAD")
_CARRIED_ATTRS = tuple((name, name.encode()) for name in REPRESENTATION_ATTRS)


class CacheApp:
    """An ASGI application serving requests through ``cache`` from ``origin``.

    **An HTTP origin** (one with ``send``: :class:`~daramjwee.server._upstream.HttpSender`)
    is cached as a shared HTTP cache (RFC 9111) does, by
    :class:`~daramjwee.server._http_proxy.HttpCaching` under ``policy``:
    responses are stored with their status and end-to-end header fields
    when the rules allow it, each with its own freshness; request fields are
    forwarded; other methods pass through to the origin (405 with
    ``read_only``) and invalidate what they change.

    **A directory or object-storage origin** serves ``GET``/``HEAD`` of its
    files as described below (other methods get 405).

    Every path but ``/healthz`` and ``/metrics`` is a cache key (see
    :func:`~daramjwee.server._paths.cache_key`; with ``include_query`` the
    sorted query is part of it).  Responses stream as the bytes arrive; the
    ``X-Cache`` header says ``HIT tier=N``, ``STALE tier=N``, ``MISS`` or
    ``NEGATIVE``.  ``ETag``, ``Content-Type``, ``Content-Length``,
    ``Last-Modified`` and ``Content-Encoding`` come from the entry's
    metadata; ``If-None-Match`` that matches answers 304.  The origin's
    "not found" is cached (negative entry) and answered 404; an origin
    failure is answered 502 (504 on a timeout) and never cached.

    ``via`` names this proxy in the ``Via`` field of what it forwards to an
    HTTP origin (``1.1 via``); ``forwarded`` is ``"append"`` (the client's
    ``X-Forwarded-For`` chain plus its address), ``"replace"`` (only the
    address this proxy saw) or ``"off"`` (no ``X-Forwarded-*`` fields at
    all); a bad value raises ``ValueError``.

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
        policy: StorePolicy | None = None,
        read_only: bool = False,
        via: str = "daramjwee",
        forwarded: str = "append",
    ) -> None:
        check_forwarding(via, forwarded)  # before anything is kept
        self.cache = cache
        self.origin = origin
        self.include_query = include_query
        self.allowed_hosts = None if allowed_hosts is None else frozenset(host.lower() for host in allowed_hosts)
        self.max_target_length = max_target_length
        self.chunk_size = chunk_size
        self.metrics = RequestMetrics()
        self.tier_names = tuple(tier_names)
        self._closed = False
        self._proxy = (
            HttpCaching(
                cache,
                origin,
                policy or StorePolicy(),
                chunk_size=chunk_size,
                read_only=read_only,
                via=f"1.1 {via}",
                forwarded=forwarded,
            )
            if isinstance(origin, HttpSender)
            else None
        )

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
                method=method,
                status=status,
                outcome=outcome,
                seconds=time.perf_counter() - started,
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> tuple[str, int]:
        """Answer one request; return its (outcome, status) for the metrics."""
        raw_headers = scope.get("headers", ())
        if (why := refusal(raw_headers)) is not None:  # before any header is believed
            return "other", await answer_text(send, 400, f"{why}\n", [("connection", "close")])
        if self.allowed_hosts is not None and _host(_header(raw_headers, b"host")) not in self.allowed_hosts:
            return "other", await answer_text(send, 421, "this server does not serve that host\n")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        if raw_path == _HEALTH:
            return "other", await answer_text(send, 200, "ok\n")
        if raw_path == _METRICS:
            text = self.metrics.render(self.cache.stats(), tier_names=self.tier_names)
            return "other", await answer_text(send, 200, text, content_type="text/plain; version=0.0.4; charset=utf-8")
        method: str = scope["method"]
        if self._proxy is None and method not in _METHODS:
            return "other", await answer_text(send, 405, "only GET and HEAD\n", [("allow", "GET, HEAD")])
        query: bytes = scope.get("query_string", b"")
        try:
            key = memoized_cache_key(raw_path, query, self.include_query, self.max_target_length)
        except BadTarget as error:
            return "other", await answer_text(send, error.status, f"{error}\n")
        if self._proxy is not None:
            return await self._proxy.handle(Request.of_scope(scope, key), receive, send)
        return await self._serve(key, method == "HEAD", _header(raw_headers, b"if-none-match"), receive, send)

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
            return outcome, await answer_text(send, 404, "not found\n", [("x-cache", outcome.upper())])
        except OriginError as error:
            _logger.warning("origin failed for %r: %s", key, error, extra={"key": key})
            return "error", await answer_text(send, error.status, "origin failed\n", [("x-cache", "MISS")])
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
            await stream_body(response, receive, send, self.chunk_size)
            return outcome, 200


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
    headers = [(b"date", http_now(time.time()).encode("ascii")), (b"x-cache", label)]
    if metadata.etag:
        headers.append((b"etag", metadata.etag.encode("latin-1", "replace")))
    attrs = metadata.attrs
    for name, header in _CARRIED_ATTRS:
        value = attrs.get(name)
        if value is not None and (body or name == "last-modified"):
            headers.append((header, value.encode("latin-1", "replace")))
    return {"type": "http.response.start", "status": status, "headers": headers}


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of the (raw ASGI) header ``name``, its last line when repeated; ``None`` when absent."""
    found = None
    for key, value in headers:
        if key == name or key.lower() == name:
            found = value
    return found


@functools.lru_cache(maxsize=256)
def _host(value: bytes | None) -> str:
    """The ``Host`` header's host, lowercase, without the port (IPv6 brackets removed); memoized."""
    host = (value or b"").decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
