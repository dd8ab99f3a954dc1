"""An ASGI application called in the same process as the origin of the HTTP cache: :class:`AppOrigin`.

:class:`~daramjwee.contrib.asgi.CacheMiddleware` puts
:class:`~daramjwee.server._http_proxy.HttpCaching` (the RFC 9111 cache of
``daramjwee serve``) in front of the application it wraps; this module is
what the cache asks when it misses, revalidates or passes a request
through.  It imports no framework, client or server: only ASGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from ...server._asgi import Message, Scope
from ...server._paths import origin_target
from ...server._upstream import Upstream

__all__ = ["AppOrigin"]

_logger = logging.getLogger("daramjwee.contrib.asgi")

_incoming: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("daramjwee_asgi_incoming", default=None)
"""The scope of the client request being answered: what the application's own scope is made from."""

_CLIENT_FIELDS = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto"})
"""Request fields the application sees as the client sent them (the cache, forwarding nothing over a network, drops
them from the fields it sends: ``forwarded="off"``)."""


_HEAD_REFUSED = frozenset({405, 501})
"""Statuses with which an application says it does not answer ``HEAD`` (Method Not Allowed, Not Implemented)."""


class _Ended:
    """The application returned (``error`` ``None``) or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


class AppOrigin:
    """The wrapped ASGI ``app`` as an :class:`~daramjwee.server._upstream.HttpSender`.

    Each :meth:`send` calls the application once, in a task of its own, with
    a scope made from the client request being answered (see
    :meth:`answering`): the same scope (``app``, ``state``, ``root_path``,
    ``client``, ``server``, ``scheme``...) with the method, the path and the
    query the cache asks for, the fields it forwards (plus the client's own
    ``Host`` and ``X-Forwarded-*``), and no ``extensions`` (so the
    application sends its body as ``http.response.body`` messages).

    The returned :class:`~daramjwee.server._upstream.Upstream`'s body streams
    the application's body messages as it sends them, one message ahead at
    most.  The caller owns it: closing it before the end tells the
    application ``http.disconnect``, cancels its task and waits for it to
    end.  Once the body has ended the application may still run (its
    background tasks) and is left to end on its own.

    An exception the application raises before or during its response is
    raised unchanged to the caller (through the cache, which never stores
    a failed response): the framework's error handling outside the
    middleware answers it as it would without the cache.  One raised after
    the body ended is logged (logger ``daramjwee.contrib.asgi``).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._running: set[asyncio.Task[None]] = set()

    @staticmethod
    @contextlib.contextmanager
    def answering(scope: Scope) -> Iterator[None]:
        """Within this block (and the tasks it starts), requests to the application are made from ``scope``."""
        token = _incoming.set(scope)
        try:
            yield
        finally:
            _incoming.reset(token)

    async def send(
        self,
        method: str,
        path: str,
        fields: Sequence[tuple[str, str]],
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> Upstream:
        """Call the application for ``method`` and ``path``; return once it started its response.

        A ``HEAD`` the application refuses (405 or 501: FastAPI's ``@app.get``
        routes answer only ``GET``) is asked again as a ``GET``, whose fields
        are those a ``HEAD`` would have had (RFC 9110 §9.3.2); the caller, who
        asked ``HEAD``, reads none of its body and closes it, which ends the
        call.  So a ``HEAD`` that must revalidate a stored response is
        answered as the application answers ``GET``, never with a 405 it would
        not give a ``GET``.

        Raises what the application raises before starting its response, and
        ``RuntimeError`` when it returns without starting one.  Cancelled,
        the call cancels the application and waits for it.
        """
        upstream = await self._call(method, path, fields, content)
        if method == "HEAD" and upstream.status in _HEAD_REFUSED:
            await upstream.body.aclose()
            upstream = await self._call("GET", path, fields, content)
        return upstream

    async def _call(
        self,
        method: str,
        path: str,
        fields: Sequence[tuple[str, str]],
        content: bytes | AsyncIterator[bytes] | None,
    ) -> Upstream:
        """One call of the application (see :meth:`send`)."""
        call = _Call(self.app, _scope(_incoming.get(), method, path, fields), content)
        self._running.add(call.task)
        call.task.add_done_callback(self._running.discard)
        try:
            message = await call.next_message()
            if isinstance(message, _Ended):
                if message.error is not None:
                    raise message.error
                raise RuntimeError(f"the application returned without a response to {method} {path!r}")
            if message["type"] != "http.response.start":
                raise RuntimeError(f"the application sent {message['type']!r} before http.response.start")
        except BaseException:
            await call.aclose()
            raise
        fields_sent = [
            (name.decode("latin-1").lower(), value.decode("latin-1").strip(" \t"))
            for name, value in message.get("headers", ())
        ]
        return Upstream(int(message["status"]), fields_sent, call)


def _scope(incoming: Scope | None, method: str, path: str, fields: Sequence[tuple[str, str]]) -> Scope:
    """The application's scope for a request the cache makes while answering ``incoming``."""
    target, _, query = origin_target(path).partition("?")
    name = path.partition("?")[0]
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in fields]
    base: Scope = dict(incoming) if incoming is not None else {"asgi": {"version": "3.0"}, "http_version": "1.1"}
    client_fields = [(key, value) for key, value in base.get("headers", ()) if key.lower() in _CLIENT_FIELDS]
    base.update(
        type="http",
        method=method,
        path=name,
        raw_path=target.encode("ascii"),
        query_string=query.encode("latin-1"),  # a passed-through query is as the client sent it
        headers=[*client_fields, *headers],
        extensions={},
    )
    base.setdefault("scheme", "http")
    base.setdefault("root_path", "")
    return base


