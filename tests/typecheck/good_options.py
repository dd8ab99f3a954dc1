"""Uses of the cache constructors that must type-check under ``mypy --strict`` (checked by tests/test_package.py).

Never imported or run: it is read by mypy only.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

import daramjwee as dj
from daramjwee.contrib.otel import OpenTelemetryObserver


class LatencyLog:
    """An observer of one's own (the protocol ``dj.Observer``): logs each read's outcome and latency."""

    def read_done(self, outcome: dj.ReadOutcome, tier: int | None, seconds: float, key: str) -> None:
        logging.getLogger("app").info("%s from tier %s in %.6fs", outcome, tier, seconds)

    def tier_read(self, tier: int, store: object, key: str) -> dj.Probe:
        return _NoProbe()

    def origin_fetch(self, key: str, revalidating: bool) -> dj.Probe:
        return _NoProbe()


class _NoProbe:
    def end(self, outcome: str, error: BaseException | None) -> None:
        pass


def every_option(path: str) -> dj.Cache:
    return dj.Cache(
        stores=[dj.MemStore("1MiB"), dj.FileStore(path)],
        positive_fresh_for=60,
        negative_fresh_for=datetime.timedelta(seconds=5),
        tier_fresh_for={1: (None, 30.0), 0: (datetime.timedelta(minutes=1), 0)},
        op_timeout=1.5,
        close_timeout=datetime.timedelta(seconds=2),
        workers=2,
        worker_queue=10,
        worker_strategy="all",
        worker_timeout=3,
        chunk_size=4096,
        coalesce_wait=0,
        promotion_probation=100,
        observer=OpenTelemetryObserver(),
        logger=logging.getLogger("app"),
    )


def every_option_async(path: str) -> dj.AsyncCache:
    return dj.AsyncCache(
        stores=[dj.AsyncMemStore("1MiB"), dj.AsyncFileStore(path)],
        positive_fresh_for=None,
        negative_fresh_for=None,
        tier_fresh_for={},
        op_timeout=datetime.timedelta(seconds=1),
        close_timeout=0,
        workers=1,
        worker_queue=1,
        worker_strategy="pool",
        worker_timeout=1.0,
        chunk_size=1,
        coalesce_wait=datetime.timedelta(0),
        promotion_probation=0,
        observer=LatencyLog(),
        logger=logging.getLogger(),
    )


def a_chain_typed_by_its_protocol(stores: Sequence[dj.Store]) -> dj.Cache:
    return dj.Cache(stores=stores)


def the_legacy_form(path: str) -> dj.Cache:
    return dj.Cache(hot_store=dj.MemStore(), cold_store=dj.FileStore(path))


def the_legacy_form_async() -> dj.AsyncCache:
    return dj.AsyncCache(hot_store=dj.AsyncMemStore())


def from_a_config() -> tuple[dj.Cache, dj.AsyncCache]:
    sync = dj.Cache.from_config(dj.Config(stores=[dj.MemStore()], positive_fresh_for=60))
    return sync, dj.AsyncCache.from_config(dj.Config(stores=[dj.AsyncMemStore()]))
