"""The store contract (rules K1-K5 of docs/design.md) as typing protocols.

A store maps string keys to (byte stream, :class:`Metadata`).  The cache calls
these methods; any object with them can be a tier.  ``daramjwee.testing``
checks an implementation against the contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias

from .._metadata import Metadata
from .._ranges import ByteRange

__all__ = [
    "AsyncClearStore",
    "AsyncRangeGetter",
    "AsyncRangeResult",
    "AsyncRangeStore",
    "AsyncReader",
    "AsyncSink",
    "AsyncStore",
    "Buffer",
    "CapacityStore",
    "InlineGetStore",
    "LookupStore",
    "MemoryLookup",
    "PeekStore",
]

Buffer: TypeAlias = bytes | bytearray | memoryview


class AsyncReader(Protocol):
    """A byte stream handed out by a store; the receiver owns it and must close it.

    The cache reads a reader's first chunk while it walks the tiers, so that a
    failure before any byte reached the caller falls through to the next
    tier.  A reader whose first read cannot fail that way (its bytes came
    with the open, or from a local file the open just checked) may say so
    with a class attribute ``read_ahead = False``, and is not read ahead.

    A reader that knows how many bytes it has still to hand out may say so
    with an attribute ``remaining`` (an ``int``; absent or ``None`` when
    unknown).  The cache trusts it over the length the metadata declares when
    it decides which faster tiers could hold a promotion: a value that none
    can hold opens no sink at all.
    """

    async def read(self, size: int = -1, /) -> Buffer:
        """Up to ``size`` bytes (all the rest when negative); empty at end of stream."""
        ...

    async def aclose(self) -> None:
        """Release the stream; idempotent."""
        ...


class AsyncSink(Protocol):
    """A pending write of one entry.  Nothing is visible to readers before :meth:`commit`."""

    async def write(self, data: Buffer, /) -> None:
        """Append ``data``.  The buffer is only valid during the call: copy what you keep."""
        ...

    async def commit(self) -> None:
        """Publish the entry atomically, replacing any previous one.  Terminal, idempotent."""
        ...

    async def abort(self) -> None:
        """Discard the pending entry; the previous value stays.  Terminal, idempotent."""
        ...


class AsyncStore(Protocol):
    """One tier of the cache: the five methods every store has (rules K1-K3 of docs/design.md).

    A store may also offer the optional abilities of rule K4, each declared
    by a protocol of this module: :class:`LookupStore` and :class:`PeekStore`
    (whole values in process memory), ``AsyncRangeStore`` or ``RangeStore``
    (reads of a byte range), :class:`CapacityStore` (a bound on the bytes it holds),
    :class:`InlineGetStore` (a ``get_stream`` that never waits) and
    ``AsyncClearStore`` or ``ClearStore`` (removing every entry at once).  The cache
    finds them once, when it is built (``async_capabilities`` in
    ``_primitives`` for ``AsyncStore``, ``capabilities`` for ``Store``), and
    keeps what it found: an ability a store gains or loses later is not seen.
    """

    async def get_stream(self, key: str, /) -> tuple[AsyncReader, Metadata]:
        """Open the entry of ``key``; raise :class:`daramjwee.NotFound` when there is none."""
        ...

    async def begin_set(self, key: str, metadata: Metadata, /) -> AsyncSink:
        """Start writing ``key``; the old value stays readable until the sink commits."""
        ...

    async def delete(self, key: str, /) -> None:
        """Remove ``key``; a missing key is not an error; never waits for an open sink."""
        ...

    async def stat(self, key: str, /) -> Metadata:
        """Metadata of ``key``; raise :class:`daramjwee.NotFound` when there is none."""
        ...

    async def close(self) -> None:
        """Release resources; idempotent."""
        ...


MemoryLookup: TypeAlias = Callable[[str], tuple[bytes, Metadata]]
AsyncRangeResult: TypeAlias = tuple[AsyncReader, Metadata, int]
"""What ``get_range`` returns: a reader of the range's bytes, the entry's metadata, the value's whole length."""
AsyncRangeGetter: TypeAlias = Callable[[str, ByteRange], Awaitable[AsyncRangeResult]]


