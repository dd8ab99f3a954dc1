"""The write path: how every write into a tier begins, is fenced by generations, and ends exactly once.

Two kinds of objects live here.

* ``AsyncWrites`` (``Writes`` in the sync flavour) holds the rules every write obeys: per-key write
  generations (:mod:`daramjwee._generations`), the per-key commit order, and
  opening, committing and aborting sinks.  The cache orchestrates; it never
  commits a sink itself.
* ``AsyncTee`` (``Tee``) is the one owner of one in-flight write (a fill, a
  promotion, a fan-out, a refresh, a negative marker): its sinks and its
  write ticket.  It ends exactly once, by its ``finish`` (publish
  the surviving sinks) or its ``abort`` (discard them), on success,
  error or cancellation, and then ends its ticket.

Locking: the lock of a key in one tier only orders a commit against other
commits and deletes of the *same* key in the *same* tier, and is held only
around the generation check and ``commit``.  No other store call (``begin_set``, ``write``, ``abort``,
``delete``) runs under it, and no lock another key needs is ever held across
a store call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import NamedTuple

from .._async_primitives import AsyncKeyLocks, async_shielded
from .._errors import CacheClosed, EntryTooLarge, TierError
from .._generations import Generations, Ticket
from .._metadata import Metadata
from ._store import AsyncReader, AsyncSink, AsyncStore, Buffer

__all__ = ["AsyncTee", "AsyncWrites", "OnDone", "Published", "Target"]

Target = tuple[int, AsyncSink]


class Published(NamedTuple):
    """How a write ended: the tiers that published it, and the bytes a memory tier committed (if one did).

    ``value`` lets the fan-out copy the entry to the lower tiers without
    reading it back from a tier that may already have dropped it.
    """

    tiers: tuple[int, ...]
    value: bytes | None


OnDone = Callable[[Published, Ticket], Awaitable[None]]
"""Called once when a tee ends, with how it ended and the tee's ticket.

