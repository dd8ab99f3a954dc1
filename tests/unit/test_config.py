"""Unit tests of ``daramjwee._config`` (rules A1-A3: unknown worker strategy, same store twice)."""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import logging
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daramjwee as dj
from daramjwee._config import NO_TIER_FRESH_FOR, STORE_METHODS, WORKER_STRATEGIES, Config


def _store() -> dj.MemStore:
    return dj.MemStore()


def _validated(**options: Any) -> Config:
    options.setdefault("stores", [_store()])
    return Config(**options).validate()


def _config_error(**options: Any) -> str:
    """Validate ``options`` (with one store unless given) and return the ConfigError message."""
    options.setdefault("stores", [_store()])
    with pytest.raises(dj.ConfigError) as info:
        Config(**options).validate()
    return str(info.value)


def _names_option_and_value(message: str, option: str, value: object) -> bool:
    return option in message and repr(value) in message


# --- errors are ConfigError, which is a ValueError ------------------------------------------------


def test_config_error_is_a_value_error_and_a_daramjwee_error() -> None:
    assert issubclass(dj.ConfigError, ValueError)
    assert issubclass(dj.ConfigError, dj.DaramjweeError)
    with pytest.raises(ValueError, match="workers"):
        _validated(workers=0)


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    config = Config()
    assert config.positive_fresh_for is None
    assert config.negative_fresh_for == 60.0
    assert config.tier_fresh_for == {}
    assert config.op_timeout == 30.0
    assert config.close_timeout == 30.0
    assert config.workers == 4
    assert config.worker_queue == 500
    assert config.worker_strategy == "pool"
    assert config.worker_timeout == 30.0
    assert config.chunk_size == 65536
    assert config.coalesce_wait == 5.0
    assert config.promotion_probation == 0
    assert config.logger is logging.getLogger("daramjwee")


def test_default_tier_fresh_for_is_not_shared_between_instances() -> None:
    first, second = Config(), Config()
    assert first.tier_fresh_for is not second.tier_fresh_for


def test_validate_of_defaults_with_one_store_succeeds() -> None:
    store = _store()
    config = Config(stores=[store]).validate()
    assert config.stores == (store,)
    assert config.positive_fresh_for is None
    assert config.negative_fresh_for == 60.0


def test_validate_returns_a_new_config_and_leaves_the_original_alone() -> None:
    stores = [_store(), _store()]
    original = Config(stores=stores, op_timeout=datetime.timedelta(seconds=3), workers=2)
    validated = original.validate()
    assert validated is not original
    assert original.stores is stores
    assert original.op_timeout == datetime.timedelta(seconds=3)
    assert validated.op_timeout == 3.0


def test_validate_is_idempotent() -> None:
    validated = _validated(
        stores=[_store(), _store()],
        positive_fresh_for=datetime.timedelta(minutes=1),
        tier_fresh_for={1: (5, None)},
    )
    assert validated.validate() == validated


def test_validated_durations_are_floats() -> None:
    config = _validated(
        positive_fresh_for=7,
        negative_fresh_for=8,
        op_timeout=1,
        close_timeout=2,
        worker_timeout=3,
        coalesce_wait=4,
    )
    for name in ("positive_fresh_for", "negative_fresh_for", "op_timeout", "close_timeout", "worker_timeout"):
        value = getattr(config, name)
        assert type(value) is float, name
    assert type(config.coalesce_wait) is float
    assert (config.positive_fresh_for, config.negative_fresh_for) == (7.0, 8.0)
    assert (config.op_timeout, config.close_timeout, config.worker_timeout, config.coalesce_wait) == (1, 2, 3, 4)


# --- stores -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_stores_order_is_preserved_exactly(count: int) -> None:
    stores = [_store() for _ in range(count)]
    assert _validated(stores=stores).stores == tuple(stores)
    assert _validated(stores=tuple(reversed(stores))).stores == tuple(reversed(stores))


def test_validated_stores_is_a_tuple_detached_from_the_callers_list() -> None:
    stores = [_store()]
    config = _validated(stores=stores)
    assert isinstance(config.stores, tuple)
    stores.append(_store())
    assert len(config.stores) == 1


def test_empty_stores_is_rejected() -> None:
    assert "at least one" in _config_error(stores=[])
    assert "at least one" in _config_error(stores=())


