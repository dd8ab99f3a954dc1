"""Adapting a fetcher's body to the reader protocol of the sync flavour: ``open_body``.

Its asyncio twin, ``async_open_body``, is in ``_async_body`` (the generated sync
code imports this one where the async code imports that one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._metadata import FetchBody
from ._sync._readers import BytesReader
from ._sync._store import Buffer, Reader

__all__ = ["BUFFERS", "open_body"]

BUFFERS = (bytes, bytearray, memoryview)
"""The types a body chunk may have, in both flavours."""


def open_body(body: FetchBody) -> Reader:
    """Return a reader over a fetch body; ``TypeError`` names what is wrong with it.

    Accepts bytes-like objects, binary file-like objects with ``read`` and
    iterables of bytes chunks.
    """
    if isinstance(body, bytes):
        return BytesReader(body)
    if isinstance(body, bytearray | memoryview):
        return BytesReader(bytes(body))
    if isinstance(body, str):
        raise TypeError("fetch body is str; encode it to bytes first")
    if callable(getattr(body, "read", None)):
        return _FileReader(body)
    if hasattr(body, "__aiter__"):
        raise TypeError("fetch body is an async iterable; use daramjwee.AsyncCache for async bodies")
    if hasattr(body, "__iter__"):
        return _ChunkReader(iter(body), body)  # type: ignore[arg-type]
    raise TypeError(
        f"fetch body must be bytes, a binary file-like object, or an iterable of bytes; got {type(body).__name__}"
    )


def _check_chunk(chunk: object) -> Buffer:
    if isinstance(chunk, BUFFERS):
        return chunk
    if hasattr(chunk, "__await__"):
        raise TypeError("fetch body read() returned an awaitable; use daramjwee.AsyncCache for async bodies")
    raise TypeError(f"fetch body produced {type(chunk).__name__}; body chunks must be bytes")


def _close_body(body: object) -> None:
    closer = getattr(body, "close", None)
    if callable(closer):
        closer()


class _FileReader:
    """A fetch body with ``read``: ``read()`` for the rest, ``read(n)`` for at most ``n`` bytes."""

    __slots__ = ("_body", "_closed")

    def __init__(self, body: Any) -> None:
        self._body = body
        self._closed = False

    def read(self, size: int = -1, /) -> Buffer:
        # ``read()`` for the rest, never ``read(-1)``: http.client's HTTPResponse.read(-1) ignores
        # Content-Length and waits for the peer to close a keep-alive connection.
        data = self._body.read() if size < 0 else self._body.read(size)
        if data is None:
            raise TypeError("fetch body read() returned None; non-blocking streams are not supported")
        return _check_chunk(data)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close_body(self._body)


class _ChunkReader:
    __slots__ = ("_body", "_chunks", "_closed", "_pending")

    def __init__(self, chunks: Iterator[Any], body: object) -> None:
        self._chunks = chunks
        self._body = body
        self._pending = memoryview(b"")
        self._closed = False

    def _next_chunk(self) -> Buffer:
        """The next non-empty chunk, or ``b""`` at the end."""
        for chunk in self._chunks:
            if _check_chunk(chunk):
                return chunk  # type: ignore[no-any-return]
        return b""

    def read(self, size: int = -1, /) -> Buffer:
        if size < 0:
            parts = [bytes(self._pending)]
            self._pending = memoryview(b"")
            while chunk := self._next_chunk():
                parts.append(bytes(chunk))
            return b"".join(parts)
        if not self._pending:
            chunk = self._next_chunk()
            if len(chunk) <= size:
                return chunk  # the whole chunk (or b"" at the end): no slice, and bytes stay bytes
            self._pending = memoryview(chunk)
        head, self._pending = self._pending[:size], self._pending[size:]
        return head

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close_body(self._chunks)
            if self._chunks is not self._body:
                _close_body(self._body)
