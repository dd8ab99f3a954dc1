"""The cache of one fleet worker (``fleet._worker``) and the commands it answers (the sync twin is generated).

The member builds a cache of three tiers, a memory tier and a file tier of its
own (as a separate machine would have) and a Redis tier shared with the rest
of the fleet, coordinated by a Redis coordinator, and answers each command
that ``fleet._worker`` reads from stdin.  Concurrent callers are tasks in the
async flavour and threads in the sync one (``tests/_flavours.py``).

Of ``daramjwee`` only public names are used, and the sleep of the flavour
from ``daramjwee._async_primitives`` or ``daramjwee._primitives``.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio

import daramjwee as dj
from _flavours import (
    AsyncBackground,
    async_initialize_cluster,
    async_read_line,
    async_response_body,
    async_run_concurrently,
    async_start,
)
from daramjwee._async_primitives import async_sleep
from fleet._worker import (
    POLL_INTERVAL,
    Message,
    Outcomes,
    ReadLog,
    Settings,
    digest,
    emit,
    local_value,
    should_not_fetch,
)


class AsyncMember:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: list[redis.asyncio.RedisCluster] = []
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
        # The origin's client: no proxy from the environment, no timeout the test could meet (a streamed 2 s body).
        self.http = httpx.AsyncClient(trust_env=False, timeout=60.0)
        self.watches: dict[str, AsyncBackground] = {}
        self.log = ReadLog()
        self.loop: AsyncBackground | None = None

    async def start(self) -> None:
        """Initialize the cluster client of the Redis tier before any concurrent use."""
        for client in self.clients:
            await async_initialize_cluster(client)

    def origin(self, path: str) -> dj.AsyncFetcher:
        """A fetcher of ``path`` from the loopback origin, streaming its body as it arrives."""
        url = f"http://127.0.0.1:{self.settings.origin_port}{path}"
        headers = {"X-Worker": self.settings.name, "Connection": "close"}

        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            response = await self.http.send(self.http.build_request("GET", url, headers=headers), stream=True)
            try:
                if response.status_code != 200:
                    raise RuntimeError(f"origin answered {response.status_code}")
                length = response.headers["content-length"]
            except BaseException:
                await response.aclose()
                raise
            return dj.FetchResult(async_response_body(response), dj.Metadata(attrs={"content-length": length}))

        return fetch

    @staticmethod
    def local(key: str) -> dj.AsyncFetcher:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return dj.FetchResult(local_value(key))

        return fetch

    @staticmethod
    def nowhere(key: str) -> dj.AsyncFetcher:
        async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
            return should_not_fetch(key)

        return fetch

    async def read(self, key: str, fetch: dj.AsyncFetcher) -> tuple[bytes, int | None]:
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
            watch = self.watches.pop(message["key"])
            try:
                seen: Message = await watch.result(message["timeout"])
            except TimeoutError:
                seen = {"t": None, "polls": None, "now": "still serving the old value"}
            return seen
        if op == "delete":
            return await self.timed(lambda: self.cache.delete(message["key"]))
        if op == "invalidate":
            return await self.timed(lambda: self.cache.invalidate_tags(*message["tags"]))
        if op == "peek":
            found = await self.peek(message["key"])
            return (
                {"digest": None, "source": None} if found is None else {"digest": digest(found[0]), "source": found[1]}
            )
        if op == "loop_start":
            self.log = ReadLog()
            self.loop = async_start(lambda: self.read_loop(message["keys"], message["cold_prefix"]))
            return {"started": True}
        if op == "loop_stop":
            self.log.stop = True
            if self.loop is not None:
                await self.loop.result(timeout=None)
            return self.log.summary(message["windows"])
        if op == "stats":
            return {"stats": self.cache.stats().as_dict()}
        if op == "exit":
            return {"bye": True}
        raise ValueError(f"unknown op {op!r}")

    async def burst(self, key: str, path: str, count: int, start_at: float) -> Message:
        """``count`` concurrent reads of ``key`` from the origin's ``path``, every one starting at ``start_at``."""
        fetch = self.origin(path)

        async def read_at_start() -> tuple[bytes, int | None]:
            await async_sleep(max(0.0, start_at - time.monotonic()))
            return await self.read(key, fetch)

        # The callers are started at once, ahead of start_at, and wait for it: the burst begins then (or now, if late).
        began = max(start_at, time.monotonic())
        results = await async_run_concurrently([read_at_start] * count)
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
            await async_sleep(0.002)
            found = await self.peek(key)
        if found is None or found[1] != 0 or digest(found[0]) != old:
            return {"digest": old, "source": None if found is None else found[1], "watching": False}
        self.watches[key] = async_start(lambda: self.poll(key, old))
        return {"digest": old, "source": found[1], "watching": True}

    async def poll(self, key: str, old: str) -> Message:
        """Look at ``key`` every millisecond until no tier serves the ``old`` value; when that was seen."""
        polls = 0
        while True:
            found = await self.peek(key)
            polls += 1
            if found is None or digest(found[0]) != old:
                return {"t": time.monotonic(), "polls": polls, "now": None if found is None else digest(found[0])}
            await async_sleep(POLL_INTERVAL)

    @staticmethod
    async def timed(call: Callable[[], Awaitable[None]]) -> Message:
        began = time.monotonic()
        error = None
        try:
            await call()
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
            await async_sleep(0.01)

    async def close(self) -> None:
        for watch in self.watches.values():
            watch.cancel()
        await self.cache.close()
        for client in self.clients:
            await client.aclose()
        await self.http.aclose()


async def async_serve(settings: Settings) -> None:
    """Be a fleet member: say ready on stdout, then answer each command line of stdin until ``exit`` or its end."""
    member = AsyncMember(settings)
    await member.start()
    emit({"ready": True, "pid": os.getpid()})
    try:
        while line := await async_read_line():
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
