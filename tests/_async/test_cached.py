"""The ``cached`` decorator: keys, freshness, single flight, negative entries, methods (rules D1-D6)."""

from __future__ import annotations

import datetime
import enum
import functools
import os
import subprocess
import sys
from typing import Any

import pytest

import daramjwee as dj
from _flavours import AsyncGate, async_other_flavour_function, async_run_concurrently
from _servers import RedisServer
from daramjwee._async_primitives import async_sleep

from ._helpers import eventually, mem_tiers, stat_of


class Color(enum.Enum):
    RED = "red"


async def lookup(user_id: int, tags: frozenset[str] = frozenset(), *, when: datetime.date | None = None) -> str:
    """A module-level function whose default key another process computes too."""
    return f"user {user_id}"


class Counter:
    """An async function that counts its calls and returns what ``result`` makes of the arguments."""

    def __init__(self, result: Any = None, *, delay: float = 0.0) -> None:
        self.result = result
        self.delay = delay
        self.calls: list[tuple[Any, ...]] = []
        self.error: BaseException | None = None

    async def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        if self.delay:
            await async_sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.result(*args) if callable(self.result) else self.result


async def test_a_decorated_function_is_called_once_then_served_from_the_cache() -> None:
    counter = Counter(lambda user_id: {"id": user_id, "roles": ("admin",)})
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        @cache.cached()
        async def load_user(user_id: int) -> dict[str, Any]:
            """Load one user."""
            return await counter(user_id)

        assert await load_user(42) == {"id": 42, "roles": ["admin"]}, "the decoded value, JSON lists"
        assert await load_user(42) == {"id": 42, "roles": ["admin"]}
        assert await load_user(user_id=7) == {"id": 7, "roles": ["admin"]}
        assert counter.calls == [(42,), (7,)]
    assert load_user.__name__ == "load_user"
    assert load_user.__doc__ == "Load one user."
    assert load_user.__wrapped__.__qualname__.endswith("<locals>.load_user")  # type: ignore[attr-defined]


async def test_the_default_key_names_the_function_and_its_bound_arguments_after_defaults() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached()
        async def search(name: str, limit: int = 10, *tags: str, exact: bool = False, **extra: int) -> str:
            return name

        prefix = f"{__name__}.test_the_default_key_names_the_function_and_its_bound_arguments_after_defaults"
        expected = prefix + '.<locals>.search:{"exact":false,"extra":{},"limit":10,"name":"n","tags":[]}'
        assert search.key("n") == expected
        assert search.key("n", 10) == search.key(name="n", exact=False) == search.key("n", limit=10) == expected
        assert search.key("n", 11) != expected
        assert search.key("n", exact=True) != expected
        assert search.key("n", 10, "a", x=1) == expected.replace('"extra":{}', '"extra":{"x":1}').replace(
            '"tags":[]', '"tags":["a"]'
        )
        with pytest.raises(TypeError, match="missing a required argument"):
            search.key()


async def test_a_call_with_and_without_its_default_argument_reads_one_entry() -> None:
    counter = Counter(lambda name, limit, exact: [name, limit, exact])
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached()
        async def search(name: str, limit: int = 10, *, exact: bool = False) -> list[Any]:
            return await counter(name, limit, exact)

        assert await search("n") == ["n", 10, False]
        assert await search("n", 10, exact=False) == ["n", 10, False]
        assert await search(exact=False, name="n") == ["n", 10, False]
        assert len(counter.calls) == 1


async def test_default_keys_encode_common_types_and_refuse_the_others() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached()
        async def take(value: object) -> None:
            return None

        assert take.key({3, 1, 2}) == take.key({2, 3, 1}), "sets are sorted"
        assert take.key(b"\x00") != take.key("\x00")
        assert '"enum":"' in take.key(Color.RED)
        assert take.key(datetime.date(2024, 1, 2)).endswith('{"value":{"date":"2024-01-02"}}')
        long = take.key("x" * 500)
        assert long.startswith(f"{take.__module__}.")
        assert ":sha256:" in long
        assert "xxx" not in long
        for unencodable in (object(), {1.5j}, {(1, 2): 3}, float("nan")):
            with pytest.raises(TypeError, match="pass key="):
                take.key(unencodable)
        with pytest.raises(TypeError, match="pass key="):
            await take(object())


