"""``DaramjweeCache``: Django's cache API over a daramjwee tier chain (see the package docstring for the contract)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from ... import DecodeError, Metadata, NotFound, SignatureError, SignedPickleSerializer, TierError
from ._chains import chain_for
from ._options import parse_options

__all__ = ["DaramjweeCache"]

logger = logging.getLogger("daramjwee.contrib.django")

_MISSING: Any = object()
_KEY_SALT = "daramjwee.contrib.django.DaramjweeCache"


def _miss(old: Metadata | None) -> Any:
    """The fetcher of every read: there is no origin, so a key no tier holds (fresh) is a miss."""
    raise NotFound("not cached")


@functools.lru_cache(maxsize=8)
def _serializer(secrets: tuple[str | bytes, ...]) -> SignedPickleSerializer:
    """Signed pickle under keys derived from ``secrets`` (the first signs; all verify)."""
    keys = [
        salted_hmac(_KEY_SALT, "value signing key", secret=secret, algorithm="sha256").digest() for secret in secrets
    ]
    return SignedPickleSerializer(keys)


def _signing_serializer() -> SignedPickleSerializer:
    try:
        secret = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django's "must not be empty"
        secret = ""
    if not secret:
        raise ImproperlyConfigured(
            "DaramjweeCache signs the values it stores with a key derived from SECRET_KEY, which is empty: "
            "set SECRET_KEY"
        )
    return _serializer((secret, *getattr(settings, "SECRET_KEY_FALLBACKS", ())))


class DaramjweeCache(BaseCache):  # type: ignore[misc]  # Django is untyped
    """A Django cache backend over a daramjwee tier chain (memory, files in ``LOCATION``, Redis).

    ``CACHES = {"default": {"BACKEND": "daramjwee.contrib.django.DaramjweeCache",
    "LOCATION": "/var/cache/app", "OPTIONS": {"memory": "64MiB", "disk": "1GiB"}}}``.
    See :mod:`daramjwee.contrib.django` for what each option means, what is
    atomic, and how values are stored.  Raises :class:`ImproperlyConfigured`
    for a bad ``LOCATION``, ``OPTIONS`` or ``TIMEOUT``, or an empty ``SECRET_KEY``.
    """

    def __init__(self, location: object, params: Mapping[str, Any]) -> None:
        options = parse_options(location, params.get("OPTIONS") or {})
        timeout = params.get("TIMEOUT", 300)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
            raise ImproperlyConfigured(f"CACHES TIMEOUT must be seconds (a number) or None, got {timeout!r}")
        serializer = _signing_serializer()
        super().__init__(params)
        self._serializer = serializer
        self._chain = chain_for(options)
        self._cache = self._chain.cache

    # -- timeouts, reading, writing ------------------------------------------------

    def _lifetime(self, timeout: Any) -> float | None:
        """Seconds the value stays (``None``: forever; ``0``: already expired) from Django's ``timeout``."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be seconds (a number), None or omitted, got {timeout!r}")
        return float(timeout) if timeout > 0 else 0.0

    def _load(self, key: str) -> tuple[bytes, Any, Metadata] | None:
        """The stored bytes, value and metadata of ``key``, or ``None`` when absent, expired or not ours."""
        try:
            with self._cache.get(key, _miss) as response:
                data = response.read()
                metadata = response.metadata
        except NotFound:
            return None
        try:
            return data, self._serializer.loads(data), metadata
        except (SignatureError, DecodeError) as error:
            logger.warning("cache entry %r read as a miss: %s", key, error, extra={"key": key})
            return None

    def _read(self, key: str) -> Any:
        found = self._load(key)
        return _MISSING if found is None else found[1]

    def _write(self, key: str, data: bytes, lifetime: float | None) -> bool:
        """Store ``data`` (a positive ``lifetime``, or ``None``); when it cannot be, delete the key: False."""
        try:
            self._cache.set_bytes(key, data, Metadata(fresh_for=lifetime, must_revalidate=True))
        except TierError as error:
            logger.warning("cache key %r not stored (deleted instead): %s", key, error.__cause__ or error)
            self._cache.delete(key)
            return False
        return True

    def _store(self, key: str, data: bytes, lifetime: float | None) -> bool:
        """``set``'s effect, under the key's lock: a zero lifetime deletes."""
        if lifetime == 0:
            self._cache.delete(key)
            return True
        return self._write(key, data, lifetime)

    # -- Django's cache API ------------------------------------------------------

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        value = self._read(key)
        return default if value is _MISSING else value

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        lifetime = self._lifetime(timeout)
        data = self._serializer.dumps(value)
        with self._chain.lock(key):
            self._store(key, data, lifetime)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        lifetime = self._lifetime(timeout)
        data = self._serializer.dumps(value)
        with self._chain.lock(key):
            if self._load(key) is not None:
                return False
            return lifetime == 0 or self._write(key, data, lifetime)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        lifetime = self._lifetime(timeout)
        with self._chain.lock(key):
            found = self._load(key)
            if found is None:
                return False
            return self._store(key, found[0], lifetime)

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._chain.lock(key):
            existed = self._cache.contains(key)
            self._cache.delete(key)
        return existed

    def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._load(key) is not None

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._chain.lock(key):
            found = self._load(key)
            if found is None:
                raise ValueError(f"Key {key!r} not found")
            _, value, metadata = found
            new_value = value + delta
            data = self._serializer.dumps(new_value)
            lifetime = metadata.fresh_for
            if lifetime is not None:  # the entry keeps its expiry time
                lifetime = max(metadata.cached_at + lifetime - time.time(), 0.0)
            self._store(key, data, lifetime)
        return new_value

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        found = {}
        for key in keys:
            value = self._read(self.make_and_validate_key(key, version=version))
            if value is not _MISSING:
                found[key] = value
        return found

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        lifetime = self._lifetime(timeout)
        encoded = [
            (key, self.make_and_validate_key(key, version=version), self._serializer.dumps(value))
            for key, value in data.items()
        ]
        failed = []
        for key, made, payload in encoded:
            with self._chain.lock(made):
                if not self._store(made, payload, lifetime):
                    failed.append(key)
        return failed

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        for key in [self.make_and_validate_key(key, version=version) for key in keys]:
            with self._chain.lock(key):
                self._cache.delete(key)

    def clear(self) -> None:
        self._cache.clear()

    def close(self, **kwargs: Any) -> None:
        """Nothing to do: Django calls this after every request, and the chain serves the next one.

        The chain is closed when the interpreter exits, or by
        :func:`daramjwee.contrib.django.close_chains`.
        """

    # -- async: the same calls on a worker thread, not Django's single shared one --------

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return await sync_to_async(self.get, thread_sensitive=False)(key, default, version)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        await sync_to_async(self.set, thread_sensitive=False)(key, value, timeout, version)

    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return await sync_to_async(self.add, thread_sensitive=False)(key, value, timeout, version)

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return await sync_to_async(self.touch, thread_sensitive=False)(key, timeout, version)

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return await sync_to_async(self.delete, thread_sensitive=False)(key, version)

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        return await sync_to_async(self.has_key, thread_sensitive=False)(key, version)

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        return await sync_to_async(self.incr, thread_sensitive=False)(key, delta, version)

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return await sync_to_async(self.get_many, thread_sensitive=False)(keys, version)

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return await sync_to_async(self.set_many, thread_sensitive=False)(data, timeout, version)

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        await sync_to_async(self.delete_many, thread_sensitive=False)(keys, version)

    async def aclear(self) -> None:
        await sync_to_async(self.clear, thread_sensitive=False)()
