"""JSON values: :class:`JsonSerializer`, with the standard library or, when installed, orjson."""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from .._errors import ConfigError, DecodeError

__all__ = ["JsonSerializer"]

_BACKENDS = ("auto", "orjson", "stdlib")


@functools.cache
def _orjson() -> ModuleType | None:
    """orjson, imported on first use (``import daramjwee`` never imports it); ``None`` when not installed."""
    try:
        return importlib.import_module("orjson")
    except ModuleNotFoundError as error:
        if error.name != "orjson":
            raise
        return None


class JsonSerializer:
    """JSON, UTF-8 and compact (``{"a":[1,2]}``): the cache's default serializer.

    ``backend="auto"`` (the default) uses orjson when it is installed
    (``pip install 'daramjwee[orjson]'``) and the standard library's ``json``
    otherwise; ``"orjson"`` and ``"stdlib"`` choose one.  Both write the same
    bytes for the same ``dict``/``list``/``str``/``int``/``float``/``bool``/
    ``None`` values, and each reads what the other wrote, so they share one
    ``name`` and a cache may hold entries written by both.  The same value
    comes back the same way: tuples as lists, and mapping keys as ``str``
    (``int``, ``float``, ``bool`` and ``None`` keys are written as strings,
    as ``json.dumps`` does; orjson is asked to do the same).  Both refuse
    ``datetime`` and dataclass values unless ``default`` converts them.

    Where they differ (none of which the cache papers over):

    * NaN and infinities: ``stdlib`` raises ``ValueError`` (they are not
      JSON); orjson writes ``null``.
    * Integers beyond 64 bits: ``stdlib`` writes and reads them exactly;
      orjson refuses to write them (``TypeError``) and reads them as ``float``.
    * Other types: orjson writes ``uuid.UUID``, ``enum.Enum`` and some
      others natively, where ``stdlib`` calls ``default`` (or raises
      ``TypeError``).

    ``default(obj)``, when given, converts a value neither backend writes
    natively into one it does (as ``json.dumps(default=...)``).
    """

    __slots__ = ("_backend", "_default")
    name = "json"
    content_type = "application/json"

    def __init__(
        self,
        *,
        backend: Literal["auto", "orjson", "stdlib"] = "auto",
        default: Callable[[Any], Any] | None = None,
    ) -> None:
        if backend not in _BACKENDS:
            raise ConfigError(f"JsonSerializer backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")
        if default is not None and not callable(default):
            raise TypeError(f"JsonSerializer default must be callable, got {type(default).__name__}")
        if backend == "orjson" and _orjson() is None:
            raise ImportError("JsonSerializer(backend='orjson') needs orjson: pip install 'daramjwee[orjson]'")
        self._backend = backend
        self._default = default

    @property
    def backend(self) -> Literal["orjson", "stdlib"]:
        """The backend in use: ``"orjson"`` or ``"stdlib"``."""
        return "orjson" if self._orjson() is not None else "stdlib"

    def _orjson(self) -> ModuleType | None:
        return None if self._backend == "stdlib" else _orjson()

    def dumps(self, value: Any, /) -> bytes:
        orjson = self._orjson()
        if orjson is not None:
            option = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            data: bytes = orjson.dumps(value, default=self._default, option=option)
            return data
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=self._default)
        return text.encode("utf-8")

    def loads(self, data: bytes, /) -> Any:
        orjson = self._orjson()
        try:
            return orjson.loads(data) if orjson is not None else json.loads(data)
        except ValueError as error:  # json.JSONDecodeError, orjson.JSONDecodeError, UnicodeDecodeError
            raise DecodeError(f"not JSON: {error}") from error

    def __repr__(self) -> str:
        return f"JsonSerializer(backend={self._backend!r})"
