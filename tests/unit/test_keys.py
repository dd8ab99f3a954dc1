"""Unit tests of ``daramjwee._keys.check_key`` (rule A4: bad keys get a clear exception)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daramjwee._keys import check_key


@pytest.mark.parametrize(
    "key", ["k", "user:42", "a/b", "../../etc/passwd", "..", "nul\x00inside", "ключ", " ", "x" * 10_000]
)
def test_any_non_empty_string_is_a_valid_key(key: str) -> None:
    assert check_key(key) is key


def test_empty_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        check_key("")


@pytest.mark.parametrize("key", [b"key", 42, None, 1.5, ["k"], ("k",), object()])
def test_non_str_key_is_a_type_error_naming_the_type(key: object) -> None:
    with pytest.raises(TypeError) as info:
        check_key(key)
    assert type(key).__name__ in str(info.value)


def test_type_error_message_is_bounded_for_huge_keys() -> None:
    with pytest.raises(TypeError) as info:
        check_key(b"x" * 100_000)
    assert len(str(info.value)) < 200


def test_str_subclass_is_converted_to_a_plain_str() -> None:
    class Key(str):
        pass

    result = check_key(Key("abc"))
    assert type(result) is str
    assert result == "abc"


def test_empty_str_subclass_is_rejected_like_an_empty_str() -> None:
    class Key(str):
        pass

    with pytest.raises(ValueError, match="non-empty"):
        check_key(Key(""))


@given(key=st.text(min_size=1))
def test_every_non_empty_text_is_returned_unchanged(key: str) -> None:
    assert check_key(key) == key