def test_no_stores_at_all_is_rejected() -> None:
    with pytest.raises(dj.ConfigError, match="no stores"):
        Config().validate()


@pytest.mark.parametrize("position", [0, 1, 2])
def test_none_in_stores_is_rejected_with_its_index(position: int) -> None:
    stores: list[Any] = [_store(), _store(), _store()]
    stores[position] = None
    message = _config_error(stores=stores)
    assert f"stores[{position}] is None" in message


def test_same_store_instance_twice_is_rejected_naming_both_indexes() -> None:
    store = _store()
    message = _config_error(stores=[store, _store(), store])
    assert "stores[2]" in message
    assert "stores[0]" in message
    assert "same store instance" in message


def test_equal_but_distinct_store_instances_are_accepted() -> None:
    first, second = _store(), _store()
    assert _validated(stores=[first, second]).stores == (first, second)


@pytest.mark.parametrize("bad", [object(), 42, "not a store", b"bytes", {"get_stream": 1}])
def test_non_store_object_in_stores_is_rejected(bad: object) -> None:
    message = _config_error(stores=[_store(), bad])
    assert "stores[1]" in message
    assert "not a store" in message


def test_non_store_error_lists_the_missing_methods() -> None:
    class HalfStore:
        def get_stream(self, key: str) -> None: ...

        def stat(self, key: str) -> None: ...

    message = _config_error(stores=[HalfStore()])
    assert "HalfStore" in message
    for name in ("begin_set", "delete", "close"):
        assert name in message
    assert "get_stream" not in message.split("lacks", 1)[1]


def test_store_with_non_callable_method_attribute_is_rejected() -> None:
    class Fake:
        get_stream = begin_set = stat = close = staticmethod(lambda *a: None)
        delete = "not callable"

    message = _config_error(stores=[Fake()])
    assert "delete" in message


def test_duck_typed_store_with_every_method_is_accepted() -> None:
    class Duck:
        pass

    duck = Duck()
    for name in STORE_METHODS:
        setattr(duck, name, lambda *args: None)
    assert _validated(stores=[duck]).stores == (duck,)


@pytest.mark.parametrize("bad", ["abc", b"abc", 42, {_store()}])
def test_stores_must_be_an_ordered_sequence(bad: object) -> None:
    message = _config_error(stores=bad)
    assert "stores must be a sequence" in message


def test_stores_generator_is_rejected_rather_than_consumed() -> None:
    message = _config_error(stores=(s for s in [_store()]))
    assert "sequence" in message


# --- legacy hot_store / cold_store ---------------------------------------------------------------------


def test_hot_store_alone_is_one_tier() -> None:
    hot = _store()
    config = Config(hot_store=hot).validate()
    assert config.stores == (hot,)


def test_hot_and_cold_store_are_two_tiers_in_that_order() -> None:
    hot, cold = _store(), _store()
    config = Config(hot_store=hot, cold_store=cold).validate()
    assert config.stores == (hot, cold)


def test_cold_store_none_is_ignored() -> None:
    hot = _store()
    assert Config(hot_store=hot, cold_store=None).validate().stores == (hot,)


def test_stores_with_cold_store_none_is_allowed() -> None:
    store = _store()
    assert Config(stores=[store], cold_store=None).validate().stores == (store,)


def test_legacy_options_are_folded_into_stores_and_cleared() -> None:
    hot, cold = _store(), _store()
    config = Config(hot_store=hot, cold_store=cold).validate()
    assert config.hot_store is None
    assert config.cold_store is None


def test_legacy_config_equals_the_same_chain_given_as_stores() -> None:
    hot, cold = _store(), _store()
    assert Config(hot_store=hot, cold_store=cold).validate() == Config(stores=[hot, cold]).validate()


def test_cold_store_alone_is_an_error() -> None:
    with pytest.raises(dj.ConfigError, match="hot_store") as info:
        Config(cold_store=_store()).validate()
    assert "cold_store" in str(info.value)


@pytest.mark.parametrize(
    "legacy",
    [
        {"hot_store": "hot"},
        {"cold_store": "cold"},
        {"hot_store": "hot", "cold_store": "cold"},
    ],
)
def test_stores_with_legacy_options_is_an_error_saying_use_stores_only(legacy: dict[str, str]) -> None:
    options = {name: _store() for name in legacy}
    with pytest.raises(dj.ConfigError) as info:
        Config(stores=[_store()], **options).validate()
    assert "stores= only" in str(info.value)


