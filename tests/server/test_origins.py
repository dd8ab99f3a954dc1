"""Origins of ``daramjwee serve`` (``daramjwee.server._origins`` and its kinds) against real components.

A real HTTP server in a thread (every status the proxy maps, slow, stalled and
dropped responses, an 8 MiB body), real files in a temporary directory
(symbolic links out of the root, files changing under the proxy), moto's S3
server, and a real ``AsyncCache`` in front of an HTTP origin (miss, hit,
revalidation by 304).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import http.server
import json
import os
import pickle
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest
from obstore.store import S3Store

import daramjwee as dj
from _servers import MotoServer, free_port
from daramjwee._async_body import async_open_body
from daramjwee.server._directory_origin import DirectoryOrigin
from daramjwee.server._http_origin import HttpOrigin
from daramjwee.server._object_origin import ObjectOrigin
from daramjwee.server._origin_types import Origin, OriginError, OriginTimeout
from daramjwee.server._origins import open_origin

TIMEOUT = 1.0
"""The origins' read timeout in these tests; the slow routes take ``SLOW`` seconds."""
SLOW = 3.0
BIG = 8 * 1024 * 1024
LAST_MODIFIED = "Tue, 03 Jun 2025 10:00:00 GMT"
GZIPPED = gzip.compress(b"hello gzip " * 100)


# -- a real HTTP origin ---------------------------------------------------------------------


@dataclasses.dataclass
class Served:
    """One request the origin answered."""

    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0
    aborted: bool = False


