"""Range requests (RFC 9110 §14) as pure functions: which byte ranges a request asks for, and their framing.

``Range: bytes=0-99, 200-, -50`` becomes a list of ``(first, last)`` pairs
(inclusive; ``None`` where HTTP leaves a side open); a header the proxy does
not use (another unit, bad syntax, too many ranges) is ignored, so the whole
representation is sent, as RFC 9110 allows.  ``If-Range`` is compared here;
the bytes are read from the cache's ranged reads.
"""

from __future__ import annotations

import secrets

from ._cache_rules import Fields, field, parse_http_date

__all__ = ["MAX_RANGES", "Spec", "if_range_matches", "multipart_boundary", "multipart_tail", "parse_range", "part_head"]

Spec = tuple[int | None, int | None]

MAX_RANGES = 16
"""The most ranges one request may ask for; a longer list is ignored (the whole representation is sent)."""


def parse_range(value: str | None) -> list[Spec] | None:
    """The byte ranges of a ``Range`` field value, or ``None`` when the proxy ignores it.

    Ignored: no value, a unit other than ``bytes``, a syntax error anywhere,
    more than :data:`MAX_RANGES` ranges.  A range whose last position is
    before its first is a syntax error too (RFC 9110 §14.1.1).
    """
    if not value:
        return None
    unit, equals, ranges = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs: list[Spec] = []
    for member in ranges.split(","):
        member = member.strip()
        if not member:
            continue
        first_text, dash, last_text = member.partition("-")
        first_text, last_text = first_text.strip(), last_text.strip()
        if not dash or not _digits(first_text, optional=True) or not _digits(last_text, optional=True):
            return None
        first = int(first_text) if first_text else None
        last = int(last_text) if last_text else None
        if (first is None and last is None) or (first is not None and last is not None and last < first):
            return None
        specs.append((first, last))
    if not specs or len(specs) > MAX_RANGES:
        return None
    return specs


def _digits(text: str, *, optional: bool) -> bool:
    return (optional and not text) or (text.isascii() and text.isdigit())


def if_range_matches(if_range: str, stored: Fields) -> bool:
    """Whether an ``If-Range`` value still names the stored representation (RFC 9110 §13.1.5).

    An entity tag matches by strong comparison (a weak tag never does); a
    date matches only a ``Last-Modified`` equal to it.
    """
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        etag = field(stored, "etag")
        return not value.startswith("W/") and etag is not None and not etag.startswith("W/") and etag == value
    when = parse_http_date(value)
    modified = parse_http_date(field(stored, "last-modified"))
    return when is not None and modified is not None and when == modified


def multipart_boundary() -> str:
    """A fresh boundary for a ``multipart/byteranges`` body (random: it cannot occur in the parts)."""
    return "daramjwee-" + secrets.token_hex(12)


def part_head(boundary: str, content_type: str | None, start: int, stop: int, length: int) -> bytes:
    """The delimiter and header fields before one part of a ``multipart/byteranges`` body (half-open offsets)."""
    lines = [f"\r\n--{boundary}"]
    if content_type:
        lines.append(f"content-type: {content_type}")
    lines.append(f"content-range: bytes {start}-{stop - 1}/{length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def multipart_tail(boundary: str) -> bytes:
    """The closing delimiter of a ``multipart/byteranges`` body."""
    return f"\r\n--{boundary}--\r\n".encode("ascii")
