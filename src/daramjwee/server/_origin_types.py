"""What every origin of ``daramjwee serve`` shares: the :class:`Origin` protocol and the errors.

The kinds (:mod:`~daramjwee.server._http_origin`, :mod:`~daramjwee.server._directory_origin`,
:mod:`~daramjwee.server._object_origin`) import this module, and
:func:`daramjwee.server._origins.open_origin` picks one of them; this module
imports none of them.

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

from typing import Protocol

from .. import AsyncFetcher, DaramjweeError

__all__ = ["REPRESENTATION_ATTRS", "Origin", "OriginError", "OriginTimeout"]

REPRESENTATION_ATTRS = ("content-type", "content-length", "last-modified", "content-encoding")
"""The ``Metadata.attrs`` an origin fills (see the fetcher contract above), each sent as the header field it names."""


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


# -- the protocol ------------------------------------------------------------------------


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
