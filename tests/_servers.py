"""Real servers on loopback for the tests: ``redis-server``, a Redis Cluster and moto's S3 API server.

Each runs as a child process on a free port, started and stopped by the
fixtures in ``tests/conftest.py``.  The single servers are the package's own
launchers (``daramjwee.testing``, which ``daramjwee bench`` uses too).
``scripts/test.sh`` installs redis-server (Debian package) and moto (dev extra)
on a fresh machine.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from daramjwee.testing._loopback import MotoServer, RedisServer, free_port, wait_until

__all__ = ["MotoServer", "RedisCluster", "RedisServer", "free_port"]


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
            wait_until(self._ready, "redis cluster", self.nodes[0].process)  # type: ignore[arg-type]
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
