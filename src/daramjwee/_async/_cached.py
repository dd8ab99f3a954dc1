"""``AsyncCachedFunction`` and its generated sync twin ``CachedFunction``: what ``cached`` returns (rules D1-D6).

A decorated call is ``get_value(key, loader)`` with the call's key and a loader
that calls the function with the call's arguments: single flight, freshness,
refreshes, negative entries and the tiers are all the cache's (rule D4).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from .._decorated import CallKeys
from .._errors import CacheableNotFound, NotFound
from .._metadata import Metadata
from .._values import encode
from ..serializers import Serializer

__all__ = ["AsyncCachedFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
S = TypeVar("S")
_T = TypeVar("_T")


class _AsyncValueCache(Protocol):
    """The part of the cache a decorated function uses."""

    async def get_value(
        self,
        key: str,
        loader: Callable[[], Awaitable[_T]],
        *,
        serializer: Serializer[_T],
        metadata: Metadata | None = None,
    ) -> _T: ...

    async def set_value(
        self, key: str, value: _T, *, serializer: Serializer[_T], metadata: Metadata | None = None
    ) -> None: ...

    async def delete(self, key: str) -> None: ...


class AsyncCachedFunction(Generic[P, R]):
    """A function whose results the cache keeps: what ``cache.cached(...)`` returns.

    Call it as the function it wraps.  ``invalidate(*args, **kwargs)`` deletes
    the entry of that call, ``refresh(*args, **kwargs)`` calls the function now
    and stores (and returns) its result, ``key(*args, **kwargs)`` is the key of
    that call.  On a class, ``obj.method`` is bound to ``obj`` like a method,
    ``obj.method.invalidate(...)`` included.
    """

    def __init__(
        self,
        cache: _AsyncValueCache,
        func: Callable[P, Awaitable[R]],
        keys: CallKeys,
        serializer: Serializer[Any],
        metadata: Metadata | None,
        cache_none: bool,
        negative_on: tuple[type[BaseException], ...],
        tags: tuple[str, ...] | None = None,
    ) -> None:
        self._cache = cache
        self._call: Callable[..., Awaitable[R]] = func
        self._keys = keys
        self._serializer = serializer
        self._cache_none = cache_none
        self._negative_on = negative_on
        self._bound: tuple[object, ...] = ()
        # The one place that says how values are stored: every get_value and set_value below passes these.
        self._options: dict[str, Any] = {"serializer": serializer, "metadata": metadata, "tags": tags}
        functools.update_wrapper(self, func)

    def __set_name__(self, owner: type, name: str) -> None:
        """Decorating a method: its first parameter (``self``) is not part of the default key (rule D2)."""
        self._keys = self._keys.as_method()

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(
        self: AsyncCachedFunction[Concatenate[S, P2], R], instance: S, owner: type | None = None
    ) -> AsyncCachedFunction[P2, R]: ...

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """``obj.method``: this function with ``obj`` as its first argument."""
        if instance is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._bound = (*self._bound, instance)
        return bound

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        call = (*self._bound, *args)
        key = self._keys.key(call, kwargs)
        missing: list[CacheableNotFound] = []

        async def load() -> R:
            try:
                return await self._load(call, kwargs)
            except CacheableNotFound as error:
                missing.append(error)
                raise

        try:
            value: R = await self._cache.get_value(key, load, **self._options)
        except NotFound as error:
            if self._cache_none:
                return None  # type: ignore[return-value]
            if missing:
                raise error from missing[0]  # this call ran the function: say what it raised
            raise
        return value

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key of the call ``self(*args, **kwargs)``."""
        return self._keys.key((*self._bound, *args), kwargs)

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Delete the entry of the call ``self(*args, **kwargs)`` from every tier (``cache.delete``)."""
        await self._cache.delete(self.key(*args, **kwargs))

    async def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function now, store what it returns as the entry of this call, and return it (as decoded).

        A negative outcome (rule D5) replaces the entry with a negative one and
        returns ``None`` or raises :class:`NotFound`, as a call would.
        """
        call = (*self._bound, *args)
        key = self._keys.key(call, kwargs)
        try:
            value = await self._load(call, kwargs)
        except CacheableNotFound as missing:
            return await self._replace_with_negative(key, missing)
        await self._cache.set_value(key, value, **self._options)
        decoded: R = self._serializer.loads(encode(self._serializer, value))
        return decoded

    async def _replace_with_negative(self, key: str, missing: CacheableNotFound) -> R:
        """Delete the entry of ``key`` and store a negative one through ``get_value`` (rule N1)."""
        await self._cache.delete(key)

        async def still_missing() -> R:
            raise missing

        try:
            stored: R = await self._cache.get_value(key, still_missing, **self._options)
        except NotFound:
            if self._cache_none:
                return None  # type: ignore[return-value]
            raise
        return stored  # another call stored a value between the delete and this read

    async def _load(self, call: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        """Call the function; a negative outcome (rule D5) raises ``CacheableNotFound``."""
        try:
            value = await self._call(*call, **kwargs)
        except self._negative_on as error:
            raise CacheableNotFound(f"{self._keys.prefix} raised {type(error).__name__}: {error}") from error
        if value is None and self._cache_none:
            raise CacheableNotFound(f"{self._keys.prefix} returned None")
        return value

    def __repr__(self) -> str:
        bound = " (bound)" if self._bound else ""
        return f"<cached {self._keys.prefix}{bound}>"
