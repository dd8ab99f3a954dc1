"""Eviction policies for the byte-bounded stores.

A policy only orders keys; the store owns sizes and values.  Each policy is a
small class with O(1) amortized operations and no locking of its own: the
store calls it under the store's lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["LRU", "Policy", "make_policy"]


@runtime_checkable
class Policy(Protocol):
    """What a store needs from an eviction policy."""

    def insert(self, key: str, size: int) -> None:
        """``key`` (``size`` bytes) was added to the store; it was not there before.

        An admission policy may pick the newcomer itself as the next victim.
        """

    def access(self, key: str) -> None:
        """``key`` was read."""

    def remove(self, key: str) -> None:
        """``key`` left the store for another reason than eviction (delete, replace)."""

    def evict(self) -> str:
        """Choose the next victim, forget it, and return it.  ``KeyError`` when empty."""


class LRU:
    """Least recently used."""

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


_POLICIES: dict[str, type[Policy]] = {"lru": LRU}


def make_policy(policy: str | Policy) -> Policy:
    """Return a fresh policy for a name (``"lru"``) or pass an instance through."""
    if isinstance(policy, str):
        try:
            return _POLICIES[policy]()
        except KeyError:
            raise ValueError(f"unknown eviction policy {policy!r}; choose one of {sorted(_POLICIES)}") from None
    if isinstance(policy, type):
        raise TypeError(f"policy must be a name or a policy instance, got the class {policy.__name__}; call it")
    if isinstance(policy, Policy):
        return policy
    raise TypeError(f"policy must be a name or a daramjwee.policy.Policy, got {type(policy).__name__}")
