"""A file-store directory seen from outside any store: its records read, checked and removed one at a time.

What ``daramjwee cache`` does to a directory, blocking calls with no state,
safe while stores in other processes use the directory (and what an entry
found says of itself: :class:`Entry`'s pure methods):

* only published records are looked at: the files named like entries in the
  ``ab/cd`` fan-out directories, which a store only ever makes by an atomic
  rename of a complete temp file.  Temp files (``tmp/``, records being
  written) are never opened, so a half-written one is never taken for damage;
* each record is read through one open file, so a record replaced or removed
  meanwhile is read whole as it was (POSIX semantics), and one that vanished
  before it was opened is skipped, not damaged;
* a record found earlier is removed only if its name still leads to the same
  file (:func:`remove_record`): one replaced since is a newer entry and stays.
  A reader that has the removed file open keeps reading it (``unlink``);
* the stores in other processes keep counting a removed entry against their
  capacity until they next open its key and find it missing (as for an entry
  another store removed; see ``FileStore``'s "Sharing").

The record format is :mod:`daramjwee._record`'s, read with the helpers of
:mod:`daramjwee._filedir`; nothing here parses bytes of its own.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import NamedTuple

from ._filedir import (
    OPEN_RECORD,
    TEMP_DIRECTORY,
    fanout_directories,
    is_fanout,
    read_record_head,
    remove_if_same,
    remove_path,
    scan_directory,
    stat_identity,
)
from ._freshness import is_stale, must_revalidate_first
from ._metadata import Metadata
from ._record import BodyHasher, CorruptRecord, Header, encode_key, entry_name, is_entry_name
from ._tags import RESERVED_PREFIX, TAGS_ATTR, decode_tags

__all__ = [
    "Damage",
    "DirectoryError",
    "Entry",
    "check_directory",
    "read_record",
    "record_names",
    "record_path",
    "remove_key",
    "remove_record",
]

_BODY_READ = 1 << 20  # bytes hashed per read when a body is verified


class DirectoryError(Exception):
    """``path`` cannot be inspected as a file-store directory; ``problem`` says why (without the path)."""

    def __init__(self, problem: str, path: str) -> None:
        super().__init__(f"{problem}: {path}")
        self.problem = problem
        self.path = path


class Entry(NamedTuple):
    """A valid record: its key and metadata, and the file that holds it."""

    name: str
    """The record's path relative to the store directory (``ab/cd/`` and 64 hex digits)."""
    path: str
    identity: tuple[int, int]
    """``(device, inode)`` of the file read: what :func:`remove_record` removes."""
    key: str
    metadata: Metadata
    body_length: int
    record_length: int
    """Bytes of the whole file: what a store counts against its capacity."""
    modified: float
    """Epoch seconds the file was last written (published, for a record no one tampered with)."""

    def age(self, now: float) -> float:
        """Seconds at ``now`` since the entry was cached (``cached_at``), or since its file was written if unknown."""
        cached_at = self.metadata.cached_at
        return now - (cached_at if cached_at > 0 else self.modified)

    def freshness(self, fresh_for: float | None, now: float) -> str | None:
        """``"fresh"``, ``"stale"`` or ``"expired"`` at ``now``, by the entry's own freshness or else ``fresh_for``.

        ``"stale"``: past its lifetime but still served (while a background
        refresh runs); ``"expired"``: stale and past its
        ``stale_while_revalidate`` window (or ``must_revalidate``), so the
        next read revalidates it first.  ``None`` when the entry states no
        ``fresh_for`` and no default is given: that depends on the cache.
        """
        metadata = self.metadata
        if metadata.fresh_for is None and fresh_for is None:
            return None
        if not is_stale(metadata, fresh_for, now):
            return "fresh"
        return "expired" if must_revalidate_first(metadata, fresh_for, now) else "stale"

    @property
    def tags(self) -> list[str]:
        """The tags the entry recorded, sorted; none if it recorded none (or garbled ones)."""
        recorded = self.metadata.attrs.get(TAGS_ATTR)
        versions = decode_tags(recorded) if recorded else None
        return sorted(versions or ())

    @property
    def user_attrs(self) -> dict[str, str]:
        """The entry's ``attrs`` but the cache's own (the recorded tag versions)."""
        return {name: value for name, value in self.metadata.attrs.items() if name != TAGS_ATTR}

    @property
    def is_cache_own(self) -> bool:
        """Whether this is one of the cache's own entries (a tag's current version), not a value of the application."""
        return self.key.startswith(RESERVED_PREFIX)


class Damage(NamedTuple):
    """An invalid record (or anything but a regular file under an entry's name), and why."""

    name: str
    path: str
    identity: tuple[int, int]
    key: str | None
    """The key, when the head is valid and only the body is damaged."""
    reason: str


