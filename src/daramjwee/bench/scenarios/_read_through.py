"""Scenario ``read-through``: a large file read through ``Cache([FileStore])`` against fsspec's ``simplecache``.

Setup (untimed): a "remote" file of 256 MiB (16 MiB with quick options) of one
random 1 MiB block repeated, in a temporary directory removed at the end.  Both
sides reach it through fsspec's local filesystem (``file://``), so the origin is
the same:

* daramjwee: ``Cache(stores=[FileStore(dir)])`` with a fetcher that declares
  ``content-length`` (``fs.size``) and streams the file from
  ``fsspec.open("file://...")`` in 1 MiB chunks.  A miss streams the origin to
  the caller while the cache writes the entry file behind it; a hit reads the
  entry file.
* fsspec: ``fsspec.open("simplecache::file://...", simplecache={"cache_storage": dir})``.
  Opening it copies the whole remote file into ``dir`` (for a local target this
  is ``LocalFileSystem.cp_file``, i.e. ``shutil.copyfile``, an in-kernel copy),
  then returns a plain ``open()`` of the local copy; a later open finds the copy
  and only opens it.

Every sample reads the whole file with ``read(1 MiB)`` until the end and checks
its length and that the first chunk is the start of the block; the collector is
off while it runs.  Cases:

* ``daramjwee-cold-ttfb`` / ``fsspec-cold-ttfb`` (s): a miss, from asking
  (``cache.get`` / ``fsspec.open`` and entering it) to holding the first chunk
  (the first ``read(1 MiB)``).  The rest of the file is then read, untimed.
* ``daramjwee-cold`` / ``fsspec-cold`` (MiB/s): a miss, the file size over the
  time from asking to the end of the stream and its close (which publishes the
  daramjwee entry).
* ``daramjwee-warm`` / ``fsspec-warm`` (MiB/s): a hit, timed the same way.  The
  warm sides use their own directory, filled once at setup; each sample checks
  it was a hit (``response.source == 0``; the fsspec copy still there).
* ``raw-read`` (MiB/s): the origin file itself, ``open(path, "rb",
  buffering=0).read(1 MiB)`` until the end: the baseline.

Before each cold sample (untimed) the cold side's cache is emptied
(``cache.delete(key)``, or every file in the simplecache directory removed) and
``os.sync()`` writes back the dirty pages of earlier samples, so that writeback
does not land inside this one (without it the cold ratio swung from 0.8 to 1.05
between runs).

Ratios (information only): ``daramjwee-cold-ttfb / fsspec-cold-ttfb`` (below 1
is daramjwee faster), ``daramjwee-cold / fsspec-cold`` and
``daramjwee-warm / fsspec-warm`` (above 1 is daramjwee faster), and
``daramjwee-warm / raw-read`` (how close a hit comes to reading the file itself).

Honestly: the origin and both caches sit on the same local disk and, at these
sizes, mostly in the page cache, so this measures the read-through machinery
(Python-level copies, the entry write, the whole-file copy before the first
byte), not a network.  Over a slow remote filesystem the cold cases would be
dominated by the transfer, and simplecache's first-byte time by the whole
download.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import fsspec  # type: ignore[import-untyped]

from ... import Cache, Fetcher, FetchResult, FileStore, Metadata
from .._model import Case, Ratio
from ._common import Options, gc_paused, timed_pass

__all__ = ["read_through"]

MIB = 1 << 20
KEY = "bench:read-through"


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


Opener = Callable[[], AbstractContextManager[_Readable]]
"""Opens the file one way (through a cache, or directly); the stream is read with ``read(1 MiB)``."""


def _fsspec_open(url: str, **options: Any) -> AbstractContextManager[BinaryIO]:
    """``fsspec.open(url, "rb", **options)``, typed: an ``OpenFile`` whose ``with`` opens the file."""
    return cast("AbstractContextManager[BinaryIO]", fsspec.open(url, "rb", **options))


def _write_remote(path: Path, block: bytes, size: int) -> None:
    with open(path, "wb") as file:
        for _ in range(size // len(block)):
            file.write(block)


def _origin(path: Path) -> Fetcher:
    """A fetcher streaming ``path`` from fsspec's local filesystem in 1 MiB chunks, declaring its length."""
    local = fsspec.filesystem("file")
    url = f"file://{path}"

    def chunks() -> Iterator[bytes]:
        with _fsspec_open(url) as file:
            while chunk := file.read(MIB):
                yield chunk

    def fetch(old: Metadata | None) -> FetchResult:
        length = int(local.size(str(path)))
        return FetchResult(chunks(), Metadata(attrs={"content-length": str(length)}))

    return fetch


def _daramjwee(cache: Cache, fetch: Fetcher, source: int | None) -> Opener:
    """``cache.get(KEY, fetch)``, checked to be served by ``source`` (``None``: the origin, a miss)."""

    @contextmanager
    def opened() -> Iterator[_Readable]:
        with cache.get(KEY, fetch) as response:
            if response.source != source:
                raise RuntimeError(f"daramjwee served tier {response.source}, expected {source}")
            yield response

    return opened


def _simplecache(path: Path, storage: Path) -> Opener:
    url = f"simplecache::file://{path}"
    options = {"cache_storage": str(storage)}
    return lambda: _fsspec_open(url, simplecache=options)


