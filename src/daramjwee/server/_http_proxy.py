"""A shared HTTP cache (RFC 9111) of an HTTP origin's responses, on the tier chain.

:class:`HttpCaching` answers the requests ``CacheApp`` routes to an HTTP
origin.  The rules come from :mod:`~daramjwee.server._cache_rules` (pure);
this module does the I/O: it asks the core cache, talks to the origin and
streams the answer.

How a response lives in the cache: the entry's body is the response body;
its :class:`~daramjwee.Metadata` holds the status and the stored header
fields (``attrs``), the validator (``etag``) and the freshness the rules
computed (``fresh_for`` from the age on arrival, ``stale_while_revalidate``,
``stale_if_error``, ``must_revalidate``).  The core then serves, refreshes
and revalidates it by the same rules as any other entry.

A response with ``Vary`` is stored under the request's key and remembers the
values of the nominated request fields it was selected with; a request whose
values differ uses a second entry, keyed by those values and by a token of
the primary entry (so a new primary response, or an invalidation, orphans
every older variant).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from .. import AsyncCache, AsyncResponse, ByteRange, FetchResult, Metadata, NotFound, NotModified, RangeNotSatisfiable
from ._asgi import Message, Receive, Scope, Send
from ._cache_rules import (
    MAX_DELTA,
    CacheControl,
    Fields,
    StorePolicy,
    Verdict,
    current_age,
    field,
    field_values,
    head_matches,
    not_modified,
    parse_cache_control,
    request_needs_origin,
    storable,
    updated_fields,
)
from ._fields import (
    BODY_FIELDS,
    FIELDS,
    INITIAL_AGE,
    LIFETIME,
    STATUS,
    decode_fields,
    encode_fields,
    forwarded_request,
    http_now,
    relayed_response,
    stored_response,
)
from ._origin_types import OriginError
from ._range_requests import Spec, if_range_matches, multipart_boundary, multipart_tail, parse_range, part_head
from ._upstream import HttpSender, Upstream

__all__ = ["HttpCaching", "Request", "answer_text", "stream_body"]


_logger = logging.getLogger("daramjwee.server")

_VARY = ":vary"
"""``attrs`` name of the values of the nominated request fields a stored response was selected with (JSON)."""
_VARIANTS = ":variants"
"""``attrs`` name of the primary entry's token, part of the key of each of its variants."""
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_NO_BODY = frozenset({204, 304})
_SERVER_ERRORS = frozenset({500, 502, 503, 504})
"""Origin answers a stale response may stand in for, inside its ``stale-if-error`` window."""


class Request:
    """What the proxy needs of one client request.

    ``headers`` are the ASGI header pairs (lowercase names, as ASGI gives
    them); they are decoded into :attr:`fields` only when a rule needs more
    than their names (most hits do not).
    """

    __slots__ = (
        "_fields",
        "cache_control",
        "client",
        "conditional",
        "headers",
        "key",
        "method",
        "ranged",
        "scheme",
        "target",
    )

    def __init__(
        self,
        method: str,
        key: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        client: str | None,
        scheme: str,
    ) -> None:
        self.method = method
        self.key = key  # the cache key
        self.target = target  # the path and raw query sent to the origin when the request passes through
        self.headers = headers
        self.client = client
        self.scheme = scheme
        self._fields: Fields | None = None
        names = {name for name, _ in headers}
        self.cache_control = parse_cache_control(self.fields) if b"cache-control" in names else None
        self.conditional = b"if-none-match" in names or b"if-modified-since" in names
        self.ranged = b"range" in names

    @classmethod
    def of_scope(cls, scope: Scope, key: str) -> Request:
        """The request an ASGI HTTP ``scope`` makes, whose cache key is ``key``.

        The target sent when the request passes through is the key's path
        with the scope's raw query as it came (whether or not the key holds
        it); the client is the scope's ``client`` address.
        """
        path = key.partition("?")[0]
        query: bytes = scope.get("query_string", b"")
        target = f"{path}?{query.decode('latin-1')}" if query else path
        client = scope.get("client")
        headers = scope.get("headers", [])
        return cls(scope["method"], key, target, headers, client[0] if client else None, scope.get("scheme", "http"))

    @property
    def fields(self) -> Fields:
        """The request's header fields, decoded (latin-1, names lowercase, values trimmed)."""
        fields = self._fields
        if fields is None:
            fields = self._fields = [
                (name.decode("latin-1").lower(), value.decode("latin-1").strip(" \t")) for name, value in self.headers
            ]
        return fields


