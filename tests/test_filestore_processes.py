"""``FileStore`` across processes: SIGKILL at random moments, two processes on one directory, restart,
and a process of another user opening a directory it may not write, with a file it may not read.

Child processes come from a ``forkserver`` that has already imported
daramjwee, so each starts in milliseconds from a clean, single-threaded parent.
Every value written carries the SHA-256 of its body as its etag, so any
reader can tell a complete value from a torn one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

import daramjwee as dj
from daramjwee._record import encode_key, entry_name

KEYS = [f"key-{index}" for index in range(8)]
SIZES = [0, 10, 1_000, 20_000, 70_000, 300_000]
CHUNK = 16_384  # values above it spill to a temp file and stream; smaller ones are written at commit
CAPACITY = 1_500_000  # small enough that writers keep evicting


@pytest.fixture(scope="module")
def processes() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["daramjwee", __name__])
    return context


def write_forever(root: str, seed: int, ready: Event) -> None:
    """Write, replace and delete entries of ``KEYS`` until killed."""
    store = dj.FileStore(root, CAPACITY, chunk_size=CHUNK)
    rng = random.Random(seed)
    ready.set()
    while True:
        key = rng.choice(KEYS)
        if rng.random() < 0.1:
            store.delete(key)
        else:
            _write(store, key, rng.randbytes(rng.choice(SIZES)), rng)


def hammer(root: str, seed: int, seconds: float, results: Any) -> None:
    """Get, set and delete ``KEYS`` at random for ``seconds``; report ``(complete reads, torn reads, misses)``."""
    store = dj.FileStore(root, CAPACITY, chunk_size=CHUNK)
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    complete = torn = misses = 0
    while time.monotonic() < deadline:
        key = rng.choice(KEYS)
        action = rng.random()
        if action < 0.5:
            try:
                body, metadata = _read(store, key)
            except dj.NotFound:
                misses += 1
                continue
            if hashlib.sha256(body).hexdigest() == metadata.etag:
                complete += 1
            else:
                torn += 1
        elif action < 0.9:
            _write(store, key, rng.randbytes(rng.choice(SIZES)), rng)
        else:
            store.delete(key)
    results.put((complete, torn, misses))


def _write(store: dj.FileStore, key: str, body: bytes, rng: random.Random) -> None:
    sink = store.begin_set(key, dj.Metadata(etag=hashlib.sha256(body).hexdigest()))
    step = rng.choice([1_000, 7_000, 50_000])
    for start in range(0, len(body), step):
        sink.write(body[start : start + step])
    sink.commit()


def _read(store: dj.FileStore, key: str) -> tuple[bytes, dj.Metadata]:
    reader, metadata = store.get_stream(key)
    try:
        parts = []
        while chunk := reader.read(CHUNK):
            parts.append(bytes(chunk))
        return b"".join(parts), metadata
    finally:
        reader.close()


def entry_files(root: Path) -> list[Path]:
    return [path for path in root.glob("??/??/*") if path.is_file()]


def check_directory(root: Path) -> int:
    """Open a fresh store on ``root`` and check it; return the number of entries."""
    store = dj.FileStore(root, CAPACITY, chunk_size=CHUNK)
    assert list((root / "tmp").iterdir()) == [], "temp files left after opening"
    files = entry_files(root)
    assert store.used == sum(path.stat().st_size for path in files) <= CAPACITY
    assert len(store) == len(files)
    for key in KEYS:
        try:
            body, metadata = _read(store, key)
        except dj.NotFound:
            assert key not in store
            continue
        assert hashlib.sha256(body).hexdigest() == metadata.etag, f"{key} served a torn value"
    return len(files)


def test_sigkill_at_random_moments_never_leaves_a_partial_entry(tmp_path: Path, processes: ForkServerContext) -> None:
    rng = random.Random(2024)
    seen_entries = 0
    for _kill in range(60):
        ready = processes.Event()
        child = processes.Process(target=write_forever, args=(str(tmp_path), rng.randrange(2**32), ready))
        child.start()
        assert ready.wait(30), "the writer did not start"
        time.sleep(rng.uniform(0, 0.06))
        child.kill()
        child.join(30)
        assert child.exitcode == -9
        seen_entries += check_directory(tmp_path)
    assert seen_entries > 0, "the writers never published anything"


def test_two_processes_hammering_one_directory_only_ever_read_complete_values(
    tmp_path: Path, processes: ForkServerContext
) -> None:
    results = processes.Queue()
    children = [processes.Process(target=hammer, args=(str(tmp_path), seed, 3.0, results)) for seed in (1, 2)]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    for complete, torn, _misses in reports:
        assert torn == 0
        assert complete > 50
    check_directory(tmp_path)


def fill(root: str, count: int) -> None:
    store = dj.FileStore(root)
    for index in range(count):
        _write(store, f"old-{index:02d}", bytes([index]) * 10_000, random.Random(index))


def test_restart_with_a_smaller_capacity_then_writing_evicts_the_old_files(
    tmp_path: Path, processes: ForkServerContext
) -> None:
    child = processes.Process(target=fill, args=(str(tmp_path), 30))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    record = sum(path.stat().st_size for path in entry_files(tmp_path)) // 30

    store = dj.FileStore(tmp_path, capacity=10 * record)
    assert len(store) == 10
    assert store.used == sum(path.stat().st_size for path in entry_files(tmp_path))
    for index in range(5):
        _write(store, f"new-{index:02d}", bytes([index]) * 10_000, random.Random(index))
    old = [index for index in range(30) if f"old-{index:02d}" in store]
    assert len(old) == 5
    assert len(entry_files(tmp_path)) == 10
    assert store.used == sum(path.stat().st_size for path in entry_files(tmp_path)) <= 10 * record
    for index in range(5):
        assert _read(store, f"new-{index:02d}")[0] == bytes([index]) * 10_000
    for index in old:
        assert _read(store, f"old-{index:02d}")[0] == bytes([index]) * 10_000
    assert os.listdir(tmp_path / "tmp") == []


NOBODY = 65534  # the unprivileged user and group of Debian (and most systems)


@pytest.fixture
def shared_directory() -> Iterator[Path]:
    """A directory under /tmp that every user may enter (``tmp_path`` lies under a root-only directory)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to write files as root and read them as another user")
    directory = Path(tempfile.mkdtemp(prefix="daramjwee-other-user-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def record_name(key: str) -> str:
    return entry_name(encode_key(key))


def open_as_nobody(root: str, results: Any) -> None:
    """Become ``nobody``, open ``root`` with both flavours and report what each could serve."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logging.getLogger("daramjwee").addHandler(Collect(logging.WARNING))
    asyncio.run(asyncio.to_thread(int))  # what asyncio imports lazily is imported while root may still read it
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    report: dict[str, object] = {}
    try:
        _open_and_probe(root, report)
    except BaseException as error:
        report["error"] = repr(error)
    report["messages"] = messages
    results.put(report)


def _open_and_probe(root: str, report: dict[str, object]) -> None:
    store = dj.FileStore(root, chunk_size=CHUNK)
    report["sync"] = _probe(store, lambda key: _read(store, key)[0])

    async def probe_async() -> object:
        store = dj.AsyncFileStore(root, chunk_size=CHUNK)
        values = {}
        for key in ("good", "large", "corrupt", "unreadable"):
            try:
                reader, _ = await store.get_stream(key)
                values[key] = bytes(await reader.read())
                await reader.aclose()
            except (dj.NotFound, OSError) as error:
                values[key] = type(error).__name__
        return len(store), values

    report["async"] = asyncio.run(probe_async())


def _probe(store: dj.FileStore, read: Any) -> object:
    values: dict[str, object] = {}
    for key in ("good", "large", "corrupt", "unreadable"):
        try:
            values[key] = read(key)
        except (dj.NotFound, OSError) as error:
            values[key] = type(error).__name__
    return len(store), values


def test_a_directory_another_user_may_not_write_with_a_file_it_may_not_read_opens_and_serves(
    shared_directory: Path, processes: ForkServerContext
) -> None:
    root = shared_directory / "store"
    store = dj.FileStore(root, chunk_size=CHUNK)
    for key, body in (("good", b"g" * 100), ("large", b"l" * 100_000), ("corrupt", b"c" * 100), ("unreadable", b"u")):
        _write(store, key, body, random.Random(0))
    corrupt = root / record_name("corrupt")
    corrupt.write_bytes(corrupt.read_bytes()[:-1])
    (root / record_name("unreadable")).chmod(0)
    stale = root / "tmp" / "dead-writer.tmp"
    stale.write_bytes(b"half a record")  # owned by root, in a directory only root may write: nobody cannot sweep it

    results = processes.Queue()
    child = processes.Process(target=open_as_nobody, args=(str(root), results))
    child.start()
    report = results.get(timeout=60)
    child.join(30)
    assert child.exitcode == 0
    assert "error" not in report, report

    expected = {"good": b"g" * 100, "large": b"l" * 100_000, "corrupt": "NotFound", "unreadable": "PermissionError"}
    assert report["sync"] == (2, expected)
    assert report["async"] == (2, expected)
    messages = report["messages"]
    assert any("could not remove a stale file-store temp file" in message for message in messages)
    assert any("could not be removed" in message for message in messages)
    assert any("cannot open" in message for message in messages)
    assert stale.exists()
    assert corrupt.exists()

    reopened = dj.FileStore(root, chunk_size=CHUNK)  # root may: the stale and corrupt files go
    assert not stale.exists()
    assert not corrupt.exists()
    assert len(reopened) == 3
