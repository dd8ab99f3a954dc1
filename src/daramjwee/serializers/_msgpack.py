"""MessagePack values: :class:`MsgpackSerializer` (needs the ``msgpack`` extra)."""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import DecodeError

__all__ = ["MsgpackSerializer"]


class MsgpackSerializer:
    """MessagePack, through the ``msgpack`` package (``pip install 'daramjwee[msgpack]'``).

    ``str`` and ``bytes`` stay apart (``use_bin_type``); tuples come back as
    lists; mapping keys of any hashable msgpack type come back as they were
    (``strict_map_key=False``), so ``{1: "a"}`` round-trips, unlike JSON.
    ``datetime`` values are refused, as JSON refuses them.
    """

    __slots__ = ("_msgpack",)
    name = "msgpack"
    content_type = "application/msgpack"

    def __init__(self) -> None:
        try:
            self._msgpack = importlib.import_module("msgpack")
        except ModuleNotFoundError as error:
            if error.name != "msgpack":
                raise
            raise ImportError("MsgpackSerializer needs msgpack: pip install 'daramjwee[msgpack]'") from error

    def dumps(self, value: Any, /) -> bytes:
        data: bytes = self._msgpack.packb(value, use_bin_type=True, datetime=False)
        return data

    def loads(self, data: bytes, /) -> Any:
        try:
            return self._msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as error:  # ExtraData, FormatError, StackError, OutOfData...: the bytes are not msgpack
            raise DecodeError(f"not MessagePack: {error!r}") from error

    def __repr__(self) -> str:
        return "MsgpackSerializer()"
