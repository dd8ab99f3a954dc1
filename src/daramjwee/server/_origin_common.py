"""Helpers shared by the origins of ``daramjwee serve`` (:mod:`daramjwee.server._origins`).

Cache-key parsing and checking, content-type guessing, HTTP dates, the
conditional-request test, the loop of a body's chunks, a URL as it may be shown
(without credentials), and the constants more than one origin uses.
"""

from __future__ import annotations

import email.utils
import mimetypes
import re
from typing import NoReturn, Self

from .. import Metadata

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "HTTP_SCHEMES",
    "OriginBody",
    "guess_type",
    "http_date",
    "revalidation_basis",
    "safe_segments",
    "split_path",
    "without_credentials",
]

CHUNK_SIZE = 64 * 1024
"""Bytes per chunk read from a file, and the smallest chunk taken from an object-store response."""
DEFAULT_CONTENT_TYPE = "application/octet-stream"
HTTP_SCHEMES = frozenset({"http", "https"})
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
"""Content types of files whose name says "compressed" (``x.tar.gz``): served as the archive they are."""


def split_path(path: str) -> tuple[str, str]:
    """``(path, query)`` of a cache key; ``ValueError`` unless it starts with ``/``."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"an origin path must be a str starting with '/', got {path!r}")
    name, _, query = path.partition("?")
    return name, query


def safe_segments(name: str) -> list[str] | None:
    """The segments of ``name`` (a path starting with ``/``) naming a file, or ``None`` if it cannot name one.

    ``None`` for the root, a trailing ``/`` (a directory), an empty, ``.`` or
    ``..`` segment, or a NUL: what the proxy should never pass, re-checked here.
    """
    segments = name[1:].split("/")
    if "\x00" in name or any(segment in ("", ".", "..") for segment in segments):
        return None
    return segments


def guess_type(name: str) -> str:
    """The content type of a file or object called ``name``, from its extension."""
    content_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _COMPRESSED_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return content_type or DEFAULT_CONTENT_TYPE


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def revalidation_basis(old: Metadata | None) -> Metadata | None:
    """``old`` when it describes a positive entry a conditional request can revalidate."""
    if old is None or old.is_negative or not (old.etag or old.attrs.get("last-modified")):
        return None
    return old


class OriginBody:
    """The body of an origin's fetch: an async iterator of chunks that owns what it reads from (a file, a response).

    It releases that (``aclose``, idempotent) when it ends, when a read
    fails, or when it is closed.  A subclass reads one chunk in
    :meth:`_next_chunk` (raising ``StopAsyncIteration`` at the end, and once
    closed) and says in :meth:`_failed` what a failed read raises (an
    ``OriginError``, so that the cache never publishes a partial value); the
    body is closed before.  A cancelled read closes the body only where
    ``_close_on_cancel`` says so.
    """

    __slots__ = ()
    _close_on_cancel = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._next_chunk()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except Exception as error:
            await self.aclose()
            self._failed(error)
        except BaseException:
            if self._close_on_cancel:
                await self.aclose()
            raise

    async def _next_chunk(self) -> bytes:
        raise NotImplementedError

    def _failed(self, error: Exception) -> NoReturn:
        """Raise what a read that failed with ``error`` raises (by default ``error`` itself)."""
        raise error

    async def aclose(self) -> None:
        raise NotImplementedError


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
"""A URL's scheme, then the ``user:password@`` of its authority (up to its last ``@``)."""


def without_credentials(url: str) -> str:
    """``url`` as logs, errors and the startup line may show it: the ``user:password@`` of its authority left out."""
    return _USERINFO.sub(r"\1", url, count=1)
