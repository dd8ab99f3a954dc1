"""The exceptions daramjwee raises, all subclasses of :class:`DaramjweeError`."""

from __future__ import annotations

__all__ = [
    "BackgroundJobRejected",
    "CacheClosed",
    "CacheableNotFound",
    "ConfigError",
    "CorruptEntry",
    "DaramjweeError",
    "DecodeError",
    "EntryTooLarge",
    "NotFound",
    "NotModified",
    "RangeNotSatisfiable",
    "SignatureError",
    "StoreContractError",
    "TierError",
]


class DaramjweeError(Exception):
    """Base class of every exception raised by daramjwee itself."""


class EntryTooLarge(DaramjweeError):
    """A value grew past the whole capacity of a store, so that store refuses it.

    A sink raises it on the write that crosses the limit and stores nothing.
    The cache treats it as a refusal, not a failure: the caller is still
    served, and other tiers still take the value.
    """


class NotFound(DaramjweeError, LookupError):
    """The key does not exist.

    Raised by :meth:`Cache.get` when the key is known to be missing (a negative
    entry, or the fetcher raised :class:`CacheableNotFound` or :class:`NotFound`),
    and by stores when they hold no entry for a key.  A fetcher raises it to say
    "missing, do not remember that".
    """


class NotModified(DaramjweeError):
    """Raised by a fetcher: the cached copy described by ``old`` is still valid.

    ``metadata``, when given, replaces the stored copy's metadata (an HTTP 304
    updates the stored headers and freshness, RFC 9111 §4.3.4); ``None``
    keeps it.  Either way the cache stamps ``cached_at`` anew.
    """

    def __init__(self, *args: object, metadata: object = None) -> None:
        super().__init__(*args)
        self.metadata = metadata


class CacheableNotFound(DaramjweeError):
    """Raised by a fetcher: the key is missing at the origin; cache that fact."""


class CacheClosed(DaramjweeError):
    """The cache was closed; open a new one to keep working."""


class ConfigError(DaramjweeError, ValueError):
    """A configuration option has an invalid value; the message names it."""


class BackgroundJobRejected(DaramjweeError):
    """A background job could not be queued (queue full, or the cache is closing)."""


class CorruptEntry(DaramjweeError, ValueError):
    """Stored bytes failed verification: a bad header, a wrong length, a checksum mismatch, a foreign entry.

    Stores raise it from ``get_stream`` (the cache then treats the entry as a
    miss) and from a reader's ``read`` when the damage shows only while
    streaming (a body checksum is verified at the end).  A store removes an
    entry it found corrupt.  Mid-stream, the cache reports it to the caller as
    the ``__cause__`` of a :class:`TierError` with ``op="read"``.
    """


class TierError(DaramjweeError):
    """A store operation failed in one tier.

    The store's own exception is chained as ``__cause__``.

    Attributes:
        tier: index of the tier in the chain (0 is the fastest).
        op: the store operation that failed, e.g. ``"delete"`` or ``"begin_set"``.
        key: the cache key involved (``""`` for ``clear``, which involves every key).
        store: the store object of that tier.
    """

    def __init__(self, tier: int, op: str, key: str, store: object) -> None:
        self.tier = tier
        self.op = op
        self.key = key
        self.store = store
        target = f" key {key!r}" if key or op != "clear" else ""
        super().__init__(f"tier {tier} ({type(store).__name__}) failed to {op}{target}")

    def __reduce__(self) -> tuple[type[TierError], tuple[int, str, str, object]]:
        return (type(self), (self.tier, self.op, self.key, self.store))


class StoreContractError(DaramjweeError):
    """A store returned something the store contract (rules K1-K4) does not allow."""


class RangeNotSatisfiable(DaramjweeError):
    """A ``get`` asked for a byte range the value does not have (HTTP 416).

    The value exists (so this is no :class:`NotFound`, nor a ``LookupError``);
    ``length`` is its total length in bytes (for ``Content-Range: bytes
    */length``), ``byte_range`` the range asked for.

    Attributes:
        length: the value's length in bytes.
        byte_range: the :class:`ByteRange` that was asked for.
    """

    def __init__(self, key: str, byte_range: object, length: int) -> None:
        self.key = key
        self.byte_range = byte_range
        self.length = length
        super().__init__(f"{byte_range!r} of {key!r:.200}: not satisfiable by a value of {length} bytes")

    def __reduce__(self) -> tuple[type[RangeNotSatisfiable], tuple[str, object, int]]:
        return (type(self), (self.key, self.byte_range, self.length))


class DecodeError(DaramjweeError, ValueError):
    """Stored bytes could not be decoded into a Python value by the serializer asked to read them.

    Either the bytes are damaged, or another serializer wrote them (an entry
    records the ``name`` of the serializer that wrote it).  ``get_value``
    treats such an entry as a miss and reloads it once; it raises this error
    only when the reloaded value does not decode either (rule V3).
    """


class SignatureError(DecodeError):
    """A signed payload failed verification: unsigned, truncated, tampered with, or signed by an unknown key.

    Raised by :class:`~daramjwee.SignedPickleSerializer` *before* anything
    is unpickled: a payload that raises it never reaches ``pickle.loads``
    (rule V4).
    """
