"""``AsyncFileStore`` and ``FileStore``: the local-disk tier, one file per entry.

The blocking work is done by :class:`daramjwee._filedir.FileDirectory`
(plain calls, thread-safe, shared by both flavours); the store, its readers
and its sinks hand each blocking step to ``async_run_blocking`` (a worker
thread) or, in the generated sync flavour, ``run_blocking`` (a direct call).
"""

from __future__ import annotations

import os
import threading

from .._async_primitives import async_run_blocking, async_run_blocking_owned
from .._errors import ConfigError, CorruptEntry, EntryTooLarge
from .._filedir import FileDirectory, KnownHead, OpenRecord, TempFile, file_identity
from .._metadata import Metadata
from .._ranges import ByteRange
from .._record import HEADER_SIZE, BodyHasher, encode_header, encode_metadata
from .._units import parse_capacity
from ..policy import Policy, make_policy
from ._readers import AsyncBytesReader
from ._store import Buffer

__all__ = ["AsyncFileStore"]

DEFAULT_CHUNK_SIZE = 1 << 16
DEFAULT_WHOLE_READ = 1 << 20
_FIRST_READ_LIMIT = 1 << 16  # larger buffers come from mmap and make every small hit slower


class AsyncFileStore:
    """Entries as files under the directory ``path`` (created if missing), bounded by ``capacity`` bytes.

    ``capacity`` is an int of bytes, a size string such as ``"20GiB"``, or
    ``None`` for unbounded; it bounds the sum of the sizes of the entry files
    (header, key, metadata and body of each).  A value whose record would not
    fit in the whole capacity is refused: its sink aborts and raises
    ``EntryTooLarge`` on the write that crosses the limit.  ``policy`` names
    the eviction policy (see :mod:`daramjwee.policy`) or is a policy instance.
    A sink buffers up to ``chunk_size`` bytes (no fewer than a record's
    header; ``ConfigError`` otherwise) before writing them, and a hit reads
    up to ``chunk_size`` bytes (at most 64 KiB) with the header; a hit of an
    entry the store has read or written before, whose body is longer than
    that but at most ``whole_read`` bytes (default 1 MiB), reads the header,
    then the whole body in one read; after that, readers read what they are
    asked for.  Memory stays bounded by these, whatever the size of a value.

    ``inline_open=True`` (meaningful for the async flavour) opens an entry
    and reads its head and first chunk (or whole body, as above) on the
    calling thread instead of a worker thread: a hit of a page-cached entry
    then costs microseconds instead of a thread hand-off (about 100 us, and
    150 us on the project's CI machine), at the price of stalling the event
    loop for a read from a cold disk (up to ``whole_read`` bytes).  The rest
    of a larger body is still read on worker threads.

    **Opening** scans the directory, blocking in the constructor: every
    record's header is read and checked, corrupt or truncated records (and
    anything but a regular file under an entry's name) and temp files left by
    dead writers are removed, and the index and size accounting are rebuilt
    (oldest file first in the policy's order), then entries are evicted down
    to ``capacity``.  Opening raises only if ``path`` does not exist and
    cannot be made: in a read-only directory, or with files it cannot read,
    the store opens, serves what it can read and logs a warning for each file
    it could not read or remove.

    **Publishing** is atomic: a sink writes a temp file in ``path/tmp`` (a
    value that stays within one chunk is written at ``commit``), and
    ``commit`` renames it onto the entry's name, so readers see the old value
    or the new one, never a part.  With ``fsync=True``, ``commit`` also
    flushes the file and its directory to stable storage before returning;
    deletes and evictions are not synced, so after a power loss a deleted
    entry may come back (always complete).  The directories the store needs
    are made again if they are removed while it runs (if ``path`` itself was,
    the index forgets every entry it counted), and something that is not a
    file in the way of an entry is removed.  On a full disk (``ENOSPC``) a
    write, rename or new temp file evicts entries in the policy's order, at
    least the bytes it needs, and is retried once; if it fails again the
    error is raised (the cache treats it as a failure of this tier).

    **Reading** opens the published file: a reader keeps the version it
    opened, even if the key is replaced, evicted or deleted meanwhile
    (POSIX semantics; this store needs a POSIX system).  A record that is
    truncated, corrupt, of another format version or stored under a name that
    is not its key's, is a miss (:class:`daramjwee.NotFound`) and is removed;
    so is a symlink, FIFO, socket, device or directory under an entry's name
    (never followed, never blocked on).  An entry whose file vanished is
    forgotten when found missing.  Every body is verified against the
    checksum in its record (XXH3-64; see :mod:`daramjwee._record`): a body
    that fits in the first read is verified before ``get_stream`` returns it
    (a mismatch is a miss); a longer one is hashed as it is read, and the
    read that reaches its end raises :class:`daramjwee.CorruptEntry` on a
    mismatch instead of returning the last chunk, so a damaged value is
    never served whole.  Either way the entry is removed.  Records of
    format version 1 (before the body checksum) are misses, removed.

    **Sharing**: several stores, in this or other processes, may use one
    directory.  Each keeps its own index of the entries it knows (found when
    it opened, written or read since) and enforces ``capacity`` over those;
    an entry another process removed is dropped from the index when noticed.
    Thread-safe; a reader or writer of one key never blocks other keys (the
    store's lock is held only around index updates and the rename, unlink or
    eviction that goes with them).  :meth:`close` releases nothing: the store
    holds no open file between calls, and stays usable.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        capacity: int | str | None = None,
        *,
        policy: str | Policy = "s3fifo",
        fsync: bool = False,
        chunk_size: int | str = DEFAULT_CHUNK_SIZE,
        inline_open: bool = False,
        whole_read: int | str = DEFAULT_WHOLE_READ,
    ) -> None:
        size = None if capacity is None else parse_capacity(capacity, "capacity")
        self._chunk_size = parse_capacity(chunk_size, "chunk_size")
        if self._chunk_size < HEADER_SIZE:
            raise ConfigError(
                f"chunk_size must be at least {HEADER_SIZE} bytes (the header of a record), got {chunk_size!r}"
            )
        self._first_read = min(self._chunk_size, _FIRST_READ_LIMIT)
        self._whole_read = parse_capacity(whole_read, "whole_read")
        self._inline_open = bool(inline_open)
        self._directory = FileDirectory(os.fspath(path), size, make_policy(policy), fsync=bool(fsync))

    @property
    def get_stream_inline(self) -> bool:
        """Whether ``get_stream`` opens entries without awaiting (``inline_open``)."""
        return self._inline_open

    async def get_stream(self, key: str, /) -> tuple[AsyncBytesReader | _AsyncFileReader, Metadata]:
        """Open the entry of ``key``; raise :class:`daramjwee.NotFound` when there is none (or it is corrupt)."""
        if self._inline_open:
            body, metadata = self._directory.open(key, self._first_read, self._whole_read)
        else:
            body, metadata = await async_run_blocking_owned(
                _close_opened, self._directory.open, key, self._first_read, self._whole_read
            )
        if isinstance(body, bytes):
            return AsyncBytesReader(body), metadata
        return _AsyncFileReader(self._directory, key, body), metadata

    async def get_range(
        self, key: str, byte_range: ByteRange, /
    ) -> tuple[_AsyncFileReader | _AsyncFileRangeReader, Metadata, int]:
        """The ``byte_range`` of ``key``'s body: a reader of those bytes, the metadata, the body's length.

        Reads the record's head (checked as for any read: header, key,
        metadata, the file's length), then reads the range with ``pread`` from its
        offset: no byte of the body before the range is read.

        **Integrity**: the body's XXH3-64 checksum covers the whole body, so
        a range of part of it is *not* verified (checking would mean reading
        the whole body, which a range read exists to avoid); a file truncated
        under the reader still raises :class:`daramjwee.CorruptEntry`.  A
        range that covers the whole body is read and verified exactly like
        ``get_stream``.  Whole reads (every ``get`` without a range, every
        promotion and fan-out) verify as ever, so damage is still found and
        the entry removed the next time the value is read whole.
        Raises :class:`daramjwee.NotFound` like ``get_stream``.
        """
        fd, known = await async_run_blocking_owned(_close_head, self._directory.open_head, key)
        length = known.body_length
        start, stop = byte_range.bounds(length)
        offset = len(known.head)
        if start == 0 and stop == length:
            record = OpenRecord(fd, b"", offset, known.record_length, known.body_checksum, known.path)
            return _AsyncFileReader(self._directory, key, record), known.metadata, length
        return (
            _AsyncFileRangeReader(self._directory, key, fd, known.path, offset + start, offset + stop),
            known.metadata,
            length,
        )

    async def begin_set(self, key: str, metadata: Metadata, /) -> _AsyncFileSink:
        """Start writing ``key`` (no I/O yet); the old value stays readable until the sink commits."""
        return _AsyncFileSink(self._directory, key, metadata, self._chunk_size)

    async def delete(self, key: str, /) -> None:
        """Remove ``key``'s file; a missing key is not an error; open readers and sinks are not waited for."""
        await async_run_blocking(self._directory.delete, key)

    async def stat(self, key: str, /) -> Metadata:
        """Metadata of ``key``; raise :class:`daramjwee.NotFound` when there is none (or it is corrupt)."""
        return await async_run_blocking(self._directory.stat, key)

    async def clear(self) -> None:
        """Remove every entry file in the directory, this store's and those other stores (or processes) wrote.

        The directory, its fan-out directories and the temp files of writers
        still at work stay.  Readers keep the files they opened (POSIX).
        """
        await async_run_blocking(self._directory.clear)

    async def close(self) -> None:
        """Nothing to release (no file stays open between calls); the store stays usable.  Idempotent."""

    @property
    def path(self) -> str:
        """The store directory."""
        return self._directory.root

    @property
    def capacity(self) -> int | None:
        """The byte capacity, or ``None`` when unbounded."""
        return self._directory.capacity

    @property
    def used(self) -> int:
        """Bytes of the entry files this store knows about (whole files: header, key, metadata, body)."""
        return self._directory.used

    def __len__(self) -> int:
        return len(self._directory)

    def __contains__(self, key: object) -> bool:
        return key in self._directory

    def __repr__(self) -> str:
        directory = self._directory
        return (
            f"<{type(self).__name__} {directory.root!r} {len(directory)} entries, "
            f"{directory.used}/{directory.capacity} bytes>"
        )


