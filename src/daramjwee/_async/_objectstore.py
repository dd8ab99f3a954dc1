"""``AsyncObjectStore`` and ``ObjectStore``: the object-storage tier on obstore (S3, GCS, Azure, local disk, memory).

**Layout.**  The entry of a key is one object, named by the SHA-256 of the
key (:func:`daramjwee._entryhead.key_digest`) with one level of fan-out,
``<prefix>/ab/abcd…`` (64 hex digits), so any key (``/``, ``..``, NUL,
10 kB, lone surrogates) maps to a short, safe, fixed-length name.  The
object's content is the entry head (:func:`daramjwee._entryhead.encode_head`:
key and metadata in a checksummed envelope) followed by the body; the body's
length is the object's size minus the head's.  The key stored in the head is
compared on every read, so a misplaced object is never served as another
key's value.

Metadata lives in the object's content, not in object attributes ("user
metadata"), because attributes cannot hold it: S3 caps user metadata at
2 KiB per object and GCS and Azure have similar limits, obstore's
``LocalStore`` refuses attributes altogether, and header values cannot carry
arbitrary text (NUL, CR LF), while an entry's ``attrs`` are free-form and may
be many kilobytes.  For the same reason no attribute is set at all: the
object is not the value (it starts with the head), so serving it directly
with the value's ``Content-Type`` would be wrong anyway.

This module imports obstore; ``import daramjwee`` does not (the store is
loaded on first use of ``daramjwee.AsyncObjectStore`` or ``daramjwee.ObjectStore``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import GenericError, PreconditionError
from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, S3Store, from_url

from .._entryhead import PREFIX_SIZE, Head, decode_head, encode_head, head_length, key_digest
from .._errors import ConfigError, NotFound
from .._metadata import Metadata
from .._ranges import ByteRange
from .._record import CorruptRecord
from .._units import parse_capacity
from ._store import Buffer

if TYPE_CHECKING:
    from obstore import AsyncWritableFile, BytesStream
    from obstore.store import ObjectStore as Backend

__all__ = ["AsyncObjectStore"]

_logger = logging.getLogger("daramjwee")

_MIB = 1 << 20
MIN_PART_SIZE = 5 * _MIB
"""S3's smallest part of a multipart upload (all but the last part)."""
MAX_PART_SIZE = 5 * 1024 * _MIB
"""S3's largest part of a multipart upload."""
_WRITE_BATCH = _MIB
"""Bytes a sink gathers before handing them to an open upload (each hand-over is a call into obstore)."""
_STAT_READ = 64 * 1024
"""Bytes ``stat`` asks for first: any ordinary head, in one ranged GET."""
_STAT_ATTEMPTS = 4
"""Ranged GETs ``stat`` tries while the object keeps being replaced by ones with ever longer heads."""
_RANGE_HEAD_READ = 4096
"""Bytes ``get_range`` asks for first: the head of most entries (and all of a small value), in one ranged GET."""
_CLEAR_BATCH = 1000
"""Objects listed per page and deleted per call by ``clear`` (S3 deletes at most 1,000 in one request)."""
_BACKENDS = (S3Store, GCSStore, AzureStore, LocalStore, MemoryStore)
_EMPTY = b""


class _SinkAborted(Exception):
    """Handed to an open upload's context-manager exit so that it aborts the multipart upload."""


