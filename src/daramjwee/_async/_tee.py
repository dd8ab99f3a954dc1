"""Copying one stream into the sinks of several tiers (promotion, fill, fan-out)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from .._generations import Ticket
from ._store import AsyncReader, AsyncSink, Buffer

__all__ = ["AsyncTee", "Target"]

Target = tuple[int, AsyncSink]


class _Owner(Protocol):
    async def _publish(self, tier: int, key: str, sink: AsyncSink, ticket: Ticket) -> bool: ...

    async def _abort_sink(self, tier: int, key: str, sink: AsyncSink) -> None: ...

    def _store_failed(self, tier: int, op: str, key: str, error: BaseException) -> None: ...


class AsyncTee:
    """Writes every chunk of a stream into the sinks of some tiers.

    A sink that fails to write is aborted and dropped; the stream goes on.
    :meth:`finish` (clean end of stream) publishes the surviving sinks through
    the owner, which enforces write generations; :meth:`abort` (early close,
    source error) discards them all, so no partial value is ever published.
    Exactly one of the two takes effect, once, and then ``on_done`` is called
    with the tiers that published.
    """

    __slots__ = ("_done", "_key", "_on_done", "_owner", "_targets", "_ticket")

    def __init__(
        self,
        owner: _Owner,
        key: str,
        targets: Sequence[Target],
        ticket: Ticket | None,
        on_done: Callable[[tuple[int, ...]], Awaitable[None]] | None = None,
    ) -> None:
        self._owner = owner
        self._key = key
        self._targets = list(targets)
        self._ticket = ticket
        self._on_done = on_done
        self._done = False

    async def write(self, data: Buffer) -> None:
        for target in tuple(self._targets):
            tier, sink = target
            try:
                await sink.write(data)
            except Exception as error:
                self._targets.remove(target)
                self._owner._store_failed(tier, "write", self._key, error)
                await self._owner._abort_sink(tier, self._key, sink)

    async def finish(self) -> tuple[int, ...]:
        """The source ended cleanly: publish every surviving sink; return the tiers that published."""
        if self._done:
            return ()
        self._done = True
        published = []
        targets, self._targets = self._targets, []
        for tier, sink in targets:
            try:
                if self._ticket is not None and await self._owner._publish(tier, self._key, sink, self._ticket):
                    published.append(tier)
            except Exception as error:
                self._owner._store_failed(tier, "commit", self._key, error)
                await self._owner._abort_sink(tier, self._key, sink)
        result = tuple(published)
        if self._on_done is not None:
            await self._on_done(result)
        return result

    async def abort(self) -> None:
        """Discard every sink (idempotent; never raises a store error)."""
        if self._done:
            return
        self._done = True
        targets, self._targets = self._targets, []
        for tier, sink in targets:
            await self._owner._abort_sink(tier, self._key, sink)
        if self._on_done is not None:
            await self._on_done(())

    async def drain(self, reader: AsyncReader, chunk_size: int, deadline: float | None = None) -> tuple[int, ...]:
        """Copy all of ``reader`` into the sinks and :meth:`finish`; abort on any error.

        Closes ``reader``.  Stops reading early (and publishes nothing) once every
        sink has been dropped.  Raises ``TimeoutError`` (after aborting) when
        ``time.monotonic()`` passes ``deadline`` between two chunks.
        """
        try:
            while self._targets:
                chunk = await reader.read(chunk_size)
                if not chunk:
                    return await self.finish()
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"copy of {self._key!r} ran past its deadline")
                await self.write(chunk)
            await self.abort()
            return ()
        except BaseException:
            await self.abort()
            raise
        finally:
            await reader.aclose()
