"""The on-disk record of one ``FileStore`` entry, and where it lives: pure functions, no I/O.

A record is one file::

    header (40 bytes, little-endian)
        magic            8s   b"DJWREC\\r\\n" (the CR LF catches text-mode mangling)
        version          u16  FORMAT_VERSION (2)
        flags            u16  0 in this version; any other value is unsupported
        key length       u32  bytes of the key
        metadata length  u32  bytes of the metadata
        body length      u64  bytes of the body
        body checksum    u64  XXH3-64 of the body (:func:`body_digest`)
        checksum         u32  CRC-32 (zlib) of the 36 bytes above, then the key, then the metadata
    key        UTF-8 with ``surrogatepass``: every ``str`` round-trips
    metadata   compact ASCII JSON object: etag, is_negative, cached_at, attrs
    body

The file's size must be exactly the sum of the header and the three lengths,
so truncation and trailing garbage are detected without reading the body.
Records of another version, such as version 1 (the same header without the
body checksum, 32 bytes), are not read: they are invalid, so a store finds
them to be misses and removes them.

The body checksum catches what the atomic publish cannot: bytes that change
after they were written (bit rot, a bad disk or cable, a stray write into
the file).  A record is published by an atomic rename only after the whole
body was written, so a crash never exposes a partial body, and the length
check catches truncation.  The writer hashes the body as it streams through
the sink and writes the digest into the header at commit (the header is
written last, at offset 0).  A reader hashes what it serves and checks the
digest when it reaches the end of the body, before it hands out the last
chunk: a reader that reads to the end never receives a whole damaged value
without an error (:class:`CorruptEntry`), and a value read in one go with the
header is checked before it is returned at all.

The hash is XXH3-64 from the ``xxhash`` package, the one compiled dependency
of the core, chosen by measurement on the 2-core CI machine (x86-64, SSE4.2,
AVX2): over a 64 KiB buffer XXH3-64 hashes 49 GB/s, CRC-32C (the ``crc32c``
package, SSE4.2 hardware) 22 GB/s and zlib's CRC-32 3.7 GB/s.  Chunked reads
(64 KiB) of a page-cached 256 MiB file ran at 12.3 GB/s plain, 9.4 GB/s with
XXH3-64 (0.77x), 7.4 GB/s with CRC-32C (0.60x) and 2.7 GB/s with zlib's
CRC-32 (0.22x).  Both libraries release the GIL on large inputs.  A 64-bit
digest misses a random corruption with odds of 2**-64; it guards against
accidents, not against someone who may write into the store's directory.

Entries are named by the SHA-256 of the key bytes in two levels of fan-out
directories (``ab/cd/abcd…``, see :func:`entry_name`): every key, however
long or odd, maps to a fixed-length lowercase hex name inside the store, and
the stored key is compared on read so a collision can never serve another
key's value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import struct
import zlib
from typing import NamedTuple

import xxhash

from ._errors import CorruptEntry
from ._metadata import Metadata

__all__ = [
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_KEY_BYTES",
    "MAX_METADATA_BYTES",
    "BodyHasher",
    "CorruptRecord",
    "Header",
    "HeaderKind",
    "body_digest",
    "check_fields",
    "checksum",
    "decode_key",
    "decode_metadata",
    "encode_header",
    "encode_key",
    "encode_metadata",
    "entry_name",
    "is_entry_name",
    "parse_header",
    "verify_head",
]

MAGIC = b"DJWREC\r\n"
FORMAT_VERSION = 2
MAX_KEY_BYTES = 1 << 24
"""Longest key accepted (16 MiB of UTF-8): a header claiming more is corrupt."""
MAX_METADATA_BYTES = 1 << 24
"""Longest encoded metadata accepted (16 MiB): a header claiming more is corrupt."""

_HEADER = struct.Struct("<8sHHIIQQI")
_CHECKED = _HEADER.size - 4  # the header bytes covered by the checksum: all but the checksum itself
HEADER_SIZE = _HEADER.size
_ENTRY_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")
_METADATA_FIELDS = frozenset({"etag", "is_negative", "cached_at", "attrs"})
_FRESHNESS_FIELDS = ("fresh_for", "stale_while_revalidate", "stale_if_error", "must_revalidate")
_ALL_METADATA_FIELDS = _METADATA_FIELDS | frozenset(_FRESHNESS_FIELDS)
"""Stored fields: the four always, the entry's own freshness only when it has any (older records lack them)."""


