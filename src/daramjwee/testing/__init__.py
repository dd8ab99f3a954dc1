"""Helpers for testing code that uses daramjwee, and for testing stores.

``FaultyStore`` / ``AsyncFaultyStore`` wrap any store and inject failures and
latency into chosen operations.

``StoreConformance`` / ``AsyncStoreConformance`` are the store contract
(rules K1-K5 of docs/design.md) as a pytest suite for your own store: subclass one under a name
pytest collects and implement ``make_store`` (an ``async def`` for the async
suite) to return a fresh, empty store::

    class TestMyStore(StoreConformance):
        def make_store(self) -> MyStore:
            return MyStore(tempfile.mkdtemp())

The async suite's tests are coroutines and need an asyncio plugin such as
pytest-asyncio.  Importing this module does not import pytest.

``RedisServer``, ``MotoServer`` (moto's S3 API) and ``HttpServer`` (any HTTP
server command) run real servers on loopback as child processes, for tests of
the shared tiers and of ``daramjwee serve``; ``free_port`` finds a port for
one.  They are imported on first use.
"""

import importlib
from typing import TYPE_CHECKING

from ._async._conformance import AsyncStoreConformance
from ._async._faulty import AsyncFaultyStore
from ._faults import StoreFault
from ._sync._conformance import StoreConformance
from ._sync._faulty import FaultyStore

if TYPE_CHECKING:
    from ._loopback import HttpServer, MotoServer, RedisServer, free_port

# The loopback servers need subprocess and urllib.request: imported on first use,
# so that a test importing FaultyStore (or ``daramjwee demo``) does not pay for them.
_LAZY = {"HttpServer": "._loopback", "MotoServer": "._loopback", "RedisServer": "._loopback", "free_port": "._loopback"}


def __getattr__(name: str) -> object:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'daramjwee.testing' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncFaultyStore",
    "AsyncStoreConformance",
    "FaultyStore",
    "HttpServer",
    "MotoServer",
    "RedisServer",
    "StoreConformance",
    "StoreFault",
    "free_port",
]
