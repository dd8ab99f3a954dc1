"""An ASGI app under a real uvicorn server on a free 127.0.0.1 port, in the test's own event loop; waiting for what it
does after answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn

from _servers import free_port

__all__ = ["serving", "wait_for"]


@contextlib.asynccontextmanager
async def serving(app: Any, *, lifespan: str = "off") -> AsyncIterator[str]:
    """Run ``app`` on uvicorn while the block runs; yield its base URL.  The server is stopped and awaited after."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait up to 5 s for ``condition()`` (what the app or the cache does after answering), else fail: ``what``."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)
