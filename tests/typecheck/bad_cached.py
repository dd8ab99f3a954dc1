"""Wrong uses of ``cached``: each line marked ``# type: ignore[code]`` must be a mypy error (rule D6).

tests/test_package.py runs ``mypy --strict --warn-unused-ignores`` on this file, so the check fails when a
marked line stops being an error (an unused ignore) or when an unmarked line is one.  Never imported or run.
"""

from __future__ import annotations

import daramjwee as dj


def wrong_calls(cache: dj.Cache) -> None:
    @cache.cached(key="user:{user_id}")
    def load_user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    load_user("42")  # type: ignore[arg-type]
    load_user(42, 43)  # type: ignore[call-arg]
    load_user(name=42)  # type: ignore[call-arg]
    load_user.key("42")  # type: ignore[arg-type]
    load_user.invalidate()  # type: ignore[call-arg]
    name: str = load_user(42)  # type: ignore[assignment]
    refreshed: str = load_user.refresh(42)  # type: ignore[assignment]
    print(name, refreshed)


def wrong_options(cache: dj.Cache, async_cache: dj.AsyncCache) -> None:
    cache.cached(key=42)  # type: ignore[arg-type]
    cache.cached(fresh_for="60")  # type: ignore[arg-type]
    cache.cached(negative_on=[KeyError])  # type: ignore[arg-type]
    cache.cached("user:{user_id}")  # type: ignore[call-arg]


async def wrong_flavour(cache: dj.Cache, async_cache: dj.AsyncCache) -> None:
    async def fetch(user_id: int) -> str:
        return str(user_id)

    def load(user_id: int) -> str:
        return str(user_id)

    async_cache.cached()(load)  # type: ignore[arg-type]
    name: str = cache.cached()(fetch)(1)  # type: ignore[assignment]
    forgot_await: str = async_cache.cached()(fetch)(1)  # type: ignore[assignment]
    print(name, forgot_await)


class Users:
    cache = dj.Cache(stores=[dj.MemStore()])

    @cache.cached()
    def name(self, user_id: int) -> str:
        return str(user_id)


def wrong_methods(users: Users) -> None:
    users.name("1")  # type: ignore[arg-type]
    users.name.invalidate(users, 1)  # type: ignore[arg-type, call-arg]