def test_same_instance_as_hot_and_cold_store_is_rejected() -> None:
    store = _store()
    with pytest.raises(dj.ConfigError, match="same store instance"):
        Config(hot_store=store, cold_store=store).validate()


def test_non_store_hot_store_is_rejected() -> None:
    with pytest.raises(dj.ConfigError, match="not a store"):
        Config(hot_store=object()).validate()


def test_non_store_cold_store_is_rejected() -> None:
    with pytest.raises(dj.ConfigError, match=r"stores\[1\].*not a store"):
        Config(hot_store=_store(), cold_store=object()).validate()


# --- durations ------------------------------------------------------------------------------------------

# option name -> whether zero is meaningful
DURATIONS: dict[str, bool] = {
    "positive_fresh_for": True,
    "negative_fresh_for": True,
    "op_timeout": False,
    "close_timeout": True,
    "worker_timeout": False,
    "coalesce_wait": True,
}


@pytest.mark.parametrize("option", sorted(DURATIONS))
@pytest.mark.parametrize("bad", [-1, -0.001, -math.inf, datetime.timedelta(seconds=-1)])
def test_negative_duration_is_rejected_naming_option_and_value(option: str, bad: object) -> None:
    message = _config_error(**{option: bad})
    assert _names_option_and_value(message, option, bad), message


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_nan_duration_is_rejected(option: str) -> None:
    message = _config_error(**{option: math.nan})
    assert option in message
    assert "nan" in message


@pytest.mark.parametrize("option", sorted(DURATIONS))
@pytest.mark.parametrize("bad", [True, False, "10", b"1", [1], object()])
def test_wrong_type_duration_is_rejected_naming_option_and_value(option: str, bad: object) -> None:
    message = _config_error(**{option: bad})
    assert option in message
    assert type(bad).__name__ in message
    assert repr(bad) in message


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_zero_duration_only_where_meaningful(option: str) -> None:
    zero_ok = DURATIONS[option]
    for zero in (0, 0.0, datetime.timedelta(0)):
        if zero_ok:
            assert getattr(_validated(**{option: zero}), option) == 0.0
        else:
            message = _config_error(**{option: zero})
            assert _names_option_and_value(message, option, zero), message


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_timedelta_duration_is_accepted_as_seconds(option: str) -> None:
    config = _validated(**{option: datetime.timedelta(minutes=1, milliseconds=500)})
    assert getattr(config, option) == 60.5


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_infinite_duration_is_accepted(option: str) -> None:
    assert getattr(_validated(**{option: math.inf}), option) == math.inf


@pytest.mark.parametrize("option", ["positive_fresh_for", "negative_fresh_for"])
def test_freshness_none_means_never_stale_and_is_kept(option: str) -> None:
    assert getattr(_validated(**{option: None}), option) is None


@pytest.mark.parametrize("option", ["op_timeout", "close_timeout", "worker_timeout", "coalesce_wait"])
def test_timeouts_do_not_accept_none(option: str) -> None:
    message = _config_error(**{option: None})
    assert option in message
    assert "None" in message


