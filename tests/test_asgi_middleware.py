"""``daramjwee.contrib.asgi.CacheMiddleware`` in front of real Starlette and FastAPI apps under uvicorn, with httpx.

Each scenario runs against both frameworks: the same routes, written once
as plain endpoints and mounted by each.  The endpoints count their calls,
so "the app ran once" is what a hit means here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import daramjwee as dj
from _asgi_serving import serving, wait_for
from daramjwee.contrib.asgi import CacheMiddleware

MiB = 1 << 20


class Endpoints:
    """The routes of the app under test; ``calls`` counts each path's calls (with the query)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.stream_ended = asyncio.Event()
        self.stream_cancelled = False
        self.seen: list[dict[str, Any]] = []
        self.background_done: list[str] = []

    def _count(self, request: Request) -> None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.calls[f"{request.method} {target}"] += 1
        self.seen.append(
            {
                "path": request.url.path,
                "root_path": request.scope.get("root_path", ""),
                "headers": dict(request.headers),
                "client": request.scope.get("client"),
            }
        )

    async def cached(self, request: Request) -> Response:
        self._count(request)
        control = request.query_params.get("cc", "max-age=60")
        return PlainTextResponse(f"body {request.url.query}", headers={"cache-control": control, "etag": '"c1"'})

    async def cookie(self, request: Request) -> Response:
        self._count(request)
        response = PlainTextResponse("with a cookie", headers={"cache-control": "max-age=60"})
        response.set_cookie("session", "secret")
        return response

    async def vary(self, request: Request) -> Response:
        self._count(request)
        language = request.headers.get("accept-language", "none")
        headers = {"cache-control": "max-age=60", "vary": "Accept-Language"}
        return PlainTextResponse(f"in {language}", headers=headers)

    async def write(self, request: Request) -> Response:
        self._count(request)
        body = await request.body()
        return PlainTextResponse(f"stored {len(body)} bytes")

    async def failing(self, request: Request) -> Response:
        self._count(request)
        return PlainTextResponse("broken", status_code=500)

    async def raising(self, request: Request) -> Response:
        self._count(request)
        raise RuntimeError("the endpoint failed")

    async def slow(self, request: Request) -> Response:
        """4 MiB in 64 KiB chunks, slowly: a client can leave in the middle."""
        self._count(request)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for _ in range(64):
                    yield b"x" * (64 * 1024)
                    await asyncio.sleep(0.01)
            except BaseException:
                self.stream_cancelled = True
                raise
            finally:
                self.stream_ended.set()

        headers = {"cache-control": "max-age=60", "content-length": str(4 * MiB)}
        return StreamingResponse(chunks(), headers=headers, media_type="application/octet-stream")

    async def where(self, request: Request) -> Response:
        self._count(request)
        return PlainTextResponse(
            f"{request.scope['root_path']} {request.url.path}", headers={"cache-control": "max-age=60"}
        )

    async def later(self, request: Request) -> Response:
        """A response with a background task, which the framework runs after the last body message."""
        self._count(request)

        async def task() -> None:
            await asyncio.sleep(0.05)
            self.background_done.append(request.url.path)

        headers = {"cache-control": "max-age=60"}
        return PlainTextResponse("now", headers=headers, background=BackgroundTask(task))

    async def socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello over a websocket")
        await websocket.close()

    def routes(self) -> list[Any]:
        return [
            Route("/cached", self.cached, methods=["GET", "POST"]),
            Route("/cookie", self.cookie),
            Route("/vary", self.vary),
            Route("/write", self.write, methods=["GET", "PUT", "POST", "DELETE"]),
            Route("/failing", self.failing),
            Route("/raising", self.raising),
            Route("/slow", self.slow),
            Route("/later", self.later),
            Mount("/sub", routes=[Route("/where", self.where)]),
            WebSocketRoute("/socket", self.socket),
        ]


def starlette_app(endpoints: Endpoints, cache: dj.AsyncCache, **options: Any) -> Any:
    return Starlette(routes=endpoints.routes(), middleware=[Middleware(CacheMiddleware, cache=cache, **options)])


def fastapi_app(endpoints: Endpoints, cache: dj.AsyncCache, **options: Any) -> Any:
    app = FastAPI()
    app.router.routes.extend(endpoints.routes())
    app.add_middleware(CacheMiddleware, cache=cache, **options)
    return app


