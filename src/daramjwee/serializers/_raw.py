"""The two serializers that need no format: :class:`BytesSerializer` and :class:`StrSerializer`."""

from __future__ import annotations

from .._errors import DecodeError

__all__ = ["BytesSerializer", "StrSerializer"]


class BytesSerializer:
    """Bytes as they are (``bytes``, ``bytearray`` or ``memoryview`` in, ``bytes`` out)."""

    __slots__ = ()
    name = "bytes"
    content_type = "application/octet-stream"

    def dumps(self, value: bytes | bytearray | memoryview, /) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"BytesSerializer needs bytes, bytearray or memoryview, got {type(value).__name__}")
        return bytes(value)

    def loads(self, data: bytes, /) -> bytes:
        return bytes(data)

    def __repr__(self) -> str:
        return "BytesSerializer()"


class StrSerializer:
    """A ``str`` as UTF-8 (strict: a lone surrogate cannot be stored, invalid UTF-8 cannot be read)."""

    __slots__ = ()
    name = "str"
    content_type = "text/plain; charset=utf-8"

    def dumps(self, value: str, /) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"StrSerializer needs a str, got {type(value).__name__}")
        return value.encode("utf-8")

    def loads(self, data: bytes, /) -> str:
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(f"not UTF-8 text: {error}") from error

    def __repr__(self) -> str:
        return "StrSerializer()"
