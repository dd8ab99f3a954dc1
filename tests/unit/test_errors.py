"""Unit tests of ``daramjwee._errors``."""

from __future__ import annotations

import pickle

import pytest

import daramjwee as dj


@pytest.mark.parametrize(
    "error",
    [
        dj.NotFound,
        dj.NotModified,
        dj.CacheableNotFound,
        dj.CacheClosed,
        dj.ConfigError,
        dj.TierError,
        dj.BackgroundJobRejected,
        dj.StoreContractError,
    ],
)
def test_every_error_is_a_daramjwee_error(error: type[Exception]) -> None:
    assert issubclass(error, dj.DaramjweeError)
    assert issubclass(dj.DaramjweeError, Exception)


def test_not_found_is_a_lookup_error() -> None:
    assert issubclass(dj.NotFound, LookupError)
    with pytest.raises(LookupError):
        raise dj.NotFound("k")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(dj.ConfigError, ValueError)


def test_fetcher_signals_are_not_lookup_errors() -> None:
    assert not issubclass(dj.CacheableNotFound, LookupError)
    assert not issubclass(dj.NotModified, LookupError)
    assert not issubclass(dj.CacheableNotFound, dj.NotFound)


def test_tier_error_attributes_and_message() -> None:
    store = dj.MemStore()
    error = dj.TierError(2, "delete", "user:42", store)
    assert (error.tier, error.op, error.key, error.store) == (2, "delete", "user:42", store)
    message = str(error)
    assert "tier 2" in message
    assert "delete" in message
    assert "'user:42'" in message
    assert "MemStore" in message


def test_tier_error_keeps_the_store_exception_as_cause() -> None:
    cause = OSError("disk on fire")
    with pytest.raises(dj.TierError) as info:
        try:
            raise cause
        except OSError as error:
            raise dj.TierError(0, "begin_set", "k", object()) from error
    assert info.value.__cause__ is cause


def test_tier_error_pickles_with_its_attributes() -> None:
    error = dj.TierError(1, "commit", "k", "store-stand-in")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is dj.TierError
    assert (clone.tier, clone.op, clone.key, clone.store) == (1, "commit", "k", "store-stand-in")
    assert str(clone) == str(error)


@pytest.mark.parametrize("error", [dj.NotFound, dj.NotModified, dj.CacheableNotFound, dj.CacheClosed, dj.ConfigError])
def test_simple_errors_pickle(error: type[Exception]) -> None:
    clone = pickle.loads(pickle.dumps(error("message")))
    assert type(clone) is error
    assert str(clone) == "message"
