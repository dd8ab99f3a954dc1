"""The rules of a shared HTTP cache (RFC 9111) as pure functions: no I/O, no clock reads.

``CacheApp`` asks these functions every question the RFC answers — may this
response be stored, for how long is it fresh, how old is it now, may this
request use a stored response without asking the origin, does a client's
conditional request match — and does the I/O itself.  Every function takes
the times it needs as arguments, so each rule is tested with exact numbers.

Header fields are passed as a sequence of ``(name, value)`` pairs with
lowercase names (:data:`Fields`), in the order they arrived, repeats kept.
"""

from __future__ import annotations

import calendar
import dataclasses
import email.utils
from collections.abc import Mapping, Sequence
from types import MappingProxyType

__all__ = [
    "CACHEABLE_BY_DEFAULT",
    "MAX_DELTA",
    "CacheControl",
    "Fields",
    "Freshness",
    "StorePolicy",
    "Verdict",
    "current_age",
    "field",
    "field_values",
    "http_date",
    "not_modified",
    "parse_cache_control",
    "parse_http_date",
    "request_needs_origin",
    "storable",
    "updated_fields",
]

Fields = Sequence[tuple[str, str]]

CACHEABLE_BY_DEFAULT = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
"""Status codes "heuristically cacheable" (RFC 9110 §15.1): storable without explicit freshness."""

SURROGATE_NAME = "daramjwee"
"""The name ``Surrogate-Control`` directives target this cache with (``max-age=60;daramjwee``)."""

MAX_DELTA = 2147483648
"""The largest delta-seconds kept (RFC 9111 §1.2.2): a larger value is read as this one."""

_NOT_UPDATED_BY_304 = frozenset(
    {
        "content-length",
        "content-encoding",
        "content-type",
        "content-range",
        "content-md5",
        "etag",
        "transfer-encoding",
        "set-cookie",
    }
)
"""Stored fields a 304 does not replace: they describe the stored body itself, which the 304 confirmed."""


# -- parsing ----------------------------------------------------------------------------


def field_values(fields: Fields, name: str) -> list[str]:
    """Every comma-separated member of every line of the list-based field ``name`` (empty members dropped)."""
    members: list[str] = []
    for key, value in fields:
        if key == name:
            members.extend(member.strip() for member in _split_list(value))
    return [member for member in members if member]


def field(fields: Fields, name: str) -> str | None:
    """The value of a singleton field ``name`` (its first line), or ``None``."""
    for key, value in fields:
        if key == name:
            return value
    return None


def _split_list(value: str) -> list[str]:
    """Split a list-based field value on the commas outside quoted strings."""
    parts, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


@dataclasses.dataclass(frozen=True, slots=True)
class CacheControl:
    """Parsed ``Cache-Control`` directives: lowercase name → argument (``None`` when it has none).

    The first occurrence of a directive wins; quoted arguments are unquoted
    (RFC 9111 §5.2 asks recipients to accept both forms).
    """

    directives: Mapping[str, str | None]

    def __contains__(self, name: object) -> bool:
        return name in self.directives

    def seconds(self, name: str) -> int | None:
        """The delta-seconds argument of ``name``; ``None`` when absent; ``0`` when present but not a number.

        A directive whose argument is not delta-seconds (``max-age=-1``,
        ``max-age=a``, ``max-age`` alone) makes the response stale rather
        than fresh for an unknown time: the conservative reading.
        """
        if name not in self.directives:
            return None
        argument = self.directives[name]
        if argument is None or not argument.isascii() or not argument.isdigit():
            return 0
        return min(int(argument), MAX_DELTA)


def parse_cache_control(fields: Fields, name: str = "cache-control") -> CacheControl:
    """The ``Cache-Control`` directives of ``fields`` (every line of the field, in order).

    ``name="surrogate-control"`` reads the directives a reverse proxy is
    given in ``Surrogate-Control`` (W3C Edge Architecture): those aimed at
    another surrogate (``max-age=60;other``) are left out.
    """
    directives: dict[str, str | None] = {}
    for member in field_values(fields, name):
        member, _, target = member.partition(";")
        if target and target.strip().lower() != SURROGATE_NAME:
            continue
        name, equals, argument = member.partition("=")
        name = name.lower()
        if not _is_token(name) or name in directives:
            continue  # ``max-age =5`` is not a directive: no whitespace around ``=`` (RFC 9111 §5.2)
        value: str | None = None
        if equals:
            value = argument
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        directives[name] = value
    return CacheControl(MappingProxyType(directives))


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (one or more tchar)."""
    return bool(text) and all(char in _TOKEN_CHARS for char in text)


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms); else ``None``."""
    if not value:
        return None
    parsed = email.utils.parsedate_tz(value.strip())
    if parsed is None:
        return None
    try:
        return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
    except (OverflowError, ValueError):
        return None


