"""The in-process table behind ``MemStore`` and ``AsyncMemStore`` (thread-safe, no I/O)."""

from __future__ import annotations

import threading

from ._errors import NotFound, StoreContractError
from ._index import Indexed, SizedIndex
from ._metadata import Metadata
from .policy import Policy

__all__ = ["MemoryTable"]


class MemoryTable(Indexed):
    """Byte-bounded key → (bytes, Metadata) map with an eviction policy.

    Only value bytes count against ``capacity`` (``None`` = unbounded).  All
    methods are thread-safe and O(1) amortized.
    """

    __slots__ = ("_entries", "_index", "_lock", "_policy")

    def __init__(self, capacity: int | None, policy: Policy) -> None:
        self._index = SizedIndex(capacity, policy)
        self._policy = policy  # the index's, kept here for the hot path of :meth:`get`
        self._entries: dict[str, tuple[bytes, Metadata]] = {}
        self._lock = threading.Lock()

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
        entries = self._entries
        index = self._index
        with self._lock:
            entries.pop(key, None)
            entries[key] = (value, metadata)
            index.add(key, size)  # the index holds exactly the keys of ``entries``, with their values' sizes
            while index.over_capacity():
                victim, evicted = index.evict()
                if evicted is None:
                    # Withdraw the newcomer: what is left is what was stored before it, less the
                    # entries evicted meanwhile, so ``used`` is back within the capacity.
                    if entries.pop(key, None) is not None:
                        index.forget(key)
                    raise StoreContractError(
                        f"eviction policy {type(self._policy).__name__} chose {victim!r}, which the store "
                        f"does not hold; {key!r} was not stored"
                    )
                del entries[victim]
            return key in entries

    def delete(self, key: str) -> None:
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._index.forget(key)

    def clear(self) -> None:
        """Remove every entry (values already handed out are immutable ``bytes``: their readers keep them)."""
        with self._lock:
            for key in self._entries:
                self._index.forget(key)
            self._entries.clear()
