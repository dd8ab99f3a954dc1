"""Fetch bodies from real HTTP clients over a real keep-alive server (issue 11, item 10).

A fetcher hands the cache the body object its HTTP client returned.  The
cache must read it as that client intends: ``read()`` for the rest, never
``read(-1)`` (``http.client.HTTPResponse.read(-1)`` ignores Content-Length
and waits for the server to close a keep-alive connection), and the
connection must stay usable afterwards.
"""

from __future__ import annotations

import http.client
import http.server
import os
import threading
from collections.abc import Iterator

import httpx
import pytest
import urllib3

import daramjwee as dj

BODY = os.urandom(300_000)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        self.server.requests += 1  # type: ignore[attr-defined]
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BODY), 70_000):
                piece = BODY[start : start + 70_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: http.server.ThreadingHTTPServer, path: str = "/value") -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", ["/value", "/chunked"])
def test_http_client_responses_on_a_keep_alive_connection(server: http.server.ThreadingHTTPServer, path: str) -> None:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)

    def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        connection.request("GET", path)
        return dj.FetchResult(connection.getresponse())

    with dj.Cache(stores=[dj.MemStore()]) as cache:
        assert cache.get_bytes("a", fetch) == BODY
        assert cache.get_bytes("b", fetch) == BODY  # the same connection serves the next request
        with cache.get("c", fetch) as response:
            assert b"".join(response) == BODY
        assert cache.get_bytes("a", fetch) == BODY  # cached
    assert server.requests == 3  # type: ignore[attr-defined]
    connection.close()


@pytest.mark.timeout(20)
def test_urllib3_streamed_responses(server: http.server.ThreadingHTTPServer) -> None:
    with urllib3.PoolManager(maxsize=1, timeout=5) as pool:

        def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return dj.FetchResult(pool.request("GET", _url(server), preload_content=False))

        with dj.Cache(stores=[dj.MemStore()]) as cache:
            assert cache.get_bytes("a", fetch) == BODY
            with cache.get("b", fetch) as response:
                assert response.read(1000) + response.read() == BODY
            assert cache.get_bytes("b", fetch) == BODY
    assert server.requests == 2  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
def test_httpx_streamed_responses(server: http.server.ThreadingHTTPServer) -> None:
    with httpx.Client(timeout=5) as client:

        def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            response = client.send(client.build_request("GET", _url(server)), stream=True)
            return dj.FetchResult(response.iter_bytes())

        with dj.Cache(stores=[dj.MemStore()]) as cache:
            assert cache.get_bytes("a", fetch) == BODY
            assert cache.get_bytes("b", fetch) == BODY
            assert cache.get_bytes("a", fetch) == BODY
    assert server.requests == 2  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
async def test_httpx_async_streamed_responses(server: http.server.ThreadingHTTPServer) -> None:
    async with httpx.AsyncClient(timeout=5) as client:

        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            response = await client.send(client.build_request("GET", _url(server, "/chunked")), stream=True)
            return dj.FetchResult(response.aiter_bytes())

        async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
            assert await cache.get_bytes("a", fetch) == BODY
            async with await cache.get("b", fetch) as response:
                assert b"".join([chunk async for chunk in response]) == BODY
            assert await cache.get_bytes("a", fetch) == BODY
    assert server.requests == 2  # type: ignore[attr-defined]
