"""``AsyncRedisStore`` and ``RedisStore``: a tier shared by many processes and machines, on a Redis server.

Layout of one entry of key ``k`` under ``prefix`` (``D`` = :func:`key_digest` of ``k``)::

    {prefix}{D}            string  version id (16 ASCII bytes; "0" * 16 when the first chunk is all of it)
                                   body length (u64, little-endian)
                                   head length (u32, little-endian)
                                   head (key + metadata, see daramjwee._entryhead)
                                   the first chunk of the body (up to chunk_size bytes)
    {prefix}{D}:{version}  hash    "1", "2", ...: the following chunks, in order

Every key of an entry carries the hash tag ``{D}``, so all of them live on one
Redis Cluster slot and the publish script may touch them together.

A value of up to ``chunk_size`` bytes is one ``GET``, as cheap as the raw
value would be; a larger one is one more ``HGET`` per chunk.  A writer stages chunks under a fresh version key
(with ``staging_ttl`` as a lease, so a writer that dies leaks nothing for
long), then one Lua script publishes the head atomically.  Published version
keys are never modified: a reader that opened version ``x`` streams ``x`` to the
end, even if the key is replaced or deleted meanwhile, as long as it finishes
within ``reader_grace`` (the replaced version's chunks expire that long after
the replace).  A reader that outlives the grace fails loudly; it never
returns a mix of two values or a short value.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
import secrets
import struct
from typing import Any

from redis.asyncio import Redis, RedisCluster

from .._entryhead import Head, decode_exact_head, encode_head, key_digest
from .._errors import ConfigError, NotFound
from .._metadata import Metadata
from .._ranges import ByteRange
from .._record import CorruptRecord
from .._units import parse_capacity, parse_duration
from ._readers import AsyncBytesReader
from ._store import Buffer

__all__ = ["AsyncRedisStore", "client_from_url"]

DEFAULT_CHUNK_SIZE = 1 << 20

_VERSION_SIZE = 16
_INLINE = b"0" * _VERSION_SIZE
_LAYOUT = struct.Struct("<16sQI")  # version id, body length, head length
_PREFIX = _LAYOUT.size
_STAT_READ = 4096  # bytes a stat reads first: enough for the head of most entries

# KEYS: head, version key.  ARGV: new head value, version, staged chunk count, ttl ms, grace ms.
_PUBLISH = """
local head, staged = KEYS[1], tonumber(ARGV[3])
local ttl, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
if staged > 0 and redis.call('HLEN', KEYS[2]) ~= staged then
  return redis.error_reply('ERR daramjwee: the staged chunks expired before commit (staging_ttl)')
end
local previous = redis.call('GETRANGE', head, 0, 15)
if ttl > 0 then
  redis.call('SET', head, ARGV[1], 'PX', ttl)
  if staged > 0 then redis.call('PEXPIRE', KEYS[2], ttl + grace) end
else
  redis.call('SET', head, ARGV[1])
  if staged > 0 then redis.call('PERSIST', KEYS[2]) end
end
if previous ~= '' and previous ~= '0000000000000000' and previous ~= ARGV[2] then
  local old = head .. ':' .. previous
  local left = redis.call('PTTL', old)
  if left == -1 or left > grace then redis.call('PEXPIRE', old, grace) end
