"""The tier chains of a process: one :class:`daramjwee.Cache` per configuration, shared by every backend instance.

Django makes a backend instance per thread (and per async context) and calls
its ``close()`` after every request; the chain behind them must outlive all
of that, as ``LocMemCache``'s dictionaries do.  So chains live here, keyed by
their :class:`ChainOptions`, and are closed (their fan-outs to the lower
tiers drained) when the interpreter exits, or by :func:`close_chains`.  A
chain built before a ``fork`` is not used by the child: it builds its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ... import Cache, ConfigError, FileStore, MemStore, Store
from ._options import ChainOptions

__all__ = ["Chain", "chain_for", "close_chains"]

_STRIPES = 64


class Chain:
    """A cache and the locks that make ``add``/``incr``/``touch`` of one key atomic within this process."""

    __slots__ = ("_locks", "cache", "pid")

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.pid = os.getpid()
        self._locks = tuple(threading.Lock() for _ in range(_STRIPES))

    def lock(self, key: str) -> threading.Lock:
        """The lock of ``key`` (one of a fixed set: keys may share one, never one key two)."""
        return self._locks[hash(key) % _STRIPES]


_chains: dict[ChainOptions, Chain] = {}
_registry = threading.Lock()
_at_exit = False


def chain_for(options: ChainOptions) -> Chain:
    """The chain of ``options`` in this process, built on first use.

    Raises :class:`ImproperlyConfigured` when a store cannot be built (the
    file tier's directory cannot be made, the ``redis`` extra is missing).
    """
    global _at_exit  # noqa: PLW0603 (one process-wide hook)
    with _registry:
        chain = _chains.get(options)
        if chain is None or chain.pid != os.getpid():
            chain = _chains[options] = Chain(Cache(stores=_stores(options)))
            if not _at_exit:
                atexit.register(close_chains)
                _at_exit = True
        return chain


def close_chains() -> None:
    """Close every chain built so far (draining fan-outs to the lower tiers) and forget them.

    The next backend call builds its chain again, from the same tiers: a file
    or Redis tier keeps what was written, a memory tier starts empty.  Runs at
    interpreter exit; call it yourself before a process ends some other way.
    """
    with _registry:
        chains = [chain for chain in _chains.values() if chain.pid == os.getpid()]
        _chains.clear()
    for chain in chains:
        chain.cache.close()


def _stores(options: ChainOptions) -> list[Store]:
    stores: list[Store] = []
    try:
        if options.memory is not None:
            stores.append(MemStore(options.memory))
        if options.directory is not None:
            stores.append(FileStore(options.directory, options.disk))
        if options.redis is not None:
            stores.append(_redis_store(options.redis, options.redis_prefix))
    except (ConfigError, OSError) as error:
        for store in stores:
            store.close()
        raise ImproperlyConfigured(f"DaramjweeCache cannot build its tiers: {error}") from error
    return stores


def _redis_store(url: str, prefix: str) -> Any:
    try:
        from ... import RedisStore  # noqa: PLC0415 (the redis extra)
    except ImportError as error:
        raise ImproperlyConfigured(f"OPTIONS 'redis' needs the redis client: {error}") from error
    return RedisStore(url, prefix=prefix)
