"""Adapting a fetcher's body to the reader protocol of the async flavour: ``async_open_body``.

The twin of ``open_body`` in ``_body``, whose body kinds it accepts and adds
async ones to: a ``read`` coroutine and async iterables of bytes chunks.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._async._readers import AsyncBytesReader
from ._async._store import AsyncReader, Buffer
from ._body import BUFFERS
from ._metadata import FetchBody

__all__ = ["async_open_body"]


def async_open_body(body: FetchBody) -> AsyncReader:
    """Return a reader over a fetch body; ``TypeError`` names what is wrong with it.

    Accepts bytes-like objects, objects with ``read`` (plain or coroutine),
    async iterables and iterables of bytes chunks.
    """
    if isinstance(body, bytes):
        return AsyncBytesReader(body)
    if isinstance(body, bytearray | memoryview):
        return AsyncBytesReader(bytes(body))
    if isinstance(body, str):
        raise TypeError("fetch body is str; encode it to bytes first")
    if callable(getattr(body, "read", None)):
        return _AsyncFileReader(body)
    if hasattr(body, "__aiter__"):
        return _AsyncChunkReader(body.__aiter__(), body, is_async=True)
    if hasattr(body, "__iter__"):
        return _AsyncChunkReader(iter(body), body, is_async=False)  # type: ignore[arg-type]
    raise TypeError(
        "fetch body must be bytes, a binary file-like object, or an (async) iterable of bytes; "
        f"got {type(body).__name__}"
    )


def _check_async_chunk(chunk: object) -> Buffer:
    if isinstance(chunk, BUFFERS):
        return chunk
    raise TypeError(f"fetch body produced {type(chunk).__name__}; body chunks must be bytes, bytearray or memoryview")


async def _async_close_body(body: object) -> None:
    closer = getattr(body, "aclose", None) or getattr(body, "close", None)
    if callable(closer):
        result = closer()
        if inspect.isawaitable(result):
            await result


class _AsyncFileReader:
    """A fetch body with ``read``: ``read()`` for the rest, ``read(n)`` for at most ``n`` bytes."""

    __slots__ = ("_body", "_closed")

    def __init__(self, body: Any) -> None:
        self._body = body
        self._closed = False

    async def read(self, size: int = -1, /) -> Buffer:
        # ``read()`` for the rest, never ``read(-1)``: http.client's HTTPResponse.read(-1) ignores
        # Content-Length and waits for the peer to close a keep-alive connection.
        data = self._body.read() if size < 0 else self._body.read(size)
        if inspect.isawaitable(data):
            data = await data
        if data is None:
            raise TypeError("fetch body read() returned None; non-blocking streams are not supported")
        return _check_async_chunk(data)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await _async_close_body(self._body)


class _AsyncChunkReader:
    __slots__ = ("_body", "_chunks", "_closed", "_is_async", "_pending")

    def __init__(self, chunks: AsyncIterator[Any] | Iterator[Any], body: object, *, is_async: bool) -> None:
        self._chunks = chunks
        self._body = body
        self._is_async = is_async
        self._pending = memoryview(b"")
        self._closed = False

    async def _next_chunk(self) -> Buffer:
        """The next non-empty chunk, or ``b""`` at the end."""
        while True:
            try:
                if self._is_async:
                    chunk = await self._chunks.__anext__()  # type: ignore[union-attr]
                else:
                    chunk = next(self._chunks)  # type: ignore[arg-type]
            except (StopIteration, StopAsyncIteration):
                return b""
            if _check_async_chunk(chunk):
                return chunk  # type: ignore[no-any-return]

    async def read(self, size: int = -1, /) -> Buffer:
        if size < 0:
            parts = [bytes(self._pending)]
            self._pending = memoryview(b"")
            while chunk := await self._next_chunk():
                parts.append(bytes(chunk))
            return b"".join(parts)
        if not self._pending:
            chunk = await self._next_chunk()
            if len(chunk) <= size:
                return chunk  # the whole chunk (or b"" at the end): no slice, and bytes stay bytes
            self._pending = memoryview(chunk)
        head, self._pending = self._pending[:size], self._pending[size:]
        return head

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await _async_close_body(self._chunks)
            if self._chunks is not self._body:
                await _async_close_body(self._body)
