"""Per-key write generations: late writers never overwrite newer data (SPEC §3.7).

Every write into a tier takes a :class:`Ticket` when it begins.  A ``set``
(``replaces=True``) or a ``delete`` raises the key's *barrier*; a write may
publish only while no barrier was raised after it began, and a ``set`` only
while it is still the last ``set``/``delete`` begun for the key.  Publishing a
``set`` raises the barrier again, so writes begun before it can never land on
top of it.

Barriers are kept only while some write of the key is in flight: a write that
begins later takes a larger ticket anyway, so the table stays as small as the
number of keys being written.
"""

from __future__ import annotations

import threading

__all__ = ["Generations", "Ticket"]


class Ticket:
    """One write's place in its key's history.  Hand it back to :meth:`Generations.end`."""

    __slots__ = ("key", "number", "replaces")

    def __init__(self, key: str, number: int, replaces: bool) -> None:
        self.key = key
        self.number = number
        self.replaces = replaces

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
            return Ticket(key, self._clock, replaces)

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
        it and the follow-up can no longer publish.
        """
        if not ticket.replaces:
            return ticket
        with self._lock:
            if self._barrier.get(ticket.key) != ticket.number:
                return Ticket(ticket.key, ticket.number, replaces=False)
            self._clock += 1
            self._barrier[ticket.key] = self._clock
            self._clock += 1
            return Ticket(ticket.key, self._clock, replaces=False)

    def end(self, ticket: Ticket) -> None:
        """The write holding ``ticket`` finished (published, aborted or failed)."""
        with self._lock:
            remaining = self._in_flight[ticket.key] - 1
            if remaining:
                self._in_flight[ticket.key] = remaining
            else:
                del self._in_flight[ticket.key]
                self._barrier.pop(ticket.key, None)

    def __len__(self) -> int:
        """Number of keys with writes in flight."""
        return len(self._in_flight)