It may keep the write's place for a follow-up (``ticket.hand_off()``); the tee
ends the ticket right after it returns otherwise.
"""

StoreFailed = Callable[[int, str, str, BaseException], None]


class AsyncWrites:
    """The write rules of one cache: generations, commit order, sinks.  Thread- and task-safe."""

    __slots__ = (
        "_capacities",
        "_chunk_size",
        "_closed",
        "_generations",
        "_key_locks",
        "_store_failed",
        "_stores",
        "_tiers",
    )

    def __init__(
        self,
        tiers: Sequence[AsyncStore],
        stores: Sequence[AsyncStore],
        capacities: Sequence[int | None],
        store_failed: StoreFailed,
        closed: Callable[[], bool],
        chunk_size: int,
    ) -> None:
        self._chunk_size = chunk_size
        self._tiers = tuple(tiers)
        self._stores = tuple(stores)
        self._capacities = tuple(capacities)
        self._store_failed = store_failed
        self._closed = closed
        self._generations = Generations()
        self._key_locks = AsyncKeyLocks()

    def in_flight(self) -> int:
        """Keys with a write or a per-key lock in flight (0 once every write has ended)."""
        return len(self._generations) + len(self._key_locks)

    def begin(self, key: str) -> Ticket:
        """A ticket for a write derived from a read; take it *before* that read (see :mod:`.._generations`)."""
        return self._generations.begin(key)

    def may_publish(self, ticket: Ticket) -> bool:
        return self._generations.may_publish(ticket)

    def follow_up(self, ticket: Ticket) -> Ticket:
        """The ticket of the copy down to the lower tiers of what ``ticket``'s write published (takes it over)."""
        return self._generations.published(ticket)

    def first_able(self, tiers: Iterable[int], size: int) -> int | None:
        """The first of ``tiers`` whose capacity (if it declares one) can hold ``size`` bytes."""
        for tier in tiers:
            capacity = self._capacities[tier]
            if capacity is None or size <= capacity:
                return tier
        return None

    # -- sinks ---------------------------------------------------------------------

    async def open_sinks(
        self, key: str, tiers: Iterable[int], metadata: Metadata, size: int | None = None
    ) -> list[Target]:
        """Sinks on ``tiers`` for an entry; a tier whose capacity is below its size is skipped.

        The size is ``size`` when known (a promotion knows it from the lower
        tier's reader), else the length ``metadata`` declares.  A tier that
        fails to open a sink is logged and skipped.  If the caller is
        cancelled meanwhile, the sinks opened so far are aborted.
        """
        targets: list[Target] = []
        if size is None:
            size = metadata.declared_length
        try:
            for tier in tiers:
                capacity = self._capacities[tier]
                if size is not None and capacity is not None and size > capacity:
                    continue
                try:
                    targets.append((tier, await self._tiers[tier].begin_set(key, metadata)))
                except Exception as error:
                    self._store_failed(tier, "begin_set", key, error)
        except BaseException:
            await async_shielded(self.abort_sinks(key, targets))
            raise
        return targets

    async def abort_sinks(self, key: str, targets: Sequence[Target]) -> None:
        for tier, sink in targets:
            await self.abort_sink(tier, key, sink)

    async def abort_sink(self, tier: int, key: str, sink: AsyncSink) -> None:
        """Abort ``sink``; a store error is logged, never raised."""
        try:
            await sink.abort()
        except Exception as error:
            self._store_failed(tier, "abort", key, error)

    async def publish(self, tier: int, key: str, sink: AsyncSink, ticket: Ticket) -> bool:
        """Commit ``sink`` unless a newer ``set`` or a ``delete`` of ``key`` began after ``ticket``.

        The check and the commit hold the lock of the key in that tier, so no
        older write lands there after a newer one passed its check; a commit
        into one tier never waits for a commit of the key into another.  A
        write that may no longer publish is aborted after the lock is
        released.  Raises what ``commit`` raises (the sink is then aborted).
        """
        async with self._key_locks.hold((tier, key)):
            allowed = self._generations.may_publish(ticket)
            if allowed:
                await sink.commit()
        if not allowed:
            await self.abort_sink(tier, key, sink)
        return allowed

    async def write_entry(
        self,
        key: str,
        tiers: Iterable[int],
        metadata: Metadata,
        reader: AsyncReader,
        ticket: Ticket,
        deadline: float | None = None,
        *,
        on_done: OnDone | None = None,
    ) -> Published:
        """Copy ``reader`` into ``tiers`` as one entry under ``ticket``; return how it ended.

        Once a sink is open, the copy owns the write's place: ``ticket`` is
        handed off (the caller's ``end`` of it is then harmless), and the place
        ends with the copy, even if the caller is cancelled while the copy's
        publish runs on.  A follow-up (a fan-out) keeps it through
        ``on_done``.  ``reader`` is
        closed.  ``deadline`` is a ``time.monotonic()`` value after which the
        copy is aborted with ``TimeoutError``.  ``on_done`` is called exactly
        once as the copy ends (see the tee), also when no sink could
        be opened; it runs to its end even if the caller is cancelled meanwhile.
        """
        targets: list[Target] = []
        try:
            targets = await self.open_sinks(key, tiers, metadata)
        finally:
            if not targets:  # none opened, or opening failed: nothing to copy into
                await async_shielded(reader.aclose())
                if on_done is not None:
                    await async_shielded(on_done(_NOTHING, ticket))
        if not targets:
            return _NOTHING
        tee = AsyncTee(self, key, targets, ticket.hand_off(), on_done)
        return await tee.drain(reader, self._chunk_size, deadline)

    # -- set -------------------------------------------------------------------------

    async def begin_set(self, key: str, metadata: Metadata) -> tuple[AsyncSink, Ticket]:
        """Open tier 0's sink for a ``set``, then take its replacing ticket.

        The ticket is taken only once the sink is open: a ``set`` that could
        not begin fences nothing.  Raises :class:`TierError` when tier 0
        cannot open a writer.
        """
        if self._closed():
            raise CacheClosed("this cache was closed; create a new one")
        try:
            sink = await self._tiers[0].begin_set(key, metadata)
        except Exception as error:
            self._store_failed(0, "begin_set", key, error)
            raise TierError(0, "begin_set", key, self._stores[0]) from error
        return sink, self._generations.begin(key, replaces=True)

    async def finish_set(self, key: str, sink: AsyncSink, ticket: Ticket) -> Ticket | None:
        """Publish a ``set``; return the ticket of its fan-out, or ``None`` when a newer write superseded it.

        After a publish, the bytes a memory sink committed are its ``value`` (see :func:`committed_value`).

        Owns ``ticket`` (ends or hands it on).  Raises :class:`TierError` if the commit fails.
        """
        try:
            published = await self.publish(0, key, sink, ticket)
        except BaseException as error:
            ticket.end()
            await async_shielded(self.abort_sink(0, key, sink))
            if isinstance(error, Exception):
                self._store_failed(0, "commit", key, error)
                raise TierError(0, "commit", key, self._stores[0]) from error
            raise
        if published:
            return self._generations.published(ticket)
        ticket.end()
        return None

    # -- delete ------------------------------------------------------------------------

    async def delete(self, key: str, tiers: range | None = None) -> TierError | None:
        """Remove ``key`` from every tier (or only ``tiers``), the last first; return the first failure (all are tried).

        Writes of ``key`` begun before it ends can no longer publish, and none
        publishes while it runs: a read that overlaps it never writes back the
        value being deleted, and no tier is left holding a copy.  Each tier's
        lock of the key is taken only to wait for a commit that passed its
        check before that; the store deletes run without it.
        """
        self._generations.begin_delete(key)
        first_failure: TierError | None = None
        try:
            for tier in reversed(range(len(self._tiers)) if tiers is None else tiers):
                async with self._key_locks.hold((tier, key)):
                    pass  # a commit into this tier already past its generation check lands before the delete
                try:
                    await self._tiers[tier].delete(key)
                except Exception as error:
                    self._store_failed(tier, "delete", key, error)
                    if first_failure is None:
                        first_failure = TierError(tier, "delete", key, self._stores[tier])
                        first_failure.__cause__ = error
        finally:
            self._generations.end_delete(key)
        return first_failure

    # -- clear -------------------------------------------------------------------------

    async def clear(
        self, clearers: Sequence[Callable[[], Awaitable[None]] | None], tiers: range | None = None
    ) -> TierError | None:
        """Clear every tier with its ``clearers[tier]()``, the last first; return the first failure (all are tried).

        Like :meth:`delete`, for every key at once (rule G8): writes begun
        before it can no longer publish, none derived from a read publishes
        while it runs, and those begun meanwhile are fenced when it ends.
        Before the first tier is cleared, every per-key lock held when it
        began is taken and released once, so a commit already past its
        generation check lands before the clear, not after it.  With
        ``tiers``, only those are cleared (the fencing is the same); a tier
        without a clearer is passed.
        """
        self._generations.begin_clear()
        first_failure: TierError | None = None
        try:
            for held in self._key_locks.held():
                async with self._key_locks.hold(held):
                    pass  # a commit already past its generation check lands before any tier is cleared
            for tier in reversed(range(len(self._tiers)) if tiers is None else tiers):
                clear = clearers[tier]
                if clear is None:
                    continue
                try:
                    await clear()
                except Exception as error:
                    self._store_failed(tier, "clear", "", error)
                    if first_failure is None:
                        first_failure = TierError(tier, "clear", "", self._stores[tier])
                        first_failure.__cause__ = error
        finally:
            self._generations.end_clear()
        return first_failure


