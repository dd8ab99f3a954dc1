"""One member of a fleet: a cache in its own OS process, driven by JSON lines on stdin.

Run as ``python -m fleet._worker '<settings as JSON>'`` with ``src`` and
``tests`` on ``PYTHONPATH``.  It builds a cache of three tiers, a memory tier
and a file tier of its own (as a separate machine would have) and a Redis tier
shared with the rest of the fleet, coordinated by a Redis coordinator, prints
``{"ready": ...}`` and then answers each command line with one JSON line.
The async flavour runs concurrent callers as tasks, the sync one as threads.

Times are ``time.monotonic()``: CLOCK_MONOTONIC on Linux, one clock for every
process of the machine, so the test compares times taken in different workers.

Only public names of ``daramjwee`` are used.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import http.client
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import redis.asyncio

import daramjwee as dj

Message = dict[str, Any]

POLL_INTERVAL = 0.001
"""Seconds between two looks of a watcher at the key it watches."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_value(key: str) -> bytes:
    """The value of a key the read loop fetches without an origin (1 KiB)."""
    return hashlib.sha256(key.encode()).digest() * 32


def emit(message: Message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def request_line(path: str, name: str) -> bytes:
    return f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Worker: {name}\r\nConnection: close\r\n\r\n".encode()


class Settings:
    """What one worker is: its name, its flavour, where Redis, the origin and its own directory are."""

    def __init__(self, raw: Message) -> None:
        self.flavour: str = raw["flavour"]
        self.name: str = raw["name"]
        self.redis_url: str = raw["redis_url"]
        self.cluster: bool = raw["cluster"]
        self.coordinator_prefix: str = raw["coordinator_prefix"]
        self.store_prefix: str = raw["store_prefix"]
        self.directory: str = raw["directory"]
        self.origin_port: int = raw["origin_port"]
        self.lease_ttl: float = raw["lease_ttl"]
        self.retry_after: float = raw["retry_after"]
        self.coalesce_wait: float = raw["coalesce_wait"]

    def coordinator_options(self) -> Message:
        return {"prefix": self.coordinator_prefix, "lease_ttl": self.lease_ttl, "retry_after": self.retry_after}

    def cluster_address(self) -> tuple[str, int]:
        host_port = self.redis_url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        return host, int(port)


class Outcomes:
    """What concurrent reads of one burst returned: digests (and lengths) counted, errors listed."""

    def __init__(self) -> None:
        self.digests: collections.Counter[str] = collections.Counter()
        self.lengths: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []
        self.sources: collections.Counter[str] = collections.Counter()

    def add(self, result: tuple[bytes, int | None] | BaseException) -> None:
        if isinstance(result, BaseException):
            self.errors.append(repr(result))
        else:
            data, source = result
            self.digests[digest(data)] += 1
            self.lengths[len(data)] += 1
            self.sources[str(source)] += 1

    def as_message(self, stats: dj.CacheStats, elapsed: float) -> Message:
        return {
            "digests": dict(self.digests),
            "lengths": {str(length): count for length, count in self.lengths.items()},
            "sources": dict(self.sources),
            "errors": self.errors,
            "stats": stats.as_dict(),
            "elapsed": elapsed,
        }


class ReadLog:
    """Every read of the read loop: when it started and ended, and what went wrong."""

    def __init__(self) -> None:
        self.reads: list[tuple[float, float]] = []
        self.slow: list[tuple[float, float, str]] = []
        """Reads that took more than half a second: (duration, start, key)."""
        self.errors: list[str] = []
        self.stop = False

    def record(self, key: str, began: float, ended: float) -> None:
        self.reads.append((began, ended))
        if ended - began > 0.5:
            self.slow.append((ended - began, began, key))

    def summary(self, windows: list[list[float]]) -> Message:
        in_windows = []
        for start, end in windows:
            inside = [(begun, ended) for begun, ended in self.reads if start <= begun and ended <= end]
            in_windows.append(
                {"reads": len(inside), "longest": max((ended - begun for begun, ended in inside), default=0.0)}
            )
        return {
            "reads": len(self.reads),
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "longest": max((ended - begun for begun, ended in self.reads), default=0.0),
            "slow": sorted(self.slow, reverse=True)[:5],
            "windows": in_windows,
        }


def should_not_fetch(key: str) -> dj.FetchResult:
    raise RuntimeError(f"{key!r} was expected in a tier, but the cache asked the origin")


# -- async flavour -----------------------------------------------------------------------------------------------


class AsyncMember:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: list[Any] = []
        if settings.cluster:
            host, port = settings.cluster_address()
            store_client = redis.asyncio.RedisCluster(host=host, port=port)
            self.clients.append(store_client)
            shared = dj.AsyncRedisStore(store_client, prefix=settings.store_prefix)
            coordinator = dj.AsyncRedisCoordinator(settings.redis_url, cluster=True, **settings.coordinator_options())
        else:
            shared = dj.AsyncRedisStore(settings.redis_url, prefix=settings.store_prefix)
            coordinator = dj.AsyncRedisCoordinator(settings.redis_url, **settings.coordinator_options())
        self.cache = dj.AsyncCache(
            stores=[dj.AsyncMemStore("64MiB"), dj.AsyncFileStore(settings.directory, capacity="1GiB"), shared],
            coordination=coordinator,
            coalesce_wait=settings.coalesce_wait,
        )
        self.watches: dict[str, asyncio.Task[Message]] = {}
        self.log = ReadLog()
        self.loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Initialize the cluster client of the Redis tier before any concurrent use.

        A fresh ``redis.asyncio.RedisCluster`` that first meets concurrent
        commands sometimes fails some of them with ``AttributeError: 'NoneType'
        object has no attribute 'writelines'`` (redis-py; see
        tests/test_rediscluster.py); initializing it first avoids that.
        """
        for client in self.clients:
            await client.initialize()

    def origin(self, path: str) -> Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]:
        """A fetcher of ``path`` from the loopback origin, streaming its body as it arrives."""

        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.settings.origin_port)
            try:
                writer.write(request_line(path, self.settings.name))
                await writer.drain()
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                if head[0].split()[1] != "200":
                    raise RuntimeError(f"origin answered {head[0]!r}")
                fields = dict(line.lower().split(": ", 1) for line in head[1:] if line)
                length = int(fields["content-length"])
            except BaseException:
                writer.close()
                raise

            async def body() -> AsyncIterator[bytes]:
                received = 0
                try:
                    while received < length:
                        chunk = await reader.read(65536)
                        if not chunk:
                            raise ConnectionError(f"the origin's body ended after {received} of {length} bytes")
                        received += len(chunk)
                        yield chunk
                finally:
                    writer.close()

            return dj.FetchResult(body(), dj.Metadata(attrs={"content-length": str(length)}))

        return fetch

    @staticmethod
    def local(key: str) -> Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return dj.FetchResult(local_value(key))

        return fetch

    @staticmethod
    def nowhere(key: str) -> Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return should_not_fetch(key)

        return fetch

    async def read(
        self, key: str, fetch: Callable[[dj.Metadata | None], Awaitable[dj.FetchResult]]
    ) -> tuple[bytes, int | None]:
        async with await self.cache.get(key, fetch) as response:
            return await response.read(), response.source

    async def peek(self, key: str) -> tuple[bytes, int | None] | None:
        """The value ``peek`` finds and the tier it came from; ``None`` when no tier serves it (or it is negative)."""
        try:
            response = await self.cache.peek(key)
        except dj.NotFound:
            return None
        if response is None:
            return None
        async with response:
            return await response.read(), response.source

    async def handle(self, message: Message) -> Message:
        op = message["op"]
        if op == "burst":
            return await self.burst(message["key"], message["path"], message["count"], message["start_at"])
        if op == "warmup":
            for index in range(message["count"]):
                key = f"warmup-{self.settings.name}-{index}"
                await self.read(key, self.local(key))
                await self.peek(key)
            return {"warmed": message["count"]}
        if op == "watch":
            return await self.watch(message["key"])
        if op == "watched":
            task = self.watches.pop(message["key"])
            try:
                return await asyncio.wait_for(task, message["timeout"])
            except TimeoutError:
                return {"t": None, "polls": None, "now": "still serving the old value"}
        if op == "delete":
            return await self.timed(self.cache.delete(message["key"]))
        if op == "invalidate":
            return await self.timed(self.cache.invalidate_tags(*message["tags"]))
        if op == "peek":
            found = await self.peek(message["key"])
            return (
                {"digest": None, "source": None} if found is None else {"digest": digest(found[0]), "source": found[1]}
            )
        if op == "loop_start":
            self.log = ReadLog()
            self.loop_task = asyncio.ensure_future(self.read_loop(message["keys"], message["cold_prefix"]))
            return {"started": True}
        if op == "loop_stop":
            self.log.stop = True
            if self.loop_task is not None:
                await self.loop_task
            return self.log.summary(message["windows"])
        if op == "stats":
            return {"stats": self.cache.stats().as_dict()}
        if op == "exit":
            return {"bye": True}
        raise ValueError(f"unknown op {op!r}")

    async def burst(self, key: str, path: str, count: int, start_at: float) -> Message:
        fetch = self.origin(path)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        began = time.monotonic()
        results = await asyncio.gather(*(self.read(key, fetch) for _ in range(count)), return_exceptions=True)
        elapsed = time.monotonic() - began
        outcomes = Outcomes()
        for result in results:
            outcomes.add(result)
        return outcomes.as_message(self.cache.stats(), elapsed)

    async def watch(self, key: str) -> Message:
        """Read ``key`` (it must be in a tier), wait until the memory tier serves it, then watch it go."""
        data, _ = await self.read(key, self.nowhere(key))
        old = digest(data)
        deadline = time.monotonic() + 5.0
        found = await self.peek(key)
        while (found is None or found[1] != 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
            found = await self.peek(key)
        if found is None or found[1] != 0 or digest(found[0]) != old:
            return {"digest": old, "source": None if found is None else found[1], "watching": False}
        self.watches[key] = asyncio.ensure_future(self.poll(key, old))
        return {"digest": old, "source": found[1], "watching": True}

    async def poll(self, key: str, old: str) -> Message:
        """Look at ``key`` every millisecond until no tier serves the ``old`` value; when that was seen."""
        polls = 0
        while True:
            found = await self.peek(key)
            polls += 1
            if found is None or digest(found[0]) != old:
                return {"t": time.monotonic(), "polls": polls, "now": None if found is None else digest(found[0])}
            await asyncio.sleep(POLL_INTERVAL)

    @staticmethod
    async def timed(call: Awaitable[None]) -> Message:
        began = time.monotonic()
        error = None
        try:
            await call
        except Exception as raised:
            error = repr(raised)
        return {"began": began, "ended": time.monotonic(), "error": error}

    async def read_loop(self, keys: list[str], cold_prefix: str) -> None:
        round_number = 0
        while not self.log.stop:
            for key in [*keys, f"{cold_prefix}{round_number}"]:
                began = time.monotonic()
                try:
                    data, _ = await self.read(key, self.local(key))
                    if data != local_value(key):
                        self.log.errors.append(f"{key!r}: wrong bytes")
                except Exception as error:
                    self.log.errors.append(f"{key!r}: {error!r}")
                self.log.record(key, began, time.monotonic())
            round_number += 1
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in self.watches.values():
            task.cancel()
        await self.cache.close()
        for client in self.clients:
            await client.aclose()


async def run_async(settings: Settings) -> None:
    member = AsyncMember(settings)
    await member.start()
    loop = asyncio.get_running_loop()
    emit({"ready": True, "pid": os.getpid()})
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            message = json.loads(line)
            try:
                answer = await member.handle(message)
            except Exception:
                answer = {"failure": traceback.format_exc()}
            emit(answer)
            if message["op"] == "exit":
                break
    finally:
        await member.close()


# -- sync flavour ------------------------------------------------------------------------------------------------


class Member:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: list[Any] = []
        if settings.cluster:
            host, port = settings.cluster_address()
            store_client = redis.RedisCluster(host=host, port=port)
            self.clients.append(store_client)
            shared = dj.RedisStore(store_client, prefix=settings.store_prefix)
            coordinator = dj.RedisCoordinator(settings.redis_url, cluster=True, **settings.coordinator_options())
        else:
            shared = dj.RedisStore(settings.redis_url, prefix=settings.store_prefix)
            coordinator = dj.RedisCoordinator(settings.redis_url, **settings.coordinator_options())
        self.cache = dj.Cache(
            stores=[dj.MemStore("64MiB"), dj.FileStore(settings.directory, capacity="1GiB"), shared],
            coordination=coordinator,
            coalesce_wait=settings.coalesce_wait,
        )
        self.watches: dict[str, tuple[threading.Thread, list[Message]]] = {}
        self.log = ReadLog()
        self.loop_thread: threading.Thread | None = None

    def origin(self, path: str) -> Callable[[dj.Metadata | None], dj.FetchResult]:
        """A fetcher of ``path`` from the loopback origin, streaming its body as it arrives."""

        def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            connection = http.client.HTTPConnection("127.0.0.1", self.settings.origin_port, timeout=60)
            connection.request("GET", path, headers={"X-Worker": self.settings.name, "Connection": "close"})
            response = connection.getresponse()
            if response.status != 200:
                response.close()
                raise RuntimeError(f"origin answered {response.status}")
            length = response.getheader("Content-Length", "")
            return dj.FetchResult(response, dj.Metadata(attrs={"content-length": length}))

        return fetch

    @staticmethod
    def local(key: str) -> Callable[[dj.Metadata | None], dj.FetchResult]:
        def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return dj.FetchResult(local_value(key))

        return fetch

    @staticmethod
    def nowhere(key: str) -> Callable[[dj.Metadata | None], dj.FetchResult]:
        def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return should_not_fetch(key)

        return fetch

    def read(self, key: str, fetch: Callable[[dj.Metadata | None], dj.FetchResult]) -> tuple[bytes, int | None]:
        with self.cache.get(key, fetch) as response:
            return response.read(), response.source

    def peek(self, key: str) -> tuple[bytes, int | None] | None:
        try:
            response = self.cache.peek(key)
        except dj.NotFound:
            return None
        if response is None:
            return None
        with response:
            return response.read(), response.source

    def handle(self, message: Message) -> Message:
        op = message["op"]
        if op == "burst":
            return self.burst(message["key"], message["path"], message["count"], message["start_at"])
        if op == "warmup":
            for index in range(message["count"]):
                key = f"warmup-{self.settings.name}-{index}"
                self.read(key, self.local(key))
                self.peek(key)
            return {"warmed": message["count"]}
        if op == "watch":
            return self.watch(message["key"])
        if op == "watched":
            thread, answer = self.watches.pop(message["key"])
            thread.join(message["timeout"])
            if thread.is_alive() or not answer:
                return {"t": None, "polls": None, "now": "still serving the old value"}
            return answer[0]
        if op == "delete":
            return self.timed(lambda: self.cache.delete(message["key"]))
        if op == "invalidate":
            return self.timed(lambda: self.cache.invalidate_tags(*message["tags"]))
        if op == "peek":
            found = self.peek(message["key"])
            return (
                {"digest": None, "source": None} if found is None else {"digest": digest(found[0]), "source": found[1]}
            )
        if op == "loop_start":
            self.log = ReadLog()
            self.loop_thread = threading.Thread(
                target=self.read_loop, args=(message["keys"], message["cold_prefix"]), daemon=True
            )
            self.loop_thread.start()
            return {"started": True}
        if op == "loop_stop":
            self.log.stop = True
            if self.loop_thread is not None:
                self.loop_thread.join()
            return self.log.summary(message["windows"])
        if op == "stats":
            return {"stats": self.cache.stats().as_dict()}
        if op == "exit":
            return {"bye": True}
        raise ValueError(f"unknown op {op!r}")

    def burst(self, key: str, path: str, count: int, start_at: float) -> Message:
        fetch = self.origin(path)

        def timed_read() -> tuple[bytes, int | None]:
            time.sleep(max(0.0, start_at - time.monotonic()))
            return self.read(key, fetch)

        outcomes = Outcomes()
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(timed_read) for _ in range(count)]
            time.sleep(max(0.0, start_at - time.monotonic()))
            began = time.monotonic()
            for future in futures:
                error = future.exception()
                outcomes.add(future.result() if error is None else error)
            elapsed = time.monotonic() - began
        return outcomes.as_message(self.cache.stats(), elapsed)

    def watch(self, key: str) -> Message:
        data, _ = self.read(key, self.nowhere(key))
        old = digest(data)
        deadline = time.monotonic() + 5.0
        found = self.peek(key)
        while (found is None or found[1] != 0) and time.monotonic() < deadline:
            time.sleep(0.002)
            found = self.peek(key)
        if found is None or found[1] != 0 or digest(found[0]) != old:
            return {"digest": old, "source": None if found is None else found[1], "watching": False}
        answer: list[Message] = []
        thread = threading.Thread(target=lambda: answer.append(self.poll(key, old)), daemon=True)
        thread.start()
        self.watches[key] = (thread, answer)
        return {"digest": old, "source": found[1], "watching": True}

    def poll(self, key: str, old: str) -> Message:
        polls = 0
        while True:
            found = self.peek(key)
            polls += 1
            if found is None or digest(found[0]) != old:
                return {"t": time.monotonic(), "polls": polls, "now": None if found is None else digest(found[0])}
            time.sleep(POLL_INTERVAL)

    @staticmethod
    def timed(call: Callable[[], None]) -> Message:
        began = time.monotonic()
        error = None
        try:
            call()
        except Exception as raised:
            error = repr(raised)
        return {"began": began, "ended": time.monotonic(), "error": error}

    def read_loop(self, keys: list[str], cold_prefix: str) -> None:
        round_number = 0
        while not self.log.stop:
            for key in [*keys, f"{cold_prefix}{round_number}"]:
                began = time.monotonic()
                try:
                    data, _ = self.read(key, self.local(key))
                    if data != local_value(key):
                        self.log.errors.append(f"{key!r}: wrong bytes")
                except Exception as error:
                    self.log.errors.append(f"{key!r}: {error!r}")
                self.log.record(key, began, time.monotonic())
            round_number += 1
            time.sleep(0.01)

    def close(self) -> None:
        self.cache.close()
        for client in self.clients:
            client.close()


def run_sync(settings: Settings) -> None:
    member = Member(settings)
    emit({"ready": True, "pid": os.getpid()})
    try:
        for line in sys.stdin:
            message = json.loads(line)
            try:
                answer = member.handle(message)
            except Exception:
                answer = {"failure": traceback.format_exc()}
            emit(answer)
            if message["op"] == "exit":
                break
    finally:
        member.close()


def main() -> None:
    settings = Settings(json.loads(sys.argv[1]))
    level = os.environ.get("FLEET_WORKER_LOG")  # e.g. WARNING: the cache's logs on stderr, to debug a failure
    if level:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{settings.name} %(created).3f %(levelname)s %(message)s"))
        if not os.environ.get("FLEET_WORKER_LOG_TIERS"):  # tier failures: thousands while Redis is down
            handler.addFilter(lambda record: not str(record.msg).startswith("tier "))
        logging.basicConfig(level=level, handlers=[handler])
    if settings.flavour == "async":
        asyncio.run(run_async(settings))
    else:
        run_sync(settings)


if __name__ == "__main__":
    main()
