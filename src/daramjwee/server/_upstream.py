"""What the HTTP cache asks of whatever answers its misses: :class:`HttpSender`, and its answer, :class:`Upstream`.

:class:`~daramjwee.server._http_proxy.HttpCaching` talks to its origin only
through :meth:`HttpSender.send`.  Two kinds implement it:
:class:`~daramjwee.server._http_origin.HttpOrigin` (another server, over
httpx, for ``daramjwee serve``) and
:class:`~daramjwee.contrib.asgi._app_origin.AppOrigin` (an ASGI application called in
the same process, for :class:`~daramjwee.contrib.asgi.CacheMiddleware`).
This module imports neither, nor any HTTP client or server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["HttpSender", "Upstream", "UpstreamBody"]


class UpstreamBody(Protocol):
    """The body of an :class:`Upstream`: an async iterator of ``bytes`` chunks that holds what it reads from.

    It is closed (``aclose``, idempotent) by whoever owns the :class:`Upstream`,
    which releases what it holds (a connection, a running application).  A
    failure in the middle raises :class:`~daramjwee.server.OriginError` from
    ``__anext__`` (an HTTP origin's :class:`~daramjwee.server.OriginError`,
    an application's own exception), so the cache never publishes a partial body.
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Upstream:
    """The origin's answer to one request: status, header fields (lowercase names, in order), body.

    The receiver owns ``body`` (raw bytes as sent, never decoded) and must
    close it (``aclose``), which releases what the answer holds.
    """

    status: int
    fields: list[tuple[str, str]]
    body: UpstreamBody


@runtime_checkable
class HttpSender(Protocol):
    """An origin that answers HTTP requests, each with its status and fields: one the cache applies RFC 9111 to."""

    async def send(
        self,
        method: str,
        path: str,
        fields: Sequence[tuple[str, str]],
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> Upstream:
        """Send one request for ``path`` (a cache key, or a path with its raw query) with exactly ``fields``.

        ``path`` is percent-decoded (as :func:`~daramjwee.server._paths.cache_key`
        makes it), its query raw.  ``content`` is the request body, whole or
        streamed.  Any status is returned.  A failure to get an answer at all
        raises: an HTTP origin raises :class:`~daramjwee.server.OriginError`
        (its ``status`` is what the client is answered); an application in
        the same process raises its own exception, which passes through the
        cache unchanged.  The caller owns the returned body.
        """
        ...
