"""Two OS processes, each with its own memory tier 0, sharing a Redis tier 1 and an S3 tier 2.

Each process runs a cache and answers commands on stdin with JSON lines on
stdout; the test drives both and checks what each one served and from where.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from _servers import MotoServer, RedisServer

_WORKER = textwrap.dedent(
    """
    import hashlib, json, sys, time

    from obstore.store import S3Store

    import daramjwee as dj

    redis_url, bucket, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    origin_calls = 0

    def value_of(key):
        return hashlib.sha256(key.encode()).digest() * 512  # 16 KiB

    def fetcher(key):
        def fetch(old):
            global origin_calls
            origin_calls += 1
            return dj.FetchResult(value_of(key), dj.Metadata(etag=key))
        return fetch

    def store_has(store, key):
        try:
            store.stat(key)
            return True
        except dj.NotFound:
            return False

    local = dj.MemStore()
    stores = [local, dj.RedisStore(redis_url, prefix="shared:"), dj.ObjectStore(S3Store(bucket, **options), "shared")]
    cache = dj.Cache(stores=stores, positive_fresh_for=None)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, key = line.split()
        if command == "get":
            with cache.get(key, fetcher(key)) as response:
                same = response.read() == value_of(key)
                answer = {"same": same, "source": response.source, "origin_calls": origin_calls}
        elif command == "fanned_out":
            deadline = time.monotonic() + 30
            while cache.stats().fanouts < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            answer = {"fanouts": cache.stats().fanouts, "failed": cache.stats().fanouts_failed}
        elif command == "delete":
            cache.delete(key)
            answer = {"deleted": key}
        elif command == "forget_locally":  # as if tier 0 had evicted it
            local.delete(key)
            answer = {"forgotten": key}
        elif command == "in_shared_tiers":
            answer = {"tiers": [store_has(store, key) for store in stores[1:]]}
        print(json.dumps(answer), flush=True)
    cache.close()
    """
)


class Worker:
    def __init__(self, redis_url: str, bucket: str, options: dict[str, object]) -> None:
        arguments = [sys.executable, "-c", _WORKER, redis_url, bucket, json.dumps(options)]
        self.process = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._answer() == {"ready": True}

    def _answer(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"worker exited with {self.process.wait()}"
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, command: str, key: str) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command} {key}\n")
        self.process.stdin.flush()
        return self._answer()

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def workers(redis_server: RedisServer, s3_server: MotoServer) -> Iterator[tuple[Worker, Worker]]:
    bucket = s3_server.bucket()
    a = Worker(redis_server.url, bucket, s3_server.store_options())
    b = Worker(redis_server.url, bucket, s3_server.store_options())
    yield a, b
    a.stop()
    b.stop()


@pytest.mark.timeout(120)
def test_two_processes_share_the_lower_tiers_and_see_deletes_past_their_own_tier_0(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    assert a.ask("get", "report.pdf") == {"same": True, "source": None, "origin_calls": 1}, "A misses and fills"
    assert a.ask("fanned_out", "report.pdf") == {"fanouts": 1, "failed": 0}
    assert a.ask("in_shared_tiers", "report.pdf") == {"tiers": [True, True]}, "in Redis and in S3"

    assert b.ask("get", "report.pdf") == {"same": True, "source": 1, "origin_calls": 0}, "B: a Redis hit"
    assert b.ask("get", "report.pdf") == {"same": True, "source": 0, "origin_calls": 0}, "B promoted it locally"

    a.ask("delete", "report.pdf")
    assert b.ask("in_shared_tiers", "report.pdf") == {"tiers": [False, False]}, "the delete reached the shared tiers"
    assert b.ask("get", "report.pdf") == {"same": True, "source": 0, "origin_calls": 0}, (
        "B's own tier 0 still has its copy: local copies outlive a delete elsewhere (bound them with freshness)"
    )
    b.ask("forget_locally", "report.pdf")
    assert b.ask("get", "report.pdf") == {"same": True, "source": None, "origin_calls": 1}, (
        "past its tier 0, B misses every shared tier and goes to the origin"
    )
