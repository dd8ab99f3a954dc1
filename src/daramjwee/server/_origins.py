"""Origins of ``daramjwee serve``: where a miss or a revalidation is fetched from (SPEC §6).

An :class:`Origin` turns a normalized request path into an async fetcher for
:meth:`daramjwee.AsyncCache.get`.  :func:`open_origin` picks the kind from the
``--origin`` spec:

* ``http://…`` / ``https://…`` → :class:`HttpOrigin` (a reverse proxy of that server);
* ``s3://bucket/prefix`` (also ``gs://``, ``az://`` and obstore's other cloud
  schemes) → :class:`ObjectOrigin` (objects read with obstore);
* anything else → :class:`DirectoryOrigin` (files under a local directory;
  ``file:///path`` works too).

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

import asyncio
import contextlib
import datetime
import email.utils
import errno
import functools
import math
import mimetypes
import os
import stat
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import httpx

from .. import __version__
from .._async._cache import AsyncFetcher
from .._errors import CacheableNotFound, ConfigError, DaramjweeError, NotModified
from .._metadata import FetchResult, Metadata

if TYPE_CHECKING:
    from obstore import BytesStream, GetOptions, GetResult
    from obstore.store import ObjectStore as Backend

__all__ = [
    "DirectoryOrigin",
    "HttpOrigin",
    "ObjectOrigin",
    "Origin",
    "OriginError",
    "OriginTimeout",
    "open_origin",
]

CHUNK_SIZE = 64 * 1024
"""Bytes per chunk read from a file, and the smallest chunk taken from an object-store response."""
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_GENERIC_CONTENT_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
"""Content types object stores give objects stored without one: a guess from the name is better."""
_OBJECT_SCHEMES = frozenset({"s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"})
_HTTP_SCHEMES = frozenset({"http", "https"})
_PATH_SAFE = "/~!$&'()*+,;=:@"
"""Characters of a path kept as they are when it is percent-encoded again (RFC 3986 ``pchar`` and ``/``)."""
_QUERY_SAFE = _PATH_SAFE + "?%"
"""A raw query is kept as it is (``%`` escapes included); only characters a URL cannot hold are encoded."""
_FORWARDED_HEADERS = ("content-type", "content-length", "last-modified", "content-encoding")
"""Response headers an HTTP origin's result carries in ``attrs``: end-to-end representation headers only."""
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
"""Content types of files whose name says "compressed" (``x.tar.gz``): served as the archive they are."""
_T = TypeVar("_T")
_MAX_CONNECTIONS_KEPT = 64
"""Idle connections an HTTP origin keeps open for reuse."""
_S3_RETRIES = 2
"""obstore retries of a failed request (its default, 10 retries within 3 minutes, is too patient for a proxy)."""
_S3_REQUEST_LIMIT = datetime.timedelta(days=1)
"""obstore's limit on a whole request, body included (its default, 30 s, would cut long downloads to slow clients).

Stalls are caught by the read timeout instead.
"""


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

    * ``http://host[:port][/base]`` or ``https://…`` → :class:`HttpOrigin`
      (no query or fragment; credentials ``user:password@`` are sent as Basic
      authentication and never shown by ``describe``).
    * ``s3://bucket[/prefix]``, ``gs://…``, ``az://…`` (and ``s3a``, ``azure``,
      ``abfs``, ``abfss``, ``adl``) → :class:`ObjectOrigin` through
      ``obstore.store.from_url(spec, **s3_options)`` (``endpoint=``,
      ``region=``, credentials, ``client_options=``, ``retry_config=``...).
      Needs obstore (``pip install 'daramjwee[s3]'``).
    * ``file:///path`` or any other string without ``://`` → :class:`DirectoryOrigin`
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
        return ObjectOrigin(spec, timeout=timeout, connect_timeout=connect_timeout, options=s3_options)
    if s3_options:
        raise ConfigError(
            f"s3_options apply only to an s3://, gs:// or az:// origin, but the origin is {spec!r}; remove them"
        )
    if scheme in _HTTP_SCHEMES:
        return HttpOrigin(spec, timeout=timeout, connect_timeout=connect_timeout)
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


