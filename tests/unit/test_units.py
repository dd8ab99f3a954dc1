"""Unit tests of ``daramjwee._units``: capacities and durations (rule A3)."""

from __future__ import annotations

import datetime
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daramjwee as dj
from daramjwee._units import parse_capacity, parse_duration

KIB, MIB, GIB, TIB = 2**10, 2**20, 2**30, 2**40

# --- parse_capacity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256MiB", 256 * MIB),
        ("10GB", 10 * 10**9),
        ("1.5GiB", 3 * GIB // 2),
        ("100", 100),
        ("100B", 100),
        ("1b", 1),
        ("1KB", 1000),
        ("1MB", 10**6),
        ("2TB", 2 * 10**12),
        ("512KiB", 512 * KIB),
        ("3TiB", 3 * TIB),
        ("0.5KiB", 512),
        ("  64 MiB  ", 64 * MIB),
        ("1mib", MIB),
        ("1MIB", MIB),
        ("1gb", 10**9),
    ],
)
def test_capacity_strings_are_parsed(text: str, expected: int) -> None:
    assert parse_capacity(text, "capacity") == expected


def test_capacity_result_is_an_int() -> None:
    assert type(parse_capacity("1.5GiB", "capacity")) is int
    assert type(parse_capacity(10, "capacity")) is int


@pytest.mark.parametrize("value", [1, 100, 2**40, 10**20])
def test_capacity_ints_are_bytes(value: int) -> None:
    assert parse_capacity(value, "capacity") == value


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "10XB",
        "MiB",
        "-1",
        "-1MiB",
        "0",
        "0MiB",
        "0.0GiB",
        "1.MiB",
        ".5MiB",
        "1e3",
        "1 000",
        "10 M iB",
        "1KiBB",
    ],
)
def test_bad_capacity_strings_are_rejected_naming_option_and_value(bad: str) -> None:
    with pytest.raises(dj.ConfigError) as info:
        parse_capacity(bad, "my_capacity")
    assert "my_capacity" in str(info.value)
    assert repr(bad) in str(info.value)


def test_capacity_string_that_rounds_down_to_zero_bytes_is_rejected() -> None:
    with pytest.raises(dj.ConfigError, match="positive"):
        parse_capacity("0.1", "capacity")


@pytest.mark.parametrize("bad", [-1, 0, -(2**40)])
def test_non_positive_capacity_ints_are_rejected(bad: int) -> None:
    with pytest.raises(dj.ConfigError) as info:
        parse_capacity(bad, "capacity")
    assert "capacity" in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [True, False, 1.5, 100.0, math.nan, math.inf, None, b"1MiB", [1], Decimal(1)])
def test_capacity_of_wrong_type_is_rejected(bad: object) -> None:
    with pytest.raises(dj.ConfigError) as info:
        parse_capacity(bad, "capacity")
    assert "capacity" in str(info.value)


def test_capacity_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="capacity"):
        parse_capacity("10XB", "capacity")


@given(count=st.integers(min_value=1, max_value=10**6), unit=st.sampled_from(["KiB", "MiB", "GiB", "TiB"]))
def test_integer_binary_sizes_are_exact(count: int, unit: str) -> None:
    factor = {"KiB": KIB, "MiB": MIB, "GiB": GIB, "TiB": TIB}[unit]
    assert parse_capacity(f"{count}{unit}", "capacity") == count * factor
    assert parse_capacity(f"{count}{unit.lower()}", "capacity") == count * factor


@given(count=st.integers(min_value=1, max_value=10**6), unit=st.sampled_from(["KB", "MB", "GB", "TB"]))
def test_integer_decimal_sizes_are_exact(count: int, unit: str) -> None:
    factor = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}[unit]
    assert parse_capacity(f"{count}{unit}", "capacity") == count * factor


@pytest.mark.parametrize(("text", "expected"), [("4.1MB", 4_100_000), ("2.01KB", 2010), ("8.2MB", 8_200_000)])
def test_fractional_decimal_sizes_are_exact(text: str, expected: int) -> None:
    assert parse_capacity(text, "capacity") == expected


@given(
    whole=st.integers(min_value=0, max_value=1000),
    fraction=st.integers(min_value=0, max_value=999),
    unit=st.sampled_from(["KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB"]),
)
def test_fractional_sizes_are_within_one_byte_of_exact(whole: int, fraction: int, unit: str) -> None:
    factor = {"KiB": KIB, "MiB": MIB, "GiB": GIB, "TiB": TIB, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    text = f"{whole}.{fraction:03d}"
    exact = Decimal(text) * factor[unit]
    if exact < 1:
        return
    parsed = parse_capacity(text + unit, "capacity")
    assert abs(parsed - exact) <= 1


# --- parse_duration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (0.25, 0.25),
        (datetime.timedelta(seconds=90), 90.0),
        (datetime.timedelta(milliseconds=1), 0.001),
        (datetime.timedelta(days=1), 86400.0),
        (math.inf, math.inf),
        (10**6, 1e6),
    ],
)
def test_durations_are_seconds(value: object, expected: float) -> None:
    result = parse_duration(value, "op", allow_zero=False)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize("zero", [0, 0.0, -0.0, datetime.timedelta(0)])
def test_zero_duration_follows_allow_zero(zero: object) -> None:
    assert parse_duration(zero, "op", allow_zero=True) == 0.0
    with pytest.raises(dj.ConfigError, match="op must be > 0"):
        parse_duration(zero, "op", allow_zero=False)


@pytest.mark.parametrize("bad", [-1, -1e-12, -math.inf, math.nan, datetime.timedelta(microseconds=-1)])
@pytest.mark.parametrize("allow_zero", [True, False])
def test_negative_or_nan_duration_is_rejected(bad: object, allow_zero: bool) -> None:
    with pytest.raises(dj.ConfigError) as info:
        parse_duration(bad, "my_timeout", allow_zero=allow_zero)
    assert "my_timeout" in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [True, False, "1", None, b"1", Decimal("1.5"), [1], 1j])
def test_duration_of_wrong_type_is_rejected(bad: object) -> None:
    with pytest.raises(dj.ConfigError) as info:
        parse_duration(bad, "my_timeout", allow_zero=True)
    message = str(info.value)
    assert "my_timeout" in message
    assert type(bad).__name__ in message
    assert repr(bad) in message


@given(seconds=st.floats(min_value=0, allow_nan=False, allow_infinity=True))
def test_non_negative_floats_round_trip(seconds: float) -> None:
    assert parse_duration(seconds, "d", allow_zero=True) == seconds


@given(delta=st.timedeltas(min_value=datetime.timedelta(0)))
def test_non_negative_timedeltas_become_total_seconds(delta: datetime.timedelta) -> None:
    assert parse_duration(delta, "d", allow_zero=True) == delta.total_seconds()


@given(delta=st.timedeltas(max_value=datetime.timedelta(microseconds=-1)))
def test_negative_timedeltas_are_rejected(delta: datetime.timedelta) -> None:
    with pytest.raises(dj.ConfigError, match="d must be"):
        parse_duration(delta, "d", allow_zero=True)
