"""Eviction policies for the byte-bounded stores.

A policy only orders keys; the store owns sizes and values.  Each policy is a
small class with O(1) amortized operations, no I/O and no locking of its own:
the store calls it under the store's lock.  A store drives a policy like this:
``insert(key, size)`` for a new key, then ``evict()`` until the store is under
its capacity (the victim may be the newcomer itself when the policy filters
admissions); ``access(key)`` on every hit; ``remove(key)`` when a key leaves
for another reason (delete, replace).

Built in, by name for :func:`make_policy`:

* ``"lru"`` — :class:`LRU`, least recently used;
* ``"s3fifo"`` — :class:`S3FIFO`, small/main/ghost FIFO queues (SOSP'23);
* ``"sieve"`` — :class:`Sieve`, one FIFO queue with visited bits and a hand (NSDI'24);
* ``"tinylfu"`` — :class:`TinyLFU`, W-TinyLFU with a count-min sketch and a doorkeeper.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._lru import LRU
from ._s3fifo import S3FIFO
from ._sieve import Sieve
from ._tinylfu import TinyLFU

__all__ = ["LRU", "POLICIES", "S3FIFO", "Policy", "Sieve", "TinyLFU", "make_policy"]


@runtime_checkable
class Policy(Protocol):
    """What a store needs from an eviction policy."""

    def insert(self, key: str, size: int) -> None:
        """``key`` (``size`` bytes) was added to the store; it was not there before.

        An admission policy may pick the newcomer itself as the next victim.
        """

    def access(self, key: str) -> None:
        """``key``, which the policy holds, was read (a key it does not hold may raise ``KeyError``)."""

    def remove(self, key: str) -> None:
        """``key`` left the store for another reason than eviction (delete, replace); a no-op if not held."""

    def evict(self) -> str:
        """Choose the next victim, forget it, and return it.  ``KeyError`` when empty."""


_CLASSES: dict[str, type[Policy]] = {"lru": LRU, "s3fifo": S3FIFO, "sieve": Sieve, "tinylfu": TinyLFU}

POLICIES: tuple[str, ...] = tuple(_CLASSES)
"""The names :func:`make_policy` accepts."""


def make_policy(policy: str | Policy) -> Policy:
    """Return a fresh policy for a name in :data:`POLICIES`, or pass a policy instance through."""
    if isinstance(policy, str):
        try:
            return _CLASSES[policy]()
        except KeyError:
            raise ValueError(f"unknown eviction policy {policy!r}; choose one of {sorted(_CLASSES)}") from None
    if isinstance(policy, type):
        raise TypeError(f"policy must be a name or a policy instance, got the class {policy.__name__}; call it")
    if isinstance(policy, Policy):
        return policy
    raise TypeError(f"policy must be a name or a daramjwee.policy.Policy, got {type(policy).__name__}")