class OriginServer:
    """A threaded ``http.server`` on loopback; every route lives under ``/base``.

    ``/files/<name>``: 200 with ETag ``"<name>-v<version>"`` (``versions[name]``,
    default 1), Last-Modified, Content-Type; 304 on a matching If-None-Match.
    The other routes are in :meth:`Handler.route`.
    """

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.served: list[Served] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/base/"

    def requests_to(self, path: str) -> list[Served]:
        with self.lock:
            return [served for served in self.served if served.path.split("?")[0] == path]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: OriginServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        record = Served(self.path, {name.lower(): value for name, value in self.headers.items()})
        with self.server_owner.lock:
            self.server_owner.served.append(record)
        try:
            self.route(record)
        except (BrokenPipeError, ConnectionResetError):
            record.aborted = True
            self.close_connection = True

    def answer(self, record: Served, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        record.status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        record.sent = len(body)

    def route(self, record: Served) -> None:
        path = self.path.split("?")[0]
        assert path.startswith("/base/"), path
        route = path[len("/base") :]
        if route.startswith("/files/"):
            name = route[len("/files/") :]
            version = self.server_owner.versions.get(name, 1)
            etag = f'"{name}-v{version}"'
            if self.headers.get("If-None-Match") == etag:
                self.answer(record, 304, headers={"ETag": etag})
                return
            body = f"content of {name} v{version}".encode()
            headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED, "Content-Type": "text/plain; charset=utf-8"}
            self.answer(record, 200, body, headers)
        elif route == "/weak":
            self.answer(record, 200, b"weak", {"ETag": 'W/"weak-1"', "Content-Type": "text/plain"})
        elif route == "/no-type":
            self.answer(record, 200, b"\x00\x01")
        elif route == "/echo" or route.startswith("/echo/"):
            echo = {"path": self.path, "headers": record.headers}
            self.answer(record, 200, json.dumps(echo).encode(), {"Content-Type": "application/json"})
        elif route == "/cookie":
            self.answer(record, 200, b"cookie", {"Set-Cookie": "session=secret; Path=/"})
        elif route == "/gzip":
            self.answer(record, 200, GZIPPED, {"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        elif route == "/chunked":
            record.status = 200
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "keep-alive")
            self.end_headers()
            for part in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif route in ("/missing", "/gone", "/error", "/unavailable", "/forbidden", "/unsatisfiable"):
            status = {
                "/missing": 404,
                "/gone": 410,
                "/error": 500,
                "/unavailable": 503,
                "/forbidden": 403,
                "/unsatisfiable": 416,
            }[route]
            self.answer(record, status, b"no")
        elif route == "/always-304":
            self.answer(record, 304)
        elif route == "/redirect":
            self.answer(record, 302, b"", {"Location": "http://example.invalid/elsewhere"})
        elif route == "/slow":
            time.sleep(SLOW)
            self.answer(record, 200, b"late")
        elif route == "/stall":
            record.status = 200
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            time.sleep(SLOW)
            self.wfile.write(b"x" * 90)
        elif route == "/drop":
            record.status = 200
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True  # the handler ends: the socket closes 900 bytes short
        elif route == "/big":
            record.status = 200
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            piece = _big_piece()
            for _ in range(BIG // len(piece)):
                self.wfile.write(piece)
                record.sent += len(piece)
        else:
            self.answer(record, 404, b"no route")


def _big_piece() -> bytes:
    return bytes(range(256)) * 256  # 64 KiB


@pytest.fixture(scope="module")
def origin_server() -> Iterator[OriginServer]:
    server = OriginServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http_origin(origin_server: OriginServer) -> AsyncIterator[HttpOrigin]:
    origin = open_origin(origin_server.base, timeout=TIMEOUT, connect_timeout=TIMEOUT)
    assert isinstance(origin, HttpOrigin)
    yield origin
    await origin.aclose()


async def _read(result: dj.FetchResult) -> bytes:
    """All of a fetch result's body, through its async iteration; closes it."""
    body: Any = result.body
    try:
        return b"".join([chunk async for chunk in body])
    finally:
        await body.aclose()


async def _fetch(origin: Origin, path: str, old: dj.Metadata | None = None) -> tuple[dj.Metadata, bytes]:
    result = await origin.fetcher(path)(old)
    assert result.metadata is not None
    return result.metadata, await _read(result)


async def _wait_for(condition: Any, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# -- HTTP origin ----------------------------------------------------------------------------


async def test_http_200_carries_validator_and_representation_headers(
    http_origin: HttpOrigin, origin_server: OriginServer
) -> None:
    metadata, body = await _fetch(http_origin, "/files/plain.txt")
    assert body == b"content of plain.txt v1"
    assert metadata.etag == '"plain.txt-v1"'
    assert dict(metadata.attrs) == {
        "content-type": "text/plain; charset=utf-8",
        "content-length": str(len(body)),
        "last-modified": LAST_MODIFIED,
    }
    assert metadata.cached_at == 0.0
    assert not metadata.is_negative
    (served,) = origin_server.requests_to("/base/files/plain.txt")
    assert served.headers["accept-encoding"] == "identity"
    assert "if-none-match" not in served.headers
    assert "if-modified-since" not in served.headers
    assert served.headers["user-agent"].startswith("daramjwee/")


async def test_http_weak_etag_is_kept_verbatim_and_missing_type_defaults(http_origin: HttpOrigin) -> None:
    metadata, _ = await _fetch(http_origin, "/weak")
    assert metadata.etag == 'W/"weak-1"'
    metadata, body = await _fetch(http_origin, "/no-type")
    assert body == b"\x00\x01"
    assert metadata.etag == ""
    assert metadata.attrs["content-type"] == "application/octet-stream"


async def test_http_conditional_fetch_raises_not_modified_on_304(
    http_origin: HttpOrigin, origin_server: OriginServer
) -> None:
    old = dj.Metadata(etag='"cond.txt-v1"', attrs={"last-modified": LAST_MODIFIED})
    with pytest.raises(dj.NotModified):
        await http_origin.fetcher("/files/cond.txt")(old)
    (served,) = origin_server.requests_to("/base/files/cond.txt")
    assert served.headers["if-none-match"] == '"cond.txt-v1"'
    assert served.headers["if-modified-since"] == LAST_MODIFIED
    assert served.status == 304

    # A stale validator gets the new representation.
    metadata, body = await _fetch(http_origin, "/files/cond.txt", dj.Metadata(etag='"cond.txt-v0"'))
    assert body == b"content of cond.txt v1"
    assert metadata.etag == '"cond.txt-v1"'


async def test_http_negative_old_metadata_sends_no_condition(
    http_origin: HttpOrigin, origin_server: OriginServer
) -> None:
    await _fetch(http_origin, "/files/negative.txt", dj.Metadata(is_negative=True))
    (served,) = origin_server.requests_to("/base/files/negative.txt")
    assert "if-none-match" not in served.headers


async def test_http_unconditional_304_is_an_origin_error(http_origin: HttpOrigin) -> None:
    with pytest.raises(OriginError) as caught:
        await http_origin.fetcher("/always-304")(None)
    assert caught.value.status == 502
    assert "not conditional" in str(caught.value)


@pytest.mark.parametrize(("route", "status"), [("/error", 502), ("/unavailable", 502), ("/redirect", 502)])
async def test_http_server_errors_and_redirects_are_502(http_origin: HttpOrigin, route: str, status: int) -> None:
    with pytest.raises(OriginError) as caught:
        await http_origin.fetcher(route)(None)
    assert caught.value.status == status
    assert not isinstance(caught.value, OriginTimeout)
    assert http_origin.describe() in str(caught.value)
    if route == "/redirect":
        assert "redirect" in str(caught.value)
        assert "example.invalid" in str(caught.value)


@pytest.mark.parametrize(("route", "status"), [("/forbidden", 403), ("/unsatisfiable", 416)])
async def test_http_client_errors_keep_their_status(http_origin: HttpOrigin, route: str, status: int) -> None:
    with pytest.raises(OriginError) as caught:
        await http_origin.fetcher(route)(None)
    assert caught.value.status == status


@pytest.mark.parametrize("route", ["/missing", "/gone"])
async def test_http_404_and_410_are_cacheable_not_found(http_origin: HttpOrigin, route: str) -> None:
    with pytest.raises(dj.CacheableNotFound):
        await http_origin.fetcher(route)(None)


async def test_http_slow_answer_is_origin_timeout(http_origin: HttpOrigin) -> None:
    started = time.monotonic()
    with pytest.raises(OriginTimeout) as caught:
        await http_origin.fetcher("/slow")(None)
    assert caught.value.status == 504
    assert time.monotonic() - started < SLOW


async def test_http_stall_mid_body_is_origin_timeout(http_origin: HttpOrigin) -> None:
    result = await http_origin.fetcher("/stall")(None)
    body: Any = result.body
    assert await body.__anext__() == b"x" * 10
    with pytest.raises(OriginTimeout) as caught:
        await body.__anext__()
    assert caught.value.status == 504
    with pytest.raises(StopAsyncIteration):  # closed by the failure
        await body.__anext__()
    await body.aclose()


async def test_http_dropped_connection_mid_body_is_origin_error(http_origin: HttpOrigin) -> None:
    result = await http_origin.fetcher("/drop")(None)
    assert result.metadata is not None
    assert result.metadata.attrs["content-length"] == "1000"
    with pytest.raises(OriginError) as caught:
        await _read(result)
    assert caught.value.status == 502
    assert not isinstance(caught.value, OriginTimeout)


async def test_http_unreachable_origin_is_502() -> None:
    origin = open_origin(f"http://127.0.0.1:{free_port()}", timeout=TIMEOUT, connect_timeout=TIMEOUT)
    try:
        with pytest.raises(OriginError) as caught:
            await origin.fetcher("/x")(None)
        assert caught.value.status == 502
        assert "cannot connect" in str(caught.value)
    finally:
        await origin.aclose()


async def test_http_large_body_streams_in_pieces(http_origin: HttpOrigin) -> None:
    result = await http_origin.fetcher("/big")(None)
    assert result.metadata is not None
    assert result.metadata.attrs["content-length"] == str(BIG)
    reader = async_open_body(result.body)
    digest = hashlib.sha256()
    total = reads = 0
    try:
        while piece := await reader.read(100_000):
            assert len(piece) <= 100_000
            digest.update(piece)
            total += len(piece)
            reads += 1
    finally:
        await reader.aclose()
    assert total == BIG
    assert reads >= BIG // 100_000
    assert digest.digest() == hashlib.sha256(_big_piece() * (BIG // len(_big_piece()))).digest()


async def test_http_early_close_drops_the_connection(http_origin: HttpOrigin, origin_server: OriginServer) -> None:
    result = await http_origin.fetcher("/big")(None)
    body: Any = result.body
    assert await body.__anext__()
    await body.aclose()
    await body.aclose()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await body.__anext__()
    # The server's writes fail: the connection was closed, not drained.
    await _wait_for(lambda: any(s.aborted for s in origin_server.requests_to("/base/big")), "the aborted write")
    # The origin keeps working.
    _, data = await _fetch(http_origin, "/files/after-close.txt")
    assert data == b"content of after-close.txt v1"


async def test_http_path_is_encoded_again_and_query_passed_raw(http_origin: HttpOrigin) -> None:
    _, body = await _fetch(http_origin, "/echo/a b/é/100%/@x;y=1?q=%41&b=c d")
    echo = json.loads(body)
    assert echo["path"] == "/base/echo/a%20b/%C3%A9/100%25/@x;y=1?q=%41&b=c%20d"


async def test_http_url_never_changes_the_host(http_origin: HttpOrigin, origin_server: OriginServer) -> None:
    for path in ("//evil.example/x", "/@evil.example/x", "/x#@evil.example", "/x?@evil.example#y"):
        url = http_origin.url(path)
        assert url.host == "127.0.0.1"
        assert url.port == origin_server.port
        assert url.raw_path.startswith(b"/base/")
        assert not url.fragment
    with pytest.raises(ValueError, match="starting with '/'"):
        http_origin.fetcher("relative")


async def test_http_cookies_are_not_kept(http_origin: HttpOrigin) -> None:
    await _fetch(http_origin, "/cookie")
    _, body = await _fetch(http_origin, "/echo/cookies")
    assert "cookie" not in json.loads(body)["headers"]


async def test_http_encoded_body_is_passed_through_with_its_encoding(http_origin: HttpOrigin) -> None:
    metadata, body = await _fetch(http_origin, "/gzip")
    assert body == GZIPPED
    assert metadata.attrs["content-encoding"] == "gzip"
    assert metadata.attrs["content-length"] == str(len(GZIPPED))


async def test_http_chunked_body_has_no_length(http_origin: HttpOrigin) -> None:
    metadata, body = await _fetch(http_origin, "/chunked")
    assert body == b"one two three"
    assert "content-length" not in metadata.attrs


async def test_http_credentials_are_sent_but_never_described(origin_server: OriginServer) -> None:
    origin = open_origin(f"http://user:s3cret@127.0.0.1:{origin_server.port}/base")
    try:
        assert origin.describe() == f"http://127.0.0.1:{origin_server.port}/base"
        assert "s3cret" not in repr(origin)
        _, body = await _fetch(origin, "/echo/auth")
        assert json.loads(body)["headers"]["authorization"].startswith("Basic ")
    finally:
        await origin.aclose()
        await origin.aclose()  # idempotent


# -- a real AsyncCache in front of the HTTP origin ---------------------------------------------


async def test_cache_miss_then_hit_calls_the_origin_once(http_origin: HttpOrigin, origin_server: OriginServer) -> None:
    path = "/files/cached.txt"
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        for _ in range(3):
            async with await cache.get(path, http_origin.fetcher(path)) as response:
                assert await response.read() == b"content of cached.txt v1"
                assert response.metadata.etag == '"cached.txt-v1"'
                assert response.metadata.attrs["content-type"] == "text/plain; charset=utf-8"
    assert len(origin_server.requests_to("/base" + path)) == 1


async def test_cache_revalidates_a_stale_entry_with_304(http_origin: HttpOrigin, origin_server: OriginServer) -> None:
    path = "/files/stale.txt"
    served_path = "/base" + path
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=0) as cache:
        assert await cache.get_bytes(path, http_origin.fetcher(path)) == b"content of stale.txt v1"
        # Stale hit: served from tier 0, then revalidated in the background.
        assert await cache.get_bytes(path, http_origin.fetcher(path)) == b"content of stale.txt v1"
        await _wait_for(lambda: cache.stats().refreshes_completed >= 1, "the refresh")
        first, second = origin_server.requests_to(served_path)
        assert first.status == 200
        assert "if-none-match" not in first.headers
        assert second.status == 304
        assert second.sent == 0
        assert second.headers["if-none-match"] == '"stale.txt-v1"'
        assert second.headers["if-modified-since"] == LAST_MODIFIED

        # The origin changes: the next revalidation stores the new representation.
        origin_server.versions["stale.txt"] = 2
        assert await cache.get_bytes(path, http_origin.fetcher(path)) == b"content of stale.txt v1"
        await _wait_for(lambda: cache.stats().refreshes_completed >= 2, "the second refresh")
        async with await cache.get(path, http_origin.fetcher(path)) as response:
            assert await response.read() == b"content of stale.txt v2"
            assert response.metadata.etag == '"stale.txt-v2"'
            assert response.source == 0


async def test_cache_remembers_origin_404(http_origin: HttpOrigin, origin_server: OriginServer) -> None:
    before = len(origin_server.requests_to("/base/missing"))
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()]) as cache:
        for _ in range(2):
            with pytest.raises(dj.NotFound):
                await cache.get("/missing", http_origin.fetcher("/missing"))
    assert len(origin_server.requests_to("/base/missing")) == before + 1


# -- directory origin ----------------------------------------------------------------------------


@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello")
    (root / "sub" / "deeper" / "data.json").write_bytes(b'{"a": 1}')
    (root / "sub" / "a file é.bin").write_bytes(bytes(range(256)) * 1000)
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "noext").write_bytes(b"?")
    (root / "empty").write_bytes(b"")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "inside.txt").symlink_to(root / "hello.txt")
    return root


