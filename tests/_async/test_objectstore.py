"""``AsyncObjectStore`` and ``ObjectStore`` on moto's S3 server (and obstore's memory and local stores).

Hostile keys, atomic publish of multipart uploads, aborted uploads leaving
no parts, failed commits, foreign and corrupt objects, construction by URL
or instance, prefix isolation, and the store as a tier of a cache.
"""

from __future__ import annotations

import datetime
import re
import time
from pathlib import Path
from typing import Any

import boto3
import obstore
import pytest
from obstore.store import HTTPStore, LocalStore, MemoryStore, S3Store

import daramjwee as dj
from _servers import MotoServer, free_port
from daramjwee._async._objectstore import _AsyncObjectReader
from daramjwee._entryhead import encode_head
from daramjwee._record import CorruptRecord

from ._helpers import Origin, assert_hits_open_no_sink_above, eventually

MIB = 1024 * 1024
PART = 5 * MIB

HOSTILE_KEYS = [
    "/",
    "//",
    "a/b/c",
    "/leading",
    "trailing/",
    ".",
    "..",
    "../x",
    "../../etc/passwd",
    "a/../b",
    "a\x00b",
    "\x00",
    "line\r\nbreak",
    "\r\n",
    "k" * 10_000,
    "\ud800",
    "lone \udfff low",
    "\U0001f43f\ufe0f emoji \U0001f600",
    "{",
    "}",
    "{hash}tag",
    "%2F",
    "a%2Fb",
    "?query=1&x=2#frag",
    "*",
    "\\",
    "C:\\windows",
    "key",
    "Key",
    " key ",
]


def s3_client(server: MotoServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )


