"""Serializers: how ``get_value`` and ``set_value`` turn Python values into the bytes a cache stores.

A serializer is any object with ``name``, ``content_type``, ``dumps(value)
-> bytes`` and ``loads(bytes) -> value`` (:class:`Serializer`).  Each entry
records the name of the serializer that wrote it, and is decoded only by a
serializer of that name (rule V3).  Built in:

* :class:`JsonSerializer` — JSON (the default, :data:`DEFAULT_SERIALIZER`),
  with orjson when it is installed (extra ``orjson``), else the standard library;
* :class:`StrSerializer` — a ``str`` as UTF-8;
* :class:`BytesSerializer` — bytes as they are;
* :class:`MsgpackSerializer` — MessagePack (extra ``msgpack``);
* :class:`SignedPickleSerializer` — any picklable value, signed with
  HMAC-SHA256; unsigned pickle is not offered, and pickle is never a default.
"""

from __future__ import annotations

from typing import Any

from ._json import JsonSerializer
from ._msgpack import MsgpackSerializer
from ._pickle import SignedPickleSerializer
from ._protocol import Serializer
from ._raw import BytesSerializer, StrSerializer

__all__ = [
    "DEFAULT_SERIALIZER",
    "BytesSerializer",
    "JsonSerializer",
    "MsgpackSerializer",
    "Serializer",
    "SignedPickleSerializer",
    "StrSerializer",
]

DEFAULT_SERIALIZER: Serializer[Any] = JsonSerializer()
"""The serializer ``get_value`` and ``set_value`` use when the call names none: JSON, never pickle."""