class _AsyncOpenRecord:
    """A record file the store opened for one reader: closed once, by closing the reader or by garbage collection.

    ``_fail`` records why the file cannot be read, removes the entry (if its
    name still leads to this file) and closes it; later reads raise again.
    """

    __slots__ = ("_directory", "_failure", "_fd", "_key", "_path")

    def __init__(self, directory: FileDirectory, key: str, fd: int, path: str) -> None:
        self._directory = directory
        self._key = key
        self._fd = fd
        self._path = path
        self._failure = ""

    def _fail(self, fd: int, reason: str) -> CorruptEntry:
        """Remove the entry (if its name still leads to the file open as ``fd``), close the file; the error."""
        self._failure = reason
        if fd == self._fd:  # not closed (and its number perhaps reused) by closing the reader meanwhile
            try:
                self._directory.discard_invalid(self._key, self._path, file_identity(fd), reason)
            finally:
                self._close()
        return CorruptEntry(reason)

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self._close()


class _AsyncFileReader(_AsyncOpenRecord):
    """The rest of a record's body, from a file opened by the store; the receiver owns it.

    ``pending`` holds body bytes already read with the header; the rest is
    read with ``pread`` from ``position`` up to ``end`` (the end of the
    record and of the file).  Positioned reads share no file offset, so a
    read still running on a worker thread after its task was cancelled can
    never disturb another file, even if closing the reader has closed this one.
    The file is closed when the reader is closed or garbage-collected.

    Every byte handed out is hashed, in order; the read that reaches the end
    of the body checks the digest against the record's body checksum before
    it returns.  A mismatch, or a file that ends before the body does, raises
    :class:`daramjwee.CorruptEntry` instead of handing out that last chunk,
    removes the entry (if its name still leads to this file), and every later
    read raises it again: a damaged body never ends cleanly.
    """

    __slots__ = ("_end", "_expected", "_hasher", "_offset", "_pending", "_position")
    read_ahead = False  # the first read comes from a local file the open just checked

    def __init__(self, directory: FileDirectory, key: str, record: OpenRecord) -> None:
        super().__init__(directory, key, record.fd, record.path)
        self._pending = record.pending
        self._offset = 0
        self._position = record.position
        self._end = record.end
        self._expected = record.body_checksum
        self._hasher = BodyHasher()

    @property
    def remaining(self) -> int:
        """The bytes of the body not read yet."""
        return len(self._pending) - self._offset + self._end - self._position

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes of the body (all the rest when negative); ``b""`` at the end.

        Raises :class:`daramjwee.CorruptEntry` if the body fails its checksum
        (from the read that reaches its end) or the file ends before the body
        does (it was truncated in place under the store), and from every read
        after that.  Other ``OSError`` from the disk propagates.
        """
        if self._pending:
            return await self._read_pending(size)
        if size > 0 and self._position < self._end:
            return await async_run_blocking(self._read_chunk, size)
        if self._failure:
            raise CorruptEntry(self._failure)
        if size < 0:
            return await async_run_blocking(self._read_rest)
        return b""

    async def _read_pending(self, size: int) -> Buffer:
        pending = self._pending
        start = self._offset
        if 0 <= size < len(pending) - start:
            self._offset = start + size
            data = pending[start : start + size]
            self._hasher.update(data)
            return data
        self._pending, self._offset = b"", 0
        rest = pending[start:] if start else pending
        if size < 0:
            # Read the pending bytes again with the rest, into one buffer: concatenating a large body
            # to them cost a second allocation and copy of the whole value (10x a plain read at 1 MiB).
            self._position -= len(rest)
            return await async_run_blocking(self._read_rest)
        self._hasher.update(rest)
        return rest

    def _read_chunk(self, size: int) -> bytes:
        """Up to ``size`` (> 0) bytes from the file, hashed; the body checked if they end it."""
        fd = self._fd
        if fd < 0:  # closed, or failed
            if self._failure:
                raise CorruptEntry(self._failure)
            return b""
        position = self._position
        end = self._end
        data = os.pread(fd, size if size < end - position else end - position, position)
        if not data:
            raise self._fail(fd, f"record file ended {end - position} bytes before its body")
        position += len(data)
        self._position = position
        self._hasher.update(data)
        if position == end and self._hasher.intdigest() != self._expected:
            raise self._fail(fd, "body checksum mismatch")
        return data

    def _read_rest(self) -> bytes:
        """All the rest of the body from the file, hashed and checked."""
        fd = self._fd
        position, end = self._position, self._end
        if fd < 0 or position >= end:
            return b""
        parts = []
        while position < end:
            data = os.pread(fd, end - position, position)
            if not data:
                raise self._fail(fd, f"record file ended {end - position} bytes before its body")
            position += len(data)
            parts.append(data)
        self._position = position
        rest = b"".join(parts)
        self._hasher.update(rest)
        if self._hasher.intdigest() != self._expected:
            raise self._fail(fd, "body checksum mismatch")
        return rest

    async def aclose(self) -> None:
        """Close the file (a plain ``close`` of a read-only file: it does not block); idempotent."""
        self._pending, self._offset = b"", 0
        self._close()


class _AsyncFileRangeReader(_AsyncOpenRecord):
    """Bytes ``position`` up to ``end`` of a record file opened by the store (part of its body), not verified.

    Read with ``pread``, as the whole-body reader does.  A file that ends
    before ``end`` (truncated in place under the store) raises
    :class:`daramjwee.CorruptEntry`, removes the entry, and every later read
    raises it again.  The file is closed when the reader is closed or
    garbage-collected.
    """

    __slots__ = ("_end", "_position")
    read_ahead = False  # a local file the open just checked

    def __init__(self, directory: FileDirectory, key: str, fd: int, path: str, position: int, end: int) -> None:
        super().__init__(directory, key, fd, path)
        self._position = position
        self._end = end

    @property
    def remaining(self) -> int:
        """The bytes of the range not read yet."""
        return self._end - self._position

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes of the range (all the rest when negative); ``b""`` at its end."""
        if self._failure:
            raise CorruptEntry(self._failure)
        if not size or self._position >= self._end or self._fd < 0:
            return b""
        return await async_run_blocking(self._read, size)

    def _read(self, size: int) -> bytes:
        fd, position, end = self._fd, self._position, self._end
        if fd < 0:  # closed meanwhile
            return b""
        wanted = end - position if size < 0 or size > end - position else size
        parts = []
        while wanted:
            data = os.pread(fd, wanted, position)
            if not data:
                raise self._fail(fd, f"record file ended {end - position} bytes before the end of the range read")
            position += len(data)
            wanted -= len(data)
            parts.append(data)
            if size >= 0:
                break
        self._position = position
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        self._close()