async def test_template_and_callable_keys() -> None:
    counter = Counter(lambda user_id, verbose: user_id)
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached(key="user:{user_id}:{verbose}")
        async def by_template(user_id: int, *, verbose: bool = False) -> int:
            return await counter(user_id, verbose)

        @cache.cached(key=lambda user_id, *, verbose=False: f"u{user_id}")
        async def by_function(user_id: int, *, verbose: bool = False) -> int:
            return await counter(user_id, verbose)

        assert by_template.key(42) == by_template.key(42, verbose=False) == "user:42:False"
        assert by_function.key(7, verbose=True) == "u7"
        assert await by_template(42) == 42
        assert await cache.get_value("user:42:False", Counter("unused")) == 42
        assert await by_function(7) == 7
        assert await by_function(7, verbose=True) == 7
        assert len(counter.calls) == 2

        @cache.cached(key=lambda user_id: user_id)
        async def not_a_str(user_id: int) -> int:
            return user_id

        with pytest.raises(TypeError, match="must return a non-empty str"):
            await not_a_str(1)


async def test_a_template_must_name_parameters_checked_at_decoration() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        async def load(user_id: int) -> int:
            return user_id

        for template, message in (("user:{id}", "names 'id'"), ("user:{}", "must name"), ("user:{0}", "must name")):
            with pytest.raises(TypeError, match=message):
                cache.cached(key=template)(load)
        with pytest.raises(TypeError, match="not a format string"):
            cache.cached(key="user:{user_id")(load)
        with pytest.raises(TypeError, match="key= must be"):
            cache.cached(key=42)(load)  # type: ignore[arg-type]


