"""SIEVE: one FIFO queue, visited bits and a moving hand (Zhang et al., "SIEVE is simpler than LRU", NSDI'24)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["Sieve"]


class Sieve:
    """SIEVE: keys in insertion order with a visited bit each, and a hand.

    The rule: a new key goes to the head of the queue, not visited; a hit sets
    the key's visited bit and moves nothing.  To evict, the hand walks from
    where it stopped last time toward the head, clearing visited bits, and
    evicts the first key that is not visited; past the head it wraps around to
    the tail.  After an eviction the hand rests on the evicted key's neighbour
    toward the head (the tail if the evicted key was the head), so it survives
    evicting the key it points at, the last key included.

    The queue is kept as two ordered dicts, which makes every step an O(1)
    dict operation and leaves no pointer to dangle: ``_swept`` holds the keys
    from the tail up to the hand, ``_unswept`` the keys from the hand (its
    first key) to the head.  ``_unswept`` is empty only when both are.

    ``insert``, ``access`` and ``remove`` are O(1).  ``evict`` is O(1)
    amortized (each skipped key consumes a hit) and skips at most
    ``scan_limit`` keys: past that it evicts the key under the hand whatever
    its bit, so one eviction stays bounded even when every key is hot.
    """

    __slots__ = ("_scan_limit", "_swept", "_unswept", "_visited", "access")

    def __init__(self, *, scan_limit: int = 512) -> None:
        if scan_limit < 1:
            raise ValueError(f"scan_limit must be at least 1, got {scan_limit}")
        self._scan_limit = scan_limit
        self._unswept: OrderedDict[str, None] = OrderedDict()
        self._swept: OrderedDict[str, None] = OrderedDict()
        self._visited: set[str] = set()
        # A hit only sets the visited bit: the set's own C method, no Python frame per hit.
        self.access: Callable[[str], None] = self._visited.add

    def insert(self, key: str, size: int) -> None:
        self._visited.discard(key)
        self._unswept[key] = None

    def remove(self, key: str) -> None:
        self._visited.discard(key)
        if key in self._unswept:
            del self._unswept[key]
            self._wrap()
        else:
            self._swept.pop(key, None)

    def evict(self) -> str:
        unswept, visited = self._unswept, self._visited
        if not unswept:
            raise KeyError("evict() from an empty policy")
        for _ in range(self._scan_limit):
            key = next(iter(unswept))
            if key not in visited:
                break
            visited.discard(key)
            del unswept[key]
            self._swept[key] = None
            if not unswept:
                self._wrap()
                unswept = self._unswept
        else:
            key = next(iter(unswept))
            visited.discard(key)
        del unswept[key]
        self._wrap()
        return key

    def _wrap(self) -> None:
        """Move the hand to the tail if it went past the head."""
        if not self._unswept:
            self._unswept, self._swept = self._swept, self._unswept

    def __len__(self) -> int:
        return len(self._unswept) + len(self._swept)
