"""One member of a fleet: a cache in its own OS process, driven by JSON lines on stdin.

Run as ``python -m fleet._worker '<settings as JSON>'`` with ``src`` and
``tests`` on ``PYTHONPATH``.  It builds a cache of three tiers, a memory tier
and a file tier of its own (as a separate machine would have) and a Redis tier
shared with the rest of the fleet, coordinated by a Redis coordinator, prints
``{"ready": ...}`` and then answers each command line with one JSON line.

This module holds what both flavours share: the settings, the answers, the
protocol.  The member itself is ``tests/_async/_fleet_member.py`` and its
generated sync twin ``tests/_sync/_fleet_member.py``: the async flavour runs
concurrent callers as tasks, the sync one as threads.

Times are ``time.monotonic()``: CLOCK_MONOTONIC on Linux, one clock for every
process of the machine, so the test compares times taken in different workers.

Only public names of ``daramjwee`` are used.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
import sys
from typing import Any

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


def main() -> None:
    settings = Settings(json.loads(sys.argv[1]))
    level = os.environ.get("FLEET_WORKER_LOG")  # e.g. WARNING: the cache's logs on stderr, to debug a failure
    if level:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{settings.name} %(created).3f %(levelname)s %(message)s"))
        if not os.environ.get("FLEET_WORKER_LOG_TIERS"):  # tier failures: thousands while Redis is down
            handler.addFilter(lambda record: not str(record.msg).startswith("tier "))
        logging.basicConfig(level=level, handlers=[handler])
    # Imported here: the member modules import this one (as fleet._worker) for what the flavours share.
    if settings.flavour == "async":
        from _async._fleet_member import async_serve  # noqa: PLC0415

        asyncio.run(async_serve(settings))
    else:
        from _sync._fleet_member import serve  # noqa: PLC0415

        serve(settings)


if __name__ == "__main__":
    # Run as ``-m``, this module is ``__main__``, and the member modules import a second copy, fleet._worker:
    # run that copy's main, so that one Settings class and one Outcomes class serve both.
    from fleet._worker import main as worker_main

    worker_main()
