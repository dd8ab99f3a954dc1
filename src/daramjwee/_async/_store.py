"""The store contract (rules K1-K4 of docs/design.md) as typing protocols.

A store maps string keys to (byte stream, :class:`Metadata`).  The cache calls
these methods; any object with them can be a tier.  ``daramjwee.testing``
checks an implementation against the contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias

from .._metadata import Metadata
from .._ranges import ByteRange

__all__ = [
    "AsyncRangeGetter",
    "AsyncRangeResult",
    "AsyncReader",
    "AsyncSink",
    "AsyncStore",
    "Buffer",
    "MemoryLookup",
    "memory_lookup",
    "memory_peek",
]

Buffer: TypeAlias = bytes | bytearray | memoryview


class AsyncReader(Protocol):
    """A byte stream handed out by a store; the receiver owns it and must close it.

    The cache reads a reader's first chunk while it walks the tiers, so that a
    failure before any byte reached the caller falls through to the next
    tier.  A reader whose first read cannot fail that way (its bytes came
    with the open, or from a local file the open just checked) may say so
    with a class attribute ``read_ahead = False``, and is not read ahead.
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
    """One tier of the cache.

    A store that keeps whole values as ``bytes`` in process memory may also
    offer ``lookup(key) -> (bytes, Metadata)``: a *plain* (never awaited,
    never blocking) method that raises :class:`daramjwee.NotFound` like
    ``get_stream``.  When tier 0 has it, the cache serves hits from it without
    a reader or a coroutine (see :func:`memory_lookup`).  Such a store may
    also offer ``peek(key)``, the same call without counting as an access for
    its eviction policy: the cache uses it to snapshot a value it just
    published to tier 0, so that copying it to the lower tiers later does not
    depend on tier 0 still holding it (see :func:`memory_peek`).

    **Ranged reads.**  A store may offer ``get_range(key, byte_range)
    -> (reader, metadata, length)`` (a coroutine function in the async flavour): ``length`` is the whole value's length
    in bytes, and the reader yields exactly the bytes
    ``byte_range.bounds(length)`` covers (none when the range is not
    satisfiable; for a negative entry: none, with ``length`` 0), reading as
    little as it can of the rest.  It raises :class:`daramjwee.NotFound`
    like ``get_stream``, and its entry is as consistent as ``get_stream``'s:
    the bytes, metadata and length of one published value.  The cache serves
    ranged reads with it (``bound_range_getter`` in ``_primitives`` finds it); from a store without it,
    the cache reads ``get_stream`` and discards the bytes before the range.
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


def memory_lookup(store: object) -> MemoryLookup | None:
    """The store's optional in-memory ``lookup`` method, or ``None``."""
    return _plain_method(store, "lookup")


def memory_peek(store: object) -> MemoryLookup | None:
    """The store's optional in-memory ``peek`` method (a lookup that is not an access), or ``None``."""
    return _plain_method(store, "peek")


def _plain_method(store: object, name: str) -> MemoryLookup | None:
    method = getattr(store, name, None)
    if callable(method) and not inspect.iscoroutinefunction(method):
        return method  # type: ignore[no-any-return]
    return None
