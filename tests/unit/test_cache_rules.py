"""The RFC 9111 rules of ``daramjwee serve`` (``server/_cache_rules.py``), with exact times: pure functions."""

from __future__ import annotations

import pytest

from daramjwee.server._cache_rules import (
    StorePolicy,
    current_age,
    head_matches,
    not_modified,
    parse_cache_control,
    parse_http_date,
    request_needs_origin,
    storable,
    updated_fields,
)
from daramjwee.server._fields import check_forwarding, end_to_end, forwarded_request, stored_response
from daramjwee.server._range_requests import if_range_matches, parse_range

NOW = 1_795_000_000.0
DATE = "Wed, 18 Nov 2026 11:06:40 GMT"  # NOW as an HTTP-date
POLICY = StorePolicy(default_fresh_for=60.0)


def verdict(status: int = 200, request: list[tuple[str, str]] | None = None, **response: str):  # type: ignore[no-untyped-def]
    fields = [(name.replace("_", "-"), value) for name, value in response.items()]
    return storable("GET", request or [], status, fields, request_time=NOW - 0.5, response_time=NOW, policy=POLICY)


def test_the_date_constant_is_now() -> None:
    assert parse_http_date(DATE) == NOW


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=60", {"max-age": "60"}),
        ('max-age="60", private', {"max-age": "60", "private": None}),
        ("MAX-AGE=1, max-age=2", {"max-age": "1"}),
        ('no-cache="set-cookie, x-a", max-age=5', {"no-cache": "set-cookie, x-a", "max-age": "5"}),
        ("max-age =60, public", {"public": None}),
    ],
)
def test_cache_control_parsing(value: str, expected: dict[str, str | None]) -> None:
    assert dict(parse_cache_control([("cache-control", value)]).directives) == expected


@pytest.mark.parametrize(("argument", "seconds"), [("60", 60), ("-1", 0), ("a", 0), ("99999999999", 2147483648)])
def test_delta_seconds(argument: str, seconds: int) -> None:
    assert parse_cache_control([("cache-control", f"max-age={argument}")]).seconds("max-age") == seconds


@pytest.mark.parametrize(
    ("response", "request_fields", "reason"),
    [
        ({"cache_control": "no-store"}, [], "no-store"),
        ({"cache_control": "private, max-age=60"}, [], "private"),
        ({"cache_control": "max-age=60", "set_cookie": "a=b"}, [], "cookie"),
        ({"cache_control": "max-age=60", "vary": "Accept, *"}, [], "Vary: *"),
        ({"cache_control": "max-age=60"}, [("authorization", "Basic x")], "Authorization"),
        ({"cache_control": "max-age=60"}, [("cache-control", "no-store")], "request says no-store"),
    ],
)
def test_what_a_shared_cache_must_not_store(
    response: dict[str, str], request_fields: list[tuple[str, str]], reason: str
) -> None:
    result = verdict(request=request_fields, **response)
    assert not result.store
    assert reason in result.reason


@pytest.mark.parametrize("directive", ["public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"])
def test_authorization_is_shared_when_the_response_allows_it(directive: str) -> None:
    assert verdict(request=[("authorization", "Basic x")], cache_control=directive).store