def _read(opener: Opener, block: bytes) -> tuple[int, int, int]:
    """(ns to the first chunk, ns to the end and close, bytes read) of one whole read through ``opener``."""
    counter = time.perf_counter_ns
    start = counter()
    with opener() as stream:
        first = stream.read(MIB)
        first_at = counter()
        moved = len(first)
        while chunk := stream.read(MIB):
            moved += len(chunk)
    end = counter()
    if not first or block[: len(first)] != first:
        raise RuntimeError("the first chunk read is not the start of the file")
    return first_at - start, end - start, moved


def _ttfb(opener: Opener, reset: Callable[[], None], block: bytes, size: int) -> Callable[[], float]:
    """A sample in s: ``reset()`` untimed, then the time to the first chunk of a whole read; GC off."""

    def run() -> float:
        reset()
        with gc_paused():
            first, _, moved = _read(opener, block)
        if moved != size:
            raise RuntimeError(f"read {moved} bytes, expected {size}")
        return first / 1e9

    return run


def _throughput(opener: Opener, reset: Callable[[], None], block: bytes, size: int) -> Callable[[], float]:
    """A sample in MiB/s: ``reset()`` untimed, then one whole read (see :func:`timed_pass`)."""
    timed = timed_pass(size, lambda: _read(opener, block)[2])

    def run() -> float:
        reset()
        return timed()

    return run


def _nothing() -> None:
    pass


def _empty_directory(directory: Path) -> Callable[[], None]:
    def reset() -> None:
        for entry in directory.iterdir():
            entry.unlink()
        os.sync()

    return reset


def _check_one_file(directory: Path) -> Callable[[], None]:
    """Before a warm simplecache sample: its directory still holds the copy (else the sample would be a miss)."""

    def check() -> None:
        if len(list(directory.iterdir())) != 1:
            raise RuntimeError(f"the warm simplecache directory {directory} lost its copy")

    return check


def read_through(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """Cold (first byte, throughput) and warm reads of a large file through daramjwee and fsspec simplecache."""
    mib = 16 if options.iterations < Options().iterations else 256
    size = mib * MIB
    block = os.urandom(MIB)
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-")))
    remote = root / "remote" / "large.bin"
    remote.parent.mkdir()
    _write_remote(remote, block, size)
    fetch = _origin(remote)

    cold_cache = Cache(stores=[FileStore(root / "daramjwee-cold")])
    cleanups.callback(cold_cache.close)
    warm_cache = Cache(stores=[FileStore(root / "daramjwee-warm")])
    cleanups.callback(warm_cache.close)
    if _read(_daramjwee(warm_cache, fetch, None), block)[2] != size:
        raise RuntimeError("the daramjwee warm-up miss did not read the whole file")

    cold_storage, warm_storage = root / "fsspec-cold", root / "fsspec-warm"
    cold_storage.mkdir()
    warm_storage.mkdir()
    fsspec_warm = _simplecache(remote, warm_storage)
    if _read(fsspec_warm, block)[2] != size:
        raise RuntimeError("the fsspec warm-up open did not read the whole file")

    def empty_cold_cache() -> None:
        cold_cache.delete(KEY)
        os.sync()

    daramjwee_cold = _daramjwee(cold_cache, fetch, None)
    fsspec_cold = _simplecache(remote, cold_storage)
    empty_fsspec = _empty_directory(cold_storage)

    @contextmanager
    def raw() -> Iterator[_Readable]:
        with open(remote, "rb", buffering=0) as file:
            yield file

    what = f"{mib} MiB file, read(1 MiB) to the end"
    daramjwee_name = "Cache([FileStore]) over fsspec file://"
    fsspec_name = "fsspec simplecache over file://"
    cases = [
        Case(
            "daramjwee-cold-ttfb",
            f"{daramjwee_name}, miss: get to the first chunk ({what})",
            "s",
            _ttfb(daramjwee_cold, empty_cold_cache, block, size),
        ),
        Case(
            "fsspec-cold-ttfb",
            f"{fsspec_name}, miss: open to the first chunk ({what})",
            "s",
            _ttfb(fsspec_cold, empty_fsspec, block, size),
        ),
        Case(
            "daramjwee-cold",
            f"{daramjwee_name}, miss ({what})",
            "MiB/s",
            _throughput(daramjwee_cold, empty_cold_cache, block, size),
        ),
        Case(
            "fsspec-cold",
            f"{fsspec_name}, miss ({what})",
            "MiB/s",
            _throughput(fsspec_cold, empty_fsspec, block, size),
        ),
        Case(
            "daramjwee-warm",
            f"{daramjwee_name}, hit ({what})",
            "MiB/s",
            _throughput(_daramjwee(warm_cache, fetch, 0), _nothing, block, size),
        ),
        Case(
            "fsspec-warm",
            f"{fsspec_name}, hit ({what})",
            "MiB/s",
            _throughput(fsspec_warm, _check_one_file(warm_storage), block, size),
        ),
        Case(
            "raw-read",
            f"open(buffering=0) of the origin file ({what})",
            "MiB/s",
            _throughput(raw, _nothing, block, size),
        ),
    ]
    ratios = [
        Ratio("daramjwee-cold-ttfb / fsspec-cold-ttfb", "daramjwee-cold-ttfb", "fsspec-cold-ttfb"),
        Ratio("daramjwee-cold / fsspec-cold", "daramjwee-cold", "fsspec-cold"),
        Ratio("daramjwee-warm / fsspec-warm", "daramjwee-warm", "fsspec-warm"),
        Ratio("daramjwee-warm / raw-read", "daramjwee-warm", "raw-read"),
    ]
    return cases, ratios