def _split_path(path: str) -> tuple[str, str]:
    """``(path, query)`` of a cache key; ``ValueError`` unless it starts with ``/``."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"an origin path must be a str starting with '/', got {path!r}")
    name, _, query = path.partition("?")
    return name, query


def _safe_segments(name: str) -> list[str] | None:
    """The segments of ``name`` (a path starting with ``/``) naming a file, or ``None`` if it cannot name one.

    ``None`` for the root, a trailing ``/`` (a directory), an empty, ``.`` or
    ``..`` segment, or a NUL: what the proxy should never pass, re-checked here.
    """
    segments = name[1:].split("/")
    if "\x00" in name or any(segment in ("", ".", "..") for segment in segments):
        return None
    return segments


def _guess_type(name: str) -> str:
    """The content type of a file or object called ``name``, from its extension."""
    content_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _COMPRESSED_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return content_type or DEFAULT_CONTENT_TYPE


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _conditional(old: Metadata | None) -> Metadata | None:
    """``old`` when it describes a positive entry a conditional request can revalidate."""
    if old is None or old.is_negative or not (old.etag or old.attrs.get("last-modified")):
        return None
    return old


# -- HTTP -----------------------------------------------------------------------------


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing: the proxy's requests must not depend on earlier responses."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Any) -> None:
        return None


class HttpOrigin:
    """A reverse proxy of an HTTP(S) server, through one shared ``httpx.AsyncClient``.

    The URL of a path is the base URL's scheme, host and port, then the base
    path without its trailing ``/``, then the path percent-encoded again
    (``quote(path, safe="/~!$&'()*+,;=:@")``), then ``?`` and the query as it
    came (only characters a URL cannot hold are escaped).  The URL is built
    from those parts, never parsed from a concatenated string, so no path can
    change the host.

    **Requests**: ``GET`` with ``Accept-Encoding: identity``, so that what is
    stored is the plain representation that any client can use; an origin that
    compresses anyway is passed through as is: the body holds the bytes as
    received (``response.aiter_raw()``, never decoded) and ``attrs`` carries its
    ``content-encoding``, which the proxy must send with them.  Revalidations
    send ``If-None-Match: <old etag>`` and ``If-Modified-Since: <old
    last-modified>`` (each when known).  Redirects are not followed (a
    redirect is an :class:`OriginError`: point the origin at the final URL),
    no cookies are kept, and the environment (proxy variables, ``.netrc``) is
    ignored.  Connections are pooled without a limit on their number.

    **Responses**: 200, 203 and 204 are served; 304 to a conditional request is
    :class:`~daramjwee.NotModified`; 404 and 410 are
    :class:`~daramjwee.CacheableNotFound`; other 4xx are an :class:`OriginError`
    with that status; 5xx, other statuses and transport failures are an
    :class:`OriginError` with status 502; timeouts an :class:`OriginTimeout`
    (504).  Only ``content-type`` (``application/octet-stream`` when absent),
    ``content-length``, ``last-modified`` and ``content-encoding`` are carried
    in ``attrs``: hop-by-hop and other headers are not.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, connect_timeout: float = 5.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.hostname:
            raise ConfigError(f"an HTTP origin must be an http:// or https:// URL with a host, got {base_url!r}")
        if parts.query or parts.fragment or base_url.rstrip().endswith(("?", "#")):
            raise ConfigError(
                f"an HTTP origin URL must not have a query or a fragment, got {base_url!r}; "
                "remove the part from '?' or '#' on (the proxy sends each request's own query)"
            )
        try:
            port = parts.port
            url = httpx.URL(base_url)
        except (ValueError, httpx.InvalidURL) as error:
            raise ConfigError(f"invalid HTTP origin URL {base_url!r}: {error}") from None
        self._base = url
        self._base_path = url.raw_path.decode("ascii").rstrip("/")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._description = f"{parts.scheme.lower()}://{host}{'' if port is None else f':{port}'}{self._base_path}"
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=_MAX_CONNECTIONS_KEPT),
            cookies=_NoCookies(),
            trust_env=False,
            headers={"user-agent": f"daramjwee/{__version__}", "accept-encoding": "identity"},
        )

    def describe(self) -> str:
        """``scheme://host[:port][/base]``, without credentials."""
        return self._description

    def url(self, path: str) -> httpx.URL:
        """The URL requested for ``path`` (a cache key; ``ValueError`` unless it starts with ``/``)."""
        name, query = _split_path(path)
        target = self._base_path + urllib.parse.quote(name, safe=_PATH_SAFE)
        if query:
            target += "?" + urllib.parse.quote(query, safe=_QUERY_SAFE)
        return self._base.copy_with(raw_path=target.encode("ascii"))

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher that GETs ``path`` from the origin (see the class docstring for the outcomes).

        Cheap: the URL is built when the fetcher is called (most requests are hits and never call it).
        """
        _split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            return await self._fetch(self.url(path), path, _conditional(old))

        return fetch

    async def _fetch(self, url: httpx.URL, path: str, old: Metadata | None) -> FetchResult:
        headers: dict[str, str] = {}
        if old is not None:
            if old.etag:
                headers["if-none-match"] = old.etag
            last_modified = old.attrs.get("last-modified")
            if last_modified:
                headers["if-modified-since"] = last_modified
        try:
            request = self._client.build_request("GET", url, headers=headers)
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            self._raise(error, path)
        try:
            return self._result(response, path, conditional=old is not None)
        except BaseException:
            await response.aclose()
            raise

    def _result(self, response: httpx.Response, path: str, *, conditional: bool) -> FetchResult:
        status = response.status_code
        if status in (200, 203, 204):
            headers = response.headers
            attrs = {name: headers[name] for name in _FORWARDED_HEADERS if name in headers}
            attrs.setdefault("content-type", DEFAULT_CONTENT_TYPE)
            length = attrs.get("content-length")
            if length is not None and not length.isdigit():
                del attrs["content-length"]
            if status == 204:
                attrs["content-length"] = "0"
            metadata = Metadata(etag=headers.get("etag", ""), attrs=attrs)
            return FetchResult(_HttpBody(self, response, path), metadata)
        if status == 304 and conditional:
            raise NotModified(path)
        if status in (404, 410):
            raise CacheableNotFound(path)
        where = f"origin {self._description} answered {status} {response.reason_phrase} for {path!r}"
        if 400 <= status < 500:
            raise OriginError(f"{where}; the origin refused the request", status)
        if status >= 500:
            raise OriginError(f"{where}; the origin failed: check its logs")
        if status == 304:
            raise OriginError(f"{where} to a request that was not conditional; the origin is misbehaving")
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            raise OriginError(
                f"{where} (a redirect to {location!r}), and the proxy does not follow redirects; "
                "point the origin at the final URL"
            )
        raise OriginError(f"{where}, which the proxy cannot serve")

    def _raise(self, error: httpx.HTTPError, path: str) -> NoReturn:
        """Raise the :class:`OriginError` for a transport failure while fetching ``path``."""
        where = f"origin {self._description}"
        if isinstance(error, httpx.ConnectTimeout):
            raise OriginTimeout(
                f"could not connect to {where} within {self._connect_timeout:g} s for {path!r}; "
                "check that it is up and reachable, or raise the connect timeout"
            ) from error
        if isinstance(error, httpx.TimeoutException):
            raise OriginTimeout(
                f"{where} did not answer {path!r} within {self._timeout:g} s; "
                "check the origin, or raise the origin timeout"
            ) from error
        if isinstance(error, httpx.ConnectError):
            raise OriginError(
                f"cannot connect to {where} for {path!r} ({error}); check that it is running and that the "
                "origin URL is right"
            ) from error
        raise OriginError(f"request to {where} for {path!r} failed: {error!r}; check the origin") from error

    async def aclose(self) -> None:
        """Close the client and every pooled connection; idempotent."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"<HttpOrigin {self._description}>"


