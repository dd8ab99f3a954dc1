"""Fan-out: copying a published entry down to the lower tiers in the background (rules O1-O6).

One fan-outs object (``AsyncFanOuts``, ``FanOuts``) per cache owns every fan-out from the moment a
tier publishes an entry until its copy lands, fails, is superseded or is
dropped; each fan-out holds the write ticket of its entry and ends it exactly
once.  The rule it keeps: every published value reaches every lower tier that
can hold it, unless a newer write supersedes it, whatever tier 0's eviction
or admission policy does meanwhile; what cannot be copied is counted.

* **Independent of tier 0.**  A fan-out carries a *snapshot* of the value
  when one is at hand (the bytes a memory tier's sink just committed), so a
  small or admission-filtering tier 0 that drops the value at once does not
  lose it.  Without one, the copy reads the source tier when it runs.
* **In transit.**  While a snapshot waits or is being copied, a miss of the
  key in every tier is served from it (:meth:`transit`), unless a ``delete``
  began or a newer ``set`` published since.
* **Bounded by bytes and by count, not by the job queue.**  Snapshots held
  by pending fan-outs add up to at most ``budget`` bytes; past that a
  fan-out goes without one.  Fan-outs without a snapshot are at most
  ``max_pending``; past that a new one is rejected (``fanouts_rejected``).
  They never compete for the runtime's job queue: at most ``workers``
  drainer jobs copy them one after another.
* **Coalesced per key.**  A fan-out of a key replaces a pending older one
  of the same key (``fanouts_superseded``), so copies never land out of order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from .._async_primitives import async_cancel_after
from .._async_runtime import AsyncBackgroundRunner
from .._errors import BackgroundJobRejected, NotFound
from .._generations import Ticket
from .._metadata import Metadata
from .._stats import Stat, StatsRecorder
from ._readers import AsyncBytesReader
from ._store import AsyncStore
from ._writes import AsyncWrites, Published

__all__ = ["AsyncFanOuts", "Landed", "Snapshot"]

Snapshot = tuple[bytes, Metadata]
"""A published value and its metadata."""

Landed = Callable[[tuple[int, ...]], None]
"""Told once how a fan-out ended: the tiers holding the value then (its source first; none if it was
dropped or superseded).  Must not raise or block."""


_LANDING_SLOTS = 1024
"""Landings are counted per slot of keys (a shared slot only costs a needless re-read)."""


class _FanOut:
    __slots__ = ("key", "landed", "snapshot", "source", "ticket", "tiers", "written")

    def __init__(
        self,
        key: str,
        ticket: Ticket,
        source: int,
        snapshot: Snapshot | None,
        landed: Landed | None,
        written: tuple[int, ...],
        tiers: tuple[int, ...],
    ) -> None:
        self.key = key
        self.ticket = ticket
        self.source = source
        self.snapshot = snapshot
        self.landed = landed
        self.written = written  # lower tiers the write published in already
        self.tiers = tiers  # the lower tiers to copy to

    def finish(self, tiers: tuple[int, ...]) -> None:
        """Tell ``landed`` which tiers hold the value now; only the first call does."""
        landed, self.landed = self.landed, None
        if landed is not None:
            landed(tiers)


class AsyncFanOuts:
    """The background copies of one cache to its lower tiers.  Thread- and task-safe."""

    def __init__(
        self,
        *,
        tiers: Sequence[AsyncStore],
        writes: AsyncWrites,
        runtime: AsyncBackgroundRunner,
        stats: StatsRecorder,
        logger: logging.Logger,
        workers: int,
        budget: int | None,
        max_pending: int,
        job_timeout: float,
    ) -> None:
        self._tiers = tuple(tiers)
        self._writes = writes
        self._runtime = runtime
        self._stats = stats
        self._logger = logger
        self._workers = workers
        self._budget = budget
        self._max_pending = max_pending
        self._job_timeout = job_timeout
        self._lock = threading.Lock()
        self._pending: dict[str, _FanOut] = {}
        self._in_transit: dict[str, _FanOut] = {}
        self._bytes = 0
        self._without_snapshot = 0
        self._drainers = 0
        self._closed = False
        self._landings = [0] * _LANDING_SLOTS

    def schedule(
        self,
        key: str,
        ticket: Ticket,
        source: int,
        snapshot: Snapshot | None,
        landed: Landed | None = None,
        written: tuple[int, ...] = (),
    ) -> None:
        """Copy the entry ``source`` published to every tier below it but ``written``; owns ``ticket``.

        ``snapshot`` is the published value and its metadata, when at hand;
        ``written`` are lower tiers the same write published in already.
        ``landed`` is told exactly once how the copy ended (at once when
        there is nothing to copy).  Never raises: a fan-out that cannot be
        queued is counted and logged.
        """
        tiers = tuple(tier for tier in range(source + 1, len(self._tiers)) if tier not in written)
        if not tiers:
            ticket.end()
            if landed is not None:
                landed((source, *written))
            return
        ticket = self._writes.follow_up(ticket)  # fenced by a newer write that publishes, not one that begins
        item = _FanOut(key, ticket, source, snapshot, landed, written, tiers)
        with self._lock:
            if snapshot is not None and self._budget is not None and self._bytes + len(snapshot[0]) > self._budget:
                item.snapshot = None
            if self._closed or (item.snapshot is None and self._without_snapshot >= self._max_pending):
                rejected = True
                replaced = None
                start_drainer = False
            else:
                rejected = False
                replaced = self._pending.pop(key, None)
                if replaced is not None:
                    self._forget(replaced)
                self._pending[key] = item
                if item.snapshot is None:
                    self._without_snapshot += 1
                else:
                    self._bytes += len(item.snapshot[0])
                    self._in_transit[key] = item
                start_drainer = self._drainers < self._workers
                if start_drainer:
                    self._drainers += 1
        if replaced is not None:
            replaced.ticket.end()
            replaced.finish(())
            self._stats.add(Stat.FANOUTS_SUPERSEDED)
        if rejected:
            ticket.end()
            item.finish(())
            self._stats.add(Stat.FANOUTS_REJECTED)
            if self._closed:
                self._logger.warning("fan-out of %r dropped: the cache is closed", key, extra={"key": key})
            else:
                self._logger.warning(
                    "fan-out of %r to lower tiers dropped: %d fan-outs without a snapshot are pending "
                    "(raise worker_queue or workers)",
                    key,
                    self._max_pending,
                    extra={"key": key},
                )
            return
        if start_drainer:
            try:
                self._runtime.submit("fan-out", self._drain)
            except BackgroundJobRejected as error:
                with self._lock:
                    self._drainers -= 1
                self._logger.warning(
                    "fan-out of %r waits: no background worker could start (%s)", key, error, extra={"key": key}
                )

    def transit(self, key: str) -> tuple[bytes, Metadata, int] | None:
        """The value of ``key`` a fan-out holds, its metadata and the tier it came from.

        ``None`` when no fan-out holds one, or a ``delete`` began or a newer
        ``set`` published since it was published.  A value leaves transit the moment the
        lower tiers have it.
        """
        if not self._in_transit:
            return None
        with self._lock:
            item = self._in_transit.get(key)
            snapshot = None if item is None else item.snapshot
        if item is None or snapshot is None or not self._writes.may_publish(item.ticket):
            return None
        return snapshot[0], snapshot[1], item.source

    def landings(self, key: str) -> int:
        """A count that grows whenever a fan-out of ``key`` (or of a key sharing its slot) lands.

        A miss that read the lower tiers before such a landing reads them
        again before it fetches.  A plain list read: no lock.
        """
        return self._landings[hash(key) % _LANDING_SLOTS]

    def __len__(self) -> int:
        """Fan-outs pending or running (snapshots in transit included)."""
        with self._lock:
            return len(self._pending) + len(self._in_transit) + self._drainers

    async def _drain(self) -> None:
        """A drainer job: copy pending fan-outs, oldest first, until none is left."""
        counted = True
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._drainers -= 1
                        counted = False
                        return
                    item = self._pending.pop(next(iter(self._pending)))
                    if item.snapshot is None:
                        self._without_snapshot -= 1
                await self._copy(item)
        finally:
            if counted:
                with self._lock:
                    self._drainers -= 1

    async def _copy(self, item: _FanOut) -> None:
        """Copy one fan-out; owns its ticket."""
        key, source = item.key, item.source
        deadline = time.monotonic() + self._job_timeout
        counted = False
        holding: tuple[int, ...] = ()
        try:
            if not self._writes.may_publish(item.ticket):
                self._stats.add(Stat.FANOUTS_SUPERSEDED)
                return
            async with async_cancel_after(self._job_timeout):
                if item.snapshot is None:
                    try:
                        reader, metadata = await self._tiers[source].get_stream(key)
                    except NotFound:
                        self._stats.add(Stat.FANOUTS_FAILED)
                        self._logger.warning(
                            "fan-out of %r skipped: tier %d no longer holds it (evicted or deleted)",
                            key,
                            source,
                            extra={"key": key, "tier": source},
                        )
                        return
                else:
                    reader, metadata = AsyncBytesReader(item.snapshot[0]), item.snapshot[1]
                tiers = item.tiers

                async def landed(published: Published, ticket: Ticket) -> None:
                    nonlocal holding
                    holding = (source, *item.written, *published.tiers)
                    with self._lock:  # in the same step as the last commit: no reader sees both copies missed
                        if published.tiers:
                            self._landings[hash(key) % _LANDING_SLOTS] += 1
                        self._forget(item)
                    # Counted here, where the copy ends, not after the call below: a timeout during the
                    # shielded commits interrupts the call, not the commits.
                    self._stats.add(Stat.FANOUTS if len(published.tiers) == len(tiers) else Stat.FANOUTS_FAILED)

                counted = True  # write_entry calls ``landed`` exactly once, whatever happens
                await self._writes.write_entry(key, tiers, metadata, reader, item.ticket, deadline, on_done=landed)
        except Exception as error:
            if not counted:
                self._stats.add(Stat.FANOUTS_FAILED)
            self._logger.warning("fan-out of %r failed: %r", key, error, extra={"key": key})
        except BaseException:  # cancelled (the cache is closing): counted, and passed on
            if not counted:
                self._stats.add(Stat.FANOUTS_FAILED)
            raise
        finally:
            with self._lock:
                self._forget(item)
            item.ticket.end()
            item.finish(holding)

    def _forget(self, item: _FanOut) -> None:
        """Release what ``item`` held (its snapshot's bytes, its transit entry); the lock is held."""
        if item.snapshot is not None:
            self._bytes -= len(item.snapshot[0])
            if self._in_transit.get(item.key) is item:
                del self._in_transit[item.key]
            item.snapshot = None

    def close(self) -> None:
        """Drop the fan-outs still pending (the runtime has shut down): end their tickets, count them.

        Fan-outs scheduled later are rejected.
        """
        with self._lock:
            self._closed = True
            dropped = list(self._pending.values())
            self._pending.clear()
            for item in dropped:
                self._forget(item)
            self._without_snapshot = 0
        for item in dropped:
            item.ticket.end()
            item.finish(())
        if dropped:
            self._stats.add(Stat.FANOUTS_REJECTED, len(dropped))
            self._logger.warning(
                "%d pending fan-out(s) dropped at close", len(dropped), extra={"dropped": len(dropped)}
            )
