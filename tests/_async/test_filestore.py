"""``AsyncFileStore`` and ``FileStore``: records on disk, atomic publish, hostile keys, corruption, restart."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import struct
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import xxhash

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._record import (
    FORMAT_VERSION,
    HEADER_SIZE,
    CorruptRecord,
    body_digest,
    decode_key,
    decode_metadata,
    encode_header,
    encode_key,
    encode_metadata,
    entry_name,
    is_entry_name,
    parse_header,
    verify_head,
)

from ._helpers import Origin, eventually

CHUNK = 4096  # small chunks and no whole reads past the first, so modest values already exercise the streaming paths


def store_at(
    root: Path, capacity: int | str | None = None, *, fsync: bool = False, whole_read: int = CHUNK
) -> dj.AsyncFileStore:
    return dj.AsyncFileStore(root, capacity, chunk_size=CHUNK, fsync=fsync, whole_read=whole_read)


async def put(store: dj.AsyncFileStore, key: str, value: bytes, metadata: dj.Metadata | None = None) -> None:
    sink = await store.begin_set(key, metadata or dj.Metadata(etag="e"))
    for start in range(0, len(value), 1000):
        await sink.write(value[start : start + 1000])
    await sink.commit()


async def get(store: dj.AsyncFileStore, key: str, size: int = -1) -> tuple[bytes, dj.Metadata]:
    reader, metadata = await store.get_stream(key)
    parts = []
    while chunk := await reader.read(size):
        parts.append(bytes(chunk))
        if size < 0:
            break
    await reader.aclose()
    return b"".join(parts), metadata


def record_path(root: Path, key: str) -> Path:
    return root / entry_name(encode_key(key))


def entry_files(root: Path) -> list[Path]:
    return sorted(path for path in root.glob("??/??/*") if path.is_file())


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "tmp").iterdir())


def files_size(root: Path) -> int:
    return sum(path.stat().st_size for path in entry_files(root))


# -- round trip and the store contract ------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 17])
async def test_bytes_and_metadata_round_trip(tmp_path: Path, size: int) -> None:
    store = store_at(tmp_path)
    value = os.urandom(size)
    metadata = dj.Metadata(
        etag='W/"x"', is_negative=False, cached_at=1700000000.25, attrs={"type": "ü/\udcff", "n": ""}
    )
    await put(store, "k", value, metadata)
    assert await get(store, "k") == (value, metadata)
    assert await get(store, "k", 1000) == (value, metadata)
    assert await store.stat("k") == metadata
    negative = dj.Metadata(is_negative=True, cached_at=3)
    await put(store, "n", b"", negative)
    assert await get(store, "n") == (b"", negative)
    assert store.used == files_size(tmp_path)
    assert len(store) == 2
    assert "k" in store
    assert repr(store).startswith("<" + dj.AsyncFileStore.__name__ + " ")
    assert store.path == str(tmp_path)
    assert store.capacity is None


async def test_long_keys_and_metadata_with_streamed_values(tmp_path: Path) -> None:
    store = store_at(tmp_path)  # the head (header, key, metadata) is far longer than the first read of a hit
    key = "x" * 10_000
    metadata = dj.Metadata(etag="e", attrs={"long": "y" * 20_000})
    value = os.urandom(3 * CHUNK + 5)
    await put(store, key, value, metadata)
    assert await get(store, key) == (value, metadata)
    assert await get(store, key, 777) == (value, metadata)
    assert await store.stat(key) == metadata
    reader, _ = await store.get_stream(key)
    assert bytes(await reader.read(10)) + bytes(await reader.read()) == value
    await reader.aclose()


async def test_missing_key_is_not_found(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    with pytest.raises(dj.NotFound):
        await store.get_stream("nope")
    with pytest.raises(dj.NotFound):
        await store.stat("nope")
    await store.delete("nope")
    await store.close()
    await store.close()


async def test_nothing_is_visible_before_commit_and_the_old_value_stays(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    sink = await store.begin_set("k", dj.Metadata(etag="new"))
    await sink.write(b"n" * (5 * CHUNK))  # spilled to a temp file
    assert len(temp_files(tmp_path)) == 1
    assert await get(store, "k") == (b"old", dj.Metadata(etag="e"))
    assert (await store.stat("k")).etag == "e"
    await sink.commit()
    assert await get(store, "k") == (b"n" * (5 * CHUNK), dj.Metadata(etag="new"))
    assert temp_files(tmp_path) == []
    assert len(entry_files(tmp_path)) == 1


async def test_abort_discards_and_commit_abort_are_terminal_and_idempotent(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"x" * (2 * CHUNK))
    await sink.abort()
    await sink.abort()
    assert temp_files(tmp_path) == []
    assert (await get(store, "k"))[0] == b"old"
    with pytest.raises(ValueError, match="aborted"):
        await sink.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()

    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"new")
    await sink.commit()
    await sink.commit()
    await sink.abort()  # after a commit: nothing to discard
    assert (await get(store, "k"))[0] == b"new"
    with pytest.raises(ValueError, match="committed"):
        await sink.write(b"more")


async def test_a_failed_commit_leaves_the_old_value_and_an_aborted_sink(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"x" * (2 * CHUNK))
    (temp,) = temp_files(tmp_path)
    temp.unlink()  # as if swept by mistake: the rename can only fail
    with pytest.raises(FileNotFoundError):
        await sink.commit()
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()
    assert (await get(store, "k"))[0] == b"old"
    assert store.used == files_size(tmp_path)


async def test_a_fanout_directory_removed_from_under_the_store_is_made_again(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    shutil.rmtree(record_path(tmp_path, "k").parent)
    await put(store, "k", b"new")  # the rename fails, the directory is made again and the rename retried
    assert (await get(store, "k"))[0] == b"new"
    assert temp_files(tmp_path) == []
    assert store.used == files_size(tmp_path)
    shutil.rmtree(record_path(tmp_path, "k").parent.parent)
    await put(store, "k", b"newer" * CHUNK)
    assert (await get(store, "k"))[0] == b"newer" * CHUNK


async def test_a_sink_dropped_without_commit_or_abort_removes_its_temp_file(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"x" * (2 * CHUNK))
    assert len(temp_files(tmp_path)) == 1
    del sink
    gc.collect()
    assert temp_files(tmp_path) == []


async def test_delete_never_waits_for_an_open_sink_and_other_keys_are_not_blocked(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"old")
    await put(store, "other", b"o")
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(b"x" * (2 * CHUNK))
    await store.delete("k")
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    await put(store, "third", b"3")  # an open writer of "k" blocks no other key
    assert (await get(store, "other"))[0] == b"o"
    await sink.commit()  # the store contract: a later commit publishes (the cache orders deletes)
    assert (await get(store, "k"))[0] == b"x" * (2 * CHUNK)


async def test_last_commit_wins_between_two_writers_of_one_key(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = await store.begin_set("k", dj.Metadata(etag="1"))
    second = await store.begin_set("k", dj.Metadata(etag="2"))
    await first.write(b"1" * (3 * CHUNK))
    await second.write(b"2" * (2 * CHUNK))
    await second.commit()
    await first.commit()
    assert await get(store, "k") == (b"1" * (3 * CHUNK), dj.Metadata(etag="1"))
    assert store.used == files_size(tmp_path)


async def test_concurrent_readers_writers_and_deleters_see_only_complete_values(tmp_path: Path) -> None:
    store = store_at(tmp_path, capacity=40 * CHUNK)

    async def write(index: int) -> None:
        body = os.urandom(index * 997 % (3 * CHUNK))
        await put(store, f"k{index % 3}", body, dj.Metadata(etag=hashlib.sha256(body).hexdigest()))

    async def read(index: int) -> bool:
        try:
            body, metadata = await get(store, f"k{index % 3}", 1500)
        except dj.NotFound:
            return True
        return hashlib.sha256(body).hexdigest() == metadata.etag

    async def delete(index: int) -> None:
        await store.delete(f"k{index % 3}")

    actions = [partial(action, index) for index in range(60) for action in (write, read, read, delete)]
    results = await async_run_concurrently(actions)
    assert [result for result in results if isinstance(result, BaseException)] == []
    assert all(result is not False for result in results)
    assert temp_files(tmp_path) == []
    assert store.used == files_size(tmp_path)
    assert len(store) == len(entry_files(tmp_path))


HOSTILE_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    "/absolute/path",
    "a/../../b",
    "..",
    ".",
    "tmp",
    "nul\x00byte",
    "k" * 10_000,
    "Key",
    "key",
    "KEY",
    "caf\u00e9",  # NFC
    "cafe\u0301",  # NFD: the same text after normalization, a different key
    "\udcff lone surrogate",
    "C:\\windows\\system32",
    "  spaces  ",
    "\n",
]


async def test_hostile_keys_round_trip_distinctly_inside_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = store_at(root)
    for index, key in enumerate(HOSTILE_KEYS):
        await put(store, key, f"value {index}".encode())
    for index, key in enumerate(HOSTILE_KEYS):
        assert (await get(store, key))[0] == f"value {index}".encode()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["store"]
    files = [path for path in root.rglob("*") if path.is_file()]
    assert len(files) == len(HOSTILE_KEYS) == len(entry_files(root))
    for path in files:
        assert path.resolve().is_relative_to(root.resolve())
    reopened = store_at(root)
    assert len(reopened) == len(HOSTILE_KEYS)
    for index, key in enumerate(HOSTILE_KEYS):
        assert (await get(reopened, key))[0] == f"value {index}".encode()
        await reopened.delete(key)
    assert entry_files(root) == []


async def test_a_reader_keeps_the_version_it_opened(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    old = os.urandom(10 * CHUNK)
    await put(store, "k", old)
    replaced, _ = await store.get_stream("k")
    deleted, _ = await store.get_stream("k")
    first = bytes(await replaced.read(CHUNK))
    await put(store, "k", b"new value")
    assert (await get(store, "k"))[0] == b"new value"
    second = bytes(await deleted.read(3))
    await store.delete("k")
    assert first + bytes(await replaced.read()) == old
    assert second + bytes(await deleted.read()) == old
    assert await replaced.read() == b""
    await replaced.aclose()
    await replaced.aclose()
    await deleted.aclose()


async def test_a_file_truncated_in_place_under_an_open_reader_fails_the_stream(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", os.urandom(10 * CHUNK))
    reader, _ = await store.get_stream("k")
    os.truncate(record_path(tmp_path, "k"), 5 * CHUNK)  # never done by the store: published files are immutable
    with pytest.raises(dj.CorruptEntry, match="ended"):
        while await reader.read(CHUNK):
            pass
    await reader.aclose()
    with pytest.raises(dj.CorruptEntry):
        await reader.read(CHUNK)  # never a clean end


@pytest.mark.parametrize("size", [10 * CHUNK, 16 * CHUNK])
async def test_a_known_body_up_to_whole_read_is_read_at_once_and_its_file_closed(tmp_path: Path, size: int) -> None:
    store = store_at(tmp_path, whole_read=16 * CHUNK)
    value = os.urandom(size)
    await put(store, "k", value)  # the store wrote it: it knows the record's head
    before = len(os.listdir("/dev/fd"))
    reader, metadata = await store.get_stream("k")
    assert len(os.listdir("/dev/fd")) == before  # the body was read whole, verified, and the file closed
    assert bytes(await reader.read()) == value
    await reader.aclose()
    assert metadata == dj.Metadata(etag="e")


async def test_a_body_past_whole_read_streams_from_its_open_file(tmp_path: Path) -> None:
    store = store_at(tmp_path, whole_read=16 * CHUNK)
    value = os.urandom(16 * CHUNK + 1)
    await put(store, "k", value)
    before = len(os.listdir("/dev/fd"))
    reader, _ = await store.get_stream("k")
    assert len(os.listdir("/dev/fd")) == before + 1  # held open by the reader
    assert bytes(await reader.read()) == value
    await reader.aclose()
    assert len(os.listdir("/dev/fd")) == before


@pytest.mark.parametrize("size", [10 * CHUNK, 40 * CHUNK + 7], ids=["read-whole", "streamed"])
@pytest.mark.parametrize("step", [-1, 1000, 3 * CHUNK])
async def test_a_reader_says_how_many_bytes_remain(tmp_path: Path, size: int, step: int) -> None:
    """``remaining`` (the reader protocol's optional length) counts down to 0 as the body is read, in any steps."""
    store = store_at(tmp_path, whole_read=16 * CHUNK)
    value = os.urandom(size)
    await put(store, "k", value)
    reader, _ = await store.get_stream("k")
    assert reader.remaining == size
    read = b""
    while chunk := await reader.read(step):
        read += bytes(chunk)
        assert reader.remaining == size - len(read)
    assert read == value
    assert reader.remaining == 0
    await reader.aclose()
    ranged, _, _ = await store.get_range("k", dj.ByteRange(5, 2 * CHUNK))
    assert ranged.remaining == 2 * CHUNK - 5
    assert len(await ranged.read(100)) == 100
    assert ranged.remaining == 2 * CHUNK - 5 - 100
    await ranged.aclose()


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
async def test_a_damaged_body_read_whole_is_a_miss_and_is_removed(tmp_path: Path, damage: str) -> None:
    store = store_at(tmp_path, whole_read=16 * CHUNK)
    await put(store, "k", os.urandom(10 * CHUNK))
    path = record_path(tmp_path, "k")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-7] ^= 1
    elif damage == "truncate":
        del data[-3:]
    else:
        data += b"tail"
    path.write_bytes(bytes(data))  # in place: the store's memoized head still matches the file's
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.exists()
    assert "k" not in store