def http_date(timestamp: float) -> str:
    """``timestamp`` as an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return email.utils.formatdate(timestamp, usegmt=True)


# -- storing (RFC 9111 §3) ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StorePolicy:
    """What the operator chose where the RFC leaves a choice.

    Attributes:
        default_fresh_for: freshness of a heuristically cacheable response
            that states none and has no ``Last-Modified``; ``None`` stores it
            not at all.
        heuristic_fraction: the share of ``Date - Last-Modified`` taken as the
            freshness of a response with a ``Last-Modified`` and no explicit
            freshness (RFC 9111 §4.2.2 suggests 10 %).
        heuristic_max: the bound on any heuristic freshness, in seconds.
        override_fresh_for: when set, every storable response is fresh this
            long whatever it says (the origin's freshness is ignored).
        store_set_cookie: store responses carrying ``Set-Cookie`` (the
            cookie itself is never stored nor replayed to another client).
    """

    default_fresh_for: float | None = 60.0
    heuristic_fraction: float = 0.1
    heuristic_max: float = 86400.0
    override_fresh_for: float | None = None
    store_set_cookie: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Freshness:
    """How long a stored response is fresh and how it may be used once stale (per-entry cache metadata).

    ``fresh_for`` is counted from the moment the response was received, so
    the age it had when it arrived is already taken off it.
    """

    fresh_for: float
    initial_age: float
    lifetime: float
    stale_while_revalidate: float
    stale_if_error: float | None
    must_revalidate: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a response may be stored; when not, ``reason`` says why (for logs and tests)."""

    store: bool
    reason: str
    freshness: Freshness | None = None


def storable(
    method: str,
    request: Fields,
    status: int,
    response: Fields,
    *,
    request_time: float,
    response_time: float,
    policy: StorePolicy,
) -> Verdict:
    """May a shared cache store this response to this request (RFC 9111 §3), and for how long is it fresh.

    Refused: a method other than GET (a HEAD is answered from a GET the
    cache makes itself), a status that is not final, ``no-store`` in the
    request or the response, ``private``, an ``Authorization`` request
    unless the response allows it (``public``, ``s-maxage`` or
    ``must-revalidate``, §3.5), ``Vary: *``, ``Set-Cookie`` unless the
    policy allows it, and a response with neither explicit freshness nor a
    heuristically cacheable status.
    """
    if method != "GET":
        return Verdict(False, f"method {method} is not cached")
    if status < 200 or status == 206:
        return Verdict(False, f"status {status} is not stored")
    request_control = parse_cache_control(request)
    control = parse_cache_control(response)
    if "no-store" in request_control:
        return Verdict(False, "the request says no-store")
    if "no-store" in control:
        return Verdict(False, "the response says no-store")
    surrogate = parse_cache_control(response, "surrogate-control")
    if "no-store" in surrogate:
        return Verdict(False, "the response says no-store to surrogates")
    if "private" in control:
        return Verdict(False, "the response is private")
    if field(request, "authorization") is not None and not (
        "public" in control or "s-maxage" in control or "must-revalidate" in control
    ):
        return Verdict(False, "the request carries Authorization and the response does not allow sharing it")
    if "*" in field_values(response, "vary"):
        return Verdict(False, "the response varies on everything (Vary: *)")
    if field(response, "set-cookie") is not None and not policy.store_set_cookie:
        return Verdict(False, "the response sets a cookie")
    lifetime = _lifetime(status, response, control, response_time, policy)
    surrogate_max_age = surrogate.seconds("max-age")
    if surrogate_max_age is not None and policy.override_fresh_for is None:
        lifetime = float(surrogate_max_age)  # Surrogate-Control speaks to reverse proxies over Cache-Control
    if lifetime is None:
        return Verdict(False, f"status {status} without explicit freshness is not stored")
    initial_age = _initial_age(response, request_time, response_time)
    no_cache = "no-cache" in control
    fresh = Freshness(
        fresh_for=0.0 if no_cache else max(lifetime - initial_age, 0.0),
        initial_age=initial_age,
        lifetime=0.0 if no_cache else lifetime,
        stale_while_revalidate=float(control.seconds("stale-while-revalidate") or 0),
        stale_if_error=_optional_seconds(control, "stale-if-error"),
        must_revalidate=no_cache
        or "must-revalidate" in control
        or "proxy-revalidate" in control
        or "s-maxage" in control,
    )
    return Verdict(True, "stored", fresh)


def _optional_seconds(control: CacheControl, name: str) -> float | None:
    seconds = control.seconds(name)
    return None if seconds is None else float(seconds)


def _lifetime(
    status: int, response: Fields, control: CacheControl, response_time: float, policy: StorePolicy
) -> float | None:
    """The freshness lifetime (RFC 9111 §4.2.1, shared cache), or ``None`` when the response must not be stored."""
    if policy.override_fresh_for is not None:
        return policy.override_fresh_for
    for name in ("s-maxage", "max-age"):
        seconds = control.seconds(name)
        if seconds is not None:
            return float(seconds)
    expires_lines = [value for key, value in response if key == "expires"]
    if expires_lines:
        expires = parse_http_date(expires_lines[0]) if len(expires_lines) == 1 else None
        if expires is None:
            return 0.0  # an invalid Expires (``0``, garbage, two of them) means already expired
        date = parse_http_date(field(response, "date"))
        return max(expires - (date if date is not None else response_time), 0.0)
    if status not in CACHEABLE_BY_DEFAULT and "public" not in control:
        return None
    last_modified = parse_http_date(field(response, "last-modified"))
    if last_modified is not None:
        date = parse_http_date(field(response, "date"))
        since = (date if date is not None else response_time) - last_modified
        return min(max(since, 0.0) * policy.heuristic_fraction, policy.heuristic_max)
    return policy.default_fresh_for


def _initial_age(response: Fields, request_time: float, response_time: float) -> float:
    """``corrected_initial_age`` of RFC 9111 §4.2.3: the age the response had when it arrived."""
    date = parse_http_date(field(response, "date"))
    apparent_age = max(response_time - date, 0.0) if date is not None else 0.0
    age_value = field(response, "age")
    age = float(min(int(age_value), MAX_DELTA)) if age_value and age_value.strip().isdigit() else 0.0
    corrected_age_value = age + max(response_time - request_time, 0.0)
    return max(apparent_age, corrected_age_value)


def current_age(initial_age: float, received_at: float, now: float) -> float:
    """The age of a stored response at ``now`` (§4.2.3): its age on arrival plus its time in the cache."""
    return initial_age + max(now - received_at, 0.0)


# -- using a stored response (RFC 9111 §4) -------------------------------------------------


def request_needs_origin(request: Fields, *, age: float, fresh_for_left: float) -> bool:
    """Whether the request's own directives forbid answering it with the stored response without the origin.

    ``age`` is the stored response's current age and ``fresh_for_left`` the
    seconds it stays fresh (negative once stale).  True for ``no-cache``, a
    ``max-age`` the age exceeds, a ``min-fresh`` the response does not have
    left, and a response more stale than the request's ``max-stale`` with
    seconds accepts (§5.2.1; within it, the cache's own rules decide).
    ``Pragma`` is ignored, as RFC 9111 deprecates it (§5.4) and nginx
    ignores it.
    """
    control = parse_cache_control(request)
    if "no-cache" in control:
        return True
    max_age = control.seconds("max-age")
    if max_age is not None and age > max_age:
        return True
    min_fresh = control.seconds("min-fresh")
    if min_fresh is not None and fresh_for_left < min_fresh:
        return True
    max_stale = control.seconds("max-stale") if control.directives.get("max-stale") is not None else None
    return max_stale is not None and -fresh_for_left > max_stale


def not_modified(request: Fields, status: int, response: Fields) -> bool:
    """Whether a GET/HEAD's conditional headers let the cache answer 304 for this stored response.

    ``If-None-Match`` (weak comparison, ``*`` matches any) takes precedence
    over ``If-Modified-Since``, which is compared with ``Last-Modified``, or
    ``Date`` when there is none (RFC 9111 §4.3.2; RFC 9110 §13.1).  Only a
    200 response is answered 304.
    """
    if status != 200:
        return False
    if_none_match = field_values(request, "if-none-match")
    if if_none_match:
        etag = field(response, "etag")
        if "*" in if_none_match:
            return True
        return etag is not None and _opaque(etag) in {_opaque(tag) for tag in if_none_match}
    since = parse_http_date(field(request, "if-modified-since"))
    if since is None:
        return False
    modified = parse_http_date(field(response, "last-modified") or field(response, "date"))
    return modified is not None and modified <= since


def _opaque(tag: str) -> str:
    """An entity tag without its weak prefix: what the weak comparison compares."""
    return tag[2:] if tag.startswith("W/") else tag


def head_matches(stored: Fields, head: Fields) -> bool:
    """Whether a ``200`` response to ``HEAD`` describes the stored response's representation (§4.3.5).

    Then it freshens the stored response (as a 304 would, :func:`updated_fields`);
    otherwise the stored response stays stale.  It matches when it carries the
    stored ``ETag``; or, neither carrying one, the stored ``Last-Modified``; or
    neither carries a validator.  A ``Content-Length`` on both must agree.
    """
    stored_length, head_length = field(stored, "content-length"), field(head, "content-length")
    if stored_length is not None and head_length is not None and stored_length != head_length:
        return False
    stored_etag, head_etag = field(stored, "etag"), field(head, "etag")
    if stored_etag is not None or head_etag is not None:
        return stored_etag == head_etag
    return field(stored, "last-modified") == field(head, "last-modified")


def updated_fields(stored: Fields, update: Fields) -> list[tuple[str, str]]:
    """The stored header fields with those a 304 (or a HEAD) carried replacing theirs (RFC 9111 §4.3.4)."""
    replaced = {name for name, _ in update if name not in _NOT_UPDATED_BY_304}
    kept = [(name, value) for name, value in stored if name not in replaced]
    return kept + [(name, value) for name, value in update if name in replaced]
