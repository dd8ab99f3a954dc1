"""Helpers for testing code that uses daramjwee, and for testing stores.

``FaultyStore`` / ``AsyncFaultyStore`` wrap any store and inject failures and
latency into chosen operations.
"""

from ._async._faulty import AsyncFaultyStore
from ._faults import StoreFault
from ._sync._faulty import FaultyStore

__all__ = ["AsyncFaultyStore", "FaultyStore", "StoreFault"]
