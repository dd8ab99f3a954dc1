"""Readers over bytes already in memory."""

from __future__ import annotations

from ._store import AsyncReader, Buffer

__all__ = ["EMPTY_READER", "AsyncBytesReader", "AsyncPrefixedReader"]


class AsyncBytesReader:
    """Zero-copy reader of an immutable ``bytes`` value (or a read-only view of one).

    ``read()`` of the whole value returns the stored object itself; partial
    reads return ``memoryview`` slices of it.
    """

    __slots__ = ("_data", "_position")
    read_ahead = False  # nothing to fail: the cache need not read a first chunk ahead

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = data
        self._position = 0

    @property
    def remaining(self) -> int:
        """The bytes not read yet."""
        return len(self._data) - self._position

    async def read(self, size: int = -1, /) -> Buffer:
        data = self._data
        start = self._position
        if start == 0 and (size < 0 or size >= len(data)):
            self._position = len(data)
            return data
        end = len(data) if size < 0 else min(start + size, len(data))
        self._position = end
        return memoryview(data)[start:end]

    async def aclose(self) -> None:
        self._position = len(self._data)

    def whole(self) -> bytes:
        """The whole value as ``bytes``, for a reader nothing was read from yet (the reader is then at its end)."""
        data = self._data
        self._position = len(data)
        return data if type(data) is bytes else bytes(data)


EMPTY_READER = AsyncBytesReader(b"")


class AsyncPrefixedReader:
    """A store's reader whose first chunk was read already (so that a failure there could still fall through).

    Hands out ``first`` (in pieces if reads are smaller), then reads on from
    ``rest``, which it owns and closes.
    """

    __slots__ = ("_first", "_rest")

    def __init__(self, first: Buffer, rest: AsyncReader) -> None:
        self._first: Buffer | None = first
        self._rest = rest

    @property
    def remaining(self) -> int | None:
        """The bytes not read yet, when ``rest`` says how many it holds (see the reader protocol)."""
        rest: int | None = getattr(self._rest, "remaining", None)
        first = self._first
        return rest if rest is None or first is None else len(first) + rest

    async def read(self, size: int = -1, /) -> Buffer:
        first = self._first
        if first is None:
            return await self._rest.read(size)
        if size < 0:
            self._first = None
            rest = await self._rest.read(-1)
            return b"".join((first, rest)) if rest else first
        if size >= len(first):
            self._first = None
            return first
        view = memoryview(first)
        self._first = view[size:]
        return view[:size]

    async def aclose(self) -> None:
        self._first = None
        await self._rest.aclose()