async def test_closing_a_reader_early_releases_its_file(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "k", os.urandom(10 * CHUNK))
    before = len(os.listdir("/dev/fd"))
    readers = [(await store.get_stream("k"))[0] for _ in range(5)]
    assert len(os.listdir("/dev/fd")) == before + 5
    for reader in readers:
        assert len(await reader.read(10)) == 10
        await reader.aclose()
    assert len(os.listdir("/dev/fd")) == before


# -- capacity and eviction ------------------------------------------------------------------


async def test_capacity_evicts_least_recently_used_files(tmp_path: Path) -> None:
    await put(store_at(tmp_path / "probe"), "a", b"x" * 1000)
    record = files_size(tmp_path / "probe")  # bytes of one such entry on disk
    store = store_at(tmp_path / "s", capacity=3 * record)
    for key in "abc":
        await put(store, key, b"x" * 1000)
    await get(store, "a")
    await put(store, "d", b"x" * 1000)
    assert sorted(key for key in "abcd" if key in store) == ["a", "c", "d"]
    with pytest.raises(dj.NotFound):
        await store.get_stream("b")
    assert store.used == files_size(tmp_path / "s") == 3 * record
    assert len(entry_files(tmp_path / "s")) == 3


async def test_a_value_larger_than_the_capacity_is_refused(tmp_path: Path) -> None:
    store = store_at(tmp_path, capacity="8KiB")
    await put(store, "small", b"s")
    sink = await store.begin_set("big", dj.Metadata())
    await sink.write(b"x" * 4000)
    with pytest.raises(dj.DaramjweeError, match="capacity"):
        await sink.write(b"x" * 5000)
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()
    assert temp_files(tmp_path) == []
    assert (await get(store, "small"))[0] == b"s"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("capacity", "lots"),
        ("capacity", 0),
        ("chunk_size", 0),
        ("chunk_size", 1),
        ("chunk_size", 31),
        ("whole_read", 0),
        ("whole_read", "much"),
    ],
)
async def test_bad_options_raise_config_error(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(dj.ConfigError, match=option):
        dj.AsyncFileStore(tmp_path, **{option: value})  # type: ignore[arg-type]


# -- corruption -----------------------------------------------------------------------------


def _flip(offset: int) -> Callable[[Path], object]:
    def corrupt(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))

    return corrupt


