"""Real servers on loopback as child processes: ``redis-server`` and moto's S3 API server.

Public as ``daramjwee.testing.RedisServer``, ``MotoServer``, ``HttpServer`` and
``free_port``.  Each runs on a free 127.0.0.1 port, is started with ``start()``
(which waits until it answers, and stops the child again if it never does) and
stopped with ``stop()``.  ``daramjwee bench`` measures the shared tiers against
them, and the test suite uses them the same way.  Standard library only: the
servers themselves come from the Debian package ``redis-server`` and the
Python package ``moto[server]``; ``HttpServer`` runs any HTTP server command.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["HttpServer", "MotoServer", "RedisServer", "free_port", "wait_until"]

_START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    """Poll ``ready()`` until it is true; raise ``RuntimeError`` if ``process`` exits first or 30 s pass."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} while starting")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {_START_TIMEOUT} s")


class _ChildServer:
    """A server running as a child process of this one."""

    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The running child's process id; ``RuntimeError`` when it is not running."""
        if self.process is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return self.process.pid

    def _launch(self, command: list[str], ready: Callable[[], bool], what: str) -> None:
        """Start ``command`` as this server's child and wait until ``ready()``; stop it again if it never is."""
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(ready, what, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s) and wait for it; a no-op when it is not running."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class RedisServer(_ChildServer):
    """A ``redis-server`` child process without persistence; can be killed and restarted on the same port."""

    def __init__(self, directory: Path, *, cluster: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: `apt-get install -y redis-server` "
                "(or `bash scripts/test.sh`, which installs it)"
            )
        self.binary = binary
        self.directory = directory
        self.cluster = cluster
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0 on this server, for ``RedisStore`` or ``redis.from_url``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start ``redis-server`` and wait until it answers ``PING`` (``RuntimeError`` if it exits or 30 s pass).

        Can be called again after :meth:`stop` or :meth:`kill`: the server comes back on the same port, empty.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory), "--protected-mode", "no", "--loglevel", "warning"]
        if self.cluster:  # the bus port is given: the default, port + 10000, may be past 65535
            command += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            command += ["--cluster-port", str(free_port())]
        self._launch(command, self._ping, "redis-server")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no save), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


class MotoServer(_ChildServer):
    """moto's S3 API server (``python -m moto.server``) on loopback; ``bucket()`` makes a fresh bucket."""

    access_key = "daramjwee-test"
    secret_key = "daramjwee-test-secret"
    region = "us-east-1"

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The server's ``http://127.0.0.1:port`` URL, the S3 endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=0.5):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def start(self) -> None:
        """Start the server and wait until it answers (``RuntimeError`` if it exits or 30 s pass)."""
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._launch(command, self._answers, "moto server")

    def bucket(self) -> str:
        """Create a new, empty bucket and return its name."""
        name = f"dj-{uuid.uuid4().hex[:20]}"
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass
        return name

    def store_options(self) -> dict[str, object]:
        """Keyword arguments for ``obstore.store.S3Store`` (besides the bucket) to reach this server."""
        return {
            "endpoint": self.endpoint,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "region": self.region,
            "client_options": {"allow_http": True},
        }


class HttpServer(_ChildServer):
    """Any command serving HTTP on ``127.0.0.1:port``; started when ``GET probe`` answers 200."""

    def __init__(self, command: list[str], port: int, *, probe: str = "/") -> None:
        self.command = command
        self.port = port
        self.probe = probe
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        """The URL of ``path`` (which starts with ``/``) on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url(self.probe), timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        """Run the command and wait until ``GET probe`` answers 200 (``RuntimeError`` if it exits or 30 s pass)."""
        self._launch(self.command, self._answers, self.command[0])