@pytest.mark.parametrize(
    ("status", "response", "fresh_for"),
    [
        (200, {"cache_control": "s-maxage=30, max-age=60"}, 30.0),
        (200, {"cache_control": "max-age=60", "expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 60.0),
        (200, {"expires": "Wed, 18 Nov 2026 11:07:40 GMT", "date": DATE}, 60.0),
        (200, {"expires": "0"}, 0.0),
        (200, {"last_modified": "Wed, 18 Nov 2026 08:20:00 GMT", "date": DATE}, 1000.0),
        (404, {}, 60.0),
        (302, {"cache_control": "max-age=10"}, 10.0),
        (500, {"cache_control": "public"}, 60.0),
    ],
)
def test_freshness_lifetime(status: int, response: dict[str, str], fresh_for: float) -> None:
    result = verdict(status, **response)
    assert result.store
    assert result.freshness is not None
    assert result.freshness.fresh_for == pytest.approx(fresh_for, abs=0.6)  # less the half second it took


@pytest.mark.parametrize("status", [201, 202, 302, 303, 307, 403, 500, 502, 503, 504])
def test_statuses_not_heuristically_cacheable_need_explicit_freshness(status: int) -> None:
    assert not verdict(status, last_modified="Wed, 18 Nov 2026 05:00:00 GMT").store


def test_the_age_on_arrival_is_taken_off_the_freshness() -> None:
    result = verdict(cache_control="max-age=100", age="30")
    assert result.freshness is not None
    assert result.freshness.initial_age == pytest.approx(30.5)
    assert result.freshness.fresh_for == pytest.approx(69.5)
    assert current_age(30.5, NOW, NOW + 10) == pytest.approx(40.5)


def test_directives_that_shape_stale_use() -> None:
    fresh = verdict(cache_control="max-age=10, stale-while-revalidate=20, stale-if-error=30").freshness
    assert fresh is not None
    assert (fresh.stale_while_revalidate, fresh.stale_if_error, fresh.must_revalidate) == (20.0, 30.0, False)
    no_cache = verdict(cache_control="no-cache, max-age=600").freshness
    assert no_cache is not None
    assert (no_cache.fresh_for, no_cache.must_revalidate) == (0.0, True)
    for directive in ("must-revalidate", "proxy-revalidate", "s-maxage=5"):
        shaped = verdict(cache_control=f"max-age=5, {directive}").freshness
        assert shaped is not None
        assert shaped.must_revalidate


def test_the_override_wins_over_what_the_response_says() -> None:
    policy = StorePolicy(override_fresh_for=7.0)
    result = storable(
        "GET", [], 200, [("cache-control", "max-age=600")], request_time=NOW, response_time=NOW, policy=policy
    )
    assert result.freshness is not None
    assert result.freshness.fresh_for == 7.0


def test_surrogate_control_speaks_to_this_cache_over_cache_control() -> None:
    shorter = verdict(cache_control="max-age=600", surrogate_control="max-age=5").freshness
    assert shorter is not None
    assert shorter.fresh_for == pytest.approx(5.0, abs=0.6)
    assert not verdict(cache_control="max-age=600", surrogate_control="no-store").store
    elsewhere = verdict(cache_control="max-age=600", surrogate_control="no-store;other-cdn")
    assert elsewhere.store


@pytest.mark.parametrize(
    ("request_cc", "age", "left", "needed"),
    [
        ("no-cache", 0.0, 100.0, True),
        ("max-age=10", 11.0, 100.0, True),
        ("max-age=10", 9.0, 100.0, False),
        ("min-fresh=50", 0.0, 40.0, True),
        ("min-fresh=50", 0.0, 60.0, False),
        ("nothing-to-see-here", 1e6, -1.0, False),
        ("max-stale=10", 0.0, -11.0, True),
        ("max-stale=10", 0.0, -9.0, False),
        ("max-stale", 0.0, -1e9, False),
    ],
)
def test_request_directives(request_cc: str, age: float, left: float, needed: bool) -> None:
    assert request_needs_origin([("cache-control", request_cc)], age=age, fresh_for_left=left) is needed


def test_pragma_alone_is_ignored() -> None:
    assert not request_needs_origin([("pragma", "no-cache")], age=0.0, fresh_for_left=10.0)


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        ([("if-none-match", '"a"')], True),
        ([("if-none-match", 'W/"a"')], True),
        ([("if-none-match", '"b", "a"')], True),
        ([("if-none-match", "*")], True),
        ([("if-none-match", '"b"'), ("if-modified-since", DATE)], False),
        ([("if-modified-since", DATE)], True),
        ([("if-modified-since", "Tue, 17 Nov 2026 00:00:00 GMT")], False),
        ([], False),
    ],
)
def test_client_conditionals(request_fields: list[tuple[str, str]], expected: bool) -> None:
    stored = [("etag", '"a"'), ("last-modified", "Wed, 18 Nov 2026 10:00:00 GMT")]
    assert not_modified(request_fields, 200, stored) is expected
    assert not not_modified(request_fields, 404, stored), "only a 200 is answered 304"


def test_a_304_replaces_stored_fields_but_not_those_of_the_body() -> None:
    stored = [("etag", '"a"'), ("content-length", "5"), ("x-version", "1"), ("cache-control", "max-age=1")]
    update = [("etag", '"b"'), ("content-length", "0"), ("x-version", "2"), ("cache-control", "max-age=60")]
    assert updated_fields(stored, update) == [
        ("etag", '"a"'),
        ("content-length", "5"),
        ("x-version", "2"),
        ("cache-control", "max-age=60"),
    ]


