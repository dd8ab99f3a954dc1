"""The pure part of fleet coordination (rules Y1-Y8): words on the wire, and where an instance stands in the log.

Nothing here does I/O.  ``_async/_coordinator.py`` (and its generated sync
twin) runs the Redis side and calls into this module to decide what a
message or a resynchronisation means for the local tiers.

Two kinds of message share one pub/sub channel per coordinator prefix:

* ``F <outcome> <key>``: the holder of ``key``'s lease ended it (rule Y3);
  ``outcome`` is :data:`PUBLISHED`, :data:`FAILED` or :data:`UNCACHED`.
* ``I <epoch> <seq> <origin> <kind> <arg>``: an invalidation (rule Y5),
  also appended to a bounded log under the same sequence number.  ``kind``
  is :data:`KEY` (``arg`` a cache key), :data:`TAGS` (tags joined by
  newlines, which a tag never contains) or :data:`CLEAR` (``arg`` empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "CACHED",
    "CLEAR",
    "FAILED",
    "KEY",
    "LEASE",
    "PUBLISHED",
    "RESYNC",
    "TAGS",
    "UNAVAILABLE",
    "UNCACHED",
    "WAIT",
    "Cursor",
    "Invalidation",
    "decode_fill",
    "decode_invalidation",
    "decode_tag_list",
    "encode_entry",
    "encode_tag_list",
    "parse_entry",
]

# What a claim of a lease answers (rule Y2).
LEASE = "lease"
"""This instance holds the key's lease: it fetches, and ends the lease when the value reached the shared tiers."""
WAIT = "wait"
"""Another instance holds it: wait for its word, then read the shared tiers."""
CACHED = "cached"
"""A holder published the value since the lease was last free: read the shared tiers."""
UNAVAILABLE = "unavailable"
"""Redis cannot be reached (or was not, within ``retry_after``): fall back to this process alone (rule Y7)."""

# How a lease ends (rule Y3).
PUBLISHED = "published"
FAILED = "failed"
UNCACHED = "uncached"
OUTCOMES = frozenset({PUBLISHED, FAILED, UNCACHED})

# What an invalidation drops (rule Y5).
KEY = "key"
TAGS = "tags"
CLEAR = "clear"
RESYNC = "resync"
"""Not sent: what a receiver does when it cannot tell what it missed (rule Y6): drop its local tiers."""
KINDS = frozenset({KEY, TAGS, CLEAR})


class Invalidation(NamedTuple):
    """One entry of the invalidation log."""

    seq: int
    origin: str
    kind: str
    arg: str


def encode_tag_list(tags: Sequence[str]) -> str:
    return "\n".join(tags)


def decode_tag_list(arg: str) -> list[str]:
    return arg.split("\n") if arg else []


def encode_entry(origin: str, kind: str, arg: str) -> str:
    """What the publish script appends after the sequence number it assigns."""
    return f"{origin} {kind} {arg}"


def parse_entry(entry: str) -> Invalidation | None:
    """A log entry (``<seq> <origin> <kind> <arg>``); ``None`` if it is not one (logged by the caller)."""
    parts = entry.split(" ", 3)
    if len(parts) != 4 or not parts[0].isdigit() or parts[2] not in KINDS:
        return None
    return Invalidation(int(parts[0]), parts[1], parts[2], parts[3])


def decode_invalidation(message: str) -> tuple[str, Invalidation] | None:
    """``(epoch, entry)`` of an ``I`` message; ``None`` if it is not one."""
    head, _, rest = message.partition(" ")
    if head != "I":
        return None
    epoch, _, entry = rest.partition(" ")
    parsed = parse_entry(entry)
    return None if parsed is None or not epoch else (epoch, parsed)


def decode_fill(message: str) -> tuple[str, str] | None:
    """``(outcome, key)`` of an ``F`` message; ``None`` if it is not one."""
    parts = message.split(" ", 2)
    if len(parts) != 3 or parts[0] != "F" or parts[1] not in OUTCOMES:
        return None
    return parts[1], parts[2]


class Cursor:
    """Where one instance stands in the fleet's invalidation log: the epoch it knows and the last entry it saw.

    The log lives in Redis with a sequence counter and an epoch (a random id
    made when the counter is first used); a Redis that lost its data makes a
    new epoch.  Methods return what to apply locally, in order: the entries
    to apply (an instance never applies its own, rule Y5), or ``[RESYNC]``
    when it cannot know what it missed (rule Y6).  Not thread-safe: one
    listener owns it.
    """

    __slots__ = ("epoch", "origin", "seq")

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.epoch: str | None = None
        self.seq = 0

    def synced(self, epoch: str, seq: int, log: Sequence[str]) -> list[Invalidation | str]:
        """After (re)subscribing: the log's epoch, its last sequence number and its entries (when we were behind).

        The first sync of an instance applies nothing: what it holds locally
        was stored by this process, after it started listening.
        """
        if self.epoch is None:
            self.epoch, self.seq = epoch, seq
            return []
        if epoch != self.epoch or seq < self.seq:  # Redis lost the log (restart without persistence, eviction)
            self.epoch, self.seq = epoch, seq
            return [RESYNC]
        if seq == self.seq:
            return []
        return self._catch_up(seq, log)

    def received(self, epoch: str, entry: Invalidation, log: Sequence[str] | None) -> list[Invalidation | str] | None:
        """An ``I`` message arrived; ``None`` when the log must be read first (a gap), then call again with it."""
        if epoch != self.epoch:
            self.epoch, self.seq = epoch, entry.seq
            return [RESYNC]
        if entry.seq <= self.seq:
            return []  # seen already (it came with a catch-up)
        if entry.seq == self.seq + 1:
            self.seq = entry.seq
            return [] if entry.origin == self.origin else [entry]
        if log is None:
            return None
        return self._catch_up(entry.seq, log)

    def _catch_up(self, seq: int, log: Sequence[str]) -> list[Invalidation | str]:
        entries = [parsed for parsed in map(parse_entry, log) if parsed is not None and parsed.seq > self.seq]
        entries.sort(key=lambda parsed: parsed.seq)
        if not entries or entries[0].seq != self.seq + 1:  # the log was trimmed past where we stood
            self.seq = max(seq, entries[-1].seq if entries else 0)
            return [RESYNC]
        self.seq = max(seq, entries[-1].seq)
        return [parsed for parsed in entries if parsed.origin != self.origin]
