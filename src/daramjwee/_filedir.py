"""The blocking side of the file store: a store directory's index, its records and temp files.

Shared by ``FileStore`` and ``AsyncFileStore``: everything here is a plain,
thread-safe call; the stores hand each blocking step to ``run_blocking``.

Layout of a store directory ``root``::

    root/ab/cd/abcd…   one record per entry (:mod:`daramjwee._record`), named by the SHA-256 of the key
    root/tmp/*.tmp     records being written; each is flock()ed by its writer while it is open
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
from typing import NamedTuple, TypeAlias

from ._errors import NotFound
from ._metadata import Metadata
from ._record import (
    CorruptRecord,
    Header,
    decode_key,
    decode_metadata,
    encode_key,
    entry_name,
    is_entry_name,
    parse_header,
    verify_head,
)
from .policy import Policy

__all__ = ["FileDirectory", "KnownHead", "OpenRecord", "TempFile"]

_logger = logging.getLogger("daramjwee")

Buffer: TypeAlias = bytes | bytearray | memoryview

TEMP_DIRECTORY = "tmp"
TEMP_SUFFIX = ".tmp"
_SCAN_READ = 4096  # bytes read from each record when the index is rebuilt: the header, key and metadata
_KNOWN_HEADS = 4096  # checked record heads memoized per store, so hits skip parsing
_HEX = frozenset("0123456789abcdef")


class OpenRecord(NamedTuple):
    """A record whose body did not fit in the first read: the open file, owned by whoever receives it.

    ``pending`` is the part of the body already read; the rest lies in the
    file from ``position`` up to ``end`` (the end of the record and the file).
    """

    fd: int
    pending: bytes
    position: int
    end: int


class TempFile:
    """A record being written: an open, ``flock``-ed file in the store's temp directory.

    The lock tells a store opening the directory, perhaps in another
    process, that the writer is alive: only unlocked temp files are swept.
    The file descriptor is closed (releasing the lock) by :meth:`discard`
    or, after the rename, by the directory's ``publish``.
    """

    __slots__ = ("fd", "path")

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path

    def write(self, data: Buffer) -> None:
        """Append all of ``data``."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def write_at(self, data: bytes, offset: int) -> None:
        """Overwrite ``data`` at ``offset``."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view = view[written:]
            offset += written

    def close(self) -> None:
        """Close the file (releasing the lock); idempotent."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def discard(self) -> None:
        """Remove the file and close it; idempotent."""
        if self.fd >= 0:
            _unlink_quietly(self.path)
            self.close()


class KnownHead:
    """A record head (header, key and metadata bytes) already checked, with what it says."""

    __slots__ = ("body_length", "head", "metadata", "path", "record_length")

    def __init__(self, path: str, head: bytes, metadata: Metadata, body_length: int) -> None:
        self.path = path
        self.head = head
        self.metadata = metadata
        self.body_length = body_length
        self.record_length = len(head) + body_length


