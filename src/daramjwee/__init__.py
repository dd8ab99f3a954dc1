"""daramjwee: an N-tier streaming cache for Python, sync and async.

import daramjwee as dj

cache = dj.Cache(stores=[dj.MemStore("256MiB"), dj.FileStore("/var/cache/app")], positive_fresh_for=60.0)
with cache.get("user:42", fetch) as response:
    data = response.read()
"""

import importlib
import logging
from typing import TYPE_CHECKING

from ._config import Config
from ._errors import (
    BackgroundJobRejected,
    CacheableNotFound,
    CacheClosed,
    ConfigError,
    CorruptEntry,
    DaramjweeError,
    DecodeError,
    EntryTooLarge,
    NotFound,
    NotModified,
    RangeNotSatisfiable,
    SignatureError,
    StoreContractError,
    TierError,
)
from ._metadata import FetchBody, FetchResult, Metadata, Status
from ._observer import FetchOutcome, Observer, Probe, ReadOutcome, TierOutcome
from ._ranges import ByteRange, ContentRange
from ._stats import CacheStats, TierStats
from ._sync._cache import Cache, Fetcher
from ._sync._cached import CachedFunction
from ._sync._filestore import FileStore
from ._sync._memstore import MemStore
from ._sync._response import Response
from ._sync._store import Reader, Sink, Store
from ._sync._writer import Writer
from ._units import parse_capacity
from .serializers import (
    BytesSerializer,
    JsonSerializer,
    MsgpackSerializer,
    Serializer,
    SignedPickleSerializer,
    StrSerializer,
)

if TYPE_CHECKING:
    from ._async._cache import AsyncCache, AsyncFetcher
    from ._async._cached import AsyncCachedFunction
    from ._async._coordinator import AsyncRedisCoordinator
    from ._async._filestore import AsyncFileStore
    from ._async._memstore import AsyncMemStore
    from ._async._objectstore import AsyncObjectStore
    from ._async._redisstore import AsyncRedisStore
    from ._async._response import AsyncResponse
    from ._async._store import AsyncReader, AsyncSink, AsyncStore
    from ._async._writer import AsyncWriter
    from ._sync._coordinator import RedisCoordinator
    from ._sync._objectstore import ObjectStore
    from ._sync._redisstore import RedisStore

# The one source of the version: pyproject.toml reads it (without importing the package) and
# `daramjwee --version` prints it.
__version__ = "0.1.0"

# The async flavour is imported on first use: a sync-only application never
# loads it, nor asyncio (a good part of the import time).
_ASYNC = {
    "AsyncCache": "._async._cache",
    "AsyncFetcher": "._async._cache",
    "AsyncCachedFunction": "._async._cached",
    "AsyncFileStore": "._async._filestore",
    "AsyncMemStore": "._async._memstore",
    "AsyncResponse": "._async._response",
    "AsyncReader": "._async._store",
    "AsyncSink": "._async._store",
    "AsyncStore": "._async._store",
    "AsyncWriter": "._async._writer",
}
# The stores of shared tiers need a client library (an extra); they are
# imported on first use, so ``import daramjwee`` needs nothing but the
# standard library.
_OPTIONAL = {
    "AsyncObjectStore": ("._async._objectstore", "s3", "obstore"),
    "ObjectStore": ("._sync._objectstore", "s3", "obstore"),
    "AsyncRedisStore": ("._async._redisstore", "redis", "redis"),
    "RedisStore": ("._sync._redisstore", "redis", "redis"),
    "AsyncRedisCoordinator": ("._async._coordinator", "redis", "redis"),
    "RedisCoordinator": ("._sync._coordinator", "redis", "redis"),
}


def __getattr__(name: str) -> object:
    """The async names and the stores of optional tiers, imported on first use; ``ImportError`` names the extra."""
    if name in _ASYNC:
        module = importlib.import_module(_ASYNC[name], __name__)
    elif name in _OPTIONAL:
        module_name, extra, package = _OPTIONAL[name]
        try:
            module = importlib.import_module(module_name, __name__)
        except ModuleNotFoundError as error:
            if error.name != package:
                raise
            raise ImportError(f"daramjwee.{name} needs {package}: pip install 'daramjwee[{extra}]'") from error
    else:
        raise AttributeError(f"module 'daramjwee' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# A library logs, the application decides where logs go: without this, Python's
# last-resort handler would print daramjwee's warnings to stderr.
logging.getLogger("daramjwee").addHandler(logging.NullHandler())

__all__ = [
    "AsyncCache",
    "AsyncCachedFunction",
    "AsyncFetcher",
    "AsyncFileStore",
    "AsyncMemStore",
    "AsyncObjectStore",
    "AsyncReader",
    "AsyncRedisCoordinator",
    "AsyncRedisStore",
    "AsyncResponse",
    "AsyncSink",
    "AsyncStore",
    "AsyncWriter",
    "BackgroundJobRejected",
    "ByteRange",
    "BytesSerializer",
    "Cache",
    "CacheClosed",
    "CacheStats",
    "CacheableNotFound",
    "CachedFunction",
    "Config",
    "ConfigError",
    "ContentRange",
    "CorruptEntry",
    "DaramjweeError",
    "DecodeError",
    "EntryTooLarge",
    "FetchBody",
    "FetchOutcome",
    "FetchResult",
    "Fetcher",
    "FileStore",
    "JsonSerializer",
    "MemStore",
    "Metadata",
    "MsgpackSerializer",
    "NotFound",
    "NotModified",
    "ObjectStore",
    "Observer",
    "Probe",
    "RangeNotSatisfiable",
    "ReadOutcome",
    "Reader",
    "RedisCoordinator",
    "RedisStore",
    "Response",
    "Serializer",
    "SignatureError",
    "SignedPickleSerializer",
    "Sink",
    "Status",
    "Store",
    "StoreContractError",
    "StrSerializer",
    "TierError",
    "TierOutcome",
    "TierStats",
    "Writer",
    "__version__",
    "parse_capacity",
]
