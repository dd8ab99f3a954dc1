"""Python values through the cache: ``get_value`` and ``set_value`` (rules V1-V5)."""

from __future__ import annotations

import importlib.util
import pickle
import time
from typing import Any

import pytest

import daramjwee as dj
from _flavours import async_run_concurrently
from daramjwee._async_primitives import async_sleep
from daramjwee._values import SERIALIZER_ATTR

from ._helpers import eventually, holding, mem_tiers, put, stat_of

KEY = b"k" * 32
NESTED = {"user": {"id": 42, "name": "다람쥐", "roles": ["admin", "ops"]}, "scores": [1.5, None, True]}


class Loader:
    """A loader that counts its calls and returns (or raises) what it is told."""

    def __init__(self, value: Any = None, *, delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self.error: BaseException | None = None

    async def __call__(self) -> Any:
        self.calls += 1
        if self.delay:
            await async_sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.value


async def _never() -> Any:
    raise AssertionError("the loader was called")


async def test_a_miss_loads_stores_and_then_serves_the_value_without_loading() -> None:
    loader = Loader(NESTED)
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_value("k", loader) == NESTED
        assert await cache.get_value("k", loader) == NESTED
        assert loader.calls == 1
        await eventually(lambda: holding(tiers, "k") == [True, True])
        stored = await cache.get_bytes("k", lambda old: _never())
        assert stored == '{"user":{"id":42,"name":"다람쥐","roles":["admin","ops"]},"scores":[1.5,null,true]}'.encode()


async def test_every_caller_gets_the_decoded_value_the_loaders_caller_too() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        assert await cache.get_value("k", Loader((1, (2, 3)))) == [1, [2, 3]], "JSON has no tuples"


async def test_the_stored_entry_records_its_serializer_content_type_and_length_with_the_callers_metadata() -> None:
    tiers = mem_tiers(1)
    metadata = dj.Metadata(etag="v1", fresh_for=60.0, attrs={"team": "core"})
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.get_value("loaded", Loader("héllo"), serializer=dj.StrSerializer(), metadata=metadata)
        await cache.set_value("set", {"a": 1}, metadata=metadata)
        loaded, stored = await stat_of(tiers[0], "loaded"), await stat_of(tiers[0], "set")
    assert dict(loaded.attrs) == {
        "team": "core",
        SERIALIZER_ATTR: "str",
        "content-type": "text/plain; charset=utf-8",
        "content-length": "6",
    }
    assert dict(stored.attrs) == {
        "team": "core",
        SERIALIZER_ATTR: "json",
        "content-type": "application/json",
        "content-length": "7",
    }
    assert (loaded.etag, loaded.fresh_for, stored.etag, stored.fresh_for) == ("v1", 60.0, "v1", 60.0)
    assert dict(metadata.attrs) == {"team": "core"}, "the caller's metadata is not changed"


async def test_set_value_then_get_value_serves_what_was_set() -> None:
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:
        await cache.set_value("k", NESTED)
        assert await cache.get_value("k", _never) == NESTED
        await cache.set_value("k", "text", serializer=dj.StrSerializer())
        assert await cache.get_value("k", _never, serializer=dj.StrSerializer()) == "text"


@pytest.mark.parametrize(
    ("serializer", "value"),
    [
        (dj.JsonSerializer(backend="stdlib"), NESTED),
        (dj.StrSerializer(), "다람쥐 — écureuil — 🐿️"),
        (dj.BytesSerializer(), bytes(range(256))),
        (dj.SignedPickleSerializer([KEY]), {"set": {1, 2}, "tuple": (1, b"2")}),
    ],
    ids=lambda serializer: type(serializer).__name__,
)
async def test_each_serializer_round_trips_through_every_tier(serializer: Any, value: Any) -> None:
    tiers = mem_tiers(2)
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_value("k", Loader(value), serializer=serializer) == value
        await eventually(lambda: holding(tiers, "k") == [True, True])
        await tiers[0].delete("k")
        assert await cache.get_value("k", _never, serializer=serializer) == value, "served by tier 1"


async def test_msgpack_round_trips_when_installed() -> None:
    if importlib.util.find_spec("msgpack") is None:
        pytest.skip("msgpack is not installed")
    value = {**NESTED, "raw": b"\x00\xff", 7: "int key"}
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        assert await cache.get_value("k", Loader(value), serializer=dj.MsgpackSerializer()) == value
        assert await cache.get_value("k", _never, serializer=dj.MsgpackSerializer()) == value


async def test_a_hundred_concurrent_get_values_call_the_loader_once() -> None:
    loader = Loader(NESTED, delay=0.2)
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        async def reader() -> Any:
            return await cache.get_value("k", loader)

        results = await async_run_concurrently([reader] * 100)
    assert results == [NESTED] * 100
    assert loader.calls == 1


async def test_a_value_stored_by_another_serializer_is_a_miss_reloaded_once() -> None:
    tiers = mem_tiers(2)
    loader = Loader({"from": "the loader"})
    async with dj.AsyncCache(stores=tiers) as cache:
        await cache.set_value("k", "plain text", serializer=dj.StrSerializer())
        assert await cache.get_value("k", loader) == {"from": "the loader"}
        assert loader.calls == 1
        assert (await stat_of(tiers[0], "k")).attrs[SERIALIZER_ATTR] == "json", "the reload replaced the entry"
        assert await cache.get_value("k", loader) == {"from": "the loader"}
        assert loader.calls == 1


async def test_raw_bytes_stored_without_a_serializer_are_a_miss_too() -> None:
    loader = Loader("value")
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_bytes("k", b'"looks like json"')
        assert await cache.get_value("k", loader) == "value"
        assert loader.calls == 1


async def test_a_corrupt_value_is_a_miss_reloaded_once() -> None:
    tiers = mem_tiers(2)
    loader = Loader([1, 2, 3])
    async with dj.AsyncCache(stores=tiers) as cache:
        await put(tiers[1], "k", b"{not json", dj.Metadata(cached_at=time.time(), attrs={SERIALIZER_ATTR: "json"}))
        assert await cache.get_value("k", loader) == [1, 2, 3]
        assert loader.calls == 1


async def test_a_corrupt_value_whose_reload_fails_raises_the_loaders_error_never_the_corrupt_value() -> None:
    tiers = mem_tiers(1)
    loader = Loader()
    loader.error = ConnectionError("origin down")
    async with dj.AsyncCache(stores=tiers) as cache:
        await put(tiers[0], "k", b"{not json", dj.Metadata(cached_at=time.time(), attrs={SERIALIZER_ATTR: "json"}))
        with pytest.raises(ConnectionError, match="origin down"):
            await cache.get_value("k", loader)
        assert loader.calls == 1


async def test_a_serializer_that_cannot_read_its_own_value_raises_decode_error_without_reloading() -> None:
    class WriteOnly:
        name = "write-only"
        content_type = "text/plain"

        def dumps(self, value: str) -> bytes:
            return value.encode()

        def loads(self, data: bytes) -> str:
            raise ValueError("cannot read")

    loader = Loader("value")
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(dj.DecodeError, match="cannot read"):
            await cache.get_value("k", loader, serializer=WriteOnly())
        assert loader.calls == 1


async def test_a_tampered_signed_pickle_is_never_unpickled_and_is_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    signed = dj.SignedPickleSerializer([KEY])
    tiers = mem_tiers(1)
    tampered = bytearray(signed.dumps({"role": "user"}))
    tampered[-2] ^= 0x01
    unpickled: list[bytes] = []
    real_loads = pickle.loads

    def spy(data: Any) -> Any:
        unpickled.append(bytes(data))
        return real_loads(data)

    monkeypatch.setattr(pickle, "loads", spy)
    loader = Loader({"role": "reloaded"})
    async with dj.AsyncCache(stores=tiers) as cache:
        metadata = dj.Metadata(cached_at=time.time(), attrs={SERIALIZER_ATTR: signed.name})
        await put(tiers[0], "k", bytes(tampered), metadata)
        assert await cache.get_value("k", loader, serializer=signed) == {"role": "reloaded"}
    assert loader.calls == 1
    assert len(unpickled) == 1, "only the reloaded, verified payload was unpickled"
    assert unpickled[0] != bytes(tampered[45:])


async def test_a_pickle_signed_by_a_retired_key_is_reloaded_and_rotation_keeps_old_entries() -> None:
    old_key, new_key = b"o" * 32, b"n" * 32
    loader = Loader("fresh")
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        await cache.set_value("k", "old", serializer=dj.SignedPickleSerializer([old_key]))
        rotated = dj.SignedPickleSerializer([new_key, old_key])
        assert await cache.get_value("k", loader, serializer=rotated) == "old", "the old key still verifies"
        assert loader.calls == 0
        retired = dj.SignedPickleSerializer([new_key])
        assert await cache.get_value("k", loader, serializer=retired) == "fresh"
        assert loader.calls == 1


async def test_a_loaders_cacheable_not_found_is_a_negative_entry() -> None:
    loader = Loader()
    loader.error = dj.CacheableNotFound("gone")
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(dj.NotFound):
            await cache.get_value("k", loader)
        with pytest.raises(dj.NotFound):
            await cache.get_value("k", loader)
    assert loader.calls == 1


async def test_a_value_larger_than_tier0_fills_the_first_tier_that_holds_it() -> None:
    tiers = [dj.AsyncMemStore(1024), dj.AsyncMemStore()]
    async with dj.AsyncCache(stores=tiers) as cache:
        assert await cache.get_value("k", Loader("x" * 5000), serializer=dj.StrSerializer()) == "x" * 5000
        assert "k" not in tiers[0]
        assert "k" in tiers[1]


async def test_arguments_are_checked_before_anything_changes() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(TypeError, match="loader must be a callable"):
            await cache.get_value("k", "not callable")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="serializer must"):
            await cache.get_value("k", _never, serializer=object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="serializer must be an instance"):
            await cache.set_value("k", 1, serializer=dj.JsonSerializer)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Metadata"):
            await cache.set_value("k", 1, metadata={"fresh_for": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="is not JSON serializable"):
            await cache.set_value("k", object())
        with pytest.raises(ValueError, match="non-empty"):
            await cache.get_value("", _never)
        assert holding(tiers, "k") == [False]
    with pytest.raises(dj.CacheClosed):
        await cache.get_value("k", _never)
    with pytest.raises(dj.CacheClosed):
        await cache.set_value("k", 1)


async def test_dumps_that_returns_no_bytes_is_a_type_error_and_stores_nothing() -> None:
    class Wrong:
        name = "wrong"
        content_type = "text/plain"

        def dumps(self, value: str) -> str:
            return value

        def loads(self, data: bytes) -> str:
            return data.decode()

    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:
        with pytest.raises(TypeError, match="must return bytes"):
            await cache.set_value("k", "v", serializer=Wrong())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must return bytes"):
            await cache.get_value("k", Loader("v"), serializer=Wrong())  # type: ignore[arg-type]
        assert holding(tiers, "k") == [False]
