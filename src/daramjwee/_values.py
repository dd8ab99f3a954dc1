"""Python values in the cache (rules V1-V5): what ``get_value`` and ``set_value`` share, both flavours side by side.

The serializers themselves live in :mod:`daramjwee.serializers`; this module
tags the metadata of what they wrote, checks a tag before decoding, and calls
the caller's loader (async or sync).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._errors import DecodeError
from ._metadata import Metadata
from .serializers import Serializer

__all__ = [
    "SERIALIZER_ATTR",
    "async_call_loader",
    "call_loader",
    "check_serializer",
    "decode",
    "encode",
    "tagged",
    "with_length",
]

T = TypeVar("T")

SERIALIZER_ATTR = ":serializer"
"""``attrs`` name of the ``name`` of the serializer that wrote an entry (rule V1)."""

_EMPTY = Metadata()


def check_serializer(serializer: object) -> None:
    """``TypeError`` unless ``serializer`` has a non-empty ``name``, a ``content_type`` and ``dumps``/``loads``."""
    name = getattr(serializer, "name", None)
    if isinstance(serializer, type):
        raise TypeError(f"serializer must be an instance, got the class {serializer.__name__}; add ()")
    if (
        not isinstance(name, str)
        or not name
        or not isinstance(getattr(serializer, "content_type", None), str)
        or not callable(getattr(serializer, "dumps", None))
        or not callable(getattr(serializer, "loads", None))
    ):
        raise TypeError(
            "serializer must have a non-empty str name, a str content_type, dumps(value) -> bytes and "
            f"loads(bytes) -> value (daramjwee.serializers.Serializer); got {serializer!r:.200}"
        )


def check_metadata(metadata: object) -> None:
    """``TypeError`` unless ``metadata`` is ``None`` or a positive :class:`Metadata` a value may be stored with."""
    if metadata is None:
        return
    if not isinstance(metadata, Metadata):
        raise TypeError(f"metadata must be daramjwee.Metadata or None, got {type(metadata).__name__}")
    if metadata.is_negative:
        raise TypeError("metadata with is_negative=True cannot carry a value; raise daramjwee.CacheableNotFound")


def tagged(serializer: Serializer[Any], metadata: Metadata | None) -> Metadata:
    """``metadata`` (default: empty) with the serializer's name recorded, and its content type unless one is set.

    ``metadata`` is checked (:func:`check_metadata`).
    """
    check_metadata(metadata)
    if metadata is None:
        metadata = _EMPTY
    attrs = dict(metadata.attrs)
    attrs[SERIALIZER_ATTR] = serializer.name
    attrs.setdefault("content-type", serializer.content_type)
    return metadata.replace(attrs=attrs)


def encode(serializer: Serializer[T], value: T) -> bytes:
    """``serializer.dumps(value)``, checked to be ``bytes``."""
    data = serializer.dumps(value)
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"{serializer!r:.100}.dumps returned {type(data).__name__}; it must return bytes")
        data = bytes(data)
    return data


def with_length(metadata: Metadata, length: int) -> Metadata:
    """``metadata`` declaring the body's length: a value too large for tier 0 fills the first tier able to hold it."""
    return metadata.replace(attrs={**metadata.attrs, "content-length": str(length)})


def decode(serializer: Serializer[T], key: str, data: bytes, metadata: Metadata) -> T:
    """The value ``data`` stands for, if ``serializer`` wrote it (rule V3); else :class:`DecodeError`.

    Any ``ValueError`` of ``loads`` is raised as a ``DecodeError`` (the
    built-in serializers raise that already).
    """
    written_by = metadata.attrs.get(SERIALIZER_ATTR)
    if written_by != serializer.name:
        by = "no serializer (raw bytes)" if written_by is None else f"serializer {written_by!r}"
        raise DecodeError(f"{key!r:.200} was stored by {by}, not by {serializer.name!r}")
    try:
        return serializer.loads(data)
    except DecodeError:
        raise
    except ValueError as error:
        raise DecodeError(f"{key!r:.200}: {serializer.name!r} could not decode the stored value: {error}") from error


async def async_call_loader(loader: Callable[[], Awaitable[T]]) -> T:
    """Call an async loader (``AsyncCache.get_value``); a plain function is a ``TypeError``."""
    pending = loader()
    if not inspect.isawaitable(pending):
        raise TypeError(
            f"AsyncCache.get_value loaders must be async (return an awaitable), got {type(pending).__name__} "
            "from a plain function; use daramjwee.Cache for sync loaders"
        )
    return await pending


def call_loader(loader: Callable[[], T]) -> T:
    """Call a sync loader (``Cache.get_value``); one that returns an awaitable is a ``TypeError``."""
    value = loader()
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise TypeError("Cache.get_value loaders must be plain functions; use daramjwee.AsyncCache for async loaders")
    return value
