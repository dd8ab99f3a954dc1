"""Unit tests of ``daramjwee._etag.if_none_match_matches`` (rule I1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daramjwee import Metadata
from daramjwee._etag import if_none_match_matches


def _positive(etag: str) -> Metadata:
    return Metadata(etag=etag, cached_at=1.0)


def _negative(etag: str = "") -> Metadata:
    return Metadata(etag=etag, is_negative=True, cached_at=1.0)


def _matches(header: str, etag: str) -> bool:
    return if_none_match_matches(header, _positive(etag))


@pytest.mark.parametrize("etag", ['"abc"', "abc", 'W/"abc"', ""])
@pytest.mark.parametrize("header", ["*", " * ", '"x", *', '*, "x"', "x,*"])
def test_star_matches_any_positive_entry(header: str, etag: str) -> None:
    assert _matches(header, etag)


@pytest.mark.parametrize("header", ['"abc"', "abc", 'W/"abc"', "W/abc", 'w/"abc"', ' "abc" '])
@pytest.mark.parametrize("etag", ['"abc"', "abc", 'W/"abc"'])
def test_weak_prefix_and_quotes_are_ignored_on_both_sides(header: str, etag: str) -> None:
    assert _matches(header, etag)


@pytest.mark.parametrize("header", ['"abd"', '"ab"', '"abcd"', '"ABC"', 'W/"ab c"', '"a"bc'])
def test_different_tags_do_not_match(header: str) -> None:
    assert not _matches(header, '"abc"')


@pytest.mark.parametrize(
    "header",
    ['"a", "abc"', '"abc", "a"', '"a","b","abc"', '  "x" ,  W/"abc"  ', 'W/"1", "2", W/"abc"', ',,"abc",,'],
)
def test_any_element_of_the_list_may_match(header: str) -> None:
    assert _matches(header, '"abc"')


@pytest.mark.parametrize("header", ['"a", "b"', '"a","b","c"', '"abc-1", "abc-2"'])
def test_list_without_the_tag_does_not_match(header: str) -> None:
    assert not _matches(header, '"abc"')


def test_list_parsing_does_not_match_a_joined_or_partial_tag() -> None:
    assert not _matches('"a", "b"', '"a", "b"'.replace(" ", ""))  # the etag 'a","b' is not in the list
    assert not _matches('"ab"', '"a"')


@pytest.mark.parametrize("header", ['""', "", " ", ",", '"", W/""', "W/", '"x"'])
def test_empty_etag_matches_only_star(header: str) -> None:
    assert not _matches(header, "")
    assert not _matches(header, '""')
    assert _matches(header + ", *", "")


@pytest.mark.parametrize("header", ["", " ", ",", ", ,"])
def test_empty_header_matches_nothing(header: str) -> None:
    assert not _matches(header, '"abc"')


@pytest.mark.parametrize("header", ["*", '"abc"', 'W/"abc"', '"x", *'])
@pytest.mark.parametrize("etag", ['"abc"', ""])
def test_negative_entries_never_match(header: str, etag: str) -> None:
    assert not if_none_match_matches(header, _negative(etag))


def test_star_inside_a_tag_is_not_a_wildcard() -> None:
    assert not _matches('"*"', '"abc"')


def test_comparison_is_case_sensitive() -> None:
    assert not _matches('"ABC"', '"abc"')


def test_tag_with_a_comma_inside_quotes_matches_itself() -> None:
    assert _matches('"a,b"', '"a,b"')


_OPAQUE = st.text(alphabet=st.characters(min_codepoint=0x23, max_codepoint=0x7E, exclude_characters=",*"), min_size=1)


@given(tag=_OPAQUE, header_weak=st.booleans(), etag_weak=st.booleans(), others=st.lists(_OPAQUE, max_size=4))
def test_a_listed_tag_always_matches(tag: str, header_weak: bool, etag_weak: bool, others: list[str]) -> None:
    listed = [*(f'"{other}"' for other in others), ("W/" if header_weak else "") + f'"{tag}"']
    etag = ("W/" if etag_weak else "") + f'"{tag}"'
    assert _matches(", ".join(listed), etag)
    assert _matches(", ".join(reversed(listed)), etag)


@given(tag=_OPAQUE, others=st.lists(_OPAQUE, max_size=4))
def test_an_unlisted_tag_never_matches(tag: str, others: list[str]) -> None:
    others = [other for other in others if other != tag]
    assert not _matches(", ".join(f'"{other}"' for other in others), f'"{tag}"')
