"""``daramjwee serve`` as a subprocess on a free loopback port, in front of a real HTTP origin and a directory.

Clients are real: httpx, curl, and raw sockets for requests httpx would
refuse to send.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from obstore.store import S3Store

import daramjwee as dj
from _servers import MotoServer, RedisServer
from daramjwee.server import ServeSettings, load_settings
from daramjwee.server._serve import listening_line

from ._origin_http import OriginHTTPServer
from ._proxy import Proxy

SMALL = bytes(range(256)) * 80  # 20 KiB
BIG = os.urandom(16 * 1024 * 1024)


@pytest.fixture
def origin() -> Iterator[OriginHTTPServer]:
    server = OriginHTTPServer().start()
    server.files.update({"small.bin": SMALL, "big.bin": BIG, **{f"f{index}.bin": SMALL for index in range(8)}})
    yield server
    server.stop()


@pytest.fixture
def proxy(origin: OriginHTTPServer, tmp_path: Path) -> Iterator[Proxy]:
    server = Proxy(origin.url, tmp_path / "cache", "--memory", "64KiB", "--fresh-for", "3600")
    yield server
    server.stop()


def test_miss_then_memory_hit_with_metadata_headers(proxy: Proxy, origin: OriginHTTPServer) -> None:
    first = httpx.get(f"{proxy.url}/files/small.bin")
    assert (first.status_code, first.headers["x-cache"], first.content) == (200, "MISS", SMALL)
    second = httpx.get(f"{proxy.url}/files/small.bin")
    assert (second.status_code, second.headers["x-cache"], second.content) == (200, "HIT tier=0", SMALL)
    for response in (first, second):
        assert response.headers["etag"].startswith('"')
        assert response.headers["content-type"] == "application/x-test"
        assert response.headers["content-length"] == str(len(SMALL))
        assert response.headers["last-modified"] == "Tue, 24 Nov 2026 00:00:00 GMT"
    assert origin.hits("/files/small.bin") == 1


def test_a_lower_tier_hit_is_promoted_to_memory(proxy: Proxy, origin: OriginHTTPServer) -> None:
    assert httpx.get(f"{proxy.url}/files/f0.bin").headers["x-cache"] == "MISS"
    _wait_for_fanouts(proxy, 1)
    for index in range(1, 8):  # 7 x 20 KiB through a 64 KiB memory tier: f0 is evicted from it
        httpx.get(f"{proxy.url}/files/f{index}.bin")
    _wait_for_fanouts(proxy, 8)
    assert httpx.get(f"{proxy.url}/files/f0.bin").headers["x-cache"] == "HIT tier=1"
    again = httpx.get(f"{proxy.url}/files/f0.bin")
    assert (again.headers["x-cache"], again.content) == ("HIT tier=0", SMALL)
    assert origin.hits("/files/f0.bin") == 1


def _wait_for_fanouts(proxy: Proxy, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if f"daramjwee_fanouts_total {count}" in httpx.get(f"{proxy.url}/metrics").text:
            return
        time.sleep(0.02)
    raise AssertionError(f"fan-outs did not reach {count}")


def test_if_none_match_answers_304(proxy: Proxy) -> None:
    etag = httpx.get(f"{proxy.url}/files/small.bin").headers["etag"]
    response = httpx.get(f"{proxy.url}/files/small.bin", headers={"If-None-Match": etag})
    assert (response.status_code, response.content, response.headers["etag"]) == (304, b"", etag)
    assert httpx.get(f"{proxy.url}/files/small.bin", headers={"If-None-Match": '"other"'}).status_code == 200


def test_an_origin_404_is_stored_like_any_heuristically_cacheable_response(
    proxy: Proxy, origin: OriginHTTPServer
) -> None:
    first = httpx.get(f"{proxy.url}/files/missing.bin")
    second = httpx.get(f"{proxy.url}/files/missing.bin")
    assert (first.status_code, first.headers["x-cache"], first.content) == (404, "MISS", b"no such file")
    assert (second.status_code, second.headers["x-cache"], second.content) == (404, "HIT tier=0", b"no such file")
    assert origin.hits("/files/missing.bin") == 1


def test_an_origin_500_is_passed_through_and_never_cached(proxy: Proxy, origin: OriginHTTPServer) -> None:
    answers = [httpx.get(f"{proxy.url}/error") for _ in range(2)]
    assert [(answer.status_code, answer.content) for answer in answers] == [(500, b"boom")] * 2
    assert origin.hits("/error") == 2


def test_an_origin_timeout_is_a_504(proxy: Proxy) -> None:
    started = time.monotonic()
    assert httpx.get(f"{proxy.url}/hang", timeout=10).status_code == 504
    assert time.monotonic() - started < 5


def test_curl_sees_the_same_headers(proxy: Proxy) -> None:
    output = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", f"{proxy.url}/files/small.bin"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.lower()  # fmt: skip
    assert output.startswith("http/1.1 200")
    assert "x-cache: miss" in output
    assert f"content-length: {len(SMALL)}" in output
    head = subprocess.run(
        ["curl", "-sS", "-I", f"{proxy.url}/files/small.bin"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.lower()
    assert "x-cache: hit tier=0" in head


async def test_twenty_concurrent_cold_requests_make_one_origin_request(proxy: Proxy, origin: OriginHTTPServer) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*(client.get(f"{proxy.url}/slow/small.bin") for _ in range(20)))
    assert all(response.content == SMALL for response in responses)
    assert origin.hits("/slow/small.bin") == 1


def test_a_client_leaving_mid_body_publishes_nothing(proxy: Proxy, origin: OriginHTTPServer) -> None:
    with httpx.stream("GET", f"{proxy.url}/drip/big.bin") as response:
        assert response.headers["x-cache"] == "MISS"
        received = 0
        for chunk in response.iter_raw(4096):
            received += len(chunk)
            if received >= 4096:
                break
    time.sleep(0.5)
    again = httpx.get(f"{proxy.url}/drip/big.bin", timeout=60)
    assert (again.headers["x-cache"], len(again.content)) == ("MISS", len(BIG)), "no tier kept a partial value"
    assert again.content == BIG
    third = httpx.get(f"{proxy.url}/drip/big.bin", timeout=60)
    assert third.headers["x-cache"].startswith("HIT")
    assert third.content == BIG
    assert origin.hits("/drip/big.bin") == 2


@pytest.mark.parametrize(
    ("request_line", "host"),
    [
        (b"GET /../../etc/passwd HTTP/1.1", b"127.0.0.1"),
        (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1", b"127.0.0.1"),
        (b"GET /files/..%2f..%2fetc/passwd HTTP/1.1", b"127.0.0.1"),
        (b"GET /files/small.bin HTTP/1.1", b"evil.example"),
        (b"GET /" + b"a" * 100_000 + b" HTTP/1.1", b"127.0.0.1"),
    ],
)
def test_hostile_requests_get_a_4xx_and_never_reach_anything_else(
    proxy: Proxy, origin: OriginHTTPServer, request_line: bytes, host: bytes
) -> None:
    answer = proxy.raw(request_line + b"\r\nHost: " + host + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    assert origin.requests == [], "the origin saw none of them"


def test_an_absolute_form_target_names_no_other_server(proxy: Proxy, origin: OriginHTTPServer) -> None:
    """granian hands the app only the path of ``GET http://host/path``: it is served from the configured origin."""
    request = b"GET http://127.0.0.1:1/files/small.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = proxy.raw(request)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert origin.requests == [("GET", "/files/small.bin")]


