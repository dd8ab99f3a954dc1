"""``CacheMiddleware`` in front of a small ASGI reverse proxy to the suite's origin, served by uvicorn on loopback.

The reverse proxy (:class:`ReverseProxy`) is "the application": it forwards
each request (method, path and query, fields without the hop-by-hop ones,
body) to the origin with an ``httpx.AsyncClient`` and answers the origin's
status, fields (without the hop-by-hop ones) and body as they stream.
:class:`~daramjwee.contrib.asgi.CacheMiddleware` caches its responses, so the
suite sees the middleware's semantics through a real HTTP server.

The middleware runs with the options ``daramjwee serve`` runs with in the
harness where they correspond: a memory tier of ``--memory`` bytes, a
storable response stating no freshness (and no ``Last-Modified``) is fresh
60 s (serve's default ``--fresh-for``), the query in the key, ``Set-Cookie``
not stored, targets up to 8192 bytes.

Run by the harness as a script (``python middleware_proxy.py --origin URL
--port N --memory SIZE``); it needs ``daramjwee`` importable, httpx and uvicorn.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from daramjwee import AsyncCache, AsyncMemStore
from daramjwee.contrib.asgi import CacheMiddleware

__all__ = ["ReverseProxy", "build", "main"]

DEFAULT_FRESH_FOR = 60.0
"""``daramjwee serve``'s default ``--fresh-for``: its ``StorePolicy.default_fresh_for`` in the harness."""

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent")
"""Fields httpx adds to a request of its own accord: sent only when the client sent them."""


def _end_to_end(fields: list[tuple[bytes, bytes]], *, drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """``fields`` (ASGI or raw) decoded, without hop-by-hop ones, those ``Connection`` names, and ``drop``."""
    decoded = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in fields]
    named = {token.strip().lower() for name, value in decoded if name == "connection" for token in value.split(",")}
    excluded = _HOP_BY_HOP | named | drop
    return [(name, value) for name, value in decoded if name not in excluded]


class ReverseProxy:
    """An ASGI application forwarding every HTTP request to ``origin`` and streaming its answer back.

    Owns its ``httpx.AsyncClient``: made at lifespan startup (or on the first
    request), closed at lifespan shutdown, as is ``on_shutdown``'s cache.
    A failure to reach the origin is answered ``502``.
    """

    def __init__(self, origin: str, *, on_shutdown: AsyncCache | None = None) -> None:
        self.origin = origin.rstrip("/")
        self.on_shutdown = on_shutdown
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # A connection per request, as nginx's proxy_pass: the suite's origin closes some mid-response and
            # frames some bodies wrongly on purpose, which would break the next request on a kept-alive connection.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
            self._client = httpx.AsyncClient(timeout=30.0, follow_redirects=False, limits=limits)
        return self._client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the reverse proxy answers only http scopes, not {scope['type']!r}")
        target = scope.get("raw_path") or scope["path"].encode("utf-8")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        fields = _end_to_end(scope["headers"], drop=frozenset({"host"}))
        sent = {name for name, _ in fields}
        # A body streams when the request has one (its Content-Length kept, so httpx frames it the same way).
        framed = "content-length" in sent or any(name == b"transfer-encoding" for name, _ in scope["headers"])
        client = self._http()
        request = client.build_request(
            scope["method"],
            self.origin + target.decode("latin-1"),
            headers=fields,
            content=_body(receive) if framed else None,
        )
        for name in _CLIENT_DEFAULTS:
            if name not in sent:
                request.headers.pop(name, None)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as error:
            print(f"502 for {scope['method']} {target!r}: {error!r}", file=sys.stderr, flush=True)
            body = f"the origin did not answer: {error!r}\n".encode()
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in _end_to_end(response.headers.raw)]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._http()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                if self.on_shutdown is not None:
                    await self.on_shutdown.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _body(receive: Any) -> AsyncIterator[bytes]:
    """The request body as the client sends it (ASGI ``http.request`` messages)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # http.disconnect
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def build(origin: str, memory: str) -> CacheMiddleware:
    """``CacheMiddleware(ReverseProxy(origin), cache=AsyncCache(stores=[AsyncMemStore(memory)]))``, serve's options."""
    cache = AsyncCache(stores=[AsyncMemStore(memory)])
    return CacheMiddleware(ReverseProxy(origin, on_shutdown=cache), cache=cache, default_fresh_for=DEFAULT_FRESH_FOR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origin", required=True, help="the origin's base URL")
    parser.add_argument("--port", type=int, required=True, help="the port to listen on (127.0.0.1)")
    parser.add_argument("--memory", default="1GiB", help="the memory tier's capacity")
    args = parser.parse_args(argv)
    # No Date or Server of uvicorn's own: the origin's fields are answered as they came (uvicorn would add a second).
    uvicorn.run(
        build(args.origin, args.memory),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        proxy_headers=False,  # the app sees the client as it is, X-Forwarded-For never rewrites it
        log_level="warning",
        access_log=False,
        date_header=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
