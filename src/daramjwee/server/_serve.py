"""Building the app from settings, and running it on granian (``daramjwee serve``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import resource
import socket
from pathlib import Path

from .. import AsyncCache, AsyncFileStore, AsyncMemStore, AsyncStore, ConfigError, parse_capacity
from ._app import CacheApp
from ._cache_rules import StorePolicy
from ._origins import open_origin
from ._settings import ServeSettings

__all__ = ["build_app", "run_on_granian", "serve"]


def build_app(settings: ServeSettings) -> CacheApp:
    """The app ``settings`` describe: memory, file, then the optional Redis and object-storage tiers."""
    stores: list[AsyncStore] = [
        AsyncMemStore(settings.memory),
        # A proxy's file tier is mostly page-cached: open and read small entries without a thread hand-off.
        AsyncFileStore(Path(settings.cache_dir).expanduser(), settings.disk, inline_open=True),
    ]
    names = ["memory", "file"]
    if settings.redis is not None:
        from .. import AsyncRedisStore  # noqa: PLC0415 (optional dependency)

        stores.append(AsyncRedisStore(settings.redis, prefix="daramjwee-serve:"))
        names.append("redis")
    if settings.s3 is not None:
        from .. import AsyncObjectStore  # noqa: PLC0415 (optional dependency)

        stores.append(AsyncObjectStore(settings.s3))
        names.append("object")
    coordination = None
    if settings.coordinate and settings.redis is not None:
        from .. import AsyncRedisCoordinator  # noqa: PLC0415 (optional dependency)

        coordination = AsyncRedisCoordinator(settings.redis, prefix="daramjwee-serve:")
    cache = AsyncCache(
        stores=stores,
        positive_fresh_for=settings.fresh_for,
        negative_fresh_for=settings.negative_fresh_for,
        coordination=coordination,
    )
    origin = open_origin(settings.origin, timeout=settings.origin_timeout)
    policy = StorePolicy(
        default_fresh_for=settings.fresh_for if settings.fresh_for is not None else _FOREVER,
        override_fresh_for=settings.fresh_for_override,
        store_set_cookie=settings.store_set_cookie,
    )
    return CacheApp(
        cache,
        origin,
        include_query=settings.include_query,
        allowed_hosts=settings.allowed_hosts,
        max_target_length=settings.max_target_length,
        tier_names=names,
        policy=policy,
        read_only=settings.read_only,
        via=settings.via,
        forwarded=settings.forwarded,
    )


_SETTINGS_VARIABLE = "DARAMJWEE_SERVE_SETTINGS"
_FOREVER = float(2**31)
"""The freshness of "never stale" (``fresh_for = None``) for an HTTP response: RFC 9111's largest delta-seconds."""


def app_from_environment() -> CacheApp:
    """The app of one worker process: settings come from the parent through the environment."""
    values = json.loads(os.environ[_SETTINGS_VARIABLE])
    values["server_names"] = tuple(values["server_names"])
    settings = ServeSettings(**values)
    _log_to_stderr(settings.log_level)
    return build_app(settings)


def _log_to_stderr(level: str) -> None:
    """Send the library's log records at ``level`` and above to stderr, as uvicorn's own lines go.

    The library only installs a ``NullHandler`` (an application decides where
    its logs go); ``serve`` is that application.  Idempotent.
    """
    logger = logging.getLogger("daramjwee")
    logger.setLevel(level.upper())
    if not any(getattr(handler, "daramjwee_serve", False) for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:  daramjwee: %(message)s"))
        handler.daramjwee_serve = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def serve(settings: ServeSettings) -> None:
    """Run the app on granian until SIGINT/SIGTERM; in-flight responses get ``graceful_timeout`` to finish.

    granian (Rust, hyper) parses HTTP/1.1 off the Python event loop and
    enforces the front's limits before it buffers more (measured against
    uvicorn in docs/serve.md): ``max_header_size`` for the request line and
    headers together (431, even when it is the target that is long; a target
    within it but over ``max_target_length`` gets the app's 414), at most 100
    headers (431), ``header_timeout`` to send them (then the connection is
    closed; an idle keep-alive connection waits for its next request as
    long), and ``max_connections`` per worker (more wait in the backlog).
    ``workers`` processes share the port; each builds its own app (its own
    memory tier; the file tier's directory is shared, which ``FileStore``
    supports).  The app comes from the settings in the environment.
    """
    _log_to_stderr(settings.log_level)
    _check_free(settings.host, settings.port)
    _raise_open_file_limit(settings.max_connections + 256)
    os.environ[_SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
    run_on_granian(f"{__name__}:app_from_environment", settings)


def run_on_granian(factory: str, settings: ServeSettings) -> None:
    """Run the ASGI app ``factory`` (``module:function``, called in each worker) as ``daramjwee serve`` runs its own.

    The server's options (workers, limits, timeouts) come from ``settings``;
    blocks until SIGINT/SIGTERM.  The ``serve`` benchmark runs its no-op
    ceiling app through this too, so that both are served alike.
    """
    from granian.constants import HTTPModes, Interfaces, Loops  # noqa: PLC0415 (optional dependency)
    from granian.http import HTTP1Settings  # noqa: PLC0415
    from granian.log import LogLevels  # noqa: PLC0415
    from granian.server import Server  # noqa: PLC0415

    server = Server(
        factory,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        loop=Loops.auto,
        workers=settings.workers,
        backlog=max(1024, settings.max_connections),
        backpressure=settings.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.header_timeout * 1000)),
            keep_alive=True,
            max_buffer_size=parse_capacity(settings.max_header_size, "max-header-size"),
        ),
        log_level=LogLevels(settings.log_level),
        log_access=False,
        workers_kill_timeout=max(1, math.ceil(settings.graceful_timeout)),
    )
    server.serve()


def _check_free(host: str, port: int) -> None:
    """:class:`ConfigError` if another process listens on ``host:port``.

    granian's workers bind with ``SO_REUSEPORT``, so a second server on a
    taken port would silently share it with the first.  A plain bind fails then.
    """
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no conflict
            probe.bind(address)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _raise_open_file_limit(wanted: int) -> None:
    """Raise this process's open-file limit (inherited by the workers) toward ``wanted``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
