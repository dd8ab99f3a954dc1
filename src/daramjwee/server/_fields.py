"""HTTP header fields through the proxy: what is forwarded, what is stored with an entry, what is replayed.

Pure functions over :data:`~daramjwee.server._cache_rules.Fields` (lowercase
names, arrival order, repeats kept).  A stored response's status and fields
travel in the entry's ``Metadata.attrs`` under the reserved names
:data:`STATUS` and :data:`FIELDS`, so every tier keeps them with the body.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterable, Mapping

from ._cache_rules import Fields, field_values

__all__ = [
    "FIELDS",
    "HOP_BY_HOP",
    "INITIAL_AGE",
    "LIFETIME",
    "STATUS",
    "decode_fields",
    "encode_fields",
    "end_to_end",
    "forwarded_request",
    "http_now",
    "relayed_response",
    "stored_response",
]

STATUS = ":status"
"""``attrs`` name of a stored response's status code (decimal)."""
FIELDS = ":fields"
"""``attrs`` name of a stored response's header fields (a JSON list of ``[name, value]`` pairs)."""
INITIAL_AGE = ":initial-age"
"""``attrs`` name of a stored response's age when it arrived (seconds, decimal)."""
LIFETIME = ":lifetime"
"""``attrs`` name of a stored response's freshness lifetime (seconds, decimal), its age on arrival not taken off."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Fields that describe one connection, never forwarded nor stored (RFC 9110 §7.6.1)."""

_CACHE_MADE = frozenset({"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"})
"""Request fields the cache replaces with its own when it asks the origin for a whole representation."""
_NOT_STORED = frozenset({"set-cookie", "set-cookie2", "age", "surrogate-control"})
"""Response fields never stored: a cookie is for one client; the age is recomputed on every answer;
``Surrogate-Control`` is for this proxy only (nor is it relayed)."""


def end_to_end(fields: Fields) -> list[tuple[str, str]]:
    """``fields`` without the hop-by-hop ones and those the ``Connection`` field names."""
    named = {name.lower() for name in field_values(fields, "connection")}
    return [(name, value) for name, value in fields if name not in HOP_BY_HOP and name not in named]


def relayed_response(fields: Fields) -> list[tuple[str, str]]:
    """The fields of an origin answer relayed uncached: end-to-end ones (cookies too), without ``Surrogate-Control``."""
    return [(name, value) for name, value in end_to_end(fields) if name != "surrogate-control"]


_date_second = -1
_date_text = ""


def http_now(now: float) -> str:
    """An IMF-fixdate of ``now``, formatted once per second."""
    global _date_second, _date_text  # noqa: PLW0603 (a one-entry memo)
    second = int(now)
    if second != _date_second:
        _date_text = email.utils.formatdate(second, usegmt=True)
        _date_second = second
    return _date_text


def forwarded_request(
    fields: Fields, *, client: str | None, scheme: str, via: str, for_cache: bool
) -> list[tuple[str, str]]:
    """The request fields sent to the origin for a client's request.

    End-to-end fields pass, but ``Host`` (the origin's own is sent) and, when
    ``for_cache`` (the cache fetches a whole representation for everyone),
    the conditional and range fields (the cache adds its own validators).
    ``Via`` gets ``via`` appended; ``X-Forwarded-For`` the client's address;
    ``X-Forwarded-Proto`` the scheme the client used.
    """
    dropped = _CACHE_MADE if for_cache else frozenset()
    forwarded = [
        (name, value)
        for name, value in end_to_end(fields)
        if name != "host" and name not in dropped and name not in ("via", "x-forwarded-for", "x-forwarded-proto")
    ]
    previous_via = ", ".join(value for name, value in fields if name == "via")
    forwarded.append(("via", f"{previous_via}, {via}" if previous_via else via))
    if client:
        previous_for = ", ".join(value for name, value in fields if name == "x-forwarded-for")
        forwarded.append(("x-forwarded-for", f"{previous_for}, {client}" if previous_for else client))
    forwarded.append(("x-forwarded-proto", scheme))
    return forwarded


def stored_response(fields: Fields) -> list[tuple[str, str]]:
    """The response fields stored with an entry: end-to-end ones, without cookies and ``Age``."""
    return [(name, value) for name, value in end_to_end(fields) if name not in _NOT_STORED]


def encode_fields(fields: Iterable[tuple[str, str]]) -> str:
    """``fields`` as compact JSON, for ``attrs[FIELDS]``."""
    return json.dumps([[name, value] for name, value in fields], separators=(",", ":"))


def decode_fields(attrs: Mapping[str, str]) -> list[tuple[str, str]] | None:
    """The fields stored in ``attrs``, or ``None`` when the entry holds none (or they are not valid)."""
    encoded = attrs.get(FIELDS)
    if encoded is None:
        return None
    try:
        pairs = json.loads(encoded)
    except ValueError:
        return None
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in pairs
    ):
        return None
    return [(name, value) for name, value in pairs]
