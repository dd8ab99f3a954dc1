"""W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", 2017)."""

from __future__ import annotations

from collections import OrderedDict

from ._sketch import FrequencySketch

__all__ = ["TinyLFU"]

_WINDOW_PERCENT = 1
"""The window's share of the held bytes."""

_PROTECTED_PERCENT = 80
"""The protected segment's share of the main space's bytes; probation has the rest."""

_INITIAL_SKETCH_KEYS = 64


class TinyLFU:
    """W-TinyLFU: a small LRU window in front of a segmented LRU, guarded by a frequency filter.

    The rule:

    * every insert and access is recorded in a :class:`FrequencySketch`
      (count-min sketch with a doorkeeper, halved periodically);
    * a new key enters the *window*, an LRU holding about 1% of the held
      bytes.  Keys pushed out of the window's LRU end move to the *probation*
      segment as admission *candidates*;
    * to evict while a candidate is pending, the oldest candidate is compared
      with the main victim (the LRU end of probation, or of *protected* when
      that end is a candidate too): the one with the lower estimated frequency
      is evicted, the candidate on a tie or when there is no victim.  A
      candidate that wins is admitted.  Candidates not challenged before the
      next insert were admitted: the store had room for them;
    * without a pending candidate, eviction takes probation's LRU end, else
      protected's, else the window's;
    * a hit in the window refreshes it there; a hit in probation promotes the
      key to protected, which holds at most 80% of the main bytes (or a single
      key) and demotes its LRU end back to probation when over; a hit in
      protected refreshes it.

    The sketch is sized for the number of keys held and rebuilt twice as large
    (forgetting the counts) when that number outgrows it.  Every operation is
    O(1) amortized (demotions are paid by earlier promotions, sketch rebuilds
    by the inserts that doubled the key count).
    """

    __slots__ = (
        "_candidates",
        "_frequency",
        "_probation",
        "_probation_bytes",
        "_protected",
        "_protected_bytes",
        "_window",
        "_window_bytes",
    )

    def __init__(self) -> None:
        self._frequency = FrequencySketch(_INITIAL_SKETCH_KEYS)
        self._window: OrderedDict[str, int] = OrderedDict()  # key -> size, least recent first
        self._probation: OrderedDict[str, int] = OrderedDict()
        self._protected: OrderedDict[str, int] = OrderedDict()
        self._candidates: OrderedDict[str, None] = OrderedDict()  # in probation, oldest first
        self._window_bytes = 0
        self._probation_bytes = 0
        self._protected_bytes = 0

    def insert(self, key: str, size: int) -> None:
        self._candidates.clear()
        if len(self) >= self._frequency.capacity:
            self._frequency = FrequencySketch(2 * self._frequency.capacity)
        self._frequency.record(key)
        window = self._window
        window[key] = size
        self._window_bytes += size
        total = self._window_bytes + self._probation_bytes + self._protected_bytes
        while window and self._window_bytes * 100 > total * _WINDOW_PERCENT:
            moved, moved_size = window.popitem(last=False)
            self._window_bytes -= moved_size
            self._probation[moved] = moved_size
            self._probation_bytes += moved_size
            self._candidates[moved] = None

    def access(self, key: str) -> None:
        self._frequency.record(key)
        if key in self._window:
            self._window.move_to_end(key)
            return
        size = self._probation.pop(key, None)
        if size is None:
            self._protected.move_to_end(key)
            return
        self._probation_bytes -= size
        self._candidates.pop(key, None)
        protected = self._protected
        protected[key] = size
        self._protected_bytes += size
        while len(protected) > 1 and self._protected_bytes * 100 > self._main_bytes() * _PROTECTED_PERCENT:
            demoted, demoted_size = protected.popitem(last=False)
            self._protected_bytes -= demoted_size
            self._probation[demoted] = demoted_size
            self._probation_bytes += demoted_size

    def remove(self, key: str) -> None:
        size = self._window.pop(key, None)
        if size is not None:
            self._window_bytes -= size
            return
        size = self._probation.pop(key, None)
        if size is not None:
            self._probation_bytes -= size
            self._candidates.pop(key, None)
            return
        size = self._protected.pop(key, None)
        if size is not None:
            self._protected_bytes -= size

    def evict(self) -> str:
        if self._candidates:
            candidate = next(iter(self._candidates))
            victim = self._main_victim()
            del self._candidates[candidate]
            if victim is not None and self._frequency.estimate(candidate) > self._frequency.estimate(victim):
                return self._evict_main(victim)
            return self._evict_main(candidate)
        for segment in (self._probation, self._protected):
            if segment:
                return self._evict_main(next(iter(segment)))
        if not self._window:
            raise KeyError("evict() from an empty policy")
        key, size = self._window.popitem(last=False)
        self._window_bytes -= size
        return key

    def _main_victim(self) -> str | None:
        """The main key a candidate competes with: probation's LRU end unless a candidate, else protected's."""
        if self._probation:
            oldest = next(iter(self._probation))
            if oldest not in self._candidates:
                return oldest
        return next(iter(self._protected), None)

    def _evict_main(self, key: str) -> str:
        size = self._probation.pop(key, None)
        if size is None:
            self._protected_bytes -= self._protected.pop(key)
        else:
            self._probation_bytes -= size
        return key

    def _main_bytes(self) -> int:
        return self._probation_bytes + self._protected_bytes

    def __len__(self) -> int:
        return len(self._window) + len(self._probation) + len(self._protected)
