"""How the app hands a body to the ASGI server: in messages of at most 512 KiB, in order, ended once.

granian turns each body message into one ``writev``; a 1 MiB burst on
loopback under BBR arrives reordered and adds a 20-45 ms tail
(``docs/serve.md``).  These tests drive the app as a server would and check
the messages themselves, from the origin (a miss), the memory tier and the
file tier, for bodies that end on, just past and far past a slice boundary
and past the read chunk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from daramjwee.server import ServeSettings, build_app

SLICE = 512 * 1024
SIZES = [0, 1, SLICE, SLICE + 1, 1 << 20, 3 * (1 << 20) + 5]


async def _get(app: Any, path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One GET through ``app``; the start message and the body messages."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "scheme": "http",
        "client": ("127.0.0.1", 5000),
    }
    messages: list[dict[str, Any]] = []
    received = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays: a server sends http.disconnect only when it leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    assert messages[0]["type"] == "http.response.start"
    return messages[0], messages[1:]


def _check(body_messages: list[dict[str, Any]], expected: bytes) -> None:
    assert all(message["type"] == "http.response.body" for message in body_messages)
    assert all(len(message["body"]) <= SLICE for message in body_messages)
    assert [message.get("more_body", False) for message in body_messages] == [True] * (len(body_messages) - 1) + [False]
    assert b"".join(message["body"] for message in body_messages) == expected


@pytest.mark.parametrize(("memory", "hit_tier"), [("64MiB", 0), ("1KiB", 1)], ids=["memory-tier", "file-tier"])
def test_bodies_reach_the_server_in_slices_of_at_most_512_kib(tmp_path: Path, memory: str, hit_tier: int) -> None:
    root = tmp_path / "www"
    root.mkdir()
    bodies = {f"/{size}.bin": bytes(index % 251 for index in range(size)) for size in SIZES}
    for path, body in bodies.items():
        (root / path.lstrip("/")).write_bytes(body)
    app = build_app(ServeSettings(origin=str(root), memory=memory, cache_dir=str(tmp_path / "cache")))

    async def scenario() -> None:
        try:
            for path, body in bodies.items():
                hit = f"HIT tier={hit_tier if len(body) > 1024 else 0}"  # a tiny body fits the 1 KiB memory tier
                for expected_label in ("MISS", hit):
                    start, body_messages = await _get(app, path)
                    assert start["status"] == 200
                    assert dict(start["headers"])[b"x-cache"].decode() == expected_label
                    _check(body_messages, body)
        finally:
            await app.aclose()

    asyncio.run(scenario())
