"""Building the app from settings, and running it on granian (``daramjwee serve``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import resource
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from .. import AsyncCache, AsyncFileStore, AsyncMemStore, AsyncStore, ConfigError, parse_capacity
from ._app import CacheApp
from ._cache_rules import StorePolicy
from ._origin_common import without_credentials
from ._origins import open_origin
from ._settings import ServeSettings

__all__ = ["build_app", "run_on_granian", "serve"]

_PREFIX = "daramjwee-serve:"


def build_app(settings: ServeSettings) -> CacheApp:
    """The app ``settings`` describe: memory, file, then the optional Redis and object-storage tiers."""
    stores: list[AsyncStore] = [
        AsyncMemStore(settings.memory),
        # A proxy's file tier is mostly page-cached: open and read small entries without a thread hand-off.
        AsyncFileStore(_cache_dir(settings), settings.disk, inline_open=True),
    ]
    names = ["memory", "file"]
    for name, store in _shared_tiers(settings):
        stores.append(store)
        names.append(name)
    coordination = None
    if settings.coordinate and settings.redis is not None:
        from .. import AsyncRedisCoordinator  # noqa: PLC0415 (optional dependency)

        coordination = AsyncRedisCoordinator(settings.redis, prefix=_PREFIX)
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


def _shared_tiers(settings: ServeSettings) -> list[tuple[str, AsyncStore]]:
    """The optional tiers below the file tier, named; :class:`ConfigError` for a bad URL or a missing extra."""
    tiers: list[tuple[str, AsyncStore]] = []
    try:
        if settings.redis is not None:
            from .. import AsyncRedisStore  # noqa: PLC0415 (optional dependency)

            try:
                tiers.append(("redis", AsyncRedisStore(settings.redis, prefix=_PREFIX)))
            except ConfigError:
                raise
            except ValueError as error:  # redis-py's verdict on the URL
                url = without_credentials(settings.redis)
                raise ConfigError(f"redis {url!r} is not a Redis URL: {error}") from None
        if settings.s3 is not None:
            from .. import AsyncObjectStore  # noqa: PLC0415 (optional dependency)

            tiers.append(("object", AsyncObjectStore(settings.s3)))
    except ImportError as error:  # daramjwee's message names the extra to install
        raise ConfigError(str(error)) from None
    return tiers


def _cache_dir(settings: ServeSettings) -> Path:
    return Path(settings.cache_dir).expanduser().absolute()


def check_openable(settings: ServeSettings) -> str:
    """Open and close, in this process, what every worker of ``serve`` will open; the origin's description.

    Raises :class:`ConfigError` saying what to fix for an origin that cannot
    be opened (a bad URL or scheme, a missing directory), a cache directory
    that cannot be created or written, a bad Redis or object-storage URL, or a
    missing extra (``ModuleNotFoundError`` for httpx, which the ``serve``
    extra brings).  Nothing is sent over the network: an unreachable server
    shows up as the origin's or the tier's errors at the first request.
    """
    directory = _cache_dir(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the cache directory {directory}: {error.strerror or error}; "
            "give --cache-dir a directory this user may create"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"the cache directory {directory} is not writable by this user; give --cache-dir another")
    return asyncio.run(_open_and_close(settings))


async def _open_and_close(settings: ServeSettings) -> str:
    origin = open_origin(settings.origin, timeout=settings.origin_timeout)
    try:
        for _, store in _shared_tiers(settings):
            await store.close()
        return origin.describe()
    finally:
        await origin.aclose()


def listening_line(settings: ServeSettings, origin: str) -> str:
    """The line ``serve`` prints on stderr once granian listens: the address, the origin and the tiers."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    workers = f"{settings.workers} worker" + ("s" if settings.workers != 1 else "")
    tiers = [f"memory {_size(settings.memory)}", f"file {_size(settings.disk)} in {_cache_dir(settings)}"]
    if settings.redis is not None:
        coordinated = " (coordinated)" if settings.coordinate else ""
        tiers.append(f"redis {without_credentials(settings.redis)}{coordinated}")
    if settings.s3 is not None:
        tiers.append(f"object {without_credentials(settings.s3)}")
    return (
        f"daramjwee serve: listening on http://{host}:{settings.port} ({workers}), origin {origin}, "
        f"tiers: {', '.join(tiers)}"
    )


def _size(value: str | int) -> str:
    return value if isinstance(value, str) else f"{value} bytes"


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
    """Send the library's log records at ``level`` and above to stderr, beside granian's own lines.

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

    Before granian starts, this process checks what the workers will open
    (:func:`check_openable`): a bad setting, origin or tier URL, or a missing
    extra raises here (:class:`ConfigError`, ``ModuleNotFoundError`` naming
    granian or httpx), once, instead of in every worker.  Port 0 is a free
    port chosen here, which all workers share.  granian's main process binds
    the address (a check: on Linux each worker then binds its own socket on
    it with ``SO_REUSEPORT``) and, right after, before it starts the workers,
    :func:`listening_line` is printed on stderr with the real port.
    """
    import granian  # noqa: F401, PLC0415 (optional: a missing server is reported before anything is done)

    _log_to_stderr(settings.log_level)
    settings = dataclasses.replace(settings, port=_claim_port(settings.host, settings.port))
    origin = check_openable(settings)
    _raise_open_file_limit(settings.max_connections + 256)
    os.environ[_SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
    line = listening_line(settings, origin)
    run_on_granian(
        f"{__name__}:app_from_environment", settings, on_listening=lambda: print(line, file=sys.stderr, flush=True)
    )


def run_on_granian(factory: str, settings: ServeSettings, *, on_listening: Callable[[], object] | None = None) -> None:
    """Run the ASGI app ``factory`` (``module:function``, called in each worker) as ``daramjwee serve`` runs its own.

    The server's options (workers, limits, timeouts) come from ``settings``;
    blocks until SIGINT/SIGTERM.  ``on_listening`` is called in this process
    once granian has bound the address, before it starts the workers.  The
    ``serve`` benchmark runs its no-op ceiling app through this too, so that
    both are served alike.
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
    if on_listening is not None:
        server.on_startup(on_listening)
    server.serve()


def _claim_port(host: str, port: int) -> int:
    """The port to listen on: ``port``, or a free one for 0; :class:`ConfigError` if another process listens there.

    granian's workers bind with ``SO_REUSEPORT``, so a second server on a
    taken port would silently share it with the first, and with port 0 each
    worker would get a port of its own.  A plain bind fails on a taken port,
    and tells which port 0 stands for.
    """
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no conflict
            probe.bind(address)
            bound: int = probe.getsockname()[1]
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return bound


def _raise_open_file_limit(wanted: int) -> None:
    """Raise this process's open-file limit (inherited by the workers) toward ``wanted``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
