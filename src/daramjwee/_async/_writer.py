"""What ``set`` returns: a pending write of one key into tier 0."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from .._async_primitives import async_shielded
from .._errors import TierError
from .._generations import Ticket
from .._metadata import Metadata
from ._store import AsyncSink

if TYPE_CHECKING:
    from ._cache import AsyncCache

__all__ = ["AsyncWriter"]

_OPEN, _COMMITTED, _ABORTED = "open", "committed", "aborted"


class AsyncWriter:
    """A pending ``set``: write bytes, then :meth:`commit` (or leave its ``with`` block cleanly).

    Nothing is visible before commit and the old value stays readable until
    then; an exception inside the ``with`` block or :meth:`abort` discards the
    write.  ``commit`` and ``abort`` are terminal and idempotent.  If another
    ``set`` of the same key began later, or the key was deleted meanwhile, the
    commit quietly yields to that newer operation (:attr:`published` is then
    False).  Write failures raise :class:`TierError` and abort the write.

    A commit or abort, once begun, runs to its end even if the calling task is
    cancelled meanwhile (the caller still sees the cancellation).  A writer
    whose tier-0 sink could not be opened (``TierError`` from ``begin_set``)
    changed nothing and fences no other write.
    """

    __slots__ = ("_cache", "_key", "_metadata", "_sink", "_state", "_stored", "_tags", "_ticket", "published")

    def __init__(self, cache: AsyncCache, key: str, metadata: Metadata, tags: tuple[str, ...] | None = None) -> None:
        self._cache = cache
        self._key = key
        self._metadata = metadata
        self._tags = tags
        self._sink: AsyncSink | None = None
        self._ticket: Ticket | None = None
        self._stored = metadata
        self._state = _OPEN
        self.published = False

    async def _open(self) -> AsyncSink:
        if self._sink is None:
            self._sink, self._ticket, self._stored = await self._cache._begin_set(self._key, self._metadata, self._tags)
        return self._sink

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the value."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"Writer.write needs bytes, bytearray or memoryview, got {type(data).__name__}")
        if self._state is not _OPEN:
            raise ValueError(f"write to a {self._state} daramjwee writer")
        sink = await self._open()
        try:
            await sink.write(data)
        except Exception as error:
            await self.abort()
            raise TierError(0, "write", self._key, self._cache._stores[0]) from error

    async def commit(self) -> None:
        """Publish the value in tier 0, then copy it to the lower tiers in the background."""
        if self._state is _COMMITTED:
            return
        if self._state is _ABORTED:
            raise ValueError("commit of an aborted daramjwee writer")
        sink = await self._open()
        self._state = _COMMITTED
        assert self._ticket is not None
        self.published = await async_shielded(self._cache._finish_set(self._key, sink, self._ticket, self._stored))

    async def abort(self) -> None:
        """Discard the value; the previous one stays."""
        if self._state is not _OPEN:
            return
        self._state = _ABORTED
        if self._sink is not None:
            assert self._ticket is not None
            await async_shielded(self._cache._abort_set(self._key, self._sink, self._ticket))

    async def __aenter__(self) -> AsyncWriter:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self.abort()
