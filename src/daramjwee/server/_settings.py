"""The settings of ``daramjwee serve``: flags, a TOML file, defaults, validation (pure: no I/O but reading the file).

A TOML file holds the same settings as the flags, under the same names
(``cache-dir`` or ``cache_dir``), at the top level::

    origin = "https://artifacts.internal"
    port = 8080
    memory = "512MiB"
    disk = "50GiB"
    cache-dir = "/var/cache/daramjwee"
    redis = "redis://cache.internal:6379/0"
    fresh-for = 300
    server-names = ["cdn.example.com"]
    header-timeout = 60
    max-header-size = "32KiB"
    max-connections = 4096

Flags given on the command line override the file.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import ConfigError, parse_capacity
from ._fields import check_forwarding

__all__ = ["ServeSettings", "load_settings"]

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
MAX_HEADER_TIMEOUT = 60.0
"""granian (hyper) takes at most 60 s as its header read timeout."""
MIN_HEADER_SIZE = 8192
"""granian's smallest HTTP/1 buffer."""
MAX_HEADER_SIZE = 1 << 20


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """Everything ``daramjwee serve`` needs; :meth:`validated` checks and normalizes it.

    ``origin``: an ``http(s)://`` URL, an ``s3://`` (``gs://``, ``az://``)
    URL or a local directory.  The tiers are memory (``memory`` bytes), then
    files under ``cache_dir`` (``disk`` bytes), then optionally Redis
    (``redis`` URL) and object storage (``s3`` URL); ``coordinate`` makes
    every proxy over that Redis one cache (one origin fetch per key, purges
    seen by all; needs ``redis``).  ``fresh_for`` and
    ``negative_fresh_for`` are seconds (``None``: never stale): for an HTTP
    origin, ``fresh_for`` is the freshness of a storable response that
    states none and has no ``Last-Modified``, and ``fresh_for_override``
    (when set) the freshness of every storable response; ``store_set_cookie``
    stores responses that set cookies (never the cookie); ``read_only``
    answers methods other than GET and HEAD with 405.  ``via`` names the
    proxy in the ``Via`` field it adds to what it forwards; ``forwarded``
    (``append``, ``replace`` or ``off``) says what it sends as
    ``X-Forwarded-For``/``-Proto``.
    ``server_names`` are the ``Host`` values served besides the local ones
    and ``host``; ``["*"]`` serves any.  ``workers`` server processes share
    the port and the file tier's directory; each has its own memory tier.

    The front (see :mod:`daramjwee.server._front`): ``header_timeout``
    seconds to receive a request's header, which is also how long an idle
    keep-alive connection stays open; ``max_header_size`` bytes for the
    request line and headers together (more: 431); ``max_connections``
    connections per worker (more wait in the listen backlog).
    """

    origin: str
    host: str = "127.0.0.1"
    port: int = 8080
    memory: str | int = "256MiB"
    disk: str | int = "10GiB"
    cache_dir: str = "daramjwee-cache"
    redis: str | None = None
    coordinate: bool = False
    s3: str | None = None
    fresh_for: float | None = 60.0
    negative_fresh_for: float | None = 10.0
    fresh_for_override: float | None = None
    store_set_cookie: bool = False
    read_only: bool = False
    via: str = "daramjwee"
    forwarded: str = "append"
    include_query: bool = True
    server_names: tuple[str, ...] = ()
    origin_timeout: float = 30.0
    max_target_length: int = 8192
    graceful_timeout: float = 30.0
    log_level: str = "warning"
    workers: int = 1
    header_timeout: float = 60.0
    max_header_size: str | int = "32KiB"
    max_connections: int = 4096

    def validated(self) -> ServeSettings:
        """A copy with sizes and durations checked; :class:`ConfigError` names the bad setting."""
        if not isinstance(self.origin, str) or not self.origin.strip():
            raise ConfigError("origin is required: an http(s):// URL, an s3:// URL or a directory")
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer in 0..65535, got {self.port!r}")
        parse_capacity(self.memory, "memory")
        parse_capacity(self.disk, "disk")
        for name in ("fresh_for", "negative_fresh_for", "fresh_for_override"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value < 0):
                raise ConfigError(f"{name.replace('_', '-')} must be seconds >= 0 or absent, got {value!r}")
        for name in ("origin_timeout", "graceful_timeout"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < math.inf:
                raise ConfigError(f"{name.replace('_', '-')} must be seconds > 0, got {value!r}")
        if not isinstance(self.max_target_length, int) or self.max_target_length < 64:
            raise ConfigError(f"max-target-length must be an integer >= 64, got {self.max_target_length!r}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {self.workers!r}")
        for name in ("store_set_cookie", "read_only", "include_query", "coordinate"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name.replace('_', '-')} must be true or false, got {getattr(self, name)!r}")
        if not _is_number(self.header_timeout) or not 0.001 <= self.header_timeout <= MAX_HEADER_TIMEOUT:
            raise ConfigError(
                f"header-timeout must be seconds in 0.001..{MAX_HEADER_TIMEOUT:g}, got {self.header_timeout!r}"
            )
        header_size = parse_capacity(self.max_header_size, "max-header-size")
        if not MIN_HEADER_SIZE <= header_size <= MAX_HEADER_SIZE:
            raise ConfigError(f"max-header-size must be 8KiB..1MiB, got {self.max_header_size!r}")
        connections = self.max_connections
        if not isinstance(connections, int) or isinstance(connections, bool) or connections < 1:
            raise ConfigError(f"max-connections must be an integer >= 1, got {self.max_connections!r}")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            raise ConfigError(f"log-level must be critical, error, warning, info or debug, got {self.log_level!r}")
        try:
            check_forwarding(self.via, self.forwarded)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.coordinate and self.redis is None:
            raise ConfigError("coordinate needs a redis URL: the proxies coordinate over their shared Redis")
        names = tuple(str(name).lower() for name in self.server_names)
        return dataclasses.replace(self, origin=self.origin.strip(), server_names=names)

    @property
    def allowed_hosts(self) -> tuple[str, ...] | None:
        """The ``Host`` values to serve, or ``None`` for any (``server_names`` contains ``"*"``)."""
        if "*" in self.server_names:
            return None
        return (*LOCAL_HOSTS, self.host.lower(), *self.server_names)


def load_settings(config: str | Path | None, overrides: Mapping[str, Any]) -> ServeSettings:
    """Settings from the TOML file ``config`` (if any) with ``overrides`` (flags given) on top, validated.

    Keys may use ``-`` or ``_``; an unknown key or a value of the wrong type
    raises :class:`ConfigError` naming it.
    """
    values: dict[str, Any] = {}
    if config is not None:
        try:
            with open(config, "rb") as file:
                values.update(_normalize_keys(tomllib.load(file), f"config file {config}"))
        except OSError as error:
            raise ConfigError(f"cannot read the config file {config}: {error.strerror or error}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {config} is not valid TOML: {error}") from None
    values.update(_normalize_keys(overrides, "flags"))
    if "server_names" in values:
        names = values["server_names"]
        if isinstance(names, str) or not isinstance(names, list | tuple):
            raise ConfigError(f"server-names must be a list of host names, got {names!r}")
        values["server_names"] = tuple(names)
    try:
        settings = ServeSettings(**values)
    except TypeError as error:
        if "origin" not in values:
            raise ConfigError("origin is required: --origin or origin = ... in the config file") from None
        raise ConfigError(str(error)) from None
    return settings.validated()


_FIELDS = {field.name for field in dataclasses.fields(ServeSettings)}


def _normalize_keys(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    normalized = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            known = ", ".join(sorted(field.replace("_", "-") for field in _FIELDS))
            raise ConfigError(f"unknown setting {key!r} in {where}; known settings: {known}")
        normalized[name] = value
    return normalized


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
