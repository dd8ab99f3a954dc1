"""Checking the extra attributes a user gives ``daramjwee.contrib.otel`` (pure)."""

from __future__ import annotations

import types
from collections.abc import Mapping

__all__ = ["Attributes", "check_attributes", "store_name"]

Attributes = Mapping[str, str | bool | int | float]


def check_attributes(attributes: object) -> Attributes:
    """``attributes`` as a read-only mapping of str to str, bool, int or float; ``TypeError`` otherwise."""
    if attributes is None:
        return types.MappingProxyType({})
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a mapping of str to str, bool, int or float, got {attributes!r}")
    for name, value in attributes.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"attribute names must be non-empty str, got {name!r}")
        if not isinstance(value, str | bool | int | float):
            raise TypeError(f"attribute {name!r} must be a str, bool, int or float, got {type(value).__name__}")
    return types.MappingProxyType(dict(attributes))


def store_name(store: object) -> str:
    """The ``daramjwee.store`` attribute of ``store``: its class name, the same in both flavours (``MemStore``)."""
    return type(store).__name__.removeprefix("Async")