def _freshness_fields(metadata: Metadata) -> dict[str, object]:
    """The freshness fields ``metadata`` sets (not at their defaults), by name."""
    return {
        name: value
        for name, value in zip(_FRESHNESS_FIELDS, metadata.freshness, strict=True)
        if value is not None and value is not False
    }


CorruptRecord = CorruptEntry
"""Bytes that are not a valid record of this format (bad magic, version, flags, lengths or checksum)."""

BodyHasher = xxhash.xxh3_64
"""The incremental form of :func:`body_digest`: ``update(data)`` in order, then ``intdigest()``."""

body_digest = xxhash.xxh3_64_intdigest
"""The body checksum of a record: XXH3-64 of the body bytes (seed 0), as an int."""


class Header(NamedTuple):
    """The fixed-size header of a record, as parsed (magic, version and flags already checked)."""

    key_length: int
    metadata_length: int
    body_length: int
    body_checksum: int
    checksum: int

    @property
    def head_length(self) -> int:
        """Bytes before the body: header, key and metadata."""
        return HEADER_SIZE + self.key_length + self.metadata_length

    @property
    def record_length(self) -> int:
        """Bytes of the whole record: the exact size of a valid file."""
        return HEADER_SIZE + self.key_length + self.metadata_length + self.body_length


def encode_key(key: str) -> bytes:
    """The stored form of ``key`` (UTF-8, lone surrogates kept); ``ValueError`` past :data:`MAX_KEY_BYTES`."""
    data = key.encode("utf-8", "surrogatepass")
    if len(data) > MAX_KEY_BYTES:
        raise ValueError(f"key of {len(data)} bytes is longer than the limit of {MAX_KEY_BYTES}")
    return data