class LookupStore(Protocol):
    """Optional (rule K4): a store keeping whole values as ``bytes`` in process memory.

    ``lookup`` is a *plain* method in both flavours (never awaited, never
    blocking; a coroutine function is not this ability) and raises
    :class:`daramjwee.NotFound` like ``get_stream``.  When tier 0 has it, the
    cache serves fresh hits from it without a reader or a coroutine, and does
    not bound the store's calls by ``op_timeout`` (they never block).  An
    attribute that is ``None`` when the cache is built counts as absent.
    """

    def lookup(self, key: str, /) -> tuple[bytes, Metadata]:
        """The value and metadata of ``key``, counted as an access by the eviction policy."""
        ...


class PeekStore(Protocol):
    """Optional (rule K4): ``peek``, the :class:`LookupStore` call without counting as an access.

    The cache uses tier 0's ``peek`` to snapshot a value it just published,
    so that copying it to the lower tiers later does not depend on tier 0
    still holding it.  Plain, never blocking, like ``lookup``.
    """

    def peek(self, key: str, /) -> tuple[bytes, Metadata]:
        """The value and metadata of ``key``, not counted as an access; raise ``NotFound`` when there is none."""
        ...


class AsyncRangeStore(Protocol):
    """Optional (rule K4): reads of a byte range, reading as little as the store can of the rest.

    ``get_range(key, byte_range)`` is a coroutine function in the async
    flavour and a plain one in the sync flavour (the other kind is not this
    ability).  It returns ``(reader, metadata, length)``: ``length`` is the
    whole value's length in bytes, and the reader yields exactly the bytes
    ``byte_range.bounds(length)`` covers (none when the range is not
    satisfiable; for a negative entry: none, with ``length`` 0).  It raises
    :class:`daramjwee.NotFound` like ``get_stream``, and its entry is as
    consistent as ``get_stream``'s: the bytes, metadata and length of one
    published value.  The cache serves ranged reads with it, bounded by
    ``op_timeout`` like ``get_stream``; from a store without it, the cache
    reads ``get_stream`` and discards the bytes before the range.
    """

    async def get_range(self, key: str, byte_range: ByteRange, /) -> AsyncRangeResult:
        """A reader of the bytes of ``byte_range``, the entry's metadata and the value's whole length."""
        ...


class CapacityStore(Protocol):
    """Optional (rule K4): the most value bytes the store can hold (an ``int``; ``None`` declares no bound).

    The cache fills a body the origin declares too long for tier 0 into the
    first tier that can hold it, and bounds the snapshots of pending
    fan-outs by tier 0's capacity (rule O5).  A value that is not an ``int``
    (a ``bool`` included) declares nothing.
    """

    @property
    def capacity(self) -> int | None:
        """The bound, in bytes, or ``None``."""
        ...


class InlineGetStore(Protocol):
    """Optional (rule K4): ``get_stream_inline = True`` says ``get_stream`` opens entries without waiting.

    Only the async flavour reads it: such a ``get_stream`` is not wrapped in
    an ``op_timeout`` timer, which could not interrupt it anyway
    (``AsyncFileStore(inline_open=True)``).  Anything but ``True`` declares
    nothing.
    """

    @property
    def get_stream_inline(self) -> bool:
        """Whether ``get_stream`` runs inline."""
        ...


class AsyncClearStore(Protocol):
    """Optional (rule K5): ``clear()`` removes every entry the store can see, and nothing else.

    A coroutine function in the async flavour and a plain one in the sync
    flavour (the other kind is not this ability).  Every entry the store
    would serve, whoever wrote it (another process sharing the directory,
    server or bucket included), is gone when it returns; what is not an
    entry of this store (the directory itself, keys outside its prefix) is
    left alone.  Readers opened before keep reading their values (rule K1),
    and a sink open across a clear may still commit afterwards.  It is not
    bounded by ``op_timeout``: its length grows with the number of entries.
    ``clear`` on a cache needs it in every tier (rule W10).
    """

    async def clear(self) -> None:
        """Remove every entry; an empty store is not an error."""
        ...