class _Call:
    """One running call of the application; also the body of its :class:`Upstream` (async chunks, ``aclose``)."""

    def __init__(self, app: Any, scope: Scope, content: bytes | AsyncIterator[bytes] | None) -> None:
        self._messages: asyncio.Queue[Message | _Ended] = asyncio.Queue()
        self._content = content
        self._request_done = False
        self._left = asyncio.Event()
        self._listening = True  # the caller still reads what the application sends
        self._body_ended = False
        self._closed = False
        self.task = asyncio.ensure_future(self._run(app, scope))

    async def _run(self, app: Any, scope: Scope) -> None:
        try:
            await app(scope, self._receive, self._send)
        except Exception as error:
            if self._listening:
                self._messages.put_nowait(_Ended(error))
            else:
                _logger.error("the application failed after its response was read", exc_info=error)
            return
        self._messages.put_nowait(_Ended(None))

    async def _receive(self) -> Message:
        """The request body (whole, or as the client streams it), then ``http.disconnect`` once the call ends."""
        content = self._content
        if content is None:
            if not self._request_done:  # a request without a body: one empty message
                self._request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._left.wait()
            return {"type": "http.disconnect"}
        if isinstance(content, bytes):
            self._content = None
            self._request_done = True
            return {"type": "http.request", "body": content, "more_body": False}
        try:
            chunk = await anext(content, None)
        except Exception:  # the client left while sending its body
            self._left.set()
            return {"type": "http.disconnect"}
        if chunk is None:
            self._content = None
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def _send(self, message: Message) -> None:
        if not self._listening:
            return  # the body ended (or was closed): the application's late messages go nowhere
        self._messages.put_nowait(message)
        await self._messages.join()  # until the caller took it: the application runs one message ahead at most

    async def next_message(self) -> Message | _Ended:
        message = await self._messages.get()
        self._messages.task_done()
        return message

    def __aiter__(self) -> _Call:
        return self

    async def __anext__(self) -> bytes:
        """The next non-empty chunk of the body; ``StopAsyncIteration`` at its end, and once closed."""
        while not self._body_ended and not self._closed:
            message = await self.next_message()
            if isinstance(message, _Ended):
                self._listening = False
                if message.error is not None:
                    raise message.error
                raise RuntimeError("the application returned before the end of its response body")
            if message["type"] != "http.response.body":
                continue  # trailers and unknown messages carry no body bytes
            body: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                self._body_ended = True
                self._listening = False
                self._left.set()
            if body:
                return body
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Before the body's end: tell the application the client left, cancel it and wait for it.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._listening = False
        self._left.set()
        if self._body_ended or self.task.done():
            return
        self.task.cancel()
        await asyncio.wait({self.task})