async def test_the_default_key_is_the_same_in_another_process() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        wrapped = cache.cached()(lookup)
        mine = wrapped.key(42, frozenset({"b", "a", "c"}), when=datetime.date(2024, 5, 1))
    script = (
        "import datetime, importlib, inspect, daramjwee as dj\n"
        f"module = importlib.import_module({lookup.__module__!r})\n"
        "flavour = dj.AsyncCache if inspect.iscoroutinefunction(module.lookup) else dj.Cache\n"
        "cache = flavour(stores=[dj.AsyncMemStore() if flavour is dj.AsyncCache else dj.MemStore()])\n"
        "wrapped = cache.cached()(module.lookup)\n"
        "print(wrapped.key(42, frozenset({'c', 'a', 'b'}), when=datetime.date(2024, 5, 1)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == mine
    assert mine == f'{lookup.__module__}.lookup:{{"tags":{{"set":["\\"a\\"","\\"b\\"","\\"c\\""]}},' + (
        '"user_id":42,"when":{"date":"2024-05-01"}}'
    )


async def test_a_stampede_of_concurrent_calls_calls_the_function_once() -> None:
    counter = Counter(lambda user_id: f"user {user_id}", delay=0.05)
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        @cache.cached(fresh_for=60)
        async def load_user(user_id: int) -> str:
            return await counter(user_id)

        results = await async_run_concurrently([functools.partial(load_user, 42) for _ in range(100)])
    assert results == ["user 42"] * 100
    assert counter.calls == [(42,)]


async def test_a_stale_value_is_served_while_one_refresh_calls_the_function() -> None:
    release = AsyncGate()
    calls = 0

    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached(fresh_for=0, stale_while_revalidate=60)
        async def version() -> int:
            nonlocal calls
            calls += 1
            if calls > 1:
                await release.wait()
            return calls

        assert await version() == 1
        assert [await version() for _ in range(5)] == [1] * 5, "stale, served while the refresh waits"
        for _ in range(200):
            if calls == 2:
                break
            await async_sleep(0.005)
        assert calls == 2, "one refresh for all the stale reads"
        release.set()
        for _ in range(400):
            if await version() >= 2:
                break
            await async_sleep(0.005)
        else:
            raise AssertionError("the refreshed value was never served")
        assert (await stat_of(cache.stores[0], version.key())).stale_while_revalidate == 60.0  # type: ignore[arg-type]


async def test_the_decorators_freshness_is_stored_with_every_value() -> None:
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:

        @cache.cached(key="k", fresh_for=datetime.timedelta(minutes=1), stale_if_error=5, must_revalidate=True)
        async def load() -> str:
            return "v"

        await load()
        stored = await stat_of(tiers[0], "k")
    assert stored.freshness == (60.0, None, 5.0, True)
    assert stored.attrs[":serializer"] == "json"


async def test_a_serializer_stores_the_value_its_way() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        @cache.cached(key="greeting", serializer=dj.StrSerializer())
        async def greet() -> str:
            return "안녕"

        assert await greet() == "안녕"
        assert await cache.get_bytes("greeting", Counter("unused")) == "안녕".encode()


async def test_invalidate_refresh_and_key() -> None:
    counter = Counter(lambda user_id: [user_id, len(counter.calls)])
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        @cache.cached(key="user:{user_id}")
        async def load_user(user_id: int) -> tuple[int, int]:
            return await counter(user_id)

        assert load_user.key(1) == "user:1"
        assert await load_user(1) == [1, 1]
        assert await load_user.refresh(1) == [1, 2], "called now"
        assert await load_user(1) == [1, 2], "and stored"
        await load_user.invalidate(user_id=1)
        assert await cache.contains("user:1") is False
        assert await load_user(1) == [1, 3]
        assert await load_user(1) == [1, 3]
        assert len(counter.calls) == 3


async def test_negative_on_stores_a_negative_entry_and_raises_not_found() -> None:
    counter = Counter()
    counter.error = KeyError("no such user")
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:

        @cache.cached(key="user:{user_id}", negative_on=(KeyError,))
        async def load_user(user_id: int) -> str:
            return await counter(user_id)

        with pytest.raises(dj.NotFound) as first:
            await load_user(1)
        assert isinstance(first.value.__cause__, dj.CacheableNotFound)
        assert isinstance(first.value.__cause__.__cause__, KeyError)
        with pytest.raises(dj.NotFound):
            await load_user(1)
        assert len(counter.calls) == 1
        assert (await stat_of(tiers[0], "user:1")).is_negative

        counter.error = ValueError("not cached")
        with pytest.raises(ValueError, match="not cached"):
            await load_user(2)
        assert await cache.contains("user:2") is False

        counter.error = dj.CacheableNotFound("gone")
        with pytest.raises(dj.NotFound):
            await load_user(3)
        with pytest.raises(dj.NotFound):
            await load_user.refresh(1)
        counter.error = None
        counter.result = "found"
        assert await load_user.refresh(1) == "found"
        assert await load_user(1) == "found"


async def test_cache_none_stores_none_as_a_negative_entry() -> None:
    counter = Counter()
    tiers = mem_tiers(1)
    async with dj.AsyncCache(stores=tiers) as cache:

        @cache.cached(key="negative:{user_id}", cache_none=True, negative_on=LookupError)
        async def find(user_id: int) -> str | None:
            return await counter(user_id)

        @cache.cached(key="plain:{user_id}")
        async def find_plain(user_id: int) -> str | None:
            return await counter(user_id)

        assert await find(1) is None
        assert await find(1) is None
        assert (await stat_of(tiers[0], "negative:1")).is_negative
        assert await find_plain(1) is None
        assert await find_plain(1) is None
        assert not (await stat_of(tiers[0], "plain:1")).is_negative, "None is JSON null, a value"
        assert len(counter.calls) == 2
        counter.error = KeyError("gone")
        assert await find(2) is None, "a negative_on error reads as None too"
        assert await find.refresh(1) is None


async def test_a_decorated_method_binds_and_leaves_self_out_of_the_default_key() -> None:
    counter = Counter(lambda tenant, user_id: f"{tenant}/{user_id}")
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        class Users:
            def __init__(self, tenant: str) -> None:
                self.tenant = tenant

            @cache.cached()
            async def name(self, user_id: int) -> str:
                return await counter(self.tenant, user_id)

            @cache.cached(key="{self.tenant}:email:{user_id}")
            async def email(self, user_id: int) -> str:
                return await counter(self.tenant, user_id)

        first, second = Users("a"), Users("b")
        assert await first.name(1) == "a/1"
        assert await first.name(1) == "a/1"
        assert await second.name(1) == "a/1", "instances are not part of the default key"
        assert first.name.key(1) == second.name.key(1) == Users.name.key(first, 1)
        assert first.name.key(1).endswith('.Users.name:{"user_id":1}')
        assert await Users.name(second, 1) == "a/1"
        assert len(counter.calls) == 1

        await first.name.invalidate(1)
        assert await second.name(user_id=1) == "b/1"
        assert await first.name.refresh(1) == "a/1"
        assert await second.name(1) == "a/1"
        assert len(counter.calls) == 3

        assert first.email.key(2) == "a:email:2"
        assert await first.email(2) == "a/2"
        assert await second.email(2) == "b/2", "the template names the instance"
        assert first.name.__name__ == "name"
        assert "bound" in repr(first.name)


async def test_a_static_method_has_no_self_to_leave_out() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:

        class Users:
            @staticmethod
            @cache.cached()
            async def name(user_id: int) -> str:
                return f"user {user_id}"

        assert await Users.name(1) == "user 1"
        assert await Users().name(1) == "user 1"
        assert Users.name.key(1).endswith('Users.name:{"user_id":1}')


async def test_wrong_uses_raise_type_error_when_decorating() -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises(TypeError, match=r"decorate it with daramjwee\.|decorate async functions with daramjwee\."):
            cache.cached()(async_other_flavour_function())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="decorates functions"):
            cache.cached()("not a function")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="above the cached decorator"):
            cache.cached()(staticmethod(async_other_flavour_function()))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="serializer must be an instance"):
            cache.cached(serializer=dj.JsonSerializer)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="negative_on must be Exception classes"):
            cache.cached(negative_on=(KeyError, "ValueError"))  # type: ignore[arg-type]
        with pytest.raises(dj.ConfigError, match="fresh_for"):
            cache.cached(fresh_for=-1)
        with pytest.raises(dj.ConfigError, match="stale_while_revalidate"):
            cache.cached(stale_while_revalidate=float("inf"))