@pytest.fixture(params=[starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def make_app(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def cache() -> AsyncIterator[dj.AsyncCache]:
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        yield cache


async def test_a_second_get_is_a_hit(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.get("/cached?a=1")
        second = await http.get("/cached?a=1")
        other_query = await http.get("/cached?a=2")
    assert (first.status_code, first.text, first.headers["x-cache"]) == (200, "body a=1", "MISS")
    assert (second.status_code, second.text, second.headers["x-cache"]) == (200, "body a=1", "HIT tier=0")
    assert other_query.text == "body a=2"
    assert endpoints.calls == {"GET /cached?a=1": 1, "GET /cached?a=2": 1}
    assert second.headers["content-type"] == "text/plain; charset=utf-8"
    assert second.headers["content-length"] == "8"


async def test_conditional_and_range_requests_are_answered_from_the_cache(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        await http.get("/cached")
        not_modified = await http.get("/cached", headers={"if-none-match": '"c1"'})
        part = await http.get("/cached", headers={"range": "bytes=1-3"})
    assert (not_modified.status_code, not_modified.content, not_modified.headers["etag"]) == (304, b"", '"c1"')
    assert (part.status_code, part.content, part.headers["content-range"]) == (206, b"ody", "bytes 1-3/5")
    assert endpoints.calls == {"GET /cached": 1}


async def test_concurrent_cold_requests_run_the_endpoint_once(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        replies = await asyncio.gather(*(http.get("/slow") for _ in range(5)))
    assert all(len(reply.content) == 4 * MiB for reply in replies)
    assert endpoints.calls == {"GET /slow": 1}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/cached?cc=private,max-age%3D60", {}),
        ("/cached?cc=no-store", {}),
        ("/cookie", {}),
        ("/cached", {"authorization": "Bearer one"}),
    ],
    ids=["private", "no-store", "set-cookie", "authorization"],
)
async def test_what_is_not_for_everyone_is_not_shared(
    make_app: Callable[..., Any], cache: dj.AsyncCache, path: str, headers: dict[str, str]
) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        replies = [await http.get(path, headers=headers) for _ in range(2)]
    assert [reply.status_code for reply in replies] == [200, 200]
    assert [reply.headers["x-cache"] for reply in replies] == ["MISS", "MISS"]
    assert sum(endpoints.calls.values()) == 2
    if path == "/cookie":
        assert all("session=secret" in reply.headers["set-cookie"] for reply in replies)


async def test_vary_selects_the_variant(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        texts = [
            (await http.get("/vary", headers={"accept-language": language})).text
            for language in ("en", "fr", "en", "fr")
        ]
    assert texts == ["in en", "in fr", "in en", "in fr"]
    assert endpoints.calls == {"GET /vary": 2}


@pytest.mark.parametrize("control", ["max-age=1", "s-maxage=1,max-age=600"])
async def test_a_response_expires_after_its_shared_lifetime(
    make_app: Callable[..., Any], cache: dj.AsyncCache, control: str
) -> None:
    endpoints = Endpoints()
    path = f"/cached?cc={control.replace('=', '%3D')}"
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get(path)).headers["x-cache"] == "MISS"
        assert (await http.get(path)).headers["x-cache"] == "HIT tier=0"
        await asyncio.sleep(1.2)
        expired = await http.get(path)
    assert expired.headers["x-cache"] == "MISS"
    assert endpoints.calls == {f"GET {path}": 2}


async def test_an_unsafe_method_passes_through_and_invalidates(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    endpoints = Endpoints()
    async with (
        serving(make_app(endpoints, cache, default_fresh_for=60)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.get("/write")).headers["x-cache"] == "MISS"
        assert (await http.get("/write")).headers["x-cache"] == "HIT tier=0"
        posted = await http.post("/write", content=b"z" * 100_000)  # streamed on to the app (over 64 KiB)
        after = await http.get("/write")
    assert (posted.status_code, posted.text, posted.headers["x-cache"]) == (200, "stored 100000 bytes", "PASS")
    assert after.headers["x-cache"] == "MISS"
    assert endpoints.calls == {"GET /write": 2, "POST /write": 1}


async def test_head_answers_the_fields_and_fills_the_cache(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        head = await http.head("/cached")
        get = await http.get("/cached")
        head_again = await http.head("/cached")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
    assert (get.text, get.headers["x-cache"]) == ("body ", "HIT tier=0")
    assert head_again.headers["x-cache"] == "HIT tier=0"
    assert endpoints.calls == {"GET /cached": 1}  # the miss of a HEAD asked the app with GET


async def test_a_head_revalidating_a_get_only_fastapi_route_is_answered_as_its_get(cache: dj.AsyncCache) -> None:
    """FastAPI's ``@app.get`` answers HEAD with 405: a HEAD that must revalidate asks the route with GET instead."""
    calls: list[str] = []
    app = FastAPI()

    @app.get("/report")
    async def report(request: Request) -> Response:
        calls.append(request.method)
        return PlainTextResponse("report", headers={"cache-control": "max-age=1", "etag": '"r1"'})

    app.add_middleware(CacheMiddleware, cache=cache)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/report")).headers["x-cache"] == "MISS"
        await asyncio.sleep(1.2)  # stale: the HEAD must revalidate
        head = await http.head("/report")
        again = await http.get("/report")
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", '"r1"')
    assert (again.text, again.headers["x-cache"]) == ("report", "HIT tier=0")  # the HEAD's GET freshened it
    assert calls == ["GET", "GET"]  # the refused HEAD never reached the route


async def test_a_client_leaving_mid_body_stores_nothing_and_ends_the_app_call(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url:
        async with httpx.AsyncClient(base_url=url) as http, http.stream("GET", "/slow") as reply:
            assert reply.headers["x-cache"] == "MISS"
            async for _ in reply.aiter_raw():
                break  # one chunk, then the client closes the connection
        await asyncio.wait_for(endpoints.stream_ended.wait(), 5)
        assert endpoints.stream_cancelled, "the app's call ran on after the client left"
        await wait_for(lambda: cache.stats().fills_aborted == 1, "the fill was not aborted")
        assert cache.stats().fills_published == 0
        async with httpx.AsyncClient(base_url=url) as http:
            again = await http.get("/slow")
    assert again.headers["x-cache"] == "MISS"  # nothing partial was published
    assert len(again.content) == 4 * MiB
    assert endpoints.calls == {"GET /slow": 2}
    await wait_for(lambda: cache.stats().fills_published == 1, "the whole body was not published")


async def test_background_tasks_run_after_a_miss_is_answered(
    make_app: Callable[..., Any], cache: dj.AsyncCache
) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.get("/later")
        await wait_for(lambda: endpoints.background_done == ["/later"], "the background task did not run")
        second = await http.get("/later")
    assert (first.text, first.headers["x-cache"]) == ("now", "MISS")
    assert (second.text, second.headers["x-cache"]) == ("now", "HIT tier=0")
    assert endpoints.background_done == ["/later"]


async def test_a_failing_endpoint_is_not_cached(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    """Not even with a default freshness: a 500 is not heuristically cacheable (RFC 9111 §4.2.2)."""
    endpoints = Endpoints()
    app = make_app(endpoints, cache, default_fresh_for=60)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        answered = [await http.get("/failing") for _ in range(2)]
        raised = [await http.get("/raising") for _ in range(2)]
    assert [(reply.status_code, reply.text) for reply in answered] == [(500, "broken")] * 2
    assert [reply.status_code for reply in raised] == [500, 500]  # the framework's own error answer
    assert endpoints.calls == {"GET /failing": 2, "GET /raising": 2}
    assert cache.stats().fills_published == 0


async def test_root_path_and_client_reach_the_app(make_app: Callable[..., Any], cache: dj.AsyncCache) -> None:
    endpoints = Endpoints()
    async with serving(make_app(endpoints, cache)) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.get("/sub/where", headers={"x-forwarded-for": "10.0.0.9"})
        second = await http.get("/sub/where")
    assert first.text == second.text == "/sub /sub/where"
    assert second.headers["x-cache"] == "HIT tier=0"
    seen = endpoints.seen[0]
    assert seen["client"][0] == "10.0.0.9"  # the client uvicorn put in the scope (it trusts a loopback proxy)
    assert seen["headers"]["host"] == url.removeprefix("http://")
    assert seen["headers"]["x-forwarded-for"] == "10.0.0.9"  # as the client sent it
    assert "via" not in seen["headers"]


async def test_websocket_and_lifespan_scopes_pass_to_the_app(cache: dj.AsyncCache) -> None:
    import websockets  # noqa: PLC0415 (uvicorn[standard]'s websocket implementation)

    endpoints = Endpoints()
    phases: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        phases.append("startup")
        yield
        phases.append("shutdown")

    app = Starlette(routes=endpoints.routes(), middleware=[Middleware(CacheMiddleware, cache=cache)], lifespan=lifespan)
    async with (
        serving(app, lifespan="on") as url,
        websockets.connect(url.replace("http://", "ws://") + "/socket") as socket,
    ):
        assert await socket.recv() == "hello over a websocket"
    assert phases == ["startup", "shutdown"]


async def test_without_the_query_in_the_key_a_get_ignores_it_and_a_post_keeps_it(cache: dj.AsyncCache) -> None:
    seen: list[tuple[str, bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((scope["method"], scope["query_string"]))
        headers = [(b"cache-control", b"max-age=60")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = CacheMiddleware(app, cache=cache, include_query=False)
    async with serving(middleware) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.get("/page?a=1")
        second = await http.get("/page?a=2")
        posted = await http.post("/page?b=%C3%A9")
    # A query with raw non-ASCII bytes (which uvicorn refuses, other servers pass on) reaches the app as it came.
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/page", "raw_path": b"/page", "query_string": b"raw=\xe9"}
    await middleware({**scope, "headers": [(b"host", b"x")], "asgi": {"version": "3.0"}}, receive, send)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT tier=0")
    assert posted.headers["x-cache"] == "PASS"
    assert sent[0]["status"] == 200
    assert seen == [("GET", b""), ("POST", b"b=%C3%A9"), ("POST", b"raw=\xe9")]


async def test_bad_targets_pass_to_the_app_uncached(cache: dj.AsyncCache) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["raw_path"].decode())
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with serving(CacheMiddleware(app, cache=cache)) as url, httpx.AsyncClient(base_url=url) as http:
        reply = await http.get("/a%2Fb")
    assert reply.status_code == 404
    assert "x-cache" not in reply.headers
    assert seen == ["/a%2Fb"]


def test_bad_arguments_are_refused_before_anything_is_kept() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None: ...

    cache = dj.AsyncCache(stores=[dj.AsyncMemStore()])
    with pytest.raises(TypeError, match="AsyncCache"):
        CacheMiddleware(app, cache=dj.Cache(stores=[dj.MemStore()]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default_fresh_for"):
        CacheMiddleware(app, cache=cache, default_fresh_for=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        CacheMiddleware(app, cache=cache, chunk_size=0)
    with pytest.raises(TypeError, match="ASGI application"):
        CacheMiddleware(None, cache=cache)


def test_the_middleware_needs_neither_granian_nor_httpx_nor_starlette() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('httpx', 'granian', 'starlette', 'anyio', 'obstore'):\n"
        "            raise ImportError(f'{name} is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from daramjwee.contrib.asgi import CacheMiddleware\n"
        "print(CacheMiddleware.__name__)\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "CacheMiddleware\n", "")


async def test_an_app_deaf_to_disconnects_is_cancelled_when_its_client_leaves(cache: dj.AsyncCache) -> None:
    """A plain ASGI app that never calls ``receive``: only cancelling its call ends it early."""
    ended: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"cache-control", b"max-age=60"), (b"content-length", str(4 * MiB).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            for _ in range(64):
                await send({"type": "http.response.body", "body": b"y" * (64 * 1024), "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise
        ended.append("finished")

    async with serving(CacheMiddleware(app, cache=cache)) as url:
        async with httpx.AsyncClient(base_url=url) as http, http.stream("GET", "/big") as reply:
            async for _ in reply.aiter_raw():
                break
        await wait_for(lambda: bool(ended), "the app's call never ended")
    assert ended == ["cancelled"]
    assert (cache.stats().fills_published, cache.stats().fills_aborted) == (0, 1)


async def test_header_bytes_reach_the_client_as_the_app_sent_them(cache: dj.AsyncCache) -> None:
    """obs-text in a field (RFC 9110 §5.5) is relayed byte for byte, and an ETag with it matches only the same bytes.

    (Why the middleware, unlike serve, fails the conformance suite's ``conditional-etag-strong-respond-obs-text``:
    that suite's origin sends UTF-8 and its client latin-1.)
    """
    tags = {"/latin-1": '"abc\xfc"'.encode("latin-1"), "/utf-8": '"abc\xfc"'.encode()}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"cache-control", b"max-age=60"), (b"etag", tags[scope["path"]]), (b"x-note", b"caf\xc3\xa9")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(CacheMiddleware(app, cache=cache)) as url, httpx.AsyncClient(base_url=url) as http:
        for path, tag in tags.items():
            miss, hit = await http.get(path), await http.get(path)
            assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT tier=0")
            for response in (miss, hit):
                raw = dict(response.headers.raw)
                assert (raw[b"etag"], raw[b"x-note"]) == (tag, b"caf\xc3\xa9")
            same = await http.get(path, headers={"if-none-match": tag})
            other = tags["/utf-8" if path == "/latin-1" else "/latin-1"]
            different = await http.get(path, headers={"if-none-match": other})
            assert (same.status_code, dict(same.headers.raw)[b"etag"]) == (304, tag)
            assert (different.status_code, different.content) == (200, b"ok")