def decode_key(data: bytes) -> str:
    """The key whose stored form is ``data``; :class:`CorruptRecord` if it is not valid UTF-8."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as error:
        raise CorruptRecord(f"stored key is not UTF-8: {error}") from None


def encode_metadata(metadata: Metadata) -> bytes:
    """Compact ASCII JSON of ``metadata``; ``ValueError`` past :data:`MAX_METADATA_BYTES`."""
    data = json.dumps(
        {
            "etag": metadata.etag,
            "is_negative": metadata.is_negative,
            "cached_at": metadata.cached_at,
            "attrs": dict(metadata.attrs),
            **_freshness_fields(metadata),
        },
        separators=(",", ":"),
    ).encode("ascii")
    if len(data) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata of {len(data)} bytes is longer than the limit of {MAX_METADATA_BYTES}")
    return data


@functools.lru_cache(maxsize=4096)
def decode_metadata(data: bytes) -> Metadata:
    """The :class:`Metadata` stored as ``data``.

    Raises :class:`CorruptRecord` if ``data`` is not what :func:`encode_metadata` writes.

    Memoized: metadata is immutable, and every hit of an entry decodes the same bytes.
    """
    try:
        fields = json.loads(data.decode("ascii"))
        if type(fields) is not dict or not (_METADATA_FIELDS <= fields.keys() <= _ALL_METADATA_FIELDS):
            raise TypeError(
                f"expected an object with the fields {sorted(_METADATA_FIELDS)} "
                f"and perhaps {sorted(_ALL_METADATA_FIELDS - _METADATA_FIELDS)}"
            )
        return Metadata(**fields)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise CorruptRecord(f"stored metadata is not valid: {error}") from None


def checksum(fields: bytes | memoryview, key: bytes, metadata: bytes) -> int:
    """CRC-32 (zlib) of a header's checked fields, then the key, then the metadata.

    Both formats that carry a key and metadata (this record and the remote
    entry head of :mod:`daramjwee._entryhead`) checksum them this way.
    """
    return zlib.crc32(metadata, zlib.crc32(key, zlib.crc32(fields)))


def check_fields(
    kind: HeaderKind, magic: bytes, version: int, flags: int, key_length: int, metadata_length: int
) -> None:
    """Raise :class:`CorruptRecord` unless a header's leading fields are those of ``kind``'s format.

    Both formats that carry a key and metadata (this record and the remote
    entry head of :mod:`daramjwee._entryhead`) start with the same fields.
    """
    if magic != kind.magic:
        raise CorruptRecord(f"bad magic {bytes(magic)!r}: not a daramjwee {kind.name}")
    if version != kind.version:
        raise CorruptRecord(f"{kind.version_name} version {version} is not supported (this is version {kind.version})")
    if flags:
        raise CorruptRecord(f"{kind.flags_name} flags {flags:#x} are not supported")
    if key_length == 0 or key_length > MAX_KEY_BYTES or metadata_length > MAX_METADATA_BYTES:
        raise CorruptRecord(f"implausible lengths: key {key_length}, metadata {metadata_length}")


class HeaderKind(NamedTuple):
    """One format of header checked by :func:`check_fields`, and how its errors name it."""

    magic: bytes
    version: int
    name: str
    """As in "not a daramjwee {name}"."""
    version_name: str
    """As in "{version_name} version 3 is not supported"."""
    flags_name: str
    """As in "{flags_name} flags 0x1 are not supported"."""


_RECORD = HeaderKind(MAGIC, FORMAT_VERSION, "file-store record", "record format", "record")


def encode_header(key: bytes, metadata: bytes, body_length: int, body_checksum: int) -> bytes:
    """The header of a record with these key and metadata bytes and a body of ``body_length`` bytes.

    ``body_checksum`` is the body's :func:`body_digest`.
    """
    fields = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(key), len(metadata), body_length, body_checksum, 0)[:_CHECKED]
    return fields + checksum(fields, key, metadata).to_bytes(4, "little")


def parse_header(data: bytes) -> Header:
    """Parse the first :data:`HEADER_SIZE` bytes of ``data``.

    Raises :class:`CorruptRecord` when ``data`` is too short, or the magic,
    version, flags or lengths are not those of this format (a record of
    format version 1 is refused like any other version).  The checksum is
    only checked by :func:`verify_head`, which needs the key and metadata;
    the body checksum only by whoever reads the body.
    """
    if len(data) < HEADER_SIZE:
        raise CorruptRecord(f"record of {len(data)} bytes is shorter than its {HEADER_SIZE}-byte header")
    magic, version, flags, key_length, metadata_length, body_length, body_checksum, checksum = _HEADER.unpack_from(data)
    check_fields(_RECORD, magic, version, flags, key_length, metadata_length)
    return Header(key_length, metadata_length, body_length, body_checksum, checksum)


def verify_head(header: Header, head: bytes) -> tuple[bytes, bytes]:
    """Check the checksum over ``head`` (the record's first ``header.head_length`` bytes or more).

    Returns the key bytes and the metadata bytes.  Raises :class:`CorruptRecord`
    when ``head`` is too short or the checksum does not match.
    """
    key_end = HEADER_SIZE + header.key_length
    head_end = key_end + header.metadata_length
    if len(head) < head_end:
        raise CorruptRecord(f"record of {len(head)} bytes is shorter than its {head_end}-byte head")
    key = head[HEADER_SIZE:key_end]
    metadata = head[key_end:head_end]
    if checksum(head[:_CHECKED], key, metadata) != header.checksum:
        raise CorruptRecord("header checksum mismatch")
    return key, metadata


def entry_name(key: bytes) -> str:
    """The path, relative to the store directory, of the record of the key stored as ``key``.

    ``ab/cd/`` followed by the 64 hex digits of SHA-256(key): always inside
    the store, the same for a key in every process, distinct for distinct keys.
    """
    digest = hashlib.sha256(key).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


def is_entry_name(name: str) -> bool:
    """Whether a relative path (``/``-separated) has the shape :func:`entry_name` gives."""
    return _ENTRY_NAME.fullmatch(name) is not None and name[:2] == name[6:8] and name[3:5] == name[8:10]