def uploads(server: MotoServer, bucket: str) -> list[dict[str, Any]]:
    """The multipart uploads in progress in ``bucket``."""
    return list(s3_client(server).list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def object_names(server: MotoServer, bucket: str) -> list[str]:
    response = s3_client(server).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    return s3_server.bucket()


@pytest.fixture
def backend(s3_server: MotoServer, bucket: str) -> S3Store:
    return S3Store(bucket, **s3_server.store_options())


@pytest.fixture
def store(backend: S3Store) -> dj.AsyncObjectStore:
    return dj.AsyncObjectStore(backend, "cache", part_size=PART)


@pytest.fixture
def fragile_store(s3_server: MotoServer, bucket: str) -> dj.AsyncObjectStore:
    """A store of the same entries as ``store`` whose client does not retry (moto answers a lost upload slowly)."""
    no_retries = {"max_retries": 0, "retry_timeout": datetime.timedelta(seconds=5)}
    return dj.AsyncObjectStore(
        S3Store(bucket, **s3_server.store_options(), retry_config=no_retries), "cache", part_size=PART
    )


async def put(store: dj.AsyncObjectStore, key: str, value: bytes, metadata: dj.Metadata | None = None) -> None:
    sink = await store.begin_set(key, metadata or dj.Metadata(etag="e"))
    for start in range(0, len(value), 64 * 1024):
        await sink.write(value[start : start + 64 * 1024])
    await sink.commit()


async def get(store: dj.AsyncObjectStore, key: str, size: int = -1) -> tuple[bytes, dj.Metadata]:
    reader, metadata = await store.get_stream(key)
    parts = []
    try:
        while chunk := await reader.read(size):
            parts.append(bytes(chunk))
            if size < 0:
                break
    finally:
        await reader.aclose()
    return b"".join(parts), metadata


async def missing(store: dj.AsyncObjectStore, key: str) -> bool:
    """Whether ``get_stream`` and ``stat`` both say ``NotFound``."""
    with pytest.raises(dj.NotFound):
        await store.get_stream(key)
    with pytest.raises(dj.NotFound):
        await store.stat(key)
    return True


# -- keys and names ------------------------------------------------------------------------------


async def test_hostile_keys_round_trip_on_s3_without_colliding(
    store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    entries = {
        key: (f"value {index}".encode() * 3, dj.Metadata(etag=str(index))) for index, key in enumerate(HOSTILE_KEYS)
    }
    assert len(entries) == len(HOSTILE_KEYS)
    for key, (value, metadata) in entries.items():
        await put(store, key, value, metadata)
    for key, entry in entries.items():
        assert await get(store, key) == entry
        assert await store.stat(key) == entry[1]
    names = object_names(s3_server, bucket)
    assert len(names) == len(HOSTILE_KEYS)
    assert all(re.fullmatch(r"cache/([0-9a-f]{2})/\1[0-9a-f]{62}", name) for name in names), names
    assert sorted(store.object_path(key) for key in HOSTILE_KEYS) == names
    for key in HOSTILE_KEYS[::2]:
        await store.delete(key)
    for index, (key, entry) in enumerate(entries.items()):
        if index % 2:
            assert await get(store, key) == entry
        else:
            assert await missing(store, key)


def test_object_paths_are_fixed_length_hex_names() -> None:
    plain = dj.AsyncObjectStore(MemoryStore())
    nested = dj.AsyncObjectStore(MemoryStore(), "/a/b/")
    assert nested.prefix == "a/b"
    for key in HOSTILE_KEYS:
        assert re.fullmatch(r"([0-9a-f]{2})/\1[0-9a-f]{62}", plain.object_path(key))
        assert nested.object_path(key) == "a/b/" + plain.object_path(key)


# -- writing: atomic publish, multipart, abort ----------------------------------------------------


async def test_nothing_is_visible_before_commit_even_after_parts_were_uploaded(
    store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    await put(store, "k", b"old value", dj.Metadata(etag="old"))
    value = bytes(range(256)) * (4 * PART // 256)  # four parts: three are uploaded before commit
    sink = await store.begin_set("k", dj.Metadata(etag="new"))
    try:
        await sink.write(value)
        await eventually(lambda: bool(uploads(s3_server, bucket)))
        [upload] = uploads(s3_server, bucket)
        client = s3_client(s3_server)
        await eventually(
            lambda: bool(client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts"))
        )
        assert upload["Key"] == store.object_path("k")
        assert await get(store, "k") == (b"old value", dj.Metadata(etag="old"))
        assert await store.stat("k") == dj.Metadata(etag="old")
        await sink.commit()
    except BaseException:
        await sink.abort()
        raise
    assert await get(store, "k", 1_000_000) == (value, dj.Metadata(etag="new"))
    assert uploads(s3_server, bucket) == []
    assert object_names(s3_server, bucket) == [store.object_path("k")]


async def test_abort_after_a_multipart_spill_leaves_no_upload_behind(
    store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    await put(store, "k", b"old", dj.Metadata(etag="old"))
    for written in (PART + 1, 3 * PART + 12345):
        sink = await store.begin_set("k", dj.Metadata(etag="new"))
        try:
            for start in range(0, written, MIB):
                await sink.write(b"x" * min(MIB, written - start))
            await eventually(lambda: bool(uploads(s3_server, bucket)))
        finally:
            await sink.abort()
        assert uploads(s3_server, bucket) == []
        await sink.abort()
        with pytest.raises(ValueError, match="aborted"):
            await sink.write(b"more")
        with pytest.raises(ValueError, match="aborted"):
            await sink.commit()
        assert await get(store, "k") == (b"old", dj.Metadata(etag="old"))
    assert object_names(s3_server, bucket) == [store.object_path("k")]


async def test_small_values_take_one_put_and_large_ones_a_multipart_upload(
    store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    client = s3_client(s3_server)
    head = len(encode_head("small", dj.Metadata(etag="e")))
    await put(store, "small", b"s" * (PART - head))  # exactly one part: one PUT
    await put(store, "large", b"l" * (PART - head + 1))  # one byte more: a multipart upload of two parts
    small = client.head_object(Bucket=bucket, Key=store.object_path("small"))
    large = client.head_object(Bucket=bucket, Key=store.object_path("large"))
    assert small["ContentLength"] == PART
    assert "-" not in small["ETag"]
    assert large["ContentLength"] == PART + len(encode_head("large", dj.Metadata(etag="e"))) - head + 1
    assert large["ETag"].strip('"').endswith("-2")
    assert (await get(store, "small"))[0] == b"s" * (PART - head)
    assert (await get(store, "large"))[0] == b"l" * (PART - head + 1)


async def test_written_buffers_are_copied_even_large_ones(store: dj.AsyncObjectStore) -> None:
    """obstore keeps what it is handed without copying: the sink must not hand it the caller's buffers."""
    first = bytearray(b"a" * (PART + 100))  # spills: handed over with the buffer
    second = bytearray(b"b" * (2 * MIB))  # a large write, handed over on its own
    third = memoryview(bytearray(b"c" * 1000))
    sink = await store.begin_set("k", dj.Metadata())
    await sink.write(first)
    first[:] = b"A" * len(first)
    await sink.write(second)
    second[:] = b"B" * len(second)
    await sink.write(third)
    third[:] = b"C" * 1000
    first += b"resizable"  # no export of the caller's buffer is left behind
    await sink.commit()
    value, _ = await get(store, "k")
    assert value == b"a" * (PART + 100) + b"b" * (2 * MIB) + b"c" * 1000


async def test_a_failed_multipart_commit_keeps_the_old_value_and_aborts_the_sink(
    store: dj.AsyncObjectStore, fragile_store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    await put(store, "k", b"old", dj.Metadata(etag="old"))
    sink = await fragile_store.begin_set("k", dj.Metadata(etag="new"))
    await sink.write(b"n" * (PART + 10))
    await eventually(lambda: bool(uploads(s3_server, bucket)))
    [upload] = uploads(s3_server, bucket)
    s3_client(s3_server).abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    with pytest.raises(Exception) as failure:
        await sink.commit()
    assert not isinstance(failure.value, ValueError)
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()
    await sink.abort()
    assert await get(store, "k") == (b"old", dj.Metadata(etag="old"))
    assert uploads(s3_server, bucket) == []


async def test_a_failed_write_aborts_the_sink(
    store: dj.AsyncObjectStore, fragile_store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str
) -> None:
    await put(store, "k", b"old", dj.Metadata(etag="old"))
    sink = await fragile_store.begin_set("k", dj.Metadata(etag="new"))
    await sink.write(b"n" * (PART + 10))
    await eventually(lambda: bool(uploads(s3_server, bucket)))
    [upload] = uploads(s3_server, bucket)
    s3_client(s3_server).abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    with pytest.raises(Exception) as failure:  # the failed part upload surfaces on a later write
        for _ in range(20):
            await sink.write(b"n" * PART)
    assert not isinstance(failure.value, ValueError)
    with pytest.raises(ValueError, match="aborted"):
        await sink.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()
    assert await get(store, "k") == (b"old", dj.Metadata(etag="old"))
    assert uploads(s3_server, bucket) == []


async def test_a_failed_put_leaves_the_sink_aborted(store: dj.AsyncObjectStore, bucket: str) -> None:
    await put(store, "k", b"old", dj.Metadata(etag="old"))
    unreachable = S3Store(
        bucket,
        endpoint=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
        region="us-east-1",
        client_options={"allow_http": True, "connect_timeout": "2s"},
        retry_config={"max_retries": 0, "retry_timeout": datetime.timedelta(seconds=1)},
    )
    broken = dj.AsyncObjectStore(unreachable, "cache", part_size=PART)
    sink = await broken.begin_set("k", dj.Metadata(etag="new"))
    await sink.write(b"new")
    with pytest.raises(Exception) as failure:
        await sink.commit()
    assert not isinstance(failure.value, (ValueError, dj.NotFound))
    with pytest.raises(ValueError, match="aborted"):
        await sink.commit()
    await sink.abort()
    with pytest.raises(Exception) as failure:  # other failures than a missing object propagate
        await broken.get_stream("k")
    assert not isinstance(failure.value, dj.NotFound)
    assert await get(store, "k") == (b"old", dj.Metadata(etag="old"))


# -- reading ------------------------------------------------------------------------------------


async def test_reads_split_and_join_response_chunks(backend: S3Store) -> None:
    store = dj.AsyncObjectStore(backend, part_size=PART, read_chunk_size="64KiB")
    value = bytes(range(251)) * 4000  # about 1 MB: many response chunks
    await put(store, "k", value)
    for size in (1, 1000, 65536, 65537, 300_000):
        got, _ = await get(store, "k", size)
        assert got == value, size
    reader, _ = await store.get_stream("k")
    try:
        start = bytes(await reader.read(100_000))
        rest = bytes(await reader.read(-1))
        assert start + rest == value
        assert await reader.read(10) == b""
        assert await reader.read(-1) == b""
    finally:
        await reader.aclose()
    await reader.aclose()
    early, _ = await store.get_stream("k")
    assert bytes(await early.read(10)) == value[:10]
    await early.aclose()  # closed before the end: the response is dropped
    assert await early.read(10) == b""


async def test_long_heads_are_read_whole_by_stat_and_get_stream(store: dj.AsyncObjectStore) -> None:
    metadata = dj.Metadata(etag="long", attrs={"big": "v" * 200_000, "other": "\u00e9" * 50_000})
    await put(store, "k", b"body", metadata)
    assert await store.stat("k") == metadata
    assert await get(store, "k") == (b"body", metadata)


class _Stream:
    """A stand-in for obstore's response stream."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    async def __anext__(self) -> bytes:
        if not self.chunks:
            raise StopAsyncIteration
        return self.chunks.pop(0)


async def test_a_response_shorter_or_longer_than_the_object_is_never_a_complete_value() -> None:
    short = _AsyncObjectReader(_Stream([b"cd", b"ef"]), memoryview(b"ab"), 6)  # type: ignore[arg-type]
    assert bytes(await short.read(2)) == b"ab"
    assert bytes(await short.read(5)) == b"cd"
    assert bytes(await short.read(5)) == b"ef"
    with pytest.raises(CorruptRecord, match="2 bytes before"):
        await short.read(5)
    with pytest.raises(CorruptRecord):
        await short.read(5)
    await short.aclose()
    rest = _AsyncObjectReader(_Stream([b"cd"]), memoryview(b"ab"), 4)  # type: ignore[arg-type]
    with pytest.raises(CorruptRecord):
        await rest.read(-1)
    longer = _AsyncObjectReader(_Stream([b"cd", b"efg"]), memoryview(b""), 4)  # type: ignore[arg-type]
    assert bytes(await longer.read(10)) == b"cd"
    with pytest.raises(CorruptRecord, match="past its size"):
        await longer.read(10)
    exact = _AsyncObjectReader(_Stream([b"", b"cd", b""]), memoryview(b"ab"), 2)  # type: ignore[arg-type]
    assert bytes(await exact.read(-1)) == b"abcd"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"DJW", id="shorter-than-a-prefix"),
        pytest.param(b"<html>not a cache entry</html>" * 10, id="foreign"),
        pytest.param(encode_head("k", dj.Metadata())[:-3], id="truncated-head"),
        pytest.param(encode_head("another key", dj.Metadata()) + b"value", id="another-key"),
        pytest.param(
            bytes([encode_head("k", dj.Metadata())[0] ^ 1]) + encode_head("k", dj.Metadata())[1:], id="bad-magic"
        ),
        pytest.param(encode_head("k", dj.Metadata(etag="x")).replace(b'"x"', b'"y"') + b"value", id="bad-checksum"),
    ],
)
async def test_an_object_not_in_this_format_is_not_found_and_removed(
    store: dj.AsyncObjectStore, backend: S3Store, s3_server: MotoServer, bucket: str, content: bytes
) -> None:
    path = "cache/" + store.object_path("k").removeprefix("cache/")
    for operation in ("get_stream", "stat"):
        await obstore.put_async(backend, path, content)
        with pytest.raises(dj.NotFound):
            await getattr(store, operation)("k")
        assert object_names(s3_server, bucket) == [], operation


async def test_a_valid_entry_written_directly_is_read(store: dj.AsyncObjectStore, backend: S3Store) -> None:
    metadata = dj.Metadata(etag="direct", cached_at=12.5, attrs={"a": "b"})
    await obstore.put_async(backend, store.object_path("k"), encode_head("k", metadata) + b"the value")
    assert await get(store, "k") == (b"the value", metadata)
    assert await store.stat("k") == metadata


async def test_delete_of_missing_keys_on_every_backend(store: dj.AsyncObjectStore, tmp_path: Path) -> None:
    for each in (store, dj.AsyncObjectStore(MemoryStore()), dj.AsyncObjectStore(LocalStore(tmp_path))):
        await each.delete("never written")
        await put(each, "k", b"v")
        await each.delete("k")
        await each.delete("k")
        assert await missing(each, "k")


# -- construction ---------------------------------------------------------------------------------


async def test_construction_by_url(s3_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    options = s3_server.store_options()
    by_url = dj.AsyncObjectStore(f"s3://{bucket}/by/url", "cache", part_size="5MiB", **options)
    assert isinstance(by_url.store, S3Store)
    await put(by_url, "k", b"from a URL")
    assert await get(by_url, "k") == (b"from a URL", dj.Metadata(etag="e"))
    assert object_names(s3_server, bucket) == ["by/url/" + by_url.object_path("k")]
    assert by_url.object_path("k").startswith("cache/")

    memory = dj.AsyncObjectStore("memory://")
    assert isinstance(memory.store, MemoryStore)
    await put(memory, "k", b"in memory")
    assert (await get(memory, "k"))[0] == b"in memory"

    local = dj.AsyncObjectStore((tmp_path / "made").as_uri(), mkdir=True)
    assert isinstance(local.store, LocalStore)
    await put(local, "k", b"on disk")
    assert (await get(local, "k"))[0] == b"on disk"
    assert (tmp_path / "made" / local.object_path("k")).is_file()
    await local.close()
    await local.close()
    assert (await get(local, "k"))[0] == b"on disk"  # close releases nothing; the store stays usable


def test_construction_options_and_properties(backend: S3Store) -> None:
    store = dj.AsyncObjectStore(backend, "/x/y/", part_size="16MiB", max_concurrency=4, read_chunk_size=4096)
    assert store.store is backend
    assert (store.prefix, store.part_size, store.max_concurrency, store.read_chunk_size) == ("x/y", 16 * MIB, 4, 4096)
    assert "x/y" in repr(store)
    default = dj.AsyncObjectStore(backend)
    assert (default.prefix, default.part_size, default.max_concurrency, default.read_chunk_size) == (
        "",
        8 * MIB,
        2,
        MIB,
    )


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        pytest.param({"store_or_url": 42}, TypeError, "obstore store", id="not-a-store"),
        pytest.param({"store_or_url": None}, TypeError, "obstore store", id="none"),
        pytest.param({"store_or_url": ""}, dj.ConfigError, "URL", id="empty-url"),
        pytest.param({"store_or_url": "nonsense://bucket"}, dj.ConfigError, "nonsense://", id="bad-scheme"),
        pytest.param({"store_or_url": "not a url"}, dj.ConfigError, "not a url", id="not-a-url"),
        pytest.param({"store_or_url": "https://example.com/x"}, dj.ConfigError, "HTTPStore", id="http-store"),
        pytest.param({"store_or_url": HTTPStore("https://example.com")}, TypeError, "HTTPStore", id="http-instance"),
        pytest.param({"store_or_url": "memory://", "unknown_option": 1}, dj.ConfigError, "memory://", id="bad-option"),
        pytest.param({"store_or_url": MemoryStore(), "endpoint": "x"}, TypeError, "only apply to a URL", id="options"),
        pytest.param({"prefix": 3}, TypeError, "prefix", id="prefix-type"),
        pytest.param({"prefix": "a//b"}, dj.ConfigError, "prefix", id="empty-segment"),
        pytest.param({"prefix": "a/../b"}, dj.ConfigError, "prefix", id="dotdot"),
        pytest.param({"prefix": "./a"}, dj.ConfigError, "prefix", id="dot"),
        pytest.param({"prefix": "a\x00b"}, dj.ConfigError, "prefix", id="nul"),
        pytest.param({"prefix": "a\nb"}, dj.ConfigError, "prefix", id="newline"),
        pytest.param({"part_size": "1MiB"}, dj.ConfigError, "part_size", id="part-too-small"),
        pytest.param({"part_size": "6GiB"}, dj.ConfigError, "part_size", id="part-too-large"),
        pytest.param({"part_size": "lots"}, dj.ConfigError, "part_size", id="part-nonsense"),
        pytest.param({"part_size": -1}, dj.ConfigError, "part_size", id="part-negative"),
        pytest.param({"max_concurrency": 0}, dj.ConfigError, "max_concurrency", id="concurrency-zero"),
        pytest.param({"max_concurrency": True}, dj.ConfigError, "max_concurrency", id="concurrency-bool"),
        pytest.param({"max_concurrency": "2"}, dj.ConfigError, "max_concurrency", id="concurrency-str"),
        pytest.param({"max_concurrency": 1.5}, dj.ConfigError, "max_concurrency", id="concurrency-float"),
        pytest.param({"read_chunk_size": 0}, dj.ConfigError, "read_chunk_size", id="chunk-zero"),
        pytest.param({"read_chunk_size": None}, dj.ConfigError, "read_chunk_size", id="chunk-none"),
    ],
)
def test_bad_arguments_are_clear_errors(arguments: dict[str, Any], error: type[Exception], match: str) -> None:
    arguments = {"store_or_url": MemoryStore(), **arguments}
    with pytest.raises(error, match=match):
        dj.AsyncObjectStore(**arguments)


async def test_prefixes_isolate_stores_sharing_a_bucket(backend: S3Store) -> None:
    stores = [dj.AsyncObjectStore(backend, prefix) for prefix in ("", "a", "a/ab", "b")]
    for index, store in enumerate(stores):
        await put(store, "shared", f"value {index}".encode())
    for index, store in enumerate(stores):
        assert (await get(store, "shared"))[0] == f"value {index}".encode()
    await stores[1].delete("shared")
    assert await missing(stores[1], "shared")
    for index in (0, 2, 3):
        assert (await get(stores[index], "shared"))[0] == f"value {index}".encode()
    await put(stores[3], "only in b", b"b")
    for store in stores[:3]:
        assert await missing(store, "only in b")


# -- as a tier of a cache --------------------------------------------------------------------------


async def test_as_the_lower_tier_of_a_cache(store: dj.AsyncObjectStore, s3_server: MotoServer, bucket: str) -> None:
    value = bytes(range(256)) * 40_000  # 10 MB: a multipart upload when fanned out
    origin = Origin({"k": value})
    origin.chunk = 256 * 1024
    client = s3_client(s3_server)
    async with dj.AsyncCache(stores=[dj.AsyncMemStore(), store]) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source is None
            assert await response.read() == value
        await eventually(lambda: object_names(s3_server, bucket) == [store.object_path("k")], timeout=20)
    assert uploads(s3_server, bucket) == []
    assert client.head_object(Bucket=bucket, Key=store.object_path("k"))["ContentLength"] > len(value)
    reopened = dj.AsyncObjectStore(store.store, "cache", part_size=PART)
    fresh_memory = dj.AsyncMemStore()
    started = time.monotonic()
    async with dj.AsyncCache(stores=[fresh_memory, reopened]) as cache:
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 1
            assert response.metadata.attrs == {"origin": "yes"}
            assert await response.read() == value
        assert "k" in fresh_memory  # promoted
        async with await cache.get("k", origin.fetcher("k")) as response:
            assert response.source == 0
        assert origin.calls == 1
        await cache.delete("k")
    assert time.monotonic() - started < 30
    assert object_names(s3_server, bucket) == []


async def test_a_hit_too_large_for_memory_opens_no_memory_sink_without_a_declared_length(
    store: dj.AsyncObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The GET says the object's size (the reader's ``remaining``): no sink above it is opened, every hit."""
    value = bytes(range(256)) * 1200
    await put(store, "k", value, dj.Metadata(cached_at=time.time()))
    await assert_hits_open_no_sink_above(store, "k", value, caplog)
