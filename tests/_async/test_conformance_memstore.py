"""The store conformance suite (``daramjwee.testing``) on the built-in memory store and the fault-injecting wrapper."""

from __future__ import annotations

import daramjwee as dj
from daramjwee.testing import AsyncFaultyStore, AsyncStoreConformance


class TestMemStoreConformance(AsyncStoreConformance):
    @property
    def memory_bound(self) -> int:
        """The store holds the value in memory, and once more while it joins the written chunks at commit."""
        return 2 * self.large_value_size + 16 * 1024 * 1024

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncMemStore()


class TestFaultyStoreConformance(TestMemStoreConformance):
    """A wrapper with no faults planned keeps the contract of the store it wraps."""

    async def make_store(self) -> dj.AsyncStore:
        return AsyncFaultyStore(dj.AsyncMemStore())
