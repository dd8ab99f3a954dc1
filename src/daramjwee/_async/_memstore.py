"""``AsyncMemStore`` and ``MemStore``: the in-process memory tier."""

from __future__ import annotations

from .._errors import EntryTooLarge
from .._memory import MemoryTable
from .._metadata import Metadata
from .._ranges import ByteRange
from .._units import parse_capacity
from ..policy import Policy, make_policy
from ._readers import AsyncBytesReader
from ._store import Buffer, MemoryLookup

__all__ = ["AsyncMemStore"]


class AsyncMemStore:
    """Values in process memory, bounded by ``capacity`` value bytes.

    ``capacity`` is an int of bytes, a size string such as ``"256MiB"``, or
    ``None`` for unbounded.  ``policy`` names the eviction policy (see
    :mod:`daramjwee.policy`) or is a policy instance.  Thread-safe; reads are
    zero-copy views of the stored bytes.  An entry larger than the whole
    capacity is refused: its sink raises :class:`EntryTooLarge` on the write
    that crosses the limit and stores nothing.
    """

    def __init__(self, capacity: int | str | None = None, *, policy: str | Policy = "s3fifo") -> None:
        size = None if capacity is None else parse_capacity(capacity, "capacity")
        self._table = MemoryTable(size, make_policy(policy))
        self.lookup: MemoryLookup = self._table.get
        """``lookup(key) -> (value, metadata)``: the stored bytes with no reader; raises ``NotFound``.

        The optional in-memory capability of the store contract (a plain call, never blocking).
        """
        self.peek: MemoryLookup = self._table.peek
        """``peek(key) -> (value, metadata)``: like :attr:`lookup`, but not an access for the eviction policy.

        The cache snapshots a value it just published with it, to copy it to the lower tiers later.
        """

    async def get_stream(self, key: str, /) -> tuple[AsyncBytesReader, Metadata]:
        value, metadata = self.lookup(key)
        return AsyncBytesReader(value), metadata

    async def get_range(self, key: str, byte_range: ByteRange, /) -> tuple[AsyncBytesReader, Metadata, int]:
        """The ``byte_range`` of ``key``'s value: a zero-copy view of those stored bytes, the metadata, the length.

        Raises :class:`daramjwee.NotFound` when there is none.  An access, like ``lookup``.
        """
        value, metadata = self.lookup(key)
        start, stop = byte_range.bounds(len(value))
        return AsyncBytesReader(memoryview(value)[start:stop]), metadata, len(value)

    async def begin_set(self, key: str, metadata: Metadata, /) -> _AsyncMemSink:
        return _AsyncMemSink(self._table, key, metadata)

    async def delete(self, key: str, /) -> None:
        self._table.delete(key)

    async def stat(self, key: str, /) -> Metadata:
        return self._table.stat(key)

    async def clear(self) -> None:
        """Remove every entry; readers already open keep their values."""
        self._table.clear()

    async def close(self) -> None:
        """Nothing to release; entries stay readable by streams already open."""

    @property
    def capacity(self) -> int | None:
        """The byte capacity, or ``None`` when unbounded."""
        return self._table.capacity

    @property
    def used(self) -> int:
        """Value bytes stored."""
        return self._table.used

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._table)} entries, {self._table.used}/{self._table.capacity} bytes>"


class _AsyncMemSink:
    __slots__ = ("_chunks", "_key", "_metadata", "_size", "_state", "_table", "value")

    def __init__(self, table: MemoryTable, key: str, metadata: Metadata) -> None:
        self._table = table
        self._key = key
        self._metadata = metadata
        self._chunks: list[bytes] = []
        self._size = 0
        self._state = "open"
        self.value: bytes | None = None
        """The bytes committed, once :meth:`commit` ran (whether or not the table kept them)."""

    async def write(self, data: Buffer, /) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} memory-store sink")
        self._size += len(data)
        if not self._table.fits(self._size):
            await self.abort()
            raise EntryTooLarge(
                f"value of {self._key!r} exceeds the memory store's capacity of {self._table.capacity} bytes"
            )
        self._chunks.append(data if type(data) is bytes else bytes(data))

    async def commit(self) -> None:
        if self._state == "committed":
            return
        if self._state != "open":
            raise ValueError(f"commit of an {self._state} memory-store sink")
        self._state = "committed"
        value = b"".join(self._chunks)
        self._chunks = []
        self.value = value
        self._table.put(self._key, value, self._metadata)

    async def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"
            self._chunks = []
