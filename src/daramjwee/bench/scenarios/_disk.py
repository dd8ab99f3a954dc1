"""Scenarios ``disk-hits`` and ``streaming``: file-tier hits against diskcache, and streaming against a raw read.

Every file lives in one temporary directory per scenario (so both sides of a
comparison use the same filesystem) and is warm in the page cache.

``disk_hits`` (ns/op; the 1 MiB cases run ``max(iterations // 200, 10)`` gets per sample):

* ``filestore-1k`` / ``filestore-1m``: ``with cache.get(key, fetch) as r: r.read()``
  of a 1 KiB / 1 MiB value on ``Cache([FileStore])``, a tier-0 hit in the file tier.
* ``diskcache-1k`` / ``diskcache-1m``: ``diskcache.Cache.get(key)`` of the same bytes.

``streaming`` (MiB/s, one full pass per sample; 256 MiB, 16 MiB when quick):

* ``memory-stream``: iterate a response over the value served by ``Cache([MemStore])``.
* ``file-stream``: the same served by ``Cache([FileStore])``.
* ``raw-read``: ``read(65536)`` until the end of ``open(path, "rb", buffering=0)``
  of a file of the same bytes.

Chunks are the cache's default (64 KiB); values are written in 1 MiB blocks
through ``store.begin_set``, never held whole in one ``bytes``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import diskcache  # type: ignore[import-untyped]

from ... import Cache, FetchResult, FileStore, MemStore, Metadata, Store
from .._model import Case, Ratio
from ._common import KEY, VALUE, Options, cache_hit_loop, get_loop, ns_per_op, timed_pass

__all__ = ["disk_hits", "streaming"]

MIB = 1 << 20
CHUNK = 1 << 16
VALUE_1M = os.urandom(MIB)
STREAM_KEY = "bench:stream"


def _fetcher(value: bytes) -> Callable[[Metadata | None], FetchResult]:
    def fetch(old: Metadata | None) -> FetchResult:
        return FetchResult(value)

    return fetch


def _never_fetch(old: Metadata | None) -> FetchResult:
    raise AssertionError("a streaming benchmark read missed its stored value")


def _filestore_hit_loop(directory: Path, value: bytes, cleanups: ExitStack) -> Callable[[int], int]:
    """Timed tier-0 hits of ``value`` on ``Cache([FileStore(directory)])``."""
    store = FileStore(directory)
    cache = Cache(stores=[store])
    cleanups.callback(cache.close)
    sink = store.begin_set(KEY, Metadata(cached_at=time.time()))
    sink.write(value)
    sink.commit()
    fetch = _fetcher(value)
    with cache.get(KEY, fetch) as response:
        if response.source != 0 or response.read() != value:
            raise RuntimeError("the file-store warm-up read was not a tier-0 hit of the value")
    return cache_hit_loop(cache, fetch)


def _diskcache_hit_loop(directory: Path, value: bytes, cleanups: ExitStack) -> Callable[[int], int]:
    """Timed ``diskcache.Cache.get`` of ``value``."""
    cache = diskcache.Cache(str(directory))
    cleanups.callback(cache.close)
    cache.set(KEY, value)
    if cache.get(KEY) != value:
        raise RuntimeError("diskcache did not return the stored value")
    return get_loop(cache.get)


def disk_hits(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """File-tier hits of 1 KiB and 1 MiB on ``Cache([FileStore])`` against ``diskcache.Cache.get``."""
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-")))
    n_1k = options.iterations
    n_1m = max(options.iterations // 200, 10)
    cases = [
        Case(
            "filestore-1k",
            "Cache([FileStore]) get + read, 1 KiB",
            "ns/op",
            ns_per_op(_filestore_hit_loop(root / "filestore-1k", VALUE, cleanups), n_1k),
        ),
        Case(
            "diskcache-1k",
            "diskcache.Cache.get, 1 KiB",
            "ns/op",
            ns_per_op(_diskcache_hit_loop(root / "diskcache-1k", VALUE, cleanups), n_1k),
        ),
        Case(
            "filestore-1m",
            "Cache([FileStore]) get + read, 1 MiB",
            "ns/op",
            ns_per_op(_filestore_hit_loop(root / "filestore-1m", VALUE_1M, cleanups), n_1m),
        ),
        Case(
            "diskcache-1m",
            "diskcache.Cache.get, 1 MiB",
            "ns/op",
            ns_per_op(_diskcache_hit_loop(root / "diskcache-1m", VALUE_1M, cleanups), n_1m),
        ),
    ]
    ratios = [
        Ratio("filestore-1k / diskcache-1k", "filestore-1k", "diskcache-1k", 1.0),
        Ratio("filestore-1m / diskcache-1m", "filestore-1m", "diskcache-1m", 1.0),
    ]
    return cases, ratios


def _cache_stream(store: Store, size: int, cleanups: ExitStack) -> Callable[[], float]:
    """One full pass over a ``size``-byte value (written in 1 MiB blocks) on ``Cache([store])``, in MiB/s."""
    sink = store.begin_set(STREAM_KEY, Metadata(cached_at=time.time()))
    for _ in range(size // MIB):
        sink.write(VALUE_1M)
    sink.commit()
    cache = Cache(stores=[store])
    cleanups.callback(cache.close)

    def one_pass() -> int:
        total = 0
        with cache.get(STREAM_KEY, _never_fetch) as response:
            for chunk in response:
                total += len(chunk)
        return total

    return timed_pass(size, one_pass)


def _raw_read(path: Path, size: int) -> Callable[[], float]:
    """One full pass of unbuffered ``read(65536)`` over a ``size``-byte file, in MiB/s."""
    with open(path, "wb") as file:
        for _ in range(size // MIB):
            file.write(VALUE_1M)

    def one_pass() -> int:
        total = 0
        with open(path, "rb", buffering=0) as file:
            while chunk := file.read(CHUNK):
                total += len(chunk)
        return total

    return timed_pass(size, one_pass)


def streaming(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """A large value streamed from the memory and the file tier against a raw unbuffered file read."""
    stream_mib = 16 if options.iterations < 10_000 else 256
    size = stream_mib * MIB
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-")))
    cases = [
        Case(
            "memory-stream",
            f"Cache([MemStore]) iterate {stream_mib} MiB",
            "MiB/s",
            _cache_stream(MemStore(), size, cleanups),
        ),
        Case(
            "file-stream",
            f"Cache([FileStore]) iterate {stream_mib} MiB",
            "MiB/s",
            _cache_stream(FileStore(root / "filestore"), size, cleanups),
        ),
        Case(
            "raw-read",
            f"open(buffering=0).read(64 KiB), {stream_mib} MiB",
            "MiB/s",
            _raw_read(root / "raw.bin", size),
        ),
    ]
    ratios = [
        Ratio("file-stream / raw-read", "file-stream", "raw-read", 0.8, at_most=False),
        Ratio("memory-stream / raw-read", "memory-stream", "raw-read", 0.8, at_most=False),
    ]
    return cases, ratios