@given(seconds=st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_any_non_negative_float_is_a_valid_freshness(seconds: float) -> None:
    assert _validated(positive_fresh_for=seconds).positive_fresh_for == seconds


@given(seconds=st.floats(max_value=-1e-9, allow_nan=False))
def test_any_negative_float_is_rejected_as_freshness(seconds: float) -> None:
    assert "positive_fresh_for" in _config_error(positive_fresh_for=seconds)


# --- counts -----------------------------------------------------------------------------------------------

# option name -> minimum
COUNTS: dict[str, int] = {"workers": 1, "worker_queue": 1, "chunk_size": 1, "promotion_probation": 0}


@pytest.mark.parametrize("option", sorted(COUNTS))
def test_count_below_minimum_is_rejected_naming_option_and_value(option: str) -> None:
    bad = COUNTS[option] - 1
    message = _config_error(**{option: bad})
    assert _names_option_and_value(message, option, bad), message
    assert _names_option_and_value(_config_error(**{option: -100}), option, -100)


@pytest.mark.parametrize("option", sorted(COUNTS))
def test_count_at_minimum_is_accepted(option: str) -> None:
    assert getattr(_validated(**{option: COUNTS[option]}), option) == COUNTS[option]


@pytest.mark.parametrize("option", sorted(COUNTS))
@pytest.mark.parametrize("bad", [True, False, 4.0, 1.5, math.nan, "4", None, datetime.timedelta(seconds=1)])
def test_count_of_wrong_type_is_rejected_naming_option_and_value(option: str, bad: object) -> None:
    message = _config_error(**{option: bad})
    assert option in message
    assert type(bad).__name__ in message
    assert repr(bad) in message


def test_zero_probation_means_off_and_is_accepted() -> None:
    assert _validated(promotion_probation=0).promotion_probation == 0


def test_large_counts_are_accepted() -> None:
    config = _validated(workers=256, worker_queue=10**6, chunk_size=2**30, promotion_probation=10**5)
    assert (config.workers, config.worker_queue, config.chunk_size, config.promotion_probation) == (
        256,
        10**6,
        2**30,
        10**5,
    )


# --- worker_strategy, logger ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["pool", "all"])
def test_known_worker_strategies_are_accepted(strategy: str) -> None:
    assert _validated(worker_strategy=strategy).worker_strategy == strategy


@pytest.mark.parametrize("bad", ["threads", "", "POOL", "Pool ", None, 1, True])
def test_unknown_worker_strategy_is_an_error(bad: object) -> None:
    message = _config_error(worker_strategy=bad)
    assert _names_option_and_value(message, "worker_strategy", bad), message
    assert "pool" in message
    assert "all" in message


@pytest.mark.parametrize("bad", [None, "daramjwee", logging, print])
def test_logger_must_be_a_logging_logger(bad: object) -> None:
    message = _config_error(logger=bad)
    assert "logger" in message
    assert type(bad).__name__ in message


def test_custom_logger_is_kept() -> None:
    logger = logging.getLogger("daramjwee.tests.custom")
    assert _validated(logger=logger).logger is logger


# --- tier_fresh_for and Config.freshness -----------------------------------------------------------------------


def test_tier_fresh_for_is_normalized_to_float_pairs() -> None:
    config = _validated(
        stores=[_store(), _store(), _store()],
        tier_fresh_for={1: (5, datetime.timedelta(seconds=2)), 2: [None, 0]},
    )
    assert config.tier_fresh_for == {1: (5.0, 2.0), 2: (None, 0.0)}
    assert all(isinstance(pair, tuple) for pair in config.tier_fresh_for.values())


def test_tier_fresh_for_is_copied_from_the_callers_mapping() -> None:
    overrides = {0: (1.0, 2.0)}
    config = _validated(tier_fresh_for=overrides)
    overrides[0] = (9.0, 9.0)
    assert config.freshness(0) == (1.0, 2.0)


@pytest.mark.parametrize("bad", [[(1, 2)], "0:1,2", 5, None])
def test_tier_fresh_for_must_be_a_mapping(bad: object) -> None:
    message = _config_error(tier_fresh_for=bad)
    assert "tier_fresh_for" in message
    assert repr(bad) in message


@pytest.mark.parametrize("tier", [-1, 2, 10, True, "0", 0.0, None])
def test_tier_fresh_for_key_must_be_a_configured_tier_index(tier: object) -> None:
    message = _config_error(stores=[_store(), _store()], tier_fresh_for={tier: (1, 1)})
    assert "tier_fresh_for" in message
    assert repr(tier) in message
    assert "0..1" in message


@pytest.mark.parametrize("pair", [(1,), (1, 2, 3), 5, None, "ab", {1: 2}])
def test_tier_fresh_for_value_must_be_a_pair(pair: object) -> None:
    message = _config_error(tier_fresh_for={0: pair})
    assert "tier_fresh_for[0]" in message
    assert repr(pair) in message


@pytest.mark.parametrize(
    ("pair", "side", "bad"),
    [
        ((-1, 1), "positive", -1),
        ((1, -1), "negative", -1),
        ((math.nan, 1), "positive", math.nan),
        (("1", 1), "positive", "1"),
        ((1, True), "negative", True),
    ],
)
def test_tier_fresh_for_durations_are_validated_naming_tier_and_side(pair: object, side: str, bad: object) -> None:
    message = _config_error(stores=[_store(), _store()], tier_fresh_for={1: pair})
    assert f"tier_fresh_for[1] {side}" in message
    assert repr(bad) in message


def test_freshness_without_override_uses_the_global_options() -> None:
    config = _validated(stores=[_store(), _store()], positive_fresh_for=10, negative_fresh_for=3)
    assert config.freshness(0) == (10.0, 3.0)
    assert config.freshness(1) == (10.0, 3.0)


def test_freshness_with_override_uses_it_for_that_tier_only() -> None:
    config = _validated(
        stores=[_store(), _store(), _store()],
        positive_fresh_for=10,
        negative_fresh_for=3,
        tier_fresh_for={1: (100, None)},
    )
    assert config.freshness(0) == (10.0, 3.0)
    assert config.freshness(1) == (100.0, None)
    assert config.freshness(2) == (10.0, 3.0)


def test_freshness_override_of_none_none_is_kept_not_replaced_by_defaults() -> None:
    config = _validated(positive_fresh_for=1, negative_fresh_for=1, tier_fresh_for={0: (None, None)})
    assert config.freshness(0) == (None, None)


def test_freshness_override_of_zero_means_always_stale_not_default() -> None:
    config = _validated(positive_fresh_for=60, tier_fresh_for={0: (0, 0)})
    assert config.freshness(0) == (0.0, 0.0)


# --- from_options --------------------------------------------------------------------------------------------


def test_from_options_builds_a_config_from_known_names() -> None:
    store = _store()
    config = Config.from_options({"stores": [store], "workers": 2, "worker_strategy": "all"})
    assert config.stores == [store]
    assert config.workers == 2
    assert config.worker_strategy == "all"
    assert config.validate().workers == 2


def test_from_options_with_nothing_gives_the_defaults() -> None:
    assert Config.from_options({}) == Config()


@pytest.mark.parametrize("unknown", ["positive_ttl", "fresh_for", "worker", "Stores"])
def test_from_options_rejects_unknown_names_and_lists_valid_ones(unknown: str) -> None:
    with pytest.raises(dj.ConfigError) as info:
        Config.from_options({"stores": [_store()], unknown: 1})
    message = str(info.value)
    assert unknown in message
    assert "positive_fresh_for" in message  # the valid names are listed


def test_from_options_names_every_unknown_option() -> None:
    with pytest.raises(dj.ConfigError) as info:
        Config.from_options({"zeta": 1, "alpha": 2, "workers": 3})
    assert re.search(r"alpha.*zeta", str(info.value))


def test_every_field_is_a_valid_option_name() -> None:
    names = {field.name for field in dataclasses.fields(Config)}
    assert {
        "stores",
        "hot_store",
        "cold_store",
        "positive_fresh_for",
        "negative_fresh_for",
        "tier_fresh_for",
        "op_timeout",
        "close_timeout",
        "workers",
        "worker_queue",
        "worker_strategy",
        "worker_timeout",
        "chunk_size",
        "coalesce_wait",
        "promotion_probation",
        "tag_ttl",
        "coordination",
        "observer",
        "logger",
    } == names


# --- the constructors' keywords --------------------------------------------------------------------------------


def _field_default(field: dataclasses.Field[Any]) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    assert field.default_factory is not dataclasses.MISSING, field.name
    return field.default_factory()


@pytest.mark.parametrize("cache_class", [dj.Cache, dj.AsyncCache])
def test_the_constructors_keywords_are_the_config_fields_with_their_defaults(cache_class: type) -> None:
    parameters = inspect.signature(cache_class).parameters
    assert [parameter.kind for parameter in parameters.values()] == [inspect.Parameter.KEYWORD_ONLY] * len(parameters)
    fields = dataclasses.fields(Config)
    assert list(parameters) == [field.name for field in fields]  # the same names, in the same order
    for field in fields:
        default, expected = parameters[field.name].default, _field_default(field)
        assert default == expected, field.name
        assert type(default) is type(expected) or (default is NO_TIER_FRESH_FOR and expected == {}), field.name


def test_the_constructors_default_tier_fresh_for_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        NO_TIER_FRESH_FOR[0] = (1.0, 1.0)  # type: ignore[index]


def test_worker_strategies_are_the_literal_type_s_values() -> None:
    assert WORKER_STRATEGIES == ("pool", "all")
