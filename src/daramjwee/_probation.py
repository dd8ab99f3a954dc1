"""Promotion probation: promote a key only on its second lower-tier hit (rule P5)."""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["Probation"]


class Probation:
    """A bounded FIFO memory of keys seen once; thread-safe."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("probation size must be >= 1")
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str) -> bool:
        """True if ``key`` was seen before (and forget it); else remember it and return False."""
        with self._lock:
            if key in self._seen:
                del self._seen[key]
                return True
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return False
