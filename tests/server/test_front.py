"""The front of ``daramjwee serve`` against hostile clients, while another client keeps asking for ``/healthz``.

A real ``daramjwee serve`` subprocess on loopback, in front of a directory.
The hostile clients are raw sockets; the well-behaved one is a poller in
its own process (so the test's own socket work does not delay it), which
fetches ``/healthz`` on a new connection every 10 ms for the whole test and
reports its worst latency: it must stay under 100 ms, and no probe may fail.
"""

from __future__ import annotations

import contextlib
import json
import resource
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _servers import free_port
from daramjwee._errors import ConfigError
from daramjwee.server import load_settings

HEADER_TIMEOUT = 1.0
"""The server's --header-timeout in these tests (seconds)."""
HEALTHZ_LIMIT = 0.1
"""The worst /healthz latency another client may see while one misbehaves."""
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class Serve:
    def __init__(self, root: Path, *extra: str) -> None:
        self.port = free_port()
        (root / "www").mkdir(exist_ok=True)
        (root / "www" / "a.txt").write_bytes(b"hello")
        command = [sys.executable, "-m", "daramjwee", "serve", "--origin", str(root / "www"), "--port", str(self.port)]
        command += ["--cache-dir", str(root / "cache"), "--header-timeout", str(HEADER_TIMEOUT), *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"daramjwee serve exited with {self.process.returncode}: {output}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("daramjwee serve did not answer /healthz in 30 s")
            time.sleep(0.05)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


_POLLER = textwrap.dedent(
    """
    import json, select, socket, sys, time
    port, worst, probes, failures = int(sys.argv[1]), 0.0, 0, []
    while probes == 0 or not select.select([sys.stdin], [], [], 0.01)[0]:
        started = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                connection.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data and (chunk := connection.recv(4096)):
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200 "):
                failures.append(data[:40].decode("latin-1"))
        except OSError as error:
            failures.append(repr(error))
        worst = max(worst, time.perf_counter() - started)
        probes += 1
        if probes == 1:
            print("ready", flush=True)
    print(json.dumps({"worst": worst, "probes": probes, "failures": failures}))
    """
)


@contextlib.contextmanager
def healthz_poller(server: Serve) -> Iterator[None]:
    """Poll ``/healthz`` in another process throughout the block; then assert it never took 100 ms nor failed."""
    poller = subprocess.Popen(
        [sys.executable, "-c", _POLLER, str(server.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert poller.stdout is not None
        assert poller.stdout.readline() == "ready\n"  # one probe answered before the misbehaviour starts
        yield
        time.sleep(0.1)  # and a few after it
        output, _ = poller.communicate("stop\n", timeout=10)
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.communicate()
    report = json.loads(output)
    assert report["probes"] >= 2
    assert report["failures"] == []
    assert report["worst"] < HEALTHZ_LIMIT, f"/healthz took {report['worst'] * 1000:.0f} ms"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    serve = Serve(tmp_path_factory.mktemp("front"), "--max-connections", "2000")
    yield serve
    serve.stop()


def _status(data: bytes) -> int | None:
    """The status of the response at the start of ``data``, or ``None`` (nothing, or not a response)."""
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data[9:12])


def _send_until_answered(server: Serve, parts: Iterator[bytes], limit: float = 5.0) -> tuple[int | None, int]:
    """Send ``parts`` until the server answers or closes: (its status or ``None`` if it closed, bytes sent).

    Fails if the server neither answers nor closes within ``limit`` seconds.
    """
    sent = 0
    deadline = time.monotonic() + limit
    with server.connect() as connection:
        connection.setblocking(False)
        for part in parts:
            view = memoryview(part)
            while view:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server neither answered nor closed after {sent:,} bytes")
                if select.select([connection], [], [], 0)[0]:
                    return _answer(connection), sent
                try:
                    count = connection.send(view)
                except BlockingIOError:
                    select.select([connection], [connection], [], 0.01)
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    return None, sent
                view = view[count:]
                sent += count
        readable = select.select([connection], [], [], max(0.0, deadline - time.monotonic()))[0]
        if not readable:
            pytest.fail("the server neither answered nor closed")
        return _answer(connection), sent


def _answer(connection: socket.socket) -> int | None:
    try:
        return _status(connection.recv(65536))
    except ConnectionResetError:
        return None


def _exchange(server: Serve, data: bytes) -> bytes:
    """Send ``data`` on one connection and read until the server closes it (fails if it does not in 3 s)."""
    with server.connect(timeout=3) as connection:
        connection.sendall(data)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pytest.fail(f"the connection was left open after {received[:60]!r}")
        except ConnectionResetError:
            pass
        return received


def test_an_endless_header_is_cut_short_at_the_header_size_limit(server: Serve) -> None:
    def endless() -> Iterator[bytes]:
        yield REQUEST + b"X-Endless: "
        while True:
            yield b"a" * 4096

    with healthz_poller(server):
        status, sent = _send_until_answered(server, endless())
    assert status in (431, None)
    assert sent < 4 << 20, "the server read megabytes of one header"


def test_a_hundred_thousand_headers_are_refused(server: Serve) -> None:
    lines = b"".join(b"X-Header-%d: v\r\n" % index for index in range(100_000))
    with healthz_poller(server):
        status, _ = _send_until_answered(server, iter([REQUEST, lines, b"\r\n"]))
    assert status in (431, None)  # (the 1.9 MB may all fit in the loopback socket buffers: no byte count to check)


def test_a_hundred_and_one_headers_are_refused_and_a_hundred_are_not(server: Serve) -> None:
    def with_headers(count: int) -> bytes:
        lines = b"".join(b"X-Header-%d: v\r\n" % index for index in range(count - 2))
        return REQUEST + lines + b"Connection: close\r\n\r\n"

    assert _status(_exchange(server, with_headers(100))) == 200
    assert _status(_exchange(server, with_headers(101))) == 431


def test_one_sixteen_mebibyte_header_is_refused(server: Serve) -> None:
    with healthz_poller(server):
        status, sent = _send_until_answered(server, iter([REQUEST + b"X-Big: ", b"a" * (16 << 20), b"\r\n\r\n"]))
    assert status in (431, None)
    assert sent < 16 << 20


def test_a_long_url_gets_414_and_a_longer_one_431(server: Serve) -> None:
    assert _status(_exchange(server, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) == 414
    status, _ = _send_until_answered(
        server, iter([b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"])
    )
    assert status in (431, None)


def test_a_duplicate_host_gets_400_and_the_connection_closed(server: Serve) -> None:
    with healthz_poller(server):
        answer = _exchange(server, REQUEST + b"Host: evil.example\r\n\r\n")
    assert _status(answer) == 400
    assert b"more than one Host header" in answer


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="CL+TE"),
        pytest.param(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", id="TE+CL"),
        pytest.param(b"Content-Length: 0\r\nContent-Length: 7\r\n\r\n", id="CL+CL"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", id="bad-chunked"),
    ],
)
def test_a_doubly_framed_body_never_lets_a_second_request_through(server: Serve, framing: bytes) -> None:
    smuggled = b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with healthz_poller(server):
        answer = _exchange(server, REQUEST + framing + smuggled)
    assert answer.count(b"HTTP/1.1 ") <= 1, f"the smuggled request was answered: {answer!r}"
    assert b"hello" not in answer


def test_a_thousand_slowloris_connections_are_closed_after_the_header_timeout(server: Serve) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    connections: list[socket.socket] = []
    try:
        with healthz_poller(server):
            for _ in range(1000):
                connection = server.connect()
                connection.sendall(REQUEST + b"X-Slow: ")  # and never more
                connection.setblocking(False)
                connections.append(connection)
            opened = time.monotonic()
            waiting = set(connections)
            while waiting and time.monotonic() < opened + HEADER_TIMEOUT + 3:
                for connection in select.select(list(waiting), [], [], 0.1)[0]:
                    with contextlib.suppress(BlockingIOError, ConnectionResetError):
                        connection.recv(1024)
                    waiting.discard(connection)
                if time.monotonic() < opened + HEADER_TIMEOUT / 2:
                    assert len(waiting) == 1000, "closed before the header timeout"
        assert not waiting, f"{len(waiting)} of 1000 slow connections still open"
    finally:
        for connection in connections:
            connection.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_header_trickling_one_byte_at_a_time_is_closed_at_the_header_timeout(server: Serve) -> None:
    """The timeout bounds the whole header, not the pause between two bytes."""
    with server.connect() as connection:
        connection.sendall(REQUEST)
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() < started + HEADER_TIMEOUT + 3:
                connection.sendall(b"X")
                time.sleep(0.1)
        assert time.monotonic() - started > HEADER_TIMEOUT / 2


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(server: Serve) -> None:
    with server.connect() as connection:
        connection.sendall(REQUEST + b"\r\n")
        assert _status(connection.recv(65536)) == 200
        idle = time.monotonic()
        connection.settimeout(HEADER_TIMEOUT + 3)
        assert connection.recv(65536) == b""
        assert time.monotonic() - idle > HEADER_TIMEOUT / 2


def test_connections_beyond_the_cap_wait_for_one_to_close(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--max-connections", "4", "--workers", "1", "--header-timeout", "30")
    try:
        idle = [server.connect() for _ in range(4)]
        with server.connect(timeout=0.5) as waiting:
            waiting.sendall(REQUEST + b"Connection: close\r\n\r\n")
            with pytest.raises(TimeoutError):
                waiting.recv(65536)
            idle.pop().close()
            waiting.settimeout(5)
            assert _status(waiting.recv(65536)) == 200
        for connection in idle:
            connection.close()
    finally:
        server.stop()


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    server = Serve(tmp_path, "--workers", "2")
    try:
        with httpx.Client() as client:
            assert all(client.get(f"http://127.0.0.1:{server.port}/a.txt").content == b"hello" for _ in range(4))
        pgrep = ["pgrep", "-P", str(server.process.pid)]
        workers = subprocess.run(pgrep, check=False, capture_output=True, text=True).stdout
        assert len(workers.split()) == 2
    finally:
        server.stop()


def test_the_open_file_limit_is_raised_for_the_connection_cap(server: Serve) -> None:
    limits = Path(f"/proc/{server.process.pid}/limits")
    if not limits.exists():
        pytest.skip("no /proc")
    soft = next(line.split()[3] for line in limits.read_text().splitlines() if line.startswith("Max open files"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert soft == "unlimited" or int(soft) >= min(2000, hard)


def test_a_taken_port_is_one_clear_error_not_a_shared_port(server: Serve, tmp_path: Path) -> None:
    """granian's workers bind with SO_REUSEPORT: without the check, a second server would share the port."""
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", str(tmp_path), "--port", str(server.port)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"daramjwee serve: cannot listen on 127.0.0.1:{server.port}: Address already in use"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"header_timeout": 61}, "header-timeout must be seconds in 0.001..60, got 61"),
        ({"header_timeout": 0}, "header-timeout must be seconds in 0.001..60, got 0"),
        ({"max_header_size": "4KiB"}, "max-header-size must be 8KiB..1MiB, got '4KiB'"),
        ({"max_header_size": "2MiB"}, "max-header-size must be 8KiB..1MiB, got '2MiB'"),
        ({"max_connections": 0}, "max-connections must be an integer >= 1, got 0"),
        ({"max_connections": True}, "max-connections must be an integer >= 1, got True"),
    ],
)
def test_front_settings_out_of_range_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"origin": "/srv", **overrides})
    assert str(raised.value) == message


def test_front_settings_defaults_are_nginx_like() -> None:
    settings = load_settings(None, {"origin": "/srv"})
    assert (settings.header_timeout, settings.max_header_size, settings.max_connections) == (60.0, "32KiB", 4096)
