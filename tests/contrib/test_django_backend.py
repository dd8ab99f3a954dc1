"""DaramjweeCache beyond Django's own suite (test_django_suite.py): configuration, restarts, signing, concurrency."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import daramjwee as dj
from daramjwee.contrib.django import DaramjweeCache, close_chains

SECRET = "test-secret-" + "s" * 50
SRC = str(Path(__file__).parent.parent.parent / "src")

if not settings.configured:
    settings.configure(SECRET_KEY=SECRET)


@pytest.fixture(autouse=True)
def _fresh_chains() -> Iterator[None]:
    """Every test builds its own chains: a memory tier starts empty."""
    close_chains()
    yield
    close_chains()


def backend(location: object = "", **params: Any) -> DaramjweeCache:
    return DaramjweeCache(location, params)


class Marker:
    """Unpickling it creates ``path``: proof that bytes were unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.path).touch, ())


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "params", "message"),
    [
        ("", {"OPTIONS": {"memroy": "1MiB"}}, "unknown DaramjweeCache OPTIONS 'memroy'; valid ones are memory, disk"),
        ("", {"OPTIONS": {"MAX_ENTRIES": 30}}, "does not cull by entry count (MAX_ENTRIES)"),
        ("", {"OPTIONS": {"CULL_FREQUENCY": 0}}, "set OPTIONS 'memory'"),
        ("", {"OPTIONS": {"memory": "lots"}}, "OPTIONS 'memory' must be a size like '512KiB'"),
        ("", {"OPTIONS": {"memory": 0}}, "OPTIONS 'memory' must be positive"),
        ("", {"OPTIONS": {"disk": "1GiB"}}, "there is no file tier: set LOCATION"),
        ("", {"OPTIONS": {"redis": "localhost:6379"}}, "OPTIONS 'redis' must be a URL starting with redis://"),
        ("", {"OPTIONS": {"redis_prefix": "p:"}}, "'redis_prefix' needs OPTIONS 'redis'"),
        ("", {"OPTIONS": {"memory": None}}, "has no tier"),
        ("", {"OPTIONS": ["memory"]}, "OPTIONS must be a dict, got list"),
        ("redis://127.0.0.1:6379/0", {}, "a Redis tier's URL goes in OPTIONS 'redis'"),
        (["/tmp/a", "/tmp/b"], {}, "LOCATION is the file tier's directory (a str or path"),
        ("", {"TIMEOUT": "300s"}, "TIMEOUT must be seconds (a number) or None, got '300s'"),
    ],
)
def test_bad_configuration_is_refused_naming_it(location: object, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        backend(location, **params)
    assert message in str(raised.value)


def test_a_bad_option_touches_no_directory(tmp_path: Path) -> None:
    directory = tmp_path / "never"
    with pytest.raises(ImproperlyConfigured, match="OPTIONS 'disk' must be a size"):
        backend(str(directory), OPTIONS={"disk": "1 GB please"})
    assert not directory.exists()


def test_an_empty_secret_key_is_refused() -> None:
    with override_settings(SECRET_KEY=""), pytest.raises(ImproperlyConfigured, match="derived from SECRET_KEY"):
        backend()


def test_backends_of_one_configuration_share_a_chain_and_others_do_not(tmp_path: Path) -> None:
    first, second = backend(OPTIONS={"memory": "1MiB"}), backend(OPTIONS={"memory": "1MiB"})
    other = backend(OPTIONS={"memory": "2MiB"})
    first.set("shared", 1)
    assert second.get("shared") == 1
    assert other.get("shared") is None
    first.close()  # Django calls it after every request: the chain stays
    assert first.get("shared") == 1


def test_a_value_larger_than_the_memory_tier_is_not_stored_and_its_old_value_is_gone() -> None:
    cache = backend(OPTIONS={"memory": "64KiB"})
    cache.set_many({"big": b"old", "small": 1})
    assert cache.set_many({"big": b"x" * 100_000, "small": 2}) == ["big"]
    assert cache.get_many(["big", "small"]) == {"small": 2}
    cache.set("big", b"x" * 100_000)
    assert cache.get("big") is None


def test_default_timeout_is_the_configured_timeout_and_zero_or_less_deletes() -> None:
    cache = backend(TIMEOUT=1)
    cache.set("short", "value")
    cache.set("forever", "value", None)
    for timeout in (0, -5):
        cache.set("gone", "old")
        cache.set("gone", "new", timeout)
        assert cache.get("gone", "missing") == "missing"
    time.sleep(1.2)
    assert cache.get("short") is None
    assert cache.get("forever") == "value"
    with pytest.raises(TypeError, match="timeout must be seconds"):
        cache.set("short", "value", "10")


# -- restarts -------------------------------------------------------------------------


def run_child(code: str, directory: Path) -> str:
    """Run ``code`` in a new interpreter with Django configured for a memory+file chain in ``directory``."""
    prelude = f"""
        import django, sys, time
        from django.conf import settings
        settings.configure(SECRET_KEY={SECRET!r}, CACHES={{"default": {{
            "BACKEND": "daramjwee.contrib.django.DaramjweeCache", "LOCATION": {str(directory)!r},
            "OPTIONS": {{"memory": "1MiB", "disk": "16MiB"}}}}}})
        django.setup()
        from django.core.cache import cache
    """
    env = {**os.environ, "PYTHONPATH": SRC}
    script = textwrap.dedent(prelude) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_file_tier_survives_a_process_restart_and_keeps_expiry_times(tmp_path: Path) -> None:
    # The first process exits right after its writes: the copies to the file tier are drained at exit.
    written = run_child(
        'cache.set("kept", {"n": 1}, None); cache.set("brief", "soon gone", 3); cache.set("n", 41); print(time.time())',
        tmp_path,
    )
    out = run_child(
        'print(cache.get("kept"), cache.get("brief"), cache.incr("n"))\n'
        f'time.sleep(max(0, {float(written)} + 3.1 - time.time())); print(cache.get("brief"))',
        tmp_path,
    )
    assert out.split("\n") == ["{'n': 1} soon gone 42", "None", ""]


def test_a_value_promoted_from_the_file_tier_keeps_its_expiry_time(tmp_path: Path) -> None:
    backend(str(tmp_path), OPTIONS={"memory": "1MiB"}).set("brief", "soon gone", 1)
    close_chains()  # a new process: the memory tier is empty
    cache = backend(str(tmp_path), OPTIONS={"memory": "1MiB"})
    assert cache.get("brief") == "soon gone"  # read from the file tier, copied into memory
    assert cache.get("brief") == "soon gone"
    time.sleep(1.1)
    assert cache.get("brief") is None
    assert cache.touch("brief") is False


# -- signing ----------------------------------------------------------------------------


def file_only(directory: Path) -> DaramjweeCache:
    return backend(str(directory), OPTIONS={"memory": None})


def test_unsigned_bytes_in_the_file_tier_read_as_a_miss_and_are_never_unpickled(tmp_path: Path) -> None:
    cache = file_only(tmp_path / "tier")
    key = cache.make_key("planted")
    marker = tmp_path / "unpickled"
    with dj.Cache(stores=[dj.FileStore(tmp_path / "tier")]) as intruder:
        intruder.set_bytes(key, pickle.dumps(Marker(str(marker))))
    assert cache.get("planted", "miss") == "miss"
    assert cache.has_key("planted") is False
    with pytest.raises(ValueError, match="not found"):
        cache.incr("planted")
    assert cache.add("planted", "mine") is True  # a miss: replaced by the next write
    assert cache.get("planted") == "mine"
    assert not marker.exists()


def test_an_altered_or_foreign_signature_reads_as_a_miss(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    with override_settings(SECRET_KEY="another-" + "k" * 50):
        file_only(tmp_path / "tier").set("foreign", Marker(str(marker)))
        assert not marker.exists()  # pickling runs nothing: only unpickling would create it
    close_chains()
    cache = file_only(tmp_path / "tier")
    assert cache.get("foreign") is None
    cache.set("altered", "value")
    close_chains()
    key = file_only(tmp_path / "tier").make_key("altered")
    with dj.Cache(stores=[dj.FileStore(tmp_path / "tier")]) as intruder:
        signed = intruder.get_bytes(key, lambda old: dj.FetchResult(b""))
        intruder.set_bytes(key, signed[:-1] + bytes([signed[-1] ^ 1]))
    assert file_only(tmp_path / "tier").get("altered") is None
    assert not marker.exists()


def test_values_signed_before_a_secret_key_rotation_stay_readable_with_the_fallback(tmp_path: Path) -> None:
    old = "old-" + "o" * 50
    with override_settings(SECRET_KEY=old):
        file_only(tmp_path).set("rotated", [1, 2])
    close_chains()
    with override_settings(SECRET_KEY="new-" + "n" * 50, SECRET_KEY_FALLBACKS=[old]):
        assert file_only(tmp_path).get("rotated") == [1, 2]
    close_chains()
    with override_settings(SECRET_KEY="new-" + "n" * 50):
        assert file_only(tmp_path).get("rotated") is None


# -- incr and concurrency (sync and async) -------------------------------------------------


def test_incr_of_a_missing_key_raises_value_error_and_of_a_non_number_type_error() -> None:
    cache = backend()
    with pytest.raises(ValueError, match="not found"):
        cache.incr("absent")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("absent")
    assert cache.get("absent") is None
    cache.set("text", None)
    with pytest.raises(TypeError):
        cache.incr("text")
    assert cache.get("text", "missing") is None


def test_incr_keeps_the_expiry_time() -> None:
    cache = backend()
    cache.set("counter", 1, 1)
    time.sleep(0.5)
    assert cache.incr("counter") == 2
    time.sleep(0.7)
    assert cache.get("counter") is None


THREADS = 8


def test_concurrent_add_succeeds_once_and_incr_loses_nothing_across_threads(tmp_path: Path) -> None:
    barrier = threading.Barrier(THREADS)
    added: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            cache = backend(str(tmp_path), OPTIONS={"memory": "1MiB"})  # Django's: one instance per thread
            barrier.wait()
            added.append(cache.add("once", threading.get_ident()))
            cache.add("count", 0)
            for _ in range(50):
                cache.incr("count")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(added) == [False] * (THREADS - 1) + [True]
    assert backend(str(tmp_path), OPTIONS={"memory": "1MiB"}).get("count") == THREADS * 50


async def test_concurrent_add_succeeds_once_and_incr_loses_nothing_across_tasks(tmp_path: Path) -> None:
    cache = backend(str(tmp_path), OPTIONS={"memory": "1MiB"})

    async def work(index: int) -> bool:
        added = await cache.aadd("once", index)
        await cache.aadd("count", 0)
        for _ in range(20):
            await cache.aincr("count")
        return added

    added = await asyncio.gather(*(work(index) for index in range(THREADS)))
    assert sorted(added) == [False] * (THREADS - 1) + [True]
    assert await cache.aget("count") == THREADS * 20
    assert await cache.aget_many(["count", "nope"]) == {"count": THREADS * 20}
    assert await cache.aset_many({"a": 1}, 0) == []
    assert await cache.ahas_key("a") is False
    assert await cache.adelete("count") is True
    assert await cache.aget_or_set("count", lambda: 7) == 7
    await cache.aclear()
    assert await cache.aget("count") is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_builds_its_own_chain_and_shares_the_file_tier(tmp_path: Path) -> None:
    backend(str(tmp_path), OPTIONS={"memory": "1MiB"}).set("before", "fork")
    close_chains()  # drained into the file tier
    chain = backend(str(tmp_path), OPTIONS={"memory": "1MiB"})._chain
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the chain's worker threads were not forked with it, so it must build its own
        code = 1
        try:
            child = backend(str(tmp_path), OPTIONS={"memory": "1MiB"})
            os.write(write, f"{child._chain is not chain} {child.get('before')}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.read(read, 1000) == b"True fork"
    os.close(read)
    assert backend(str(tmp_path), OPTIONS={"memory": "1MiB"})._chain is chain
