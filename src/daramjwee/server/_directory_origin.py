"""The local-directory origin of ``daramjwee serve``: :class:`DirectoryOrigin` and its file body."""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from .. import AsyncFetcher, CacheableNotFound, ConfigError, FetchResult, Metadata, NotModified
from ._origin_common import (
    CHUNK_SIZE,
    OriginBody,
    guess_type,
    http_date,
    revalidation_basis,
    safe_segments,
    split_path,
)
from ._origin_types import OriginError

__all__ = ["DirectoryOrigin"]

_T = TypeVar("_T")


class DirectoryOrigin:
    """Regular files under a local directory.

    A path maps to the file at the same relative path under the root; it is
    not found (:class:`~daramjwee.CacheableNotFound`) when the file is missing,
    is a directory (or anything but a regular file), when the path ends with
    ``/`` or has an empty, ``.`` or ``..`` segment, or when it resolves,
    symbolic links included, to a place outside the root.  Links that stay
    inside the root are followed.  A file the server may not read is an
    :class:`OriginError` with status 403.

    The file is opened in a worker thread and read in 64 KiB chunks, each in a
    worker thread, from the open descriptor: the bytes served are those of the
    file as opened, even if it is renamed or replaced meanwhile.  Its ETag is
    ``"<mtime_ns hex>-<size hex>"`` and its ``content-length`` the size, both
    from ``fstat`` of the open file, so they describe the bytes served; the
    body stops at that size, and a file that shrinks while it is read raises
    :class:`OriginError` rather than ending short.  ``content-type`` is guessed
    from the name (``mimetypes``; ``application/octet-stream`` when unknown,
    and the archive type for a compressed file such as ``x.tar.gz``: no
    ``content-encoding`` is ever set).  Revalidation with an unchanged ETag
    raises :class:`~daramjwee.NotModified`.  A query after ``?`` is ignored.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root).expanduser()
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ConfigError(
                f"origin directory {str(root)!r} does not exist; create it or give an existing directory"
            ) from None
        if not resolved.is_dir():
            raise ConfigError(
                f"origin {str(root)!r} is not a directory; give a directory, or an http(s):// or s3:// URL"
            )
        self._root = str(resolved)
        self._prefix = self._root.rstrip(os.sep) + os.sep

    @property
    def root(self) -> str:
        """The absolute, resolved path of the directory."""
        return self._root

    def describe(self) -> str:
        """``directory <absolute path>``."""
        return f"directory {self._root}"

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher of the file at ``path`` under the root (see the class docstring for the outcomes)."""
        name, _ = split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            segments = safe_segments(name)
            if segments is None:
                raise CacheableNotFound(path)
            opened = await _in_thread(functools.partial(self._open, segments), _close_opened)
            if opened is None:
                raise CacheableNotFound(path)
            fd, status = opened
            try:
                etag = f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
                previous = revalidation_basis(old)
                if previous is not None and previous.etag == etag:
                    raise NotModified(path)
                attrs = {
                    "content-type": guess_type(segments[-1]),
                    "content-length": str(status.st_size),
                    "last-modified": http_date(status.st_mtime),
                }
            except BaseException:
                os.close(fd)
                raise
            return FetchResult(_FileBody(fd, status.st_size, path), Metadata(etag=etag, attrs=attrs))

        return fetch

    def _open(self, segments: list[str]) -> tuple[int, os.stat_result] | None:
        """Open the regular file at ``segments`` under the root (in a worker thread); ``None`` if there is none."""
        real = os.path.realpath(os.path.join(self._root, *segments))
        if not real.startswith(self._prefix):
            return None  # outside the root (through a symbolic link), or the root itself
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        # No following a link swapped in after realpath; no blocking on a FIFO.
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except PermissionError as error:
            raise OriginError(
                f"permission denied reading {real!r}; make it readable by the server's user", 403
            ) from error
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENAMETOOLONG):
                return None
            raise OriginError(f"cannot open {real!r}: {error}") from error
        try:
            status = os.fstat(fd)
        except OSError as error:
            os.close(fd)
            raise OriginError(f"cannot stat {real!r}: {error}") from error
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            return None
        return fd, status

    async def aclose(self) -> None:
        """Nothing to release (open files belong to their bodies); idempotent."""

    def __repr__(self) -> str:
        return f"<DirectoryOrigin {self._root}>"


def _close_opened(opened: tuple[int, os.stat_result] | None) -> None:
    if opened is not None:
        os.close(opened[0])


async def _in_thread(function: Callable[[], _T], cleanup: Callable[[_T], None]) -> _T:
    """``function()`` in a worker thread; if the caller is cancelled meanwhile, ``cleanup`` gets its result."""
    task = asyncio.ensure_future(asyncio.to_thread(function))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def done(finished: asyncio.Future[_T]) -> None:
            if not finished.cancelled() and finished.exception() is None:
                cleanup(finished.result())

        task.add_done_callback(done)
        raise


class _FileBody(OriginBody):
    """The bytes of an open file, ``size`` of them, read in worker threads; owns (and closes) the descriptor.

    Reads use ``pread`` at the body's own offset under a lock that ``aclose``
    also takes, so closing while a read runs in a worker thread (the reader
    was cancelled) waits for that read instead of closing the descriptor
    under it.
    """

    __slots__ = ("_closed", "_fd", "_lock", "_offset", "_path", "_size")

    def __init__(self, fd: int, size: int, path: str) -> None:
        self._fd = fd
        self._size = size
        self._path = path
        self._offset = 0
        self._lock = threading.Lock()
        self._closed = False

    async def _next_chunk(self) -> bytes:
        if self._closed:
            if self._offset >= self._size:
                raise StopAsyncIteration
            raise ValueError("read of a closed file body")
        wanted = min(CHUNK_SIZE, self._size - self._offset)
        if wanted <= 0:
            raise StopAsyncIteration
        chunk = await asyncio.to_thread(self._read, wanted)
        if not chunk:
            raise OriginError(
                f"the file for {self._path!r} shrank while it was read ({self._offset} of {self._size} bytes); "
                "retry the request"
            )
        self._offset += len(chunk)
        return chunk

    def _failed(self, error: Exception) -> NoReturn:
        if isinstance(error, OSError):
            raise OriginError(f"reading the file for {self._path!r} failed: {error}") from error
        raise error

    def _read(self, size: int) -> bytes:
        with self._lock:
            if self._fd < 0:
                raise OSError(errno.EBADF, "the file body was closed")
            return os.pread(self._fd, size, self._offset)

    def _close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                fd, self._fd = self._fd, -1
            finally:
                self._lock.release()
            if fd >= 0:
                os.close(fd)
        else:  # a read is running in a worker thread: close after it, without blocking the event loop
            await asyncio.to_thread(self._close)