end
return 1
"""

# KEYS: head.  ARGV: bytes wanted from the start.  The start of the entry and its whole length, read together.
_OPEN_RANGE = """
return {redis.call('GETRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1), redis.call('STRLEN', KEYS[1])}
"""

# KEYS: head, version key.  ARGV: the entry's start as read (prefix and head), first and last offset (inclusive)
# to read of the head key (none when last < first), the number of a chunk to read ("0": none).
# {bytes, chunk}, or false when the entry is no longer the one whose start was read.
_SLICE = """
local expected = ARGV[1]
if redis.call('GETRANGE', KEYS[1], 0, #expected - 1) ~= expected then return false end
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local part = ''
if last >= first then part = redis.call('GETRANGE', KEYS[1], first, last) end
local chunk = false
if ARGV[4] ~= '0' then chunk = redis.call('HGET', KEYS[2], ARGV[4]) end
return {part, chunk}
"""
_RANGE_ATTEMPTS = 4
"""Times ``get_range`` reads an entry's start again when the entry was replaced between two of its calls."""

# KEYS: head.  ARGV: grace ms.
_DELETE = """
local previous = redis.call('GETRANGE', KEYS[1], 0, 15)
redis.call('DEL', KEYS[1])
if previous ~= '' and previous ~= '0000000000000000' then
  local old = KEYS[1] .. ':' .. previous
  local left = redis.call('PTTL', old)
  local grace = tonumber(ARGV[1])
  if left == -1 or left > grace then redis.call('PEXPIRE', old, grace) end
end
return 1
"""


class AsyncRedisStore:
    """Entries in Redis, streamed in ``chunk_size`` pieces; many processes may share one server.

    ``client`` is a ``Redis`` or ``RedisCluster`` client (of ``redis.asyncio`` for
    ``AsyncRedisStore``, of ``redis`` for ``RedisStore``) made with
    ``decode_responses=False`` (the store never closes a client it was given),
    or a URL such as ``redis://host:6379/0`` (the store makes the client,
    with ``client_options`` as keyword arguments, and closes it in
    :meth:`close`).  ``prefix`` starts every key the store writes (no ``{``
    or ``}``: the store adds its own hash tag).

    ``ttl`` (seconds or a ``timedelta``) is a hard expiry: Redis drops an
    entry that long after it was written, fresh or not.  ``None`` keeps
    entries until deleted or evicted by the server's ``maxmemory-policy``
    (use an ``allkeys-*`` policy: the store's keys have no TTL).

    **Memory** on both ends is bounded by ``chunk_size`` per open reader and
    about twice that per open sink, whatever the size of a value: values go
    to Redis in ``HSET`` commands of one chunk and come back one ``HGET`` at a
    time.  **Publishing** is atomic (one Lua script): readers see the old
    value or the new one.  **Failures**: a Redis error (connection refused,
    timeout, ...) is raised from the call that met it; the cache logs it,
    counts it and goes on with the next tier, and the client reconnects by
    itself on a later call once the server is back.  Safe to share between
    tasks of one event loop.
    """

    shared = True
    """Every instance of a fleet reads and writes the same entries here (``coordination`` reads them, rule Y1)."""

    def __init__(
        self,
        client: Redis | RedisCluster | str,
        *,
        prefix: str = "dj:",
        ttl: float | datetime.timedelta | None = None,
        chunk_size: int | str = DEFAULT_CHUNK_SIZE,
        reader_grace: float | datetime.timedelta = 60.0,
        staging_ttl: float | datetime.timedelta = 600.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
            raise ConfigError(f"prefix must be a str without '{{' or '}}' (the store adds a hash tag), got {prefix!r}")
        self._prefix = prefix.encode("utf-8", "surrogatepass")
        self._chunk_size = parse_capacity(chunk_size, "chunk_size")
        if self._chunk_size < 1:
            raise ConfigError("chunk_size must be at least 1 byte")
        self._ttl_ms = 0 if ttl is None else _milliseconds(ttl, "ttl")
        if ttl is not None and self._ttl_ms < 1:
            raise ConfigError(f"ttl must be positive (or None for no expiry), got {ttl!r}")
        self._grace_ms = _milliseconds(reader_grace, "reader_grace")
        self._staging_ms = _milliseconds(staging_ttl, "staging_ttl")
        if self._staging_ms < 1000:
            raise ConfigError(f"staging_ttl must be at least 1 second, got {staging_ttl!r}")
        self._client: Any = _connect(client, client_options)
        self._owns_client = isinstance(client, str)
        self._publish = self._client.register_script(_PUBLISH)
        self._delete = self._client.register_script(_DELETE)
        self._open_range = self._client.register_script(_OPEN_RANGE)
        self._slice = self._client.register_script(_SLICE)
        self._closed = False

    def _head_key(self, key: str) -> bytes:
        if len(key) <= _MEMO_KEY_LIMIT:
            return _memoized_head_key(self._prefix, key)
        return _entry_key(self._prefix, key)

    async def get_stream(self, key: str, /) -> tuple[AsyncBytesReader | _AsyncRedisReader, Metadata]:
        """Open the entry of ``key``; raise :class:`daramjwee.NotFound` when there is none (or it is corrupt).

        One ``GET`` brings the metadata and the first chunk; the receiver owns
        the reader.  An entry of more than one chunk whose chunks Redis has
        evicted is removed and is a miss, so the cache can go on to the next
        tier instead of failing mid-stream.
        """
        head_key = self._head_key(key)
        stored: bytes | None = await self._client.get(head_key)
        if stored is None:
            raise NotFound(key)
        try:
            version, length, head = _parse(stored, key)
            body_start = _PREFIX + head.length
            remaining = length - (len(stored) - body_start)
            if remaining < 0 or (remaining and version == _INLINE):
                raise CorruptRecord(f"the entry's first chunk does not fit its length of {length} bytes")
            if not remaining:  # the whole value: one copy now, none when the caller reads it all
                return AsyncBytesReader(stored[body_start:]), head.metadata
            version_key = b"%s:%s" % (head_key, version)
            if not await self._client.exists(version_key):
                raise CorruptRecord("the entry's chunks were evicted by the server's maxmemory-policy")
        except CorruptRecord:
            await self._client.delete(head_key)
            raise NotFound(key) from None
        first = memoryview(stored)[body_start:]
        return _AsyncRedisReader(self._client, version_key, key, first, remaining), head.metadata

    async def get_range(
        self, key: str, byte_range: ByteRange, /
    ) -> tuple[AsyncBytesReader | _AsyncRedisRangeReader, Metadata, int]:
        """The ``byte_range`` of ``key``'s value: a reader of those bytes, the metadata, the value's length.

        Chunk arithmetic: one script reads the entry's start (prefix and head,
        4 KiB at first) and its length, which is all the round trips a range
        inside those bytes takes; otherwise a second script, after checking
        that the entry is still the one opened, reads only what covers the
        range: the part of the first chunk inside it, and the first later
        chunk it needs.  The reader fetches the rest one ``HGET`` at a time.  Chunks are numbered from the size of the
        first one (the writer's ``chunk_size``), so readers and writers need
        not share a ``chunk_size``.  Raises :class:`daramjwee.NotFound` like
        ``get_stream`` (a corrupt entry, or one whose chunks the server evicted,
        is removed).
        """
        head_key = self._head_key(key)
        for _ in range(_RANGE_ATTEMPTS):
            try:
                opened = await self._open_range_once(key, head_key, byte_range)
            except CorruptRecord:
                await self._client.delete(head_key)
                raise NotFound(key) from None
            if opened is not None:
                return opened
        raise NotFound(key)  # replaced again and again while we read: no settled entry to read a range of

    async def _open_range_once(
        self, key: str, head_key: bytes, byte_range: ByteRange
    ) -> tuple[AsyncBytesReader | _AsyncRedisRangeReader, Metadata, int] | None:
        """One attempt of :meth:`get_range`; ``None`` when the entry changed between its calls."""
        wanted = _STAT_READ
        while True:
            start_bytes, stored_length = await self._open_range(keys=[head_key], args=[wanted])
            if not stored_length:
                raise NotFound(key)
            if len(start_bytes) < _PREFIX or len(start_bytes) >= stored_length:
                break
            needed = _PREFIX + _LAYOUT.unpack_from(start_bytes)[2]
            if needed <= len(start_bytes):
                break
            wanted = needed
        version, length, head = _parse(start_bytes, key)
        body_start = _PREFIX + head.length
        first_length = stored_length - body_start
        if first_length < 0 or first_length > length or (version == _INLINE) != (first_length == length):
            raise CorruptRecord(f"the entry's first chunk does not fit its length of {length} bytes")
        if first_length == 0 and length:
            raise CorruptRecord("the entry's first chunk is empty")
        start, stop = byte_range.bounds(length)
        if start >= stop:
            return AsyncBytesReader(b""), head.metadata, length
        if stop <= first_length and body_start + stop <= len(start_bytes):  # in what the first script read
            return (
                AsyncBytesReader(memoryview(start_bytes)[body_start + start : body_start + stop]),
                head.metadata,
                length,
            )
        version_key = b"%s:%s" % (head_key, version)
        index = max(start, first_length) // first_length if stop > first_length else 0
        last = body_start + min(stop, first_length) - 1  # below the first offset when the range is past the first chunk
        args = [start_bytes[:body_start], body_start + start, last, index]
        reply = await self._slice(keys=[head_key, version_key], args=args)
        if reply is None:
            return None  # replaced since its start was read
        first, chunk = reply
        reader = _AsyncRedisRangeReader(self._client, version_key, key, first, first_length, length, start, stop)
        if index:
            if chunk is None:
                raise CorruptRecord("the entry's chunks were evicted by the server's maxmemory-policy")
            reader.take_chunk(index, chunk)
        return reader, head.metadata, length

    async def stat(self, key: str, /) -> Metadata:
        """Metadata of ``key``; raise :class:`daramjwee.NotFound` when there is none (or it is corrupt).

        Reads the start of the entry only (one ``GETRANGE``; two for a head over 4 KiB).
        """
        head_key = self._head_key(key)
        stored: bytes = await self._client.getrange(head_key, 0, _STAT_READ - 1)
        try:
            if len(stored) >= _PREFIX:
                needed = _PREFIX + _LAYOUT.unpack_from(stored)[2]
                if len(stored) < needed:
                    stored += await self._client.getrange(head_key, len(stored), needed - 1)
            return _parse(stored, key)[2].metadata
        except CorruptRecord:
            if stored:
                await self._client.delete(head_key)
            raise NotFound(key) from None

    async def begin_set(self, key: str, metadata: Metadata, /) -> _AsyncRedisSink:
        """Start writing ``key`` (no I/O until the first chunk fills); the old value stays readable until commit."""
        return _AsyncRedisSink(self, self._head_key(key), encode_head(key, metadata))

    async def delete(self, key: str, /) -> None:
        """Remove ``key`` (one script); a missing key is not an error; open sinks are not waited for.

        Readers already streaming the deleted value may finish within ``reader_grace``.
        """
        await self._delete(keys=[self._head_key(key)], args=[self._grace_ms])

    async def clear(self) -> None:
        """Remove every entry under the prefix: ``SCAN`` for the entries' keys, each deleted as by :meth:`delete`.

        Never ``FLUSHDB``: only this store's entries go (``{prefix}{D}``; a
        store whose prefix merely starts with this one's is left alone).  On
        a Redis Cluster every primary is scanned.  Entries written by other
        processes go too; readers already streaming one may finish within
        ``reader_grace``, and staged chunks of writers still at work expire
        with their lease.
        """
        prefix = self._prefix
        pattern = _GLOB_SPECIAL.sub(rb"\\\g<0>", prefix) + b"{*"
        size = len(prefix) + _HEAD_KEY_TAIL
        options: dict[str, Any] = {"match": pattern, "count": 1000}
        if isinstance(self._client, RedisCluster):
            options["target_nodes"] = RedisCluster.PRIMARIES
        async for name in self._client.scan_iter(**options):
            if len(name) == size and name.endswith(b"}"):  # a head key; version keys end in ":<version>"
                await self._delete(keys=[name], args=[self._grace_ms])

    async def close(self) -> None:
        """Close the client if the store made it from a URL; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    @property
    def client(self) -> Any:
        """The Redis client in use."""
        return self._client

    @property
    def prefix(self) -> str:
        """The prefix of every key the store writes."""
        return self._prefix.decode("utf-8", "surrogatepass")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r} chunk_size={self._chunk_size}>"


def _entry_key(prefix: bytes, key: str) -> bytes:
    """``{prefix}{D}``: the Redis key of the entry of ``key``."""
    return b"%s{%s}" % (prefix, key_digest(key).encode("ascii"))


_GLOB_SPECIAL = re.compile(rb"[*?\[\]\\]")
"""What a ``SCAN MATCH`` pattern treats specially; escaped in the prefix."""
_HEAD_KEY_TAIL = 66
"""Bytes of a head key after the prefix: ``{``, the 64 hex digits of the key's digest, ``}``."""
_MEMO_KEY_LIMIT = 256
_memoized_head_key = functools.lru_cache(maxsize=4096)(_entry_key)  # every hit of a key names it again


def _parse(stored: bytes, key: str) -> tuple[bytes, int, Head]:
    """Version id, body length and head of a stored entry of ``key``; :class:`CorruptRecord` if it is not one."""
    if len(stored) < _PREFIX:
        raise CorruptRecord(f"entry of {len(stored)} bytes is shorter than its {_PREFIX}-byte prefix")
    version, length, head_size = _LAYOUT.unpack_from(stored)
    head = decode_exact_head(stored[_PREFIX : _PREFIX + head_size])
    if head.key != key:
        raise CorruptRecord("the entry belongs to another key (digest collision)")
    return version, length, head


def _milliseconds(value: float | datetime.timedelta, name: str) -> int:
    seconds = parse_duration(value, name, allow_zero=True)
    if math.isinf(seconds):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return round(seconds * 1000)


def client_from_url(url: str, settings: dict[str, Any]) -> Redis:
    """A client for ``url`` with ``settings``, raw bytes in and out, and room for a busy process.

    redis-py's pool raises ``MaxConnectionsError`` at once past 100
    connections (since redis-py 8), which a process with more requests in
    flight would take for Redis being down; this one allows
    ``max_connections`` (default 1024).  A pool that makes callers wait
    (``BlockingConnectionPool``) costs every command 40-70 us more here.
    """
    return Redis.from_url(url, **{"max_connections": 1024, **settings, "decode_responses": False})


def _connect(client: object, options: dict[str, Any] | None) -> Any:
    """The client to use: ``client`` itself, or one made from a URL with sensible timeouts."""
    if isinstance(client, str):
        return client_from_url(client, {"socket_timeout": 5.0, "socket_connect_timeout": 2.0, **(options or {})})
    if options:
        raise ConfigError("client_options only apply when the store makes the client from a URL")
    if not isinstance(client, Redis | RedisCluster):
        raise TypeError(
            f"client must be a Redis or RedisCluster client, or a URL, got {type(client).__name__}"
            " (a sync client belongs in RedisStore, an async one in AsyncRedisStore)"
        )
    if client.get_connection_kwargs().get("decode_responses"):
        raise ConfigError("the Redis client decodes responses; make it with decode_responses=False")
    return client


class _AsyncRedisReader:
    """The body of one published version, chunk by chunk; the receiver owns it.

    The first chunk came with the head; each later one is one ``HGET``.
    Raises :class:`daramjwee._record.CorruptRecord` if a chunk is missing or
    the chunks do not add up to the recorded length (the version expired
    under a reader slower than ``reader_grace``, or the keys were tampered
    with): a reader never ends early as if the value were complete.
    """

    __slots__ = ("_chunk", "_client", "_index", "_key", "_offset", "_remaining", "_version_key")
    read_ahead = False  # the first chunk came with the head: its read cannot fail

    def __init__(self, client: Any, version_key: bytes, key: str, first: Buffer, remaining: int) -> None:
        self._client = client
        self._version_key = version_key
        self._key = key
        self._chunk = first
        self._offset = 0
        self._index = 0
        self._remaining = remaining

    @property
    def remaining(self) -> int:
        """The bytes of the body not read yet: the rest of the buffered chunk and the chunks still on the server."""
        return len(self._chunk) - self._offset + self._remaining

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes (all the rest when negative); ``b""`` at the end."""
        if size < 0:
            parts = [self._take(len(self._chunk))]
            while self._remaining:
                parts.append(await self._next_chunk())
            self._chunk, self._offset = b"", 0
            return b"".join(parts)
        if self._offset >= len(self._chunk):
            if not self._remaining or size == 0:
                return b""
            self._chunk = await self._next_chunk()
            self._offset = 0
        return self._take(size)

    def _take(self, size: int) -> Buffer:
        chunk, start = self._chunk, self._offset
        if start == 0 and size >= len(chunk):
            self._offset = len(chunk)
            return chunk
        end = min(start + size, len(chunk))
        self._offset = end
        return memoryview(chunk)[start:end]

    async def _next_chunk(self) -> Buffer:
        self._index += 1
        chunk: bytes | None = await self._client.hget(self._version_key, b"%d" % self._index)
        if chunk is None or not chunk or len(chunk) > self._remaining:
            self._remaining = 0
            raise CorruptRecord(
                f"chunk {self._index} of {self._key!r:.80} is gone or wrong: the server evicted it "
                "(maxmemory-policy), or the value was replaced or deleted more than reader_grace ago "
                "while this reader was open"
            )
        self._remaining -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        """Drop the buffered chunk; idempotent (nothing is held open on the server)."""
        self._chunk = b""
        self._offset = 0
        self._remaining = 0


class _AsyncRedisRangeReader:
    """Bytes ``start`` up to ``stop`` of one published version; the receiver owns it.

    ``first`` is the part of the range in the first chunk (read with the
    head); chunk ``n`` (1, 2, ...) of the version holds the body bytes from
    ``first_length * n``, and each is fetched with one ``HGET`` when the
    range reaches it, its length checked.  A chunk missing or of the wrong
    length raises :class:`daramjwee._record.CorruptRecord`, as in
    the whole-value reader.
    """

    __slots__ = ("_buffer", "_chunk_size", "_client", "_index", "_key", "_length", "_position", "_stop", "_version_key")
    read_ahead = False  # the first bytes came with the open

    def __init__(
        self,
        client: Any,
        version_key: bytes,
        key: str,
        first: bytes,
        first_length: int,
        length: int,
        start: int,
        stop: int,
    ) -> None:
        self._client = client
        self._version_key = version_key
        self._key = key
        self._chunk_size = first_length
        self._length = length
        self._buffer: Buffer = first
        self._position = start + len(first)  # the body offset after the buffer
        self._stop = stop
        self._index = 0  # the last chunk fetched

    def take_chunk(self, index: int, chunk: bytes) -> None:
        """Append what chunk ``index`` (the next one the range needs) holds of the range to the buffer."""
        chunk_start = self._chunk_size * index
        expected = min(self._chunk_size, self._length - chunk_start)
        if len(chunk) != expected:
            self._position = self._stop
            raise CorruptRecord(
                f"chunk {index} of {self._key!r:.80} has {len(chunk)} bytes, not {expected}: the server evicted it "
                "(maxmemory-policy), or the value was replaced or deleted more than reader_grace ago "
                "while this reader was open"
            )
        self._index = index
        view = memoryview(chunk)[self._position - chunk_start : self._stop - chunk_start]
        self._buffer = view if not self._buffer else bytes(self._buffer) + view
        self._position += len(view)

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes of the range (all the rest when negative); ``b""`` at its end."""
        if size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while self._position < self._stop:
                await self._fetch()
                parts.append(self._buffer)
                self._buffer = b""
            return b"".join(parts)
        if not self._buffer:
            if size == 0 or self._position >= self._stop:
                return b""
            await self._fetch()
        buffer = self._buffer
        if size >= len(buffer):
            self._buffer = b""
            return buffer
        self._buffer = memoryview(buffer)[size:]
        return memoryview(buffer)[:size]

    async def _fetch(self) -> None:
        index = self._index + 1
        chunk: bytes | None = await self._client.hget(self._version_key, b"%d" % index)
        self.take_chunk(index, b"" if chunk is None else chunk)

    async def aclose(self) -> None:
        """Drop the buffered bytes; idempotent (nothing is held open on the server)."""
        self._buffer = b""
        self._position = self._stop


class _AsyncRedisSink:
    """A pending write: the first chunk stays in memory for the head, later chunks are staged in Redis.

    Terminal and idempotent ``commit``/``abort``; a failed commit leaves the
    sink aborted and re-raises.  ``abort`` removes staged chunks on a best
    effort basis (if Redis is unreachable they expire after ``staging_ttl``).
    """

    __slots__ = ("_buffer", "_first", "_head", "_head_key", "_length", "_staged", "_state", "_store", "_version")

    def __init__(self, store: AsyncRedisStore, head_key: bytes, head: bytes) -> None:
        self._store = store
        self._head_key = head_key
        self._head = head
        self._version = secrets.token_hex(_VERSION_SIZE // 2).encode("ascii")
        self._first: bytes | None = None
        self._buffer = bytearray()
        self._length = 0
        self._staged = 0
        self._state = "open"

    @property
    def _version_key(self) -> bytes:
        return b"%s:%s" % (self._head_key, self._version)

    async def write(self, data: Buffer, /) -> None:
        """Append ``data`` (copied); every full chunk after the first goes to Redis before this returns."""
        if self._state != "open":
            raise ValueError(f"write to a {self._state} Redis sink")
        self._length += len(data)
        self._buffer += data
        chunk_size = self._store._chunk_size
        while len(self._buffer) >= chunk_size:
            chunk = bytes(memoryview(self._buffer)[:chunk_size])
            del self._buffer[:chunk_size]
            if self._first is None:
                self._first = chunk
            else:
                await self._stage(chunk)

    async def _stage(self, chunk: bytes) -> None:
        self._staged += 1
        try:
            async with self._store._client.pipeline(transaction=False) as pipe:
                pipe.hset(self._version_key, b"%d" % self._staged, chunk)
                pipe.pexpire(self._version_key, self._store._staging_ms)
                await pipe.execute()
        except BaseException:
            await self.abort()
            raise

    async def commit(self) -> None:
        """Publish the entry atomically, replacing any previous one.  Terminal, idempotent."""
        if self._state == "committed":
            return
        if self._state != "open":
            raise ValueError(f"commit of an {self._state} Redis sink")
        try:
            if self._first is None:
                self._first, self._buffer = bytes(self._buffer), bytearray()
            elif self._buffer:
                await self._stage(bytes(self._buffer))
                self._buffer = bytearray()
            store = self._store
            version = self._version if self._staged else _INLINE
            prefix = _LAYOUT.pack(version, self._length, len(self._head))
            value = b"".join((prefix, self._head, self._first))
            args = [value, version, self._staged, store._ttl_ms, store._grace_ms]
            await store._publish(keys=[self._head_key, self._version_key], args=args)
        except BaseException:
            await self.abort()
            raise
        self._state = "committed"
        self._first = None

    async def abort(self) -> None:
        """Discard the pending entry; the previous value stays.  Terminal, idempotent."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._first, self._buffer = None, bytearray()
        if self._staged:
            try:
                await self._store._client.delete(self._version_key)
            except Exception:  # unreachable server: the staging lease expires the chunks
                pass
