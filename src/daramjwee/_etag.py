"""``If-None-Match`` evaluation (rule I1; RFC 9110 §13.1.2 weak comparison)."""

from __future__ import annotations

import re

from ._metadata import Metadata

__all__ = ["if_none_match_matches"]

# One list member: an optionally weak quoted tag (which may contain commas), or a bare token.
_ENTITY_TAG = re.compile(r'(?:[Ww]/)?"[^"]*"|[^,\s]+')


def _opaque_tag(tag: str) -> str:
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == '"' and tag[-1] == '"':
        tag = tag[1:-1]
    return tag


def if_none_match_matches(header: str, metadata: Metadata) -> bool:
    """Whether an ``If-None-Match`` value matches the entry described by ``metadata``.

    The header is a comma-separated list; ``*`` matches any positive entry; the
    weak prefix ``W/`` and surrounding quotes are ignored on both sides; an
    empty etag matches only ``*``; a negative entry never matches.
    """
    if metadata.is_negative:
        return False
    etag = _opaque_tag(metadata.etag)
    for match in _ENTITY_TAG.finditer(header):
        candidate = match.group()
        if candidate == "*":
            return True
        if etag and _opaque_tag(candidate) == etag:
            return True
    return False
