"""A loopback HTTP origin in the test process that counts its requests, per path and per worker.

``GET /fast/<name>?size=N`` waits 200 ms, then answers the ``N`` bytes of
:func:`body_of` (``name``) at once.  ``GET /slow/<name>?size=N&seconds=S``
answers the headers at once and then streams the body in 20 pieces over ``S``
seconds.  Every request is recorded with the ``X-Worker`` header that names
the fleet member that sent it, in order of arrival.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FAST_DELAY", "Origin", "body_of"]

FAST_DELAY = 0.2
"""Seconds a ``/fast/`` request waits before the origin answers."""

_SLOW_PIECES = 20


@functools.lru_cache(maxsize=16)
def body_of(name: str, size: int) -> bytes:
    """The value the origin serves for ``name``: ``size`` pseudo-random bytes, the same every time."""
    return hashlib.shake_256(name.encode()).digest(size)


class Origin:
    """The origin server, on a free 127.0.0.1 port, served by threads of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, list[str]] = {}
        self._arrived: dict[str, threading.Event] = {}
        self.broken: list[str] = []
        """Requests whose client went away before the body was sent (a member killed mid-fill)."""
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin._record(self.path, self.headers.get("X-Worker", "?"))
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                kind, _, name = parsed.path.lstrip("/").partition("/")
                body = body_of(name, int(query["size"]))
                try:
                    if kind == "fast":
                        time.sleep(FAST_DELAY)
                        self._head(len(body))
                        self.wfile.write(body)
                    elif kind == "slow":
                        self._head(len(body))
                        piece = -(-len(body) // _SLOW_PIECES)
                        pause = float(query["seconds"]) / _SLOW_PIECES
                        for start in range(0, len(body), piece):
                            self.wfile.write(body[start : start + piece])
                            self.wfile.flush()
                            time.sleep(pause)
                    else:
                        self.send_error(404)
                except (BrokenPipeError, ConnectionResetError):
                    with origin._lock:
                        origin.broken.append(self.path)

            def _head(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="fleet-origin", daemon=True)
        self._thread.start()

    def _record(self, path: str, worker: str) -> None:
        with self._lock:
            self._requests.setdefault(path, []).append(worker)
            self._arrived.setdefault(path, threading.Event()).set()

    def requesters(self, path: str) -> list[str]:
        """The members that asked for ``path``, in order of arrival."""
        with self._lock:
            return list(self._requests.get(path, []))

    def count(self, path: str) -> int:
        return len(self.requesters(path))

    def first_requester(self, path: str, timeout: float) -> str:
        """Wait until someone asks for ``path``; the member that did (``TimeoutError`` after ``timeout`` s)."""
        with self._lock:
            arrived = self._arrived.setdefault(path, threading.Event())
        if not arrived.wait(timeout):
            raise TimeoutError(f"nobody asked the origin for {path} within {timeout} s")
        return self.requesters(path)[0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