def _set_version(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, 99)
    path.write_bytes(bytes(data))


CORRUPTIONS: dict[str, Callable[[Path], object]] = {
    "empty file": lambda path: path.write_bytes(b""),
    "truncated header": lambda path: path.write_bytes(path.read_bytes()[: HEADER_SIZE - 5]),
    "truncated head": lambda path: path.write_bytes(path.read_bytes()[: HEADER_SIZE + 2]),
    "truncated body": lambda path: path.write_bytes(path.read_bytes()[:-1]),
    "trailing garbage": lambda path: path.write_bytes(path.read_bytes() + b"!"),
    "bad magic": _flip(0),
    "future version": _set_version,
    "flipped length": _flip(20),
    "flipped key byte": _flip(HEADER_SIZE),
    "flipped metadata byte": _flip(HEADER_SIZE + 2),
    "not a record": lambda path: path.write_bytes(b"hello world, I am not a record at all" * 3),
}


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
async def test_corrupt_and_truncated_records_are_misses_and_are_removed(tmp_path: Path, damage: str) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"v" * 100)
    await put(store, "other", b"o")
    assert (await get(store, "k"))[0] == b"v" * 100  # the store has seen (and memoized) the valid record
    path = record_path(tmp_path, "k")
    CORRUPTIONS[damage](path)
    with pytest.raises(dj.NotFound):
        await store.get_stream("k")
    assert not path.exists()
    assert "k" not in store
    assert store.used == files_size(tmp_path)
    assert (await get(store, "other"))[0] == b"o"


