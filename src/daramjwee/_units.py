"""Parsing of human-friendly sizes and durations used in configuration."""

from __future__ import annotations

import datetime
import decimal
import math
import re

from ._errors import ConfigError

__all__ = ["parse_capacity", "parse_duration"]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_PATTERN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_capacity(value: object, name: str) -> int:
    """Return a positive byte count from an int or a string like ``"256MiB"``: the sizes every store accepts.

    Units are case-insensitive: ``B``, decimal ``KB MB GB TB`` and binary
    ``KiB MiB GiB TiB`` (none: bytes); the number may have a fraction
    (``"1.5GiB"``), and the bytes are rounded down.  Raises
    :class:`ConfigError` naming ``name`` (the option being parsed, for the
    message) for anything else, ``bool`` and zero included.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a byte count or a size string like '256MiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE_PATTERN.fullmatch(value)
        unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise ConfigError(
                f"{name} must be a size like '512KiB', '256MiB' or '10GB' (units B, KB, MB, GB, TB, "
                f"KiB, MiB, GiB, TiB), got {value!r}"
            )
        size = int(decimal.Decimal(match.group(1)) * unit)
    else:
        raise ConfigError(f"{name} must be an int or a size string like '256MiB', got {type(value).__name__}")
    if size <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return size


def parse_duration(value: object, name: str, *, allow_zero: bool) -> float:
    """Return seconds from a non-negative number or :class:`datetime.timedelta`.

    ``allow_zero=False`` rejects ``0``.  Infinity is accepted ("never").  Raises
    :class:`ConfigError` naming ``name`` for anything else.
    """
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(
            f"{name} must be seconds (int or float) or a datetime.timedelta, got {type(value).__name__} {value!r}"
        )
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound} seconds, got {value!r}")
    return seconds