async def test_directory_serves_files_with_validator(served_dir: Path) -> None:
    origin = open_origin(str(served_dir))
    assert isinstance(origin, DirectoryOrigin)
    assert origin.describe() == f"directory {served_dir.resolve()}"
    metadata, body = await _fetch(origin, "/hello.txt")
    assert body == b"hello"
    status = (served_dir / "hello.txt").stat()
    assert metadata.etag == f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
    assert dict(metadata.attrs) == {
        "content-type": "text/plain",
        "content-length": "5",
        "last-modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(status.st_mtime)),
    }
    metadata, body = await _fetch(origin, "/sub/deeper/data.json?ignored=1")
    assert body == b'{"a": 1}'
    assert metadata.attrs["content-type"] == "application/json"
    metadata, body = await _fetch(origin, "/sub/a file é.bin")
    assert body == bytes(range(256)) * 1000
    assert metadata.attrs["content-length"] == "256000"
    metadata, _ = await _fetch(origin, "/archive.tar.gz")
    assert metadata.attrs["content-type"] == "application/gzip"
    assert "content-encoding" not in metadata.attrs
    metadata, _ = await _fetch(origin, "/noext")
    assert metadata.attrs["content-type"] == "application/octet-stream"
    metadata, body = await _fetch(origin, "/empty")
    assert body == b""
    assert metadata.attrs["content-length"] == "0"
    _, body = await _fetch(origin, "/inside.txt")  # a link that stays inside the root
    assert body == b"hello"


