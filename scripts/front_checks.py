"""Hostile-client checks against ASGI servers running ``CacheApp``, side by side (the measurements in docs/serve.md).

Usage::

    PYTHONPATH=src python scripts/front_checks.py [SERVER ...]
    PYTHONPATH=src python scripts/front_checks.py throughput [SERVER ...]

SERVER: ``uvicorn-httptools``, ``uvicorn-h11``, ``granian`` (its CLI, 32 KiB
buffer), ``granian-bigbuf`` (its default 408 KiB buffer), ``granian-asyncio``
(no uvloop) or ``daramjwee`` (``daramjwee serve`` itself).

Each server runs the same app (a directory origin) on a free loopback port,
configured with its own limits as close to nginx's defaults as its options
allow, with a 2 s header timeout so the slowloris check finishes quickly.
Every check runs while a poller fetches ``/healthz`` every 10 ms; its
worst latency is reported next to the check's outcome.  The app refuses a
duplicate ``Host`` and a doubly framed body itself (``server/_front.py``):
to see what a server alone does with those, run this against the app from
before that check.

``throughput``: each server with 2 workers, ``wrk`` against memory-tier hits
of 1 KiB and 1 MiB, 5 rounds interleaved across the servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HEADER_TIMEOUT = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(kind: str, port: int, root: Path, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    settings = {
        "origin": str(root / "www"),
        "port": port,
        "cache_dir": str(root / f"cache-{kind}"),
        "server_names": [],
        "workers": workers,
    }
    env = {**os.environ, "DARAMJWEE_SERVE_SETTINGS": json.dumps(settings)}
    target = "daramjwee.server._serve:app_from_environment"
    py = sys.executable
    if kind.startswith("uvicorn"):
        http = kind.split("-")[1]
        args = [py, "-m", "uvicorn", "--factory", target, "--port", str(port), "--http", http]
        args += ["--limit-concurrency", "1000", "--timeout-keep-alive", "75", "--log-level", "warning"]
        args += ["--h11-max-incomplete-event-size", "32768", "--no-server-header"]
        return [*args, "--workers", str(workers)], env
    if kind.startswith("granian"):
        args = [py, "-m", "granian", "--interface", "asgi", "--factory", target, "--port", str(port), "--http", "1"]
        args += ["--http1-header-read-timeout", str(int(HEADER_TIMEOUT * 1000)), "--http1-buffer-size", "32768"]
        args += ["--backpressure", "1000", "--no-ws", "--log-level", "warning"]
        if kind == "granian-bigbuf":
            args[args.index("32768")] = "417792"
        if kind == "granian-asyncio":
            args += ["--loop", "asyncio"]
        return [*args, "--workers", str(workers)], env
    args = [py, "-m", "daramjwee", "serve", "--origin", settings["origin"], "--port", str(port)]
    args += ["--cache-dir", settings["cache_dir"], "--header-timeout", str(HEADER_TIMEOUT)]
    return [*args, "--workers", str(workers)], env


@contextlib.contextmanager
def running(kind: str, root: Path, workers: int = 1) -> Iterator[int]:
    port = free_port()
    args, env = command(kind, port, root, workers)
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while get(port, "/healthz", timeout=1)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, float]:
    """(status or 0 on failure, seconds) of one GET on a new connection."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            status = status_of(read_head(sock))
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status_of(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


class Poller:
    def __init__(self, port: int) -> None:
        self.port = port
        self.worst = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            status, seconds = get(self.port, "/healthz")
            self.worst = max(self.worst, seconds)
            self.failures += status != 200
            time.sleep(0.01)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class _Answered(Exception):
    def __init__(self, data: bytes) -> None:
        self.data = data


def _poll_answer(sock: socket.socket) -> None:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return
    except ConnectionResetError:
        data = b""
    raise _Answered(data)


def send_then_read(port: int, parts: Iterator[bytes], limit: float = 10.0) -> str:
    """Send ``parts`` until the server answers or closes; what it did."""
    started = time.monotonic()

    def took() -> str:
        return f"{time.monotonic() - started:.1f}s"

    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.setblocking(False)
        try:
            for part in parts:
                _poll_answer(sock)
                _send_some(sock, part, started + limit)
                if time.monotonic() - started > limit:
                    return f"still open after {took()}"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                _poll_answer(sock)
                time.sleep(0.001)
            return "no answer in 5 s"
        except _Answered as answer:
            return f"{status_of(answer.data)} after {took()}" if answer.data else f"closed after {took()}"
        except (BrokenPipeError, ConnectionResetError):
            return f"reset after {took()}"


def _send_some(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            _poll_answer(sock)
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
            continue
        view = view[sent:]


def endless_header(port: int) -> str:
    def parts() -> Iterator[bytes]:
        yield b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
        while True:
            yield b"a" * 65536

    return send_then_read(port, parts(), limit=8)


def many_headers(port: int) -> str:
    lines = b"".join(b"X-H%d: v\r\n" % index for index in range(100_000))
    return send_then_read(port, iter([b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", lines, b"\r\n"]))


def huge_header(port: int) -> str:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    return send_then_read(port, iter([head, b"a" * (16 << 20), b"\r\n\r\n"]))


def long_url(port: int, length: int) -> str:
    return send_then_read(port, iter([b"GET /" + b"a" * length + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]))


def duplicate_host(port: int) -> str:
    return send_then_read(port, iter([b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"]))


def smuggle(port: int, body: bytes) -> str:
    """The statuses answered on one connection to a request followed by a smuggled one."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(body)
        data = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    statuses = [status_of(b"HTTP/1.1 " + line) for line in data.split(b"HTTP/1.1 ")[1:]]
    return "+".join(map(str, statuses)) + (" then closed" if data else "closed")


CL_TE = (
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
)
BAD_CHUNKED = (
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
)


def slowloris(port: int, count: int) -> str:
    """Open ``count`` connections with a partial header; how many the server closed, and when."""
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            break
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.setblocking(False)
        sockets.append(sock)
    opened = len(sockets)
    started = time.monotonic()
    closed = 0
    open_socks = list(sockets)
    while open_socks and time.monotonic() - started < HEADER_TIMEOUT + 5:
        time.sleep(0.1)
        still = []
        for sock in open_socks:
            try:
                data = sock.recv(1)
            except BlockingIOError:
                still.append(sock)
                continue
            except OSError:
                data = b""
            closed += 1
            del data
        open_socks = still
    for sock in sockets:
        sock.close()
    return f"{closed}/{opened} closed in {time.monotonic() - started:.1f}s"


def idle_keepalive(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 8) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        read_head(sock)
        started = time.monotonic()
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            return "still open"
        return f"closed after {time.monotonic() - started:.1f}s idle"


CHECKS: dict[str, Callable[[int], str]] = {
    "endless header": endless_header,
    "100,000 headers": many_headers,
    "one 16 MiB header": huge_header,
    "URL of 10 KiB": lambda port: long_url(port, 10_000),
    "URL of 100 KiB": lambda port: long_url(port, 100_000),
    "duplicate Host": duplicate_host,
    "CL + TE": lambda port: smuggle(port, CL_TE),
    "bad chunked": lambda port: smuggle(port, BAD_CHUNKED),
    "1,000 slowloris": lambda port: slowloris(port, 1000),
    "idle keep-alive": idle_keepalive,
}


def main(kinds: list[str]) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        (root / "www").mkdir()
        (root / "www" / "a.txt").write_bytes(b"hello")
        for kind in kinds:
            with running(kind, root) as port:
                for check, run in CHECKS.items():
                    with Poller(port) as poller:
                        try:
                            outcome = run(port)
                        except OSError as error:
                            outcome = f"error {error!r}"
                    worst = f"{poller.worst * 1000:.0f} ms" + (f", {poller.failures} failed" if poller.failures else "")
                    print(f"{kind:18} {check:18} {outcome:28} healthz worst {worst}", flush=True)


def throughput(kinds: list[str], rounds: int = 5, seconds: int = 3) -> None:
    """wrk against each server (2 workers), memory-tier hits of 1 KiB and 1 MiB, rounds interleaved."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        (root / "www").mkdir()
        (root / "www" / "small.bin").write_bytes(os.urandom(1 << 10))
        (root / "www" / "big.bin").write_bytes(os.urandom(1 << 20))
        with contextlib.ExitStack() as stack:
            ports = {kind: stack.enter_context(running(kind, root, workers=2)) for kind in kinds}
            results: dict[tuple[str, str], list[float]] = {}
            for port in ports.values():
                for path in ("/small.bin", "/big.bin"):
                    for _ in range(4):
                        get(port, path)
            for _ in range(rounds):
                for kind, port in ports.items():
                    for path, connections in (("/small.bin", 32), ("/big.bin", 8)):
                        args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"]
                        output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
                        rate = float(output.split("Requests/sec:")[1].split()[0])
                        if "Non-2xx" in output or "Socket errors" in output:
                            print(output)
                        results.setdefault((kind, path), []).append(rate)
            for (kind, path), rates in results.items():
                print(f"{kind:18} {path:12} req/s " + ", ".join(f"{rate:,.0f}" for rate in rates), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["throughput"]:
        throughput(sys.argv[2:])
    else:
        main(sys.argv[1:] or ["uvicorn-httptools", "uvicorn-h11", "granian"])
