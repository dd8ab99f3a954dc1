"""The test's side of a fleet: worker processes (``fleet._worker``) started, asked and stopped.

Each worker is a ``python -m fleet._worker`` child process with pipes for
stdin and stdout; a thread per worker reads its answers into a queue, so that
every wait for an answer has a timeout and a dead worker fails the test with
its exit status instead of hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import daramjwee as dj

Message = dict[str, Any]

_SRC = Path(dj.__file__).resolve().parent.parent
_TESTS = Path(__file__).resolve().parent.parent


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    paths = [str(_SRC), str(_TESTS)]
    if environment.get("PYTHONPATH"):
        paths.append(environment["PYTHONPATH"])
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


class Worker:
    """One fleet member: a child process answering one JSON line per command line."""

    def __init__(self, settings: Message) -> None:
        self.name: str = settings["name"]
        command = [sys.executable, "-m", "fleet._worker", json.dumps(settings)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_environment()
        )
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"fleet-{self.name}", daemon=True)
        self._reader.start()
        self.killed = False

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def send(self, message: Message) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> Message:
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name} did not answer within {timeout} s") from None
        if line is None:
            raise AssertionError(f"{self.name} exited with status {self.process.wait()}")
        answer: Message = json.loads(line)
        if "failure" in answer:
            raise AssertionError(f"{self.name} failed:\n{answer['failure']}")
        return answer

    def ask(self, message: Message, timeout: float = 30.0) -> Message:
        self.send(message)
        return self.receive(timeout)

    def kill(self) -> None:
        """SIGKILL the worker, as a crash of its machine would end it."""
        self.killed = True
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def request_exit(self) -> None:
        """Ask the worker to close its cache and exit (a no-op once it is gone)."""
        if not self.killed and self.process.poll() is None:
            try:
                self.send({"op": "exit"})
            except OSError:
                pass

    def finish(self, timeout: float = 20.0) -> None:
        """Wait for the worker to exit after :meth:`request_exit`; SIGKILL it if it does not."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except OSError:
            pass


class Fleet:
    """``size`` workers of one flavour on one Redis, each with a file-tier directory of its own."""

    def __init__(
        self,
        *,
        flavour: str,
        size: int,
        redis_url: str,
        directory: Path,
        origin_port: int,
        prefix: str,
        cluster: bool = False,
        lease_ttl: float = 5.0,
        retry_after: float = 1.0,
        coalesce_wait: float = 10.0,
    ) -> None:
        self.store_prefix = f"{prefix}t:"
        self.members: list[Worker] = []
        for index in range(size):
            name = f"w{index}"
            settings = {
                "flavour": flavour,
                "name": name,
                "redis_url": redis_url,
                "cluster": cluster,
                "coordinator_prefix": f"{prefix}fleet:",
                "store_prefix": self.store_prefix,
                "directory": str(directory / name),
                "origin_port": origin_port,
                "lease_ttl": lease_ttl,
                "retry_after": retry_after,
                "coalesce_wait": coalesce_wait,
            }
            self.members.append(Worker(settings))
        try:
            for member in self.members:
                ready = member.receive(timeout=60)
                assert ready["ready"], ready
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, name: str) -> Worker:
        return next(member for member in self.members if member.name == name)

    def ask(self, members: Iterable[Worker], message: Message, timeout: float = 30.0) -> list[Message]:
        """Send ``message`` to every one of ``members`` first, then collect their answers (in parallel)."""
        members = list(members)
        for member in members:
            member.send(message)
        return [member.receive(timeout) for member in members]

    def ask_all(self, message: Message, timeout: float = 30.0) -> list[Message]:
        return self.ask(self.members, message, timeout)

    def stop(self) -> None:
        for member in self.members:
            member.request_exit()
        for member in self.members:
            member.finish()
