"""Per-key write generations: late writers never overwrite newer data (rules G1-G7).

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

    __slots__ = ("_ended", "_generations", "follow_up", "key", "number", "replaces")

    def __init__(
        self,
        key: str,
        number: int,
        replaces: bool,
        generations: Generations | None = None,
        *,
        follow_up: bool = False,
    ) -> None:
        self.key = key
        self.number = number
        self.replaces = replaces
        self.follow_up = follow_up
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
        kind = ", follow_up=True" if self.follow_up else ""
        return f"Ticket({self.key!r}, {self.number}, replaces={self.replaces}{kind})"


class Generations:
    """Thread-safe barrier table; every method is O(1).

    Two barriers per key: ``_barrier`` is raised by a ``set`` as it begins and
    as it publishes, and by a ``delete``; ``_settled`` only by what *changed*
    the key: a published ``set`` and a ``delete``.  A write derived from a read
    is judged by the first (a set begun after its read may hold newer data);
    a *follow-up* (copying a published value down to the lower tiers) by the
    second: a set that begins and then aborts changed nothing, so the copy of
    the value it did not replace must still land.

    A ``delete`` fences every write begun before it starts.  While it runs, no
    write derived from a read (and no follow-up) publishes, and those begun
    before it ends are fenced too: a read that overlaps the delete may return
    the old value, but never writes it back.  A ``set`` begun while the
    delete runs carries new data, not a copy of the old: it is not held back.

    A ``clear`` (of every key, rule G8) does the same for all keys at once:
    :meth:`begin_clear` fences every write begun before it, ``set`` included;
    while it runs no write derived from a read (and no follow-up) of any key
    publishes; :meth:`end_clear` fences those begun while it ran.  Two
    numbers and a count, not one barrier per key: the check stays O(1).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clock = 0
        self._in_flight: dict[str, int] = {}
        self._barrier: dict[str, int] = {}
        self._settled: dict[str, int] = {}
        self._deleting: dict[str, int] = {}
        self._clearing = 0  # clears running
        self._clear_barrier = 0  # no write with a number up to this publishes (the last clear's start)
        self._clear_settled = 0  # nor one derived from a read or a follow-up, up to this (the last clear's end)

    def begin(self, key: str, *, replaces: bool = False) -> Ticket:
        """Start a write of ``key``; ``replaces=True`` for a user ``set``."""
        with self._lock:
            self._clock += 1
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            if replaces:
                self._barrier[key] = self._clock
            return Ticket(key, self._clock, replaces, self)

    def begin_delete(self, key: str) -> None:
        """A delete of ``key`` starts: no write begun before now may publish; none derived from a read until it ends."""
        with self._lock:
            self._deleting[key] = self._deleting.get(key, 0) + 1
            if key in self._in_flight:
                self._clock += 1
                self._barrier[key] = self._settled[key] = self._clock

    def end_delete(self, key: str) -> None:
        """The delete of ``key`` ended (however): writes derived from reads begun while it ran are fenced too."""
        with self._lock:
            remaining = self._deleting[key] - 1
            if remaining:
                self._deleting[key] = remaining
            else:
                del self._deleting[key]
            if key in self._in_flight:
                self._clock += 1
                self._settled[key] = self._clock

    def begin_clear(self) -> None:
        """A clear of every key starts: no write begun before now publishes; none derived from a read until it ends."""
        with self._lock:
            self._clearing += 1
            self._clock += 1
            self._clear_barrier = self._clear_settled = self._clock

    def end_clear(self) -> None:
        """The clear ended (however): writes derived from reads, and follow-ups, begun while it ran are fenced too."""
        with self._lock:
            self._clearing -= 1
            self._clock += 1
            self._clear_settled = self._clock

    def may_publish(self, ticket: Ticket) -> bool:
        """Whether the write holding ``ticket`` may still publish."""
        key = ticket.key
        number = ticket.number
        with self._lock:
            if ticket.replaces:
                return self._barrier.get(key, 0) == number and number > self._clear_barrier
            if (
                key in self._deleting
                or self._settled.get(key, 0) >= number
                or self._clearing
                or self._clear_settled >= number
            ):
                return False
            return ticket.follow_up or self._barrier.get(key, 0) < number

    def published(self, ticket: Ticket) -> Ticket:
        """Record that the write holding ``ticket`` published; return the ticket of its follow-up.

        The follow-up (copying the value to the lower tiers) takes over the
        write's place in flight (``ticket`` counts as ended) and may publish
        until a newer write of the key publishes or a ``delete`` runs.  If a
        newer ``set`` began between the check and this call, the barrier is
        left to it.
        """
        with self._lock:
            if ticket._ended:
                raise RuntimeError(f"{ticket!r} already ended")
            ticket._ended = True
            if not ticket.replaces or self._barrier.get(ticket.key) != ticket.number:
                # A fill or a follow-up keeps its number; so does a set that a newer one already fenced.
                return Ticket(ticket.key, ticket.number, False, self, follow_up=True)
            self._clock += 1
            self._barrier[ticket.key] = self._settled[ticket.key] = self._clock
            self._clock += 1
            return Ticket(ticket.key, self._clock, False, self, follow_up=True)

    def hand_off(self, ticket: Ticket) -> Ticket:
        """See :meth:`Ticket.hand_off`."""
        with self._lock:
            if ticket._ended:
                raise RuntimeError(f"{ticket!r} already ended")
            ticket._ended = True
            return Ticket(ticket.key, ticket.number, ticket.replaces, self, follow_up=ticket.follow_up)

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
                self._settled.pop(ticket.key, None)

    def __len__(self) -> int:
        """Number of keys with writes in flight."""
        return len(self._in_flight)
