"""The object-store origin of ``daramjwee serve``: :class:`ObjectOrigin` (S3, GCS, Azure through obstore) and its body.

obstore is an optional dependency: it is imported only when an object origin is opened or used.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from .. import AsyncFetcher, CacheableNotFound, ConfigError, FetchResult, Metadata, NotModified
from ._origin_common import CHUNK_SIZE, guess_type, http_date, revalidation_basis, safe_segments, split_path
from ._origin_types import OriginError, OriginTimeout

if TYPE_CHECKING:
    from obstore import BytesStream, GetOptions, GetResult
    from obstore.store import ObjectStore as Backend

__all__ = ["ObjectOrigin"]

_GENERIC_CONTENT_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
"""Content types object stores give objects stored without one: a guess from the name is better."""
_S3_RETRIES = 2
"""obstore retries of a failed request (its default, 10 retries within 3 minutes, is too patient for a proxy)."""
_S3_REQUEST_LIMIT = datetime.timedelta(days=1)
"""obstore's limit on a whole request, body included (its default, 30 s, would cut long downloads to slow clients).

Stalls are caught by the read timeout instead.
"""


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
            reason = str(error).partition("\n")[0]  # obstore appends a multi-line debug dump; the cause stays chained
            raise ConfigError(f"cannot open the object-store origin {url!r}: {reason}") from error
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
        name, _ = split_path(path)

        async def fetch(old: Metadata | None) -> FetchResult:
            if safe_segments(name) is None:
                raise CacheableNotFound(path)
            return await self._fetch(name[1:], path, revalidation_basis(old))

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
        attrs["last-modified"] = http_date(meta["last_modified"].timestamp())
        body = _ObjectBody(self, result.stream(min_chunk_size=CHUNK_SIZE), size, path)
        return FetchResult(body, Metadata(etag=meta.get("e_tag") or "", attrs=attrs))

    @staticmethod
    def _content_type(result: GetResult, object_path: str) -> str:
        stored = result.attributes.get("Content-Type")
        if stored and stored.split(";")[0].strip().lower() not in _GENERIC_CONTENT_TYPES:
            return stored
        return guess_type(object_path.rsplit("/", 1)[-1])

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
