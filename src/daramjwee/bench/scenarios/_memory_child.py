"""The child process of the ``memory`` scenario: one value through a 3-tier miss and a promotion, measured.

Run as ``python -m daramjwee.bench.scenarios._memory_child --size N [--tracemalloc]``;
prints one JSON line with the growth of each phase in MiB.  The scenario
(``_memory_profile``) describes the phases and the measurements; nothing
imports this module, so running it is its only use.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from ... import Cache, FetchResult, FileStore, MemStore, Metadata
from ._common import await_fan_outs
from ._memory_profile import FULL_SIZE, MIB, TIER0_CAPACITY

__all__ = ["main", "profile"]

CHUNK = MIB
WARM_UP_SIZE = 4 * MIB
KEY = "bench:memory"
WARM_UP_KEY = "bench:memory:warm-up"
FAN_OUT_TIMEOUT = 600.0
_OFFSET_STEP = 4099  # a prime: successive chunks start at different offsets of the buffer


class _Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


class _Origin:
    """A fetcher serving ``size`` bytes as 1 MiB slices of one 2 MiB buffer; knows their length and CRC-32."""

    def __init__(self, size: int) -> None:
        if size <= 0 or size % CHUNK:
            raise ValueError(f"the value size must be a positive multiple of {CHUNK} bytes, got {size}")
        self.size = size
        self._buffer = memoryview(os.urandom(2 * CHUNK))
        self.crc = 0
        for chunk in self.chunks():
            self.crc = zlib.crc32(chunk, self.crc)
        self.calls = 0

    def chunks(self) -> Iterator[memoryview]:
        buffer = self._buffer
        for index in range(self.size // CHUNK):
            start = index * _OFFSET_STEP % CHUNK
            yield buffer[start : start + CHUNK]

    def __call__(self, old: Metadata | None) -> FetchResult:
        self.calls += 1
        return FetchResult(self.chunks(), Metadata(attrs={"content-length": str(self.size)}))


def _never_fetch(old: Metadata | None) -> FetchResult:
    raise AssertionError("a promotion read went to the origin")


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _rss_growth(phase: Callable[[], None]) -> float:
    """MiB of peak resident set during ``phase()`` above the resident set just before it."""
    gc.collect()
    baseline = _status("VmRSS")
    _reset_peak_rss()
    phase()
    return (_status("VmHWM") - baseline) / MIB


def _traced_growth(phase: Callable[[], None]) -> float:
    """MiB of peak traced Python allocations during ``phase()`` above those traced when it began."""
    gc.collect()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    phase()
    return (tracemalloc.get_traced_memory()[1] - baseline) / MIB


def _read_all(response: _Readable) -> tuple[int, int]:
    """Read ``response`` to the end in 1 MiB reads; its length and CRC-32.

    Each chunk is dropped before the next read, so the reader holds one chunk at a time.
    """
    total = crc = 0
    while True:
        chunk = response.read(CHUNK)
        if not chunk:
            return total, crc
        total += len(chunk)
        crc = zlib.crc32(chunk, crc)
        del chunk


def _check_bytes(phase: str, got: tuple[int, int], origin: _Origin) -> None:
    if got != (origin.size, origin.crc):
        raise RuntimeError(
            f"{phase}: read {got[0]} bytes with CRC {got[1]:#x}, expected {origin.size} / {origin.crc:#x}"
        )


def _miss(cache: Cache, stores: Sequence[MemStore | FileStore], key: str, origin: _Origin) -> None:
    """A miss of ``key`` read to the end, then its fan-out to the last tier awaited."""
    before = cache.stats()
    with cache.get(key, origin) as response:
        if response.source is not None:
            raise RuntimeError(f"the miss of {key!r} was served by tier {response.source}")
        got = _read_all(response)
    _check_bytes(f"miss of {key!r}", got, origin)
    stats = await_fan_outs(cache, before.fanouts + before.fanouts_failed + 1, timeout=FAN_OUT_TIMEOUT)
    if stats.fanouts_failed > before.fanouts_failed:
        raise RuntimeError(f"the fan-out of {key!r} to the lower tiers failed")
    if key not in stores[-1]:
        raise RuntimeError(f"the fan-out did not copy {key!r} to the last tier")


def _forget_fast_copies(stores: Sequence[MemStore | FileStore], key: str) -> None:
    """Delete ``key`` from every tier but the last, on the stores directly."""
    for store in stores[:-1]:
        store.delete(key)
    if key in stores[0] or key in stores[1] or key not in stores[-1]:
        raise RuntimeError(f"{key!r} is not held by the last tier alone")


def _promotion(cache: Cache, stores: Sequence[MemStore | FileStore], key: str, origin: _Origin) -> None:
    """A hit of ``key`` in the last tier, promoted into the faster tiers while read to the end."""
    with cache.get(key, _never_fetch) as response:
        if response.source != len(stores) - 1:
            raise RuntimeError(f"the promotion read of {key!r} was served by tier {response.source}")
        got = _read_all(response)
    _check_bytes(f"promotion of {key!r}", got, origin)
    if key not in stores[1]:
        raise RuntimeError(f"the hit of {key!r} in the last tier was not promoted into tier 1")


def profile(size: int, directory: Path, *, traced: bool) -> dict[str, float]:
    """Both phases for a ``size``-byte value, with stores under ``directory``: growth in MiB per phase."""
    origin = _Origin(size)
    warm_up = _Origin(WARM_UP_SIZE)
    stores: list[MemStore | FileStore] = [
        MemStore(capacity=TIER0_CAPACITY),
        FileStore(directory / "a"),
        FileStore(directory / "b"),
    ]
    # One 1 GiB copy per job: well within these timeouts on any disk that can hold the value.
    with Cache(stores=stores, worker_timeout=FAN_OUT_TIMEOUT, close_timeout=FAN_OUT_TIMEOUT) as cache:
        _miss(cache, stores, WARM_UP_KEY, warm_up)
        _forget_fast_copies(stores, WARM_UP_KEY)
        _promotion(cache, stores, WARM_UP_KEY, warm_up)
        cache.delete(WARM_UP_KEY)
        if traced:
            tracemalloc.start()
        measure = _traced_growth if traced else _rss_growth
        started = time.perf_counter()
        miss = measure(lambda: _miss(cache, stores, KEY, origin))
        miss_seconds = time.perf_counter() - started
        if KEY in stores[0]:
            raise RuntimeError(f"tier 0 holds the {size}-byte value, larger than its capacity")
        _forget_fast_copies(stores, KEY)
        started = time.perf_counter()
        promotion = measure(lambda: _promotion(cache, stores, KEY, origin))
        promotion_seconds = time.perf_counter() - started
        if traced:
            tracemalloc.stop()
    if origin.calls != 1:
        raise RuntimeError(f"the origin was called {origin.calls} times, expected once")
    return {
        "miss": miss,
        "promotion": promotion,
        "miss_seconds": miss_seconds,
        "promotion_seconds": promotion_seconds,
        "rss_mib": _status("VmRSS") / MIB,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """The child: profile one value and print one JSON line (``miss`` and ``promotion`` growth in MiB)."""
    parser = argparse.ArgumentParser(prog="daramjwee.bench.scenarios._memory_child", description=__doc__)
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="value size in bytes (a multiple of 1 MiB)")
    parser.add_argument("--tracemalloc", action="store_true", help="measure traced Python allocations, not RSS")
    parser.add_argument("--directory", help="where the file tiers live (default: a temporary directory)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        directory = args.directory or stack.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-memory-"))
        result = profile(args.size, Path(directory), traced=args.tracemalloc)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
