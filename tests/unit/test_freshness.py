"""Unit tests of ``daramjwee._freshness.is_stale`` (rule F1: freshness 0 means always stale)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daramjwee import Metadata
from daramjwee._freshness import is_stale

NOW = 1_700_000_000.0


def _entry(cached_at: float, *, negative: bool = False) -> Metadata:
    return Metadata(etag="e", is_negative=negative, cached_at=cached_at)


@pytest.mark.parametrize("negative", [False, True])
def test_zero_freshness_is_always_stale_even_for_a_brand_new_entry(negative: bool) -> None:
    entry = _entry(NOW, negative=negative)
    assert is_stale(entry, 0.0, NOW)
    assert is_stale(entry, 0, NOW)
    assert is_stale(entry, 0.0, NOW - 100)  # even "before" it was cached


@pytest.mark.parametrize("negative", [False, True])
def test_none_freshness_is_never_stale(negative: bool) -> None:
    assert not is_stale(_entry(1.0, negative=negative), None, NOW)
    assert not is_stale(_entry(NOW - 10**9, negative=negative), None, NOW)


def test_none_freshness_is_never_stale_even_with_unknown_cached_at() -> None:
    assert not is_stale(_entry(0.0), None, NOW)


@pytest.mark.parametrize("fresh_for", [1.0, 60.0, 1e12, math.inf])
def test_unknown_cached_at_is_stale(fresh_for: float) -> None:
    assert is_stale(_entry(0.0), fresh_for, NOW)
    assert is_stale(_entry(0.0), fresh_for, 0.0)


def test_boundary_now_equal_to_expiry_is_fresh() -> None:
    assert not is_stale(_entry(NOW), 60.0, NOW + 60.0)


def test_just_past_expiry_is_stale() -> None:
    expiry = NOW + 60.0
    assert is_stale(_entry(NOW), 60.0, math.nextafter(expiry, math.inf))
    assert is_stale(_entry(NOW), 60.0, expiry + 0.001)


def test_just_before_expiry_is_fresh() -> None:
    assert not is_stale(_entry(NOW), 60.0, NOW + 59.999)


def test_entry_from_the_future_is_fresh() -> None:
    assert not is_stale(_entry(NOW + 30), 10.0, NOW)


def test_infinite_freshness_with_known_cached_at_is_never_stale() -> None:
    assert not is_stale(_entry(1.0), math.inf, NOW * 1000)


def test_negative_and_positive_entries_follow_the_same_rule() -> None:
    for fresh_for in (None, 0.0, 5.0):
        for now in (NOW, NOW + 5, NOW + 6):
            assert is_stale(_entry(NOW), fresh_for, now) == is_stale(_entry(NOW, negative=True), fresh_for, now)


@given(
    cached_at=st.floats(min_value=0, max_value=4e9),
    fresh_for=st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)),
    now=st.floats(min_value=0, max_value=5e9),
)
def test_is_stale_matches_the_spec_rule(cached_at: float, fresh_for: float | None, now: float) -> None:
    expected = fresh_for is not None and (fresh_for == 0 or cached_at == 0 or now > cached_at + fresh_for)
    assert is_stale(_entry(cached_at), fresh_for, now) is expected


@given(
    cached_at=st.floats(min_value=1, max_value=4e9),
    fresh_for=st.floats(min_value=1e-3, max_value=1e6),
    age=st.floats(min_value=0, max_value=2e6),
)
def test_staleness_is_monotonic_in_time(cached_at: float, fresh_for: float, age: float) -> None:
    now = cached_at + age
    if is_stale(_entry(cached_at), fresh_for, now):
        assert is_stale(_entry(cached_at), fresh_for, now + 1.0)