async def test_a_closed_cache_refuses_to_decorate_and_to_call() -> None:
    cache = dj.AsyncCache(stores=mem_tiers(1))

    @cache.cached()
    async def load() -> int:
        return 1

    await cache.close()
    with pytest.raises(dj.CacheClosed):
        await load()
    with pytest.raises(dj.CacheClosed):
        cache.cached()


async def test_a_decorated_function_with_tags_misses_after_their_invalidation() -> None:
    counter = Counter(lambda user_id: {"id": user_id})
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:

        @cache.cached(key="user:{user_id}", tags=["users"])
        async def load_user(user_id: int) -> dict[str, Any]:
            return await counter(user_id)

        @cache.cached(key="group:{group_id}", tags=["groups"])
        async def load_group(group_id: int) -> dict[str, Any]:
            return await counter(group_id)

        assert (await load_user(1), await load_group(1)) == ({"id": 1}, {"id": 1})
        await load_user(1)
        await load_group(1)
        assert len(counter.calls) == 2
        await cache.invalidate_tags("users")
        assert await load_user(1) == {"id": 1}
        await load_group(1)
        assert counter.calls == [(1,), (1,), (1,)], "only the users' entry was invalidated"
        await load_user(1)
        assert len(counter.calls) == 3, "the refetched value carries the new version"


@pytest.mark.parametrize("tags", ["users", [""], [1]])
async def test_bad_tags_are_refused_when_decorating(tags: Any) -> None:
    async with dj.AsyncCache(stores=mem_tiers(1)) as cache:
        with pytest.raises((TypeError, ValueError)):
            cache.cached(tags=tags)


async def test_invalidate_and_tags_across_two_caches_sharing_a_redis_tier(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    counter = Counter(lambda user_id: {"id": user_id, "version": len(counter.calls)})

    def chain() -> list[Any]:
        return [dj.AsyncMemStore(), dj.AsyncRedisStore(redis_server.url, prefix=redis_prefix)]

    async with dj.AsyncCache(stores=chain(), tag_ttl=0) as a, dj.AsyncCache(stores=chain(), tag_ttl=0) as b:

        async def load_user(user_id: int) -> dict[str, Any]:
            return await counter(user_id)

        on_a = a.cached(key="user:{user_id}", tags=["users"])(load_user)
        on_b = b.cached(key="user:{user_id}", tags=["users"])(load_user)
        assert await on_a(1) == {"id": 1, "version": 1}
        await eventually(lambda: not len(a._fan_outs) and a._writes.in_flight() == 0)  # in Redis now
        assert await on_b(1) == {"id": 1, "version": 1}, "b found a's value in the shared tier"
        assert len(counter.calls) == 1

        await on_a.invalidate(1)  # a's tiers, the shared one included
        assert await on_a(1) == {"id": 1, "version": 2}
        assert await on_b(1) == {"id": 1, "version": 1}, "b's own memory tier keeps its copy (rule D6)"
        await eventually(lambda: not len(a._fan_outs) and a._writes.in_flight() == 0)

        await a.invalidate_tags("users")  # a version in the shared tier: every cache sharing it misses
        assert await on_b(1) == {"id": 1, "version": 3}
        await eventually(lambda: not len(b._fan_outs) and b._writes.in_flight() == 0)
        assert await on_a(1) == {"id": 1, "version": 3}, "a reads b's refetched value from the shared tier"
        assert len(counter.calls) == 3
