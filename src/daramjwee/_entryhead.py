"""The head of a remote entry (Redis, object storage): key and metadata in a checksummed envelope.

Pure functions, no I/O.  A head is::

    prefix (24 bytes, little-endian)
        magic            8s   b"DJWHEAD\\n"
        version          u16  FORMAT_VERSION
        flags            u16  0 in this version; any other value is unsupported
        key length       u32  bytes of the key
        metadata length  u32  bytes of the metadata
        checksum         u32  CRC-32 (zlib) of the 20 bytes above, then the key, then the metadata
    key        as :func:`daramjwee._record.encode_key` stores it
    metadata   as :func:`daramjwee._record.encode_metadata` stores it

Unlike a file-store record, a head does not say how long the body is: remote
writes stream, so the length is only known at publish time, where each store
records it its own way (the object's size, a field beside the head in Redis).

Remote entries are addressed by :func:`key_digest`, never by the key itself,
so any key (``/``, ``..``, NUL, 10 kB) maps to a short, safe name; the key in
the head is compared on read so a digest collision can never serve another
key's value.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from typing import NamedTuple

from ._metadata import Metadata
from ._record import (
    CorruptRecord,
    HeaderKind,
    check_fields,
    checksum,
    decode_key,
    decode_metadata,
    encode_key,
    encode_metadata,
)

__all__ = [
    "HEAD_MAGIC",
    "PREFIX_SIZE",
    "Head",
    "decode_exact_head",
    "decode_head",
    "encode_head",
    "head_length",
    "key_digest",
]

HEAD_MAGIC = b"DJWHEAD\n"
FORMAT_VERSION = 1

_PREFIX = struct.Struct("<8sHHIII")
_CHECKED = _PREFIX.size - 4
PREFIX_SIZE = _PREFIX.size
_HEAD = HeaderKind(HEAD_MAGIC, FORMAT_VERSION, "entry head", "entry head", "entry head")


class Head(NamedTuple):
    """A decoded head: the stored key, its metadata, and how many bytes the head took."""

    key: str
    metadata: Metadata
    length: int


def key_digest(key: str) -> str:
    """64 lowercase hex digits of SHA-256 over the key's stored form: the key's name in a remote store."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def encode_head(key: str, metadata: Metadata) -> bytes:
    """The head of an entry of ``key`` with ``metadata``; ``ValueError`` if either is past the format's limits."""
    key_bytes = encode_key(key)
    metadata_bytes = encode_metadata(metadata)
    fields = _PREFIX.pack(HEAD_MAGIC, FORMAT_VERSION, 0, len(key_bytes), len(metadata_bytes), 0)[:_CHECKED]
    crc = checksum(fields, key_bytes, metadata_bytes)
    return b"".join((fields, crc.to_bytes(4, "little"), key_bytes, metadata_bytes))


def head_length(prefix: bytes | bytearray | memoryview) -> int:
    """Bytes of the whole head that starts with ``prefix`` (at least :data:`PREFIX_SIZE` bytes).

    Raises :class:`CorruptRecord` when ``prefix`` is too short or is not the
    start of a head of this format.
    """
    if len(prefix) < PREFIX_SIZE:
        raise CorruptRecord(f"entry of {len(prefix)} bytes is shorter than the {PREFIX_SIZE}-byte head prefix")
    magic, version, flags, key_length, metadata_length, _ = _PREFIX.unpack_from(prefix)
    check_fields(_HEAD, magic, version, flags, key_length, metadata_length)
    return PREFIX_SIZE + int(key_length) + int(metadata_length)


def decode_head(data: bytes | bytearray | memoryview) -> Head:
    """Decode the head at the start of ``data`` (which may continue with the body).

    Raises :class:`CorruptRecord` when ``data`` is shorter than the head it
    starts, or the checksum, key or metadata are not valid.
    """
    length = head_length(data)
    if len(data) < length:
        raise CorruptRecord(f"entry of {len(data)} bytes is shorter than its {length}-byte head")
    return decode_exact_head(bytes(memoryview(data)[:length]))


def decode_exact_head(data: bytes) -> Head:
    """Decode ``data``, which must be exactly one head (a store that recorded the head's length slices it).

    Raises :class:`CorruptRecord` as :func:`decode_head` does, and when
    ``data`` is not exactly as long as the head it starts.  Heads of up to
    4 KiB are memoized (every hit of an entry decodes the same head; the
    bound keeps the memo's memory small whatever the keys and metadata).
    """
    if len(data) <= _MEMO_LIMIT:
        return _decode_memoized(data)
    return _decode(data)


def _decode(data: bytes) -> Head:
    length = head_length(data)
    if len(data) != length:
        raise CorruptRecord(f"a head of {length} bytes was stored as {len(data)} bytes")
    view = memoryview(data)
    key_length, _, stored_checksum = struct.unpack_from("<III", view, 12)
    key_end = PREFIX_SIZE + key_length
    key_bytes = bytes(view[PREFIX_SIZE:key_end])
    metadata_bytes = bytes(view[key_end:length])
    if checksum(view[:_CHECKED], key_bytes, metadata_bytes) != stored_checksum:
        raise CorruptRecord("entry head checksum mismatch")
    return Head(decode_key(key_bytes), decode_metadata(metadata_bytes), length)


_MEMO_LIMIT = 4096
_decode_memoized = functools.lru_cache(maxsize=4096)(_decode)