async def test_directory_large_file_comes_in_64k_chunks(served_dir: Path) -> None:
    (served_dir / "large").write_bytes(os.urandom(300_000))
    result = await open_origin(str(served_dir)).fetcher("/large")(None)
    body: Any = result.body
    sizes = [len(chunk) async for chunk in body]
    assert sizes == [65536, 65536, 65536, 65536, 300_000 - 4 * 65536]
    await body.aclose()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/absent.txt",
        "/sub",
        "/sub/",
        "/hello.txt/",
        "/hello.txt/x",
        "/escape.txt",
        "/escape-dir/secret.txt",
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/./hello.txt",
        "//hello.txt",
        "/hello\x00.txt",
        "/" + "x" * 5000,
    ],
)
async def test_directory_not_found(served_dir: Path, path: str) -> None:
    with pytest.raises(dj.CacheableNotFound):
        await open_origin(str(served_dir)).fetcher(path)(None)


async def test_directory_revalidation(served_dir: Path) -> None:
    origin = open_origin(str(served_dir))
    fetch = origin.fetcher("/hello.txt")
    metadata, _ = await _fetch(origin, "/hello.txt")
    with pytest.raises(dj.NotModified):
        await fetch(metadata)
    with pytest.raises(dj.NotModified):  # cached_at and other attrs do not matter, the validator does
        await fetch(metadata.replace(cached_at=time.time()))
    target = served_dir / "hello.txt"
    target.write_bytes(b"hello again")
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    changed, body = await _fetch(origin, "/hello.txt", metadata)
    assert body == b"hello again"
    assert changed.etag != metadata.etag
    assert changed.attrs["content-length"] == "11"
    # Same size, new mtime: a new validator too.
    target.write_bytes(b"HELLO AGAIN")
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10_000_000_000))
    again, body = await _fetch(origin, "/hello.txt", changed)
    assert body == b"HELLO AGAIN"
    assert again.etag != changed.etag