class _AsyncFileSink:
    """A pending write of one entry: buffered up to ``chunk_size`` bytes, then a locked temp file.

    The temp file is created on the first spill (so small values cost one
    write at commit).  The body is hashed as it is written (on the thread
    that writes it).  ``commit`` writes the header, with the body checksum,
    syncs if the store says so, and renames the file onto the entry's name;
    ``abort`` removes it.
    Both are terminal and idempotent; a failed commit removes the temp file,
    leaves the sink aborted and re-raises.  Blocking steps hold the sink's
    lock, so an abort never races a write still running on a worker thread.
    """

    __slots__ = (
        "_buffer",
        "_chunk_size",
        "_directory",
        "_encoded_metadata",
        "_hasher",
        "_key",
        "_length",
        "_lock",
        "_metadata",
        "_path",
        "_spilled",
        "_state",
        "_stored_key",
        "_temp",
    )

    def __init__(self, directory: FileDirectory, key: str, metadata: Metadata, chunk_size: int) -> None:
        self._temp: TempFile | None = None
        self._spilled = False
        self._directory = directory
        self._key = key
        self._stored_key, self._path = directory.locate(key)
        self._metadata = metadata
        self._encoded_metadata = encode_metadata(metadata)
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._hasher = BodyHasher()
        self._length = 0
        self._state = "open"
        self._lock = threading.Lock()

    @property
    def _record_length(self) -> int:
        return HEADER_SIZE + len(self._stored_key) + len(self._encoded_metadata) + self._length

    async def write(self, data: Buffer, /) -> None:
        """Append ``data``.  Raises ``EntryTooLarge`` (and aborts) once the record outgrows the capacity.

        A write that fails (a full disk that eviction could not relieve, an
        I/O error) aborts the sink and raises: nothing of it is ever published.
        """
        if self._state != "open":
            raise ValueError(f"write to a {self._state} file-store sink")
        self._length += len(data)
        if not self._directory.fits(self._record_length):
            await self.abort()
            raise EntryTooLarge(
                f"value of {self._key!r:.80} exceeds the file store's capacity of {self._directory.capacity} bytes"
            )
        if len(self._buffer) + len(data) < self._chunk_size:
            self._buffer += data
        else:
            self._spilled = True
            try:
                await async_run_blocking(self._spill, data)
            except Exception:
                await self.abort()
                raise

    def _spill(self, data: Buffer) -> None:
        """Write the buffer and ``data`` to the temp file (created, with a placeholder header, on first use)."""
        with self._lock:
            if self._state != "open":  # aborted while this call waited for its thread: create nothing
                return
            temp = self._temp
            if temp is None:
                temp = self._temp = self._directory.create_temp()
                temp.write(bytes(HEADER_SIZE) + self._stored_key + self._encoded_metadata)
            if self._buffer:
                self._hasher.update(self._buffer)
                temp.write(self._buffer)
                self._buffer = bytearray()
            self._hasher.update(data)
            temp.write(data)

    async def commit(self) -> None:
        """Publish the entry atomically, replacing any previous one.  Terminal, idempotent."""
        if self._state == "committed":
            return
        if self._state != "open":
            raise ValueError(f"commit of an {self._state} file-store sink")
        self._state = "committed"
        try:
            await async_run_blocking(self._publish)
        except Exception:
            self._state = "aborted"
            raise

    def _publish(self) -> None:
        """Complete the temp file (all of it, for a value that never spilled) and hand it to the directory."""
        with self._lock:
            temp, self._temp = self._temp, None
            buffer, self._buffer = self._buffer, bytearray()
            self._hasher.update(buffer)
            body_checksum = self._hasher.intdigest()
            head = encode_header(self._stored_key, self._encoded_metadata, self._length, body_checksum)
            head += self._stored_key + self._encoded_metadata
            spilled = temp is not None
            if temp is None:
                temp = self._directory.create_temp()
                buffer[:0] = head
            try:
                temp.write(buffer)
                if spilled:  # the file starts with a placeholder header
                    temp.write_at(head[:HEADER_SIZE], 0)
            except BaseException:
                temp.discard()
                raise
            known = KnownHead(self._path, head, self._metadata, self._length, body_checksum)
            self._directory.publish(temp, self._key, known)

    async def abort(self) -> None:
        """Discard the pending entry; the previous value stays.  Terminal, idempotent."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._buffer = bytearray()
        if self._spilled:  # a spill may still be running on its thread: wait for it (the lock), then discard
            await async_run_blocking(self._discard)

    def _discard(self) -> None:
        with self._lock:
            if self._temp is not None:
                temp, self._temp = self._temp, None
                temp.discard()

    def __del__(self) -> None:
        if self._temp is not None:
            self._temp.discard()


def _close_head(opened: tuple[int, object]) -> None:
    """Close the file of a record head opened for a caller that was cancelled meanwhile."""
    os.close(opened[0])


def _close_opened(opened: tuple[bytes | OpenRecord, Metadata]) -> None:
    """Close the file of an entry opened for a caller that was cancelled meanwhile."""
    body = opened[0]
    if not isinstance(body, bytes):
        os.close(body.fd)
