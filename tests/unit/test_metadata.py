"""Unit tests of ``daramjwee._metadata``: Metadata, Status, FetchResult."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from collections import OrderedDict
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import daramjwee as dj
from daramjwee import FetchResult, Metadata, Status
from daramjwee._metadata import with_cached_at

_ATTRS = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)
_METADATA = st.builds(
    Metadata,
    etag=st.text(max_size=10),
    is_negative=st.booleans(),
    cached_at=st.floats(min_value=0, max_value=4e9),
    attrs=_ATTRS,
)

# --- defaults and fields ---------------------------------------------------------------------------


def test_defaults() -> None:
    metadata = Metadata()
    assert metadata.etag == ""
    assert metadata.is_negative is False
    assert metadata.cached_at == 0.0
    assert dict(metadata.attrs) == {}


def test_default_attrs_cannot_be_mutated_through_an_instance() -> None:
    with pytest.raises(TypeError):
        Metadata().attrs["x"] = "y"  # type: ignore[index]
    assert dict(Metadata().attrs) == {}


def test_int_cached_at_is_stored_as_float() -> None:
    metadata = Metadata(cached_at=12)
    assert metadata.cached_at == 12.0
    assert type(metadata.cached_at) is float


def test_infinite_cached_at_is_accepted() -> None:
    assert Metadata(cached_at=math.inf).cached_at == math.inf


# --- frozen ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("etag", "x"), ("is_negative", True), ("cached_at", 1.0), ("attrs", {})])
def test_fields_cannot_be_assigned(field: str, value: object) -> None:
    metadata = Metadata(etag="e")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(metadata, field, value)
    assert metadata == Metadata(etag="e")


def test_no_new_attributes_can_be_added() -> None:
    with pytest.raises((AttributeError, TypeError)):
        Metadata().extra = 1  # type: ignore[attr-defined]


# --- attrs are copied and read-only -------------------------------------------------------------------------


def test_mutating_the_callers_dict_afterwards_changes_nothing() -> None:
    attrs = {"content-type": "text/plain"}
    metadata = Metadata(attrs=attrs)
    attrs["content-type"] = "application/json"
    attrs["extra"] = "x"
    assert dict(metadata.attrs) == {"content-type": "text/plain"}


def test_attrs_assignment_raises() -> None:
    metadata = Metadata(attrs={"a": "1"})
    with pytest.raises(TypeError):
        metadata.attrs["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        metadata.attrs["b"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        del metadata.attrs["a"]  # type: ignore[attr-defined]
    assert dict(metadata.attrs) == {"a": "1"}


def test_attrs_has_no_mutating_methods() -> None:
    attrs = Metadata(attrs={"a": "1"}).attrs
    for name in ("clear", "pop", "popitem", "setdefault", "update"):
        assert not hasattr(attrs, name), name


def test_attrs_from_any_mapping_are_accepted() -> None:
    metadata = Metadata(attrs=OrderedDict([("b", "2"), ("a", "1")]))
    assert dict(metadata.attrs) == {"a": "1", "b": "2"}


def test_attrs_given_as_a_mapping_proxy_are_copied_too() -> None:
    backing = {"a": "1"}
    metadata = Metadata(attrs=MappingProxyType(backing))
    before = hash(metadata)
    backing["a"] = "changed"
    assert dict(metadata.attrs) == {"a": "1"}
    assert hash(metadata) == before


def test_attrs_given_as_a_mapping_proxy_are_type_checked() -> None:
    with pytest.raises(TypeError):
        Metadata(attrs=MappingProxyType({"n": 1}))  # type: ignore[dict-item]


# --- type errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("etag", [None, b"abc", 1, ["e"]])
def test_etag_must_be_str(etag: object) -> None:
    with pytest.raises(TypeError, match="etag"):
        Metadata(etag=etag)  # type: ignore[arg-type]


@pytest.mark.parametrize("is_negative", [None, 0, 1, "yes", "False"])
def test_is_negative_must_be_bool(is_negative: object) -> None:
    with pytest.raises(TypeError, match="is_negative"):
        Metadata(is_negative=is_negative)  # type: ignore[arg-type]


@pytest.mark.parametrize("cached_at", [None, "1", True, False, b"1", 1j])
def test_cached_at_must_be_a_number(cached_at: object) -> None:
    with pytest.raises(TypeError, match="cached_at"):
        Metadata(cached_at=cached_at)  # type: ignore[arg-type]


@pytest.mark.parametrize("cached_at", [-1, -0.5, -math.inf, math.nan])
def test_cached_at_must_be_non_negative(cached_at: float) -> None:
    with pytest.raises(ValueError, match="cached_at"):
        Metadata(cached_at=cached_at)


@pytest.mark.parametrize("attrs", [None, "a=b", [("a", "b")], 5])
def test_attrs_must_be_a_mapping(attrs: object) -> None:
    with pytest.raises(TypeError, match="attrs"):
        Metadata(attrs=attrs)  # type: ignore[arg-type]


@pytest.mark.parametrize("attrs", [{"a": 1}, {1: "a"}, {"a": None}, {"a": b"b"}, {b"a": "b"}])
def test_attrs_must_map_str_to_str(attrs: dict[object, object]) -> None:
    with pytest.raises(TypeError, match="attrs"):
        Metadata(attrs=attrs)  # type: ignore[arg-type]


# --- equality, hashing, replace ----------------------------------------------------------------------------


def test_equal_metadata_are_equal_and_hash_alike() -> None:
    first = Metadata(etag="e", cached_at=1, attrs={"a": "1", "b": "2"})
    second = Metadata(etag="e", cached_at=1.0, attrs={"b": "2", "a": "1"})
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1


@pytest.mark.parametrize(
    "other",
    [
        Metadata(etag="f", cached_at=1.0, attrs={"a": "1"}),
        Metadata(etag="e", is_negative=True, cached_at=1.0, attrs={"a": "1"}),
        Metadata(etag="e", cached_at=2.0, attrs={"a": "1"}),
        Metadata(etag="e", cached_at=1.0, attrs={"a": "2"}),
        Metadata(etag="e", cached_at=1.0),
    ],
)
def test_metadata_differing_in_any_field_are_not_equal(other: Metadata) -> None:
    assert Metadata(etag="e", cached_at=1.0, attrs={"a": "1"}) != other


def test_metadata_with_attrs_can_be_used_as_dict_keys() -> None:
    table = {Metadata(attrs={"a": "1"}): "x"}
    assert table[Metadata(attrs={"a": "1"})] == "x"


@given(metadata=_METADATA)
def test_a_rebuilt_copy_is_equal_and_hashes_alike(metadata: Metadata) -> None:
    rebuilt = Metadata(
        etag=metadata.etag, is_negative=metadata.is_negative, cached_at=metadata.cached_at, attrs=dict(metadata.attrs)
    )
    assert rebuilt == metadata
    assert hash(rebuilt) == hash(metadata)


def test_replace_changes_only_the_given_fields() -> None:
    original = Metadata(etag="e", cached_at=1.0, attrs={"a": "1"})
    changed = original.replace(cached_at=5)
    assert changed == Metadata(etag="e", cached_at=5.0, attrs={"a": "1"})
    assert type(changed.cached_at) is float
    assert original.cached_at == 1.0


def test_replace_of_attrs_copies_and_freezes_them() -> None:
    attrs = {"b": "2"}
    changed = Metadata(attrs={"a": "1"}).replace(attrs=attrs)
    attrs["b"] = "changed"
    assert dict(changed.attrs) == {"b": "2"}
    with pytest.raises(TypeError):
        changed.attrs["b"] = "3"  # type: ignore[index]


def test_replace_validates_like_the_constructor() -> None:
    with pytest.raises(TypeError, match="etag"):
        Metadata().replace(etag=1)
    with pytest.raises(ValueError, match="cached_at"):
        Metadata().replace(cached_at=-1.0)
    with pytest.raises(TypeError):
        Metadata().replace(no_such_field="x")


def test_replace_without_changes_is_an_equal_copy() -> None:
    original = Metadata(etag="e", attrs={"a": "1"})
    assert original.replace() == original


def test_shallow_copy_is_equal() -> None:
    metadata = Metadata(etag="e", cached_at=3.0, attrs={"a": "1"})
    assert copy.copy(metadata) == metadata


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda value: pickle.loads(pickle.dumps(value))])
def test_metadata_can_be_deep_copied_and_pickled(clone: object) -> None:
    metadata = Metadata(etag="e", cached_at=3.0, attrs={"a": "1"})
    assert clone(metadata) == metadata  # type: ignore[operator]


def test_public_names_are_exported() -> None:
    assert dj.Metadata is Metadata
    assert dj.Status is Status
    assert dj.FetchResult is FetchResult


# --- Status ------------------------------------------------------------------------------------------------


def test_status_members() -> None:
    assert {member.name for member in Status} == {"OK", "NOT_MODIFIED"}
    assert Status.OK.value == 200
    assert Status.NOT_MODIFIED.value == 304


# --- FetchResult --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"x", bytearray(b"x"), memoryview(b"x"), [b"a", b"b"], iter([b"a"])])
def test_fetch_result_keeps_body_and_defaults_metadata_to_none(body: object) -> None:
    result = FetchResult(body)  # type: ignore[arg-type]
    assert result.body is body
    assert result.metadata is None


def test_fetch_result_keeps_metadata() -> None:
    metadata = Metadata(etag="e")
    assert FetchResult(b"", metadata).metadata is metadata


@pytest.mark.parametrize("metadata", [{"etag": "e"}, "e", 1])
def test_fetch_result_rejects_metadata_of_wrong_type(metadata: object) -> None:
    with pytest.raises(TypeError, match="Metadata"):
        FetchResult(b"", metadata)  # type: ignore[arg-type]


def test_fetch_result_repr_does_not_dump_the_body() -> None:
    text = repr(FetchResult(b"x" * 10_000, Metadata(etag="e")))
    assert "bytes" in text
    assert "etag='e'" in text
    assert len(text) < 300


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({}, None),
        ({"content-length": "1024"}, 1024),
        ({"content-length": "0"}, 0),
        ({"content-length": ""}, None),
        ({"content-length": "-1"}, None),
        ({"content-length": "1e3"}, None),
        ({"content-length": " 12"}, None),
        ({"content-length": "\u00b2"}, None),  # a digit to str.isdigit, not to int(): a latin-1 header value
        ({"content-type": "text/plain"}, None),
    ],
)
def test_declared_length_reads_only_a_plain_decimal_content_length(attrs: dict[str, str], expected: int | None) -> None:
    assert dj.Metadata(attrs=attrs).declared_length == expected


@given(
    etag=st.text(max_size=8),
    negative=st.booleans(),
    attrs=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
    cached_at=st.floats(min_value=0.0, max_value=4e9),
)
def test_with_cached_at_equals_replace_and_leaves_the_original(
    etag: str, negative: bool, attrs: dict[str, str], cached_at: float
) -> None:
    original = Metadata(etag=etag, is_negative=negative, attrs=attrs)
    stamped = with_cached_at(original, cached_at)
    assert stamped == original.replace(cached_at=cached_at)
    assert type(stamped.cached_at) is float
    assert original.cached_at == 0.0
    assert hash(stamped) == hash(original.replace(cached_at=cached_at))


def test_with_cached_at_checks_a_stamp_that_is_not_a_plain_float_like_the_constructor() -> None:
    assert with_cached_at(Metadata(), 5).cached_at == 5.0
    with pytest.raises(ValueError, match="cached_at must be >= 0"):
        with_cached_at(Metadata(), -1.0)
    with pytest.raises(ValueError, match="cached_at must be >= 0"):
        with_cached_at(Metadata(), math.nan)
    with pytest.raises(TypeError, match="cached_at must be a number"):
        with_cached_at(Metadata(), "now")  # type: ignore[arg-type]
