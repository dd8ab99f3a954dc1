"""The bookkeeping shared by the stores of this process's memory and disk: sizes, in an eviction policy's order."""

from __future__ import annotations

from .policy import Policy

__all__ = ["Indexed", "SizedIndex"]


class SizedIndex:
    """The size of each key a store holds, their total, and the eviction policy that orders them.

    Shared by ``MemoryTable`` (``MemStore``) and ``FileDirectory``
    (``FileStore``), which keep what the keys map to themselves.  Not
    thread-safe: each owner calls it under its own lock, together with the
    change to what it keeps.
    """

    __slots__ = ("capacity", "policy", "sizes", "used")

    def __init__(self, capacity: int | None, policy: Policy) -> None:
        self.capacity = capacity
        """The most bytes to hold (``None`` = unbounded)."""
        self.policy = policy
        self.sizes: dict[str, int] = {}
        self.used = 0
        """The sum of ``sizes``."""

    def fits(self, size: int) -> bool:
        """Whether an entry of ``size`` bytes can ever be held."""
        return self.capacity is None or size <= self.capacity

    def add(self, key: str, size: int) -> None:
        """Index ``key`` with ``size`` bytes, replacing what was indexed for it."""
        old = self.sizes.get(key)
        if old is not None:
            self.used -= old
            self.policy.remove(key)
        self.sizes[key] = size
        self.used += size
        self.policy.insert(key, size)

    def forget(self, key: str) -> int | None:
        """Drop ``key``, if it is indexed; its size, else ``None``."""
        size = self.sizes.pop(key, None)
        if size is not None:
            self.used -= size
            self.policy.remove(key)
        return size

    def over_capacity(self) -> bool:
        """Whether more bytes are indexed than the capacity allows."""
        return self.capacity is not None and self.used > self.capacity

    def evict(self) -> tuple[str, int | None]:
        """Drop the policy's next victim: its key and size (``None``: the policy named a key not indexed)."""
        victim = self.policy.evict()
        size = self.sizes.pop(victim, None)
        if size is not None:
            self.used -= size
        return victim, size

    def __len__(self) -> int:
        return len(self.sizes)

    def __contains__(self, key: object) -> bool:
        return key in self.sizes


class Indexed:
    """What an owner of a :class:`SizedIndex` (in ``_index``) answers from it: its capacity, bytes used, keys."""

    __slots__ = ()
    _index: SizedIndex

    @property
    def capacity(self) -> int | None:
        """The most bytes to hold (``None`` = unbounded)."""
        return self._index.capacity

    def fits(self, size: int) -> bool:
        """Whether an entry of ``size`` bytes can ever be stored."""
        return self._index.fits(size)

    @property
    def used(self) -> int:
        """Bytes currently stored."""
        return self._index.used

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index
