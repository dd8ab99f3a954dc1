"""``daramjwee.contrib.asgi.CachedResponse``: a value of ``AsyncCache.get`` returned by Starlette and FastAPI endpoints.

Under uvicorn with httpx as the client, and called directly as an ASGI app
where a test needs to cancel it at a chosen moment.  ``cache.stats()``
counts what became of each fill (published or aborted), which is how a
test sees that the response was read to its end or closed early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

import daramjwee as dj
from _asgi_serving import serving, wait_for
from daramjwee.contrib.asgi import CachedResponse

MiB = 1 << 20
CHUNK = 64 * 1024


class Origin:
    """A value of ``size`` bytes sent in 64 KiB chunks, ``delay`` seconds apart; counts fetches and closed bodies."""

    def __init__(self, size: int, delay: float = 0.0) -> None:
        self.value = bytes(range(256)) * (size // 256)
        self.delay = delay
        self.fetches = 0
        self.closed = 0

    async def fetch(self, old: dj.Metadata | None) -> dj.FetchResult:
        self.fetches += 1

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for start in range(0, len(self.value), CHUNK):
                    yield self.value[start : start + CHUNK]
                    if self.delay:
                        await asyncio.sleep(self.delay)
            finally:
                self.closed += 1

        attrs = {"content-type": "application/x-test", "content-length": str(len(self.value))}
        return dj.FetchResult(chunks(), dj.Metadata(etag='"v1"', attrs=attrs))


def endpoint(cache: dj.AsyncCache, origin: Origin, made: list[CachedResponse]) -> Callable[[Request], Any]:
    async def value(request: Request) -> CachedResponse:
        response = CachedResponse(await cache.get("value", origin.fetch))
        made.append(response)
        return response

    return value


def starlette_app(cache: dj.AsyncCache, origin: Origin, made: list[CachedResponse]) -> Any:
    return Starlette(routes=[Route("/value", endpoint(cache, origin, made), methods=["GET", "HEAD"])])


def fastapi_app(cache: dj.AsyncCache, origin: Origin, made: list[CachedResponse]) -> Any:
    app = FastAPI()
    value = endpoint(cache, origin, made)

    @app.api_route("/value", methods=["GET", "HEAD"], response_class=CachedResponse)
    async def route(request: Request) -> CachedResponse:
        return await value(request)  # type: ignore[no-any-return]

    return app


@pytest.fixture(params=[starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def make_app(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def cache(tmp_path: Any) -> AsyncIterator[dj.AsyncCache]:
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), dj.AsyncFileStore(str(tmp_path / "files"))]) as cache:
        yield cache


async def test_an_endpoint_streams_the_value_with_its_fields(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    origin = Origin(MiB)
    made: list[CachedResponse] = []
    async with serving(make_app(cache, origin, made)) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.get("/value")
        await wait_for(lambda: cache.stats().fills_published == 1, "the miss did not publish")
        second = await http.get("/value")
    for reply in (first, second):
        assert reply.status_code == 200
        assert reply.content == origin.value
        assert reply.headers["etag"] == '"v1"'
        assert reply.headers["content-type"] == "application/x-test"
        assert reply.headers["content-length"] == str(MiB)
    assert origin.fetches == 1
    assert all(response.response.closed for response in made)


async def test_a_matching_if_none_match_is_answered_304(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    origin = Origin(256 * 1024)
    made: list[CachedResponse] = []
    async with serving(make_app(cache, origin, made)) as url, httpx.AsyncClient(base_url=url) as http:
        cold = await http.get("/value", headers={"if-none-match": 'W/"v1"'})  # a miss: the fill still completes
        await wait_for(lambda: cache.stats().fills_published == 1, "a 304 to a miss did not fill the cache")
        warm = await http.get("/value", headers={"if-none-match": '"other", "v1"'})
        other = await http.get("/value", headers={"if-none-match": '"other"'})
        lines = await http.get("/value", headers=[("if-none-match", '"other"'), ("if-none-match", '"v1"')])
    for reply in (cold, warm, lines):
        assert (reply.status_code, reply.content, reply.headers["etag"]) == (304, b"", '"v1"')
        assert "content-type" not in reply.headers
    assert (other.status_code, other.content) == (200, origin.value)
    assert origin.fetches == 1
    assert all(response.response.closed for response in made)


async def test_head_sends_the_fields_and_the_miss_still_fills(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    origin = Origin(256 * 1024)
    made: list[CachedResponse] = []
    async with serving(make_app(cache, origin, made)) as url, httpx.AsyncClient(base_url=url) as http:
        head = await http.head("/value")
        await wait_for(lambda: cache.stats().fills_published == 1, "a HEAD miss did not fill the cache")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(origin.value)))
    assert origin.fetches == 1


async def test_a_client_leaving_mid_body_closes_the_response_and_aborts_the_fill(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    origin = Origin(4 * MiB, delay=0.01)
    made: list[CachedResponse] = []
    async with serving(make_app(cache, origin, made)) as url:
        async with httpx.AsyncClient(base_url=url) as http, http.stream("GET", "/value") as reply:
            async for _ in reply.aiter_raw():
                break  # one chunk, then the connection closes
        await wait_for(lambda: cache.stats().fills_aborted == 1, "the fill was not aborted")
        await wait_for(lambda: origin.closed == 1, "the origin's body was not closed")
    assert made[0].response.closed
    assert cache.stats().fills_published == 0


async def _call(response: CachedResponse, sent: list[dict[str, Any]], block_after: int | None = None) -> None:
    """Call ``response`` as an ASGI app for a GET; ``send`` records and, after ``block_after`` messages, blocks."""
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if block_after is not None and len(sent) >= block_after:
            await asyncio.Event().wait()  # a client that stopped reading

    scope = {"type": "http", "method": "GET", "path": "/value", "headers": [], "asgi": {"version": "3.0"}}
    await response(scope, receive, send)


async def test_a_cancelled_response_closes_its_value_and_aborts_the_fill(cache: dj.AsyncCache) -> None:
    origin = Origin(4 * MiB)
    response = CachedResponse(await cache.get("value", origin.fetch))
    sent: list[dict[str, Any]] = []
    task = asyncio.ensure_future(_call(response, sent, block_after=3))
    await wait_for(lambda: len(sent) == 3, "the body did not start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert response.response.closed
    await wait_for(lambda: cache.stats().fills_aborted == 1, "the fill was not aborted")
    assert cache.stats().fills_published == 0
    assert origin.closed == 1


async def test_an_anyio_cancel_scope_after_the_last_byte_still_publishes(cache: dj.AsyncCache) -> None:
    """Starlette cancels a response's task as soon as the client has its last byte: the fill still publishes."""
    origin = Origin(2 * MiB)
    response = CachedResponse(await cache.get("value", origin.fetch))
    sent: list[dict[str, Any]] = []
    with anyio.CancelScope() as scope:

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if not message.get("more_body", False) and message["type"] == "http.response.body":
                scope.cancel()  # every await from here on raises, the close included
                await anyio.sleep(0)

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}

        await response({"type": "http", "method": "GET", "headers": []}, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body == origin.value
    await wait_for(lambda: cache.stats().fills_published == 1, "the fill did not publish")
    assert response.response.closed


async def test_a_value_in_memory_goes_out_in_one_message(cache: dj.AsyncCache) -> None:
    origin = Origin(512 * 1024)
    assert await cache.get_bytes("value", origin.fetch) == origin.value
    hit = await cache.get("value", origin.fetch)
    assert hit.in_memory
    sent: list[dict[str, Any]] = []
    await _call(CachedResponse(hit), sent)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == origin.value
    assert not sent[1].get("more_body", False)
    assert hit.closed


async def test_a_ranged_value_is_a_206_with_its_range(cache: dj.AsyncCache) -> None:
    origin = Origin(256 * 1024)
    await cache.get_bytes("value", origin.fetch)
    part = await cache.get("value", origin.fetch, byte_range=dj.ByteRange(10, 20))
    sent: list[dict[str, Any]] = []
    await _call(CachedResponse(part, headers={"cache-control": "max-age=5"}), sent)
    start = sent[0]
    headers = dict(start["headers"])
    assert start["status"] == 206
    assert headers[b"content-range"] == b"bytes 10-19/262144"
    assert headers[b"content-length"] == b"10"
    assert headers[b"cache-control"] == b"max-age=5"
    assert b"".join(message.get("body", b"") for message in sent[1:]) == origin.value[10:20]


async def test_a_bad_argument_is_refused(cache: dj.AsyncCache) -> None:
    with pytest.raises(TypeError, match="AsyncResponse"):
        CachedResponse(b"bytes")  # type: ignore[arg-type]
    response = await cache.get("value", Origin(1024).fetch)
    with pytest.raises(ValueError, match="chunk_size"):
        CachedResponse(response, chunk_size=0)
    await response.aclose()
