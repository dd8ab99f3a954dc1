"""Request target → cache key: the one normalization every request to ``daramjwee serve`` goes through.

Pure functions, no I/O.  The key :func:`cache_key` returns is both the cache key and the
path (plus query) the origin is asked for, so anything ambiguous or hostile is refused here
with a :class:`BadTarget` carrying the HTTP status to answer, instead of being resolved.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

__all__ = ["BadTarget", "cache_key", "memoized_cache_key", "origin_target"]

# "%" not followed by two hex digits (RFC 3986 §2.1 pct-encoded).
_MALFORMED_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(rb"%2[Ff]")
# ASCII control characters: C0 (NUL included) and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a query may hold: visible ASCII except "#" (a fragment is never sent to a server).
_QUERY_BYTES = re.compile(rb"[\x21\x22\x24-\x7e]*")
# RFC 3986 pchar minus unreserved (which quote() never escapes), plus "/" between segments.
_PATH_SAFE = "/:@!$&'()*+,;="
_STATUSES = (400, 404, 414)


class BadTarget(ValueError):
    """A request target the proxy refuses.

    ``status`` is the HTTP status to answer (400, 404 or 414) and the message says
    why, in words fit for the response body.  :func:`cache_key` raises only 400 and
    414; 404 is for callers that refuse a well-formed target.
    """

    status: int

    def __init__(self, status: int, message: str) -> None:
        if status not in _STATUSES:
            raise ValueError(f"BadTarget status must be one of {_STATUSES}, got {status!r}")
        super().__init__(message)
        self.status = status


def cache_key(raw_path: bytes, query: bytes, *, include_query: bool, max_length: int = 8192) -> str:
    """Return the normalized ``path[?query]`` for an ASGI request target, or raise :class:`BadTarget`.

    ``raw_path`` is ASGI's ``scope["raw_path"]`` (percent-encoded, as on the request
    line, without the query) and ``query`` is ``scope["query_string"]`` (no leading
    ``?``).  The rules, in the order they are checked:

    1. ``len(raw_path) + len(query) > max_length`` → 414 (checked first and
       counted whether or not the query is part of the key).
    2. ``raw_path`` must start with ``/`` (origin-form): absolute-form
       (``http://host/x``), authority-form (``host:443``), ``*`` and an empty path → 400.
    3. A ``%`` not followed by two hex digits → 400; an encoded slash ``%2F``/``%2f``
       → 400 (whether it separates segments is ambiguous, so it is refused).
    4. The path is percent-decoded exactly once (``%252F`` becomes the literal text
       ``%2F``) and the bytes decoded as UTF-8 (raw non-ASCII bytes are accepted if
       they are UTF-8): invalid UTF-8 → 400.
    5. After decoding: an ASCII control character (``\\x00``-``\\x1f``, ``\\x7f``) → 400;
       a backslash (raw or ``%5C``) → 400, never read as a separator; ``?`` (from
       ``%3F``) → 400, since the first ``?`` of a key separates its query.
    6. Segments: empty ones (repeated slashes) and ``.`` are dropped; any ``..``
       segment, however it was spelled (``..``, ``%2e%2e``, ``.%2E``...) → 400: the
       path is never resolved upward.  So is ``..;anything``, which servlet containers
       resolve as ``..`` (path parameters).  Other dotted names (``...``, ``.a``) are kept.
    7. The result is ``/`` + the kept segments joined by ``/``; it keeps a trailing
       ``/`` when the path ended in ``/`` or ``/.`` (``/dir/`` and ``/dir`` are
       distinct keys) unless nothing is left, which gives ``/``.  So a key starts with
       exactly one ``/`` and never contains ``//``, ``/./`` or ``/../``.

    With ``include_query``, a non-empty query is appended as ``?`` + its parameters:
    split on ``&``, empty parameters dropped, the rest sorted (as strings) and joined
    with ``&``.  Each parameter keeps its raw bytes (no decoding: ``a=%20`` and ``a=+``
    differ), so a query must be visible ASCII without ``#`` (bytes ``0x21``-``0x7e``):
    anything else → 400.  Sorting also reorders repeated names (``a=2&a=1`` gives
    ``a=1&a=2``); the origin is asked with the same sorted query, so key and response
    agree.  A query with no parameters left adds nothing.  Without ``include_query``
    the query is ignored (beyond rule 1).

    :func:`origin_target` turns a key back into a request target; feeding its two
    parts back into this function returns the same key.
    """
    if len(raw_path) + len(query) > max_length:
        raise BadTarget(
            414,
            f"request target is {len(raw_path) + len(query)} bytes, over the limit of {max_length}; "
            "shorten the path and query",
        )
    if not raw_path.startswith(b"/"):
        raise BadTarget(
            400,
            "request target must be a path starting with '/'; this proxy does not accept absolute-form "
            "('http://host/x'), authority-form or '*' targets",
        )
    if _MALFORMED_ESCAPE.search(raw_path):
        raise BadTarget(400, "path has a '%' not followed by two hex digits; encode a literal '%' as '%25'")
    if _ENCODED_SLASH.search(raw_path):
        raise BadTarget(400, "path contains an encoded slash '%2F', which is ambiguous; use '/' between segments")
    try:
        path = urllib.parse.unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadTarget(400, "path is not valid UTF-8 once percent-decoded; percent-encode UTF-8 bytes") from None
    if _CONTROL.search(path):
        raise BadTarget(400, "path contains a control character (such as NUL or a newline), which is not allowed")
    if "\\" in path:
        raise BadTarget(400, "path contains a backslash, which is not allowed; use '/' between segments")
    if "?" in path:
        raise BadTarget(400, "path contains an encoded '?' ('%3F'), which is ambiguous in a cache key; remove it")
    segments = path.split("/")[1:]
    if any(segment.partition(";")[0] == ".." for segment in segments):
        raise BadTarget(400, "path contains a '..' segment (possibly percent-encoded); '..' is never resolved")
    kept = [segment for segment in segments if segment not in ("", ".")]
    key = "/" + "/".join(kept)
    if kept and segments[-1] in ("", "."):
        key += "/"
    if include_query:
        key += _normalized_query(query)
    return key


@functools.lru_cache(maxsize=8192)
def memoized_cache_key(raw_path: bytes, query: bytes, include_query: bool, max_length: int) -> str:
    """:func:`cache_key`, memoized: popular paths are normalized once (a refused target raises every time)."""
    return cache_key(raw_path, query, include_query=include_query, max_length=max_length)


def _normalized_query(query: bytes) -> str:
    if _QUERY_BYTES.fullmatch(query) is None:
        raise BadTarget(
            400,
            "query string may hold only visible ASCII characters other than '#'; percent-encode the rest "
            "(spaces, control characters, non-ASCII bytes)",
        )
    parameters = sorted(parameter for parameter in query.decode("ascii").split("&") if parameter)
    return "?" + "&".join(parameters) if parameters else ""


def origin_target(key: str) -> str:
    """Return the percent-encoded request target (path and optional ``?query``) for a key of :func:`cache_key`.

    The path part (up to the first ``?``) is UTF-8 percent-encoded, leaving ``/`` and
    the RFC 3986 ``pchar`` characters as they are (``%`` becomes ``%25``); the query
    part is already raw ASCII and is kept verbatim.  This is what to send to an HTTP
    origin for that key.
    """
    path, separator, query = key.partition("?")
    return urllib.parse.quote(path, safe=_PATH_SAFE) + separator + query
