"""What ``cached`` (rules D1-D6) needs besides the cache: call keys, freshness, checks; both flavours side by side.

``AsyncCachedFunction`` and ``CachedFunction`` (``daramjwee/_async/_cached.py``
and its generated twin) call the cache; this module turns a call's arguments
into its key (rule D2) and checks what is decorated (rule D1).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import hashlib
import inspect
import json
import math
import string
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import ConfigError
from ._metadata import Metadata
from ._units import parse_duration

__all__ = ["CallKeys", "async_check_decorated", "check_decorated", "freshness_metadata"]

DEFAULT_KEY_LIMIT = 200
"""A default key longer than this many characters is shortened to its function's name and a SHA-256 digest."""


def async_check_decorated(func: object) -> None:
    """``TypeError`` unless ``func`` is an async function (``AsyncCache.cached``, rule D1)."""
    _check_callable(func)
    if not _is_async(func):
        raise TypeError(
            f"AsyncCache.cached decorates async functions (async def); {_name(func)} is a plain function: "
            "decorate it with daramjwee.Cache.cached"
        )


def check_decorated(func: object) -> None:
    """``TypeError`` unless ``func`` is a plain function (``Cache.cached``, rule D1)."""
    _check_callable(func)
    if _is_async(func) or inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
        kind = "a generator function" if inspect.isgeneratorfunction(func) else "an async function"
        raise TypeError(
            f"Cache.cached decorates plain functions; {_name(func)} is {kind}: "
            "decorate async functions with daramjwee.AsyncCache.cached"
        )


def _check_callable(func: object) -> None:
    if isinstance(func, staticmethod | classmethod):
        raise TypeError("put @staticmethod or @classmethod above the cached decorator, not below it")
    if not callable(func):
        raise TypeError(f"cached decorates functions, got {type(func).__name__}")
    if inspect.isasyncgenfunction(func):
        raise TypeError(f"cached cannot decorate {_name(func)}: an async generator returns no value to cache")


def _is_async(func: object) -> bool:
    call = getattr(func, "__call__", None)  # noqa: B004 - an object whose __call__ is async counts
    return inspect.iscoroutinefunction(func) or (
        not inspect.isfunction(func) and not inspect.ismethod(func) and inspect.iscoroutinefunction(call)
    )


def _name(func: object) -> str:
    return str(getattr(func, "__qualname__", None) or type(func).__name__)


def freshness_metadata(
    fresh_for: object, stale_while_revalidate: object, stale_if_error: object, must_revalidate: object
) -> Metadata | None:
    """The per-entry freshness every value of a decorated function is stored with (rule D3); ``None``: the cache's."""
    seconds = {}
    for name, value in (
        ("fresh_for", fresh_for),
        ("stale_while_revalidate", stale_while_revalidate),
        ("stale_if_error", stale_if_error),
    ):
        if value is not None:
            seconds[name] = parse_duration(value, name, allow_zero=True)
            if math.isinf(seconds[name]):
                raise ConfigError(f"{name} must be a finite number of seconds, got {value!r}")
    if type(must_revalidate) is not bool:
        raise ConfigError(f"must_revalidate must be bool, got {type(must_revalidate).__name__}")
    if not seconds and not must_revalidate:
        return None
    return Metadata(**seconds, must_revalidate=must_revalidate)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class CallKeys:
    """How one decorated function names the entry of a call (rule D2)."""

    func: Callable[..., Any]
    template: str | None
    key_function: Callable[..., Any] | None
    signature: inspect.Signature
    prefix: str
    positional: tuple[str, ...] | None
    """The parameter names when every parameter is positional (no ``*args``, keyword-only, ``**kwargs``)."""
    method: bool = False
    """Set by ``__set_name__``: the first parameter (``self``, ``cls``) is left out of the default key."""

    @classmethod
    def of(cls, func: Callable[..., Any], key: object) -> CallKeys:
        """The key maker for ``func``: ``key`` is ``None``, a template ``str``, or a callable."""
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as error:
            raise TypeError(f"cached needs the signature of {_name(func)}: {error}") from error
        module = getattr(func, "__module__", None) or type(func).__module__
        prefix = f"{module}.{_name(func)}"
        kinds = {inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD}
        parameters = signature.parameters.values()
        positional = tuple(signature.parameters) if all(p.kind in kinds for p in parameters) else None
        if key is None:
            return cls(func, None, None, signature, prefix, positional)
        if isinstance(key, str):
            _check_template(key, signature, func)
            return cls(func, key, None, signature, prefix, positional)
        if callable(key):
            return cls(func, None, key, signature, prefix, positional)
        raise TypeError(f"cached's key= must be a str template, a callable or None, got {type(key).__name__}")

    def as_method(self) -> CallKeys:
        return dataclasses.replace(self, method=True)

    def key(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        """The key of the call ``func(*args, **kwargs)``; ``TypeError`` when the arguments do not fit."""
        if self.key_function is not None:
            made = self.key_function(*args, **kwargs)
            if not isinstance(made, str) or not made:
                raise TypeError(f"cached's key function must return a non-empty str, got {made!r:.80}")
            return made
        names = self.positional
        if names is not None and not kwargs and len(args) == len(names):
            arguments: dict[str, Any] = dict(zip(names, args, strict=True))  # what bind would make, 10 times faster
        else:
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
        if self.template is not None:
            return self.template.format_map(arguments)
        if self.method and arguments:
            arguments = dict(arguments)
            del arguments[next(iter(self.signature.parameters))]
        try:
            encoded = _ENCODER.encode(arguments)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"cached cannot make a stable default key for a call of {self.prefix}: {error}; "
                'pass key= (a template such as "user:{user_id}", or a function of the arguments)'
            ) from error
        made = f"{self.prefix}:{encoded}"
        if len(made) > DEFAULT_KEY_LIMIT:
            made = f"{self.prefix}:sha256:{hashlib.sha256(encoded.encode()).hexdigest()}"
        return made


def _check_template(template: str, signature: inspect.Signature, func: object) -> None:
    """``TypeError`` unless every field of ``template`` names a parameter (``{user_id}``, ``{user.id}``)."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise TypeError(f"cached's key template {template!r} is not a format string: {error}") from error
    for field in fields:
        name = field.partition(".")[0].partition("[")[0]
        if not name or name.isdigit():
            raise TypeError(f"cached's key template {template!r} must name its fields: {{user_id}}, not {{}} or {{0}}")
        if name not in signature.parameters:
            raise TypeError(f"cached's key template {template!r} names {name!r}, not a parameter of {_name(func)}")


@functools.singledispatch
def _stable(value: object) -> object:
    """A JSON-encodable stand-in for an argument JSON cannot encode itself, the same in every process."""
    raise TypeError(f"an argument of type {type(value).__name__} has no stable encoding")


@_stable.register(set)
@_stable.register(frozenset)
def _(value: set[Any] | frozenset[Any]) -> object:
    items = [_ENCODER.encode(item) for item in value]
    return {"set": sorted(items)}


@_stable.register(bytes)
def _(value: bytes) -> object:
    return {"bytes": value.hex()}


@_stable.register(enum.Enum)
def _(value: enum.Enum) -> object:
    return {"enum": f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"}


@_stable.register(datetime.date)
@_stable.register(datetime.time)
@_stable.register(uuid.UUID)
@_stable.register(decimal.Decimal)
def _(value: object) -> object:
    return {type(value).__name__: str(value)}


# Made once: json.dumps with any option builds a new encoder per call (3 us of a 6 us key).
_ENCODER = json.JSONEncoder(default=_stable, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
