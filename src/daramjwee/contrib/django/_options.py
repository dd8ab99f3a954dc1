"""What a ``CACHES`` entry says about the tier chain: ``LOCATION`` and ``OPTIONS``, checked (pure: no I/O).

The tiers are named as ``daramjwee serve`` names them (:mod:`daramjwee.server._settings`): ``memory`` and
``disk`` capacities, the file tier's directory (here ``LOCATION``, as for Django's ``FileBasedCache``) and a
``redis`` URL; sizes are parsed by :func:`daramjwee.parse_capacity`, as every store parses them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

from ... import ConfigError, parse_capacity

__all__ = ["DEFAULT_DISK", "DEFAULT_MEMORY", "OPTION_NAMES", "ChainOptions", "parse_options"]

DEFAULT_MEMORY = "64MiB"
DEFAULT_DISK = "1GiB"
DEFAULT_REDIS_PREFIX = "django:"
OPTION_NAMES = ("memory", "disk", "redis", "redis_prefix")
_CULLING = ("MAX_ENTRIES", "CULL_FREQUENCY")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclasses.dataclass(frozen=True)
class ChainOptions:
    """The tiers of one chain, fastest first: memory (bytes), files under ``directory`` (bytes), Redis.

    Hashable: backends whose options are equal share one chain in a process.
    """

    memory: int | None
    directory: str | None
    disk: int | None
    redis: str | None
    redis_prefix: str


def parse_options(location: object, options: object) -> ChainOptions:
    """The chain a ``CACHES`` entry describes, or :class:`ImproperlyConfigured` naming what is wrong.

    ``location`` (``LOCATION``) is the file tier's directory, ``""`` for none.
    ``options`` (``OPTIONS``) may hold ``memory`` (the memory tier's capacity,
    default ``"64MiB"``; ``None``: no memory tier), ``disk`` (the file tier's
    capacity, default ``"1GiB"``; needs ``LOCATION``), ``redis`` (a
    ``redis://``, ``rediss://`` or ``unix://`` URL: a last tier shared by
    every process) and ``redis_prefix`` (its key prefix, default
    ``"django:"``).  Anything else is refused, Django's entry-count culling
    (``MAX_ENTRIES``, ``CULL_FREQUENCY``) included: the tiers are bounded by
    bytes.
    """
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"CACHES OPTIONS must be a dict, got {type(options).__name__}")
    culling = sorted(name for name in options if name in _CULLING)
    if culling:
        raise ImproperlyConfigured(
            f"DaramjweeCache does not cull by entry count ({', '.join(culling)}): its tiers are bounded by bytes; "
            "set OPTIONS 'memory' (and 'disk' for the file tier in LOCATION) instead, e.g. {'memory': '64MiB'}"
        )
    unknown = sorted(str(name) for name in options if name not in OPTION_NAMES)
    if unknown:
        raise ImproperlyConfigured(
            f"unknown DaramjweeCache OPTIONS {', '.join(map(repr, unknown))}; valid ones are {', '.join(OPTION_NAMES)}"
        )
    directory = _directory(location)
    memory = _capacity(options.get("memory", DEFAULT_MEMORY), "memory")
    if "disk" in options and directory is None:
        raise ImproperlyConfigured(
            "OPTIONS 'disk' is the file tier's capacity, and there is no file tier: "
            "set LOCATION to the directory that tier keeps its files in"
        )
    disk = None if directory is None else _capacity(options.get("disk", DEFAULT_DISK), "disk")
    redis = options.get("redis")
    if redis is not None and (not isinstance(redis, str) or not redis.startswith(_REDIS_SCHEMES)):
        raise ImproperlyConfigured(
            f"OPTIONS 'redis' must be a URL starting with {', '.join(_REDIS_SCHEMES)}, got {redis!r}"
        )
    prefix = options.get("redis_prefix", DEFAULT_REDIS_PREFIX)
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ImproperlyConfigured(f"OPTIONS 'redis_prefix' must be a non-empty str without braces, got {prefix!r}")
    if "redis_prefix" in options and redis is None:
        raise ImproperlyConfigured("OPTIONS 'redis_prefix' needs OPTIONS 'redis' (the Redis tier's URL)")
    if memory is None and directory is None and redis is None:
        raise ImproperlyConfigured(
            "DaramjweeCache has no tier: OPTIONS 'memory' is None, and there is no LOCATION (a directory) "
            "nor OPTIONS 'redis' (a URL)"
        )
    return ChainOptions(memory, directory, disk, redis, prefix)


def _directory(location: object) -> str | None:
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str):
        raise ImproperlyConfigured(
            f"DaramjweeCache LOCATION is the file tier's directory (a str or path, '' for none), got {location!r}; "
            "a Redis URL goes in OPTIONS 'redis'"
        )
    if not location:
        return None
    if location.startswith(_REDIS_SCHEMES):
        raise ImproperlyConfigured(
            f"DaramjweeCache LOCATION is the file tier's directory, got the URL {location!r}; "
            "a Redis tier's URL goes in OPTIONS 'redis'"
        )
    return os.path.abspath(os.path.expanduser(location))


def _capacity(value: object, name: str) -> int | None:
    if value is None and name == "memory":
        return None
    try:
        return parse_capacity(value, f"OPTIONS {name!r}")
    except ConfigError as error:
        raise ImproperlyConfigured(str(error)) from error
