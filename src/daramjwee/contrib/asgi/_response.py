"""``CachedResponse``: a value of ``AsyncCache.get`` as a Starlette (and FastAPI) response."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response

from ... import AsyncResponse, Status
from ..._etag import if_none_match_matches
from ...server._asgi import Message, Receive, Scope, Send
from ...server._fields import BODY_FIELDS
from ...server._http_proxy import stream_body
from ...server._origin_types import REPRESENTATION_ATTRS

__all__ = ["CachedResponse"]


class _ClientLeft(Exception):
    """Sending failed: the client is gone."""


class CachedResponse(Response):
    """A Starlette ``Response`` that streams ``response`` (from :meth:`daramjwee.AsyncCache.get`) to the client.

    Return it from a Starlette or FastAPI endpoint.  **It owns**
    ``response`` from the moment it is made and closes it exactly once,
    when it has been sent, when the client disconnects, when sending fails
    and when its task is cancelled (the close then still runs to its end).
    Reading to the end publishes a fill the cache is making; a client that
    leaves mid-body discards it (never a partial value).  A
    ``CachedResponse`` that is never sent (an exception between making it
    and returning it) must be closed by its maker: ``await
    cached.response.aclose()``.

    Header fields: ``ETag`` from ``metadata.etag``, and ``Content-Type``,
    ``Content-Length``, ``Last-Modified``, ``Content-Encoding`` from
    ``metadata.attrs`` when they are there; ``media_type`` replaces the
    stored content type, and ``headers`` are added last (replacing any of the
    same name).  A ranged response (``get(..., byte_range=...)``) is a 206
    with its ``Content-Range``.

    A request whose ``If-None-Match`` matches the entry (weak comparison,
    ``*``), or a ``response`` whose status is ``NOT_MODIFIED``, is answered
    ``304`` with no body.  ``HEAD`` gets the header fields only.  A miss
    (``response.source is None``) answered without its body (304, ``HEAD``)
    is still read to its end, so the cache fills.  A body held whole in
    memory (``response.in_memory``) goes out in one message; others in
    messages of at most ``chunk_size`` bytes, as they are read.
    """

    def __init__(
        self,
        response: AsyncResponse,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        chunk_size: int = 64 * 1024,
    ) -> None:
        if not isinstance(response, AsyncResponse):
            raise TypeError(f"response must be a daramjwee.AsyncResponse (from AsyncCache.get), got {response!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.response = response
        self.chunk_size = chunk_size
        self.background = background
        metadata = response.metadata
        fields: dict[str, str] = {}
        if metadata.etag:
            fields["etag"] = metadata.etag
        for name in REPRESENTATION_ATTRS:
            value = metadata.attrs.get(name)
            if value is not None:
                fields[name] = value
        if media_type is not None:
            fields["content-type"] = media_type
        content_range = response.content_range
        if content_range is not None:
            status_code = 206
            fields["content-range"] = content_range.header
            fields["content-length"] = str(content_range.stop - content_range.start)
        elif metadata.declared_length is None:
            fields.pop("content-length", None)
        self.status_code = status_code
        self.media_type = fields.get("content-type")
        for name, value in (headers or {}).items():
            fields[name.lower()] = value
        self.raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.response

        async def send_to_client(message: Message) -> None:
            try:
                await send(message)
            except OSError as error:  # an ASGI 2.4 server says so when the client has left
                raise _ClientLeft from error

        try:
            if self._not_modified(scope):
                await self._drain_miss()
                headers = [(name, value) for name, value in self.raw_headers if name.decode() not in BODY_FIELDS]
                await send_to_client({"type": "http.response.start", "status": 304, "headers": headers})
                await send_to_client({"type": "http.response.body", "body": b""})
            else:
                await send_to_client(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                if scope.get("method") == "HEAD":
                    await self._drain_miss()
                    await send_to_client({"type": "http.response.body", "body": b""})
                else:
                    await stream_body(response, receive, send_to_client, self.chunk_size)
        except _ClientLeft:
            return  # the close below discards an unfinished fill
        finally:
            with contextlib.suppress(Exception):  # a tier's close failure is logged and counted by the cache
                await response.aclose()  # it ends a publish that has begun even when cancelled
        if self.background is not None:
            await self.background()

    def _not_modified(self, scope: Scope) -> bool:
        if self.response.status is Status.NOT_MODIFIED:
            return True
        if self.status_code != 200:
            return False
        lines = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"if-none-match"]
        return bool(lines) and if_none_match_matches(", ".join(lines), self.response.metadata)

    async def _drain_miss(self) -> None:
        """Read a miss to its end without sending it: the cache publishes what the origin sent."""
        if self.response.source is None:
            while await self.response.read(self.chunk_size):
                pass