def test_sigterm_lets_an_in_flight_response_finish(origin: OriginHTTPServer, tmp_path: Path) -> None:
    proxy = Proxy(origin.url, tmp_path / "cache")
    origin.drip_pause = 0.01  # 256 chunks: about 3 s
    with httpx.stream("GET", f"{proxy.url}/drip/big.bin", timeout=60) as response:
        proxy.process.send_signal(signal.SIGTERM)
        body = response.read()
    assert body == BIG
    assert proxy.stop() == 0


def test_a_directory_origin(tmp_path: Path) -> None:
    root = tmp_path / "www"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(b"hello")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    proxy = Proxy(str(root), tmp_path / "cache")
    try:
        first = httpx.get(f"{proxy.url}/docs/a.txt")
        assert (first.status_code, first.content, first.headers["x-cache"]) == (200, b"hello", "MISS")
        assert first.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"{proxy.url}/docs/a.txt").headers["x-cache"] == "HIT tier=0"
        assert httpx.get(f"{proxy.url}/docs/missing.txt").status_code == 404
        assert httpx.get(f"{proxy.url}/docs").status_code == 404
        answer = proxy.raw(b"GET /../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400")
    finally:
        assert proxy.stop() == 0


def test_metrics_and_health(proxy: Proxy) -> None:
    httpx.get(f"{proxy.url}/files/small.bin")
    httpx.get(f"{proxy.url}/files/small.bin")
    assert httpx.get(f"{proxy.url}/healthz").text == "ok\n"
    metrics = httpx.get(f"{proxy.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'daramjwee_requests_total{method="GET",status="200",outcome="miss"} 1' in text
    assert 'daramjwee_requests_total{method="GET",status="200",outcome="hit"} 1' in text
    assert "daramjwee_request_duration_seconds_bucket" in text
    assert "daramjwee_origin_fetches_total 1" in text


def test_bad_settings_exit_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('origin = "http://127.0.0.1:1"\nmemroy = "1GiB"\n')
    result = subprocess.run(
        [sys.executable, "-m", "daramjwee", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown setting 'memroy'" in result.stderr


def test_the_configuration_example_in_the_docs_is_valid_settings(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    example = docs.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "serve.toml"
    config.write_text(example)
    settings = load_settings(config, {})
    assert (settings.origin, settings.via, settings.forwarded) == (
        "https://artifacts.internal",
        "cache-eu-1",
        "replace",
    )


def test_a_miss_streams_its_first_bytes_before_the_origin_has_finished(proxy: Proxy, origin: OriginHTTPServer) -> None:
    origin.drip_pause = 0.004  # 256 chunks of 64 KiB: the origin takes about a second
    started = time.monotonic()
    with httpx.stream("GET", f"{proxy.url}/drip/big.bin", timeout=60) as response:
        chunks = response.iter_raw(65536)
        first = next(chunks)
        first_byte = time.monotonic() - started
        rest = b"".join(chunks)
    total = time.monotonic() - started
    assert first + rest == BIG
    assert response.headers["x-cache"] == "MISS"
    assert first_byte < total / 4, f"first byte after {first_byte:.3f} s of {total:.3f} s"


def test_a_stale_entry_is_served_and_revalidated_in_the_background(origin: OriginHTTPServer, tmp_path: Path) -> None:
    origin.answers["/swr"] = (200, [("Cache-Control", "max-age=0, stale-while-revalidate=60"), ("ETag", '"s"')], SMALL)
    proxy = Proxy(origin.url, tmp_path / "cache")
    try:
        assert httpx.get(f"{proxy.url}/swr").headers["x-cache"] == "MISS"
        stale = httpx.get(f"{proxy.url}/swr")
        assert (stale.headers["x-cache"], stale.content) == ("STALE tier=0", SMALL)
        deadline = time.monotonic() + 10
        while origin.hits("/swr") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert origin.hits("/swr") == 2, "one background revalidation"
    finally:
        proxy.stop()


def test_the_query_is_part_of_the_key_unless_told_to_ignore_it(origin: OriginHTTPServer, tmp_path: Path) -> None:
    proxy = Proxy(origin.url, tmp_path / "cache")
    try:
        labels = [
            httpx.get(f"{proxy.url}/files/small.bin?{query}").headers["x-cache"]
            for query in ("b=2&a=1", "a=1&b=2", "c=3")
        ]
        assert labels == ["MISS", "HIT tier=0", "MISS"], "parameter order does not matter, values do"
        assert origin.hits("/files/small.bin?a=1&b=2") == 1
        assert origin.hits("/files/small.bin?c=3") == 1
    finally:
        proxy.stop()
    plain = Proxy(origin.url, tmp_path / "cache-plain", "--ignore-query")
    try:
        labels = [httpx.get(f"{plain.url}/files/small.bin?{query}").headers["x-cache"] for query in ("x=1", "y=2")]
        assert labels == ["MISS", "HIT tier=0"]
    finally:
        plain.stop()


def test_two_proxies_share_their_redis_and_s3_tiers(
    origin: OriginHTTPServer, tmp_path: Path, redis_server: RedisServer, s3_server: MotoServer
) -> None:
    name = f"shared-{uuid.uuid4().hex}.bin"
    origin.files[name] = SMALL
    bucket = s3_server.bucket()
    env = {  # obstore reads the S3 endpoint and credentials from the environment
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": s3_server.region,
        "AWS_ALLOW_HTTP": "true",
    }
    shared = ("--redis", redis_server.url, "--s3", f"s3://{bucket}/cache")
    first = Proxy(origin.url, tmp_path / "cache-a", *shared, env=env)
    second = Proxy(origin.url, tmp_path / "cache-b", *shared, env=env)
    try:
        assert httpx.get(f"{first.url}/files/{name}").headers["x-cache"] == "MISS"
        _wait_for_fanouts(first, 1)
        labels = [httpx.get(f"{second.url}/files/{name}").headers["x-cache"] for _ in range(2)]
        assert labels == ["HIT tier=2", "HIT tier=0"], "from the shared Redis tier, then promoted"
        assert origin.hits(f"/files/{name}") == 1
        assert "daramjwee_tier_hits_total" in httpx.get(f"{second.url}/metrics").text
        objects = dj.ObjectStore(S3Store(bucket, **s3_server.store_options()), "cache")  # type: ignore[arg-type]
        assert objects.stat(f"/files/{name}").etag, "the fan-out reached the S3 tier too"
    finally:
        first.stop()
        second.stop()


def test_coordinated_proxies_fetch_a_key_once_and_see_each_others_purges(
    origin: OriginHTTPServer, tmp_path: Path, redis_server: RedisServer
) -> None:
    name = f"fleet-{uuid.uuid4().hex}.bin"
    origin.files[name] = SMALL
    origin.slow_seconds = 0.3
    proxies = [
        Proxy(origin.url, tmp_path / f"cache-{index}", "--redis", redis_server.url, "--coordinate")
        for index in range(3)
    ]
    try:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda proxy: httpx.get(f"{proxy.url}/slow/{name}", timeout=10), proxies * 4))
        assert [(answer.status_code, answer.content) for answer in answers] == [(200, SMALL)] * 12
        assert origin.requests.count(("GET", f"/slow/{name}")) == 1, "one origin fetch for three proxies"
        deadline = time.monotonic() + 5
        while httpx.get(f"{proxies[2].url}/slow/{name}").headers["x-cache"] != "HIT tier=0":
            assert time.monotonic() < deadline, "the third proxy never held the value in memory"
            time.sleep(0.02)
        assert httpx.delete(f"{proxies[0].url}/slow/{name}").status_code == 204  # passed through; purges
        deadline = time.monotonic() + 5
        while (label := httpx.get(f"{proxies[2].url}/slow/{name}").headers["x-cache"]) != "MISS":
            assert time.monotonic() < deadline, f"the purge never reached the third proxy ({label})"
            time.sleep(0.02)
        assert origin.requests.count(("GET", f"/slow/{name}")) == 2, "refetched once after the purge"
    finally:
        for proxy in proxies:
            proxy.stop()


def test_coordinate_without_redis_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daramjwee", "serve", "--origin", str(tmp_path), "--coordinate"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "coordinate needs a redis URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_says_where_it_listens_and_port_0_is_one_real_port_for_every_worker(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a.txt").write_bytes(b"hello")
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", str(tmp_path / "www"), "--port", "0"]
    command += ["--cache-dir", str(tmp_path / "cache"), "--workers", "2", "--memory", "1MiB", "--graceful-timeout", "5"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.fullmatch(
            r"daramjwee serve: listening on http://127\.0\.0\.1:(\d+) \(2 workers\), origin directory (\S+), "
            r"tiers: memory 1MiB, file 10GiB in (\S+)\n",
            line,
        )
        assert match, line
        port = int(match[1])
        assert port != 0
        assert (match[2], match[3]) == (str(tmp_path / "www"), str(tmp_path / "cache"))
        deadline = time.monotonic() + 30
        while True:  # the line comes as granian starts its workers: they answer a moment later
            try:
                answers = [httpx.get(f"http://127.0.0.1:{port}/a.txt", timeout=5) for _ in range(20)]
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "nothing listens on the port the line names"
                time.sleep(0.05)
        assert {(answer.status_code, answer.content) for answer in answers} == {(200, b"hello")}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_the_listening_line_names_the_tiers_and_never_a_password() -> None:
    settings = ServeSettings(
        origin="https://artifacts.internal",
        host="::1",
        port=8080,
        memory=1 << 20,
        cache_dir="/var/cache/daramjwee",
        redis="redis://user:secret@cache.internal:6379/0",
        coordinate=True,
        s3="s3://bucket/cache",
    ).validated()
    assert listening_line(settings, "https://artifacts.internal") == (
        "daramjwee serve: listening on http://[::1]:8080 (1 worker), origin https://artifacts.internal, "
        "tiers: memory 1048576 bytes, file 10GiB in /var/cache/daramjwee, "
        "redis redis://cache.internal:6379/0 (coordinated), object s3://bucket/cache"
    )
