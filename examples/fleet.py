"""Three instances of one cache over Redis: one origin fetch per key, deletes seen by all.

python examples/fleet.py    (needs redis-server on PATH and ``pip install 'daramjwee[redis]'``)

The instances run as threads of one process here, each with memory and file
tiers of its own, as three machines would have; they share a RedisStore tier
and a RedisCoordinator prefix.  The example starts its own redis-server on a
free loopback port and stops it at the end.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import daramjwee as dj
from daramjwee.testing import RedisServer


class Origin:
    """A slow origin (200 ms) that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def fetch_page(self, old: dj.Metadata | None) -> dj.FetchResult:
        with self._lock:
            self.calls += 1
        time.sleep(0.2)
        return dj.FetchResult(b"<h1>home</h1>" * 1000, dj.Metadata(etag='"home-1"'))


def instance(redis_url: str, local_dir: Path) -> dj.Cache:
    return dj.Cache(
        stores=[
            dj.MemStore("64MiB"),
            dj.FileStore(local_dir, capacity="256MiB"),
            dj.RedisStore(redis_url, prefix="example:"),
        ],
        coordination=dj.RedisCoordinator(redis_url, prefix="example:"),
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis = RedisServer(Path(scratch) / "redis")
        redis.start()
        try:
            caches = [instance(redis.url, Path(scratch) / f"machine-{index}") for index in range(3)]
            origin = Origin()

            def read(cache: dj.Cache) -> bytes:
                with cache.get("page:/home", origin.fetch_page) as response:
                    return response.read()

            with ThreadPoolExecutor(30) as pool:  # 10 concurrent readers on each instance, all cold
                bodies = list(pool.map(read, [cache for cache in caches for _ in range(10)]))
            print(f"30 cold reads on 3 instances: {len(set(bodies))} distinct body, origin calls: {origin.calls}")

            time.sleep(0.2)  # each instance copies the value into its own memory tier
            caches[0].delete("page:/home")
            started = time.monotonic()
            while any(cache.contains("page:/home") for cache in caches[1:]):
                time.sleep(0.001)
            print(f"deleted on instance 0; gone from instances 1 and 2 after {time.monotonic() - started:.3f} s")
            for cache in caches:
                cache.close()
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
