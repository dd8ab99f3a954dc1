"""Origins of ``daramjwee serve``: where a miss or a revalidation is fetched from.

An :class:`Origin` turns a normalized request path into an async fetcher for
:meth:`daramjwee.AsyncCache.get`.  :func:`open_origin` picks the kind from the
``--origin`` spec:

* ``http://…`` / ``https://…`` → :class:`~daramjwee.server._http_origin.HttpOrigin`
  (a reverse proxy of that server);
* ``s3://bucket/prefix`` (also ``gs://``, ``az://`` and obstore's other cloud
  schemes) → :class:`~daramjwee.server._object_origin.ObjectOrigin` (objects
  read with obstore);
* anything else → :class:`~daramjwee.server._directory_origin.DirectoryOrigin`
  (files under a local directory; ``file:///path`` works too).

This module holds what they share: the errors, the :class:`Origin` protocol and
:func:`open_origin`, which imports the kind it opens only then (so importing
this module never imports obstore).  Their common helpers are in
:mod:`daramjwee.server._origin_common`.

**The fetcher contract**, the same for every kind:

* The :class:`~daramjwee.FetchResult` body is an async iterator of ``bytes``
  chunks with ``aclose``: nothing is buffered whole, and the body holds the
  upstream resource (HTTP response, object stream, open file) until it is read
  to its end or closed; the cache closes it in every case.
* ``Metadata.etag`` is the validator (the upstream ``ETag`` verbatim, quotes and
  ``W/`` included; a strong tag made from the file's mtime and size for a
  directory; the object's ETag for object stores), ``""`` when there is none.
  ``Metadata.attrs`` carries the representation headers, with lowercase names:
  ``content-type`` (always), ``content-length`` (decimal, when known),
  ``last-modified`` (an HTTP-date, when known) and ``content-encoding`` (only
  when the bytes are encoded, e.g. a gzip body the origin sent anyway).
  ``cached_at`` is left to the cache.
* Given ``old`` metadata of a positive entry, the fetch is conditional and
  raises :class:`~daramjwee.NotModified` when ``old`` is still current.
* A missing resource raises :class:`~daramjwee.CacheableNotFound` (the cache
  stores a negative entry); any other failure raises :class:`OriginError` (or
  :class:`OriginTimeout`), whose ``status`` is the HTTP status the proxy
  answers.  Those are never cached.  A failure in the middle of the body is
  raised from the body's ``__anext__`` the same way, so the cache never
  publishes a partial value.

Paths given to :meth:`Origin.fetcher` are the proxy's cache keys
(:func:`daramjwee.server._paths.cache_key`): they start with ``/``, have no
``..``, ``.`` or empty segments (a trailing ``/`` is kept), are percent-decoded,
and may be followed by ``?`` and a raw, percent-encoded query.  The origins do
not trust that: each re-checks what it needs to stay inside its root.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

from .._async._cache import AsyncFetcher
from .._errors import ConfigError, DaramjweeError
from ._origin_common import HTTP_SCHEMES

__all__ = [
    "Origin",
    "OriginError",
    "OriginTimeout",
    "open_origin",
]

_OBJECT_SCHEMES = frozenset({"s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"})


# -- errors -------------------------------------------------------------------------


class OriginError(DaramjweeError):
    """The origin could not serve the request; never cached.

    ``status`` is the HTTP status the proxy answers: 502 (Bad Gateway) for an
    upstream 5xx, an unreachable origin, a broken connection or a response the
    proxy cannot use (a redirect, an unexpected status, a truncated body); the
    upstream's own status for its other 4xx answers (400, 401, 403, 416...;
    404 and 410 are :class:`~daramjwee.CacheableNotFound` instead); 403 for a
    local file the server may not read.
    """

    status: int

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[type[OriginError], tuple[str, int]]:
        return (type(self), (str(self), self.status))


class OriginTimeout(OriginError):
    """The origin did not connect or answer in time (504 Gateway Timeout), before or in the middle of a body."""

    def __init__(self, message: str, status: int = 504) -> None:
        super().__init__(message, status)


# -- the protocol and its factory ------------------------------------------------------


class Origin(Protocol):
    """Where the proxy fetches what its cache misses or revalidates."""

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher of ``path`` (a cache key of the proxy, see the module docstring) for ``AsyncCache.get``.

        Creating it does no I/O; each call of the fetcher makes one request.
        Raises ``ValueError`` when ``path`` does not start with ``/``.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and clients; idempotent.  Fetchers must not be called afterwards."""
        ...

    def describe(self) -> str:
        """Where the origin is, for logs and the startup banner; never contains credentials."""
        ...


def open_origin(
    spec: str,
    *,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    s3_options: Mapping[str, Any] | None = None,
) -> Origin:
    """Open the origin ``spec`` names; raise :class:`~daramjwee.ConfigError` saying what to fix.

    * ``http://host[:port][/base]`` or ``https://…`` → :class:`~daramjwee.server._http_origin.HttpOrigin`
      (no query or fragment; credentials ``user:password@`` are sent as Basic
      authentication and never shown by ``describe``).
    * ``s3://bucket[/prefix]``, ``gs://…``, ``az://…`` (and ``s3a``, ``azure``,
      ``abfs``, ``abfss``, ``adl``) → :class:`~daramjwee.server._object_origin.ObjectOrigin` through
      ``obstore.store.from_url(spec, **s3_options)`` (``endpoint=``,
      ``region=``, credentials, ``client_options=``, ``retry_config=``...).
      Needs obstore (``pip install 'daramjwee[s3]'``).
    * ``file:///path`` or any other string without ``://`` →
      :class:`~daramjwee.server._directory_origin.DirectoryOrigin`
      (the directory must exist).

    ``timeout`` is the longest wait, in seconds, for any read from the origin
    (response headers, and each chunk of a body); ``connect_timeout`` bounds
    opening a connection.  Either running out raises :class:`OriginTimeout`.
    A directory origin reads local files and uses neither.  ``s3_options``
    applies to object origins only (an error with any other kind).
    """
    timeout = _positive_seconds(timeout, "timeout")
    connect_timeout = _positive_seconds(connect_timeout, "connect_timeout")
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            f"origin must be an http(s):// URL, an s3:// (gs://, az://) URL or a directory path, got {spec!r}"
        )
    scheme = spec.partition("://")[0].lower() if "://" in spec else ""
    if scheme in _OBJECT_SCHEMES:
        from ._object_origin import ObjectOrigin  # noqa: PLC0415 (imports obstore when used; no import cycle)

        return ObjectOrigin(spec, timeout=timeout, connect_timeout=connect_timeout, options=s3_options)
    if s3_options:
        raise ConfigError(
            f"s3_options apply only to an s3://, gs:// or az:// origin, but the origin is {spec!r}; remove them"
        )
    if scheme in HTTP_SCHEMES:
        from ._http_origin import HttpOrigin  # noqa: PLC0415 (no import cycle)

        return HttpOrigin(spec, timeout=timeout, connect_timeout=connect_timeout)
    from ._directory_origin import DirectoryOrigin  # noqa: PLC0415 (no import cycle)

    if scheme == "file":
        parts = urllib.parse.urlsplit(spec)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"a file:// origin must name a local directory (file:///path), got {spec!r}")
        return DirectoryOrigin(urllib.parse.unquote(parts.path))
    if scheme:
        raise ConfigError(
            f"origin {spec!r} has the unsupported scheme {scheme!r}; "
            "use http://, https://, s3://, gs://, az:// or a local directory path"
        )
    return DirectoryOrigin(spec)


def _positive_seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)