@pytest.mark.parametrize("damage", ["truncated body", "flipped metadata byte"])
async def test_stat_of_a_corrupt_record_is_a_miss_and_removes_it(tmp_path: Path, damage: str) -> None:
    store = store_at(tmp_path)
    await put(store, "k", b"v" * 100)
    CORRUPTIONS[damage](record_path(tmp_path, "k"))
    with pytest.raises(dj.NotFound):
        await store.stat("k")
    assert entry_files(tmp_path) == []


async def test_a_record_truncated_inside_a_long_head_is_a_miss(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    key = "k" * (3 * CHUNK)  # the first read of a hit ends inside the key
    await put(store, key, b"value")
    path = record_path(tmp_path, key)
    path.write_bytes(path.read_bytes()[: 2 * CHUNK])
    with pytest.raises(dj.NotFound):
        await store.get_stream(key)
    assert not path.exists()


async def test_a_record_under_another_keys_name_is_never_served(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    await put(store, "a", b"value of a")
    await put(store, "b", b"value of b")
    record_path(tmp_path, "b").write_bytes(record_path(tmp_path, "a").read_bytes())
    with pytest.raises(dj.NotFound):
        await store.get_stream("b")
    assert (await get(store, "a"))[0] == b"value of a"
    assert len(entry_files(tmp_path)) == 1


async def test_opening_removes_invalid_records_and_keeps_the_rest(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    for index, damage in enumerate(CORRUPTIONS):
        await put(store, f"bad {index}", b"v" * 100)
        CORRUPTIONS[damage](record_path(tmp_path, f"bad {index}"))
    await put(store, "good", b"g" * 100)
    misplaced = tmp_path / "00" / "00" / ("0" * 64)
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(record_path(tmp_path, "good").read_bytes())
    (tmp_path / "00" / "unrelated.txt").write_bytes(b"not ours")

    reopened = store_at(tmp_path)
    assert len(reopened) == 1
    assert entry_files(tmp_path) == [record_path(tmp_path, "good")]
    assert (tmp_path / "00" / "unrelated.txt").exists()  # files that are not named like records are left alone
    assert reopened.used == files_size(tmp_path)
    assert (await get(reopened, "good"))[0] == b"g" * 100


# -- restart ----------------------------------------------------------------------------------


async def test_restart_rebuilds_the_index_and_the_size(tmp_path: Path) -> None:
    store = store_at(tmp_path, capacity="1MiB")
    for index in range(20):
        await put(store, f"k{index}", os.urandom(100 * index))
    await store.delete("k3")
    reopened = store_at(tmp_path, capacity="1MiB")
    assert len(reopened) == 19
    assert reopened.used == store.used == files_size(tmp_path)
    assert sorted(f"k{index}" in reopened for index in range(20)) == [False] + [True] * 19


async def test_restart_with_a_smaller_capacity_evicts_the_oldest_files(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    for index in range(10):
        await put(store, f"k{index}", b"x" * 1000)
        os.utime(record_path(tmp_path, f"k{index}"), ns=(10**18 + index, 10**18 + index))
    record = files_size(tmp_path) // 10
    reopened = store_at(tmp_path, capacity=4 * record)
    assert sorted(key for key in (f"k{index}" for index in range(10)) if key in reopened) == ["k6", "k7", "k8", "k9"]
    assert len(entry_files(tmp_path)) == 4
    assert reopened.used == files_size(tmp_path) == 4 * record
    await put(reopened, "kn", b"x" * 1000)  # a record of the same size
    assert "k6" not in reopened
    assert reopened.used == files_size(tmp_path) == 4 * record


async def test_opening_sweeps_orphaned_temp_files_but_not_live_ones(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    live = await store.begin_set("k", dj.Metadata())
    await live.write(b"x" * (2 * CHUNK))  # a temp file, locked by its writer
    orphan = tmp_path / "tmp" / "dead-writer.tmp"
    orphan.write_bytes(b"half a record")
    other = tmp_path / "tmp" / "notes.txt"
    other.write_bytes(b"not ours")
    store_at(tmp_path)
    assert not orphan.exists()
    assert other.exists()
    assert len(temp_files(tmp_path)) == 2  # the live temp file and notes.txt
    await live.commit()
    assert (await get(store, "k"))[0] == b"x" * (2 * CHUNK)


async def test_two_stores_share_a_directory(tmp_path: Path) -> None:
    first = store_at(tmp_path)
    second = store_at(tmp_path)
    await put(first, "k", b"from first")
    assert (await get(second, "k"))[0] == b"from first"
    assert "k" in second
    await put(second, "k", b"from second")
    assert (await get(first, "k"))[0] == b"from second"
    await second.delete("k")
    with pytest.raises(dj.NotFound):
        await first.get_stream("k")
    assert "k" not in first
    assert first.used == 0


async def test_fsync_option_publishes_the_same_records(tmp_path: Path) -> None:
    store = store_at(tmp_path, fsync=True)
    await put(store, "k", b"v" * (3 * CHUNK))
    await put(store, "small", b"s")
    assert (await get(store_at(tmp_path), "k"))[0] == b"v" * (3 * CHUNK)


# -- streaming --------------------------------------------------------------------------------


async def test_a_64_mib_value_streams_with_bounded_memory(tmp_path: Path) -> None:
    chunk = 1 << 20
    store = dj.AsyncFileStore(tmp_path)
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        sink = await store.begin_set("big", dj.Metadata())
        for index in range(64):
            block = bytes([index]) * chunk
            expected.update(block)
            await sink.write(block)
            del block
        await sink.commit()
        reader, _ = await store.get_stream("big")
        actual = hashlib.sha256()
        total = 0
        while data := await reader.read(1 << 16):
            actual.update(data)
            total += len(data)
        await reader.aclose()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 64 * chunk
    assert actual.digest() == expected.digest()
    assert peak < 4 * chunk, f"peak {peak} bytes while streaming 64 MiB"


# -- through the cache ------------------------------------------------------------------------


async def test_two_tier_cache_fans_out_to_disk_and_serves_from_it_after_a_restart(tmp_path: Path) -> None:
    origin = Origin({"k": b"v" * 50_000})
    memory = dj.AsyncMemStore()
    async with dj.AsyncCache(stores=[memory, store_at(tmp_path)]) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source is None
            assert await response.read() == b"v" * 50_000
        await eventually(lambda: len(entry_files(tmp_path)) == 1)
    fresh_memory = dj.AsyncMemStore()
    reopened = store_at(tmp_path)
    async with dj.AsyncCache(stores=[fresh_memory, reopened]) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 1
            assert response.metadata.attrs == {"origin": "yes"}
            assert await response.read() == b"v" * 50_000
        assert "k" in fresh_memory  # promoted
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 0
        assert origin.calls == 1
        await cache.delete("k")
    assert entry_files(tmp_path) == []


# -- the record format (pure) ----------------------------------------------------------------


def test_record_head_round_trip_and_checks() -> None:
    key, metadata = encode_key("k\udcff"), encode_metadata(dj.Metadata(etag="e", attrs={"a": "b"}))
    head = encode_header(key, metadata, 7, body_digest(b"1234567")) + key + metadata
    header = parse_header(head)
    assert (header.key_length, header.metadata_length, header.body_length) == (len(key), len(metadata), 7)
    assert header.body_checksum == body_digest(b"1234567") == xxhash.xxh3_64_intdigest(b"1234567")
    assert HEADER_SIZE == 40
    assert head[8:10] == FORMAT_VERSION.to_bytes(2, "little") == b"\x02\x00"
    assert header.record_length == len(head) + 7 == header.head_length + 7
    assert verify_head(header, head) == (key, metadata)
    assert decode_key(key) == "k\udcff"
    assert decode_metadata(metadata) == dj.Metadata(etag="e", attrs={"a": "b"})
    with pytest.raises(CorruptRecord, match="shorter than its"):
        verify_head(header, head[:-1])
    with pytest.raises(CorruptRecord, match="checksum mismatch"):
        verify_head(header, head[:30] + bytes([head[30] ^ 1]) + head[31:])  # a flipped body checksum fails it
    with pytest.raises(CorruptRecord, match="not supported"):
        parse_header(head[:10] + b"\x01" + head[11:])  # flags
    with pytest.raises(CorruptRecord, match="implausible"):
        parse_header(encode_header(b"", metadata, 0, 0))
    with pytest.raises(CorruptRecord, match="shorter than its"):
        parse_header(head[: HEADER_SIZE - 1])


@pytest.mark.parametrize(
    "stored",
    [b"\xff", b"[]", b'{"etag":""}', b'{"etag":1,"is_negative":false,"cached_at":0,"attrs":{}}', b"{"],
)
def test_invalid_stored_metadata_is_corrupt(stored: bytes) -> None:
    with pytest.raises(CorruptRecord, match="metadata"):
        decode_metadata(stored)


def test_invalid_stored_keys_and_oversized_heads_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CorruptRecord, match="UTF-8"):
        decode_key(b"\xff")
    monkeypatch.setattr("daramjwee._record.MAX_KEY_BYTES", 4)
    monkeypatch.setattr("daramjwee._record.MAX_METADATA_BYTES", 4)
    with pytest.raises(ValueError, match="longer than"):
        encode_key("12345")
    with pytest.raises(ValueError, match="longer than"):
        encode_metadata(dj.Metadata())


def test_entry_names_are_fixed_length_hex_in_fanout_directories() -> None:
    names = {entry_name(encode_key(key)) for key in HOSTILE_KEYS}
    assert len(names) == len(HOSTILE_KEYS)
    for name in names:
        assert is_entry_name(name)
        assert len(name) == 70
        assert not name.startswith("/")
        assert ".." not in name
    assert not is_entry_name("ab/cd/" + "0" * 64)  # the fan-out must match the digest
    assert not is_entry_name("00/00/" + "0" * 63)
    assert json.loads(encode_metadata(dj.Metadata(etag="\udcff"))) == {
        "etag": "\udcff",
        "is_negative": False,
        "cached_at": 0.0,
        "attrs": {},
    }
