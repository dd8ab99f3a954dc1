"""HTTP header fields through the proxy: what is forwarded, what is stored with an entry, what is replayed.

Pure functions over :data:`~daramjwee.server._cache_rules.Fields` (lowercase
names, arrival order, repeats kept).  A stored response's status and fields
travel in the entry's ``Metadata.attrs`` under the reserved names
:data:`STATUS` and :data:`FIELDS`, so every tier keeps them with the body.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterable, Mapping

from ._cache_rules import Fields, field_values

__all__ = [
    "BODY_FIELDS",
    "FIELDS",
    "FORWARDED_MODES",
    "HOP_BY_HOP",
    "INITIAL_AGE",
    "LIFETIME",
    "STATUS",
    "check_forwarding",
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

BODY_FIELDS = frozenset({"content-length", "content-type", "content-encoding", "content-range", "transfer-encoding"})
"""Fields a 304 leaves out: they describe a body it does not have."""
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


FORWARDED_MODES = ("append", "replace", "off")
"""How ``X-Forwarded-For``/``-Proto`` reach the origin; see :func:`forwarded_request`."""
_RECEIVED_BY = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(:[0-9]+)?")


def check_forwarding(via: str, forwarded: str) -> None:
    """``ValueError`` unless ``via`` is a ``Via`` received-by name (a token, or host[:port]) and ``forwarded`` a mode.

    Pure; the caller turns the error into its own (a ``ConfigError`` for ``serve``'s settings).
    """
    if not isinstance(via, str) or _RECEIVED_BY.fullmatch(via) is None:
        raise ValueError(f"via must be a name for the Via header (a token, or host[:port]), got {via!r}")
    if forwarded not in FORWARDED_MODES:
        raise ValueError(f"forwarded must be one of {', '.join(FORWARDED_MODES)}, got {forwarded!r}")


def forwarded_request(
    fields: Fields, *, client: str | None, scheme: str, via: str | None, for_cache: bool, forwarded: str
) -> list[tuple[str, str]]:
    """The request fields sent to the origin for a client's request.

    End-to-end fields pass, but ``Host`` (the origin's own is sent) and, when
    ``for_cache`` (the cache fetches a whole representation for everyone),
    the conditional and range fields (the cache adds its own validators).
    ``Via`` gets ``via`` appended (RFC 9110 §7.6.3: a proxy always does);
    with ``via=None`` (a cache in the same process as its origin, where no
    message is forwarded) the client's ``Via`` passes unchanged.
    ``forwarded`` says what becomes of ``X-Forwarded-For`` and
    ``X-Forwarded-Proto``: ``"append"`` adds the client's address to the
    chain the client sent and states the scheme it used; ``"replace"``
    drops what the client sent and states only what this proxy saw (for a
    proxy facing clients that could forge the chain); ``"off"`` sends
    neither, dropping the client's too.
    """
    dropped = _CACHE_MADE if for_cache else frozenset()
    forwarded_fields = [
        (name, value)
        for name, value in end_to_end(fields)
        if name != "host" and name not in dropped and name not in ("via", "x-forwarded-for", "x-forwarded-proto")
    ]
    previous_via = ", ".join(value for name, value in fields if name == "via")
    if via is not None:
        forwarded_fields.append(("via", f"{previous_via}, {via}" if previous_via else via))
    elif previous_via:
        forwarded_fields.append(("via", previous_via))
    if forwarded == "off":
        return forwarded_fields
    if client:
        chain = ", ".join(value for name, value in fields if name == "x-forwarded-for") if forwarded == "append" else ""
        forwarded_fields.append(("x-forwarded-for", f"{chain}, {client}" if chain else client))
    forwarded_fields.append(("x-forwarded-proto", scheme))
    return forwarded_fields


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