def _open_count(target: Path) -> int:
    """How many descriptors of this process are open on ``target`` (skips the test without ``/proc``)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    wanted = str(target.resolve())
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == wanted
        except OSError:
            pass
    return count


async def test_directory_body_closes_the_file(served_dir: Path) -> None:
    target = served_dir / "sub" / "a file é.bin"
    result = await open_origin(str(served_dir)).fetcher("/sub/a file é.bin")(None)
    assert _open_count(target) == 1
    body: Any = result.body
    assert len(await body.__anext__()) == 65536
    await body.aclose()
    await body.aclose()
    assert _open_count(target) == 0
    with pytest.raises(ValueError, match="closed"):
        await body.__anext__()
    await _fetch(open_origin(str(served_dir)), "/sub/a file é.bin")  # read to the end: closed too
    assert _open_count(target) == 0
    metadata, _ = await _fetch(open_origin(str(served_dir)), "/sub/a file é.bin")
    with pytest.raises(dj.NotModified):
        await open_origin(str(served_dir)).fetcher("/sub/a file é.bin")(metadata)
    assert _open_count(target) == 0


async def test_directory_cancelled_fetches_and_reads_leak_no_file(served_dir: Path) -> None:
    target = served_dir / "sub" / "a file é.bin"
    fetch = open_origin(str(served_dir)).fetcher("/sub/a file é.bin")
    for delay in (0, 0, 0.0005, 0.001, 0.002, 0.005):
        task = asyncio.ensure_future(fetch(None))
        await asyncio.sleep(delay)
        task.cancel()
        outcome = (await asyncio.gather(task, return_exceptions=True))[0]
        if isinstance(outcome, dj.FetchResult):
            body: Any = outcome.body
            reading = asyncio.ensure_future(body.__anext__())
            await asyncio.sleep(delay)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await body.aclose()
    await _wait_for(lambda: _open_count(target) == 0, "every descriptor closed")


async def test_directory_file_shrinking_while_read_is_an_error(served_dir: Path) -> None:
    target = served_dir / "shrinks"
    target.write_bytes(b"x" * 200_000)
    result = await open_origin(str(served_dir)).fetcher("/shrinks")(None)
    body: Any = result.body
    assert len(await body.__anext__()) == 65536
    os.truncate(target, 70_000)
    assert len(await body.__anext__()) == 70_000 - 65536
    with pytest.raises(OriginError, match="shrank"):
        await body.__anext__()


async def test_directory_unreadable_file_is_403(served_dir: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    target = served_dir / "private"
    target.write_bytes(b"private")
    target.chmod(0)
    with pytest.raises(OriginError) as caught:
        await open_origin(str(served_dir)).fetcher("/private")(None)
    assert caught.value.status == 403


async def test_directory_origin_by_file_url(served_dir: Path) -> None:
    origin = open_origin(served_dir.resolve().as_uri())
    assert isinstance(origin, DirectoryOrigin)
    _, body = await _fetch(origin, "/hello.txt")
    assert body == b"hello"


# -- object-store origin ------------------------------------------------------------------------------


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    return s3_server.bucket()


async def test_object_origin_streams_objects(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, **s3_server.store_options())  # type: ignore[arg-type]
    put = await obstore.put_async(store, "pre/docs/a b é.txt", b"object text")
    await obstore.put_async(store, "pre/data", b"{}", attributes={"Content-Type": "application/json"})
    large = os.urandom(1_000_000)
    await obstore.put_async(store, "pre/large.bin", large)
    origin = open_origin(f"s3://{bucket}/pre", s3_options=s3_server.store_options())
    assert isinstance(origin, ObjectOrigin)
    assert origin.describe() == f"s3://{bucket}/pre"
    try:
        metadata, body = await _fetch(origin, "/docs/a b é.txt")
        assert body == b"object text"
        assert metadata.etag == put["e_tag"]
        assert metadata.attrs["content-type"] == "text/plain"  # moto's binary/octet-stream: guessed instead
        assert metadata.attrs["content-length"] == "11"
        head = await obstore.head_async(store, "pre/docs/a b é.txt")
        assert metadata.attrs["last-modified"] == head["last_modified"].strftime("%a, %d %b %Y %H:%M:%S GMT")
        metadata, _ = await _fetch(origin, "/data?query=ignored")
        assert metadata.attrs["content-type"] == "application/json"  # stored type kept
        metadata, body = await _fetch(origin, "/large.bin")
        assert body == large
        assert metadata.attrs["content-length"] == "1000000"
    finally:
        await origin.aclose()


async def test_object_origin_missing_and_not_modified(s3_server: MotoServer, bucket: str) -> None:
    store = S3Store(bucket, **s3_server.store_options())  # type: ignore[arg-type]
    await obstore.put_async(store, "key.txt", b"v1")
    origin = open_origin(f"s3://{bucket}", s3_options=s3_server.store_options())
    for path in ("/absent", "/pre", "/", "/../key.txt", "/dir/"):
        with pytest.raises(dj.CacheableNotFound):
            await origin.fetcher(path)(None)
    metadata, _ = await _fetch(origin, "/key.txt")
    with pytest.raises(dj.NotModified):
        await origin.fetcher("/key.txt")(metadata)
    with pytest.raises(dj.NotModified):
        await origin.fetcher("/key.txt")(dj.Metadata(etag=metadata.etag))
    await obstore.put_async(store, "key.txt", b"version 2")
    changed, body = await _fetch(origin, "/key.txt", metadata)
    assert body == b"version 2"
    assert changed.etag != metadata.etag


async def test_object_origin_missing_bucket_and_unreachable_endpoint_are_502(s3_server: MotoServer) -> None:
    origin = open_origin("s3://no-such-bucket-dj", s3_options=s3_server.store_options())
    with pytest.raises(OriginError) as caught:
        await origin.fetcher("/key")(None)
    assert caught.value.status == 502
    assert "bucket" in str(caught.value)

    options = {**s3_server.store_options(), "endpoint": f"http://127.0.0.1:{free_port()}"}
    origin = open_origin("s3://bucket", s3_options=options, timeout=TIMEOUT, connect_timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(OriginError) as caught:
        await origin.fetcher("/key")(None)
    assert caught.value.status in (502, 504)
    assert time.monotonic() - started < 10


# -- configuration and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("", {}, "origin must be"),
        ("http://127.0.0.1:1/base?x=1", {}, "query or a fragment"),
        ("http://127.0.0.1:1/base#top", {}, "query or a fragment"),
        ("http:///nohost", {}, "with a host"),
        ("ftp://example.com/x", {}, "unsupported scheme"),
        ("http://127.0.0.1:1", {"s3_options": {"region": "x"}}, "s3_options apply only"),
        ("http://127.0.0.1:1", {"timeout": 0}, "timeout must be a positive"),
        ("http://127.0.0.1:1", {"connect_timeout": -1.0}, "connect_timeout must be a positive"),
        ("http://127.0.0.1:1", {"timeout": float("inf")}, "timeout must be a positive"),
        ("s3://bucket", {"s3_options": {"no_such_option": 1}}, "cannot open the object-store origin"),
    ],
)
def test_open_origin_refuses_bad_specs(spec: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(dj.ConfigError, match=message):
        open_origin(spec, **kwargs)


def test_open_origin_refuses_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(dj.ConfigError, match="does not exist"):
        open_origin(str(tmp_path / "absent"))
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(dj.ConfigError, match="is not a directory"):
        open_origin(str(tmp_path / "file"))


def test_origin_errors_carry_status_and_pickle() -> None:
    error = OriginError("boom", 403)
    assert isinstance(error, dj.DaramjweeError)
    assert error.status == 403
    assert OriginError("boom").status == 502
    timeout = OriginTimeout("slow")
    assert isinstance(timeout, OriginError)
    assert timeout.status == 504
    for original in (error, timeout):
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original)
        assert copy.status == original.status
        assert str(copy) == str(original)


@pytest.mark.parametrize(
    ("spec", "described"),
    [
        ("http://127.0.0.1:8080/base/", "http://127.0.0.1:8080/base"),
        ("HTTPS://Example.COM", "https://example.com"),
        ("http://[::1]:81/x", "http://[::1]:81/x"),
    ],
)
async def test_http_describe_forms(spec: str, described: str) -> None:
    origin = open_origin(spec)
    assert origin.describe() == described
    await origin.aclose()