class _HttpBody:
    """The body of an HTTP origin's response, as the raw chunks received; owns (and closes) the response.

    The response is closed when the body ends, fails, or is closed.  A timeout
    while reading raises :class:`OriginTimeout`, any other transport failure
    (a dropped connection, a body shorter than its ``Content-Length``)
    :class:`OriginError`.
    """

    __slots__ = ("_chunks", "_closed", "_origin", "_path", "_response")

    def __init__(self, origin: HttpOrigin, response: httpx.Response, path: str) -> None:
        self._origin = origin
        self._response = response
        self._path = path
        self._chunks = response.aiter_raw()
        self._closed = False

    def __aiter__(self) -> _HttpBody:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except httpx.HTTPError as error:
            await self.aclose()
            self._origin._raise(error, self._path)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the response (and its connection, unless it was read to its end); idempotent."""
        if self._closed:
            return
        self._closed = True
        closer = getattr(self._chunks, "aclose", None)  # an async generator, typed as a plain iterator
        if closer is not None:
            with contextlib.suppress(RuntimeError):  # the generator is running: closing the response ends it
                await closer()
        await self._response.aclose()


# -- local directory ---------------------------------------------------------------------


class DirectoryOrigin:
    """Regular files under a local directory.

    A path maps to the file at the same relative path under the root; it is
    not found (:class:`~daramjwee.CacheableNotFound`) when the file is missing,
    is a directory (or anything but a regular file), when the path ends with
    ``/`` or has an empty, ``.`` or ``..`` segment, or when it resolves,
    symbolic links included, to a place outside the root.  Links that stay
    inside the root are followed.  A file the server may not read is an
    :class:`OriginError` with status 403.

    The file is opened in a worker thread and read in 64 KiB chunks, each in a
    worker thread, from the open descriptor: the bytes served are those of the
    file as opened, even if it is renamed or replaced meanwhile.  Its ETag is
    ``"<mtime_ns hex>-<size hex>"`` and its ``content-length`` the size, both
    from ``fstat`` of the open file, so they describe the bytes served; the
    body stops at that size, and a file that shrinks while it is read raises
    :class:`OriginError` rather than ending short.  ``content-type`` is guessed
    from the name (``mimetypes``; ``application/octet-stream`` when unknown,
    and the archive type for a compressed file such as ``x.tar.gz``: no
    ``content-encoding`` is ever set).  Revalidation with an unchanged ETag
    raises :class:`~daramjwee.NotModified`.  A query after ``?`` is ignored.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root).expanduser()
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ConfigError(
                f"origin directory {str(root)!r} does not exist; create it or give an existing directory"
            ) from None
        if not resolved.is_dir():
            raise ConfigError(
                f"origin {str(root)!r} is not a directory; give a directory, or an http(s):// or s3:// URL"
            )
        self._root = str(resolved)
        self._prefix = self._root.rstrip(os.sep) + os.sep

    @property
    def root(self) -> str:
        """The absolute, resolved path of the directory."""
        return self._root

    def describe(self) -> str:
        """``directory <absolute path>``."""
        return f"directory {self._root}"

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher of the file at ``path`` under the root (see the class docstring for the outcomes)."""
        name, _ = _split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            segments = _safe_segments(name)
            if segments is None:
                raise CacheableNotFound(path)
            opened = await _in_thread(functools.partial(self._open, segments), _close_opened)
            if opened is None:
                raise CacheableNotFound(path)
            fd, status = opened
            try:
                etag = f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
                previous = _conditional(old)
                if previous is not None and previous.etag == etag:
                    raise NotModified(path)
                attrs = {
                    "content-type": _guess_type(segments[-1]),
                    "content-length": str(status.st_size),
                    "last-modified": _http_date(status.st_mtime),
                }
            except BaseException:
                os.close(fd)
                raise
            return FetchResult(_FileBody(fd, status.st_size, path), Metadata(etag=etag, attrs=attrs))

        return fetch

    def _open(self, segments: list[str]) -> tuple[int, os.stat_result] | None:
        """Open the regular file at ``segments`` under the root (in a worker thread); ``None`` if there is none."""
        real = os.path.realpath(os.path.join(self._root, *segments))
        if not real.startswith(self._prefix):
            return None  # outside the root (through a symbolic link), or the root itself
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        # No following a link swapped in after realpath; no blocking on a FIFO.
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except PermissionError as error:
            raise OriginError(
                f"permission denied reading {real!r}; make it readable by the server's user", 403
            ) from error
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENAMETOOLONG):
                return None
            raise OriginError(f"cannot open {real!r}: {error}") from error
        try:
            status = os.fstat(fd)
        except OSError as error:
            os.close(fd)
            raise OriginError(f"cannot stat {real!r}: {error}") from error
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            return None
        return fd, status

    async def aclose(self) -> None:
        """Nothing to release (open files belong to their bodies); idempotent."""

    def __repr__(self) -> str:
        return f"<DirectoryOrigin {self._root}>"


def _close_opened(opened: tuple[int, os.stat_result] | None) -> None:
    if opened is not None:
        os.close(opened[0])


async def _in_thread(function: Callable[[], _T], cleanup: Callable[[_T], None]) -> _T:
    """``function()`` in a worker thread; if the caller is cancelled meanwhile, ``cleanup`` gets its result."""
    task = asyncio.ensure_future(asyncio.to_thread(function))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def done(finished: asyncio.Future[_T]) -> None:
            if not finished.cancelled() and finished.exception() is None:
                cleanup(finished.result())

        task.add_done_callback(done)
        raise


class _FileBody:
    """The bytes of an open file, ``size`` of them, read in worker threads; owns (and closes) the descriptor.

    Reads use ``pread`` at the body's own offset under a lock that ``aclose``
    also takes, so closing while a read runs in a worker thread (the reader
    was cancelled) waits for that read instead of closing the descriptor
    under it.
    """

    __slots__ = ("_closed", "_fd", "_lock", "_offset", "_path", "_size")

    def __init__(self, fd: int, size: int, path: str) -> None:
        self._fd = fd
        self._size = size
        self._path = path
        self._offset = 0
        self._lock = threading.Lock()
        self._closed = False

    def __aiter__(self) -> _FileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            if self._offset >= self._size:
                raise StopAsyncIteration
            raise ValueError("read of a closed file body")
        wanted = min(CHUNK_SIZE, self._size - self._offset)
        if wanted <= 0:
            await self.aclose()
            raise StopAsyncIteration
        try:
            chunk = await asyncio.to_thread(self._read, wanted)
        except OSError as error:
            await self.aclose()
            raise OriginError(f"reading the file for {self._path!r} failed: {error}") from error
        if not chunk:
            await self.aclose()
            raise OriginError(
                f"the file for {self._path!r} shrank while it was read ({self._offset} of {self._size} bytes); "
                "retry the request"
            )
        self._offset += len(chunk)
        return chunk

    def _read(self, size: int) -> bytes:
        with self._lock:
            if self._fd < 0:
                raise OSError(errno.EBADF, "the file body was closed")
            return os.pread(self._fd, size, self._offset)

    def _close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                fd, self._fd = self._fd, -1
            finally:
                self._lock.release()
            if fd >= 0:
                os.close(fd)
        else:  # a read is running in a worker thread: close after it, without blocking the event loop
            await asyncio.to_thread(self._close)


# -- object stores -----------------------------------------------------------------------


class ObjectOrigin:
    """Objects of an S3 bucket (or GCS, Azure) read with obstore, under the URL's prefix.

    A path ``/a/b.txt`` is the object ``a/b.txt`` under the prefix of the URL
    (``s3://bucket/prefix`` → ``prefix/a/b.txt``); a query after ``?`` is
    ignored.  The object is streamed with one GET (chunks of at least 64 KiB).
    ``etag`` is the object's ETag, ``content-length`` its size,
    ``last-modified`` its modification time, ``content-type`` its stored
    ``Content-Type`` unless that is missing or the stores' generic default
    (``binary/octet-stream``), in which case it is guessed from the name; a
    stored ``Content-Encoding`` is carried too.  Revalidation sends
    ``If-None-Match`` and a 304 raises :class:`~daramjwee.NotModified`.

    A missing object is :class:`~daramjwee.CacheableNotFound`; a missing
    bucket, refused credentials and other failures an :class:`OriginError`
    (502); a timeout an :class:`OriginTimeout`.  A body that ends before the
    object's size raises :class:`OriginError`.

    Unless ``options`` set them, the client gets ``connect_timeout``, a read
    timeout of ``timeout`` (per read, so long downloads to slow clients are
    not cut: the limit on a whole request is raised to a day), and at most
    2 retries within ``timeout``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            from obstore.store import from_url  # noqa: PLC0415 (optional dependency)
        except ImportError:
            raise ConfigError(
                f"the origin {url!r} needs obstore; install it with: pip install 'daramjwee[s3]'"
            ) from None
        settings = dict(options or {})
        client_options = dict(settings.get("client_options") or {})
        client_options.setdefault("connect_timeout", datetime.timedelta(seconds=connect_timeout))
        client_options.setdefault("read_timeout", datetime.timedelta(seconds=timeout))
        client_options.setdefault("timeout", _S3_REQUEST_LIMIT)
        settings["client_options"] = client_options
        if settings.get("retry_config") is None:
            settings["retry_config"] = {
                "max_retries": _S3_RETRIES,
                "retry_timeout": datetime.timedelta(seconds=timeout),
            }
        try:
            self._store: Backend = from_url(url, **settings)
        except Exception as error:
            raise ConfigError(f"cannot open the object-store origin {url!r}: {error}") from error
        parts = urllib.parse.urlsplit(url)
        self._description = f"{parts.scheme.lower()}://{parts.hostname or ''}{parts.path.rstrip('/')}"
        self._timeout = timeout

    @property
    def store(self) -> Backend:
        """The obstore store the objects are read from."""
        return self._store

    def describe(self) -> str:
        """``scheme://bucket[/prefix]``, without credentials."""
        return self._description

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher of the object at ``path`` (see the class docstring for the outcomes)."""
        name, _ = _split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            if _safe_segments(name) is None:
                raise CacheableNotFound(path)
            return await self._fetch(name[1:], path, _conditional(old))

        return fetch

    async def _fetch(self, object_path: str, path: str, old: Metadata | None) -> FetchResult:
        import obstore  # noqa: PLC0415 (optional dependency)

        options: GetOptions = {}
        if old is not None and old.etag:
            options["if_none_match"] = old.etag
        try:
            result = await obstore.get_async(self._store, object_path, options=options)
        except Exception as error:
            self._raise(error, path, conditional="if_none_match" in options)
        meta = result.meta
        size = meta["size"]
        attrs = {"content-type": self._content_type(result, object_path), "content-length": str(size)}
        encoding = result.attributes.get("Content-Encoding")
        if encoding:
            attrs["content-encoding"] = encoding
        attrs["last-modified"] = _http_date(meta["last_modified"].timestamp())
        body = _ObjectBody(self, result.stream(min_chunk_size=CHUNK_SIZE), size, path)
        return FetchResult(body, Metadata(etag=meta.get("e_tag") or "", attrs=attrs))

    @staticmethod
    def _content_type(result: GetResult, object_path: str) -> str:
        stored = result.attributes.get("Content-Type")
        if stored and stored.split(";")[0].strip().lower() not in _GENERIC_CONTENT_TYPES:
            return stored
        return _guess_type(object_path.rsplit("/", 1)[-1])

    def _raise(self, error: Exception, path: str, *, conditional: bool = False, mid_body: bool = False) -> NoReturn:
        """Raise what an obstore failure while fetching ``path`` (or, ``mid_body``, reading its body) means."""
        from obstore.exceptions import (  # noqa: PLC0415 (optional dependency)
            InvalidPathError,
            NotModifiedError,
            PermissionDeniedError,
            UnauthenticatedError,
        )

        where = f"origin {self._description}"
        text = str(error)
        if "timed out" in text.lower() or "TimedOut" in text:
            raise OriginTimeout(
                f"{where} did not answer {path!r} within {self._timeout:g} s; check the object store's "
                "endpoint, or raise the origin timeout"
            ) from error
        if mid_body:
            raise OriginError(
                f"reading {path!r} from {where} failed in the middle of the body: {error}; retry the request"
            ) from error
        if isinstance(error, NotModifiedError) and conditional:
            raise NotModified(path) from None
        if isinstance(error, FileNotFoundError):
            if "NoSuchBucket" in text:
                raise OriginError(f"the bucket of {where} does not exist; check the origin URL", 502) from error
            raise CacheableNotFound(path) from None
        if isinstance(error, InvalidPathError):
            raise CacheableNotFound(path) from None
        if isinstance(error, PermissionDeniedError | UnauthenticatedError):
            raise OriginError(
                f"{where} refused the proxy's credentials for {path!r}; check the credentials and the "
                "bucket's permissions",
            ) from error
        raise OriginError(f"reading {path!r} from {where} failed: {error}; check the object store") from error

    async def aclose(self) -> None:
        """Nothing to release (obstore stores need no closing); idempotent."""

    def __repr__(self) -> str:
        return f"<ObjectOrigin {self._description}>"


class _ObjectBody:
    """The chunks of an object-store GET response; ``aclose`` drops the response (and its connection).

    A response that ends before the object's size raises :class:`OriginError`.
    """

    __slots__ = ("_origin", "_path", "_remaining", "_stream")

    def __init__(self, origin: ObjectOrigin, stream: BytesStream, size: int, path: str) -> None:
        self._origin = origin
        self._stream: BytesStream | None = stream
        self._remaining = size
        self._path = path

    def __aiter__(self) -> _ObjectBody:
        return self

    async def __anext__(self) -> bytes:
        stream = self._stream
        if stream is None:
            raise StopAsyncIteration
        try:
            chunk = await stream.__anext__()
        except StopAsyncIteration:
            self._stream = None
            if self._remaining > 0:
                raise OriginError(
                    f"the object for {self._path!r} ended {self._remaining} bytes short of its size; retry the request"
                ) from None
            raise
        except Exception as error:
            self._stream = None
            self._origin._raise(error, self._path, mid_body=True)
        self._remaining -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        """Drop the response; idempotent."""
        self._stream = None
