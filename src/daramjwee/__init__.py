"""daramjwee: an N-tier streaming cache for Python, sync and async.

import daramjwee as dj

cache = dj.Cache(stores=[dj.MemStore("256MiB"), dj.FileStore("/var/cache/app")], positive_fresh_for=60.0)
with cache.get("user:42", fetch) as response:
    data = response.read()
"""

import logging

from ._async._cache import AsyncCache, AsyncFetcher
from ._async._filestore import AsyncFileStore
from ._async._memstore import AsyncMemStore
from ._async._response import AsyncResponse
from ._async._store import AsyncReader, AsyncSink, AsyncStore
from ._async._writer import AsyncWriter
from ._config import Config
from ._errors import (
    BackgroundJobRejected,
    CacheableNotFound,
    CacheClosed,
    ConfigError,
    DaramjweeError,
    EntryTooLarge,
    NotFound,
    NotModified,
    StoreContractError,
    TierError,
)
from ._metadata import FetchBody, FetchResult, Metadata, Status
from ._stats import CacheStats, TierStats
from ._sync._cache import Cache, Fetcher
from ._sync._filestore import FileStore
from ._sync._memstore import MemStore
from ._sync._response import Response
from ._sync._store import Reader, Sink, Store
from ._sync._writer import Writer

__version__ = "0.1.0"

# A library logs, the application decides where logs go: without this, Python's
# last-resort handler would print daramjwee's warnings to stderr.
logging.getLogger("daramjwee").addHandler(logging.NullHandler())

__all__ = [
    "AsyncCache",
    "AsyncFetcher",
    "AsyncFileStore",
    "AsyncMemStore",
    "AsyncReader",
    "AsyncResponse",
    "AsyncSink",
    "AsyncStore",
    "AsyncWriter",
    "BackgroundJobRejected",
    "Cache",
    "CacheClosed",
    "CacheStats",
    "CacheableNotFound",
    "Config",
    "ConfigError",
    "DaramjweeError",
    "EntryTooLarge",
    "FetchBody",
    "FetchResult",
    "Fetcher",
    "FileStore",
    "MemStore",
    "Metadata",
    "NotFound",
    "NotModified",
    "Reader",
    "Response",
    "Sink",
    "Status",
    "Store",
    "StoreContractError",
    "TierError",
    "TierStats",
    "Writer",
    "__version__",
]
