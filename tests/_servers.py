"""Real servers on loopback for the tests: ``redis-server`` and moto's S3 API server.

Each runs as a child process on a free port, started and stopped by the
fixtures in ``tests/conftest.py``.  ``scripts/test.sh`` installs redis-server
(Debian package) and moto (dev extra) on a fresh machine.
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

__all__ = ["MotoServer", "RedisCluster", "RedisServer", "free_port"]

_START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} while starting")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {_START_TIMEOUT} s")


class _ChildServer:
    """A server running as a child process of the tests."""

    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
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
                "redis-server is not installed: run `bash scripts/test.sh` (it installs it) "
                "or `apt-get install -y redis-server`"
            )
        self.binary = binary
        self.directory = directory
        self.cluster = cluster
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory), "--protected-mode", "no", "--loglevel", "warning"]
        if self.cluster:  # the bus port is given: the default, port + 10000, may be past 65535
            command += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            command += ["--cluster-port", str(free_port())]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_until(self._ping, "redis-server", self.process)
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no save), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


class RedisCluster:
    """A Redis Cluster of ``size`` primaries (no replicas) on loopback, made with ``redis-cli --cluster create``."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        self.nodes = [RedisServer(directory / f"node-{index}", cluster=True) for index in range(size)]

    def start(self) -> None:
        """Start every node and join them; on any failure, stop the nodes already started, then raise."""
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            command = ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
            subprocess.run(command, check=True, capture_output=True, timeout=60)
            _wait_until(self._ready, "redis cluster", self.nodes[0].process)  # type: ignore[arg-type]
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        for node in self.nodes:
            with socket.create_connection(("127.0.0.1", node.port), timeout=1) as connection:
                connection.sendall(b"CLUSTER INFO\r\n")
                if b"cluster_state:ok" not in connection.recv(4096):
                    return False
        return True

    @property
    def port(self) -> int:
        """The port of one node: a cluster client discovers the others from it."""
        return self.nodes[0].port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


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
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_until(self._answers, "moto server", self.process)
        except BaseException:
            self.stop()
            raise

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