class FileDirectory:
    """The files of one store and its index: plain blocking calls, thread-safe.

    The index maps each key this store knows to the size of its file, in the
    same order as the eviction policy.  ``self._lock`` guards the index and is
    held across the rename, unlink or evictions that change it together with
    the disk, so in one process the index always matches the files; never
    around reads or writes of file contents.
    """

    def __init__(self, root: str, capacity: int | None, policy: Policy, *, fsync: bool) -> None:
        self.root = os.path.abspath(root)
        self.capacity = capacity
        self._policy = policy
        self._fsync = fsync
        self._temp_root = os.path.join(self.root, TEMP_DIRECTORY)
        self._sizes: dict[str, int] = {}
        self._used = 0
        self._lock = threading.Lock()
        self._known_dirs: set[str] = set()
        self._heads: dict[str, KnownHead] = {}
        os.makedirs(self._temp_root, exist_ok=True)
        self._sweep_temp_files()
        self._rebuild_index()

    # -- opening ----------------------------------------------------------------------

    def _sweep_temp_files(self) -> None:
        """Remove the temp files no live writer holds (their writers died)."""
        for entry in os.scandir(self._temp_root):
            if entry.name.endswith(TEMP_SUFFIX):
                _remove_if_unlocked(entry.path)

    def _rebuild_index(self) -> None:
        """Index every valid record on disk, oldest first, then evict down to the capacity."""
        found: list[tuple[int, str, int]] = []
        for prefix, directory in self._fanout_directories():
            self._known_dirs.add(directory)
            for entry in os.scandir(directory):
                name = f"{prefix}/{entry.name}"
                if is_entry_name(name):
                    record = _scan_record(entry.path, name)
                    if record is not None:
                        found.append(record)
        found.sort()
        with self._lock:
            for _mtime, key, size in found:
                self._add_locked(key, size)
            self._evict_locked()

    def _fanout_directories(self) -> list[tuple[str, str]]:
        """``(relative name, path)`` of each ``ab/cd`` directory of the store."""
        return [
            (f"{first.name}/{second.name}", second.path)
            for first in os.scandir(self.root)
            if _is_fanout(first)
            for second in os.scandir(first.path)
            if _is_fanout(second)
        ]

    # -- reading ----------------------------------------------------------------------

    def locate(self, key: str) -> tuple[bytes, str]:
        """The stored form of ``key`` and the path of its record."""
        stored = encode_key(key)
        return stored, f"{self.root}/{entry_name(stored)}"

    def open(self, key: str, first_read: int) -> tuple[bytes | OpenRecord, Metadata]:
        """Open ``key``'s record: its body, and its metadata.

        Reads up to ``first_read`` bytes at once.  When that was the whole
        record, the file is already closed and the body is returned as bytes;
        otherwise an :class:`OpenRecord` whose file the caller now owns.
        Raises :class:`NotFound` for a missing or invalid record (removing the
        latter).
        """
        known = self._heads.get(key)
        path = self.locate(key)[1] if known is None else known.path
        fd = self._open_file(key, path)
        try:
            data = os.read(fd, first_read)
            # A record whose bytes up to the body equal a head already checked, and whose
            # length is right (a short read ends the file), needs no parsing: the hot path.
            if known is None or not (len(data) == known.record_length < first_read and data.startswith(known.head)):
                known = self._check(key, path, fd, data, first_read)
        except BaseException:
            os.close(fd)
            raise
        body = data[len(known.head) :]
        remaining = known.body_length - len(body)
        try:
            self._note(key, known.record_length, fd, True)
        except BaseException:
            os.close(fd)
            raise
        if remaining:
            return OpenRecord(fd, body, len(known.head) + len(body), known.record_length), known.metadata
        os.close(fd)
        return body, known.metadata

    def stat(self, key: str) -> Metadata:
        """The metadata of ``key``'s record; :class:`NotFound` for a missing or invalid one (removing the latter)."""
        path = self.locate(key)[1]
        fd = self._open_file(key, path)
        try:
            known = self._check(key, path, fd, os.read(fd, _SCAN_READ), _SCAN_READ)
            self._note(key, known.record_length, fd, False)
        finally:
            os.close(fd)
        return known.metadata

    def _open_file(self, key: str, path: str) -> int:
        """Open the record at ``path``; :class:`NotFound` (forgetting ``key``) when there is none."""
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            with self._lock:
                if not os.path.lexists(path):  # not published again meanwhile
                    self._forget_locked(key)
            raise NotFound(key) from None

    def _check(self, key: str, path: str, fd: int, data: bytes, requested: int) -> KnownHead:
        """Check the record of ``key`` open as ``fd``, of which ``data`` are the first bytes (``requested`` were asked).

        Reads the rest of the head if ``data`` is short of it.  Raises
        :class:`NotFound` after removing an invalid record; ``fd`` stays open.
        """
        try:
            header, head = _complete_head(fd, data, requested)
            stored, metadata = verify_head(header, head)
            if stored != encode_key(key):
                raise CorruptRecord("the record holds another key")
            known = KnownHead(path, head[: header.head_length], decode_metadata(metadata), header.body_length)
        except CorruptRecord as error:
            with self._lock:
                if _unlink_if_same(path, fd):
                    self._forget_locked(key)
            _logger.warning("removed an invalid file-store record: %s", error, extra={"key": key, "path": path})
            raise NotFound(key) from None
        self._remember(key, known)
        return known

    def _remember(self, key: str, known: KnownHead) -> None:
        """Memoize the checked head of ``key`` (a bounded memo: cleared when full)."""
        heads = self._heads
        if len(heads) >= _KNOWN_HEADS:
            heads.clear()
        heads[key] = known

    # -- writing ----------------------------------------------------------------------

    def fits(self, record_length: int) -> bool:
        """Whether a record of ``record_length`` bytes can ever be stored."""
        return self.capacity is None or record_length <= self.capacity

    def create_temp(self) -> TempFile:
        """A new, locked temp file.

        A store opening the directory meanwhile may sweep a temp file between
        its creation and its lock; such a file is detected (its name no longer
        leads to it) and replaced by a new one.
        """
        while True:
            path = os.path.join(self._temp_root, secrets.token_hex(12) + TEMP_SUFFIX)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return TempFile(fd, path)
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def publish(self, temp: TempFile, key: str, known: KnownHead) -> None:
        """Rename the complete record ``temp`` of ``key``, whose head is ``known``, onto its name, and index it.

        Consumes ``temp``: it is closed, and removed if anything fails.
        """
        path = known.path
        directory = os.path.dirname(path)
        try:
            if self._fsync:
                os.fsync(temp.fd)
            self._make_directory(directory)
            with self._lock:
                os.replace(temp.path, path)
                self._add_locked(key, known.record_length)
                self._remember(key, known)
                self._evict_locked()
        except BaseException:
            self._known_dirs.discard(directory)  # in case it was removed from under the store: made again next time
            temp.discard()
            raise
        temp.close()
        if self._fsync:
            _fsync_directory(directory)

    def _make_directory(self, directory: str) -> None:
        """Create the fan-out directory ``directory`` (and its parent) unless it is known to exist."""
        if directory in self._known_dirs:
            return
        os.makedirs(directory, exist_ok=True)
        if self._fsync:
            _fsync_directory(os.path.dirname(directory))
            _fsync_directory(self.root)
        self._known_dirs.add(directory)

    def delete(self, key: str) -> None:
        """Remove ``key``'s record, if any, and forget it."""
        _stored, path = self.locate(key)
        with self._lock:
            _unlink_quietly(path)
            self._forget_locked(key)

    # -- the index --------------------------------------------------------------------

    def _note(self, key: str, size: int, fd: int, accessed: bool) -> None:
        """Record that ``key``'s file, open as ``fd``, has ``size`` bytes (and was read, if ``accessed``).

        A file that lost its name since it was opened (deleted, evicted or
        replaced meanwhile) is not indexed: the index holds published files only.
        """
        # acquire/release, not ``with``: on the path of every hit, where ``with`` costs twice as much.
        lock = self._lock
        lock.acquire()
        try:
            if self._sizes.get(key) == size:
                if accessed:
                    self._policy.access(key)
            elif os.fstat(fd).st_nlink:
                self._add_locked(key, size)
                self._evict_locked()
        finally:
            lock.release()

    def _add_locked(self, key: str, size: int) -> None:
        """Index ``key`` with a file of ``size`` bytes, replacing what was indexed (its memoized head stays)."""
        old = self._sizes.get(key)
        if old is not None:
            self._used -= old
            self._policy.remove(key)
        self._sizes[key] = size
        self._used += size
        self._policy.insert(key, size)

    def _forget_locked(self, key: str) -> None:
        """Drop ``key`` from the index and the memo of heads, if it is there."""
        self._heads.pop(key, None)
        size = self._sizes.pop(key, None)
        if size is not None:
            self._used -= size
            self._policy.remove(key)

    def _evict_locked(self) -> None:
        """Remove the policy's victims (their files too) until the capacity holds."""
        capacity = self.capacity
        while capacity is not None and self._used > capacity:
            victim = self._policy.evict()
            self._heads.pop(victim, None)
            self._used -= self._sizes.pop(victim)
            _unlink_quietly(self.locate(victim)[1])

    @property
    def used(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, key: object) -> bool:
        return key in self._sizes