def test_hop_by_hop_fields_are_neither_stored_nor_forwarded() -> None:
    fields = [
        ("connection", "close, x-private"),
        ("x-private", "1"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("set-cookie", "a=b"),
        ("age", "3"),
        ("x-kept", "yes"),
    ]
    assert end_to_end(fields) == [("set-cookie", "a=b"), ("age", "3"), ("x-kept", "yes")]
    assert stored_response(fields) == [("x-kept", "yes")]
    request = [("host", "proxy"), ("if-none-match", '"x"'), ("range", "bytes=0-1"), ("via", "1.1 edge")]
    forwarded = forwarded_request(
        request, client="10.0.0.1", scheme="https", via="1.1 daramjwee", for_cache=True, forwarded="append"
    )
    assert forwarded == [
        ("via", "1.1 edge, 1.1 daramjwee"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-proto", "https"),
    ]
    passed = forwarded_request(
        request, client=None, scheme="http", via="1.1 daramjwee", for_cache=False, forwarded="append"
    )
    assert ("if-none-match", '"x"') in passed
    assert ("range", "bytes=0-1") in passed


def test_forwarded_request_appends_replaces_or_drops_the_x_forwarded_fields() -> None:
    request = [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.1.1.1"), ("x-forwarded-proto", "https")]

    def sent(mode: str) -> list[tuple[str, str]]:
        fields = forwarded_request(
            request, client="10.0.0.1", scheme="http", via="1.1 p", for_cache=True, forwarded=mode
        )
        return [(name, value) for name, value in fields if name.startswith("x-forwarded")]

    assert sent("append") == [("x-forwarded-for", "203.0.113.9, 10.1.1.1, 10.0.0.1"), ("x-forwarded-proto", "http")]
    assert sent("replace") == [("x-forwarded-for", "10.0.0.1"), ("x-forwarded-proto", "http")]
    assert sent("off") == []


@pytest.mark.parametrize(
    ("via", "forwarded", "wrong"),
    [
        ("edge 1", "append", "via"),
        ("edge,1", "append", "via"),
        ("host:port", "append", "via"),
        ("", "append", "via"),
        ("edge-1", "drop", "forwarded"),
    ],
)
def test_check_forwarding_refuses_a_via_that_is_no_name_and_an_unknown_mode(
    via: str, forwarded: str, wrong: str
) -> None:
    with pytest.raises(ValueError, match=f"^{wrong} must be"):
        check_forwarding(via, forwarded)


@pytest.mark.parametrize("via", ["daramjwee", "edge-1", "cache.example.com", "cache.example.com:8080", "10.0.0.1:80"])
def test_check_forwarding_accepts_a_pseudonym_or_a_host_and_port(via: str) -> None:
    check_forwarding(via, "append")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-99", [(0, 99)]),
        ("bytes=0-99, 200-, -50", [(0, 99), (200, None), (None, 50)]),
        ("BYTES = 5-", [(5, None)]),
        ("bytes=5-4", None),
        ("bytes=-", None),
        ("bytes=a-1", None),
        ("items=0-1", None),
        ("bytes=" + ",".join(["0-0"] * 17), None),
        ("", None),
    ],
)
def test_range_parsing(value: str, expected: list[tuple[int | None, int | None]] | None) -> None:
    assert parse_range(value) == expected


def test_if_range_needs_a_strong_etag_or_the_exact_date() -> None:
    stored = [("etag", '"v1"'), ("last-modified", "Wed, 18 Nov 2026 10:00:00 GMT")]
    assert if_range_matches('"v1"', stored)
    assert not if_range_matches('W/"v1"', stored)
    assert not if_range_matches('"v2"', stored)
    assert if_range_matches("Wed, 18 Nov 2026 10:00:00 GMT", stored)
    assert not if_range_matches("Wed, 18 Nov 2026 10:00:01 GMT", stored)
    assert not if_range_matches('"v1"', [("etag", 'W/"v1"')])


@pytest.mark.parametrize(
    ("stored", "head", "matches"),
    [
        ([("etag", '"a"'), ("content-length", "4")], [("etag", '"a"'), ("content-length", "4")], True),
        ([("etag", '"a"')], [("etag", '"b"')], False),
        ([("etag", '"a"')], [], False),  # the stored one has a validator the answer lacks
        ([], [("etag", '"a"')], False),
        ([("etag", '"a"'), ("content-length", "4")], [("etag", '"a"'), ("content-length", "5")], False),
        (
            [("last-modified", "Tue, 01 Dec 2026 00:00:00 GMT")],
            [("last-modified", "Tue, 01 Dec 2026 00:00:00 GMT")],
            True,
        ),
        (
            [("last-modified", "Tue, 01 Dec 2026 00:00:00 GMT")],
            [("last-modified", "Wed, 02 Dec 2026 00:00:00 GMT")],
            False,
        ),
        ([], [], True),  # neither carries a validator: the one stored response is the one described
    ],
)
def test_a_head_answer_matches_the_stored_response_by_its_validators_and_length(
    stored: list[tuple[str, str]], head: list[tuple[str, str]], matches: bool
) -> None:
    assert head_matches(stored, head) is matches
