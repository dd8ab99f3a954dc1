"""The blocking side of the file store: a store directory's index, its records and temp files.

Shared by ``FileStore`` and ``AsyncFileStore``: everything here is a plain,
thread-safe call; the stores hand each blocking step to ``run_blocking``.

Layout of a store directory ``root``::

    root/ab/cd/abcd…   one record per entry (:mod:`daramjwee._record`), named by the SHA-256 of the key
    root/tmp/*.tmp     records being written; each is flock()ed by its writer while it is open

What the directory tolerates (each is healed, never raised to a reader as anything but a miss):

* anything but a regular file under an entry's name (a symlink, FIFO, socket, device or directory):
  records are opened with ``O_NOFOLLOW | O_NONBLOCK``, so a link is never followed and a FIFO never
  blocks; such a thing is an invalid record, removed (a directory with all it holds);
* the store directory, its temp directory or a fan-out directory removed while running: made again
  (and the retried step done once more); when the store directory itself went, the index forgets
  what it counted, and an entry whose file vanished is forgotten when it is found missing;
* a directory it cannot write (read-only, or another user's) or files it cannot read: opening
  serves what it can read and logs a warning for what it could not sweep or remove;
* a full disk (``ENOSPC``): a write, rename or temp-file creation evicts entries in the policy's
  order (at least the bytes it needs) and is retried once.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Callable
from typing import NamedTuple, NoReturn, TypeAlias

from ._errors import NotFound
from ._index import Indexed, SizedIndex
from ._metadata import Metadata
from ._record import (
    HEADER_SIZE,
    CorruptRecord,
    Header,
    body_digest,
    decode_key,
    decode_metadata,
    encode_key,
    entry_name,
    is_entry_name,
    parse_header,
    verify_head,
)
from .policy import Policy

__all__ = [
    "OPEN_RECORD",
    "FileDirectory",
    "KnownHead",
    "OpenRecord",
    "TempFile",
    "fanout_directories",
    "file_identity",
    "is_fanout",
    "read_record_head",
    "remove_if_same",
    "remove_path",
    "scan_directory",
    "stat_identity",
]

_logger = logging.getLogger("daramjwee")

Buffer: TypeAlias = bytes | bytearray | memoryview

TEMP_DIRECTORY = "tmp"
TEMP_SUFFIX = ".tmp"
_SCAN_READ = 4096  # bytes read from each record when the index is rebuilt: the header, key and metadata
_KNOWN_HEADS = 4096  # checked record heads memoized per store, so hits skip parsing
_HEX = frozenset("0123456789abcdef")
OPEN_RECORD = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
"""How records and temp files are opened for reading: never through a symlink, never blocking on a FIFO.

``O_NONBLOCK`` has no effect on the regular files accepted (Linux and the BSDs ignore it there); should a
read of one still fail with ``EAGAIN``, the flag is cleared and the read made again.  A file handed to a
streaming reader has it cleared first (one ``fcntl``, only for bodies past the first read)."""


class OpenRecord(NamedTuple):
    """A record whose body did not fit in the first read: the open file, owned by whoever receives it.

    ``pending`` is the part of the body already read (not yet verified); the
    rest lies in the file from ``position`` up to ``end`` (the end of the
    record and the file).  ``body_checksum`` is what the body must hash to
    (:func:`daramjwee._record.body_digest`); ``path`` is the record's name,
    for :meth:`FileDirectory.discard_invalid` if it does not.
    """

    fd: int
    pending: bytes
    position: int
    end: int
    body_checksum: int
    path: str


class TempFile:
    """A record being written: an open, ``flock``-ed file in the store's temp directory.

    The lock tells a store opening the directory, perhaps in another
    process, that the writer is alive: only unlocked temp files are swept.
    The file descriptor is closed (releasing the lock) by :meth:`discard`
    or, after the rename, by the directory's ``publish``.

    A write that fails with ``ENOSPC`` (disk full) asks ``make_room`` to
    evict at least the bytes it still has to write, and is retried once.
    """

    __slots__ = ("_make_room", "fd", "path")

    def __init__(self, fd: int, path: str, make_room: Callable[[int], bool]) -> None:
        self.fd = fd
        self.path = path
        self._make_room = make_room

    def write(self, data: Buffer) -> None:
        """Append all of ``data``."""
        self._write_all(data, None)

    def write_at(self, data: bytes, offset: int) -> None:
        """Overwrite ``data`` at ``offset``."""
        self._write_all(data, offset)

    def _write_all(self, data: Buffer, offset: int | None) -> None:
        """Write all of ``data`` (at ``offset``, or appended); on a full disk, make room once and go on."""
        view = memoryview(data)
        room_made = False
        while view:
            try:
                written = os.write(self.fd, view) if offset is None else os.pwrite(self.fd, view, offset)
            except OSError as error:
                if error.errno != errno.ENOSPC or room_made or not self._make_room(len(view)):
                    raise
                room_made = True
                continue
            view = view[written:]
            if offset is not None:
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

    def is_named(self) -> bool:
        """Whether the file's name still leads to it (it was not removed, nor its directory)."""
        try:
            return stat_identity(os.lstat(self.path)) == stat_identity(os.fstat(self.fd))
        except FileNotFoundError:
            return False


