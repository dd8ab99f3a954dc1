"""A real HTTP origin for the server tests: a threaded ``http.server`` on a free loopback port.

Routes (``GET``/``HEAD``)::

    /files/<name>     200, body ``files[name]``, strong ETag, Content-Type, Last-Modified;
                      304 on a matching If-None-Match
    /slow/<name>      like /files, after ``slow_seconds``
    /drip/<name>      like /files, the body in 64 KiB chunks with a pause between them
    /hang             sleeps ``hang_seconds`` before answering
    /error            500
    anything else     404

``answers[path]`` (path without the query), when set, overrides the routes:
``(status, [(name, value), ...], body)`` sent as they are (a callable taking
the request's headers may return that triple instead).  Other methods (POST,
PUT, PATCH, DELETE, OPTIONS) are answered from ``answers`` too, else 204.

Every request is recorded in ``requests`` (method, path exactly as received),
its header fields in ``headers_seen`` and its body in ``bodies``.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import Message

Answer = tuple[int, list[tuple[str, str]], bytes]
AnswerSpec = Answer | Callable[[Message], Answer]

__all__ = ["OriginHTTPServer"]


class OriginHTTPServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.headers_seen: list[Message] = []
        self.bodies: list[bytes] = []
        self.answers: dict[str, AnswerSpec] = {}
        self.slow_seconds = 0.08
        self.hang_seconds = 3.0
        self.drip_pause = 0.002
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OriginHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits(self, path: str) -> int:
        with self._lock:
            return Counter(path for _, path in self.requests)[path]

    def _record(self, method: str, path: str, headers: Message, body: bytes = b"") -> None:
        with self._lock:
            self.requests.append((method, path))
            self.headers_seen.append(headers)
            self.bodies.append(body)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def _other(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                origin._record(self.command, self.path, self.headers, body)
                if not self._override(send_body=True):
                    self.send_response(204)
                    self.end_headers()

            do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _other

            def _override(self, *, send_body: bool) -> bool:
                spec = origin.answers.get(self.path.partition("?")[0])
                if spec is None:
                    return False
                status, fields, body = spec(self.headers) if callable(spec) else spec
                self.send_response(status)
                for name, value in fields:
                    self.send_header(name, value)
                if status not in (204, 304) and not any(name.lower() == "content-length" for name, _ in fields):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and status not in (204, 304):
                    self.wfile.write(body)
                return True

            def _answer(self, *, send_body: bool) -> None:
                origin._record(self.command, self.path, self.headers)
                if self._override(send_body=send_body):
                    return None
                route, _, name = self.path.partition("?")[0].lstrip("/").partition("/")
                if route == "hang":
                    time.sleep(origin.hang_seconds)
                    return self._status(200, b"late")
                if route == "error":
                    return self._status(500, b"boom")
                if route not in ("files", "slow", "drip") or name not in origin.files:
                    return self._status(404, b"no such file")
                if route == "slow":
                    time.sleep(origin.slow_seconds)
                body = origin.files[name]
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return None
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/x-test")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Last-Modified", "Tue, 24 Nov 2026 00:00:00 GMT")
                self.end_headers()
                if not send_body:
                    return None
                if route != "drip":
                    self.wfile.write(body)
                    return None
                try:
                    for start in range(0, len(body), 65536):
                        self.wfile.write(body[start : start + 65536])
                        time.sleep(origin.drip_pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None

            def _status(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
