"""File-tier benchmark: a ``FileStore`` hit against ``diskcache``, and streaming against a raw file read.

    python benchmarks/bench_filestore.py             # full run (about 20-40 s)
    python benchmarks/bench_filestore.py --quick     # a few seconds, noisier, 32 MiB stream
    python benchmarks/bench_filestore.py --json out.json

This is a report, not a test: it always exits 0.  Both comparisons run side
by side in one process, in rounds, in a shuffled order each round, with the
garbage collector off inside the timing loops; each case keeps its best round
(the least noisy estimate of the cost itself).  Every file lives in one
temporary directory, so both sides of a comparison use the same filesystem,
and the files are warm in the page cache (a hit is a read of cached data).

Cases:

* ``filestore-hit``: ``with cache.get(key, fetch) as r: r.read()`` of a 1 KiB
  value on ``Cache([FileStore])``: a tier-0 hit in the file tier.
* ``filestore-hit-2tier``: the same on ``Cache([MemStore(capacity=512),
  FileStore])``: tier 0 can never hold the value, so every read is a tier-1
  hit that also tries (and fails) to promote it.  Information only.
* ``diskcache-get``: ``diskcache.Cache.get(key)`` of the same 1 KiB value.
* ``filestore-stream``: iterate a response over a 256 MiB value served by
  ``Cache([FileStore])`` (64 KiB chunks, the cache's default).
* ``raw-read``: ``read(65536)`` until the end of an unbuffered ``open()`` of a
  256 MiB file.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import diskcache
from _report import Case, Ratio, measure, render, to_json

import daramjwee as dj

KEY = "bench:file-key"
VALUE = bytes(range(256)) * 4  # 1 KiB
CHUNK = 1 << 16
MIB = 1 << 20


def _fetch(old: dj.Metadata | None) -> dj.FetchResult:
    return dj.FetchResult(VALUE)


# -- cases ----------------------------------------------------------------------------------


def _timed_gets(get: Callable[[], object], iterations: int) -> float:
    """ns per call of ``get``, over ``iterations`` calls with the GC off."""
    gc.collect()
    gc.disable()
    try:
        counter = time.perf_counter_ns
        start = counter()
        for _ in range(iterations):
            get()
        return (counter() - start) / iterations
    finally:
        gc.enable()


def hit_case(stores: list[dj.Store], iterations: int, cleanups: list[Callable[[], None]]) -> Callable[[], float]:
    cache = dj.Cache(stores=stores)
    cleanups.append(cache.close)
    _put(stores[-1])
    with cache.get(KEY, _fetch) as response:
        assert response.source == len(stores) - 1, response.source
        assert response.read() == VALUE

    def get() -> bytes:
        with cache.get(KEY, _fetch) as response:
            return response.read()

    return lambda: _timed_gets(get, iterations)


def _put(store: dj.Store) -> None:
    sink = store.begin_set(KEY, dj.Metadata(cached_at=time.time()))
    sink.write(VALUE)
    sink.commit()


def diskcache_case(directory: str, iterations: int, cleanups: list[Callable[[], None]]) -> Callable[[], float]:
    cache = diskcache.Cache(directory)
    cleanups.append(cache.close)
    cache.set(KEY, VALUE)
    assert cache.get(KEY) == VALUE
    get = cache.get
    return lambda: _timed_gets(lambda: get(KEY), iterations)


def stream_case(directory: str, size: int, cleanups: list[Callable[[], None]]) -> Callable[[], float]:
    store = dj.FileStore(directory)
    sink = store.begin_set("big", dj.Metadata(cached_at=time.time()))
    block = os.urandom(MIB)
    for _ in range(size // MIB):
        sink.write(block)
    sink.commit()
    cache = dj.Cache(stores=[store], chunk_size=CHUNK)
    cleanups.append(cache.close)

    def run() -> float:
        gc.collect()
        total = 0
        start = time.perf_counter_ns()
        with cache.get("big", _fetch) as response:
            for chunk in response:
                total += len(chunk)
        elapsed = time.perf_counter_ns() - start
        assert total == size, total
        return size / MIB / (elapsed / 1e9)

    return run


def raw_case(path: str, size: int) -> Callable[[], float]:
    block = os.urandom(MIB)
    with open(path, "wb") as file:
        for _ in range(size // MIB):
            file.write(block)

    def run() -> float:
        gc.collect()
        total = 0
        start = time.perf_counter_ns()
        with open(path, "rb", buffering=0) as file:
            while chunk := file.read(CHUNK):
                total += len(chunk)
        elapsed = time.perf_counter_ns() - start
        assert total == size, total
        return size / MIB / (elapsed / 1e9)

    return run


# -- measurement and report -----------------------------------------------------------------


def ratios(by_name: dict[str, Case]) -> list[Ratio]:
    hit, disk = by_name["filestore-hit"].best, by_name["diskcache-get"].best
    stream, raw = by_name["filestore-stream"].best, by_name["raw-read"].best
    return [
        Ratio("hit: filestore/diskcache", hit / disk, 1.0, at_most=True),
        Ratio("hit: 2-tier/diskcache", by_name["filestore-hit-2tier"].best / disk, None, at_most=True),
        Ratio("stream: filestore/raw", stream / raw, 0.8, at_most=False),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds, a 32 MiB stream")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON to PATH")
    parser.add_argument("--iterations", type=int, help="hits per sample (default 20000, quick 2000)")
    parser.add_argument("--rounds", type=int, help="samples per case (default 15, quick 5)")
    parser.add_argument("--stream-mib", type=int, help="size of the streamed value (default 256, quick 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    iterations: int = args.iterations or (2_000 if args.quick else 20_000)
    rounds: int = args.rounds or (5 if args.quick else 15)
    stream_mib: int = args.stream_mib or (32 if args.quick else 256)

    # The 2-tier case refuses every promotion into its tiny tier 0, which the cache logs at WARNING.
    logging.getLogger("daramjwee").setLevel(logging.ERROR)
    cleanups: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="daramjwee-bench-") as directory:
        try:
            root = Path(directory)
            cases = [
                Case(
                    "filestore-hit",
                    "Cache([FileStore]) get + read, 1 KiB",
                    "ns/op",
                    hit_case([dj.FileStore(root / "hit")], iterations, cleanups),
                ),
                Case(
                    "filestore-hit-2tier",
                    "Cache([MemStore(512 B), FileStore]), tier-1 hit",
                    "ns/op",
                    hit_case([dj.MemStore(capacity=512), dj.FileStore(root / "hit2")], iterations, cleanups),
                ),
                Case(
                    "diskcache-get",
                    "diskcache.Cache.get, 1 KiB",
                    "ns/op",
                    diskcache_case(str(root / "diskcache"), iterations, cleanups),
                ),
                Case(
                    "filestore-stream",
                    f"Cache([FileStore]) iterate {stream_mib} MiB",
                    "MiB/s",
                    stream_case(str(root / "stream"), stream_mib * MIB, cleanups),
                ),
                Case(
                    "raw-read",
                    f"open(buffering=0).read(64 KiB), {stream_mib} MiB",
                    "MiB/s",
                    raw_case(str(root / "raw.bin"), stream_mib * MIB),
                ),
            ]
            measure(cases, rounds, args.seed)
        finally:
            for cleanup in reversed(cleanups):
                cleanup()

    results = ratios({case.name: case for case in cases})
    title = f"daramjwee file tier: 1 KiB hits and a {stream_mib} MiB stream, {rounds} rounds per case"
    print(render(title, cases, results))
    if args.json is not None:
        report = to_json(cases, results, hit_value_bytes=len(VALUE), stream_mib=stream_mib, rounds=rounds)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