class KnownHead:
    """A record head (header, key and metadata bytes) already checked, with what it says."""

    __slots__ = ("body_checksum", "body_length", "head", "metadata", "path", "record_length")

    def __init__(self, path: str, head: bytes, metadata: Metadata, body_length: int, body_checksum: int) -> None:
        self.path = path
        self.head = head
        self.metadata = metadata
        self.body_length = body_length
        self.body_checksum = body_checksum
        self.record_length = len(head) + body_length


class FileDirectory(Indexed):
    """The files of one store and its index: plain blocking calls, thread-safe.

    The index maps each key this store knows to the size of its file, in the
    same order as the eviction policy.  ``self._lock`` guards the index and is
    held across the rename, unlink or evictions that change it together with
    the disk, so in one process the index always matches the files; never
    around reads or writes of file contents.

    Opening never raises for what is in the directory: invalid records and
    temp files of dead writers are removed, and what cannot be read or removed
    (permissions, a read-only filesystem) is skipped with a warning.  Only a
    store directory that does not exist and cannot be created raises.
    """

    def __init__(self, root: str, capacity: int | None, policy: Policy, *, fsync: bool) -> None:
        self.root = os.path.abspath(root)
        self._index = SizedIndex(capacity, policy)
        self._fsync = fsync
        self._temp_root = os.path.join(self.root, TEMP_DIRECTORY)
        self._lock = threading.Lock()
        self._known_dirs: set[str] = set()
        self._heads: dict[str, KnownHead] = {}
        try:
            os.makedirs(self._temp_root, exist_ok=True)
        except OSError as error:
            if not os.path.isdir(self.root):
                raise
            _logger.warning(
                "file store %s has no temp directory and cannot make one (%s): it can be read, not written to",
                self.root,
                error,
                extra={"path": self._temp_root},
            )
        self._root_identity = stat_identity(os.stat(self.root))
        self._sweep_temp_files()
        self._rebuild_index()

    # -- opening ----------------------------------------------------------------------

    def _sweep_temp_files(self) -> None:
        """Remove the temp files no live writer holds (their writers died); best-effort."""
        for entry in scan_directory(self._temp_root):
            if entry.name.endswith(TEMP_SUFFIX):
                _remove_if_unlocked(entry.path)

    def _rebuild_index(self) -> None:
        """Index every valid record on disk, oldest first, then evict down to the capacity."""
        found: list[tuple[int, str, int]] = []
        for prefix, directory in fanout_directories(self.root):
            self._known_dirs.add(directory)
            for entry in scan_directory(directory):
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

    # -- reading ----------------------------------------------------------------------

    def locate(self, key: str) -> tuple[bytes, str]:
        """The stored form of ``key`` and the path of its record."""
        stored = encode_key(key)
        return stored, f"{self.root}/{entry_name(stored)}"

    def open(self, key: str, first_read: int, whole_read: int = 0) -> tuple[bytes | OpenRecord, Metadata]:
        """Open ``key``'s record: its body, and its metadata.

        Reads up to ``first_read`` bytes at once; of a record it has seen to
        be longer, only the head, then the whole body in a second read if it
        is at most ``whole_read`` bytes.  When that was the whole record,
        the body is verified against its checksum, the file is already closed
        and the body is returned as bytes; otherwise an :class:`OpenRecord`
        whose file the caller now owns, and whose body the caller verifies as
        it reads it.  Raises :class:`NotFound` for a missing or invalid record
        (removing the latter; anything but a regular file under the entry's
        name is invalid, and so is a body that fails its checksum).  Other
        ``OSError`` (an I/O error, a permission) propagates.
        """
        known = self._heads.get(key)
        whole = None  # the head of a record to read whole: the head, then the body on its own
        if known is None:
            path = self.locate(key)[1]
        else:
            path = known.path
            if known.record_length >= first_read:
                # A body longer than the first read is read on its own: whole, into a buffer of its
                # own (a slice of a larger one would copy it again), or by the reader.
                first_read = len(known.head)
                if known.body_length <= whole_read:
                    whole = known
        fd = self._open_file(key, path)
        try:
            data = self._read_first(key, path, fd, first_read)
            body = None
            checked: KnownHead
            if whole is not None and data == whole.head:
                # One byte more than the body: a read that stops short of it proves the file ends there.
                body = os.read(fd, whole.body_length + 1)
                # A file of another length is invalid (or, if a read stopped early, read on by the reader).
                checked = whole if len(body) == whole.body_length else self._check(key, path, fd, data, first_read)
            # A record whose bytes up to the body equal a head already checked, and whose
            # length is right, needs no parsing: the hot path.  A short read ends the file, so
            # its length is known (only a regular file gives those bytes: a FIFO, a device or a
            # directory gives nothing, an error or other bytes); a longer file's size is asked.
            elif (
                known is None
                or not data.startswith(known.head)
                or not (len(data) == known.record_length < first_read or _is_file_of(fd, known.record_length))
            ):
                checked = self._check(key, path, fd, data, first_read)
            else:
                checked = known
            if body is None:
                body = data[len(checked.head) :]
            remaining = checked.body_length - len(body)
            if remaining:
                fcntl.fcntl(fd, fcntl.F_SETFL, 0)  # clear O_NONBLOCK for the reader's preads
            elif body_digest(body) != checked.body_checksum:
                self._reject(key, path, stat_identity(os.fstat(fd)), "body checksum mismatch")
            self._note(key, checked.record_length, fd, True)
        except BaseException:
            os.close(fd)
            raise
        if remaining:
            record = OpenRecord(
                fd, body, len(checked.head) + len(body), checked.record_length, checked.body_checksum, checked.path
            )
            return record, checked.metadata
        os.close(fd)
        return body, checked.metadata

    def open_head(self, key: str) -> tuple[int, KnownHead]:
        """Open ``key``'s record and check its head, reading no byte of its body: the open file and the head.

        The caller owns the file (``O_NONBLOCK`` cleared, for its ``pread``).
        The body starts at ``len(head.head)``; nothing of it is verified.
        Raises :class:`NotFound` like :meth:`open`.  An access for the policy.
        """
        known = self._heads.get(key)
        path = self.locate(key)[1] if known is None else known.path
        fd = self._open_file(key, path)
        try:
            wanted = HEADER_SIZE if known is None else len(known.head)
            data = self._read_first(key, path, fd, wanted)
            if known is None or data != known.head or not _is_file_of(fd, known.record_length):
                known = self._check(key, path, fd, data, wanted)
            fcntl.fcntl(fd, fcntl.F_SETFL, 0)
            self._note(key, known.record_length, fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd, known

    def stat(self, key: str) -> Metadata:
        """The metadata of ``key``'s record; :class:`NotFound` for a missing or invalid one (removing the latter)."""
        path = self.locate(key)[1]
        fd = self._open_file(key, path)
        try:
            known = self._check(key, path, fd, self._read_first(key, path, fd, _SCAN_READ), _SCAN_READ)
            self._note(key, known.record_length, fd, False)
        finally:
            os.close(fd)
        return known.metadata

    def _open_file(self, key: str, path: str) -> int:
        """Open the record at ``path``; :class:`NotFound` (forgetting ``key``) when there is none.

        Never follows a symlink and never blocks (on a FIFO); what cannot be
        opened because it is not a regular file is removed as invalid.
        """
        try:
            return os.open(path, OPEN_RECORD)
        except FileNotFoundError:
            with self._lock:
                if not os.path.lexists(path):  # not published again meanwhile
                    self._forget_locked(key)
            raise NotFound(key) from None
        except OSError as error:  # ELOOP for a symlink, ENXIO for a socket; or a plain failure
            try:
                status = os.lstat(path)
            except FileNotFoundError:
                raise NotFound(key) from None
            if stat.S_ISREG(status.st_mode):
                raise
            self._reject(key, path, stat_identity(status), f"not a regular file ({error.strerror})")

    def _read_first(self, key: str, path: str, fd: int, size: int) -> bytes:
        """The first ``size`` bytes (or fewer) of the file open as ``fd``; :class:`NotFound` if it is no regular file.

        A directory fails the read with ``EISDIR``, a FIFO a writer holds open
        with ``EAGAIN``: each is removed as an invalid record.
        """
        try:
            return os.read(fd, size)
        except OSError as error:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                self._reject(key, path, stat_identity(status), f"not a regular file ({error.strerror})")
            if not isinstance(error, BlockingIOError):
                raise
        fcntl.fcntl(fd, fcntl.F_SETFL, 0)  # a system that honours O_NONBLOCK on regular files
        return os.read(fd, size)

    def _check(self, key: str, path: str, fd: int, data: bytes, requested: int) -> KnownHead:
        """Check the record of ``key`` open as ``fd``, of which ``data`` are the first bytes (``requested`` were asked).

        Reads the rest of the head if ``data`` is short of it.  Raises
        :class:`NotFound` after removing an invalid record; ``fd`` stays open.
        """
        status = os.fstat(fd)
        try:
            if not stat.S_ISREG(status.st_mode):
                raise CorruptRecord("not a regular file")
            header, head = _complete_head(fd, data, requested, status.st_size)
            stored, metadata = verify_head(header, head)
            if stored != encode_key(key):
                raise CorruptRecord("the record holds another key")
            known = KnownHead(
                path, head[: header.head_length], decode_metadata(metadata), header.body_length, header.body_checksum
            )
        except CorruptRecord as error:
            self._reject(key, path, stat_identity(status), str(error))
        self._remember(key, known)
        return known

    def _reject(self, key: str, path: str, identity: tuple[int, int], reason: str) -> NoReturn:
        """Remove the invalid record ``identity`` at ``path`` and forget ``key``, then raise :class:`NotFound`."""
        self.discard_invalid(key, path, identity, reason)
        raise NotFound(key) from None

    def discard_invalid(self, key: str, path: str, identity: tuple[int, int], reason: str) -> None:
        """Remove the invalid record of ``key``, the file ``identity`` (device, inode), if ``path`` still names it.

        Readers call it when a body fails its checksum or ends early (``identity``
        from :func:`file_identity` of their file).
        A newer record published meanwhile is left alone.  Forgets ``key``
        unless the path names another file.  Best-effort: a record that cannot
        be removed (read-only directory) is logged and left.
        """
        failure: OSError | None = None
        with self._lock:
            try:
                same = remove_if_same(path, identity)
            except OSError as error:
                same, failure = True, error
            if same:
                self._forget_locked(key)
        extra = {"key": key, "path": path}
        if failure is not None:
            _logger.warning("invalid file-store record (%s) could not be removed: %s", reason, failure, extra=extra)
        elif same:
            _logger.warning("removed an invalid file-store record: %s", reason, extra=extra)

    def _remember(self, key: str, known: KnownHead) -> None:
        """Memoize the checked head of ``key`` (a bounded memo: cleared when full)."""
        heads = self._heads
        if len(heads) >= _KNOWN_HEADS:
            heads.clear()
        heads[key] = known

    # -- writing ----------------------------------------------------------------------

    def create_temp(self) -> TempFile:
        """A new, locked temp file.

        A store opening the directory meanwhile may sweep a temp file between
        its creation and its lock; such a file is detected (its name no longer
        leads to it) and replaced by a new one.  A temp directory removed from
        under the store is made again, and a full disk makes room; each is
        retried once.
        """
        retried: set[int] = set()
        while True:
            path = os.path.join(self._temp_root, secrets.token_hex(12) + TEMP_SUFFIX)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except OSError as error:
                if not self._recover(error, retried):
                    raise
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return TempFile(fd, path, self.make_room)
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def publish(self, temp: TempFile, key: str, known: KnownHead) -> None:
        """Rename the complete record ``temp`` of ``key``, whose head is ``known``, onto its name, and index it.

        Consumes ``temp``: it is closed, and removed if anything fails.  A
        missing directory is made again, something that is not a regular file
        in the way (a directory) is removed, and a full disk makes room; each is
        retried once.  A failed ``fsync`` is never retried (the kernel may have
        dropped the pages it could not write): it makes room if the disk is
        full, and raises.
        """
        path = known.path
        directory = os.path.dirname(path)
        retried: set[int] = set()
        try:
            if self._fsync:
                try:
                    os.fsync(temp.fd)
                except OSError as error:
                    if error.errno == errno.ENOSPC:
                        self.make_room(known.record_length)
                    raise
            while True:
                try:
                    self._make_directory(directory)
                    with self._lock:
                        os.replace(temp.path, path)
                        self._add_locked(key, known.record_length)
                        self._remember(key, known)
                        self._evict_locked()
                    break
                except OSError as error:
                    self._known_dirs.discard(directory)  # in case it was removed from under the store
                    if not self._recover(error, retried, temp, path):
                        raise
        except BaseException:
            temp.discard()
            raise
        temp.close()
        if self._fsync:
            _fsync_directory(directory)

    def _recover(self, error: OSError, retried: set[int], temp: TempFile | None = None, path: str = "") -> bool:
        """Whether a write step that failed with ``error`` may be retried, after repairing what it can.

        ``ENOENT``: a directory of the store was removed; they are made again
        (and the index forgets what it counted if the store directory itself
        went), but a rename is retried only if ``temp`` is still there.
        ``EISDIR``/``ENOTEMPTY``/``EEXIST`` on a rename: something that is not a
        file is in the way at ``path``; it is removed.  ``ENOSPC``: entries are
        evicted.  Each errno is retried once (``retried`` holds those done).
        """
        code = error.errno
        if code in retried or code not in _RECOVERABLE or (temp is None and code not in _RECOVERABLE_CREATE):
            return False
        retried.add(code)
        if code == errno.ENOSPC:
            return self.make_room(0)
        if code == errno.ENOENT:
            self._restore_directories()
            return temp is None or temp.is_named()
        try:  # a rename onto a directory (or another non-file) at the entry's name
            status = os.lstat(path)
            if stat.S_ISREG(status.st_mode):
                return False
            remove_if_same(path, stat_identity(status))
        except OSError:
            return False
        _logger.warning("removed a non-file in the way of a new file-store record", extra={"path": path})
        return True

    def _restore_directories(self) -> None:
        """Make the store directory and its temp directory again after they were removed from under the store.

        If the store directory is gone (or another one took its place), so is
        every file the index counted: the index is emptied.
        """
        with self._lock:
            try:
                same_root = stat_identity(os.stat(self.root)) == self._root_identity
            except FileNotFoundError:
                same_root = False
            if not same_root:
                for key in list(self._index.sizes):
                    self._forget_locked(key)
                self._heads.clear()
            self._known_dirs.clear()
            os.makedirs(self._temp_root, exist_ok=True)
            self._root_identity = stat_identity(os.stat(self.root))
        if not same_root:
            _logger.warning("file store directory %s vanished: made it again, empty", self.root)

    def make_room(self, needed: int) -> bool:
        """Evict entries in the policy's order, at least one and at least ``needed`` bytes: the disk is full.

        Returns whether anything was evicted.  Space held by a file a reader
        still has open is freed only when the reader closes it.
        """
        freed = evicted = 0
        with self._lock:
            while self._index.sizes and (not evicted or freed < needed):
                freed += self._evict_one_locked()
                evicted += 1
        if evicted:
            _logger.info(
                "disk full under file store %s: evicted %d entries (%d bytes) to make room", self.root, evicted, freed
            )
        return bool(evicted)

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
        """Remove ``key``'s record, if any (whatever is under its name), and forget it."""
        _stored, path = self.locate(key)
        with self._lock:
            remove_path(path)
            self._forget_locked(key)

    def clear(self) -> None:
        """Remove every record in the directory (whoever wrote it) and forget what the index counted.

        First each indexed key is removed as by :meth:`delete` (the lock held
        per key, not across the whole clear), then the fan-out directories
        are listed and every entry-named file left in them is removed: those
        other stores wrote, and those published meanwhile.  A key of this
        store's index whose file went in that second pass is forgotten.
        Temp files (writers at work) and the directories stay; readers keep
        the files they opened.  Raises the first ``OSError`` of a removal
        after trying every file.
        """
        with self._lock:
            keys = list(self._index.sizes)
        failure: OSError | None = None
        for key in keys:
            try:
                self.delete(key)
            except OSError as error:
                failure = failure or error
        removed: set[str] = set()
        for prefix, directory in fanout_directories(self.root):
            for entry in scan_directory(directory):
                if is_entry_name(f"{prefix}/{entry.name}"):
                    try:
                        remove_path(entry.path)
                    except OSError as error:
                        failure = failure or error
                    else:
                        removed.add(entry.path)
        with self._lock:
            self._heads.clear()
            if removed:
                for key in list(self._index.sizes):
                    path = self.locate(key)[1]
                    if path in removed and not os.path.lexists(path):
                        self._forget_locked(key)
        if failure is not None:
            raise failure

    # -- the index --------------------------------------------------------------------

    def _note(self, key: str, size: int, fd: int, accessed: bool) -> None:
        """Record that ``key``'s file, open as ``fd``, has ``size`` bytes (and was read, if ``accessed``).

        A file that lost its name since it was opened (deleted, evicted or
        replaced meanwhile) is not indexed: the index holds published files only.
        """
        # acquire/release, not ``with``: on the path of every hit, where ``with`` costs twice as much.
        lock = self._lock
        index = self._index
        lock.acquire()
        try:
            if index.sizes.get(key) == size:
                if accessed:
                    index.policy.access(key)
            elif os.fstat(fd).st_nlink:
                self._add_locked(key, size)
                self._evict_locked()
        finally:
            lock.release()

    def _add_locked(self, key: str, size: int) -> None:
        """Index ``key`` with a file of ``size`` bytes, replacing what was indexed (its memoized head stays)."""
        self._index.add(key, size)

    def _forget_locked(self, key: str) -> None:
        """Drop ``key`` from the index and the memo of heads, if it is there."""
        self._heads.pop(key, None)
        self._index.forget(key)

    def _evict_locked(self) -> None:
        """Remove the policy's victims (their files too) until the capacity holds."""
        while self._index.over_capacity():
            self._evict_one_locked()

    def _evict_one_locked(self) -> int:
        """Remove the policy's next victim and its file (best-effort: a failure is logged); its size."""
        victim, size = self._index.evict()
        self._heads.pop(victim, None)
        if size is None:  # the policy named a key it was not given
            raise KeyError(victim)
        path = self.locate(victim)[1]
        try:
            remove_path(path)
        except OSError as error:
            _logger.warning("could not remove an evicted file-store record: %s", error, extra={"path": path})
        return size


_RECOVERABLE = frozenset({errno.ENOENT, errno.ENOSPC, errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST})
_RECOVERABLE_CREATE = frozenset({errno.ENOENT, errno.ENOSPC})


# -- file helpers -------------------------------------------------------------------------


def stat_identity(status: os.stat_result) -> tuple[int, int]:
    """What tells one file from another: ``(device, inode)``."""
    return status.st_dev, status.st_ino


def _is_file_of(fd: int, size: int) -> bool:
    """Whether ``fd`` is a regular file of ``size`` bytes."""
    status = os.fstat(fd)
    return status.st_size == size and stat.S_ISREG(status.st_mode)


def file_identity(fd: int) -> tuple[int, int]:
    """``(device, inode)`` of the file open as ``fd``."""
    return stat_identity(os.fstat(fd))


def _complete_head(fd: int, data: bytes, requested: int, size: int) -> tuple[Header, bytes]:
    """Parse the head of the record open as ``fd`` (``size`` bytes), of which ``data`` are the first bytes.

    ``requested`` bytes were asked for ``data``.  Returns the header and
    ``data`` extended to the whole head if it was short of it.  Raises
    :class:`CorruptRecord` if the header is invalid or the file is not exactly
    as long as the record says.
    """
    header = parse_header(data)
    if len(data) < header.head_length and len(data) == requested:
        data += _read_exactly(fd, header.head_length - len(data))
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

    ``None`` if the file vanished or cannot be read (logged), or after
    removing it (best-effort) if it is invalid: not a regular file, or not a
    valid record of its name.
    """
    try:
        fd = os.open(path, OPEN_RECORD)
    except FileNotFoundError:
        return None
    except OSError as error:
        try:
            status = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISREG(status.st_mode):
            _logger.warning("skipped a file-store record it cannot open: %s", error, extra={"path": path})
        else:
            _discard_invalid(path, stat_identity(status), f"not a regular file ({error.strerror})")
        return None
    try:
        status = os.fstat(fd)
        try:
            key, header, _metadata = read_record_head(fd, status, name)
        except CorruptRecord as error:
            _discard_invalid(path, stat_identity(status), str(error))
            return None
        return status.st_mtime_ns, key, header.record_length
    except OSError as error:
        _logger.warning("skipped a file-store record it cannot read: %s", error, extra={"path": path})
        return None
    finally:
        os.close(fd)


def read_record_head(fd: int, status: os.stat_result, name: str) -> tuple[str, Header, Metadata]:
    """Check the head of the record open as ``fd`` (at offset 0; ``status`` is its ``fstat``), found as ``name``.

    ``name`` is the record's path relative to the store directory.  Returns
    the key, the header and the metadata; reads no byte of the body.  Raises
    :class:`CorruptRecord` if the file is not a regular file, not exactly as
    long as its header says, its head is invalid, or it is stored under
    another key's name.  ``OSError`` of a read propagates.
    """
    if not stat.S_ISREG(status.st_mode):
        raise CorruptRecord("not a regular file")
    header, head = _complete_head(fd, os.read(fd, _SCAN_READ), _SCAN_READ, status.st_size)
    stored, metadata = verify_head(header, head)
    decoded = decode_metadata(metadata)
    if entry_name(stored) != name:
        raise CorruptRecord("the record is stored under another key's name")
    return decode_key(stored), header, decoded


def _discard_invalid(path: str, identity: tuple[int, int], reason: str) -> None:
    """Remove the invalid record ``identity`` at ``path`` if it is still there; best-effort, logged."""
    try:
        remove_if_same(path, identity)
    except OSError as error:
        _logger.warning("invalid file-store record (%s) could not be removed: %s", reason, error, extra={"path": path})
    else:
        _logger.warning("removed an invalid file-store record: %s", reason, extra={"path": path})


def scan_directory(path: str) -> list[os.DirEntry[str]]:
    """The entries of the directory ``path``; none (logged unless it is missing) if it cannot be listed."""
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
    except OSError as error:
        _logger.warning("skipped a file-store directory it cannot list: %s", error, extra={"path": path})
        return []


def fanout_directories(root: str) -> list[tuple[str, str]]:
    """``(relative name, path)`` of each ``ab/cd`` directory of the store directory ``root`` (those it can list)."""
    return [
        (f"{first.name}/{second.name}", second.path)
        for first in scan_directory(root)
        if is_fanout(first)
        for second in scan_directory(first.path)
        if is_fanout(second)
    ]


def is_fanout(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a fan-out directory (two lowercase hex digits)."""
    return len(entry.name) == 2 and set(entry.name) <= _HEX and entry.is_dir(follow_symlinks=False)


def _remove_if_unlocked(path: str) -> None:
    """Remove the temp file at ``path`` unless its writer (in any process) still holds its lock; best-effort."""
    try:
        fd = os.open(path, OPEN_RECORD)
    except FileNotFoundError:
        return
    except OSError as error:
        _logger.warning("could not check a stale file-store temp file: %s", error, extra={"path": path})
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        remove_if_same(path, stat_identity(os.fstat(fd)))
    except OSError as error:
        _logger.warning("could not remove a stale file-store temp file %s: %s", path, error, extra={"path": path})
    finally:
        os.close(fd)


def remove_if_same(path: str, identity: tuple[int, int]) -> bool:
    """Remove what ``path`` names if it is the file ``identity`` (a directory with all it holds).

    Returns False if ``path`` names another (newer) file, which is left alone;
    True if it named that file (now removed) or nothing.  ``OSError`` if the
    removal failed (a read-only directory, say).
    """
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return True
    if stat_identity(status) != identity:
        return False
    if stat.S_ISDIR(status.st_mode):
        shutil.rmtree(path)
    else:
        _unlink_quietly(path)
    return True


def remove_path(path: str) -> None:
    """Remove the file at ``path`` if there is one; a directory in its place is removed with all it holds."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except (IsADirectoryError, PermissionError):
        if not os.path.isdir(path) or os.path.islink(path):
            raise
        shutil.rmtree(path)


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