class _OnlyIfCached(Exception):
    """The request said ``only-if-cached`` and the cache could not answer it alone (504)."""


class _OriginAnswer(Exception):
    """An origin's error answer to a revalidation, read whole: relayed unless a stale entry stands in for it."""

    def __init__(self, status: int, fields: Fields, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.fields = fields
        self.body = body


class HttpCaching:
    """RFC 9111 shared caching of ``origin`` through ``cache``; see the module docstring.

    ``read_only`` answers unsafe methods 405 instead of passing them through.
    ``via`` is the ``Via`` entry this proxy adds to what it forwards (protocol
    and name; ``None`` adds none) and ``forwarded`` what becomes of
    ``X-Forwarded-For``/``-Proto`` (see
    :func:`~daramjwee.server._fields.forwarded_request`).  ``origin`` is
    anything with :meth:`~daramjwee.server._upstream.HttpSender.send`: an
    HTTP origin (``CacheApp``) or an ASGI app in the same process
    (``CacheMiddleware``).  The caller owns ``cache`` and ``origin``.
    """

    def __init__(
        self,
        cache: AsyncCache,
        origin: HttpSender,
        policy: StorePolicy,
        *,
        chunk_size: int,
        read_only: bool = False,
        via: str | None,
        forwarded: str,
    ) -> None:
        self.cache = cache
        self.origin = origin
        self.policy = policy
        self.chunk_size = chunk_size
        self.read_only = read_only
        self.via = via
        self.forwarded = forwarded

    async def handle(self, request: Request, receive: Receive, send: Send) -> tuple[str, int]:
        """Answer ``request``; return the metrics outcome and the status sent."""
        if request.method in ("GET", "HEAD"):
            if request.cache_control is not None and "no-store" in request.cache_control:
                return await self._pass_through(request, receive, send)
            return await self._cached(request, receive, send)
        if self.read_only:
            return "other", await answer_text(send, 405, "only GET and HEAD\n", [("allow", "GET, HEAD")])
        return await self._pass_through(request, receive, send)

    def _forwarded(self, request: Request, *, for_cache: bool) -> list[tuple[str, str]]:
        return forwarded_request(
            request.fields,
            client=request.client,
            scheme=request.scheme,
            via=self.via,
            for_cache=for_cache,
            forwarded=self.forwarded,
        )

    # -- GET and HEAD through the cache ----------------------------------------------

    async def _cached(self, request: Request, receive: Receive, send: Send) -> tuple[str, int]:
        specs = parse_range(field(request.fields, "range")) if request.ranged and request.method == "GET" else None
        key = request.key
        try:
            byte_range = _first_range(specs)
            response, fetched = await self._lookup(key, request, byte_range)
            stored_vary = _other_variant(response, request)
            if stored_vary is not None:
                await response.aclose()
                if "*" in stored_vary:
                    raise _NotCacheable
                key = _variant_key(key, response.metadata.attrs.get(_VARIANTS, ""), stored_vary, request)
                response, fetched = await self._lookup(key, request, byte_range)
                if _other_variant(response, request) is not None:
                    await response.aclose()
                    raise _NotCacheable
            if response.content_range is not None and not self._range_applies(response, request):
                await response.aclose()  # answered whole: read it again without the range
                response, fetched = await self._lookup(key, request, None)
        except RangeNotSatisfiable as error:
            return "other", await answer_text(
                send, 416, "range not satisfiable\n", [("content-range", f"bytes */{error.length}")]
            )
        except _NotCacheable:
            return await self._uncached_get(request, send)
        except _OnlyIfCached:
            return "other", await answer_text(send, 504, "not in the cache (only-if-cached)\n", [("x-cache", "MISS")])
        except _OriginAnswer as answer:
            fields = [(name, value) for name, value in relayed_response(answer.fields) if name != "content-length"]
            fields += [("content-length", str(len(answer.body))), ("x-cache", "MISS")]
            await send(_start(answer.status, fields))
            await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else answer.body})
            return "error", answer.status
        except OriginError as error:
            _logger.warning("origin failed for %r: %s", request.key, error, extra={"key": request.key})
            return "error", await answer_text(send, error.status, "origin failed\n", [("x-cache", "MISS")])
        except NotFound:
            return "negative", await answer_text(send, 404, "not found\n", [("x-cache", "NEGATIVE")])
        if response.content_range is not None and specs is not None and len(specs) > 1:
            return await self._answer_parts(response, key, specs, request, send, fetched)
        async with response:
            return await self._answer(response, request, receive, send, fetched)

    async def _answer_parts(
        self,
        first: AsyncResponse,
        key: str,
        specs: list[Spec],
        request: Request,
        send: Send,
        fetched: list[Fields],
    ) -> tuple[str, int]:
        """Answer several ranges as one ``multipart/byteranges`` 206 (RFC 9110 §14.6); ``first`` is the first range.

        Every range is read from the cache before the answer starts, so the
        body's length is known; ranges the value does not have are left out.
        On a miss, ``first`` is closed first (its fill then stores the whole
        value) and read again from the cache; a value the cache did not store
        is relayed from the origin, which gets the client's ``Range``.
        """
        if first.source is None:
            await first.aclose()
            try:
                first = await self.cache.get(key, _never_fetch, byte_range=_byte_range(specs[0]))
            except (_Refetch, NotFound, RangeNotSatisfiable):
                return await self._uncached_get(request, send)
        parts = [first]
        try:
            async with first:  # the first part's read ends here; the others are closed by the finally below
                for spec in specs[1:]:
                    try:
                        parts.append(await self.cache.get(key, _never_fetch, byte_range=_byte_range(spec)))
                    except (RangeNotSatisfiable, NotFound, _Refetch):
                        continue
                attrs = first.metadata.attrs
                stored = _stored_fields(attrs.get(FIELDS, "[]"))
                content_type = field(stored, "content-type")
                boundary = multipart_boundary()
                heads = []
                for part in parts:
                    assert part.content_range is not None
                    start, stop, length = part.content_range
                    heads.append(part_head(boundary, content_type, start, stop, length))
                tail = multipart_tail(boundary)
                size = sum(len(head) for head in heads) + len(tail)
                size += sum(part.content_range.stop - part.content_range.start for part in parts if part.content_range)
                fields = [(name, value) for name, value in stored if name not in BODY_FIELDS and name != "age"]
                age = _age(first.metadata, time.time())
                fields += [
                    ("content-type", f"multipart/byteranges; boundary={boundary}"),
                    ("content-length", str(size)),
                    ("age", str(int(age))),
                    ("x-cache", _outcome(first, fetched)[1]),
                ]
                await send(_start(206, fields))
                for head, part in zip(heads, parts, strict=True):
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                    while chunk := await part.read(self.chunk_size):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": tail})
        finally:
            for part in parts[1:]:
                await part.aclose()
        return _outcome(first, fetched)[0], 206

    def _range_applies(self, response: AsyncResponse, request: Request) -> bool:
        """Whether a ranged response answers the request as 206: a stored 200 that ``If-Range`` (if any) names."""
        attrs = response.metadata.attrs
        if attrs.get(STATUS, "200") != "200":
            return False
        if_range = field(request.fields, "if-range")
        return if_range is None or if_range_matches(if_range, _stored_fields(attrs.get(FIELDS, "[]")))

    async def _lookup(
        self, key: str, request: Request, byte_range: ByteRange | None
    ) -> tuple[AsyncResponse, list[Fields]]:
        """The cache's response for ``key`` (the ``byte_range`` of it), and the origin answers this request caused."""
        fetched: list[Fields] = []
        fetch = self._fetcher(request, fetched)
        control = request.cache_control
        revalidate_if = max_stale = None
        if control is not None:
            revalidate_if = _request_rules(request.fields)
            max_stale = _max_stale(control)
        response = await self.cache.get(
            key, fetch, revalidate_if=revalidate_if, max_stale=max_stale, byte_range=byte_range
        )
        return response, fetched

    def _fetcher(self, request: Request, fetched: list[Fields]) -> Callable[[Metadata | None], Awaitable[FetchResult]]:
        only_if_cached = request.cache_control is not None and "only-if-cached" in request.cache_control

        async def fetch(old: Metadata | None) -> FetchResult:
            if only_if_cached:
                raise _OnlyIfCached
            return await self._fetch(request, old, fetched)

        return fetch

    async def _fetch(self, request: Request, old: Metadata | None, fetched: list[Fields]) -> FetchResult:
        """GET the whole representation for the cache (conditional when ``old`` has validators).

        A ``HEAD`` that finds a stored response it may not serve without the
        origin asks the origin with ``HEAD`` (RFC 9111 §4.3.5): a ``200`` that
        matches the stored response freshens it as a 304 does, and any other
        answer goes back to the client, the stored response left stale.
        """
        fields = self._forwarded(request, for_cache=True)
        old_fields = decode_fields(old.attrs) if old is not None else None
        if old is not None and old_fields is not None:
            if old.etag:
                fields.append(("if-none-match", old.etag))
            last_modified = field(old_fields, "last-modified")
            if last_modified:
                fields.append(("if-modified-since", last_modified))
        method = "HEAD" if request.method == "HEAD" and old_fields is not None else "GET"
        request_time = time.time()
        upstream = await self.origin.send(method, request.key, fields)
        response_time = time.time()
        fetched.append(upstream.fields)
        try:
            if (
                old is not None
                and old_fields is not None
                and (
                    upstream.status == 304
                    or (method == "HEAD" and upstream.status == 200 and head_matches(old_fields, upstream.fields))
                )
            ):
                await upstream.body.aclose()
                raise NotModified(
                    request.key,
                    metadata=self._revalidated(request, old, old_fields, upstream, request_time, response_time),
                )
            if old is not None and upstream.status in _SERVER_ERRORS and old.stale_if_error:
                # The core serves the stale entry inside its window, else this answer is relayed: read it now.
                raise _OriginAnswer(upstream.status, upstream.fields, await _short_body(upstream))
            if method == "HEAD":  # no body to store: relay the answer, leave the stored response stale
                await upstream.body.aclose()
                unstored = Verdict(False, "an answer to HEAD that does not match the stored response")
                metadata = _metadata(upstream.status, upstream.fields, unstored, request.fields)
                return FetchResult(b"", metadata, store=False)
            verdict = storable(
                "GET",
                request.fields,
                upstream.status,
                upstream.fields,
                request_time=request_time,
                response_time=response_time,
                policy=self.policy,
            )
            if not verdict.store and _logger.isEnabledFor(logging.DEBUG):
                _logger.debug("not storing %r: %s", request.key, verdict.reason, extra={"key": request.key})
            metadata = _metadata(upstream.status, upstream.fields, verdict, request.fields)
        except NotModified:
            raise
        except BaseException:
            await upstream.body.aclose()
            raise
        return FetchResult(upstream.body, metadata, store=verdict.store)

    def _revalidated(
        self,
        request: Request,
        old: Metadata,
        old_fields: Fields,
        upstream: Upstream,
        request_time: float,
        response_time: float,
    ) -> Metadata:
        """The stored metadata updated by a 304, or a matching 200 to ``HEAD`` (RFC 9111 §4.3.4, §4.3.5)."""
        status = int(old.attrs.get(STATUS, "200"))
        merged = updated_fields(old_fields, stored_response(upstream.fields))
        verdict = storable(
            "GET",
            request.fields,
            status,
            merged,
            request_time=request_time,
            response_time=response_time,
            policy=self.policy,
        )
        if not verdict.store:  # what the 304 says now forbids storing it: serve it this once, revalidate next time
            verdict = Verdict(True, verdict.reason, None)
        return _metadata(status, merged, verdict, request.fields, old.attrs.get(_VARIANTS))

    async def _answer(
        self, response: AsyncResponse, request: Request, receive: Receive, send: Send, fetched: list[Fields]
    ) -> tuple[str, int]:
        """Send the cache's ``response`` (stored, or just fetched) to the client."""
        metadata = response.metadata
        attrs = metadata.attrs
        if response.source is not None and not fetched and not request.conditional and response.content_range is None:
            return await self._answer_hit(response, request, receive, send)
        stored_fields = _stored_fields(attrs.get(FIELDS, "[]"))
        status = int(attrs.get(STATUS, "200"))
        outcome, label = _outcome(response, fetched)
        # The answer this request caused goes back as it came (its cookies included); others as stored.
        fields = relayed_response(fetched[-1]) if response.source is None and fetched else list(stored_fields)
        fields = [(name, value) for name, value in fields if name != "age"]
        if response.source is not None or fetched:
            fields.append(("age", str(int(_age(metadata, time.time())))))
        fields.append(("x-cache", label))
        _advertise_ranges(fields, status)
        content_range = response.content_range
        if content_range is not None:
            status = 206
            fields = [(name, value) for name, value in fields if name not in ("content-length", "content-range")]
            fields.append(("content-range", content_range.header))
            fields.append(("content-length", str(content_range.stop - content_range.start)))
        if request.conditional and not_modified(request.fields, 200 if status == 206 else status, stored_fields):
            if response.source is None:
                while await response.read(self.chunk_size):  # the cache still fills
                    pass
            await send(_start(304, [(name, value) for name, value in fields if name not in BODY_FIELDS]))
            await send({"type": "http.response.body", "body": b""})
            return "not_modified", 304
        await send(_start(status, fields))
        if request.method == "HEAD" or status in _NO_BODY:
            if response.source is None:
                while await response.read(self.chunk_size):
                    pass
            await send({"type": "http.response.body", "body": b""})
            return outcome, status
        await stream_body(response, receive, send, self.chunk_size)
        return outcome, status

    async def _answer_hit(
        self, response: AsyncResponse, request: Request, receive: Receive, send: Send
    ) -> tuple[str, int]:
        """The common case of :meth:`_answer`: a whole stored response, no conditional; its head encoded once."""
        metadata = response.metadata
        attrs = metadata.attrs
        head, status, dated = _stored_head(attrs.get(FIELDS, "[]"), attrs.get(STATUS, "200"))
        now = time.time()
        age = _age(metadata, now)
        tier = response.source or 0  # a hit: never None here
        if response.stale:
            outcome, label = "stale", _STALE_LABELS[tier]
        else:
            outcome, label = "hit", _HIT_LABELS[tier]
        headers = [*head, (b"age", b"%d" % age), (b"x-cache", label)]
        if not dated:
            headers.append((b"date", http_now(now).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if request.method == "HEAD" or status in _NO_BODY:
            await send({"type": "http.response.body", "body": b""})
        else:
            await stream_body(response, receive, send, self.chunk_size)
        return outcome, status

    async def _uncached_get(self, request: Request, send: Send) -> tuple[str, int]:
        """A GET/HEAD the cache cannot answer (a variant it cannot store): relayed from the origin as it is."""
        fields = self._forwarded(request, for_cache=False)
        try:
            upstream = await self.origin.send(request.method, request.key, fields)
        except OriginError as error:
            _logger.warning("origin failed for %r: %s", request.key, error, extra={"key": request.key})
            return "error", await answer_text(send, error.status, "origin failed\n", [("x-cache", "MISS")])
        return "miss", await self._relay(upstream, request, send, label="MISS")

    # -- other methods: through to the origin ----------------------------------------

    async def _pass_through(self, request: Request, receive: Receive, send: Send) -> tuple[str, int]:
        """Send the request to the origin with its body streamed, relay the answer; invalidate on success (§4.4)."""
        fields = self._forwarded(request, for_cache=False)
        try:
            content = await _request_content(receive) if request.method not in ("GET", "HEAD") else None
            upstream = await self.origin.send(request.method, request.target, fields, content)
        except _ClientLeft:
            return "pass", 499  # nobody to answer
        except OriginError as error:
            _logger.warning("origin failed for %s %r: %s", request.method, request.target, error)
            return "error", await answer_text(send, error.status, "origin failed\n", [("x-cache", "PASS")])
        if request.method not in _SAFE and 200 <= upstream.status < 400:
            await self._invalidate(request, upstream)
        return "pass", await self._relay(upstream, request, send, label="PASS")

    async def _invalidate(self, request: Request, upstream: Upstream) -> None:
        """Drop the stored responses for the target and the ``Location``/``Content-Location`` it names (same host)."""
        keys = {request.key}
        host = field(request.fields, "host")
        for name in ("location", "content-location"):
            location = field(upstream.fields, name)
            key = _same_origin_path(location, host) if location else None
            if key is not None:
                keys.add(key)
        for key in keys:
            try:
                await self.cache.delete(key)
            except Exception as error:  # a tier that fails to delete is logged by the cache too
                _logger.warning("invalidating %r failed: %r", key, error, extra={"key": key})

    async def _relay(self, upstream: Upstream, request: Request, send: Send, *, label: str) -> int:
        """Stream the origin's answer to the client as it came (end-to-end fields, cookies included)."""
        try:
            fields = relayed_response(upstream.fields)
            fields.append(("x-cache", label))
            await send(_start(upstream.status, fields))
            if request.method != "HEAD" and upstream.status not in _NO_BODY:
                async for chunk in upstream.body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.body.aclose()
        return upstream.status


_HIT_LABELS = [b"HIT tier=%d" % tier for tier in range(64)]
_STALE_LABELS = [b"STALE tier=%d" % tier for tier in range(64)]
"""``X-Cache`` values of a hit, by tier (a chain is far shorter than 64 tiers)."""


class _Refetch(Exception):
    """A later part of a multipart range needed the origin: the entry changed meanwhile."""


async def _never_fetch(old: Metadata | None) -> FetchResult:
    """The fetcher of a multipart answer's later parts: the first part just read the entry, so they hit."""
    raise _Refetch


def _byte_range(spec: Spec) -> ByteRange:
    """The cache's range for one HTTP range spec; ``bytes=-0`` asks for nothing there is (416)."""
    first, last = spec
    if first is None and last == 0:
        raise RangeNotSatisfiable("", spec, 0)
    return ByteRange.from_http(first, last)


def _first_range(specs: list[Spec] | None) -> ByteRange | None:
    return None if specs is None else _byte_range(specs[0])


class _NotCacheable(Exception):
    """This request's variant cannot come from the cache."""


def _advertise_ranges(fields: list[tuple[str, str]], status: int) -> None:
    """Add ``Accept-Ranges: bytes`` to the fields of a stored 200 that lack it: its ranges are served from the cache."""
    if status == 200 and field(fields, "accept-ranges") is None:
        fields.append(("accept-ranges", "bytes"))


@functools.lru_cache(maxsize=4096)
def _stored_head(encoded: str, status: str) -> tuple[tuple[tuple[bytes, bytes], ...], int, bool]:
    """An entry's stored fields as ASGI headers (``Accept-Ranges`` added to a 200), its status, and if it has a Date."""
    fields = list(_stored_fields(encoded))
    code = int(status)
    _advertise_ranges(fields, code)
    headers = tuple((name.encode("latin-1", "replace"), value.encode("latin-1", "replace")) for name, value in fields)
    return headers, code, field(fields, "date") is not None


@functools.lru_cache(maxsize=4096)
def _stored_fields(encoded: str) -> tuple[tuple[str, str], ...]:
    """The stored fields of an entry, decoded once per distinct encoding (every hit of an entry has the same)."""
    return tuple(decode_fields({FIELDS: encoded}) or ())


def _max_stale(control: CacheControl) -> float | None:
    """The staleness a request's ``max-stale`` accepts: its seconds, or without them any (RFC 9111 §5.2.1.2)."""
    if "max-stale" not in control:
        return None
    if control.directives["max-stale"] is None:
        return float(MAX_DELTA)
    return float(control.seconds("max-stale") or 0)


def _request_rules(fields: Fields) -> Callable[[Metadata], bool]:
    """The ``revalidate_if`` of a request with its own cache directives (``no-cache``, ``max-age``, ``min-fresh``)."""

    def revalidate_if(metadata: Metadata) -> bool:
        age = _age(metadata, time.time())
        lifetime = metadata.attrs.get(LIFETIME)
        if lifetime is not None:  # the response's own lifetime: it may have arrived stale already
            fresh_left = float(lifetime) - age
        elif metadata.fresh_for is not None:
            fresh_left = metadata.cached_at + metadata.fresh_for - time.time()
        else:
            fresh_left = float("inf")
        return request_needs_origin(fields, age=age, fresh_for_left=fresh_left)

    return revalidate_if


def _age(metadata: Metadata, now: float) -> float:
    """The current age of the stored response ``metadata`` describes (RFC 9111 §4.2.3)."""
    return current_age(float(metadata.attrs.get(INITIAL_AGE, "0")), metadata.cached_at, now)


def _metadata(status: int, fields: Fields, verdict: Verdict, request: Fields, variants: str | None = None) -> Metadata:
    """The entry metadata of a response: its status, stored fields, validator and freshness.

    ``variants`` is the token of an entry this one replaces (a 304 keeps its variants); a new one is drawn otherwise.
    """
    stored = stored_response(fields)
    attrs = {STATUS: str(status), FIELDS: encode_fields(stored)}
    length = field(fields, "content-length")
    if length is not None and length.strip().isdigit():
        attrs["content-length"] = length.strip()
    vary = field_values(fields, "vary")
    if vary:
        attrs[_VARY] = json.dumps({name.lower(): _normalized(request, name.lower()) for name in vary})
        attrs[_VARIANTS] = variants or secrets.token_hex(8)
    fresh = verdict.freshness
    if fresh is None:
        return Metadata(etag=field(fields, "etag") or "", attrs=attrs, fresh_for=0.0, must_revalidate=True)
    attrs[INITIAL_AGE] = repr(fresh.initial_age)
    attrs[LIFETIME] = repr(fresh.lifetime)
    return Metadata(
        etag=field(fields, "etag") or "",
        attrs=attrs,
        fresh_for=fresh.fresh_for,
        stale_while_revalidate=fresh.stale_while_revalidate,
        stale_if_error=fresh.stale_if_error,
        must_revalidate=fresh.must_revalidate,
    )


def _normalized(request: Fields, name: str) -> str | None:
    """A request field's value as ``Vary`` compares it: lines joined, list members trimmed; ``None`` when absent."""
    lines = [value for key, value in request if key == name]
    if not lines:
        return None
    return ",".join(member.strip() for line in lines for member in line.split(","))


def _vary_of(metadata: Metadata) -> dict[str, str | None] | None:
    """The nominated request fields and values a stored response was selected with, or ``None`` without ``Vary``."""
    encoded = metadata.attrs.get(_VARY)
    if encoded is None:
        return None
    try:
        values = json.loads(encoded)
    except ValueError:
        return {"*": None}
    return values if isinstance(values, dict) else {"*": None}


def _other_variant(response: AsyncResponse, request: Request) -> dict[str, str | None] | None:
    """The nominated fields of a stored response selected by other values than ``request``'s; ``None`` if it fits.

    A response the origin just sent for this request always fits.
    """
    if response.source is None:
        return None
    stored = _vary_of(response.metadata)
    if stored is None or (
        "*" not in stored and all(_normalized(request.fields, name) == value for name, value in stored.items())
    ):
        return None
    return stored


def _variant_key(key: str, token: str, stored: dict[str, str | None], request: Request) -> str:
    """The key of the variant of ``key`` that ``request`` selects, under the primary entry's ``token``."""
    values = json.dumps({name: _normalized(request.fields, name) for name in sorted(stored)})
    digest = hashlib.sha256(values.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{key}#vary-{token}-{digest}"


def _same_origin_path(location: str, host: str | None) -> str | None:
    """The path a ``Location`` value names on this proxy's host (relative, or absolute with the same host)."""
    import urllib.parse  # noqa: PLC0415 (rare path)

    parts = urllib.parse.urlsplit(location.strip())
    if parts.netloc and (host is None or parts.netloc.lower() != host.lower()):
        return None
    if not parts.path.startswith("/"):
        return None
    return urllib.parse.unquote(parts.path)


def _outcome(response: AsyncResponse, fetched: Sequence[Fields]) -> tuple[str, str]:
    if response.source is None:
        return "miss", "MISS"
    if response.stale:
        return "stale", f"STALE tier={response.source}"
    if fetched:
        return "revalidated", f"REVALIDATED tier={response.source}"
    return "hit", f"HIT tier={response.source}"


def _start(status: int, fields: Fields) -> Message:
    """The ``http.response.start`` message; a ``Date`` is added when the fields carry none (RFC 9110 §6.6.1)."""
    headers = [(name.encode("latin-1", "replace"), value.encode("latin-1", "replace")) for name, value in fields]
    if field(fields, "date") is None:
        headers.append((b"date", http_now(time.time()).encode("ascii")))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def answer_text(
    send: Send, status: int, text: str, extra: Fields = (), *, content_type: str = "text/plain; charset=utf-8"
) -> int:
    """Answer with a short text of the proxy's own (an error, ``/healthz``, ``/metrics``); return ``status``."""
    body = text.encode("utf-8")
    fields = [("content-type", content_type), ("content-length", str(len(body))), *extra]
    await send(_start(status, fields))
    await send({"type": "http.response.body", "body": body})
    return status


_SHORT_BODY = 64 * 1024
"""The most of an error answer kept to relay it; the rest is dropped (the answer is cut there)."""


async def _short_body(upstream: Upstream) -> bytes:
    """Up to :data:`_SHORT_BODY` bytes of ``upstream``'s body, which is closed."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in upstream.body:
            parts.append(chunk)
            size += len(chunk)
            if size >= _SHORT_BODY:
                break
    finally:
        await upstream.body.aclose()
    return b"".join(parts)[:_SHORT_BODY]


class _ClientLeft(Exception):
    """The client disconnected before its request body ended."""


_WHOLE_BODY = 64 * 1024
"""A request body up to this long is read whole before it is sent (one write, with its length); longer ones stream."""


async def _request_content(receive: Receive) -> bytes | AsyncIterator[bytes]:
    """The client's request body: whole when it is short, else streamed as it arrives.

    Raises :class:`_ClientLeft` when the client leaves before its body ended.
    """
    parts: list[bytes] = []
    size = 0
    while size <= _WHOLE_BODY:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientLeft
        body = message.get("body", b"")
        parts.append(body)
        size += len(body)
        if not message.get("more_body", False):
            return b"".join(parts)
    return _rest_of_body(parts, receive)


async def _rest_of_body(received: list[bytes], receive: Receive) -> AsyncIterator[bytes]:
    """The body chunks already ``received``, then the rest as it arrives."""
    for body in received:
        yield body
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientLeft
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def stream_body(response: AsyncResponse, receive: Receive, send: Send, chunk_size: int) -> None:
    """Send ``response``'s body chunk by chunk; stop (the response then discards its copies) if the client leaves.

    A value held in memory, or a hit whose declared length fits in one
    chunk, is one read, sent in slices (:func:`_send_sliced`): there is
    nothing to stop midway, so no disconnect watcher.
    """
    length = response.metadata.declared_length
    if response.in_memory or (response.source is not None and length is not None and length <= chunk_size):
        await _send_sliced(await response.read(), send, more_body=False)
        return
    disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        while chunk := await response.read(chunk_size):
            if disconnected.done():
                return
            await _send_sliced(chunk, send, more_body=True)
        if not disconnected.done():
            await send({"type": "http.response.body", "body": b""})
    finally:
        disconnected.cancel()


_SEND_SLICE = 512 * 1024
"""The most bytes handed to the server in one body message.

One 1 MiB message becomes one 1 MiB ``writev``; on loopback under BBR
(paced from a timer) that burst arrives reordered, is retransmitted, and
adds a 20-45 ms tail to one response in fifty. 512 KiB messages (256 KiB
measured the same, with a slightly longer tail) cost one copy of the body
and up to a tenth of the saturated rate, and keep the p99 at a few
milliseconds (``docs/serve.md``, "granian's 1 MiB tail").
"""


async def _send_sliced(body: bytes, send: Send, *, more_body: bool) -> None:
    """Send ``body`` as messages of at most :data:`_SEND_SLICE` bytes; the last says ``more_body``."""
    end = len(body)
    if end <= _SEND_SLICE:  # the usual case: no copy
        await send({"type": "http.response.body", "body": body, "more_body": more_body})
        return
    for start in range(0, end, _SEND_SLICE):
        stop = start + _SEND_SLICE
        await send({"type": "http.response.body", "body": body[start:stop], "more_body": more_body or stop < end})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
