"""Pickled values, signed: :class:`SignedPickleSerializer`.  There is no unsigned pickle serializer.

The payload is ``MAGIC (5) | key id (8) | HMAC-SHA256 tag (32) | pickle``;
the tag covers the magic, the key id and the pickle.  ``loads`` checks all of
it, the tag with ``hmac.compare_digest``, before the pickle is unpickled
(rule V4): ``pickle.loads`` of bytes that someone able to write to a shared
tier (Redis, a bucket, a directory) chose runs their code.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigError, DecodeError, SignatureError

__all__ = ["SignedPickleSerializer"]

_MAGIC = b"DJSP\x01"  # daramjwee signed pickle, format 1
_ID_SIZE = 8
_TAG_SIZE = hashlib.sha256().digest_size
_HEADER_SIZE = len(_MAGIC) + _ID_SIZE
_PAYLOAD_AT = _HEADER_SIZE + _TAG_SIZE
_MIN_KEY_SIZE = 32
_ID_LABEL = b"daramjwee signed-pickle key id"


def key_id(key: bytes) -> bytes:
    """The 8-byte id a payload names its key by: a MAC of a fixed label, so it tells nothing about the key."""
    return hmac.new(key, _ID_LABEL, hashlib.sha256).digest()[:_ID_SIZE]


class SignedPickleSerializer:
    """Any picklable value, signed with HMAC-SHA256 so that only payloads this application made are unpickled.

    ``keys`` are secrets of at least 32 bytes (``secrets.token_bytes(32)``),
    newest first: values are signed with the first, and a payload signed with
    any of them is accepted.  To rotate, put the new key first and keep the
    old one until the entries it signed have expired, then drop it.  Each
    payload names its key by an id derived from the key (:attr:`key_ids`).

    ``loads`` raises :class:`~daramjwee.SignatureError`, and never unpickles,
    when the payload is unsigned (not this format), truncated, altered, or
    signed by a key not in ``keys``.  A payload that verifies but fails to
    unpickle (a class that no longer exists) raises
    :class:`~daramjwee.DecodeError`.

    Signing protects against whoever can write the cache's shared tiers but
    does not hold a key; anyone holding a key can make this application run
    code.  Keep keys out of the cache, the logs and ``repr``.
    """

    __slots__ = ("_keys", "_protocol", "_signing")
    name = "pickle+hmac-sha256"
    content_type = "application/vnd.daramjwee.signed-pickle"

    def __init__(self, keys: Sequence[bytes], *, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        if isinstance(keys, bytes | bytearray | memoryview | str) or not isinstance(keys, Sequence):
            raise TypeError("SignedPickleSerializer keys must be a sequence of keys, newest first: keys=[key]")
        if not keys:
            raise ConfigError("SignedPickleSerializer needs at least one key")
        if type(protocol) is not int or not 2 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ConfigError(f"SignedPickleSerializer protocol must be 2..{pickle.HIGHEST_PROTOCOL}, got {protocol!r}")
        found: dict[bytes, bytes] = {}
        for index, key in enumerate(keys):
            if not isinstance(key, bytes | bytearray):
                raise TypeError(f"SignedPickleSerializer keys[{index}] must be bytes, got {type(key).__name__}")
            if len(key) < _MIN_KEY_SIZE:
                raise ConfigError(
                    f"SignedPickleSerializer keys[{index}] is {len(key)} bytes; a key needs at least "
                    f"{_MIN_KEY_SIZE} (secrets.token_bytes(32))"
                )
            found.setdefault(key_id(bytes(key)), bytes(key))
        self._keys = found
        self._signing = next(iter(found.items()))
        self._protocol = protocol

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys, newest first, in hex (the signing key's first): safe to log."""
        return tuple(ident.hex() for ident in self._keys)

    def dumps(self, value: Any, /) -> bytes:
        ident, key = self._signing
        header = _MAGIC + ident
        payload = pickle.dumps(value, protocol=self._protocol)
        mac = hmac.new(key, header, hashlib.sha256)
        mac.update(payload)
        return header + mac.digest() + payload

    def loads(self, data: bytes, /) -> Any:
        view = memoryview(data)
        if view[: len(_MAGIC)] != _MAGIC:
            raise SignatureError("refused: not a signed pickle payload (unsigned, or another format)")
        if len(view) < _PAYLOAD_AT:
            raise SignatureError(f"refused: a signed pickle payload of {len(view)} bytes is truncated")
        ident = bytes(view[len(_MAGIC) : _HEADER_SIZE])
        key = self._keys.get(ident)
        if key is None:
            raise SignatureError(
                f"refused: signed by an unknown key (id {ident.hex()}; known: {', '.join(self.key_ids)})"
            )
        mac = hmac.new(key, view[:_HEADER_SIZE], hashlib.sha256)
        mac.update(view[_PAYLOAD_AT:])
        if not hmac.compare_digest(mac.digest(), view[_HEADER_SIZE:_PAYLOAD_AT]):
            raise SignatureError("refused: the signature does not match (the payload was altered or truncated)")
        try:
            return pickle.loads(view[_PAYLOAD_AT:])
        except Exception as error:
            raise DecodeError(f"a verified pickle failed to unpickle: {error!r}") from error

    def __repr__(self) -> str:
        return f"SignedPickleSerializer(key_ids={list(self.key_ids)!r})"
