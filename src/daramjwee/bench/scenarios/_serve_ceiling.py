"""The ``serve`` scenario's ceiling: an ASGI app that only answers, run on granian as ``daramjwee serve`` runs.

``python -m daramjwee.bench.scenarios._serve_ceiling DIRECTORY PORT WORKERS``
serves every file of ``DIRECTORY`` (read once, at start) from memory: a hit
of a cache that costs nothing.  Its answer carries as many header fields as
a ``daramjwee serve`` hit of the scenario's objects (the origin's, ``Age``,
``X-Cache``, a ``Date`` formatted once per second), in one
``http.response.start`` and one body message of at most 512 KiB, as
``daramjwee serve`` sends it.  The server runs with the options
``daramjwee serve`` gives it (:func:`~daramjwee.server._serve.run_on_granian`),
so the requests per second and the latency it reaches are what any ASGI app
could reach on this server and machine; the scenario reports daramjwee's
share of them.  Any path it does not hold gets 404.
"""

from __future__ import annotations

import email.utils
import functools
import os
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from ...server import ServeSettings, run_on_granian

__all__ = ["app_from_environment", "main"]

_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_DIRECTORY_VARIABLE = "DARAMJWEE_BENCH_CEILING_ROOT"
_SLICE = 512 * 1024
"""The most bytes in one body message: ``daramjwee serve``'s bound (``_SEND_SLICE`` in ``server/_http_proxy.py``)."""


class _Ceiling:
    """An ASGI app answering each known path with its bytes from memory, and 404 otherwise."""

    def __init__(self, directory: Path) -> None:
        self.answers: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = {}
        for path in directory.iterdir():
            body = path.read_bytes()
            headers = [
                (b"server", b"nginx"),
                (b"content-type", b"application/octet-stream"),
                (b"content-length", b"%d" % len(body)),
                (b"last-modified", b"Mon, 30 Nov 2026 00:00:00 GMT"),
                (b"etag", b'"%x-%x"' % (zlib.crc32(body), len(body))),
                (b"expires", b"Mon, 30 Nov 2026 01:00:00 GMT"),
                (b"cache-control", b"max-age=3600"),
                (b"accept-ranges", b"bytes"),
            ]
            self.answers[f"/{path.name}"] = (headers, body)

    async def __call__(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            return
        answer = self.answers.get(scope["path"])
        if answer is None:
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        stored, body = answer
        date = _date(int(time.time()))
        headers = [(b"date", date), *stored, (b"age", b"0"), (b"x-cache", b"HIT tier=0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        end = len(body)
        for start in range(0, max(end, 1), _SLICE):
            stop = start + _SLICE
            await send({"type": "http.response.body", "body": body[start:stop], "more_body": stop < end})


@functools.lru_cache(maxsize=1)
def _date(second: int) -> bytes:
    """The ``Date`` of ``second``, formatted once (as ``daramjwee serve`` formats its own once per second)."""
    return email.utils.formatdate(second, usegmt=True).encode("ascii")


def app_from_environment() -> _Ceiling:
    """The app of one worker: the directory comes from the parent through the environment."""
    return _Ceiling(Path(os.environ[_DIRECTORY_VARIABLE]))


def main(arguments: list[str]) -> None:
    """Serve ``DIRECTORY`` on ``127.0.0.1:PORT`` with ``WORKERS`` processes until SIGTERM."""
    directory, port, workers = arguments
    os.environ[_DIRECTORY_VARIABLE] = directory
    settings = ServeSettings(origin=directory, port=int(port), workers=int(workers), log_level="error")
    run_on_granian(f"{__name__}:app_from_environment", settings)


if __name__ == "__main__":
    main(sys.argv[1:])
