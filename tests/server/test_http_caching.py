"""``daramjwee serve`` as a shared HTTP cache (RFC 9111), one rule per test, with real clients.

A real ``daramjwee serve`` process in front of a real HTTP origin
(``_origin_http``), whose answers each test sets; the clients are httpx and
curl.  Each test states the rule it checks and fails when the rule breaks:
what is stored, for how long, what is forwarded, what comes back.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import pytest

from daramjwee import AsyncCache, AsyncMemStore, ConfigError
from daramjwee.server import CacheApp, load_settings, open_origin

from ._origin_http import Answer, OriginHTTPServer
from ._proxy import Proxy

FRESH = ("Cache-Control", "max-age=3600")


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginHTTPServer]:
    server = OriginHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(origin: OriginHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    server = Proxy(origin.url, tmp_path_factory.mktemp("cache"))
    yield server
    server.stop()


_counter = iter(range(1_000_000))


def path(name: str) -> str:
    """A path no other test uses (the proxy and the origin are shared by the module)."""
    return f"/{name}-{next(_counter)}"


def get(proxy: Proxy, target: str, **headers: str) -> httpx.Response:
    return httpx.get(proxy.url + target, headers=headers, timeout=10)


def test_private_responses_are_never_served_to_another_client(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("private")
    origin.answers[target] = (200, [("Cache-Control", "private, max-age=3600")], b"alice's page")
    first, second = get(proxy, target), get(proxy, target)
    assert (first.content, second.content) == (b"alice's page", b"alice's page")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "MISS")
    assert origin.hits(target) == 2


def test_set_cookie_responses_are_not_stored_and_each_client_gets_its_own_cookie(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("cookie")
    tokens = iter(range(100))

    def answer(headers: Message) -> Answer:
        token = next(tokens)
        return 200, [FRESH, ("Set-Cookie", f"session={token}")], f"token {token}".encode()

    origin.answers[target] = answer
    first, second = get(proxy, target), get(proxy, target)
    assert (first.cookies["session"], first.content) == ("0", b"token 0")
    assert (second.cookies["session"], second.content) == ("1", b"token 1"), "never another client's token"
    assert origin.hits(target) == 2


def test_with_store_set_cookie_the_body_is_shared_but_never_the_cookie(
    origin: OriginHTTPServer, tmp_path: Path
) -> None:
    target = path("shared-cookie")
    origin.answers[target] = (200, [FRESH, ("Set-Cookie", "session=secret")], b"public body")
    proxy = Proxy(origin.url, tmp_path / "cache", "--store-set-cookie")
    try:
        first, second = get(proxy, target), get(proxy, target)
    finally:
        proxy.stop()
    assert first.headers.get("set-cookie") == "session=secret", "the client that caused the fetch gets its cookie"
    assert (second.headers["x-cache"], second.content) == ("HIT tier=0", b"public body")
    assert "set-cookie" not in second.headers
    assert origin.hits(target) == 1


@pytest.mark.parametrize("directive", ["no-store", "no-store, max-age=3600", "NO-STORE"])
def test_no_store_responses_are_never_stored(proxy: Proxy, origin: OriginHTTPServer, directive: str) -> None:
    target = path("no-store")
    origin.answers[target] = (200, [("Cache-Control", directive)], b"secret")
    labels = [get(proxy, target).headers["x-cache"] for _ in range(2)]
    assert labels == ["MISS", "MISS"]
    assert origin.hits(target) == 2


def test_a_request_with_no_store_is_passed_through_and_stores_nothing(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("request-no-store")
    origin.answers[target] = (200, [FRESH], b"v")
    assert get(proxy, target, **{"Cache-Control": "no-store"}).headers["x-cache"] == "PASS"
    assert get(proxy, target).headers["x-cache"] == "MISS"


def test_authorization_requests_are_stored_only_when_the_response_allows_sharing(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    plain, public = path("auth"), path("auth-public")
    origin.answers[plain] = (200, [FRESH], b"for alice")
    origin.answers[public] = (200, [("Cache-Control", "public, max-age=3600")], b"for everyone")
    for target in (plain, public):
        get(proxy, target, Authorization="Bearer alice")
    assert get(proxy, plain, Authorization="Bearer bob").headers["x-cache"] == "MISS"
    assert get(proxy, public).headers["x-cache"] == "HIT tier=0"
    assert origin.headers_seen[-1].get("Authorization") == "Bearer bob", "Authorization reaches the origin"


def test_vary_keeps_one_variant_per_nominated_request_header(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("vary")

    def answer(headers: Message) -> Answer:
        language = headers.get("Accept-Language", "none")
        return 200, [FRESH, ("Vary", "Accept-Language")], f"hello in {language}".encode()

    origin.answers[target] = answer
    bodies = [get(proxy, target, **{"Accept-Language": language}).content for language in ("en", "fr", "en", "fr")]
    assert bodies == [b"hello in en", b"hello in fr", b"hello in en", b"hello in fr"]
    assert origin.hits(target) == 2, "each variant fetched once"
    assert get(proxy, target).content == b"hello in none"
    assert origin.hits(target) == 3


def test_vary_star_is_never_served_from_the_cache(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("vary-star")
    origin.answers[target] = (200, [FRESH, ("Vary", "*")], b"v")
    labels = [get(proxy, target).headers["x-cache"] for _ in range(2)]
    assert labels == ["MISS", "MISS"]


def test_age_counts_the_origins_age_and_the_time_in_the_cache(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("age")
    origin.answers[target] = (200, [FRESH, ("Age", "100")], b"v")
    assert int(get(proxy, target).headers["age"]) >= 100
    time.sleep(1.1)
    hit = get(proxy, target)
    assert hit.headers["x-cache"] == "HIT tier=0"
    assert 101 <= int(hit.headers["age"]) <= 110


def test_an_entry_whose_age_exceeds_its_max_age_is_revalidated(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("old-on-arrival")
    origin.answers[target] = (200, [("Cache-Control", "max-age=60"), ("Age", "120"), ("ETag", '"a"')], b"v")
    get(proxy, target)
    again = get(proxy, target)
    assert again.headers["x-cache"] != "HIT tier=0"
    assert origin.headers_seen[-1].get("If-None-Match") == '"a"'


def test_a_304_refreshes_the_entry_and_updates_its_stored_headers(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("update304")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1"), ("ETag", '"v1"'), ("X-Version", "1")], b"body")
    get(proxy, target)
    time.sleep(1.2)

    def not_modified(headers: Message) -> Answer:
        assert headers.get("If-None-Match") == '"v1"'
        return 304, [("Cache-Control", "max-age=3600"), ("ETag", '"v1"'), ("X-Version", "2")], b""

    origin.answers[target] = not_modified
    revalidated = get(proxy, target)
    assert (revalidated.status_code, revalidated.content) == (200, b"body")
    assert revalidated.headers["x-version"] == "2"
    assert revalidated.headers["x-cache"].startswith("REVALIDATED")
    hit = get(proxy, target)
    assert (hit.headers["x-cache"], hit.headers["x-version"]) == ("HIT tier=0", "2"), "fresh for an hour now"
    assert origin.hits(target) == 2


def test_must_revalidate_is_not_served_stale_when_the_origin_fails(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("must-revalidate")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1, must-revalidate, stale-if-error=60")], b"v")
    get(proxy, target)
    time.sleep(1.2)
    origin.answers[target] = (503, [], b"down")
    assert get(proxy, target).status_code == 503


def test_stale_if_error_serves_the_stale_entry_when_the_origin_fails(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("stale-if-error")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1, stale-if-error=60")], b"still good")
    get(proxy, target)
    time.sleep(1.2)
    origin.answers[target] = (500, [], b"boom")
    answer = get(proxy, target)
    assert (answer.status_code, answer.content, answer.headers["x-cache"]) == (200, b"still good", "STALE tier=0")


def test_client_conditionals_are_answered_304_from_the_cache(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("conditional")
    stamp = "Tue, 24 Nov 2026 00:00:00 GMT"
    origin.answers[target] = (200, [FRESH, ("ETag", 'W/"x"'), ("Last-Modified", stamp)], b"body")
    get(proxy, target)
    by_etag = get(proxy, target, **{"If-None-Match": '"x"'})
    by_date = get(proxy, target, **{"If-Modified-Since": stamp})
    changed = get(proxy, target, **{"If-Modified-Since": "Mon, 23 Nov 2026 00:00:00 GMT"})
    assert (by_etag.status_code, by_etag.content, by_etag.headers["etag"]) == (304, b"", 'W/"x"')
    assert by_date.status_code == 304
    assert (changed.status_code, changed.content) == (200, b"body")
    assert origin.hits(target) == 1


def test_request_no_cache_revalidates_and_only_if_cached_never_reaches_the_origin(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("request-directives")
    origin.answers[target] = (200, [FRESH, ("ETag", '"e"')], b"v")
    assert get(proxy, path("never-fetched"), **{"Cache-Control": "only-if-cached"}).status_code == 504
    get(proxy, target)
    assert get(proxy, target, **{"Cache-Control": "no-cache"}).status_code == 200
    assert origin.headers_seen[-1].get("If-None-Match") == '"e"', "no-cache: validated with the origin"
    assert get(proxy, target, **{"Cache-Control": "only-if-cached"}).headers["x-cache"] == "HIT tier=0"
    assert origin.hits(target) == 2


@pytest.mark.parametrize(
    ("status", "fields", "cached"),
    [
        (201, [], False),
        (202, [], False),
        (302, [("Location", "/elsewhere")], False),
        (307, [("Location", "/elsewhere"), FRESH], True),
        (410, [FRESH], True),
        (500, [], False),
        (503, [("Retry-After", "5")], False),
    ],
)
def test_statuses_bodies_and_locations_pass_through(
    proxy: Proxy, origin: OriginHTTPServer, status: int, fields: list[tuple[str, str]], cached: bool
) -> None:
    target = path(f"status-{status}")
    origin.answers[target] = (status, fields, b"the origin's own body")
    first, second = (httpx.get(proxy.url + target, follow_redirects=False) for _ in range(2))
    assert (first.status_code, first.content) == (status, b"the origin's own body")
    for name, value in fields:
        if name != "Cache-Control":
            assert first.headers[name] == value
    assert second.status_code == status
    assert (second.headers["x-cache"] == "HIT tier=0") is cached
    assert origin.hits(target) == (1 if cached else 2)


def test_request_and_response_fields_are_forwarded_and_hop_by_hop_ones_are_not(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("fields")
    origin.answers[target] = (
        200,
        [
            FRESH,
            ("Link", "</a.css>; rel=preload"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("X-Custom", "1"),
        ],
        b"v",
    )
    command = ["curl", "-s", "-D", "-", "-o", "/dev/null", proxy.url + target]
    command += ["-H", "Accept-Language: ko", "-H", "Cookie: a=b", "-H", "Connection: X-Secret", "-H", "X-Secret: 1"]
    headers = subprocess.run(command, check=True, capture_output=True, text=True, timeout=10).stdout.lower()
    seen = origin.headers_seen[-1]
    assert (seen["Accept-Language"], seen["Cookie"]) == ("ko", "a=b")
    assert seen.get("X-Secret") is None, "a field the Connection header names is hop-by-hop"
    assert seen["Via"] == "1.1 daramjwee"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    for line in ("link: </a.css>; rel=preload", "content-security-policy: default-src 'self'", "x-custom: 1"):
        assert line in headers
    assert "cache-control: max-age=3600" in headers


def _forwarding_seen(proxy: Proxy, origin: OriginHTTPServer) -> dict[str, str | None]:
    """The Via and X-Forwarded-* fields the origin saw for a request that arrived with its own."""
    target = path("forwarded")
    origin.answers[target] = (200, [FRESH], b"v")
    sent = {"Via": "1.0 corporate", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    assert get(proxy, target, **sent).status_code == 200
    seen = origin.headers_seen[-1]
    return {name: seen.get(name) for name in sent}


def test_the_client_chain_of_x_forwarded_for_is_appended_to_by_default(proxy: Proxy, origin: OriginHTTPServer) -> None:
    assert _forwarding_seen(proxy, origin) == {
        "Via": "1.0 corporate, 1.1 daramjwee",
        "X-Forwarded-For": "203.0.113.9, 127.0.0.1",
        "X-Forwarded-Proto": "http",  # what this proxy saw, not what the client claimed
    }


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--via", "edge-1", "--forwarded", "replace"],
            {"Via": "1.0 corporate, 1.1 edge-1", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"},
        ),
        (
            ["--via", "cache.example.com:8080", "--forwarded", "off"],
            {"Via": "1.0 corporate, 1.1 cache.example.com:8080", "X-Forwarded-For": None, "X-Forwarded-Proto": None},
        ),
    ],
)
def test_via_names_the_proxy_and_forwarded_replaces_or_drops_the_client_chain(
    origin: OriginHTTPServer, tmp_path: Path, flags: list[str], expected: dict[str, str | None]
) -> None:
    proxy = Proxy(origin.url, tmp_path / "cache", *flags)
    try:
        assert _forwarding_seen(proxy, origin) == expected
    finally:
        assert proxy.stop() == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--via", "two words"], "via must be a name for the Via header (a token, or host[:port]), got 'two words'"),
        (["--via", ""], "via must be a name for the Via header (a token, or host[:port]), got ''"),
        (["--forwarded", "strip"], "forwarded must be one of append, replace, off, got 'strip'"),
    ],
)
def test_a_bad_via_or_forwarded_is_one_line_and_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", "http://127.0.0.1:1", *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stderr) == (2, f"daramjwee serve: {message}\n")


def test_forwarded_settings_are_checked_in_a_config_file_too(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('origin = "http://127.0.0.1:1"\nforwarded = "strip"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config, {})
    assert str(raised.value) == "forwarded must be one of append, replace, off, got 'strip'"
    config.write_text('origin = "http://127.0.0.1:1"\nvia = "edge-2"\nforwarded = "replace"\n')
    settings = load_settings(config, {})
    assert (settings.via, settings.forwarded) == ("edge-2", "replace")


def test_unsafe_methods_pass_through_with_their_body_and_invalidate_the_target(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target, other = path("resource"), path("named-by-location")
    origin.answers[target] = (200, [FRESH], b"v1")
    origin.answers[other] = (200, [FRESH], b"other")
    get(proxy, target)
    get(proxy, other)
    assert get(proxy, target).headers["x-cache"] == "HIT tier=0"
    body = b"x" * 200_000  # streamed, past the size read whole
    posted = httpx.post(proxy.url + target, content=body, timeout=10)
    assert (posted.status_code, posted.headers["x-cache"]) == (200, "PASS")
    assert origin.bodies[-1] == body
    assert get(proxy, target).headers["x-cache"] == "MISS", "a successful POST invalidates its target"
    origin.answers[target] = (201, [("Location", other)], b"")
    assert httpx.put(proxy.url + target, content=b"new", timeout=10).status_code == 201
    assert origin.bodies[-1] == b"new"
    assert get(proxy, other).headers["x-cache"] == "MISS", "and the URI its Location names"


def test_a_failed_unsafe_request_invalidates_nothing(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("kept")
    origin.answers[target] = (200, [FRESH], b"v")
    get(proxy, target)
    origin.answers[target] = (409, [], b"conflict")
    assert httpx.delete(proxy.url + target, timeout=10).status_code == 409
    origin.answers[target] = (200, [FRESH], b"v")
    assert get(proxy, target).headers["x-cache"] == "HIT tier=0"


def test_read_only_keeps_answering_405_to_other_methods(origin: OriginHTTPServer, tmp_path: Path) -> None:
    proxy = Proxy(origin.url, tmp_path / "cache", "--read-only")
    before = len(origin.requests)
    try:
        answer = httpx.post(proxy.url + "/anything", content=b"x", timeout=10)
    finally:
        proxy.stop()
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
    assert len(origin.requests) == before


def test_a_head_miss_fills_the_cache_and_sends_no_body(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("head")
    origin.answers[target] = (200, [FRESH], b"twelve bytes")
    head = httpx.head(proxy.url + target, timeout=10)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "12")
    assert get(proxy, target).headers["x-cache"] == "HIT tier=0"
    assert origin.requests[-1][0] == "GET", "the cache fetched the whole representation"


def test_a_head_of_a_stale_entry_asks_with_head_and_a_matching_200_freshens_it(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("head-freshens")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1"), ("ETag", '"h1"'), ("X-Version", "1")], b"body")
    get(proxy, target)
    time.sleep(1.2)
    origin.answers[target] = (200, [("Cache-Control", "max-age=3600"), ("ETag", '"h1"'), ("X-Version", "2")], b"body")
    head = httpx.head(proxy.url + target, timeout=10)
    assert (head.status_code, head.content, head.headers["x-version"]) == (200, b"", "2")
    assert origin.requests[-1] == ("HEAD", target), "RFC 9111 4.3.5: the HEAD goes through as a HEAD"
    hit = get(proxy, target)
    assert (hit.headers["x-cache"], hit.content, hit.headers["x-version"]) == ("HIT tier=0", b"body", "2")
    assert origin.hits(target) == 2, "the stored body was freshened, not fetched again"


@pytest.mark.parametrize("change", ["etag", "length"])
def test_a_head_answer_for_another_representation_leaves_the_stored_one_stale(
    proxy: Proxy, origin: OriginHTTPServer, change: str
) -> None:
    target = path("head-other")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1"), ("ETag", '"h1"')], b"body")
    get(proxy, target)
    time.sleep(1.2)
    etag, body = ('"h2"', b"body") if change == "etag" else ('"h1"', b"longer body")
    origin.answers[target] = (200, [("Cache-Control", "max-age=3600"), ("ETag", etag)], body)
    head = httpx.head(proxy.url + target, timeout=10)
    assert (head.status_code, head.headers["etag"], head.headers["content-length"]) == (200, etag, str(len(body)))
    after = get(proxy, target)
    assert (after.content, after.headers["etag"]) == (body, etag)
    assert after.headers["x-cache"] != "HIT tier=0", "the stale entry was not freshened by a HEAD it did not match"
    assert [method for method, seen in origin.requests if seen == target] == ["GET", "HEAD", "GET"]


BLOB = bytes(range(256)) * 40  # 10,240 bytes


def test_a_single_range_is_a_206_from_the_cache_and_a_miss_fills_the_whole_value(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("range")
    origin.answers[target] = (200, [FRESH, ("ETag", '"blob"')], BLOB)
    first = get(proxy, target, Range="bytes=100-199")
    assert (first.status_code, first.content) == (206, BLOB[100:200])
    assert first.headers["content-range"] == "bytes 100-199/10240"
    assert first.headers["content-length"] == "100"
    whole = get(proxy, target)
    assert (whole.status_code, whole.content, whole.headers["x-cache"]) == (200, BLOB, "HIT tier=0")
    assert whole.headers["accept-ranges"] == "bytes"
    suffix = get(proxy, target, Range="bytes=-40")
    assert (suffix.status_code, suffix.content, suffix.headers["content-range"]) == (
        206,
        BLOB[-40:],
        "bytes 10200-10239/10240",
    )
    assert get(proxy, target, Range="bytes=10000-").content == BLOB[10000:]
    assert origin.hits(target) == 1


def test_an_unsatisfiable_range_is_416_with_the_length(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("range-416")
    origin.answers[target] = (200, [FRESH], BLOB)
    answer = get(proxy, target, Range="bytes=20000-")
    assert (answer.status_code, answer.headers["content-range"]) == (416, "bytes */10240")
    assert get(proxy, target).headers["x-cache"] == "HIT tier=0", "the miss still filled the whole value"


def test_several_ranges_are_one_multipart_byteranges_answer(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("multipart")
    origin.answers[target] = (200, [FRESH, ("Content-Type", "application/x-blob")], BLOB)
    answer = get(proxy, target, Range="bytes=0-9, 5000-5009, -5")
    assert answer.status_code == 206
    kind, _, boundary = answer.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/byteranges"
    assert int(answer.headers["content-length"]) == len(answer.content)
    parts = answer.content.split(f"--{boundary}".encode())[1:-1]
    bodies = [part.split(b"\r\n\r\n", 1)[1][:-2] for part in parts]
    heads = [part.split(b"\r\n\r\n", 1)[0].decode() for part in parts]
    assert bodies == [BLOB[0:10], BLOB[5000:5010], BLOB[-5:]]
    assert "content-range: bytes 5000-5009/10240" in heads[1]
    assert all("content-type: application/x-blob" in head for head in heads)
    assert answer.content.endswith(f"--{boundary}--\r\n".encode())


def test_if_range_serves_the_range_only_while_it_names_the_stored_representation(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    target = path("if-range")
    origin.answers[target] = (200, [FRESH, ("ETag", '"v1"')], BLOB)
    get(proxy, target)
    current = get(proxy, target, Range="bytes=0-3", **{"If-Range": '"v1"'})
    changed = get(proxy, target, Range="bytes=0-3", **{"If-Range": '"v0"'})
    assert (current.status_code, current.content) == (206, BLOB[:4])
    assert (changed.status_code, changed.content) == (200, BLOB)


def test_a_range_of_a_stored_error_is_answered_whole(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("range-404")
    origin.answers[target] = (404, [FRESH], b"no such thing")
    get(proxy, target)
    answer = get(proxy, target, Range="bytes=0-1")
    assert (answer.status_code, answer.content) == (404, b"no such thing")


def test_request_max_stale_accepts_a_stale_response_without_the_origin(proxy: Proxy, origin: OriginHTTPServer) -> None:
    target = path("max-stale")
    origin.answers[target] = (200, [("Cache-Control", "max-age=1"), ("Age", "100"), ("ETag", '"m"')], b"old enough")
    get(proxy, target)  # stored already 99 s stale
    accepted = get(proxy, target, **{"Cache-Control": "max-stale=3600"})
    assert (accepted.status_code, accepted.content, accepted.headers["x-cache"]) == (200, b"old enough", "STALE tier=0")
    refused = get(proxy, target, **{"Cache-Control": "max-stale=10"})
    assert refused.headers["x-cache"] != "STALE tier=0", "10 s of staleness is not enough: revalidated first"
    assert any(seen.get("If-None-Match") == '"m"' for seen in origin.headers_seen), "the origin was asked"


def test_cache_app_refuses_a_bad_forwarded_mode_before_it_keeps_anything() -> None:
    origin = open_origin("http://127.0.0.1:1")
    cache = AsyncCache(stores=[AsyncMemStore("1MiB")])
    try:
        with pytest.raises(ValueError) as raised:
            CacheApp(cache, origin, forwarded="x")
        assert str(raised.value) == "forwarded must be one of append, replace, off, got 'x'"
    finally:
        asyncio.run(origin.aclose())
