"""Cancellation of the reading task never strands a fill (issue 11, item 7; rules W4, X4).

The most common way to serve an ``AsyncCache`` response is a Starlette or
FastAPI ``StreamingResponse``: when the client closes right after the last
byte, Starlette cancels the body task, possibly while the response publishes
its fill.  Inside an anyio cancel scope every await raises at once, so the
publish must not depend on the reading task surviving.  These tests run the
real thing: uvicorn, Starlette and httpx on loopback, and an ``AsyncFileStore``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

import daramjwee as dj
from daramjwee.testing import AsyncFaultyStore

MiB = 1 << 20


class _Origin:
    def __init__(self, value: bytes) -> None:
        self.value = value
        self.calls = 0

    async def fetch(self, old: dj.Metadata | None) -> dj.FetchResult:
        self.calls += 1
        chunks = [self.value[i : i + 256 * 1024] for i in range(0, len(self.value), 256 * 1024)]
        return dj.FetchResult(chunks, dj.Metadata(attrs={"content-length": str(len(self.value))}))


def _tiers(tmp_path: Path, commit_delay: float) -> tuple[dj.AsyncMemStore, AsyncFaultyStore]:
    """A memory tier too small for the value over a file tier whose commits take ``commit_delay`` seconds."""
    files = AsyncFaultyStore(dj.AsyncFileStore(str(tmp_path / "files")))
    files.delay("commit", commit_delay)
    return dj.AsyncMemStore(capacity=MiB), files


async def test_cancelling_the_reader_during_the_publish_still_publishes_and_lands_the_flight(tmp_path: Path) -> None:
    memory, files = _tiers(tmp_path, commit_delay=0.3)
    origin = _Origin(os.urandom(4 * MiB))
    async with dj.AsyncCache(stores=[memory, files], coalesce_wait=5.0) as cache:

        async def consume() -> None:
            async with await cache.get("k", origin.fetch) as response:
                while await response.read(64 * 1024):
                    pass

        consumer = asyncio.ensure_future(consume())
        deadline = time.monotonic() + 5
        while files.calls["commit"] == 0:
            assert time.monotonic() < deadline, "the fill never reached its commit"
            await asyncio.sleep(0.005)
        consumer.cancel()  # in the middle of the file tier's commit
        with pytest.raises(asyncio.CancelledError):
            await consumer
        started = time.monotonic()
        assert await cache.get_bytes("k", origin.fetch) == origin.value
        assert time.monotonic() - started < 1.0, "the next get must not wait for a stranded flight"
        assert origin.calls == 1
        stats = cache.stats()
        assert (stats.fills_published, stats.fills_aborted) == (1, 0)
        assert cache._flights == {}


async def test_an_anyio_cancel_scope_around_the_last_read_still_publishes(tmp_path: Path) -> None:
    """anyio cancels every await inside a cancelled scope, the closing ones included."""
    memory, files = _tiers(tmp_path, commit_delay=0.2)
    origin = _Origin(os.urandom(2 * MiB))
    async with dj.AsyncCache(stores=[memory, files]) as cache:
        response = await cache.get("k", origin.fetch)
        received = bytearray()
        with anyio.CancelScope() as scope:
            try:
                while chunk := await response.read(64 * 1024):
                    received += chunk
                    if len(received) == len(origin.value):
                        scope.cancel()  # the next read (which publishes) runs in a cancelled scope
            finally:
                await response.aclose()
        assert bytes(received) == origin.value
        deadline = time.monotonic() + 5
        while cache.stats().fills_published + cache.stats().fills_aborted == 0:
            assert time.monotonic() < deadline, "the fill neither published nor aborted"
            await asyncio.sleep(0.01)
        assert cache.stats().fills_published == 1
        reader, _ = await files.inner.get_stream("k")
        assert await reader.read() == origin.value
        await reader.aclose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_starlette_streaming_responses_over_a_cold_file_keep_the_cache(tmp_path: Path) -> None:
    """20 clients ask at once for a cold file served by a StreamingResponse; each closes after its last byte."""
    memory, files = _tiers(tmp_path, commit_delay=0.2)
    origin = _Origin(os.urandom(4 * MiB))
    cache = dj.AsyncCache(stores=[memory, files], coalesce_wait=5.0)

    async def serve(request: Request) -> StreamingResponse:
        response = await cache.get("file", origin.fetch)

        async def body() -> AsyncIterator[bytes]:
            async with response:
                async for chunk in response:
                    yield chunk

        return StreamingResponse(body(), headers={"content-length": str(len(origin.value))})

    app = Starlette(routes=[Route("/file", serve)])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    serving = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)

        async def client() -> float:
            started = time.monotonic()
            async with httpx.AsyncClient() as http:
                reply = await http.get(f"http://127.0.0.1:{port}/file", timeout=30)
            assert reply.status_code == 200
            assert reply.content == origin.value
            return time.monotonic() - started

        elapsed = await asyncio.gather(*(client() for _ in range(20)))
        assert max(elapsed) < 5.0, f"a client waited for a stranded flight: {sorted(elapsed)}"
        deadline = time.monotonic() + 5
        while cache.stats().fills_published + cache.stats().fills_aborted < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert origin.calls == 1, "one origin fetch for 20 concurrent cold requests"
        assert cache.stats().fills_published == 1
        async with httpx.AsyncClient() as http:
            again = await http.get(f"http://127.0.0.1:{port}/file", timeout=30)
        assert again.content == origin.value
        assert origin.calls == 1, "the file stayed cached"
    finally:
        server.should_exit = True
        await serving
        await cache.close()
