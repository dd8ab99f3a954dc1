"""Building the app from settings, and running it on uvicorn (``daramjwee serve``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
from pathlib import Path

from .._async._cache import AsyncCache
from .._async._filestore import AsyncFileStore
from .._async._memstore import AsyncMemStore
from .._async._store import AsyncStore
from ._app import CacheApp
from ._cache_rules import StorePolicy
from ._origins import open_origin
from ._settings import ServeSettings

__all__ = ["build_app", "serve"]


def build_app(settings: ServeSettings) -> CacheApp:
    """The app ``settings`` describe: memory, file, then the optional Redis and object-storage tiers."""
    stores: list[AsyncStore] = [
        AsyncMemStore(settings.memory),
        # A proxy's file tier is mostly page-cached: open and read small entries without a thread hand-off.
        AsyncFileStore(Path(settings.cache_dir).expanduser(), settings.disk, inline_open=True),
    ]
    names = ["memory", "file"]
    if settings.redis is not None:
        from .._async._redisstore import AsyncRedisStore  # noqa: PLC0415 (optional dependency)

        stores.append(AsyncRedisStore(settings.redis, prefix="daramjwee-serve:"))
        names.append("redis")
    if settings.s3 is not None:
        from .._async._objectstore import AsyncObjectStore  # noqa: PLC0415 (optional dependency)

        stores.append(AsyncObjectStore(settings.s3))
        names.append("object")
    cache = AsyncCache(
        stores=stores,
        positive_fresh_for=settings.fresh_for,
        negative_fresh_for=settings.negative_fresh_for,
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


def _http_protocol() -> type[asyncio.Protocol] | str:
    """httptools (fast) keeping absolute-form targets visible, or h11 (which passes targets as sent) without it."""
    try:
        from ._httptools import TargetKeepingHttpToolsProtocol  # noqa: PLC0415 (httptools is optional)
    except ImportError:
        return "h11"
    return TargetKeepingHttpToolsProtocol


def serve(settings: ServeSettings) -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM; in-flight responses get ``graceful_timeout`` to finish.

    With ``workers > 1``, uvicorn starts that many processes on one socket;
    each builds its own app (its own memory tier; the file tier's directory
    is shared, which ``FileStore`` supports).
    """
    import uvicorn  # noqa: PLC0415 (optional dependency)

    _log_to_stderr(settings.log_level)
    app: CacheApp | str
    if settings.workers > 1:
        os.environ[_SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
        app = f"{__name__}:app_from_environment"
    else:
        app = build_app(settings)
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        http=_http_protocol(),
        server_header=False,
        date_header=False,  # the app sends the origin's Date, or its own
        proxy_headers=False,  # the app never looks at the client's address
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),
        h11_max_incomplete_event_size=settings.max_target_length + 16 * 1024,
    )
