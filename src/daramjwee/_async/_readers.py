"""Readers over bytes already in memory."""

from __future__ import annotations

from ._store import Buffer

__all__ = ["EMPTY_READER", "AsyncBytesReader"]


class AsyncBytesReader:
    """Zero-copy reader of an immutable ``bytes`` value (or a read-only view of one).

    ``read()`` of the whole value returns the stored object itself; partial
    reads return ``memoryview`` slices of it.
    """

    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = data
        self._position = 0

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


EMPTY_READER = AsyncBytesReader(b"")
