"""Per-key write generations: late writers never overwrite newer data (SPEC §3.7).

Every write into a tier takes a :class:`Ticket` when it begins.  A ``set``
(``replaces=True``) or a ``delete`` raises the key's *barrier*; a write may
publish only while no barrier was raised after it began, and a ``set`` only
while it is still the last ``set``/``delete`` begun for the key.  Publishing a
``set`` raises the barrier again, so writes begun before it can never land on
top of it.

Barriers are kept only while some write of the key is in flight: a write that
begins later takes a larger ticket anyway, so the table stays as small as the
number of keys being written.  That makes ending a ticket exactly once part of
correctness: a ticket ended while its write goes on could let the barrier that
fences it be dropped.  :meth:`Ticket.end` is idempotent, so the one owner of a
write can end it in a ``finally`` whatever happened before.

A write derived from a read (a fill after a miss, a promotion, a refresh
after a stale hit) must take its ticket *before* the read that decided it, so
that a ``set`` committed meanwhile fences it.
"""

from __future__ import annotations

import threading

__all__ = ["Generations", "Ticket"]


class Ticket:
    """One write's place in its key's history.

    Its owner ends it exactly once with :meth:`end` (idempotent: later calls
    do nothing), whether the write published, aborted, failed or was
    cancelled.
    """

    __slots__ = ("_ended", "_generations", "key", "number", "replaces")

    def __init__(self, key: str, number: int, replaces: bool, generations: Generations | None = None) -> None:
        self.key = key
        self.number = number
        self.replaces = replaces
        self._generations = generations
        self._ended = generations is None

    @property
    def ended(self) -> bool:
        return self._ended

    def end(self) -> None:
        """The write holding this ticket finished; idempotent."""
        if self._generations is not None:
            self._generations.end(self)

    def hand_off(self) -> Ticket:
        """Give this write's place to a new owner: the returned ticket holds it, this one counts as ended.

        The handing owner may then end this ticket in its ``finally`` without
        effect; the receiving owner ends the returned one.
        """
        if self._generations is None:
            return self
        return self._generations.hand_off(self)

    def __repr__(self) -> str:
        return f"Ticket({self.key!r}, {self.number}, replaces={self.replaces})"


class Generations:
    """Thread-safe barrier table; every method is O(1)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clock = 0
        self._in_flight: dict[str, int] = {}
        self._barrier: dict[str, int] = {}

    def begin(self, key: str, *, replaces: bool = False) -> Ticket:
        """Start a write of ``key``; ``replaces=True`` for a user ``set``."""
        with self._lock:
            self._clock += 1
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            if replaces:
                self._barrier[key] = self._clock
            return Ticket(key, self._clock, replaces, self)

    def invalidate(self, key: str) -> None:
        """A delete of ``key``: no write begun before now may publish."""
        with self._lock:
            if key in self._in_flight:
                self._clock += 1
                self._barrier[key] = self._clock

    def may_publish(self, ticket: Ticket) -> bool:
        """Whether the write holding ``ticket`` may still publish."""
        with self._lock:
            barrier = self._barrier.get(ticket.key, 0)
            return barrier == ticket.number if ticket.replaces else barrier < ticket.number

    def published(self, ticket: Ticket) -> Ticket:
        """Record that the write holding ``ticket`` published; return the ticket for its follow-up.

        The follow-up (copying the value to the lower tiers) keeps the write's
        place in flight and may publish until the next ``set`` or ``delete``.
        If one began between the check and this call, the barrier is left to
        it and the follow-up can no longer publish.  A replacing ticket hands
        its place to the follow-up: it counts as ended, and only the follow-up
        is ended later.
        """
        if not ticket.replaces:
            return ticket
        with self._lock:
            if ticket._ended:
                raise RuntimeError(f"{ticket!r} already ended")
            ticket._ended = True
            if self._barrier.get(ticket.key) != ticket.number:
                return Ticket(ticket.key, ticket.number, False, self)
            self._clock += 1
            self._barrier[ticket.key] = self._clock
            self._clock += 1
            return Ticket(ticket.key, self._clock, False, self)

    def hand_off(self, ticket: Ticket) -> Ticket:
        """See :meth:`Ticket.hand_off`."""
        with self._lock:
            if ticket._ended:
                raise RuntimeError(f"{ticket!r} already ended")
            ticket._ended = True
            return Ticket(ticket.key, ticket.number, ticket.replaces, self)

    def end(self, ticket: Ticket) -> None:
        """The write holding ``ticket`` finished (published, aborted or failed); idempotent."""
        with self._lock:
            if ticket._ended:
                return
            ticket._ended = True
            remaining = self._in_flight[ticket.key] - 1
            if remaining:
                self._in_flight[ticket.key] = remaining
            else:
                del self._in_flight[ticket.key]
                self._barrier.pop(ticket.key, None)

    def __len__(self) -> int:
        """Number of keys with writes in flight."""
        return len(self._in_flight)