class AsyncTee:
    """The owner of one in-flight write: copies a stream into the sinks of some tiers, then ends it once.

    A sink that fails to write is aborted and dropped; the stream goes on.
    :meth:`finish` (clean end of stream) publishes the surviving sinks through
    the ``publish`` of the writes, which enforces write generations;
    :meth:`abort` (early close, source error, cancellation) discards them all,
    so no partial value is ever published.  Exactly one of the two takes
    effect, once, and runs to its end even if the caller is cancelled
    meanwhile; then ``on_done`` is called with the tiers that published, and
    the ticket is ended (unless ``on_done`` handed it off).

    :attr:`written` counts the bytes passed to :meth:`write`.

    A fill may *spill*: when its only sink refuses the value as too large
    (:class:`EntryTooLarge`, a body of unknown length outgrowing a bounded
    memory tier 0), the tee opens a sink on the first tier of ``spill`` able
    to hold what was written so far, replays the chunks it kept, and goes
    on there.  It keeps chunks only while ``written <= keep``, and only
    references to them: the caller passes immutable ``bytes``, which the
    refusing sink was holding anyway.
    """

    __slots__ = (
        "_done",
        "_keep",
        "_kept",
        "_key",
        "_metadata",
        "_on_done",
        "_spill",
        "_targets",
        "_ticket",
        "_writes",
        "written",
    )

    def __init__(
        self,
        writes: AsyncWrites,
        key: str,
        targets: Sequence[Target],
        ticket: Ticket,
        on_done: OnDone | None = None,
        *,
        metadata: Metadata | None = None,
        spill: Sequence[int] = (),
        keep: int = 0,
    ) -> None:
        self._writes = writes
        self._metadata = metadata
        self._spill = tuple(spill) if metadata is not None and keep > 0 else ()
        self._keep = keep
        self._kept: list[bytes] | None = [] if self._spill else None
        self._key = key
        self._targets = list(targets)
        self._ticket = ticket
        self._on_done = on_done
        self._done = False
        self.written = 0

    @property
    def done(self) -> bool:
        return self._done

    async def write(self, data: Buffer) -> None:
        self.written += len(data)
        kept = self._kept
        if kept is not None:
            if self.written <= self._keep + len(data) and type(data) is bytes:
                kept.append(data)
            else:
                self._kept = kept = None
        refused = False
        for target in tuple(self._targets):
            tier, sink = target
            try:
                await sink.write(data)
            except Exception as error:
                self._targets.remove(target)
                self._writes._store_failed(tier, "write", self._key, error)
                await self._writes.abort_sink(tier, self._key, sink)
                refused = refused or isinstance(error, EntryTooLarge)
        if kept is not None and (refused or self.written > self._keep):
            self._kept = None
            if refused and not self._targets:
                await self._spill_over(kept)

    async def _spill_over(self, kept: list[bytes]) -> None:
        """The fill's tier refused the value as too large: go on in the first lower tier able to hold it."""
        assert self._metadata is not None
        able = self._writes.first_able(self._spill, self.written)
        self._spill = ()
        if able is None:
            return
        for tier, sink in await self._writes.open_sinks(self._key, (able,), self._metadata):
            try:
                for chunk in kept:
                    await sink.write(chunk)
            except Exception as error:
                self._writes._store_failed(tier, "write", self._key, error)
                await self._writes.abort_sink(tier, self._key, sink)
                continue
            self._targets.append((tier, sink))

    async def finish(self) -> Published:
        """The source ended cleanly: publish every surviving sink; return how it ended."""
        if self._done:
            return _NOTHING
        self._done = True
        return await async_shielded(self._end(publish=True))

    async def abort(self) -> None:
        """Discard every sink (idempotent; never raises a store error)."""
        if self._done:
            return
        self._done = True
        await async_shielded(self._end(publish=False))

    async def _end(self, *, publish: bool) -> Published:
        published: list[int] = []
        value = None
        targets, self._targets = self._targets, []
        self._kept = None
        try:
            for tier, sink in targets:
                if not publish:
                    await self._writes.abort_sink(tier, self._key, sink)
                    continue
                try:
                    if await self._writes.publish(tier, self._key, sink, self._ticket):
                        published.append(tier)
                        if value is None:
                            value = committed_value(sink)
                except Exception as error:
                    self._writes._store_failed(tier, "commit", self._key, error)
                    await self._writes.abort_sink(tier, self._key, sink)
            result = Published(tuple(published), value)
            if self._on_done is not None:
                await self._on_done(result, self._ticket)
            return result
        finally:
            self._ticket.end()

    async def drain(self, reader: AsyncReader, chunk_size: int, deadline: float | None = None) -> Published:
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
            return _NOTHING
        except BaseException:
            await self.abort()
            raise
        finally:
            await async_shielded(reader.aclose())


_NOTHING = Published((), None)


def committed_value(sink: object) -> bytes | None:
    """The bytes a memory sink committed (its optional ``value`` after ``commit``), else ``None``."""
    value = getattr(sink, "value", None)
    return value if type(value) is bytes else None
