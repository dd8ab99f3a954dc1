"""``AsyncFileStore`` and ``FileStore`` under faults: hostile files in place of entries, vanished, read-only and full
directories, bit flips in bodies, and options the store cannot serve with.

Every fault is real: FIFOs, symlinks and directories made on disk, a tmpfs mounted with ``size=`` to fill, the same
remounted read-only.  Mounting needs root (tests run as root in CI); without it those tests skip with the reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import daramjwee as dj
from daramjwee._record import HEADER_SIZE, MAGIC, encode_key, encode_metadata

from ._helpers import Origin
from .test_filestore import CHUNK, entry_files, files_size, get, put, record_path, store_at, temp_files

NOT_A_FILE_TIMEOUT = pytest.mark.timeout(30, method="thread")  # the failure mode is a hang inside open()


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a tmpfs of the given size (``"2m"``) under ``tmp_path``; unmounted at teardown.  Skips unless root."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"tmpfs-{len(mounted)}"
        point.mkdir()
        result = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point))
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        if _run("umount", str(point)).returncode:
            _run("umount", "-l", str(point))  # a file still open: detach it rather than fail every later test


def remount_read_only(point: Path) -> None:
    result = _run("mount", "-o", "remount,ro", str(point))
    assert result.returncode == 0, result.stderr


def flip_body_byte(path: Path, from_end: int = 1) -> None:
    """Invert one byte of the body (``from_end`` bytes before the end of the file), in place."""
    with open(path, "r+b") as file:
        file.seek(-from_end, os.SEEK_END)
        byte = file.read(1)[0]
        file.seek(-from_end, os.SEEK_END)
        file.write(bytes([byte ^ 0x01]))


# -- 14: options the store could never serve with ------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 31, HEADER_SIZE - 1])
async def test_a_chunk_size_shorter_than_a_record_header_is_refused(tmp_path: Path, chunk_size: int) -> None:
    with pytest.raises(dj.ConfigError, match=rf"chunk_size .*{HEADER_SIZE}.* got {chunk_size}\b"):
        dj.AsyncFileStore(tmp_path, chunk_size=chunk_size)
    assert not any(tmp_path.iterdir())  # refused before touching the disk


async def test_the_smallest_chunk_size_serves(tmp_path: Path) -> None:
    store = dj.AsyncFileStore(tmp_path, chunk_size=HEADER_SIZE)
    for size in (0, 1, HEADER_SIZE, 10 * HEADER_SIZE + 3):
        value = os.urandom(size)
        await put(store, f"k{size}", value)
        assert (await get(store, f"k{size}"))[0] == value
        assert (await get(store, f"k{size}", 7))[0] == value


# -- 15: a FIFO, a symlink or another non-regular file in place of an entry ---------------------


def _fifo_outside(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return fifo


@NOT_A_FILE_TIMEOUT
@pytest.mark.parametrize("memoized", [False, True])
async def test_a_symlink_to_a_fifo_in_place_of_an_entry_is_a_miss_and_removed(tmp_path: Path, memoized: bool) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "k", b"value")
    if memoized:
        assert (await get(store, "k"))[0] == b"value"
    fifo = _fifo_outside(tmp_path)
    path = record_path(root, "k")
    path.unlink()
    path.symlink_to(fifo)
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.is_symlink()
    assert fifo.exists()  # the link is removed, never what it points to
    assert "k" not in store
    await put(store, "k", b"again")
    assert (await get(store, "k"))[0] == b"again"


@NOT_A_FILE_TIMEOUT
async def test_a_symlink_to_a_fifo_in_place_of_an_entry_does_not_hang_stat(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "k", b"value")
    path = record_path(root, "k")
    path.unlink()
    path.symlink_to(_fifo_outside(tmp_path))
    with pytest.raises(dj.NotFound):
        await store.stat("k")
    assert not path.is_symlink()


@NOT_A_FILE_TIMEOUT
async def test_opening_a_directory_with_a_symlink_to_a_fifo_in_place_of_an_entry(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "k", b"value")
    await put(store, "other", b"other value")
    path = record_path(root, "k")
    path.unlink()
    path.symlink_to(_fifo_outside(tmp_path))
    reopened = store_at(root)
    assert len(reopened) == 1
    assert not path.is_symlink()
    assert (await get(reopened, "other"))[0] == b"other value"


@NOT_A_FILE_TIMEOUT
@pytest.mark.parametrize("reopen", [False, True])
async def test_a_fifo_in_place_of_an_entry_is_a_miss_and_is_removed(tmp_path: Path, reopen: bool) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"value")
    path = record_path(tmp_path, "k")
    path.unlink()
    os.mkfifo(path)
    if reopen:
        store = store_at(tmp_path)
        assert len(store) == 0
    else:
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
    assert not path.exists()


@NOT_A_FILE_TIMEOUT
async def test_a_fifo_with_a_writer_in_place_of_an_entry_is_a_miss(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"value")
    path = record_path(tmp_path, "k")
    path.unlink()
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # holds the FIFO open: a read would block, not end
    try:
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
    finally:
        os.close(writer)
        os.close(reader)
    assert not path.exists()


async def test_a_symlink_to_a_valid_record_is_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "k", b"value")
    path = record_path(root, "k")
    elsewhere = tmp_path / "copy"
    shutil.copyfile(path, elsewhere)
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.is_symlink()
    assert elsewhere.exists()


# -- 16: a directory in place of an entry file ---------------------------------------------------


def _directory_in_place(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"not ours, but in our name")


@pytest.mark.parametrize("size", [10, 3 * CHUNK])
async def test_a_directory_in_place_of_an_entry_is_a_miss_and_the_key_heals(tmp_path: Path, size: int) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"v" * size)
    await put(store, "other", b"o")
    assert (await get(store, "k"))[0] == b"v" * size
    path = record_path(tmp_path, "k")
    _directory_in_place(path)
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.exists()
    assert "k" not in store
    assert store.used == files_size(tmp_path)
    await put(store, "k", b"new" * size)
    assert (await get(store, "k"))[0] == b"new" * size


@pytest.mark.parametrize("size", [10, 3 * CHUNK])
async def test_a_set_over_a_directory_in_place_of_an_entry_succeeds(tmp_path: Path, size: int) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    _directory_in_place(record_path(tmp_path, "k"))
    await put(store, "k", b"n" * size)
    assert (await get(store, "k"))[0] == b"n" * size
    assert store.used == files_size(tmp_path)


async def test_stat_of_a_directory_in_place_of_an_entry_is_a_miss(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    _directory_in_place(record_path(tmp_path, "k"))
    with pytest.raises(dj.NotFound):
        await store.stat("k")
    assert not record_path(tmp_path, "k").exists()


async def test_opening_a_directory_with_a_directory_in_place_of_an_entry(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    await put(store, "other", b"o")
    _directory_in_place(record_path(tmp_path, "k"))
    reopened = store_at(tmp_path)
    assert len(reopened) == 1
    assert not record_path(tmp_path, "k").exists()
    await put(reopened, "k", b"new")
    assert (await get(reopened, "k"))[0] == b"new"
    assert (await get(reopened, "other"))[0] == b"o"


# -- 17: the store directory or its temp directory removed while running -----------------------


async def test_the_store_directory_removed_while_running_is_made_again(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "a", b"a" * 100)
    await put(store, "b", b"b" * (3 * CHUNK))
    assert len(store) == 2
    shutil.rmtree(root)
    await put(store, "c", b"c" * 100)  # small: written at commit
    assert len(store) == 1  # the files that vanished with the directory are not counted
    assert store.used == files_size(root)
    await put(store, "d", b"d" * (3 * CHUNK))  # large: spilled while written
    assert len(store) == len(entry_files(root)) == 2
    assert store.used == files_size(root)
    assert (await get(store, "c"))[0] == b"c" * 100
    assert (await get(store, "d"))[0] == b"d" * (3 * CHUNK)
    with pytest.raises(dj.NotFound):
        await store.get_stream("a")


async def test_the_temp_directory_removed_while_running_is_made_again(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "a", b"a" * 100)
    shutil.rmtree(tmp_path / "tmp")
    await put(store, "b", b"b" * 100)
    shutil.rmtree(tmp_path / "tmp")
    await put(store, "c", b"c" * (3 * CHUNK))
    assert len(store) == 3  # the entries are all still there
    assert store.used == files_size(tmp_path)
    assert (await get(store, "a"))[0] == b"a" * 100
    assert temp_files(tmp_path) == []


async def test_a_sink_open_while_the_store_directory_is_removed_fails_and_the_next_one_works(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    await put(store, "a", b"a" * 100)
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"x" * (2 * CHUNK))  # spilled into root/tmp
    shutil.rmtree(root)
    with pytest.raises(FileNotFoundError):
        await sink.commit()  # its temp file went with the directory: nothing to publish
    await put(store, "k", b"k" * 100)
    assert (await get(store, "k"))[0] == b"k" * 100
    assert len(store) == 1
    assert store.used == files_size(root)


async def test_an_entry_file_removed_by_hand_is_forgotten_when_found_missing(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "a", b"a" * 100)
    await put(store, "b", b"b" * 100)
    record_path(tmp_path, "a").unlink()
    assert len(store) == 2  # not noticed yet
    with pytest.raises(dj.NotFound):
        await store.get_stream("a")
    assert len(store) == 1
    assert store.used == files_size(tmp_path)


# -- 18: a read-only directory -----------------------------------------------------------------


async def test_a_read_only_directory_with_stale_and_corrupt_files_opens_and_serves(
    mount_tmpfs: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    root = mount_tmpfs("4m")
    store = store_at(root)
    await put(store, "good", b"g" * 100)
    await put(store, "large", b"l" * (3 * CHUNK))
    await put(store, "corrupt", b"c" * 100)
    await put(store, "corrupt later", b"C" * 100)
    corrupt = record_path(root, "corrupt")
    corrupt.write_bytes(corrupt.read_bytes()[:-1])
    (root / "tmp" / "dead-writer.tmp").write_bytes(b"half a record")
    remount_read_only(root)

    caplog.set_level("WARNING", logger="daramjwee")
    reopened = store_at(root)  # neither the stale temp file nor the corrupt record can be removed: no matter
    assert len(reopened) == 3
    messages = [record.getMessage() for record in caplog.records]
    assert any("dead-writer.tmp" in message and "could not remove" in message for message in messages)
    assert any("could not be removed" in message for message in messages)
    assert (await get(reopened, "good"))[0] == b"g" * 100
    assert (await get(reopened, "large", 1000))[0] == b"l" * (3 * CHUNK)
    with pytest.raises(dj.NotFound):
        await reopened.get_stream("corrupt")
    assert "corrupt" not in reopened
    with pytest.raises(OSError, match="Read-only"):
        await put(reopened, "new", b"n")  # a write fails plainly: the cache treats it as a tier failure


async def test_a_record_found_corrupt_in_a_read_only_directory_is_still_a_miss(
    mount_tmpfs: Callable[[str], Path],
) -> None:
    root = mount_tmpfs("1m")
    store = store_at(root)
    await put(store, "k", b"v" * 100)
    assert (await get(store, "k"))[0] == b"v" * 100
    path = record_path(root, "k")
    path.write_bytes(path.read_bytes() + b"trailing garbage")
    remount_read_only(root)
    with pytest.raises(dj.NotFound):  # not the OSError of the removal that cannot happen
        await store.get_stream("k")
    assert "k" not in store
    assert path.exists()


async def test_a_read_only_directory_without_a_temp_directory_opens(mount_tmpfs: Callable[[str], Path]) -> None:
    root = mount_tmpfs("1m")
    await put(store_at(root), "good", b"g" * 100)
    (root / "tmp").rmdir()
    remount_read_only(root)
    reopened = store_at(root)
    assert (await get(reopened, "good"))[0] == b"g" * 100


# -- 19: a full disk -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [400 << 10, 40 << 10, 2000])
async def test_a_full_disk_evicts_older_entries_so_later_keys_are_cached(
    mount_tmpfs: Callable[[str], Path], size: int
) -> None:
    root = mount_tmpfs("2m")
    store = store_at(root)  # no capacity: only the disk bounds it
    keys = [f"k{index}" for index in range(3 * (2 << 20) // size)]  # three times what fits
    for key in keys:
        await put(store, key, key.encode() * (size // len(key)))  # no ENOSPC reaches the caller
        assert (await get(store, key))[0] == key.encode() * (size // len(key))
    assert keys[0] not in store
    assert keys[-1] in store
    assert len(store) == len(entry_files(root))
    assert store.used == files_size(root)
    assert temp_files(root) == []


async def test_a_value_larger_than_the_disk_fails_as_before_and_the_store_still_works(
    mount_tmpfs: Callable[[str], Path],
) -> None:
    root = mount_tmpfs("1m")
    store = store_at(root)
    await put(store, "small", b"s" * 100)
    sink = await store.begin_set("huge", dj.Metadata())
    with pytest.raises(OSError) as caught:
        for _ in range((2 << 20) // CHUNK):
            await sink.write(os.urandom(CHUNK))
        await sink.commit()
    assert caught.value.errno == errno.ENOSPC
    await sink.abort()  # whoever drives a failed sink aborts it: the cache does
    assert temp_files(root) == []
    await put(store, "after", b"a" * 100)
    assert (await get(store, "after"))[0] == b"a" * 100
    assert len(store) == len(entry_files(root))
    assert store.used == files_size(root)


async def test_a_full_disk_through_the_cache_still_caches_every_key(mount_tmpfs: Callable[[str], Path]) -> None:
    root = mount_tmpfs("2m")
    values = {f"k{index}": bytes([index]) * (300 << 10) for index in range(10)}
    origin = Origin(values)
    async with dj.AsyncCache(stores=[store_at(root)]) as cache:
        for key, value in values.items():
            async with await cache.get(key, origin.fetcher(key)) as response:
                assert await response.read() == value
            async with await cache.get(key, origin.fetcher(key)) as response:
                assert response.source == 0  # cached, although the disk was full
                assert await response.read() == value
    assert origin.calls == 10


# -- 20: bit flips in bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("memoized", [False, True])
@pytest.mark.parametrize("where", [1, 50])
async def test_a_bit_flip_in_a_small_body_is_a_miss_and_is_removed(tmp_path: Path, memoized: bool, where: int) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"v" * 100)
    await put(store, "other", b"o" * 100)
    if memoized:
        assert (await get(store, "k"))[0] == b"v" * 100
    else:
        store = store_at(tmp_path)
    path = record_path(tmp_path, "k")
    flip_body_byte(path, where)
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.exists()
    assert "k" not in store
    assert store.used == files_size(tmp_path)
    assert (await get(store, "other"))[0] == b"o" * 100


@pytest.mark.parametrize("read_size", [CHUNK, 1000, 3 * CHUNK, -1])
@pytest.mark.parametrize("where", [1, 5 * CHUNK, 10 * CHUNK - 3])
@pytest.mark.parametrize("memoized", [False, True])
async def test_a_bit_flip_in_a_streamed_body_fails_the_read_that_reaches_the_end(
    tmp_path: Path, read_size: int, where: int, memoized: bool
) -> None:
    store = store_at(tmp_path)
    value = os.urandom(10 * CHUNK)
    await put(store, "k", value)
    if memoized:
        assert (await get(store, "k"))[0] == value
    else:
        store = store_at(tmp_path)
    path = record_path(tmp_path, "k")
    flip_body_byte(path, where)
    reader, _ = await store.get_stream("k")
    served = 0
    with pytest.raises(dj.CorruptEntry, match="checksum"):
        while data := await reader.read(read_size):
            served += len(data)
    assert served < len(value)  # the last chunk is never handed out
    with pytest.raises(dj.CorruptEntry):
        await reader.read(read_size)  # and never a clean end either
    await reader.aclose()
    assert not path.exists()
    assert "k" not in store
    assert store.used == files_size(tmp_path)


async def test_a_bit_flip_after_a_partial_read_then_the_rest_at_once(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    value = os.urandom(10 * CHUNK)
    await put(store, "k", value)
    flip_body_byte(record_path(tmp_path, "k"), 10 * CHUNK - 5)  # the 6th byte: inside the first read of the hit
    reader, _ = await store.get_stream("k")
    assert bytes(await reader.read(3)) == value[:3]
    with pytest.raises(dj.CorruptEntry):
        await reader.read()
    await reader.aclose()


async def test_a_reader_of_a_replaced_entry_never_removes_the_new_one(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", os.urandom(10 * CHUNK))
    path = record_path(tmp_path, "k")
    flip_body_byte(path, 3)
    reader, _ = await store.get_stream("k")
    await put(store, "k", b"new value")
    with pytest.raises(dj.CorruptEntry):
        while await reader.read(CHUNK):
            pass
    await reader.aclose()
    assert (await get(store, "k"))[0] == b"new value"


@pytest.mark.parametrize(
    "damage",
    [lambda path: path.write_bytes(path.read_bytes() + b"!"), lambda path: os.truncate(path, path.stat().st_size - 1)],
    ids=["trailing garbage", "truncated body"],
)
async def test_a_large_record_seen_before_is_checked_for_its_size(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    store = store_at(tmp_path)
    value = os.urandom(30 * CHUNK)  # longer than the first read of a hit: its size is not known from that read
    await put(store, "k", value)
    assert (await get(store, "k"))[0] == value  # its head is memoized
    damage(record_path(tmp_path, "k"))
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not record_path(tmp_path, "k").exists()


async def test_clean_bodies_verify_at_every_read_size(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    value = os.urandom(10 * CHUNK + 7)
    await put(store, "k", value)
    for size in (1, 999, CHUNK, 10 * CHUNK + 7, 20 * CHUNK, -1):
        assert (await get(store, "k", size))[0] == value
    reader, _ = await store.get_stream("k")
    assert bytes(await reader.read(CHUNK - 100)) + bytes(await reader.read()) == value
    assert await reader.read() == b""
    await reader.aclose()


@pytest.mark.parametrize("size", [10 * CHUNK, 20 << 16], ids=["one cache chunk", "twenty cache chunks"])
async def test_a_bit_flip_is_never_served_through_the_cache(tmp_path: Path, size: int) -> None:
    small, large = b"s" * 100, os.urandom(size)
    origin = Origin({"small": small, "large": large})
    store = store_at(tmp_path)
    await put(store, "small", small)
    await put(store, "large", large)
    flip_body_byte(record_path(tmp_path, "small"))
    flip_body_byte(record_path(tmp_path, "large"))
    async with dj.AsyncCache(stores=[store]) as cache:
        async with await cache.get("small", origin.fetcher("small")) as response:
            assert await response.read() == small  # a miss: fetched again
        async with await cache.get("large", origin.fetcher("large")) as response:
            served = b""
            try:
                while chunk := await response.read(CHUNK):
                    served += chunk
            except dj.DaramjweeError:  # found mid-stream: the stream fails
                assert served != large
            else:  # found before the first byte went out (the cache's first read reached the end): a miss
                assert served == large
                assert origin.calls == 2


async def test_a_record_truncated_under_an_open_reader_is_corrupt_and_removed(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", os.urandom(10 * CHUNK))
    reader, _ = await store.get_stream("k")
    path = record_path(tmp_path, "k")
    os.truncate(path, 5 * CHUNK)
    with pytest.raises(dj.CorruptEntry, match="ended"):
        while await reader.read(CHUNK):
            pass
    with pytest.raises(dj.CorruptEntry):
        await reader.read(CHUNK)
    await reader.aclose()
    assert not path.exists()
    assert "k" not in store


async def test_a_bit_flip_found_in_a_read_only_directory_is_still_a_miss(mount_tmpfs: Callable[[str], Path]) -> None:
    root = mount_tmpfs("1m")
    store = store_at(root)
    await put(store, "small", b"s" * 100)
    await put(store, "large", b"l" * (3 * CHUNK))
    flip_body_byte(record_path(root, "small"))
    flip_body_byte(record_path(root, "large"))
    remount_read_only(root)
    reopened = store_at(root)
    with pytest.raises(dj.NotFound):
        await reopened.get_stream("small")
    reader, _ = await reopened.get_stream("large")
    with pytest.raises(dj.CorruptEntry):
        while await reader.read(CHUNK):
            pass
    await reader.aclose()
    assert len(reopened) == 0


def _version_1_record(key: str, body: bytes) -> bytes:
    """A record of format version 1 (no body checksum), as an older daramjwee wrote it."""
    stored, metadata = encode_key(key), encode_metadata(dj.Metadata(etag="e"))
    fields = struct.pack("<8sHHIIQ", MAGIC, 1, 0, len(stored), len(metadata), len(body))
    crc = zlib.crc32(metadata, zlib.crc32(stored, zlib.crc32(fields)))
    return fields + struct.pack("<I", crc) + stored + metadata + body


@pytest.mark.parametrize("reopen", [False, True])
async def test_records_of_format_version_1_are_misses_and_are_removed(tmp_path: Path, reopen: bool) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"placeholder")
    path = record_path(tmp_path, "k")
    path.write_bytes(_version_1_record("k", b"old format"))
    if reopen:
        store = store_at(tmp_path)
        assert len(store) == 0
    else:
        with pytest.raises(dj.NotFound):
            await store.get_stream("k")
    assert not path.exists()
