"""The :class:`Config` dataclass and its validation (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeAlias, get_args

from ._errors import ConfigError
from ._observer import OBSERVER_METHODS
from ._units import parse_duration

__all__ = [
    "DEFAULT_LOGGER",
    "NO_TIER_FRESH_FOR",
    "STORE_METHODS",
    "WORKER_STRATEGIES",
    "Config",
    "DurationOption",
    "Freshness",
    "TierFreshFor",
    "WorkerStrategy",
    "checks_option_names",
]

Duration: TypeAlias = "float | int | Any"  # float seconds or datetime.timedelta
Freshness: TypeAlias = "float | None"

# The types of the cache constructor's keyword parameters (Config's fields accept anything and validate it).
DurationOption: TypeAlias = float | datetime.timedelta
"""A duration option: seconds (int or float) or a :class:`datetime.timedelta`."""
TierFreshFor: TypeAlias = Mapping[int, tuple[DurationOption | None, DurationOption | None]]
"""``tier_fresh_for``: ``{tier_index: (positive, negative)}``."""
WorkerStrategy: TypeAlias = Literal["pool", "all"]

WORKER_STRATEGIES: tuple[str, ...] = get_args(WorkerStrategy)
NO_TIER_FRESH_FOR: TierFreshFor = types.MappingProxyType({})
"""The constructor's default ``tier_fresh_for``: empty, like ``Config``'s, and read-only, so it can be shared."""
DEFAULT_LOGGER = logging.getLogger("daramjwee")
STORE_METHODS = ("get_stream", "begin_set", "delete", "stat", "close")


@dataclasses.dataclass
class Config:
    """Every option of a cache.  ``Config.validate()`` checks and normalizes it.

    Durations are seconds (int or float) or :class:`datetime.timedelta`.  See
    the README for what each option does; ``validate`` raises
    :class:`ConfigError` naming the option and the bad value.
    """

    stores: Sequence[Any] | None = None
    hot_store: Any = None
    cold_store: Any = None
    positive_fresh_for: Duration | None = None
    negative_fresh_for: Duration | None = 60.0
    tier_fresh_for: Mapping[int, tuple[Duration | None, Duration | None]] = dataclasses.field(default_factory=dict)
    op_timeout: Duration = 30.0
    close_timeout: Duration = 30.0
    workers: int = 4
    worker_queue: int = 500
    worker_strategy: str = "pool"
    worker_timeout: Duration = 30.0
    chunk_size: int = 65536
    coalesce_wait: Duration = 5.0
    promotion_probation: int = 0
    tag_ttl: Duration = 1.0
    coordination: Any = None
    observer: Any = None
    logger: logging.Logger = dataclasses.field(default_factory=lambda: logging.getLogger("daramjwee"))

    def validate(self) -> Config:
        """Return a normalized copy, or raise :class:`ConfigError`.

        In the result, ``stores`` is a tuple holding the whole chain (legacy
        ``hot_store``/``cold_store`` are folded into it and set to ``None``),
        every duration is a float of seconds, and ``tier_fresh_for`` maps each
        configured tier index to a ``(positive, negative)`` pair of floats or
        ``None``.
        """
        stores = _chain(self.stores, self.hot_store, self.cold_store)
        tier_fresh_for = _tier_fresh_for(self.tier_fresh_for, len(stores))
        strategy = self.worker_strategy
        if strategy not in WORKER_STRATEGIES:
            raise ConfigError(f"worker_strategy must be one of {WORKER_STRATEGIES}, got {strategy!r}")
        _check_observer(self.observer)
        if not isinstance(self.logger, logging.Logger):
            raise ConfigError(f"logger must be a logging.Logger, got {type(self.logger).__name__}")
        return Config(
            stores=stores,
            positive_fresh_for=_freshness(self.positive_fresh_for, "positive_fresh_for"),
            negative_fresh_for=_freshness(self.negative_fresh_for, "negative_fresh_for"),
            tier_fresh_for=tier_fresh_for,
            op_timeout=parse_duration(self.op_timeout, "op_timeout", allow_zero=False),
            close_timeout=parse_duration(self.close_timeout, "close_timeout", allow_zero=True),
            workers=_count(self.workers, "workers", minimum=1),
            worker_queue=_count(self.worker_queue, "worker_queue", minimum=1),
            worker_strategy=strategy,
            worker_timeout=parse_duration(self.worker_timeout, "worker_timeout", allow_zero=False),
            chunk_size=_count(self.chunk_size, "chunk_size", minimum=1),
            coalesce_wait=parse_duration(self.coalesce_wait, "coalesce_wait", allow_zero=True),
            promotion_probation=_count(self.promotion_probation, "promotion_probation", minimum=0),
            tag_ttl=parse_duration(self.tag_ttl, "tag_ttl", allow_zero=True),
            coordination=self.coordination,
            observer=self.observer,
            logger=self.logger,
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Config:
        """Build a config from keyword options, rejecting unknown names clearly."""
        _check_option_names(options, cls)
        return cls(**options)

    def freshness(self, tier: int) -> tuple[Freshness, Freshness]:
        """``(positive, negative)`` freshness of ``tier`` in a validated config."""
        override = self.tier_fresh_for.get(tier)
        if override is not None:
            return override
        return (self.positive_fresh_for, self.negative_fresh_for)


def _check_option_names(options: Mapping[str, object], config_class: type[Config] = Config) -> None:
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; valid options are {', '.join(sorted(known))}")


_P = ParamSpec("_P")


def checks_option_names(init: Callable[_P, None]) -> Callable[_P, None]:
    """Wrap a cache's ``__init__`` so that an unknown keyword raises :class:`ConfigError` naming it (rule A3).

    Python itself would reject it with a ``TypeError`` before ``__init__`` runs.  The wrapper keeps the
    signature of ``init``, for type checkers (the ``ParamSpec``) and for ``inspect.signature`` (``__wrapped__``).
    """

    @functools.wraps(init)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> None:
        _check_option_names(kwargs)
        init(*args, **kwargs)

    return checked


def _chain(stores: object, hot_store: object, cold_store: object) -> tuple[Any, ...]:
    if stores is not None:
        if hot_store is not None or cold_store is not None:
            raise ConfigError(
                "stores= cannot be combined with hot_store= or cold_store=; use stores= only, e.g. stores=[hot, cold]"
            )
        if isinstance(stores, str | bytes) or not isinstance(stores, Sequence):
            raise ConfigError(f"stores must be a sequence of stores (fastest first), got {type(stores).__name__}")
        chain = tuple(stores)
    elif hot_store is not None:
        chain = (hot_store,) if cold_store is None else (hot_store, cold_store)
    elif cold_store is not None:
        raise ConfigError("cold_store= needs hot_store= as well; better, use stores=[hot, cold]")
    else:
        raise ConfigError("no stores configured: pass stores=[...] with at least one store")
    if not chain:
        raise ConfigError("stores must hold at least one store")
    seen: dict[int, int] = {}
    for index, store in enumerate(chain):
        if store is None:
            raise ConfigError(f"stores[{index}] is None; every tier needs a store")
        missing = [name for name in STORE_METHODS if not callable(getattr(store, name, None))]
        if missing:
            raise ConfigError(f"stores[{index}] ({type(store).__name__}) is not a store: it lacks {', '.join(missing)}")
        if id(store) in seen:
            raise ConfigError(
                f"stores[{index}] is the same store instance as stores[{seen[id(store)]}]; "
                "each tier needs its own store"
            )
        seen[id(store)] = index
    return chain


def _check_observer(observer: object) -> None:
    if observer is None:
        return
    missing = [name for name in OBSERVER_METHODS if not callable(getattr(observer, name, None))]
    if missing:
        raise ConfigError(
            f"observer ({type(observer).__name__}) is not an observer: it lacks {', '.join(missing)} "
            "(see daramjwee.Observer; daramjwee.contrib.otel.OpenTelemetryObserver is one)"
        )


def _freshness(value: object, name: str) -> float | None:
    return None if value is None else parse_duration(value, name, allow_zero=True)


def _tier_fresh_for(value: object, tiers: int) -> dict[int, tuple[float | None, float | None]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"tier_fresh_for must be a mapping {{tier_index: (positive, negative)}}, got {value!r}")
    result: dict[int, tuple[float | None, float | None]] = {}
    for tier, pair in value.items():
        if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier < tiers:
            raise ConfigError(f"tier_fresh_for key must be a tier index in 0..{tiers - 1}, got {tier!r}")
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ConfigError(f"tier_fresh_for[{tier}] must be a (positive, negative) pair, got {pair!r}")
        result[tier] = (
            _freshness(pair[0], f"tier_fresh_for[{tier}] positive"),
            _freshness(pair[1], f"tier_fresh_for[{tier}] negative"),
        )
    return result


def _count(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    return value
