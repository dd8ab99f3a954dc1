"""Helpers for testing code that uses daramjwee, and for testing stores.

``FaultyStore`` / ``AsyncFaultyStore`` wrap any store and inject failures and
latency into chosen operations.

``StoreConformance`` / ``AsyncStoreConformance`` are the store contract
(rules K1-K4 of docs/design.md) as a pytest suite for your own store: subclass one under a name
pytest collects and implement ``make_store`` (an ``async def`` for the async
suite) to return a fresh, empty store::

    class TestMyStore(StoreConformance):
        def make_store(self) -> MyStore:
            return MyStore(tempfile.mkdtemp())

The async suite's tests are coroutines and need an asyncio plugin such as
pytest-asyncio.  Importing this module does not import pytest.
"""

from ._async._conformance import AsyncStoreConformance
from ._async._faulty import AsyncFaultyStore
from ._faults import StoreFault
from ._sync._conformance import StoreConformance
from ._sync._faulty import FaultyStore

__all__ = ["AsyncFaultyStore", "AsyncStoreConformance", "FaultyStore", "StoreConformance", "StoreFault"]
