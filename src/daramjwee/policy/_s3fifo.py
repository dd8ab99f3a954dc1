"""S3-FIFO: three static FIFO queues (Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23)."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["S3FIFO"]

_MAX_FREQUENCY = 3
"""Frequencies are 2-bit counters: hits beyond this are not counted."""

_SMALL_SHARE_PERCENT = 10
"""The small queue's share of the held bytes; the main queue has the rest."""


class S3FIFO:
    """S3-FIFO: a small probationary FIFO, a main FIFO and a ghost FIFO of keys.

    The rule:

    * a new key enters the *small* queue with frequency 0, or the *main* queue
      if it is in the *ghost* queue (it was evicted from the small queue
      recently and came back);
    * a hit raises the key's frequency by one, up to 3 (lazy promotion: a hit
      never moves a key);
    * eviction takes from the small queue while it holds at least 10% of the
      held bytes (or the main queue is empty), otherwise from the main queue.
      The small queue's oldest key moves to the main queue (frequency reset to
      0) if it was hit while in the small queue; otherwise it is evicted and
      remembered in the ghost queue.  The main queue's oldest key is evicted
      if its frequency is 0; otherwise it is reinserted as the main queue's
      newest with its frequency decreased by one;
    * the ghost queue holds keys only, never more than the main queue holds,
      and forgets its oldest first.

    ``insert`` and ``access`` are O(1); ``remove`` is O(1) amortized (each
    ghost is forgotten once).  ``evict`` is O(1) amortized (each step of its
    scan consumes a hit or a promotion) and looks at most ``scan_limit`` keys:
    past that it evicts the next key in plain FIFO order whatever its
    frequency, so one eviction stays bounded even when every key is hot.
    """

    __slots__ = ("_frequency", "_ghost", "_main", "_main_bytes", "_scan_limit", "_small", "_small_bytes")

    def __init__(self, *, scan_limit: int = 512) -> None:
        if scan_limit < 1:
            raise ValueError(f"scan_limit must be at least 1, got {scan_limit}")
        self._scan_limit = scan_limit
        self._small: OrderedDict[str, int] = OrderedDict()  # key -> size, oldest first
        self._main: OrderedDict[str, int] = OrderedDict()
        self._ghost: OrderedDict[str, None] = OrderedDict()
        self._frequency: dict[str, int] = {}  # every held key
        self._small_bytes = 0
        self._main_bytes = 0

    def insert(self, key: str, size: int) -> None:
        self._frequency[key] = 0
        if key in self._ghost:
            del self._ghost[key]
            self._main[key] = size
            self._main_bytes += size
        else:
            self._small[key] = size
            self._small_bytes += size

    def access(self, key: str) -> None:
        frequency = self._frequency
        count = frequency[key]
        if count < _MAX_FREQUENCY:
            frequency[key] = count + 1

    def remove(self, key: str) -> None:
        if self._frequency.pop(key, None) is None:
            return
        size = self._small.pop(key, None)
        if size is None:
            self._main_bytes -= self._main.pop(key)
            self._trim_ghost()
        else:
            self._small_bytes -= size

    def evict(self) -> str:
        small, main, frequency = self._small, self._main, self._frequency
        for _ in range(self._scan_limit):
            if self._small_turn():
                key, size = small.popitem(last=False)
                self._small_bytes -= size
                if frequency[key]:
                    frequency[key] = 0
                    main[key] = size
                    self._main_bytes += size
                    continue
                return self._forget_small(key)
            if not main:
                raise KeyError("evict() from an empty policy")
            key = next(iter(main))
            count = frequency[key]
            if not count:
                return self._forget_main(key)
            frequency[key] = count - 1
            main.move_to_end(key)
        if self._small_turn():
            key, size = small.popitem(last=False)
            self._small_bytes -= size
            return self._forget_small(key)
        return self._forget_main(next(iter(main)))

    def _small_turn(self) -> bool:
        """Whether the next eviction step takes from the small queue."""
        small_bytes = self._small_bytes
        return bool(self._small) and (
            not self._main or small_bytes * 100 >= (small_bytes + self._main_bytes) * _SMALL_SHARE_PERCENT
        )

    def _forget_small(self, key: str) -> str:
        """Evict ``key``, already out of the small queue, into the ghost queue."""
        del self._frequency[key]
        self._ghost[key] = None
        self._trim_ghost()
        return key

    def _forget_main(self, key: str) -> str:
        self._main_bytes -= self._main.pop(key)
        del self._frequency[key]
        self._trim_ghost()
        return key

    def _trim_ghost(self) -> None:
        """Forget the oldest ghosts until there are no more than keys in the main queue."""
        ghost = self._ghost
        while len(ghost) > len(self._main):
            ghost.popitem(last=False)

    def __len__(self) -> int:
        return len(self._frequency)