def check_directory(path: str) -> str:
    """The absolute path of the file-store directory ``path``; :class:`DirectoryError` unless it is one.

    A file-store directory holds only ``tmp`` and two-hex-digit fan-out
    directories (names starting with ``.`` are let be), and at least one of
    them: a store makes ``tmp`` when it opens.  An empty directory is not one.
    """
    root = os.path.abspath(path)
    try:
        status = os.stat(root)
    except FileNotFoundError:
        raise DirectoryError("no such directory", path) from None
    except OSError as error:
        raise DirectoryError(f"cannot open the directory ({error.strerror})", path) from None
    if not stat.S_ISDIR(status.st_mode):
        raise DirectoryError("not a directory", path)
    try:
        with os.scandir(root) as listing:
            children = list(listing)
    except OSError as error:
        raise DirectoryError(f"cannot list the directory ({error.strerror})", path) from None
    known = 0
    for child in children:
        if child.name.startswith("."):
            continue
        if not (is_fanout(child) or (child.name == TEMP_DIRECTORY and child.is_dir(follow_symlinks=False))):
            raise DirectoryError(
                "not a daramjwee file-store directory (one holds only tmp/ and two-hex-digit record directories, "
                f"this one holds {child.name!r})",
                path,
            )
        known += 1
    if not known:
        raise DirectoryError("not a daramjwee file-store directory (it has no tmp/ nor record directories)", path)
    return root


def record_names(root: str) -> Iterator[tuple[str, str]]:
    """``(name, path)`` of everything named like a record under ``root``, a fan-out directory at a time.

    Never temp files.  A fan-out directory that cannot be listed is skipped
    with a warning on the ``daramjwee`` logger.
    """
    for prefix, directory in fanout_directories(root):
        for child in scan_directory(directory):
            name = f"{prefix}/{child.name}"
            if is_entry_name(name):
                yield name, child.path


def record_path(root: str, key: str) -> tuple[str, str]:
    """``(name, path)`` of ``key``'s record under ``root``; ``ValueError`` for a key longer than a record holds."""
    name = entry_name(encode_key(key))
    return name, f"{root}/{name}"


def read_record(name: str, path: str, *, verify_body: bool) -> Entry | Damage | None:
    """Read the record ``name`` at ``path``: an :class:`Entry`, a :class:`Damage`, or ``None`` if it is gone.

    Reads the head only, or, with ``verify_body``, the whole body too,
    hashed and checked against the record's body checksum.  Opens no
    symlink and never blocks on a FIFO (anything but a regular file is a
    damage).  Changes nothing.  ``OSError`` other than the file vanishing (a
    permission, an I/O error) propagates.
    """
    try:
        fd = os.open(path, OPEN_RECORD)
    except FileNotFoundError:
        return None
    except OSError as error:  # ELOOP for a symlink, ENXIO for a socket; or a plain failure
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(status.st_mode):
            raise
        return Damage(name, path, stat_identity(status), None, f"not a regular file ({error.strerror})")
    try:
        status = os.fstat(fd)
        try:
            key, header, metadata = read_record_head(fd, status, name)
        except CorruptRecord as error:
            return Damage(name, path, stat_identity(status), None, str(error))
        if verify_body:
            reason = _body_damage(fd, header)
            if reason is not None:
                return Damage(name, path, stat_identity(status), key, reason)
        return Entry(
            name, path, stat_identity(status), key, metadata, header.body_length, header.record_length, status.st_mtime
        )
    finally:
        os.close(fd)


def _body_damage(fd: int, header: Header) -> str | None:
    """Why the body of the record open as ``fd`` (with ``header``) is damaged, or ``None`` if it is sound."""
    hasher = BodyHasher()
    position = header.head_length
    end = header.record_length
    while position < end:
        chunk = os.pread(fd, min(_BODY_READ, end - position), position)
        if not chunk:
            return "record file ends inside its body"
        hasher.update(chunk)
        position += len(chunk)
    if hasher.intdigest() != header.body_checksum:
        return "body checksum mismatch"
    return None


def remove_record(path: str, identity: tuple[int, int]) -> bool:
    """Remove the record file ``identity`` at ``path`` (a directory in its place with all it holds).

    Returns ``False``, removing nothing, if ``path`` now names another file
    (a newer record published since it was read); ``True`` if it removed it
    or the file was already gone.  ``OSError`` if the removal failed.
    """
    return remove_if_same(path, identity)


def remove_key(root: str, key: str) -> bool:
    """Remove whatever is under ``key``'s record name in ``root`` (its newest version); whether there was anything.

    ``ValueError`` for a key longer than a record holds; ``OSError`` if the removal failed.
    """
    path = record_path(root, key)[1]
    if not os.path.lexists(path):
        return False
    remove_path(path)
    return True
