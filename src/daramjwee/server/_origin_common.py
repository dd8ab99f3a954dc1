"""Helpers shared by the origins of ``daramjwee serve`` (:mod:`daramjwee.server._origins`).

Cache-key parsing and checking, content-type guessing, HTTP dates, the
conditional-request test, and the constants more than one origin uses.
"""

from __future__ import annotations

import email.utils
import mimetypes

from .. import Metadata

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "HTTP_SCHEMES",
    "guess_type",
    "http_date",
    "revalidation_basis",
    "safe_segments",
    "split_path",
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
