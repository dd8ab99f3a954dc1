"""The HTTP(S) origin of ``daramjwee serve``: :class:`HttpOrigin`, a reverse proxy of a server, and its body."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from http.cookiejar import CookieJar
from typing import Any, NoReturn

import httpx

from .. import AsyncFetcher, CacheableNotFound, ConfigError, FetchResult, Metadata, NotModified, __version__
from ._origin_common import (
    DEFAULT_CONTENT_TYPE,
    HTTP_SCHEMES,
    OriginBody,
    revalidation_basis,
    split_path,
    without_credentials,
)
from ._origin_types import OriginError, OriginTimeout
from ._upstream import Upstream

__all__ = ["HttpOrigin"]

_PATH_SAFE = "/~!$&'()*+,;=:@"
"""Characters of a path kept as they are when it is percent-encoded again (RFC 3986 ``pchar`` and ``/``)."""
_QUERY_SAFE = _PATH_SAFE + "?%"
"""A raw query is kept as it is (``%`` escapes included); only characters a URL cannot hold are encoded."""
_FORWARDED_HEADERS = ("content-type", "content-length", "last-modified", "content-encoding")
"""Response headers an HTTP origin's result carries in ``attrs``: end-to-end representation headers only."""
_MAX_CONNECTIONS_KEPT = 64
"""Idle connections an HTTP origin keeps open for reuse."""
_KEEPALIVE_SECONDS = 2.0
"""How long an idle connection is kept: well under the 5 s after which Node.js and Apache close theirs (their timer
may start before ours, when the response's end reaches us late)."""
_ATTEMPTS = 2
_RETRIED = frozenset({"GET", "HEAD", "OPTIONS"})
"""Tries of a request without a body whose pooled connection turned out closed (each on another connection)."""


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
        shown = without_credentials(base_url)  # what errors show
        if parts.scheme.lower() not in HTTP_SCHEMES or not parts.hostname:
            raise ConfigError(f"an HTTP origin must be an http:// or https:// URL with a host, got {shown!r}")
        if parts.query or parts.fragment or base_url.rstrip().endswith(("?", "#")):
            raise ConfigError(
                f"an HTTP origin URL must not have a query or a fragment, got {shown!r}; "
                "remove the part from '?' or '#' on (the proxy sends each request's own query)"
            )
        try:
            port = parts.port
            url = httpx.URL(base_url)
        except (ValueError, httpx.InvalidURL) as error:
            raise ConfigError(f"invalid HTTP origin URL {shown!r}: {error}") from None
        self._base = url
        self._base_path = url.raw_path.decode("ascii").rstrip("/")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._description = f"{parts.scheme.lower()}://{host}{'' if port is None else f':{port}'}{self._base_path}"
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=None,
                max_keepalive_connections=_MAX_CONNECTIONS_KEPT,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
            cookies=_NoCookies(),
            trust_env=False,
            headers={"user-agent": f"daramjwee/{__version__}", "accept-encoding": "identity"},
        )

    def describe(self) -> str:
        """``scheme://host[:port][/base]``, without credentials."""
        return self._description

    def url(self, path: str) -> httpx.URL:
        """The URL requested for ``path`` (a cache key; ``ValueError`` unless it starts with ``/``)."""
        name, query = split_path(path)
        target = self._base_path + urllib.parse.quote(name, safe=_PATH_SAFE)
        if query:
            target += "?" + urllib.parse.quote(query, safe=_QUERY_SAFE)
        return self._base.copy_with(raw_path=target.encode("ascii"))

    def fetcher(self, path: str) -> AsyncFetcher:
        """An async fetcher that GETs ``path`` from the origin (see the class docstring for the outcomes).

        Cheap: the URL is built when the fetcher is called (most requests are hits and never call it).
        """
        split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            return await self._fetch(self.url(path), path, revalidation_basis(old))

        return fetch

    async def send(
        self,
        method: str,
        path: str,
        fields: Sequence[tuple[str, str]],
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> Upstream:
        """Send one request for ``path`` (a cache key, or a path with its raw query) with exactly ``fields``.

        ``content`` is the request body, whole or streamed.  A ``GET``,
        ``HEAD`` or ``OPTIONS`` without a body whose pooled connection turns
        out closed before any answer is sent once more on another connection
        (the origin may have seen the first: only safe methods are repeated).  Any status is returned (no
        redirect is followed, no status is an error); a transport failure
        raises :class:`OriginError` (:class:`OriginTimeout` when it ran out
        of time).
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                request = self._client.build_request(method, self.url(path), headers=list(fields), content=content)
                response = await self._client.send(request, stream=True)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
                # A pooled connection the origin closed while it was idle fails before any answer: a request
                # without a body is sent again once, on a new connection (as nginx does).
                if attempt == _ATTEMPTS or content is not None or method not in _RETRIED:
                    self._raise(error, path)
            except httpx.HTTPError as error:
                self._raise(error, path)
        fields_received = [(name.lower(), value.strip(" \t")) for name, value in response.headers.multi_items()]
        return Upstream(response.status_code, fields_received, _HttpBody(self, response, path))

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


class _HttpBody(OriginBody):
    """The body of an HTTP origin's response, as the raw chunks received; owns (and closes) the response.

    The response is closed when the body ends, fails, or is closed.  A timeout
    while reading raises :class:`OriginTimeout`, any other transport failure
    (a dropped connection, a body shorter than its ``Content-Length``)
    :class:`OriginError`.
    """

    __slots__ = ("_chunks", "_closed", "_origin", "_path", "_response")
    _close_on_cancel = True

    def __init__(self, origin: HttpOrigin, response: httpx.Response, path: str) -> None:
        self._origin = origin
        self._response = response
        self._path = path
        self._chunks = response.aiter_raw()
        self._closed = False

    async def _next_chunk(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        return await self._chunks.__anext__()

    def _failed(self, error: Exception) -> NoReturn:
        if isinstance(error, httpx.HTTPError):
            self._origin._raise(error, self._path)
        raise error

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
