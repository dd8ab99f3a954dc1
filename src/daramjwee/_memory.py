"""The in-process table behind ``MemStore`` and ``AsyncMemStore`` (thread-safe, no I/O)."""

from __future__ import annotations

import threading

from ._errors import NotFound, StoreContractError
from ._metadata import Metadata
from .policy import Policy

__all__ = ["MemoryTable"]


class MemoryTable:
    """Byte-bounded key → (bytes, Metadata) map with an eviction policy.

    Only value bytes count against ``capacity`` (``None`` = unbounded).  All
    methods are thread-safe and O(1) amortized.
    """

    __slots__ = ("_capacity", "_entries", "_lock", "_policy", "_used")

    def __init__(self, capacity: int | None, policy: Policy) -> None:
        self._capacity = capacity
        self._policy = policy
        self._entries: dict[str, tuple[bytes, Metadata]] = {}
        self._used = 0
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int | None:
        return self._capacity

    def fits(self, size: int) -> bool:
        """Whether a value of ``size`` bytes can ever be stored."""
        return self._capacity is None or size <= self._capacity

    def get(self, key: str) -> tuple[bytes, Metadata]:
        # acquire/release, not ``with``: the hot path of every memory hit, and a
        # ``with`` on a lock costs about twice as much on CPython 3.11.
        lock = self._lock
        lock.acquire()
        try:
            entry = self._entries.get(key)
            if entry is None:
                raise NotFound(key)
            self._policy.access(key)
            return entry
        finally:
            lock.release()

    def peek(self, key: str) -> tuple[bytes, Metadata]:
        """Like :meth:`get`, but not an access: the eviction policy does not see it."""
        entry = self._entries.get(key)
        if entry is None:
            raise NotFound(key)
        return entry

    def stat(self, key: str) -> Metadata:
        entry = self._entries.get(key)
        if entry is None:
            raise NotFound(key)
        return entry[1]

    def put(self, key: str, value: bytes, metadata: Metadata) -> bool:
        """Store ``value``, then evict until the capacity holds.

        Returns False, changing nothing, if the value can never fit; also False
        if the policy chose the new value itself as a victim (it is then gone).
        Raises :class:`StoreContractError` if the policy names a victim the
        table does not hold: the new value is then withdrawn, and ``used``
        still equals the bytes stored and stays within the capacity.
        """
        size = len(value)
        if not self.fits(size):
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= len(old[0])
                self._policy.remove(key)
            self._entries[key] = (value, metadata)
            self._used += size
            self._policy.insert(key, size)
            if self._capacity is not None:
                while self._used > self._capacity:
                    victim = self._policy.evict()
                    evicted = self._entries.pop(victim, None)
                    if evicted is None:
                        # Withdraw the newcomer: what is left is what was stored before it, less the
                        # entries evicted meanwhile, so ``used`` is back within the capacity.
                        if self._entries.pop(key, None) is not None:
                            self._used -= size
                            self._policy.remove(key)
                        raise StoreContractError(
                            f"eviction policy {type(self._policy).__name__} chose {victim!r}, which the store "
                            f"does not hold; {key!r} was not stored"
                        )
                    self._used -= len(evicted[0])
            return key in self._entries

    def delete(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= len(old[0])
                self._policy.remove(key)

    @property
    def used(self) -> int:
        """Value bytes currently stored."""
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
