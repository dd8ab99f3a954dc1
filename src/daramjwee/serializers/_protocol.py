"""What the cache needs from a serializer: :class:`Serializer`."""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["Serializer"]

T = TypeVar("T")


@runtime_checkable
class Serializer(Protocol[T]):
    """Turns Python values into bytes for the cache, and those bytes back into values.

    ``name`` identifies the format: the cache records it with every entry a
    serializer wrote (in ``Metadata.attrs[":serializer"]``) and decodes an
    entry only with a serializer of the same name, so bytes written by one
    serializer are never handed to another (rule V3).  Two serializers that
    read each other's bytes may share a name (the two JSON backends do);
    any other change of format needs a new name.

    ``content_type`` is stored as the entry's ``attrs["content-type"]`` unless
    the caller's metadata sets one (``daramjwee serve`` sends it as a header).

    ``loads`` raises :class:`~daramjwee.DecodeError` (or any ``ValueError``)
    for bytes it cannot decode; ``dumps`` raises ``TypeError`` or
    ``ValueError`` for a value it cannot encode.
    """

    @property
    def name(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    def dumps(self, value: T, /) -> bytes:
        """The bytes that stand for ``value``."""
        ...

    def loads(self, data: bytes, /) -> T:
        """The value that ``data`` (made by :meth:`dumps`) stands for."""
        ...
