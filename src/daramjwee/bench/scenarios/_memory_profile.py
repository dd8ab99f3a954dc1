"""Scenario ``memory``: peak memory while a 1 GiB value streams through a 3-tier miss and then a promotion.

The goal (from the issue): streaming 1 GiB costs at most 32 MiB above the
process's baseline.  Every sample runs in a fresh child process
(``python -m daramjwee.bench.scenarios._memory_profile``, see :func:`main`), so
no sample inherits another's heap.  The child builds a sync
``Cache(stores=[MemStore(capacity="64MiB"), FileStore(a), FileStore(b)])``
(directories in a temporary directory, removed after each run) and an origin
whose body is a generator of 1 MiB ``memoryview`` slices of one preallocated
2 MiB random buffer (the origin allocates no data per chunk; the slices start
at varying offsets so the checksum catches misordered chunks), declaring
``attrs={"content-length": ...}``.  The value is 1 GiB, or 128 MiB with quick
options (``options.iterations`` below the default): both are larger than tier
0's 64 MiB, so a miss fills tier 1 and tier 0 never holds the value (a 64 MiB
value would fit tier 0 and take another path).

Before measuring, the child warms up (a 4 MiB miss and a promotion of it from
tier 2, so imports, worker threads and the allocator are in a steady state).
Each phase is then measured alone:

- ``miss``: ``with cache.get(key, origin) as r`` read in 1 MiB ``r.read`` calls
  to the end, each chunk dropped before the next read (length and CRC-32
  checked against the origin's), then wait until
  the background fan-out of the value from tier 1 to tier 2 has finished
  (``cache.stats().fanouts``): the fan-out is part of the phase.  Afterwards
  tiers 1 and 2 hold the key and tier 0 does not.
- ``promotion``: untimed before it, the key is deleted from tiers 0 and 1 on
  the stores directly; then the same get and read, now a hit in tier 2
  streamed into tier 1 (the promotion skips tier 0, whose capacity is below
  the declared length) while it is read.  Length and CRC-32 are checked, and
  tier 1 must hold the key afterwards.

Cases (MiB, lower is better):

- ``miss-rss-growth`` / ``promotion-rss-growth``: the peak resident set of the
  child during the phase minus its resident set just before it: ``VmRSS`` read,
  the peak reset (``/proc/self/clear_refs`` with ``5``), the phase run, then
  ``VmHWM`` read (Linux only).  Both come from one child run (see ``Paired``);
  the promotion runs after the miss, so it may reuse heap pages the miss freed
  but the allocator kept, and can show less growth than it allocates.
- ``miss-tracemalloc-peak`` / ``promotion-tracemalloc-peak``: the peak of the
  Python allocations ``tracemalloc`` traces during the phase (all threads) minus
  those traced when it began (``tracemalloc.reset_peak()`` at its start), from
  another child run in which ``tracemalloc`` is started after the warm-up:
  tracing slows allocation, so it never shares a run with the RSS figures.
- ``budget``: the constant 32.0, the goal.

Ratios: ``miss-rss-growth / budget`` and ``promotion-rss-growth / budget``
(goal <= 1.0, at the worst sample: every run must stay in budget);
``miss-tracemalloc-peak / budget`` and ``promotion-tracemalloc-peak / budget``
(information, at the worst sample): how much of the budget Python's own
allocations take, the rest of the RSS growth being the allocator, thread
stacks and C buffers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from ..._metadata import FetchResult, Metadata
from ..._sync._cache import Cache
from ..._sync._filestore import FileStore
from ..._sync._memstore import MemStore
from .._model import Case, Ratio
from ._common import Options, Paired, await_fan_outs

__all__ = ["main", "memory_missing", "memory_profile"]

MIB = 1 << 20
CHUNK = MIB
FULL_SIZE = 1024 * MIB
QUICK_SIZE = 128 * MIB
WARM_UP_SIZE = 4 * MIB
BUDGET_MIB = 32.0
TIER0_CAPACITY = "64MiB"
KEY = "bench:memory"
WARM_UP_KEY = "bench:memory:warm-up"
CHILD_MODULE = "daramjwee.bench.scenarios._memory_profile"
CHILD_TIMEOUT = 1800.0
FAN_OUT_TIMEOUT = 600.0
_OFFSET_STEP = 4099  # a prime: successive chunks start at different offsets of the buffer


class _Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


# --- the child ---------------------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog=CHILD_MODULE, description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="value size in bytes (a multiple of 1 MiB)")
    parser.add_argument("--tracemalloc", action="store_true", help="measure traced Python allocations, not RSS")
    parser.add_argument("--directory", help="where the file tiers live (default: a temporary directory)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        directory = args.directory or stack.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-memory-"))
        result = profile(args.size, Path(directory), traced=args.tracemalloc)
    print(json.dumps(result), flush=True)


# --- the parent --------------------------------------------------------------------------------------


def _child_run(size: int, root: Path, *, traced: bool) -> tuple[float, float]:
    """(miss, promotion) growth in MiB from one fresh child process, its file tiers in a new directory of ``root``."""
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    command = [sys.executable, "-W", "ignore::RuntimeWarning:runpy", "-m", CHILD_MODULE]
    command += ["--size", str(size), "--directory", str(directory)]
    if traced:
        command.append("--tracemalloc")
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if completed.returncode != 0:
        raise RuntimeError(f"the memory child failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(result["miss"]), float(result["promotion"])


def memory_missing(options: Options) -> str | None:
    """Why this machine cannot run the scenario: it needs Linux's ``/proc/self/status`` and ``clear_refs``."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        return "needs Linux /proc/self/clear_refs (to reset the peak resident set)"
    return None


def memory_profile(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Peak RSS and traced-allocation growth of a 1 GiB miss and promotion through memory -> file -> file."""
    quick = options.iterations < Options().iterations
    size = QUICK_SIZE if quick else FULL_SIZE
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-memory-")))
    rss = Paired(lambda: _child_run(size, root, traced=False))
    traced = Paired(lambda: _child_run(size, root, traced=True))
    value = f"{size // MIB} MiB value in 1 MiB reads"
    chain = f"Cache([MemStore({TIER0_CAPACITY}), FileStore, FileStore])"
    miss = f"{chain}, miss of a {value}, fan-out to the last tier included"
    promotion = f"{chain}, hit of a {value} in the last tier, promoted into tier 1"
    cases = [
        Case("miss-rss-growth", f"{miss}: peak RSS above the baseline", "MiB", rss.case(0)),
        Case("promotion-rss-growth", f"{promotion}: peak RSS above the baseline", "MiB", rss.case(1)),
        Case("miss-tracemalloc-peak", f"{miss}: peak traced Python allocations", "MiB", traced.case(0)),
        Case("promotion-tracemalloc-peak", f"{promotion}: peak traced Python allocations", "MiB", traced.case(1)),
        Case("budget", "the goal: 32 MiB above the baseline (constant)", "MiB", lambda: BUDGET_MIB),
    ]
    ratios = [
        Ratio("miss-rss-growth / budget", "miss-rss-growth", "budget", 1.0, of="worst"),
        Ratio("promotion-rss-growth / budget", "promotion-rss-growth", "budget", 1.0, of="worst"),
        Ratio("miss-tracemalloc-peak / budget", "miss-tracemalloc-peak", "budget", of="worst"),
        Ratio("promotion-tracemalloc-peak / budget", "promotion-tracemalloc-peak", "budget", of="worst"),
    ]
    return cases, ratios


if __name__ == "__main__":
    main()
