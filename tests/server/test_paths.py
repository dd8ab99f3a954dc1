"""Unit tests of ``daramjwee.server._paths``: request target → cache key (``daramjwee serve``)."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from daramjwee.server._paths import BadTarget, cache_key, origin_target


def _status(raw_path: bytes, query: bytes = b"", *, include_query: bool = True, max_length: int = 8192) -> int:
    with pytest.raises(BadTarget) as caught:
        cache_key(raw_path, query, include_query=include_query, max_length=max_length)
    assert str(caught.value)  # always says why
    return caught.value.status


def _key_or_status(raw_path: bytes, query: bytes) -> str | int:
    """The key, or the status of the refusal."""
    try:
        return cache_key(raw_path, query, include_query=True)
    except BadTarget as error:
        return error.status


def _check_key(key: str) -> None:
    """The invariants of every key :func:`cache_key` returns."""
    path, _, query = key.partition("?")
    assert path.startswith("/")
    assert not path.startswith("//")
    assert "//" not in path
    assert "/../" not in path + "/"
    assert "/./" not in path + "/"
    assert ".." not in path.split("/")
    assert "\\" not in path
    assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in key)
    assert "#" not in query
    assert query.isascii()


def _round_trip(key: str) -> str:
    """Feed a key back in the way a client would send it (quoted, query apart)."""
    path, _, query = origin_target(key).partition("?")
    return cache_key(path.encode("ascii"), query.encode("ascii"), include_query=True)


# --- hostile targets -------------------------------------------------------------------------------

HOSTILE = [
    (b"/../../etc/passwd", 400),
    (b"/%2e%2e/%2e%2e/etc/passwd", 400),
    (b"/a/%2E%2E/b", 400),
    (b"/a/.%2e/b", 400),
    (b"/a/%2e./b", 400),
    (b"/a/%2E%2e", 400),
    (b"/a/..", 400),
    (b"/a\\..\\b", 400),
    (b"/a\\b", 400),
    (b"/a%5cb", 400),
    (b"/a%5C..%5Cb", 400),
    (b"/a%2Fb", 400),
    (b"/a%2fb", 400),
    (b"/%2e%2e%2f%2e%2e%2fetc/passwd", 400),
    (b"/%00", 400),
    (b"/a%0d%0aSet-Cookie:%20x", 400),
    (b"/a\x00b", 400),
    (b"/a%7f", 400),
    (b"/a/..;/b", 400),
    (b"/a/%2e%2e;x=1/b", 400),
    (b"/a%3Fb", 400),
    (b"/100%", 400),
    (b"/a%zzb", 400),
    (b"/a%4", 400),
    (b"/%C3%28", 400),
    (b"/\xff", 400),
    (b"http://evil.com/x", 400),
    (b"https://evil.com/x", 400),
    (b"evil.com:443", 400),
    (b"*", 400),
    (b"", 400),
    (b"a/b", 400),
    (b"/" + b"a" * 100_000, 414),
    (b"/../" * 30_000, 414),
]


@pytest.mark.parametrize(("raw_path", "status"), HOSTILE, ids=[repr(raw[:40]) for raw, _ in HOSTILE])
def test_hostile_targets_are_refused_with_their_status(raw_path: bytes, status: int) -> None:
    assert _status(raw_path) == status
    assert _status(raw_path, include_query=False) == status


def test_bad_target_is_a_value_error_with_a_status() -> None:
    error = BadTarget(404, "no such route")
    assert isinstance(error, ValueError)
    assert error.status == 404
    assert str(error) == "no such route"
    with pytest.raises(ValueError, match="status must be one of"):
        BadTarget(500, "boom")


def test_messages_say_what_is_wrong() -> None:
    for raw, fragment in [
        (b"/a/%2e%2e/b", "'..'"),
        (b"/a%2Fb", "encoded slash"),
        (b"http://evil.com/x", "starting with '/'"),
        (b"/%00", "control character"),
        (b"/a\\b", "backslash"),
        (b"/" + b"a" * 9000, "over the limit of 8192"),
    ]:
        with pytest.raises(BadTarget, match=fragment):
            cache_key(raw, b"", include_query=False)


# --- normalization ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_path", "key"),
    [
        (b"/", "/"),
        (b"//", "/"),
        (b"/.", "/"),
        (b"/./", "/"),
        (b"/a", "/a"),
        (b"/a/", "/a/"),
        (b"/a/.", "/a/"),
        (b"/a/./", "/a/"),
        (b"//a///b", "/a/b"),
        (b"//host/x", "/host/x"),
        (b"/a/./b/./c", "/a/b/c"),
        (b"/a/%2e/b", "/a/b"),
        (b"/dir//", "/dir/"),
        (b"/.../a", "/.../a"),
        (b"/.a/..b/b..", "/.a/..b/b.."),
        (b"/a;b=1", "/a;b=1"),
        (b"/%41%62c", "/Abc"),
        (b"/a%20b", "/a b"),
        (b"/a+b", "/a+b"),
        (b"/%252F", "/%2F"),
        (b"/%2525", "/%25"),
        (b"/caf%C3%A9", "/caf\u00e9"),
        (b"/caf\xc3\xa9", "/caf\u00e9"),
        (b"/%E2%82%AC/x", "/\u20ac/x"),
        (b"/a#b", "/a#b"),
    ],
)
def test_normalization(raw_path: bytes, key: str) -> None:
    assert cache_key(raw_path, b"", include_query=True) == key
    assert cache_key(raw_path, b"z=1", include_query=False) == key


def test_trailing_slash_makes_a_different_key() -> None:
    assert cache_key(b"/dir/", b"", include_query=False) != cache_key(b"/dir", b"", include_query=False)


@pytest.mark.parametrize(
    ("query", "suffix"),
    [
        (b"", ""),
        (b"&", ""),
        (b"&&&", ""),
        (b"a=1", "?a=1"),
        (b"b=2&a=1", "?a=1&b=2"),
        (b"a=2&a=1", "?a=1&a=2"),
        (b"&b=2&&a=1&", "?a=1&b=2"),
        (b"a=%20&a=+", "?a=%20&a=+"),
        (b"x", "?x"),
        (b"q=%E2%82%AC", "?q=%E2%82%AC"),
        (b"a=1;b=2", "?a=1;b=2"),
        (b"a=?/&b", "?a=?/&b"),
    ],
)
def test_query_is_sorted_raw_parameters(query: bytes, suffix: str) -> None:
    assert cache_key(b"/p", query, include_query=True) == "/p" + suffix
    assert cache_key(b"/p", query, include_query=False) == "/p"


@pytest.mark.parametrize("query", [b"q=\xe2\x82\xac", b"a=\x00", b"a=b c", b"a=1\r\n", b"a=1#frag", b"\x7f", b"a\tb"])
def test_query_outside_visible_ascii_is_refused(query: bytes) -> None:
    assert _status(b"/p", query) == 400
    assert cache_key(b"/p", query, include_query=False) == "/p"  # ignored when not part of the key


def test_length_limit_counts_path_and_query() -> None:
    path = b"/" + b"a" * 99
    assert cache_key(path, b"", include_query=True, max_length=100) == path.decode()
    assert _status(path + b"a", max_length=100) == 414
    assert cache_key(path[:-5], b"x=123", include_query=True, max_length=100) == path[:-5].decode() + "?x=123"
    assert _status(path[:-5], b"x=1234", max_length=100) == 414
    assert _status(path[:-5], b"x=1234", include_query=False, max_length=100) == 414
    assert cache_key(b"/" + b"a" * 8191, b"", include_query=False) == "/" + "a" * 8191
    assert _status(b"/" + b"a" * 8192) == 414


def test_origin_target_quotes_the_path_and_keeps_the_query() -> None:
    assert origin_target("/") == "/"
    assert origin_target("/a b/caf\u00e9") == "/a%20b/caf%C3%A9"
    assert origin_target("/%2F#x") == "/%252F%23x"
    assert origin_target("/a;b=1:c@d+e,f") == "/a;b=1:c@d+e,f"
    assert origin_target("/p?a=%20&b=?") == "/p?a=%20&b=?"


# --- properties ------------------------------------------------------------------------------------

PIECES = [
    "/",
    "//",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%5C",
    "\\",
    "%00",
    "%0a",
    "%",
    "%zz",
    "%25",
    "%3F",
    "?",
    ";",
    "#",
    " ",
    "%20",
    "a",
    "b",
    "~",
    "%C3%A9",
    "\u00e9",
    "%C3",
    "%FF",
]
PIECES += ["/", "a", "b/", "c", ".", "/x"] * 4  # weight towards targets that are accepted
_raw_paths = st.builds(
    lambda pieces: ("/" + "".join(pieces)).encode("utf-8"),
    st.lists(st.sampled_from(PIECES), max_size=20),
)
_queries = st.lists(
    st.sampled_from(["a=1", "b", "", "&", "c=%20", "a=0", "z=\u00e9", "q=\x00", "x=?"]), max_size=6
).map(lambda parts: "&".join(parts).encode("utf-8"))


@given(raw_path=_raw_paths, query=_queries)
@example(raw_path=b"/a/%2e%2e/b", query=b"")
@example(raw_path=b"/.%2E", query=b"")
@example(raw_path=b"//../x", query=b"")
def test_every_key_is_safe_and_idempotent(raw_path: bytes, query: bytes) -> None:
    key = _key_or_status(raw_path, query)
    if isinstance(key, int):
        assert key == 400
        return
    _check_key(key)
    assert _round_trip(key) == key


@given(raw_path=st.binary(max_size=64).map(lambda tail: b"/" + tail), query=st.binary(max_size=32))
def test_arbitrary_bytes_give_a_safe_key_or_a_400(raw_path: bytes, query: bytes) -> None:
    key = _key_or_status(raw_path, query)
    if isinstance(key, int):
        assert key == 400
        return
    _check_key(key)
    assert _round_trip(key) == key


_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\\?" + "".join(map(chr, range(32))) + "\x7f"),
    min_size=1,
    max_size=8,
).filter(lambda segment: segment not in (".", "..") and not segment.startswith("..;"))


@given(segments=st.lists(_segment, max_size=6), trailing=st.booleans())
def test_quoted_clean_paths_decode_to_themselves(segments: list[str], trailing: bool) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    raw = urllib.parse.quote(path, safe="/").encode("ascii")
    assert cache_key(raw, b"", include_query=False) == path
    assert origin_target(path).encode("ascii") == urllib.parse.quote(path, safe="/:@!$&'()*+,;=").encode("ascii")


@given(segments=st.lists(st.sampled_from(["a", "b", ".", "", "%2e", "%2E"]), max_size=10))
def test_dot_and_empty_segments_vanish(segments: list[str]) -> None:
    raw = ("/" + "/".join(segments)).encode("ascii")
    kept = [segment for segment in segments if segment in ("a", "b")]
    key = cache_key(raw, b"", include_query=False)
    assert key.rstrip("/") == ("/" + "/".join(kept)).rstrip("/")
    assert key.endswith("/") == (not kept or segments[-1] not in ("a", "b"))