# -- file helpers -------------------------------------------------------------------------


def _complete_head(fd: int, data: bytes, requested: int) -> tuple[Header, bytes]:
    """Parse the head of the record open as ``fd``, of which ``data`` are the first bytes (``requested`` were asked).

    Returns the header and ``data`` extended to the whole head if it was
    short of it.  Raises :class:`CorruptRecord` if the header is invalid or
    the file is not exactly as long as the record says (a read shorter than
    asked ends the file; otherwise its size is asked for).
    """
    header = parse_header(data)
    at_end = len(data) < requested
    if len(data) < header.head_length and not at_end:
        data += _read_exactly(fd, header.head_length - len(data))
    size = len(data) if at_end else os.fstat(fd).st_size
    if size != header.record_length:
        raise CorruptRecord(f"record file has {size} bytes, its header says {header.record_length}")
    return header, data


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd``; :class:`CorruptRecord` if the file ends first."""
    parts = []
    while size:
        part = os.read(fd, size)
        if not part:
            raise CorruptRecord("record file ends inside its head")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _scan_record(path: str, name: str) -> tuple[int, str, int] | None:
    """``(mtime, key, size)`` of the valid record at ``path`` (named ``name``).

    ``None`` if the file vanished, or after removing it if it is invalid.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        header, head = _complete_head(fd, os.read(fd, _SCAN_READ), _SCAN_READ)
        stored, metadata = verify_head(header, head)
        decode_metadata(metadata)
        if entry_name(stored) != name:
            raise CorruptRecord("the record is stored under another key's name")
        return os.fstat(fd).st_mtime_ns, decode_key(stored), header.record_length
    except CorruptRecord as error:
        _unlink_if_same(path, fd)
        _logger.warning("removed an invalid file-store record: %s", error, extra={"path": path})
        return None
    finally:
        os.close(fd)


def _is_fanout(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a fan-out directory (two lowercase hex digits)."""
    return len(entry.name) == 2 and set(entry.name) <= _HEX and entry.is_dir(follow_symlinks=False)


def _remove_if_unlocked(path: str) -> None:
    """Remove the temp file at ``path`` unless its writer (in any process) still holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    else:
        _unlink_quietly(path)
    finally:
        os.close(fd)


def _unlink_if_same(path: str, fd: int) -> bool:
    """Remove ``path`` if it still names the file open as ``fd``; False if it names another (newer) file."""
    try:
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            return False
        os.unlink(path)
    except FileNotFoundError:
        pass
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
