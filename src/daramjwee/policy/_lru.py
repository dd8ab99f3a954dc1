"""Least recently used."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["LRU"]


class LRU:
    """Least recently used: evict the key whose last insert or access is the oldest.

    One ordered dict in recency order; every operation is O(1).
    """

    __slots__ = ("_order", "access")

    def __init__(self) -> None:
        self._order: OrderedDict[str, None] = OrderedDict()
        # ``access`` is the ordered dict's own C method: every memory hit calls it,
        # and binding it here saves a Python frame per hit.
        self.access: Callable[[str], None] = self._order.move_to_end

    def insert(self, key: str, size: int) -> None:
        self._order[key] = None

    def remove(self, key: str) -> None:
        self._order.pop(key, None)

    def evict(self) -> str:
        if not self._order:
            raise KeyError("evict() from an empty policy")
        return self._order.popitem(last=False)[0]

    def __len__(self) -> int:
        return len(self._order)
