"""Origins of ``daramjwee serve``: where a miss or a revalidation is fetched from.

An :class:`Origin` turns a normalized request path into an async fetcher for
:meth:`daramjwee.AsyncCache.get`.  :func:`open_origin` picks the kind from the
``--origin`` spec:

* ``http://…`` / ``https://…`` → :class:`~daramjwee.server._http_origin.HttpOrigin`
  (a reverse proxy of that server);
* ``s3://bucket/prefix`` (also ``gs://``, ``az://`` and obstore's other cloud
  schemes) → :class:`~daramjwee.server._object_origin.ObjectOrigin` (objects
  read with obstore);
* anything else → :class:`~daramjwee.server._directory_origin.DirectoryOrigin`
  (files under a local directory; ``file:///path`` works too).

This module is that factory: it imports the kind it opens only then (so
importing it never imports obstore).  What every kind shares, the errors and the
:class:`~daramjwee.server._origin_types.Origin` protocol with the fetcher
contract, is in :mod:`daramjwee.server._origin_types`, which the kinds import;
their common helpers are in :mod:`daramjwee.server._origin_common`.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .. import ConfigError
from ._origin_common import HTTP_SCHEMES
from ._origin_types import Origin

__all__ = ["open_origin"]

_OBJECT_SCHEMES = frozenset({"s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"})


def open_origin(
    spec: str,
    *,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    s3_options: Mapping[str, Any] | None = None,
) -> Origin:
    """Open the origin ``spec`` names; raise :class:`~daramjwee.ConfigError` saying what to fix.

    * ``http://host[:port][/base]`` or ``https://…`` → :class:`~daramjwee.server._http_origin.HttpOrigin`
      (no query or fragment; credentials ``user:password@`` are sent as Basic
      authentication and never shown by ``describe``).
    * ``s3://bucket[/prefix]``, ``gs://…``, ``az://…`` (and ``s3a``, ``azure``,
      ``abfs``, ``abfss``, ``adl``) → :class:`~daramjwee.server._object_origin.ObjectOrigin` through
      ``obstore.store.from_url(spec, **s3_options)`` (``endpoint=``,
      ``region=``, credentials, ``client_options=``, ``retry_config=``...).
      Needs obstore (``pip install 'daramjwee[s3]'``).
    * ``file:///path`` or any other string without ``://`` →
      :class:`~daramjwee.server._directory_origin.DirectoryOrigin`
      (the directory must exist).

    ``timeout`` is the longest wait, in seconds, for any read from the origin
    (response headers, and each chunk of a body); ``connect_timeout`` bounds
    opening a connection.  Either running out raises
    :class:`~daramjwee.server._origin_types.OriginTimeout`.
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
        from ._object_origin import ObjectOrigin  # noqa: PLC0415 (imports obstore when used)

        return ObjectOrigin(spec, timeout=timeout, connect_timeout=connect_timeout, options=s3_options)
    if s3_options:
        raise ConfigError(
            f"s3_options apply only to an s3://, gs:// or az:// origin, but the origin is {spec!r}; remove them"
        )
    if scheme in HTTP_SCHEMES:
        from ._http_origin import HttpOrigin  # noqa: PLC0415 (only the kind opened is imported)

        return HttpOrigin(spec, timeout=timeout, connect_timeout=connect_timeout)
    from ._directory_origin import DirectoryOrigin  # noqa: PLC0415 (only the kind opened is imported)

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
