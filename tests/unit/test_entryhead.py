"""The head of a remote entry: round trips, and every kind of damage is refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daramjwee as dj
from daramjwee._entryhead import (
    PREFIX_SIZE,
    decode_exact_head,
    decode_head,
    encode_head,
    head_length,
    key_digest,
)
from daramjwee._record import CorruptRecord

_METADATA = dj.Metadata(etag='W/"x"', cached_at=1732406400.5, attrs={"content-type": "text/plain", "nul": "a\x00b"})


@given(
    key=st.text(min_size=1),
    etag=st.text(),
    negative=st.booleans(),
    cached_at=st.floats(min_value=0, max_value=1e10),
    attrs=st.dictionaries(st.text(), st.text(), max_size=5),
    body=st.binary(max_size=64),
)
def test_any_key_and_metadata_round_trip_with_or_without_a_body_after(
    key: str, etag: str, negative: bool, cached_at: float, attrs: dict[str, str], body: bytes
) -> None:
    metadata = dj.Metadata(etag=etag, is_negative=negative, cached_at=cached_at, attrs=attrs)
    head = encode_head(key, metadata)
    assert head_length(head) == len(head)
    decoded = decode_head(head + body)
    assert (decoded.key, decoded.metadata, decoded.length) == (key, metadata, len(head))
    assert decode_exact_head(head) == decoded


def test_a_head_larger_than_the_memo_limit_decodes_the_same() -> None:
    metadata = dj.Metadata(attrs={"big": "x" * 20_000})
    head = encode_head("k", metadata)
    assert decode_exact_head(head).metadata == metadata
    assert decode_exact_head(head).metadata == metadata


def test_lone_surrogates_and_long_keys_round_trip_and_digest_to_a_fixed_length_name() -> None:
    for key in ["\ud800", "k" * 10_000, "../../etc", "nul\x00"]:
        assert decode_head(encode_head(key, _METADATA)).key == key
        assert len(key_digest(key)) == 64
        assert key_digest(key) == key_digest(str(key))
    assert key_digest("a") != key_digest("b")


def _damaged(offset: int, value: bytes) -> bytes:
    head = bytearray(encode_head("key", _METADATA))
    head[offset : offset + len(value)] = value
    return bytes(head)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than"),
        (encode_head("key", _METADATA)[:10], "shorter than"),
        (_damaged(0, b"NOTAHEAD"), "bad magic"),
        (_damaged(8, struct.pack("<H", 2)), "version 2"),
        (_damaged(10, struct.pack("<H", 1)), "flags"),
        (_damaged(12, struct.pack("<I", 0)), "implausible"),
        (_damaged(PREFIX_SIZE, b"X"), "checksum"),
        (_damaged(PREFIX_SIZE + 5, b"X"), "checksum"),
        (encode_head("key", _METADATA)[:-1], "shorter than its"),
    ],
)
def test_damage_is_refused_with_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(CorruptRecord, match=message):
        decode_head(data)


def test_an_exact_head_must_be_exactly_one_head() -> None:
    head = encode_head("key", _METADATA)
    with pytest.raises(CorruptRecord, match="stored as"):
        decode_exact_head(head + b"body")