class AsyncObjectStore:
    """Entries as objects in an object store, through obstore.

    ``store_or_url`` is an obstore store (``S3Store``, ``GCSStore``,
    ``AzureStore``, ``LocalStore`` or ``MemoryStore``) or a URL that
    ``obstore.store.from_url`` understands (``s3://bucket/prefix``,
    ``gs://bucket``, ``az://account/container``, ``file:///path``,
    ``memory://``); extra keyword ``options`` are passed to ``from_url``
    (``endpoint=``, ``region=``, credentials, ``client_options=``,
    ``retry_config=``, ...) and are an error with a store instance.
    ``prefix`` is a further ``/``-separated path inside that store (leading
    and trailing ``/`` are dropped), so several caches can share one bucket;
    stores with different prefixes never see each other's entries.  The store
    has no capacity of its own: expire objects with the bucket's lifecycle
    rules.

    **Writing** (``begin_set`` does no I/O): a sink gathers the head and the
    first ``part_size`` bytes (at least 5 MiB, S3's smallest part) in memory.
    A value that fits is stored with one PUT at ``commit``.  A larger one
    starts a multipart upload when it outgrows ``part_size``: parts of
    ``part_size`` bytes are uploaded while the caller writes, at most
    ``max_concurrency`` at a time (a ``write`` waits for a free slot), so a
    sink holds at most about ``part_size * (max_concurrency + 1)`` bytes
    whatever the value's size; ``commit`` uploads the last part and completes
    the upload.  **Publishing is atomic**: the object appears, complete, when
    the single PUT or the completion succeeds, replacing the previous one in
    one step; nothing is visible before, not even after parts were uploaded.
    ``abort`` (and a failed ``write`` or ``commit``) aborts the multipart
    upload, so no parts are left behind.  A sink dropped without ``commit``
    or ``abort`` cannot abort its upload: its parts stay (invisible, but
    billed) until a lifecycle rule for incomplete multipart uploads removes
    them.  Concurrent sinks of one key never mix: the last to publish wins.
    A ``commit`` interrupted midway (task cancelled) may still publish the
    complete value.

    **Reading**: ``get_stream`` issues one GET and streams the response in
    chunks of at least ``read_chunk_size`` bytes (the head is read from the
    first), so a reader holds about one chunk, whatever the value's size
    (obstore's ``MemoryStore`` hands out the whole object as one chunk).  The
    reader owns the response: close it, early or at the end.  An open reader
    keeps the version it opened (an S3/GCS/Azure GET response streams one
    version; ``LocalStore`` keeps the file it opened; ``MemoryStore`` a
    snapshot), even if the key is replaced or deleted meanwhile.  A response
    that ends before the size the object had when opened raises
    :class:`daramjwee._record.CorruptRecord` from ``read``: a short value is
    never returned as complete.  ``stat`` reads only the head, with a ranged
    GET.  (Beware: obstore's ``LocalStore`` loops, allocating without bound,
    when a file is truncated in place under an open reader; entries are only
    ever replaced whole, so only outside tampering with the files does that.)

    **Errors**: a missing object is :class:`daramjwee.NotFound`; an object
    that is not an entry of this format (foreign, shorter than its head,
    with a corrupt head, or holding another key) is ``NotFound`` too, and is
    deleted (best effort: a value published in between may go with it,
    which costs a miss).  The body has no length field or checksum of its
    own: objects are only ever published whole, so its length is the
    object's size minus the head's.
    Every other failure (network, permissions, missing bucket) propagates as
    obstore raised it, and the cache goes on with the next tier.  obstore
    retries transient failures itself (see its ``retry_config``).

    The store holds no state but its configuration: it is thread-safe, and
    :meth:`close` releases nothing (obstore stores need no closing); the store
    stays usable after it.
    """

    shared = True
    """Every instance of a fleet reads and writes the same entries here (``coordination`` reads them, rule Y1)."""

    def __init__(
        self,
        store_or_url: Backend | str,
        prefix: str = "",
        *,
        part_size: int | str = 8 * _MIB,
        max_concurrency: int = 2,
        read_chunk_size: int | str = _MIB,
        **options: Any,
    ) -> None:
        self._backend = _backend(store_or_url, options)
        self._prefix = _normalize_prefix(prefix)
        self._part_size = parse_capacity(part_size, "part_size")
        if not MIN_PART_SIZE <= self._part_size <= MAX_PART_SIZE:
            raise ConfigError(f"part_size must be between 5MiB and 5GiB (the part sizes S3 accepts), got {part_size!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        self._max_concurrency = max_concurrency
        self._read_chunk_size = parse_capacity(read_chunk_size, "read_chunk_size")

    @property
    def store(self) -> Backend:
        """The obstore store the entries live in."""
        return self._backend

    @property
    def prefix(self) -> str:
        """The normalized prefix of every object name (``""`` or ``a/b``, without leading or trailing ``/``)."""
        return self._prefix

    @property
    def part_size(self) -> int:
        """Bytes per part of a multipart upload (and the largest value stored with a single PUT)."""
        return self._part_size

    @property
    def max_concurrency(self) -> int:
        """Most parts of one sink uploaded at a time."""
        return self._max_concurrency

    @property
    def read_chunk_size(self) -> int:
        """Smallest chunk a reader takes from a GET response (all but the last)."""
        return self._read_chunk_size

    def object_path(self, key: str, /) -> str:
        """Where the entry of ``key`` lives, relative to the obstore store (and its own prefix)."""
        digest = key_digest(key)
        name = f"{digest[:2]}/{digest}"
        return f"{self._prefix}/{name}" if self._prefix else name

    async def get_stream(self, key: str, /) -> tuple[_AsyncObjectReader, Metadata]:
        """Open the entry of ``key``; raise :class:`daramjwee.NotFound` when there is none (or it is not valid)."""
        path = self.object_path(key)
        try:
            result = await obstore.get_async(self._backend, path)
        except FileNotFoundError:
            raise NotFound(key) from None
        size = result.meta["size"]
        stream = result.stream(min_chunk_size=self._read_chunk_size)
        try:
            head, data = await _read_head(stream)
            _check(head, key, size)
            remaining = size - len(data)
            if remaining < 0:
                raise CorruptRecord(f"GET response of {len(data)} bytes is longer than the object's {size}")
        except CorruptRecord as error:
            await self._discard(key, path, error)
            raise NotFound(key) from None
        body = memoryview(data)[head.length :]
        # A value shorter than a chunk came whole: obstore has read the response to its end.
        return _AsyncObjectReader(stream if remaining else None, body, remaining), head.metadata

    async def begin_set(self, key: str, metadata: Metadata, /) -> _AsyncObjectSink:
        """Start writing ``key`` (no I/O yet); the old value stays readable until the sink commits."""
        return _AsyncObjectSink(self, self.object_path(key), encode_head(key, metadata))

    async def delete(self, key: str, /) -> None:
        """Delete ``key``'s object; a missing key is not an error; open readers and sinks are not waited for."""
        try:
            await obstore.delete_async(self._backend, self.object_path(key))
        except FileNotFoundError:  # LocalStore, GCS and Azure report a missing object
            pass

    async def clear(self) -> None:
        """Delete every entry object under the prefix: list them, then delete them in batches.

        Only objects named as entries are (``<prefix>/ab/<64 hex digits>``),
        whoever wrote them; other objects under the prefix (a store with a
        longer prefix inside this one's, say) are left alone.  Readers
        already streaming an entry keep it (see *Reading*).
        """
        start = f"{self._prefix}/" if self._prefix else ""
        names: list[str] = []
        async for batch in obstore.list(self._backend, start or None, chunk_size=_CLEAR_BATCH):
            for meta in batch:
                path = meta["path"]
                if _is_entry_path(path[len(start) :]) and path.startswith(start):
                    names.append(path)
            if len(names) >= _CLEAR_BATCH:
                await self._delete_all(names)
                names = []
        if names:
            await self._delete_all(names)

    async def _delete_all(self, names: list[str]) -> None:
        try:
            await obstore.delete_async(self._backend, names)
        except FileNotFoundError:  # LocalStore, GCS and Azure report a missing object: delete one by one
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    await obstore.delete_async(self._backend, name)

    async def stat(self, key: str, /) -> Metadata:
        """Metadata of ``key`` from a ranged GET of its head; raise :class:`daramjwee.NotFound` when there is none."""
        head, _, _, _ = await self._read_head(key, self.object_path(key), min(_STAT_READ, self._read_chunk_size))
        return head.metadata

    async def _read_head(self, key: str, path: str, wanted: int) -> tuple[Head, memoryview, int, str | None]:
        """The head of ``key``'s object at ``path``, the bytes read with it, the object's size and ETag.

        One ranged GET of the first ``wanted`` bytes, or of the whole head
        when it is longer (in one response: one version of the object).
        Raises :class:`daramjwee.NotFound` when the object is missing, is not
        a valid entry of ``key`` (it is removed), or was replaced by ever
        longer heads while it was read.
        """
        for _ in range(_STAT_ATTEMPTS):
            try:
                data, size, etag = await self._read_range(key, path, wanted)
                if len(data) < PREFIX_SIZE:
                    raise CorruptRecord(f"object of {size} bytes is shorter than the {PREFIX_SIZE}-byte head prefix")
                needed = head_length(data)
                if needed > len(data) and len(data) == wanted:
                    wanted = needed
                    continue
                head = decode_head(data)
                _check(head, key, size)
            except CorruptRecord as error:
                await self._discard(key, path, error)
                raise NotFound(key) from None
            return head, data, size, etag
        raise NotFound(key)

    async def _read_range(self, key: str, path: str, length: int) -> tuple[memoryview, int, str | None]:
        """The first ``length`` bytes of ``key``'s object at ``path`` (fewer if it is shorter), its size and ETag.

        ``NotFound`` when it is missing.  An empty object gives no bytes: a
        range of it is an error (HTTP 416) that obstore reports as a
        ``GenericError``, so one of those is checked with a HEAD request.
        """
        try:
            result = await obstore.get_async(self._backend, path, options={"range": (0, length)})
            return memoryview(await result.bytes_async()), result.meta["size"], result.meta["e_tag"]
        except FileNotFoundError:
            raise NotFound(key) from None
        except GenericError:
            try:
                meta = await obstore.head_async(self._backend, path)
            except FileNotFoundError:
                raise NotFound(key) from None
            if meta["size"] == 0:
                return memoryview(_EMPTY), 0, None
            raise

    async def get_range(self, key: str, byte_range: ByteRange, /) -> tuple[_AsyncObjectReader, Metadata, int]:
        """The ``byte_range`` of ``key``'s value: a reader of those bytes, the metadata, the value's length.

        A ranged GET of the object's start (4 KiB; more for a longer head)
        brings the head, and with it the range when it lies in those bytes;
        otherwise a second ranged GET asks for exactly the range's bytes,
        on condition that the object is still the one whose head was read
        (``If-Match`` its ETag; if it was replaced meanwhile, both are read
        again).  Raises :class:`daramjwee.NotFound` like ``get_stream``.
        """
        path = self.object_path(key)
        for _ in range(_STAT_ATTEMPTS):
            head, data, size, etag = await self._read_head(key, path, _RANGE_HEAD_READ)
            length = size - head.length
            start, stop = byte_range.bounds(length)
            first, last = head.length + start, head.length + stop
            if first >= last or last <= len(data):
                return _AsyncObjectReader(None, data[first:last], 0), head.metadata, length
            options: dict[str, Any] = {"range": (first, last)}
            if etag is not None:
                options["if_match"] = etag
            try:
                result = await obstore.get_async(self._backend, path, options=options)  # type: ignore[arg-type]
            except FileNotFoundError:
                raise NotFound(key) from None
            except PreconditionError:
                continue  # replaced since its head was read
            stream = result.stream(min_chunk_size=self._read_chunk_size)
            return _AsyncObjectReader(stream, memoryview(_EMPTY), last - first), head.metadata, length
        raise NotFound(key)  # replaced again and again while we read: no settled entry to read a range of

    async def _discard(self, key: str, path: str, error: CorruptRecord) -> None:
        """Delete the invalid object at ``path`` (best effort: a failure is ignored) and log it."""
        _logger.warning("removing an invalid object-store entry: %s", error, extra={"key": key, "path": path})
        with contextlib.suppress(Exception):
            await obstore.delete_async(self._backend, path)

    async def close(self) -> None:
        """Nothing to release (obstore stores need no closing); the store stays usable.  Idempotent."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._backend!r} prefix={self._prefix!r}>"


def _backend(store_or_url: object, options: dict[str, Any]) -> Backend:
    """The obstore store ``store_or_url`` is or names (``options`` go to ``from_url``)."""
    if isinstance(store_or_url, str):
        if not store_or_url:
            raise ConfigError("store_or_url must be an obstore store or a URL such as 's3://bucket/prefix', got ''")
        try:
            backend = from_url(store_or_url, **options)
        except Exception as error:
            reason = str(error).partition("\n")[0]  # obstore appends a multi-line debug dump; the cause stays chained
            raise ConfigError(f"cannot open an object store at {store_or_url!r}: {reason}") from error
        if not isinstance(backend, _BACKENDS):
            raise ConfigError(
                f"{store_or_url!r} opens an obstore {type(backend).__name__}, which cannot store entries; "
                "use an s3://, gs://, az://, file:// or memory:// URL"
            )
        return backend
    if not isinstance(store_or_url, _BACKENDS):
        raise TypeError(
            "store_or_url must be an obstore store (S3Store, GCSStore, AzureStore, LocalStore, MemoryStore) "
            f"or a URL string, got {type(store_or_url).__name__}"
        )
    if options:
        raise TypeError(
            f"options {sorted(options)} only apply to a URL; configure the {type(store_or_url).__name__} itself"
        )
    return store_or_url


def _is_entry_path(name: str) -> bool:
    """Whether ``name`` (relative to the prefix) is an entry's: ``ab/`` and the 64 hex digits starting with ``ab``."""
    return (
        len(name) == 67
        and name[2] == "/"
        and name[:2] == name[3:5]
        and all(char in "0123456789abcdef" for char in name[3:])
    )


def _normalize_prefix(prefix: object) -> str:
    """``prefix`` without leading and trailing ``/``; ``ConfigError`` for a path obstore would refuse."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    normalized = prefix.strip("/")
    for segment in normalized.split("/") if normalized else ():
        if segment in ("", ".", "..") or any(ord(char) < 0x20 or ord(char) == 0x7F for char in segment):
            raise ConfigError(
                f"prefix must be '/'-separated names without empty, '.' or '..' segments "
                f"or control characters, got {prefix!r}"
            )
    return normalized


async def _read_head(stream: BytesStream) -> tuple[Head, bytes]:
    """The head at the start of ``stream`` and all the bytes read so far (the head, then body bytes)."""
    parts: list[bytes] = []
    have = 0
    needed = PREFIX_SIZE
    while True:
        try:
            chunk = await stream.__anext__()
        except StopAsyncIteration:
            raise CorruptRecord(f"object of {have} bytes ends inside its head") from None
        parts.append(chunk)
        have += len(chunk)
        if have < needed:
            continue
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        parts = [data]
        if needed == PREFIX_SIZE:
            needed = head_length(data)
        if have >= needed:
            return decode_head(data), data


def _check(head: Head, key: str, size: int) -> None:
    """Raise :class:`CorruptRecord` unless ``head`` (of an object of ``size`` bytes) is an entry of ``key``."""
    if head.key != key:
        raise CorruptRecord("the object holds another key")
    if size < head.length:
        raise CorruptRecord(f"object of {size} bytes is shorter than its {head.length}-byte head")


class _AsyncObjectReader:
    """The rest of an entry's body, streamed from a GET response; the receiver owns it.

    ``pending`` holds body bytes that came with the head; ``remaining`` more
    are expected from ``stream``.  A chunk is handed out whole when it fits
    the read, else in zero-copy ``memoryview`` slices.  The response ending
    early, or running past the size, raises ``CorruptRecord`` (then, and on
    every later read).  Closing the reader drops the response (and with it the
    connection, if the body was not read to its end).
    """

    __slots__ = ("_broken", "_chunk", "_offset", "_remaining", "_stream")

    def __init__(self, stream: BytesStream | None, pending: memoryview, remaining: int) -> None:
        self._stream: BytesStream | None = stream
        self._chunk: Buffer = pending
        self._offset = 0
        self._remaining = remaining
        self._broken: CorruptRecord | None = None

    @property
    def remaining(self) -> int:
        """The bytes of the body not read yet: the rest of the chunk in hand and what the response still owes."""
        return len(self._chunk) - self._offset + self._remaining

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes of the body (all the rest when negative); ``b""`` at the end."""
        if size < 0:
            return await self._read_rest()
        if size == 0:
            return _EMPTY
        chunk, start = self._chunk, self._offset
        if start >= len(chunk):
            if not await self._next_chunk():
                return _EMPTY
            chunk, start = self._chunk, 0
        if start == 0 and size >= len(chunk):
            self._chunk = _EMPTY
            return chunk
        end = min(start + size, len(chunk))
        self._offset = end
        return memoryview(chunk)[start:end]

    async def _read_rest(self) -> bytes:
        parts: list[Buffer] = [memoryview(self._chunk)[self._offset :]]
        self._chunk, self._offset = _EMPTY, 0
        while await self._next_chunk():
            parts.append(self._chunk)
        self._chunk = _EMPTY
        return b"".join(parts)

    async def _next_chunk(self) -> bool:
        """Take the next non-empty chunk from the response as ``_chunk``; ``False`` at the end of the body."""
        if self._broken is not None:
            raise self._broken
        self._chunk, self._offset = _EMPTY, 0
        while self._stream is not None:
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._stream = None
                if self._remaining:
                    self._fail(f"object ended {self._remaining} bytes before the end of its body")
                return False
            if len(chunk) > self._remaining:
                self._fail(f"object continued past its size of {self._remaining} further bytes")
            if chunk:
                self._remaining -= len(chunk)
                self._chunk = chunk
                return True
        return False

    def _fail(self, message: str) -> None:
        self._stream = None
        self._broken = CorruptRecord(message)
        raise self._broken

    async def aclose(self) -> None:
        """Drop the response; idempotent."""
        self._stream = None
        self._chunk = _EMPTY
        self._offset = 0


class _AsyncObjectSink:
    """A pending write of one entry: the head and the first bytes in memory, then a multipart upload.

    The buffer starts with the head.  While it stays within ``part_size`` the
    sink does no I/O, and ``commit`` stores it with one PUT.  Past that, the
    sink opens an obstore writer (a multipart upload of ``part_size`` parts)
    and hands it the buffer, then the following bytes in batches of about
    1 MiB.  obstore keeps what it is handed (no copy) until the part is
    uploaded, so the sink hands over only buffers it never touches again,
    and copies a caller's mutable buffer before handing it over.
    ``commit`` completes the upload; ``abort`` aborts it.  Both are terminal
    and idempotent; a failed ``write`` or ``commit`` leaves the sink aborted
    and re-raises.
    """

    __slots__ = ("_buffer", "_limit", "_path", "_state", "_store", "_writer")

    def __init__(self, store: AsyncObjectStore, path: str, head: bytes) -> None:
        self._store = store
        self._path = path
        self._buffer = bytearray(head)
        self._limit = store.part_size
        self._writer: AsyncWritableFile | None = None
        self._state = "open"

    async def write(self, data: Buffer, /) -> None:
        """Append ``data`` (copied: the caller may reuse its buffer).  May wait for a part upload to finish."""
        if self._state != "open":
            raise ValueError(f"write to a {self._state} object-store sink")
        buffer = self._buffer
        if len(buffer) + len(data) <= self._limit:
            buffer += data
            return
        try:
            await self._hand_over(data)
        except Exception:
            with contextlib.suppress(Exception):
                await self.abort()
            raise
        except BaseException:  # cancelled in the middle: what the upload holds is unknown
            self._state = "failed"
            raise

    async def _hand_over(self, data: Buffer) -> None:
        """Give the buffer and ``data`` to the upload (opened on first use)."""
        writer = self._writer
        if writer is None:
            store = self._store
            writer = self._writer = obstore.open_writer_async(
                store.store, self._path, buffer_size=store.part_size, max_concurrency=store.max_concurrency
            )
            self._limit = _WRITE_BATCH
        buffer = self._buffer
        if len(data) < _WRITE_BATCH:
            buffer += data
            self._buffer = bytearray()
            await writer.write(buffer)
            return
        self._buffer = bytearray()
        if buffer:
            await writer.write(buffer)
        await writer.write(data if isinstance(data, bytes) else bytes(data))

    async def commit(self) -> None:
        """Publish the entry atomically (one PUT, or the completion of the upload).  Terminal, idempotent."""
        if self._state == "committed":
            return
        if self._state != "open":
            raise ValueError(f"commit of a {self._state} object-store sink")
        self._state = "committed"
        buffer, self._buffer = self._buffer, bytearray()
        writer = self._writer
        try:
            if writer is None:
                await obstore.put_async(self._store.store, self._path, buffer, use_multipart=False)
            else:
                if buffer:
                    await writer.write(buffer)
                await writer.close()
        except BaseException:
            self._state = "aborted"
            self._writer = None
            if writer is not None:
                with contextlib.suppress(Exception):
                    await writer.__aexit__(_SinkAborted, _SinkAborted("commit failed"), None)
            raise
        self._writer = None

    async def abort(self) -> None:
        """Discard the pending entry, aborting its multipart upload if one started.  Terminal, idempotent."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        self._buffer = bytearray()
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.__aexit__(_SinkAborted, _SinkAborted("sink aborted"), None)
